// Ed25519 (RFC 8032, deterministic) through Node's crypto for every off-chain signature of the agents and of
// wrappers/payloads.ts: receipts, vouchers, payouts, commits. Byte-identical to @ton/crypto's sign / signVerify
// (tests check both directions) and far faster than its pure-JS implementation, which matters because vouchers and
// receipts are signed and checked per request. Key objects are cached: an agent signs with one key and verifies a
// handful of peers' keys.
import { createPrivateKey, createPublicKey, KeyObject, sign as nodeSign, verify as nodeVerify } from 'crypto';

const MAX_CACHED_KEYS = 1024;
const privateKeys = new Map<string, KeyObject>();
const publicKeys = new Map<string, KeyObject | null>();

function remember<V>(cache: Map<string, V>, k: string, v: V): V {
    if (cache.size >= MAX_CACHED_KEYS) cache.delete(cache.keys().next().value as string);
    cache.set(k, v);
    return v;
}

/** Thrown by ed25519Sign when a 64-byte secret key's public half does not belong to its seed. */
export class Ed25519KeyError extends Error {}

/** Signs `data` with a 64-byte secret key (seed ‖ public key, as @ton/crypto's keyPairFromSeed gives it). */
export function ed25519Sign(data: Buffer, secretKey: Buffer): Buffer {
    if (secretKey.length !== 64) throw new Ed25519KeyError(`an Ed25519 secret key is 64 bytes, got ${secretKey.length}`);
    const id = secretKey.toString('hex');
    let key = privateKeys.get(id);
    if (!key) {
        const pub = secretKey.subarray(32).toString('base64url');
        key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: secretKey.subarray(0, 32).toString('base64url'), x: pub }, format: 'jwk' });
        if (createPublicKey(key).export({ format: 'jwk' }).x !== pub) throw new Ed25519KeyError('the public half of the secret key does not match its seed');
        remember(privateKeys, id, key);
    }
    return nodeSign(null, data, key);
}

/** Whether `signature` is a valid signature of `data` under the 32-byte public key (false for a non-point). */
export function ed25519Verify(data: Buffer, signature: Buffer, publicKey: Buffer): boolean {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const id = publicKey.toString('hex');
    let key = publicKeys.get(id);
    if (key === undefined) {
        try {
            key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') }, format: 'jwk' });
        } catch {
            key = null; // not a valid curve point
        }
        remember(publicKeys, id, key);
    }
    if (key === null) return false;
    try {
        return nodeVerify(null, data, key, signature);
    } catch {
        return false;
    }
}
