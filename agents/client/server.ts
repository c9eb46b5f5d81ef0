// The client's local OpenAI-compatible HTTP API (spec/client.md, "HTTP API"): any OpenAI client works against it by
// changing its base URL. Requests go through CocoonClient (sealed to an attested worker by default); responses are
// re-emitted exactly in OpenAI's format, with the cost of each request added where usage is reported.
//
// include_usage: workers always ask their backend for the usage chunk (metering needs it), so every streamed chunk
// arrives with `"usage": null` and a final `choices: []` chunk carries the usage. When the app did not ask for
// usage, both are removed here so the stream equals what OpenAI sends without include_usage.
//
// Per-request headers (spec/openai.md): X-Cocoon-Max-Coefficient lowers the client's price cap for one request,
// X-Cocoon-Timeout-Ms sets its whole deadline. /v1/models carries each model's load (workers, free_capacity).
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import type { AddressInfo, Socket } from 'net';
import { listen } from '../core/net';
import { CocoonClient } from './runner';
import type { ClientEvent, Endpoint } from './running-request';
import type { ModelInfo } from './candidates';
import { ClientError, HTTP_ERRORS, HttpError, toHttpError } from './errors';

export interface OpenAIServerOptions {
    client: CocoonClient;
    /** Default 127.0.0.1. */
    host?: string;
    /** Default 0 (ephemeral). */
    port?: number;
    /** Largest request body; default 1 MiB. */
    maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Per-request headers (spec/openai.md, "Per-request headers"). */
export const MAX_COEFFICIENT_HEADER = 'x-cocoon-max-coefficient';
export const TIMEOUT_HEADER = 'x-cocoon-timeout-ms';
/** The longest deadline X-Cocoon-Timeout-Ms may set: one hour. */
export const MAX_TIMEOUT_MS = 3_600_000;

/** What the per-request headers asked for. */
interface PerRequest {
    maxCoefficient?: bigint;
    timeoutMs?: number;
}

const ROUTES: Record<string, Endpoint> = { '/v1/chat/completions': 'chat', '/v1/completions': 'completions' };

/** Thrown inside the handler to answer with an OpenAI error. */
class Reply extends Error {
    constructor(readonly http: HttpError) {
        super(http.body.error.message);
    }
}

export class OpenAIServer {
    private readonly client: CocoonClient;
    private readonly host: string;
    private readonly port: number;
    private readonly maxBodyBytes: number;
    private server?: Server;
    private readonly sockets = new Set<Socket>();
    private readonly inflight = new Set<AbortController>();
    private readonly created = Math.floor(Date.now() / 1000);

    constructor(opts: OpenAIServerOptions) {
        this.client = opts.client;
        this.host = opts.host ?? '127.0.0.1';
        this.port = opts.port ?? 0;
        this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    }

    /** Listens; resolves with the base URL (ending in /v1) to give an OpenAI client. */
    async start(): Promise<{ url: string }> {
        if (this.server) return { url: this.url };
        const server = createServer((req, res) => void this.handle(req, res));
        server.on('connection', (s: Socket) => {
            this.sockets.add(s);
            s.once('close', () => this.sockets.delete(s));
        });
        await listen(server, this.port, this.host);
        this.server = server;
        return { url: this.url };
    }

    get url(): string {
        const a = this.server?.address() as AddressInfo | null | undefined;
        if (!a) throw new Error('OpenAIServer is not started');
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        return `http://${h}:${a.port}/v1`;
    }

    /** Stops listening, cancels in-flight requests and closes every connection. The client stays open. */
    async stop(): Promise<void> {
        const server = this.server;
        if (!server) return;
        this.server = undefined;
        for (const c of this.inflight) c.abort();
        for (const s of this.sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const method = req.method ?? 'GET';
        const path = (req.url ?? '/').split('?')[0];
        try {
            if (path === '/v1/models' || path.startsWith('/v1/models/')) {
                if (method !== 'GET') throw new Reply(HTTP_ERRORS.methodNotAllowed(method, path));
                return await this.models(res, path);
            }
            const endpoint = ROUTES[path];
            if (!endpoint) throw new Reply(HTTP_ERRORS.notFound(method, path));
            if (method !== 'POST') throw new Reply(HTTP_ERRORS.methodNotAllowed(method, path));
            const body = await this.readBody(req);
            await this.complete(req, res, endpoint, body, this.perRequest(req));
        } catch (e) {
            const http = e instanceof Reply ? e.http : toHttpError(e);
            if (!res.headersSent) sendJson(res, http.status, http.body);
            else if (!res.writableEnded) res.destroy();
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // /v1/models

    private async models(res: ServerResponse, path: string): Promise<void> {
        const list = await this.client.listModels();
        if (path === '/v1/models' || path === '/v1/models/') {
            sendJson(res, 200, { object: 'list', data: list.map((m) => this.modelObject(m)) });
            return;
        }
        let id: string;
        try {
            id = decodeURIComponent(path.slice('/v1/models/'.length));
        } catch {
            throw new Reply(HTTP_ERRORS.notFound('GET', path));
        }
        const m = list.find((x) => x.id === id);
        if (!m) throw new Reply(HTTP_ERRORS.modelNotFound(id));
        sendJson(res, 200, this.modelObject(m));
    }

    /** OpenAI's model object plus the extensions spec/client.md lists (context_length, pricing, workers). */
    private modelObject(m: ModelInfo) {
        const slash = m.id.indexOf('/');
        return {
            id: m.id,
            object: 'model',
            created: this.created,
            owned_by: slash > 0 ? m.id.slice(0, slash) : 'cocoon',
            context_length: m.contextLength,
            pricing: {
                unit: 'nanoton_per_1m_tokens',
                prompt: m.prices.pricePrompt.toString(),
                cached: m.prices.priceCached.toString(),
                completion: m.prices.priceCompletion.toString(),
                reasoning: m.prices.priceReasoning.toString(),
            },
            workers: m.workers,
            free_capacity: m.freeCapacity,
            min_coefficient: Number(m.minCoefficient),
        };
    }

    // -------------------------------------------------------------------------------------------------------------
    // /v1/chat/completions, /v1/completions

    private async readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (type !== 'application/json') {
            req.resume();
            throw new Reply(HTTP_ERRORS.unsupportedMediaType());
        }
        const declared = Number(req.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxBodyBytes) {
            req.resume();
            throw new Reply(HTTP_ERRORS.bodyTooLarge(this.maxBodyBytes));
        }
        const text = await new Promise<string>((resolve, reject) => {
            const chunks: Buffer[] = [];
            let size = 0;
            let over = false;
            req.on('data', (c: Buffer) => {
                size += c.length;
                if (size > this.maxBodyBytes) over = true;
                else chunks.push(c);
                if (size > 8 * this.maxBodyBytes) req.destroy(); // a hostile upload: stop reading
            });
            req.on('error', reject);
            req.on('end', () => (over ? reject(new Reply(HTTP_ERRORS.bodyTooLarge(this.maxBodyBytes))) : resolve(Buffer.concat(chunks).toString('utf8'))));
        });
        let body: unknown;
        try {
            body = JSON.parse(text);
        } catch {
            throw new Reply(HTTP_ERRORS.invalidJson());
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Reply(HTTP_ERRORS.invalidBody());
        const b = body as Record<string, unknown>;
        if (b.model === undefined || b.model === null) throw new Reply(HTTP_ERRORS.missing('model'));
        if (typeof b.model !== 'string') throw new Reply(HTTP_ERRORS.invalidType('model', 'a string'));
        if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw new Reply(HTTP_ERRORS.invalidType('stream', 'a boolean'));
        return b;
    }

    /**
     * X-Cocoon-Max-Coefficient: a decimal coefficient (1000 = 1.0x Root's prices) at most the client's maxCoefficient
     * (a request may lower the operator's price cap, never raise it). X-Cocoon-Timeout-Ms: 1..MAX_TIMEOUT_MS, the
     * request's whole deadline; when it passes the request is cancelled (its partial receipt paid) and answered 504.
     */
    private perRequest(req: IncomingMessage): PerRequest {
        const out: PerRequest = {};
        const coef = req.headers[MAX_COEFFICIENT_HEADER];
        if (coef !== undefined) {
            if (typeof coef !== 'string' || !/^[0-9]{1,10}$/.test(coef.trim())) throw new Reply(HTTP_ERRORS.invalidHeader(MAX_COEFFICIENT_HEADER, 'expected a decimal integer (1000 = 1.0x)'));
            const v = BigInt(coef.trim());
            if (v > this.client.maxCoefficient)
                throw new Reply(HTTP_ERRORS.invalidHeader(MAX_COEFFICIENT_HEADER, `${v} is above this client's maxCoefficient ${this.client.maxCoefficient}; a request may only lower it`));
            out.maxCoefficient = v;
        }
        const t = req.headers[TIMEOUT_HEADER];
        if (t !== undefined) {
            const v = typeof t === 'string' && /^[0-9]{1,8}$/.test(t.trim()) ? Number(t.trim()) : NaN;
            if (!(v >= 1 && v <= MAX_TIMEOUT_MS)) throw new Reply(HTTP_ERRORS.invalidHeader(TIMEOUT_HEADER, `expected milliseconds in 1..${MAX_TIMEOUT_MS}`));
            out.timeoutMs = v;
        }
        return out;
    }

    private async complete(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, body: Record<string, unknown>, per: PerRequest): Promise<void> {
        const stream = body.stream === true;
        const opts = body.stream_options as { include_usage?: unknown } | null | undefined;
        const wantsUsage = stream && typeof opts === 'object' && opts !== null && opts.include_usage === true;
        const ctrl = new AbortController();
        this.inflight.add(ctrl);
        // The app went away before the response finished: cancel. The worker bills the prompt and the tokens already
        // streamed with a partial receipt; the SDK verifies it when it arrives and covers it with its next voucher
        // (payments.ts, late receipts).
        const onClose = () => {
            if (!res.writableFinished) ctrl.abort();
        };
        res.on('close', onClose);
        req.on('aborted', onClose);
        let timedOut = false;
        const deadline =
            per.timeoutMs !== undefined
                ? setTimeout(() => {
                      timedOut = true;
                      ctrl.abort();
                  }, per.timeoutMs)
                : undefined;
        try {
            const events = this.client.request({ endpoint, body, signal: ctrl.signal, ...(per.maxCoefficient !== undefined ? { maxCoefficient: per.maxCoefficient } : {}) });
            if (stream) await this.relayStream(res, events, wantsUsage);
            else await this.relayBody(res, events);
        } catch (e0) {
            if (ctrl.signal.aborted && !this.server) return;
            const e = timedOut ? new ClientError('TIMEOUT', `the request did not finish within ${per.timeoutMs} ms (${TIMEOUT_HEADER})`) : e0;
            if (res.headersSent) {
                // Mid-stream failure: OpenAI's in-stream error event, then the end of the stream without [DONE].
                if (!res.writableEnded && !res.destroyed) {
                    res.write(`data: ${JSON.stringify(toHttpError(e).body)}\n\n`);
                    res.end();
                }
                return;
            }
            throw e;
        } finally {
            clearTimeout(deadline);
            this.inflight.delete(ctrl);
            res.off('close', onClose);
        }
    }

    private async relayStream(res: ServerResponse, events: AsyncGenerator<ClientEvent>, wantsUsage: boolean): Promise<void> {
        let usageChunk: Record<string, unknown> | undefined;
        for await (const ev of events) {
            if (ev.type === 'start') {
                res.writeHead(ev.status, {
                    'content-type': 'text/event-stream; charset=utf-8',
                    'cache-control': 'no-cache',
                    connection: 'keep-alive',
                    'x-cocoon-request-id': ev.requestId,
                    ...(ev.headers['openai-processing-ms'] ? { 'openai-processing-ms': ev.headers['openai-processing-ms'] } : {}),
                });
                res.flushHeaders();
            } else if (ev.type === 'chunk') {
                const out = rewriteChunk(ev.data, wantsUsage);
                if (out.usageChunk) usageChunk = out.usageChunk;
                else if (out.data !== undefined) await write(res, `data: ${out.data}\n\n`);
            } else {
                // The usage chunk is held back until the cost is known (response_end), then sent with cost_nanoton.
                if (usageChunk && wantsUsage) {
                    const u = usageChunk.usage as Record<string, unknown>;
                    u.cost_nanoton = ev.cost.toString();
                    await write(res, `data: ${JSON.stringify(usageChunk)}\n\n`);
                }
                res.end('data: [DONE]\n\n');
            }
        }
    }

    private async relayBody(res: ServerResponse, events: AsyncGenerator<ClientEvent>): Promise<void> {
        let start: Extract<ClientEvent, { type: 'start' }> | undefined;
        const parts: string[] = [];
        for await (const ev of events) {
            if (ev.type === 'start') start = ev;
            else if (ev.type === 'chunk') parts.push(ev.data);
            else {
                const text = parts.join('');
                let out = text;
                try {
                    const obj = JSON.parse(text) as Record<string, unknown>;
                    if (obj && typeof obj.usage === 'object' && obj.usage !== null) {
                        (obj.usage as Record<string, unknown>).cost_nanoton = ev.cost.toString();
                        out = JSON.stringify(obj);
                    }
                } catch {
                    /* not JSON: passed through as the worker sent it */
                }
                res.writeHead(start?.status ?? 200, {
                    'content-type': 'application/json',
                    'content-length': Buffer.byteLength(out),
                    'x-cocoon-request-id': ev.requestId,
                    'x-cocoon-cost-nanoton': ev.cost.toString(),
                    ...(start?.headers['openai-processing-ms'] ? { 'openai-processing-ms': start.headers['openai-processing-ms'] } : {}),
                });
                res.end(out);
            }
        }
    }
}

/**
 * One streamed chunk as the app should see it. The chunk carrying `usage` is returned separately (held until the
 * cost is known, dropped when the app did not ask for usage); without include_usage the `"usage": null` keys the
 * worker's include_usage added are removed. Untouched chunks keep their exact bytes.
 */
export function rewriteChunk(data: string, wantsUsage: boolean): { data?: string; usageChunk?: Record<string, unknown> } {
    let obj: unknown;
    try {
        obj = JSON.parse(data);
    } catch {
        return { data };
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { data };
    const o = obj as Record<string, unknown>;
    if (typeof o.usage === 'object' && o.usage !== null) {
        if (wantsUsage) return { usageChunk: o };
        // Not asked for: drop the usage, keep any choices a backend put in the same chunk.
        if (!Array.isArray(o.choices) || o.choices.length === 0) return {};
        delete o.usage;
        return { data: JSON.stringify(o) };
    }
    if (!wantsUsage && 'usage' in o && o.usage === null) {
        delete o.usage;
        return { data: JSON.stringify(o) };
    }
    return { data };
}

function write(res: ServerResponse, text: string): Promise<void> {
    return new Promise((resolve) => {
        if (res.writableEnded || res.destroyed) return resolve();
        if (res.write(text)) resolve();
        else res.once('drain', resolve).once('close', resolve);
    });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
    const data = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
}
