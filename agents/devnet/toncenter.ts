// The toncenter v2 methods over a DevnetChain, with request/response shapes as @ton/ton's HttpApi
// sends and validates them (node_modules/@ton/ton/dist/client/api/HttpApi.js), plus `devFaucet`.
// Every method takes the JSON-RPC `params` object (or the query string of the GET form, whose
// values are strings) and returns the `result`; bad input throws RpcError(422).
import { Address, beginCell, Cell, loadMessage, Message, storeMessage, storeStateInit, toNano } from '@ton/core';
import { WalletContractV3R1, WalletContractV3R2, WalletContractV4, WalletContractV5R1 } from '@ton/ton';
import { bytes256 } from '../core/hex';
import { ChainRejection, CONFIG_ADDRESS, DevnetChain, TxRecord } from './chain';
import { RpcError } from './errors';
import { decodeStack, encodeStack, parseInteger } from './stack';

export type Params = Record<string, unknown>;
type Method = (p: Params) => Promise<unknown>;

/** Shard id of the single shard of each workchain ("8000000000000000" as a signed int64). */
export const SHARD_ALL = '-9223372036854775808';
const ZERO_HASH_B64 = Buffer.alloc(32).toString('base64');
const MAX_TX_LIMIT = 1000;

export interface ToncenterOptions {
    /** Cap on one devFaucet payment, nanoTON. */
    faucetMaxPerRequest: bigint;
}

// ---- params ----

function str(p: Params, key: string): string | undefined {
    const v = p[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new RpcError(422, `${key}: expected a string`);
    return v;
}

function reqStr(p: Params, key: string): string {
    const v = str(p, key);
    if (v === undefined) throw new RpcError(422, `${key}: required`);
    return v;
}

function addr(p: Params, key: string): Address {
    const v = reqStr(p, key);
    try {
        return Address.parse(v);
    } catch {
        throw new RpcError(422, `${key}: not a TON address: ${JSON.stringify(v.slice(0, 80))}`);
    }
}

function bigintParam(p: Params, key: string): bigint | undefined {
    const v = p[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v === 'number') {
        if (!Number.isSafeInteger(v)) throw new RpcError(422, `${key}: not an integer`);
        return BigInt(v);
    }
    if (typeof v !== 'string') throw new RpcError(422, `${key}: expected an integer`);
    return parseInteger(v, key);
}

function intParam(p: Params, key: string, dflt: number, min: number, max: number): number {
    const v = bigintParam(p, key);
    if (v === undefined) return dflt;
    if (v < BigInt(min) || v > BigInt(max)) throw new RpcError(422, `${key}: must be between ${min} and ${max}`);
    return Number(v);
}

function boolParam(p: Params, key: string, dflt: boolean): boolean {
    const v = p[key];
    if (v === undefined || v === null || v === '') return dflt;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === '1' || v === 1) return true;
    if (v === 'false' || v === '0' || v === 0) return false;
    throw new RpcError(422, `${key}: expected true or false`);
}

/** A 32-byte hash given as 64 hex digits or base64 (standard or url-safe). */
function hashParam(p: Params, key: string): Buffer | undefined {
    const v = str(p, key);
    if (v === undefined) return undefined;
    if (/^[0-9a-fA-F]{64}$/.test(v)) return Buffer.from(v, 'hex');
    if (/^[A-Za-z0-9+/_-]{43}=?$/.test(v)) return Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    throw new RpcError(422, `${key}: expected a 32-byte hash in hex or base64`);
}

function bocParam(p: Params, key: string, required: true): Cell;
function bocParam(p: Params, key: string, required: false): Cell | undefined;
function bocParam(p: Params, key: string, required: boolean): Cell | undefined {
    const v = required ? reqStr(p, key) : str(p, key);
    if (v === undefined) return undefined;
    try {
        const cells = Cell.fromBoc(Buffer.from(v, 'base64'));
        if (cells.length !== 1) throw new Error(`${cells.length} roots`);
        return cells[0];
    } catch (e) {
        throw new RpcError(422, `${key}: not a valid base64 BOC (${(e as Error).message})`);
    }
}

// ---- results ----

function b64(cell: Cell): string {
    return cell.toBoc().toString('base64');
}

function friendly(a: Address): string {
    return a.toString({ urlSafe: true, bounceable: true });
}

function txId(lt: bigint, hash: Buffer) {
    return { '@type': 'internal.transactionId', lt: lt.toString(), hash: hash.toString('base64') };
}

function messageJson(m: Message) {
    const info = m.info;
    const common = {
        '@type': 'raw.message',
        hash: beginCell().store(storeMessage(m)).endCell().hash().toString('base64'),
        body_hash: m.body.hash().toString('base64'),
        msg_data: {
            '@type': 'msg.dataRaw',
            body: b64(m.body),
            init_state: m.init ? b64(beginCell().store(storeStateInit(m.init)).endCell()) : '',
        },
        message: '',
    };
    switch (info.type) {
        case 'internal':
            return {
                ...common,
                source: friendly(info.src),
                destination: friendly(info.dest),
                value: info.value.coins.toString(),
                fwd_fee: info.forwardFee.toString(),
                ihr_fee: info.ihrFee.toString(),
                created_lt: info.createdLt.toString(),
            };
        case 'external-in':
            return { ...common, source: '', destination: friendly(info.dest), value: '0', fwd_fee: '0', ihr_fee: '0', created_lt: '0' };
        case 'external-out':
            return { ...common, source: friendly(info.src), destination: '', value: '0', fwd_fee: '0', ihr_fee: '0', created_lt: info.createdLt.toString() };
    }
}

function transactionJson(r: TxRecord) {
    const tx = r.tx;
    const d = tx.description;
    const storage = d.type === 'generic' || d.type === 'tick-tock' ? (d.storagePhase?.storageFeesCollected ?? 0n) : 0n;
    const fee = tx.totalFees.coins;
    return {
        '@type': 'raw.transaction',
        address: { '@type': 'accountAddress', account_address: friendly(r.account) },
        utime: tx.now,
        data: b64(tx.raw),
        transaction_id: txId(tx.lt, r.hash),
        fee: fee.toString(),
        storage_fee: storage.toString(),
        other_fee: (fee - storage).toString(),
        ...(tx.inMessage ? { in_msg: messageJson(tx.inMessage) } : {}),
        out_msgs: [...tx.outMessages.values()].map(messageJson),
    };
}

function normalizedExternalHash(m: Message): Buffer {
    if (m.info.type !== 'external-in') throw new Error('not external-in');
    const normalized: Message = { ...m, init: null, info: { ...m.info, src: undefined, importFee: 0n } };
    return beginCell().store(storeMessage(normalized, { forceRef: true })).endCell().hash();
}

const WALLET_TYPES: [string, Buffer][] = (() => {
    const publicKey = Buffer.alloc(32);
    return [
        ['wallet v3 r1', WalletContractV3R1.create({ workchain: 0, publicKey }).init.code.hash()],
        ['wallet v3 r2', WalletContractV3R2.create({ workchain: 0, publicKey }).init.code.hash()],
        ['wallet v4 r2', WalletContractV4.create({ workchain: 0, publicKey }).init.code.hash()],
        ['wallet v5 r1', WalletContractV5R1.create({ publicKey }).init.code.hash()],
    ];
})();

export class ToncenterApi {
    private readonly methods = new Map<string, Method>();

    constructor(
        private readonly chain: DevnetChain,
        private readonly options: ToncenterOptions,
    ) {
        const m = this.methods;
        m.set('getAddressInformation', (p) => this.getAddressInformation(p));
        m.set('getAddressBalance', async (p) => (await this.chain.account(addr(p, 'address'))).balance.toString());
        m.set('getAddressState', async (p) => (await this.getAddressInformation(p)).state);
        m.set('getWalletInformation', (p) => this.getWalletInformation(p));
        m.set('runGetMethod', (p) => this.runGetMethod(p));
        m.set('getTransactions', (p) => this.getTransactions(p));
        m.set('sendBoc', async (p) => {
            await this.sendBoc(p);
            return { '@type': 'ok', '@extra': '' };
        });
        m.set('sendBocReturnHash', (p) => this.sendBoc(p));
        m.set('estimateFee', (p) => this.estimateFee(p));
        m.set('getMasterchainInfo', async () => this.getMasterchainInfo());
        m.set('getBlockHeader', async (p) => this.getBlockHeader(p));
        m.set('shards', async (p) => this.shards(p));
        m.set('getBlockTransactions', async (p) => this.getBlockTransactions(p));
        m.set('getConfigParam', async (p) => this.getConfigParam(p));
        m.set('getConfigAll', async () => ({ '@type': 'configInfo', config: { '@type': 'tvm.cell', bytes: this.chain.bc.configBase64 } }));
        m.set('tryLocateTx', async (p) => this.tryLocate(p, 'result'));
        m.set('tryLocateResultTx', async (p) => this.tryLocate(p, 'result'));
        m.set('tryLocateSourceTx', async (p) => this.tryLocate(p, 'source'));
        m.set('devFaucet', (p) => this.devFaucet(p));
    }

    has(method: string): boolean {
        return this.methods.has(method);
    }

    /** Runs one method; the caller serializes calls. */
    async call(method: string, params: Params): Promise<unknown> {
        const fn = this.methods.get(method);
        if (!fn) throw new RpcError(404, `method not found: ${JSON.stringify(method.slice(0, 80))}`);
        try {
            return await fn(params);
        } catch (e) {
            if (e instanceof ChainRejection) throw new RpcError(500, `LITE_SERVER_UNKNOWN: ${e.message}`);
            throw e;
        }
    }

    private blockId(workchain: number, seqno: number) {
        const { rootHash, fileHash } = this.chain.blockHashes(workchain, seqno);
        return {
            '@type': 'ton.blockIdExt',
            workchain,
            shard: SHARD_ALL,
            seqno,
            root_hash: rootHash.toString('base64'),
            file_hash: fileHash.toString('base64'),
        };
    }

    private async getAddressInformation(p: Params) {
        const address = addr(p, 'address');
        const a = await this.chain.account(address);
        let state: 'active' | 'uninitialized' | 'frozen' = 'uninitialized';
        let code = '';
        let data = '';
        let frozenHash = '';
        if (a.state?.type === 'active') {
            state = 'active';
            code = a.state.state.code ? b64(a.state.state.code) : '';
            data = a.state.state.data ? b64(a.state.state.data) : '';
        } else if (a.state?.type === 'frozen') {
            state = 'frozen';
            frozenHash = bytes256(a.state.stateHash).toString('base64');
        } else if (address.equals(CONFIG_ADDRESS)) {
            // The sandbox keeps the config outside any account; show it as the config contract's data.
            state = 'active';
            code = b64(beginCell().endCell());
            data = this.chain.configContractData();
        }
        return {
            '@type': 'raw.fullAccountState',
            balance: a.balance.toString(),
            extra_currencies: [],
            code,
            data,
            last_transaction_id: a.lastLt === 0n ? txId(0n, Buffer.alloc(32)) : txId(a.lastLt, a.lastHash),
            block_id: this.blockId(address.workChain, this.chain.latestSeqno),
            frozen_hash: frozenHash,
            sync_utime: this.chain.now,
            state,
        };
    }

    private async getWalletInformation(p: Params) {
        const address = addr(p, 'address');
        const a = await this.chain.account(address);
        const state = a.state?.type === 'active' ? 'active' : a.state?.type === 'frozen' ? 'frozen' : 'uninitialized';
        const out: Record<string, unknown> = {
            '@type': 'ext.walletInformation',
            wallet: false,
            balance: a.balance.toString(),
            account_state: state,
            last_transaction_id: a.lastLt === 0n ? txId(0n, Buffer.alloc(32)) : txId(a.lastLt, a.lastHash),
        };
        if (a.state?.type !== 'active' || !a.state.state.code) return out;
        const codeHash = a.state.state.code.hash();
        const type = WALLET_TYPES.find(([, h]) => h.equals(codeHash));
        if (!type) return out;
        out.wallet = true;
        out.wallet_type = type[0];
        const seqno = await this.chain.runGetMethod(address, 'seqno', []);
        if (seqno.exitCode === 0 && seqno.stack[0]?.type === 'int') out.seqno = Number(seqno.stack[0].value);
        const id = await this.chain.runGetMethod(address, 'get_subwallet_id', []);
        if (id.exitCode === 0 && id.stack[0]?.type === 'int') out.wallet_id = Number(id.stack[0].value);
        return out;
    }

    private async runGetMethod(p: Params) {
        const address = addr(p, 'address');
        const raw = p.method;
        let method: string | number;
        if (typeof raw === 'number' && Number.isSafeInteger(raw)) method = raw;
        else if (typeof raw === 'string' && /^-?[0-9]+$/.test(raw)) method = Number(raw);
        else if (typeof raw === 'string' && raw.length > 0 && raw.length <= 128) method = raw;
        else throw new RpcError(422, 'method: expected a get-method name or id');
        let stackParam = p.stack;
        if (typeof stackParam === 'string') {
            try {
                stackParam = JSON.parse(stackParam);
            } catch {
                throw new RpcError(422, 'stack: not JSON');
            }
        }
        const stack = decodeStack(stackParam);
        const r = await this.chain.runGetMethod(address, method, stack);
        const a = await this.chain.account(address);
        return {
            '@type': 'smc.runResult',
            gas_used: Number(r.gasUsed),
            stack: encodeStack(r.stack),
            exit_code: r.exitCode,
            block_id: this.blockId(address.workChain, this.chain.latestSeqno),
            last_transaction_id: txId(a.lastLt, a.lastHash),
        };
    }

    private async getTransactions(p: Params) {
        const address = addr(p, 'address');
        const limit = Math.min(intParam(p, 'limit', 10, 1, Number.MAX_SAFE_INTEGER), MAX_TX_LIMIT);
        const lt = bigintParam(p, 'lt');
        const hash = hashParam(p, 'hash');
        const toLt = bigintParam(p, 'to_lt');
        if (hash !== undefined && lt === undefined) throw new RpcError(422, 'hash: given without lt');
        boolParam(p, 'archival', false); // every transaction is kept; accepted for compatibility
        const txs = this.chain.transactionsOf(address, { lt, hash, toLt, limit });
        if (!txs) throw new RpcError(404, `transaction ${lt}:${hash?.toString('hex')} of ${address.toRawString()} not found`);
        return txs.map(transactionJson);
    }

    private parseExternal(p: Params): { message: Message; cell: Cell } {
        const cell = bocParam(p, 'boc', true);
        let message: Message;
        try {
            message = loadMessage(cell.beginParse());
        } catch (e) {
            throw new RpcError(422, `boc: not a message (${(e as Error).message})`);
        }
        if (message.info.type !== 'external-in') throw new RpcError(422, `boc: only external-in messages can be sent, got ${message.info.type}`);
        return { message, cell };
    }

    private async sendBoc(p: Params) {
        const { message, cell } = this.parseExternal(p);
        await this.chain.sendExternal(message);
        return {
            '@type': 'raw.extMessageInfo',
            hash: cell.hash().toString('base64'),
            hash_norm: normalizedExternalHash(message).toString('base64'),
        };
    }

    private async estimateFee(p: Params) {
        const address = addr(p, 'address');
        const body = bocParam(p, 'body', true);
        const code = bocParam(p, 'init_code', false);
        const data = bocParam(p, 'init_data', false);
        const fees = await this.chain.estimateFee(address, body, code && data ? { code, data } : undefined, boolParam(p, 'ignore_chksig', true));
        return {
            '@type': 'query.fees',
            source_fees: {
                '@type': 'fees',
                in_fwd_fee: Number(fees.inFwdFee),
                storage_fee: Number(fees.storageFee),
                gas_fee: Number(fees.gasFee),
                fwd_fee: Number(fees.fwdFee),
            },
            destination_fees: [],
        };
    }

    private getMasterchainInfo() {
        this.chain.sealTime();
        const last = this.blockId(-1, this.chain.latestSeqno);
        return {
            '@type': 'blocks.masterchainInfo',
            last,
            state_root_hash: last.root_hash,
            init: { '@type': 'ton.blockIdExt', workchain: -1, shard: SHARD_ALL, seqno: 0, root_hash: ZERO_HASH_B64, file_hash: ZERO_HASH_B64 },
        };
    }

    private seqnoParam(p: Params): number {
        const seqno = intParam(p, 'seqno', this.chain.latestSeqno, 1, Number.MAX_SAFE_INTEGER);
        if (seqno > this.chain.latestSeqno) throw new RpcError(404, `block ${seqno} not found (latest is ${this.chain.latestSeqno})`);
        return seqno;
    }

    /** The header fields toncenter's `blocks.header` carries that the devnet knows: the block id and its time. */
    private getBlockHeader(p: Params) {
        const workchain = intParam(p, 'workchain', 0, -1, 0);
        if (p.workchain === undefined) throw new RpcError(422, 'workchain: required');
        const shard = str(p, 'shard') ?? (typeof p.shard === 'number' ? String(p.shard) : undefined);
        if (shard !== undefined && shard !== SHARD_ALL && shard.toLowerCase() !== '8000000000000000') {
            throw new RpcError(404, `shard ${shard} not found (the devnet has one shard per workchain, ${SHARD_ALL})`);
        }
        if (p.seqno === undefined) throw new RpcError(422, 'seqno: required');
        const seqno = this.seqnoParam(p);
        return {
            '@type': 'blocks.header',
            id: this.blockId(workchain, seqno),
            global_id: this.chain.configParam(19)?.beginParse().loadInt(32) ?? 0,
            version: 0,
            after_merge: false,
            after_split: false,
            before_split: false,
            want_merge: false,
            want_split: false,
            validator_list_hash_short: 0,
            catchain_seqno: 0,
            min_ref_mc_seqno: Math.max(1, seqno - 1),
            is_key_block: false,
            prev_key_block_seqno: 0,
            start_lt: '0',
            end_lt: '0',
            gen_utime: this.chain.blockTime(seqno),
            prev_blocks: seqno > 1 ? [this.blockId(workchain, seqno - 1)] : [],
        };
    }

    private shards(p: Params) {
        return { '@type': 'blocks.shards', shards: [this.blockId(0, this.seqnoParam(p))] };
    }

    private getBlockTransactions(p: Params) {
        const workchain = intParam(p, 'workchain', 0, -1, 0);
        const seqno = this.seqnoParam(p);
        const shard = str(p, 'shard') ?? (typeof p.shard === 'number' ? String(p.shard) : undefined);
        if (shard !== undefined && shard !== SHARD_ALL && shard.toLowerCase() !== '8000000000000000') {
            throw new RpcError(404, `shard ${shard} not found (the devnet has one shard per workchain, ${SHARD_ALL})`);
        }
        const count = intParam(p, 'count', 1024, 1, 1024);
        const afterLt = bigintParam(p, 'after_lt');
        let recs = this.chain.blockRecords(seqno).filter((r) => r.account.workChain === workchain);
        if (afterLt !== undefined) recs = recs.filter((r) => r.tx.lt > afterLt);
        return {
            '@type': 'blocks.transactions',
            id: this.blockId(workchain, seqno),
            req_count: count,
            incomplete: recs.length > count,
            transactions: recs.slice(0, count).map((r) => ({
                '@type': 'blocks.shortTxId',
                mode: 135,
                account: r.account.toRawString(),
                lt: r.tx.lt.toString(),
                hash: r.hash.toString('base64'),
            })),
        };
    }

    private getConfigParam(p: Params) {
        const id = intParam(p, 'config_id', -1, -(2 ** 31), 2 ** 31 - 1);
        if (p.config_id === undefined) throw new RpcError(422, 'config_id: required');
        const cell = this.chain.configParam(id);
        if (!cell) throw new RpcError(404, `config param ${id} not set`);
        return { '@type': 'configInfo', config: { '@type': 'tvm.cell', bytes: b64(cell) } };
    }

    private tryLocate(p: Params, which: 'result' | 'source') {
        const source = addr(p, 'source');
        const destination = addr(p, 'destination');
        const createdLt = bigintParam(p, 'created_lt');
        if (createdLt === undefined) throw new RpcError(422, 'created_lt: required');
        const r = which === 'result' ? this.chain.resultTx(source, destination, createdLt) : this.chain.sourceTx(source, destination, createdLt);
        if (!r) throw new RpcError(404, 'transaction not found');
        return transactionJson(r);
    }

    private async devFaucet(p: Params) {
        const to = addr(p, 'address');
        const amount = bigintParam(p, 'amount');
        if (amount === undefined) throw new RpcError(422, 'amount: required (nanoTON)');
        const max = this.options.faucetMaxPerRequest;
        if (amount <= 0n || amount > max) throw new RpcError(422, `amount: must be between 1 and ${max} nanoTON (${Number(max / toNano('1'))} TON) per request`);
        const recs = await this.chain.faucet(to, amount);
        const rec = recs.find((r) => r.account.equals(to));
        if (!rec) throw new RpcError(500, 'faucet transfer produced no transaction on the recipient');
        return {
            '@type': 'dev.faucetResult',
            address: friendly(to),
            amount: amount.toString(),
            transaction_id: txId(rec.tx.lt, rec.hash),
            balance: (await this.chain.account(to)).balance.toString(),
        };
    }
}
