// The worker's counters and its stats snapshot (spec/worker.md, "Stats"). The counters live here and move only
// through these methods, named after what happened; the runner, the connections and the requests report events.
// workerMetrics() reads the snapshot for /metrics; each request's end is also counted there (by model and code).
import type { PayoutBook } from './payouts';
import { AgentMetrics, perScrape, RequestDone } from '../core/metrics';
import type { Readiness } from '../core/ops-server';

export type LinkState = 'idle' | 'staking' | 'connecting' | 'ready' | 'backoff' | 'excluded' | 'stopped';
export type ExcludeReason = 'unlisted' | 'image_removed' | 'channel_unusable';

export interface LinkStats {
    /** Proxy contract address (raw). */
    proxy: string;
    /** Our WorkerChannel with it (raw), once derived. */
    channel?: string;
    state: LinkState;
    excluded?: ExcludeReason;
    /** The proxy's attested image hash, once seen. */
    imageHash?: string;
    /** Clock time the current connection became ready. */
    connectedAt?: number;
    /** Connections that reached `ready`. */
    connections: number;
    lastError?: { code: string; message: string };
    inFlight: number;
}

export interface WorkerStats {
    proxies: LinkStats[];
    inFlight: number;
    capacity: number;
    /** Requests ended with response_end. */
    served: number;
    /** Requests ended with response_error (WORKER_BUSY refusals included). */
    failed: number;
    /** Requests refused as WORKER_BUSY. */
    busy: number;
    /** Latest verified payout per channel (raw address). */
    earned: Record<string, bigint>;
    /** The channel's `paid` on chain as last read. */
    claimed: Record<string, bigint>;
}

/** How a request ended, for the counters: what a running request (or a connection refusing a frame) reports. */
export interface RequestCounters {
    /** A request ended with response_end. */
    requestServed(r?: RequestDone): void;
    /** A request ended with response_error. */
    requestFailed(r?: RequestDone): void;
}

/** The worker-wide request counters (across every proxy). */
export class WorkerCounters implements RequestCounters {
    private inFlight = 0;
    private served = 0;
    private failed = 0;
    private busy = 0;

    constructor(
        private readonly capacity: number,
        private readonly metrics?: AgentMetrics,
    ) {}

    /** True while a new request fits in the capacity. */
    hasRoom(): boolean {
        return this.inFlight < this.capacity;
    }

    /** A request was admitted and runs. */
    requestStarted(): void {
        this.inFlight++;
    }

    /** An admitted request finished (however it ended). */
    requestDone(): void {
        this.inFlight--;
    }

    requestServed(r?: RequestDone): void {
        this.served++;
        if (r) this.metrics?.requestDone(r);
    }

    requestFailed(r?: RequestDone): void {
        this.failed++;
        if (r) this.metrics?.requestDone(r);
    }

    /** A request was refused as WORKER_BUSY (it counts as failed too). */
    requestBusy(model?: string): void {
        this.busy++;
        this.failed++;
        if (model !== undefined) this.metrics?.requestDone({ model, code: 'WORKER_BUSY' });
    }

    /** For the worker_stopped log line. */
    totals(): { served: number; failed: number } {
        return { served: this.served, failed: this.failed };
    }

    snapshot(proxies: LinkStats[], payouts: PayoutBook | undefined): WorkerStats {
        const earned: Record<string, bigint> = {};
        const claimed: Record<string, bigint> = {};
        if (payouts) {
            for (const [k, v] of payouts.earned()) earned[k] = v;
            for (const [k, v] of payouts.claimed()) claimed[k] = v;
        }
        return {
            proxies,
            inFlight: this.inFlight,
            capacity: this.capacity,
            served: this.served,
            failed: this.failed,
            busy: this.busy,
            earned,
            claimed,
        };
    }
}

/** What a proxy connection is now, for its LinkStats. */
export interface LinkView {
    proxy: string;
    channel: string | null;
    state: LinkState;
    excluded: ExcludeReason | null;
    imageHash: string | null;
    inFlight: number;
}

/** One proxy connection's counters: connections made, when the current one became ready, the last error. */
export class LinkCounters {
    private connections = 0;
    private connectedAt?: number;
    private lastError?: { code: string; message: string };

    /** A connection reached `ready` at clock time `at`. */
    connected(at: number): void {
        this.connectedAt = at;
        this.connections++;
    }

    errored(code: string, message: string): void {
        this.lastError = { code, message };
    }

    snapshot(v: LinkView): LinkStats {
        return {
            proxy: v.proxy,
            ...(v.channel ? { channel: v.channel } : {}),
            state: v.state,
            ...(v.excluded ? { excluded: v.excluded } : {}),
            ...(v.imageHash ? { imageHash: v.imageHash } : {}),
            ...(v.state === 'ready' && this.connectedAt !== undefined ? { connectedAt: this.connectedAt } : {}),
            connections: this.connections,
            ...(this.lastError ? { lastError: this.lastError } : {}),
            inFlight: v.inFlight,
        };
    }
}

/** Ready: running, and at least one proxy link is ready (its channel staked and active, both sides attested). */
export function workerReadiness(running: boolean, s: WorkerStats): Readiness {
    const reasons: string[] = [];
    if (!running) reasons.push('not_running');
    if (!s.proxies.some((p) => p.state === 'ready')) reasons.push('no_proxy_ready');
    return { ready: reasons.length === 0, reasons, proxies: s.proxies.map((p) => ({ proxy: p.proxy, state: p.state, ...(p.lastError ? { lastError: p.lastError.code } : {}) })) };
}

const LINK_STATES: LinkState[] = ['idle', 'staking', 'connecting', 'ready', 'backoff', 'excluded', 'stopped'];

/** The worker's scrape-time metrics, read from one stats() snapshot per scrape (spec/operations.md, "Metrics"). */
export function workerMetrics(m: AgentMetrics, stats: () => WorkerStats, ready: () => Readiness): void {
    const s = perScrape(stats);
    const sum = (r: Record<string, bigint>) => Object.values(r).reduce((a, v) => a + v, 0n);
    m.gauge('cocoon_ready', 'Whether /readyz answers 200 (1) or 503 (0)', [], () => (ready().ready ? 1 : 0));
    m.gauge('cocoon_requests_in_flight', 'Requests in flight', [], () => s().inFlight);
    m.gauge('cocoon_capacity', 'Concurrent requests the worker accepts across all proxies', [], () => s().capacity);
    m.gauge('cocoon_connections', 'Peer connections by peer kind and state', ['peer', 'state'], () =>
        LINK_STATES.map((state): [{ peer: string; state: string }, number] => [{ peer: 'proxy', state }, s().proxies.filter((p) => p.state === state).length]),
    );
    m.gauge('cocoon_ledger_nanoton', "The worker's totals over its channels (nanoTON): earned (latest verified payouts), paid (claimed on chain)", ['kind'], () => [
        [{ kind: 'earned' }, sum(s().earned)],
        [{ kind: 'paid' }, sum(s().claimed)],
    ]);
    m.gauge('cocoon_credit_exposure_nanoton', 'Credit given and not yet covered (nanoTON): unclaimed = signed payouts not yet claimed on chain', ['kind'], () => [[{ kind: 'unclaimed' }, sum(s().earned) - sum(s().claimed)]]);
    m.counter('cocoon_worker_busy_total', 'Requests refused as WORKER_BUSY (at capacity)', [], () => s().busy);
}
