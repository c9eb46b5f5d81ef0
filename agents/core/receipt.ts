// Usage receipts (spec/payments.md, "Receipts"): the worker signs one per request; the client checks it against
// Root's prices and its own coefficient cap before it signs its next cumulative voucher; the proxy books it.
// Canonical form: a TON cell (like the contracts' signed payloads), signed with Ed25519 over the cell hash.
import { beginCell, Cell } from '@ton/core';
import { createHash } from 'crypto';
import { bytes256, hex256 } from './hex';
import { Ed25519KeyError, ed25519Sign, ed25519Verify } from './ed25519';
import { CocoonError } from './errors';
import { UsageBounds, usageExcess } from './metering';
import { cost, MAX_COEFFICIENT, MAX_COINS, MAX_TOKENS, ModelPrices, PricingError, TOKEN_KINDS, TokenUsage } from './pricing';

export const ReceiptErrorCodes = [
    'RECEIPT_MALFORMED', // the wire form does not decode to exactly one canonical receipt, or a field is out of range
    'RECEIPT_BAD_SIGNATURE', // the signature does not verify under the expected worker key
    'RECEIPT_MISMATCH', // signer, request id, model id or usage differ from what the checker expects
    'RECEIPT_COEFFICIENT_TOO_HIGH', // the receipt's coefficient exceeds the client's cap
    'RECEIPT_COST_MISMATCH', // cost != pricing.cost(usage, Root's prices, coefficient)
    'RECEIPT_USAGE_BOUND', // usage beyond the request's bounds: completion + reasoning > maxTokens or the text streamed, prompt > context
    'RECEIPT_COST_CAP', // cost above the checker's per-request cap
] as const;
export type ReceiptErrorCode = (typeof ReceiptErrorCodes)[number];

export class ReceiptError extends CocoonError<ReceiptErrorCode> {}

/** "cor6": usage receipt, signed by the worker. Distinct from every contract tag (cov1 cow2 coc3 cop4 cof5). */
export const TagReceipt = 0x636f7236;
/** Upper bound on the base64 wire form; a valid receipt is ~300 characters. */
export const MAX_RECEIPT_BASE64 = 2048;

export interface Receipt {
    /** 256-bit request id chosen by the requester; the client checks it is its own request. */
    requestId: bigint;
    /** Root's model id = sha256(model name) (wrappers/payloads.ts modelId). */
    modelId: bigint;
    /** The worker's Ed25519 public key (the key that signs) as uint256. */
    worker: bigint;
    /** The worker's bid; COEFFICIENT_ONE (1000) = 1.0x. */
    coefficient: bigint;
    /** nanoTON, = pricing.cost(usage, prices, coefficient). */
    cost: bigint;
    /** Unix seconds. */
    issuedAt: number;
    usage: TokenUsage;
}

export interface SignedReceipt {
    receipt: Receipt;
    /** 64-byte Ed25519 signature over receiptCell(receipt).hash(). */
    signature: Buffer;
}

const malformed = (message: string, details?: Record<string, unknown>) => new ReceiptError('RECEIPT_MALFORMED', message, details);

function keyToUint(key: Buffer | bigint, field: string): bigint {
    if (typeof key === 'bigint') return key;
    if (!Buffer.isBuffer(key) || key.length !== 32) throw malformed(`${field} must be a 32-byte Ed25519 public key`, { field });
    return BigInt('0x' + key.toString('hex'));
}

function checkRange(v: unknown, max: bigint, field: string): void {
    if (typeof v !== 'bigint' || v < 0n || v > max) throw malformed(`${field} must be a bigint in 0..${max}`, { field });
}

function checkFields(r: Receipt): void {
    const U256 = (1n << 256n) - 1n;
    checkRange(r.requestId, U256, 'requestId');
    checkRange(r.modelId, U256, 'modelId');
    checkRange(r.worker, U256, 'worker');
    checkRange(r.coefficient, MAX_COEFFICIENT, 'coefficient');
    checkRange(r.cost, MAX_COINS, 'cost');
    if (!Number.isSafeInteger(r.issuedAt) || r.issuedAt < 0 || r.issuedAt > 0xffffffff) throw malformed('issuedAt must be a uint32 (unix seconds)', { field: 'issuedAt' });
    if (typeof r.usage !== 'object' || r.usage === null) throw malformed('usage must be an object', { field: 'usage' });
    for (const k of TOKEN_KINDS) checkRange(r.usage[k], MAX_TOKENS, `usage.${k}`);
}

export interface BuildReceiptParams {
    requestId: bigint;
    modelId: bigint;
    /** The signing worker's Ed25519 public key (32 bytes) or its uint256. */
    worker: Buffer | bigint;
    usage: TokenUsage;
    prices: ModelPrices;
    coefficient: bigint;
    /** Unix seconds. */
    issuedAt: number;
}

/** A receipt whose cost is computed by the one pricing function. Throws PricingError / RECEIPT_MALFORMED on bad fields. */
export function buildReceipt(p: BuildReceiptParams): Receipt {
    const r: Receipt = {
        requestId: p.requestId,
        modelId: p.modelId,
        worker: keyToUint(p.worker, 'worker'),
        coefficient: p.coefficient,
        cost: cost(p.usage, p.prices, p.coefficient),
        issuedAt: p.issuedAt,
        usage: { prompt: p.usage.prompt, cached: p.usage.cached, completion: p.usage.completion, reasoning: p.usage.reasoning },
    };
    checkFields(r);
    return r;
}

/**
 * receipt$_ tag:uint32 requestId:uint256 modelId:uint256 worker:uint256 coefficient:uint32 cost:Coins issuedAt:uint32
 *           usage:^Usage = Receipt;
 * usage$_ prompt:uint64 cached:uint64 completion:uint64 reasoning:uint64 = Usage;
 */
export function receiptCell(r: Receipt): Cell {
    checkFields(r);
    const usage = beginCell()
        .storeUint(r.usage.prompt, 64)
        .storeUint(r.usage.cached, 64)
        .storeUint(r.usage.completion, 64)
        .storeUint(r.usage.reasoning, 64)
        .endCell();
    return beginCell()
        .storeUint(TagReceipt, 32)
        .storeUint(r.requestId, 256)
        .storeUint(r.modelId, 256)
        .storeUint(r.worker, 256)
        .storeUint(r.coefficient, 32)
        .storeCoins(r.cost)
        .storeUint(r.issuedAt, 32)
        .storeRef(usage)
        .endCell();
}

/**
 * Signs receiptCell(receipt).hash() with the worker's 64-byte Ed25519 secret key, whose public half must be
 * `receipt.worker` (the hash from receiptHash, the direct codec).
 */
export function signReceipt(receipt: Receipt, workerSecretKey: Buffer): SignedReceipt {
    if (!Buffer.isBuffer(workerSecretKey) || workerSecretKey.length !== 64) throw malformed('worker secret key must be 64 bytes (Ed25519 seed || public key)');
    if (keyToUint(workerSecretKey.subarray(32), 'worker') !== receipt.worker)
        throw new ReceiptError('RECEIPT_MISMATCH', 'receipt.worker is not the public key of the signing secret key', { field: 'worker' });
    try {
        return { receipt, signature: ed25519Sign(receiptHash(receipt), workerSecretKey) };
    } catch (e) {
        if (e instanceof Ed25519KeyError) throw malformed(`worker secret key: ${e.message}`);
        throw e;
    }
}

/** signed_receipt$_ signature:bits512 receipt:^Receipt = SignedReceipt; */
export function signedReceiptCell(s: SignedReceipt, cell: Cell = receiptCell(s.receipt)): Cell {
    if (!Buffer.isBuffer(s.signature) || s.signature.length !== 64) throw malformed('signature must be 64 bytes', { field: 'signature' });
    return beginCell().storeBuffer(s.signature).storeRef(cell).endCell();
}

/**
 * Wire form: standard base64 (with padding) of the BOC of signedReceiptCell (one root, no index, no CRC); the only
 * accepted form. Written by the direct codec below.
 */
export function encodeReceipt(s: SignedReceipt): string {
    if (!Buffer.isBuffer(s.signature) || s.signature.length !== 64) throw malformed('signature must be 64 bytes', { field: 'signature' });
    return canonicalBoc(s.signature, cellData(s.receipt)).toString('base64');
}

// The direct codec. receiptCell / signedReceiptCell above are the definition; the proxy and the client check one
// receipt per request, and building @ton/core cells to parse, re-serialise and hash it cost ~0.3 ms of the ~0.4 ms
// a check took (the rest is the Ed25519 verify). The layout is fixed, so the cells' bytes are written directly; the
// receipt tests check this codec against receiptCell / signedReceiptCell, byte for byte and hash for hash.
//
// Canonical BOC (no index, no CRC), L = the cost's byte length (0..15), cells in @ton/core's order:
//   b5ee9c72 01 01 03 01 00 <213+L> 00                                    header: 3 cells, 1 root, cell bytes, root 0
//   01 80 <signature: 64> 01                                               root: 512 bits, ref -> cell 1
//   01 <217+2L> <receipt data: 109+L bytes, 868+8L bits + pad '1'> 02      receipt: ref -> cell 2
//   00 40 <usage: 32 bytes>                                                usage: 4 x uint64
// Every field is a whole number of nibbles, so each cell's data is one hex string.

interface CellData {
    /** The receipt cell's data bytes, padded (its last nibble is the completion tag 0b1000). */
    receipt: Buffer;
    usage: Buffer;
}

const hexOf = (v: bigint | number, nibbles: number) => v.toString(16).padStart(nibbles, '0');
const TAG_HEX = hexOf(TagReceipt, 8);

function cellData(r: Receipt): CellData {
    checkFields(r);
    const costHex = r.cost === 0n ? '' : r.cost.toString(16);
    const costBytes = (costHex.length + 1) >> 1;
    const receipt =
        TAG_HEX + hexOf(r.requestId, 64) + hexOf(r.modelId, 64) + hexOf(r.worker, 64) + hexOf(r.coefficient, 8) + costBytes.toString(16) + costHex.padStart(2 * costBytes, '0') + hexOf(r.issuedAt, 8) + '8';
    const u = r.usage;
    return { receipt: Buffer.from(receipt, 'hex'), usage: Buffer.from(hexOf(u.prompt, 16) + hexOf(u.cached, 16) + hexOf(u.completion, 16) + hexOf(u.reasoning, 16), 'hex') };
}

const USAGE_DESCRIPTORS = Buffer.from([0x00, 0x40]);
const DEPTH_ZERO = Buffer.from([0x00, 0x00]);

/** receiptCell(r).hash(): sha256 of the cell's representation (descriptors, data, the usage cell's depth and hash). */
function hashOf(d: CellData): Buffer {
    const usageHash = createHash('sha256').update(USAGE_DESCRIPTORS).update(d.usage).digest();
    return createHash('sha256')
        .update(Buffer.from([0x01, 2 * d.receipt.length - 1]))
        .update(d.receipt)
        .update(DEPTH_ZERO)
        .update(usageHash)
        .digest();
}

/** The hash the worker signs: receiptCell(r).hash(). Throws RECEIPT_MALFORMED on out-of-range fields. */
export function receiptHash(r: Receipt): Buffer {
    return hashOf(cellData(r));
}

function canonicalBoc(signature: Buffer, d: CellData): Buffer {
    const n = d.receipt.length; // 109 + L
    const out = Buffer.allocUnsafe(115 + n);
    Buffer.from([0xb5, 0xee, 0x9c, 0x72, 0x01, 0x01, 0x03, 0x01, 0x00, 104 + n, 0x00, 0x01, 0x80]).copy(out, 0);
    signature.copy(out, 13);
    out[77] = 0x01;
    out[78] = 0x01;
    out[79] = 2 * n - 1;
    d.receipt.copy(out, 80);
    out[80 + n] = 0x02;
    out[81 + n] = 0x00;
    out[82 + n] = 0x40;
    d.usage.copy(out, 83 + n);
    return out;
}

/**
 * The wire bytes read at the canonical layout's offsets, accepted only if they equal the canonical encoding of what
 * they decode to; null otherwise (parse() then names what is wrong). Accepts exactly the byte strings parse() accepts.
 */
function parseCanonical(boc: Buffer): { signed: SignedReceipt; hash: Buffer } | null {
    if (boc.length < 224 || boc.length > 239) return null;
    const costBytes = boc[184] >> 4;
    if (boc.length !== 224 + costBytes) return null;
    const h = boc.toString('hex', 80, 189 + costBytes);
    const big = (from: number, to: number) => BigInt('0x' + h.slice(from, to));
    const u = 192 + costBytes;
    const receipt: Receipt = {
        requestId: big(8, 72),
        modelId: big(72, 136),
        worker: big(136, 200),
        coefficient: big(200, 208),
        cost: costBytes === 0 ? 0n : big(209, 209 + 2 * costBytes),
        issuedAt: parseInt(h.slice(209 + 2 * costBytes, 217 + 2 * costBytes), 16),
        usage: { prompt: boc.readBigUInt64BE(u), cached: boc.readBigUInt64BE(u + 8), completion: boc.readBigUInt64BE(u + 16), reasoning: boc.readBigUInt64BE(u + 24) },
    };
    let d: CellData;
    try {
        d = cellData(receipt);
    } catch {
        return null;
    }
    const signature = boc.subarray(13, 77);
    if (!canonicalBoc(signature, d).equals(boc)) return null;
    return { signed: { receipt, signature: Buffer.from(signature) }, hash: hashOf(d) };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Parses the wire form. Total: anything that is not exactly one canonical signed receipt throws RECEIPT_MALFORMED. */
export function decodeReceipt(wire: unknown): SignedReceipt {
    return decodeHashed(wire).signed;
}

/** decodeReceipt, with the hash of the receipt cell (what the signature covers), which parsing computes anyway. */
function decodeHashed(wire: unknown): { signed: SignedReceipt; hash: Buffer } {
    if (typeof wire !== 'string') throw malformed('receipt must be a base64 string');
    if (wire.length === 0 || wire.length > MAX_RECEIPT_BASE64) throw malformed(`receipt must be 1..${MAX_RECEIPT_BASE64} base64 characters`);
    if (!BASE64.test(wire)) throw malformed('receipt is not canonical base64');
    const boc = Buffer.from(wire, 'base64');
    const fast = parseCanonical(boc);
    if (fast) return fast;
    try {
        return parse(boc);
    } catch (e) {
        if (e instanceof ReceiptError) throw e;
        throw malformed(`receipt does not parse: ${e instanceof Error ? e.message : String(e)}`);
    }
}

function parse(boc: Buffer): { signed: SignedReceipt; hash: Buffer } {
    const roots = Cell.fromBoc(boc);
    if (roots.length !== 1) throw malformed(`expected one root cell, got ${roots.length}`);
    const root = roots[0];
    if (root.isExotic || root.bits.length !== 512 || root.refs.length !== 1) throw malformed('signed receipt must be 512 signature bits and one reference');
    const rc = root.refs[0];
    if (rc.isExotic || rc.refs.length !== 1) throw malformed('receipt cell must have exactly one reference (usage)');
    const uc = rc.refs[0];
    if (uc.isExotic || uc.bits.length !== 256 || uc.refs.length !== 0) throw malformed('usage cell must be exactly 4 x uint64');
    const s = rc.beginParse();
    const tag = s.loadUint(32);
    if (tag !== TagReceipt) throw malformed(`wrong tag 0x${tag.toString(16)}`);
    const requestId = s.loadUintBig(256);
    const modelId = s.loadUintBig(256);
    const worker = s.loadUintBig(256);
    const coefficient = s.loadUintBig(32);
    const costValue = s.loadCoins();
    const issuedAt = s.loadUint(32);
    if (s.remainingBits !== 0) throw malformed('trailing bits in receipt cell');
    const u = uc.beginParse();
    const usage: TokenUsage = { prompt: u.loadUintBig(64), cached: u.loadUintBig(64), completion: u.loadUintBig(64), reasoning: u.loadUintBig(64) };
    const receipt: Receipt = { requestId, modelId, worker, coefficient, cost: costValue, issuedAt, usage };
    // Reject non-canonical encodings (e.g. Coins with leading zero bytes): the signed hash must be the canonical one.
    const hash = rc.hash();
    if (!receiptCell(receipt).hash().equals(hash)) throw malformed('receipt cell is not canonically encoded');
    // One byte string per receipt: the BOC itself must be the canonical one (no index, no CRC, nothing trailing).
    if (!root.toBoc({ idx: false, crc32: false }).equals(boc)) throw malformed('receipt BOC is not in canonical form (no index, no CRC, no trailing bytes)');
    return { signed: { receipt, signature: root.beginParse().loadBuffer(64) }, hash };
}

export interface VerifyReceiptOptions {
    /** The worker key the client expects (from the worker's attestation / the proxy's announcement). */
    workerPublicKey: Buffer;
    /** Root's prices for the model (wrappers/Root.ts Model fits). */
    prices: ModelPrices;
    /** The client's coefficient cap. */
    maxCoefficient: bigint;
    requestId: bigint;
    modelId: bigint;
    /** When given, the usage the response itself reported (e.g. the stream's final usage chunk) must match. */
    usage?: TokenUsage;
    /** When given, the usage must lie within them (agents/core/metering.ts): RECEIPT_USAGE_BOUND. */
    bounds?: UsageBounds;
    /** When given, the cost must not exceed it: RECEIPT_COST_CAP. */
    maxCost?: bigint;
}

/**
 * Checks, in this order: wire form (RECEIPT_MALFORMED), signature under `workerPublicKey` (RECEIPT_BAD_SIGNATURE),
 * signer / request id / model id / usage (RECEIPT_MISMATCH), coefficient cap (RECEIPT_COEFFICIENT_TOO_HIGH),
 * cost (RECEIPT_COST_MISMATCH), then, when given, the usage bounds (RECEIPT_USAGE_BOUND) and the cost cap
 * (RECEIPT_COST_CAP). Returns the verified receipt.
 */
export function verifyReceipt(signed: SignedReceipt | string, opts: VerifyReceiptOptions): Receipt {
    // The wire form's parse already rebuilt the cell (canonical check): its hash is the one signed.
    const { signed: s, hash } = typeof signed === 'string' ? decodeHashed(signed) : { signed, hash: receiptHash(signed.receipt) };
    const r = s.receipt;
    if (!Buffer.isBuffer(opts.workerPublicKey) || opts.workerPublicKey.length !== 32) throw malformed('workerPublicKey must be 32 bytes');
    if (!Buffer.isBuffer(s.signature) || s.signature.length !== 64 || !ed25519Verify(hash, s.signature, opts.workerPublicKey))
        throw new ReceiptError('RECEIPT_BAD_SIGNATURE', 'receipt signature does not verify under the expected worker key', { requestId: hex256(r.requestId) });
    const mismatch = (field: string, got: bigint, want: bigint) =>
        new ReceiptError('RECEIPT_MISMATCH', `receipt ${field} ${hex256(got)} != expected ${hex256(want)}`, { field, requestId: hex256(r.requestId) });
    const key = keyToUint(opts.workerPublicKey, 'workerPublicKey');
    if (r.worker !== key) throw mismatch('worker', r.worker, key);
    if (r.requestId !== opts.requestId) throw mismatch('requestId', r.requestId, opts.requestId);
    if (r.modelId !== opts.modelId) throw mismatch('modelId', r.modelId, opts.modelId);
    if (opts.usage) {
        for (const k of TOKEN_KINDS)
            if (r.usage[k] !== opts.usage[k])
                throw new ReceiptError('RECEIPT_MISMATCH', `receipt usage.${k} ${r.usage[k]} != reported ${opts.usage[k]}`, { field: `usage.${k}`, requestId: hex256(r.requestId) });
    }
    if (r.coefficient > opts.maxCoefficient)
        throw new ReceiptError('RECEIPT_COEFFICIENT_TOO_HIGH', `receipt coefficient ${r.coefficient} exceeds the cap ${opts.maxCoefficient}`, {
            coefficient: r.coefficient.toString(),
            maxCoefficient: opts.maxCoefficient.toString(),
        });
    let expected: bigint | null;
    try {
        expected = cost(r.usage, opts.prices, r.coefficient);
    } catch (e) {
        if (e instanceof PricingError && e.code === 'PRICING_OVERFLOW') expected = null;
        else throw e;
    }
    if (expected !== r.cost)
        throw new ReceiptError('RECEIPT_COST_MISMATCH', `receipt cost ${r.cost} != computed ${expected ?? 'overflow'}`, {
            cost: r.cost.toString(),
            expected: expected?.toString() ?? null,
        });
    const excess = opts.bounds ? usageExcess(r.usage, opts.bounds) : null;
    if (excess) throw new ReceiptError('RECEIPT_USAGE_BOUND', `receipt usage refused: ${excess}`, { requestId: hex256(r.requestId) });
    if (opts.maxCost !== undefined && r.cost > opts.maxCost)
        throw new ReceiptError('RECEIPT_COST_CAP', `receipt cost ${r.cost} exceeds the per-request cap ${opts.maxCost}`, { cost: r.cost.toString(), maxCost: opts.maxCost.toString() });
    return r;
}

/** The worker key of a receipt as 32 bytes. */
export function receiptWorkerKey(r: Receipt): Buffer {
    return bytes256(r.worker);
}
