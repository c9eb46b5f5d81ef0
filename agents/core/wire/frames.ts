// Wire frames of the agent protocol (spec/wire.md): one JSON object per WebSocket text message over RA-TLS
// (agents/core/transport), between client ↔ proxy and worker ↔ proxy. The schemas live by direction in
// fields.ts (shared bits), frames-client.ts, frames-worker.ts and frames-request.ts; this file names the typed
// frames, says which direction carries which, and parses / encodes them. parseFrame is total: it returns a typed
// frame or throws WireError.
import { z } from 'zod';
import { WireError } from './errors';
import { ErrorFrame, HelloOk, isPlainObject, MAX_FRAME_BYTES, MAX_JSON_DEPTH, MIN_PROTOCOL_VERSION, Ping, Pong, PROTOCOL_VERSION, versionRange } from './fields';
import { CoopWithdraw, CoopWithdrawSigned, GetWorkerCandidates, HelloClient, HelloClientObject, PaymentStatus, Voucher, WorkerCandidate, WorkerCandidates } from './frames-client';
import { HelloWorker, HelloWorkerObject, Offer, OfferOk, Payout } from './frames-worker';
import { Cancel, isResponseChunk, Request, ResponseChunk, ResponseEnd, ResponseError, ResponseStart, Sealed, Usage } from './frames-request';

export {
    coefficient, coins, ErrorFrame, errorCode, HelloOk, keyId, MAX_ATTESTATION_BYTES, MAX_CANDIDATES, MAX_CHUNK_BYTES, MAX_FRAME_BYTES,
    MAX_JSON_DEPTH, MAX_MESSAGE_CHARS, MAX_MODEL_NAME_CHARS, MAX_MODELS, MAX_RECEIPT_BYTES, MAX_REQUEST_TOKENS, MAX_SEALED_REQUEST_BYTES,
    MAX_SEQ, MAX_WORKER_CAPACITY, MIN_PROTOCOL_VERSION, modelName, Ping, Pong, PROTOCOL_VERSION, requestId, tonAddress,
} from './fields';
export { CoopWithdraw, CoopWithdrawSigned, GetWorkerCandidates, HelloClient, PaymentStatus, Voucher, WorkerCandidate, WorkerCandidates } from './frames-client';
export { HelloWorker, ModelOffer, Offer, OfferOk, Payout } from './frames-worker';
export { bodyMismatch, Cancel, isResponseChunk, Request, ResponseChunk, ResponseEnd, ResponseError, ResponseHeaders, ResponseStart, Sealed, Usage } from './frames-request';

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
export type CoopWithdrawFrame = z.infer<typeof CoopWithdraw>;
export type CoopWithdrawSignedFrame = z.infer<typeof CoopWithdrawSigned>;
export type OfferFrame = z.infer<typeof Offer>;
export type OfferOkFrame = z.infer<typeof OfferOk>;

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
    | ErrorFrameT
    | CoopWithdrawFrame
    | CoopWithdrawSignedFrame
    | OfferFrame
    | OfferOkFrame;
export type FrameType = Frame['type'];

// ---------------------------------------------------------------------------------------------------------------
// Directions

/** Who sent the frame to whom; the receiver parses with the direction it receives on. */
export type Direction = 'client_to_proxy' | 'proxy_to_client' | 'worker_to_proxy' | 'proxy_to_worker';
export const DIRECTIONS: readonly Direction[] = ['client_to_proxy', 'proxy_to_client', 'worker_to_proxy', 'proxy_to_worker'];

type Common = PingFrame | PongFrame | ErrorFrameT;
export interface DirectionFrames {
    client_to_proxy: HelloClientFrame | RequestFrame | CancelFrame | VoucherFrame | GetWorkerCandidatesFrame | Common | CoopWithdrawFrame;
    proxy_to_client:
        | HelloOkFrame
        | ResponseStartFrame
        | ResponseChunkFrame
        | ResponseEndFrame
        | ResponseErrorFrame
        | PaymentStatusFrame
        | WorkerCandidatesFrame
        | Common
        | CoopWithdrawSignedFrame;
    worker_to_proxy: HelloWorkerFrame | ResponseStartFrame | ResponseChunkFrame | ResponseEndFrame | ResponseErrorFrame | Common | OfferFrame;
    proxy_to_worker: HelloOkFrame | RequestFrame | CancelFrame | PayoutFrame | Common | OfferOkFrame;
}

type AnySchema = z.ZodTypeAny;
const common = { ping: Ping, pong: Pong, error: ErrorFrame };
const RESPONSE = { response_start: ResponseStart, response_chunk: ResponseChunk, response_end: ResponseEnd, response_error: ResponseError };

/** The frames each direction may carry (type → schema). */
export const DIRECTION_SCHEMAS: Record<Direction, Readonly<Record<string, AnySchema>>> = {
    client_to_proxy: { hello: HelloClient, request: Request, cancel: Cancel, voucher: Voucher, get_worker_candidates: GetWorkerCandidates, ...common, coop_withdraw: CoopWithdraw },
    proxy_to_client: { hello_ok: HelloOk, ...RESPONSE, payment_status: PaymentStatus, worker_candidates: WorkerCandidates, ...common, coop_withdraw_signed: CoopWithdrawSigned },
    worker_to_proxy: { hello: HelloWorker, ...RESPONSE, ...common, offer: Offer },
    proxy_to_worker: { hello_ok: HelloOk, request: Request, cancel: Cancel, payout: Payout, ...common, offer_ok: OfferOk },
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
    'coop_withdraw',
    'coop_withdraw_signed',
    'offer',
    'offer_ok',
];
const KNOWN_TYPES: ReadonlySet<string> = new Set(FRAME_TYPES);

/** Hello of a newer peer (v > PROTOCOL_VERSION): fields we do not know are dropped instead of rejected. */
const LOOSE_HELLO = new Map<z.ZodTypeAny, z.ZodTypeAny>([
    [HelloClient, HelloClientObject.strip().superRefine(versionRange)],
    [HelloWorker, HelloWorkerObject.strip().superRefine(versionRange)],
]);

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
    // Fewer than max + 1 opening brackets anywhere (strings included) cannot nest deeper: the common frame (a chunk
    // whose payload is escaped JSON full of quotes) costs one character loop instead of a regex step per quote.
    let openers = 0;
    for (let j = 0; j < text.length; j++) {
        const c = text.charCodeAt(j);
        if ((c === 0x5b || c === 0x7b) && ++openers > max) break;
    }
    if (openers <= max) return -1;
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

    // The chunk fast path: the same verdict as the schema (isResponseChunk); a refused chunk gets the schema's error.
    if (type === 'response_chunk' && isResponseChunk(obj)) return obj as ResponseChunkFrame;
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
    // A chunk (one per streamed batch) is checked as the typed object it is: no bigints, nothing to reparse.
    if (f.type === 'response_chunk' && (dir === undefined || dir === 'worker_to_proxy' || dir === 'proxy_to_client') && isResponseChunk(f as unknown as Record<string, unknown>)) {
        const text = JSON.stringify(f);
        if (text.length * 3 > MAX_FRAME_BYTES && Buffer.byteLength(text, 'utf8') > MAX_FRAME_BYTES) throw new WireError('WIRE_TOO_LARGE', `frame exceeds ${MAX_FRAME_BYTES} bytes`);
        return text;
    }
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