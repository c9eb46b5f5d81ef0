// bench:network's measurement half: the report's types, one streamed request (SSE parsed), a load of `requests` over
// `c` loops, RSS and per-process CPU sampling, the backend-side stage clock, and summary.aims (the targets of issue 10).
// bench/network.ts builds the network and runs the matrix.
import { Agent, IncomingMessage, Server, ServerResponse, request as httpRequest } from 'http';
import { performance } from 'perf_hooks';
import { ProcessUsage } from './processes';
import { ReferenceBackend } from '../agents/backend/reference';
import { TEST_MODEL } from '../agents/backend/test-model';

export type Privacy = 'sealed' | 'plain';

export interface NetworkBenchOptions {
    /** Concurrent streams per measurement; default [1, 16, 64]. */
    concurrency?: number[];
    /** Requests per measurement; default max(50, 8 × c) for each concurrency c. */
    requests?: number;
    /** max_tokens (= completion tokens) per request; default 32. */
    tokens?: number;
    /** Backend delay before each token; one full set of measurements per value; default [0, 10]. */
    tokenDelaysMs?: number[];
    /** Default ['sealed', 'plain']. */
    privacy?: Privacy[];
    /** Warm-up requests before each measurement pair, per concurrency c; default 2 × c (at least 4). */
    warmup?: number;
    /**
     * 'single' (default): every agent in this process. 'processes': proxy, worker and clients each in their own
     * process, started with `cocoon proxy | worker | client --config` as an operator would (bench/processes.ts).
     */
    layout?: 'single' | 'processes';
    /** Progress lines (stderr in the CLI); default none. */
    progress?: (line: string) => void;
}

export interface Percentiles {
    p50: number;
    p99: number;
    mean: number;
}

export interface PathStats {
    requests: number;
    ok: number;
    errors: number;
    /** Up to 3 distinct error messages. */
    errorSamples: string[];
    wallMs: number;
    requestsPerSec: number;
    completionTokensPerSec: number;
    /** Time to the first non-empty content chunk. */
    ttftMs: Percentiles;
    totalMs: Percentiles;
    /** The bench process's CPU time (user + system) per request over the measurement (see `processes`). */
    cpuMsPerRequest: number;
    peakRssMb: number;
    /**
     * CPU and memory per process over the measurement, each measured in the process itself: `bench` (load generator,
     * reference backend, devnet chain server; in layout "single" also every agent) and, in layout "processes",
     * `client` (the client process of this privacy mode), `proxy` and `worker` (process.resourceUsage() read over IPC
     * by bench/process-probe.js before and after the measurement).
     */
    processes: Record<string, ProcessCpu>;
}

export interface ProcessCpu {
    userMs: number;
    systemMs: number;
    /** user + system. */
    cpuMs: number;
    /** cpuMs per ok request and per streamed completion token, in µs. */
    cpuUsPerRequest: number;
    cpuUsPerToken: number;
    /** CPU time / wall time of the measurement (1 = one core busy). */
    cores: number;
    /** RSS at the end of the measurement and the process's peak RSS so far. */
    rssMb: number;
    maxRssMb: number;
}

/** Single-stream latency split by stage (concurrency 1 only), p50 over the measurement's requests, in ms. */
export interface StageTimes {
    /** Send → the backend receives the request (through: OpenAI server, client agent, proxy, worker agent). */
    requestToBackend: number;
    /** Backend: request received → first content token written. */
    backendFirstToken: number;
    /** Backend: request received → response ended. */
    backendTotal: number;
    /** Backend writes the first content token → the load generator reads it. */
    firstTokenToClient: number;
    /** Backend ends its response → the load generator sees the stream end ([DONE]; through: usage, receipt, voucher). */
    endToClient: number;
}

export interface LatencyBreakdown {
    method: string;
    direct: StageTimes;
    through: StageTimes;
    /** through − direct per stage: where on the timeline the through path adds its time. */
    added: StageTimes;
    /**
     * The time the path adds, without the backend's own time (which varies between the two measurements: in the
     * direct one the backend shares its event loop with the load generator): first token = added requestToBackend +
     * added firstTokenToClient; end = added requestToBackend + added endToClient.
     */
    pathAddedMs: { firstToken: number; end: number };
    /** CPU µs per request of each agent process in the through measurement: which agent the added time is spent in. */
    agentCpuUsPerRequest: Record<string, number>;
}

export interface Aim {
    /** The target as issue 10 words it. */
    aim: string;
    privacy: Privacy;
    tokenDelayMs: number;
    concurrency: number;
    /** The measured figure, or null if this run did not measure it (e.g. no concurrency 64). */
    measured: number | null;
    unit: string;
    target: number;
    /** 'min': measured ≥ target; 'max': measured ≤ target. */
    bound: 'min' | 'max';
    met: boolean;
}

export interface NetworkResult {
    privacy: Privacy;
    tokenDelayMs: number;
    concurrency: number;
    tokens: number;
    direct: PathStats;
    through: PathStats;
    /** through / direct. */
    ratio: { requestsPerSec: number; completionTokensPerSec: number };
    /** through − direct, per percentile. */
    addedLatencyMs: { ttft: { p50: number; p99: number }; total: { p50: number; p99: number } };
    /** Concurrency 1 only. */
    breakdown?: LatencyBreakdown;
    /**
     * Layout "processes": the through path's token rate if each agent process had a core of its own, bounded by the
     * busiest agent: 1e6 / max(cpuUsPerToken of client, proxy, worker). Ignores the load generator and the backend.
     */
    tokensPerSecOneCorePerAgent?: number;
    /**
     * Layout "processes", the run's highest concurrency (above 1), more than one token: the same load once more with
     * one token per request, so each agent's CPU splits into a fixed part per request and a marginal part per token.
     */
    perRequestFixed?: FixedCost;
}

/** Each agent's CPU for a 1-token request, and the marginal CPU of one more streamed token (from the n-token run). */
export interface FixedCost {
    requests: number;
    /** CPU µs per 1-token request (the request's fixed work plus one token's relay). */
    cpuUsPerRequest: Record<string, number>;
    /** (CPU µs per n-token request − CPU µs per 1-token request) / (n − 1). */
    marginalCpuUsPerToken: Record<string, number>;
}

export interface NetworkBenchReport {
    bench: 'network';
    date: string;
    machine: { cpus: number; cpuModel: string | undefined; node: string; platform: string };
    params: { concurrency: number[]; requests: number | 'max(50, 8c)'; tokens: number; tokenDelaysMs: number[]; privacy: Privacy[]; warmup: number | 'max(4, 2c)'; workerCapacity: number; layout: 'single' | 'processes' };
    results: NetworkResult[];
    summary: {
        peakRssMb: number;
        /** Issue 10's targets (processes layout, 32 tokens/request), each with the figure this run measured. */
        aims: Aim[];
    };
    notes: string[];
}

// -----------------------------------------------------------------------------------------------------------------
// One streaming request over SSE

export interface Sample {
    ok: boolean;
    /** performance.now() when the request was sent. */
    startAt: number;
    ttftMs: number;
    totalMs: number;
    completionTokens: number;
    error?: string;
}

/** One streaming chat completion; never throws (a failure is a sample with ok = false). */
export function streamOnce(url: URL, agent: Agent, payload: string, tokens: number): Promise<Sample> {
    const t0 = performance.now();
    return new Promise((resolve) => {
        let ttft = -1;
        let chunks = 0;
        let usage: number | undefined;
        let done = false;
        let settled = false;
        let buf = '';
        const finish = (error?: string) => {
            if (settled) return;
            settled = true;
            const totalMs = performance.now() - t0;
            if (!error && !done) error = 'stream ended without [DONE]';
            if (!error && chunks !== tokens) error = `expected ${tokens} content chunks, got ${chunks}`;
            if (!error && usage !== tokens) error = `expected usage.completion_tokens ${tokens}, got ${usage}`;
            resolve({ ok: !error, startAt: t0, ttftMs: ttft, totalMs, completionTokens: error ? 0 : tokens, error });
        };
        // One SSE event: `data: <json>` or `data: [DONE]`.
        const onEvent = (ev: string) => {
            for (const line of ev.split('\n')) {
                if (!line.startsWith('data:')) continue;
                const data = line.slice(5).trim();
                if (data === '[DONE]') {
                    done = true;
                    continue;
                }
                let obj: { choices?: { delta?: { content?: string } }[]; usage?: { completion_tokens?: number } | null; error?: { message?: string } };
                try {
                    obj = JSON.parse(data);
                } catch {
                    return finish(`bad SSE data: ${data.slice(0, 80)}`);
                }
                if (obj.error) return finish(`in-stream error: ${obj.error.message}`);
                const content = obj.choices?.[0]?.delta?.content;
                if (content) {
                    if (ttft < 0) ttft = performance.now() - t0;
                    chunks++;
                }
                if (obj.usage) usage = obj.usage.completion_tokens;
            }
        };
        const req = httpRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res: IncomingMessage) => {
            res.setEncoding('utf8');
            if (res.statusCode !== 200) {
                let body = '';
                res.on('data', (d: string) => (body += d));
                res.on('end', () => finish(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
                return;
            }
            res.on('data', (d: string) => {
                buf += d;
                let i: number;
                while ((i = buf.indexOf('\n\n')) >= 0) {
                    onEvent(buf.slice(0, i));
                    buf = buf.slice(i + 2);
                }
            });
            res.on('end', () => finish());
            res.on('error', (e) => finish(String(e)));
            res.on('aborted', () => finish('response aborted'));
        });
        req.on('error', (e) => finish(String(e)));
        req.end(payload);
    });
}

// -----------------------------------------------------------------------------------------------------------------
// Load: c loops over a shared counter

export function percentiles(xs: number[]): Percentiles {
    if (xs.length === 0) return { p50: NaN, p99: NaN, mean: NaN };
    const s = [...xs].sort((a, b) => a - b);
    // Nearest-rank percentile.
    const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
    return { p50: round(at(50)), p99: round(at(99)), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}

export const round = (x: number, digits = 3) => +x.toFixed(digits);

/** Samples process RSS; `peak` since the last reset. */
export class RssSampler {
    peak = 0;
    overall = 0;
    private timer?: NodeJS.Timeout;
    start(): void {
        this.sample();
        this.timer = setInterval(() => this.sample(), 50);
        this.timer.unref();
    }
    reset(): void {
        this.peak = 0;
        this.sample();
    }
    sample(): void {
        const rss = process.memoryUsage().rss;
        if (rss > this.peak) this.peak = rss;
        if (rss > this.overall) this.overall = rss;
    }
    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.sample();
    }
}

export function chatPayload(tokens: number): string {
    const prompt = Array.from({ length: tokens }, (_, i) => `w${i}`).join(' ');
    return JSON.stringify({ model: TEST_MODEL.id, messages: [{ role: 'user', content: prompt }], max_tokens: tokens, stream: true, stream_options: { include_usage: true } });
}

/** What the backend did for one POST, on the bench process's clock (performance.now()). */
export interface BackendTimes {
    inAt: number;
    firstTokenAt: number;
    endAt: number;
}

/**
 * Timestamps every POST the reference backend serves: arrival, first non-empty content chunk written, response end.
 * The backend runs in the bench process, so these share the load generator's clock. It listens on the backend's
 * HTTP server (a second 'request' listener, called right after the backend's own handler has started; the handler
 * writes nothing before it has read the body) and wraps that response's write/end: no backend code knows about it.
 */
export class BackendClock {
    records: BackendTimes[] = [];
    constructor(backend: ReferenceBackend) {
        const server = (backend as unknown as { server: Server | null }).server;
        if (!server) throw new Error('BackendClock: the backend is not started');
        server.on('request', (req: IncomingMessage, res: ServerResponse) => {
            if (req.method !== 'POST') return;
            const rec: BackendTimes = { inAt: performance.now(), firstTokenAt: NaN, endAt: NaN };
            this.records.push(rec);
            const write = res.write;
            const end = res.end;
            res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
                if (Number.isNaN(rec.firstTokenAt) && typeof chunk === 'string' && /"content":"[^"]/.test(chunk)) rec.firstTokenAt = performance.now();
                return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
            } as ServerResponse['write'];
            res.end = function (this: ServerResponse, ...args: unknown[]) {
                rec.endAt = performance.now();
                return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
            } as ServerResponse['end'];
        });
    }
}

/** What a measurement observes besides its requests. */
export interface Meter {
    rss: RssSampler;
    backend: BackendClock;
    /** Layout "processes": each agent process's own usage (bench/processes.ts); keys are roles. */
    agents?: () => Promise<Map<string, ProcessUsage>>;
}

export interface Measurement {
    stats: PathStats;
    samples: Sample[];
    backend: BackendTimes[];
}

export function benchUsage(): ProcessUsage {
    const ru = process.resourceUsage();
    return { userUs: ru.userCPUTime, systemUs: ru.systemCPUTime, rss: process.memoryUsage().rss, maxRssKb: ru.maxRSS };
}

export function processCpu(a: ProcessUsage, b: ProcessUsage, wallMs: number, requests: number, tokens: number): ProcessCpu {
    const userMs = (b.userUs - a.userUs) / 1000;
    const systemMs = (b.systemUs - a.systemUs) / 1000;
    const cpuMs = userMs + systemMs;
    return {
        userMs: round(userMs, 1),
        systemMs: round(systemMs, 1),
        cpuMs: round(cpuMs, 1),
        cpuUsPerRequest: requests > 0 ? round((cpuMs * 1000) / requests, 1) : NaN,
        cpuUsPerToken: tokens > 0 ? round((cpuMs * 1000) / tokens, 2) : NaN,
        cores: round(cpuMs / wallMs),
        rssMb: round(b.rss / 2 ** 20, 1),
        maxRssMb: round(b.maxRssKb / 1024, 1),
    };
}

export async function load(url: URL, concurrency: number, requests: number, tokens: number, meter: Meter, privacy?: Privacy): Promise<Measurement> {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    const payload = chatPayload(tokens);
    const samples: Sample[] = [];
    let next = 0;
    meter.rss.reset();
    const agents0 = await meter.agents?.();
    meter.backend.records = [];
    const bench0 = benchUsage();
    const t0 = performance.now();
    const loop = async () => {
        while (next < requests) {
            next++;
            samples.push(await streamOnce(url, agent, payload, tokens));
        }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    const wallMs = performance.now() - t0;
    const bench1 = benchUsage();
    const backend = meter.backend.records;
    const agents1 = await meter.agents?.();
    meter.rss.sample();
    agent.destroy();
    const ok = samples.filter((s) => s.ok);
    const errors = samples.filter((s) => !s.ok);
    const okTokens = ok.reduce((a, s) => a + s.completionTokens, 0);
    const processes: Record<string, ProcessCpu> = { bench: processCpu(bench0, bench1, wallMs, ok.length, okTokens) };
    for (const [role, b] of agents1 ?? []) {
        const a = agents0?.get(role);
        if (!a) continue;
        // The client process of the other privacy mode idles through this measurement.
        if (role.startsWith('client-') && role !== `client-${privacy}`) continue;
        processes[role.startsWith('client-') ? 'client' : role] = processCpu(a, b, wallMs, ok.length, okTokens);
    }
    const stats: PathStats = {
        requests,
        ok: ok.length,
        errors: errors.length,
        errorSamples: [...new Set(errors.map((e) => e.error ?? '?'))].slice(0, 3),
        wallMs: round(wallMs, 1),
        requestsPerSec: round((ok.length * 1000) / wallMs, 2),
        completionTokensPerSec: round((okTokens * 1000) / wallMs, 1),
        ttftMs: percentiles(ok.map((s) => s.ttftMs)),
        totalMs: percentiles(ok.map((s) => s.totalMs)),
        cpuMsPerRequest: round((bench1.userUs - bench0.userUs + bench1.systemUs - bench0.systemUs) / 1000 / requests),
        peakRssMb: round(meter.rss.peak / 2 ** 20, 1),
        processes,
    };
    return { stats, samples, backend };
}

/** Issue 10 part 2's targets against this run's results (processes layout, 32 tokens/request). */
export function aims(results: NetworkResult[]): Aim[] {
    const out: Aim[] = [];
    const find = (privacy: Privacy, tokenDelayMs: number, concurrency: number) => results.find((r) => r.privacy === privacy && r.tokenDelayMs === tokenDelayMs && r.concurrency === concurrency);
    const add = (aim: string, privacy: Privacy, tokenDelayMs: number, concurrency: number, unit: string, bound: 'min' | 'max', target: number, get: (r: NetworkResult) => number | undefined) => {
        const r = find(privacy, tokenDelayMs, concurrency);
        const v = r ? get(r) : undefined;
        const measured = v === undefined || Number.isNaN(v) ? null : v;
        out.push({ aim, privacy, tokenDelayMs, concurrency, measured, unit, target, bound, met: measured !== null && (bound === 'min' ? measured >= target : measured <= target) });
    };
    const ratio = (r: NetworkResult) => r.ratio.completionTokensPerSec;
    add('10 ms/token, 64 streams: through/direct tokens/s', 'plain', 10, 64, 'ratio', 'min', 0.9, ratio);
    add('10 ms/token, 64 streams: through/direct tokens/s', 'sealed', 10, 64, 'ratio', 'min', 0.85, ratio);
    for (const [privacy, end, first] of [['plain', 3, 2], ['sealed', 6, 4]] as const) {
        // The stage breakdown's figure where there is one: through − direct of the whole request also carries the
        // backend's own variation between the two measurements (several ms either way over 32 timer-paced tokens).
        add('1 stream: added p50 to the end (breakdown.pathAddedMs, else addedLatencyMs)', privacy, 10, 1, 'ms', 'max', end, (r) => r.breakdown?.pathAddedMs.end ?? r.addedLatencyMs.total.p50);
        add('1 stream: added p50 to the first token (breakdown.pathAddedMs, else addedLatencyMs)', privacy, 10, 1, 'ms', 'max', first, (r) => r.breakdown?.pathAddedMs.firstToken ?? r.addedLatencyMs.ttft.p50);
    }
    add('0 ms/token (CPU-bound), 64 streams: through/direct tokens/s', 'plain', 0, 64, 'ratio', 'min', 0.4, ratio);
    add('0 ms/token (CPU-bound), 64 streams: through/direct tokens/s', 'sealed', 0, 64, 'ratio', 'min', 0.3, ratio);
    for (const privacy of ['plain', 'sealed'] as const) {
        for (const tokenDelayMs of [10, 0]) {
            add('proxy CPU per streamed token, in the proxy process', privacy, tokenDelayMs, 64, 'µs', 'max', 20, (r) => r.through.processes.proxy?.cpuUsPerToken);
            // A request's own cost, without its 32 tokens' relays (those are the aim above): from the 1-token run.
            add('proxy CPU per request (settlement off), in the proxy process: 1-token requests (perRequestFixed)', privacy, tokenDelayMs, 64, 'µs', 'max', 300, (r) => r.perRequestFixed?.cpuUsPerRequest.proxy);
        }
    }
    return out;
}

/** p50 of each stage over one concurrency-1 measurement: the k-th request sent is the k-th the backend received. */
export function stages(m: Measurement): StageTimes | undefined {
    if (m.samples.length !== m.backend.length || m.samples.some((s) => !s.ok)) return undefined;
    const p50 = (f: (s: Sample, b: BackendTimes) => number) => percentiles(m.samples.map((s, i) => f(s, m.backend[i]))).p50;
    return {
        requestToBackend: p50((s, b) => b.inAt - s.startAt),
        backendFirstToken: p50((_s, b) => b.firstTokenAt - b.inAt),
        backendTotal: p50((_s, b) => b.endAt - b.inAt),
        firstTokenToClient: p50((s, b) => s.startAt + s.ttftMs - b.firstTokenAt),
        endToClient: p50((s, b) => s.startAt + s.totalMs - b.endAt),
    };
}

export const BREAKDOWN_METHOD =
    'Concurrency 1, so the k-th request sent is the k-th the backend serves. The reference backend runs in the bench process and its HTTP server is timestamped on the load generator\'s clock (arrival, first content chunk written, end; bench/network.ts BackendClock): each stage is a p50 over the requests of the measurement, for the direct and the through path, and added = through − direct. requestToBackend covers the OpenAI HTTP hop, the client agent, the proxy and the worker agent inbound; firstTokenToClient the same hops outbound for the first token; endToClient what follows the backend\'s end (worker usage clamp and receipt signing, proxy booking, client receipt check and voucher, [DONE]). Which agent spends the time: agentCpuUsPerRequest, each agent process\'s own CPU per request over the same measurement (an upper bound on its share of the critical path: it includes work after [DONE], such as the voucher booking). Agent code is not instrumented.';

// -----------------------------------------------------------------------------------------------------------------
// The network
