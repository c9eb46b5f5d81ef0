// Wire frames of the agent protocol (spec/wire.md): one JSON object per WebSocket text message over RA-TLS
// (agents/core/transport), between client ↔ proxy and worker ↔ proxy.
//
// Every frame is a strict object (unknown keys are rejected) with a `type` discriminator and the protocol version
// `v`. Strings, arrays and base64 payloads are bounded; money, token counts and coefficients are bigint in the typed
// frame and decimal strings on the wire. parseFrame is total: it returns a typed frame or throws WireError.
import { createHash } from 'crypto';
import { Address } from '@ton/core';
import { z } from 'zod';
import { WireError } from './errors';
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
/** Largest RA-TLS certificate carried as an attestation reference (= transport MAX_CERT_BYTES). */
export const MAX_ATTESTATION_BYTES = 48 * 1024;
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

const MAX_COINS = (1n << 120n) - 1n; // TON Coins (VarUInteger 16)
const MAX_UINT64 = (1n << 64n) - 1n;
const MAX_UINT32 = (1n << 32n) - 1n;

// ---------------------------------------------------------------------------------------------------------------
// Field types

function isCanonicalBase64(s: string): boolean {
    if (s.length % 4 !== 0) return false;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        const alnum = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
        if (alnum) continue;
        if (c === 61 && (i === s.length - 1 || (i === s.length - 2 && s.charCodeAt(s.length - 1) === 61))) continue;
        return false;
    }
    // Unused bits of the last quantum must be zero: one encoding per byte string.
    return Buffer.from(s, 'base64').toString('base64') === s;
}

function base64Bytes(s: string): number {
    const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
    return (s.length / 4) * 3 - pad;
}

/** Canonical padded base64 (RFC 4648 §4) of minBytes..maxBytes bytes; stays a string in the typed frame. */
function base64(minBytes: number, maxBytes: number) {
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
function hex(bytes: number) {
    return z
        .string()
        .length(bytes * 2)
        .regex(/^[0-9a-f]*$/, 'not lowercase hex');
}

/** Unsigned integer as a decimal string without leading zeros → bigint ≤ max. */
function uintString(max: bigint) {
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

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** nanoTON amount, 0..2^120-1 (TON Coins). */
export const coins = uintString(MAX_COINS);
/** Price coefficient, uint32 (1000 = 1.0x Root's prices; see agents/core/pricing.ts). */
export const coefficient = uintString(MAX_UINT32);
const tokens = uintString(MAX_UINT64);

/** Request id: 128 random bits, 32 lowercase hex characters. */
export const requestId = hex(16);
/** HPKE key id: SHA-256 of the raw X25519 public key, 64 lowercase hex characters. */
export const keyId = hex(32);
const signature = hex(64);

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
const message = z.string().max(MAX_MESSAGE_CHARS);
const agentName = z.string().max(128);
const nonce = z.string().regex(/^[0-9a-f]{1,32}$/, 'not 1..32 lowercase hex characters');

function isPlainObject(v: unknown): v is Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const p = Object.getPrototypeOf(v);
    return p === Object.prototype || p === null;
}

/** An OpenAI request body: a JSON object, carried as-is (the worker validates its fields). */
const openAiBody = z.custom<Record<string, unknown>>(isPlainObject, { message: 'not a JSON object' });

const version = int(1, 0xffff);
const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
    z.object({ type: z.literal(type), v: version, ...shape }).strict();

// ---------------------------------------------------------------------------------------------------------------
// Frames

const hello = {
    /** Lowest version the sender speaks; `v` is its highest. */
    minV: version,
    /** TON address of the sender's payment channel (ClientChannel / WorkerChannel). */
    channel: tonAddress,
    /** Free-form software name/version, for logs. */
    agent: agentName.optional(),
};
const versionRange = (f: { v: number; minV: number }, ctx: z.RefinementCtx) => {
    if (f.minV > f.v) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['minV'], message: 'minV exceeds v' });
};

export const ModelOffer = z.object({ name: modelName, coefficient }).strict();

/** client → proxy: first frame on a client connection. */
const HelloClientObject = frame('hello', { ...hello, role: z.literal('client') });
export const HelloClient = HelloClientObject.superRefine(versionRange);
/** worker → proxy: first frame on a worker connection. */
const HelloWorkerObject = frame('hello', {
    ...hello,
    role: z.literal('worker'),
    models: z
        .array(ModelOffer)
        .min(1)
        .max(MAX_MODELS)
        .superRefine((ms, ctx) => {
            const seen = new Set<string>();
            ms.forEach((m, i) => {
                if (seen.has(m.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'name'], message: 'duplicate model' });
                seen.add(m.name);
            });
        }),
    /** Concurrent requests the worker accepts. */
    capacity: int(1, MAX_WORKER_CAPACITY),
    /**
     * The channel owner's authorization (agents/core/worker-hello.ts): Ed25519 by the owner wallet's key over
     * worker_hello(channel, proxy, the worker's attested TLS key, expiresAt). The proxy refuses a hello without it.
     */
    auth: z.object({ expiresAt: int(1, 0xffff_ffff), signature }).strict().optional(),
});
export const HelloWorker = HelloWorkerObject.superRefine(versionRange);
/** Hello of a newer peer (v > PROTOCOL_VERSION): fields we do not know are dropped instead of rejected. */
const LOOSE_HELLO = new Map<z.ZodTypeAny, z.ZodTypeAny>([
    [HelloClient, HelloClientObject.strip().superRefine(versionRange)],
    [HelloWorker, HelloWorkerObject.strip().superRefine(versionRange)],
]);
/** proxy → client / worker: accepts the hello; `v` is the negotiated version. */
export const HelloOk = frame('hello_ok', { proxy: tonAddress });

export const Sealed = z
    .object({
        /** Key id of the worker HPKE key the body is sealed to. */
        keyId,
        /** HPKE encapsulated key (X25519: 32 bytes). */
        enc: base64(32, 32),
        /** HPKE ciphertext of the JSON body (AES-128-GCM: plaintext + 16-byte tag). */
        ct: base64(16, MAX_SEALED_REQUEST_BYTES),
    })
    .strict();

/** client → proxy → worker: one inference request. Exactly one of `body` (plain) and `sealed` (router-blind). */
export const Request = frame('request', {
    id: requestId,
    model: modelName,
    endpoint: z.enum(['chat', 'completions']),
    stream: z.boolean(),
    maxTokens: int(1, MAX_REQUEST_TOKENS),
    maxCoefficient: coefficient,
    body: openAiBody.optional(),
    sealed: Sealed.optional(),
}).superRefine((f, ctx) => {
    if (f.body !== undefined && f.sealed !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['sealed'], message: 'body and sealed are exclusive' });
    } else if (f.body === undefined && f.sealed === undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['body'], message: 'body or sealed is required' });
    } else if (f.body !== undefined) {
        const issue = bodyMismatch(f, f.body);
        if (issue) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['body', issue.field], message: issue.message });
    }
});

/** The routing fields must agree with the body they route: `model` equal, `stream` equal (absent = false). */
export function bodyMismatch(
    f: { model: string; stream: boolean },
    body: Record<string, unknown>,
): { field: 'model' | 'stream'; message: string } | undefined {
    if (body.model !== f.model) return { field: 'model', message: 'differs from the frame model' };
    const stream = body.stream === undefined || body.stream === null ? false : body.stream;
    if (stream !== f.stream) return { field: 'stream', message: 'differs from the frame stream flag' };
    return undefined;
}

/** Response headers the worker may pass on (lowercase names). */
export const ResponseHeaders = z
    .object({
        'content-type': z.string().max(256).optional(),
        'openai-processing-ms': z.string().max(32).optional(),
        'retry-after': z.string().max(32).optional(),
    })
    .strict();

/** worker → proxy → client: the backend answered. */
export const ResponseStart = frame('response_start', {
    id: requestId,
    status: int(100, 599),
    headers: ResponseHeaders,
    /** Router-blind mode only: the worker's fresh response-key salt (32 bytes); the key binds status and headers. */
    salt: base64(32, 32).optional(),
});

/** worker → proxy → client: a piece of the response. `seq` counts from 0 without gaps. */
export const ResponseChunk = frame('response_chunk', {
    id: requestId,
    seq: int(0, MAX_SEQ),
    /** Plain mode: for a stream one OpenAI chunk object (the SSE `data:` payload), else a slice of the body. */
    data: z.string().max(MAX_CHUNK_BYTES).optional(),
    /** Router-blind mode: the same, sealed with the response key (agents/core/hpke.ts). */
    sealed: z.object({ ct: base64(16, MAX_CHUNK_BYTES + 16) }).strict().optional(),
    /** The last chunk of the response (required before response_end in router-blind mode). */
    final: z.boolean().optional(),
}).superRefine((f, ctx) => {
    if ((f.data === undefined) === (f.sealed === undefined)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [f.data === undefined ? 'data' : 'sealed'], message: 'exactly one of data and sealed' });
    }
});

/** Token counts, as in the receipt (agents/core/pricing.ts TokenUsage). */
export const Usage = z.object({ prompt: tokens, cached: tokens, completion: tokens, reasoning: tokens }).strict();

/** worker → proxy → client: the response is complete. */
export const ResponseEnd = frame('response_end', {
    id: requestId,
    usage: Usage,
    /** nanoTON, pricing.cost(usage, Root's prices, coefficient); the receipt is authoritative. */
    cost: coins,
    /** Signed receipt, base64 BOC (agents/core/receipt.ts); opaque to this layer. */
    receipt: base64(1, MAX_RECEIPT_BYTES),
    /**
     * The stream ended early (cancel, disconnect, broken backend) before the backend reported usage: the receipt bills
     * the prompt and the tokens already streamed (spec/payments.md, "Partial receipts"). Absent on a complete response.
     */
    partial: z.literal(true).optional(),
});

/** worker → proxy → client, or proxy → client: the request failed; nothing more follows for this id. */
export const ResponseError = frame('response_error', {
    id: requestId,
    code: errorCode,
    message,
    /** The same request may succeed if sent again (elsewhere / later). */
    retryable: z.boolean(),
});

/** client → proxy → worker: abandon the request. */
export const Cancel = frame('cancel', { id: requestId });

/** client → proxy: cumulative voucher; signature = Ed25519 over voucherPayload(channel, amount, globalId).hash(). */
export const Voucher = frame('voucher', { amount: coins, signature });

/** proxy → client: the client's account as the proxy's ledger has it. */
export const PaymentStatus = frame('payment_status', {
    /** Cumulative cost of responses delivered to the client. */
    delivered: coins,
    /** Latest accepted cumulative voucher amount. */
    voucher: coins,
    /** How far `delivered` may run ahead of `voucher`. */
    creditWindow: coins,
    /** max(0, voucher + creditWindow − delivered): cost the proxy will still serve unvouched. */
    creditRemaining: coins,
});

/** proxy → worker: cumulative payout; signature = Ed25519 (proxy enclave key) over payoutPayload(channel, amount, globalId).hash(). */
export const Payout = frame('payout', { amount: coins, signature });

/** client → proxy: ask for workers to seal a router-blind request to. */
export const GetWorkerCandidates = frame('get_worker_candidates', { id: requestId, model: modelName, maxCoefficient: coefficient });

export const WorkerCandidate = z
    .object({
        keyId,
        /** Raw X25519 public key, lowercase hex (32 bytes); must be the HPKE key in the attestation's claims. */
        hpkePublicKey: hex(32),
        coefficient,
        /** The worker's RA-TLS certificate (DER, base64): quote + claims binding hpkePublicKey. */
        attestation: base64(1, MAX_ATTESTATION_BYTES),
    })
    .strict()
    .superRefine((c, ctx) => {
        if (c.keyId !== createHash('sha256').update(Buffer.from(c.hpkePublicKey, 'hex')).digest('hex')) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['keyId'], message: 'not SHA-256 of hpkePublicKey' });
        }
    });

/** proxy → client: answer to get_worker_candidates (same id); may be empty. */
export const WorkerCandidates = frame('worker_candidates', {
    id: requestId,
    model: modelName,
    candidates: z.array(WorkerCandidate).max(MAX_CANDIDATES),
});

export const Ping = frame('ping', { nonce });
export const Pong = frame('pong', { nonce });

/** Either side: a connection-level error. `fatal`: the sender closes the connection after it. */
export const ErrorFrame = frame('error', { code: errorCode, message, fatal: z.boolean(), id: requestId.optional() });

export type HelloClientFrame = z.infer<typeof HelloClient>;
export type HelloWorkerFrame = z.infer<typeof HelloWorker>;
export type HelloFrame = HelloClientFrame | HelloWorkerFrame;
export type HelloOkFrame = z.infer<typeof HelloOk>;
export type RequestFrame = z.infer<typeof Request>;
export type SealedBody = z.infer<typeof Sealed>;
export type ResponseStartFrame = z.infer<typeof ResponseStart>;
export type ResponseChunkFrame = z.infer<typeof ResponseChunk>;
export type ResponseEndFrame = z.infer<typeof ResponseEnd>;
export type ResponseErrorFrame = z.infer<typeof ResponseError>;
export type CancelFrame = z.infer<typeof Cancel>;
export type VoucherFrame = z.infer<typeof Voucher>;
export type PaymentStatusFrame = z.infer<typeof PaymentStatus>;
export type PayoutFrame = z.infer<typeof Payout>;
export type GetWorkerCandidatesFrame = z.infer<typeof GetWorkerCandidates>;
export type WorkerCandidateInfo = z.infer<typeof WorkerCandidate>;
export type WorkerCandidatesFrame = z.infer<typeof WorkerCandidates>;
export type PingFrame = z.infer<typeof Ping>;
export type PongFrame = z.infer<typeof Pong>;
export type ErrorFrameT = z.infer<typeof ErrorFrame>;
export type WireUsage = z.infer<typeof Usage>;

export type Frame =
    | HelloFrame
    | HelloOkFrame
    | RequestFrame
    | ResponseStartFrame
    | ResponseChunkFrame
    | ResponseEndFrame
    | ResponseErrorFrame
    | CancelFrame
    | VoucherFrame
    | PaymentStatusFrame
    | PayoutFrame
    | GetWorkerCandidatesFrame
    | WorkerCandidatesFrame
    | PingFrame
    | PongFrame
    | ErrorFrameT;
export type FrameType = Frame['type'];

// ---------------------------------------------------------------------------------------------------------------
// Directions

/** Who sent the frame to whom; the receiver parses with the direction it receives on. */
export type Direction = 'client_to_proxy' | 'proxy_to_client' | 'worker_to_proxy' | 'proxy_to_worker';
export const DIRECTIONS: readonly Direction[] = ['client_to_proxy', 'proxy_to_client', 'worker_to_proxy', 'proxy_to_worker'];

type Common = PingFrame | PongFrame | ErrorFrameT;
export interface DirectionFrames {
    client_to_proxy: HelloClientFrame | RequestFrame | CancelFrame | VoucherFrame | GetWorkerCandidatesFrame | Common;
    proxy_to_client:
        | HelloOkFrame
        | ResponseStartFrame
        | ResponseChunkFrame
        | ResponseEndFrame
        | ResponseErrorFrame
        | PaymentStatusFrame
        | WorkerCandidatesFrame
        | Common;
    worker_to_proxy: HelloWorkerFrame | ResponseStartFrame | ResponseChunkFrame | ResponseEndFrame | ResponseErrorFrame | Common;
    proxy_to_worker: HelloOkFrame | RequestFrame | CancelFrame | PayoutFrame | Common;
}

type AnySchema = z.ZodTypeAny;
const common = { ping: Ping, pong: Pong, error: ErrorFrame };
const RESPONSE = { response_start: ResponseStart, response_chunk: ResponseChunk, response_end: ResponseEnd, response_error: ResponseError };

/** The frames each direction may carry (type → schema). */
export const DIRECTION_SCHEMAS: Record<Direction, Readonly<Record<string, AnySchema>>> = {
    client_to_proxy: { hello: HelloClient, request: Request, cancel: Cancel, voucher: Voucher, get_worker_candidates: GetWorkerCandidates, ...common },
    proxy_to_client: { hello_ok: HelloOk, ...RESPONSE, payment_status: PaymentStatus, worker_candidates: WorkerCandidates, ...common },
    worker_to_proxy: { hello: HelloWorker, ...RESPONSE, ...common },
    proxy_to_worker: { hello_ok: HelloOk, request: Request, cancel: Cancel, payout: Payout, ...common },
};

export const FRAME_TYPES: readonly FrameType[] = [
    'hello',
    'hello_ok',
    'request',
    'response_start',
    'response_chunk',
    'response_end',
    'response_error',
    'cancel',
    'voucher',
    'payment_status',
    'payout',
    'get_worker_candidates',
    'worker_candidates',
    'ping',
    'pong',
    'error',
];
const KNOWN_TYPES: ReadonlySet<string> = new Set(FRAME_TYPES);

// ---------------------------------------------------------------------------------------------------------------
// Parsing and encoding

export interface ParseOptions {
    /** The negotiated version; after hello, every frame but hello must carry exactly this `v`. */
    version?: number;
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Path of a field as `a.b[0].c`. */
export function formatPath(path: readonly (string | number)[]): string {
    let s = '';
    for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
    return s;
}

function badField(path: readonly (string | number)[], why: string, type?: string): WireError {
    const p = formatPath(path);
    return new WireError('WIRE_BAD_FIELD', `bad field ${p || '(frame)'}: ${why}`, { path: p, ...(type ? { type } : {}) });
}

/**
 * Where JSON text first nests deeper than `max` arrays/objects: the offset of the bracket that crosses the limit, or
 * -1. One pass over the characters, string-aware (brackets inside strings, escaped quotes included, do not count),
 * run before JSON.parse so that 4 MiB of `[` costs `max` + 1 characters of work instead of a parse. Malformed JSON
 * is left to JSON.parse.
 */
export function jsonDepthExceeded(text: string, max: number = MAX_JSON_DEPTH): number {
    // Jumps from one significant character to the next (brackets and quotes outside strings, quotes and backslashes
    // inside), so long string content costs one regex scan, not a loop step per character.
    const outside = /["[\]{}]/g;
    const inside = /["\\]/g;
    let depth = 0;
    let i = 0;
    for (;;) {
        outside.lastIndex = i;
        const m = outside.exec(text);
        if (!m) return -1;
        i = m.index + 1;
        const c = text.charCodeAt(m.index);
        if (c === 0x22) {
            // a string: find its closing quote, skipping escaped characters
            for (;;) {
                inside.lastIndex = i;
                const q = inside.exec(text);
                if (!q) return -1; // unterminated: JSON.parse refuses it
                i = q.index + (text.charCodeAt(q.index) === 0x5c ? 2 : 1);
                if (text.charCodeAt(q.index) === 0x22) break;
            }
        } else if (c === 0x5b || c === 0x7b) {
            if (++depth > max) return m.index;
        } else if (--depth < 0) return -1; // unbalanced: JSON.parse stops here too
    }
}

function checkDepth(text: string): void {
    if (jsonDepthExceeded(text) >= 0) throw new WireError('WIRE_MALFORMED', `nested deeper than ${MAX_JSON_DEPTH}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Negotiated version for a peer's hello: the highest version both speak. Throws WIRE_VERSION if none. */
export function negotiateVersion(peer: { v: number; minV: number }): number {
    const lo = Math.max(peer.minV, MIN_PROTOCOL_VERSION);
    const hi = Math.min(peer.v, PROTOCOL_VERSION);
    if (lo > hi) {
        throw new WireError('WIRE_VERSION', `peer speaks ${peer.minV}..${peer.v}, we speak ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`, {
            peer: [peer.minV, peer.v],
            ours: [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION],
        });
    }
    return hi;
}

/** Total parser: a typed frame that `dir` may carry, or WireError. Never throws anything else. */
export function parseFrame<D extends Direction>(input: string | Buffer | Uint8Array, dir: D, opts: ParseOptions = {}): DirectionFrames[D] {
    try {
        return parseInner(input, dir, opts) as DirectionFrames[D];
    } catch (e) {
        if (e instanceof WireError) throw e;
        // Not reachable by design; the fuzz tests assert `internal` never shows up.
        throw new WireError('WIRE_MALFORMED', 'unparseable frame', { internal: String(e) });
    }
}

function parseInner(input: unknown, dir: Direction, opts: ParseOptions): Frame {
    let text: string;
    if (typeof input === 'string') {
        if (input.length > MAX_FRAME_BYTES || Buffer.byteLength(input, 'utf8') > MAX_FRAME_BYTES) {
            throw new WireError('WIRE_TOO_LARGE', `frame exceeds ${MAX_FRAME_BYTES} bytes`, { limit: MAX_FRAME_BYTES });
        }
        text = input;
    } else if (input instanceof Uint8Array) {
        if (input.length > MAX_FRAME_BYTES) {
            throw new WireError('WIRE_TOO_LARGE', `frame is ${input.length} bytes, limit ${MAX_FRAME_BYTES}`, { limit: MAX_FRAME_BYTES });
        }
        try {
            text = utf8.decode(input);
        } catch {
            throw new WireError('WIRE_MALFORMED', 'not UTF-8');
        }
    } else {
        throw new WireError('WIRE_MALFORMED', 'frame is neither text nor bytes');
    }

    checkDepth(text);
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        throw new WireError('WIRE_MALFORMED', 'not JSON');
    }
    if (!isPlainObject(value)) throw new WireError('WIRE_MALFORMED', 'not a JSON object');
    return validate(value, dir, opts);
}

function validate(obj: Record<string, unknown>, dir: Direction, opts: ParseOptions): Frame {
    const type = own(obj, 'type') ? obj.type : undefined;
    if (typeof type !== 'string') throw new WireError('WIRE_MALFORMED', 'frame has no string `type`');
    if (!KNOWN_TYPES.has(type)) throw new WireError('WIRE_UNKNOWN_TYPE', `unknown frame type ${JSON.stringify(type.slice(0, 64))}`, { type: type.slice(0, 64) });
    const schemas = DIRECTION_SCHEMAS[dir];
    if (!schemas || !own(schemas, type)) throw new WireError('WIRE_DIRECTION', `${type} is not sent ${dir}`, { type, direction: dir });
    let schema = schemas[type];

    const v = own(obj, 'v') ? obj.v : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffff) throw badField(['v'], 'not an integer 1..65535', type);
    if (type === 'hello') {
        const minV = own(obj, 'minV') ? obj.minV : undefined;
        if (typeof minV !== 'number' || !Number.isInteger(minV) || minV < 1 || minV > v) throw badField(['minV'], 'not an integer 1..v', type);
        negotiateVersion({ v, minV });
        // A newer peer's hello may carry fields we do not know: drop them instead of rejecting the peer.
        if (v > PROTOCOL_VERSION) schema = LOOSE_HELLO.get(schema) ?? schema;
    } else if (opts.version !== undefined ? v !== opts.version : v < MIN_PROTOCOL_VERSION || v > PROTOCOL_VERSION) {
        throw new WireError('WIRE_VERSION', `frame version ${v}, expected ${opts.version ?? `${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`}`, { type, v });
    }

    const r = schema.safeParse(obj);
    if (!r.success) throw issueToError(r.error, type);
    return r.data as Frame;
}

function issueToError(err: z.ZodError, type: string): WireError {
    const issue = err.issues[0];
    if (!issue) return badField([], 'invalid', type);
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
        return badField([...issue.path, issue.keys[0] ?? ''], 'unknown field', type);
    }
    return badField(issue.path, issue.message, type);
}

function schemaFor(f: Frame, dir?: Direction): AnySchema {
    if (dir !== undefined) {
        const s = DIRECTION_SCHEMAS[dir][f.type];
        if (!s) throw new WireError('WIRE_DIRECTION', `${f.type} is not sent ${dir}`, { type: f.type, direction: dir });
        return s;
    }
    if (f.type === 'hello') return f.role === 'worker' ? HelloWorker : HelloClient;
    for (const d of DIRECTIONS) {
        const s = DIRECTION_SCHEMAS[d][f.type];
        if (s) return s;
    }
    throw new WireError('WIRE_UNKNOWN_TYPE', `unknown frame type ${String((f as { type: unknown }).type)}`);
}

/**
 * Serializes a typed frame (bigints as decimal strings) after validating it against its schema, so a bug on our
 * side surfaces as WireError here instead of as a rejected frame at the peer. With `dir`, also checks the direction.
 */
export function encodeFrame(f: Frame, dir?: Direction): string {
    let text: string;
    try {
        text = JSON.stringify(f, (_k, val) => (typeof val === 'bigint' ? val.toString() : val));
    } catch (e) {
        throw new WireError('WIRE_MALFORMED', `cannot serialize frame: ${String(e)}`);
    }
    if (typeof text !== 'string') throw new WireError('WIRE_MALFORMED', 'frame is not an object');
    if (Buffer.byteLength(text, 'utf8') > MAX_FRAME_BYTES) throw new WireError('WIRE_TOO_LARGE', `frame exceeds ${MAX_FRAME_BYTES} bytes`);
    const schema = schemaFor(f, dir);
    checkDepth(text);
    const value: unknown = JSON.parse(text);
    const r = schema.safeParse(value);
    if (!r.success) throw issueToError(r.error, f.type);
    return text;
}
