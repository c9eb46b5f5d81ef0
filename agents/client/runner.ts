// The client SDK (spec/client.md): one ClientChannel with one proxy, an attested connection to that proxy, private
// (sealed) or plain requests, receipt checks and cumulative vouchers, and the channel's on-chain life (deposit,
// top-up, withdraw, close). This file is the runner: options, open/stop, proxy selection and the channel in use.
// The rest sits beside it: link.ts (the connection kept up: connect, reconnect with backoff, the Root poll's
// check), proxy-connection.ts (the proxy peer), running-request.ts (one request), candidates.ts (worker
// candidates), payments.ts (receipts, vouchers, late receipts), channel.ts (the channel on chain), stats.ts (what
// balances() and lastReceipt report).
//
// Identity: ONE 32-byte seed. It is the client's TLS key (a plain key certificate, KeyIdentity), the ClientChannel's
// `clientKey` and the voucher key, so the proxy admits a connection only for the channel whose key it presents.
//
// Money rule (design §8): a voucher is signed only for a receipt that verified (signature under an attested worker
// key, our request id, the model, the usage reported, the coefficient cap, the cost by Root's prices), and it is
// written to the state file before it is sent. A receipt that fails costs nothing and drops the proxy connection.
import { Address } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import { ChainWallet, hex256, TonChain } from '../core/chain';
import { Clock, SleepClock, systemClock } from '../core/clock';
import { stopTrustTimers, trustClockMetrics, withTrustClock } from '../core/chain/trust-clock';
import { GpuEvidenceChecker } from '../core/tee/gpu/check';
import { Receipt } from '../core/receipt';
import { VerificationCache } from '../core/tee/verify';
import { KeyIdentity, PeerVerifier, RaTlsIdentity } from '../core/transport';
import { ClientChannelState, ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { Model, ProxyInfo } from '../../wrappers/Root';
import { modelId } from '../../wrappers/payloads';
import { Log, noLog } from '../core/log';
import { Candidates, ModelInfo } from './candidates';
import { Balances, ClientChannelOps, CloseResult, WithdrawResult } from './channel';
import { ClientError, ClientErrorCodes } from './errors';
import { Payments } from './payments';
import { ProxyLink } from './link';
import type { ProxyConnection } from './proxy-connection';
import { ClientEvent, RequestArgs, requestEvents, RequestHost } from './running-request';
import { ClientStateStore } from './state';
import { ClientStats, clientMetrics, FundingCheck, observeRequests } from './stats';
import { AgentOps, Readiness } from '../core/ops-server';
import { AutoTopUp, checkAutoTopUp } from './top-up';
import { coopWithdraw, CoopWithdrawResult } from './coop-withdraw';
import { Failover } from './failover';
import { checkOptions, CocoonClientOptions, optNumber, Privacy } from './options';

export type { CocoonClientOptions, Privacy } from './options';

export class CocoonClient {
    readonly privacy: Privacy;
    readonly maxCoefficient: bigint;
    readonly maxRequestCost: bigint | undefined;
    private readonly chain: TonChain;
    private readonly wallet: ChainWallet;
    private readonly keys: KeyPair;
    private readonly clientKeyHex: string;
    private readonly clock: SleepClock;
    /** Workers' certificates are judged by it (chain time when run from a config). */
    private readonly trustClock: Clock;
    private readonly log: Log;
    private readonly opts: CocoonClientOptions;
    private readonly rootPollMs: number;
    private readonly requestTimeoutMs: number;
    private readonly connectTimeoutMs: number;
    private readonly txTimeoutMs: number;
    private readonly failover?: Failover;
    private readonly quoteCache: VerificationCache;
    private readonly candidates: Candidates;
    private readonly payments: Payments;
    private readonly channelOps: ClientChannelOps;
    private readonly autoTopUp: AutoTopUp;
    private readonly stats = new ClientStats();
    private readonly requestHost: RequestHost;
    /** Metrics and the ops server (spec/operations.md, "Observability"); models labelled when Root lists them. */
    readonly ops: AgentOps;
    private readonly funding: FundingCheck;
    private readonly proxyLink: ProxyLink;

    private identity?: RaTlsIdentity;
    private store?: ClientStateStore;
    private proxyAddr?: Address;
    private proxyKey?: bigint;
    private wrapper?: ClientChannelWrapper;

    private pollTimer?: NodeJS.Timeout;
    private stopped = false;
    private opened = false;

    constructor(opts: CocoonClientOptions) {
        const { privacy, maxCoefficient } = checkOptions(opts);
        this.opts = opts;
        this.chain = opts.chain;
        this.wallet = opts.wallet;
        this.privacy = privacy;
        this.maxCoefficient = maxCoefficient;
        this.maxRequestCost = opts.maxRequestCost;
        this.keys = keyPairFromSeed(opts.seed);
        this.clientKeyHex = this.keys.publicKey.toString('hex');
        this.clock = opts.clock ?? systemClock;
        this.trustClock = opts.trustClock ?? this.clock;
        // A client talks to one proxy at a time: every line names it as `peer` once one is chosen.
        const sink = opts.log ?? noLog;
        this.log = (event, fields) => sink(event, this.proxyAddr ? { peer: this.proxyAddr.toString(), ...fields } : fields);
        this.rootPollMs = optNumber(opts.rootPollMs, 'rootPollMs', 5000);
        this.requestTimeoutMs = optNumber(opts.requestTimeoutMs, 'requestTimeoutMs', 120_000);
        this.connectTimeoutMs = optNumber(opts.connectTimeoutMs, 'connectTimeoutMs', 10_000);
        const reconnectMinMs = optNumber(opts.reconnectMinMs, 'reconnectMinMs', 250);
        const reconnectMaxMs = optNumber(opts.reconnectMaxMs, 'reconnectMaxMs', 10_000);
        const candidateTtlMs = optNumber(opts.candidateTtlMs, 'candidateTtlMs', 3000);
        const txTimeoutMs = optNumber(opts.txTimeoutMs, 'txTimeoutMs', 60_000);
        this.txTimeoutMs = txTimeoutMs;

        this.quoteCache = new VerificationCache({ ttlMs: 10 * 60_000, now: () => this.clock.now() });
        const log: Log = (event, fields) => this.log(event, fields);
        this.candidates = new Candidates({
            connect: () => this.connectLink(),
            // Worker images are read from the cached Root config at verification time, so an allowlist change applies at once.
            verifier: new PeerVerifier(
                { quote: opts.quotePolicy, isImageAllowed: (h) => this.chain.cachedRootConfig?.workerImages.has(h) ?? false, requireHpkeKey: true },
                { cache: this.quoteCache, clock: () => new Date(this.trustClock.now()), observe: (code) => this.ops.metrics.attestation('worker', code) },
            ),
            registeredWeights: (model) => this.chain.cachedRootConfig?.models.get(hex256(modelId(model)))?.weightsHash,
            workerConfigPolicy: opts.workerConfigPolicy,
            requiresGpu: (model) => this.chain.cachedRootConfig?.models.get(hex256(modelId(model)))?.requireGpu ?? false,
            gpu: new GpuEvidenceChecker(opts.gpuTrust, { clock: () => new Date(this.trustClock.now()) }),
            maxCoefficient,
            candidateTtlMs,
            connectTimeoutMs: this.connectTimeoutMs,
            clock: this.clock,
            trustClock: this.trustClock,
            log,
        });
        this.payments = new Payments({
            secretKey: this.keys.secretKey,
            maxCoefficient,
            maxRequestCost: opts.maxRequestCost,
            channel: () => this.need(),
            globalId: () => this.chain.getGlobalId(),
            connection: () => (this.link?.ready ? this.link : undefined),
            candidate: (model, workerKey) => this.candidates.byWorkerKey(model, workerKey),
            stopped: () => this.stopped,
            latePaid: (r) => this.stats.receiptPaid(r),
            clock: this.clock,
            log,
        });
        this.channelOps = new ClientChannelOps({
            chain: this.chain,
            wallet: this.wallet,
            clientKey: BigInt('0x' + this.clientKeyHex),
            clock: this.clock,
            trustClock: this.trustClock,
            txTimeoutMs,
            wrapper: () => this.need().wrapper,
            cumulative: () => this.payments.cumulative,
            log,
        });
        this.autoTopUp = new AutoTopUp({
            config: checkAutoTopUp(opts.autoTopUp),
            maxCoefficient,
            read: () => this.chain.getClientChannelState(this.need().wrapper.address),
            topUp: (amount, beforeSend) => this.channelOps.topUp(amount, beforeSend),
            store: () => this.need().store,
            committed: () => this.payments.committed,
            stopped: () => this.stopped,
            clock: this.clock,
            trustClock: this.trustClock,
            log,
        });
        if (opts.failoverAfterMs !== undefined) {
            this.failover = new Failover({
                afterMs: optNumber(opts.failoverAfterMs, 'failoverAfterMs', 1),
                chain: this.chain,
                channelOps: this.channelOps,
                clock: this.clock,
                log,
                deposit: opts.deposit,
                budget: opts.autoTopUp?.budget,
                stopped: () => this.stopped,
                current: () => this.need(),
                probe: (info) => this.proxyLink.probe(info),
                leave: async () => {
                    await this.payments.settled();
                    this.payments.forgetAll(); // their late receipts are the old proxy's, not payable from the new channel
                },
                adopt: (proxy, info, wrapper) => this.useChannel(proxy, info, wrapper, this.need().store),
                funded: (st) => this.autoTopUp.changed(st),
                reconnect: () => this.proxyLink.reconnectNow(), // with the shortest backoff
            });
        }
        this.proxyLink = new ProxyLink({
            chain: this.chain,
            clock: this.clock,
            trustClock: this.trustClock,
            log,
            quotePolicy: opts.quotePolicy,
            quoteCache: this.quoteCache,
            connectTimeoutMs: this.connectTimeoutMs,
            reconnectMinMs,
            reconnectMaxMs,
            stats: this.stats,
            payments: this.payments,
            candidates: this.candidates,
            failover: () => this.failover,
            observe: (code) => this.ops.metrics.attestation('proxy', code),
            identity: () => this.identity,
            opened: () => this.opened,
            stopped: () => this.stopped,
            current: () => this.need(),
        });
        this.requestHost = {
            privacy,
            maxCoefficient,
            requestTimeoutMs: this.requestTimeoutMs,
            log,
            connect: () => this.connectLink(),
            getModel: (name) => this.getModel(name),
            seal: (tried, fields, body, version) => this.candidates.seal(tried, fields, body, version),
            payments: this.payments,
            receiptPaid: (r) => this.stats.receiptPaid(r),
            reserve: (model, maxTokens) => this.autoTopUp.reserve(model, maxTokens),
        };
        this.funding = new FundingCheck(() => this.balances(), this.clock);
        this.ops = new AgentOps({
            role: 'client',
            knownModel: (name) => this.chain.cachedRootConfig?.models.has(hex256(modelId(name))) ?? false,
            codes: ClientErrorCodes,
            chain: this.chain,
            wallet: this.wallet,
            port: opts.metricsPort,
            host: opts.metricsHost,
            health: () => ({ ok: this.opened && !this.stopped }),
            ready: () => this.readiness(),
            stats: () => ({ proxy: this.proxyAddr?.toString() ?? null, connected: this.connected, cumulative: this.payments.cumulative, ...this.stats.snapshot() }),
        });
        clientMetrics(this.ops.metrics, { stats: this.stats, connected: () => this.connected, cumulative: () => this.payments.cumulative, ready: () => this.readiness() });
        trustClockMetrics(this.ops.metrics, this.trustClock);
    }

    /** `GET /readyz`: open, connected to its attested proxy, not blocked, its channel funded (stats.ts). */
    async readiness(): Promise<Readiness> {
        const r = await this.funding.readiness({ opened: this.opened && !this.stopped, connected: this.connected, blocked: this.proxyLink.blocked });
        return withTrustClock(r, this.trustClock);
    }

    /** The ops server's base URL (/metrics, /healthz, /readyz, /stats) once open() started it (`metricsPort`). */
    get opsUrl(): string | undefined {
        return this.ops.url;
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
        return this.stats.lastReceipt;
    }

    /** The same, under its old field name (tests/agents/proxy/money.spec.ts reads it). */
    private get last(): Receipt | undefined {
        return this.stats.lastReceipt;
    }

    /** The connection (tests/agents/proxy/money*.spec.ts terminate its socket). */
    private get link(): ProxyConnection | undefined {
        return this.proxyLink.link;
    }

    get connected(): boolean {
        return this.proxyLink.connected;
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
        this.identity = await KeyIdentity.create({ seed: this.opts.seed, clock: () => new Date(this.trustClock.now()) }); // issued by the time the proxy judges it at
        this.identity.start();
        try {
            await this.ops.start();
            await this.openChannel();
        } catch (e) {
            this.identity.stop();
            await this.ops.stop();
            throw e;
        }
        this.opened = true;
        this.pollTimer = setInterval(() => void this.proxyLink.pollRoot(), this.rootPollMs);
        this.pollTimer.unref?.();
        await this.autoTopUp.start();
        await this.connect();
    }

    private async openChannel(): Promise<void> {
        const cfg = await this.chain.getRootConfig();
        const stateProbe = ClientStateStore.load(this.opts.statePath, this.clientKeyHex);
        let info: { address: Address; info: ProxyInfo };
        try {
            info = await this.channelOps.selectProxy(cfg, stateProbe, this.opts.proxy, (i) => this.proxyLink.probe(i));
        } catch (e) {
            // With failover on, a pinned proxy that does not answer is only the first choice (its channel stays).
            if (!this.opts.proxy || !this.failover || !(e instanceof ClientError) || e.code !== 'PROXY_UNREACHABLE') throw e;
            this.log('client.pinned-unreachable', { peer: this.opts.proxy.toString(), message: e.message });
            info = await this.channelOps.selectProxy(cfg, stateProbe, undefined, (i) => this.proxyLink.probe(i), this.opts.proxy.toRawString());
        }
        await this.useChannel(info.address, info.info, await this.channelOps.channelWith(cfg, stateProbe, info.address, info.info), stateProbe);
        await this.channelOps.ensureDeposit(cfg, this.opts.deposit);
    }

    /** The channel with `proxy` becomes the client's: its state file record (created when new) and voucher counter. */
    private async useChannel(proxy: Address, info: ProxyInfo, wrapper: ClientChannelWrapper, store: ClientStateStore, create = true): Promise<void> {
        this.proxyAddr = proxy;
        this.proxyKey = info.enclaveKey;
        this.wrapper = wrapper;
        this.store = store;
        this.proxyLink.reset();
        this.candidates.clear();
        const raw = wrapper.address.toRawString();
        const rec = store.get(raw);
        this.payments.load(rec?.cumulative ?? 0n, rec?.signature ? Buffer.from(rec.signature, 'hex') : null);
        if (!rec && create) await store.put(raw, { proxy: proxy.toRawString(), cumulative: 0n, signature: null }, this.clock.now());
        this.log('client.channel-selected', { channel: wrapper.address.toString(), peer: proxy.toString(), cumulative: this.payments.cumulative.toString() });
    }

    /**
     * For channel commands (balance, withdraw, close, …): the channel open() would use — the pinned proxy, else the
     * proxy of the state file's most recent channel still in Root — without probing, depositing or polling. A
     * connection is made on demand (coopWithdraw).
     */
    async attach(): Promise<void> {
        if (this.opened) return;
        if (this.stopped) throw new ClientError('NOT_OPEN', 'the client was stopped');
        const cfg = await this.chain.getRootConfig();
        const store = ClientStateStore.load(this.opts.statePath, this.clientKeyHex);
        const recent = store.entries().sort(([, a], [, b]) => b.updatedAt - a.updatedAt).map(([, r]) => r.proxy);
        const raw = this.opts.proxy?.toRawString() ?? recent.find((p) => cfg.proxies.has(p));
        const info = raw === undefined ? undefined : cfg.proxies.get(raw);
        if (raw === undefined || !info) throw new ClientError('NO_PROXY', raw === undefined ? 'the state file names no channel with a proxy registered in Root; run `cocoon client serve` first' : `proxy ${raw} is not registered in Root`);
        this.identity = await KeyIdentity.create({ seed: this.opts.seed, clock: () => new Date(this.trustClock.now()) }); // issued by the time the proxy judges it at
        this.identity.start();
        const proxy = Address.parse(raw);
        // A closing channel too: finish-close must find it.
        await this.useChannel(proxy, info, await this.channelOps.channelWith(cfg, store, proxy, info, (st) => st !== 2n), store, false);
        this.opened = true;
    }

    /** Connects (RA-TLS + hello) unless connected; concurrent callers share one attempt. */
    connect(): Promise<void> {
        return this.connectLink().then(() => undefined);
    }

    private connectLink(): Promise<ProxyConnection> {
        return this.proxyLink.connect();
    }

    /** Closes the connection and stops timers; pending requests fail with NOT_OPEN. The state file stays. */
    async stop(): Promise<void> {
        this.stopped = true;
        if (this.pollTimer) clearInterval(this.pollTimer);
        this.pollTimer = undefined;
        await this.proxyLink.stop();
        this.identity?.stop();
        await this.payments.settled();
        await this.ops.stop();
        stopTrustTimers(this.trustClock, this.opts.quotePolicy);
    }

    private need(): { wrapper: ClientChannelWrapper; proxy: Address; store: ClientStateStore; proxyKey: bigint } {
        if (!this.wrapper || !this.proxyAddr || !this.store || this.proxyKey === undefined) throw new ClientError('NOT_OPEN', 'call open() first');
        return { wrapper: this.wrapper, proxy: this.proxyAddr, store: this.store, proxyKey: this.proxyKey };
    }

    // ---------------------------------------------------------------------------------------------------------
    // Models and requests

    /** Root's registered models that have at least one attested worker at or below maxCoefficient right now. */
    async listModels(): Promise<ModelInfo[]> {
        this.need();
        return this.candidates.models(await this.chain.getRootConfig());
    }

    /** Root's model of that name, or undefined. */
    async getModel(name: string): Promise<Model | undefined> {
        const cfg = await this.chain.getRootConfig();
        return cfg.models.get(hex256(modelId(name)));
    }

    /**
     * Sends one OpenAI request and yields `start`, `chunk`s and `end` (after the receipt verified and the voucher was
     * persisted and sent). Throws ClientError. Breaking out of the loop or aborting `signal` cancels the request;
     * a response_end that still arrives is verified and paid in the background.
     */
    request(args: RequestArgs): AsyncGenerator<ClientEvent, void, undefined> {
        return observeRequests(this.ops.metrics, this.stats, args.body.model, requestEvents(this.requestHost, args));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Channel on chain (channel.ts)

    /** Resolves once every voucher for the responses delivered so far is signed, persisted and sent. */
    async vouchersSettled(): Promise<void> {
        await this.payments.settled();
    }

    async balances(): Promise<Balances> {
        const { proxy } = this.need();
        const b = await this.channelOps.balances(proxy.toString(), () => this.stats.snapshot());
        return { ...b, autoTopUp: this.autoTopUp.status() };
    }

    /** Adds `amount` to the channel (deploying it on first use); resolves when the chain shows it. */
    async topUp(amount: bigint): Promise<ClientChannelState> {
        const st = await this.channelOps.topUp(amount);
        this.autoTopUp.changed(st);
        return st;
    }

    /** RequestWithdraw(amount), and FinishWithdraw when `withdrawAt` has passed; at most `available`. */
    withdraw(amount: bigint): Promise<WithdrawResult> {
        return this.channelOps.withdraw(amount).finally(() => this.autoTopUp.refresh());
    }

    /**
     * Cooperative withdrawal (spec/client.md): the proxy redeems, co-signs, and the wallet sends CoopWithdraw — paid
     * at once. `{amount}` (at most `available`) or `{close: true}` (the whole balance; the channel closes). A refusal
     * is PROXY_REFUSED (`details.wireCode` COOP_WITHDRAW_*), no answer PROXY_UNREACHABLE: fall back on withdraw().
     */
    coopWithdraw(req: { amount?: bigint; close?: boolean }): Promise<CoopWithdrawResult> {
        const { wrapper, proxyKey } = this.need();
        return coopWithdraw(
            {
                wrapper,
                proxyKey,
                globalId: () => this.chain.getGlobalId(),
                connect: () => this.connectLink(),
                payments: this.payments,
                channelOps: this.channelOps,
                timeoutMs: this.connectTimeoutMs + this.txTimeoutMs, // the proxy redeems before it signs
                log: this.log,
            },
            req,
        ).finally(() => this.autoTopUp.refresh());
    }

    /** FinishWithdraw after `withdrawAt`; returns the nanoTON paid to the wallet. */
    finishWithdraw(): Promise<bigint> {
        return this.channelOps.finishWithdraw().finally(() => this.autoTopUp.refresh());
    }

    /** StartClose: the proxy may still redeem until `closeAt`; then finishClose() refunds the rest. */
    close(): Promise<CloseResult> {
        return this.channelOps.close();
    }

    /** FinishClose after `closeAt`: the channel's whole balance goes to the wallet. Returns that balance. */
    finishClose(): Promise<bigint> {
        return this.channelOps.finishClose();
    }
}
