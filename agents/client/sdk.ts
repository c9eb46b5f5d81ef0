// The client SDK (spec/client.md): one ClientChannel with one proxy, an attested connection to that proxy, private
// (sealed) or plain requests, receipt checks and cumulative vouchers, and the channel's on-chain life (deposit,
// top-up, withdraw, close).
//
// Identity: ONE 32-byte seed. It is the client's TLS key (a plain key certificate, KeyIdentity), the ClientChannel's
// `clientKey` and the voucher key, so the proxy admits a connection only for the channel whose key it presents.
//
// Money rule (design §8): a voucher is signed only for a receipt that verified (signature under an attested worker
// key, our request id, the model, the usage reported, the coefficient cap, the cost by Root's prices), and it is
// written to the state file before it is sent. A receipt that fails costs nothing and drops the proxy connection.
import { createHash, randomBytes } from 'crypto';
import { Address, toNano } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import type { WebSocket, RawData } from 'ws';
import { ChainWallet, Clock, hex256, RootConfig, systemClock, TonChain } from '../core/chain';
import { CocoonError } from '../core/errors';
import { HpkeError, ResponseOpener, ResponseSecret } from '../core/hpke';
import { contentBytes, maxRequestCost, UsageBounds } from '../core/metering';
import { ModelPrices, PricingError, TOKEN_KINDS, TokenUsage, usageFromOpenAI } from '../core/pricing';
import { decodeReceipt, Receipt, ReceiptError, receiptWorkerKey, verifyReceipt } from '../core/receipt';
import { AttestationError, VerifyPolicy } from '../core/tee/types';
import { VerificationCache } from '../core/tee/verify';
import { connectRaTls, KeyIdentity, PeerAttestation, PeerPolicy, PeerVerifier, PeerVerifierOptions, RaTlsConnection, RaTlsIdentity, TransportError } from '../core/transport';
import {
    DirectionFrames,
    encodeFrame,
    Frame,
    MAX_FRAME_BYTES,
    MAX_REQUEST_TOKENS,
    MIN_PROTOCOL_VERSION,
    openChunkFrame,
    openStartFrame,
    parseFrame,
    PaymentStatusFrame,
    PROTOCOL_VERSION,
    RequestFrame,
    ResponseChunkFrame,
    ResponseEndFrame,
    sealRequestFrame,
    WireError,
    WorkerCandidateInfo,
} from '../core/wire';
import { ClientChannelState, ClientChannelWrapper, WithdrawWindow } from '../../wrappers/ClientChannel';
import { Model, ProxyInfo } from '../../wrappers/Root';
import { modelId, signPayload, voucherPayload } from '../../wrappers/payloads';
import { ClientError } from './errors';
import { ClientStateStore } from './state';

export type Privacy = 'sealed' | 'plain';
export type Endpoint = 'chat' | 'completions';
/** Structured log sink, as the other agents have it: a dotted event name and its fields. */
export type ClientLog = (event: string, fields: Record<string, unknown>) => void;

export interface CocoonClientOptions {
    chain: TonChain;
    /** Pays deposits and gas, receives refunds; the ClientChannel's `client`. */
    wallet: ChainWallet;
    /** 32 bytes: TLS key = channel clientKey = voucher key. Use a fresh seed for every new channel. */
    seed: Buffer;
    /** Quote policy for proxies and workers (trusted roots, collateral, TCB statuses). Images come from Root. */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    /** JSON state file (vouchers); written atomically. */
    statePath: string;
    /** Pin a proxy. Default: among Root's proxies, ones we already have a channel with first, then earliest registeredAt. */
    proxy?: Address;
    /** Default 'sealed' (router-blind). */
    privacy?: Privacy;
    /** Price cap; 1000 = 1.0× Root's prices. Default 1500n. */
    maxCoefficient?: bigint;
    /**
     * Most a single request may cost (nanoTON): a receipt above it is refused and never paid. The cap always applied
     * is the request's worst case, Root's prices × (maxTokens of output + a full context of prompt) × maxCoefficient;
     * this option lowers it.
     */
    maxRequestCost?: bigint;
    /** Channel balance open() tops up to. Default max(Root's minClientDeposit, 1 TON). */
    deposit?: bigint;
    /** How often Root's version is checked (default 5000 ms). */
    rootPollMs?: number;
    /** Longest wait for the next frame of a request (default 120 s). */
    requestTimeoutMs?: number;
    /** RA-TLS handshake + hello deadline (default 10 s). */
    connectTimeoutMs?: number;
    /** Reconnect backoff (default 250 ms doubling to 10 s). */
    reconnectMinMs?: number;
    reconnectMaxMs?: number;
    /** How long worker candidates are cached per model (default 3000 ms). */
    candidateTtlMs?: number;
    /** How long a sent transaction may take to show in the channel's state (default 60 s). */
    txTimeoutMs?: number;
    clock?: Clock;
    log?: ClientLog;
}

export interface ModelInfo {
    /** Root's canonical model name (the OpenAI `model`). */
    id: string;
    /** sha256(name), hex. */
    modelId: string;
    contextLength: number;
    /** nanoTON per 1M tokens (Root's prices at coefficient 1.0). */
    prices: ModelPrices;
    /** Attested workers within maxCoefficient. */
    workers: number;
    minCoefficient: bigint;
}

export type ClientEvent =
    | { type: 'start'; status: number; headers: Record<string, string>; requestId: string; worker?: string }
    | { type: 'chunk'; data: string }
    | { type: 'end'; usage: TokenUsage; cost: bigint; receipt: Receipt; worker: string; requestId: string; cumulative: bigint };

export interface RequestArgs {
    endpoint: Endpoint;
    /** The OpenAI request body (model, messages / prompt, stream, …). */
    body: Record<string, unknown>;
    signal?: AbortSignal;
}

export interface PaymentStatus {
    delivered: bigint;
    voucher: bigint;
    creditWindow: bigint;
    creditRemaining: bigint;
}

export type ChannelStateName = 'open' | 'closing' | 'closed';

export interface Balances {
    channel: string;
    proxy: string;
    /** On-chain state; null when the channel is not deployed. */
    onChain: { state: ChannelStateName; balance: bigint; redeemed: bigint; pendingWithdraw: bigint; withdrawAt: number; closeAt: number } | null;
    /** Latest signed cumulative voucher (the state file). */
    cumulative: bigint;
    /** Signed but not yet redeemed: cumulative − redeemed. */
    owed: bigint;
    /** What the client could still withdraw: balance − owed (≥ 0). */
    available: bigint;
    /** The proxy's last payment_status (null before the first). */
    proxyStatus: PaymentStatus | null;
    /** The last voucher the proxy refused (error frame), if any. */
    lastVoucherError: { code: string; message: string } | null;
}

export interface WithdrawResult {
    amount: bigint;
    /** Unix seconds from which FinishWithdraw is allowed. */
    withdrawAt: number;
    /** Milliseconds left until then (0 when finished). */
    waitMs: number;
    finished: boolean;
    /** nanoTON paid to the wallet by FinishWithdraw (when finished). */
    paid?: bigint;
}

export interface CloseResult {
    closeAt: number;
    waitMs: number;
}

const STATE_NAMES: Record<string, ChannelStateName> = { '0': 'open', '1': 'closing', '2': 'closed' };
const MAX_ATTEMPTS = 3;
/** Bytes the client queues for a proxy that does not read before it refuses to send more (two largest frames). */
const MAX_UNSENT_BYTES = 2 * MAX_FRAME_BYTES;
const AGENT = 'cocoon-ts-client/0.1';
const TOPUP_FEE = toNano('0.02');
const FINISH_CLOSE_VALUE = toNano('0.05');
const SIMPLE_VALUE = toNano('0.02');
const WALLET_RESERVE = toNano('0.05');

type InFrame = DirectionFrames['proxy_to_client'];

const DONE: unique symbol = Symbol('done');

/** A single-consumer queue with an end, an error and a per-read deadline. */
class Queue<T> {
    private items: T[] = [];
    private waiter?: { resolve: (v: T | typeof DONE) => void; reject: (e: Error) => void };
    private error?: Error;
    private ended = false;

    get closed(): boolean {
        return this.ended || this.error !== undefined;
    }

    push(v: T): void {
        if (this.closed) return;
        const w = this.waiter;
        this.waiter = undefined;
        if (w) w.resolve(v);
        else this.items.push(v);
    }

    /** Takes whatever was pushed and not read yet. */
    drain(): T[] {
        const out = this.items;
        this.items = [];
        return out;
    }

    end(): void {
        if (this.closed) return;
        this.ended = true;
        const w = this.waiter;
        this.waiter = undefined;
        w?.resolve(DONE);
    }

    fail(e: Error): void {
        if (this.closed) return;
        this.error = e;
        const w = this.waiter;
        this.waiter = undefined;
        w?.reject(e);
    }

    next(timeoutMs?: number, onTimeout?: () => Error): Promise<T | typeof DONE> {
        if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
        if (this.error) return Promise.reject(this.error);
        if (this.ended) return Promise.resolve(DONE);
        return new Promise((resolve, reject) => {
            const timer =
                timeoutMs === undefined
                    ? undefined
                    : setTimeout(() => {
                          this.waiter = undefined;
                          reject(onTimeout ? onTimeout() : new Error('timeout'));
                      }, timeoutMs);
            this.waiter = {
                resolve: (v) => {
                    clearTimeout(timer);
                    resolve(v);
                },
                reject: (e) => {
                    clearTimeout(timer);
                    reject(e);
                },
            };
        });
    }
}

/** One RA-TLS connection to the proxy, after (or during) hello. */
class Link {
    version: number | undefined;
    /** Frames before the handshake finished (hello_ok, the first payment_status, an error). */
    pre: Queue<InFrame> | undefined = new Queue<InFrame>();
    readonly requests = new Map<string, Queue<InFrame>>();
    readonly queries = new Map<string, Queue<InFrame>>();
    closed = false;

    constructor(
        readonly ws: WebSocket,
        readonly peer: PeerAttestation,
    ) {}

    /** Queues a frame; refuses (PROXY_UNREACHABLE, reason BACKPRESSURE) while the proxy leaves MAX_UNSENT_BYTES unread. */
    send(f: Frame): void {
        if (this.closed) throw new ClientError('PROXY_UNREACHABLE', 'the proxy connection is closed');
        const text = encodeFrame(f, 'client_to_proxy');
        if (this.ws.bufferedAmount + text.length > MAX_UNSENT_BYTES) {
            throw new ClientError('PROXY_UNREACHABLE', `the proxy has not read the last ${this.ws.bufferedAmount} bytes; not queueing more`, { reason: 'BACKPRESSURE' });
        }
        this.ws.send(text);
    }

    /** Fails everything waiting on this link. */
    failAll(err: ClientError): void {
        this.pre?.fail(err);
        for (const q of this.requests.values()) q.fail(err);
        for (const q of this.queries.values()) q.fail(err);
    }
}

/** PeerVerifier that also requires the certificate key to be the proxy's registered enclave key. */
class ProxyVerifier extends PeerVerifier {
    constructor(
        policy: PeerPolicy,
        private readonly enclaveKey: Buffer,
        opts: PeerVerifierOptions,
    ) {
        super(policy, opts);
    }

    verify(der: Buffer | undefined): PeerAttestation {
        const peer = super.verify(der);
        if (!peer.cert.publicKey.equals(this.enclaveKey)) {
            throw new ClientError('PROXY_REJECTED', `proxy certificate key ${peer.cert.publicKey.toString('hex')} is not the enclave key registered in Root`, {
                reason: 'KEY_MISMATCH',
            });
        }
        return peer;
    }
}

/** A worker candidate whose attestation verified (Root's worker images, HPKE key bound in the claims). */
/** A request sent and not yet paid or refused: what its late receipt is checked against. */
interface Outstanding {
    model: Model;
    name: string;
    /** Sealed: the worker the request was sealed to. */
    target?: VerifiedCandidate;
    maxTokens: bigint;
}

/** Requests kept for late receipts (spec/client.md, "Late receipts"). */
const MAX_OUTSTANDING = 1024;
/**
 * A late receipt that could not be checked (its worker not yet among the attested candidates, or the connection lost
 * meanwhile) is checked again, with a growing delay; it stays outstanding for a later re-send after that.
 */
const LATE_RECEIPT_ATTEMPTS = 8;
const LATE_RECEIPT_RETRY_MS = 250;

interface VerifiedCandidate {
    keyId: string;
    hpkePublicKey: Buffer;
    coefficient: bigint;
    /** The worker's attested certificate key = its receipt key. */
    workerKey: Buffer;
    imageHash: string;
}

/** One attempt's response state (exchange → onChunk → onEnd). */
interface ExchangeState {
    started: boolean;
    /** A 4xx/5xx status: the chunks are the error body, and nothing is paid. */
    errStatus?: number;
    errBody: string[];
    seq: number;
    /** Usage the response itself reported (a stream's usage chunk, or the body's usage). */
    reported?: TokenUsage;
    body: string[];
    /** UTF-8 bytes of generated text received (metering.contentBytes), counted after unsealing. */
    bytes: number;
    /** Router-blind: the opener keyed by the response_start (its salt, status and headers). */
    opener?: ResponseOpener;
    /** Router-blind: the start event, held back until the first chunk authenticates the response_start. */
    pendingStart?: ClientEvent;
}

/** A retryable refusal before response_start (sealed mode re-seals to the next candidate). */
class RetryBeforeStart extends Error {
    constructor(readonly error: ClientError) {
        super(error.message);
    }
}

function uint256(v: bigint): Buffer {
    return Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
}

function newId(): string {
    return randomBytes(16).toString('hex');
}

function sameUsage(a: TokenUsage, b: TokenUsage): boolean {
    return TOKEN_KINDS.every((k) => a[k] === b[k]);
}

function errMsg(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}

/** A response_error / error frame for a request as a ClientError. */
function wireRefusal(code: string, message: string, retryable: boolean, started: boolean): ClientError {
    const details = { wireCode: code, retryable };
    if (code === 'WORKER_LOST' || (started && code === 'BACKEND_STREAM_BROKEN')) return new ClientError('WORKER_LOST', message, details);
    if (code === 'NO_WORKER' || code === 'WORKER_BUSY') return new ClientError('NO_WORKER', message, details);
    if (code === 'MODEL_NOT_REGISTERED') return new ClientError('MODEL_NOT_FOUND', message, details);
    if (code === 'RECEIPT_INVALID') return new ClientError('RECEIPT_INVALID', message, details);
    if (code.startsWith('WIRE_') || code.startsWith('HPKE_')) return new ClientError('PROTOCOL_ERROR', message, details);
    return new ClientError('REQUEST_REJECTED', message, details);
}

function optNumber(v: number | undefined, name: string, dflt: number): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ClientError('CONFIG_INVALID', `${name} must be a positive number`, { option: name });
    return v;
}

export class CocoonClient {
    readonly privacy: Privacy;
    readonly maxCoefficient: bigint;
    readonly maxRequestCost: bigint | undefined;
    private readonly chain: TonChain;
    private readonly wallet: ChainWallet;
    private readonly keys: KeyPair;
    private readonly clientKeyHex: string;
    private readonly clock: Clock;
    private readonly log: ClientLog;
    private readonly opts: CocoonClientOptions;
    private readonly rootPollMs: number;
    private readonly requestTimeoutMs: number;
    private readonly connectTimeoutMs: number;
    private readonly reconnectMinMs: number;
    private readonly reconnectMaxMs: number;
    private readonly candidateTtlMs: number;
    private readonly txTimeoutMs: number;
    private readonly quoteCache: VerificationCache;
    private readonly workerVerifier: PeerVerifier;

    private identity?: RaTlsIdentity;
    private store?: ClientStateStore;
    private proxyAddr?: Address;
    private proxyKey?: bigint;
    private wrapper?: ClientChannelWrapper;
    private cumulative = 0n;
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

    private link?: Link;
    private connecting?: Promise<Link>;
    private reconnectTimer?: NodeJS.Timeout;
    private pollTimer?: NodeJS.Timeout;
    private failures = 0;
    private stopped = false;
    private opened = false;
    /** Why we do not (re)connect: the proxy's image or registration no longer passes Root's checks. */
    private blocked?: string;
    private lastImageHash?: string;
    private lastStatus: PaymentStatus | null = null;
    private last?: Receipt;
    private lastVoucherError: { code: string; message: string } | null = null;
    private readonly candidates = new Map<string, { at: number; list: VerifiedCandidate[] }>();
    private readonly verified = new Map<string, { until: number; c: VerifiedCandidate }>();

    constructor(opts: CocoonClientOptions) {
        if (!Buffer.isBuffer(opts.seed) || opts.seed.length !== 32) throw new ClientError('CONFIG_INVALID', 'seed must be a 32-byte Buffer', { option: 'seed' });
        if (typeof opts.statePath !== 'string' || opts.statePath.length === 0) throw new ClientError('CONFIG_INVALID', 'statePath must be a file path', { option: 'statePath' });
        if (!opts.chain || !opts.wallet) throw new ClientError('CONFIG_INVALID', 'chain and wallet are required', { option: opts.chain ? 'wallet' : 'chain' });
        if (!opts.quotePolicy || typeof opts.quotePolicy !== 'object') throw new ClientError('CONFIG_INVALID', 'quotePolicy is required', { option: 'quotePolicy' });
        const privacy = opts.privacy ?? 'sealed';
        if (privacy !== 'sealed' && privacy !== 'plain') throw new ClientError('CONFIG_INVALID', "privacy must be 'sealed' or 'plain'", { option: 'privacy' });
        const maxCoefficient = opts.maxCoefficient ?? 1500n;
        if (typeof maxCoefficient !== 'bigint' || maxCoefficient < 0n || maxCoefficient > 0xffff_ffffn)
            throw new ClientError('CONFIG_INVALID', 'maxCoefficient must be a bigint in 0..2^32-1 (1000 = 1.0x)', { option: 'maxCoefficient' });
        if (opts.deposit !== undefined && (typeof opts.deposit !== 'bigint' || opts.deposit <= 0n))
            throw new ClientError('CONFIG_INVALID', 'deposit must be a positive bigint (nanoTON)', { option: 'deposit' });
        this.opts = opts;
        this.chain = opts.chain;
        this.wallet = opts.wallet;
        this.privacy = privacy;
        this.maxCoefficient = maxCoefficient;
        if (opts.maxRequestCost !== undefined && (typeof opts.maxRequestCost !== 'bigint' || opts.maxRequestCost < 0n))
            throw new ClientError('CONFIG_INVALID', 'maxRequestCost must be a non-negative bigint (nanoTON)', { option: 'maxRequestCost' });
        this.maxRequestCost = opts.maxRequestCost;
        this.keys = keyPairFromSeed(opts.seed);
        this.clientKeyHex = this.keys.publicKey.toString('hex');
        this.clock = opts.clock ?? systemClock;
        this.log = opts.log ?? (() => undefined);
        this.rootPollMs = optNumber(opts.rootPollMs, 'rootPollMs', 5000);
        this.requestTimeoutMs = optNumber(opts.requestTimeoutMs, 'requestTimeoutMs', 120_000);
        this.connectTimeoutMs = optNumber(opts.connectTimeoutMs, 'connectTimeoutMs', 10_000);
        this.reconnectMinMs = optNumber(opts.reconnectMinMs, 'reconnectMinMs', 250);
        this.reconnectMaxMs = optNumber(opts.reconnectMaxMs, 'reconnectMaxMs', 10_000);
        this.candidateTtlMs = optNumber(opts.candidateTtlMs, 'candidateTtlMs', 3000);
        this.txTimeoutMs = optNumber(opts.txTimeoutMs, 'txTimeoutMs', 60_000);
        this.quoteCache = new VerificationCache({ ttlMs: 10 * 60_000, now: () => this.clock.now() });
        // Worker images are read from the cached Root config at verification time, so an allowlist change applies at once.
        this.workerVerifier = new PeerVerifier(
            { quote: opts.quotePolicy, isImageAllowed: (h) => this.chain.cachedRootConfig?.workerImages.has(h) ?? false, requireHpkeKey: true },
            { cache: this.quoteCache, clock: () => new Date(this.clock.now()) },
        );
    }

    /** The client's public key (hex): the channel's clientKey and the voucher key. */
    get clientKey(): string {
        return this.clientKeyHex;
    }

    /** The ClientChannel address (after open()). */
    get channel(): Address {
        return this.need().wrapper.address;
    }

    /** The chosen Proxy contract (after open()). */
    get proxy(): Address {
        return this.need().proxy;
    }

    /** The last receipt that verified and was paid (for displays; the state file holds what counts). */
    get lastReceipt(): Receipt | undefined {
        return this.last;
    }

    get connected(): boolean {
        return this.link !== undefined && !this.link.closed && this.link.pre === undefined;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Lifecycle

    /**
     * Picks the proxy (verifying its attestation and key), derives the canonical ClientChannel, deploys / tops it up
     * to `deposit`, loads the state file, connects (hello) and starts polling Root.
     */
    async open(): Promise<void> {
        if (this.opened) return;
        if (this.stopped) throw new ClientError('NOT_OPEN', 'the client was stopped');
        this.identity = await KeyIdentity.create({ seed: this.opts.seed });
        this.identity.start();
        try {
            await this.openChannel();
        } catch (e) {
            this.identity.stop();
            throw e;
        }
        this.opened = true;
        this.pollTimer = setInterval(() => void this.pollRoot(), this.rootPollMs);
        this.pollTimer.unref?.();
        await this.connect();
    }

    private async openChannel(): Promise<void> {
        const cfg = await this.chain.getRootConfig();
        const stateProbe = ClientStateStore.load(this.opts.statePath, this.clientKeyHex);
        const info = await this.selectProxy(cfg, stateProbe);
        this.proxyAddr = info.address;
        this.proxyKey = info.info.enclaveKey;
        this.wrapper = await ClientChannelWrapper.create({
            proxy: info.address,
            client: this.wallet.address,
            clientKey: BigInt('0x' + this.clientKeyHex),
            proxyKey: info.info.enclaveKey,
            closeDelay: cfg.params.clientCloseDelay,
            code: cfg.childCode.clientCode,
        });
        this.store = stateProbe;
        const raw = this.wrapper.address.toRawString();
        const rec = this.store.get(raw);
        this.cumulative = rec?.cumulative ?? 0n;
        this.signature = rec?.signature ? Buffer.from(rec.signature, 'hex') : null;
        if (!rec) await this.store.put(raw, { proxy: info.address.toRawString(), cumulative: 0n, signature: null }, this.clock.now());
        this.log('client.channel-selected', { channel: this.wrapper.address.toString(), proxy: info.address.toString(), cumulative: this.cumulative.toString() });

        await this.ensureDeposit(cfg);
    }

    /** Connects (RA-TLS + hello) unless connected; concurrent callers share one attempt. */
    connect(): Promise<void> {
        return this.connectLink().then(() => undefined);
    }

    /** Closes the connection and stops timers; pending requests fail with NOT_OPEN. The state file stays. */
    async stop(): Promise<void> {
        this.stopped = true;
        if (this.pollTimer) clearInterval(this.pollTimer);
        if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
        this.pollTimer = this.reconnectTimer = undefined;
        const link = this.link;
        this.link = undefined;
        if (link) this.dropLink(link, new ClientError('NOT_OPEN', 'the client was stopped'));
        await this.connecting?.catch(() => undefined);
        this.identity?.stop();
        await this.payQueue;
    }

    private need(): { wrapper: ClientChannelWrapper; proxy: Address; store: ClientStateStore; proxyKey: bigint } {
        if (!this.wrapper || !this.proxyAddr || !this.store || this.proxyKey === undefined) throw new ClientError('NOT_OPEN', 'call open() first');
        return { wrapper: this.wrapper, proxy: this.proxyAddr, store: this.store, proxyKey: this.proxyKey };
    }

    /** Pinned proxy, or Root's proxies: those we already have a channel with first, then by registeredAt. */
    private async selectProxy(cfg: RootConfig, store: ClientStateStore): Promise<{ address: Address; info: ProxyInfo }> {
        if (this.opts.proxy) {
            const info = cfg.proxies.get(this.opts.proxy.toRawString());
            if (!info) throw new ClientError('NO_PROXY', `proxy ${this.opts.proxy.toString()} is not registered in Root`);
            await this.probe(info);
            return { address: this.opts.proxy, info };
        }
        const known = new Set<string>();
        for (const [raw, info] of cfg.proxies) {
            const ch = await this.channelFor(cfg, Address.parse(raw), info);
            if (store.get(ch.toRawString())) known.add(raw);
        }
        const order = [...cfg.proxies.entries()].sort(([a, x], [b, y]) => {
            const k = Number(known.has(b)) - Number(known.has(a));
            if (k !== 0) return k;
            return x.registeredAt !== y.registeredAt ? (x.registeredAt < y.registeredAt ? -1 : 1) : a < b ? -1 : 1;
        });
        const refusals: Record<string, string> = {};
        for (const [raw, info] of order) {
            try {
                await this.probe(info);
                return { address: Address.parse(raw), info };
            } catch (e) {
                if (!(e instanceof ClientError) || (e.code !== 'PROXY_REJECTED' && e.code !== 'PROXY_UNREACHABLE')) throw e;
                refusals[raw] = `${e.code}: ${e.message}`;
                this.log('client.proxy-skipped', { proxy: raw, code: e.code, reason: e.details?.reason, message: e.message });
            }
        }
        throw new ClientError('NO_PROXY', `no usable proxy among ${cfg.proxies.size} registered`, { refusals });
    }

    private async channelFor(cfg: RootConfig, proxy: Address, info: ProxyInfo): Promise<Address> {
        const w = await ClientChannelWrapper.create({
            proxy,
            client: this.wallet.address,
            clientKey: BigInt('0x' + this.clientKeyHex),
            proxyKey: info.enclaveKey,
            closeDelay: cfg.params.clientCloseDelay,
            code: cfg.childCode.clientCode,
        });
        return w.address;
    }

    /** An attested connection closed right away: proves the proxy's image and key before any money moves. */
    private async probe(info: ProxyInfo): Promise<void> {
        const c = await this.dial(info);
        c.ws.terminate();
    }

    private async dial(info: ProxyInfo): Promise<RaTlsConnection> {
        if (!this.identity) throw new ClientError('NOT_OPEN', 'call open() first');
        const verifier = new ProxyVerifier(
            { quote: this.opts.quotePolicy, isImageAllowed: (h) => this.chain.cachedRootConfig?.proxyImages.has(h) ?? false },
            uint256(info.enclaveKey),
            { cache: this.quoteCache, clock: () => new Date(this.clock.now()) },
        );
        try {
            return await connectRaTls(info.clientEndpoint, this.identity, verifier, { timeoutMs: this.connectTimeoutMs, ws: { maxPayload: MAX_FRAME_BYTES } });
        } catch (e) {
            if (e instanceof ClientError) throw e;
            if (e instanceof AttestationError) throw new ClientError('PROXY_REJECTED', `proxy attestation refused: ${e.message}`, { reason: e.code, endpoint: info.clientEndpoint });
            const reason = e instanceof TransportError ? e.code : undefined;
            throw new ClientError('PROXY_UNREACHABLE', `cannot connect to ${info.clientEndpoint}: ${errMsg(e)}`, { reason, endpoint: info.clientEndpoint });
        }
    }

    private connectLink(): Promise<Link> {
        if (this.link && !this.link.closed && this.link.pre === undefined) return Promise.resolve(this.link);
        if (this.stopped) return Promise.reject(new ClientError('NOT_OPEN', 'the client was stopped'));
        if (!this.opened) return Promise.reject(new ClientError('NOT_OPEN', 'call open() first'));
        if (this.blocked) return Promise.reject(new ClientError('PROXY_REJECTED', this.blocked, { reason: 'ROOT' }));
        if (!this.connecting) {
            if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
            this.reconnectTimer = undefined;
            this.connecting = this.doConnect()
                .then((l) => {
                    this.failures = 0;
                    return l;
                })
                .catch((e: unknown) => {
                    this.failures++;
                    this.log('client.connect-failed', { code: (e as CocoonError).code, message: errMsg(e) });
                    // Clear the in-flight marker first: scheduleReconnect does nothing while a connect is pending.
                    this.connecting = undefined;
                    this.scheduleReconnect();
                    throw e;
                })
                .finally(() => (this.connecting = undefined));
        }
        return this.connecting;
    }

    private async doConnect(): Promise<Link> {
        const { proxy, proxyKey } = this.need();
        const cfg = await this.chain.getRootConfig();
        const info = cfg.proxies.get(proxy.toRawString());
        if (!info) throw new ClientError('PROXY_REJECTED', `proxy ${proxy.toString()} is no longer registered in Root`, { reason: 'NOT_REGISTERED' });
        if (info.enclaveKey !== proxyKey) throw new ClientError('PROXY_REJECTED', 'the proxy re-registered with another enclave key; this channel is not its channel', { reason: 'KEY_CHANGED' });
        const conn = await this.dial(info);
        if (this.stopped) {
            conn.ws.terminate();
            throw new ClientError('NOT_OPEN', 'the client was stopped');
        }
        const link = new Link(conn.ws, conn.peer);
        this.lastImageHash = conn.peer.imageHash;
        conn.ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(link, data, isBinary));
        conn.ws.on('close', () => this.onClosed(link));
        conn.ws.on('error', (e) => this.log('client.socket-error', { message: e.message }));
        this.link = link;
        try {
            await this.handshake(link, proxy);
        } catch (e) {
            this.dropLink(link, e instanceof ClientError ? e : new ClientError('PROTOCOL_ERROR', errMsg(e)));
            throw e;
        }
        return link;
    }

    /** hello → hello_ok (version, proxy address) → payment_status; then resends our latest voucher if the proxy lacks it. */
    private async handshake(link: Link, proxy: Address): Promise<void> {
        const { wrapper } = this.need();
        link.ws.send(
            encodeFrame({ type: 'hello', v: PROTOCOL_VERSION, minV: MIN_PROTOCOL_VERSION, role: 'client', channel: wrapper.address.toString(), agent: AGENT }, 'client_to_proxy'),
        );
        const pre = link.pre!;
        const timeout = () => new ClientError('PROXY_UNREACHABLE', `no hello_ok within ${this.connectTimeoutMs} ms`);
        const ok = await pre.next(this.connectTimeoutMs, timeout);
        if (ok === DONE) throw timeout();
        if (ok.type === 'error') throw new ClientError('PROXY_REFUSED', `proxy refused hello: ${ok.code}: ${ok.message}`, { wireCode: ok.code });
        if (ok.type !== 'hello_ok') throw new ClientError('PROTOCOL_ERROR', `expected hello_ok, got ${ok.type}`);
        if (ok.v < MIN_PROTOCOL_VERSION || ok.v > PROTOCOL_VERSION) throw new ClientError('PROTOCOL_ERROR', `proxy negotiated version ${ok.v}`);
        if (!Address.parse(ok.proxy).equals(proxy)) throw new ClientError('PROTOCOL_ERROR', `proxy says it is ${ok.proxy}, Root says ${proxy.toString()}`);
        link.version = ok.v;
        const st = await pre.next(this.connectTimeoutMs, () => new ClientError('PROXY_UNREACHABLE', `no payment_status within ${this.connectTimeoutMs} ms`));
        if (st === DONE) throw timeout();
        if (st.type === 'error') throw new ClientError('PROXY_REFUSED', `proxy refused the channel: ${st.code}: ${st.message}`, { wireCode: st.code });
        if (st.type !== 'payment_status') throw new ClientError('PROTOCOL_ERROR', `expected payment_status, got ${st.type}`);
        link.pre = undefined;
        this.onPaymentStatus(st);
        // Frames right behind payment_status: the proxy re-sends unsettled receipts there (settleLate).
        for (const f of pre.drain()) this.dispatch(link, f);
        if (st.voucher < this.cumulative && this.signature) {
            this.log('client.voucher-resent', { proxyHas: st.voucher.toString(), ours: this.cumulative.toString() });
            this.sendVoucher(link);
        } else if (st.voucher > this.cumulative) {
            // The proxy holds a voucher above our state file (restored from a backup?). Signing below it would be
            // refused; adopting the proxy's number would trust it with our money. Report it and keep ours.
            this.log('client.proxy-voucher-above-state', { proxyHas: st.voucher.toString(), ours: this.cumulative.toString() });
        }
        this.log('client.connected', { proxy: proxy.toString(), version: ok.v });
    }

    private onMessage(link: Link, data: RawData, isBinary: boolean): void {
        if (link.closed) return;
        if (isBinary) return this.protocolFault(link, new WireError('WIRE_MALFORMED', 'binary message'));
        let f: InFrame;
        try {
            f = parseFrame(data as Buffer, 'proxy_to_client', link.version === undefined ? {} : { version: link.version });
        } catch (e) {
            return this.protocolFault(link, e);
        }
        if (f.type === 'ping') {
            try {
                link.send({ type: 'pong', v: f.v, nonce: f.nonce });
            } catch {
                /* closing */
            }
            return;
        }
        if (f.type === 'pong') return;
        if (link.pre) {
            link.pre.push(f);
            return;
        }
        this.dispatch(link, f);
    }

    private dispatch(link: Link, f: InFrame): void {
        switch (f.type) {
            case 'payment_status':
                return this.onPaymentStatus(f);
            case 'response_start':
            case 'response_chunk':
            case 'response_end':
            case 'response_error': {
                const q = link.requests.get(f.id);
                if (q) q.push(f);
                else if (f.type === 'response_end' && this.outstanding.has(f.id)) void this.settleLate(link, f);
                else this.log('client.frame-dropped', { type: f.type, id: f.id });
                return;
            }
            case 'worker_candidates': {
                const q = link.queries.get(f.id);
                if (q) q.push(f);
                return;
            }
            case 'error': {
                const q = f.id !== undefined ? (link.requests.get(f.id) ?? link.queries.get(f.id)) : undefined;
                if (q) return q.push(f);
                if (f.code === 'VOUCHER_INVALID' || f.code === 'VOUCHER_REFUSED') this.lastVoucherError = { code: f.code, message: f.message };
                this.log('client.proxy-error', { code: f.code, message: f.message, fatal: f.fatal });
                if (f.fatal) this.dropLink(link, new ClientError('PROXY_REFUSED', `proxy closed the connection: ${f.code}: ${f.message}`, { wireCode: f.code }));
                return;
            }
            case 'hello_ok':
                return this.protocolFault(link, new WireError('WIRE_BAD_FIELD', 'hello_ok after the handshake'));
        }
    }

    private onPaymentStatus(f: PaymentStatusFrame): void {
        this.lastStatus = { delivered: f.delivered, voucher: f.voucher, creditWindow: f.creditWindow, creditRemaining: f.creditRemaining };
        if (f.voucher >= this.cumulative) this.lastVoucherError = null;
    }

    /** The proxy sent something that does not parse: tell it (fatal) and drop the connection. */
    private protocolFault(link: Link, e: unknown): void {
        const code = e instanceof WireError ? e.code : 'WIRE_MALFORMED';
        this.log('client.bad-frame', { code, message: errMsg(e) });
        try {
            link.send({ type: 'error', v: link.version ?? PROTOCOL_VERSION, code, message: errMsg(e).slice(0, 1024), fatal: true });
        } catch {
            /* already closing */
        }
        this.dropLink(link, new ClientError('PROTOCOL_ERROR', `proxy sent a bad frame: ${errMsg(e)}`, { wireCode: code }));
    }

    private dropLink(link: Link, err: ClientError): void {
        if (!link.closed) {
            link.closed = true;
            link.failAll(err);
            link.ws.terminate();
        }
        if (this.link === link) {
            this.link = undefined;
            this.scheduleReconnect();
        }
    }

    private onClosed(link: Link): void {
        if (!link.closed) {
            link.closed = true;
            link.failAll(new ClientError('PROXY_UNREACHABLE', 'the proxy connection closed'));
        }
        if (this.link === link) {
            this.link = undefined;
            this.log('client.disconnected', {});
            this.scheduleReconnect();
        }
    }

    private scheduleReconnect(): void {
        if (this.stopped || !this.opened || this.blocked || this.reconnectTimer || this.connecting || this.link) return;
        const delay = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** Math.min(this.failures, 16));
        this.reconnectTimer = setTimeout(() => {
            this.reconnectTimer = undefined;
            this.connectLink().catch(() => undefined); // failures reschedule themselves
        }, delay);
        this.reconnectTimer.unref?.();
    }

    /** Root poll: a removed proxy image or registration disconnects us and keeps us off until it is back. */
    private async pollRoot(): Promise<void> {
        let changed: boolean;
        try {
            changed = await this.chain.refreshIfChanged();
        } catch (e) {
            this.log('client.root-poll-failed', { message: errMsg(e) });
            return;
        }
        if (!changed || this.stopped) return;
        const cfg = this.chain.cachedRootConfig!;
        this.candidates.clear();
        this.verified.clear();
        const why = this.proxyRefusal(cfg);
        if (why) {
            if (!this.blocked) this.log('client.proxy-blocked', { reason: why });
            this.blocked = why;
            if (this.link) this.dropLink(this.link, new ClientError('PROXY_REJECTED', why, { reason: 'ROOT' }));
        } else if (this.blocked) {
            this.log('client.proxy-unblocked', {});
            this.blocked = undefined;
            this.scheduleReconnect();
        }
    }

    private proxyRefusal(cfg: RootConfig): string | undefined {
        const { proxy, proxyKey } = this.need();
        const info = cfg.proxies.get(proxy.toRawString());
        if (!info) return `proxy ${proxy.toString()} is no longer registered in Root`;
        if (info.enclaveKey !== proxyKey) return 'the proxy re-registered with another enclave key';
        if (this.lastImageHash && !cfg.proxyImages.has(this.lastImageHash)) return `proxy image ${this.lastImageHash} was removed from Root's proxyImages`;
        return undefined;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Models and workers

    /** Root's registered models that have at least one attested worker at or below maxCoefficient right now. */
    async listModels(): Promise<ModelInfo[]> {
        this.need();
        const cfg = await this.chain.getRootConfig();
        const out: ModelInfo[] = [];
        const models = [...cfg.models.entries()].sort(([, a], [, b]) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const [idHex, m] of models) {
            let list: VerifiedCandidate[];
            try {
                list = await this.workerCandidates(m.name, false);
            } catch (e) {
                if (e instanceof ClientError && (e.code === 'PROXY_UNREACHABLE' || e.code === 'PROXY_REJECTED' || e.code === 'NOT_OPEN')) throw e;
                list = [];
            }
            if (list.length === 0) continue;
            out.push({
                id: m.name,
                modelId: idHex,
                contextLength: Number(m.contextLength),
                prices: { pricePrompt: m.pricePrompt, priceCached: m.priceCached, priceCompletion: m.priceCompletion, priceReasoning: m.priceReasoning },
                workers: list.length,
                minCoefficient: list.reduce((a, c) => (c.coefficient < a ? c.coefficient : a), list[0].coefficient),
            });
        }
        return out;
    }

    /** Root's model of that name, or undefined. */
    async getModel(name: string): Promise<Model | undefined> {
        const cfg = await this.chain.getRootConfig();
        return cfg.models.get(hex256(modelId(name)));
    }

    /** Verified candidates for a model (cached candidateTtlMs unless `fresh`). */
    private async workerCandidates(model: string, fresh: boolean): Promise<VerifiedCandidate[]> {
        const cached = this.candidates.get(model);
        if (cached && !fresh && this.clock.now() - cached.at < this.candidateTtlMs) return cached.list;
        const link = await this.connectLink();
        const id = newId();
        const q = new Queue<InFrame>();
        link.queries.set(id, q);
        let f: InFrame | typeof DONE;
        try {
            link.send({ type: 'get_worker_candidates', v: link.version!, id, model, maxCoefficient: this.maxCoefficient });
            f = await q.next(this.connectTimeoutMs, () => new ClientError('TIMEOUT', `no worker_candidates within ${this.connectTimeoutMs} ms`));
        } finally {
            link.queries.delete(id);
        }
        if (f === DONE) throw new ClientError('PROTOCOL_ERROR', 'candidate query ended');
        if (f.type === 'error' || f.type === 'response_error') {
            if (f.code === 'MODEL_NOT_REGISTERED' || f.code === 'NO_WORKER') return this.cacheCandidates(model, []);
            throw new ClientError('PROXY_REFUSED', `proxy refused get_worker_candidates: ${f.code}: ${f.message}`, { wireCode: f.code });
        }
        if (f.type !== 'worker_candidates' || f.model !== model) throw new ClientError('PROTOCOL_ERROR', `unexpected answer to get_worker_candidates: ${f.type}`);
        const list: VerifiedCandidate[] = [];
        for (const c of f.candidates) {
            if (c.coefficient > this.maxCoefficient) continue; // the proxy should not offer these; we do not use them
            const v = this.verifyCandidate(c);
            if (v) list.push(v);
        }
        return this.cacheCandidates(model, list);
    }

    private cacheCandidates(model: string, list: VerifiedCandidate[]): VerifiedCandidate[] {
        this.candidates.set(model, { at: this.clock.now(), list });
        return list;
    }

    /** Attestation of a candidate: Root's worker images, and the HPKE key it offers is the one its quote binds. */
    private verifyCandidate(c: WorkerCandidateInfo): VerifiedCandidate | null {
        const cacheKey = `${c.keyId}:${c.coefficient}:${createHash('sha256').update(c.attestation).digest('hex')}`;
        const hit = this.verified.get(cacheKey);
        if (hit && hit.until > this.clock.now()) return hit.c;
        let peer: PeerAttestation;
        try {
            peer = this.workerVerifier.verify(Buffer.from(c.attestation, 'base64'));
        } catch (e) {
            this.log('client.candidate-refused', { keyId: c.keyId, code: (e as CocoonError).code, message: errMsg(e) });
            return null;
        }
        const hpke = Buffer.from(c.hpkePublicKey, 'hex');
        if (!peer.claims.hpkePublicKey || !peer.claims.hpkePublicKey.equals(hpke)) {
            this.log('client.candidate-refused', { keyId: c.keyId, code: 'HPKE_KEY_NOT_ATTESTED' });
            return null;
        }
        const v: VerifiedCandidate = { keyId: c.keyId, hpkePublicKey: hpke, coefficient: c.coefficient, workerKey: peer.cert.publicKey, imageHash: peer.imageHash };
        this.verified.set(cacheKey, { until: peer.cert.notAfter.getTime(), c: v });
        return v;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Requests

    /**
     * Sends one OpenAI request and yields `start`, `chunk`s and `end` (after the receipt verified and the voucher was
     * persisted and sent). Throws ClientError. Breaking out of the loop or aborting `signal` cancels the request;
     * a response_end that still arrives is verified and paid in the background.
     */
    async *request(args: RequestArgs): AsyncGenerator<ClientEvent, void, undefined> {
        const events = new Queue<ClientEvent>();
        const ctrl = new AbortController();
        const onOuterAbort = () => ctrl.abort();
        if (args.signal?.aborted) throw new ClientError('CANCELLED', 'the request was aborted before it was sent');
        args.signal?.addEventListener('abort', onOuterAbort);
        const driver = this.drive(args, events, ctrl.signal).catch((e: unknown) => {
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

    private async drive(args: RequestArgs, events: Queue<ClientEvent>, signal: AbortSignal): Promise<void> {
        const { endpoint, body } = args;
        if (endpoint !== 'chat' && endpoint !== 'completions') throw new ClientError('CONFIG_INVALID', "endpoint must be 'chat' or 'completions'", { param: 'endpoint' });
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ClientError('CONFIG_INVALID', 'body must be a JSON object', { param: 'body' });
        if (typeof body.model !== 'string' || body.model.length === 0) throw new ClientError('CONFIG_INVALID', "body.model must be a model name", { param: 'model' });
        if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw new ClientError('CONFIG_INVALID', 'body.stream must be a boolean', { param: 'stream' });
        const name = body.model;
        const model = await this.getModel(name);
        if (!model) throw new ClientError('MODEL_NOT_FOUND', `The model '${name}' is not registered in Root`, { param: 'model' });
        const stream = body.stream === true;
        const fields = { model: name, endpoint, stream, maxTokens: requestedMaxTokens(body, model), maxCoefficient: this.maxCoefficient };
        const tried = new Set<string>();
        let last: ClientError | undefined;
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            if (signal.aborted) throw new ClientError('CANCELLED', 'the request was aborted');
            const link = await this.connectLink();
            const id = newId();
            let frame: RequestFrame;
            let secret: ResponseSecret | undefined;
            let target: VerifiedCandidate | undefined;
            try {
                if (this.privacy === 'sealed') {
                    target = await this.pickCandidate(name, tried);
                    const sealed = await sealRequestFrame({ hpkePublicKey: target.hpkePublicKey }, { id, ...fields }, body, link.version);
                    frame = sealed.frame;
                    secret = sealed.response;
                } else {
                    frame = { type: 'request', v: link.version!, id, ...fields, body };
                    encodeFrame(frame, 'client_to_proxy'); // a bad body is our caller's error, not a dropped connection
                }
            } catch (e) {
                if (e instanceof WireError) throw new ClientError('CONFIG_INVALID', `request does not fit the wire: ${e.message}`, { param: (e.details?.path as string | undefined) ?? null });
                throw e;
            }
            try {
                await this.exchange(link, frame, { model, name, secret, target, events, signal, stream });
                return;
            } catch (e) {
                if (!(e instanceof RetryBeforeStart)) throw e;
                last = e.error;
                if (this.privacy !== 'sealed') throw e.error;
                if (target) tried.add(target.keyId);
                this.log('client.reseal', { id, code: e.error.wireCode, attempt });
            }
        }
        throw last ?? new ClientError('NO_WORKER', 'no worker answered');
    }

    /** The first verified candidate not yet tried (refreshing the list once when all cached ones were tried). */
    private async pickCandidate(model: string, tried: Set<string>): Promise<VerifiedCandidate> {
        let list = await this.workerCandidates(model, false);
        let next = list.find((c) => !tried.has(c.keyId));
        if (!next && list.length > 0) {
            list = await this.workerCandidates(model, true);
            next = list.find((c) => !tried.has(c.keyId));
        }
        if (!next) throw new ClientError('NO_WORKER', `no attested worker for '${model}' within coefficient ${this.maxCoefficient}`, { wireCode: 'NO_WORKER' });
        return next;
    }

    /** One attempt: send, then run the response state machine until response_end (paid) or an error. */
    private async exchange(
        link: Link,
        frame: RequestFrame,
        ctx: { model: Model; name: string; secret?: ResponseSecret; target?: VerifiedCandidate; events: Queue<ClientEvent>; signal: AbortSignal; stream: boolean },
    ): Promise<void> {
        const id = frame.id;
        const frames = new Queue<InFrame>();
        const events = ctx.events;
        let cancelled = false;
        const cancel = () => {
            if (cancelled) return;
            cancelled = true;
            try {
                link.send({ type: 'cancel', v: link.version!, id });
            } catch {
                /* connection gone: nothing to cancel */
            }
        };
        const onAbort = () => {
            cancel();
            events.fail(new ClientError('CANCELLED', 'the request was cancelled', { requestId: id }));
        };
        link.requests.set(id, frames);
        this.remember(id, { model: ctx.model, name: ctx.name, target: ctx.target, maxTokens: BigInt(frame.maxTokens) });
        ctx.signal.addEventListener('abort', onAbort);
        const st: ExchangeState = { started: false, errBody: [], seq: 0, body: [], bytes: 0 };
        try {
            link.send(frame);
            for (;;) {
                let f: InFrame | typeof DONE;
                try {
                    f = await frames.next(this.requestTimeoutMs, () => new ClientError('TIMEOUT', `no answer for request ${id} within ${this.requestTimeoutMs} ms`, { requestId: id }));
                } catch (e) {
                    if (e instanceof ClientError && e.code === 'TIMEOUT') cancel();
                    if (e instanceof ClientError && e.code === 'PROXY_UNREACHABLE' && st.started) throw new ClientError('WORKER_LOST', `connection lost mid-response: ${e.message}`, { requestId: id });
                    throw e;
                }
                if (f === DONE) throw new ClientError('PROTOCOL_ERROR', 'request stream ended without response_end');
                switch (f.type) {
                    case 'response_start':
                        if (st.started) throw this.fault(link, id, 'second response_start');
                        st.started = true;
                        if (ctx.secret) {
                            // The key binds status and headers: they count only once the first chunk opened.
                            try {
                                st.opener = openStartFrame(ctx.secret, f);
                            } catch (e) {
                                throw this.fault(link, id, `response_start: ${errMsg(e)}`, (e as CocoonError).code);
                            }
                        } else if (f.salt !== undefined) throw this.fault(link, id, 'a sealed response_start in a plain response', 'WIRE_BAD_FIELD');
                        if (f.status >= 400) st.errStatus = f.status;
                        else {
                            const start: ClientEvent = { type: 'start', status: f.status, headers: { ...f.headers } as Record<string, string>, requestId: id, worker: ctx.target?.workerKey.toString('hex') };
                            if (st.opener) st.pendingStart = start;
                            else events.push(start);
                        }
                        break;
                    case 'response_chunk':
                        this.onChunk(link, id, f, ctx, st);
                        break;
                    case 'response_end':
                        await this.onEnd(link, f, { ...ctx, maxTokens: frame.maxTokens }, st);
                        return;
                    case 'response_error':
                    case 'error': {
                        this.outstanding.delete(id); // refused or failed: nothing is charged for it
                        const retryable = f.type === 'response_error' ? f.retryable : false;
                        const err = wireRefusal(f.code, f.message, retryable, st.started);
                        if (!st.started && retryable) throw new RetryBeforeStart(err);
                        if (st.errStatus !== undefined) throw upstream(st.errStatus, st.errBody);
                        throw err;
                    }
                    default:
                        throw this.fault(link, id, `unexpected ${f.type}`);
                }
            }
        } finally {
            link.requests.delete(id);
            ctx.signal.removeEventListener('abort', onAbort);
        }
    }

    private onChunk(
        link: Link,
        id: string,
        f: ResponseChunkFrame,
        ctx: { secret?: ResponseSecret; events: Queue<ClientEvent>; stream: boolean },
        st: ExchangeState,
    ): void {
        if (!st.started) throw this.fault(link, id, 'response_chunk before response_start');
        if (f.seq !== st.seq) throw this.fault(link, id, `chunk seq ${f.seq}, expected ${st.seq}`);
        st.seq++;
        let data: string;
        try {
            if (st.opener) data = openChunkFrame(st.opener, f);
            else if (f.data !== undefined) data = f.data;
            else throw new WireError('WIRE_BAD_FIELD', 'sealed chunk in a plain response', { path: 'sealed' });
        } catch (e) {
            throw this.fault(link, id, `chunk ${f.seq}: ${errMsg(e)}`, (e as CocoonError).code);
        }
        if (st.pendingStart) {
            // The first chunk opened under the key that binds response_start: its status and headers are the worker's.
            ctx.events.push(st.pendingStart);
            st.pendingStart = undefined;
        }
        if (st.errStatus !== undefined) {
            st.errBody.push(data);
            return;
        }
        if (data.length === 0) return; // a sealed response's empty final chunk carries nothing
        if (ctx.stream) {
            const ev = textAndUsage(data, true);
            st.bytes += ev.bytes;
            if (ev.usage) st.reported = ev.usage;
        } else st.body.push(data);
        ctx.events.push({ type: 'chunk', data });
    }

    private async onEnd(
        link: Link,
        f: ResponseEndFrame,
        ctx: { model: Model; name: string; secret?: ResponseSecret; target?: VerifiedCandidate; events: Queue<ClientEvent>; stream: boolean; maxTokens: number },
        st: ExchangeState,
    ): Promise<void> {
        if (!st.started) throw this.fault(link, f.id, 'response_end before response_start');
        if (st.opener) {
            try {
                st.opener.finish();
            } catch (e) {
                throw this.fault(link, f.id, errMsg(e), (e as HpkeError).code, true);
            }
        }
        // An error status is never paid for: honest workers answer errors with response_error, never a 4xx/5xx start.
        if (st.errStatus !== undefined) {
            this.log('client.error-status-unpaid', { id: f.id, status: st.errStatus });
            throw upstream(st.errStatus, st.errBody);
        }
        if (!ctx.stream) {
            const b = textAndUsage(st.body.join(''), false);
            st.reported = b.usage;
            st.bytes = b.bytes;
        }
        // Attack 11: the receipt must fit maxTokens, the context, the text we received ourselves, and the cost cap.
        const receipt = await this.checkReceipt(link, f, ctx, st.reported, this.receiptLimits(ctx.model, ctx.maxTokens, st.bytes));
        // The response is the app's as soon as its receipt checks out; signing, persisting and sending the voucher
        // that covers it runs behind (serialised, persisted before sent), so no fsync sits on the response path.
        // `cumulative` is the voucher amount that covers this response.
        this.outstanding.delete(f.id); // paid here; a copy the proxy re-sends later is ignored
        this.pay(receipt.cost).catch((e: unknown) => this.log('client.voucher-failed', { id: f.id, message: errMsg(e) }));
        const cumulative = this.cumulative + this.unpaid;
        this.last = receipt;
        if (f.partial) {
            // Cut short (broken backend): the prompt and the tokens streamed are paid; the app learns it is incomplete.
            throw new ClientError('WORKER_LOST', `the response was cut short after ${receipt.usage.completion} tokens; those and the prompt were billed`, { requestId: f.id, partial: true });
        }
        ctx.events.push({ type: 'end', usage: receipt.usage, cost: receipt.cost, receipt, worker: receiptWorkerKey(receipt).toString('hex'), requestId: f.id, cumulative });
        ctx.events.end();
    }

    /** A protocol violation on one request: cancel it; with `drop`, also drop the proxy connection. */
    private fault(link: Link, id: string, message: string, code?: string, drop = false): ClientError {
        const err = new ClientError('PROTOCOL_ERROR', `request ${id}: ${message}`, { requestId: id, ...(code ? { wireCode: code } : {}) });
        this.log('client.response-refused', { id, code, message });
        try {
            link.send({ type: 'cancel', v: link.version!, id });
        } catch {
            /* gone */
        }
        if (drop) this.dropLink(link, new ClientError('PROXY_UNREACHABLE', 'connection dropped: the proxy relayed a broken response', { reason: code ?? 'PROTOCOL_ERROR' }));
        return err;
    }

    /**
     * The receipt under the key of a worker we verified: sealed = the candidate we sealed to; plain = any verified
     * candidate for the model (the list is refreshed once for an unknown key). Failure: RECEIPT_INVALID, the
     * connection is dropped, no voucher.
     */
    private async checkReceipt(
        link: Link,
        f: ResponseEndFrame,
        ctx: { model: Model; name: string; target?: VerifiedCandidate },
        reported: TokenUsage | undefined,
        limits: { bounds: UsageBounds; maxCost: bigint },
    ): Promise<Receipt> {
        try {
            return await this.verifyEnd(f, ctx, reported, limits);
        } catch (e) {
            const reason = e instanceof CocoonError ? e.code : 'RECEIPT_MALFORMED';
            const err = new ClientError('RECEIPT_INVALID', `receipt for ${f.id} refused: ${errMsg(e)}`, { reason, requestId: f.id });
            this.log('client.receipt-refused', { id: f.id, reason, message: errMsg(e) });
            // Other requests on this connection see a lost connection, not someone else's receipt failure.
            this.dropLink(link, new ClientError('PROXY_UNREACHABLE', 'connection dropped: the proxy relayed an invalid receipt', { reason: 'RECEIPT_INVALID' }));
            throw err;
        }
    }

    /** The receipt of `f` verified for this request (see checkReceipt); throws ReceiptError. */
    private async verifyEnd(
        f: ResponseEndFrame,
        ctx: { model: Model; name: string; target?: VerifiedCandidate },
        reported: TokenUsage | undefined,
        limits: { bounds: UsageBounds; maxCost: bigint },
    ): Promise<Receipt> {
        let workerKey: Buffer;
        if (ctx.target) workerKey = ctx.target.workerKey;
        else {
            const claimed = receiptWorkerKey(decodeReceipt(f.receipt).receipt);
            let known = (await this.workerCandidates(ctx.name, false)).find((c) => c.workerKey.equals(claimed));
            if (!known) known = (await this.workerCandidates(ctx.name, true)).find((c) => c.workerKey.equals(claimed));
            if (!known) throw new ReceiptError('RECEIPT_MISMATCH', `receipt signed by ${claimed.toString('hex')}, which is not an attested worker for ${ctx.name}`, { unknownWorker: true });
            workerKey = known.workerKey;
        }
        const usage: TokenUsage = { prompt: f.usage.prompt, cached: f.usage.cached, completion: f.usage.completion, reasoning: f.usage.reasoning };
        const r = verifyReceipt(f.receipt, {
            workerPublicKey: workerKey,
            prices: ctx.model,
            maxCoefficient: this.maxCoefficient,
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
    private receiptLimits(model: Model, maxTokens: number | bigint, streamedBytes?: number): { bounds: UsageBounds; maxCost: bigint } {
        const bounds: UsageBounds = { maxTokens, contextLength: model.contextLength, ...(streamedBytes !== undefined ? { streamedBytes } : {}) };
        const cap = maxRequestCost(model, maxTokens, model.contextLength, this.maxCoefficient);
        const maxCost = this.maxRequestCost !== undefined && this.maxRequestCost < cap ? this.maxRequestCost : cap;
        return { bounds, maxCost };
    }

    private remember(id: string, o: Outstanding): void {
        this.outstanding.set(id, o);
        for (const old of this.outstanding.keys()) {
            if (this.outstanding.size <= MAX_OUTSTANDING) break;
            this.outstanding.delete(old);
        }
    }

    /** Pays `cost` for request `id` unless it was paid (or refused) already: one voucher increment per request. */
    private payOnce(id: string, cost: bigint): boolean {
        if (!this.outstanding.delete(id)) return false;
        this.pay(cost).catch((e: unknown) => this.log('client.voucher-failed', { id, message: errMsg(e) }));
        return true;
    }

    /**
     * A response_end for a request this client sent whose exchange is over: it was cancelled (the worker billed the
     * prompt and the tokens streamed) or its response was lost to a disconnect or a proxy crash and the proxy re-sent
     * the booked receipt after the reconnect. Verified like any receipt (usage bounds and cost cap included), then
     * paid once. A receipt that does not verify is not paid (the proxy keeps counting it against the credit window).
     */
    private async settleLate(link: Link, f: ResponseEndFrame, attempt = 1): Promise<void> {
        const o = this.outstanding.get(f.id);
        if (!o || this.stopped) return;
        try {
            // Its text may never have reached us (lost to a drop or a crash): bounded by maxTokens, the context and the cap.
            const r = await this.verifyEnd(f, o, undefined, this.receiptLimits(o.model, o.maxTokens));
            if (!this.payOnce(f.id, r.cost)) return;
            this.last = r;
            this.log('client.late-receipt-paid', { id: f.id, cost: r.cost.toString(), partial: f.partial === true, link: !link.closed });
        } catch (e) {
            if (!(e instanceof ReceiptError) || e.details?.unknownWorker === true) {
                // Not a verdict on the receipt: the connection went away while we asked for candidates, or (re-sent
                // right after a proxy restart) the worker is not back among them yet. Try again; a later re-send too.
                if (attempt < LATE_RECEIPT_ATTEMPTS) setTimeout(() => void this.settleLate(link, f, attempt + 1), LATE_RECEIPT_RETRY_MS * attempt).unref?.();
                else this.log('client.late-receipt-unchecked', { id: f.id, message: errMsg(e) });
                return;
            }
            this.outstanding.delete(f.id);
            this.log('client.late-receipt-refused', { id: f.id, reason: e instanceof CocoonError ? e.code : 'RECEIPT_MALFORMED', message: errMsg(e) });
        }
    }

    /**
     * cumulative += cost; sign; persist; only then send. Serialised, so vouchers go out in increasing order, and
     * coalesced: costs that arrive while a voucher is being persisted are covered by the next one, so concurrent
     * responses cost one signature and one fsync per batch, not per response.
     */
    private pay(cost: bigint): Promise<bigint> {
        this.unpaid += cost;
        const run = this.payQueue.then(async () => {
            if (this.unpaid === 0n) return this.cumulative; // an earlier run already covered this cost
            const { wrapper, store, proxy } = this.need();
            const add = this.unpaid;
            const next = this.cumulative + add;
            const sig = signPayload(voucherPayload(wrapper.address, next, await this.chain.getGlobalId()), this.keys.secretKey);
            await store.put(wrapper.address.toRawString(), { proxy: proxy.toRawString(), cumulative: next, signature: sig.toString('hex') }, this.clock.now());
            this.unpaid -= add;
            this.cumulative = next;
            this.signature = sig;
            if (this.link && this.link.pre === undefined && !this.link.closed) this.sendVoucher(this.link);
            return next;
        });
        this.payQueue = run.catch(() => undefined);
        return run;
    }

    private sendVoucher(link: Link): void {
        if (!this.signature) return;
        try {
            link.send({ type: 'voucher', v: link.version!, amount: this.cumulative, signature: this.signature.toString('hex') });
        } catch (e) {
            this.log('client.voucher-unsent', { message: errMsg(e) });
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Channel on chain

    /** Resolves once every voucher for the responses delivered so far is signed, persisted and sent. */
    async vouchersSettled(): Promise<void> {
        await this.payQueue;
    }

    async balances(): Promise<Balances> {
        const { wrapper, proxy } = this.need();
        const s = await this.chain.getClientChannelState(wrapper.address);
        const onChain = s
            ? {
                  state: STATE_NAMES[s.state.toString()] ?? 'closed',
                  balance: s.balance,
                  redeemed: s.redeemed,
                  pendingWithdraw: s.pendingWithdraw,
                  withdrawAt: Number(s.withdrawAt),
                  closeAt: Number(s.closeAt),
              }
            : null;
        const owed = this.cumulative - (s?.redeemed ?? 0n);
        const available = (s?.balance ?? 0n) - (owed > 0n ? owed : 0n);
        return {
            channel: wrapper.address.toString(),
            proxy: proxy.toString(),
            onChain,
            cumulative: this.cumulative,
            owed: owed > 0n ? owed : 0n,
            available: available > 0n ? available : 0n,
            proxyStatus: this.lastStatus ? { ...this.lastStatus } : null,
            lastVoucherError: this.lastVoucherError,
        };
    }

    /** Adds `amount` to the channel (deploying it on first use); resolves when the chain shows it. */
    async topUp(amount: bigint): Promise<ClientChannelState> {
        const { wrapper } = this.need();
        if (typeof amount !== 'bigint' || amount <= 0n) throw new ClientError('CONFIG_INVALID', 'amount must be a positive bigint (nanoTON)', { param: 'amount' });
        const before = await this.chain.getClientChannelState(wrapper.address);
        if (before && before.state !== 0n) throw new ClientError('CHANNEL_CLOSED', `channel is ${STATE_NAMES[before.state.toString()]}; it takes no deposit`);
        await this.checkWallet(amount + TOPUP_FEE);
        const sumBefore = (before?.balance ?? 0n) + (before?.redeemed ?? 0n);
        await this.chain.open(wrapper).sendTopUp(this.wallet.sender(), amount, TOPUP_FEE);
        this.log('client.top-up', { amount: amount.toString() });
        // Redeems move balance to redeemed, so balance + redeemed grows by exactly the top-up.
        return this.waitChannel((s) => s !== null && s.balance + s.redeemed >= sumBefore + amount, 'top-up');
    }

    /**
     * RequestWithdraw(amount); when `withdrawAt` has already passed (closeDelay 0) also FinishWithdraw. Otherwise
     * reports the wait: call finishWithdraw() after `withdrawAt`. At most `available` (balance minus signed,
     * unredeemed vouchers) may be withdrawn.
     */
    async withdraw(amount: bigint): Promise<WithdrawResult> {
        const { wrapper } = this.need();
        if (typeof amount !== 'bigint' || amount <= 0n) throw new ClientError('CONFIG_INVALID', 'amount must be a positive bigint (nanoTON)', { param: 'amount' });
        const s = await this.openState();
        const owed = this.cumulative > s.redeemed ? this.cumulative - s.redeemed : 0n;
        if (amount > s.balance - owed) {
            throw new ClientError('CONFIG_INVALID', `amount ${amount} exceeds what is withdrawable (${s.balance - owed > 0n ? s.balance - owed : 0n}: balance ${s.balance} minus ${owed} signed and unredeemed)`, {
                param: 'amount',
            });
        }
        await this.checkWallet(SIMPLE_VALUE);
        await this.chain.open(wrapper).sendRequestWithdraw(this.wallet.sender(), amount, SIMPLE_VALUE);
        const after = await this.waitChannel((x) => x !== null && x.pendingWithdraw === amount && x.withdrawAt >= s.withdrawAt && (x.withdrawAt !== s.withdrawAt || s.pendingWithdraw !== amount), 'withdraw request');
        const withdrawAt = Number(after.withdrawAt);
        const waitMs = Math.max(0, withdrawAt * 1000 - this.clock.now());
        this.log('client.withdraw-requested', { amount: amount.toString(), withdrawAt, waitMs });
        if (waitMs > 0) return { amount, withdrawAt, waitMs, finished: false };
        const paid = await this.finishWithdraw();
        return { amount, withdrawAt, waitMs: 0, finished: true, paid };
    }

    /** FinishWithdraw after `withdrawAt`; returns the nanoTON paid to the wallet. */
    async finishWithdraw(): Promise<bigint> {
        const { wrapper } = this.need();
        const s = await this.chain.getClientChannelState(wrapper.address);
        if (!s || s.state === 2n || s.pendingWithdraw === 0n) throw new ClientError('NOTHING_PENDING', 'no withdrawal is pending');
        const waitMs = Number(s.withdrawAt) * 1000 - this.clock.now();
        if (waitMs > 0) throw new ClientError('TOO_EARLY', `FinishWithdraw allowed at ${Number(s.withdrawAt)} (in ${waitMs} ms)`, { waitMs, withdrawAt: Number(s.withdrawAt) });
        const lapsesAt = Number(s.withdrawAt + WithdrawWindow);
        if (this.clock.now() > lapsesAt * 1000)
            throw new ClientError('WITHDRAW_LAPSED', `the withdrawal request lapsed at ${lapsesAt}; request it again`, { withdrawAt: Number(s.withdrawAt), lapsedAt: lapsesAt });
        await this.checkWallet(SIMPLE_VALUE);
        await this.chain.open(wrapper).sendFinishWithdraw(this.wallet.sender(), SIMPLE_VALUE);
        const after = await this.waitChannel((x) => x !== null && x.pendingWithdraw === 0n, 'finish withdraw');
        const paid = s.balance + s.redeemed - (after.balance + after.redeemed);
        this.log('client.withdraw-finished', { paid: paid.toString() });
        return paid;
    }

    /** StartClose: the proxy may still redeem until `closeAt`; then finishClose() refunds the rest. */
    async close(): Promise<CloseResult> {
        const { wrapper } = this.need();
        await this.openState();
        await this.checkWallet(SIMPLE_VALUE);
        await this.chain.open(wrapper).sendStartClose(this.wallet.sender(), SIMPLE_VALUE);
        const after = await this.waitChannel((x) => x !== null && x.state === 1n, 'start close');
        const closeAt = Number(after.closeAt);
        const waitMs = Math.max(0, closeAt * 1000 - this.clock.now());
        this.log('client.closing', { closeAt, waitMs });
        return { closeAt, waitMs };
    }

    /** FinishClose after `closeAt`: the channel's whole balance goes to the wallet. Returns that balance. */
    async finishClose(): Promise<bigint> {
        const { wrapper } = this.need();
        const s = await this.chain.getClientChannelState(wrapper.address);
        if (!s || s.state !== 1n) throw new ClientError('NOTHING_PENDING', 'the channel is not closing');
        const waitMs = Number(s.closeAt) * 1000 - this.clock.now();
        if (waitMs > 0) throw new ClientError('TOO_EARLY', `FinishClose allowed at ${Number(s.closeAt)} (in ${waitMs} ms)`, { waitMs, closeAt: Number(s.closeAt) });
        await this.checkWallet(FINISH_CLOSE_VALUE);
        await this.chain.open(wrapper).sendFinishClose(this.wallet.sender(), FINISH_CLOSE_VALUE);
        await this.waitChannel((x) => x === null || x.state === 2n, 'finish close');
        this.log('client.closed', { refunded: s.balance.toString() });
        return s.balance;
    }

    private async ensureDeposit(cfg: RootConfig): Promise<void> {
        const { wrapper } = this.need();
        const want = this.opts.deposit ?? (cfg.params.minClientDeposit > toNano('1') ? cfg.params.minClientDeposit : toNano('1'));
        const s = await this.chain.getClientChannelState(wrapper.address);
        if (s && s.state !== 0n) throw new ClientError('CHANNEL_CLOSED', `channel ${wrapper.address.toString()} is ${STATE_NAMES[s.state.toString()]}; open a new one with a new seed`);
        const balance = s?.balance ?? 0n;
        if (balance < want) await this.topUp(want - balance);
    }

    private async openState(): Promise<ClientChannelState> {
        const s = await this.chain.getClientChannelState(this.need().wrapper.address);
        if (!s) throw new ClientError('CHANNEL_CLOSED', 'the channel is not deployed');
        if (s.state !== 0n) throw new ClientError('CHANNEL_CLOSED', `the channel is ${STATE_NAMES[s.state.toString()]}`);
        return s;
    }

    private async checkWallet(need: bigint): Promise<void> {
        const have = await this.wallet.getBalance();
        if (have < need + WALLET_RESERVE) {
            throw new ClientError('CHAIN_TX_FAILED', `wallet ${this.wallet.address.toString()} holds ${have} nanoTON, needs ${need + WALLET_RESERVE} (incl. gas)`, {
                have: have.toString(),
                need: (need + WALLET_RESERVE).toString(),
            });
        }
    }

    /** Polls the channel until `ok` (the wallet's transfer is applied; the channel's message may follow). */
    private async waitChannel(ok: (s: ClientChannelState | null) => boolean, what: string): Promise<ClientChannelState> {
        const { wrapper } = this.need();
        const deadline = this.clock.now() + this.txTimeoutMs;
        for (;;) {
            const s = await this.chain.getClientChannelState(wrapper.address);
            if (ok(s)) return s!;
            if (this.clock.now() >= deadline) {
                throw new ClientError('CHAIN_TX_FAILED', `${what}: the channel state did not change within ${this.txTimeoutMs} ms (the message may have bounced)`, { channel: wrapper.address.toString() });
            }
            await this.clock.sleep(250);
        }
    }
}

/** max_tokens / max_completion_tokens when a valid positive integer, else the model's context length (the worker validates). */
function requestedMaxTokens(body: Record<string, unknown>, model: Model): number {
    const v = body.max_completion_tokens ?? body.max_tokens;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= MAX_REQUEST_TOKENS) return v;
    const ctx = Number(model.contextLength);
    return Math.max(1, Math.min(MAX_REQUEST_TOKENS, ctx));
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
