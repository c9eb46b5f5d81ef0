// Strict validation of the OpenAI request bodies a worker accepts (design §8; issue 4): /v1/chat/completions ("chat")
// and /v1/completions ("completions"). Known fields only; anything else is refused with a typed error naming the
// field, so no backend feature the network does not price or meter (tools, logprobs, n > 1, echo, ...) slips through.
//
// Accepted fields (both endpoints unless noted):
//   model (must equal the model the worker serves), messages (chat) / prompt (completions), max_tokens,
//   max_completion_tokens (chat only; exclusive with max_tokens), temperature 0..2, top_p 0..1, stop (string or
//   1..4 strings), stream, stream_options {include_usage} (only with stream: true), seed, presence_penalty -2..2,
//   frequency_penalty -2..2, user (≤ 256 chars), n (only 1). null counts as absent for optional fields.
// Deliberately NOT accepted (REQUEST_UNKNOWN_FIELD): logprobs, top_logprobs, echo, suffix, best_of, logit_bias,
//   tools, tool_choice, functions, response_format, and anything else. logprobs are refused because the reference
//   backend and the relay format do not carry them yet; adding them later is a schema change here only.
// Messages: {role: system|developer|user|assistant, content: string | [{type:'text', text}], name?}; assistant
//   content may be null. No tool messages (no tools).
// Bounds: max_tokens (or max_completion_tokens) in 1..contextLength (REQUEST_MAX_TOKENS). The prompt's own length is
//   not checked here: only the backend's tokenizer knows it; a too-long prompt comes back as the backend's 400.
// Normalization: the result holds only the known fields (nulls dropped); when streaming it forces
//   stream_options.include_usage = true so metering always gets the backend's usage chunk.
import { z } from 'zod';
import { CocoonError } from '../core/errors';

export const WorkerRequestErrorCodes = [
    'REQUEST_INVALID_BODY', // the body is not a JSON object
    'REQUEST_UNKNOWN_FIELD', // a field this worker does not accept (top level or nested); `param` names it
    'REQUEST_INVALID_FIELD', // a known field has a wrong type or value (incl. n != 1, stream_options without stream)
    'REQUEST_MISSING_FIELD', // a required field (model, messages / prompt) is absent
    'REQUEST_MAX_TOKENS', // max_tokens / max_completion_tokens outside 1..the model's context length
    'REQUEST_MODEL_MISMATCH', // body.model is not the model this request was routed to
] as const;
export type WorkerRequestErrorCode = (typeof WorkerRequestErrorCodes)[number];

export class WorkerRequestError extends CocoonError<WorkerRequestErrorCode> {
    /** The offending field as OpenAI's `param` (e.g. "messages[0].content"), or null. */
    get param(): string | null {
        const p = this.details?.param;
        return typeof p === 'string' ? p : null;
    }
}

export type Endpoint = 'chat' | 'completions';

/** OpenAI error JSON, as the OpenAI API returns it. */
export interface OpenAIErrorBody {
    error: { message: string; type: string; param: string | null; code: string | null };
}

/** Maps a request error to OpenAI's error JSON and an HTTP status (400; 404 for a model mismatch, like OpenAI's model_not_found). */
export function toOpenAIError(e: WorkerRequestError): { status: number; body: OpenAIErrorBody } {
    return {
        status: e.code === 'REQUEST_MODEL_MISMATCH' ? 404 : 400,
        body: { error: { message: e.message, type: 'invalid_request_error', param: e.param, code: e.code } },
    };
}

const fail = (code: WorkerRequestErrorCode, message: string, param: string | null) => new WorkerRequestError(code, message, param === null ? {} : { param });

const opt = <T extends z.ZodTypeAny>(t: T) => t.nullish();
const int = z.number().int().safe();

const textPart = z.object({ type: z.literal('text'), text: z.string() }).strict();
const content = z.union([z.string(), z.array(textPart).min(1)]);
const message = z.discriminatedUnion('role', [
    z.object({ role: z.literal('system'), content, name: opt(z.string().max(256)) }).strict(),
    z.object({ role: z.literal('developer'), content, name: opt(z.string().max(256)) }).strict(),
    z.object({ role: z.literal('user'), content, name: opt(z.string().max(256)) }).strict(),
    z.object({ role: z.literal('assistant'), content: content.nullish(), name: opt(z.string().max(256)) }).strict(),
]);

const common = {
    model: z.string().min(1).max(256),
    max_tokens: opt(int),
    temperature: opt(z.number().min(0).max(2)),
    top_p: opt(z.number().min(0).max(1)),
    stop: opt(z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(4)])),
    stream: opt(z.boolean()),
    stream_options: opt(z.object({ include_usage: opt(z.boolean()) }).strict()),
    seed: opt(int),
    presence_penalty: opt(z.number().min(-2).max(2)),
    frequency_penalty: opt(z.number().min(-2).max(2)),
    user: opt(z.string().max(256)),
    n: opt(z.literal(1, { errorMap: () => ({ message: 'n must be 1: a worker generates one choice' }) })),
};

const schemas = {
    chat: z.object({ ...common, messages: z.array(message).min(1).max(4096), max_completion_tokens: opt(int) }).strict(),
    completions: z.object({ ...common, prompt: z.union([z.string(), z.array(z.string()).length(1)]) }).strict(),
};

export interface ValidateOptions {
    /** The model this request was routed to (the frame's `model`); body.model must equal it. */
    model: string;
    /** The model's context length (Root's Model.contextLength): max_tokens may not exceed it. */
    contextLength: number;
}

export interface ValidatedRequest {
    endpoint: Endpoint;
    /** What the worker sends to the backend: known fields only, include_usage forced on when streaming. */
    body: Record<string, unknown>;
    stream: boolean;
    /** The requested completion cap (max_tokens or max_completion_tokens), undefined when the client set none. */
    maxTokens: number | undefined;
    /** Whether the client itself asked for the usage chunk (the worker always asks the backend for it). */
    clientIncludeUsage: boolean;
}

function formatPath(path: (string | number)[]): string {
    let s = '';
    for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
    return s;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const p = Object.getPrototypeOf(v);
    return p === Object.prototype || p === null;
}

function issueToError(issue: z.ZodIssue, body: Record<string, unknown>): WorkerRequestError {
    if (issue.code === 'unrecognized_keys') {
        const param = formatPath([...issue.path, issue.keys[0]]);
        return fail('REQUEST_UNKNOWN_FIELD', `Unrecognized request argument supplied: '${param}'.`, param);
    }
    // discriminatedUnion reports an unknown role as invalid_union_discriminator at messages[i].role.
    const param = formatPath(issue.path);
    if (issue.path.length === 1 && body[issue.path[0] as string] === undefined)
        return fail('REQUEST_MISSING_FIELD', `Missing required parameter: '${param}'.`, param);
    return fail('REQUEST_INVALID_FIELD', `Invalid value for '${param}': ${issue.message}.`, param || null);
}

/**
 * Validates `body` for `endpoint` and returns the normalized body to forward. Throws WorkerRequestError.
 * Unknown fields are reported before other problems, so the error names the unknown field.
 */
export function validateOpenAIRequest(endpoint: Endpoint, body: unknown, opts: ValidateOptions): ValidatedRequest {
    if (!isPlainObject(body)) throw fail('REQUEST_INVALID_BODY', 'The request body must be a JSON object.', null);
    const schema = schemas[endpoint];
    if (!schema) throw fail('REQUEST_INVALID_BODY', `Unknown endpoint '${String(endpoint)}'.`, null);
    const result = schema.safeParse(body);
    if (!result.success) {
        const issues = result.error.issues;
        const unknown = issues.find((i) => i.code === 'unrecognized_keys');
        throw issueToError(unknown ?? issues[0], body);
    }
    const b = result.data as Record<string, unknown> & z.infer<(typeof schemas)['chat']>;
    if (b.model !== opts.model) throw fail('REQUEST_MODEL_MISMATCH', `The model '${b.model}' is not the model this request was routed to ('${opts.model}').`, 'model');

    if (b.max_tokens != null && b.max_completion_tokens != null)
        throw fail('REQUEST_INVALID_FIELD', "Set at most one of 'max_tokens' and 'max_completion_tokens'.", 'max_completion_tokens');
    const maxParam = b.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
    const maxTokens = (b.max_completion_tokens ?? b.max_tokens) ?? undefined;
    if (maxTokens !== undefined && (maxTokens < 1 || maxTokens > opts.contextLength))
        throw fail('REQUEST_MAX_TOKENS', `'${maxParam}' must be in 1..${opts.contextLength} (the model's context length), got ${maxTokens}.`, maxParam);

    const stream = b.stream === true;
    if (b.stream_options != null && !stream) throw fail('REQUEST_INVALID_FIELD', "'stream_options' is only allowed when 'stream' is true.", 'stream_options');

    // Rebuild from the parsed data: known fields only (zod strict guarantees it), nulls dropped.
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(result.data)) if (v !== null && v !== undefined && k !== 'stream_options') out[k] = v;
    const clientIncludeUsage = b.stream_options?.include_usage === true;
    if (stream) out.stream_options = { include_usage: true };
    return { endpoint, body: out, stream, maxTokens, clientIncludeUsage };
}
