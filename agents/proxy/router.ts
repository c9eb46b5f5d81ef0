// Routing state of the proxy (spec/proxy.md, "Routing"): the connected workers, what they serve and at what
// coefficient, their load and their measured reputation. Pure and synchronous: no I/O, no timers, the caller
// passes measured durations in. The agent owns one Router and tells it when a request begins and ends.
//
// Choice: among the admissible workers (serves the model, coefficient ≤ the client's cap, inFlight < capacity)
// the one with the lowest expected latency
//     score = (inFlight + 1) × avgLatencyMs / successRate,   successRate = (successes + 1) / (successes + failures + 2)
// i.e. the time to drain its queue plus this request, inflated by how often it fails (Laplace-smoothed, so a new
// worker starts at 1/2 and one failure does not exile a worker forever). A worker without a latency sample is
// assumed to take the median measured latency (defaultLatencyMs while nobody is measured): with its success rate of
// 1/2 an unmeasured worker scores twice the median, so it is not preferred blindly (attack 16 of issue 8: a fresh
// connection took new traffic first, then went silent); it is tried once the measured workers are loaded enough
// that their queue costs more, which bounds what an unproven worker can hold to the load the others cannot take.
// Reputation (successes, failures, latencies) belongs to the WorkerChannel, not the connection: reconnecting does not
// reset it. Ties: lower coefficient, then worker id, so the choice is deterministic for a given state.

/** What the agent knows about one connected worker (one worker connection). */
export interface WorkerEntry {
    /** Unique per connection (a WorkerChannel may have several connections). */
    id: string;
    /** The WorkerChannel address (raw form). */
    channel: string;
    /** Attested Ed25519 key (RA-TLS certificate key = receipt key), 32 bytes. */
    workerKey: Buffer;
    /** Attested X25519 HPKE key (32 bytes) and its key id; absent for a worker without one (plain mode only). */
    hpkePublicKey?: Buffer;
    keyId?: string;
    /** The worker's RA-TLS certificate (DER), handed to clients as the candidate's attestation. */
    certDer: Buffer;
    imageHash: string;
    /** Model name → coefficient, only models currently routable (registered in Root). */
    models: Map<string, bigint>;
    capacity: number;
}

export interface WorkerStats {
    inFlight: number;
    /** EWMA of time to response_start, ms (undefined before the first sample). */
    ttfbMs?: number;
    /** EWMA of whole-request time (request sent → response_end), ms (undefined before the first sample). */
    latencyMs?: number;
    successes: number;
    failures: number;
}

export type RoutedWorker = WorkerEntry & WorkerStats;

export interface RouterOptions {
    /** Weight of a new sample in the EWMAs, (0, 1]; default 0.2. */
    alpha?: number;
    /** Latency assumed for a worker without samples, ms; default 1000. */
    defaultLatencyMs?: number;
}

/** Outcome of one request on a worker. `neutral`: neither success nor failure (e.g. the client's bad request). */
export type Outcome = { kind: 'success'; ttfbMs?: number; totalMs?: number } | { kind: 'failure' } | { kind: 'neutral'; ttfbMs?: number };

export const MAX_CANDIDATES = 16;
/** Channels whose reputation is remembered after their last connection left (least recently updated forgotten first). */
export const MAX_REMEMBERED_CHANNELS = 10_000;

type Reputation = Pick<WorkerStats, 'ttfbMs' | 'latencyMs' | 'successes' | 'failures'>;

export class Router {
    private readonly workers = new Map<string, RoutedWorker>();
    /** Reputation by WorkerChannel, kept across reconnects. */
    private readonly history = new Map<string, Reputation>();
    /**
     * The connected workers' latencyMs (those measured), ascending: priorLatency is a median read per pick, and
     * sorting a thousand workers' latencies for every request cost ~0.7 ms (scale target: p99 ≤ 100 µs per pick).
     */
    private readonly measured: number[] = [];
    private readonly alpha: number;
    private readonly defaultLatencyMs: number;

    constructor(opts: RouterOptions = {}) {
        this.alpha = opts.alpha ?? 0.2;
        this.defaultLatencyMs = opts.defaultLatencyMs ?? 1000;
        if (!(this.alpha > 0 && this.alpha <= 1)) throw new RangeError('alpha must be in (0, 1]');
        if (!(this.defaultLatencyMs > 0)) throw new RangeError('defaultLatencyMs must be positive');
    }

    /** Registers a worker connection (replacing an entry with the same id); its channel's reputation carries over. */
    add(entry: WorkerEntry): RoutedWorker {
        if (!Number.isInteger(entry.capacity) || entry.capacity < 1) throw new RangeError('capacity must be a positive integer');
        const rep = this.history.get(entry.channel) ?? { successes: 0, failures: 0 };
        // Every entry has the same fields in the same order (one hidden class): pick reads them for every worker.
        const w: RoutedWorker = {
            id: entry.id,
            channel: entry.channel,
            workerKey: entry.workerKey,
            hpkePublicKey: entry.hpkePublicKey,
            keyId: entry.keyId,
            certDer: entry.certDer,
            imageHash: entry.imageHash,
            models: new Map(entry.models),
            capacity: entry.capacity,
            inFlight: 0,
            ttfbMs: rep.ttfbMs,
            latencyMs: rep.latencyMs,
            successes: rep.successes,
            failures: rep.failures,
        };
        this.remove(entry.id);
        this.workers.set(entry.id, w);
        this.measure(undefined, w.latencyMs);
        return w;
    }

    remove(id: string): boolean {
        const w = this.workers.get(id);
        if (!w) return false;
        this.measure(w.latencyMs, undefined);
        return this.workers.delete(id);
    }

    /** Keeps `measured` in step with one worker's latencyMs changing from `was` to `now`. */
    private measure(was: number | undefined, now: number | undefined): void {
        const m = this.measured;
        if (was !== undefined) {
            const i = lowerBound(m, was);
            if (m[i] === was) m.splice(i, 1);
        }
        if (now !== undefined) m.splice(lowerBound(m, now), 0, now);
    }

    get(id: string): RoutedWorker | undefined {
        return this.workers.get(id);
    }

    get size(): number {
        return this.workers.size;
    }

    list(): RoutedWorker[] {
        return [...this.workers.values()];
    }

    /** Replaces the routable models of a worker (e.g. after Root removed or re-registered a model). */
    setModels(id: string, models: Map<string, bigint>): void {
        const w = this.workers.get(id);
        if (w) w.models = new Map(models);
    }

    /** Workers holding this HPKE key id (a worker may have more than one connection). */
    byKeyId(keyId: string): RoutedWorker[] {
        return this.list().filter((w) => w.keyId === keyId);
    }

    /** Serves the model at a coefficient within the cap (load not considered). */
    serves(w: RoutedWorker, model: string, maxCoefficient: bigint): boolean {
        const c = w.models.get(model);
        return c !== undefined && c <= maxCoefficient;
    }

    /** Serves the model within the cap and has a free slot. */
    admissible(w: RoutedWorker, model: string, maxCoefficient: bigint): boolean {
        return this.serves(w, model, maxCoefficient) && w.inFlight < w.capacity;
    }

    /** Latency assumed for a worker without samples: the median measured one, or defaultLatencyMs. */
    priorLatency(): number {
        const measured = this.measured;
        if (measured.length === 0) return this.defaultLatencyMs;
        const mid = measured.length >> 1;
        return measured.length % 2 === 1 ? measured[mid] : (measured[mid - 1] + measured[mid]) / 2;
    }

    /** Expected latency of one more request on this worker, ms (lower is better). */
    score(w: RoutedWorker, prior = this.priorLatency()): number {
        const avg = w.latencyMs ?? prior;
        const successRate = (w.successes + 1) / (w.successes + w.failures + 2);
        return ((w.inFlight + 1) * avg) / successRate;
    }

    /** The first worker in `order` (score, then coefficient for the model, then id) among those `eligible` admits. */
    private best(model: string, eligible: (w: RoutedWorker) => boolean): RoutedWorker | undefined {
        const prior = this.priorLatency();
        let best: RoutedWorker | undefined;
        let bestScore = 0;
        for (const w of this.workers.values()) {
            if (!eligible(w)) continue;
            const s = this.score(w, prior);
            if (best === undefined || order(w, s, best, bestScore, model) < 0) {
                best = w;
                bestScore = s;
            }
        }
        return best;
    }

    /** The best admissible worker not in `exclude`, or undefined. */
    pick(model: string, maxCoefficient: bigint, exclude: ReadonlySet<string> = new Set()): RoutedWorker | undefined {
        return this.best(model, (w) => !exclude.has(w.id) && this.admissible(w, model, maxCoefficient));
    }

    /**
     * Router-blind routing: the best admissible worker holding this key id (the request is sealed to it, so no
     * other worker can serve it), not in `exclude`.
     */
    pickByKeyId(keyId: string, model: string, maxCoefficient: bigint, exclude: ReadonlySet<string> = new Set()): RoutedWorker | undefined {
        return this.best(model, (w) => w.keyId === keyId && !exclude.has(w.id) && this.admissible(w, model, maxCoefficient));
    }

    /** Why pickByKeyId found nothing: no such key serving the model within the cap, or all its connections busy. */
    whyNoneByKeyId(keyId: string, model: string, maxCoefficient: bigint): 'NO_WORKER' | 'WORKER_BUSY' {
        for (const w of this.workers.values()) if (w.keyId === keyId && this.serves(w, model, maxCoefficient)) return 'WORKER_BUSY';
        return 'NO_WORKER';
    }

    /**
     * Router-blind candidates: admissible workers that have an HPKE key, best first, at most `limit`, one entry per
     * key id (the first, best connection of a worker stands for all its connections).
     */
    candidates(model: string, maxCoefficient: bigint, limit = MAX_CANDIDATES): RoutedWorker[] {
        const prior = this.priorLatency();
        const scored: { w: RoutedWorker; s: number }[] = [];
        for (const w of this.workers.values()) if (w.keyId !== undefined && this.admissible(w, model, maxCoefficient)) scored.push({ w, s: this.score(w, prior) });
        scored.sort((a, b) => order(a.w, a.s, b.w, b.s, model));
        const seen = new Set<string>();
        const out: RoutedWorker[] = [];
        for (const { w } of scored) {
            if (out.length >= limit) break;
            if (seen.has(w.keyId!)) continue;
            seen.add(w.keyId!);
            out.push(w);
        }
        return out;
    }

    /** Why nothing could be picked: no worker serves the model within the cap, or all that do are busy. */
    whyNone(model: string, maxCoefficient: bigint, exclude: ReadonlySet<string> = new Set()): 'NO_WORKER' | 'WORKER_BUSY' {
        for (const w of this.workers.values()) if (!exclude.has(w.id) && this.serves(w, model, maxCoefficient)) return 'WORKER_BUSY';
        return 'NO_WORKER';
    }

    /** A request was sent to the worker. Throws if that would exceed its capacity (a caller bug). */
    begin(id: string): void {
        const w = this.workers.get(id);
        if (!w) throw new RangeError(`unknown worker ${id}`);
        if (w.inFlight >= w.capacity) throw new RangeError(`worker ${id} is at capacity`);
        w.inFlight++;
    }

    /** A request on the worker ended; updates load and reputation. Unknown ids (removed workers) are ignored. */
    end(id: string, outcome: Outcome): void {
        const w = this.workers.get(id);
        if (!w) return;
        if (w.inFlight > 0) w.inFlight--;
        if (outcome.kind === 'failure') w.failures++;
        else {
            if (outcome.ttfbMs !== undefined) w.ttfbMs = this.ewma(w.ttfbMs, outcome.ttfbMs);
            if (outcome.kind === 'success') {
                w.successes++;
                if (outcome.totalMs !== undefined) {
                    const was = w.latencyMs;
                    w.latencyMs = this.ewma(was, outcome.totalMs);
                    this.measure(was, w.latencyMs);
                }
            }
        }
        this.remember(w);
    }

    /** Reputation of a channel as last seen on any of its connections (undefined if never seen). */
    reputation(channel: string): Reputation | undefined {
        const r = this.history.get(channel);
        return r ? { ...r } : undefined;
    }

    private remember(w: RoutedWorker): void {
        this.history.delete(w.channel); // re-insert: Map order = least recently updated first
        this.history.set(w.channel, { ttfbMs: w.ttfbMs, latencyMs: w.latencyMs, successes: w.successes, failures: w.failures });
        if (this.history.size > MAX_REMEMBERED_CHANNELS) this.history.delete(this.history.keys().next().value!);
    }

    private ewma(prev: number | undefined, sample: number): number {
        // A clock that jumps backwards must not yield negative latencies; 1 ms floor keeps scores positive.
        const s = Math.max(1, Number.isFinite(sample) ? sample : this.defaultLatencyMs);
        return prev === undefined ? s : prev + this.alpha * (s - prev);
    }
}

/** The total order of pick and candidates: score, then the coefficient for the model, then id; negative when `a` (scored `sa`) comes before `b` (scored `sb`). */
function order(a: RoutedWorker, sa: number, b: RoutedWorker, sb: number, model: string): number {
    const d = sa - sb;
    if (d !== 0) return d;
    const ca = a.models.get(model)!;
    const cb = b.models.get(model)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The first index of ascending `xs` whose value is ≥ `x`. */
function lowerBound(xs: number[], x: number): number {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (xs[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/** The router with each routing decision timed into `times` (stats().routing; bench/scale.ts reads it at 1,000 workers). */
export class TimedRouter extends Router {
    constructor(private readonly times: { record(ns: number): void }) {
        super();
    }
    pick(...a: Parameters<Router['pick']>): ReturnType<Router['pick']> {
        const t = process.hrtime.bigint();
        const w = super.pick(...a);
        this.times.record(Number(process.hrtime.bigint() - t));
        return w;
    }
    pickByKeyId(...a: Parameters<Router['pickByKeyId']>): ReturnType<Router['pickByKeyId']> {
        const t = process.hrtime.bigint();
        const w = super.pickByKeyId(...a);
        this.times.record(Number(process.hrtime.bigint() - t));
        return w;
    }
}
