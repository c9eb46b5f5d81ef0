// Router-blind mode on the wire (spec/wire.md, "Router-blind mode"): request frames whose body is sealed to a
// worker's attested HPKE key, and response chunks sealed with the key exported from that HPKE context.
import { HpkeError, HpkeKeyPair, hpkeKeyId, openRequest, ResponseOpener, ResponseSealer, ResponseSecret, sealRequest } from '../hpke';
import { WireError } from './errors';
import {
    bodyMismatch,
    encodeFrame,
    MAX_CHUNK_BYTES,
    MAX_JSON_DEPTH,
    MAX_SEALED_REQUEST_BYTES,
    PROTOCOL_VERSION,
    RequestFrame,
    ResponseChunkFrame,
    ResponseStartFrame,
} from './frames';

const AAD_LABEL = Buffer.from('cocoon-ts/request-aad/v1', 'utf8');

/** The request fields the proxy sees and routes by; all of them are bound into the HPKE AAD. */
export type RoutingFields = Pick<RequestFrame, 'id' | 'model' | 'endpoint' | 'stream' | 'maxTokens' | 'maxCoefficient'>;

/**
 * AAD of a sealed request:
 *   "cocoon-ts/request-aad/v1" ‖ id (16 bytes) ‖ uint8 len ‖ model (UTF-8) ‖ uint8 len ‖ endpoint (ASCII)
 *   ‖ uint8 stream ‖ uint32_be maxTokens ‖ uint32_be maxCoefficient ‖ keyId (32 bytes)
 * so the proxy cannot re-label a sealed body (another id, model, endpoint, stream flag, token or price cap).
 */
export function requestAad(f: RoutingFields, keyId: string): Buffer {
    const bad = (path: string) => new WireError('WIRE_BAD_FIELD', `bad field ${path}: out of range for the request AAD`, { path });
    if (!/^[0-9a-f]{32}$/.test(f.id)) throw bad('id');
    if (!/^[0-9a-f]{64}$/.test(keyId)) throw bad('sealed.keyId');
    if (Buffer.byteLength(f.model, 'utf8') > 255) throw bad('model');
    if (!Number.isInteger(f.maxTokens) || f.maxTokens < 0 || f.maxTokens > 0xffff_ffff) throw bad('maxTokens');
    if (typeof f.maxCoefficient !== 'bigint' || f.maxCoefficient < 0n || f.maxCoefficient > 0xffff_ffffn) throw bad('maxCoefficient');
    const model = Buffer.from(f.model, 'utf8');
    const endpoint = Buffer.from(f.endpoint, 'ascii');
    const nums = Buffer.alloc(9);
    nums[0] = f.stream ? 1 : 0;
    nums.writeUInt32BE(f.maxTokens, 1);
    nums.writeUInt32BE(Number(f.maxCoefficient), 5);
    return Buffer.concat([
        AAD_LABEL,
        Buffer.from(f.id, 'hex'),
        Buffer.from([model.length]),
        model,
        Buffer.from([endpoint.length]),
        endpoint,
        nums,
        Buffer.from(keyId, 'hex'),
    ]);
}

/** Client: build a router-blind request frame for a (verified) worker candidate. */
export async function sealRequestFrame(
    worker: { hpkePublicKey: Uint8Array },
    fields: RoutingFields,
    body: Record<string, unknown>,
    v: number = PROTOCOL_VERSION,
): Promise<{ frame: RequestFrame; response: ResponseSecret }> {
    // The plain frame with this body must be valid: checks the routing fields, model/stream agreement and depth.
    encodeFrame({ type: 'request', v, ...pickRouting(fields), body });
    const plaintext = Buffer.from(JSON.stringify(body), 'utf8');
    if (plaintext.length + 16 > MAX_SEALED_REQUEST_BYTES) {
        throw new WireError('WIRE_TOO_LARGE', `body is ${plaintext.length} bytes, limit ${MAX_SEALED_REQUEST_BYTES - 16}`);
    }
    const keyId = hpkeKeyId(Buffer.from(worker.hpkePublicKey));
    const s = await sealRequest(worker.hpkePublicKey, plaintext, requestAad(fields, keyId));
    const frame: RequestFrame = {
        type: 'request',
        v,
        ...pickRouting(fields),
        sealed: { keyId: s.keyId, enc: s.enc.toString('base64'), ct: s.ct.toString('base64') },
    };
    return { frame, response: s.response };
}

function pickRouting(f: RoutingFields): RoutingFields {
    return { id: f.id, model: f.model, endpoint: f.endpoint, stream: f.stream, maxTokens: f.maxTokens, maxCoefficient: f.maxCoefficient };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function depthOk(root: unknown): boolean {
    const stack: [unknown, number][] = [[root, 1]];
    while (stack.length > 0) {
        const [v, d] = stack.pop()!;
        if (typeof v !== 'object' || v === null) continue;
        if (d > MAX_JSON_DEPTH) return false;
        for (const c of Array.isArray(v) ? v : Object.values(v)) stack.push([c, d + 1]);
    }
    return true;
}

/**
 * Worker: open a parsed router-blind request frame. Throws HpkeError (HPKE_KEY_MISMATCH, HPKE_OPEN_FAILED) or
 * WireError (WIRE_BAD_FIELD: no `sealed`, the plaintext is not a JSON object, or its model / stream differ).
 */
export async function openRequestFrame(
    worker: HpkeKeyPair,
    frame: RequestFrame,
): Promise<{ body: Record<string, unknown>; response: ResponseSecret; enc: Buffer }> {
    const sealed = frame.sealed;
    if (!sealed) throw new WireError('WIRE_BAD_FIELD', 'bad field sealed: the request is not sealed', { path: 'sealed' });
    if (sealed.keyId !== worker.keyId) {
        throw new HpkeError('HPKE_KEY_MISMATCH', `request sealed to key ${sealed.keyId}, this worker holds ${worker.keyId}`, { keyId: sealed.keyId });
    }
    const enc = Buffer.from(sealed.enc, 'base64');
    const opened = await openRequest(worker, enc, Buffer.from(sealed.ct, 'base64'), requestAad(frame, sealed.keyId));
    let body: unknown;
    try {
        body = JSON.parse(utf8.decode(opened.plaintext));
    } catch {
        throw new WireError('WIRE_BAD_FIELD', 'bad field sealed.ct: plaintext is not UTF-8 JSON', { path: 'sealed.ct' });
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !depthOk(body)) {
        throw new WireError('WIRE_BAD_FIELD', 'bad field sealed.ct: plaintext is not a JSON object within the depth limit', { path: 'sealed.ct' });
    }
    const b = body as Record<string, unknown>;
    const mismatch = bodyMismatch(frame, b);
    if (mismatch) throw new WireError('WIRE_BAD_FIELD', `bad field body.${mismatch.field}: ${mismatch.message}`, { path: `body.${mismatch.field}` });
    return { body: b, response: opened.response, enc };
}

const START_LABEL = Buffer.from('cocoon-ts/response-start/v1', 'utf8');
/** The headers a response_start may carry, in the order the binding lists them. */
const START_HEADERS = ['content-type', 'openai-processing-ms', 'retry-after'] as const;

/**
 * The bytes of a response_start that the response key binds:
 *   "cocoon-ts/response-start/v1" ‖ id (16 bytes) ‖ uint16_be status
 *   ‖ for each of content-type, openai-processing-ms, retry-after: uint16_be 0xffff (absent) | uint16_be len ‖ UTF-8
 * so a router that changes the status or a header makes the client derive another key.
 */
export function responseStartBinding(f: Pick<ResponseStartFrame, 'id' | 'status' | 'headers'>): Buffer {
    const parts: Buffer[] = [START_LABEL, Buffer.from(f.id, 'hex')];
    const u16 = (n: number) => {
        const b = Buffer.alloc(2);
        b.writeUInt16BE(n, 0);
        return b;
    };
    parts.push(u16(f.status));
    for (const h of START_HEADERS) {
        const v = f.headers[h];
        if (v === undefined) parts.push(u16(0xffff));
        else {
            const b = Buffer.from(v, 'utf8');
            parts.push(u16(b.length), b);
        }
    }
    return Buffer.concat(parts);
}

/** Worker: the sealed response_start (with a fresh salt) and the sealer of the chunks that follow it. */
export function sealStartFrame(
    secret: ResponseSecret,
    start: Pick<ResponseStartFrame, 'id' | 'status' | 'headers'>,
    v: number = PROTOCOL_VERSION,
): { frame: ResponseStartFrame; sealer: ResponseSealer } {
    const { salt, sealer } = secret.seal(responseStartBinding(start));
    return { frame: { type: 'response_start', v, id: start.id, status: start.status, headers: start.headers, salt: salt.toString('base64') }, sealer };
}

/**
 * Client: the opener for the chunks after this response_start. The status and headers are authenticated only when
 * the first chunk opens (a changed one makes it fail with HPKE_OPEN_FAILED): act on them after that.
 */
export function openStartFrame(secret: ResponseSecret, f: ResponseStartFrame): ResponseOpener {
    if (f.salt === undefined) throw new WireError('WIRE_BAD_FIELD', 'bad field salt: a router-blind response_start carries the response salt', { path: 'salt' });
    return secret.open(Buffer.from(f.salt, 'base64'), responseStartBinding(f));
}

/** Worker: the next sealed response_chunk frame. `data` is at most MAX_CHUNK_BYTES of UTF-8. */
export function sealChunkFrame(sealer: ResponseSealer, id: string, data: string, final: boolean, v: number = PROTOCOL_VERSION): ResponseChunkFrame {
    const pt = Buffer.from(data, 'utf8');
    if (pt.length > MAX_CHUNK_BYTES) throw new WireError('WIRE_TOO_LARGE', `chunk is ${pt.length} bytes, limit ${MAX_CHUNK_BYTES}`);
    const c = sealer.seal(pt, final);
    return { type: 'response_chunk', v, id, seq: c.seq, sealed: { ct: c.ct.toString('base64') }, ...(final ? { final: true } : {}) };
}

/** Client: open the next response_chunk of a router-blind response (a plain chunk is refused). */
export function openChunkFrame(opener: ResponseOpener, frame: ResponseChunkFrame): string {
    if (!frame.sealed) throw new WireError('WIRE_BAD_FIELD', 'bad field sealed: plain chunk in a router-blind response', { path: 'sealed' });
    const pt = opener.open({ seq: frame.seq, ct: Buffer.from(frame.sealed.ct, 'base64'), final: frame.final === true });
    try {
        return utf8.decode(pt);
    } catch {
        throw new WireError('WIRE_BAD_FIELD', 'bad field sealed.ct: plaintext is not UTF-8', { path: 'sealed.ct' });
    }
}
