// The proxy's counters and its stats snapshot (spec/proxy.md, "Stats"): the counters are owned here and bumped only
// through ProxyCounters' methods; the runner hands buildStats() what it holds (connections, router, ledger, commit)
// and StatsServer serves the snapshot as JSON on 127.0.0.1.
import { createServer as createHttpServer, IncomingMessage, Server as HttpServer, ServerResponse } from 'http';
import type { AddressInfo } from 'net';
import type { Address } from '@ton/core';
import type { TonChain } from '../core/chain/chain';
import { hex256 } from '../core/hex';
import type { Commit, Ledger } from './ledger';
import type { Router } from './router';
import { GuardCounters, HelloGate, newGuardCounters } from './guard';

export interface LedgerTotals {
    clients: number;
    workers: number;
    delivered: bigint;
    vouchers: bigint;
    redeemed: bigint;
    earned: bigint;
    payouts: bigint;
}

export interface ProxyStats {
    proxy: string;
    enclaveKey: string;
    status: 'serving' | 'halted' | 'stopped';
    startedAt: number;
    uptimeMs: number;
    rootVersion: number | null;
    connections: Record<'clients' | 'workers', { await_hello: number; checking: number; ready: number }>;
    workers: {
        id: string;
        channel: string;
        imageHash: string;
        keyId: string | null;
        models: { name: string; coefficient: bigint }[];
        capacity: number;
        inFlight: number;
        latency: { ttfbMs: number | null; totalMs: number | null };
        success: { successes: number; failures: number; score: number };
    }[];
    /** The connection guard's counters (guard.ts) and its hello-check scheduler. */
    limits: GuardCounters & { helloChecksRunning: number; helloChecksWaiting: number };
    requests: {
        inFlight: number;
        served: number;
        failed: number;
        failovers: number;
        /** Deliveries booked after their client had left: re-sent to it when it reconnects (spec/proxy.md). */
        bookedClientGone: number;
        receiptsRefused: number;
        vouchersAccepted: number;
        vouchersRefused: number;
    };
    /** Sums over the ledger (zeros when not serving). */
    ledger: LedgerTotals;
    /**
     * Admission (spec/proxy.md, "Admission"): worst-case cost held by requests in flight, and the largest unsigned
     * exposure (delivered − voucher) of any channel seen right after a booking since start.
     */
    admission: { held: bigint; peakExposure: bigint };
    /** Routing decision time (Router.pick / pickByKeyId as requests call them), over the last ≤ 4096 decisions. */
    routing: { decisions: number; window: number; p50Us: number | null; p99Us: number | null; maxUs: number | null };
    lastCommit: { seqno: bigint; hash: string; onChain: boolean; committedAt: number; error: string | null } | null;
}

/** The last `size` durations (ns) of one operation, for percentiles in the snapshot. */
export class DurationWindow {
    private readonly ns: Float64Array;
    private count = 0;

    constructor(size = 4096) {
        this.ns = new Float64Array(size);
    }

    record(ns: number): void {
        this.ns[this.count++ % this.ns.length] = ns;
    }

    snapshot(): ProxyStats['routing'] {
        const n = Math.min(this.count, this.ns.length);
        const sorted = this.ns.slice(0, n).sort();
        const us = (q: number) => (n === 0 ? null : Math.round(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] / 10) / 100);
        return { decisions: this.count, window: n, p50Us: us(0.5), p99Us: us(0.99), maxUs: us(1) };
    }
}

/** Counters of one proxy since start; bumped only through these methods. */
export class ProxyCounters {
    /** Routing decision times (the runner's router records them). */
    readonly routing = new DurationWindow();
    private readonly requests = { served: 0, failed: 0, failovers: 0, bookedClientGone: 0, receiptsRefused: 0, vouchersAccepted: 0, vouchersRefused: 0 };
    /** The connection guard's counters; the hello gate (guard.ts) bumps its own hello counters in it. */
    readonly guard: GuardCounters = newGuardCounters();
    private peakExposure = 0n;

    served(): void {
        this.requests.served++;
    }
    failed(): void {
        this.requests.failed++;
    }
    failover(): void {
        this.requests.failovers++;
    }
    bookedClientGone(): void {
        this.requests.bookedClientGone++;
    }
    receiptRefused(): void {
        this.requests.receiptsRefused++;
    }
    voucherAccepted(): void {
        this.requests.vouchersAccepted++;
    }
    voucherRefused(): void {
        this.requests.vouchersRefused++;
    }
    connectionRefused(): void {
        this.guard.connectionsRefused++;
    }
    slowPeerDropped(): void {
        this.guard.slowPeersDropped++;
    }
    requestTimedOut(): void {
        this.guard.requestTimeouts++;
    }
    /** A peer's unread backlog right after a frame was queued. */
    buffered(bytes: number): void {
        if (bytes > this.guard.peakBufferedBytes) this.guard.peakBufferedBytes = bytes;
    }
    /** A channel's unsigned exposure right after a booking. */
    exposure(amount: bigint): void {
        if (amount > this.peakExposure) this.peakExposure = amount;
    }

    requestCounts(inFlight: number): ProxyStats['requests'] {
        return { inFlight, ...this.requests };
    }
    limitCounts(gate: HelloGate): ProxyStats['limits'] {
        return { ...this.guard, helloChecksRunning: gate.active, helloChecksWaiting: gate.waiting };
    }
    admission(held: bigint): ProxyStats['admission'] {
        return { held, peakExposure: this.peakExposure };
    }
}

/** Sum of the ledger's counters, from its canonical serialization (spec/ledger.md, "State hash"). */
export function ledgerTotals(serialization: string): LedgerTotals {
    const t: LedgerTotals = { clients: 0, workers: 0, delivered: 0n, vouchers: 0n, redeemed: 0n, earned: 0n, payouts: 0n };
    for (const line of serialization.split('\n')) {
        const p = line.split(' ');
        if (p[0] === 'client' && p.length === 5) {
            t.clients++;
            t.delivered += BigInt(p[2]);
            t.vouchers += BigInt(p[3]);
            t.redeemed += BigInt(p[4]);
        } else if (p[0] === 'worker' && p.length === 4) {
            t.workers++;
            t.earned += BigInt(p[2]);
            t.payouts += BigInt(p[3]);
        }
    }
    return t;
}

type ConnState = 'await_hello' | 'checking' | 'ready' | 'closed';

/** What the runner holds that the snapshot reads. */
export interface StatsSources {
    proxyAddress: Address;
    enclaveKey: Buffer;
    chain: TonChain;
    status: ProxyStats['status'];
    startedAt: number;
    uptimeMs: number;
    clients: Iterable<{ state: ConnState }>;
    workers: Iterable<{ state: ConnState }>;
    router: Router;
    counters: ProxyCounters;
    helloGate: HelloGate;
    inFlight: number;
    held: bigint;
    /** The ledger while serving, else undefined (zeros). */
    ledger: Ledger | undefined;
    /** The error of the last commit this run sent, if it is `seqno`'s. */
    commitError: (seqno: bigint) => string | null;
}

/** A snapshot of the proxy (money as bigint); `GET /stats` serves it as JSON with decimal strings. */
export function buildStats(s: StatsSources): ProxyStats {
    const count = (m: Iterable<{ state: ConnState }>) => {
        const by = { await_hello: 0, checking: 0, ready: 0 };
        for (const c of m) if (c.state !== 'closed') by[c.state]++;
        return by;
    };
    const latest: Commit | null = s.ledger?.latestCommit() ?? null;
    return {
        proxy: s.proxyAddress.toString(),
        enclaveKey: s.enclaveKey.toString('hex'),
        status: s.status,
        startedAt: s.startedAt,
        uptimeMs: s.uptimeMs,
        rootVersion: s.chain.cachedRootConfig?.version ?? null,
        connections: { clients: count(s.clients), workers: count(s.workers) },
        workers: s.router.list().map((w) => ({
            id: w.id,
            channel: w.channel,
            imageHash: w.imageHash,
            keyId: w.keyId ?? null,
            models: [...w.models].map(([name, coefficient]) => ({ name, coefficient })),
            capacity: w.capacity,
            inFlight: w.inFlight,
            latency: { ttfbMs: w.ttfbMs ?? null, totalMs: w.latencyMs ?? null },
            success: { successes: w.successes, failures: w.failures, score: s.router.score(w) },
        })),
        limits: s.counters.limitCounts(s.helloGate),
        requests: s.counters.requestCounts(s.inFlight),
        ledger: s.ledger ? ledgerTotals(s.ledger.stateSerialization()) : ledgerTotals(''),
        admission: s.counters.admission(s.held),
        routing: s.counters.routing.snapshot(),
        lastCommit: latest
            ? {
                  seqno: latest.seqno,
                  hash: hex256(latest.hash),
                  onChain: latest.onChain,
                  committedAt: latest.committedAt,
                  error: s.commitError(latest.seqno),
              }
            : null,
    };
}

function bigintJson(_k: string, v: unknown): unknown {
    return typeof v === 'bigint' ? v.toString() : v;
}

/** `GET /stats` (the snapshot) and `GET /healthz` on 127.0.0.1; anything else 404. */
export class StatsServer {
    private server?: HttpServer;

    constructor(private readonly source: { stats(): ProxyStats; health(): { ok: boolean; status: ProxyStats['status'] } }) {}

    listen(port: number): Promise<string> {
        const server = createHttpServer((req, res) => this.onRequest(req, res));
        this.server = server;
        return new Promise<string>((resolve, reject) => {
            server.once('error', reject);
            server.listen(port, '127.0.0.1', () => {
                server.off('error', reject);
                const a = server.address() as AddressInfo;
                resolve(`http://127.0.0.1:${a.port}`);
            });
        });
    }

    private onRequest(req: IncomingMessage, res: ServerResponse): void {
        const json = (status: number, body: unknown) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(body));
        };
        const path = (req.url ?? '/').split('?')[0];
        if (req.method === 'GET' && path === '/stats') return json(200, JSON.parse(JSON.stringify(this.source.stats(), bigintJson)));
        if (req.method === 'GET' && path === '/healthz') {
            const h = this.source.health();
            return json(h.ok ? 200 : 503, h);
        }
        json(404, { code: 'NOT_FOUND', message: `no ${req.method} ${path}` });
    }

    close(): Promise<void> {
        const s = this.server;
        this.server = undefined;
        if (!s) return Promise.resolve();
        s.closeAllConnections();
        return new Promise((resolve) => s.close(() => resolve()));
    }
}
