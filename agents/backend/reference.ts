// The reference backend (spec/payments.md, "Reference backend"): a small OpenAI-compatible HTTP server for the devnet
// and tests. It is not a language model: it echoes the last user message and pads with fixed filler words, counting
// one token per whitespace-separated word, so every `usage` it reports can be recomputed by hand. What it generates
// (text, a tool call, JSON mode, n choices, logprobs, reasoning) and the response shapes are in generate.ts.
// Knobs for tests (per-token delay, dropping the connection after K chunks, failing requests) are real behaviour of
// this server, set through its options or its mutable `faults` property.
import { randomBytes } from 'crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo, Socket } from 'net';
import { listen } from '../core/net';
import { TEST_MODEL } from './test-model';
import { choicesOf, Generation, HttpError, invalid, plan, ReferenceModel, streamSteps } from './generate';

export { countWords, FILLER, IMAGE_TOKENS, THOUGHTS } from './generate';
export type { ReferenceModel } from './generate';

export interface BackendFaults {
    /** Streaming: destroy the socket after this many SSE events (0 = right after the headers). Non-streaming: destroy it without answering. */
    dropAfterChunks?: number;
    /**
     * Streaming: after this many SSE events, send nothing more and keep the connection open until the client leaves
     * (a silent backend). Non-streaming: never answer.
     */
    stallAfterChunks?: number;
    /** Answer every completion request with this HTTP status and an OpenAI-shaped error carrying `code`. */
    failWith?: { status: number; code: string; message?: string };
    /** Lying usage: report these counts instead of the true ones (the text sent is unchanged). */
    lyingUsage?: { promptTokens?: number; completionTokens?: number };
    /** Streaming: each event's JSON pretty-printed over several `data:` lines (SSE joins them with line breaks). */
    multilineEvents?: boolean;
}

export interface ReferenceBackendOptions {
    host?: string;
    /** 0 (default) picks a free port. */
    port?: number;
    models?: ReferenceModel[];
    /** Delay before each generated token, streaming or not. Default 0. */
    tokenDelayMs?: number;
    faults?: BackendFaults;
    /** Request bodies larger than this are refused with 413. Default 1 MiB. */
    maxBodyBytes?: number;
    /** Unix seconds for `created` fields; defaults to the wall clock. */
    now?: () => number;
}

/** What the server received, for tests asserting what a worker forwarded. */
export interface ReceivedRequest {
    method: string;
    path: string;
    body: unknown;
}

export class ReferenceBackend {
    readonly models: ReferenceModel[];
    tokenDelayMs: number;
    faults: BackendFaults;
    readonly received: ReceivedRequest[] = [];
    private readonly host: string;
    private readonly port: number;
    private readonly maxBodyBytes: number;
    private readonly now: () => number;
    private server: Server | null = null;
    private readonly sockets = new Set<Socket>();
    private address: AddressInfo | null = null;

    constructor(opts: ReferenceBackendOptions = {}) {
        this.host = opts.host ?? '127.0.0.1';
        this.port = opts.port ?? 0;
        this.models = opts.models ?? [TEST_MODEL];
        if (this.models.length === 0) throw new Error('models: at least one model is required');
        this.tokenDelayMs = opts.tokenDelayMs ?? 0;
        this.faults = opts.faults ?? {};
        this.maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;
        this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    }

    /** Base URL without the /v1 suffix, e.g. http://127.0.0.1:PORT. */
    get url(): string {
        if (!this.address) throw new Error('ReferenceBackend is not started');
        return `http://${this.host}:${this.address.port}`;
    }

    async start(): Promise<void> {
        if (this.server) return;
        const server = createServer((req, res) => void this.handle(req, res));
        server.on('connection', (s) => {
            this.sockets.add(s);
            s.on('close', () => this.sockets.delete(s));
        });
        this.address = await listen(server, this.port, this.host);
        this.server = server;
    }

    async stop(): Promise<void> {
        const server = this.server;
        if (!server) return;
        this.server = null;
        for (const s of this.sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        try {
            const path = (req.url ?? '/').split('?')[0];
            if (path === '/v1/models' || path.startsWith('/v1/models/')) {
                if (req.method !== 'GET') throw new HttpError(405, `Method ${req.method} not allowed on ${path}`, 'invalid_request_error', 'method_not_allowed');
                this.received.push({ method: 'GET', path, body: null });
                return this.listModels(res, path);
            }
            const kind = path === '/v1/chat/completions' ? 'chat' : path === '/v1/completions' ? 'completion' : null;
            if (!kind) throw new HttpError(404, `Invalid URL (${req.method} ${path})`, 'invalid_request_error', 'unknown_url');
            if (req.method !== 'POST') throw new HttpError(405, `Method ${req.method} not allowed on ${path}`, 'invalid_request_error', 'method_not_allowed');
            const body = await this.readJson(req);
            this.received.push({ method: 'POST', path, body });
            const fail = this.faults.failWith;
            if (fail) throw new HttpError(fail.status, fail.message ?? `injected failure ${fail.code}`, fail.status >= 500 ? 'server_error' : 'invalid_request_error', fail.code);
            const gen = plan(kind, body, this.models);
            if (gen.stream) await this.stream(res, gen);
            else await this.respond(res, gen);
        } catch (e) {
            const err = e instanceof HttpError ? e : new HttpError(500, 'internal error', 'server_error', 'internal_error');
            if (res.headersSent) {
                res.destroy();
                return;
            }
            sendJson(res, err.status, { error: { message: err.message, type: err.type, param: err.param, code: err.code } });
        }
    }

    private listModels(res: ServerResponse, path: string): void {
        const created = this.now();
        const obj = (m: ReferenceModel) => ({ id: m.id, object: 'model', created, owned_by: 'cocoon-test', description: m.description, context_length: m.contextLength });
        if (path === '/v1/models') return sendJson(res, 200, { object: 'list', data: this.models.map(obj) });
        const id = decodeURIComponent(path.slice('/v1/models/'.length));
        const m = this.models.find((x) => x.id === id);
        if (!m) throw new HttpError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');
        sendJson(res, 200, obj(m));
    }

    private readJson(req: IncomingMessage): Promise<unknown> {
        return new Promise((resolve, reject) => {
            const chunks: Buffer[] = [];
            let size = 0;
            req.on('data', (c: Buffer) => {
                size += c.length;
                if (size > 8 * this.maxBodyBytes) req.destroy(); // hostile upload: stop listening
                else if (size <= this.maxBodyBytes) chunks.push(c); // past the cap: read and discard, answer 413 at the end
            });
            req.on('error', reject);
            req.on('end', () => {
                if (size > this.maxBodyBytes) return reject(new HttpError(413, `Request body exceeds ${this.maxBodyBytes} bytes`, 'invalid_request_error', 'body_too_large'));
                try {
                    resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
                } catch {
                    reject(invalid('We could not parse the JSON body of your request.', 'invalid_json'));
                }
            });
        });
    }

    private usage(g: Generation) {
        const prompt = this.faults.lyingUsage?.promptTokens ?? g.promptTokens;
        // Every choice's tokens; the prompt once (what vLLM reports for n choices).
        const completion = this.faults.lyingUsage?.completionTokens ?? g.n * g.tokens.length;
        const reasoning = this.faults.lyingUsage?.completionTokens !== undefined ? 0 : g.n * g.tokens.filter((t) => t.part === 'reasoning').length;
        return {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: { cached_tokens: 0 },
            completion_tokens_details: { reasoning_tokens: reasoning },
        };
    }

    private async respond(res: ServerResponse, g: Generation): Promise<void> {
        for (let i = 0; i < g.tokens.length; i++) await this.delay();
        if (this.faults.stallAfterChunks !== undefined) return this.silence(res);
        if (this.faults.dropAfterChunks !== undefined) {
            res.destroy();
            return;
        }
        sendJson(res, 200, {
            id: newId(g.kind),
            object: g.kind === 'chat' ? 'chat.completion' : 'text_completion',
            created: this.now(),
            model: g.model.id,
            choices: choicesOf(g),
            usage: this.usage(g),
            system_fingerprint: null,
        });
    }

    private async stream(res: ServerResponse, g: Generation): Promise<void> {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.flushHeaders();
        let closed = false;
        res.on('close', () => (closed = true));
        const id = newId(g.kind);
        const created = this.now();
        let sent = 0;
        const drop = () => this.faults.dropAfterChunks !== undefined && sent >= this.faults.dropAfterChunks;
        // Each event is flushed to the socket before the next, so a drop after K events leaves exactly K on the wire.
        const event = async (obj: unknown): Promise<boolean> => {
            if (closed) return false;
            if (this.faults.stallAfterChunks !== undefined && sent >= this.faults.stallAfterChunks) {
                await this.silence(res);
                return false;
            }
            if (drop()) {
                res.destroy();
                closed = true;
                return false;
            }
            const lines = this.faults.multilineEvents ? JSON.stringify(obj, null, 1).split('\n') : [JSON.stringify(obj)];
            await new Promise<void>((resolve) => res.write(`${lines.map((l) => `data: ${l}`).join('\n')}\n\n`, () => resolve()));
            sent++;
            return true;
        };
        const object = g.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
        const extra = g.includeUsage ? { usage: null } : {};
        for (const step of streamSteps(g)) {
            if (step.token) await this.delay();
            if (!(await event({ id, object, created, model: g.model.id, system_fingerprint: null, choices: step.choices, ...extra }))) return;
        }
        if (g.includeUsage && !(await event({ id, object, created, model: g.model.id, system_fingerprint: null, choices: [], usage: this.usage(g) }))) return;
        if (closed || drop()) {
            res.destroy();
            return;
        }
        res.end('data: [DONE]\n\n');
    }

    /** Sends nothing more; resolves when the client has gone. */
    private silence(res: ServerResponse): Promise<void> {
        return new Promise((resolve) => (res.destroyed || res.writableFinished ? resolve() : res.once('close', () => resolve())));
    }

    private delay(): Promise<void> {
        return this.tokenDelayMs > 0 ? new Promise((r) => setTimeout(r, this.tokenDelayMs)) : Promise.resolve();
    }
}

function newId(kind: 'chat' | 'completion'): string {
    return (kind === 'chat' ? 'chatcmpl-' : 'cmpl-') + randomBytes(12).toString('hex');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
    const data = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
}
