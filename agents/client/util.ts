// Small helpers the client's files share.
import { randomBytes } from 'crypto';

export function uint256(v: bigint): Buffer {
    return Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
}

/** A fresh random 128-bit request / query id (hex). */
export function newId(): string {
    return randomBytes(16).toString('hex');
}

export function errMsg(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}
