// The ledger's SQLite rows, the validation of what callers pass in, and the conversion between rows and the public
// types (ledger.ts): a refused input throws LedgerError before anything is written.
import { createHash } from 'crypto';
import { Address } from '@ton/core';
import { hex256 } from '../core/hex';
import { ClientState, Commit, DeliveryInput, LedgerError, MAX_AMOUNT, MAX_RECEIPT, MAX_REQUEST_ID, RequestRow, RequestStatus, StartInput, WorkerState } from './ledger-types';

export interface ClientDbRow {
    address: string;
    delivered: bigint;
    voucher_amount: bigint;
    voucher_sig: string | null;
    redeemed: bigint;
    recovered: bigint;
}
export interface WorkerDbRow {
    address: string;
    earned: bigint;
    payout_amount: bigint;
    payout_sig: string | null;
}
export interface RequestDbRow {
    request_id: string;
    client: string;
    worker: string;
    model_id: string;
    cost: bigint;
    worker_part: bigint;
    receipt: string | null;
    status: RequestStatus;
    created_at: bigint;
    updated_at: bigint;
}
export interface CommitDbRow {
    seqno: bigint;
    hash: string;
    committed_at: bigint;
    on_chain: bigint;
}

// ---------------------------------------------------------------- validation and conversion

export function bad(key: string, why: string): never {
    throw new LedgerError('LEDGER_BAD_INPUT', `${key}: ${why}`, { key });
}

export function checked(amount: bigint, what: string): bigint {
    if (amount > MAX_AMOUNT) throw new LedgerError('LEDGER_OVERFLOW', `${what} would exceed ${MAX_AMOUNT} nanoTON`, { what });
    return amount;
}

export function validateAmount(v: unknown, key: string, min: bigint): bigint {
    if (typeof v !== 'bigint') bad(key, 'must be a bigint (nanoTON)');
    if (v < min) bad(key, `must be at least ${min}`);
    if (v > MAX_AMOUNT) throw new LedgerError('LEDGER_OVERFLOW', `${key}: ${v} exceeds ${MAX_AMOUNT}`, { key });
    return v;
}

export function validateSeqno(v: unknown): bigint {
    if (typeof v !== 'bigint' || v < 1n || v >= 1n << 63n) bad('seqno', 'must be a bigint in 1..2^63-1');
    return v;
}

export function validateLimit(v: unknown): number {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 100_000) bad('limit', 'must be an integer in 1..100000');
    return v as number;
}

export function validateRequestId(v: unknown): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_REQUEST_ID || !/^[\x21-\x7e]+$/.test(v)) {
        bad('requestId', `must be 1..${MAX_REQUEST_ID} printable ASCII characters without spaces`);
    }
    return v;
}

export function validateSignature(v: unknown): string {
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{128}$/.test(v)) bad('signature', 'must be 64 bytes as 128 hex characters');
    return v.toLowerCase();
}

export function normAddress(v: unknown, key: string): string {
    if (v instanceof Address) return v.toRawString();
    if (typeof v !== 'string') bad(key, 'must be an Address or an address string');
    try {
        return Address.parse(v).toRawString();
    } catch {
        return bad(key, `not a TON address: ${JSON.stringify(v.slice(0, 80))}`);
    }
}

export function validateStart(input: StartInput) {
    if (typeof input !== 'object' || input === null) bad('input', 'must be an object');
    const modelId = input.modelId;
    if (typeof modelId !== 'bigint' || modelId < 0n || modelId >= 1n << 256n) bad('modelId', 'must be a uint256 bigint');
    return {
        requestId: validateRequestId(input.requestId),
        client: normAddress(input.client, 'client'),
        worker: normAddress(input.worker, 'worker'),
        modelHex: hex256(modelId),
    };
}

export function validateDelivery(input: DeliveryInput) {
    const base = validateStart(input);
    const cost = validateAmount(input.cost, 'cost', 0n);
    const receipt = input.receipt;
    if (
        typeof receipt !== 'string' ||
        receipt.length === 0 ||
        receipt.length > MAX_RECEIPT ||
        receipt.length % 4 !== 0 ||
        !/^[A-Za-z0-9+/]+={0,2}$/.test(receipt)
    ) {
        bad('receipt', `must be non-empty canonical base64 of at most ${MAX_RECEIPT} characters`);
    }
    return { ...base, cost, receipt };
}

export function sameParties(existing: RequestDbRow, v: { requestId: string; client: string; worker: string; modelHex: string }): void {
    if (existing.client !== v.client || existing.worker !== v.worker || existing.model_id !== v.modelHex) {
        throw new LedgerError('LEDGER_REQUEST_CONFLICT', `request ${v.requestId} exists for another client, worker or model`, {
            requestId: v.requestId,
        });
    }
}

export function rollback(reason: string, message: string, chainSeqno: bigint, row: CommitDbRow | undefined): LedgerError {
    return new LedgerError('LEDGER_ROLLBACK', message, {
        reason,
        chainSeqno: chainSeqno.toString(),
        ...(row ? { ledgerSeqno: row.seqno.toString(), ledgerHash: row.hash } : {}),
    });
}

export { hex256 };

export function hashOf(serialization: string): bigint {
    return BigInt('0x' + createHash('sha256').update(serialization, 'utf8').digest('hex'));
}

export function toRequest(r: RequestDbRow): RequestRow {
    return {
        requestId: r.request_id,
        client: r.client,
        worker: r.worker,
        modelId: BigInt('0x' + r.model_id),
        cost: r.cost,
        workerPart: r.worker_part,
        receipt: r.receipt,
        status: r.status,
        createdAt: Number(r.created_at),
        updatedAt: Number(r.updated_at),
    };
}

export function toClient(addr: string, r: ClientDbRow | undefined): ClientState {
    return {
        client: addr,
        deliveredCost: r?.delivered ?? 0n,
        latestVoucher: r && r.voucher_sig !== null ? { amount: r.voucher_amount, signature: r.voucher_sig } : null,
        redeemedOnChain: r?.redeemed ?? 0n,
    };
}

export function toWorker(addr: string, r: WorkerDbRow | undefined): WorkerState {
    return {
        worker: addr,
        earned: r?.earned ?? 0n,
        latestPayout: r && r.payout_sig !== null ? { amount: r.payout_amount, signature: r.payout_sig } : null,
    };
}

export function toCommit(r: CommitDbRow): Commit {
    return { seqno: r.seqno, hash: BigInt('0x' + r.hash), committedAt: Number(r.committed_at), onChain: r.on_chain === 1n };
}
