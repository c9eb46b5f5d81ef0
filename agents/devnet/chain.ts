// The devnet's chain: one @ton/sandbox Blockchain plus what a toncenter node would know on top of it
// (a per-account transaction index, "blocks" and a faucet). Not safe for concurrent use: the server
// calls it from inside its request mutex only.
//
// Blocks: the sandbox has none, so every mutation that produced transactions (a sendBoc, a faucet
// payment) closes one block holding exactly those transactions. Block seqno s holds transactions
// [blocks[s-1].start, blocks[s].start). Masterchain and basechain blocks share the numbering.
import {
    Blockchain,
    BlockchainSnapshot,
    BlockchainTransaction,
    EmulationError,
    GetMethodError,
    SandboxContract,
    snapshotFromSerializable,
    snapshotToSerializable,
    TreasuryContract,
} from '@ton/sandbox';
import { AccountState, Address, beginCell, Cell, Dictionary, external, Message, StateInit, toNano, TupleItem } from '@ton/core';
import { createHash } from 'crypto';
import { bytes256 } from '../core/hex';
import { DevnetStateError } from './errors';

/** The JSON form of a sandbox snapshot (the package does not export the type by name). */
export type SerializableSnapshot = ReturnType<typeof snapshotToSerializable>;

export const FAUCET_SEED = 'cocoon-devnet-faucet';
export const STATE_FORMAT = 'cocoon-devnet-state';
export const STATE_VERSION = 1;
export const CONFIG_ADDRESS = Address.parse('-1:5555555555555555555555555555555555555555555555555555555555555555');
/** Refill the faucet treasury back to this when it runs low (it is a sandbox treasury, money is free). */
const FAUCET_REFILL = toNano('1000000');

/** The JSON written to the state file. */
export interface DevnetStateFile {
    format: typeof STATE_FORMAT;
    version: typeof STATE_VERSION;
    savedAt: string;
    /** One [first transaction index, unix time] pair per block, block seqno = position + 1. */
    blocks: [number, number][];
    snapshot: SerializableSnapshot;
}

export interface TxRecord {
    /** Position in the chain-wide transaction list (also the order of execution). */
    index: number;
    tx: BlockchainTransaction;
    account: Address;
    /** account.toRawString() */
    accountKey: string;
    hash: Buffer;
    block: number;
}

export interface AccountInfo {
    balance: bigint;
    state: AccountState | undefined;
    lastLt: bigint;
    lastHash: Buffer;
}

export interface GetMethodOutcome {
    exitCode: number;
    gasUsed: bigint;
    stack: TupleItem[];
}

export interface Fees {
    inFwdFee: bigint;
    storageFee: bigint;
    gasFee: bigint;
    fwdFee: bigint;
}

/** The chain refused a message (an external not accepted, an emulator failure). */
export class ChainRejection extends Error {}

/** Seconds between empty blocks (sealTime): about a masterchain block's interval. */
export const EMPTY_BLOCK_SECONDS = 5;

type TxListOwner = { transactions: BlockchainTransaction[] };

function quiet(bc: Blockchain) {
    bc.verbosity = { print: false, blockchainLogs: false, vmLogs: 'none', debugLogs: false };
}

export class DevnetChain {
    private records: TxRecord[] = [];
    private byAccount = new Map<string, number[]>();
    private blocks: { start: number; utime: number }[] = [];
    private lastNow = 0;
    private configDataCache?: { key: string; boc: string };
    private listeners: ((records: TxRecord[]) => void)[] = [];
    /** True when the state changed since the last toState(). */
    dirty = false;

    private constructor(
        readonly bc: Blockchain,
        private readonly faucetWallet: SandboxContract<TreasuryContract>,
    ) {}

    /** A fresh chain at unix time `now`. */
    static async create(now: number): Promise<DevnetChain> {
        const bc = await Blockchain.create();
        quiet(bc);
        bc.now = now;
        const faucet = await bc.treasury(FAUCET_SEED);
        const chain = new DevnetChain(bc, faucet);
        chain.lastNow = now;
        chain.blocks.push({ start: 0, utime: now });
        chain.syncIndex();
        chain.dirty = true;
        return chain;
    }

    /** A chain restored from the parsed contents of the state file at `path`. */
    static async restore(file: unknown, path: string): Promise<DevnetChain> {
        const corrupt = (reason: string) => new DevnetStateError('DEVNET_STATE_CORRUPT', path, reason);
        if (typeof file !== 'object' || file === null || Array.isArray(file)) throw corrupt('not a JSON object');
        const f = file as Partial<DevnetStateFile>;
        if (f.format !== STATE_FORMAT) throw corrupt(`"format" is not "${STATE_FORMAT}"`);
        if (f.version !== STATE_VERSION) throw corrupt(`unsupported "version" ${JSON.stringify(f.version)} (expected ${STATE_VERSION})`);
        const s = f.snapshot as Partial<SerializableSnapshot> | undefined;
        if (typeof s !== 'object' || s === null || !Array.isArray(s.contracts) || !Array.isArray(s.transactions) || typeof s.networkConfig !== 'string') {
            throw corrupt('"snapshot" is not a sandbox snapshot (contracts, transactions, networkConfig)');
        }
        const blocks = f.blocks;
        if (!Array.isArray(blocks) || blocks.length === 0) throw corrupt('"blocks" is not a non-empty array');
        let prev = -1;
        for (const b of blocks) {
            if (!Array.isArray(b) || b.length !== 2 || !Number.isSafeInteger(b[0]) || !Number.isSafeInteger(b[1]) || b[0] < 0 || b[0] < prev) {
                throw corrupt('"blocks" entries must be [first tx index, unix time] in order');
            }
            prev = b[0];
        }
        if (blocks[0][0] !== 0 || prev > s.transactions.length) throw corrupt('"blocks" do not match the snapshot\'s transactions');
        let snapshot: BlockchainSnapshot;
        const bc = await Blockchain.create();
        try {
            snapshot = snapshotFromSerializable(s as SerializableSnapshot);
            await bc.loadFrom(snapshot);
        } catch (e) {
            throw corrupt(`snapshot does not load: ${(e as Error).message}`);
        }
        quiet(bc);
        const faucet = await bc.treasury(FAUCET_SEED);
        const chain = new DevnetChain(bc, faucet);
        chain.lastNow = bc.now ?? 0;
        chain.blocks = blocks.map(([start, utime]) => ({ start, utime }));
        chain.syncIndex();
        return chain;
    }

    /** The state to persist; clears `dirty`. Accounts that were only looked at (never existed) are left out. */
    toState(): DevnetStateFile {
        const snap = this.bc.snapshot();
        snap.contracts = snap.contracts.filter((c) => c.account.account != null || c.account.lastTransactionLt !== 0n);
        this.dirty = false;
        return {
            format: STATE_FORMAT,
            version: STATE_VERSION,
            savedAt: new Date(this.lastNow * 1000).toISOString(),
            blocks: this.blocks.map((b) => [b.start, b.utime]),
            snapshot: snapshotToSerializable(snap),
        };
    }

    onTransactions(listener: (records: TxRecord[]) => void): () => void {
        this.listeners.push(listener);
        return () => {
            this.listeners = this.listeners.filter((l) => l !== listener);
        };
    }

    /** Sets the chain time from a clock (ms since the epoch); never moves it backwards. */
    setClock(ms: number) {
        this.lastNow = Math.max(this.lastNow, Math.floor(ms / 1000));
        this.bc.now = this.lastNow;
    }

    get now(): number {
        return this.lastNow;
    }

    get faucetAddress(): Address {
        return this.faucetWallet.address;
    }

    // ---- reads ----

    async account(address: Address): Promise<AccountInfo> {
        const c = await this.bc.getContract(address);
        return { balance: c.balance, state: c.accountState, lastLt: c.lastTransactionLt, lastHash: bytes256(c.lastTransactionHash) };
    }

    /** Base64 BOC of the config contract's data as the real one keeps it: ^config dict first (Blueprint's getConfig reads that). */
    configContractData(): string {
        const key = this.bc.configBase64;
        if (this.configDataCache?.key !== key) {
            const data = beginCell().storeRef(this.bc.config).storeUint(0, 32).storeUint(0, 256).endCell();
            this.configDataCache = { key, boc: data.toBoc().toString('base64') };
        }
        return this.configDataCache.boc;
    }

    configParam(id: number): Cell | undefined {
        const dict = this.bc.config.beginParse().loadDictDirect(Dictionary.Keys.Int(32), Dictionary.Values.Cell());
        return dict.get(id);
    }

    /**
     * Transactions of `address`, newest first, starting at the one with logical time `lt` (and hash
     * `hash` when given), stopping before `toLt` (exclusive) or after `limit`. Undefined when lt/hash
     * name no transaction of the account.
     */
    transactionsOf(address: Address, opts: { lt?: bigint; hash?: Buffer; toLt?: bigint; limit: number }): TxRecord[] | undefined {
        const list = this.byAccount.get(address.toRawString()) ?? [];
        let pos = list.length - 1;
        if (opts.lt !== undefined) {
            while (pos >= 0 && this.records[list[pos]].tx.lt > opts.lt) pos--;
            if (opts.hash !== undefined) {
                if (pos < 0 || this.records[list[pos]].tx.lt !== opts.lt || !this.records[list[pos]].hash.equals(opts.hash)) return undefined;
            }
        }
        const out: TxRecord[] = [];
        const toLt = opts.toLt ?? 0n;
        for (; pos >= 0 && out.length < opts.limit; pos--) {
            const r = this.records[list[pos]];
            if (r.tx.lt <= toLt) break;
            out.push(r);
        }
        return out;
    }

    /** The transaction on `destination` caused by the internal message `source` created at `createdLt`. */
    resultTx(source: Address, destination: Address, createdLt: bigint): TxRecord | undefined {
        for (const i of this.byAccount.get(destination.toRawString()) ?? []) {
            const info = this.records[i].tx.inMessage?.info;
            if (info?.type === 'internal' && info.createdLt === createdLt && info.src.equals(source)) return this.records[i];
        }
        return undefined;
    }

    /** The transaction on `source` that sent the message to `destination` created at `createdLt`. */
    sourceTx(source: Address, destination: Address, createdLt: bigint): TxRecord | undefined {
        for (const i of this.byAccount.get(source.toRawString()) ?? []) {
            for (const m of this.records[i].tx.outMessages.values()) {
                if (m.info.type === 'internal' && m.info.createdLt === createdLt && m.info.dest.equals(destination)) return this.records[i];
            }
        }
        return undefined;
    }

    async runGetMethod(address: Address, method: string | number, stack: TupleItem[]): Promise<GetMethodOutcome> {
        const c = await this.bc.getContract(address);
        if (c.accountState?.type !== 'active') return { exitCode: -13, gasUsed: 0n, stack: [] };
        try {
            const r = await this.bc.runGetMethod(address, method, stack);
            return { exitCode: r.exitCode, gasUsed: r.gasUsed, stack: r.stack };
        } catch (e) {
            if (e instanceof GetMethodError) return { exitCode: e.exitCode, gasUsed: e.gasUsed, stack: [] };
            throw new ChainRejection(`get method failed: ${(e as Error).message}`);
        }
    }

    /** Emulates an external message to `address` without keeping its effects. */
    async estimateFee(address: Address, body: Cell, init: StateInit | undefined, ignoreChksig: boolean): Promise<Fees> {
        const c = await this.bc.getContract(address);
        const saved = c.snapshot();
        try {
            const tx = await c.receiveMessage(external({ to: address, init, body }), { ignoreChksig, now: this.lastNow });
            const d = tx.description;
            if (d.type !== 'generic') throw new ChainRejection(`unexpected transaction type ${d.type}`);
            const storageFee = d.storagePhase?.storageFeesCollected ?? 0n;
            const gasFee = d.computePhase.type === 'vm' ? d.computePhase.gasFees : 0n;
            const actionFees = d.actionPhase?.totalActionFees ?? 0n;
            const inFwdFee = tx.totalFees.coins - storageFee - gasFee - actionFees;
            return { inFwdFee: inFwdFee > 0n ? inFwdFee : 0n, storageFee, gasFee, fwdFee: d.actionPhase?.totalFwdFees ?? 0n };
        } catch (e) {
            if (e instanceof ChainRejection) throw e;
            throw new ChainRejection(rejectionText(e));
        } finally {
            c.loadFrom(saved);
        }
    }

    // ---- writes ----

    /** Executes an external-in message and everything it causes. */
    async sendExternal(message: Message): Promise<TxRecord[]> {
        try {
            await this.bc.sendMessage(message);
        } catch (e) {
            this.commitBlock();
            throw new ChainRejection(rejectionText(e));
        }
        return this.commitBlock();
    }

    /** Sends `amount` from the faucet treasury (non-bounceable, so it also funds undeployed wallets). */
    async faucet(to: Address, amount: bigint): Promise<TxRecord[]> {
        const c = await this.bc.getContract(this.faucetWallet.address);
        if (c.balance < amount + toNano('10')) c.balance = FAUCET_REFILL;
        this.dirty = true;
        try {
            await this.faucetWallet.send({ to, value: amount, bounce: false });
        } catch (e) {
            this.commitBlock();
            throw new ChainRejection(rejectionText(e));
        }
        return this.commitBlock();
    }

    /**
     * Runs `fn` against the sandbox directly (in-process set-ups: tests, demo wiring), then indexes
     * whatever transactions it caused as one block.
     */
    async mutate<T>(fn: (bc: Blockchain) => Promise<T>): Promise<T> {
        try {
            return await fn(this.bc);
        } finally {
            this.dirty = true;
            this.commitBlock();
            this.bc.now = this.lastNow;
        }
    }

    // ---- blocks ----

    get latestSeqno(): number {
        return this.blocks.length;
    }

    /**
     * Closes an empty block when the chain time moved past the latest block's, as a real masterchain produces a block
     * every few seconds whether or not anything happened: the latest block's time is then the chain's clock.
     */
    sealTime(): void {
        const last = this.blocks[this.blocks.length - 1];
        // A block at most every EMPTY_BLOCK_SECONDS, as a masterchain's: the chain's time lags the clock as it would there,
        // and a poller does not grow the block list (and the state file) every second.
        if (last && this.lastNow - last.utime < EMPTY_BLOCK_SECONDS) return;
        this.blocks.push({ start: this.records.length, utime: this.lastNow });
        this.dirty = true;
    }

    blockTime(seqno: number): number | undefined {
        return this.blocks[seqno - 1]?.utime;
    }

    /** Transactions of block `seqno` (any workchain), in execution order. */
    blockRecords(seqno: number): TxRecord[] {
        const b = this.blocks[seqno - 1];
        if (!b) return [];
        const end = this.blocks[seqno]?.start ?? this.records.length;
        return this.records.slice(b.start, end);
    }

    /** Deterministic stand-in block hashes: sha256 over the workchain, seqno and the block's transaction hashes. */
    blockHashes(workchain: number, seqno: number): { rootHash: Buffer; fileHash: Buffer } {
        const h = createHash('sha256').update(`cocoon-devnet-block:${workchain}:${seqno}`);
        for (const r of this.blockRecords(seqno)) h.update(r.hash);
        const rootHash = h.digest();
        return { rootHash, fileHash: createHash('sha256').update(rootHash).digest() };
    }

    // ---- internals ----

    private commitBlock(): TxRecord[] {
        const fresh = this.syncIndex();
        if (fresh.length === 0) return fresh;
        this.blocks.push({ start: fresh[0].index, utime: this.lastNow });
        for (const r of fresh) r.block = this.blocks.length;
        this.dirty = true;
        for (const l of this.listeners) {
            try {
                l(fresh);
            } catch {
                // a listener's failure is the listener's problem
            }
        }
        return fresh;
    }

    /** Indexes transactions the sandbox recorded since the last call. */
    private syncIndex(): TxRecord[] {
        const all = (this.bc as unknown as TxListOwner).transactions;
        const fresh: TxRecord[] = [];
        let blockIdx = 0;
        for (let i = this.records.length; i < all.length; i++) {
            const tx = all[i];
            // The emulator's logs are not served and would dominate memory and the state file.
            tx.blockchainLogs = '';
            tx.vmLogs = '';
            tx.debugLogs = '';
            const dest = tx.inMessage?.info.dest;
            const account = Address.isAddress(dest) ? dest : new Address(-1, bytes256(tx.address));
            while (blockIdx + 1 < this.blocks.length && this.blocks[blockIdx + 1].start <= i) blockIdx++;
            const rec: TxRecord = { index: i, tx, account, accountKey: account.toRawString(), hash: tx.hash(), block: blockIdx + 1 };
            this.records.push(rec);
            let list = this.byAccount.get(rec.accountKey);
            if (!list) this.byAccount.set(rec.accountKey, (list = []));
            list.push(i);
            fresh.push(rec);
        }
        return fresh;
    }
}

function rejectionText(e: unknown): string {
    if (e instanceof EmulationError) {
        return `cannot apply external message to current state: ${e.error}${e.exitCode !== undefined ? ` (exit code ${e.exitCode})` : ''}`;
    }
    return (e as Error)?.message ?? String(e);
}
