// The proxy agent (spec/proxy.md): two RA-TLS WebSocket endpoints — workers (mutually attested, Root's worker
// images) and clients (known by their certificate key = their ClientChannel's clientKey) — a router that picks a
// worker per request, a durable ledger (agents/proxy/ledger.ts) that books every verified receipt before the client
// sees response_end, and background loops that redeem client vouchers, sign worker payouts, commit the ledger's
// state hash to the Proxy contract and follow Root's configuration.
//
// This file is the runner: start/stop, the loops and the Root poll. Each peer's connection is in
// client-connection.ts / worker-connection.ts, one request's state machine in running-request.ts, the host object
// they are given in host.ts, settlement in settlement.ts, state commits in commits.ts, counters and the stats
// snapshot in stats.ts, options in options.ts.
//
// Hot path per request: parse, a few in-memory checks, two SQLite reads (duplicate id, credit window), forward; at
// response_end one receipt verification and one durable write (recordDelivery). Vouchers cost one signature check
// and one durable write (acceptVoucher). No chain call per request except refreshing a client's cached channel
// state when its deposit looks exhausted.
import { Address, Cell } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import type { WebSocket } from 'ws';
import { RootConfig } from '../core/chain/chain';
import { ClientKeyVerifier, ed25519KeyPairFromSeed, KeyPeer, PeerAttestation, PeerVerifier, RaTlsIdentity, RaTlsServer } from '../core/transport';
import { MAX_FRAME_BYTES } from '../core/wire';
import { Model } from '../../wrappers/Root';
import { toUint256 } from '../../wrappers/payloads';
import type { Log, LogFields } from '../core/log';
import { Clock, systemClock } from '../core/clock';
import { resumeTrustClock, stopTrustTimers, trustClockMetrics, withTrustClock } from '../core/chain/trust-clock';
import { GpuEvidenceChecker } from '../core/tee/gpu/check';
import { commitCheckMs, ProxyAgentOptions, ProxyUrls, SETTLEMENT_DEFAULTS, validateOptions } from './options';
import { Commit, Ledger } from './ledger';
import { ProxyError } from './errors';
import { Router, TimedRouter } from './router';
import { keepLeases, LeaseKeeper } from '../core/keys/sealed-file';
import { WorkerAdmission } from './worker-admission';
import { ClientAdmission } from './admission';
import { CoopWithdrawals } from './coop-withdraw';
import { HelloGate, ProxyLimits, resolveLimits } from './guard';
import { buildStats, ProxyCounters, proxyMetrics, proxyReadiness, ProxyStats } from './stats';
import { AgentOps, Readiness } from '../core/ops-server';
import { Settlement, SettleResult } from './settlement';
import { Commits, rollbackError } from './commits';
import { GroupCommit } from './group-commit';
import { RunningRequest } from './running-request';
import { Connection } from './connection';
import { ClientConnection, ClientHost } from './client-connection';
import { WorkerConnection, WorkerHost } from './worker-connection';
import { connectionHost } from './host';

export type { ProxyAgentOptions, ProxyUrls } from './options';

export class ProxyAgent {
    private readonly o: ProxyAgentOptions;
    private readonly clock: Clock;
    /** Peers' certificates and hello signatures are judged by it (chain time when run from a config). */
    private readonly trustClock: Clock;
    private readonly keys: { publicKey: Buffer; secretKey: Buffer };
    private readonly enclaveKey: bigint;
    /** The sealed seed's and the sealed wallet's leases, kept from start() until stop(). */
    private leases?: LeaseKeeper;
    /** Metrics and the ops server (spec/operations.md, "Observability"); models labelled once Root lists them. */
    readonly ops: AgentOps;
    private readonly counters: ProxyCounters;
    readonly router: Router;
    private readonly limits: ProxyLimits;
    private readonly helloGate: HelloGate;

    private ledger?: Ledger;
    /** The chain's global id (config param 19), read at start: every signed payload carries it. */
    private globalId = 0;
    private identity?: RaTlsIdentity;
    private workerServer?: RaTlsServer<PeerAttestation & { certDer: Buffer }>;
    private clientServer?: RaTlsServer<KeyPeer>;
    private urls?: ProxyUrls;
    private timers: NodeJS.Timeout[] = [];
    private halted?: ProxyError;
    private stopping = false;
    /** False after `cocoon admin stop-accepting`: new client sessions and requests are refused (PROXY_NOT_ACCEPTING). */
    accepting = true;
    private startedAt = 0;

    private readonly workers = new Map<string, WorkerConnection>();
    private readonly clients = new Map<string, ClientConnection>();
    /** Requests in flight by id (global: the ledger's request ids are global). */
    private readonly inFlight = new Map<string, RunningRequest>();
    private readonly clientAdmission = new ClientAdmission();
    private modelsByName = new Map<string, { model: Model; id: bigint }>();
    private modelsVersion = -1;
    /** Root's version the connected workers were last judged against (onRootChanged). */
    private routedVersion = -1;

    private checkingChannels?: Promise<void>;
    private readonly admission: WorkerAdmission;
    private polling?: Promise<void>;
    private readonly settlement: Settlement;
    private readonly coop: CoopWithdrawals;
    private knownClientCodes?: Cell[];
    private readonly commits: Commits;
    private readonly writes: GroupCommit;
    /** What connections and requests may ask of this runner (client-connection.ts, worker-connection.ts, running-request.ts), wired in host.ts. */
    private readonly host: ClientHost & WorkerHost;

    constructor(opts: ProxyAgentOptions) {
        validateOptions(opts);
        this.o = opts;
        this.ops = new AgentOps({
            role: 'proxy',
            knownModel: (name) => this.modelsByName.has(name),
            chain: opts.chain,
            wallet: opts.wallet,
            port: opts.metricsPort ?? opts.statsPort ?? 0,
            host: opts.metricsHost,
            stats: () => this.stats(),
            health: () => {
                const ok = !this.halted && this.urls !== undefined;
                return { ok, status: this.halted ? 'halted' : ok ? 'serving' : 'stopped' };
            },
            ready: () => this.readiness(),
        });
        this.counters = new ProxyCounters(this.ops.metrics);
        this.router = new TimedRouter(this.counters.routing);
        proxyMetrics(this.ops.metrics, () => this.stats(), () => this.readiness());
        this.clock = opts.clock ?? systemClock;
        this.trustClock = opts.trustClock ?? this.clock;
        trustClockMetrics(this.ops.metrics, this.trustClock);
        const kp = keyPairFromSeed(opts.seed);
        this.keys = { publicKey: kp.publicKey, secretKey: kp.secretKey };
        this.enclaveKey = toUint256(kp.publicKey);
        this.admission = new WorkerAdmission({ chain: opts.chain, proxyAddress: opts.proxyAddress, enclaveKey: this.enclaveKey, clock: this.trustClock });
        this.limits = resolveLimits(opts.limits) as ProxyLimits;
        this.helloGate = new HelloGate(this.limits, this.clock, this.counters.guard);
        const log: Log = (event, fields) => this.log(event, fields);
        const common = { chain: opts.chain, wallet: opts.wallet, secretKey: this.keys.secretKey, log, ledger: () => this.ledger, globalId: () => this.globalId, stopping: () => this.stopping };
        this.settlement = new Settlement({
            ...common,
            redeemThreshold: opts.redeemThreshold,
            payoutThreshold: opts.payoutThreshold,
            refusal: () => (!this.ledger || this.stopping ? new ProxyError('PROXY_NOT_STARTED', 'start the proxy first') : this.halted),
            halted: () => this.halted !== undefined,
            clock: this.clock,
            trustClock: this.trustClock,
            connectedChannels: () => [...this.clients.values()].filter((c) => c.state === 'ready' && c.channelRaw).map((c) => c.channelRaw!),
            sendPayout: (worker, amount, signature) => this.sendPayout(worker, amount, signature),
        });
        this.coop = new CoopWithdrawals({ ...common, settlement: this.settlement, heldBy: (ch) => this.clientAdmission.heldBy(ch), trustClock: this.trustClock });
        this.commits = new Commits({
            ...common,
            proxyAddress: opts.proxyAddress,
            commitGuardMs: opts.commitGuardMs,
            commitIntervalMs: opts.commitIntervalMs ?? SETTLEMENT_DEFAULTS.commitIntervalMs,
            commitValueThreshold: opts.commitValueThreshold ?? SETTLEMENT_DEFAULTS.commitValueThreshold,
            clock: this.clock,
            halted: () => this.halted,
            halt: (e) => this.halt(e),
        });
        this.writes = new GroupCommit(() => this.ledger);
        this.host = connectionHost({
            o: opts, router: this.router, limits: this.limits, counters: this.counters, enclaveKey: this.enclaveKey, clock: this.clock, trustClock: this.trustClock, admission: this.admission,
            settlement: this.settlement, coop: this.coop, writes: this.writes, helloGate: this.helloGate, clientAdmission: this.clientAdmission,
            workers: this.workers, clients: this.clients, inFlight: this.inFlight,
            log, ledger: () => this.ledger, globalId: () => this.globalId, stopping: () => this.stopping, halted: () => this.halted !== undefined, accepting: () => this.accepting,
            models: () => this.modelsByName,
            refreshModels: (cfg) => this.refreshModels(cfg),
            clientCodes: (current) => this.clientCodes(current),
            crash: () => this.crash(),
            gpu: new GpuEvidenceChecker(opts.gpuTrust, { clock: () => new Date(this.trustClock.now()) }),
        });
    }

    /** The proxy's enclave (RA-TLS, commit and payout) public key. */
    get publicKey(): Buffer {
        return Buffer.from(this.keys.publicKey);
    }

    private log(event: string, fields: LogFields = {}): void {
        this.o.log?.(event, fields);
    }

    /**
     * Root's current ClientChannel code first, then every older one Root listed while this proxy watched (kept in the
     * ledger): a client's channel created before a SetChildCode stays acceptable (spec/proxy.md, "Connection state machine").
     */
    private clientCodes(current: Cell): Cell[] {
        this.knownClientCodes ??= this.ledger!.clientCodes().map((b) => Cell.fromBase64(b));
        if (!this.knownClientCodes.some((c) => c.equals(current))) {
            this.ledger!.rememberClientCode(current.toBoc().toString('base64'));
            this.knownClientCodes.push(current);
        }
        return [current, ...this.knownClientCodes.filter((c) => !c.equals(current))];
    }

    private connections(): Connection[] {
        return [...this.workers.values(), ...this.clients.values()];
    }

    // -----------------------------------------------------------------------------------------------------------
    // Lifecycle

    /**
     * Checks the ledger against the Proxy contract's last commit (PROXY_ROLLBACK: nothing listens), then opens the
     * worker, client and stats endpoints and starts the loops. A sealed seed's lease is renewed from here until stop()
     * releases it (a start that fails releases it too).
     */
    async start(): Promise<ProxyUrls> {
        if (this.urls) return this.urls;
        await resumeTrustClock(this.trustClock); // after a stop()
        this.leases = keepLeases({ seed: this.o.seedLease, wallet: this.o.walletLease }, {
            // Another TD holds our seed or wallet key now: sign nothing more with it.
            onLost: (what, e) => void this.halt(new ProxyError('PROXY_HALTED', `another TD holds the sealed ${what}'s lease: ${e.message}`, { reason: `${what}-lease-lost` })),
            log: (e, f) => this.log(e, f),
        });
        try {
            return await this.serve();
        } catch (e) {
            await this.releaseLeases();
            throw e;
        }
    }

    /** Releases the sealed secrets' leases; a later start() renews them again (taking them anew: the service forgot them). */
    private async releaseLeases(): Promise<void> {
        const keeper = this.leases;
        this.leases = undefined;
        await keeper?.stop();
    }

    private async serve(): Promise<ProxyUrls> {
        const { chain, proxyAddress } = this.o;
        const cfg = await chain.getRootConfig();
        this.globalId = await chain.getGlobalId();
        const state = await chain.getProxyState(proxyAddress);
        if (!state) throw new ProxyError('PROXY_NOT_DEPLOYED', `no Proxy contract at ${proxyAddress.toString()}`);
        if (state.enclaveKey !== this.enclaveKey) {
            throw new ProxyError('PROXY_KEY_MISMATCH', 'the Proxy contract names another enclave key than the seed gives', { proxy: proxyAddress.toRawString() });
        }
        const commissionBps = Number(state.terms?.commissionBps ?? cfg.params.commissionBps);
        const ledger = Ledger.open(this.o.ledgerPath, { commissionBps, clock: this.clock, recoveryAllowance: cfg.params.creditWindow });
        if (ledger.uncleanStart) this.log('ledger.unclean-start', { recoveryAllowance: cfg.params.creditWindow.toString() });
        try {
            ledger.checkAgainstChain(state.commitSeqno, state.commitHash);
        } catch (e) {
            ledger.close();
            throw rollbackError(e);
        }
        this.ledger = ledger;
        this.startedAt = this.clock.now();
        this.clientCodes(cfg.childCode.clientCode);
        this.refreshModels(cfg);
        this.routedVersion = cfg.version;
        let urls: ProxyUrls;
        try {
            urls = await this.listen();
        } catch (e) {
            await this.stop();
            throw e;
        }
        this.startLoops();
        this.log('proxy.started', { proxy: proxyAddress.toRawString(), ...urls });
        return urls;
    }

    private async listen(): Promise<ProxyUrls> {
        const host = this.o.host ?? '127.0.0.1';
        // Issued by the clock of trust, as its peers judge it.
        this.identity = await RaTlsIdentity.create({ provider: this.o.tee, keys: await ed25519KeyPairFromSeed(this.o.seed), clock: () => new Date(this.trustClock.now()) });
        this.identity.start();
        const attested = new PeerVerifier(
            {
                quote: this.o.quotePolicy,
                // Root's worker images as last fetched: synchronous, no I/O inside the TLS handshake.
                isImageAllowed: (h) => this.o.chain.cachedRootConfig?.workerImages.has(h) ?? false,
            },
            { clock: () => new Date(this.trustClock.now()), observe: (code) => this.ops.metrics.attestation('worker', code) },
        );
        // The worker's certificate itself is handed to clients as the candidate's attestation: keep it.
        const workerVerifier = { verify: (der: Buffer | undefined) => ({ ...attested.verify(der), certDer: Buffer.from(der!) }) };
        const common = { identity: this.identity, host, ws: { maxPayload: MAX_FRAME_BYTES }, maxConnectionsPerAddress: this.limits.maxConnectionsPerAddress };
        this.workerServer = new RaTlsServer({ ...common, verifier: workerVerifier, port: this.o.workerPort ?? 0 });
        this.clientServer = new RaTlsServer({ ...common, verifier: new ClientKeyVerifier({ clock: () => new Date(this.trustClock.now()) }), port: this.o.clientPort ?? 0 });
        this.workerServer.on('connection', (ws, peer, req) => this.acceptWorker(ws, peer, req.socket.remoteAddress ?? ''));
        this.clientServer.on('connection', (ws, peer, req) => this.acceptClient(ws, peer, req.socket.remoteAddress ?? ''));
        for (const [kind, server] of [['worker', this.workerServer], ['client', this.clientServer]] as const) {
            server.on('peerRejected', (e, info) => {
                if (e.code === 'TOO_MANY_CONNECTIONS') this.counters.connectionRefused();
                this.log(`${kind}.rejected`, { code: e.code, ...info });
            });
        }
        const w = await this.workerServer.listen();
        const c = await this.clientServer.listen();
        const s = (await this.ops.start())!;
        this.urls = { clientUrl: c.url, workerUrl: w.url, statsUrl: s, metricsUrl: `${s}/metrics` };
        return this.urls;
    }

    private startLoops(): void {
        const every = (ms: number | undefined, def: number, fn: () => void) => {
            const period = ms ?? def;
            if (period <= 0) return;
            const t = setInterval(fn, period);
            t.unref();
            this.timers.push(t);
        };
        every(this.o.rootPollMs, 5000, () => void this.pollRoot());
        every(this.o.settleIntervalMs, SETTLEMENT_DEFAULTS.settleIntervalMs, () => void this.settle().catch((e) => this.log('settle.failed', { error: String(e) })));
        every(commitCheckMs(this.o.commitIntervalMs ?? SETTLEMENT_DEFAULTS.commitIntervalMs), 0, () => void this.commits.commitIfChanged().catch((e) => this.log('commit.failed', { error: String(e) })));
        every(this.o.pingIntervalMs, 20_000, () => this.keepalive());
        every(this.o.channelCheckMs, 30_000, () => void this.checkWorkerChannels());
        every(this.o.watchIntervalMs, 5000, () => void this.watchChannels());
        this.commits.startGuard();
    }

    /** Stops serving for good after a rollback detected while running: no requests, payouts or commits. */
    private async halt(err: ProxyError): Promise<void> {
        if (this.halted) return;
        this.halted = new ProxyError('PROXY_HALTED', err.message, { ...(err.details ?? {}), cause: err.code });
        this.log('proxy.halted', { code: err.code, message: err.message });
        for (const c of this.connections()) c.sendError('PROXY_UNAVAILABLE', 'the proxy halted', true);
        await Promise.all([this.workerServer?.close(), this.clientServer?.close()]);
    }

    /** A crash as the crash hook asks for it: every socket cut at once, then everything closed. */
    private crash(): void {
        this.log('proxy.crash', {});
        this.stopping = true;
        for (const c of this.connections()) c.ws.terminate();
        void this.stop();
    }

    /** Closes every endpoint and timer, waits for running settlement and commit, closes the ledger. */
    async stop(): Promise<void> {
        this.stopping = true;
        for (const t of this.timers) clearInterval(t);
        this.timers = [];
        this.commits.stopGuard();
        this.identity?.stop();
        for (const c of this.connections()) c.clearHelloTimer();
        await Promise.all([this.workerServer?.close(), this.clientServer?.close()]);
        await Promise.allSettled([...this.settlement.running(), this.commits.running(), this.polling, this.checkingChannels]);
        this.writes.flushPending(); // what was delivered is booked before the ledger closes
        this.ledger?.close();
        await this.ops.stop();
        stopTrustTimers(this.trustClock, this.o.quotePolicy);
        this.urls = undefined;
        await this.releaseLeases();
    }

    // -----------------------------------------------------------------------------------------------------------
    // Connections

    private acceptWorker(ws: WebSocket, peer: PeerAttestation & { certDer: Buffer }, address: string): void {
        if (this.halted || this.stopping) return void ws.terminate();
        const { certDer, ...attestation } = peer;
        const conn = new WorkerConnection(ws, address, attestation, certDer, this.host);
        this.workers.set(conn.id, conn);
        conn.wire();
        this.log('worker.connected', { peer: conn.id, imageHash: peer.imageHash });
    }

    private acceptClient(ws: WebSocket, peer: KeyPeer, address: string): void {
        if (this.halted || this.stopping) return void ws.terminate();
        const conn = new ClientConnection(ws, address, peer.publicKey, this.host);
        this.clients.set(conn.id, conn);
        conn.wire();
        this.log('client.connected', { peer: conn.id });
    }

    private keepalive(): void {
        for (const c of this.connections()) c.keepalive();
    }

    /** Sends a signed payout to every ready connection of that WorkerChannel. */
    private sendPayout(worker: string, amount: bigint, signature: string): number {
        let sentTo = 0;
        for (const w of this.workers.values()) {
            if (w.state === 'ready' && w.channelRaw === worker) {
                w.send({ type: 'payout', v: w.version, amount, signature });
                sentTo++;
            }
        }
        return sentTo;
    }

    /**
     * Re-reads the WorkerChannel of every ready worker connection; one that is no longer Active or fell below its
     * minimum stake (a slash) gets a fatal error: its connections close and the router forgets them (attack 3).
     */
    async checkWorkerChannels(): Promise<void> {
        if (this.checkingChannels) return this.checkingChannels;
        this.checkingChannels = (async () => {
            const byChannel = new Map<string, WorkerConnection[]>();
            for (const w of this.workers.values()) if (w.state === 'ready' && w.channelRaw) byChannel.set(w.channelRaw, [...(byChannel.get(w.channelRaw) ?? []), w]);
            for (const [raw, conns] of byChannel) {
                let refusal;
                try {
                    refusal = this.admission.channelRefusal(await this.admission.channelState(Address.parse(raw)));
                } catch (e) {
                    this.log('worker.channel-check-failed', { channel: raw, error: String(e) });
                    continue;
                }
                if (!refusal) continue;
                this.log('worker.channel-unusable', { channel: raw, code: refusal.code, message: refusal.message });
                for (const w of conns) {
                    this.router.remove(w.id);
                    w.sendError(refusal.code, refusal.message, true);
                }
            }
        })().finally(() => (this.checkingChannels = undefined));
        return this.checkingChannels;
    }

    // -----------------------------------------------------------------------------------------------------------
    // Root config

    private refreshModels(cfg: RootConfig): void {
        if (cfg.version === this.modelsVersion) return;
        const byName = new Map<string, { model: Model; id: bigint }>();
        for (const [idHex, m] of cfg.models) byName.set(m.name, { model: m, id: BigInt('0x' + idHex) });
        this.modelsByName = byName;
        this.modelsVersion = cfg.version;
    }

    /** Re-reads Root now (`cocoon admin reload`): new allowlists and models apply at once; a chain error is thrown. */
    async reloadRoot(): Promise<RootConfig> {
        await this.polling;
        await this.o.chain.refreshIfChanged();
        this.onRootChanged();
        return this.o.chain.cachedRootConfig!;
    }

    /** One Root poll: on a new version, drop workers whose image left the allowlist and re-filter models. */
    pollRoot(): Promise<void> {
        if (this.polling) return this.polling;
        this.polling = (async () => {
            try {
                await this.o.chain.refreshIfChanged();
                this.onRootChanged();
            } catch (e) {
                this.log('root.poll-failed', { error: String(e) });
            }
        })().finally(() => (this.polling = undefined));
        return this.polling;
    }

    /** Applies Root's cached config to the routing once per version, whichever read refreshed the cache. */
    private onRootChanged(): void {
        const cfg = this.o.chain.cachedRootConfig;
        if (!cfg || cfg.version === this.routedVersion) return;
        this.routedVersion = cfg.version;
        this.refreshModels(cfg);
        this.log('root.changed', { version: cfg.version });
        for (const w of [...this.workers.values()]) w.rootChanged(cfg);
    }

    // -----------------------------------------------------------------------------------------------------------
    // Settlement, commits, stats (settlement.ts, commits.ts, stats.ts)

    /**
     * Redeems vouchers with voucher − redeemed ≥ redeemThreshold (any positive difference with `force`) and signs
     * payouts for workers with earned − payout ≥ payoutThreshold (settlement.ts).
     */
    settle(opts: { force?: boolean; channel?: string } = {}): Promise<SettleResult> {
        return this.settlement.settle(opts);
    }

    /** The channel watch (settlement.ts): redeems leaving channels now; returns the channels found leaving. */
    watchChannels(): Promise<string[]> {
        return this.settlement.watchChannels();
    }

    /** Signs and sends the next state commit, after the start-up commit guard (commits.ts). */
    commitNow(): Promise<Commit> {
        return this.commits.commitNow();
    }

    /** `GET /readyz`: serving, listed in Root, a worker ready (stats.ts proxyReadiness). */
    readiness(): Readiness {
        return withTrustClock(proxyReadiness(this.stats(), this.o.chain.cachedRootConfig?.proxies.has(this.o.proxyAddress.toRawString()) ?? false), this.trustClock);
    }

    /** A snapshot of the proxy (money as bigint); `GET /stats` serves it as JSON with decimal strings. */
    stats(): ProxyStats {
        return buildStats({
            proxyAddress: this.o.proxyAddress,
            enclaveKey: this.keys.publicKey,
            chain: this.o.chain,
            status: this.halted ? 'halted' : this.urls ? 'serving' : 'stopped',
            startedAt: this.startedAt,
            uptimeMs: this.urls ? this.clock.now() - this.startedAt : 0,
            clients: this.clients.values(),
            workers: this.workers.values(),
            router: this.router,
            counters: this.counters,
            helloGate: this.helloGate,
            inFlight: this.inFlight.size,
            held: this.clientAdmission.total(),
            ledger: this.ledger && this.urls && !this.stopping ? this.ledger : undefined,
            commitError: (seqno) => this.commits.errorOf(seqno),
        });
    }
}
