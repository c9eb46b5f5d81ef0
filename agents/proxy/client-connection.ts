// A client's connection to the proxy (spec/proxy.md): its hello (the certificate key is its ClientChannel's
// clientKey, the channel canonical and open), its requests (admitted against the channel, then run by
// running-request.ts), cancels, vouchers, worker candidates, and the payment status and unsettled receipts it is
// sent after hello.
import { Address, Cell } from '@ton/core';
import type { WebSocket } from 'ws';
import { TonChain } from '../core/chain/chain';
import { nullIfGetterFailed } from '../core/chain/errors';
import { ed25519Verify } from '../core/ed25519';
import { decodeReceipt } from '../core/receipt';
import { CoopWithdrawFrame, Direction, Frame, HelloClientFrame, RequestFrame, VoucherFrame, WireError } from '../core/wire';
import { Model } from '../../wrappers/Root';
import { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { toUint256, voucherPayload } from '../../wrappers/payloads';
import type { Clock } from '../core/clock';
import { Ledger, LedgerError } from './ledger';
import { ProxyError, ProxyWireCode } from './errors';
import type { CoopWithdrawal } from './ledger';
import { RoutedWorker } from './router';
import { requestBound } from './admission';
import { Connection, ConnectionHost } from './connection';
import { Refusal } from './guard';
import { RequestHost, RunningRequest } from './running-request';
import { Settlement } from './settlement';

/** Client connections per ClientChannel (admission holds money per channel; this bounds sockets and buffers). */
const MAX_CONNECTIONS_PER_CHANNEL = 4;

/** What a client connection needs of its runner (and what its requests need). */
export interface ClientHost extends ConnectionHost, RequestHost {
    readonly chain: TonChain;
    readonly enclaveKey: bigint;
    /** Channel states, redeems of leaving channels. */
    readonly settlement: Pick<Settlement, 'cached' | 'cachedLeaving' | 'remember' | 'refreshChannel' | 'redeemLeaving'>;
    /** The ledger (set while started). */
    ledger(): Pick<Ledger, 'getRequest' | 'client' | 'unsettled' | 'acceptVoucher'>;
    globalId(): number;
    readonly clock: Clock;
    /** Neither halted nor stopping. */
    serving(): boolean;
    /** New client sessions and requests are taken (live admin: stop-accepting / resume). */
    accepting(): boolean;
    isInFlight(id: string): boolean;
    /** The request is in flight (ids are global: the ledger's are). */
    track(req: RunningRequest): void;
    /** A Root-registered model by name. */
    model(name: string): { model: Model; id: bigint } | undefined;
    /** Workers to offer for `model` within the cap; with `workerKey`, only that worker (busy or not). */
    candidates(model: string, maxCoefficient: bigint, workerKey?: Buffer): RoutedWorker[];
    creditWindow(): bigint;
    /** Ready or checking client connections on that channel, other than `except`. */
    openConnections(channelRaw: string, except: ClientConnection): number;
    /** A ledger write in the next group commit (group-commit.ts). */
    durably(op: () => void): Promise<void>;
    /** Everything committed so far survives a power loss (group-commit.ts flushed). */
    flushed(): Promise<void>;
    /** The connection closed: forget it. */
    clientClosed(conn: ClientConnection): void;
    /** Root's current ClientChannel code first, then the older ones Root listed while the proxy watched. */
    clientCodes(current: Cell): Cell[];
    /** Redeems, then co-signs a cooperative withdrawal (coop-withdraw.ts); throws ProxyError COOP_WITHDRAW_*. */
    coopWithdraw(channel: Address, req: { amount?: bigint; close: boolean }): Promise<CoopWithdrawal>;
}

export class ClientConnection extends Connection {
    readonly kind = 'client';
    protected readonly inDir: Direction = 'client_to_proxy';
    protected readonly outDir: Direction = 'proxy_to_client';

    constructor(
        ws: WebSocket,
        address: string,
        /** The certificate key: must be the channel's clientKey. */
        readonly publicKey: Buffer,
        protected readonly host: ClientHost,
    ) {
        super(ws, address, host);
    }

    /**
     * A hello check through the gate (guard.ts): bounded concurrency per source address and in total, a timeout, and
     * a client's CHANNEL_INVALID verdict remembered per (channel, certificate key). A client whose channel this run
     * already admitted under the same key is checked first (attack 15: 200 channel-less hellos stalled a funded
     * client's hello). Worker verdicts are not cached: a worker's channel may be listed by the Proxy contract a block
     * after it turned active, and the worker endpoint admits attested images only.
     */
    protected gatedCheck(channel: string, run: () => Promise<Refusal>): Promise<Refusal> {
        const raw = Address.parse(channel).toRawString(); // parses: the frame parser accepted it
        const cached = this.host.settlement.cached(raw);
        const known = cached !== undefined && cached.clientKey === toUint256(this.publicKey);
        return this.host.gate(this.address, `${raw} ${this.publicKey.toString('hex')}`, known, run);
    }

    /** ClientChannel on chain: ours, our key, the certificate's key, canonical under Root's code and params, open. */
    protected async checkHello(frame: HelloClientFrame): Promise<Refusal> {
        const hello = frame;
        const { chain, proxyAddress, enclaveKey } = this.host;
        if (!this.host.accepting()) return { code: 'PROXY_NOT_ACCEPTING', message: 'the proxy is not accepting new clients (its operator stopped it)' };
        const channel = Address.parse(hello.channel);
        const cfg = await chain.getRootConfig();
        const st = await chain.getClientChannelState(channel).catch(nullIfGetterFailed);
        if (!st) return { code: 'CHANNEL_INVALID', message: 'no ClientChannel at that address' };
        if (!st.proxy.equals(proxyAddress)) return { code: 'CHANNEL_INVALID', message: 'the ClientChannel belongs to another proxy' };
        if (st.proxyKey !== enclaveKey) return { code: 'CHANNEL_INVALID', message: 'the ClientChannel names another proxy key' };
        if (st.clientKey !== toUint256(this.publicKey)) return { code: 'CHANNEL_INVALID', message: "the ClientChannel's clientKey is not the certificate key" };
        // Canonical under Root's current code, or under an older one Root listed while we watched (a channel created
        // before a SetChildCode), with its own close delay as long as it is not below Root's current one.
        if (st.closeDelay < cfg.params.clientCloseDelay) return { code: 'CHANNEL_INVALID', message: `the ClientChannel's close delay ${st.closeDelay} is below Root's ${cfg.params.clientCloseDelay}` };
        let canonical = false;
        for (const code of this.host.clientCodes(cfg.childCode.clientCode)) {
            const w = await ClientChannelWrapper.create({ proxy: proxyAddress, client: st.client, clientKey: st.clientKey, proxyKey: enclaveKey, closeDelay: st.closeDelay, code });
            if ((canonical = w.address.equals(channel))) break;
        }
        if (!canonical) return { code: 'CHANNEL_INVALID', message: 'the ClientChannel is not the canonical one for these keys and params' };
        if (st.state !== 0n) return { code: 'CHANNEL_INVALID', message: `the ClientChannel is not open (state ${st.state})` };
        const raw = channel.toRawString();
        if (this.host.openConnections(raw, this) >= MAX_CONNECTIONS_PER_CHANNEL) return { code: 'RATE_LIMITED', message: `at most ${MAX_CONNECTIONS_PER_CHANNEL} connections per channel` };
        this.channel = channel;
        this.channelRaw = channel.toRawString();
        this.host.settlement.remember(this.channelRaw, st);
        if (this.host.settlement.cachedLeaving(this.channelRaw)) this.redeemLeaving(); // by chain time
        return null;
    }

    private redeemLeaving(): void {
        void this.host.settlement.redeemLeaving(this.channelRaw!).catch((e) => this.host.log('channel.redeem-failed', { channel: this.channelRaw, error: String(e) }));
    }

    protected onReady(): void {
        this.sendPaymentStatus();
        this.resendUnsettled();
    }

    protected onFrame(frame: Frame, buf: Buffer): void {
        switch (frame.type) {
            case 'request':
                return this.onRequest(frame, buf);
            case 'cancel': {
                const req = this.requests.get(frame.id);
                if (!req) return this.log('client.cancel-unknown', { id: frame.id });
                return req.cancel();
            }
            case 'voucher':
                return this.onVoucher(frame);
            case 'get_worker_candidates': {
                const list = this.host.candidates(frame.model, frame.maxCoefficient, frame.workerKey !== undefined ? Buffer.from(frame.workerKey, 'hex') : undefined);
                return this.send({
                    type: 'worker_candidates',
                    v: this.version,
                    id: frame.id,
                    model: frame.model,
                    candidates: list.map((w) => ({
                        keyId: w.keyId!,
                        hpkePublicKey: w.hpkePublicKey!.toString('hex'),
                        coefficient: w.models.get(frame.model)!,
                        attestation: w.certDer.toString('base64'),
                        free: Math.max(0, w.capacity - w.inFlight),
                    })),
                });
            }
            case 'coop_withdraw':
                return this.onCoopWithdraw(frame);
            default:
                this.log('client.unexpected-frame', { type: frame.type });
        }
    }

    /** A bad `request` frame with an id not in flight fails that request only. */
    protected onBadFrame(type: unknown, id: string | undefined, err: WireError): boolean {
        if (type !== 'request' || !id || this.host.isInFlight(id)) return false;
        this.send({ type: 'response_error', v: this.version, id, code: err.code, message: err.message.slice(0, 1024), retryable: false });
        return true;
    }

    protected onClosed(): void {
        this.host.clientClosed(this);
        for (const req of [...this.requests.values()]) req.onClientGone();
    }

    private refuse(id: string, code: ProxyWireCode, message: string, retryable: boolean): void {
        this.host.counters.failed({ model: '', code });
        this.log('request.refused', { id, code });
        this.send({ type: 'response_error', v: this.version, id, code, message, retryable });
    }

    private onRequest(frame: RequestFrame, buf: Buffer): void {
        const id = frame.id;
        if (!this.host.serving()) return this.refuse(id, 'PROXY_UNAVAILABLE', 'the proxy is not serving', true);
        if (!this.host.accepting()) return this.refuse(id, 'PROXY_NOT_ACCEPTING', 'the proxy is not accepting new requests (its operator stopped it)', true);
        if (this.host.isInFlight(id) || this.host.ledger().getRequest(id)) return this.refuse(id, 'DUPLICATE_REQUEST', 'this request id was already used', false);
        if (this.requests.size >= this.host.limits.maxRequestsPerConnection) return this.refuse(id, 'RATE_LIMITED', 'too many requests in flight on this connection', true);
        const m = this.host.model(frame.model);
        if (!m) return this.refuse(id, 'MODEL_NOT_REGISTERED', `model ${frame.model} is not registered in Root`, false);
        const bound = requestBound({ maxTokens: frame.maxTokens, contextLength: m.model.contextLength, prices: m.model, coefficient: frame.maxCoefficient });
        const req = new RunningRequest(this.host, frame, buf.toString('utf8'), this, m.model, m.id, bound);
        const refusal = req.admit();
        if (refusal?.code === 'CREDIT_WINDOW_EXCEEDED') return this.refuse(id, refusal.code, refusal.message, false);
        this.host.track(req);
        this.requests.set(id, req);
        if (refusal) {
            // The only chain call near the hot path: re-read the channel (a top-up may have arrived) before refusing.
            void this.host.settlement
                .refreshChannel(this.channelRaw!)
                .then(() => req.afterDepositCheck())
                .catch((e) => {
                    this.log('client.channel-refresh-failed', { error: String(e) });
                    if (!this.host.stopping()) req.fail('PROXY_UNAVAILABLE', 'could not read the channel on chain', true, { kind: 'neutral' });
                });
            return;
        }
        req.dispatch();
    }

    private sendPaymentStatus(): void {
        const c = this.host.ledger().client(this.channelRaw!);
        const window = this.host.creditWindow();
        const voucher = c.latestVoucher?.amount ?? 0n;
        const remaining = voucher + window - c.deliveredCost;
        this.send({
            type: 'payment_status',
            v: this.version,
            delivered: c.deliveredCost,
            voucher,
            creditWindow: window,
            creditRemaining: remaining > 0n ? remaining : 0n,
        });
    }

    /**
     * After hello: the response_end of every delivery the ledger holds as unsettled (booked, no voucher known to cover
     * it), so a client that lost them to a proxy crash or its own disconnect verifies and signs them now. The client
     * pays each request id it sent at most once and ignores the rest (spec/client.md, "Late receipts").
     */
    private resendUnsettled(): void {
        for (const row of this.host.ledger().unsettled(this.channelRaw!)) {
            if (this.host.isInFlight(row.requestId) || row.receipt === null) continue;
            let usage;
            try {
                usage = decodeReceipt(row.receipt).receipt.usage;
            } catch (e) {
                this.host.log('client.resend-skipped', { id: row.requestId, error: String(e) });
                continue;
            }
            this.send({ type: 'response_end', v: this.version, id: row.requestId, usage, cost: row.cost, receipt: row.receipt });
        }
    }

    /** A cooperative withdrawal: the co-signature, or an error frame with the query id (nothing signed). */
    private onCoopWithdraw(f: CoopWithdrawFrame): void {
        if (!this.host.serving()) return this.sendError('COOP_WITHDRAW_UNAVAILABLE', 'the proxy is not serving', false, f.id);
        // Behind the group commit: a voucher this client sent just before is in the ledger (and redeemed first).
        void this.host
            .durably(() => undefined)
            .then(() => this.host.coopWithdraw(this.channel!, { amount: f.amount, close: f.close }))
            .then(
                (w) => {
                    if (this.state === 'ready') this.send({ type: 'coop_withdraw_signed', v: this.version, id: f.id, amount: w.amount, seqno: w.seqno, close: w.close, signature: w.signature });
                },
                (e: unknown) => {
                    const code = e instanceof ProxyError && (e.code === 'COOP_WITHDRAW_TOO_LARGE' || e.code === 'COOP_WITHDRAW_UNAVAILABLE') ? e.code : 'COOP_WITHDRAW_UNAVAILABLE';
                    this.log('coop-withdraw.refused', { code, message: (e as Error)?.message });
                    if (this.state === 'ready') this.sendError(code, (e as Error)?.message ?? String(e), false, f.id);
                },
            );
    }

    /**
     * Signature under the channel's clientKey (= the certificate key), then the ledger's monotonic checks; the
     * payment_status that acknowledges it waits for the WAL flush (spec/ledger.md, "Durable before what").
     */
    private onVoucher(f: VoucherFrame): void {
        const ok = ed25519Verify(voucherPayload(this.channel!, f.amount, this.host.globalId()).hash(), Buffer.from(f.signature, 'hex'), this.publicKey);
        if (!ok) {
            this.host.counters.voucherRefused();
            this.sendError('VOUCHER_INVALID', 'the voucher signature does not verify under the channel key', false);
            return this.sendPaymentStatus();
        }
        this.host
            .durably(() => void this.host.ledger().acceptVoucher(this.channelRaw!, f.amount, f.signature))
            .then(() => this.host.flushed())
            .then(
                () => {
                    this.host.counters.voucherAccepted();
                    if (this.host.settlement.cachedLeaving(this.channelRaw!)) this.redeemLeaving();
                },
                (e: unknown) => {
                    this.host.counters.voucherRefused();
                    if (e instanceof LedgerError) this.sendError('VOUCHER_REFUSED', `${e.code}: ${e.message}`, false);
                    else this.log('voucher.unbooked', { message: (e as Error)?.message });
                },
            )
            .then(() => {
                if (this.state === 'ready') this.sendPaymentStatus();
            })
            .catch((e: unknown) => this.log('voucher.status-failed', { message: (e as Error)?.message }));
    }
}
