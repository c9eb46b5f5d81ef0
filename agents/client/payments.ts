// Receipts and vouchers (spec/client.md, "Receipts and the voucher state machine" and "Late receipts").
//
// Money rule (design §8): a voucher is signed only for a receipt that verified (signature under an attested worker
// key, our request id, the model, the usage reported, the coefficient cap, the cost by Root's prices), and it is
// written to the state file before it is sent.
import { Address } from '@ton/core';
import { CocoonError } from '../core/errors';
import { maxRequestCost, UsageBounds } from '../core/metering';
import { TOKEN_KINDS, TokenUsage } from '../core/pricing';
import { decodeReceipt, Receipt, ReceiptError, receiptWorkerKey, SignedReceipt, verifyReceipt } from '../core/receipt';
import { ResponseEndFrame } from '../core/wire';
import { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { Model } from '../../wrappers/Root';
import { modelId, signPayload, voucherPayload } from '../../wrappers/payloads';
import type { Log } from '../core/log';
import type { Clock } from '../core/clock';
import type { VerifiedCandidate } from './candidates';
import type { ProxyConnection } from './proxy-connection';
import { ClientStateStore } from './state';
import { errMsg } from './util';

/** A request sent and not yet paid or refused: what its late receipt is checked against. */
export interface Outstanding {
    model: Model;
    name: string;
    /** Sealed: the worker the request was sealed to. */
    target?: VerifiedCandidate;
    maxTokens: bigint;
}

/** What a receipt for a request may claim (agents/core/metering.ts) and cost (the per-request cap). */
export interface ReceiptLimits {
    bounds: UsageBounds;
    maxCost: bigint;
    /** The request's own price cap (at most the client's). */
    maxCoefficient: bigint;
}

/** Requests kept for late receipts (spec/client.md, "Late receipts"). */
const MAX_OUTSTANDING = 1024;
/**
 * A late receipt that could not be checked (its worker not yet among the attested candidates, or the connection lost
 * meanwhile) is checked again, with a growing delay; it stays outstanding for a later re-send after that.
 */
const LATE_RECEIPT_ATTEMPTS = 8;
const LATE_RECEIPT_RETRY_MS = 250;

export interface PaymentsOptions {
    /** The voucher key (the seed's secret key). */
    secretKey: Buffer;
    maxCoefficient: bigint;
    maxRequestCost: bigint | undefined;
    /** The channel, its proxy and the state file (NOT_OPEN before open()). */
    channel: () => { wrapper: ClientChannelWrapper; proxy: Address; store: ClientStateStore };
    globalId: () => Promise<number>;
    /** The connection, when hello is done and it is up. */
    connection: () => ProxyConnection | undefined;
    /** The verified candidate of a model with this attested key (plain mode's receipt keys). */
    candidate: (model: string, workerKey: Buffer) => Promise<VerifiedCandidate | undefined>;
    stopped: () => boolean;
    /** A late receipt was paid. */
    latePaid: (r: Receipt) => void;
    clock: Clock;
    log: Log;
}

export class Payments {
    private cumulativeValue = 0n;
    private signature: Buffer | null = null;
    private payQueue: Promise<unknown> = Promise.resolve();
    /** Costs accepted (receipt verified) but not yet in a persisted voucher. */
    private unpaid = 0n;
    /**
     * Requests sent and not yet paid or refused (spec/client.md, "Late receipts"): a response_end that arrives after
     * the request was cancelled, or that the proxy re-sends after a reconnect, is verified and paid once — only for an
     * id in here. Bounded (oldest dropped first).
     */
    private readonly outstanding = new Map<string, Outstanding>();

    constructor(private readonly o: PaymentsOptions) {}

    /** The latest signed cumulative voucher (the state file). */
    get cumulative(): bigint {
        return this.cumulativeValue;
    }

    /** Every cost accepted so far, signed or about to be: what the channel owes once the vouchers are out. */
    get committed(): bigint {
        return this.cumulativeValue + this.unpaid;
    }

    /** The state file's record for this channel. */
    load(cumulative: bigint, signature: Buffer | null): void {
        this.cumulativeValue = cumulative;
        this.signature = signature;
    }

    /** After (re)connect: resend our latest voucher if the proxy lacks it. */
    onConnected(conn: ProxyConnection, proxyHas: bigint): void {
        if (proxyHas < this.cumulativeValue && this.signature) {
            this.o.log('client.voucher-resent', { proxyHas: proxyHas.toString(), ours: this.cumulativeValue.toString() });
            this.sendVoucher(conn);
        } else if (proxyHas > this.cumulativeValue) {
            // The proxy holds a voucher above our state file (restored from a backup?). Signing below it would be
            // refused; adopting the proxy's number would trust it with our money. Report it and keep ours.
            this.o.log('client.proxy-voucher-above-state', { proxyHas: proxyHas.toString(), ours: this.cumulativeValue.toString() });
        }
    }

    remember(id: string, o: Outstanding): void {
        this.outstanding.set(id, o);
        for (const old of this.outstanding.keys()) {
            if (this.outstanding.size <= MAX_OUTSTANDING) break;
            this.outstanding.delete(old);
        }
    }

    /** The client left its proxy (failover): late receipts of that proxy's requests are no longer paid from here. */
    forgetAll(): void {
        this.outstanding.clear();
    }

    /** Refused or failed: nothing is charged for it. */
    forget(id: string): void {
        this.outstanding.delete(id);
    }

    isOutstanding(id: string): boolean {
        return this.outstanding.has(id);
    }

    /**
     * A running request's receipt verified: the response is the app's at once; the voucher that covers it is signed,
     * persisted and sent behind. Returns the voucher amount that covers it.
     */
    accept(id: string, cost: bigint): bigint {
        this.outstanding.delete(id); // paid here; a copy the proxy re-sends later is ignored
        this.pay(cost).catch((e: unknown) => this.o.log('client.voucher-failed', { id, message: errMsg(e) }));
        return this.cumulativeValue + this.unpaid;
    }

    /** The receipt of `f` verified for this request; throws ReceiptError. */
    async verifyEnd(f: ResponseEndFrame, ctx: { model: Model; name: string; target?: VerifiedCandidate }, reported: TokenUsage | undefined, limits: ReceiptLimits): Promise<Receipt> {
        let workerKey: Buffer;
        // Parsed once: plain mode needs the claimed key first, and verifyReceipt takes the parsed receipt as it is.
        let signed: SignedReceipt | string = f.receipt;
        if (ctx.target) workerKey = ctx.target.workerKey;
        else {
            signed = decodeReceipt(f.receipt);
            const claimed = receiptWorkerKey(signed.receipt);
            const known = await this.o.candidate(ctx.name, claimed);
            if (!known) throw new ReceiptError('RECEIPT_MISMATCH', `receipt signed by ${claimed.toString('hex')}, which is not an attested worker for ${ctx.name}`, { unknownWorker: true });
            workerKey = known.workerKey;
        }
        const usage: TokenUsage = { prompt: f.usage.prompt, cached: f.usage.cached, completion: f.usage.completion, reasoning: f.usage.reasoning };
        const r = verifyReceipt(signed, {
            workerPublicKey: workerKey,
            prices: ctx.model,
            requestId: BigInt('0x' + f.id),
            modelId: modelId(ctx.name),
            usage,
            ...limits,
        });
        if (r.cost !== f.cost) throw new ReceiptError('RECEIPT_COST_MISMATCH', `response_end cost ${f.cost} != receipt cost ${r.cost}`);
        if (reported && !sameUsage(reported, r.usage)) throw new ReceiptError('RECEIPT_MISMATCH', 'the usage in the response body differs from the receipt');
        return r;
    }

    /** What a receipt for a request may claim (agents/core/metering.ts) and cost (the per-request cap). */
    receiptLimits(model: Model, maxTokens: number | bigint, streamedBytes?: number, choices = 1, maxCoefficient = this.o.maxCoefficient): ReceiptLimits {
        const bounds: UsageBounds = { maxTokens, contextLength: model.contextLength, choices, ...(streamedBytes !== undefined ? { streamedBytes } : {}) };
        const cap = maxRequestCost(model, maxTokens, model.contextLength, maxCoefficient);
        const maxCost = this.o.maxRequestCost !== undefined && this.o.maxRequestCost < cap ? this.o.maxRequestCost : cap;
        return { bounds, maxCost, maxCoefficient };
    }

    /** A response_end for no running request: settled in the background when it is outstanding (true). */
    onLateReceipt(conn: ProxyConnection, f: ResponseEndFrame): boolean {
        if (!this.outstanding.has(f.id)) return false;
        void this.settleLate(conn, f);
        return true;
    }

    /** Pays `cost` for request `id` unless it was paid (or refused) already: one voucher increment per request. */
    private payOnce(id: string, cost: bigint): boolean {
        if (!this.outstanding.delete(id)) return false;
        this.pay(cost).catch((e: unknown) => this.o.log('client.voucher-failed', { id, message: errMsg(e) }));
        return true;
    }

    /**
     * A response_end for a request this client sent whose exchange is over: it was cancelled (the worker billed the
     * prompt and the tokens streamed) or its response was lost to a disconnect or a proxy crash and the proxy re-sent
     * the booked receipt after the reconnect. Verified like any receipt (usage bounds and cost cap included), then
     * paid once. A receipt that does not verify is not paid (the proxy keeps counting it against the credit window).
     */
    private async settleLate(conn: ProxyConnection, f: ResponseEndFrame, attempt = 1): Promise<void> {
        const o = this.outstanding.get(f.id);
        if (!o || this.o.stopped()) return;
        try {
            // Its text may never have reached us (lost to a drop or a crash): bounded by maxTokens, the context and the cap.
            const r = await this.verifyEnd(f, o, undefined, this.receiptLimits(o.model, o.maxTokens));
            if (!this.payOnce(f.id, r.cost)) return;
            this.o.latePaid(r);
            this.o.log('client.late-receipt-paid', { id: f.id, cost: r.cost.toString(), partial: f.partial === true, link: !conn.closed });
        } catch (e) {
            if (!(e instanceof ReceiptError) || e.details?.unknownWorker === true) {
                // Not a verdict on the receipt: the connection went away while we asked for candidates, or (re-sent
                // right after a proxy restart) the worker is not back among them yet. Try again; a later re-send too.
                if (attempt < LATE_RECEIPT_ATTEMPTS) setTimeout(() => void this.settleLate(conn, f, attempt + 1), LATE_RECEIPT_RETRY_MS * attempt).unref?.();
                else this.o.log('client.late-receipt-unchecked', { id: f.id, message: errMsg(e) });
                return;
            }
            this.outstanding.delete(f.id);
            this.o.log('client.late-receipt-refused', { id: f.id, reason: e instanceof CocoonError ? e.code : 'RECEIPT_MALFORMED', message: errMsg(e) });
        }
    }

    /**
     * cumulative += cost; sign; persist; only then send. Serialised, so vouchers go out in increasing order, and
     * coalesced: costs that arrive while a voucher is being persisted are covered by the next one, so concurrent
     * responses cost one signature and one fsync per batch, not per response.
     */
    private pay(cost: bigint): Promise<bigint> {
        this.unpaid += cost;
        // Behind the response: the run starts on a later turn of the event loop, after the microtasks that hand the
        // response to the app (the usage chunk and [DONE] reach its socket first); the state file's fsync runs on the
        // threadpool, so other streams keep flowing while it is written (spec/client.md, "Durable before what").
        const run = this.payQueue.then(nextTurn).then(async () => {
            if (this.unpaid === 0n) return this.cumulativeValue; // an earlier run already covered this cost
            const { wrapper, store, proxy } = this.o.channel();
            const add = this.unpaid;
            const next = this.cumulativeValue + add;
            const sig = signPayload(voucherPayload(wrapper.address, next, await this.o.globalId()), this.o.secretKey);
            await store.put(wrapper.address.toRawString(), { proxy: proxy.toRawString(), cumulative: next, signature: sig.toString('hex') }, this.o.clock.now());
            this.unpaid -= add;
            this.cumulativeValue = next;
            this.signature = sig;
            const conn = this.o.connection();
            if (conn) this.sendVoucher(conn);
            return next;
        });
        this.payQueue = run.catch(() => undefined);
        return run;
    }

    private sendVoucher(conn: ProxyConnection): void {
        if (!this.signature) return;
        try {
            conn.send({ type: 'voucher', v: conn.version!, amount: this.cumulativeValue, signature: this.signature.toString('hex') });
        } catch (e) {
            this.o.log('client.voucher-unsent', { message: errMsg(e) });
        }
    }

    /** Resolves once every voucher for the responses delivered so far is signed, persisted and sent. */
    async settled(): Promise<void> {
        await this.payQueue;
    }
}

/** Resolves on the next turn of the event loop (after pending I/O callbacks and microtasks). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function sameUsage(a: TokenUsage, b: TokenUsage): boolean {
    return TOKEN_KINDS.every((k) => a[k] === b[k]);
}
