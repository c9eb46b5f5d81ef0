// The worker's runner (design §3, spec/worker.md): dials every proxy it serves over RA-TLS, announces its models,
// coefficient and capacity, runs each request against its OpenAI-compatible backend, meters it from the backend's
// `usage`, signs a receipt, and claims the payouts the proxies sign for it.
//
// Pieces, after the role split of Cocoon's runners:
//   WorkerAgent      runner.ts: lifecycle: config, keys, Root polling, request admission, payouts
//   options          options.ts: WorkerAgentOptions, defaults, validateWorkerOptions (re-exported here)
//   ProxyConnection  proxy-connection.ts: one proxy: stake the WorkerChannel, connect, hello, serve frames,
//                    reconnect with backoff
//   RunningRequest   running-request.ts: one request's state machine: open/validate → backend → start/chunks →
//                    end | error
//   WorkerCounters   stats.ts: counters and the stats snapshot
import { EventEmitter } from 'events';
import { Address } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import type { WebSocket } from 'ws';
import { ChainWallet, hex256, RootConfig, TonChain } from '../core/chain';
import { Clock, SleepClock, systemClock } from '../core/clock';
import { stopTrustTimers, trustClockMetrics, withTrustClock } from '../core/chain/trust-clock';
import { Log, noLog } from '../core/log';
import { keepLease, LeaseKeeper } from '../core/keys/sealed-file';
import { CocoonError } from '../core/errors';
import { deriveHpkeKeyPair, HpkeKeyPair, ReplayCache } from '../core/hpke';
import { backendKindOf, ed25519KeyPairFromSeed, encodeWorkerConfig, PeerVerifier, RaTlsIdentity, WorkerConfigModel } from '../core/transport';
import { encodeGpuBundle, gpuBundleHash } from '../core/tee/gpu/bundle';
import { gpuNonceFor } from '../core/tee/gpu/verify';
import { PayoutFrame, RequestFrame } from '../core/wire';
import type { Model } from '../../wrappers/Root';
import { modelId } from '../../wrappers/payloads';
import { sendableCode, WorkerConfigError, WorkerLinkError, WorkerSendableCode } from './errors';
import { WorkerKeys } from './forward';
import { ClaimResult, PayoutBook } from './payouts';
import { ConnectionHost, OfferResult, ProxyConnection } from './proxy-connection';
import { OfferBook } from './offers';
import { RequestHost, RunningRequest } from './running-request';
import { LinkState, WorkerCounters, workerMetrics, workerReadiness, WorkerStats } from './stats';
import { AgentOps, Readiness } from '../core/ops-server';
import { checkWeights, defaultHpkeSeed, ResolvedConfig, validateWorkerOptions, WorkerAgentOptions, WorkerModelOffer } from './options';

export { DEFAULT_PAYOUT_THRESHOLD, defaultHpkeSeed, validateWorkerOptions } from './options';
export type { ResolvedConfig, WorkerAgentOptions, WorkerModelOffer } from './options';

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

export class WorkerAgent extends EventEmitter<WorkerAgentEvents> implements ConnectionHost, RequestHost {
    readonly chain: TonChain;
    readonly wallet: ChainWallet;
    readonly clock: SleepClock;
    /** Proxies' certificates are judged, and hello expiries signed, by it (chain time when run from a config). */
    readonly trustClock: Clock;
    readonly log: Log;
    readonly capacity: number;
    readonly backendUrl: string;
    /** What the worker offers now: coefficients, disabled models, disabled / draining (live admin, offers.ts). */
    readonly offerBook: OfferBook;
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
    private readonly links = new Map<string, ProxyConnection>();
    private readonly tasks = new Set<Promise<void>>();
    private pollTimer?: NodeJS.Timeout;
    private polling?: Promise<void>;
    private phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
    /** The sealed wallet's lease, kept from start() until stop(). */
    private walletLease?: LeaseKeeper;
    private readonly counters: WorkerCounters;
    /** Metrics and the ops server (spec/operations.md, "Observability"); models labelled by the offers. */
    readonly ops: AgentOps;

    constructor(private readonly opts: WorkerAgentOptions) {
        super();
        this.chain = opts.chain;
        this.wallet = opts.wallet;
        this.clock = opts.clock ?? systemClock;
        this.trustClock = opts.trustClock ?? this.clock;
        this.log = opts.log ?? noLog;
        this.capacity = opts.capacity;
        this.backendUrl = opts.backendUrl;
        this.offerBook = new OfferBook(opts.models ?? [], (name) => this.rootModel(name) !== undefined);
        this.ops = new AgentOps({
            role: 'worker',
            knownModel: (name) => this.offerBook.has(name),
            chain: opts.chain,
            wallet: opts.wallet,
            port: opts.metricsPort,
            host: opts.metricsHost,
            health: () => ({ ok: this.phase === 'running', phase: this.phase }),
            ready: () => this.readiness(),
            stats: () => this.stats(),
        });
        this.counters = new WorkerCounters(opts.capacity, this.ops.metrics);
        workerMetrics(this.ops.metrics, () => this.stats(), () => this.readiness());
        trustClockMetrics(this.ops.metrics, this.trustClock);
        const seed = Buffer.isBuffer(opts.seed) && opts.seed.length === 32 ? opts.seed : Buffer.alloc(32);
        const kp = keyPairFromSeed(seed);
        this.keys = { publicKey: kp.publicKey, secretKey: kp.secretKey };
    }

    /** The attested configuration document (spec/attestation.md, "Measured worker configuration") of the current certificate (after start()). */
    get workerConfig(): Buffer {
        return this.identity.current.workerConfig!;
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
        if (this.phase !== 'new') throw new WorkerConfigError('CONFIG_INVALID', `start() called on a ${this.phase} worker`, { key: '(lifecycle)' });
        this.phase = 'starting';
        try {
            this.cfg = validateWorkerOptions(this.opts);
            this.replays = new ReplayCache(this.cfg.replayCacheSize);
            const backend = backendKindOf(this.opts.backendUrl);
            if (backend === 'remote') {
                if (this.opts.tee.kind !== 'simulated')
                    throw new WorkerConfigError('WORKER_BACKEND_OUTSIDE_TD', `backendUrl ${this.opts.backendUrl} is outside the TD: use 127.0.0.1, ::1 or an http+unix:// socket`, { key: 'backendUrl' });
                this.log('worker.backend-outside-td', { backendUrl: this.opts.backendUrl, message: 'the backend runs outside the TD: only a simulated-TEE verifier accepts this worker' });
            }
            const root = await this.chain.getRootConfig();
            const served: WorkerConfigModel[] = [];
            for (const m of this.opts.models) {
                const model = root.models.get(hex256(modelId(m.name)));
                if (!model || model.contextLength <= 0n)
                    throw new WorkerConfigError('WORKER_MODEL_NOT_REGISTERED', `model ${m.name} is not registered in Root`, { model: m.name, key: 'models' });
                if (m.weightsDir !== undefined) await checkWeights(m.name, m.weightsDir, model.weightsHash);
                served.push({ name: m.name, weightsHash: m.weightsDir !== undefined ? hex256(model.weightsHash) : null });
            }
            const needGpu = this.opts.models.filter((m) => root.models.get(hex256(modelId(m.name)))?.requireGpu).map((m) => m.name);
            if (needGpu.length > 0 && !this.opts.gpu) this.log('worker.gpu-evidence-missing', { models: needGpu, message: 'Root requires GPU evidence for these models and this worker has no gpu source: peers will refuse it for them' });
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
                workerEvidence: () => this.workerEvidence({ backend, capacity: this.capacity, models: served }),
                clock: () => new Date(this.trustClock.now()), // issued by the time the proxy judges it at
            });
            this.identity.on('error', (e) => this.log('identity.rotation-failed', { message: e.message }));
            this.identity.start();
            // Proxy images come from the Root config TonChain fetched last: synchronous, no I/O in the handshake.
            this.verifier = new PeerVerifier(
                { quote: this.opts.quotePolicy, isImageAllowed: (h) => this.chain.cachedRootConfig?.proxyImages.has(h) ?? false },
                { clock: () => new Date(this.trustClock.now()), observe: (code) => this.ops.metrics.attestation('proxy', code) },
            );
            await this.ops.start();
        } catch (e) {
            this.phase = 'new';
            this.identity?.stop();
            await this.ops.stop();
            throw e;
        }
        this.phase = 'running';
        const wl = this.opts.walletLease;
        this.walletLease = wl
            ? keepLease(wl.lease, {
                  renewMs: wl.renewMs,
                  reopen: wl.reopen,
                  // Another TD holds our wallet key now: claim and stake nothing more with it.
                  onLost: (e) => {
                      this.log('worker.wallet-lease-lost', { message: e.message });
                      void this.stop();
                  },
                  log: this.log,
              })
            : undefined;
        const root = this.chain.cachedRootConfig!;
        const wanted = this.opts.proxies ?? [...root.proxies.keys()].map((r) => Address.parse(r));
        for (const p of wanted) this.addLink(p, root);
        this.log('worker.started', { proxies: wanted.length, models: this.opts.models.map((m) => m.name), capacity: this.capacity, key: this.publicKey.toString('hex') });
        this.schedulePoll();
    }

    /**
     * The configuration document and GPU evidence of the next certificate: the GPUs are asked afresh for reports
     * answering gpuNonceFor(the RA-TLS key), and the document (version 2) names the bundle's SHA-256, so the quote
     * covers both (spec/attestation.md, "GPU evidence in the chain of evidence").
     */
    private async workerEvidence(base: { backend: ReturnType<typeof backendKindOf>; capacity: number; models: WorkerConfigModel[] }): Promise<{ workerConfig: Buffer; gpuEvidence?: Buffer }> {
        if (!this.opts.gpu) return { workerConfig: encodeWorkerConfig({ version: 1, ...base }) };
        const gpuEvidence = encodeGpuBundle(await this.opts.gpu.evidence(gpuNonceFor(this.publicKey)));
        return { workerConfig: encodeWorkerConfig({ version: 2, ...base, gpuEvidence: gpuBundleHash(gpuEvidence) }), gpuEvidence };
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
        await this.ops.stop();
        stopTrustTimers(this.trustClock, this.opts.quotePolicy);
        await this.walletLease?.stop();
        this.phase = 'stopped';
        this.log('worker.stopped', this.counters.totals());
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
        return this.counters.snapshot([...this.links.values()].map((l) => l.stats()), this.payouts);
    }

    /** `GET /readyz`: running with a proxy link ready (stats.ts workerReadiness). */
    readiness(): Readiness {
        return withTrustClock(workerReadiness(this.phase === 'running', this.stats()), this.trustClock);
    }

    /** The ops server's base URL (/metrics, /healthz, /readyz, /stats) once started with `metricsPort`. */
    get opsUrl(): string | undefined {
        return this.ops.url;
    }

    /** Requests being served, across every proxy. */
    get inFlight(): number {
        return this.tasks.size;
    }

    /** What each proxy routes this worker by (the offer it acknowledged last), by proxy. */
    ackedOffers(): Record<string, WorkerModelOffer[]> {
        return Object.fromEntries([...this.links.values()].map((l) => [l.raw, l.ackedOffer()]));
    }

    /** Announces the offer book to every proxy (live admin): how each connection answered, by proxy. */
    async announce(): Promise<Record<string, OfferResult>> {
        const links = [...this.links.values()];
        const results = await Promise.all(links.map((l) => l.announce()));
        return Object.fromEntries(links.map((l, i) => [l.raw, results[i]]));
    }

    get running(): boolean {
        return this.phase === 'running';
    }

    private addLink(proxy: Address, root: RootConfig): void {
        const raw = proxy.toRawString();
        if (this.links.has(raw)) return;
        const link = new ProxyConnection(this, this.cfg, this.counters, proxy, root.proxies.get(raw) ?? null);
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
            this.log('root.poll-failed', { code: (e as CocoonError).code, message: (e as Error).message });
            return;
        }
        if (!changed || this.phase !== 'running') return;
        const root = this.chain.cachedRootConfig!;
        this.log('root.changed', { version: root.version });
        if (!this.opts.proxies) for (const raw of root.proxies.keys()) this.addLink(Address.parse(raw), root);
        for (const [raw, link] of [...this.links]) {
            const info = root.proxies.get(raw) ?? null;
            if (!info && !this.opts.proxies) {
                // Following Root: a delisted proxy is dropped altogether.
                this.links.delete(raw);
                this.log('proxy.removed', { peer: raw });
                await link.stop();
                continue;
            }
            link.update(info, root);
        }
    }

    // ---- called by connections and requests ---------------------------------------------------------------

    /** A proxy connection changed state. */
    onLinkState(proxy: string, state: LinkState): void {
        this.emit('state', proxy, state);
    }

    /** The model as Root lists it now: the cached config the poller keeps fresh. */
    rootModel(name: string): Model | undefined {
        return this.chain.cachedRootConfig?.models.get(hex256(modelId(name)));
    }

    /** Remembers a sealed request's encapsulated key; false when it was opened lately (a replay). */
    rememberSealed(enc: Uint8Array): boolean {
        return this.replays.add(enc);
    }

    /** A request frame arrived on `link`: admit it (capacity) and run it. */
    onRequest(link: ProxyConnection, ws: WebSocket, f: RequestFrame): void {
        if (link.requests.has(f.id)) {
            link.sendOn(ws, { type: 'error', v: link.version, code: 'DUPLICATE_REQUEST' satisfies WorkerSendableCode, message: 'a request with this id is in progress', fatal: false, id: f.id });
            return;
        }
        const refusal = this.offerBook.refusal(f.model);
        if (refusal !== null) {
            link.sendOn(ws, { type: 'response_error', v: link.version, id: f.id, code: 'WORKER_DRAINING' satisfies WorkerSendableCode, message: refusal, retryable: true });
            this.log('request.refused', { peer: link.raw, id: f.id, code: 'WORKER_DRAINING' });
            return;
        }
        if (!this.counters.hasRoom()) {
            this.counters.requestBusy(f.model);
            link.sendOn(ws, { type: 'response_error', v: link.version, id: f.id, code: 'WORKER_BUSY' satisfies WorkerSendableCode, message: `worker at capacity (${this.capacity})`, retryable: true });
            this.log('request.refused', { peer: link.raw, id: f.id, code: 'WORKER_BUSY' });
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
    onPayout(link: ProxyConnection, ws: WebSocket, f: PayoutFrame): void {
        const channel = link.channel;
        const info = link.info;
        if (!channel || !info) return;
        let outcome: 'stored' | 'unchanged';
        try {
            outcome = this.payouts.accept({ channel, proxy: link.proxy, enclaveKey: info.enclaveKey, amount: f.amount, signature: Buffer.from(f.signature, 'hex') });
        } catch (e) {
            const code = sendableCode(e);
            this.log('payout.refused', { peer: link.raw, channel: channel.toRawString(), code, message: (e as Error).message, amount: f.amount.toString() });
            link.sendOn(ws, { type: 'error', v: link.version, code, message: (e as Error).message.slice(0, 1024), fatal: false });
            return;
        }
        if (outcome === 'unchanged') return;
        this.log('payout.stored', { peer: link.raw, channel: channel.toRawString(), amount: f.amount.toString() });
        this.emit('payout', channel.toRawString(), f.amount);
        void this.payouts.claim(channel).then((r) => r && this.emit('claim', r));
    }
}
