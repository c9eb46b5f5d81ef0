// Wire frames, shared bits (spec/wire.md, "Frames"): the protocol versions and limits, the bounded field types every
// frame is built from, the hello fields both kinds of peer send, and the frames of every direction (hello_ok, ping,
// pong, error). The frames of one pair of peers are in frames-client.ts (client ↔ proxy), frames-worker.ts
// (proxy ↔ worker) and frames-request.ts (a request and its response, relayed client → proxy → worker and back);
// frames.ts parses and encodes them by direction. Every frame is a strict object (unknown keys are rejected) with
// a `type` discriminator and the protocol version `v`; strings, arrays and base64 payloads are bounded; money,
// token counts and coefficients are bigint in the typed frame and decimal strings on the wire.
import { Address } from '@ton/core';
import { z } from 'zod';
import { MAX_RECEIPT_BASE64 } from '../receipt';

// ---------------------------------------------------------------------------------------------------------------
// Versions and limits

/** The highest protocol version this code speaks. */
export const PROTOCOL_VERSION = 1;
/** The lowest protocol version this code speaks. */
export const MIN_PROTOCOL_VERSION = 1;

/** Largest WebSocket message (UTF-8 bytes) a peer may send; agents set ws `maxPayload` to this. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Deepest nesting of arrays/objects in a frame, the request body included. */
export const MAX_JSON_DEPTH = 64;
/** Largest sealed request (HPKE ciphertext, decoded bytes). */
export const MAX_SEALED_REQUEST_BYTES = 3 * 1024 * 1024;
/** Largest response chunk: `data` in UTF-16 code units, or sealed plaintext in bytes (the ciphertext adds a 16-byte tag). */
export const MAX_CHUNK_BYTES = 256 * 1024;
/** Largest RA-TLS certificate carried as an attestation reference (= transport MAX_CERT_BYTES: 48 KiB + the GPU bundle's 80 KiB). */
export const MAX_ATTESTATION_BYTES = 128 * 1024;
/** Largest signed receipt BOC in decoded bytes: the receipt module's base64 limit (agents/core/receipt.ts). */
export const MAX_RECEIPT_BYTES = (MAX_RECEIPT_BASE64 / 4) * 3;
export const MAX_MODELS = 32;
export const MAX_CANDIDATES = 16;
export const MAX_MESSAGE_CHARS = 1024;
export const MAX_MODEL_NAME_CHARS = 128;
export const MAX_WORKER_CAPACITY = 100_000;
/** Upper bound of `maxTokens` in a request (the worker applies the model's context length). */
export const MAX_REQUEST_TOKENS = 0x7fff_ffff;
export const MAX_SEQ = 0xffff_ffff;

export const MAX_COINS = (1n << 120n) - 1n; // TON Coins (VarUInteger 16)
export const MAX_UINT64 = (1n << 64n) - 1n;
export const MAX_UINT32 = (1n << 32n) - 1n;

// ---------------------------------------------------------------------------------------------------------------
// Field types

export function isCanonicalBase64(s: string): boolean {
    if (s.length % 4 !== 0) return false;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        const alnum = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
        if (alnum) continue;
        if (c === 61 && (i === s.length - 1 || (i === s.length - 2 && s.charCodeAt(s.length - 1) === 61))) continue;
        return false;
    }
    // Unused bits of the last quantum must be zero: one encoding per byte string (checked on that quantum alone, so a
    // relayed chunk is not decoded and re-encoded at every hop).
    if (s.endsWith('==')) return (base64Value(s.charCodeAt(s.length - 3)) & 0x0f) === 0;
    if (s.endsWith('=')) return (base64Value(s.charCodeAt(s.length - 2)) & 0x03) === 0;
    return true;
}

/** The 6-bit value of a base64 alphabet character (the caller has checked it is one). */
function base64Value(c: number): number {
    if (c >= 65 && c <= 90) return c - 65;
    if (c >= 97 && c <= 122) return c - 71;
    if (c >= 48 && c <= 57) return c + 4;
    return c === 43 ? 62 : 63;
}

export function base64Bytes(s: string): number {
    const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
    return (s.length / 4) * 3 - pad;
}

/** Canonical padded base64 (RFC 4648 §4) of minBytes..maxBytes bytes; stays a string in the typed frame. */
export function base64(minBytes: number, maxBytes: number) {
    return z
        .string()
        .max(Math.ceil(maxBytes / 3) * 4)
        .superRefine((s, ctx) => {
            if (!isCanonicalBase64(s)) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not canonical base64' });
                return;
            }
            const n = base64Bytes(s);
            if (n < minBytes || n > maxBytes) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: `decodes to ${n} bytes, expected ${minBytes}..${maxBytes}` });
            }
        });
}

/** Lowercase hex of exactly `bytes` bytes. */
export function hex(bytes: number) {
    return z
        .string()
        .length(bytes * 2)
        .regex(/^[0-9a-f]*$/, 'not lowercase hex');
}

/** Unsigned integer as a decimal string without leading zeros → bigint ≤ max. */
export function uintString(max: bigint) {
    const digits = max.toString().length;
    return z
        .string()
        .max(digits)
        .superRefine((s, ctx) => {
            if (!/^(0|[1-9][0-9]*)$/.test(s)) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a decimal unsigned integer' });
            } else if (BigInt(s) > max) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: `exceeds ${max}` });
            }
        })
        .transform((s) => BigInt(s));
}

export const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** nanoTON amount, 0..2^120-1 (TON Coins). */
export const coins = uintString(MAX_COINS);
/** Price coefficient, uint32 (1000 = 1.0x Root's prices; see agents/core/pricing.ts). */
export const coefficient = uintString(MAX_UINT32);
export const tokens = uintString(MAX_UINT64);

/** Request id: 128 random bits, 32 lowercase hex characters. */
export const requestId = hex(16);
/** HPKE key id: SHA-256 of the raw X25519 public key, 64 lowercase hex characters. */
export const keyId = hex(32);
export const signature = hex(64);

/** A TON address in any form @ton/core's Address.parse accepts (raw or user-friendly). */
export const tonAddress = z
    .string()
    .min(1)
    .max(96)
    .superRefine((s, ctx) => {
        try {
            Address.parse(s);
        } catch {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a TON address' });
        }
    });

/** Model name: 1..128 printable ASCII characters without spaces (Root's canonical name). */
export const modelName = z
    .string()
    .min(1)
    .max(MAX_MODEL_NAME_CHARS)
    .regex(/^[\x21-\x7e]+$/, 'not printable ASCII without spaces');

/** Stable error code: an upper-case identifier. */
export const errorCode = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'not an error code (A-Z, 0-9, _; at most 64)');
export const message = z.string().max(MAX_MESSAGE_CHARS);
export const agentName = z.string().max(128);
export const nonce = z.string().regex(/^[0-9a-f]{1,32}$/, 'not 1..32 lowercase hex characters');

export function isPlainObject(v: unknown): v is Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const p = Object.getPrototypeOf(v);
    return p === Object.prototype || p === null;
}

/** An OpenAI request body: a JSON object, carried as-is (the worker validates its fields). */
export const openAiBody = z.custom<Record<string, unknown>>(isPlainObject, { message: 'not a JSON object' });

export const version = int(1, 0xffff);
export const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
    z.object({ type: z.literal(type), v: version, ...shape }).strict();

// ---------------------------------------------------------------------------------------------------------------
// Frames of every direction

export const hello = {
    /** Lowest version the sender speaks; `v` is its highest. */
    minV: version,
    /** TON address of the sender's payment channel (ClientChannel / WorkerChannel). */
    channel: tonAddress,
    /** Free-form software name/version, for logs. */
    agent: agentName.optional(),
};
export const versionRange = (f: { v: number; minV: number }, ctx: z.RefinementCtx) => {
    if (f.minV > f.v) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['minV'], message: 'minV exceeds v' });
};

/** proxy → client / worker: accepts the hello; `v` is the negotiated version. */
export const HelloOk = frame('hello_ok', { proxy: tonAddress });

export const Ping = frame('ping', { nonce });
export const Pong = frame('pong', { nonce });

/** Either side: a connection-level error. `fatal`: the sender closes the connection after it. */
export const ErrorFrame = frame('error', { code: errorCode, message, fatal: z.boolean(), id: requestId.optional() });
