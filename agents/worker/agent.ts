// The worker agent (design §3, spec/worker.md): dials every proxy it serves over RA-TLS, announces its models,
// coefficient and capacity, runs each request against its OpenAI-compatible backend, meters it from the backend's
// `usage`, signs a receipt, and claims the payouts the proxies sign for it.
//
// Pieces, after the role split of Cocoon's runners:
//   WorkerAgent    lifecycle: config, keys, Root polling, payouts, stats
//   ProxyLink      one proxy: stake the WorkerChannel, connect, hello, serve frames, reconnect with backoff
//   RunningRequest one request's state machine: open/validate → backend → start/chunks → end | error
import { EventEmitter } from 'events';
import { createHash } from 'crypto';
import { Address } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import type { RawData, WebSocket } from 'ws';
import { ChainWallet, Clock, hex256, RootConfig, systemClock, TonChain } from '../core/chain';
import { CocoonError } from '../core/errors';
import { deriveHpkeKeyPair, HpkeError, HpkeKeyPair, ReplayCache, ResponseSealer, ResponseSecret } from '../core/hpke';
import { TokenUsage } from '../core/pricing';
import { HELLO_AUTH_TTL_S, workerHelloPayload } from '../core/worker-hello';
import { AttestationError, QuoteProvider, VerifyPolicy } from '../core/tee/types';
import { connectRaTls, ed25519KeyPairFromSeed, PeerVerifier, RaTlsIdentity } from '../core/transport';
import {
    encodeFrame,
    Frame,
    MAX_CHUNK_BYTES,
    MAX_FRAME_BYTES,
    MAX_MODELS,
    MAX_WORKER_CAPACITY,
    MIN_PROTOCOL_VERSION,
    openRequestFrame,
    parseFrame,
    PayoutFrame,
    PROTOCOL_VERSION,
    RequestFrame,
    sealChunkFrame,
    sealStartFrame,
    WireError,
} from '../core/wire';
import type { Model, ProxyInfo } from '../../wrappers/Root';
import { WorkerActive, WorkerChannelWrapper, WorkerClosed, WorkerUnbonding } from '../../wrappers/WorkerChannel';
import { modelId, toUint256 } from '../../wrappers/payloads';
import { PayoutError, WorkerConfigError, WorkerLinkError } from './errors';
import { ForwardError, forwardToBackend, meterAndSign, WorkerKeys } from './forward';
import { validateOpenAIRequest, WorkerRequestError } from './openai-request';
import { partialUsage, StreamMeter } from './partial';
import { ClaimResult, PayoutBook } from './payouts';
import { RequestRunner, RunningRequest } from './running-request';
import { ExcludeReason, LinkCounters, LinkState, LinkStats, RequestCounters, WorkerCounters, WorkerStats } from './stats';

// ---------------------------------------------------------------------------------------------------------------
// Config

export interface WorkerModelOffer {
    /** Root's canonical model name. */
    name: string;
    /** Price coefficient (1000 = 1.0× Root's prices), 0..2^32 − 1. */
    coefficient: bigint;
}

export type WorkerLog = (event: string, fields: Record<string, unknown>) => void;

export interface WorkerAgentOptions {
    chain: TonChain;
    /** The worker's wallet: stakes, receives payouts, pays claim gas. */
    wallet: ChainWallet;
    /** 32-byte Ed25519 seed: the RA-TLS key = the receipt key. */
    seed: Buffer;
    /** ≥ 32-byte seed of the HPKE key; default SHA-256("cocoon-ts/worker/hpke-seed/v1" ‖ seed). */
    hpkeSeed?: Buffer;
    tee: QuoteProvider;
    /** Quote policy for proxies (trusted roots, collateral, …); the image allowlist is Root's proxyImages. */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    models: WorkerModelOffer[];
    /** OpenAI-compatible backend base URL without /v1 (http or https). */
    backendUrl: string;
    /** Concurrent requests across all proxies, 1..100000. */
    capacity: number;
    /** Proxies to serve; default every proxy listed in Root (following Root as it changes). */
    proxies?: Address[];
    /** Stake per WorkerChannel; default (and minimum) the proxy terms' minWorkerStake. */
    stake?: bigint;
    /** Claim automatically when `latest payout − paid ≥ payoutThreshold`; default 1 TON. */
    payoutThreshold?: bigint;
    /** JSON state file: the latest verified payout per channel. */
    statePath: string;
    reconnect?: {
        /** First backoff cap; default 500 ms. */
        baseMs?: number;
        /** Largest backoff cap; default 30 000 ms. */
        maxMs?: number;
        /** A connection ready this long resets the backoff; default 10 000 ms. */
        stableMs?: number;
    };
    /** Root polling period; default 5000 ms. */
    rootPollMs?: number;
    clock?: Clock;
    log?: WorkerLog;
    /** RA-TLS handshake + WebSocket open deadline; default 10 000 ms. */
    connectTimeoutMs?: number;
    /** hello → hello_ok deadline; default 10 000 ms. */
    helloTimeoutMs?: number;
    /** How long to wait for a staked channel to become active; default 60 000 ms. */
    activationTimeoutMs?: number;
    /** WebSocket ping period (a peer silent for two periods is dropped); default 15 000 ms, 0 = off. */
    keepaliveMs?: number;
    /** How long a claim waits for the channel's `paid` to move; default 60 000 ms. */
    claimConfirmMs?: number;
    /**
     * Encapsulated keys of sealed requests remembered to refuse replays (HPKE_REPLAYED); default 65 536 (≈ 8 MB),
     * 0 = no replay cache (a replay is then served under a fresh response key; spec/wire.md, "Router-blind mode").
     */
    replayCacheSize?: number;
}

const ONE_TON = 1_000_000_000n;
const MAX_UINT32 = (1n << 32n) - 1n;
const MODEL_NAME = /^[\x21-\x7e]{1,128}$/;
const AGENT_NAME = 'cocoon-ts-worker/0.1';
/** Above this many bytes queued on a WebSocket, streaming waits for the socket to drain. */
const HIGH_WATER = 1 << 20;

interface ResolvedConfig {
    stake?: bigint;
    payoutThreshold: bigint;
    baseMs: number;
    maxMs: number;
    stableMs: number;
    rootPollMs: number;
    connectTimeoutMs: number;
    helloTimeoutMs: number;
    activationTimeoutMs: number;
    keepaliveMs: number;
    replayCacheSize: number;
}

const bad = (key: string, message: string) => new WorkerConfigError('WORKER_CONFIG_INVALID', `${key}: ${message}`, { key });

function positiveMs(key: string, v: number | undefined, dflt: number, allowZero = false): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw bad(key, `expected a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds`);
    return v;
}

/** Checks everything that does not need the chain; names the offending key. */
export function validateWorkerOptions(o: WorkerAgentOptions): ResolvedConfig {
    if (!Buffer.isBuffer(o.seed) || o.seed.length !== 32) throw bad('seed', 'expected 32 bytes');
    if (o.hpkeSeed !== undefined && (!Buffer.isBuffer(o.hpkeSeed) || o.hpkeSeed.length < 32)) throw bad('hpkeSeed', 'expected at least 32 bytes');
    if (!Array.isArray(o.models) || o.models.length < 1 || o.models.length > MAX_MODELS) throw bad('models', `expected 1..${MAX_MODELS} models`);
    const names = new Set<string>();
    o.models.forEach((m, i) => {
        if (typeof m?.name !== 'string' || !MODEL_NAME.test(m.name)) throw bad(`models[${i}].name`, 'expected 1..128 printable ASCII characters without spaces');
        if (names.has(m.name)) throw bad(`models[${i}].name`, `duplicate model ${m.name}`);
        names.add(m.name);
        if (typeof m.coefficient !== 'bigint' || m.coefficient < 0n || m.coefficient > MAX_UINT32) throw bad(`models[${i}].coefficient`, 'expected a bigint in 0..2^32 − 1');
    });
    if (!Number.isInteger(o.capacity) || o.capacity < 1 || o.capacity > MAX_WORKER_CAPACITY) throw bad('capacity', `expected an integer in 1..${MAX_WORKER_CAPACITY}`);
    let url: URL;
    try {
        url = new URL(o.backendUrl);
    } catch {
        throw bad('backendUrl', 'not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('backendUrl', `expected http(s), got ${url.protocol}`);
    if (o.proxies !== undefined) {
        if (!Array.isArray(o.proxies) || o.proxies.length === 0) throw bad('proxies', 'expected a non-empty list of addresses (omit it to serve every proxy in Root)');
        o.proxies.forEach((p, i) => {
            if (!Address.isAddress(p)) throw bad(`proxies[${i}]`, 'not an Address');
        });
    }
    if (o.stake !== undefined && (typeof o.stake !== 'bigint' || o.stake <= 0n)) throw bad('stake', 'expected a positive bigint (nanoTON)');
    if (o.payoutThreshold !== undefined && (typeof o.payoutThreshold !== 'bigint' || o.payoutThreshold < 0n)) throw bad('payoutThreshold', 'expected a non-negative bigint (nanoTON)');
    if (typeof o.statePath !== 'string' || o.statePath.length === 0) throw bad('statePath', 'expected a file path');
    const baseMs = positiveMs('reconnect.baseMs', o.reconnect?.baseMs, 500);
    const maxMs = positiveMs('reconnect.maxMs', o.reconnect?.maxMs, 30_000);
    if (maxMs < baseMs) throw bad('reconnect.maxMs', 'must be at least reconnect.baseMs');
    return {
        stake: o.stake,
        payoutThreshold: o.payoutThreshold ?? ONE_TON,
        baseMs,
        maxMs,
        stableMs: positiveMs('reconnect.stableMs', o.reconnect?.stableMs, 10_000),
        rootPollMs: positiveMs('rootPollMs', o.rootPollMs, 5000),
        connectTimeoutMs: positiveMs('connectTimeoutMs', o.connectTimeoutMs, 10_000),
        helloTimeoutMs: positiveMs('helloTimeoutMs', o.helloTimeoutMs, 10_000),
        activationTimeoutMs: positiveMs('activationTimeoutMs', o.activationTimeoutMs, 60_000),
        keepaliveMs: positiveMs('keepaliveMs', o.keepaliveMs, 15_000, true),
        replayCacheSize: replayCacheSize(o.replayCacheSize),
    };
}

function replayCacheSize(v: number | undefined): number {
    if (v === undefined) return 1 << 16;
    if (!Number.isInteger(v) || v < 0 || v > 1 << 24) throw bad('replayCacheSize', 'expected an integer in 0..16777216');
    return v;
}

/** The default HPKE seed: domain-separated from the Ed25519 use of the same seed. */
export function defaultHpkeSeed(seed: Buffer): Buffer {
    return createHash('sha256').update('cocoon-ts/worker/hpke-seed/v1').update(seed).digest();
}

// ---------------------------------------------------------------------------------------------------------------
// Events

export interface WorkerAgentEvents {
    /** A proxy link changed state. */
    state: [proxy: string, state: LinkState];
    /** A higher payout was verified and persisted. */
    payout: [channel: string, amount: bigint];
    /** A claim finished (ok or not). */
    claim: [result: ClaimResult];
}

// ---------------------------------------------------------------------------------------------------------------
// The agent

export class WorkerAgent extends EventEmitter<WorkerAgentEvents> implements RequestRunner {
    readonly chain: TonChain;
    readonly wallet: ChainWallet;
    readonly clock: Clock;
    readonly log: WorkerLog;
    readonly capacity: number;
    readonly backendUrl: string;
    /** Offers by model name. */
    readonly offers: ReadonlyMap<string, WorkerModelOffer>;
    /** Receipt keys (the RA-TLS key): @ton/crypto layout, 64-byte secret key. */
    readonly keys: WorkerKeys;
    /** Resolved once start() validated the options. */
    cfg!: ResolvedConfig;
    hpke!: HpkeKeyPair;
    identity!: RaTlsIdentity;
    verifier!: PeerVerifier;
    payouts!: PayoutBook;
    /** Encapsulated keys of the sealed requests opened lately (replays are refused). */
    replays!: ReplayCache;
    private readonly links = new Map<string, ProxyLink>();
    private readonly tasks = new Set<Promise<void>>();
    private pollTimer?: NodeJS.Timeout;
    private polling?: Promise<void>;
    private phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
    private readonly counters: WorkerCounters;

    constructor(private readonly opts: WorkerAgentOptions) {
        super();
        this.chain = opts.chain;
        this.wallet = opts.wallet;
        this.clock = opts.clock ?? systemClock;
        this.log = opts.log ?? (() => undefined);
        this.capacity = opts.capacity;
        this.counters = new WorkerCounters(opts.capacity);
        this.backendUrl = opts.backendUrl;
        this.offers = new Map((opts.models ?? []).map((m) => [m.name, m]));
        const seed = Buffer.isBuffer(opts.seed) && opts.seed.length === 32 ? opts.seed : Buffer.alloc(32);
        const kp = keyPairFromSeed(seed);
        this.keys = { publicKey: kp.publicKey, secretKey: kp.secretKey };
    }

    /** The worker's Ed25519 public key: its RA-TLS certificate key and receipt key. */
    get publicKey(): Buffer {
        return this.keys.publicKey;
    }

    /** The X25519 HPKE public key bound into the RA-TLS claims (after start()). */
    get hpkePublicKey(): Buffer {
        return this.hpke.publicKey;
    }

    /**
     * Validates the config (WorkerConfigError), reads Root, checks every model is registered, loads the payout
     * state, creates the RA-TLS identity and starts one link per proxy. Resolves before the links are connected
     * (a proxy may be down); watch stats() or the `state` event.
     */
    async start(): Promise<void> {
        if (this.phase !== 'new') throw new WorkerConfigError('WORKER_CONFIG_INVALID', `start() called on a ${this.phase} worker`, { key: '(lifecycle)' });
        this.phase = 'starting';
        try {
            this.cfg = validateWorkerOptions(this.opts);
            this.replays = new ReplayCache(this.cfg.replayCacheSize);
            const root = await this.chain.getRootConfig();
            for (const m of this.opts.models) {
                const model = root.models.get(hex256(modelId(m.name)));
                if (!model || model.contextLength <= 0n)
                    throw new WorkerConfigError('WORKER_MODEL_NOT_REGISTERED', `model ${m.name} is not registered in Root`, { model: m.name, key: 'models' });
            }
            this.payouts = new PayoutBook({
                path: this.opts.statePath,
                chain: this.chain,
                wallet: this.wallet,
                threshold: this.cfg.payoutThreshold,
                globalId: await this.chain.getGlobalId(),
                clock: this.clock,
                log: this.log,
                confirmMs: this.opts.claimConfirmMs,
            });
            this.payouts.load();
            this.hpke = await deriveHpkeKeyPair(this.opts.hpkeSeed ?? defaultHpkeSeed(this.opts.seed));
            this.identity = await RaTlsIdentity.create({
                provider: this.opts.tee,
                keys: await ed25519KeyPairFromSeed(this.opts.seed),
                hpkePublicKey: this.hpke.publicKey,
                clock: () => new Date(this.clock.now()),
            });
            this.identity.on('error', (e) => this.log('identity_rotation_failed', { message: e.message }));
            this.identity.start();
            // Proxy images come from the Root config TonChain fetched last: synchronous, no I/O in the handshake.
            this.verifier = new PeerVerifier(
                { quote: this.opts.quotePolicy, isImageAllowed: (h) => this.chain.cachedRootConfig?.proxyImages.has(h) ?? false },
                { clock: () => new Date(this.clock.now()) },
            );
        } catch (e) {
            this.phase = 'new';
            this.identity?.stop();
            throw e;
        }
        this.phase = 'running';
        const root = this.chain.cachedRootConfig!;
        const wanted = this.opts.proxies ?? [...root.proxies.keys()].map((r) => Address.parse(r));
        for (const p of wanted) this.addLink(p, root);
        this.log('worker_started', { proxies: wanted.length, models: this.opts.models.map((m) => m.name), capacity: this.capacity, key: this.publicKey.toString('hex') });
        this.schedulePoll();
    }

    /** Closes every connection (in-flight requests are aborted), waits for running claims, stops timers. */
    async stop(): Promise<void> {
        if (this.phase !== 'running') return;
        this.phase = 'stopping';
        clearTimeout(this.pollTimer);
        await this.polling;
        await Promise.all([...this.links.values()].map((l) => l.stop()));
        await Promise.allSettled([...this.tasks]);
        await this.payouts.stop();
        this.identity.stop();
        this.phase = 'stopped';
        this.log('worker_stopped', this.counters.totals());
    }

    /** Claims every stored payout above the channel's on-chain `paid`, regardless of the threshold. */
    async claimNow(): Promise<ClaimResult[]> {
        const results = await this.payouts.claimAll();
        for (const r of results) this.emit('claim', r);
        return results;
    }

    /**
     * Resolves once every link that is not excluded is ready and at least one is (e.g. after start(), which does not
     * wait for connections). Rejects with WORKER_NOT_READY after `timeoutMs`.
     */
    waitReady(timeoutMs = 30_000): Promise<void> {
        const ready = () => {
            const links = [...this.links.values()];
            return links.some((l) => l.state === 'ready') && links.every((l) => l.state === 'ready' || l.excluded !== null);
        };
        return new Promise((resolve, reject) => {
            const check = () => {
                if (!ready()) return;
                done();
                resolve();
            };
            const timer = setTimeout(() => {
                done();
                reject(new WorkerLinkError('WORKER_NOT_READY', `not ready within ${timeoutMs} ms`, { proxies: this.stats().proxies }));
            }, timeoutMs);
            const done = () => {
                clearTimeout(timer);
                this.off('state', check);
            };
            this.on('state', check);
            check();
        });
    }

    /** Our WorkerChannel with `proxy` (once derived). */
    channelOf(proxy: Address): Address | undefined {
        return this.links.get(proxy.toRawString())?.channel ?? undefined;
    }

    stats(): WorkerStats {
        return this.counters.snapshot(
            [...this.links.values()].map((l) => l.stats()),
            this.payouts,
        );
    }

    /** Full-jitter exponential backoff: uniform in [0, min(maxMs, baseMs · 2^attempt)). */
    backoffMs(attempt: number): number {
        const cap = Math.min(this.cfg.maxMs, this.cfg.baseMs * 2 ** Math.min(attempt, 30));
        return Math.floor(Math.random() * cap);
    }

    /** The models announced in hello, in config order. */
    helloModels(): { name: string; coefficient: bigint }[] {
        return this.opts.models.map((m) => ({ name: m.name, coefficient: m.coefficient }));
    }

    get running(): boolean {
        return this.phase === 'running';
    }

    private addLink(proxy: Address, root: RootConfig): void {
        const raw = proxy.toRawString();
        if (this.links.has(raw)) return;
        const link = new ProxyLink(this, this.counters, proxy, root.proxies.get(raw) ?? null);
        this.links.set(raw, link);
        link.start();
    }

    private schedulePoll(): void {
        if (this.phase !== 'running') return;
        this.pollTimer = setTimeout(() => {
            this.polling = this.pollRoot().finally(() => {
                this.polling = undefined;
                this.schedulePoll();
            });
        }, this.cfg.rootPollMs);
    }

    private async pollRoot(): Promise<void> {
        let changed: boolean;
        try {
            changed = await this.chain.refreshIfChanged();
        } catch (e) {
            this.log('root_poll_failed', { code: (e as CocoonError).code, message: (e as Error).message });
            return;
        }
        if (!changed || this.phase !== 'running') return;
        const root = this.chain.cachedRootConfig!;
        this.log('root_changed', { version: root.version });
        if (!this.opts.proxies) for (const raw of root.proxies.keys()) this.addLink(Address.parse(raw), root);
        for (const [raw, link] of [...this.links]) {
            const info = root.proxies.get(raw) ?? null;
            if (!info && !this.opts.proxies) {
                // Following Root: a delisted proxy is dropped altogether.
                this.links.delete(raw);
                this.log('proxy_removed', { proxy: raw });
                await link.stop();
                continue;
            }
            link.update(info, root);
        }
    }

    // ---- called by links and requests ---------------------------------------------------------------------

    /** The model as Root lists it now: the cached config the poller keeps fresh. */
    rootModel(name: string): Model | undefined {
        return this.chain.cachedRootConfig?.models.get(hex256(modelId(name)));
    }

    /** Remembers a sealed request's encapsulated key; false when it was opened lately (a replay). */
    rememberSealed(enc: Uint8Array): boolean {
        return this.replays.add(enc);
    }

    /** A request frame arrived on `link`: admit it (capacity) and run it. */
    onRequest(link: ProxyLink, ws: WebSocket, f: RequestFrame): void {
        if (link.requests.has(f.id)) {
            link.sendOn(ws, { type: 'error', v: link.version, code: 'DUPLICATE_REQUEST', message: 'a request with this id is in progress', fatal: false, id: f.id });
            return;
        }
        if (!this.counters.hasRoom()) {
            this.counters.requestBusy();
            link.sendOn(ws, { type: 'response_error', v: link.version, id: f.id, code: 'WORKER_BUSY', message: `worker at capacity (${this.capacity})`, retryable: true });
            this.log('request_refused', { proxy: link.raw, id: f.id, code: 'WORKER_BUSY' });
            return;
        }
        const r = new RunningRequest(this, this.counters, link, ws, f);
        link.requests.set(f.id, r);
        this.counters.requestStarted();
        const task = r.run().finally(() => {
            link.requests.delete(f.id);
            this.counters.requestDone();
            this.tasks.delete(task);
        });
        this.tasks.add(task);
    }

    /** A payout frame arrived on `link`: verify, persist, maybe claim. Refusals are non-fatal `error` frames. */
    onPayout(link: ProxyLink, ws: WebSocket, f: PayoutFrame): void {
        const channel = link.channel;
        const info = link.info;
        if (!channel || !info) return;
        let outcome: 'stored' | 'unchanged';
        try {
            outcome = this.payouts.accept({ channel, proxy: link.proxy, enclaveKey: info.enclaveKey, amount: f.amount, signature: Buffer.from(f.signature, 'hex') });
        } catch (e) {
            const code = e instanceof PayoutError ? e.code : 'WORKER_INTERNAL';
            this.log('payout_refused', { proxy: link.raw, channel: channel.toRawString(), code, message: (e as Error).message, amount: f.amount.toString() });
            link.sendOn(ws, { type: 'error', v: link.version, code, message: (e as Error).message.slice(0, 1024), fatal: false });
            return;
        }
        if (outcome === 'unchanged') return;
        this.log('payout_stored', { proxy: link.raw, channel: channel.toRawString(), amount: f.amount.toString() });
        this.emit('payout', channel.toRawString(), f.amount);
        void this.payouts.claim(channel).then((r) => r && this.emit('claim', r));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// One proxy

class ProxyLink {
    readonly raw: string;
    state: LinkState = 'idle';
    excluded: ExcludeReason | null = null;
    info: ProxyInfo | null;
    channel: Address | null = null;
    /** The proxy's attested image (from the last connection, or from a refused attestation). */
    imageHash: string | null = null;
    version = PROTOCOL_VERSION;
    readonly requests = new Map<string, RunningRequest>();
    private ws: WebSocket | null = null;
    private attempts = 0;
    private readonly counters = new LinkCounters();
    private wakeFn: (() => void) | null = null;
    private loop?: Promise<void>;
    private stopping = false;

    constructor(
        private readonly agent: WorkerAgent,
        private readonly requestCounters: RequestCounters,
        readonly proxy: Address,
        info: ProxyInfo | null,
    ) {
        this.raw = proxy.toRawString();
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

    /** Root changed: re-check the listing, the registration and the proxy's image. */
    update(info: ProxyInfo | null, root: RootConfig): void {
        if (!info) return this.exclude('unlisted', new WorkerLinkError('PROXY_NOT_LISTED', 'the proxy is no longer listed in Root'));
        const moved = this.info !== null && (this.info.workerEndpoint !== info.workerEndpoint || this.info.enclaveKey !== info.enclaveKey);
        this.info = info;
        if (this.imageHash && !root.proxyImages.has(this.imageHash))
            return this.exclude('image_removed', new WorkerLinkError('PROXY_IMAGE_REMOVED', `proxy image ${this.imageHash} left Root's allowlist`));
        if (this.excluded === 'unlisted' || this.excluded === 'image_removed') {
            this.agent.log('proxy_readmitted', { proxy: this.raw, was: this.excluded });
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
        const code = e instanceof CocoonError ? e.code : 'WORKER_INTERNAL';
        const message = e instanceof Error ? e.message : String(e);
        this.counters.errored(code, message);
        this.agent.log('link_error', { proxy: this.raw, code, message });
    }

    private setState(s: LinkState): void {
        if (this.state === s) return;
        this.state = s;
        this.agent.log('link_state', { proxy: this.raw, state: s, ...(this.excluded ? { excluded: this.excluded } : {}) });
        this.agent.emit('state', this.raw, s);
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
        while (!this.stopping && this.agent.running) {
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
            const delay = this.agent.backoffMs(this.attempts++);
            this.setState('backoff');
            await this.sleep(delay);
        }
        this.setState('stopped');
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
        const info = this.info!;
        const chain = this.agent.chain;
        const ps = await chain.getProxyState(this.proxy);
        if (!ps || !ps.terms) throw new WorkerLinkError('PROXY_NOT_LISTED', 'the Proxy contract is not deployed or not registered (no terms)');
        const wrapper = await WorkerChannelWrapper.create({ proxy: this.proxy, worker: this.agent.wallet.address, proxyKey: info.enclaveKey, root: ps.root, terms: ps.terms });
        this.channel = wrapper.address;
        let st = await chain.getWorkerChannelState(wrapper.address);
        // Active with at least the minimum stake serves; a slashed channel (Suspended, state 4: stake below the minimum)
        // is topped up first, which makes it Active again (spec/contracts.md, WorkerChannel); the proxy admits only
        // Active channels with stake ≥ minStake (spec/proxy.md, "Worker channel re-check").
        const usable = (s: typeof st) => s !== null && s.state === WorkerActive && s.stake >= s.minStake;
        if (usable(st)) return;
        if (st && (st.state === WorkerUnbonding || st.state === WorkerClosed)) throw new WorkerLinkError('CHANNEL_UNUSABLE', `WorkerChannel ${wrapper.address.toString()} is ${st.state === WorkerUnbonding ? 'unbonding' : 'closed'}`);
        this.setState('staking');
        const min = ps.terms.minWorkerStake;
        const target = this.agent.cfg.stake !== undefined && this.agent.cfg.stake > min ? this.agent.cfg.stake : min;
        const amount = target - (st?.stake ?? 0n);
        this.agent.log('stake_sent', { proxy: this.raw, channel: wrapper.address.toRawString(), amount: amount.toString() });
        await chain.open(wrapper).sendStake(this.agent.wallet.sender(), amount > 0n ? amount : min);
        const deadline = this.agent.clock.now() + this.agent.cfg.activationTimeoutMs;
        for (;;) {
            st = await chain.getWorkerChannelState(wrapper.address);
            if (usable(st)) break;
            if (this.stopping) return;
            if (this.agent.clock.now() >= deadline)
                throw new WorkerLinkError('STAKE_FAILED', `WorkerChannel ${wrapper.address.toString()} is not active after staking`, { state: st?.state.toString() ?? null });
            await this.agent.clock.sleep(500);
        }
        this.agent.log('channel_active', { proxy: this.raw, channel: wrapper.address.toRawString(), stake: st!.stake.toString() });
    }

    /** One connection: RA-TLS, key check, hello, then serve until it closes. */
    private async session(): Promise<void> {
        const info = this.info!;
        const agent = this.agent;
        this.setState('connecting');
        const conn = await connectRaTls(info.workerEndpoint, agent.identity, agent.verifier, {
            timeoutMs: agent.cfg.connectTimeoutMs,
            clock: () => new Date(agent.clock.now()),
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
        ws.on('error', (e) => agent.log('ws_error', { proxy: this.raw, message: e.message }));
        try {
            await this.hello(ws, closed);
        } catch (e) {
            ws.terminate();
            this.ws = null;
            throw e;
        }
        const readyAt = agent.clock.now();
        this.counters.connected(readyAt);
        this.setState('ready');
        const keepalive = this.keepalive(ws);
        const { code, reason } = await closed;
        clearInterval(keepalive);
        if (this.ws === ws) this.ws = null;
        for (const r of this.requests.values()) if (r.ws === ws) r.detach();
        if (agent.clock.now() - readyAt >= agent.cfg.stableMs) this.attempts = 0;
        if (!this.stopping) this.record(new WorkerLinkError('CONNECTION_LOST', `connection closed (${code}${reason ? ` ${reason}` : ''})`, { code, reason }));
    }

    /** Sends hello and waits for hello_ok (or an error frame, a close, the deadline). */
    private hello(ws: WebSocket, closed: Promise<{ code: number; reason: string }>): Promise<void> {
        const agent = this.agent;
        // The channel owner (our wallet) binds the channel to our attested key for this proxy (attack 18).
        const expiresAt = Math.floor(agent.clock.now() / 1000) + HELLO_AUTH_TTL_S;
        const signature = agent.wallet.signPayload(workerHelloPayload(this.channel!, this.proxy, agent.publicKey, expiresAt)).toString('hex');
        const hello: Frame = {
            type: 'hello',
            v: PROTOCOL_VERSION,
            minV: MIN_PROTOCOL_VERSION,
            role: 'worker',
            channel: this.channel!.toString(),
            models: agent.helloModels(),
            capacity: agent.capacity,
            agent: AGENT_NAME,
            auth: { expiresAt, signature },
        };
        return new Promise<void>((resolve, reject) => {
            let refusal: WorkerLinkError | null = null;
            const timer = setTimeout(() => finish(new WorkerLinkError('PROXY_HELLO_TIMEOUT', `no hello_ok within ${agent.cfg.helloTimeoutMs} ms`)), agent.cfg.helloTimeoutMs);
            const finish = (e?: Error) => {
                clearTimeout(timer);
                ws.off('message', onMessage);
                if (e) reject(e);
                else resolve();
            };
            const onMessage = (data: RawData, isBinary: boolean) => {
                let f: Frame;
                try {
                    if (isBinary) throw new WireError('WIRE_MALFORMED', 'binary message');
                    f = parseFrame(rawText(data), 'proxy_to_worker');
                } catch (e) {
                    return finish(new WorkerLinkError('PROXY_PROTOCOL', `bad frame before hello_ok: ${(e as Error).message}`, { code: (e as CocoonError).code }));
                }
                if (f.type === 'error') {
                    refusal = new WorkerLinkError('PROXY_REFUSED', `proxy refused hello: ${f.code}: ${f.message}`, { code: f.code });
                    if (f.fatal) return finish(refusal);
                    return;
                }
                if (f.type !== 'hello_ok') return finish(new WorkerLinkError('PROXY_PROTOCOL', `expected hello_ok, got ${f.type}`));
                let proxy: Address;
                try {
                    proxy = Address.parse(f.proxy);
                } catch {
                    return finish(new WorkerLinkError('PROXY_PROTOCOL', 'hello_ok names no address'));
                }
                if (!proxy.equals(this.proxy)) return finish(new WorkerLinkError('PROXY_PROTOCOL', `hello_ok names proxy ${f.proxy}, we dialled ${this.proxy.toString()}`));
                if (f.v < MIN_PROTOCOL_VERSION || f.v > PROTOCOL_VERSION) return finish(new WorkerLinkError('PROXY_PROTOCOL', `hello_ok negotiated unsupported version ${f.v}`));
                this.version = f.v;
                // Attach the serving handler now, synchronously: ws emits the frames of one read back to back, and
                // the proxy sends its latest payout right behind hello_ok.
                ws.on('message', (data, bin) => this.onMessage(ws, data, bin));
                finish();
            };
            ws.on('message', onMessage);
            void closed.then(({ code, reason }) => finish(refusal ?? new WorkerLinkError('CONNECTION_LOST', `closed before hello_ok (${code}${reason ? ` ${reason}` : ''})`, { code, reason })));
            this.sendOn(ws, hello);
        });
    }

    private keepalive(ws: WebSocket): NodeJS.Timeout | undefined {
        const every = this.agent.cfg.keepaliveMs;
        if (every <= 0) return undefined;
        let alive = true;
        ws.on('pong', () => (alive = true));
        const t = setInterval(() => {
            if (!alive) {
                this.agent.log('keepalive_timeout', { proxy: this.raw });
                ws.terminate();
                return;
            }
            alive = false;
            ws.ping();
        }, every);
        t.unref();
        return t;
    }

    private onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
        let f: Frame;
        try {
            if (isBinary) throw new WireError('WIRE_MALFORMED', 'binary messages are not frames');
            f = parseFrame(rawText(data), 'proxy_to_worker', { version: this.version });
        } catch (e) {
            const err = e instanceof WireError ? e : new WireError('WIRE_MALFORMED', String(e));
            return this.onBadFrame(ws, err, isBinary ? undefined : rawText(data));
        }
        switch (f.type) {
            case 'request':
                return this.agent.onRequest(this, ws, f);
            case 'cancel': {
                const r = this.requests.get(f.id);
                if (r && r.ws === ws) r.cancel();
                else this.agent.log('cancel_unknown', { proxy: this.raw, id: f.id });
                return;
            }
            case 'payout':
                return this.agent.onPayout(this, ws, f);
            case 'ping':
                this.sendOn(ws, { type: 'pong', v: this.version, nonce: f.nonce });
                return;
            case 'pong':
                return;
            case 'error':
                this.agent.log('proxy_error', { proxy: this.raw, code: f.code, message: f.message, fatal: f.fatal, ...(f.id ? { id: f.id } : {}) });
                if (f.fatal) ws.close(1000, 'peer reported a fatal error');
                return;
            default:
                this.agent.log('frame_unexpected', { proxy: this.raw, type: f.type });
        }
    }

    /**
     * A frame that does not parse: a bad field of a request with a readable id fails that request only; anything
     * else (malformed, oversized, wrong direction or version) is a fatal `error` and the connection closes.
     */
    private onBadFrame(ws: WebSocket, e: WireError, text: string | undefined): void {
        const id = text === undefined ? undefined : requestIdOf(text);
        this.agent.log('frame_refused', { proxy: this.raw, code: e.code, message: e.message, ...(id ? { id } : {}) });
        if (e.code === 'WIRE_BAD_FIELD' && id && !this.requests.has(id)) {
            this.requestCounters.requestFailed();
            this.sendOn(ws, { type: 'response_error', v: this.version, id, code: e.code, message: e.message.slice(0, 1024), retryable: false });
            return;
        }
        const fatal = e.code !== 'WIRE_BAD_FIELD';
        this.sendOn(ws, { type: 'error', v: this.version, code: e.code, message: e.message.slice(0, 1024), fatal });
        if (fatal) ws.close(1002, e.code);
    }

    /** Sends a frame on `ws` if it is still open; false if the frame was dropped. */
    sendOn(ws: WebSocket, f: Frame): boolean {
        if (ws.readyState !== ws.OPEN) return false;
        let text: string;
        try {
            text = encodeFrame(f, 'worker_to_proxy');
        } catch (e) {
            this.agent.log('frame_encode_failed', { proxy: this.raw, type: f.type, code: (e as CocoonError).code, message: (e as Error).message });
            return false;
        }
        ws.send(text);
        return true;
    }

    /** Like sendOn, but waits for the socket to drain first when much is queued (streaming backpressure). */
    async sendFlow(ws: WebSocket, f: Frame): Promise<boolean> {
        if (ws.readyState === ws.OPEN && ws.bufferedAmount > HIGH_WATER) {
            await new Promise<void>((resolve) => {
                const check = () => (ws.readyState !== ws.OPEN || ws.bufferedAmount <= HIGH_WATER ? resolve() : setTimeout(check, 10));
                check();
            });
        }
        return this.sendOn(ws, f);
    }

    private disconnect(code: number, reason: string): void {
        const ws = this.ws;
        this.ws = null;
        if (ws) ws.close(code, reason.slice(0, 120));
        for (const r of this.requests.values()) r.detach();
    }
}

function rawText(data: RawData): string {
    if (typeof data === 'string') return data;
    if (Buffer.isBuffer(data)) return data.toString('utf8');
    if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
    return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/** The id of a request frame that failed to parse, if its id itself is well-formed. */
function requestIdOf(text: string): string | undefined {
    try {
        const o = JSON.parse(text) as { type?: unknown; id?: unknown };
        if (o && o.type === 'request' && typeof o.id === 'string' && /^[0-9a-f]{32}$/.test(o.id)) return o.id;
    } catch {
        /* not JSON */
    }
    return undefined;
}
