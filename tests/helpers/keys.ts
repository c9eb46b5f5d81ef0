// A devnet chain with a Root whose allowlists name three simulated TDs of one PKI — a key-service image ('keys'),
// a proxy image and a worker image — plus a fourth TD on no list; and a clock of trust the tests move by hand.
import { Address, Cell, toNano } from '@ton/core';
import { DevnetServer } from '../../agents/devnet/server';
import { TonChain } from '../../agents/core/chain/chain';
import { loadChainConfig } from '../../agents/core/chain/config';
import { createKeyServiceClient } from '../../agents/core/keys/client';
import { KeyServiceClient } from '../../agents/core/keys/types';
import { SimulatedTee } from '../../agents/core/tee/simulated';
import { imageHash } from '../../agents/core/tee/image';
import { VerifyPolicy } from '../../agents/core/tee/types';
import { KeyService, KeyServiceOptions } from '../../agents/keys/service';
import { ImageKind, RootWrapper } from '../../wrappers/Root';

export interface KeysNetwork {
    devnet: DevnetServer;
    chain: TonChain;
    root: Address;
    /** Simulated TDs of one platform: each image is on the list its name says; `stranger` is on none. */
    tds: { keys: SimulatedTee; proxy: SimulatedTee; worker: SimulatedTee; stranger: SimulatedTee };
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    /** The clock of trust every party shares; `advance` moves it (no waiting on wall time). */
    clock: { now(): number; advance(ms: number): void };
    /** Starts a key service on this network (default: the 'keys' TD, 60 s leases). */
    service(o?: Partial<KeyServiceOptions>): Promise<KeyService>;
    /** A client in `td` (a fresh transient RA-TLS key per client) of the service at `url`. */
    client(td: SimulatedTee, url: string): KeyServiceClient;
    /** Sends a governance action to Root as its governance wallet, e.g. RootWrapper.removeImageBody('worker', imageOf(td)). */
    govern(body: Cell): Promise<void>;
    stop(): Promise<void>;
}

const td = (base: SimulatedTee, tag: number) => base.with({ measurements: { mrOwnerConfig: Buffer.alloc(48, tag) } });
export const imageOf = (t: SimulatedTee) => BigInt('0x' + imageHash(t.measurements).toString('hex'));

export async function keysNetwork(): Promise<KeysNetwork> {
    const devnet = new DevnetServer({ port: 0 });
    await devnet.start();
    const base = await SimulatedTee.create();
    const tds = { keys: td(base, 1), proxy: td(base, 2), worker: td(base, 3), stranger: td(base, 4) };
    let root!: Address;
    await devnet.withBlockchain(async (bc) => {
        const gov = await bc.treasury('keys-governance');
        const r = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: gov.address }));
        await r.sendDeploy(gov.getSender(), toNano('0.5'));
        root = r.address;
        for (const [kind, t] of [['keys', tds.keys], ['proxy', tds.proxy], ['worker', tds.worker]] as [ImageKind, SimulatedTee][]) {
            await r.sendAction(gov.getSender(), RootWrapper.addImageBody(kind, imageOf(t)));
        }
    });
    const chain = new TonChain({ config: loadChainConfig({ endpoint: devnet.url, rps: 1000, rootAddress: root.toString(), cacheTtlMs: 0 }, {}) });
    const quotePolicy = { trustedRootKeyIds: [base.rootKeyId], requireCollateral: true, collateral: await base.signCollateral() };
    let now = Date.now();
    const clock = { now: () => now, advance: (ms: number) => void (now += ms) };
    const services: KeyService[] = [];
    return {
        devnet,
        chain,
        root,
        tds,
        quotePolicy,
        clock,
        async service(o = {}) {
            const s = await KeyService.start({ tee: tds.keys, quotePolicy, chain, clock, ...o });
            services.push(s);
            return s;
        },
        async govern(body) {
            await devnet.withBlockchain(async (bc) => {
                const gov = await bc.treasury('keys-governance');
                await bc.openContract(RootWrapper.open(root)).sendAction(gov.getSender(), body);
            });
        },
        client: (t, url) => createKeyServiceClient({ url, tee: t, quotePolicy, chain, clock }),
        async stop() {
            for (const s of services) await s.stop();
            await devnet.stop();
        },
    };
}

export const OWNER = Address.parse('0:' + '11'.repeat(32));
export const OTHER_OWNER = Address.parse('0:' + '22'.repeat(32));
