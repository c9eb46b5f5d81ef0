// A network for agent tests: a real devnet chain server (toncenter v2 on 127.0.0.1) with Root governed by a
// sandbox wallet (so a test can change allowlists, models and params in one call), the reference test model
// registered, and one simulated TEE platform whose image is on both allowlists. Agents reach it only through
// TonChain and ChainWallet over HTTP, exactly as on a public network.
import { Address, Cell, toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { createHash } from 'crypto';
import { DevnetServer } from '../../agents/devnet/server';
import { ChainWallet, TonChain } from '../../agents/core/chain/chain';
import { ChainConfig, loadChainConfig } from '../../agents/core/chain/config';
import { SimulatedTee } from '../../agents/core/tee/simulated';
import { imageHash } from '../../agents/core/tee/image';
import { VerifyPolicy } from '../../agents/core/tee/types';
import { TEST_MODEL_PRICES, testModelRecord } from '../../agents/backend/test-model';
import { DEFAULT_PARAMS, Model, Params, RootWrapper } from '../../wrappers/Root';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { toUint256 } from '../../wrappers/payloads';

export const NETWORK_PROXY_STAKE = toNano('10');

/** Deterministic 32-byte seed from a label. */
export function seed(label: string): Buffer {
    return createHash('sha256').update(`agent-network/${label}`).digest();
}

export interface AgentNetwork {
    devnet: DevnetServer;
    chainConfig: ChainConfig;
    /** A fresh TonChain (its own Root config cache), as each agent process would have. */
    newChain(): TonChain;
    root: Address;
    tee: SimulatedTee;
    imageHashHex: string;
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    model: Model;
    params: Params;
    /** A wallet v4 funded by the devnet faucet (deployed by its first transfer). */
    fundWallet(label: string, ton?: string): Promise<{ wallet: ChainWallet; secretKey: Buffer }>;
    /** Root's canonical Proxy address for (owner, enclave key of `seed`). */
    proxyAddressFor(owner: Address, proxySeed: Buffer): Promise<Address>;
    /** Deploys the Proxy of (a fresh funded owner, `seed`) and registers it in Root with these endpoints. */
    deployProxy(o: { seed: Buffer; clientEndpoint: string; workerEndpoint: string; ownerLabel?: string }): Promise<{ address: Address; owner: ChainWallet }>;
    /** A Root governance action, sent by the governance wallet inside the devnet. */
    govern(body: Cell): Promise<void>;
    stop(): Promise<void>;
}

/** The test model as the tests' network registers it: at TEST_MODEL_PRICES (0.1 TON per 1M prompt tokens). */
export const NETWORK_MODEL: Omit<Model, '$$type'> = testModelRecord(TEST_MODEL_PRICES);

const GOVERNANCE = 'agent-network-governance';

/** `clock`: the devnet's chain time in ms (default the wall clock); a test moves it forward to pass a contract delay. */
export async function startAgentNetwork(opts: { params?: Partial<Params>; clock?: () => number } = {}): Promise<AgentNetwork> {
    const devnet = new DevnetServer({ port: 0, ...(opts.clock ? { clock: opts.clock } : {}) });
    await devnet.start();
    const tee = await SimulatedTee.create();
    const imageHashHex = imageHash(tee.measurements).toString('hex');
    const image = BigInt('0x' + imageHashHex);
    const params: Params = { ...DEFAULT_PARAMS, ...opts.params, $$type: 'Params' };
    let root!: Address;
    await devnet.withBlockchain(async (bc) => {
        const gov = await bc.treasury(GOVERNANCE);
        const r = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: gov.address, params }));
        await r.sendDeploy(gov.getSender(), toNano('0.5'));
        for (const body of [RootWrapper.addImageBody('proxy', image), RootWrapper.addImageBody('worker', image), RootWrapper.registerModelBody(NETWORK_MODEL)]) {
            await r.sendAction(gov.getSender(), body);
        }
        root = r.address;
    });
    const chainConfig = loadChainConfig({ endpoint: devnet.url, rps: 10_000, maxRetries: 2, rootAddress: root.toString(), cacheTtlMs: 0, sendPollMs: 20, sendTimeoutMs: 30_000 }, {});
    const newChain = () => new TonChain({ config: chainConfig });
    const quotePolicy = { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() };
    const setup = newChain();

    async function fundWallet(label: string, ton = '100') {
        const kp = keyPairFromSeed(seed(`wallet/${label}`));
        const wallet = newChain().wallet(kp);
        await devnet.faucet(wallet.address, toNano(ton));
        return { wallet, secretKey: kp.secretKey };
    }

    async function proxyAddressFor(owner: Address, proxySeed: Buffer) {
        return setup.open(RootWrapper.open(root)).getProxyAddress(owner, toUint256(keyPairFromSeed(proxySeed).publicKey));
    }

    async function deployProxy(o: { seed: Buffer; clientEndpoint: string; workerEndpoint: string; ownerLabel?: string }) {
        const { wallet: owner } = await fundWallet(o.ownerLabel ?? `proxy-owner/${o.seed.toString('hex').slice(0, 16)}`, '50');
        const codes = await setup.open(RootWrapper.open(root)).getChildCode();
        const proxy = await ProxyWrapper.create({ root, owner: owner.address, enclaveKey: toUint256(keyPairFromSeed(o.seed).publicKey), workerCode: codes.workerCode, proxyCode: codes.proxyCode });
        await setup.open(proxy).sendRegister(owner.sender(), { stake: NETWORK_PROXY_STAKE, clientEndpoint: o.clientEndpoint, workerEndpoint: o.workerEndpoint });
        // Registration is a Proxy -> Root -> Proxy round trip; the devnet applies it within the send.
        const state = await setup.getProxyState(proxy.address);
        if (!state?.registered) throw new Error(`proxy ${proxy.address.toString()} did not register`);
        return { address: proxy.address, owner };
    }

    async function govern(body: Cell) {
        await devnet.withBlockchain(async (bc) => {
            const gov = await bc.treasury(GOVERNANCE);
            await bc.openContract(RootWrapper.open(root)).sendAction(gov.getSender(), body);
        });
    }

    return {
        devnet,
        chainConfig,
        newChain,
        root,
        tee,
        imageHashHex,
        quotePolicy,
        model: { $$type: 'Model', ...NETWORK_MODEL },
        params,
        fundWallet,
        proxyAddressFor,
        deployProxy,
        govern,
        stop: () => devnet.stop(),
    };
}
