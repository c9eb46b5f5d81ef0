// Router-blind sealing (design §3.1, spec/wire.md "Router-blind mode").
//
// The client seals the request body to a worker's attested HPKE key (RFC 9180 base mode,
// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, info = HPKE_INFO). Both ends then export a 32-byte response
// secret from the HPKE context (label "cocoon response"); the worker draws a fresh 32-byte salt per response and
// derives the response key with HKDF from secret, salt and its response_start (ResponseSecret), so the key is unique
// per response even when a router replays the request. The worker seals each chunk with AES-128-GCM under it:
//
//   nonce(seq)       = 0x00000000 ‖ uint64_be(seq)                        (12 bytes; the key is unique per response)
//   chunk AAD        = "cocoon-ts/chunk/v1" ‖ uint32_be(seq) ‖ uint8(final)
//
// The opener accepts seq 0, 1, 2, … only, and nothing after the chunk marked final, so a reordered, replayed, dropped
// or appended chunk fails with HPKE_CHUNK_ORDER, a flipped final flag fails authentication (HPKE_OPEN_FAILED), and a
// response that ends without its final chunk fails finish() with HPKE_TRUNCATED. The proxy forwards but holds no key.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'crypto';
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { CocoonError } from './errors';

export const HpkeErrorCodes = [
    'HPKE_BAD_KEY', // a public key / key pair / seed is not a valid X25519 key of 32 bytes
    'HPKE_OPEN_FAILED', // authentication failed: wrong key, or enc / ct / aad / a chunk / its final flag was altered
    'HPKE_CHUNK_ORDER', // a response chunk out of sequence: reordered, replayed, skipped, or after the final chunk
    'HPKE_TRUNCATED', // the response ended before its final chunk
    'HPKE_KEY_MISMATCH', // the request is sealed to another key id than this worker's
    'HPKE_REPLAYED', // the request's encapsulated key was opened before (a replayed sealed request)
] as const;
export type HpkeErrorCode = (typeof HpkeErrorCodes)[number];

export class HpkeError extends CocoonError<HpkeErrorCode> {}

/** HPKE `info` for request sealing: separates this use from any other use of the same worker key. */
export const HPKE_INFO = Buffer.from('cocoon-ts/request/v1', 'utf8');
/** Exporter label of the response secret (design §3.1). */
export const RESPONSE_EXPORT_LABEL = Buffer.from('cocoon response', 'utf8');
/** HKDF info prefix of the response key; the response_start binding follows it. */
const RESPONSE_KEY_INFO = Buffer.from('cocoon-ts/response-key/v2', 'utf8');
/** Bytes of the worker's response salt and of the exported response secret. */
export const RESPONSE_SALT_BYTES = 32;
const CHUNK_AAD_LABEL = Buffer.from('cocoon-ts/chunk/v1', 'utf8');
const TAG_BYTES = 16;

/** Plaintext bytes of a sealed chunk from its base64 ciphertext, without decoding it (AES-GCM adds TAG_BYTES). */
export function sealedPlaintextLength(ctBase64: string): number {
    const pad = ctBase64.endsWith('==') ? 2 : ctBase64.endsWith('=') ? 1 : 0;
    return Math.max(0, (ctBase64.length / 4) * 3 - pad - TAG_BYTES);
}
const MAX_SEQ = 0xffff_ffff;

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

type CryptoKey = Awaited<ReturnType<typeof suite.kem.generateKeyPair>>['privateKey'];

export interface HpkeKeyPair {
    /** Raw X25519 public key (32 bytes), as bound into the RA-TLS claims. */
    publicKey: Buffer;
    privateKey: CryptoKey;
    /** hpkeKeyId(publicKey). */
    keyId: string;
}

/** Key id of a worker HPKE key: SHA-256 of the raw public key, lowercase hex. */
export function hpkeKeyId(publicKey: Buffer): string {
    return createHash('sha256').update(publicKey).digest('hex');
}

export async function generateHpkeKeyPair(): Promise<HpkeKeyPair> {
    return deriveHpkeKeyPair(randomBytes(32));
}

/** Deterministic key pair from a ≥ 32-byte secret seed (RFC 9180 DeriveKeyPair), e.g. sealed TEE storage. */
export async function deriveHpkeKeyPair(seed: Uint8Array): Promise<HpkeKeyPair> {
    if (!(seed instanceof Uint8Array) || seed.length < 32) throw new HpkeError('HPKE_BAD_KEY', 'seed must be at least 32 bytes');
    const kp = await suite.kem.deriveKeyPair(seed);
    const publicKey = Buffer.from(await suite.kem.serializePublicKey(kp.publicKey));
    return { publicKey, privateKey: kp.privateKey, keyId: hpkeKeyId(publicKey) };
}

async function importPublicKey(raw: Uint8Array): Promise<CryptoKey> {
    if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new HpkeError('HPKE_BAD_KEY', 'HPKE public key must be 32 bytes');
    try {
        return await suite.kem.deserializePublicKey(raw);
    } catch (e) {
        throw new HpkeError('HPKE_BAD_KEY', `invalid HPKE public key: ${(e as Error).message}`);
    }
}

function chunkNonce(seq: number): Buffer {
    const n = Buffer.alloc(12);
    n.writeBigUInt64BE(BigInt(seq), 4);
    return n;
}

function chunkAad(seq: number, final: boolean): Buffer {
    const tail = Buffer.alloc(5);
    tail.writeUInt32BE(seq, 0);
    tail[4] = final ? 1 : 0;
    return Buffer.concat([CHUNK_AAD_LABEL, tail]);
}

export interface SealedChunk {
    seq: number;
    ct: Buffer;
    final: boolean;
}

/** Worker side: seals response chunks in order; the last one must be sealed with final = true. */
export class ResponseSealer {
    private seq = 0;
    private ended = false;

    constructor(private readonly key: Buffer) {}

    get finished(): boolean {
        return this.ended;
    }

    seal(plaintext: Uint8Array, final = false): SealedChunk {
        if (this.ended) throw new HpkeError('HPKE_CHUNK_ORDER', 'response already sealed its final chunk');
        if (this.seq > MAX_SEQ) throw new HpkeError('HPKE_CHUNK_ORDER', 'too many chunks');
        const seq = this.seq++;
        const c = createCipheriv('aes-128-gcm', this.key, chunkNonce(seq));
        c.setAAD(chunkAad(seq, final));
        const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
        if (final) this.ended = true;
        return { seq, ct, final };
    }
}

/** Client side: opens response chunks, accepting only seq 0, 1, 2, … up to the final chunk. */
export class ResponseOpener {
    private expected = 0;
    private ended = false;

    constructor(private readonly key: Buffer) {}

    get finished(): boolean {
        return this.ended;
    }

    open(chunk: SealedChunk): Buffer {
        if (this.ended) throw new HpkeError('HPKE_CHUNK_ORDER', `chunk ${chunk.seq} after the final chunk`, { seq: chunk.seq });
        if (chunk.seq !== this.expected) {
            throw new HpkeError('HPKE_CHUNK_ORDER', `chunk ${chunk.seq}, expected ${this.expected}`, { seq: chunk.seq, expected: this.expected });
        }
        if (!(chunk.ct instanceof Uint8Array) || chunk.ct.length < TAG_BYTES) throw new HpkeError('HPKE_OPEN_FAILED', 'chunk shorter than its tag');
        let pt: Buffer;
        try {
            const d = createDecipheriv('aes-128-gcm', this.key, chunkNonce(chunk.seq));
            d.setAAD(chunkAad(chunk.seq, chunk.final));
            d.setAuthTag(chunk.ct.subarray(chunk.ct.length - TAG_BYTES));
            pt = Buffer.concat([d.update(chunk.ct.subarray(0, chunk.ct.length - TAG_BYTES)), d.final()]);
        } catch {
            // A failed chunk does not advance the sequence; the caller fails the request.
            throw new HpkeError('HPKE_OPEN_FAILED', `chunk ${chunk.seq} failed authentication`, { seq: chunk.seq });
        }
        this.expected++;
        if (chunk.final) this.ended = true;
        return pt;
    }

    /** Call when the response ends (response_end): throws HPKE_TRUNCATED unless the final chunk was opened. */
    finish(): void {
        if (!this.ended) throw new HpkeError('HPKE_TRUNCATED', `response ended after ${this.expected} chunk(s) without its final chunk`, { chunks: this.expected });
    }
}

/**
 * The secret both ends export from the request's HPKE context. It is not the response key: the worker mixes in a
 * fresh random salt and the bytes that bind its response_start (status, headers), so
 *   key = HKDF-SHA256(ikm = secret, salt = worker salt, info = "cocoon-ts/response-key/v2" ‖ binding, 16 bytes).
 * A replayed request (same enc, same secret) still gets a fresh key, and a response_start altered on the way makes
 * the client derive another key, so the first chunk fails authentication (spec/wire.md, "Router-blind mode").
 */
export class ResponseSecret {
    constructor(private readonly secret: Buffer) {}

    private key(salt: Uint8Array, binding: Uint8Array): Buffer {
        if (!(salt instanceof Uint8Array) || salt.length !== RESPONSE_SALT_BYTES) throw new HpkeError('HPKE_OPEN_FAILED', `response salt must be ${RESPONSE_SALT_BYTES} bytes`);
        return Buffer.from(hkdfSync('sha256', this.secret, salt, Buffer.concat([RESPONSE_KEY_INFO, binding]), 16));
    }

    /** Worker: a fresh salt (sent in response_start) and the sealer of this response's chunks. */
    seal(binding: Uint8Array, salt: Buffer = randomBytes(RESPONSE_SALT_BYTES)): { salt: Buffer; sealer: ResponseSealer } {
        return { salt, sealer: new ResponseSealer(this.key(salt, binding)) };
    }

    /** Client: the opener for the salt and binding its response_start carried. */
    open(salt: Uint8Array, binding: Uint8Array): ResponseOpener {
        return new ResponseOpener(this.key(salt, binding));
    }
}

/**
 * Worker: the encapsulated keys of sealed requests already opened, so a replay is refused (HPKE_REPLAYED). Bounded:
 * at most `capacity` entries, the oldest forgotten first (0 = no cache). A replay of a forgotten encapsulation is
 * served again, but under a fresh response key (ResponseSecret), so it reveals nothing about the first response.
 */
export class ReplayCache {
    private readonly seen = new Set<string>();

    constructor(readonly capacity: number) {
        if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('capacity must be a non-negative integer');
    }

    get size(): number {
        return this.seen.size;
    }

    /** Records `enc`; false if it was seen (and is still remembered). */
    add(enc: Uint8Array): boolean {
        if (this.capacity === 0) return true;
        const k = Buffer.from(enc).toString('base64');
        if (this.seen.has(k)) return false;
        this.seen.add(k);
        if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string);
        return true;
    }
}

export interface SealedRequest {
    /** Encapsulated key (32 bytes). */
    enc: Buffer;
    ct: Buffer;
    /** Key id of the recipient key. */
    keyId: string;
    /** The response secret exported from this HPKE context (the opener needs the worker's response_start). */
    response: ResponseSecret;
}

/** Client: seal a request body to a worker's HPKE public key; aad binds the routing fields (see wire requestAad). */
export async function sealRequest(workerHpkePublicKey: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<SealedRequest> {
    const recipientPublicKey = await importPublicKey(workerHpkePublicKey);
    const ctx = await suite.createSenderContext({ recipientPublicKey, info: HPKE_INFO });
    const ct = Buffer.from(await ctx.seal(plaintext, aad));
    const secret = Buffer.from(await ctx.export(RESPONSE_EXPORT_LABEL, RESPONSE_SALT_BYTES));
    return { enc: Buffer.from(ctx.enc), ct, keyId: hpkeKeyId(Buffer.from(workerHpkePublicKey)), response: new ResponseSecret(secret) };
}

export interface OpenedRequest {
    plaintext: Buffer;
    /** The response secret; seal(binding) gives the salt and the sealer of the response chunks. */
    response: ResponseSecret;
}

/** Worker: open a sealed request. Any failure (wrong key, altered enc / ct / aad) is HPKE_OPEN_FAILED. */
export async function openRequest(worker: HpkeKeyPair, enc: Uint8Array, ct: Uint8Array, aad: Uint8Array): Promise<OpenedRequest> {
    if (typeof worker?.privateKey !== 'object' || worker.privateKey === null) throw new HpkeError('HPKE_BAD_KEY', 'no HPKE private key');
    try {
        const ctx = await suite.createRecipientContext({ recipientKey: worker.privateKey, enc, info: HPKE_INFO });
        const plaintext = Buffer.from(await ctx.open(ct, aad));
        const secret = Buffer.from(await ctx.export(RESPONSE_EXPORT_LABEL, RESPONSE_SALT_BYTES));
        return { plaintext, response: new ResponseSecret(secret) };
    } catch (e) {
        throw new HpkeError('HPKE_OPEN_FAILED', 'sealed request failed to open', { cause: (e as Error)?.name });
    }
}
