// A whole network in one sandbox: Root governed by a plain wallet (so unit tests can act as
// Governance directly; tests/contracts/governance-flow.spec.ts uses the real Governance contract),
// a registered Proxy, a funded ClientChannel and a staked WorkerChannel.
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import { KeyPair, keyPairFromSeed } from '@ton/crypto';
import { createHash } from 'crypto';
import { DEFAULT_PARAMS, Params, RootWrapper } from '../../wrappers/Root';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { globalIdFromConfig, toUint256 } from '../../wrappers/payloads';
import { defaultConfig } from '@ton/sandbox';

/** The sandbox's (and the devnet's) global id, config param 19 (−239, as on mainnet): what every signed payload carries. */
export const GLOBAL_ID = globalIdFromConfig(defaultConfig);

export const PROXY_STAKE = toNano('10');
export const CLIENT_DEPOSIT = toNano('5');
export const WORKER_STAKE = toNano('1');

/** Deterministic Ed25519 key pair from a label. */
export function keys(label: string): KeyPair {
    return keyPairFromSeed(createHash('sha256').update(label).digest());
}

export async function balanceOf(bc: Blockchain, addr: Address): Promise<bigint> {
    return (await bc.getContract(addr)).balance;
}

export interface Network {
    bc: Blockchain;
    gov: SandboxContract<TreasuryContract>;        // stands in for Governance
    treasury: SandboxContract<TreasuryContract>;
    root: SandboxContract<RootWrapper>;
    proxyOwner: SandboxContract<TreasuryContract>;
    proxyKeys: KeyPair;
    proxy: SandboxContract<ProxyWrapper>;
    client: SandboxContract<TreasuryContract>;
    clientKeys: KeyPair;
    clientChannel: SandboxContract<ClientChannelWrapper>;
    worker: SandboxContract<TreasuryContract>;
    workerChannel: SandboxContract<WorkerChannelWrapper>;
    stranger: SandboxContract<TreasuryContract>;
    params: Params;
}

export interface NetworkOptions {
    params?: Params;
    /** Stop after this step (later fields are still created but not deployed). */
    upTo?: 'root' | 'proxy' | 'channels';
    /** Deploy into this blockchain (e.g. the devnet server's) instead of a fresh one; its clock is left alone. */
    bc?: Blockchain;
}

export async function deployNetwork(opts: NetworkOptions = {}): Promise<Network> {
    const bc = opts.bc ?? (await Blockchain.create());
    if (!opts.bc) bc.now = 1_800_000_000;
    const params = opts.params ?? DEFAULT_PARAMS;
    const gov = await bc.treasury('governance');
    const treasury = await bc.treasury('treasury');
    const proxyOwner = await bc.treasury('proxy-owner');
    const client = await bc.treasury('client');
    const worker = await bc.treasury('worker');
    const stranger = await bc.treasury('stranger');
    const proxyKeys = keys('proxy-enclave');
    const clientKeys = keys('client-voucher');

    const root = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: treasury.address, params }));
    await root.sendDeploy(gov.getSender());

    const childCodes = await root.getChildCode();
    const proxy = bc.openContract(
        await ProxyWrapper.create({
            root: root.address,
            owner: proxyOwner.address,
            enclaveKey: toUint256(proxyKeys.publicKey),
            workerCode: childCodes.workerCode,
            proxyCode: childCodes.proxyCode,
        }),
    );
    const clientChannel = bc.openContract(
        await ClientChannelWrapper.create({
            proxy: proxy.address,
            client: client.address,
            clientKey: toUint256(clientKeys.publicKey),
            proxyKey: toUint256(proxyKeys.publicKey),
            closeDelay: params.clientCloseDelay,
            code: childCodes.clientCode,
        }),
    );
    const terms = await root.getTerms();
    const workerChannel = bc.openContract(
        await WorkerChannelWrapper.create({
            proxy: proxy.address,
            worker: worker.address,
            proxyKey: toUint256(proxyKeys.publicKey),
            root: root.address,
            terms,
            code: childCodes.workerCode,
        }),
    );
    const net: Network = { bc, gov, treasury, root, proxyOwner, proxyKeys, proxy, client, clientKeys, clientChannel, worker, workerChannel, stranger, params };
    if (opts.upTo === 'root') return net;

    await proxy.sendRegister(proxyOwner.getSender(), { stake: PROXY_STAKE, clientEndpoint: '127.0.0.1:8801', workerEndpoint: '127.0.0.1:8802' });
    if (opts.upTo === 'proxy') return net;

    await clientChannel.sendTopUp(client.getSender(), CLIENT_DEPOSIT);
    await workerChannel.sendStake(worker.getSender(), WORKER_STAKE);
    return net;
}

/** Sum of computePhase.gasUsed over a transaction chain. */
export function gasUsed(txs: { description: any }[]): bigint {
    let sum = 0n;
    for (const tx of txs) {
        const d = tx.description;
        if (d.type === 'generic' && d.computePhase.type === 'vm') sum += d.computePhase.gasUsed;
    }
    return sum;
}
