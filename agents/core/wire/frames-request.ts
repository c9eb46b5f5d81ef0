// The request and its response (spec/wire.md): sent by the client, relayed by the proxy to a worker (request,
// cancel), and answered by the worker through the proxy (response_start / _chunk / _end / _error).
import { z } from 'zod';
import { base64, base64Bytes, coefficient, coins, errorCode, frame, int, isCanonicalBase64, keyId, MAX_CHUNK_BYTES, MAX_RECEIPT_BYTES, MAX_REQUEST_TOKENS, MAX_SEALED_REQUEST_BYTES, MAX_SEQ, message, modelName, openAiBody, requestId, tokens } from './fields';

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

const CHUNK_KEYS: ReadonlySet<string> = new Set(['type', 'v', 'id', 'seq', 'data', 'sealed', 'final']);
const CHUNK_CT_CHARS = Math.ceil((MAX_CHUNK_BYTES + 16) / 3) * 4;
const isInt = (x: unknown, min: number, max: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
const isRequestId = (x: unknown): x is string => {
    if (typeof x !== 'string' || x.length !== 32) return false;
    for (let i = 0; i < 32; i++) {
        const c = x.charCodeAt(i);
        if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
    }
    return true;
};

/**
 * The hot path's check of a response_chunk (every token crosses it at the proxy and the client): accepts exactly
 * what ResponseChunk accepts, for a value JSON.parse produced — the schema stays the spec, and
 * tests/agents/core/wire/chunk-check.spec.ts compares both on random and mutated frames. A refused frame is
 * re-checked with the schema for its error. Keys whose value is undefined count as absent (as in the schema).
 */
export function isResponseChunk(o: Record<string, unknown>): boolean {
    let data = false;
    let sealed = false;
    for (const k in o) {
        if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
        const x = o[k];
        if (!CHUNK_KEYS.has(k)) return false;
        if (x === undefined) continue;
        switch (k) {
            case 'type':
                if (x !== 'response_chunk') return false;
                break;
            case 'v':
                if (!isInt(x, 1, 0xffff)) return false;
                break;
            case 'id':
                if (!isRequestId(x)) return false;
                break;
            case 'seq':
                if (!isInt(x, 0, MAX_SEQ)) return false;
                break;
            case 'data':
                if (typeof x !== 'string' || x.length > MAX_CHUNK_BYTES) return false;
                data = true;
                break;
            case 'sealed': {
                if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
                let ct: unknown;
                for (const s in x) {
                    if (!Object.prototype.hasOwnProperty.call(x, s)) continue;
                    const y = (x as Record<string, unknown>)[s];
                    if (s !== 'ct') return false;
                    ct = y;
                }
                if (typeof ct !== 'string' || ct.length > CHUNK_CT_CHARS || !isCanonicalBase64(ct)) return false;
                const n = base64Bytes(ct);
                if (n < 16 || n > MAX_CHUNK_BYTES + 16) return false;
                sealed = true;
                break;
            }
            case 'final':
                if (typeof x !== 'boolean') return false;
                break;
        }
    }
    return o.type === 'response_chunk' && o.v !== undefined && o.id !== undefined && o.seq !== undefined && data !== sealed;
}

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
