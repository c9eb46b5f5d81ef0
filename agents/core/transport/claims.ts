// RA-TLS user claims (spec/attestation.md, "RA-TLS"): the bytes carried in certificate extension
// 1.3.6.1.4.1.12345.2 whose SHA-512 is the quote's REPORTDATA.
//
//   offset  size  field
//   0       1     version = 1
//   1       1     flags: bit 0 = an HPKE X25519 public key follows; other bits must be 0
//   2       32    Ed25519 public key of the certificate (raw, RFC 8032)
//   34      32    HPKE X25519 public key (raw, RFC 7748), present iff flags bit 0
//
// Exactly 34 or 66 bytes; anything else is rejected. There is one encoding of each value, so the hash is unique.
import { createHash } from 'crypto';
import { AttestationError } from '../tee/types';

export const CLAIMS_VERSION = 1;
const FLAG_HPKE = 0x01;

export interface RaTlsClaims {
    version: 1;
    /** Raw 32-byte Ed25519 public key; must equal the certificate's key. */
    ed25519PublicKey: Buffer;
    /** Raw 32-byte X25519 public key for HPKE (workers, design §3.1). */
    hpkePublicKey?: Buffer;
}

export function encodeClaims(c: { ed25519PublicKey: Buffer; hpkePublicKey?: Buffer }): Buffer {
    if (c.ed25519PublicKey.length !== 32) throw new RangeError('ed25519PublicKey must be 32 bytes');
    if (c.hpkePublicKey !== undefined && c.hpkePublicKey.length !== 32) throw new RangeError('hpkePublicKey must be 32 bytes');
    const head = Buffer.from([CLAIMS_VERSION, c.hpkePublicKey ? FLAG_HPKE : 0]);
    return Buffer.concat([head, c.ed25519PublicKey, ...(c.hpkePublicKey ? [c.hpkePublicKey] : [])]);
}

/** Strict decoder; throws AttestationError('CERT_INVALID') on any deviation from the format. */
export function decodeClaims(b: Buffer): RaTlsClaims {
    const bad = (why: string) => new AttestationError('CERT_INVALID', `user claims: ${why}`, { claimsLength: b.length });
    if (b.length < 2) throw bad('truncated');
    if (b[0] !== CLAIMS_VERSION) throw bad(`unsupported version ${b[0]}`);
    const flags = b[1];
    if ((flags & ~FLAG_HPKE) !== 0) throw bad(`unknown flags 0x${flags.toString(16)}`);
    const want = flags & FLAG_HPKE ? 66 : 34;
    if (b.length !== want) throw bad(`length ${b.length}, expected ${want}`);
    const claims: RaTlsClaims = { version: 1, ed25519PublicKey: Buffer.from(b.subarray(2, 34)) };
    if (flags & FLAG_HPKE) claims.hpkePublicKey = Buffer.from(b.subarray(34, 66));
    return claims;
}

/** REPORTDATA that binds the claims: SHA-512(claims bytes), 64 bytes. */
export function claimsReportData(claims: Buffer): Buffer {
    return createHash('sha512').update(claims).digest();
}
