// One request's state machine (spec/client.md, "Requests: sealed vs plain" and "Response handling"): validate the
// body, seal it to a verified candidate (sealed) or send it plain, then read response_start → response_chunk… →
// response_end, check the receipt and hand the cost to payments. A retryable refusal before response_start re-seals
// to the next candidate, at most MAX_ATTEMPTS times.
import { CocoonError } from '../core/errors';
import { HpkeError, ResponseOpener, ResponseSecret } from '../core/hpke';
import { contentBytes, MAX_CHOICES } from '../core/metering';
import { PricingError, TokenUsage, usageFromOpenAI } from '../core/pricing';
import { Receipt, receiptWorkerKey } from '../core/receipt';
import { clientRefusal, encodeFrame, MAX_REQUEST_TOKENS, openChunkFrame, openStartFrame, RequestFrame, ResponseChunkFrame, ResponseEndFrame, WireError } from '../core/wire';
import { Model } from '../../wrappers/Root';
import type { Log } from '../core/log';
import type { Candidates, VerifiedCandidate } from './candidates';
import { ClientError } from './errors';
import type { Payments } from './payments';
import type { InFrame, ProxyConnection } from './proxy-connection';
import { DONE, Queue } from './queue';
import type { Privacy } from './runner';
import { errMsg, newId } from './util';

export type Endpoint = 'chat' | 'completions';

export type ClientEvent =
    | { type: 'start'; status: number; headers: Record<string, string>; requestId: string; worker?: string }
    | { type: 'chunk'; data: string }
    | { type: 'end'; usage: TokenUsage; cost: bigint; receipt: Receipt; worker: string; requestId: string; cumulative: bigint };

export interface RequestArgs {
    endpoint: Endpoint;
    /** The OpenAI request body (model, messages / prompt, stream, …). */
    body: Record<string, unknown>;
    signal?: AbortSignal;
    /** This request's price cap: at most the client's maxCoefficient (CONFIG_INVALID above it). */
    maxCoefficient?: bigint;
}

const MAX_ATTEMPTS = 3;

/** What a running request asks of its runner. */
export interface RequestHost {
    privacy: Privacy;
    maxCoefficient: bigint;
    requestTimeoutMs: number;
    log: Log;
    /** The connection after hello (connecting if needed). */
    connect: () => Promise<ProxyConnection>;
    getModel: (name: string) => Promise<Model | undefined>;
    /** Sealed mode: the request sealed to the first verified candidate of the model not in `tried` (candidates.ts). */
    seal: Candidates['seal'];
    payments: Pick<Payments, 'remember' | 'forget' | 'verifyEnd' | 'receiptLimits' | 'accept'>;
    /** A receipt verified and paid. */
    receiptPaid: (r: Receipt) => void;
    /** Holds the request's worst case for the automatic top-up (top-up.ts) until the returned release is called. */
    reserve?: (model: Model, maxTokens: number) => Promise<() => void>;
}

/** A retryable refusal before response_start (sealed mode re-seals to the next candidate). */
class RetryBeforeStart extends Error {
    constructor(readonly error: ClientError) {
        super(error.message);
    }
}

export class RunningRequest {
    private model!: Model;
    private name = '';
    private stream = false;
    /** `n`: the completion budget (the frame's maxTokens) covers all choices. */
    private choices = 1;
    /** The current attempt: its connection, its frame and the candidate it was sealed to. */
    private conn!: ProxyConnection;
    private frame!: RequestFrame;
    private target?: VerifiedCandidate;
    private started = false;
    /** A 4xx/5xx status: the chunks are the error body, and nothing is paid. */
    private errStatus?: number;
    private errBody: string[] = [];
    private seq = 0;
    /** Usage the response itself reported (a stream's usage chunk, or the body's usage). */
    private reported?: TokenUsage;
    private body: string[] = [];
    /** UTF-8 bytes of generated text received (metering.contentBytes), counted after unsealing. */
    private bytes = 0;
    /** Router-blind: the opener keyed by the response_start (its salt, status and headers). */
    private opener?: ResponseOpener;
    /** Router-blind: the start event, held back until the first chunk authenticates the response_start. */
    private pendingStart?: ClientEvent;

    constructor(
        private readonly host: RequestHost,
        private readonly args: RequestArgs,
        private readonly events: Queue<ClientEvent>,
        private readonly signal: AbortSignal,
    ) {}

    /** Validates, then runs attempts until one ends (paid) or fails; the events go to `events`. */
    async run(): Promise<void> {
        const { endpoint, body } = this.args;
        if (endpoint !== 'chat' && endpoint !== 'completions') throw new ClientError('CONFIG_INVALID', "endpoint must be 'chat' or 'completions'", { key: 'endpoint', param: 'endpoint' });
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ClientError('CONFIG_INVALID', 'body must be a JSON object', { key: 'body', param: 'body' });
        if (typeof body.model !== 'string' || body.model.length === 0) throw new ClientError('CONFIG_INVALID', "body.model must be a model name", { key: 'body.model', param: 'model' });
        if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw new ClientError('CONFIG_INVALID', 'body.stream must be a boolean', { key: 'body.stream', param: 'stream' });
        const name = body.model;
        const model = await this.host.getModel(name);
        if (!model) throw new ClientError('MODEL_NOT_FOUND', `The model '${name}' is not registered in Root`, { param: 'model' });
        this.model = model;
        this.name = name;
        this.stream = body.stream === true;
        const cap = this.args.maxCoefficient ?? this.host.maxCoefficient;
        if (typeof cap !== 'bigint' || cap < 0n || cap > this.host.maxCoefficient)
            throw new ClientError('CONFIG_INVALID', `maxCoefficient must be 0..${this.host.maxCoefficient} (the client's cap): a request may lower it, never raise it`, { key: 'maxCoefficient' });
        this.choices = requestedChoices(body);
        const fields = { model: name, endpoint, stream: this.stream, maxTokens: requestedMaxTokens(body, model, this.choices), maxCoefficient: cap };
        const tried = new Set<string>();
        let last: ClientError | undefined;
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            if (this.signal.aborted) throw new ClientError('CANCELLED', 'the request was aborted');
            const conn = await this.host.connect();
            const id = newId();
            let frame: RequestFrame;
            let secret: ResponseSecret | undefined;
            let target: VerifiedCandidate | undefined;
            try {
                if (this.host.privacy === 'sealed') {
                    ({ frame, secret, target } = await this.host.seal(tried, { id, ...fields }, body, conn.version));
                } else {
                    frame = { type: 'request', v: conn.version!, id, ...fields, body };
                    encodeFrame(frame, 'client_to_proxy'); // a bad body is our caller's error, not a dropped connection
                }
            } catch (e) {
                if (e instanceof WireError) throw new ClientError('CONFIG_INVALID', `request does not fit the wire: ${e.message}`, {
                    key: (e.details?.path as string | undefined) ?? 'body',
                    param: (e.details?.path as string | undefined) ?? null,
                });
                throw e;
            }
            try {
                await this.exchange(conn, frame, secret, target);
                return;
            } catch (e) {
                if (!(e instanceof RetryBeforeStart)) throw e;
                last = e.error;
                if (this.host.privacy !== 'sealed') throw e.error;
                if (target) tried.add(target.keyId);
                this.host.log('client.reseal', { id, code: e.error.wireCode, attempt });
            }
        }
        throw last ?? new ClientError('NO_WORKER', 'no worker answered');
    }

    /** One attempt: send, then run the response state machine until response_end (paid) or an error. */
    private async exchange(conn: ProxyConnection, frame: RequestFrame, secret: ResponseSecret | undefined, target: VerifiedCandidate | undefined): Promise<void> {
        this.conn = conn;
        this.frame = frame;
        this.target = target;
        this.started = false;
        this.errStatus = undefined;
        this.errBody = [];
        this.seq = 0;
        this.reported = undefined;
        this.body = [];
        this.bytes = 0;
        this.opener = undefined;
        this.pendingStart = undefined;
        const id = frame.id;
        const frames = new Queue<InFrame>();
        const events = this.events;
        let cancelled = false;
        const cancel = () => {
            if (cancelled) return;
            cancelled = true;
            try {
                conn.send({ type: 'cancel', v: conn.version!, id });
            } catch {
                /* connection gone: nothing to cancel */
            }
        };
        const onAbort = () => {
            cancel();
            events.fail(new ClientError('CANCELLED', 'the request was cancelled', { requestId: id }));
        };
        const release = (await this.host.reserve?.(this.model, frame.maxTokens)) ?? (() => undefined);
        conn.requests.set(id, frames);
        this.host.payments.remember(id, { model: this.model, name: this.name, target, maxTokens: BigInt(frame.maxTokens) });
        this.signal.addEventListener('abort', onAbort);
        const timeoutMs = this.host.requestTimeoutMs;
        try {
            conn.send(frame);
            for (;;) {
                let f: InFrame | typeof DONE;
                try {
                    f = await frames.next(timeoutMs, () => new ClientError('TIMEOUT', `no answer for request ${id} within ${timeoutMs} ms`, { requestId: id }));
                } catch (e) {
                    if (e instanceof ClientError && e.code === 'TIMEOUT') cancel();
                    if (e instanceof ClientError && e.code === 'PROXY_UNREACHABLE' && this.started) throw new ClientError('WORKER_LOST', `connection lost mid-response: ${e.message}`, { requestId: id });
                    throw e;
                }
                if (f === DONE) throw new ClientError('PROTOCOL_ERROR', 'request stream ended without response_end');
                switch (f.type) {
                    case 'response_start':
                        if (this.started) throw this.fault(id, 'second response_start');
                        this.started = true;
                        if (secret) {
                            // The key binds status and headers: they count only once the first chunk opened.
                            try {
                                this.opener = openStartFrame(secret, f);
                            } catch (e) {
                                throw this.fault(id, `response_start: ${errMsg(e)}`, (e as CocoonError).code);
                            }
                        } else if (f.salt !== undefined) throw this.fault(id, 'a sealed response_start in a plain response', 'WIRE_BAD_FIELD');
                        if (f.status >= 400) this.errStatus = f.status;
                        else {
                            const start: ClientEvent = { type: 'start', status: f.status, headers: { ...f.headers } as Record<string, string>, requestId: id, worker: target?.workerKey.toString('hex') };
                            if (this.opener) this.pendingStart = start;
                            else events.push(start);
                        }
                        break;
                    case 'response_chunk':
                        this.onChunk(id, f);
                        break;
                    case 'response_end':
                        await this.onEnd(f);
                        return;
                    case 'response_error':
                    case 'error': {
                        this.host.payments.forget(id); // refused or failed: nothing is charged for it
                        const retryable = f.type === 'response_error' ? f.retryable : false;
                        const err = wireRefusal(f.code, f.message, retryable, this.started);
                        if (!this.started && retryable) throw new RetryBeforeStart(err);
                        if (this.errStatus !== undefined) throw upstream(this.errStatus, this.errBody);
                        throw err;
                    }
                    default:
                        throw this.fault(id, `unexpected ${f.type}`);
                }
            }
        } finally {
            release();
            conn.requests.delete(id);
            this.signal.removeEventListener('abort', onAbort);
        }
    }

    private onChunk(id: string, f: ResponseChunkFrame): void {
        if (!this.started) throw this.fault(id, 'response_chunk before response_start');
        if (f.seq !== this.seq) throw this.fault(id, `chunk seq ${f.seq}, expected ${this.seq}`);
        this.seq++;
        let data: string;
        try {
            if (this.opener) data = openChunkFrame(this.opener, f);
            else if (f.data !== undefined) data = f.data;
            else throw new WireError('WIRE_BAD_FIELD', 'sealed chunk in a plain response', { path: 'sealed' });
        } catch (e) {
            throw this.fault(id, `chunk ${f.seq}: ${errMsg(e)}`, (e as CocoonError).code);
        }
        if (this.pendingStart) {
            // The first chunk opened under the key that binds response_start: its status and headers are the worker's.
            this.events.push(this.pendingStart);
            this.pendingStart = undefined;
        }
        if (this.errStatus !== undefined) {
            this.errBody.push(data);
            return;
        }
        if (data.length === 0) return; // a sealed response's empty final chunk carries nothing
        if (!this.stream) {
            this.body.push(data);
            this.events.push({ type: 'chunk', data });
            return;
        }
        // A stream's chunk carries one or more OpenAI chunk objects joined by '\n' (spec/wire.md, "Coalesced
        // chunks"): each is one event for the app, in order, and its text is counted by itself.
        for (let i = 0; i < data.length; ) {
            let j = data.indexOf('\n', i);
            if (j < 0) j = data.length;
            const one = i === 0 && j === data.length ? data : data.slice(i, j);
            i = j + 1;
            if (one.length === 0) continue;
            const ev = textAndUsage(one, true);
            this.bytes += ev.bytes;
            if (ev.usage) this.reported = ev.usage;
            this.events.push({ type: 'chunk', data: one });
        }
    }

    private async onEnd(f: ResponseEndFrame): Promise<void> {
        if (!this.started) throw this.fault(f.id, 'response_end before response_start');
        if (this.opener) {
            try {
                this.opener.finish();
            } catch (e) {
                throw this.fault(f.id, errMsg(e), (e as HpkeError).code, true);
            }
        }
        // An error status is never paid for: honest workers answer errors with response_error, never a 4xx/5xx start.
        if (this.errStatus !== undefined) {
            this.host.log('client.error-status-unpaid', { id: f.id, status: this.errStatus });
            throw upstream(this.errStatus, this.errBody);
        }
        if (!this.stream) {
            const b = textAndUsage(this.body.join(''), false);
            this.reported = b.usage;
            this.bytes = b.bytes;
        }
        // Attack 11: the receipt must fit maxTokens, the context, the text we received ourselves, and the cost cap.
        const receipt = await this.checkReceipt(f, this.host.payments.receiptLimits(this.model, this.frame.maxTokens, this.bytes, this.choices, this.frame.maxCoefficient));
        // The response is the app's as soon as its receipt checks out; signing, persisting and sending the voucher
        // that covers it runs behind (serialised, persisted before sent), so no fsync sits on the response path.
        // `cumulative` is the voucher amount that covers this response.
        const cumulative = this.host.payments.accept(f.id, receipt.cost);
        this.host.receiptPaid(receipt);
        if (f.partial) {
            // Cut short (broken backend): the prompt and the tokens streamed are paid; the app learns it is incomplete.
            throw new ClientError('WORKER_LOST', `the response was cut short after ${receipt.usage.completion} tokens; those and the prompt were billed`, { requestId: f.id, partial: true });
        }
        this.events.push({ type: 'end', usage: receipt.usage, cost: receipt.cost, receipt, worker: receiptWorkerKey(receipt).toString('hex'), requestId: f.id, cumulative });
        this.events.end();
    }

    /** A protocol violation on this request: cancel it; with `drop`, also drop the proxy connection. */
    private fault(id: string, message: string, code?: string, drop = false): ClientError {
        const err = new ClientError('PROTOCOL_ERROR', `request ${id}: ${message}`, { requestId: id, ...(code ? { wireCode: code } : {}) });
        this.host.log('client.response-refused', { id, code, message });
        try {
            this.conn.send({ type: 'cancel', v: this.conn.version!, id });
        } catch {
            /* gone */
        }
        if (drop) this.conn.drop(new ClientError('PROXY_UNREACHABLE', 'connection dropped: the proxy relayed a broken response', { reason: code ?? 'PROTOCOL_ERROR' }));
        return err;
    }

    /**
     * The receipt under the key of a worker we verified: sealed = the candidate we sealed to; plain = any verified
     * candidate for the model (the list is refreshed once for an unknown key). Failure: RECEIPT_INVALID, the
     * connection is dropped, no voucher.
     */
    private async checkReceipt(f: ResponseEndFrame, limits: ReturnType<Payments['receiptLimits']>): Promise<Receipt> {
        try {
            return await this.host.payments.verifyEnd(f, { model: this.model, name: this.name, target: this.target }, this.reported, limits);
        } catch (e) {
            const reason = e instanceof CocoonError ? e.code : 'RECEIPT_MALFORMED';
            const err = new ClientError('RECEIPT_INVALID', `receipt for ${f.id} refused: ${errMsg(e)}`, { reason, requestId: f.id });
            this.host.log('client.receipt-refused', { id: f.id, reason, message: errMsg(e) });
            // Other requests on this connection see a lost connection, not someone else's receipt failure.
            this.conn.drop(new ClientError('PROXY_UNREACHABLE', 'connection dropped: the proxy relayed an invalid receipt', { reason: 'RECEIPT_INVALID' }));
            throw err;
        }
    }
}

/**
 * CocoonClient.request(): runs one RunningRequest and yields its events. Breaking out of the loop or aborting
 * `args.signal` aborts it (the request sends `cancel`).
 */
export async function* requestEvents(host: RequestHost, args: RequestArgs): AsyncGenerator<ClientEvent, void, undefined> {
    const events = new Queue<ClientEvent>();
    const ctrl = new AbortController();
    const onOuterAbort = () => ctrl.abort();
    if (args.signal?.aborted) throw new ClientError('CANCELLED', 'the request was aborted before it was sent');
    args.signal?.addEventListener('abort', onOuterAbort);
    const running = new RunningRequest(host, args, events, ctrl.signal);
    const driver = running.run().catch((e: unknown) => {
        events.fail(e instanceof ClientError ? e : new ClientError('PROTOCOL_ERROR', errMsg(e)));
    });
    try {
        for (;;) {
            const ev = await events.next();
            if (ev === DONE) return;
            yield ev;
        }
    } finally {
        args.signal?.removeEventListener('abort', onOuterAbort);
        ctrl.abort();
        void driver;
    }
}

/** A response_error / error frame for a request as a ClientError: the code the registry names (agents/core/wire/codes.ts). */
function wireRefusal(code: string, message: string, retryable: boolean, started: boolean): ClientError {
    return new ClientError(clientRefusal(code, started), message, { wireCode: code, retryable });
}

/** `n` when an integer in 1..MAX_CHOICES, else 1 (the worker refuses any other n, naming it). */
function requestedChoices(body: Record<string, unknown>): number {
    const n = body.n;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 && n <= MAX_CHOICES ? n : 1;
}

/**
 * The frame's maxTokens: the completion budget of all `choices` (spec/openai.md, "n") = n × (max_tokens /
 * max_completion_tokens when a valid positive integer, else the model's context length), at most MAX_REQUEST_TOKENS
 * (the worker validates the body and refuses n × max_tokens above it).
 */
function requestedMaxTokens(body: Record<string, unknown>, model: Model, choices: number): number {
    const v = body.max_completion_tokens ?? body.max_tokens;
    const each = typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= MAX_REQUEST_TOKENS ? v : Number(model.contextLength);
    return Math.max(1, Math.min(MAX_REQUEST_TOKENS, each * choices));
}

/**
 * A stream event's (or a non-streamed body's) generated-text bytes and its usage, if it parses and has one.
 * A stream's usage chunk must be valid (PROTOCOL_ERROR otherwise); a body's invalid usage counts as none.
 */
function textAndUsage(text: string, strict: boolean): { bytes: number; usage?: TokenUsage } {
    let o: unknown;
    try {
        o = JSON.parse(text);
    } catch {
        return { bytes: 0 };
    }
    const bytes = contentBytes(o);
    const u = (o as { usage?: unknown } | null)?.usage;
    if (!u || typeof u !== 'object') return { bytes };
    try {
        return { bytes, usage: usageFromOpenAI(u) };
    } catch (e) {
        if (strict && e instanceof PricingError) throw new ClientError('PROTOCOL_ERROR', `stream usage: ${e.message}`);
        if (strict) throw e;
        return { bytes };
    }
}

function upstream(status: number, parts: string[]): ClientError {
    const text = parts.join('');
    let body: unknown;
    try {
        body = JSON.parse(text);
    } catch {
        body = undefined;
    }
    const msg = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    return new ClientError('UPSTREAM_ERROR', typeof msg === 'string' ? msg : `backend answered HTTP ${status}`, { status, body });
}
