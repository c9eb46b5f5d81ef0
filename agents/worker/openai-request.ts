// Validation of the OpenAI request bodies a worker accepts (spec/openai.md, every field and its bound):
// /v1/chat/completions ("chat") and /v1/completions ("completions"). The fields OpenAI's API and vLLM accept for
// text generation are accepted, bounded and passed to the backend unchanged; anything else is refused with
// REQUEST_UNKNOWN_FIELD naming the field (OpenAI's own rule: "Unrecognized request argument supplied"), because a
// field the worker does not know may change what the backend generates, and so what the request costs, in a way the
// usage bounds were not written for (best_of, echo, prompt_logprobs, continuous_usage_stats, ...).
//
// Bounds the worker adds to OpenAI's: n ≤ MAX_CHOICES and n × max_tokens ≤ the frame's maxTokens (the completion
// budget of ALL choices, which the proxy and the client meter against); image parts only as data: URLs of at most
// MAX_IMAGE_BYTES each and MAX_IMAGES per request (a remote URL would make the backend fetch from the network:
// unmetered work and a request forgery from the worker's host); ≤ MAX_TOOLS tools.
// Normalization: the result holds only the known fields (nulls dropped); when streaming it forces
// stream_options.include_usage = true so metering always gets the backend's usage chunk.
import { z } from 'zod';
import { CocoonError } from '../core/errors';
import { MAX_CHOICES } from '../core/metering';

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

export { MAX_CHOICES };
/** Tools per request (OpenAI's limit). */
export const MAX_TOOLS = 128;
/** Image parts per request. */
export const MAX_IMAGES = 8;
/** Decoded bytes of one image (a data: URL's base64 payload). */
export const MAX_IMAGE_BYTES = 512 * 1024;
/** Image types a data: URL may carry. */
const IMAGE_URL = /^data:image\/(png|jpeg|gif|webp);base64,/;

const textPart = z.object({ type: z.literal('text'), text: z.string() }).strict();
const imagePart = z
    .object({ type: z.literal('image_url'), image_url: z.object({ url: z.string().min(1), detail: opt(z.enum(['auto', 'low', 'high'])) }).strict() })
    .strict();
const content = z.union([z.string(), z.array(textPart).min(1)]);
const userContent = z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, imagePart])).min(1)]);
const name = opt(z.string().max(256));
/** A function name as OpenAI allows it. */
const fnName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1..64 letters, digits, _ or -');
/** A JSON object (a JSON schema, passed to the backend as is; its depth is bounded by the wire). */
const jsonObject = z.record(z.unknown());
const toolCall = z
    .object({ id: z.string().min(1).max(256), type: z.literal('function'), function: z.object({ name: fnName, arguments: z.string() }).strict() })
    .strict();
const message = z.discriminatedUnion('role', [
    z.object({ role: z.literal('system'), content, name }).strict(),
    z.object({ role: z.literal('developer'), content, name }).strict(),
    z.object({ role: z.literal('user'), content: userContent, name }).strict(),
    z
        .object({ role: z.literal('assistant'), content: content.nullish(), name, refusal: opt(z.string()), tool_calls: opt(z.array(toolCall).max(MAX_TOOLS)) })
        .strict(),
    z.object({ role: z.literal('tool'), content, tool_call_id: z.string().min(1).max(256) }).strict(),
]);
const tool = z
    .object({
        type: z.literal('function'),
        function: z.object({ name: fnName, description: opt(z.string()), parameters: opt(jsonObject), strict: opt(z.boolean()) }).strict(),
    })
    .strict();
const toolChoice = z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: fnName }).strict() }).strict()]);
const responseFormat = z.discriminatedUnion('type', [
    z.object({ type: z.literal('text') }).strict(),
    z.object({ type: z.literal('json_object') }).strict(),
    z
        .object({
            type: z.literal('json_schema'),
            json_schema: z.object({ name: fnName, description: opt(z.string()), schema: opt(jsonObject), strict: opt(z.boolean()) }).strict(),
        })
        .strict(),
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
    logit_bias: opt(z.record(z.string().regex(/^[0-9]{1,10}$/, 'keys must be token ids'), z.number().min(-100).max(100)).refine((o) => Object.keys(o).length <= 1024, 'at most 1024 entries')),
    user: opt(z.string().max(256)),
    n: opt(int.min(1).max(MAX_CHOICES)),
    // vLLM's sampling extras: they shape the distribution, not the amount generated.
    top_k: opt(int.min(-1)),
    min_p: opt(z.number().min(0).max(1)),
    repetition_penalty: opt(z.number().gt(0).max(2)),
};

const schemas = {
    chat: z
        .object({
            ...common,
            messages: z.array(message).min(1).max(4096),
            max_completion_tokens: opt(int),
            tools: opt(z.array(tool).max(MAX_TOOLS)),
            tool_choice: opt(toolChoice),
            parallel_tool_calls: opt(z.boolean()),
            response_format: opt(responseFormat),
            logprobs: opt(z.boolean()),
            top_logprobs: opt(int.min(0).max(20)),
            reasoning_effort: opt(z.enum(['none', 'minimal', 'low', 'medium', 'high'])),
        })
        .strict(),
    completions: z.object({ ...common, prompt: z.union([z.string(), z.array(z.string()).length(1)]), logprobs: opt(int.min(0).max(5)) }).strict(),
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
    /** `n`: the choices generated (1 when absent); the completion budget is choices × maxTokens. */
    choices: number;
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
    if (b.tool_choice != null && b.tool_choice !== 'none' && !(b.tools && b.tools.length > 0))
        throw fail('REQUEST_INVALID_FIELD', "'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice');
    if (typeof b.tool_choice === 'object' && b.tool_choice !== null) {
        const wanted = b.tool_choice.function.name;
        if (!b.tools?.some((t) => t.function.name === wanted)) throw fail('REQUEST_INVALID_FIELD', `'tool_choice' names the function '${wanted}', which is not in 'tools'.`, 'tool_choice.function.name');
    }
    if (b.top_logprobs != null && b.logprobs !== true) throw fail('REQUEST_INVALID_FIELD', "'top_logprobs' requires 'logprobs': true.", 'top_logprobs');
    if (endpoint === 'chat') checkImages(b.messages);

    // Rebuild from the parsed data: known fields only (zod strict guarantees it), nulls dropped.
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(result.data)) if (v !== null && v !== undefined && k !== 'stream_options') out[k] = v;
    const clientIncludeUsage = b.stream_options?.include_usage === true;
    if (stream) out.stream_options = { include_usage: true };
    return { endpoint, body: out, stream, maxTokens, clientIncludeUsage, choices: b.n ?? 1 };
}

/** Image parts: data: URLs of an image type, each at most MAX_IMAGE_BYTES decoded, at most MAX_IMAGES in all. */
function checkImages(messages: readonly { content?: unknown }[]): void {
    let images = 0;
    messages.forEach((m, i) => {
        if (!Array.isArray(m.content)) return;
        m.content.forEach((part: { type?: string; image_url?: { url: string } }, j: number) => {
            if (part.type !== 'image_url' || !part.image_url) return;
            const param = `messages[${i}].content[${j}].image_url.url`;
            if (++images > MAX_IMAGES) throw fail('REQUEST_INVALID_FIELD', `At most ${MAX_IMAGES} images per request.`, `messages[${i}].content[${j}]`);
            const url = part.image_url.url;
            const head = IMAGE_URL.exec(url.slice(0, 32));
            if (!head) throw fail('REQUEST_INVALID_FIELD', `Invalid value for '${param}': only data:image/(png|jpeg|gif|webp);base64 URLs are accepted (a worker does not fetch remote images).`, param);
            const b64 = url.slice(head[0].length);
            if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw fail('REQUEST_INVALID_FIELD', `Invalid value for '${param}': the image is not padded base64.`, param);
            const bytes = (b64.length / 4) * 3 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
            if (bytes > MAX_IMAGE_BYTES) throw fail('REQUEST_INVALID_FIELD', `Invalid value for '${param}': the image has ${bytes} bytes, at most ${MAX_IMAGE_BYTES} are accepted.`, param);
        });
    });
}
