// Connection guard of the proxy (spec/proxy.md, "Limits"): the bounds that keep one peer from taking memory, chain
// lookups, slots or time from the others (attacks 14-16 of issue 8). Pure bookkeeping and a scheduler; the agent
// calls it from its connection and request paths.
//
// - Unread bytes: a frame is queued on a socket only while the peer's unread bytes (ws.bufferedAmount) plus the
//   frame stay within maxBufferedBytes; a peer past that bound is dropped (its requests are cancelled at their
//   workers), so a client that stops reading costs at most the bound, never the whole stream.
// - Hello checks: every hello costs chain lookups. HelloGate runs at most `helloChecks` at once and at most
//   `helloChecksPerAddress` per source address, queues at most `helloQueue` more (fairly: the next check started is
//   the oldest one of the address with the fewest checks running; channels already admitted with the same key go
//   first; a full queue sheds the newest hello of the address with the most waiting), times a
//   check out after `helloCheckTimeoutMs` (the caller's slot is held until the lookup itself settles, so lookups
//   stay bounded), and remembers CHANNEL_INVALID verdicts for `negativeCacheMs` by (channel, peer key).
import type { Clock } from '../core/clock';
import { ProxyWireCode } from './errors';

export interface ProxyLimits {
    /** Largest unread backlog of one peer connection (ws.bufferedAmount + the next frame), bytes; past it the peer is dropped. */
    maxBufferedBytes: number;
    /** Requests in flight on one client connection. */
    maxRequestsPerConnection: number;
    /** Frames a peer may send while its hello is being checked, and their total size in bytes. */
    maxPendingFrames: number;
    maxPendingBytes: number;
    /** TCP connections from one source address, per endpoint; more are closed before the TLS handshake. */
    maxConnectionsPerAddress: number;
    /** Hello checks (chain lookups) running at once, in total and per source address, and how many may wait. */
    helloChecks: number;
    helloChecksPerAddress: number;
    helloQueue: number;
    /** A hello check that takes longer ends the connection with PROXY_UNAVAILABLE. */
    helloCheckTimeoutMs: number;
    /** How long a CHANNEL_INVALID verdict is remembered for the same (channel, peer key). 0 = never. */
    negativeCacheMs: number;
    /** A worker must send response_start within this after the request went out… */
    firstByteTimeoutMs: number;
    /** …and then something (chunk, end) at least this often… */
    idleTimeoutMs: number;
    /** …and end a request within this after it was cancelled (by the client or its disconnect). */
    cancelGraceMs: number;
}

export const DEFAULT_LIMITS: Readonly<ProxyLimits> = {
    maxBufferedBytes: 16 * 1024 * 1024,
    maxRequestsPerConnection: 256,
    maxPendingFrames: 32,
    maxPendingBytes: 4 * 1024 * 1024,
    maxConnectionsPerAddress: 64,
    helloChecks: 16,
    helloChecksPerAddress: 4,
    helloQueue: 256,
    helloCheckTimeoutMs: 10_000,
    negativeCacheMs: 60_000,
    firstByteTimeoutMs: 120_000,
    idleTimeoutMs: 60_000,
    cancelGraceMs: 10_000,
};

/** Merged limits, or the name of the first bad one. */
export function resolveLimits(partial: Partial<ProxyLimits> | undefined): ProxyLimits | { bad: string } {
    const out: ProxyLimits = { ...DEFAULT_LIMITS };
    for (const [k, v] of Object.entries(partial ?? {})) {
        if (!(k in DEFAULT_LIMITS)) return { bad: k };
        const min = k === 'negativeCacheMs' || k === 'helloQueue' ? 0 : 1;
        if (!Number.isInteger(v) || (v as number) < min || (v as number) > 2 ** 31 - 1) return { bad: k };
        (out as unknown as Record<string, number>)[k] = v as number;
    }
    return out;
}

export interface GuardCounters {
    /** Peers dropped because their unread backlog would pass maxBufferedBytes. */
    slowPeersDropped: number;
    /** Highest ws.bufferedAmount seen on any peer connection right after a frame was queued. */
    peakBufferedBytes: number;
    /** Hello checks that ran (each costs chain lookups). */
    helloChecks: number;
    /** Hellos answered from the negative cache, without a lookup. */
    helloCacheHits: number;
    /** Hellos refused because the check queue was full. */
    helloRateLimited: number;
    /** Hello checks that timed out. */
    helloTimeouts: number;
    /** TCP connections closed before TLS because their address had maxConnectionsPerAddress open. */
    connectionsRefused: number;
    /** Requests a worker left without an answer past a deadline (first byte, idle, cancel grace). */
    requestTimeouts: number;
}

export function newGuardCounters(): GuardCounters {
    return { slowPeersDropped: 0, peakBufferedBytes: 0, helloChecks: 0, helloCacheHits: 0, helloRateLimited: 0, helloTimeouts: 0, connectionsRefused: 0, requestTimeouts: 0 };
}

/** The proxy's send path drops a peer past limits.maxBufferedBytes with the shared check. */
export { fitsBuffer } from '../core/transport/socket';

export type Refusal = { code: ProxyWireCode; message: string } | null;

interface Waiting {
    address: string;
    priority: boolean;
    start: () => void;
    refuse: () => void;
}

const RATE_LIMITED: NonNullable<Refusal> = { code: 'RATE_LIMITED', message: 'too many hellos are being checked; retry later' };

/** Scheduler and negative cache of hello checks (see the file comment). */
export class HelloGate {
    private running = 0;
    private readonly perAddress = new Map<string, number>();
    private readonly queue: Waiting[] = [];
    /** `${channel} ${peerKeyHex}` → verdict and expiry (ms), oldest first. */
    private readonly negative = new Map<string, { refusal: NonNullable<Refusal>; until: number }>();
    private static readonly MAX_NEGATIVE = 100_000;

    constructor(
        private readonly limits: ProxyLimits,
        private readonly clock: Clock,
        private readonly counters: GuardCounters,
    ) {}

    get waiting(): number {
        return this.queue.length;
    }

    get active(): number {
        return this.running;
    }

    /**
     * Runs `check` for a hello from `address` when a slot is free. Resolves with its verdict, a cached verdict (under
     * `cacheKey`; none: never cached), a RATE_LIMITED refusal (queue full) or a PROXY_UNAVAILABLE one (timed out);
     * rejects if `check` throws.
     */
    admit(address: string, cacheKey: string | undefined, priority: boolean, check: () => Promise<Refusal>): Promise<Refusal> {
        const cached = cacheKey === undefined ? undefined : this.negative.get(cacheKey);
        if (cached && cached.until > this.clock.now()) {
            this.counters.helloCacheHits++;
            return Promise.resolve(cached.refusal);
        }
        if (cached) this.negative.delete(cacheKey!);
        if (this.queue.length >= this.limits.helloQueue && !this.makeRoom(address)) {
            this.counters.helloRateLimited++;
            return Promise.resolve(RATE_LIMITED);
        }
        return new Promise<Refusal>((resolve, reject) => {
            const start = () => {
                this.running++;
                this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
                this.counters.helloChecks++;
                let answered = false;
                const timer = setTimeout(() => {
                    answered = true;
                    this.counters.helloTimeouts++;
                    resolve({ code: 'PROXY_UNAVAILABLE', message: `the channel check took longer than ${this.limits.helloCheckTimeoutMs} ms` });
                }, this.limits.helloCheckTimeoutMs);
                timer.unref();
                check()
                    .then(
                        (refusal) => {
                            if (refusal?.code === 'CHANNEL_INVALID' && cacheKey !== undefined && this.limits.negativeCacheMs > 0) this.remember(cacheKey, refusal);
                            if (!answered) resolve(refusal);
                        },
                        (e: unknown) => {
                            if (!answered) reject(e);
                        },
                    )
                    .finally(() => {
                        clearTimeout(timer);
                        answered = true;
                        this.running--;
                        const n = (this.perAddress.get(address) ?? 1) - 1;
                        if (n > 0) this.perAddress.set(address, n);
                        else this.perAddress.delete(address);
                        this.pump();
                    });
            };
            this.queue.push({ address, priority, start, refuse: () => resolve(RATE_LIMITED) });
            this.pump();
        });
    }

    /**
     * The queue is full: the address with the most waiting hellos gives up its newest one, unless that would be the
     * arriving address itself (or one with as few). Keeps one busy address from crowding out the rest.
     */
    private makeRoom(address: string): boolean {
        if (this.queue.length === 0) return false;
        const count = new Map<string, number>();
        for (const q of this.queue) count.set(q.address, (count.get(q.address) ?? 0) + 1);
        let heaviest = address;
        for (const [a, n] of count) if (n > (count.get(heaviest) ?? 0)) heaviest = a;
        if ((count.get(heaviest) ?? 0) <= (count.get(address) ?? 0) + 1) return false;
        let i = this.queue.length - 1;
        while (this.queue[i].address !== heaviest) i--;
        const [evicted] = this.queue.splice(i, 1);
        this.counters.helloRateLimited++;
        evicted.refuse();
        return true;
    }

    private canStart(address: string): boolean {
        return this.running < this.limits.helloChecks && (this.perAddress.get(address) ?? 0) < this.limits.helloChecksPerAddress;
    }

    /**
     * While slots are free, starts the waiting check whose address has the fewest checks running (known channels
     * first, then the oldest), skipping addresses at their share: a newcomer is not queued behind a busy address.
     */
    private pump(): void {
        while (this.running < this.limits.helloChecks) {
            let best = -1;
            let bestKey = Infinity;
            for (let i = 0; i < this.queue.length; i++) {
                const q = this.queue[i];
                const n = this.perAddress.get(q.address) ?? 0;
                if (n >= this.limits.helloChecksPerAddress) continue;
                const key = (q.priority ? 0 : 1) * 1e6 + n;
                if (key < bestKey) {
                    best = i;
                    bestKey = key;
                }
            }
            if (best < 0) return;
            const [w] = this.queue.splice(best, 1);
            w.start();
        }
    }

    private remember(key: string, refusal: NonNullable<Refusal>): void {
        this.negative.delete(key);
        this.negative.set(key, { refusal, until: this.clock.now() + this.limits.negativeCacheMs });
        if (this.negative.size > HelloGate.MAX_NEGATIVE) this.negative.delete(this.negative.keys().next().value!);
    }
}
