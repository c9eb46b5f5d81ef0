// RA-TLS user claims (spec/attestation.md, "RA-TLS"): the bytes carried in certificate extension
// 1.3.6.1.4.1.12345.2 whose SHA-512 is the quote's REPORTDATA.
//
//   offset  size  field
//   0       1     version = 1, or 2 for a worker (flags bit 1 set)
//   1       1     flags: bit 0 = an HPKE X25519 public key follows; bit 1 = a worker-configuration hash follows
//                 (version 2 only, and required there); other bits must be 0
//   2       32    Ed25519 public key of the certificate (raw, RFC 8032)
//   34      32    HPKE X25519 public key (raw, RFC 7748), present iff flags bit 0
//   ..      32    SHA-256 of the worker-configuration extension (worker-config.ts), present iff flags bit 1
//
// Exactly 34, 66 (version 1) or 66, 98 (version 2) bytes; anything else is rejected. There is one encoding of each
// value, so the hash is unique.
import { createHash } from 'crypto';
import { AttestationError } from '../tee/types';

export const CLAIMS_VERSION = 1;
/** Claims that also bind a worker configuration (flags bit 1). */
export const CLAIMS_VERSION_WORKER = 2;
const FLAG_HPKE = 0x01;
const FLAG_WORKER_CONFIG = 0x02;

export interface RaTlsClaims {
    version: 1 | 2;
    /** Raw 32-byte Ed25519 public key; must equal the certificate's key. */
    ed25519PublicKey: Buffer;
    /** Raw 32-byte X25519 public key for HPKE (workers, design §3.1). */
    hpkePublicKey?: Buffer;
    /** SHA-256 of the worker-configuration extension (version 2). */
    workerConfigHash?: Buffer;
}

export function encodeClaims(c: { ed25519PublicKey: Buffer; hpkePublicKey?: Buffer; workerConfigHash?: Buffer }): Buffer {
    if (c.ed25519PublicKey.length !== 32) throw new RangeError('ed25519PublicKey must be 32 bytes');
    if (c.hpkePublicKey !== undefined && c.hpkePublicKey.length !== 32) throw new RangeError('hpkePublicKey must be 32 bytes');
    if (c.workerConfigHash !== undefined && c.workerConfigHash.length !== 32) throw new RangeError('workerConfigHash must be 32 bytes');
    const worker = c.workerConfigHash !== undefined;
    const head = Buffer.from([worker ? CLAIMS_VERSION_WORKER : CLAIMS_VERSION, (c.hpkePublicKey ? FLAG_HPKE : 0) | (worker ? FLAG_WORKER_CONFIG : 0)]);
    return Buffer.concat([head, c.ed25519PublicKey, ...(c.hpkePublicKey ? [c.hpkePublicKey] : []), ...(worker ? [c.workerConfigHash!] : [])]);
}

/** Strict decoder; throws AttestationError('CERT_INVALID') on any deviation from the format. */
export function decodeClaims(b: Buffer): RaTlsClaims {
    const bad = (why: string) => new AttestationError('CERT_INVALID', `user claims: ${why}`, { claimsLength: b.length });
    if (b.length < 2) throw bad('truncated');
    const version = b[0];
    if (version !== CLAIMS_VERSION && version !== CLAIMS_VERSION_WORKER) throw bad(`unsupported version ${version}`);
    const flags = b[1];
    const known = version === CLAIMS_VERSION ? FLAG_HPKE : FLAG_HPKE | FLAG_WORKER_CONFIG;
    if ((flags & ~known) !== 0) throw bad(`unknown flags 0x${flags.toString(16)} for version ${version}`);
    if (version === CLAIMS_VERSION_WORKER && !(flags & FLAG_WORKER_CONFIG)) throw bad('version 2 without a worker-configuration hash');
    const hpkeEnd = flags & FLAG_HPKE ? 66 : 34;
    const want = hpkeEnd + (flags & FLAG_WORKER_CONFIG ? 32 : 0);
    if (b.length !== want) throw bad(`length ${b.length}, expected ${want}`);
    const claims: RaTlsClaims = { version, ed25519PublicKey: Buffer.from(b.subarray(2, 34)) };
    if (flags & FLAG_HPKE) claims.hpkePublicKey = Buffer.from(b.subarray(34, 66));
    if (flags & FLAG_WORKER_CONFIG) claims.workerConfigHash = Buffer.from(b.subarray(hpkeEnd, want));
    return claims;
}

/** REPORTDATA that binds the claims: SHA-512(claims bytes), 64 bytes. */
export function claimsReportData(claims: Buffer): Buffer {
    return createHash('sha512').update(claims).digest();
}
