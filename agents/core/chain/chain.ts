// Chain access for agents: one interface to read Root (params, allowlists, models, proxies, config version)
// and channel states, and to send messages through a wallet. TonChain implements it over @ton/ton's TonClient
// (toncenter v2 JSON-RPC) with the throttled, retrying transport of ./http; the same code runs against the
// devnet, testnet and mainnet — only the endpoint changes.
//
// Root config cache: getRootConfig() serves a cached snapshot; once it is older than cacheTtlMs the next call
// checks Root's `version` getter (one cheap call) and refetches everything only when the version moved.
import { Address, Contract, internal, MessageRelaxed, OpenedContract, SendMode, Sender, SenderArguments, StateInit, Transaction, Cell } from '@ton/core';
import { KeyPair, keyPairFromSecretKey, mnemonicToPrivateKey, mnemonicValidate, sign } from '@ton/crypto';
import { TonClient, WalletContractV4 } from '@ton/ton';
import { SleepClock, systemClock } from '../clock';
import { bytes256, hex256 } from '../hex';
import { ToncenterClient } from './toncenter';
import { ChildCode, ImageKind, Model, Params, ProxyInfo, ProxyTerms, RootWrapper } from '../../../wrappers/Root';
import { ClientChannelState, ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { WorkerChannelState, WorkerChannelWrapper } from '../../../wrappers/WorkerChannel';
import { ProxyState, ProxyWrapper } from '../../../wrappers/Proxy';
import { ChainConfig } from './config';
import { ChainError, nullIfGetterFailed } from './errors';
import { ChainTransport } from './http';

/** Root's configuration as of one `version`. Hashes and ids are 64-char lower-case hex (no 0x). */
export interface RootConfig {
    root: Address;
    version: number;
    params: Params;
    terms: ProxyTerms;
    childCode: ChildCode;
    proxyImages: ReadonlySet<string>;
    workerImages: ReadonlySet<string>;
    /** Key-service images (sealed secrets, spec/attestation.md). */
    keyImages: ReadonlySet<string>;
    /** Model id (hex) -> model. */
    models: ReadonlyMap<string, Model>;
    /** Proxy address (raw form `0:<hex>`) -> registration. */
    proxies: ReadonlyMap<string, ProxyInfo>;
    /** Clock time of the fetch. */
    fetchedAt: number;
}

export interface TransactionQuery {
    limit?: number;
    /** Start from this transaction (lt + base64 hash), going back in time. */
    lt?: bigint | string;
    hash?: string;
    /** Stop at this lt (exclusive). */
    toLt?: bigint | string;
    inclusive?: boolean;
    archival?: boolean;
}

export interface Chain {
    /** Root's config; cached, refreshed when Root's version moved (checked at most once per cacheTtlMs). */
    getRootConfig(): Promise<RootConfig>;
    /** Checks Root's version now (one getter call); refetches and returns true if it moved. */
    refreshIfChanged(): Promise<boolean>;
    /** Whether an image hash (hex, optional 0x) is on Root's allowlist of that kind (from the cached config). */
    isImageAllowed(kind: ImageKind, hashHex: string): Promise<boolean>;
    /** Channel / proxy states; null when the contract is not deployed (or was destroyed). */
    getClientChannelState(address: Address): Promise<ClientChannelState | null>;
    getWorkerChannelState(address: Address): Promise<WorkerChannelState | null>;
    getProxyState(address: Address): Promise<ProxyState | null>;
    getBalance(address: Address): Promise<bigint>;
    isDeployed(address: Address): Promise<boolean>;
    /** Newest first. */
    getTransactions(address: Address, query?: TransactionQuery): Promise<Transaction[]>;
    /** The network's global id (config param 19), read once and cached: every signed payload carries it (wrappers/payloads.ts). */
    getGlobalId(): Promise<number>;
    /**
     * The chain's clock: the unix time (seconds) of the latest masterchain block (toncenter `getMasterchainInfo`, then
     * `getBlockHeader` of that block: `gen_utime`). Never read from this machine's clock; cached for chainTimeTtlMs.
     */
    getChainTime(): Promise<number>;
    /** A wrapper bound to this chain: `chain.open(RootWrapper.open(a)).getVersion()`, `.sendTopUp(wallet.sender(), ...)`. */
    open<T extends Contract>(contract: T): OpenedContract<T>;
}

export { hex256 };

/** Normalises `0xABC…`/`abc…` to 64 lower-case hex chars; null if it is not a 256-bit hex value. */
export function normalizeHash(hashHex: string): string | null {
    const h = hashHex.trim().toLowerCase().replace(/^0x/, '');
    if (!/^[0-9a-f]{1,64}$/.test(h)) return null;
    return h.padStart(64, '0');
}

export interface TonChainOptions {
    config: ChainConfig;
    /** Defaults to a ChainTransport built from config. */
    transport?: ChainTransport;
    /** Defaults to a ToncenterClient (TonClient with a correct getter stack decoder) over `transport`. */
    client?: ToncenterClient;
    clock?: SleepClock;
    /** How long getChainTime() serves its last answer (default 1000 ms; a masterchain block is ~5 s). */
    chainTimeTtlMs?: number;
}

export class TonChain implements Chain {
    readonly config: ChainConfig;
    readonly transport: ChainTransport;
    readonly client: ToncenterClient;
    readonly clock: SleepClock;
    private cache: RootConfig | null = null;
    private checkedAt = -Infinity;
    private inflight: Promise<boolean> | null = null;
    private globalId: Promise<number> | null = null;
    private chainTime: { at: number; value: number } | null = null;
    private chainTimeInflight: Promise<number> | null = null;
    private readonly chainTimeTtlMs: number;

    constructor(opts: TonChainOptions) {
        this.config = opts.config;
        this.clock = opts.clock ?? systemClock;
        this.chainTimeTtlMs = opts.chainTimeTtlMs ?? 1000;
        this.transport =
            opts.transport ??
            new ChainTransport({ ...opts.config, clock: this.clock });
        // The transport adds X-API-Key itself; TonClient's own apiKey would only duplicate it.
        this.client = opts.client ?? new ToncenterClient({ endpoint: opts.config.endpoint, timeout: opts.config.timeoutMs, httpAdapter: this.transport.axiosAdapter() });
    }

    open<T extends Contract>(contract: T): OpenedContract<T> {
        return this.client.open(contract);
    }

    /** The cached config without touching the network (null before the first fetch). */
    get cachedRootConfig(): RootConfig | null {
        return this.cache;
    }

    async getRootConfig(): Promise<RootConfig> {
        if (this.cache === null || this.clock.now() - this.checkedAt >= this.config.cacheTtlMs) await this.refreshIfChanged();
        return this.cache!;
    }

    refreshIfChanged(): Promise<boolean> {
        // Concurrent callers share one check (and one refetch).
        if (this.inflight) return this.inflight;
        this.inflight = this.doRefresh().finally(() => (this.inflight = null));
        return this.inflight;
    }

    private rootContract(): OpenedContract<RootWrapper> {
        const addr = this.config.rootAddress;
        if (!addr) throw new ChainError('CHAIN_NOT_CONFIGURED', 'rootAddress is not configured (set COCOON_ROOT or chain.rootAddress)');
        return this.open(RootWrapper.open(addr));
    }

    private async doRefresh(): Promise<boolean> {
        const root = this.rootContract();
        let version = await this.getter('version', () => root.getVersion());
        this.checkedAt = this.clock.now();
        if (this.cache !== null && BigInt(this.cache.version) === version) return false;
        // Fetch, then confirm the version did not move meanwhile (governance may execute between our calls).
        for (let round = 0; ; round++) {
            const cfg = await this.fetchRootConfig(root, version);
            const after = await this.getter('version', () => root.getVersion());
            this.checkedAt = this.clock.now();
            if (after === version || round >= 2) {
                this.cache = cfg;
                return true;
            }
            version = after;
        }
    }

    private async fetchRootConfig(root: OpenedContract<RootWrapper>, version: bigint): Promise<RootConfig> {
        // Sequential on purpose: the transport serialises anyway, and a failure stops early.
        const params = await this.getter('params', () => root.getParams());
        const terms = await this.getter('terms', () => root.getTerms());
        const childCode = await this.getter('childCode', () => root.getChildCode());
        const proxyImages = await this.getter('proxyImagesPage', () => root.getAllImages('proxy'));
        const workerImages = await this.getter('workerImagesPage', () => root.getAllImages('worker'));
        const keyImages = await this.getter('keyImagesPage', () => root.getAllImages('keys'));
        const models = await this.getter('modelsPage', () => root.getAllModels());
        const proxies = await this.getter('proxiesPage', () => root.getAllProxies());
        return {
            root: root.address,
            version: Number(version),
            params,
            terms,
            childCode,
            proxyImages: new Set(proxyImages.map(hex256)),
            workerImages: new Set(workerImages.map(hex256)),
            keyImages: new Set(keyImages.map(hex256)),
            models: new Map([...models].map(([id, m]) => [hex256(id), m])),
            proxies: new Map([...proxies].map(([a, p]) => [Address.parse(a).toRawString(), p])),
            fetchedAt: this.clock.now(),
        };
    }

    async isImageAllowed(kind: ImageKind, hashHex: string): Promise<boolean> {
        const h = normalizeHash(hashHex);
        if (h === null) return false;
        const cfg = await this.getRootConfig();
        return (kind === 'proxy' ? cfg.proxyImages : kind === 'worker' ? cfg.workerImages : cfg.keyImages).has(h);
    }

    getClientChannelState(address: Address): Promise<ClientChannelState | null> {
        const c = this.open(ClientChannelWrapper.open(address));
        return this.stateOrNull(address, 'channelState', () => c.getChannelState());
    }

    getWorkerChannelState(address: Address): Promise<WorkerChannelState | null> {
        const c = this.open(WorkerChannelWrapper.open(address));
        return this.stateOrNull(address, 'channelState', () => c.getChannelState());
    }

    getProxyState(address: Address): Promise<ProxyState | null> {
        const c = this.open(ProxyWrapper.open(address));
        return this.stateOrNull(address, 'proxyState', () => c.getProxyState());
    }

    async getBalance(address: Address): Promise<bigint> {
        return this.wrap('getBalance', () => this.client.getBalance(address));
    }

    async isDeployed(address: Address): Promise<boolean> {
        return this.wrap('isContractDeployed', () => this.client.isContractDeployed(address));
    }

    async getTransactions(address: Address, q: TransactionQuery = {}): Promise<Transaction[]> {
        const opts: Parameters<TonClient['getTransactions']>[1] = { limit: q.limit ?? 20 };
        if (q.lt !== undefined) opts.lt = q.lt.toString();
        if (q.hash !== undefined) opts.hash = q.hash;
        if (q.toLt !== undefined) opts.to_lt = q.toLt.toString();
        if (q.inclusive !== undefined) opts.inclusive = q.inclusive;
        if (q.archival !== undefined) opts.archival = q.archival;
        return this.wrap('getTransactions', () => this.client.getTransactions(address, opts));
    }

    /**
     * The signing key of a standard wallet (its `get_public_key` getter, 32 bytes); null when the contract is not
     * deployed or has no such getter.
     */
    async getWalletPublicKey(address: Address): Promise<Buffer | null> {
        const r = await this.stateOrNull(address, 'get_public_key', () => this.client.runMethod(address, 'get_public_key')).catch(nullIfGetterFailed);
        if (!r) return null;
        const key = r.stack.readBigNumber();
        if (key < 0n || key >= 1n << 256n) return null;
        return bytes256(key);
    }

    getGlobalId(): Promise<number> {
        if (this.globalId === null) {
            this.globalId = this.fetchGlobalId();
            this.globalId.catch(() => (this.globalId = null)); // a failed read is retried by the next caller
        }
        return this.globalId;
    }

    getChainTime(): Promise<number> {
        const c = this.chainTime;
        const age = c === null ? -1 : this.clock.now() - c.at;
        // A host clock set back (negative age) must not stretch the cache into serving an old time as fresh.
        if (c !== null && age >= 0 && age < this.chainTimeTtlMs) return Promise.resolve(c.value);
        if (this.chainTimeInflight) return this.chainTimeInflight;
        this.chainTimeInflight = this.fetchChainTime()
            .then((value) => {
                // Never backwards: a lagging replica behind a load balancer must not rewind the clock of trust.
                const v = Math.max(value, this.chainTime?.value ?? 0);
                this.chainTime = { at: this.clock.now(), value: v };
                return v;
            })
            .finally(() => (this.chainTimeInflight = null));
        return this.chainTimeInflight;
    }

    private async rpc(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
        const body = JSON.stringify({ id: 1, jsonrpc: '2.0', method, params });
        const res = await this.transport.request({ method: 'POST', url: this.config.endpoint, headers: { 'Content-Type': 'application/json' }, body }, method);
        let result: unknown;
        try {
            result = JSON.parse(res.body)?.result;
        } catch {
            throw new ChainError('CHAIN_BAD_RESPONSE', `${method}: the answer is not JSON`, { request: method });
        }
        if (result === null || typeof result !== 'object') throw new ChainError('CHAIN_BAD_RESPONSE', `${method}: no result object`, { request: method });
        return result as Record<string, unknown>;
    }

    /** toncenter v2 `getMasterchainInfo` -> `last` block id, then `getBlockHeader` of it -> `gen_utime`. */
    private async fetchChainTime(): Promise<number> {
        const info = await this.rpc('getMasterchainInfo', {});
        const last = info.last as Record<string, unknown> | undefined;
        const bad = (what: string) => new ChainError('CHAIN_BAD_RESPONSE', what, { request: 'getChainTime' });
        if (!last || typeof last !== 'object' || !Number.isSafeInteger(last.workchain) || !Number.isSafeInteger(last.seqno) || (typeof last.shard !== 'string' && typeof last.shard !== 'number')) {
            throw bad('getMasterchainInfo: no last block id');
        }
        const header = await this.rpc('getBlockHeader', { workchain: last.workchain, shard: String(last.shard), seqno: last.seqno });
        const t = header.gen_utime;
        const value = typeof t === 'string' && /^\d{1,12}$/.test(t) ? Number(t) : t;
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw bad(`getBlockHeader: gen_utime is not a unix time: ${JSON.stringify(t)?.slice(0, 40)}`);
        return value;
    }

    /** toncenter v2 `getConfigParam` (config_id 19): the param cell holds `global_id:int32`. */
    private async fetchGlobalId(): Promise<number> {
        const result = await this.rpc('getConfigParam', { config_id: 19 });
        try {
            const bytes = (result.config as { bytes?: unknown } | undefined)?.bytes;
            if (typeof bytes !== 'string') throw new Error('no config cell in the response');
            return Cell.fromBoc(Buffer.from(bytes, 'base64'))[0].beginParse().loadInt(32);
        } catch (e) {
            throw new ChainError('CHAIN_BAD_RESPONSE', `getConfigParam 19: ${(e as Error).message}`, { request: 'getConfigParam' });
        }
    }

    /** A wallet sending through this chain. */
    wallet(keys: KeyPair, opts: ChainWalletOptions = {}): ChainWallet {
        return new ChainWallet(this, keys, { sendTimeoutMs: this.config.sendTimeoutMs, sendPollMs: this.config.sendPollMs, clock: this.clock, ...opts });
    }

    private async stateOrNull<T>(address: Address, name: string, read: () => Promise<T>): Promise<T | null> {
        try {
            return await this.getter(name, read);
        } catch (e) {
            if (!(e instanceof ChainError) || e.code !== 'CHAIN_GETTER_FAILED') throw e;
            if (!(await this.isDeployed(address))) return null;
            throw e;
        }
    }

    /** Runs a getter; TonClient's untyped failures become CHAIN_GETTER_FAILED / CHAIN_BAD_RESPONSE. */
    private async getter<T>(name: string, run: () => Promise<T>): Promise<T> {
        try {
            return await run();
        } catch (e) {
            if (e instanceof ChainError) throw e;
            const msg = e instanceof Error ? e.message : String(e);
            const m = /exit_code: (-?\d+)/.exec(msg);
            if (m) throw new ChainError('CHAIN_GETTER_FAILED', `get-method ${name} exited with code ${m[1]}`, { getter: name, exitCode: Number(m[1]) });
            throw new ChainError('CHAIN_GETTER_FAILED', `get-method ${name}: ${msg}`, { getter: name });
        }
    }

    private async wrap<T>(what: string, run: () => Promise<T>): Promise<T> {
        try {
            return await run();
        } catch (e) {
            if (e instanceof ChainError) throw e;
            throw new ChainError('CHAIN_BAD_RESPONSE', `${what}: ${e instanceof Error ? e.message : String(e)}`, { request: what });
        }
    }
}

/** One outgoing internal message of a wallet transfer. */
export interface WalletMessage {
    to: Address;
    value: bigint;
    body?: Cell | null;
    bounce?: boolean | null;
    init?: StateInit | null;
}

export interface ChainWalletOptions {
    workchain?: number;
    walletId?: number;
    sendTimeoutMs?: number;
    sendPollMs?: number;
    clock?: SleepClock;
}

/** The address of the WalletContractV4 (default wallet id) ChainWallet sends from for `publicKey`. */
export function walletAddressOf(publicKey: Buffer, workchain = 0): Address {
    return WalletContractV4.create({ workchain, publicKey }).address;
}

/**
 * A WalletContractV4 that sends through a Chain. Transfers are serialised (one seqno at a time) and
 * `send` resolves once the wallet's seqno advanced, i.e. the transfer was applied on chain.
 */
export class ChainWallet {
    readonly contract: OpenedContract<WalletContractV4>;
    readonly address: Address;
    private queue: Promise<unknown> = Promise.resolve();
    /** Told of every transfer once it is applied (seqno) or failed (agents/core/metrics.ts). */
    readonly observers = new Set<(o: { messages: WalletMessage[]; seqno?: number; ok: boolean }) => void>();
    private readonly sendTimeoutMs: number;
    private readonly sendPollMs: number;
    private readonly clock: SleepClock;

    constructor(
        private readonly chain: Chain,
        private readonly keys: KeyPair,
        opts: ChainWalletOptions = {},
    ) {
        this.contract = chain.open(WalletContractV4.create({ workchain: opts.workchain ?? 0, publicKey: keys.publicKey, walletId: opts.walletId }));
        this.address = this.contract.address;
        this.sendTimeoutMs = opts.sendTimeoutMs ?? 90_000;
        this.sendPollMs = opts.sendPollMs ?? 1_500;
        this.clock = opts.clock ?? systemClock;
    }

    static async fromMnemonic(chain: Chain, words: string[] | string, opts: ChainWalletOptions = {}): Promise<ChainWallet> {
        const list = typeof words === 'string' ? words.trim().split(/\s+/) : words;
        if (!(await mnemonicValidate(list))) throw new ChainError('CHAIN_SEND_INVALID', 'invalid wallet mnemonic');
        return new ChainWallet(chain, await mnemonicToPrivateKey(list), opts);
    }

    /** From a 64-byte Ed25519 secret key (seed ‖ public key). */
    static fromSecretKey(chain: Chain, secretKey: Buffer, opts: ChainWalletOptions = {}): ChainWallet {
        if (secretKey.length !== 64) throw new ChainError('CHAIN_SEND_INVALID', `wallet secret key must be 64 bytes, got ${secretKey.length}`);
        return new ChainWallet(chain, keyPairFromSecretKey(secretKey), opts);
    }

    get publicKey(): Buffer {
        return this.keys.publicKey;
    }

    /**
     * Ed25519 signature of a domain-tagged payload cell's hash with the wallet key: an off-chain authorization by the
     * wallet's owner (e.g. agents/core/worker-hello.ts), never a transfer (its tag is no subwallet id).
     */
    signPayload(payload: Cell): Buffer {
        return sign(payload.hash(), this.keys.secretKey);
    }

    getBalance(): Promise<bigint> {
        return this.chain.getBalance(this.address);
    }

    /** 0 while the wallet is not deployed (its first transfer deploys it). */
    getSeqno(): Promise<number> {
        return this.contract.getSeqno();
    }

    /**
     * Signs and sends up to 4 messages in one transfer; resolves with the seqno used once the wallet's
     * seqno advanced past it. Rejects with CHAIN_SEND_TIMEOUT if it did not within sendTimeoutMs (the
     * transfer's valid_until is the same deadline, so it cannot land later).
     */
    send(messages: WalletMessage[], opts: { sendMode?: SendMode } = {}): Promise<{ seqno: number }> {
        const run = this.queue.then(() => this.sendNow(messages, opts.sendMode ?? SendMode.PAY_GAS_SEPARATELY + SendMode.IGNORE_ERRORS));
        this.queue = run.catch(() => undefined);
        if (this.observers.size > 0) {
            const tell = (o: { seqno?: number; ok: boolean }) => this.observers.forEach((f) => f({ messages, ...o }));
            run.then((r) => tell({ seqno: r.seqno, ok: true }), () => tell({ ok: false }));
        }
        return run;
    }

    /** A @ton/core Sender for wrappers: `chain.open(ClientChannelWrapper.open(a)).sendTopUp(wallet.sender(), amount)`. */
    sender(): Sender {
        return {
            address: this.address,
            send: async (args: SenderArguments) => {
                await this.send([{ to: args.to, value: args.value, body: args.body, bounce: args.bounce, init: args.init }], args.sendMode == null ? {} : { sendMode: args.sendMode });
            },
        };
    }

    /**
     * The signed external body of a transfer with this seqno, valid until `deadline` (ms): what send() sends, and what a
     * fee estimate (toncenter estimateFee) prices without sending.
     */
    buildTransfer(seqno: number, messages: WalletMessage[], sendMode: SendMode = SendMode.PAY_GAS_SEPARATELY + SendMode.IGNORE_ERRORS, deadline = this.clock.now() + this.sendTimeoutMs): Cell {
        if (messages.length === 0 || messages.length > 4) throw new ChainError('CHAIN_SEND_INVALID', `a wallet v4 transfer carries 1..4 messages, got ${messages.length}`);
        const relaxed: MessageRelaxed[] = messages.map((m) =>
            internal({ to: m.to, value: m.value, body: m.body ?? undefined, bounce: m.bounce ?? true, init: m.init ?? undefined }),
        );
        return this.contract.createTransfer({ seqno, secretKey: this.keys.secretKey, messages: relaxed, sendMode, timeout: Math.floor(deadline / 1000) });
    }

    private async sendNow(messages: WalletMessage[], sendMode: SendMode): Promise<{ seqno: number }> {
        if (messages.length === 0 || messages.length > 4) throw new ChainError('CHAIN_SEND_INVALID', `a wallet v4 transfer carries 1..4 messages, got ${messages.length}`);
        const seqno = await this.getSeqno();
        const deadline = this.clock.now() + this.sendTimeoutMs;
        const transfer = this.buildTransfer(seqno, messages, sendMode, deadline);
        try {
            await this.contract.send(transfer);
        } catch (e) {
            // A retried sendBoc can fail after an earlier attempt got through: trust the seqno, not the error.
            if ((await this.getSeqno()) > seqno) return { seqno };
            throw e;
        }
        for (;;) {
            if ((await this.getSeqno()) > seqno) return { seqno };
            if (this.clock.now() >= deadline) {
                throw new ChainError('CHAIN_SEND_TIMEOUT', `wallet ${this.address.toString()} seqno ${seqno} did not advance within ${this.sendTimeoutMs} ms`, {
                    wallet: this.address.toRawString(),
                    seqno,
                });
            }
            await this.clock.sleep(this.sendPollMs);
        }
    }
}

/** Builds a TonChain from a loaded config. */
export function createTonChain(config: ChainConfig, opts: Omit<TonChainOptions, 'config'> = {}): TonChain {
    return new TonChain({ config, ...opts });
}
