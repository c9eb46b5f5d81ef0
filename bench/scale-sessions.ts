// Client sessions for bench/scale.ts, in a process of their own (forked by the bench), so that the TLS handshakes
// of a connect storm do not share an event loop with the sample traffic the bench times. A session is what
// CocoonClient.connect() does, with the client's own pieces: dialProxy (RA-TLS to the proxy's client endpoint; the
// proxy's quote, Root's proxy images and the registered enclave key are verified before any frame), then the
// client's ProxyConnection handshake: hello → hello_ok → payment_status. It then stays open (answering the proxy's
// pings) and sends nothing else. Channel j's certificate key is clientSeed(j), its ClientChannel's clientKey
// (bench/scale-chain.ts); up to four sessions share a channel (the proxy's limit per channel).
//
// IPC: {open: id, sessions: [{j, channel}], concurrency} → {opened: id, ok, errors, firstError, ms};
//      {usage: id} → {usage: id, rss, userUs, systemUs}.
import { Address } from '@ton/core';
import { TonChain } from '../agents/core/chain/chain';
import { loadChainConfig } from '../agents/core/chain/config';
import { SimulatedTee } from '../agents/core/tee/simulated';
import { VerificationCache } from '../agents/core/tee/verify';
import { KeyIdentity, RaTlsIdentity } from '../agents/core/transport';
import { systemClock } from '../agents/core/clock';
import { dialProxy, ProxyConnection } from '../agents/client/proxy-connection';
import { clientSeed } from './scale-chain';

export interface SessionsInit {
    endpoint: string;
    rootAddress: string;
    teeFile: string;
    proxy: string;
}

export interface OpenRequest {
    open: number;
    sessions: { j: number; channel: string }[];
    concurrency: number;
}

export interface OpenResult {
    opened: number;
    ok: number;
    errors: number;
    firstError: string | null;
    ms: number;
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: T[], concurrency: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(concurrency, items.length) }, async () => {
            while (next < items.length) {
                const i = next++;
                await fn(items[i], i);
            }
        }),
    );
}

const QUIET = { log: () => undefined, onPaymentStatus: () => undefined, onLateReceipt: () => false, onVoucherError: () => undefined, onGone: () => undefined };

async function main(init: SessionsInit): Promise<void> {
    const chain = new TonChain({ config: loadChainConfig({ endpoint: init.endpoint, rootAddress: init.rootAddress, rps: 10_000, maxRetries: 2, cacheTtlMs: 30_000 }, {}) });
    const cfg = await chain.getRootConfig();
    const proxy = Address.parse(init.proxy);
    const info = cfg.proxies.get(proxy.toRawString());
    if (!info) throw new Error(`proxy ${init.proxy} is not in Root`);
    const tee = await SimulatedTee.loadOrCreate(init.teeFile);
    const quotePolicy = { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() };
    const cache = new VerificationCache({ ttlMs: 3_600_000 });
    const identities = new Map<number, Promise<RaTlsIdentity>>();
    const sessions: ProxyConnection[] = [];

    async function openOne(j: number, channel: Address): Promise<void> {
        let id = identities.get(j);
        if (!id) identities.set(j, (id = KeyIdentity.create({ seed: clientSeed(j) })));
        const conn = await dialProxy(info!, { identity: await id, quotePolicy, isImageAllowed: (h) => cfg.proxyImages.has(h), cache, clock: systemClock, connectTimeoutMs: 120_000 });
        const pc = new ProxyConnection(conn.ws, conn.peer, QUIET);
        await pc.handshake(channel, proxy, 120_000);
        sessions.push(pc);
    }

    process.on('message', (m: Partial<OpenRequest> & { usage?: number; close?: boolean }) => {
        if (typeof m.usage === 'number') {
            const ru = process.resourceUsage();
            process.send!({ usage: m.usage, rss: process.memoryUsage().rss, userUs: ru.userCPUTime, systemUs: ru.systemCPUTime, sessions: sessions.filter((s) => s.ready).length });
            return;
        }
        if (m.close) {
            for (const s of sessions) s.ws.terminate();
            process.exit(0);
        }
        if (typeof m.open !== 'number' || !m.sessions) return;
        const t0 = performance.now();
        const r: OpenResult = { opened: m.open, ok: 0, errors: 0, firstError: null, ms: 0 };
        void pool(m.sessions, m.concurrency ?? 64, async ({ j, channel }) => {
            try {
                await openOne(j, Address.parse(channel));
                r.ok++;
            } catch (e) {
                r.errors++;
                r.firstError ??= String((e as Error).message ?? e);
            }
        }).then(() => {
            r.ms = performance.now() - t0;
            process.send!(r);
        });
    });
    process.send!({ ready: true });
}

if (require.main === module) {
    main(JSON.parse(process.argv[2]) as SessionsInit).catch((e) => {
        console.error(e);
        process.exit(1);
    });
}
