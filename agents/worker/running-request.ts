// One request's state machine (spec/worker.md, "Request handling"): open/validate → backend → start/chunks → end |
// error. A RunningRequest sees the worker only through RequestHost and its proxy connection only through
// RequestPeer; it reports how it ended to the counters (stats.ts).
import type { WebSocket } from 'ws';
import type { Clock, SleepClock } from '../core/clock';
import { chainSeconds } from '../core/chain/trust-clock';
import { AttestationError } from '../core/tee/types';
import { HpkeError, HpkeKeyPair, ResponseSealer, ResponseSecret } from '../core/hpke';
import { TokenUsage } from '../core/pricing';
import { Frame, MAX_CHUNK_BYTES, openRequestFrame, RequestFrame, sealChunkFrame, sealStartFrame, WireError } from '../core/wire';
import type { Model } from '../../wrappers/Root';
import { modelId } from '../../wrappers/payloads';
import type { Log } from '../core/log';
import type { WorkerModelOffer } from './options';
import { ForwardError, forwardToBackend, meterAndSign, WorkerKeys } from './forward';
import { validateOpenAIRequest, WorkerRequestError } from './openai-request';
import { partialUsage, StreamMeter } from './partial';
import type { RequestCounters } from './stats';
import { since } from '../core/metrics';
import { sendableCode, WorkerSendableCode } from './errors';

/** What a running request needs from the worker (WorkerAgent implements it). */
export interface RequestHost {
    readonly log: Log;
    readonly clock: SleepClock;
    /** The clock of trust: a receipt's issuedAt is chain time (spec/attestation.md "Chain time for money and receipts"). */
    readonly trustClock: Clock;
    /** OpenAI-compatible backend base URL without /v1. */
    readonly backendUrl: string;
    /** Receipt keys (the RA-TLS key). */
    readonly keys: WorkerKeys;
    /** The HPKE key sealed requests are opened with. */
    readonly hpke: HpkeKeyPair;
    /** The model as Root lists it now (prices, context length); undefined when it is not registered. */
    rootModel(name: string): Model | undefined;
    /** Remembers a sealed request's encapsulated key; false when it was opened lately (a replay). */
    rememberSealed(enc: Uint8Array): boolean;
}

/** What a running request needs from the proxy connection it arrived on (ProxyConnection implements it). */
export interface RequestPeer {
    /** The proxy's address (raw), for logs. */
    readonly raw: string;
    /** The protocol version negotiated on the connection. */
    readonly version: number;
    /** The model's offer the proxy routed this connection's requests at (live admin may change it: offers.ts). */
    offer(model: string): WorkerModelOffer | undefined;
    /** Sends a frame on `ws` if it is still open; false if the frame was dropped. */
    sendOn(ws: WebSocket, f: Frame): boolean;
    /** Like sendOn, but waits for the socket to drain first when much is queued (streaming backpressure). */
    sendFlow(ws: WebSocket, f: Frame): Promise<boolean>;
}

/** Splits text into pieces of at most `maxBytes` UTF-8 bytes without cutting a character. */
export function splitUtf8(text: string, maxBytes: number = MAX_CHUNK_BYTES): string[] {
    const out: string[] = [];
    let start = 0;
    while (start < text.length) {
        let end = Math.min(text.length, start + maxBytes);
        while (end > start + 1 && Buffer.byteLength(text.slice(start, end), 'utf8') > maxBytes) end = Math.max(start + 1, start + Math.floor((end - start) * 0.9));
        // never split a surrogate pair
        const c = text.charCodeAt(end - 1);
        if (end < text.length && end - 1 > start && c >= 0xd800 && c <= 0xdbff) end--;
        out.push(text.slice(start, end));
        start = end;
    }
    return out.length > 0 ? out : [''];
}

export class RunningRequest {
    private readonly abort = new AbortController();
    private cancelled = false;
    private detached = false;
    private started = false;
    private seq = 0;
    /** Router-blind mode: the response secret of the opened request, then the sealer once response_start is out. */
    private secret: ResponseSecret | null = null;
    private sealer: ResponseSealer | null = null;
    /** Generated-text events relayed so far (billed by a partial receipt if the stream ends early). */
    private readonly meter = new StreamMeter();
    /**
     * Stream events waiting to leave as ONE chunk frame (spec/wire.md, "Coalesced chunks"): everything the backend
     * delivered in one event-loop turn, joined by '\n', at most MAX_CHUNK_BYTES (UTF-16 units plain, UTF-8 bytes sealed).
     */
    private batch: string[] = [];
    private batchSize = 0;
    private flushTimer: NodeJS.Immediate | null = null;
    /** The chunk frames built so far, sent in order (each waits for the socket to drain when much is queued). */
    private sending: Promise<unknown> = Promise.resolve();
    /** A batch that could not be built (sealing failed): the stream stops with BACKEND_BAD_RESPONSE. */
    private batchFailure: unknown = null;
    /** When the request arrived, and how long until its response began (metrics: the backend hop). */
    private readonly t0 = performance.now();
    private firstByteMs?: number;

    constructor(
        private readonly host: RequestHost,
        private readonly counters: RequestCounters,
        private readonly link: RequestPeer,
        readonly ws: WebSocket,
        private readonly f: RequestFrame,
    ) {}

    /** The client cancelled: stop the backend; the request still ends with response_end (usage known) or an error. */
    cancel(): void {
        this.cancelled = true;
        this.abort.abort();
    }

    /** The connection is gone: stop the backend, nothing more can be sent. */
    detach(): void {
        this.detached = true;
        this.abort.abort();
    }

    async run(): Promise<void> {
        try {
            await this.serve();
        } catch (e) {
            this.host.log('request.internal-error', { peer: this.link.raw, id: this.f.id, message: (e as Error).message });
            this.error('INTERNAL', 'internal worker error', true);
        }
    }

    private async serve(): Promise<void> {
        const f = this.f;
        // The receipt will carry chain time: without it the backend's work could not be billed, so it does not start.
        if (chainSeconds(this.host.trustClock) === null) return this.error('WORKER_NO_CHAIN_TIME', 'the worker has no chain time to sign a receipt with', true);
        const offer = this.link.offer(f.model);
        if (!offer) return this.error('REQUEST_MODEL_MISMATCH', `this worker does not serve ${f.model}`, true);
        // Prices and context length as Root has them now (the cached config the poller keeps fresh).
        const model = this.host.rootModel(f.model);
        if (!model) return this.error('MODEL_NOT_REGISTERED', `model ${f.model} is not registered in Root`, false);
        if (offer.coefficient > f.maxCoefficient) return this.error('REQUEST_PRICE_CAP', `coefficient ${offer.coefficient} exceeds maxCoefficient ${f.maxCoefficient}`, true);

        let body: unknown = f.body;
        if (f.sealed) {
            try {
                const opened = await openRequestFrame(this.host.hpke, f);
                // Checked once the encapsulation authenticated, so only a real (replayed) request can be refused.
                if (!this.host.rememberSealed(opened.enc)) return this.error('HPKE_REPLAYED', 'sealed request refused (HPKE_REPLAYED)', false);
                body = opened.body;
                this.secret = opened.response;
            } catch (e) {
                if (e instanceof HpkeError) return this.error(e.code, `sealed request refused (${e.code})`, e.code === 'HPKE_KEY_MISMATCH');
                if (e instanceof WireError) return this.error('REQUEST_INVALID_BODY', 'sealed request refused (REQUEST_INVALID_BODY)', false);
                throw e;
            }
        }
        const contextLength = model.contextLength > 0x7fff_ffffn ? 0x7fff_ffff : Number(model.contextLength);
        let v;
        try {
            v = validateOpenAIRequest(f.endpoint, body, { model: f.model, contextLength });
        } catch (e) {
            if (!(e instanceof WorkerRequestError)) throw e;
            // In sealed mode the message travels in the clear: keep it to the code and the field name.
            const msg = this.secret ? `request refused (${e.code}${e.param ? `: '${e.param}'` : ''})` : e.message;
            return this.error(e.code, msg, e.code === 'REQUEST_MODEL_MISMATCH');
        }
        // The frame's maxTokens is the completion budget of all n choices the client (and the proxy's credit check)
        // agreed to (spec/openai.md, "n"): n × max_tokens must fit it; without max_tokens each choice gets its share.
        // (Sealed: n stays out of the message, which travels in the clear.)
        const overBudget = (why: string) => this.error('REQUEST_MAX_TOKENS', this.secret ? "request refused (REQUEST_MAX_TOKENS: 'max_tokens')" : why, false);
        if (v.maxTokens !== undefined && v.maxTokens * v.choices > f.maxTokens) return overBudget(`max tokens ${v.maxTokens} × n ${v.choices} exceed the frame's maxTokens ${f.maxTokens}`);
        const share = Math.floor(f.maxTokens / v.choices);
        if (share < 1) return overBudget(`the frame's maxTokens ${f.maxTokens} is below n ${v.choices}`);
        if (v.maxTokens === undefined && share < contextLength) v.body.max_tokens = share;
        if (this.cancelled) return this.error('BACKEND_ABORTED', 'request cancelled', false);

        let result;
        let forwarded = false;
        try {
            try {
                result = await forwardToBackend({
                    backendUrl: this.host.backendUrl,
                    endpoint: f.endpoint,
                    body: v.body,
                    signal: this.abort.signal,
                    onChunk: f.stream ? (data, event) => this.streamEvent(data, event) : undefined,
                    // Attack 11: what we sign never exceeds maxTokens, the context, or the text we actually relayed.
                    bounds: { maxTokens: f.maxTokens, contextLength: model.contextLength, choices: v.choices },
                });
                forwarded = true;
            } finally {
                // A stream that failed: the events already counted go out before response_end / response_error (a
                // complete one leaves its last batch to finish(), which makes it the final chunk when sealed).
                if (!forwarded) this.flushBatch();
            }
            if (this.batchFailure) throw this.batchFailure;
            if (result.claimed) this.host.log('usage.clamped', { peer: this.link.raw, id: f.id, claimed: usageLog(result.claimed), signed: usageLog(result.usage) });
        } catch (e0) {
            const e = this.batchFailure ?? e0;
            await this.sending;
            if (e instanceof ForwardError) {
                // forward.ts: a cancelled or broken stream carries the usage the backend reported, if any; that
                // usage is complete (it is the last event), so it is billed. None, after the stream started: a partial
                // receipt bills the prompt and the tokens already streamed (partial.ts). Nothing streamed: no charge.
                const early = e.code === 'BACKEND_ABORTED' || e.code === 'BACKEND_STREAM_BROKEN';
                if (early && e.usage) return this.finish(e.usage, model, offer.coefficient);
                if (early && this.started && f.stream) return this.finish(partialUsage(f.endpoint, v.body, this.meter, { maxTokens: f.maxTokens, contextLength: model.contextLength, choices: v.choices }), model, offer.coefficient, true);
                return this.error(e.code, this.backendMessage(e), e.code === 'BACKEND_UNREACHABLE' && !this.started);
            }
            if (e instanceof WireError || e instanceof HpkeError) {
                this.abort.abort();
                return this.error('BACKEND_BAD_RESPONSE', 'a response event does not fit in one chunk', false);
            }
            throw e;
        }
        if (!f.stream) {
            this.begin('application/json');
            const pieces = splitUtf8(JSON.stringify(result.json));
            for (let i = 0; i < pieces.length; i++) await this.chunk(pieces[i], i === pieces.length - 1);
        }
        return this.finish(result.usage, model, offer.coefficient);
    }

    private async streamEvent(data: string, event: Record<string, unknown>): Promise<void> {
        // Backpressure: while a frame waits for the socket to drain, the backend is not read.
        await this.sending;
        if (this.batchFailure) throw this.batchFailure;
        this.begin('text/event-stream');
        this.meter.observe(event);
        // '\n' separates the events of a batch: a raw line break in JSON text is whitespace, so a space replaces it.
        const line = data.includes('\n') || data.includes('\r') ? data.replace(/\r\n|[\r\n]/g, ' ') : data;
        const size = this.sealer ? Buffer.byteLength(line, 'utf8') : line.length;
        if (size > MAX_CHUNK_BYTES) throw new WireError('WIRE_TOO_LARGE', `event is ${size} bytes, limit ${MAX_CHUNK_BYTES}`);
        if (this.batch.length > 0 && this.batchSize + 1 + size > MAX_CHUNK_BYTES) this.flushBatch();
        this.batchSize += (this.batch.length > 0 ? 1 : 0) + size;
        this.batch.push(line);
        this.flushTimer ??= setImmediate(() => {
            this.flushTimer = null;
            try {
                this.flushBatch();
            } catch (e) {
                this.batchFailure = e;
                this.abort.abort();
            }
        });
    }

    /** Sends the waiting events as one chunk frame (`final`: the response's last, sent even when empty). */
    private flushBatch(final = false): void {
        if (this.flushTimer) clearImmediate(this.flushTimer);
        this.flushTimer = null;
        if (this.batch.length === 0 && !final) return;
        const data = this.batch.length === 1 ? this.batch[0] : this.batch.join('\n');
        this.batch = [];
        this.batchSize = 0;
        this.queueFrame(data, final);
    }

    private begin(contentType: string): void {
        if (this.started) return;
        this.started = true;
        this.firstByteMs = since(this.t0);
        const start = { id: this.f.id, status: 200, headers: { 'content-type': contentType } };
        if (this.secret) {
            // A fresh salt per response, and the key binds this status and these headers (spec/wire.md).
            const sealed = sealStartFrame(this.secret, start, this.link.version);
            this.sealer = sealed.sealer;
            this.link.sendOn(this.ws, sealed.frame);
        } else this.link.sendOn(this.ws, { type: 'response_start', v: this.link.version, ...start });
    }

    private async chunk(data: string, final: boolean): Promise<void> {
        this.queueFrame(data, final);
        await this.sending;
    }

    /** Builds the next chunk frame now (sealing keeps the order) and sends it after the ones before it. */
    private queueFrame(data: string, final: boolean): void {
        const v = this.link.version;
        const frame: Frame = this.sealer
            ? sealChunkFrame(this.sealer, this.f.id, data, final, v)
            : { type: 'response_chunk', v, id: this.f.id, seq: this.seq, data, ...(final ? { final: true } : {}) };
        this.seq++;
        this.sending = this.sending.then(() => this.link.sendFlow(this.ws, frame));
    }

    /** Seals the final chunk if needed, meters, signs and sends response_end. */
    private async finish(usage: TokenUsage, model: Model, coefficient: bigint, partial = false): Promise<void> {
        this.begin(this.f.stream ? 'text/event-stream' : 'application/json');
        // Router-blind: the last batch is the final chunk (an empty one when nothing is waiting).
        if (this.sealer && !this.sealer.finished) this.flushBatch(true);
        else this.flushBatch();
        await this.sending;
        let m;
        try {
            m = meterAndSign({
                requestId: this.f.id,
                modelId: modelId(this.f.model),
                usage,
                prices: model,
                coefficient,
                workerKeys: this.host.keys,
                clock: this.host.trustClock,
            });
        } catch (e) {
            // chain time lost while the backend ran: the request ends unbilled
            const code = e instanceof AttestationError && e.code === 'CHAIN_TIME_UNAVAILABLE' ? 'WORKER_NO_CHAIN_TIME' : sendableCode(e);
            return this.error(code, `cannot meter the response: ${(e as Error).message}`, false);
        }
        this.link.sendOn(this.ws, { type: 'response_end', v: this.link.version, id: this.f.id, usage, cost: m.cost, receipt: m.receipt, ...(partial ? { partial: true as const } : {}) });
        this.counters.requestServed({ model: this.f.model, usage, firstByteMs: this.firstByteMs, totalMs: since(this.t0) });
        this.host.log('request.served', {
            peer: this.link.raw,
            id: this.f.id,
            model: this.f.model,
            cost: m.cost.toString(),
            tokens: (usage.prompt + usage.cached + usage.completion + usage.reasoning).toString(),
            ...(this.cancelled ? { cancelled: true } : {}),
            ...(this.detached ? { detached: true } : {}),
            ...(partial ? { partial: true } : {}),
        });
    }

    private error(code: WorkerSendableCode, message: string, retryable: boolean): void {
        // Nothing follows the error: events still waiting (a failure mid-stream) are dropped, as they are unbilled.
        if (this.flushTimer) clearImmediate(this.flushTimer);
        this.flushTimer = null;
        this.batch = [];
        this.counters.requestFailed({ model: this.f.model, code, firstByteMs: this.firstByteMs });
        this.host.log('request.failed', { peer: this.link.raw, id: this.f.id, code, ...(this.detached ? { detached: true } : {}) });
        this.link.sendOn(this.ws, { type: 'response_error', v: this.link.version, id: this.f.id, code, message: message.slice(0, 1024), retryable });
    }

    private backendMessage(e: ForwardError): string {
        if (e.code !== 'BACKEND_ERROR') return this.secret ? `backend failed (${e.code})` : e.message;
        const inner = e.body?.error;
        if (this.secret) return `backend answered HTTP ${e.status ?? '?'}${inner?.code ? ` (${inner.code})` : ''}`;
        return `backend answered HTTP ${e.status ?? '?'}${inner?.message ? `: ${inner.message}` : ''}`;
    }
}

function usageLog(u: TokenUsage): Record<string, string> {
    return { prompt: u.prompt.toString(), cached: u.cached.toString(), completion: u.completion.toString(), reasoning: u.reasoning.toString() };
}
