// The HTTP transport under TonClient: client-side throttling (a minimum interval between request starts, i.e.
// at most `rps` starts in any one-second window) and retries with exponential backoff + jitter on 429, 5xx,
// timeouts and network errors (never on other 4xx), honouring Retry-After. A 429 also pauses the whole
// throttle, so concurrent callers back off together. Plugged into TonClient as its axios `httpAdapter`, so
// every toncenter call TonClient makes goes through it; the HTTP itself is Node's fetch (or an injected fetcher).
import type { TonClientParameters } from '@ton/ton';
import { performance } from 'perf_hooks';
import { SleepClock, systemClock } from '../clock';
import type { ChainConfig } from './config';
import { ChainError } from './errors';

export interface HttpRequest {
    method: string;
    url: string;
    headers: Record<string, string>;
    body?: string;
    /** Caller-side cancellation (not retried). */
    signal?: AbortSignal;
}

export interface HttpResponse {
    status: number;
    statusText: string;
    /** Lower-case header names. */
    headers: Record<string, string>;
    body: string;
}

/** One HTTP exchange, no retries. Rejects only on network errors / timeouts / aborts. */
export type HttpFetcher = (req: HttpRequest, timeoutMs: number) => Promise<HttpResponse>;

export const fetchFetcher: HttpFetcher = async (req, timeoutMs) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal });
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => (headers[k.toLowerCase()] = v));
    return { status: res.status, statusText: res.statusText, headers, body: await res.text() };
};

/** Minimum-interval throttle: request starts are at least 1000/rps ms apart on `clock`; FIFO. */
export class Throttle {
    private readonly intervalMs: number;
    private lastStart = -Infinity;
    private pausedUntil = -Infinity;
    private readonly queue: ((startedAt: number) => void)[] = [];
    private pumping = false;

    constructor(
        rps: number,
        private readonly clock: SleepClock = systemClock,
    ) {
        if (!(rps > 0)) throw new RangeError('rps must be positive');
        this.intervalMs = 1000 / rps;
    }

    /** Resolves, with the clock time of the start it grants, when the caller may start a request. */
    acquire(): Promise<number> {
        return new Promise((resolve) => {
            this.queue.push(resolve);
            if (!this.pumping) void this.pump();
        });
    }

    /** No request starts before `untilMs` (clock time), e.g. after a 429 with Retry-After. */
    pauseUntil(untilMs: number) {
        this.pausedUntil = Math.max(this.pausedUntil, untilMs);
    }

    private async pump() {
        this.pumping = true;
        try {
            while (this.queue.length > 0) {
                for (;;) {
                    const now = this.clock.now();
                    // The host clock was set back: times taken before the step lie in the future. Shift them by the
                    // step, or every chain request would wait for as long as the clock was moved.
                    if (now < this.lastStart) {
                        this.pausedUntil -= this.lastStart - now;
                        this.lastStart = now;
                    }
                    const at = Math.max(this.lastStart + this.intervalMs, this.pausedUntil);
                    if (now >= at) break;
                    await this.clock.sleep(at - now);
                }
                this.lastStart = this.clock.now();
                this.queue.shift()!(this.lastStart);
            }
        } finally {
            this.pumping = false;
        }
    }
}

/** The throttle/retry settings of ChainConfig (apiKey is sent as X-API-Key, toncenter's header) plus injectables. */
export type TransportOptions = Pick<ChainConfig, 'rps' | 'maxRetries' | 'backoffBaseMs' | 'backoffMaxMs' | 'retryAfterMaxMs' | 'timeoutMs' | 'apiKey'> & {
    clock?: SleepClock;
    /** Uniform [0,1) source for jitter. */
    random?: () => number;
    fetcher?: HttpFetcher;
};

/** What the transport did, for tests, logs and metrics. */
export interface TransportStats {
    /** Request starts (attempts), each with its clock time. */
    starts: number[];
    attempts: number;
    retries: number;
    /** Requests that finally failed. */
    failures: number;
    /** toncenter JSON-RPC method -> attempts; get-methods counted as `runGetMethod:<name>`. */
    byMethod: Record<string, number>;
    /** Delays waited before retries, in ms (after jitter / Retry-After). */
    retryDelays: number[];
}

/** One request as observers see it (agents/core/metrics.ts): its label, its time with retries, whether it succeeded. */
export interface ChainRequestObservation {
    method: string;
    seconds: number;
    ok: boolean;
}

type AxiosAdapter = NonNullable<TonClientParameters['httpAdapter']>;
type AxiosConfig = Parameters<AxiosAdapter>[0];
type AxiosResponseT = Awaited<ReturnType<AxiosAdapter>>;

export class ChainTransport {
    readonly throttle: Throttle;
    readonly stats: TransportStats = { starts: [], attempts: 0, retries: 0, failures: 0, byMethod: {}, retryDelays: [] };
    /** Told of every request once it ends (an agent's metrics add and remove themselves). */
    readonly observers = new Set<(o: ChainRequestObservation) => void>();
    private readonly clock: SleepClock;
    private readonly random: () => number;
    private readonly fetcher: HttpFetcher;

    constructor(private readonly opts: TransportOptions) {
        this.clock = opts.clock ?? systemClock;
        this.random = opts.random ?? Math.random;
        this.fetcher = opts.fetcher ?? fetchFetcher;
        this.throttle = new Throttle(opts.rps, this.clock);
    }

    /** Throttled, retried request. Resolves with a 2xx response; otherwise rejects with a ChainError. */
    async request(req: HttpRequest, label = describeRequest(req)): Promise<HttpResponse> {
        if (this.observers.size === 0) return this.attempt(req, label);
        const t0 = performance.now();
        const seen = (ok: boolean) => {
            for (const o of this.observers) o({ method: label, seconds: (performance.now() - t0) / 1000, ok });
        };
        try {
            const res = await this.attempt(req, label);
            seen(true);
            return res;
        } catch (e) {
            seen(false);
            throw e;
        }
    }

    private async attempt(req: HttpRequest, label: string): Promise<HttpResponse> {
        const headers = { ...req.headers };
        if (this.opts.apiKey && !Object.keys(headers).some((h) => h.toLowerCase() === 'x-api-key')) headers['X-API-Key'] = this.opts.apiKey;
        const r = { ...req, headers };
        for (let attempt = 0; ; attempt++) {
            const startedAt = await this.throttle.acquire();
            if (req.signal?.aborted) throw req.signal.reason ?? new Error('aborted');
            this.stats.starts.push(startedAt);
            this.stats.attempts++;
            this.stats.byMethod[label] = (this.stats.byMethod[label] ?? 0) + 1;

            let res: HttpResponse | undefined;
            let netErr: unknown;
            try {
                res = await this.fetcher(r, this.opts.timeoutMs);
            } catch (e) {
                if (req.signal?.aborted) throw e; // the caller gave up: not ours to retry
                netErr = e;
            }
            if (res && res.status >= 200 && res.status < 300) return res;

            const details: Record<string, unknown> = { request: label, url: redact(req.url), attempts: attempt + 1 };
            if (res) {
                details.status = res.status;
                details.body = res.body.slice(0, 500);
            } else {
                details.cause = errorText(netErr);
            }
            if (res && res.status !== 429 && res.status < 500) {
                this.stats.failures++;
                throw new ChainError('CHAIN_REQUEST_REJECTED', `${label}: HTTP ${res.status} ${res.statusText}`.trim(), details);
            }
            const limited = res?.status === 429;
            const code = limited ? 'CHAIN_RATE_LIMITED' : 'CHAIN_UNAVAILABLE';
            const what = res ? `HTTP ${res.status}` : errorText(netErr);
            if (attempt >= this.opts.maxRetries) {
                this.stats.failures++;
                throw new ChainError(code, `${label}: ${what} after ${attempt + 1} attempt(s)`, details);
            }
            let delay = this.backoff(attempt);
            const retryAfter = res ? parseRetryAfter(res.headers['retry-after'], this.clock.now()) : undefined;
            if (retryAfter !== undefined) {
                if (retryAfter > this.opts.retryAfterMaxMs) {
                    this.stats.failures++;
                    throw new ChainError(code, `${label}: server asks to retry after ${retryAfter} ms, more than retryAfterMaxMs (${this.opts.retryAfterMaxMs})`, {
                        ...details,
                        retryAfterMs: retryAfter,
                    });
                }
                delay = Math.max(delay, retryAfter);
            }
            if (limited) this.throttle.pauseUntil(this.clock.now() + delay);
            this.stats.retries++;
            this.stats.retryDelays.push(delay);
            await this.clock.sleep(delay);
        }
    }

    /** Equal jitter: half the exponential step fixed, half random. */
    backoff(attempt: number): number {
        const step = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** attempt);
        return Math.round(step / 2 + this.random() * (step / 2));
    }

    /** An axios adapter for `new TonClient({ endpoint, httpAdapter: transport.axiosAdapter() })`. */
    axiosAdapter(): AxiosAdapter {
        return async (config: AxiosConfig): Promise<AxiosResponseT> => {
            const headers: Record<string, string> = {};
            const raw = config.headers as unknown as { toJSON?: () => Record<string, unknown> } | Record<string, unknown> | undefined;
            const plain = raw && typeof (raw as { toJSON?: unknown }).toJSON === 'function' ? (raw as { toJSON: () => Record<string, unknown> }).toJSON() : (raw as Record<string, unknown>) ?? {};
            for (const [k, v] of Object.entries(plain)) {
                if (v === undefined || v === null || v === false) continue;
                if (k.toLowerCase() === 'content-length' || k.toLowerCase() === 'host') continue;
                headers[k] = String(v);
            }
            let url = config.url ?? '';
            if (config.baseURL && !/^https?:\/\//i.test(url)) url = config.baseURL.replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '');
            if (config.params && typeof config.params === 'object') {
                const qs = new URLSearchParams();
                for (const [k, v] of Object.entries(config.params as Record<string, unknown>)) if (v !== undefined && v !== null) qs.append(k, String(v));
                const s = qs.toString();
                if (s) url += (url.includes('?') ? '&' : '?') + s;
            }
            const body = config.data === undefined || config.data === null ? undefined : typeof config.data === 'string' ? config.data : JSON.stringify(config.data);
            const req: HttpRequest = { method: (config.method ?? 'get').toUpperCase(), url, headers, body };
            if (config.signal && 'aborted' in config.signal) req.signal = config.signal as AbortSignal;
            const res = await this.request(req);
            return { data: res.body, status: res.status, statusText: res.statusText, headers: res.headers, config, request: {} } as AxiosResponseT;
        };
    }
}

/** `runGetMethod:version`, `sendBoc`, or `GET /path` for non-JSON-RPC requests. */
export function describeRequest(req: HttpRequest): string {
    if (req.body && req.body.startsWith('{')) {
        try {
            const j = JSON.parse(req.body) as { method?: unknown; params?: { method?: unknown } };
            if (typeof j.method === 'string') return j.method === 'runGetMethod' && typeof j.params?.method === 'string' ? `runGetMethod:${j.params.method}` : j.method;
        } catch {
            /* not JSON-RPC */
        }
    }
    try {
        return `${req.method} ${new URL(req.url).pathname}`;
    } catch {
        return req.method;
    }
}

/** Retry-After as delay-seconds or an HTTP date; undefined if absent or unparseable. */
export function parseRetryAfter(v: string | undefined, nowMs: number): number | undefined {
    if (v === undefined) return undefined;
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return Math.ceil(Number(s) * 1000);
    const t = Date.parse(s);
    if (Number.isNaN(t)) return undefined;
    return Math.max(0, t - nowMs);
}

function errorText(e: unknown): string {
    if (e instanceof Error) {
        const cause = (e as { cause?: unknown }).cause;
        const c = cause instanceof Error ? `: ${(cause as { code?: string }).code ?? cause.message}` : '';
        return `${e.name === 'Error' ? '' : e.name + ': '}${e.message}${c}`;
    }
    return String(e);
}

/** Drops query-string secrets (api_key / token) from URLs that end up in errors and logs. */
function redact(u: string): string {
    try {
        const url = new URL(u);
        for (const k of ['api_key', 'token']) if (url.searchParams.has(k)) url.searchParams.set(k, '***');
        return url.toString();
    } catch {
        return u;
    }
}
