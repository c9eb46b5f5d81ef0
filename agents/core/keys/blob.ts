// Sealed blobs (spec/attestation.md "Sealed secrets", "Blob format"): what the key service hands a TD to keep on the
// host's disk. The key service's 32-byte master never leaves its TD (and its replicas); each blob is AES-256-GCM under
// K(role, owner) = HKDF-SHA256(master, salt "cocoon-ts/keys/v1", info = role byte ‖ owner workchain ‖ owner hash),
// with every header byte as additional data, so a changed role, owner, name or service fails authentication.
//
//   offset  size    field
//   0       1       version = 1
//   1       32      serviceId = SHA-256("cocoon-ts/keys/id" ‖ master)
//   33      1       role: 0 = proxy, 1 = worker
//   34      1       owner workchain (int8)
//   35      32      owner account hash
//   67      1       name length n, 1..32
//   68      n       name, [a-z0-9-]
//   68+n    12      AES-GCM nonce (random)
//   80+n    s+16    ciphertext of the secret (s = 1..128) and its 16-byte tag
//
// Exactly 96+n+s bytes (98..256): one encoding per value, nothing after the tag.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'crypto';
import { Address } from '@ton/core';
import { KeysError, SealRole } from './types';

export const BLOB_VERSION = 1;
export const MASTER_BYTES = 32;
export const MAX_SECRET_BYTES = 128;
export const MAX_NAME_BYTES = 32;
export const NAME_RE = /^[a-z0-9-]{1,32}$/;
const HEADER_FIXED = 68;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const MIN_BLOB_BYTES = HEADER_FIXED + 1 + NONCE_BYTES + 1 + TAG_BYTES;
export const MAX_BLOB_BYTES = HEADER_FIXED + MAX_NAME_BYTES + NONCE_BYTES + MAX_SECRET_BYTES + TAG_BYTES;
const ROLES: readonly SealRole[] = ['proxy', 'worker'];

/** The public id of a master: what a blob names its key service by. */
export function serviceIdOf(master: Buffer): Buffer {
    return createHash('sha256').update('cocoon-ts/keys/id').update(master).digest();
}

/** K(role, owner): the AES-256 key of one role and owner under a master. */
export function blobKey(master: Buffer, role: SealRole, owner: Address): Buffer {
    const info = Buffer.concat([Buffer.from([ROLES.indexOf(role)]), Buffer.from([owner.workChain & 0xff]), owner.hash]);
    return Buffer.from(hkdfSync('sha256', master, 'cocoon-ts/keys/v1', info, 32));
}

export interface BlobHeader {
    serviceId: Buffer;
    role: SealRole;
    owner: Address;
    name: string;
}

const bad = (why: string) => new KeysError('KEYS_BAD_REQUEST', `blob: ${why}`);

function checkName(name: string): void {
    if (!NAME_RE.test(name)) throw new KeysError('KEYS_BAD_REQUEST', 'name must be 1..32 bytes of [a-z0-9-]');
}

/** Seals `secret` under `master` for a role, owner and name. */
export function sealBlob(master: Buffer, h: { role: SealRole; owner: Address; name: string }, secret: Buffer): Buffer {
    checkName(h.name);
    if (!ROLES.includes(h.role)) throw new KeysError('KEYS_BAD_REQUEST', `unknown role ${String(h.role)}`);
    if (secret.length < 1 || secret.length > MAX_SECRET_BYTES) throw new KeysError('KEYS_BAD_REQUEST', `a secret is 1..${MAX_SECRET_BYTES} bytes`);
    const header = Buffer.concat([
        Buffer.from([BLOB_VERSION]),
        serviceIdOf(master),
        Buffer.from([ROLES.indexOf(h.role), h.owner.workChain & 0xff]),
        h.owner.hash,
        Buffer.from([h.name.length]),
        Buffer.from(h.name, 'ascii'),
        randomBytes(NONCE_BYTES),
    ]);
    const c = createCipheriv('aes-256-gcm', blobKey(master, h.role, h.owner), header.subarray(header.length - NONCE_BYTES));
    c.setAAD(header);
    return Buffer.concat([header, c.update(secret), c.final(), c.getAuthTag()]);
}

/** The header of a blob, strictly parsed (KEYS_BAD_REQUEST on any deviation); nothing is authenticated yet. */
export function parseBlob(blob: Buffer): BlobHeader & { aad: Buffer; nonce: Buffer; ciphertext: Buffer; tag: Buffer } {
    if (blob.length < MIN_BLOB_BYTES || blob.length > MAX_BLOB_BYTES) throw bad(`${blob.length} bytes, expected ${MIN_BLOB_BYTES}..${MAX_BLOB_BYTES}`);
    if (blob[0] !== BLOB_VERSION) throw bad(`unsupported version ${blob[0]}`);
    const roleByte = blob[33];
    if (roleByte >= ROLES.length) throw bad(`unknown role ${roleByte}`);
    const n = blob[67];
    if (n < 1 || n > MAX_NAME_BYTES) throw bad(`name length ${n}`);
    const name = blob.subarray(68, 68 + n).toString('latin1');
    if (!NAME_RE.test(name)) throw bad('name is not [a-z0-9-]');
    const aadEnd = 68 + n + NONCE_BYTES;
    const s = blob.length - aadEnd - TAG_BYTES;
    if (s < 1 || s > MAX_SECRET_BYTES) throw bad(`secret length ${s}`);
    return {
        serviceId: Buffer.from(blob.subarray(1, 33)),
        role: ROLES[roleByte],
        owner: new Address(blob.readInt8(34), Buffer.from(blob.subarray(35, 67))),
        name,
        aad: blob.subarray(0, aadEnd),
        nonce: blob.subarray(68 + n, aadEnd),
        ciphertext: blob.subarray(aadEnd, blob.length - TAG_BYTES),
        tag: blob.subarray(blob.length - TAG_BYTES),
    };
}

/**
 * Opens a blob for the request's role, owner and name. KEYS_BAD_REQUEST: malformed; KEYS_WRONG_SERVICE: another
 * master sealed it; KEYS_UNSEAL_FAILED: the header does not name what was asked, or authentication fails.
 */
export function openBlob(master: Buffer, blob: Buffer, expect: { role: SealRole; owner: Address; name: string }): Buffer {
    const b = parseBlob(blob);
    if (!b.serviceId.equals(serviceIdOf(master))) throw new KeysError('KEYS_WRONG_SERVICE', 'the blob was sealed by another key service', { serviceId: b.serviceId.toString('hex') });
    if (b.role !== expect.role || !b.owner.equals(expect.owner) || b.name !== expect.name) {
        throw new KeysError('KEYS_UNSEAL_FAILED', 'the blob is sealed for another role, owner or name');
    }
    try {
        const d = createDecipheriv('aes-256-gcm', blobKey(master, b.role, b.owner), b.nonce);
        d.setAAD(b.aad);
        d.setAuthTag(b.tag);
        return Buffer.concat([d.update(b.ciphertext), d.final()]);
    } catch {
        throw new KeysError('KEYS_UNSEAL_FAILED', 'the blob does not authenticate (altered, or sealed for another owner)');
    }
}

/** hex SHA-256 of a blob: its lease id. */
export function blobId(blob: Buffer): string {
    return createHash('sha256').update(blob).digest('hex');
}
