// One proxy connection (spec/worker.md, "Connection state machine"): stake the WorkerChannel, connect over RA-TLS,
// hello, serve frames, reconnect with backoff. A ProxyConnection sees the worker only through ConnectionHost;
// the runner admits its requests (capacity) and verifies its payouts.
import { Address } from '@ton/core';
import type { RawData, WebSocket } from 'ws';
import { ChainWallet, hex256, RootConfig, TonChain, workerChannelOf } from '../core/chain';
import type { Clock, SleepClock } from '../core/clock';
import { CocoonError } from '../core/errors';
import { HELLO_AUTH_TTL_S, workerHelloPayload } from '../core/worker-hello';
import { AttestationError } from '../core/tee/types';
import { connectRaTls, PeerVerifier, RaTlsIdentity } from '../core/transport';
import { asWireError, badFrameRef, dialHello, drained, HelloFailure, Keepalive, pongFor, readFrame, sendError } from '../core/transport/socket';
import { encodeFrame, Frame, HelloFrame, MAX_FRAME_BYTES, MAX_MESSAGE_CHARS, MIN_PROTOCOL_VERSION, PayoutFrame, PROTOCOL_VERSION, RequestFrame, WireError } from '../core/wire';
import type { OfferBook } from './offers';
import type { ProxyInfo } from '../../wrappers/Root';
import { WorkerActive, WorkerClosed, WorkerUnbonding } from '../../wrappers/WorkerChannel';
import { toUint256 } from '../../wrappers/payloads';
import { Log, withFields } from '../core/log';
import type { ResolvedConfig, WorkerModelOffer } from './options';
import { WorkerLinkError } from './errors';
import type { RequestPeer, RunningRequest } from './running-request';
import { ExcludeReason, LinkCounters, LinkState, LinkStats, RequestCounters } from './stats';

const AGENT_NAME = 'cocoon-ts-worker/0.1';
/** Above this many bytes queued on a WebSocket, streaming waits for the socket to drain. */
const HIGH_WATER = 1 << 20;

/** The resolved settings a connection uses (timeouts, backoff, stake). */
export type ConnectionSettings = Pick<
    ResolvedConfig,
    'stake' | 'baseMs' | 'maxMs' | 'stableMs' | 'connectTimeoutMs' | 'helloTimeoutMs' | 'activationTimeoutMs' | 'keepaliveMs'
>;

/** What a proxy connection needs from the worker (WorkerAgent implements it). */
export interface ConnectionHost {
    readonly chain: TonChain;
    /** The worker's wallet: owns and stakes the WorkerChannel, signs the channel binding in hello. */
    readonly wallet: ChainWallet;
    readonly clock: SleepClock;
    /** The clock of trust: the hello's expiry is signed by it, as the proxy judges it. */
    readonly trustClock: Clock;
    readonly log: Log;
    /** Our RA-TLS identity, and the verifier of the proxies' attestations. */
    readonly identity: RaTlsIdentity;
    readonly verifier: PeerVerifier;
    /** The worker's Ed25519 public key: its RA-TLS certificate key and receipt key. */
    readonly publicKey: Buffer;
    /** Concurrent requests across all proxies, announced in hello. */
    readonly capacity: number;
    /** False once stop() began: the reconnect loop ends. */
    readonly running: boolean;
    /** What the worker offers now: hello announces `all()`, an offer frame `announced()`. */
    readonly offerBook: OfferBook;
    /** The connection changed state (the runner emits `state`). */
    onLinkState(proxy: string, state: LinkState): void;
    /** A request frame arrived: admit it (capacity) and run it. */
    onRequest(conn: ProxyConnection, ws: WebSocket, f: RequestFrame): void;
    /** A payout frame arrived: verify, persist, maybe claim. */
    onPayout(conn: ProxyConnection, ws: WebSocket, f: PayoutFrame): void;
}

/** How an offer announcement ended on one connection. */
export type OfferResult = 'acked' | 'superseded' | 'not-connected' | 'closed' | 'timeout';

const sameOffer = (a: readonly WorkerModelOffer[], b: readonly WorkerModelOffer[]) =>
    a.length === b.length && a.every((m, i) => m.name === b[i].name && m.coefficient === b[i].coefficient);

export class ProxyConnection implements RequestPeer {
    readonly raw: string;
    state: LinkState = 'idle';
    excluded: ExcludeReason | null = null;
    info: ProxyInfo | null;
    channel: Address | null = null;
    /** The proxy's attested image (from the last connection, or from a refused attestation). */
    imageHash: string | null = null;
    version = PROTOCOL_VERSION;
    /** Requests of this proxy in flight (the runner admits and removes them). */
    readonly requests = new Map<string, RunningRequest>();
    private ws: WebSocket | null = null;
    private attempts = 0;
    private readonly counters = new LinkCounters();
    private wakeFn: (() => void) | null = null;
    private loop?: Promise<void>;
    private stopping = false;
    /** The runner's log with this proxy as `peer` on every line. */
    private readonly log: Log;
    /** The offer the proxy acknowledged (hello_ok or offer_ok): what it routes this connection's requests at. */
    private acked = new Map<string, WorkerModelOffer>();
    private offerSeq = 0;
    /** Offers sent and not yet acknowledged, by seq. */
    private readonly pendingOffers = new Map<number, { models: WorkerModelOffer[]; done: (r: OfferResult) => void }>();

    constructor(
        private readonly host: ConnectionHost,
        private readonly settings: ConnectionSettings,
        private readonly requestCounters: RequestCounters,
        readonly proxy: Address,
        info: ProxyInfo | null,
    ) {
        this.raw = proxy.toRawString();
        this.log = withFields(host.log, { peer: this.raw });
        this.info = info;
        if (!info) this.excluded = 'unlisted';
    }

    start(): void {
        this.loop = this.run();
    }

    async stop(): Promise<void> {
        this.stopping = true;
        this.disconnect(1001, 'worker stopping');
        this.wake();
        await this.loop;
    }

    stats(): LinkStats {
        return this.counters.snapshot({
            proxy: this.raw,
            channel: this.channel ? this.channel.toRawString() : null,
            state: this.state,
            excluded: this.excluded,
            imageHash: this.imageHash,
            inFlight: this.requests.size,
        });
    }

    /** The offer for `model` the proxy routed this connection's requests at (the price of a request arriving now). */
    offer(model: string): WorkerModelOffer | undefined {
        return this.acked.get(model);
    }

    /** The whole offer this proxy acknowledged last (empty before the first hello_ok). */
    ackedOffer(): WorkerModelOffer[] {
        return [...this.acked.values()];
    }

    /**
     * Announces what the worker offers now (an `offer` frame) and resolves once the proxy acknowledged it ('acked'),
     * or 'not-connected' (the next hello carries it), 'closed' or 'timeout' (helloTimeoutMs).
     */
    announce(): Promise<OfferResult> {
        const ws = this.ws;
        if (this.state !== 'ready' || !ws) return Promise.resolve('not-connected');
        const seq = (this.offerSeq = (this.offerSeq + 1) >>> 0);
        const models = this.host.offerBook.announced();
        return new Promise<OfferResult>((resolve) => {
            const timer = setTimeout(() => finish('timeout'), this.settings.helloTimeoutMs);
            const finish = (r: OfferResult) => {
                clearTimeout(timer);
                this.pendingOffers.delete(seq);
                resolve(r);
            };
            this.pendingOffers.set(seq, { models, done: finish });
            if (!this.sendOn(ws, { type: 'offer', v: this.version, seq, models })) finish('closed');
        });
    }

    /** offer_ok: requests the proxy sends from now on are priced at that offer (frames on one socket stay in order). */
    private onOfferOk(seq: number): void {
        const p = this.pendingOffers.get(seq);
        if (!p) return this.log('offer.unknown-ack', { seq });
        this.acked = new Map(p.models.map((m) => [m.name, m]));
        for (const s of [...this.pendingOffers.keys()]) if (s <= seq) this.pendingOffers.get(s)!.done(s === seq ? 'acked' : 'superseded');
        this.log('offer.acked', { seq, models: p.models.map((m) => `${m.name}@${m.coefficient}`) });
    }

    /** Root changed: re-check the listing, the registration and the proxy's image. */
    update(info: ProxyInfo | null, root: RootConfig): void {
        if (!info) return this.exclude('unlisted', new WorkerLinkError('PROXY_NOT_LISTED', 'the proxy is no longer listed in Root'));
        const moved = this.info !== null && (this.info.workerEndpoint !== info.workerEndpoint || this.info.enclaveKey !== info.enclaveKey);
        this.info = info;
        if (this.imageHash && !root.proxyImages.has(this.imageHash))
            return this.exclude('image_removed', new WorkerLinkError('PROXY_IMAGE_REMOVED', `proxy image ${this.imageHash} left Root's allowlist`));
        if (this.excluded === 'unlisted' || this.excluded === 'image_removed') {
            this.log('proxy.readmitted', { was: this.excluded });
            this.excluded = null;
            this.attempts = 0;
            this.wake();
        }
        if (moved) {
            this.channel = null; // the key may have changed: derive the channel again
            this.disconnect(1000, 'proxy registration changed');
        }
    }

    private exclude(reason: ExcludeReason, err: CocoonError): void {
        if (this.excluded === reason) return;
        this.excluded = reason;
        this.record(err);
        this.disconnect(1000, err.code);
        this.wake();
    }

    private record(e: unknown): void {
        const code = e instanceof CocoonError ? e.code : 'INTERNAL';
        const message = e instanceof Error ? e.message : String(e);
        this.counters.errored(code, message);
        this.log('link.error', { code, message });
    }

    private setState(s: LinkState): void {
        if (this.state === s) return;
        this.state = s;
        this.log('link.state', { state: s, ...(this.excluded ? { excluded: this.excluded } : {}) });
        this.host.onLinkState(this.raw, s);
    }

    private wake(): void {
        const w = this.wakeFn;
        this.wakeFn = null;
        w?.();
    }

    /** Sleeps `ms` (or until woken, e.g. by stop() or a Root change); ms = null waits for a wake only. */
    private sleep(ms: number | null): Promise<void> {
        return new Promise((resolve) => {
            const timer = ms === null ? undefined : setTimeout(() => done(), ms);
            const done = () => {
                clearTimeout(timer);
                if (this.wakeFn === done) this.wakeFn = null;
                resolve();
            };
            this.wakeFn = done;
        });
    }

    private async run(): Promise<void> {
        while (!this.stopping && this.host.running) {
            if (this.excluded || !this.info) {
                this.setState('excluded');
                await this.sleep(null);
                continue;
            }
            try {
                await this.ensureChannel();
                if (!this.stopping && !this.excluded) await this.session();
            } catch (e) {
                this.onFailure(e);
            }
            if (this.stopping || this.excluded) continue;
            const delay = this.backoffMs(this.attempts++);
            this.setState('backoff');
            await this.sleep(delay);
        }
        this.setState('stopped');
    }

    /** Full-jitter exponential backoff: uniform in [0, min(maxMs, baseMs · 2^attempt)). */
    private backoffMs(attempt: number): number {
        const cap = Math.min(this.settings.maxMs, this.settings.baseMs * 2 ** Math.min(attempt, 30));
        return Math.floor(Math.random() * cap);
    }

    private onFailure(e: unknown): void {
        if (e instanceof AttestationError && e.code === 'IMAGE_NOT_ALLOWED') {
            // Stay away while the image is off the allowlist; a Root change that re-adds it wakes us.
            const h = e.details?.imageHash;
            if (typeof h === 'string') this.imageHash = h;
            return this.exclude('image_removed', new WorkerLinkError('PROXY_IMAGE_REMOVED', e.message, { imageHash: h }));
        }
        if (e instanceof WorkerLinkError && e.code === 'CHANNEL_UNUSABLE') return this.exclude('channel_unusable', e);
        this.record(e);
    }

    /** Derives our WorkerChannel with this proxy and stakes it until active. */
    private async ensureChannel(): Promise<void> {
        const chain = this.host.chain;
        const ps = await chain.getProxyState(this.proxy);
        if (!ps || !ps.terms) throw new WorkerLinkError('PROXY_NOT_LISTED', 'the Proxy contract is not deployed or not registered (no terms)');
        // At the address the Proxy derives (the channel code of its creation), not from this build's code.
        const { wrapper, deployable } = await workerChannelOf(chain, this.proxy, this.host.wallet.address, ps);
        this.channel = wrapper.address;
        let st = await chain.getWorkerChannelState(wrapper.address);
        if (!st && !deployable) {
            throw new WorkerLinkError('CHANNEL_UNUSABLE', `the Proxy derives WorkerChannel ${wrapper.address.toString()} from a code this build cannot deploy`);
        }
        // Active with at least the minimum stake serves; a slashed channel (Suspended, state 4: stake below the minimum)
        // is topped up first, which makes it Active again (spec/contracts.md, WorkerChannel); the proxy admits only
        // Active channels with stake ≥ minStake (spec/proxy.md, "Worker channel re-check").
        const usable = (s: typeof st) => s !== null && s.state === WorkerActive && s.stake >= s.minStake;
        if (usable(st)) return;
        if (st && (st.state === WorkerUnbonding || st.state === WorkerClosed)) throw new WorkerLinkError('CHANNEL_UNUSABLE', `WorkerChannel ${wrapper.address.toString()} is ${st.state === WorkerUnbonding ? 'unbonding' : 'closed'}`);
        this.setState('staking');
        const min = ps.terms.minWorkerStake;
        const target = this.settings.stake !== undefined && this.settings.stake > min ? this.settings.stake : min;
        const amount = target - (st?.stake ?? 0n);
        this.log('stake.sent', { channel: wrapper.address.toRawString(), amount: amount.toString() });
        await chain.open(wrapper).sendStake(this.host.wallet.sender(), amount > 0n ? amount : min);
        const deadline = this.host.clock.now() + this.settings.activationTimeoutMs;
        for (;;) {
            st = await chain.getWorkerChannelState(wrapper.address);
            if (usable(st)) break;
            if (this.stopping) return;
            if (this.host.clock.now() >= deadline)
                throw new WorkerLinkError('STAKE_FAILED', `WorkerChannel ${wrapper.address.toString()} is not active after staking`, { state: st?.state.toString() ?? null });
            await this.host.clock.sleep(500);
        }
        this.log('channel.active', { channel: wrapper.address.toRawString(), stake: st!.stake.toString() });
    }

    /** One connection: RA-TLS, key check, hello, then serve until it closes. */
    private async session(): Promise<void> {
        const info = this.info!;
        const host = this.host;
        this.setState('connecting');
        const conn = await connectRaTls(info.workerEndpoint, host.identity, host.verifier, {
            timeoutMs: this.settings.connectTimeoutMs,
            clock: () => new Date(host.clock.now()),
            ws: { maxPayload: MAX_FRAME_BYTES },
        });
        const ws = conn.ws;
        this.imageHash = conn.peer.imageHash;
        if (this.stopping || this.excluded) {
            ws.terminate();
            return;
        }
        // Root says which key this proxy's enclave holds; an attested proxy with another key is not that proxy.
        if (toUint256(conn.peer.cert.publicKey) !== info.enclaveKey) {
            ws.terminate();
            throw new WorkerLinkError('PROXY_KEY_MISMATCH', `proxy ${this.raw} presented key ${conn.peer.cert.publicKey.toString('hex')}, Root lists ${hex256(info.enclaveKey)}`, {
                presented: conn.peer.cert.publicKey.toString('hex'),
                listed: hex256(info.enclaveKey),
            });
        }
        this.ws = ws;
        const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
        ws.on('error', (e) => this.log('proxy.socket-error', { message: e.message }));
        try {
            await this.hello(ws);
        } catch (e) {
            ws.terminate();
            this.ws = null;
            throw e;
        }
        const readyAt = host.clock.now();
        this.counters.connected(readyAt);
        this.setState('ready');
        const stopKeepalive = new Keepalive(ws, () => this.log('proxy.timeout', {})).every(this.settings.keepaliveMs);
        // Disabled models (or a change made while the hello was under way) are announced at once.
        if (!sameOffer([...this.acked.values()], host.offerBook.announced())) void this.announce();
        const { code, reason } = await closed;
        stopKeepalive();
        for (const p of [...this.pendingOffers.values()]) p.done('closed');
        if (this.ws === ws) this.ws = null;
        for (const r of this.requests.values()) if (r.ws === ws) r.detach();
        if (host.clock.now() - readyAt >= this.settings.stableMs) this.attempts = 0;
        if (!this.stopping) this.record(new WorkerLinkError('CONNECTION_LOST', `connection closed (${code}${reason ? ` ${reason}` : ''})`, { code, reason }));
    }

    /** Sends hello and waits for hello_ok (or an error frame, a close, the deadline): the shared dialler, our error codes. */
    private async hello(ws: WebSocket): Promise<void> {
        const host = this.host;
        // The channel owner (our wallet) binds the channel to our attested key for this proxy (attack 18).
        const expiresAt = Math.floor(host.trustClock.now() / 1000) + HELLO_AUTH_TTL_S;
        const signature = host.wallet.signPayload(workerHelloPayload(this.channel!, this.proxy, host.publicKey, expiresAt)).toString('hex');
        const models = host.offerBook.all();
        const hello: HelloFrame = {
            type: 'hello',
            v: PROTOCOL_VERSION,
            minV: MIN_PROTOCOL_VERSION,
            role: 'worker',
            channel: this.channel!.toString(),
            models,
            capacity: host.capacity,
            agent: AGENT_NAME,
            auth: { expiresAt, signature },
        };
        try {
            await dialHello(ws, hello, {
                inDir: 'proxy_to_worker',
                proxy: this.proxy,
                timeoutMs: this.settings.helloTimeoutMs,
                send: (f) => this.sendOn(ws, f),
                onReady: (version) => {
                    this.version = version;
                    this.acked = new Map(models.map((m) => [m.name, m]));
                    // The proxy sends its latest payout right behind hello_ok: serve from the next message on.
                    ws.on('message', (data, bin) => this.onMessage(ws, data, bin));
                },
            });
        } catch (e) {
            const f = e as HelloFailure;
            if (f.kind === 'timeout') throw new WorkerLinkError('PROXY_HELLO_TIMEOUT', f.message);
            if (f.kind === 'refused') throw new WorkerLinkError('PROXY_REFUSED', f.message, { code: f.details.code });
            if (f.kind === 'closed') throw new WorkerLinkError('CONNECTION_LOST', f.message, { code: f.details.closeCode, reason: f.details.reason });
            throw new WorkerLinkError('PROXY_PROTOCOL', f.message, f.details.code ? { code: f.details.code } : undefined);
        }
    }

    private onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
        let f: Frame;
        try {
            f = readFrame(data, isBinary, 'proxy_to_worker', this.version);
        } catch (e) {
            return this.onBadFrame(ws, asWireError(e), isBinary ? undefined : data);
        }
        switch (f.type) {
            case 'request':
                return this.host.onRequest(this, ws, f);
            case 'cancel': {
                const r = this.requests.get(f.id);
                if (r && r.ws === ws) r.cancel();
                else this.log('request.cancel-unknown', { id: f.id });
                return;
            }
            case 'payout':
                return this.host.onPayout(this, ws, f);
            case 'offer_ok':
                return this.onOfferOk(f.seq);
            case 'ping':
                this.sendOn(ws, pongFor(f, this.version));
                return;
            case 'pong':
                return;
            case 'error':
                this.log('proxy.error-received', { code: f.code, message: f.message, fatal: f.fatal, ...(f.id ? { id: f.id } : {}) });
                if (f.fatal) ws.close(1000, 'peer reported a fatal error');
                return;
            default:
                this.log('frame.unexpected', { type: f.type });
        }
    }

    /**
     * A frame that does not parse: a bad field of a request with a readable id fails that request only; anything
     * else (malformed, oversized, wrong direction or version) is a fatal `error` and the connection closes.
     */
    private onBadFrame(ws: WebSocket, e: WireError, data: RawData | undefined): void {
        const ref = data === undefined ? undefined : badFrameRef(data);
        const id = ref?.type === 'request' ? ref.id : undefined;
        this.log('frame.refused', { code: e.code, message: e.message, ...(id ? { id } : {}) });
        if (e.code === 'WIRE_BAD_FIELD' && id && !this.requests.has(id)) {
            this.requestCounters.requestFailed({ model: '', code: e.code });
            this.sendOn(ws, { type: 'response_error', v: this.version, id, code: e.code, message: e.message.slice(0, MAX_MESSAGE_CHARS), retryable: false });
            return;
        }
        sendError(ws, (f) => this.sendOn(ws, f), { v: this.version, code: e.code, message: e.message, fatal: e.code !== 'WIRE_BAD_FIELD' }, { code: 1002 });
    }

    /** Sends a frame on `ws` if it is still open; false if the frame was dropped. */
    sendOn(ws: WebSocket, f: Frame): boolean {
        if (ws.readyState !== ws.OPEN) return false;
        let text: string;
        try {
            text = encodeFrame(f, 'worker_to_proxy');
        } catch (e) {
            this.log('frame.encode-failed', { type: f.type, code: (e as CocoonError).code, message: (e as Error).message });
            return false;
        }
        ws.send(text);
        return true;
    }

    /** Like sendOn, but waits for the socket to drain first when much is queued (streaming backpressure). */
    async sendFlow(ws: WebSocket, f: Frame): Promise<boolean> {
        if (ws.bufferedAmount > HIGH_WATER) await drained(ws, HIGH_WATER);
        return this.sendOn(ws, f);
    }

    private disconnect(code: number, reason: string): void {
        const ws = this.ws;
        this.ws = null;
        if (ws) ws.close(code, reason.slice(0, 120));
        for (const r of this.requests.values()) r.detach();
    }
}
