// The clock of trust (spec/attestation.md "Clock of trust"): the time every validity check is judged at — certificate
// windows, collateral nextUpdate, the worker hello's expiry. It is the chain's latest block time, advanced between
// fetches by this process's monotonic clock, refreshed in the background, never going backwards. The host's wall
// clock is only compared with it (a skew beyond maxSkewMs is logged and reported). When the chain has not answered
// for longer than maxStaleMs, now() throws CHAIN_TIME_UNAVAILABLE: evidence checks fail closed instead of falling
// back to the host clock, which a hostile host sets at will.
import { performance } from 'perf_hooks';
import { Clock } from '../clock';
import { Log, noLog } from '../log';
import type { Readiness } from '../ops-server';
import type { AgentMetrics } from '../metrics';
import { AttestationError, type CollateralSource } from '../tee/types';

export const DEFAULT_TRUST_REFRESH_MS = 30_000;
export const DEFAULT_MAX_SKEW_MS = 300_000;
export const DEFAULT_MAX_STALE_MS = 600_000;

export interface TrustClockOptions {
    /** The chain's time, unix seconds: TonChain.getChainTime (the latest masterchain block's gen_utime). */
    chainTime: () => Promise<number>;
    /** A monotonic clock in ms (default performance.now); it only measures the time since the last fetch. */
    monotonic?: () => number;
    /** The host's wall clock in ms (default Date.now): compared with chain time, never used as it. */
    host?: () => number;
    /** Background refresh interval (default 30 s); 0 = none (call refresh()). */
    refreshMs?: number;
    /** |chain − host| above this is logged (`chain-time.skew-mismatch`) and reported by status() (default 300 s). */
    maxSkewMs?: number;
    /** No answer from the chain for longer than this and now() throws CHAIN_TIME_UNAVAILABLE (default 10 min). */
    maxStaleMs?: number;
    log?: Log;
}

export interface TrustClockStatus {
    /** now() answers (the chain was reached within maxStaleMs). */
    available: boolean;
    /** The clock's time (ms), null when unavailable. */
    now: number | null;
    /** Chain time minus host time at the last fetch (ms); null before the first. */
    skewMs: number | null;
    skewed: boolean;
    /** Milliseconds since the chain last answered; null if it never did. */
    sinceReachedMs: number | null;
    lastError: string | null;
}

export class TrustClock implements Clock {
    private readonly mono: () => number;
    private readonly host: () => number;
    private readonly log: Log;
    private readonly maxSkewMs: number;
    private readonly maxStaleMs: number;
    /** Chain time (ms) at monotonic instant `mono`; the clock reads chainMs + elapsed monotonic time. */
    private anchor: { chainMs: number; mono: number } | null = null;
    private reachedMono = -Infinity;
    private last = -Infinity;
    private skew: number | null = null;
    private skewed = false;
    private lastError: string | null = null;
    private staleWarned = false;
    private inflight: Promise<void> | null = null;
    private timer?: NodeJS.Timeout;

    constructor(private readonly o: TrustClockOptions) {
        this.mono = o.monotonic ?? (() => performance.now());
        this.host = o.host ?? Date.now;
        this.log = o.log ?? noLog;
        this.maxSkewMs = o.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
        this.maxStaleMs = o.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
        for (const [k, v] of [['maxSkewMs', this.maxSkewMs], ['maxStaleMs', this.maxStaleMs], ['refreshMs', o.refreshMs ?? 0]] as const) {
            if (!Number.isFinite(v) || v < 0) throw new RangeError(`TrustClock: ${k} must be a non-negative number`);
        }
    }

    /** Now in ms since the epoch, by the chain; throws AttestationError CHAIN_TIME_UNAVAILABLE when the chain is out of reach. */
    now(): number {
        const m = this.mono();
        if (this.anchor === null || m - this.reachedMono > this.maxStaleMs) {
            if (!this.staleWarned) {
                this.staleWarned = true;
                this.log('chain-time.stale', { code: 'CHAIN_TIME_UNAVAILABLE', maxStaleMs: this.maxStaleMs, lastError: this.lastError });
            }
            throw new AttestationError(
                'CHAIN_TIME_UNAVAILABLE',
                this.anchor === null ? 'the chain has not told its time yet' : `the chain has not answered for ${Math.round((m - this.reachedMono) / 1000)} s (bound ${this.maxStaleMs / 1000} s)`,
                { maxStaleMs: this.maxStaleMs, lastError: this.lastError },
            );
        }
        this.last = Math.max(this.last, this.anchor.chainMs + (m - this.anchor.mono));
        return this.last;
    }

    /** now() as a Date (the verifiers' clock type). */
    date(): Date {
        return new Date(this.now());
    }

    /** Fetches the chain's time once; a failure is recorded and logged, not thrown. Concurrent callers share one fetch. */
    refresh(): Promise<void> {
        this.inflight ??= this.fetch().finally(() => (this.inflight = null));
        return this.inflight;
    }

    /** The first refresh, then one every refreshMs in the background. */
    async start(): Promise<void> {
        await this.refresh();
        const ms = this.o.refreshMs ?? DEFAULT_TRUST_REFRESH_MS;
        if (ms > 0 && !this.timer) {
            this.timer = setInterval(() => void this.refresh(), ms);
            this.timer.unref();
        }
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }

    /** Whether the background refresh is scheduled (start() until stop()). */
    get running(): boolean {
        return this.timer !== undefined;
    }

    status(): TrustClockStatus {
        const m = this.mono();
        const available = this.anchor !== null && m - this.reachedMono <= this.maxStaleMs;
        return {
            available,
            now: available ? this.now() : null,
            skewMs: this.skew,
            skewed: this.skewed,
            sinceReachedMs: this.anchor === null ? null : m - this.reachedMono,
            lastError: this.lastError,
        };
    }

    private async fetch(): Promise<void> {
        let seconds: number;
        try {
            seconds = await this.o.chainTime();
            // gen_utime is a uint32: anything else is not a block time
            if (!Number.isSafeInteger(seconds) || seconds <= 0 || seconds > 0xffff_ffff) throw new Error(`not a unix time: ${String(seconds).slice(0, 40)}`);
        } catch (e) {
            const err = e as { code?: string; message?: string };
            this.lastError = `${err.code ?? 'CHAIN_UNAVAILABLE'}: ${err.message ?? String(e)}`;
            this.log('chain-time.refresh-failed', { code: err.code ?? 'CHAIN_UNAVAILABLE', message: err.message ?? String(e) });
            return;
        }
        const m = this.mono();
        const chainMs = seconds * 1000;
        // Never backwards: an older block (a lagging replica) leaves the clock where the monotonic clock has taken it.
        const current = this.anchor === null ? -Infinity : this.anchor.chainMs + (m - this.anchor.mono);
        if (chainMs > current) this.anchor = { chainMs, mono: m };
        this.reachedMono = m;
        this.lastError = null;
        this.staleWarned = false;
        const now = this.anchor!.chainMs + (m - this.anchor!.mono);
        const host = this.host();
        this.skew = now - host;
        const skewed = Math.abs(this.skew) > this.maxSkewMs;
        if (skewed) {
            this.log('chain-time.skew-mismatch', { chainTime: new Date(now).toISOString(), hostTime: safeIso(host), skewMs: Math.round(this.skew), maxSkewMs: this.maxSkewMs });
        } else if (this.skewed) {
            this.log('chain-time.skew-cleared', { skewMs: Math.round(this.skew) });
        }
        this.skewed = skewed;
    }
}

function safeIso(ms: number): string {
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/**
 * Chain time in whole unix seconds for a decision a contract will take by its `now()` (spec/attestation.md, "Chain
 * time for money and receipts"), or null when the clock of trust has none (CHAIN_TIME_UNAVAILABLE): each caller
 * states what it does then, and none falls back to the host clock. A clock that is not a TrustClock (tests, agents
 * built without one) answers as it is.
 */
export function chainSeconds(clock: Clock): number | null {
    const ms = chainNow(clock);
    return ms === null ? null : Math.floor(ms / 1000);
}

/** chainSeconds in milliseconds. */
export function chainNow(clock: Clock): number | null {
    try {
        return clock.now();
    } catch (e) {
        if (e instanceof AttestationError && e.code === 'CHAIN_TIME_UNAVAILABLE') return null;
        throw e;
    }
}

/** chainNow after one fresh look at the chain when the clock of trust has none: for a wait that only delays (it may retry). */
export async function chainNowRetried(clock: Clock): Promise<number | null> {
    const ms = chainNow(clock);
    if (ms !== null || !(clock instanceof TrustClock)) return ms;
    await clock.refresh();
    return chainNow(clock);
}

/**
 * An agent's stop(): its clock of trust and its live collateral (the quote policy's source) stop refreshing in the
 * background; a stopped agent leaves no timer behind. Other clocks and static collateral: nothing to stop.
 */
export function stopTrustTimers(clock: Clock, policy?: { collateralSource?: CollateralSource }): void {
    if (clock instanceof TrustClock) clock.stop();
    policy?.collateralSource?.close?.();
}

/** An agent's start() after a stop(): the clock of trust refreshes again (the collateral refreshes on demand). */
export async function resumeTrustClock(clock: Clock): Promise<void> {
    if (clock instanceof TrustClock && !clock.running) await clock.start();
}

/**
 * /readyz of an agent on a TrustClock: not ready (`chain_time_unavailable`) while it has no chain time, since every
 * peer would be refused; a skew beyond the bound is a detail (`clockSkewMs`), not a reason. Other clocks: unchanged.
 */
export function withTrustClock(r: Readiness, clock: Clock): Readiness {
    if (!(clock instanceof TrustClock)) return r;
    const s = clock.status();
    const skew = s.skewed && s.skewMs !== null ? { clockSkewMs: Math.round(s.skewMs) } : {};
    if (s.available) return { ...r, ...skew };
    return { ...r, ...skew, ready: false, reasons: [...r.reasons, 'chain_time_unavailable'] };
}

/**
 * An agent on a TrustClock exports `cocoon_chain_time_available` (1 | 0) and `cocoon_chain_time_skew_seconds`
 * (chain − host at the last fetch; no sample before the first). Other clocks: nothing.
 */
export function trustClockMetrics(metrics: AgentMetrics, clock: Clock): void {
    if (!(clock instanceof TrustClock)) return;
    metrics.gauge('cocoon_chain_time_available', 'Whether the clock of trust has chain time within its bound (1) or refuses every peer (0)', [], () => (clock.status().available ? 1 : 0));
    metrics.gauge('cocoon_chain_time_skew_seconds', "Chain time minus this host's clock at the last fetch, seconds", [], () => {
        const s = clock.status().skewMs;
        return s === null ? [] : Math.round(s / 1000);
    });
}
