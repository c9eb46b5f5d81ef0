// The proxy's counters and its stats snapshot (spec/proxy.md, "Stats"): the counters are owned here and bumped only
// through ProxyCounters' methods; the runner hands buildStats() what it holds (connections, router, ledger, commit),
// its ops server (agents/core/ops-server.ts) serves the snapshot as /stats, and proxyMetrics() reads it for /metrics.
import type { Address } from '@ton/core';
import { AgentMetrics, perScrape, RequestDone } from '../core/metrics';
import type { Readiness } from '../core/ops-server';
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

    /** `metrics`: where each request's end is also counted (by model, code, tokens, latency). */
    constructor(private readonly metrics?: AgentMetrics) {}

    served(r?: RequestDone): void {
        this.requests.served++;
        if (r) this.metrics?.requestDone(r);
    }
    failed(r?: RequestDone): void {
        this.requests.failed++;
        if (r) this.metrics?.requestDone(r);
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

/** Ready: serving, listed in Root (so staked: "funded"), at least one attested worker ready to route to. */
export function proxyReadiness(s: ProxyStats, listedInRoot: boolean): Readiness {
    const reasons: string[] = [];
    if (s.status !== 'serving') reasons.push(s.status === 'halted' ? 'halted' : 'not_serving');
    if (!listedInRoot) reasons.push('not_listed_in_root');
    if (s.connections.workers.ready === 0) reasons.push('no_worker_ready');
    return { ready: reasons.length === 0, reasons, status: s.status, workersReady: s.connections.workers.ready };
}

/** The proxy's scrape-time metrics, all read from one stats() snapshot per scrape (spec/operations.md, "Metrics"). */
export function proxyMetrics(m: AgentMetrics, stats: () => ProxyStats, ready: () => Readiness): void {
    const s = perScrape(stats);
    m.gauge('cocoon_ready', 'Whether /readyz answers 200 (1) or 503 (0)', [], () => (ready().ready ? 1 : 0));
    m.gauge('cocoon_uptime_seconds', 'Seconds since the agent started serving', [], () => s().uptimeMs / 1000);
    m.gauge('cocoon_requests_in_flight', 'Requests in flight', [], () => s().requests.inFlight);
    m.gauge('cocoon_connections', 'Peer connections by peer kind and state', ['peer', 'state'], () => {
        const c = s().connections;
        return (['client', 'worker'] as const).flatMap((peer) => Object.entries(c[`${peer}s`]).map(([state, n]): [{ peer: string; state: string }, number] => [{ peer, state }, n]));
    });
    m.gauge('cocoon_ledger_nanoton', 'Ledger totals over every channel (nanoTON): delivered, vouchers, redeemed (clients); earned, paid (workers)', ['kind'], () => {
        const l = s().ledger;
        return [[{ kind: 'delivered' }, l.delivered], [{ kind: 'vouchers' }, l.vouchers], [{ kind: 'redeemed' }, l.redeemed], [{ kind: 'earned' }, l.earned], [{ kind: 'paid' }, l.payouts]];
    });
    m.gauge('cocoon_ledger_channels', 'Channels in the ledger by kind (client, worker)', ['kind'], () => [[{ kind: 'client' }, s().ledger.clients], [{ kind: 'worker' }, s().ledger.workers]]);
    m.gauge('cocoon_credit_exposure_nanoton', 'Credit given and not yet covered (nanoTON): unsigned = delivered − vouchers over all clients, held = worst cases of requests in flight, peak = the largest one channel reached', ['kind'], () => {
        const x = s();
        return [[{ kind: 'unsigned' }, x.ledger.delivered - x.ledger.vouchers], [{ kind: 'held' }, x.admission.held], [{ kind: 'peak' }, x.admission.peakExposure]];
    });
    m.gauge('cocoon_workers_capacity', 'Routable workers: their total capacity and requests in flight', ['kind'], () => {
        const w = s().workers;
        return [[{ kind: 'workers' }, w.length], [{ kind: 'capacity' }, w.reduce((a, x) => a + x.capacity, 0)], [{ kind: 'in_flight' }, w.reduce((a, x) => a + x.inFlight, 0)]];
    });
    m.counter('cocoon_proxy_events_total', 'Proxy events since start: failovers, booked_client_gone, receipts_refused, vouchers_accepted, vouchers_refused, connections_refused, slow_peers_dropped, request_timeouts, routing_decisions', ['event'], () => {
        const x = s();
        const r = x.requests;
        return [
            [{ event: 'failovers' }, r.failovers],
            [{ event: 'booked_client_gone' }, r.bookedClientGone],
            [{ event: 'receipts_refused' }, r.receiptsRefused],
            [{ event: 'vouchers_accepted' }, r.vouchersAccepted],
            [{ event: 'vouchers_refused' }, r.vouchersRefused],
            [{ event: 'connections_refused' }, x.limits.connectionsRefused],
            [{ event: 'slow_peers_dropped' }, x.limits.slowPeersDropped],
            [{ event: 'request_timeouts' }, x.limits.requestTimeouts],
            [{ event: 'routing_decisions' }, x.routing.decisions],
        ];
    });
    m.gauge('cocoon_last_commit_seqno', 'Seqno of the latest state commit (−1 before the first)', [], () => Number(s().lastCommit?.seqno ?? -1n));
    m.gauge('cocoon_last_commit_on_chain', 'Whether the latest state commit is confirmed on chain', [], () => (s().lastCommit?.onChain ? 1 : 0));
}
