// One request's state machine in the proxy (spec/proxy.md, "Request state machine"): routing → started → streaming
// → booking → ended | failed. It routes the request, relays the worker's frames to the client, holds the request's
// worst case against the client's channel (admission.ts), keeps the worker's deadline, fails over, and books the
// verified receipt before the client sees response_end.
import { CocoonError } from '../core/errors';
import { sealedPlaintextLength } from '../core/hpke';
import { verifyReceipt } from '../core/receipt';
import { blamesWorker, relayed, RelayedCode, Frame, RequestFrame, ResponseChunkFrame, ResponseEndFrame, ResponseErrorFrame, ResponseStartFrame } from '../core/wire';
import { Model } from '../../wrappers/Root';
import type { Log } from '../core/log';
import type { Clock } from '../core/clock';
import type { DeliveryInput } from './ledger';
import { ProxyError, ProxySendableCode } from './errors';
import { Outcome, RoutedWorker, Router } from './router';
import { AdmissionRefusal } from './admission';
import { ProxyLimits } from './guard';
import type { ProxyCounters } from './stats';

// 'booking': the receipt checked out and its delivery is in the ledger's next group commit; response_end follows.
export type RequestPhase = 'routing' | 'started' | 'streaming' | 'booking' | 'ended' | 'failed';

/** What a request needs of the client connection it came on. */
export interface RequestClient {
    readonly id: string;
    readonly version: number;
    readonly channelRaw?: string;
    readonly requests: Map<string, RunningRequest>;
    send(frame: Frame): void;
    sendRaw(text: string): void;
}

/** What a request needs of the worker connection it is routed to. */
export interface RequestWorker {
    readonly id: string;
    readonly version: number;
    readonly channelRaw?: string;
    readonly workerKey: Buffer;
    readonly requests: Map<string, RunningRequest>;
    send(frame: Frame): void;
    sendRaw(text: string): void;
    sendError(code: ProxySendableCode, message: string, fatal: boolean, id?: string): void;
}

/** What a request needs of its runner. */
export interface RequestHost {
    readonly router: Router;
    readonly limits: ProxyLimits;
    readonly counters: ProxyCounters;
    readonly maxFailover: number;
    readonly clock: Clock;
    stopping(): boolean;
    readonly log: Log;
    /** The connection of a routed worker. */
    workerConnection(id: string): RequestWorker | undefined;
    /** Holds `amount` against the channel (admission.ts), or says why not. */
    admit(channel: string, amount: bigint): AdmissionRefusal | null;
    releaseHeld(channel: string, amount: bigint): void;
    /** The request is no longer in flight. */
    forget(id: string): void;
    /** Books the delivery in the ledger's next group commit. */
    book(delivery: DeliveryInput): Promise<void>;
    /** Called right after a booking: the channel's unsigned exposure is noted. */
    noteExposure(channel: string): void;
    /** The crash hook at a named point; true: the proxy crashed. */
    crashAt(point: 'booked', id: string): boolean;
    /** A booked response_end whose connection is gone: sent to another ready connection of the channel, if any. */
    sendToChannel(channel: string, frame: ResponseEndFrame): void;
}

/** One request's state machine: routing → started → streaming → ended | failed. */
export class RunningRequest {
    readonly id: string;
    private readonly sealed: boolean;
    private clientGone = false;
    private worker?: RequestWorker;
    private coefficient?: bigint;
    private readonly tried = new Set<string>();
    private failovers = 0;
    private phase: RequestPhase = 'routing';
    private nextSeq = 0;
    /** Bytes of response payload relayed (plain `data` UTF-8, or sealed plaintext = ciphertext − tag): ≥ the text. */
    private relayedBytes = 0;
    private sentAt = 0;
    private startedAt?: number;
    private cancelled = false;
    /** The part of the worst-case cost (`bound`) currently held against the channel. */
    private held = 0n;
    /** The worker's deadline for its next frame (first byte, idle, cancel grace). */
    private deadline?: NodeJS.Timeout;

    constructor(
        private readonly h: RequestHost,
        private readonly frame: RequestFrame,
        /** The request as the client sent it (forwarded unchanged when the versions agree). */
        private readonly raw: string,
        private readonly client: RequestClient,
        private readonly model: Model,
        private readonly modelId: bigint,
        /** Worst-case cost (admission.ts requestBound). */
        private readonly bound: bigint,
    ) {
        this.id = frame.id;
        this.sealed = frame.sealed !== undefined;
    }

    /** Holds the request's worst case against the credit window and the deposit (agents/proxy/admission.ts). */
    admit(): AdmissionRefusal | null {
        const refusal = this.h.admit(this.client.channelRaw!, this.bound);
        if (!refusal) this.held = this.bound;
        return refusal;
    }

    /** After the channel was re-read: route it, or refuse it now. */
    afterDepositCheck(): void {
        if (this.phase !== 'routing' || this.worker || this.h.stopping()) return;
        if (this.clientGone) return this.drop();
        if (this.cancelled) return this.fail('BACKEND_ABORTED', 'cancelled before it was routed', false, { kind: 'neutral' });
        const refusal = this.admit();
        if (refusal) return this.fail(refusal.code, refusal.message, false, { kind: 'neutral' });
        this.dispatch();
    }

    /** Sends the request to the best worker; with `last` (a failover) a routing failure reports the last error. */
    dispatch(last?: { code: ProxySendableCode | RelayedCode; message: string }): void {
        const f = this.frame;
        const router = this.h.router;
        const w: RoutedWorker | undefined = this.sealed ? router.pickByKeyId(f.sealed!.keyId, f.model, f.maxCoefficient, this.tried) : router.pick(f.model, f.maxCoefficient, this.tried);
        const conn = w ? this.h.workerConnection(w.id) : undefined;
        if (!w || !conn) {
            if (last) return this.fail(last.code, last.message, true, { kind: 'neutral' });
            const code = this.sealed ? router.whyNoneByKeyId(f.sealed!.keyId, f.model, f.maxCoefficient) : router.whyNone(f.model, f.maxCoefficient, this.tried);
            const what = this.sealed ? `worker ${f.sealed!.keyId.slice(0, 16)}…` : `worker for ${f.model} within coefficient ${f.maxCoefficient}`;
            return this.fail(code, code === 'NO_WORKER' ? `no ${what} is connected` : `every ${what} is at capacity`, true, { kind: 'neutral' });
        }
        router.begin(w.id);
        this.worker = conn;
        this.coefficient = w.models.get(f.model)!;
        this.sentAt = this.h.clock.now();
        conn.requests.set(this.id, this);
        if (conn.version === this.client.version) conn.sendRaw(this.raw);
        else conn.send({ ...f, v: conn.version });
        this.armDeadline();
        this.h.log('request.routed', { id: this.id, peer: conn.id, model: f.model, sealed: this.sealed, attempt: this.failovers });
    }

    /** The client cancelled it: cancel at the worker, which must end it within cancelGraceMs. */
    cancel(): void {
        this.cancelled = true;
        if (this.worker) {
            this.worker.send({ type: 'cancel', v: this.worker.version, id: this.id });
            this.armDeadline();
        }
    }

    /** Its client connection closed: cancel at the worker, or forget it if it was not routed. */
    onClientGone(): void {
        this.clientGone = true;
        if (this.worker) {
            this.worker.send({ type: 'cancel', v: this.worker.version, id: this.id });
            this.armDeadline();
        } else this.drop();
    }

    /** Plain requests that failed before response_start move to another worker (at most maxFailover times). */
    private tryFailover(code: ProxySendableCode | RelayedCode, message: string): boolean {
        if (this.sealed || this.phase !== 'routing' || this.cancelled || this.clientGone) return false;
        if (this.failovers >= this.h.maxFailover) return false;
        const worker = this.worker!;
        this.tried.add(worker.id);
        worker.requests.delete(this.id);
        this.worker = undefined;
        this.failovers++;
        this.h.counters.failover();
        this.h.log('request.failover', { id: this.id, from: worker.id, code });
        this.dispatch({ code, message });
        return true;
    }

    /** Its worker connection closed. */
    onWorkerLost(): void {
        if (this.phase === 'booking') return; // delivered: its booking completes and response_end goes out
        const before = this.phase === 'routing';
        if (this.clientGone) return this.drop();
        if (this.tryFailover('WORKER_LOST', 'the worker disconnected')) return;
        this.fail('WORKER_LOST', 'the worker disconnected', before, { kind: 'failure' });
    }

    /**
     * (Re)starts the worker's deadline for its next frame on this request (attack 16: a silent worker held its slot
     * and the client's forever): firstByteTimeoutMs until response_start, idleTimeoutMs between frames after it,
     * cancelGraceMs once the request was cancelled or its client left.
     */
    private armDeadline(): void {
        clearTimeout(this.deadline);
        const l = this.h.limits;
        const [ms, what] =
            this.cancelled || this.clientGone
                ? [l.cancelGraceMs, 'ended the request after its cancel']
                : this.phase === 'routing'
                  ? [l.firstByteTimeoutMs, 'sent response_start']
                  : [l.idleTimeoutMs, 'sent the next frame'];
        this.deadline = setTimeout(() => this.onDeadline(`the worker never ${what} within ${ms} ms`), ms);
        this.deadline.unref();
    }

    /** A deadline passed: cancel at the worker, count a worker failure, free the slot; fail over or tell the client. */
    private onDeadline(message: string): void {
        const worker = this.worker;
        this.deadline = undefined;
        if (!worker || this.phase === 'booking' || this.phase === 'ended' || this.phase === 'failed') return;
        this.h.counters.requestTimedOut();
        this.h.log('request.timeout', { id: this.id, peer: worker.id, phase: this.phase });
        worker.send({ type: 'cancel', v: worker.version, id: this.id });
        if (this.clientGone) {
            this.phase = 'failed';
            return this.release({ kind: 'failure' });
        }
        if (this.phase === 'routing' && !this.sealed && !this.cancelled && this.failovers < this.h.maxFailover) {
            this.h.router.end(worker.id, { kind: 'failure' });
            if (this.tryFailover('WORKER_TIMEOUT', message)) return;
        }
        this.fail('WORKER_TIMEOUT', message, this.phase === 'routing' && !this.cancelled, { kind: 'failure' });
    }

    /** Ends the request with response_error to the client (if still there) and releases the worker slot. */
    fail(code: ProxySendableCode | RelayedCode, message: string, retryable: boolean, outcome: Outcome): void {
        if (this.phase === 'ended' || this.phase === 'failed') return;
        this.phase = 'failed';
        this.release(outcome);
        this.h.counters.failed({ model: this.frame.model, code });
        this.h.log('request.failed', { id: this.id, code, peer: this.worker?.id });
        if (!this.clientGone) this.client.send({ type: 'response_error', v: this.client.version, id: this.id, code, message: message.slice(0, 1024), retryable });
    }

    /** Forgets a request whose client is gone, without telling anyone. */
    drop(): void {
        if (this.phase === 'ended' || this.phase === 'failed') return;
        this.phase = 'failed';
        this.release({ kind: 'neutral' });
    }

    private release(outcome: Outcome): void {
        if (this.held > 0n) this.h.releaseHeld(this.client.channelRaw!, this.held);
        this.held = 0n;
        clearTimeout(this.deadline);
        this.deadline = undefined;
        this.h.forget(this.id);
        this.client.requests.delete(this.id);
        if (this.worker) {
            this.worker.requests.delete(this.id);
            this.h.router.end(this.worker.id, outcome);
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // The worker's frames for this request

    /** A response frame of its worker (`raw`: the frame's text, read only when forwarded unchanged). */
    onWorkerFrame(frame: ResponseStartFrame | ResponseChunkFrame | ResponseEndFrame | ResponseErrorFrame, raw: () => string): void {
        const conn = this.worker!;
        if (this.phase === 'booking') return this.h.log('worker.frame-after-end', { peer: conn.id, id: frame.id, type: frame.type });
        switch (frame.type) {
            case 'response_start':
                if (this.phase !== 'routing') return this.protocolViolation('a second response_start');
                if ((frame.salt !== undefined) !== this.sealed) return this.protocolViolation(this.sealed ? 'a sealed response_start without its salt' : 'a salt in a plain response_start');
                this.phase = 'started';
                this.startedAt = this.h.clock.now();
                this.armDeadline();
                return this.forward(frame, raw);
            case 'response_chunk':
                return this.onChunk(frame, raw);
            case 'response_end':
                return this.onEnd(frame, raw);
            case 'response_error':
                return this.onWorkerError(frame, raw);
        }
    }

    /** Its worker sent a frame about it that does not parse: cancel there and fail it. */
    onBadFrame(code: ProxySendableCode, message: string): void {
        this.worker!.send({ type: 'cancel', v: this.worker!.version, id: this.id });
        this.fail(code, `the worker sent a bad frame: ${message}`, false, { kind: 'failure' });
    }

    private forward(frame: Frame, raw: () => string): void {
        if (this.clientGone) return;
        if (this.client.version === this.worker!.version) this.client.sendRaw(raw());
        else this.client.send({ ...frame, v: this.client.version } as Frame);
    }

    private protocolViolation(what: string): void {
        const conn = this.worker!;
        conn.send({ type: 'cancel', v: conn.version, id: this.id });
        conn.sendError('WIRE_BAD_FIELD', `protocol violation: ${what}`, false, this.id);
        this.fail('WIRE_BAD_FIELD', `the worker broke the protocol: ${what}`, false, { kind: 'failure' });
    }

    private onChunk(f: ResponseChunkFrame, raw: () => string): void {
        if (this.phase === 'routing') return this.protocolViolation('response_chunk before response_start');
        if (f.seq !== this.nextSeq) return this.protocolViolation(`chunk seq ${f.seq}, expected ${this.nextSeq}`);
        if ((f.sealed !== undefined) !== this.sealed) return this.protocolViolation(this.sealed ? 'a plain chunk in a sealed response' : 'a sealed chunk in a plain response');
        this.nextSeq++;
        // No parse on the hot path: the payload's size bounds the text it carries, sealed or not (attack 11).
        this.relayedBytes += f.data !== undefined ? Buffer.byteLength(f.data, 'utf8') : sealedPlaintextLength(f.sealed!.ct);
        this.phase = 'streaming';
        this.armDeadline();
        this.forward(f, raw);
    }

    /** Verify the receipt, book it durably, only then let the client see response_end. */
    private onEnd(f: ResponseEndFrame, raw: () => string): void {
        const conn = this.worker!;
        try {
            const r = verifyReceipt(f.receipt, {
                workerPublicKey: conn.workerKey,
                prices: this.model,
                maxCoefficient: this.coefficient!,
                requestId: BigInt('0x' + this.id),
                modelId: this.modelId,
                usage: f.usage,
                // Attack 11: the request's maxTokens, the context, and the payload bytes relayed (a sound, looser
                // stand-in for the text: JSON envelopes count too; the client counts the text itself).
                bounds: { maxTokens: this.frame.maxTokens, contextLength: this.model.contextLength, streamedBytes: this.relayedBytes },
            });
            if (r.coefficient !== this.coefficient) throw new ProxyError('RECEIPT_INVALID', `receipt coefficient ${r.coefficient} is not the announced ${this.coefficient}`);
            if (r.cost !== f.cost) throw new ProxyError('RECEIPT_INVALID', `response_end cost ${f.cost} differs from the receipt's ${r.cost}`);
        } catch (e) {
            if (!(e instanceof CocoonError)) throw e;
            this.h.counters.receiptRefused();
            this.h.log('receipt.refused', { id: this.id, peer: conn.id, code: e.code, message: e.message });
            this.fail('RECEIPT_INVALID', 'the worker sent an invalid receipt; nothing was charged', false, { kind: 'failure' });
            conn.sendError('RECEIPT_INVALID', `${e.code}: ${e.message}`, true, this.id);
            return;
        }
        const now = this.h.clock.now();
        const outcome: Outcome = { kind: 'success', totalMs: now - this.sentAt, ttfbMs: this.startedAt !== undefined ? this.startedAt - this.sentAt : undefined };
        this.phase = 'booking';
        const delivery = { requestId: this.id, client: this.client.channelRaw!, worker: conn.channelRaw!, modelId: this.modelId, cost: f.cost, receipt: f.receipt };
        this.h.book(delivery).then(
            () => {
                this.h.noteExposure(delivery.client);
                this.phase = 'ended';
                this.release(outcome);
                this.h.counters.served({ model: this.frame.model, usage: f.usage, firstByteMs: outcome.ttfbMs, totalMs: outcome.totalMs });
                if (this.h.crashAt('booked', this.id)) return;
                if (!this.clientGone) return this.forward(f, raw);
                // Its connection is gone: booked all the same (unsettled), and sent to another connection of the same
                // channel if there is one; otherwise it goes out when the client reconnects (resendUnsettled).
                this.h.counters.bookedClientGone();
                this.h.log('delivery.client-gone', { id: this.id, cost: f.cost.toString(), partial: f.partial === true });
                this.h.sendToChannel(delivery.client, f);
            },
            (e: unknown) => {
                const code = e instanceof CocoonError ? e.code : 'UNEXPECTED';
                this.h.log('delivery.refused', { id: this.id, code, message: (e as Error)?.message });
                this.phase = 'streaming';
                this.fail('INTERNAL', `the ledger refused the delivery (${code})`, false, { kind: 'neutral' });
            },
        );
    }

    private onWorkerError(f: ResponseErrorFrame, raw: () => string): void {
        const healthy = !blamesWorker(f.code);
        if (this.phase === 'routing' && f.retryable && this.tryFailoverAfterError(f)) return;
        this.phase = 'failed';
        this.release(healthy ? { kind: 'neutral' } : { kind: 'failure' });
        this.h.counters.failed({ model: this.frame.model, code: f.code });
        this.h.log('request.worker-error', { id: this.id, code: f.code, retryable: f.retryable });
        this.forward(f, raw);
    }

    private tryFailoverAfterError(f: ResponseErrorFrame): boolean {
        const worker = this.worker!;
        if (this.sealed || this.cancelled || this.clientGone || this.failovers >= this.h.maxFailover) return false;
        this.h.router.end(worker.id, blamesWorker(f.code) ? { kind: 'failure' } : { kind: 'neutral' });
        return this.tryFailover(relayed(f.code), f.message);
    }
}
