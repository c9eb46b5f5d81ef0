// Small helpers the client's files share.
import { randomBytes } from 'crypto';

/** A fresh random 128-bit request / query id (hex). */
export function newId(): string {
    return randomBytes(16).toString('hex');
}

export function errMsg(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}
