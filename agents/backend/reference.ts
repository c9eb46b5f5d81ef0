// The reference backend (spec/payments.md, "Reference backend"): a small OpenAI-compatible HTTP server for the devnet
// and tests. It is not a language model: it echoes the last user message and pads with fixed filler words, counting
// one token per whitespace-separated word, so every `usage` it reports can be recomputed by hand.
// Knobs for tests (per-token delay, dropping the connection after K chunks, failing requests) are real behaviour of
// this server, set through its options or its mutable `faults` property.
import { randomBytes } from 'crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo, Socket } from 'net';
import { listen } from '../core/net';
import { TEST_MODEL } from './test-model';

// The test model is defined in test-model.ts; re-exported for the backend's users.

export interface ReferenceModel {
    id: string;
    /** Largest prompt + completion, in words. */
    contextLength: number;
    description: string;
}

/** Generated after the echo, cycling, until max_tokens or the end of this list. */
export const FILLER = ['this', 'is', 'a', 'deterministic', 'reply', 'from', 'the', 'cocoon', 'test', 'model'] as const;

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

/** Tokens of a text under the reference rule: whitespace-separated words. */
export function countWords(text: string): number {
    return words(text).length;
}

function words(text: string): string[] {
    return text.split(/\s+/).filter((w) => w.length > 0);
}

class HttpError extends Error {
    constructor(
        readonly status: number,
        message: string,
        readonly type: string,
        readonly code: string | null,
        readonly param: string | null = null,
    ) {
        super(message);
    }
}

const invalid = (message: string, code: string, param: string | null = null) => new HttpError(400, message, 'invalid_request_error', code, param);

interface Generation {
    kind: 'chat' | 'completion';
    model: ReferenceModel;
    stream: boolean;
    includeUsage: boolean;
    promptTokens: number;
    output: string[];
    finishReason: 'stop' | 'length';
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
            const gen = this.plan(kind, body);
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

    /** Validates a request and decides the whole output up front (deterministic). */
    private plan(kind: 'chat' | 'completion', body: unknown): Generation {
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('The request body must be a JSON object.', 'invalid_type');
        const b = body as Record<string, unknown>;
        if (b.model === undefined) throw invalid("Missing required parameter: 'model'.", 'missing_required_parameter', 'model');
        if (typeof b.model !== 'string') throw invalid("Invalid type for 'model': expected a string.", 'invalid_type', 'model');
        const model = this.models.find((m) => m.id === b.model);
        if (!model) throw new HttpError(404, `The model '${b.model}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');

        const stream = optBool(b, 'stream') ?? false;
        let includeUsage = false;
        if (b.stream_options !== undefined && b.stream_options !== null) {
            if (!stream) throw invalid("'stream_options' is only allowed when 'stream' is true.", 'invalid_value', 'stream_options');
            if (typeof b.stream_options !== 'object' || Array.isArray(b.stream_options)) throw invalid("Invalid type for 'stream_options'.", 'invalid_type', 'stream_options');
            includeUsage = optBool(b.stream_options as Record<string, unknown>, 'include_usage', 'stream_options.include_usage') ?? false;
        }
        const n = optInt(b, 'n', 1);
        if (n !== undefined && n !== 1) throw invalid("'n' must be 1: this backend generates one choice.", 'invalid_value', 'n');
        const maxTokens = kind === 'chat' ? (optInt(b, 'max_completion_tokens', 1) ?? optInt(b, 'max_tokens', 1)) : optInt(b, 'max_tokens', 0);

        let promptWords: string[];
        let echoWords: string[];
        if (kind === 'chat') {
            if (b.messages === undefined) throw invalid("Missing required parameter: 'messages'.", 'missing_required_parameter', 'messages');
            if (!Array.isArray(b.messages) || b.messages.length === 0) throw invalid("'messages' must be a non-empty array.", 'invalid_value', 'messages');
            const texts = b.messages.map((m, i) => messageText(m, i));
            promptWords = texts.flatMap((t) => words(t.text));
            const lastUser = [...texts].reverse().find((t) => t.role === 'user');
            echoWords = lastUser ? words(lastUser.text) : [];
        } else {
            if (b.prompt === undefined) throw invalid("Missing required parameter: 'prompt'.", 'missing_required_parameter', 'prompt');
            let prompt: string;
            if (typeof b.prompt === 'string') prompt = b.prompt;
            else if (Array.isArray(b.prompt) && b.prompt.length === 1 && typeof b.prompt[0] === 'string') prompt = b.prompt[0];
            else throw invalid("'prompt' must be a string (or an array of exactly one string).", 'invalid_type', 'prompt');
            promptWords = words(prompt);
            echoWords = promptWords;
            if (optBool(b, 'echo')) throw invalid("'echo' is not supported by this backend.", 'invalid_value', 'echo');
        }

        const promptTokens = promptWords.length;
        const room = model.contextLength - promptTokens;
        if (room < 0) throw invalid(`This model's maximum context length is ${model.contextLength} tokens; the prompt has ${promptTokens}.`, 'context_length_exceeded', 'messages');
        if (maxTokens !== undefined && maxTokens > room)
            throw invalid(
                `This model's maximum context length is ${model.contextLength} tokens; you requested ${promptTokens + maxTokens} (${promptTokens} in the prompt, ${maxTokens} for the completion).`,
                'context_length_exceeded',
                'max_tokens',
            );
        const natural = [...echoWords, ...FILLER];
        const limit = Math.min(maxTokens ?? room, room);
        const output = natural.slice(0, limit);
        const finishReason = output.length < natural.length ? 'length' : 'stop';
        return { kind, model, stream, includeUsage, promptTokens, output, finishReason };
    }

    private usage(g: Generation) {
        const prompt = this.faults.lyingUsage?.promptTokens ?? g.promptTokens;
        const completion = this.faults.lyingUsage?.completionTokens ?? g.output.length;
        return {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: { cached_tokens: 0 },
            completion_tokens_details: { reasoning_tokens: 0 },
        };
    }

    private async respond(res: ServerResponse, g: Generation): Promise<void> {
        for (let i = 0; i < g.output.length; i++) await this.delay();
        if (this.faults.stallAfterChunks !== undefined) return this.silence(res);
        if (this.faults.dropAfterChunks !== undefined) {
            res.destroy();
            return;
        }
        const id = newId(g.kind);
        const created = this.now();
        const text = g.output.join(' ');
        if (g.kind === 'chat') {
            sendJson(res, 200, {
                id,
                object: 'chat.completion',
                created,
                model: g.model.id,
                choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: g.finishReason }],
                usage: this.usage(g),
                system_fingerprint: null,
            });
        } else {
            sendJson(res, 200, {
                id,
                object: 'text_completion',
                created,
                model: g.model.id,
                choices: [{ index: 0, text, logprobs: null, finish_reason: g.finishReason }],
                usage: this.usage(g),
                system_fingerprint: null,
            });
        }
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
        const extra = g.includeUsage ? { usage: null } : {};
        const chat = (delta: Record<string, unknown>, finish: string | null) => ({
            id,
            object: 'chat.completion.chunk',
            created,
            model: g.model.id,
            system_fingerprint: null,
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
            ...extra,
        });
        const text = (t: string, finish: string | null) => ({
            id,
            object: 'text_completion',
            created,
            model: g.model.id,
            system_fingerprint: null,
            choices: [{ index: 0, text: t, logprobs: null, finish_reason: finish }],
            ...extra,
        });
        if (g.kind === 'chat' && !(await event(chat({ role: 'assistant', content: '', refusal: null }, null)))) return;
        for (let i = 0; i < g.output.length; i++) {
            await this.delay();
            const piece = (i === 0 ? '' : ' ') + g.output[i];
            if (!(await event(g.kind === 'chat' ? chat({ content: piece }, null) : text(piece, null)))) return;
        }
        if (!(await event(g.kind === 'chat' ? chat({}, g.finishReason) : text('', g.finishReason)))) return;
        if (g.includeUsage) {
            const base = g.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
            if (!(await event({ id, object: base, created, model: g.model.id, system_fingerprint: null, choices: [], usage: this.usage(g) }))) return;
        }
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

function optBool(o: Record<string, unknown>, key: string, param = key): boolean | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw invalid(`Invalid type for '${param}': expected a boolean.`, 'invalid_type', param);
    return v;
}

function optInt(o: Record<string, unknown>, key: string, min: number): number | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(`Invalid type for '${key}': expected an integer.`, 'invalid_type', key);
    if (v < min) throw invalid(`Invalid '${key}': must be at least ${min}.`, 'invalid_value', key);
    return v;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** A message's text: string content, or the concatenation (with spaces) of its text parts. */
function messageText(m: unknown, i: number): { role: string; text: string } {
    const param = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalid(`Invalid type for '${param}': expected an object.`, 'invalid_type', param);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role)) throw invalid(`Invalid value for '${param}.role'.`, 'invalid_value', `${param}.role`);
    if (content === undefined || content === null) {
        if (role === 'assistant') return { role, text: '' };
        throw invalid(`Missing required parameter: '${param}.content'.`, 'missing_required_parameter', `${param}.content`);
    }
    if (typeof content === 'string') return { role, text: content };
    if (Array.isArray(content)) {
        const parts = content.map((p, j) => {
            const pp = p as Record<string, unknown>;
            if (typeof p !== 'object' || p === null || pp.type !== 'text' || typeof pp.text !== 'string')
                throw invalid(`Invalid value for '${param}.content[${j}]': only text parts are supported.`, 'invalid_value', `${param}.content[${j}]`);
            return pp.text;
        });
        return { role, text: parts.join(' ') };
    }
    throw invalid(`Invalid type for '${param}.content'.`, 'invalid_type', `${param}.content`);
}
