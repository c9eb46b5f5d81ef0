// The proxy agent (spec/proxy.md): two RA-TLS WebSocket endpoints — workers (mutually attested, Root's worker
// images) and clients (known by their certificate key = their ClientChannel's clientKey) — a router that picks a
// worker per request, a durable ledger (agents/proxy/ledger.ts) that books every verified receipt before the client
// sees response_end, and background loops that redeem client vouchers, sign worker payouts, commit the ledger's
// state hash to the Proxy contract and follow Root's configuration.
//
// Hot path per request: parse, a few in-memory checks, two SQLite reads (duplicate id, credit window), forward; at
// response_end one receipt verification and one durable write (recordDelivery). Vouchers cost one signature check
// and one durable write (acceptVoucher). No chain call per request except refreshing a client's cached channel
// state when its deposit looks exhausted.
import { createServer as createHttpServer, IncomingMessage, Server as HttpServer, ServerResponse } from 'http';
import type { AddressInfo } from 'net';
import { randomBytes } from 'crypto';
import { Address } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { ed25519Verify } from '../core/ed25519';
import type { RawData, WebSocket } from 'ws';
import { ChainWallet, RootConfig, TonChain } from '../core/chain/chain';
import { ChainError } from '../core/chain/errors';
import { CocoonError } from '../core/errors';
import { hpkeKeyId } from '../core/hpke';
import { decodeReceipt, verifyReceipt } from '../core/receipt';
import { QuoteProvider, VerifyPolicy } from '../core/tee/types';
import {
    ClientKeyVerifier,
    ed25519KeyPairFromSeed,
    KeyPeer,
    PeerAttestation,
    PeerVerifier,
    RaTlsIdentity,
    RaTlsServer,
} from '../core/transport';
import {
    Direction,
    encodeFrame,
    Frame,
    HelloClientFrame,
    HelloWorkerFrame,
    MAX_FRAME_BYTES,
    negotiateVersion,
    parseFrame,
    RequestFrame,
    ResponseChunkFrame,
    ResponseEndFrame,
    ResponseErrorFrame,
    VoucherFrame,
    WireError,
} from '../core/wire';
import { Model } from '../../wrappers/Root';
import { ClientChannelState, ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { commitPayload, modelId as modelIdOf, payoutPayload, signPayload, toUint256, voucherPayload } from '../../wrappers/payloads';
import { Commit, Ledger, LedgerError } from './ledger';
import { ProxyError, ProxyWireCode } from './errors';
import { Outcome, RoutedWorker, Router } from './router';
import { WorkerAdmission } from './worker-admission';
import { AdmissionRefusal, ClientAdmission, livePendingWithdraw, requestBound } from './admission';
import { fitsBuffer, GuardCounters, HelloGate, newGuardCounters, ProxyLimits, Refusal, resolveLimits } from './guard';

// ---------------------------------------------------------------------------------------------------------------
// Options

export interface ProxyClock {
    now(): number;
}

export interface ProxyAgentOptions {
    chain: TonChain;
    /** Pays for redeems and commits (any funded wallet; StateCommit and Redeem may come from anyone). */
    wallet: ChainWallet;
    /** This proxy's Proxy contract (its enclaveKey must be the key of `seed`). */
    proxyAddress: Address;
    /** 32-byte enclave seed: RA-TLS key = Proxy enclaveKey = signer of commits and payouts. */
    seed: Buffer;
    tee: QuoteProvider;
    /** Quote policy for workers' attestations (trusted roots, collateral, TCB statuses). */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    ledgerPath: string;
    /** Bind address of both endpoints; default 127.0.0.1. (The stats server always binds 127.0.0.1.) */
    host?: string;
    clientPort?: number;
    workerPort?: number;
    statsPort?: number;
    /** Redeem a client's voucher when voucher − redeemed ≥ this (nanoTON); default 1 TON. */
    redeemThreshold?: bigint;
    /** Sign a worker payout when earned − payout ≥ this (nanoTON); default 1 TON. */
    payoutThreshold?: bigint;
    /** State commit period; default 60 000 ms; 0 = never (commitNow() only). */
    commitIntervalMs?: number;
    /** Root version poll period; default 5000 ms; 0 = never. */
    rootPollMs?: number;
    /** Redeem/payout period; default 30 000 ms; 0 = never (settle() only). */
    settleIntervalMs?: number;
    /** Extra workers tried for a plain request that failed before response_start; default 2. */
    maxFailover?: number;
    /**
     * How long after start no commit is signed, so that a commit sent by an earlier run (possibly unknown to a
     * restored ledger) can no longer land; then the rollback check runs again. Default: the chain config's
     * sendTimeoutMs (= the wallet's valid_until horizon) + 5 s. Tests may shorten it.
     */
    commitGuardMs?: number;
    /**
     * Channel watch period (spec/proxy.md, "Channel watch"): every connected or unredeemed ClientChannel is re-read and
     * redeemed at once when its client starts a withdrawal or a close. Default 5000 ms; 0 = never (watchChannels()
     * only). Must stay well below Root's clientCloseDelay.
     */
    watchIntervalMs?: number;
    /**
     * Test hook: called at named points of a request's life; returning true makes the proxy crash right there (every
     * socket cut, nothing more sent, the ledger closed as a killed process leaves it). 'booked': the delivery is
     * durable, its response_end not yet sent.
     */
    crashHook?: (point: 'booked', requestId: string) => boolean;
    /** WebSocket ping period; a peer that did not answer the previous ping is dropped. Default 20 000 ms. */
    pingIntervalMs?: number;
    /** A peer must send hello within this; default 10 000 ms. */
    helloTimeoutMs?: number;
    /**
     * Period of the re-check of every connected worker's WorkerChannel (Active, stake ≥ minStake); a channel that
     * fails it loses its connections and routing. Default 30 000 ms; 0 = never (checkWorkerChannels() only).
     */
    channelCheckMs?: number;
    /** Bounds on what one peer may take (memory, chain lookups, slots, time); defaults in guard.ts DEFAULT_LIMITS. */
    limits?: Partial<ProxyLimits>;
    clock?: ProxyClock;
    log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface ProxyUrls {
    clientUrl: string;
    workerUrl: string;
    statsUrl: string;
}

export interface RedeemResult {
    client: string;
    voucher: bigint;
    /** The channel's cumulative `redeemed` after the redeem (what the ledger now holds). */
    redeemed: bigint;
    /** Redeemed before this call. */
    previous: bigint;
}

export interface PayoutResult {
    worker: string;
    amount: bigint;
    signature: string;
    /** Worker connections the payout frame was sent to. */
    sentTo: number;
}

export interface SettleResult {
    redeemed: RedeemResult[];
    payouts: PayoutResult[];
    errors: { party: string; code: string; message: string }[];
}

export interface LedgerTotals {
    clients: number;
    workers: number;
    delivered: bigint;
    vouchers: bigint;
    redeemed: bigint;
    earned: bigint;
    payouts: bigint;
}

export interface ProxyStats {
    proxy: string;
    enclaveKey: string;
    status: 'serving' | 'halted' | 'stopped';
    startedAt: number;
    uptimeMs: number;
    rootVersion: number | null;
    connections: Record<'clients' | 'workers', { await_hello: number; checking: number; ready: number }>;
    workers: {
        id: string;
        channel: string;
        imageHash: string;
        keyId: string | null;
        models: { name: string; coefficient: bigint }[];
        capacity: number;
        inFlight: number;
        latency: { ttfbMs: number | null; totalMs: number | null };
        success: { successes: number; failures: number; score: number };
    }[];
    /** The connection guard's counters (guard.ts) and its hello-check scheduler. */
    limits: GuardCounters & { helloChecksRunning: number; helloChecksWaiting: number };
    requests: {
        inFlight: number;
        served: number;
        failed: number;
        failovers: number;
        /** Deliveries booked after their client had left: re-sent to it when it reconnects (spec/proxy.md). */
        bookedClientGone: number;
        receiptsRefused: number;
        vouchersAccepted: number;
        vouchersRefused: number;
    };
    /** Sums over the ledger (zeros when not serving). */
    ledger: LedgerTotals;
    /**
     * Admission (spec/proxy.md, "Admission"): worst-case cost held by requests in flight, and the largest unsigned
     * exposure (delivered − voucher) of any channel seen right after a booking since start.
     */
    admission: { held: bigint; peakExposure: bigint };
    lastCommit: { seqno: bigint; hash: string; onChain: boolean; committedAt: number; error: string | null } | null;
}

const TON = 1_000_000_000n;
/** Client connections per ClientChannel (admission holds money per channel; this bounds sockets and buffers). */
const MAX_CONNECTIONS_PER_CHANNEL = 4;
const WS_OPEN = 1;

// ---------------------------------------------------------------------------------------------------------------
// Connections and requests

type ConnState = 'await_hello' | 'checking' | 'ready' | 'closed';
// 'booking': the receipt checked out and its delivery is in the ledger's next group commit; response_end follows.
type RequestPhase = 'routing' | 'started' | 'streaming' | 'booking' | 'ended' | 'failed';

interface ConnBase {
    id: string;
    ws: WebSocket;
    state: ConnState;
    /** Negotiated protocol version (valid once ready). */
    version: number;
    /** Frames received while the hello was being checked, and their size. */
    pending: RawData[];
    pendingBytes: number;
    /** Source address of the TCP connection. */
    address: string;
    alive: boolean;
    helloTimer?: NodeJS.Timeout;
    channel?: Address;
    channelRaw?: string;
    requests: Map<string, Running>;
}

interface WorkerConn extends ConnBase {
    kind: 'worker';
    peer: PeerAttestation;
    certDer: Buffer;
    /** Models as announced in hello (name → coefficient); the router holds the routable subset. */
    announced: Map<string, bigint>;
    capacity: number;
}

interface ClientConn extends ConnBase {
    kind: 'client';
    publicKey: Buffer;
}

type Conn = WorkerConn | ClientConn;

/** One request's state machine: routing → started → streaming → ended | failed. */
interface Running {
    id: string;
    frame: RequestFrame;
    /** The request as the client sent it (forwarded unchanged when the versions agree). */
    raw: string;
    client: ClientConn;
    clientGone: boolean;
    model: Model;
    modelId: bigint;
    sealed: boolean;
    worker?: WorkerConn;
    coefficient?: bigint;
    tried: Set<string>;
    failovers: number;
    phase: RequestPhase;
    nextSeq: number;
    /** Bytes of response payload relayed (plain `data` UTF-8, or sealed plaintext = ciphertext − tag): ≥ the text. */
    relayedBytes: number;
    sentAt: number;
    startedAt?: number;
    cancelled: boolean;
    /** Worst-case cost (admission.ts requestBound) and the part of it currently held against the channel. */
    bound: bigint;
    held: bigint;
    /** The worker's deadline for its next frame (first byte, idle, cancel grace). */
    deadline?: NodeJS.Timeout;
}

interface ChannelCache {
    state: ClientChannelState;
    fetchedAt: number;
}

// ---------------------------------------------------------------------------------------------------------------

const FATAL_WIRE = new Set(['WIRE_MALFORMED', 'WIRE_TOO_LARGE', 'WIRE_DIRECTION', 'WIRE_VERSION']);
/** Worker error codes that say nothing about the worker's health (the client's request was bad, or cancelled). */
const NEUTRAL_WORKER_CODES = /^(REQUEST_|HPKE_|BACKEND_ABORTED$|BACKEND_ERROR$)/;

function rawSize(d: RawData): number {
    return Array.isArray(d) ? d.reduce((n, b) => n + b.length, 0) : Buffer.isBuffer(d) ? d.length : d.byteLength;
}

function bigintJson(_k: string, v: unknown): unknown {
    return typeof v === 'bigint' ? v.toString() : v;
}

function ensure(cond: boolean, key: string, why: string): void {
    if (!cond) throw new ProxyError('PROXY_CONFIG', `${key}: ${why}`, { key });
}

function validateOptions(o: ProxyAgentOptions): void {
    ensure(typeof o === 'object' && o !== null, 'options', 'required');
    ensure(o.chain instanceof TonChain, 'chain', 'must be a TonChain');
    ensure(o.wallet instanceof ChainWallet, 'wallet', 'must be a ChainWallet');
    ensure(o.proxyAddress instanceof Address, 'proxyAddress', 'must be an Address');
    ensure(Buffer.isBuffer(o.seed) && o.seed.length === 32, 'seed', 'must be a 32-byte Buffer');
    ensure(typeof o.tee?.getQuote === 'function', 'tee', 'must be a QuoteProvider');
    ensure(typeof o.quotePolicy === 'object' && o.quotePolicy !== null, 'quotePolicy', 'required');
    ensure(typeof o.ledgerPath === 'string' && o.ledgerPath.length > 0, 'ledgerPath', 'must be a non-empty path');
    for (const k of ['clientPort', 'workerPort', 'statsPort'] as const) {
        const v = o[k];
        ensure(v === undefined || (Number.isInteger(v) && v >= 0 && v <= 65535), k, 'must be a port number 0..65535');
    }
    for (const k of ['redeemThreshold', 'payoutThreshold'] as const) {
        const v = o[k];
        ensure(v === undefined || (typeof v === 'bigint' && v >= 1n), k, 'must be a bigint ≥ 1 (nanoTON)');
    }
    for (const k of ['commitIntervalMs', 'rootPollMs', 'settleIntervalMs', 'commitGuardMs', 'watchIntervalMs', 'pingIntervalMs', 'helloTimeoutMs', 'maxFailover', 'channelCheckMs'] as const) {
        const v = o[k];
        ensure(v === undefined || (Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1), k, 'must be a non-negative integer');
    }
    ensure(o.host === undefined || (typeof o.host === 'string' && o.host.length > 0), 'host', 'must be a non-empty string');
    ensure(o.limits === undefined || (typeof o.limits === 'object' && o.limits !== null), 'limits', 'must be an object');
    const l = resolveLimits(o.limits);
    if ('bad' in l) ensure(false, `limits.${l.bad}`, 'unknown, or not an integer in range');
}

/** Plaintext bytes of a sealed chunk from its base64 ciphertext (AES-GCM adds a 16-byte tag). */
function sealedPlaintextBytes(ct: string): number {
    const pad = ct.endsWith('==') ? 2 : ct.endsWith('=') ? 1 : 0;
    return Math.max(0, (ct.length / 4) * 3 - pad - 16);
}

/** The client announced it is leaving: a pending withdrawal or a started close. */
function isLeaving(st: ClientChannelState, nowSec: number): boolean {
    return livePendingWithdraw(st, nowSec) > 0n || st.state !== 0n;
}

/** A contract whose `channelState` getter fails or does not decode is not a channel of that kind: null. */
function notAChannel(e: unknown): null {
    if (e instanceof ChainError && e.code === 'CHAIN_GETTER_FAILED') return null;
    throw e;
}

/** Sum of the ledger's counters, from its canonical serialization (spec/ledger.md, "State hash"). */
function ledgerTotals(serialization: string): LedgerTotals {
    const t: LedgerTotals = { clients: 0, workers: 0, delivered: 0n, vouchers: 0n, redeemed: 0n, earned: 0n, payouts: 0n };
    for (const line of serialization.split('\n')) {
        const p = line.split(' ');
        if (p[0] === 'client' && p.length === 5) {
            t.clients++;
            t.delivered += BigInt(p[2]);
            t.vouchers += BigInt(p[3]);
            t.redeemed += BigInt(p[4]);
        } else if (p[0] === 'worker' && p.length === 4) {
            t.workers++;
            t.earned += BigInt(p[2]);
            t.payouts += BigInt(p[3]);
        }
    }
    return t;
}

export class ProxyAgent {
    private readonly o: ProxyAgentOptions;
    private readonly clock: ProxyClock;
    private readonly keys: { publicKey: Buffer; secretKey: Buffer };
    private readonly enclaveKey: bigint;
    readonly router = new Router();
    private readonly limits: ProxyLimits;
    private readonly guard = newGuardCounters();
    private readonly helloGate: HelloGate;

    private ledger?: Ledger;
    /** The chain's global id (config param 19), read at start: every signed payload carries it. */
    private globalId = 0;
    private identity?: RaTlsIdentity;
    private workerServer?: RaTlsServer<PeerAttestation & { certDer: Buffer }>;
    private clientServer?: RaTlsServer<KeyPeer>;
    private statsServer?: HttpServer;
    private urls?: ProxyUrls;
    private timers: NodeJS.Timeout[] = [];
    private guardTimer?: NodeJS.Timeout;
    private commitReady?: Promise<void>;
    private halted?: ProxyError;
    private stopping = false;
    private startedAt = 0;

    private readonly workers = new Map<string, WorkerConn>();
    private readonly clients = new Map<string, ClientConn>();
    /** Requests in flight by id (global: the ledger's request ids are global). */
    private readonly inFlight = new Map<string, Running>();
    private readonly channelCache = new Map<string, ChannelCache>();
    private readonly clientAdmission = new ClientAdmission();
    private peakExposure = 0n;
    private modelsByName = new Map<string, { model: Model; id: bigint }>();
    private modelsVersion = -1;

    private settling?: Promise<SettleResult>;
    private checkingChannels?: Promise<void>;
    private readonly admission: WorkerAdmission;
    private committing?: Promise<Commit>;
    private polling?: Promise<void>;
    private watching?: Promise<string[]>;
    private lastCommit: { seqno: bigint; hash: bigint; onChain: boolean; at: number; error?: string } | null = null;
    /** Ledger writes waiting for the next group commit (durably()). */
    private writes: { op: () => void; settle: (e: unknown) => void }[] = [];
    private readonly counters = { served: 0, failed: 0, failovers: 0, bookedClientGone: 0, receiptsRefused: 0, vouchersAccepted: 0, vouchersRefused: 0 };

    constructor(opts: ProxyAgentOptions) {
        validateOptions(opts);
        this.o = opts;
        this.clock = opts.clock ?? { now: () => Date.now() };
        const kp = keyPairFromSeed(opts.seed);
        this.keys = { publicKey: kp.publicKey, secretKey: kp.secretKey };
        this.enclaveKey = toUint256(kp.publicKey);
        this.admission = new WorkerAdmission({ chain: opts.chain, proxyAddress: opts.proxyAddress, enclaveKey: this.enclaveKey, nowMs: () => this.clock.now() });
        this.limits = resolveLimits(opts.limits) as ProxyLimits;
        this.helloGate = new HelloGate(this.limits, () => this.clock.now(), this.guard);
    }

    /** The proxy's enclave (RA-TLS, commit and payout) public key. */
    get publicKey(): Buffer {
        return Buffer.from(this.keys.publicKey);
    }

    private nowSec(): number {
        return Math.floor(this.clock.now() / 1000);
    }

    private log(event: string, fields: Record<string, unknown> = {}): void {
        this.o.log?.(event, fields);
    }

    // -----------------------------------------------------------------------------------------------------------
    // Lifecycle

    /**
     * Checks the ledger against the Proxy contract's last commit (PROXY_ROLLBACK: nothing listens), then opens the
     * worker, client and stats endpoints and starts the loops.
     */
    async start(): Promise<ProxyUrls> {
        if (this.urls) return this.urls;
        const { chain, proxyAddress } = this.o;
        const cfg = await chain.getRootConfig();
        this.globalId = await chain.getGlobalId();
        const state = await chain.getProxyState(proxyAddress);
        if (!state) throw new ProxyError('PROXY_NOT_DEPLOYED', `no Proxy contract at ${proxyAddress.toString()}`);
        if (state.enclaveKey !== this.enclaveKey) {
            throw new ProxyError('PROXY_KEY_MISMATCH', 'the Proxy contract names another enclave key than the seed gives', { proxy: proxyAddress.toRawString() });
        }
        const commissionBps = Number(state.terms?.commissionBps ?? cfg.params.commissionBps);
        const ledger = Ledger.open(this.o.ledgerPath, { commissionBps, clock: this.clock });
        try {
            ledger.checkAgainstChain(state.commitSeqno, state.commitHash);
        } catch (e) {
            ledger.close();
            throw this.rollbackError(e);
        }
        this.ledger = ledger;
        this.startedAt = this.clock.now();
        this.refreshModels(cfg);
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

    private rollbackError(e: unknown): unknown {
        if (e instanceof LedgerError && e.code === 'LEDGER_ROLLBACK') {
            return new ProxyError('PROXY_ROLLBACK', `the ledger does not match the chain: ${e.message}`, { ...(e.details ?? {}), cause: e.code });
        }
        return e;
    }

    private async listen(): Promise<ProxyUrls> {
        const host = this.o.host ?? '127.0.0.1';
        this.identity = await RaTlsIdentity.create({ provider: this.o.tee, keys: await ed25519KeyPairFromSeed(this.o.seed) });
        this.identity.start();
        const attested = new PeerVerifier({
            quote: this.o.quotePolicy,
            // Root's worker images as last fetched: synchronous, no I/O inside the TLS handshake.
            isImageAllowed: (h) => this.o.chain.cachedRootConfig?.workerImages.has(h) ?? false,
        });
        // The worker's certificate itself is handed to clients as the candidate's attestation: keep it.
        const workerVerifier = { verify: (der: Buffer | undefined) => ({ ...attested.verify(der), certDer: Buffer.from(der!) }) };
        const common = { identity: this.identity, host, ws: { maxPayload: MAX_FRAME_BYTES }, maxConnectionsPerAddress: this.limits.maxConnectionsPerAddress };
        this.workerServer = new RaTlsServer({ ...common, verifier: workerVerifier, port: this.o.workerPort ?? 0 });
        this.clientServer = new RaTlsServer({ ...common, verifier: new ClientKeyVerifier(), port: this.o.clientPort ?? 0 });
        this.workerServer.on('connection', (ws, peer, req) => this.acceptWorker(ws, peer, req.socket.remoteAddress ?? ''));
        this.clientServer.on('connection', (ws, peer, req) => this.acceptClient(ws, peer, req.socket.remoteAddress ?? ''));
        for (const [kind, server] of [['worker', this.workerServer], ['client', this.clientServer]] as const) {
            server.on('peerRejected', (e, info) => {
                if (e.code === 'TOO_MANY_CONNECTIONS') this.guard.connectionsRefused++;
                this.log(`${kind}.rejected`, { code: e.code, ...info });
            });
        }
        const w = await this.workerServer.listen();
        const c = await this.clientServer.listen();
        const s = await this.listenStats();
        this.urls = { clientUrl: c.url, workerUrl: w.url, statsUrl: s };
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
        every(this.o.settleIntervalMs, 30_000, () => void this.settle().catch((e) => this.log('settle.failed', { error: String(e) })));
        every(this.o.commitIntervalMs, 60_000, () => void this.commitIfChanged().catch((e) => this.log('commit.failed', { error: String(e) })));
        every(this.o.pingIntervalMs, 20_000, () => this.keepalive());
        every(this.o.channelCheckMs, 30_000, () => void this.checkWorkerChannels());
        every(this.o.watchIntervalMs, 5000, () => void this.watchChannels());
        this.commitReady = this.commitGuard();
        // Observed here so that a guard failure (halt, stop) is never an unhandled rejection; commitNow rethrows it.
        this.commitReady.catch((e) => this.log('commit.guard-failed', { error: String(e) }));
    }

    /**
     * The open point of spec/ledger.md: a commit an earlier run signed and sent may still be in flight, and a ledger
     * restored from a backup may not know it. Any such message carries valid_until ≤ (its send time + the wallet's
     * send timeout), and the earlier run ended before this start, so after `commitGuardMs` (default: sendTimeoutMs +
     * 5 s) since start it can no longer land. Then the rollback check runs again (a commit that landed meanwhile is
     * confirmed, or found unknown → halt) and only then may this run sign a commit.
     */
    private commitGuard(): Promise<void> {
        const ms = this.o.commitGuardMs ?? this.o.chain.config.sendTimeoutMs + 5000;
        return new Promise<void>((resolve) => {
            this.guardTimer = setTimeout(resolve, ms);
            this.guardTimer.unref();
        }).then(async () => {
            this.guardTimer = undefined;
            if (this.stopping) throw new ProxyError('PROXY_NOT_STARTED', 'the proxy stopped');
            const st = await this.o.chain.getProxyState(this.o.proxyAddress);
            if (!st) throw new ProxyError('PROXY_NOT_DEPLOYED', 'the Proxy contract is gone');
            try {
                this.ledger!.checkAgainstChain(st.commitSeqno, st.commitHash);
            } catch (e) {
                const err = this.rollbackError(e);
                if (err instanceof ProxyError && err.code === 'PROXY_ROLLBACK') await this.halt(err);
                throw err;
            }
            this.log('commit.guard-passed', { chainSeqno: st.commitSeqno.toString() });
        });
    }

    /** Stops serving for good after a rollback detected while running: no requests, payouts or commits. */
    private async halt(err: ProxyError): Promise<void> {
        if (this.halted) return;
        this.halted = new ProxyError('PROXY_HALTED', err.message, { ...(err.details ?? {}), cause: err.code });
        this.log('proxy.halted', { code: err.code, message: err.message });
        for (const c of [...this.workers.values(), ...this.clients.values()]) this.sendError(c, 'PROXY_UNAVAILABLE', 'the proxy halted', true);
        await Promise.all([this.workerServer?.close(), this.clientServer?.close()]);
    }

    /** A crash as the crash hook asks for it: every socket cut at once, then everything closed. */
    private crash(): void {
        this.log('proxy.crash', {});
        this.stopping = true;
        for (const c of [...this.workers.values(), ...this.clients.values()]) c.ws.terminate();
        void this.stop();
    }

    /** Closes every endpoint and timer, waits for running settlement and commit, closes the ledger. */
    async stop(): Promise<void> {
        this.stopping = true;
        for (const t of this.timers) clearInterval(t);
        this.timers = [];
        if (this.guardTimer) {
            clearTimeout(this.guardTimer);
            this.guardTimer = undefined;
        }
        this.commitReady?.catch(() => undefined);
        this.identity?.stop();
        for (const c of [...this.workers.values(), ...this.clients.values()]) this.clearHelloTimer(c);
        await Promise.all([this.workerServer?.close(), this.clientServer?.close(), this.closeStats()]);
        await Promise.allSettled([this.settling, this.committing, this.polling, this.checkingChannels, this.watching]);
        if (this.writes.length > 0) this.flushWrites(); // what was delivered is booked before the ledger closes
        this.ledger?.close();
        this.urls = undefined;
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

    private routableModels(announced: Map<string, bigint>): Map<string, bigint> {
        const out = new Map<string, bigint>();
        for (const [name, c] of announced) if (this.modelsByName.has(name)) out.set(name, c);
        return out;
    }

    /** One Root poll: on a new version, drop workers whose image left the allowlist and re-filter models. */
    pollRoot(): Promise<void> {
        if (this.polling) return this.polling;
        this.polling = (async () => {
            try {
                if (await this.o.chain.refreshIfChanged()) this.onRootChanged();
            } catch (e) {
                this.log('root.poll-failed', { error: String(e) });
            }
        })().finally(() => (this.polling = undefined));
        return this.polling;
    }

    private onRootChanged(): void {
        const cfg = this.o.chain.cachedRootConfig;
        if (!cfg) return;
        this.refreshModels(cfg);
        this.log('root.changed', { version: cfg.version });
        for (const w of [...this.workers.values()]) {
            if (w.state !== 'ready') continue;
            if (!cfg.workerImages.has(w.peer.imageHash)) {
                this.log('worker.image-removed', { worker: w.id, imageHash: w.peer.imageHash });
                this.sendError(w, 'IMAGE_NOT_ALLOWED', `image ${w.peer.imageHash} is no longer allowed by Root`, true);
                continue;
            }
            this.router.setModels(w.id, this.routableModels(w.announced));
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // Connections

    private newConnBase(ws: WebSocket, address: string): Omit<ConnBase, 'kind'> {
        return { id: randomBytes(8).toString('hex'), ws, address, state: 'await_hello', version: 0, pending: [], pendingBytes: 0, alive: true, requests: new Map() };
    }

    private acceptWorker(ws: WebSocket, peer: PeerAttestation & { certDer: Buffer }, address: string): void {
        if (this.halted || this.stopping) return void ws.terminate();
        const { certDer, ...attestation } = peer;
        const conn: WorkerConn = { ...this.newConnBase(ws, address), kind: 'worker', peer: attestation, certDer, announced: new Map(), capacity: 1 };
        this.workers.set(conn.id, conn);
        this.wire(conn);
        this.log('worker.connected', { conn: conn.id, imageHash: peer.imageHash });
    }

    private acceptClient(ws: WebSocket, peer: KeyPeer, address: string): void {
        if (this.halted || this.stopping) return void ws.terminate();
        const conn: ClientConn = { ...this.newConnBase(ws, address), kind: 'client', publicKey: peer.publicKey };
        this.clients.set(conn.id, conn);
        this.wire(conn);
        this.log('client.connected', { conn: conn.id });
    }

    private wire(conn: Conn): void {
        const { ws } = conn;
        conn.helloTimer = setTimeout(() => {
            if (conn.state === 'await_hello') this.sendError(conn, 'HELLO_REQUIRED', 'no hello in time', true);
        }, this.o.helloTimeoutMs ?? 10_000);
        conn.helloTimer.unref();
        ws.on('message', (data, isBinary) => {
            if (isBinary) return this.sendError(conn, 'WIRE_MALFORMED', 'binary messages are refused', true);
            if (conn.state === 'checking') {
                conn.pendingBytes += rawSize(data);
                if (conn.pending.length >= this.limits.maxPendingFrames || conn.pendingBytes > this.limits.maxPendingBytes) {
                    conn.pending = [];
                    return this.sendError(conn, 'RATE_LIMITED', 'too many frames or bytes before hello_ok', true);
                }
                conn.pending.push(data);
                return;
            }
            this.onMessage(conn, data);
        });
        ws.on('pong', () => (conn.alive = true));
        ws.on('close', () => this.onClose(conn));
        ws.on('error', (e) => this.log(`${conn.kind}.socket-error`, { conn: conn.id, error: e.message }));
    }

    private clearHelloTimer(conn: Conn): void {
        if (conn.helloTimer) clearTimeout(conn.helloTimer);
        conn.helloTimer = undefined;
    }

    private keepalive(): void {
        for (const c of [...this.workers.values(), ...this.clients.values()]) {
            if (!c.alive) {
                this.log(`${c.kind}.timeout`, { conn: c.id });
                c.ws.terminate();
                continue;
            }
            c.alive = false;
            try {
                c.ws.ping();
            } catch {
                /* closing */
            }
        }
    }

    private inDir(conn: Conn): Direction {
        return conn.kind === 'worker' ? 'worker_to_proxy' : 'client_to_proxy';
    }

    private outDir(conn: Conn): Direction {
        return conn.kind === 'worker' ? 'proxy_to_worker' : 'proxy_to_client';
    }

    private send(conn: Conn, frame: Frame): void {
        if (conn.ws.readyState !== WS_OPEN) return;
        this.sendRaw(conn, encodeFrame(frame, this.outDir(conn)));
    }

    /**
     * Every frame to a peer goes through here: queued only while the peer's unread backlog plus the frame stays
     * within limits.maxBufferedBytes; otherwise the peer is dropped (attack 14: a client that stops reading).
     */
    private sendRaw(conn: Conn, text: string): void {
        if (conn.ws.readyState !== WS_OPEN) return;
        if (!fitsBuffer(conn.ws, Buffer.byteLength(text, 'utf8'), this.limits.maxBufferedBytes)) {
            this.guard.slowPeersDropped++;
            this.log(`${conn.kind}.slow-dropped`, { conn: conn.id, buffered: conn.ws.bufferedAmount, limit: this.limits.maxBufferedBytes });
            conn.ws.terminate(); // 'close' follows: its requests are cancelled at their workers / fail over
            return;
        }
        conn.ws.send(text);
        if (conn.ws.bufferedAmount > this.guard.peakBufferedBytes) this.guard.peakBufferedBytes = conn.ws.bufferedAmount;
    }

    /** An `error` frame; `fatal` closes the connection after it. */
    private sendError(conn: Conn, code: ProxyWireCode | string, message: string, fatal: boolean, id?: string): void {
        this.log(`${conn.kind}.error-sent`, { conn: conn.id, code, fatal, id });
        const v = conn.version || 1;
        this.send(conn, { type: 'error', v, code, message: message.slice(0, 1024), fatal, ...(id ? { id } : {}) });
        if (fatal) {
            conn.ws.close(1008, code.slice(0, 100));
            // A peer that ignores the close handshake is cut off.
            setTimeout(() => conn.ws.terminate(), 2000).unref();
        }
    }

    private onMessage(conn: Conn, data: RawData): void {
        let frame: Frame;
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        try {
            frame = parseFrame(buf, this.inDir(conn), conn.state === 'ready' ? { version: conn.version } : {}) as Frame;
        } catch (e) {
            return this.onParseError(conn, e, buf);
        }
        try {
            if (conn.state === 'await_hello') return this.onHello(conn, frame);
            if (frame.type === 'ping') return this.send(conn, { type: 'pong', v: conn.version, nonce: frame.nonce });
            if (frame.type === 'pong') return;
            if (frame.type === 'error') {
                this.log(`${conn.kind}.error-received`, { conn: conn.id, code: frame.code, message: frame.message, fatal: frame.fatal, id: frame.id });
                if (frame.fatal) conn.ws.close();
                return;
            }
            if (frame.type === 'hello') return this.sendError(conn, 'HELLO_REPEATED', 'hello was already accepted', false);
            if (conn.kind === 'worker') this.onWorkerFrame(conn, frame, buf);
            else this.onClientFrame(conn, frame, buf);
        } catch (e) {
            // A bug of ours must not take the process down; the peer learns that the proxy failed.
            this.log('proxy.internal-error', { conn: conn.id, error: e instanceof Error ? e.stack ?? e.message : String(e) });
            this.sendError(conn, 'PROXY_UNAVAILABLE', 'internal error', false);
        }
    }

    /** spec/wire.md: fatal for frames that make the sender untrustworthy; a bad request field fails that request. */
    private onParseError(conn: Conn, e: unknown, buf: Buffer): void {
        const err = e instanceof WireError ? e : new WireError('WIRE_MALFORMED', 'unparseable frame');
        if (conn.state !== 'ready' || FATAL_WIRE.has(err.code)) return this.sendError(conn, err.code, err.message, true);
        // Which request does the bad frame concern? Only looked at on this error path.
        let type: unknown;
        let id: unknown;
        try {
            const raw = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
            type = raw.type;
            id = raw.id;
        } catch {
            /* not reachable: the frame was JSON */
        }
        const validId = typeof id === 'string' && /^[0-9a-f]{32}$/.test(id) ? id : undefined;
        if (conn.kind === 'client' && type === 'request' && validId && !this.inFlight.has(validId)) {
            return this.send(conn, { type: 'response_error', v: conn.version, id: validId, code: err.code, message: err.message.slice(0, 1024), retryable: false });
        }
        if (conn.kind === 'worker' && validId) {
            const req = conn.requests.get(validId);
            if (req) {
                this.send(conn, { type: 'cancel', v: conn.version, id: validId });
                this.failRequest(req, err.code, `the worker sent a bad frame: ${err.message}`, false, { kind: 'failure' });
            }
        }
        this.sendError(conn, err.code, err.message, false, validId);
    }

    private onClose(conn: Conn): void {
        const was = conn.state;
        conn.state = 'closed';
        this.clearHelloTimer(conn);
        if (conn.kind === 'worker') {
            this.workers.delete(conn.id);
            this.router.remove(conn.id);
            for (const req of [...conn.requests.values()]) this.onWorkerLost(req);
        } else {
            this.clients.delete(conn.id);
            for (const req of [...conn.requests.values()]) {
                req.clientGone = true;
                if (req.worker) {
                    this.send(req.worker, { type: 'cancel', v: req.worker.version, id: req.id });
                    this.armDeadline(req);
                } else this.dropRequest(req);
            }
        }
        this.log(`${conn.kind}.closed`, { conn: conn.id, state: was, channel: conn.channelRaw });
    }

    // -----------------------------------------------------------------------------------------------------------
    // Hello

    private onHello(conn: Conn, frame: Frame): void {
        if (frame.type !== 'hello') return this.sendError(conn, 'HELLO_REQUIRED', 'the first frame must be hello', true);
        let version: number;
        try {
            version = negotiateVersion(frame);
        } catch (e) {
            return this.sendError(conn, 'WIRE_VERSION', (e as Error).message, true);
        }
        conn.version = version;
        conn.state = 'checking';
        this.clearHelloTimer(conn);
        const check = () => (conn.kind === 'worker' ? this.checkWorkerHello(conn, frame as HelloWorkerFrame) : this.checkClientHello(conn, frame as HelloClientFrame));
        this.gatedCheck(conn, frame.channel, check)
            .then((refusal) => {
                if (conn.state === 'closed' || this.stopping) return;
                if (refusal) return this.sendError(conn, refusal.code, refusal.message, true);
                this.becomeReady(conn);
            })
            .catch((e) => {
                this.log(`${conn.kind}.hello-failed`, { conn: conn.id, error: String(e) });
                if (conn.state !== 'closed' && !this.stopping) this.sendError(conn, 'PROXY_UNAVAILABLE', 'could not check the channel on chain', true);
            });
    }

    /**
     * A hello check through the gate (guard.ts): bounded concurrency per source address and in total, a timeout, and
     * a client's CHANNEL_INVALID verdict remembered per (channel, certificate key). A client whose channel this run
     * already admitted under the same key is checked first (attack 15: 200 channel-less hellos stalled a funded
     * client's hello). Worker verdicts are not cached: a worker's channel may be listed by the Proxy contract a block
     * after it turned active, and the worker endpoint admits attested images only.
     */
    private gatedCheck(conn: Conn, channel: string, check: () => Promise<Refusal>): Promise<Refusal> {
        const run = () => (conn.state === 'closed' ? Promise.resolve(null) : check());
        if (conn.kind === 'worker') return this.helloGate.admit(conn.address, undefined, false, run);
        const raw = Address.parse(channel).toRawString(); // parses: the frame parser accepted it
        const cached = this.channelCache.get(raw);
        const known = cached !== undefined && cached.state.clientKey === toUint256(conn.publicKey);
        return this.helloGate.admit(conn.address, `${raw} ${conn.publicKey.toString('hex')}`, known, run);
    }

    private becomeReady(conn: Conn): void {
        conn.state = 'ready';
        this.send(conn, { type: 'hello_ok', v: conn.version, proxy: this.o.proxyAddress.toString() });
        if (conn.kind === 'worker') {
            const routable = this.routableModels(conn.announced);
            const hpke = conn.peer.claims.hpkePublicKey;
            this.router.add({
                id: conn.id,
                channel: conn.channelRaw!,
                workerKey: conn.peer.cert.publicKey,
                hpkePublicKey: hpke,
                keyId: hpke ? hpkeKeyId(hpke) : undefined,
                certDer: conn.certDer,
                imageHash: conn.peer.imageHash,
                models: routable,
                capacity: conn.capacity,
            });
            const latest = this.ledger!.worker(conn.channelRaw!).latestPayout;
            if (latest) this.send(conn, { type: 'payout', v: conn.version, amount: latest.amount, signature: latest.signature });
        } else {
            this.sendPaymentStatus(conn);
            this.resendUnsettled(conn);
        }
        this.log(`${conn.kind}.ready`, { conn: conn.id, channel: conn.channelRaw, version: conn.version });
        const pending = conn.pending;
        conn.pending = [];
        for (const d of pending) if (conn.state === 'ready') this.onMessage(conn, d);
    }

    /**
     * WorkerChannel on chain: ours, our key, Active with stake ≥ minStake, known to the Proxy contract, its owner's
     * wallet signed this worker's attested key into the hello; every model registered.
     */
    private async checkWorkerHello(conn: WorkerConn, hello: HelloWorkerFrame): Promise<{ code: ProxyWireCode; message: string } | null> {
        const channel = Address.parse(hello.channel);
        const cfg = await this.o.chain.getRootConfig();
        this.refreshModels(cfg);
        for (const m of hello.models) {
            if (!this.modelsByName.has(m.name)) return { code: 'MODEL_NOT_REGISTERED', message: `model ${m.name} is not registered in Root` };
        }
        // Active, staked ≥ minStake, and its owner signed this worker's attested key for us (attacks 3, 18).
        const refusal = await this.admission.checkHello(channel, hello, conn.peer.cert.publicKey);
        if (refusal) return refusal;
        const known = await this.o.chain.open(ProxyWrapper.open(this.o.proxyAddress)).getIsWorkerChannel(channel);
        if (!known) return { code: 'CHANNEL_INVALID', message: 'the Proxy contract does not list this WorkerChannel' };
        conn.channel = channel;
        conn.channelRaw = channel.toRawString();
        conn.announced = new Map(hello.models.map((m) => [m.name, m.coefficient]));
        conn.capacity = hello.capacity;
        return null;
    }

    /**
     * Re-reads the WorkerChannel of every ready worker connection; one that is no longer Active or fell below its
     * minimum stake (a slash) gets a fatal error: its connections close and the router forgets them (attack 3).
     */
    async checkWorkerChannels(): Promise<void> {
        if (this.checkingChannels) return this.checkingChannels;
        this.checkingChannels = (async () => {
            const byChannel = new Map<string, WorkerConn[]>();
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
                    this.sendError(w, refusal.code, refusal.message, true);
                }
            }
        })().finally(() => (this.checkingChannels = undefined));
        return this.checkingChannels;
    }

    /** ClientChannel on chain: ours, our key, the certificate's key, canonical under Root's code and params, open. */
    private async checkClientHello(conn: ClientConn, hello: HelloClientFrame): Promise<{ code: ProxyWireCode; message: string } | null> {
        const channel = Address.parse(hello.channel);
        const cfg = await this.o.chain.getRootConfig();
        const st = await this.o.chain.getClientChannelState(channel).catch(notAChannel);
        if (!st) return { code: 'CHANNEL_INVALID', message: 'no ClientChannel at that address' };
        if (!st.proxy.equals(this.o.proxyAddress)) return { code: 'CHANNEL_INVALID', message: 'the ClientChannel belongs to another proxy' };
        if (st.proxyKey !== this.enclaveKey) return { code: 'CHANNEL_INVALID', message: 'the ClientChannel names another proxy key' };
        if (st.clientKey !== toUint256(conn.publicKey)) return { code: 'CHANNEL_INVALID', message: "the ClientChannel's clientKey is not the certificate key" };
        const canonical = await ClientChannelWrapper.create({
            proxy: this.o.proxyAddress,
            client: st.client,
            clientKey: st.clientKey,
            proxyKey: this.enclaveKey,
            closeDelay: cfg.params.clientCloseDelay,
            code: cfg.childCode.clientCode,
        });
        if (!canonical.address.equals(channel)) return { code: 'CHANNEL_INVALID', message: 'the ClientChannel is not the canonical one for these keys and params' };
        if (st.state !== 0n) return { code: 'CHANNEL_INVALID', message: `the ClientChannel is not open (state ${st.state})` };
        const raw = channel.toRawString();
        let open = 0;
        for (const c of this.clients.values()) if (c !== conn && c.state !== 'closed' && c.channelRaw === raw) open++;
        if (open >= MAX_CONNECTIONS_PER_CHANNEL) return { code: 'RATE_LIMITED', message: `at most ${MAX_CONNECTIONS_PER_CHANNEL} connections per channel` };
        conn.channel = channel;
        conn.channelRaw = channel.toRawString();
        this.channelCache.set(conn.channelRaw, { state: st, fetchedAt: this.clock.now() });
        if (isLeaving(st, this.nowSec())) void this.redeemLeaving(conn.channelRaw).catch((e) => this.log('channel.redeem-failed', { channel: conn.channelRaw, error: String(e) }));
        return null;
    }

    // -----------------------------------------------------------------------------------------------------------
    // Client frames

    private onClientFrame(conn: ClientConn, frame: Frame, buf: Buffer): void {
        switch (frame.type) {
            case 'request':
                return this.onRequest(conn, frame, buf);
            case 'cancel': {
                const req = conn.requests.get(frame.id);
                if (!req) return this.log('client.cancel-unknown', { conn: conn.id, id: frame.id });
                req.cancelled = true;
                if (req.worker) {
                    this.send(req.worker, { type: 'cancel', v: req.worker.version, id: req.id });
                    this.armDeadline(req);
                }
                return;
            }
            case 'voucher':
                return this.onVoucher(conn, frame);
            case 'get_worker_candidates': {
                const list = this.modelsByName.has(frame.model) ? this.router.candidates(frame.model, frame.maxCoefficient) : [];
                return this.send(conn, {
                    type: 'worker_candidates',
                    v: conn.version,
                    id: frame.id,
                    model: frame.model,
                    candidates: list.map((w) => ({
                        keyId: w.keyId!,
                        hpkePublicKey: w.hpkePublicKey!.toString('hex'),
                        coefficient: w.models.get(frame.model)!,
                        attestation: w.certDer.toString('base64'),
                    })),
                });
            }
            default:
                this.log('client.unexpected-frame', { conn: conn.id, type: frame.type });
        }
    }

    private refuse(conn: ClientConn, id: string, code: ProxyWireCode, message: string, retryable: boolean): void {
        this.counters.failed++;
        this.log('request.refused', { conn: conn.id, id, code });
        this.send(conn, { type: 'response_error', v: conn.version, id, code, message, retryable });
    }

    private onRequest(conn: ClientConn, frame: RequestFrame, buf: Buffer): void {
        const id = frame.id;
        if (this.halted || this.stopping) return this.refuse(conn, id, 'PROXY_UNAVAILABLE', 'the proxy is not serving', true);
        if (this.inFlight.has(id) || this.ledger!.getRequest(id)) return this.refuse(conn, id, 'DUPLICATE_REQUEST', 'this request id was already used', false);
        if (conn.requests.size >= this.limits.maxRequestsPerConnection) return this.refuse(conn, id, 'RATE_LIMITED', 'too many requests in flight on this connection', true);
        const m = this.modelsByName.get(frame.model);
        if (!m) return this.refuse(conn, id, 'MODEL_NOT_REGISTERED', `model ${frame.model} is not registered in Root`, false);
        const bound = requestBound({ maxTokens: frame.maxTokens, contextLength: m.model.contextLength, prices: m.model, coefficient: frame.maxCoefficient });
        const req: Running = {
            id,
            frame,
            raw: buf.toString('utf8'),
            client: conn,
            clientGone: false,
            model: m.model,
            modelId: m.id,
            sealed: frame.sealed !== undefined,
            tried: new Set(),
            failovers: 0,
            phase: 'routing',
            nextSeq: 0,
            relayedBytes: 0,
            sentAt: 0,
            cancelled: false,
            bound,
            held: 0n,
        };
        const refusal = this.admit(req);
        if (refusal?.code === 'CREDIT_WINDOW_EXCEEDED') return this.refuse(conn, id, refusal.code, refusal.message, false);
        this.inFlight.set(id, req);
        conn.requests.set(id, req);
        if (refusal) {
            // The only chain call near the hot path: re-read the channel (a top-up may have arrived) before refusing.
            void this.refreshChannel(conn.channelRaw!)
                .then(() => this.afterDepositCheck(req))
                .catch((e) => {
                    this.log('client.channel-refresh-failed', { conn: conn.id, error: String(e) });
                    if (!this.stopping) this.failRequest(req, 'PROXY_UNAVAILABLE', 'could not read the channel on chain', true, { kind: 'neutral' });
                });
            return;
        }
        this.dispatch(req);
    }

    /** Holds the request's worst case against the credit window and the deposit (agents/proxy/admission.ts). */
    private admit(req: Running): AdmissionRefusal | null {
        const channel = req.client.channelRaw!;
        const c = this.ledger!.client(channel);
        const refusal = this.clientAdmission.admit({
            channel,
            amount: req.bound,
            delivered: c.deliveredCost,
            voucher: c.latestVoucher?.amount ?? 0n,
            creditWindow: this.o.chain.cachedRootConfig!.params.creditWindow,
            chain: this.channelCache.get(channel)?.state,
            nowSec: this.nowSec(),
        });
        if (!refusal) req.held = req.bound;
        return refusal;
    }

    /**
     * The channel watch (spec/proxy.md, "Channel watch"): re-reads every ClientChannel that has a connected client or
     * an unredeemed voucher. A channel whose client started a withdrawal or a close has its latest voucher redeemed at
     * once (whatever the threshold), long before the client's delay ends; admission then counts only
     * balance − pendingWithdraw (and nothing of a closing channel). Returns the channels found leaving.
     */
    watchChannels(): Promise<string[]> {
        if (this.watching) return this.watching;
        this.watching = (async () => {
            const leaving: string[] = [];
            if (!this.ledger || this.stopping || this.halted) return leaving;
            const channels = new Set<string>();
            for (const c of this.clients.values()) if (c.state === 'ready' && c.channelRaw) channels.add(c.channelRaw);
            for (const c of this.ledger.redeemCandidates(1n)) channels.add(c.client);
            for (const ch of channels) {
                if (this.stopping) break;
                try {
                    const st = await this.refreshChannel(ch);
                    if (!st || !isLeaving(st, this.nowSec())) continue;
                    leaving.push(ch);
                    this.log('channel.leaving', { channel: ch, state: st.state.toString(), pendingWithdraw: st.pendingWithdraw.toString(), withdrawAt: Number(st.withdrawAt), closeAt: Number(st.closeAt) });
                    await this.redeemLeaving(ch);
                } catch (e) {
                    this.log('channel.watch-failed', { channel: ch, error: String(e) });
                }
            }
            return leaving;
        })().finally(() => (this.watching = undefined));
        return this.watching;
    }

    /** Redeems a leaving channel's latest voucher now, if it is above what was redeemed. */
    private async redeemLeaving(channel: string): Promise<void> {
        const c = this.ledger!.client(channel);
        if (!c.latestVoucher || c.latestVoucher.amount <= c.redeemedOnChain) return;
        const r = await this.settle({ channel });
        for (const e of r.errors) this.log('channel.redeem-failed', { channel, code: e.code, message: e.message });
    }

    private async refreshChannel(channelRaw: string): Promise<ClientChannelState | null> {
        const st = await this.o.chain.getClientChannelState(Address.parse(channelRaw));
        if (st) this.channelCache.set(channelRaw, { state: st, fetchedAt: this.clock.now() });
        return st;
    }

    private afterDepositCheck(req: Running): void {
        if (req.phase !== 'routing' || req.worker || this.stopping) return;
        if (req.clientGone) return this.dropRequest(req);
        if (req.cancelled) return this.failRequest(req, 'BACKEND_ABORTED', 'cancelled before it was routed', false, { kind: 'neutral' });
        const refusal = this.admit(req);
        if (refusal) return this.failRequest(req, refusal.code, refusal.message, false, { kind: 'neutral' });
        this.dispatch(req);
    }

    /** Sends the request to the best worker; with `last` (a failover) a routing failure reports the last error. */
    private dispatch(req: Running, last?: { code: string; message: string }): void {
        const f = req.frame;
        const w: RoutedWorker | undefined = req.sealed
            ? this.router.pickByKeyId(f.sealed!.keyId, f.model, f.maxCoefficient, req.tried)
            : this.router.pick(f.model, f.maxCoefficient, req.tried);
        const conn = w ? this.workers.get(w.id) : undefined;
        if (!w || !conn) {
            if (last) return this.failRequest(req, last.code, last.message, true, { kind: 'neutral' });
            const code = req.sealed ? this.router.whyNoneByKeyId(f.sealed!.keyId, f.model, f.maxCoefficient) : this.router.whyNone(f.model, f.maxCoefficient, req.tried);
            const what = req.sealed ? `worker ${f.sealed!.keyId.slice(0, 16)}…` : `worker for ${f.model} within coefficient ${f.maxCoefficient}`;
            return this.failRequest(req, code, code === 'NO_WORKER' ? `no ${what} is connected` : `every ${what} is at capacity`, true, { kind: 'neutral' });
        }
        this.router.begin(w.id);
        req.worker = conn;
        req.coefficient = w.models.get(f.model)!;
        req.sentAt = this.clock.now();
        conn.requests.set(req.id, req);
        if (conn.version === req.client.version) this.sendRaw(conn, req.raw);
        else this.send(conn, { ...f, v: conn.version });
        this.armDeadline(req);
        this.log('request.routed', { id: req.id, worker: conn.id, model: f.model, sealed: req.sealed, attempt: req.failovers });
    }

    /** Plain requests that failed before response_start move to another worker (at most maxFailover times). */
    private tryFailover(req: Running, code: string, message: string): boolean {
        if (req.sealed || req.phase !== 'routing' || req.cancelled || req.clientGone) return false;
        if (req.failovers >= (this.o.maxFailover ?? 2)) return false;
        const worker = req.worker!;
        req.tried.add(worker.id);
        worker.requests.delete(req.id);
        req.worker = undefined;
        req.failovers++;
        this.counters.failovers++;
        this.log('request.failover', { id: req.id, from: worker.id, code });
        this.dispatch(req, { code, message });
        return true;
    }

    private onWorkerLost(req: Running): void {
        if (req.phase === 'booking') return; // delivered: its booking completes and response_end goes out
        const before = req.phase === 'routing';
        if (req.clientGone) return this.dropRequest(req);
        if (this.tryFailover(req, 'WORKER_LOST', 'the worker disconnected')) return;
        this.failRequest(req, 'WORKER_LOST', 'the worker disconnected', before, { kind: 'failure' });
    }

    /**
     * (Re)starts the worker's deadline for its next frame on this request (attack 16: a silent worker held its slot
     * and the client's forever): firstByteTimeoutMs until response_start, idleTimeoutMs between frames after it,
     * cancelGraceMs once the request was cancelled or its client left.
     */
    private armDeadline(req: Running): void {
        clearTimeout(req.deadline);
        const l = this.limits;
        const [ms, what] =
            req.cancelled || req.clientGone
                ? [l.cancelGraceMs, 'ended the request after its cancel']
                : req.phase === 'routing'
                  ? [l.firstByteTimeoutMs, 'sent response_start']
                  : [l.idleTimeoutMs, 'sent the next frame'];
        req.deadline = setTimeout(() => this.onDeadline(req, `the worker never ${what} within ${ms} ms`), ms);
        req.deadline.unref();
    }

    /** A deadline passed: cancel at the worker, count a worker failure, free the slot; fail over or tell the client. */
    private onDeadline(req: Running, message: string): void {
        const worker = req.worker;
        req.deadline = undefined;
        if (!worker || req.phase === 'booking' || req.phase === 'ended' || req.phase === 'failed') return;
        this.guard.requestTimeouts++;
        this.log('request.timeout', { id: req.id, worker: worker.id, phase: req.phase });
        this.send(worker, { type: 'cancel', v: worker.version, id: req.id });
        if (req.clientGone) {
            req.phase = 'failed';
            return this.release(req, { kind: 'failure' });
        }
        if (req.phase === 'routing' && !req.sealed && !req.cancelled && req.failovers < (this.o.maxFailover ?? 2)) {
            this.router.end(worker.id, { kind: 'failure' });
            if (this.tryFailover(req, 'WORKER_TIMEOUT', message)) return;
        }
        this.failRequest(req, 'WORKER_TIMEOUT', message, req.phase === 'routing' && !req.cancelled, { kind: 'failure' });
    }

    /** Ends a request with response_error to the client (if still there) and releases the worker slot. */
    private failRequest(req: Running, code: string, message: string, retryable: boolean, outcome: Outcome): void {
        if (req.phase === 'ended' || req.phase === 'failed') return;
        req.phase = 'failed';
        this.release(req, outcome);
        this.counters.failed++;
        this.log('request.failed', { id: req.id, code, worker: req.worker?.id });
        if (!req.clientGone) this.send(req.client, { type: 'response_error', v: req.client.version, id: req.id, code, message: message.slice(0, 1024), retryable });
    }

    /** Forgets a request whose client is gone, without telling anyone. */
    private dropRequest(req: Running): void {
        if (req.phase === 'ended' || req.phase === 'failed') return;
        req.phase = 'failed';
        this.release(req, { kind: 'neutral' });
    }

    private release(req: Running, outcome: Outcome): void {
        if (req.held > 0n) this.clientAdmission.release(req.client.channelRaw!, req.held);
        req.held = 0n;
        clearTimeout(req.deadline);
        req.deadline = undefined;
        this.inFlight.delete(req.id);
        req.client.requests.delete(req.id);
        if (req.worker) {
            req.worker.requests.delete(req.id);
            this.router.end(req.worker.id, outcome);
        }
    }

    private sendPaymentStatus(conn: ClientConn): void {
        const c = this.ledger!.client(conn.channelRaw!);
        const window = this.o.chain.cachedRootConfig!.params.creditWindow;
        const voucher = c.latestVoucher?.amount ?? 0n;
        const remaining = voucher + window - c.deliveredCost;
        this.send(conn, {
            type: 'payment_status',
            v: conn.version,
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
    private resendUnsettled(conn: ClientConn): void {
        for (const row of this.ledger!.unsettled(conn.channelRaw!)) {
            if (this.inFlight.has(row.requestId) || row.receipt === null) continue;
            let usage;
            try {
                usage = decodeReceipt(row.receipt).receipt.usage;
            } catch (e) {
                this.log('client.resend-skipped', { id: row.requestId, error: String(e) });
                continue;
            }
            this.send(conn, { type: 'response_end', v: conn.version, id: row.requestId, usage, cost: row.cost, receipt: row.receipt });
        }
    }

    /** Signature under the channel's clientKey (= the certificate key), then the ledger's monotonic checks. */
    private onVoucher(conn: ClientConn, f: VoucherFrame): void {
        const ok = ed25519Verify(voucherPayload(conn.channel!, f.amount, this.globalId).hash(), Buffer.from(f.signature, 'hex'), conn.publicKey);
        if (!ok) {
            this.counters.vouchersRefused++;
            this.sendError(conn, 'VOUCHER_INVALID', 'the voucher signature does not verify under the channel key', false);
            return this.sendPaymentStatus(conn);
        }
        this.durably(() => void this.ledger!.acceptVoucher(conn.channelRaw!, f.amount, f.signature))
            .then(
                () => {
                    this.counters.vouchersAccepted++;
                    const cached = this.channelCache.get(conn.channelRaw!);
                    if (cached && isLeaving(cached.state, this.nowSec())) void this.redeemLeaving(conn.channelRaw!).catch((e) => this.log('channel.redeem-failed', { channel: conn.channelRaw, error: String(e) }));
                },
                (e: unknown) => {
                    this.counters.vouchersRefused++;
                    if (e instanceof LedgerError) this.sendError(conn, 'VOUCHER_REFUSED', `${e.code}: ${e.message}`, false);
                    else this.log('voucher.unbooked', { conn: conn.id, message: (e as Error)?.message });
                },
            )
            .then(() => {
                if (conn.state === 'ready' && this.ledger) this.sendPaymentStatus(conn);
            })
            .catch((e: unknown) => this.log('voucher.status-failed', { conn: conn.id, message: (e as Error)?.message }));
    }

    // -----------------------------------------------------------------------------------------------------------
    // Worker frames

    private onWorkerFrame(conn: WorkerConn, frame: Frame, buf: Buffer): void {
        if (frame.type !== 'response_start' && frame.type !== 'response_chunk' && frame.type !== 'response_end' && frame.type !== 'response_error') {
            return this.log('worker.unexpected-frame', { conn: conn.id, type: frame.type });
        }
        const req = conn.requests.get(frame.id);
        if (!req) return this.log('worker.unknown-id', { conn: conn.id, id: frame.id, type: frame.type });
        if (req.phase === 'booking') return this.log('worker.frame-after-end', { conn: conn.id, id: frame.id, type: frame.type });
        const raw = () => buf.toString('utf8');
        switch (frame.type) {
            case 'response_start':
                if (req.phase !== 'routing') return this.protocolViolation(conn, req, 'a second response_start');
                if ((frame.salt !== undefined) !== req.sealed) return this.protocolViolation(conn, req, req.sealed ? 'a sealed response_start without its salt' : 'a salt in a plain response_start');
                req.phase = 'started';
                req.startedAt = this.clock.now();
                this.armDeadline(req);
                return this.forward(req, frame, raw);
            case 'response_chunk':
                return this.onChunk(conn, req, frame, raw);
            case 'response_end':
                return this.onEnd(conn, req, frame, raw);
            case 'response_error':
                return this.onWorkerError(req, frame, raw);
        }
    }

    private forward(req: Running, frame: Frame, raw: () => string): void {
        if (req.clientGone) return;
        if (req.client.version === req.worker!.version) this.sendRaw(req.client, raw());
        else this.send(req.client, { ...frame, v: req.client.version } as Frame);
    }

    private protocolViolation(conn: WorkerConn, req: Running, what: string): void {
        this.send(conn, { type: 'cancel', v: conn.version, id: req.id });
        this.sendError(conn, 'WIRE_BAD_FIELD', `protocol violation: ${what}`, false, req.id);
        this.failRequest(req, 'WIRE_BAD_FIELD', `the worker broke the protocol: ${what}`, false, { kind: 'failure' });
    }

    private onChunk(conn: WorkerConn, req: Running, f: ResponseChunkFrame, raw: () => string): void {
        if (req.phase === 'routing') return this.protocolViolation(conn, req, 'response_chunk before response_start');
        if (f.seq !== req.nextSeq) return this.protocolViolation(conn, req, `chunk seq ${f.seq}, expected ${req.nextSeq}`);
        if ((f.sealed !== undefined) !== req.sealed) return this.protocolViolation(conn, req, req.sealed ? 'a plain chunk in a sealed response' : 'a sealed chunk in a plain response');
        req.nextSeq++;
        // No parse on the hot path: the payload's size bounds the text it carries, sealed or not (attack 11).
        req.relayedBytes += f.data !== undefined ? Buffer.byteLength(f.data, 'utf8') : sealedPlaintextBytes(f.sealed!.ct);
        req.phase = 'streaming';
        this.armDeadline(req);
        this.forward(req, f, raw);
    }

    /** Verify the receipt, book it durably, only then let the client see response_end. */
    private onEnd(conn: WorkerConn, req: Running, f: ResponseEndFrame, raw: () => string): void {
        try {
            const r = verifyReceipt(f.receipt, {
                workerPublicKey: conn.peer.cert.publicKey,
                prices: req.model,
                maxCoefficient: req.coefficient!,
                requestId: BigInt('0x' + req.id),
                modelId: req.modelId,
                usage: f.usage,
                // Attack 11: the request's maxTokens, the context, and the payload bytes relayed (a sound, looser
                // stand-in for the text: JSON envelopes count too; the client counts the text itself).
                bounds: { maxTokens: req.frame.maxTokens, contextLength: req.model.contextLength, streamedBytes: req.relayedBytes },
            });
            if (r.coefficient !== req.coefficient) throw new ProxyError('RECEIPT_INVALID', `receipt coefficient ${r.coefficient} is not the announced ${req.coefficient}`);
            if (r.cost !== f.cost) throw new ProxyError('RECEIPT_INVALID', `response_end cost ${f.cost} differs from the receipt's ${r.cost}`);
        } catch (e) {
            if (!(e instanceof CocoonError)) throw e;
            this.counters.receiptsRefused++;
            this.log('receipt.refused', { id: req.id, worker: conn.id, code: e.code, message: e.message });
            this.failRequest(req, 'RECEIPT_INVALID', 'the worker sent an invalid receipt; nothing was charged', false, { kind: 'failure' });
            this.sendError(conn, 'RECEIPT_INVALID', `${e.code}: ${e.message}`, true, req.id);
            return;
        }
        const now = this.clock.now();
        const outcome: Outcome = { kind: 'success', totalMs: now - req.sentAt, ttfbMs: req.startedAt !== undefined ? req.startedAt - req.sentAt : undefined };
        req.phase = 'booking';
        const delivery = { requestId: req.id, client: req.client.channelRaw!, worker: conn.channelRaw!, modelId: req.modelId, cost: f.cost, receipt: f.receipt };
        this.durably(() => void this.ledger!.recordDelivery(delivery)).then(
            () => {
                const exposure = this.ledger!.unsignedExposure(delivery.client);
                if (exposure > this.peakExposure) this.peakExposure = exposure;
                req.phase = 'ended';
                this.release(req, outcome);
                this.counters.served++;
                if (this.o.crashHook?.('booked', req.id)) return void this.crash();
                if (!req.clientGone) return this.forward(req, f, raw);
                // Its connection is gone: booked all the same (unsettled), and sent to another connection of the same
                // channel if there is one; otherwise it goes out when the client reconnects (resendUnsettled).
                this.counters.bookedClientGone++;
                this.log('delivery.client-gone', { id: req.id, cost: f.cost.toString(), partial: f.partial === true });
                for (const c of this.clients.values()) {
                    if (c.state === 'ready' && c.channelRaw === delivery.client) return this.send(c, { ...f, v: c.version });
                }
            },
            (e: unknown) => {
                const code = e instanceof CocoonError ? e.code : 'UNEXPECTED';
                this.log('delivery.refused', { id: req.id, code, message: (e as Error)?.message });
                req.phase = 'streaming';
                this.failRequest(req, 'PROXY_UNAVAILABLE', `the ledger refused the delivery (${code})`, false, { kind: 'neutral' });
            },
        );
    }

    /**
     * Group commit: the ledger writes that money needs (deliveries, vouchers) queue here and run together, each in
     * its own savepoint, in one SQLite transaction per event-loop turn — one fsync for the batch instead of one per
     * write. Each caller learns its own outcome only after the batch is durable, so nothing is acknowledged early.
     */
    private durably(op: () => void): Promise<void> {
        return new Promise<void>((resolve, reject) => {
            this.writes.push({ op, settle: (e) => (e === undefined ? resolve() : reject(e)) });
            if (this.writes.length === 1) setImmediate(() => this.flushWrites());
        });
    }

    private flushWrites(): void {
        const batch = this.writes;
        this.writes = [];
        const errors: unknown[] = batch.map(() => undefined);
        try {
            if (!this.ledger) throw new ProxyError('PROXY_NOT_STARTED', 'the ledger is closed');
            this.ledger.batch(() => {
                batch.forEach((w, i) => {
                    try {
                        w.op();
                    } catch (e) {
                        errors[i] = e ?? new Error('ledger write failed');
                    }
                });
            });
        } catch (e) {
            for (const w of batch) w.settle(e ?? new Error('ledger batch failed'));
            return;
        }
        batch.forEach((w, i) => w.settle(errors[i]));
    }

    private onWorkerError(req: Running, f: ResponseErrorFrame, raw: () => string): void {
        const healthy = NEUTRAL_WORKER_CODES.test(f.code);
        if (req.phase === 'routing' && f.retryable && this.tryFailoverAfterError(req, f)) return;
        req.phase = 'failed';
        this.release(req, healthy ? { kind: 'neutral' } : { kind: 'failure' });
        this.counters.failed++;
        this.log('request.worker-error', { id: req.id, code: f.code, retryable: f.retryable });
        this.forward(req, f, raw);
    }

    private tryFailoverAfterError(req: Running, f: ResponseErrorFrame): boolean {
        const worker = req.worker!;
        if (req.sealed || req.cancelled || req.clientGone || req.failovers >= (this.o.maxFailover ?? 2)) return false;
        this.router.end(worker.id, NEUTRAL_WORKER_CODES.test(f.code) ? { kind: 'neutral' } : { kind: 'failure' });
        return this.tryFailover(req, f.code, f.message);
    }

    // -----------------------------------------------------------------------------------------------------------
    // Settlement

    /**
     * Redeems vouchers with voucher − redeemed ≥ redeemThreshold (any positive difference with `force`) and signs
     * payouts for workers with earned − payout ≥ payoutThreshold: each payout is recorded in the ledger before it is
     * sent to the worker's connections. Runs once at a time; concurrent calls share the run.
     */
    settle(opts: { force?: boolean; channel?: string } = {}): Promise<SettleResult> {
        if (!this.ledger || this.stopping) return Promise.reject(new ProxyError('PROXY_NOT_STARTED', 'start the proxy first'));
        if (this.halted) return Promise.reject(this.halted);
        if (this.settling) return this.settling.then(() => this.settle(opts), () => this.settle(opts));
        this.settling = this.doSettle(opts.force === true, opts.channel).finally(() => (this.settling = undefined));
        return this.settling;
    }

    /** `channel`: redeem that ClientChannel's latest voucher whatever its size, and nothing else (the channel watch). */
    private async doSettle(force: boolean, channel?: string): Promise<SettleResult> {
        const out: SettleResult = { redeemed: [], payouts: [], errors: [] };
        const ledger = this.ledger!;
        const candidates = channel !== undefined ? [ledger.client(channel)].filter((c) => c.latestVoucher && c.latestVoucher.amount > c.redeemedOnChain) : ledger.redeemCandidates(force ? 1n : this.o.redeemThreshold ?? TON);
        for (const c of candidates) {
            try {
                const r = await this.redeemOne(c.client, c.latestVoucher!.amount, c.latestVoucher!.signature, c.redeemedOnChain);
                if (r) out.redeemed.push(r);
            } catch (e) {
                out.errors.push({ party: c.client, code: (e as CocoonError).code ?? 'ERROR', message: String((e as Error).message ?? e) });
                this.log('redeem.failed', { client: c.client, error: String(e) });
            }
        }
        for (const w of channel !== undefined ? [] : ledger.payoutCandidates(force ? 1n : this.o.payoutThreshold ?? TON)) {
            try {
                out.payouts.push(this.signPayout(w.worker, w.earned));
            } catch (e) {
                out.errors.push({ party: w.worker, code: (e as CocoonError).code ?? 'ERROR', message: String((e as Error).message ?? e) });
                this.log('payout.failed', { worker: w.worker, error: String(e) });
            }
        }
        if (out.redeemed.length || out.payouts.length) this.log('settle.done', { redeemed: out.redeemed.length, payouts: out.payouts.length });
        return out;
    }

    private async redeemOne(client: string, amount: bigint, signature: string, previous: bigint): Promise<RedeemResult | null> {
        const addr = Address.parse(client);
        // Read first: a redeem an earlier run sent may have landed already (the contract would refuse a second one).
        const before = await this.refreshChannel(client);
        if (!before) throw new ProxyError('CHANNEL_INVALID', 'the ClientChannel is gone');
        if (before.redeemed < amount && before.balance > 0n) {
            await this.o.chain.open(ClientChannelWrapper.open(addr)).sendRedeem(this.o.wallet.sender(), { amount, signature: Buffer.from(signature, 'hex') });
        }
        const after = (await this.refreshChannel(client)) ?? before;
        const redeemed = after.redeemed < amount ? after.redeemed : amount;
        if (redeemed > previous) this.ledger!.markRedeemed(addr, redeemed);
        if (redeemed === previous) return null;
        this.log('redeem.done', { client, voucher: amount.toString(), redeemed: redeemed.toString() });
        return { client, voucher: amount, redeemed, previous };
    }

    private signPayout(worker: string, amount: bigint): PayoutResult {
        const addr = Address.parse(worker);
        const signature = signPayload(payoutPayload(addr, amount, this.globalId), this.keys.secretKey).toString('hex');
        this.ledger!.recordPayoutSigned(addr, amount, signature); // durable before the signature leaves
        let sentTo = 0;
        for (const w of this.workers.values()) {
            if (w.state === 'ready' && w.channelRaw === worker) {
                this.send(w, { type: 'payout', v: w.version, amount, signature });
                sentTo++;
            }
        }
        this.log('payout.signed', { worker, amount: amount.toString(), sentTo });
        return { worker, amount, signature, sentTo };
    }

    // -----------------------------------------------------------------------------------------------------------
    // State commits

    /**
     * Records the next commit in the ledger, signs it and sends StateCommit; confirms it once the Proxy contract shows
     * it. Waits for the start-up commit guard first (see commitGuard).
     */
    async commitNow(): Promise<Commit> {
        if (!this.ledger || !this.commitReady) throw new ProxyError('PROXY_NOT_STARTED', 'start the proxy first');
        await this.commitReady;
        if (this.halted) throw this.halted;
        if (this.stopping) throw new ProxyError('PROXY_NOT_STARTED', 'the proxy is stopping');
        if (this.committing) await this.committing.catch(() => undefined);
        this.committing = this.doCommit().finally(() => (this.committing = undefined));
        return this.committing;
    }

    /** The commit loop: skip when the state hash equals the last commit confirmed on chain. */
    private async commitIfChanged(): Promise<void> {
        if (this.committing || this.halted || this.stopping) return;
        const last = this.ledger!.latestCommit();
        if (last && last.onChain && last.hash === this.ledger!.stateHash()) return;
        if (!last && this.ledger!.stateHash() === this.emptyStateHash()) return;
        await this.commitNow();
    }

    private emptyHash?: bigint;
    private emptyStateHash(): bigint {
        if (this.emptyHash === undefined) {
            const mem = Ledger.open(':memory:', { commissionBps: this.ledger!.commissionBps });
            this.emptyHash = mem.stateHash();
            mem.close();
        }
        return this.emptyHash;
    }

    private async doCommit(): Promise<Commit> {
        const ledger = this.ledger!;
        const c = ledger.nextCommit(); // recorded before signing: a seqno is never signed twice
        const signature = signPayload(commitPayload(this.o.proxyAddress, c.seqno, c.hash, this.globalId), this.keys.secretKey);
        this.lastCommit = { seqno: c.seqno, hash: c.hash, onChain: false, at: c.committedAt };
        try {
            await this.o.chain.open(ProxyWrapper.open(this.o.proxyAddress)).sendSignedCommit(this.o.wallet.sender(), { seqno: c.seqno, hash: c.hash, signature });
            const st = await this.o.chain.getProxyState(this.o.proxyAddress);
            if (st && st.commitSeqno === c.seqno && st.commitHash === c.hash) {
                const confirmed = ledger.confirmCommit(c.seqno);
                this.lastCommit.onChain = true;
                this.log('commit.confirmed', { seqno: c.seqno.toString() });
                return confirmed;
            }
            this.lastCommit.error = `not on chain yet (chain seqno ${st?.commitSeqno ?? 'none'})`;
        } catch (e) {
            this.lastCommit.error = String((e as Error).message ?? e);
            this.log('commit.send-failed', { seqno: c.seqno.toString(), error: this.lastCommit.error });
            throw e;
        }
        return ledger.getCommit(c.seqno)!;
    }

    // -----------------------------------------------------------------------------------------------------------
    // Stats

    /** A snapshot of the proxy (money as bigint); `GET /stats` serves it as JSON with decimal strings. */
    stats(): ProxyStats {
        const ledger = this.ledger && this.urls && !this.stopping ? this.ledger : undefined;
        const count = (m: Map<string, Conn>) => {
            const by = { await_hello: 0, checking: 0, ready: 0 };
            for (const c of m.values()) if (c.state !== 'closed') by[c.state]++;
            return by;
        };
        const latest = ledger?.latestCommit() ?? null;
        return {
            proxy: this.o.proxyAddress.toString(),
            enclaveKey: this.keys.publicKey.toString('hex'),
            status: this.halted ? 'halted' : this.urls ? 'serving' : 'stopped',
            startedAt: this.startedAt,
            uptimeMs: this.urls ? this.clock.now() - this.startedAt : 0,
            rootVersion: this.o.chain.cachedRootConfig?.version ?? null,
            connections: { clients: count(this.clients as Map<string, Conn>), workers: count(this.workers as Map<string, Conn>) },
            workers: this.router.list().map((w) => ({
                id: w.id,
                channel: w.channel,
                imageHash: w.imageHash,
                keyId: w.keyId ?? null,
                models: [...w.models].map(([name, coefficient]) => ({ name, coefficient })),
                capacity: w.capacity,
                inFlight: w.inFlight,
                latency: { ttfbMs: w.ttfbMs ?? null, totalMs: w.latencyMs ?? null },
                success: { successes: w.successes, failures: w.failures, score: this.router.score(w) },
            })),
            limits: { ...this.guard, helloChecksRunning: this.helloGate.active, helloChecksWaiting: this.helloGate.waiting },
            requests: { inFlight: this.inFlight.size, ...this.counters },
            ledger: ledger ? ledgerTotals(ledger.stateSerialization()) : ledgerTotals(''),
            admission: { held: this.clientAdmission.total(), peakExposure: this.peakExposure },
            lastCommit: latest
                ? {
                      seqno: latest.seqno,
                      hash: latest.hash.toString(16).padStart(64, '0'),
                      onChain: latest.onChain,
                      committedAt: latest.committedAt,
                      error: this.lastCommit?.seqno === latest.seqno ? this.lastCommit.error ?? null : null,
                  }
                : null,
        };
    }

    private listenStats(): Promise<string> {
        const server = createHttpServer((req, res) => this.onStatsRequest(req, res));
        this.statsServer = server;
        return new Promise<string>((resolve, reject) => {
            server.once('error', reject);
            server.listen(this.o.statsPort ?? 0, '127.0.0.1', () => {
                server.off('error', reject);
                const a = server.address() as AddressInfo;
                resolve(`http://127.0.0.1:${a.port}`);
            });
        });
    }

    private onStatsRequest(req: IncomingMessage, res: ServerResponse): void {
        const json = (status: number, body: unknown) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(body));
        };
        const path = (req.url ?? '/').split('?')[0];
        if (req.method === 'GET' && path === '/stats') return json(200, JSON.parse(JSON.stringify(this.stats(), bigintJson)));
        if (req.method === 'GET' && path === '/healthz') {
            const ok = !this.halted && this.urls !== undefined;
            return json(ok ? 200 : 503, { ok, status: this.halted ? 'halted' : ok ? 'serving' : 'stopped' });
        }
        json(404, { code: 'NOT_FOUND', message: `no ${req.method} ${path}` });
    }

    private closeStats(): Promise<void> {
        const s = this.statsServer;
        this.statsServer = undefined;
        if (!s) return Promise.resolve();
        s.closeAllConnections();
        return new Promise((resolve) => s.close(() => resolve()));
    }
}
