// Forwarding one validated request to the worker's OpenAI-compatible backend, and metering it (design §6, §8).
//
// Metering rule: the worker charges what the backend's `usage` reports (via pricing.usageFromOpenAI), never an
// estimate, and never more than the request's bounds allow (ForwardParams.bounds, agents/core/metering.ts). The
// request is sent with stream_options.include_usage = true (openai-request.ts forces it), so a healthy stream ends
// with a usage chunk. If the stream breaks before any usage arrived, nothing is known and nothing is charged:
// BACKEND_STREAM_BROKEN carries usage null. If it breaks after the usage chunk (only [DONE] missing), the error
// carries that usage, which is complete, and the caller may charge it.
import http, { IncomingMessage } from 'http';
import https from 'https';
import { CocoonError } from '../core/errors';
import { clampUsage, contentBytes, usageExcess } from '../core/metering';
import { ModelPrices, TOKEN_KINDS, TokenUsage, usageFromOpenAI, usageToOpenAI } from '../core/pricing';
import { buildReceipt, encodeReceipt, Receipt, signReceipt } from '../core/receipt';
import { MAX_CHUNK_BYTES } from '../core/wire/frames';
import type { Clock } from '../core/clock';
import type { Endpoint, OpenAIErrorBody } from './openai-request';

export const ForwardErrorCodes = [
    'BACKEND_UNREACHABLE', // the HTTP request failed before a response (connection refused, reset, DNS)
    'BACKEND_ERROR', // the backend answered non-2xx (details.status, details.body = its OpenAI error JSON), or sent an error event mid-stream
    'BACKEND_BAD_RESPONSE', // 2xx but not a well-formed OpenAI response: bad JSON, oversized event, missing or invalid usage
    'BACKEND_STREAM_BROKEN', // the stream ended before `data: [DONE]`; details.usage = usage seen so far or null (charge nothing)
    'BACKEND_ABORTED', // the caller's signal aborted the request; details.usage as for BACKEND_STREAM_BROKEN
] as const;
export type ForwardErrorCode = (typeof ForwardErrorCodes)[number];

export class ForwardError extends CocoonError<ForwardErrorCode> {
    /** Usage known when the request failed (streams only); null = nothing reported, charge nothing. */
    get usage(): TokenUsage | null {
        return (this.details?.usage as TokenUsage | null | undefined) ?? null;
    }
    /** The backend's HTTP status (BACKEND_ERROR). */
    get status(): number | undefined {
        return this.details?.status as number | undefined;
    }
    /** The backend's OpenAI error JSON (BACKEND_ERROR), passed through unchanged when it had that shape. */
    get body(): OpenAIErrorBody | undefined {
        return this.details?.body as OpenAIErrorBody | undefined;
    }
}

/** Largest non-streaming response or error body read from the backend. */
export const MAX_BACKEND_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Largest single SSE event (its data, UTF-16 code units): the wire's response chunk limit. */
export const MAX_SSE_EVENT_CHARS = MAX_CHUNK_BYTES;

const PATHS: Record<Endpoint, string> = { chat: '/v1/chat/completions', completions: '/v1/completions' };

export interface ForwardParams {
    /** Backend base URL without /v1, e.g. http://127.0.0.1:8000. */
    backendUrl: string;
    endpoint: Endpoint;
    /** The normalized body from validateOpenAIRequest (its `stream` decides the mode). */
    body: Record<string, unknown>;
    signal?: AbortSignal;
    /**
     * Streaming: called with each SSE event's data (the JSON text, unchanged) and its parsed object, in order; not
     * called for [DONE].
     */
    onChunk?: (data: string, event: Record<string, unknown>) => void | Promise<void>;
    /**
     * The request's bounds (agents/core/metering.ts): the backend's usage is clamped to maxTokens, the context length
     * and the text it actually sent (counted here), and an event or body carrying a clamped usage is passed on with
     * the clamped numbers, so what the client reads agrees with the receipt. maxTokens is the budget of all `choices`
     * (n) together; each choice adds one end token of slack to the byte bound.
     */
    bounds?: { maxTokens: number; contextLength: bigint; choices?: number };
}

export interface ForwardResult {
    /** Metered usage, from the backend's `usage`. */
    usage: TokenUsage;
    /** Always true on return: the response was complete (2xx JSON, or a stream ending in [DONE]); failures throw. */
    completed: true;
    /** The (first) choice's finish_reason, or null if the backend sent none. */
    finishReason: string | null;
    /** Non-streaming: the backend's JSON response, unchanged. */
    json?: Record<string, unknown>;
    /** Streaming: the number of events passed to onChunk. */
    chunks: number;
    /** The backend's own usage when it exceeded the bounds and was clamped (for logs); undefined otherwise. */
    claimed?: TokenUsage;
}

const err = (code: ForwardErrorCode, message: string, details: Record<string, unknown> = {}) => new ForwardError(code, message, details);

function isAbort(e: unknown, signal?: AbortSignal): boolean {
    return (signal?.aborted ?? false) || (e instanceof Error && e.name === 'AbortError');
}

/**
 * Worker → backend connections (node:http; fetch cost about 1 ms more CPU per streamed request): kept alive and
 * reused, at most BACKEND_MAX_SOCKETS per backend. Timeouts as fetch had them: 10 s to connect, 300 s of silence
 * before the response or between its pieces.
 */
export const BACKEND_MAX_SOCKETS = 256;
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 300_000;
const AGENTS = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: BACKEND_MAX_SOCKETS, maxFreeSockets: 64 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: BACKEND_MAX_SOCKETS, maxFreeSockets: 64 }),
};

/** Socket errors of a kept-alive connection the backend closed while it sat idle: the request never reached it. */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

class RequestFailed extends Error {
    constructor(
        readonly cause: unknown,
        /** The request went out on a reused keep-alive socket and nothing came back. */
        readonly stale: boolean,
    ) {
        super(cause instanceof Error ? cause.message : String(cause));
    }
}

/** One POST; resolves with the response head, rejects with RequestFailed (or an AbortError when `signal` fired). */
function post(url: URL, body: string, accept: string, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
        if (signal?.aborted) return reject(abortError());
        const opts = {
            method: 'POST',
            agent: AGENTS[url.protocol === 'https:' ? 'https:' : 'http:'],
            headers: { 'content-type': 'application/json', accept, 'content-length': Buffer.byteLength(body) },
        };
        // http+unix://<percent-encoded socket path>/…: HTTP over a Unix socket (a backend inside the TD, no port).
        const req =
            url.protocol === 'http+unix:'
                ? http.request({ ...opts, socketPath: decodeURIComponent(url.hostname), path: url.pathname + url.search })
                : (url.protocol === 'https:' ? https.request : http.request)(url, opts);
        let connectTimer: NodeJS.Timeout | undefined;
        const onAbort = () => req.destroy(abortError());
        signal?.addEventListener('abort', onAbort, { once: true });
        const done = () => {
            clearTimeout(connectTimer);
            signal?.removeEventListener('abort', onAbort);
        };
        req.on('socket', (sock) => {
            if (sock.connecting) {
                connectTimer = setTimeout(() => req.destroy(new Error(`connect timeout (${CONNECT_TIMEOUT_MS} ms)`)), CONNECT_TIMEOUT_MS);
                sock.once('connect', () => clearTimeout(connectTimer));
            }
        });
        req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${IDLE_TIMEOUT_MS} ms`)));
        req.on('response', (res) => {
            done();
            // A fired signal after the head ends the body (the reader sees the abort).
            if (signal) {
                const onBodyAbort = () => res.destroy(abortError());
                signal.addEventListener('abort', onBodyAbort, { once: true });
                res.once('close', () => signal.removeEventListener('abort', onBodyAbort));
            }
            resolve(res);
        });
        req.on('error', (e) => {
            done();
            if (isAbort(e, signal)) return reject(abortError());
            reject(new RequestFailed(e, req.reusedSocket && STALE_SOCKET.has((e as NodeJS.ErrnoException).code ?? '')));
        });
        req.end(body);
    });
}

function abortError(): Error {
    const e = new Error('request aborted');
    e.name = 'AbortError';
    return e;
}

/** POSTs the body to the backend; non-streaming returns the JSON, streaming relays each event through onChunk. */
export async function forwardToBackend(p: ForwardParams): Promise<ForwardResult> {
    const path = PATHS[p.endpoint];
    if (!path) throw new TypeError(`unknown endpoint ${String(p.endpoint)}`);
    const url = p.backendUrl.replace(/\/+$/, '') + path;
    const stream = p.body.stream === true;
    const body = JSON.stringify(p.body);
    let res: IncomingMessage;
    for (let attempt = 0; ; attempt++) {
        try {
            res = await post(new URL(url), body, stream ? 'text/event-stream' : 'application/json', p.signal);
            break;
        } catch (e) {
            if (isAbort(e, p.signal)) throw err('BACKEND_ABORTED', 'request aborted', { usage: null });
            // A kept-alive socket the backend had closed: nothing was answered (so nothing relayed), send it again
            // on a fresh connection. Any other failure is the backend's.
            if (e instanceof RequestFailed && e.stale && attempt < 2) continue;
            throw err('BACKEND_UNREACHABLE', `backend ${url} unreachable: ${causeOf(e instanceof RequestFailed ? e.cause : e)}`, { url });
        }
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
        const text = await readCapped(res).catch(() => '');
        throw err('BACKEND_ERROR', `backend answered HTTP ${status}`, { status, body: errorBody(text, status) });
    }
    return stream ? relayStream(res, p) : readJson(res, p);
}

async function readJson(res: IncomingMessage, p: ForwardParams): Promise<ForwardResult> {
    let text: string;
    try {
        text = await readCapped(res);
    } catch (e) {
        if (e instanceof ForwardError) throw e;
        if (isAbort(e, p.signal)) throw err('BACKEND_ABORTED', 'request aborted', { usage: null });
        throw err('BACKEND_STREAM_BROKEN', `backend response broke: ${causeOf(e)}`, { usage: null });
    }
    let json: unknown;
    try {
        json = JSON.parse(text);
    } catch {
        throw err('BACKEND_BAD_RESPONSE', 'backend response is not JSON');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw err('BACKEND_BAD_RESPONSE', 'backend response is not a JSON object');
    const obj = json as Record<string, unknown>;
    const b = bound(meter(obj.usage), p, contentBytes(obj));
    if (b.claimed) obj.usage = usageToOpenAI(b.usage);
    return { usage: b.usage, completed: true, finishReason: finishReasonOf(obj), json: obj, chunks: 0, ...(b.claimed ? { claimed: b.claimed } : {}) };
}

/** The usage within the request's bounds; `claimed` = the backend's own numbers when they were cut. */
function bound(u: TokenUsage, p: ForwardParams, streamedBytes: number): { usage: TokenUsage; claimed?: TokenUsage } {
    if (!p.bounds) return { usage: u };
    const b = { ...p.bounds, streamedBytes };
    if (!usageExcess(u, b)) return { usage: u };
    const c = clampUsage(u, b);
    return TOKEN_KINDS.every((k) => c[k] === u[k]) ? { usage: u } : { usage: c, claimed: u };
}

function meter(u: unknown): TokenUsage {
    if (u === undefined || u === null) throw err('BACKEND_BAD_RESPONSE', 'backend reported no usage: nothing can be charged');
    try {
        return usageFromOpenAI(u);
    } catch (e) {
        throw err('BACKEND_BAD_RESPONSE', `backend usage is invalid: ${causeOf(e)}`);
    }
}

function finishReasonOf(obj: Record<string, unknown>): string | null {
    const choices = obj.choices;
    if (!Array.isArray(choices)) return null;
    for (const c of choices) {
        const f = (c as Record<string, unknown> | null)?.finish_reason;
        if (typeof f === 'string') return f;
    }
    return null;
}

async function relayStream(res: IncomingMessage, p: ForwardParams): Promise<ForwardResult> {
    const status = res.statusCode ?? 0;
    const parser = new SseParser();
    let usage: TokenUsage | null = null;
    let claimed: TokenUsage | undefined;
    let bytes = 0;
    let finishReason: string | null = null;
    let chunks = 0;
    let done = false;
    const handle = async (data: string): Promise<void> => {
        if (done) return; // anything after [DONE] is ignored
        if (p.signal?.aborted) throw err('BACKEND_ABORTED', 'request aborted', { usage });
        if (data === '[DONE]') {
            done = true;
            return;
        }
        let obj: unknown;
        try {
            obj = JSON.parse(data);
        } catch {
            throw err('BACKEND_BAD_RESPONSE', 'backend stream event is not JSON', { usage });
        }
        if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw err('BACKEND_BAD_RESPONSE', 'backend stream event is not a JSON object', { usage });
        const o = obj as Record<string, unknown>;
        if (o.error !== undefined) throw err('BACKEND_ERROR', 'backend sent an error event mid-stream', { status, body: errorBody(data, status), usage });
        bytes += contentBytes(o);
        let out = data;
        if (o.usage !== undefined && o.usage !== null) {
            const b = bound(meter(o.usage), p, bytes);
            usage = b.usage;
            claimed = b.claimed;
            if (b.claimed) out = JSON.stringify({ ...o, usage: usageToOpenAI(b.usage) });
        }
        finishReason = finishReasonOf(o) ?? finishReason;
        chunks++;
        if (p.onChunk) await p.onChunk(out, o);
    };
    const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
        for (;;) {
            let r: IteratorResult<Buffer>;
            try {
                r = await it.next();
            } catch (e) {
                if (isAbort(e, p.signal)) throw err('BACKEND_ABORTED', 'request aborted', { usage });
                throw err('BACKEND_STREAM_BROKEN', `backend stream broke after ${chunks} events: ${causeOf(e)}`, { usage, chunks });
            }
            const events = r.done ? parser.end() : parser.push(r.value);
            for (const e of events) await handle(e);
            if (done || r.done) break;
        }
    } catch (e) {
        if (e instanceof SseOverflow) throw err('BACKEND_BAD_RESPONSE', `backend stream event exceeds ${MAX_SSE_EVENT_CHARS} characters`, { usage });
        throw e;
    } finally {
        release(res, it, done);
    }
    if (!done) throw err('BACKEND_STREAM_BROKEN', `backend stream ended after ${chunks} events without [DONE]`, { usage, chunks });
    if (!usage) throw err('BACKEND_BAD_RESPONSE', 'backend stream carried no usage: nothing can be charged', { usage: null });
    return { usage, completed: true, finishReason, chunks, ...(claimed ? { claimed } : {}) };
}

class SseOverflow extends Error {}

/**
 * Incremental text/event-stream parser (WHATWG "server-sent events" rules, reduced to what OpenAI streams use):
 * lines end in \n, \r\n or \r (across chunk boundaries); `data:` lines accumulate (joined with \n); a blank line
 * dispatches; comments (":") and other fields (event, id, retry) are ignored. Bytes are decoded as UTF-8 in
 * streaming mode, so multi-byte characters split across chunks survive.
 */
export class SseParser {
    private readonly decoder = new TextDecoder('utf-8');
    private buf = '';
    private data: string[] | null = null;
    private dataLen = 0;
    private pendingCR = false;

    constructor(private readonly maxEventChars = MAX_SSE_EVENT_CHARS) {}

    push(bytes: Uint8Array): string[] {
        return this.feed(this.decoder.decode(bytes, { stream: true }));
    }

    /** End of input: flushes the decoder; an unterminated last event is dropped (as the SSE rules say). */
    end(): string[] {
        return this.feed(this.decoder.decode());
    }

    private feed(text: string): string[] {
        const out: string[] = [];
        let s = text;
        if (this.pendingCR) {
            this.pendingCR = false;
            if (s.startsWith('\n')) s = s.slice(1); // the \n of a \r\n split across chunks
        }
        this.buf += s;
        let start = 0;
        for (let i = 0; i < this.buf.length; i++) {
            const c = this.buf.charCodeAt(i);
            if (c !== 10 && c !== 13) continue;
            this.line(this.buf.slice(start, i), out);
            if (c === 13) {
                if (i + 1 < this.buf.length) {
                    if (this.buf.charCodeAt(i + 1) === 10) i++;
                } else this.pendingCR = true;
            }
            start = i + 1;
        }
        this.buf = this.buf.slice(start);
        if (this.buf.length > this.maxEventChars + 16) throw new SseOverflow();
        return out;
    }

    private line(line: string, out: string[]): void {
        if (line === '') {
            if (this.data !== null) out.push(this.data.join('\n'));
            this.data = null;
            this.dataLen = 0;
            return;
        }
        if (line.startsWith(':')) return;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        if (field !== 'data') return;
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        this.dataLen += value.length;
        if (this.dataLen > this.maxEventChars) throw new SseOverflow();
        (this.data ??= []).push(value);
    }
}

/**
 * Lets the connection go back to the pool: a response read to its end already did; one that stopped at [DONE] is
 * drained in the background (its end is normally in the same packet) up to a bound, else its socket is closed.
 */
function release(res: IncomingMessage, it: AsyncIterator<Buffer>, finished: boolean): void {
    if (res.complete || res.destroyed) return;
    if (!finished) {
        res.destroy();
        return;
    }
    const timer = setTimeout(() => res.destroy(), 5_000).unref();
    void (async () => {
        let extra = 0;
        for (;;) {
            const r = await it.next();
            if (r.done) break;
            extra += r.value.length;
            if (extra > MAX_SSE_EVENT_CHARS) {
                res.destroy();
                break;
            }
        }
    })()
        .catch(() => undefined)
        .finally(() => clearTimeout(timer));
}

async function readCapped(res: IncomingMessage): Promise<string> {
    const parts: Buffer[] = [];
    let size = 0;
    let ok = false;
    try {
        for await (const b of res as AsyncIterable<Buffer>) {
            size += b.length;
            if (size > MAX_BACKEND_RESPONSE_BYTES) throw err('BACKEND_BAD_RESPONSE', `backend response exceeds ${MAX_BACKEND_RESPONSE_BYTES} bytes`);
            parts.push(b);
        }
        ok = true;
    } finally {
        if (!ok) res.destroy();
    }
    return Buffer.concat(parts).toString('utf8');
}

/** The backend's error JSON if it has OpenAI's shape, else an OpenAI-shaped wrapper of its text. */
function errorBody(text: string, status: number): OpenAIErrorBody {
    try {
        const j = JSON.parse(text);
        if (j && typeof j === 'object' && j.error && typeof j.error === 'object' && typeof j.error.message === 'string') return j as OpenAIErrorBody;
    } catch {
        /* not JSON */
    }
    return { error: { message: text.slice(0, 1024) || `backend HTTP ${status}`, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: 'BACKEND_ERROR' } };
}

function causeOf(e: unknown): string {
    if (!(e instanceof Error)) return String(e);
    const cause = (e as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
}

// ---------------------------------------------------------------------------------------------------------------
// Metering and receipts

export interface WorkerKeys {
    /** Ed25519 public key, 32 bytes. */
    publicKey: Buffer;
    /** Ed25519 secret key, 64 bytes (seed || public key), as @ton/crypto's keyPairFromSeed gives it. */
    secretKey: Buffer;
}

export interface MeterParams {
    /**
     * The wire request id: 32 lowercase hex characters (128 bits, spec/wire.md), or a bigint. The receipt's
     * requestId is uint256: the 128-bit id is zero-extended (its numeric value, high 128 bits zero).
     */
    requestId: string | bigint;
    /** Root's model id (wrappers/payloads.ts modelId(name) = sha256(name)). */
    modelId: bigint;
    usage: TokenUsage;
    /** Root's prices for the model. */
    prices: ModelPrices;
    /** The worker's coefficient (COEFFICIENT_ONE = 1.0x). */
    coefficient: bigint;
    workerKeys: WorkerKeys;
    /** The receipt's issuedAt is its time in whole unix seconds: the clock of trust (chain time), which throws CHAIN_TIME_UNAVAILABLE without chain time (no receipt is signed). */
    clock: Clock;
}

export interface MeterResult {
    /** nanoTON, = pricing.cost(usage, prices, coefficient). */
    cost: bigint;
    /** The signed receipt in its wire form (receipt.ts encodeReceipt: base64 BOC). */
    receipt: string;
    signed: Receipt;
}

const REQUEST_ID_HEX = /^[0-9a-f]{32}$/;

/** The receipt's uint256 request id for a wire request id (zero-extended 128-bit value). */
export function receiptRequestId(id: string | bigint): bigint {
    if (typeof id === 'bigint') return id;
    if (!REQUEST_ID_HEX.test(id)) throw new TypeError('requestId must be 32 lowercase hex characters');
    return BigInt('0x' + id);
}

/** Computes the request's cost with the one pricing function and signs its receipt. */
export function meterAndSign(p: MeterParams): MeterResult {
    const receipt = buildReceipt({
        requestId: receiptRequestId(p.requestId),
        modelId: p.modelId,
        worker: p.workerKeys.publicKey,
        usage: p.usage,
        prices: p.prices,
        coefficient: p.coefficient,
        issuedAt: Math.floor(p.clock.now() / 1000),
    });
    // Hash and BOC come from receipt.ts's direct codec: no @ton/core cell is built.
    return { cost: receipt.cost, receipt: encodeReceipt(signReceipt(receipt, p.workerKeys.secretKey)), signed: receipt };
}
