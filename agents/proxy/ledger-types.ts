// The ledger's public types, codes and bounds (spec/ledger.md); the Ledger class is in ledger.ts.
import type { Address } from '@ton/core';
import { CocoonError } from '../core/errors';
import type { Clock } from '../core/clock';

export const LedgerCodes = [
    'LEDGER_BAD_INPUT',
    'LEDGER_OVERFLOW',
    'LEDGER_SCHEMA',
    'LEDGER_SETTINGS_MISMATCH',
    'LEDGER_CLOSED',
    'LEDGER_REQUEST_CONFLICT',
    'LEDGER_REQUEST_STATE',
    'LEDGER_UNKNOWN_REQUEST',
    'LEDGER_VOUCHER_NOT_INCREASING',
    'LEDGER_VOUCHER_ABOVE_DELIVERED',
    'LEDGER_REDEEM_NOT_INCREASING',
    'LEDGER_REDEEM_ABOVE_VOUCHER',
    'LEDGER_PAYOUT_NOT_INCREASING',
    'LEDGER_PAYOUT_ABOVE_EARNED',
    'LEDGER_UNKNOWN_COMMIT',
    'LEDGER_ROLLBACK',
] as const;
export type LedgerCode = (typeof LedgerCodes)[number];

export class LedgerError extends CocoonError<LedgerCode> {}

/** Largest amount SQLite INTEGER holds: 2^63 - 1 nanoTON ≈ 9.2e9 TON (more than all TON in existence). */
export const MAX_AMOUNT = (1n << 63n) - 1n;
export const BPS_DENOMINATOR = 10_000n;
export const MAX_REQUEST_ID = 128;
export const MAX_RECEIPT = 64 * 1024;
export const DEFAULT_LIST_LIMIT = 1000;
export const STATE_TAG = 'cocoon-ledger-state/v1';

/**
 * The worker's part of a receipt's cost: floor(cost × (10000 − bps) / 10000); the proxy's commission is
 * the rest (the ceiling of cost × bps / 10000). The Proxy contract takes fee = floor(d × bps / 10000) of
 * every redeemed difference d, so its pool gains ceil(d × (10000 − bps) / 10000) ≥ what the ledger credits
 * workers for the same nanoTON: rounding dust goes to the proxy, and the pool never falls short of the sum
 * of earned amounts once vouchers covering them are redeemed (spec/ledger.md, "Commission split").
 */
export function workerShare(cost: bigint, commissionBps: number): bigint {
    return (cost * (BPS_DENOMINATOR - BigInt(commissionBps))) / BPS_DENOMINATOR;
}

export interface LedgerOptions {
    clock?: Clock;
    /** The Proxy contract's commissionBps (0..10000); fixed for the life of a ledger file. */
    commissionBps: number;
    /**
     * After an unclean shutdown: how far above `delivered` a client's voucher may go in this run, per client (bookings
     * a power loss took; spec/ledger.md, "Power loss"). Default 0: refused. The proxy passes its credit window.
     */
    recoveryAllowance?: bigint;
}

export type RequestStatus = 'started' | 'delivered' | 'failed';

export interface RequestRow {
    requestId: string;
    client: string;
    worker: string;
    modelId: bigint;
    cost: bigint;
    workerPart: bigint;
    receipt: string | null;
    status: RequestStatus;
    createdAt: number;
    updatedAt: number;
}

export interface SignedAmount {
    amount: bigint;
    /** Ed25519 signature, 128 lowercase hex characters. */
    signature: string;
}

export interface ClientState {
    client: string;
    deliveredCost: bigint;
    latestVoucher: SignedAmount | null;
    redeemedOnChain: bigint;
}

export interface WorkerState {
    worker: string;
    earned: bigint;
    latestPayout: SignedAmount | null;
}

export interface Commit {
    seqno: bigint;
    hash: bigint;
    committedAt: number;
    onChain: boolean;
}

export interface DeliveryInput {
    requestId: string;
    /** ClientChannel address. */
    client: Address | string;
    /** WorkerChannel address. */
    worker: Address | string;
    /** sha256 of the model name (wrappers/payloads.ts modelId). */
    modelId: bigint;
    cost: bigint;
    /** The worker's signed usage receipt, base64. */
    receipt: string;
}

export type StartInput = Omit<DeliveryInput, 'cost' | 'receipt'>;
