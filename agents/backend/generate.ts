// What the reference backend generates for one request, and the OpenAI shapes it answers with (spec/payments.md,
// "Reference backend"; spec/openai.md). Deterministic, one token per whitespace-separated word, so every `usage` can
// be recomputed by hand:
//   - text: the echo of the last user message (or of the last tool result), then FILLER;
//   - tools (chat, tool_choice not "none", the last message not a tool result): one call of the named or first tool,
//     its arguments built from the tool's JSON schema (strings = the echo, numbers = its word count);
//   - response_format json_object: {"echo": <echo>}; json_schema: an object built from the schema like arguments;
//   - reasoning_effort: minimal/low/medium/high = 1/2/4/8 reasoning words (reasoning_content) before the answer;
//   - n: n identical choices; usage = the prompt once + every choice's tokens (what vLLM reports);
//   - logprobs: the chosen token at logprob 0 and top_logprobs alternatives from FILLER at −1, −2, …
// Prompt tokens: the words of every message's text (tool-call names and arguments included) + IMAGE_TOKENS per image.
import { randomBytes } from 'crypto';

export class HttpError extends Error {
    constructor(
        readonly status: number,
        message: string,
        readonly type: string,
        readonly code: string | null,
        readonly param: string | null = null,
    ) {
        super(message);
    }
}

export const invalid = (message: string, code: string, param: string | null = null) => new HttpError(400, message, 'invalid_request_error', code, param);

export interface ReferenceModel {
    id: string;
    /** Largest prompt + completion, in words. */
    contextLength: number;
    description: string;
}

/** Generated after the echo, cycling, until max_tokens or the end of this list. */
export const FILLER = ['this', 'is', 'a', 'deterministic', 'reply', 'from', 'the', 'cocoon', 'test', 'model'] as const;
/** The reasoning words, in order; reasoning_effort takes the first 1/2/4/8. */
export const THOUGHTS = ['let', 'me', 'think', 'about', 'this', 'step', 'by', 'step'] as const;
const EFFORT: Record<string, number> = { none: 0, minimal: 1, low: 2, medium: 4, high: 8 };
/** Prompt tokens one image part counts for. */
export const IMAGE_TOKENS = 16;

/** One generated token: where it goes in the message. */
export interface Token {
    part: 'reasoning' | 'content' | 'tool';
    word: string;
}

export interface Generation {
    kind: 'chat' | 'completion';
    model: ReferenceModel;
    stream: boolean;
    includeUsage: boolean;
    promptTokens: number;
    /** The tokens of ONE choice (all n choices are the same). */
    tokens: Token[];
    /** The tool called (its first token is the name), when the plan calls one. */
    tool?: { id: string; name: string };
    n: number;
    /** Chat: top_logprobs when logprobs is true; completions: the logprobs count. undefined = no logprobs. */
    logprobs?: number;
    finishReason: 'stop' | 'length' | 'tool_calls';
}

/** Tokens of a text under the reference rule: whitespace-separated words. */
export function countWords(text: string): number {
    return words(text).length;
}

export function words(text: string): string[] {
    return text.split(/\s+/).filter((w) => w.length > 0);
}

/** Validates a request and decides the whole output up front (deterministic). */
export function plan(kind: 'chat' | 'completion', body: unknown, models: readonly ReferenceModel[]): Generation {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('The request body must be a JSON object.', 'invalid_type');
    const b = body as Record<string, unknown>;
    if (b.model === undefined) throw invalid("Missing required parameter: 'model'.", 'missing_required_parameter', 'model');
    if (typeof b.model !== 'string') throw invalid("Invalid type for 'model': expected a string.", 'invalid_type', 'model');
    const model = models.find((m) => m.id === b.model);
    if (!model) throw new HttpError(404, `The model '${b.model}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');

    const stream = optBool(b, 'stream') ?? false;
    let includeUsage = false;
    if (b.stream_options !== undefined && b.stream_options !== null) {
        if (!stream) throw invalid("'stream_options' is only allowed when 'stream' is true.", 'invalid_value', 'stream_options');
        if (typeof b.stream_options !== 'object' || Array.isArray(b.stream_options)) throw invalid("Invalid type for 'stream_options'.", 'invalid_type', 'stream_options');
        includeUsage = optBool(b.stream_options as Record<string, unknown>, 'include_usage', 'stream_options.include_usage') ?? false;
    }
    const n = optInt(b, 'n', 1) ?? 1;
    const maxTokens = kind === 'chat' ? (optInt(b, 'max_completion_tokens', 1) ?? optInt(b, 'max_tokens', 1)) : optInt(b, 'max_tokens', 0);

    let promptTokens: number;
    let natural: Token[];
    let tool: Generation['tool'];
    let logprobs: number | undefined;
    if (kind === 'chat') {
        if (b.messages === undefined) throw invalid("Missing required parameter: 'messages'.", 'missing_required_parameter', 'messages');
        if (!Array.isArray(b.messages) || b.messages.length === 0) throw invalid("'messages' must be a non-empty array.", 'invalid_value', 'messages');
        const texts = b.messages.map((m, i) => messageText(m, i));
        promptTokens = texts.reduce((a, t) => a + countWords(t.text) + t.images * IMAGE_TOKENS, 0);
        const last = texts[texts.length - 1];
        const source = last.role === 'tool' ? last : [...texts].reverse().find((t) => t.role === 'user');
        const echo = source ? words(source.text) : [];
        const effort = typeof b.reasoning_effort === 'string' && Object.hasOwn(EFFORT, b.reasoning_effort) ? EFFORT[b.reasoning_effort] : 0;
        const reasoning = THOUGHTS.slice(0, effort).map((word) => ({ part: 'reasoning' as const, word }));
        const call = last.role === 'tool' ? undefined : toolToCall(b.tools, b.tool_choice);
        const format = (b.response_format as { type?: string; json_schema?: { schema?: unknown } } | null | undefined) ?? undefined;
        if (call) {
            tool = { id: 'call_' + randomBytes(12).toString('hex'), name: call.name };
            const args = JSON.stringify(fromSchema(call.parameters, echo.join(' ')) ?? {});
            natural = [...reasoning, ...[call.name, ...words(args)].map((word) => ({ part: 'tool' as const, word }))];
        } else if (format?.type === 'json_object' || format?.type === 'json_schema') {
            const obj = format.type === 'json_schema' ? (fromSchema(format.json_schema?.schema, echo.join(' ')) ?? {}) : { echo: echo.join(' ') };
            natural = [...reasoning, ...words(JSON.stringify(obj)).map((word) => ({ part: 'content' as const, word }))];
        } else natural = [...reasoning, ...[...echo, ...FILLER].map((word) => ({ part: 'content' as const, word }))];
        if (optBool(b, 'logprobs')) logprobs = optInt(b, 'top_logprobs', 0) ?? 0;
    } else {
        if (b.prompt === undefined) throw invalid("Missing required parameter: 'prompt'.", 'missing_required_parameter', 'prompt');
        let prompt: string;
        if (typeof b.prompt === 'string') prompt = b.prompt;
        else if (Array.isArray(b.prompt) && b.prompt.length === 1 && typeof b.prompt[0] === 'string') prompt = b.prompt[0];
        else throw invalid("'prompt' must be a string (or an array of exactly one string).", 'invalid_type', 'prompt');
        const promptWords = words(prompt);
        promptTokens = promptWords.length;
        natural = [...promptWords, ...FILLER].map((word) => ({ part: 'content' as const, word }));
        if (optBool(b, 'echo')) throw invalid("'echo' is not supported by this backend.", 'invalid_value', 'echo');
        logprobs = optInt(b, 'logprobs', 0);
    }

    const room = model.contextLength - promptTokens;
    if (room < 0) throw invalid(`This model's maximum context length is ${model.contextLength} tokens; the prompt has ${promptTokens}.`, 'context_length_exceeded', 'messages');
    if (maxTokens !== undefined && maxTokens > room)
        throw invalid(
            `This model's maximum context length is ${model.contextLength} tokens; you requested ${promptTokens + maxTokens} (${promptTokens} in the prompt, ${maxTokens} for the completion).`,
            'context_length_exceeded',
            'max_tokens',
        );
    const limit = Math.min(maxTokens ?? room, room);
    const tokens = natural.slice(0, limit);
    if (tool && !tokens.some((t) => t.part === 'tool')) tool = undefined; // cut before the call began
    const finishReason = tokens.length < natural.length ? 'length' : tool ? 'tool_calls' : 'stop';
    return { kind, model, stream, includeUsage, promptTokens, tokens, tool, n, logprobs, finishReason };
}

/** The tool to call: the named one, or the first when tool_choice is auto / required / absent; none for "none". */
function toolToCall(tools: unknown, choice: unknown): { name: string; parameters: unknown } | undefined {
    if (!Array.isArray(tools) || tools.length === 0 || choice === 'none') return undefined;
    const fns = tools.map((t) => (t as { function?: { name?: unknown; parameters?: unknown } } | null)?.function).filter((f) => typeof f?.name === 'string');
    const wanted = (choice as { function?: { name?: unknown } } | null)?.function?.name;
    const fn = typeof wanted === 'string' ? fns.find((f) => f!.name === wanted) : fns[0];
    return fn ? { name: fn.name as string, parameters: fn.parameters } : undefined;
}

/** A value fitting a (simple) JSON schema: objects by their properties, strings = `text`, numbers = its word count. */
function fromSchema(schema: unknown, text: string, depth = 0): unknown {
    if (typeof schema !== 'object' || schema === null || depth > 8) return null;
    const s = schema as { type?: unknown; properties?: unknown; enum?: unknown };
    if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
    const type = Array.isArray(s.type) ? s.type[0] : s.type;
    if (type === 'object' || (type === undefined && typeof s.properties === 'object')) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, unknown>)) out[k] = fromSchema(v, text, depth + 1);
        return out;
    }
    if (type === 'string') return text;
    if (type === 'integer' || type === 'number') return countWords(text);
    if (type === 'boolean') return true;
    if (type === 'array') return [];
    return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Response shapes

/** The pieces of a choice's tokens: reasoning text, content text, tool-call arguments (words joined by spaces). */
function pieces(g: Generation): { reasoning: string[]; content: string[]; args: string[]; called: boolean } {
    const reasoning = g.tokens.filter((t) => t.part === 'reasoning').map((t) => t.word);
    const content = g.tokens.filter((t) => t.part === 'content').map((t) => t.word);
    const tool = g.tokens.filter((t) => t.part === 'tool').map((t) => t.word);
    return { reasoning, content, args: tool.slice(1), called: tool.length > 0 };
}

/** A chat choice's logprobs entry for one content token (its text as streamed). */
function chatLogprob(text: string, top: number) {
    const alt = FILLER.slice(0, top).map((w, j) => ({ token: ` ${w}`, logprob: -(j + 1), bytes: [...Buffer.from(` ${w}`)] }));
    return { token: text, logprob: 0, bytes: [...Buffer.from(text)], top_logprobs: alt };
}

/** Completions logprobs for `texts` (the pieces as streamed) starting at character `offset`. */
function completionLogprobs(texts: string[], top: number, offset: number) {
    const text_offset: number[] = [];
    let at = offset;
    for (const t of texts) {
        text_offset.push(at);
        at += t.length;
    }
    return {
        tokens: texts,
        token_logprobs: texts.map(() => 0),
        top_logprobs: texts.map((t) => Object.fromEntries([[t, 0], ...FILLER.slice(0, Math.max(0, top - 1)).map((w, j) => [` ${w}`, -(j + 1)])])),
        text_offset,
    };
}

const spaced = (ws: string[]) => ws.map((w, i) => (i === 0 ? w : ` ${w}`));

/** The non-streamed response body (without usage and ids: the caller adds them). */
export function choicesOf(g: Generation): unknown[] {
    const p = pieces(g);
    return Array.from({ length: g.n }, (_, index) => {
        if (g.kind === 'completion') {
            const texts = spaced(p.content);
            return { index, text: texts.join(''), logprobs: g.logprobs !== undefined ? completionLogprobs(texts, g.logprobs, 0) : null, finish_reason: g.finishReason };
        }
        const message: Record<string, unknown> = { role: 'assistant', content: p.called ? null : p.content.join(' '), refusal: null };
        if (p.reasoning.length > 0) message.reasoning_content = p.reasoning.join(' ');
        if (p.called && g.tool) message.tool_calls = [{ id: g.tool.id, type: 'function', function: { name: g.tool.name, arguments: p.args.join(' ') } }];
        const logprobs = g.logprobs !== undefined ? { content: spaced(p.content).map((t) => chatLogprob(t, g.logprobs!)), refusal: null } : null;
        return { index, message, logprobs, finish_reason: g.finishReason };
    });
}

/** One streamed event's choice payloads, in order: per token position, one per choice (as vLLM interleaves them). */
export interface StreamStep {
    /** Carries a generated token (the backend's per-token delay applies before it). */
    token: boolean;
    /** Chat: the delta; completions: the text. */
    choices: { index: number; delta?: Record<string, unknown>; text?: string; logprobs: unknown; finish_reason: string | null }[];
}

export function streamSteps(g: Generation): StreamStep[] {
    const steps: StreamStep[] = [];
    const each = (fn: (index: number) => StreamStep['choices'][number]) => Array.from({ length: g.n }, (_, i) => fn(i));
    if (g.kind === 'chat') steps.push({ token: false, choices: each((index) => ({ index, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null })) });
    let first = { reasoning: true, content: true, args: true };
    let named = false;
    let offset = 0;
    for (const t of g.tokens) {
        if (g.kind === 'completion') {
            const text = (first.content ? '' : ' ') + t.word;
            first = { ...first, content: false };
            const lp = g.logprobs !== undefined ? completionLogprobs([text], g.logprobs, offset) : null;
            offset += text.length;
            for (let index = 0; index < g.n; index++) steps.push({ token: true, choices: [{ index, text, logprobs: lp, finish_reason: null }] });
            continue;
        }
        let delta: Record<string, unknown>;
        let logprobs: unknown = null;
        if (t.part === 'reasoning') {
            delta = { reasoning_content: (first.reasoning ? '' : ' ') + t.word };
            first = { ...first, reasoning: false };
        } else if (t.part === 'content') {
            const text = (first.content ? '' : ' ') + t.word;
            first = { ...first, content: false };
            delta = { content: text };
            if (g.logprobs !== undefined) logprobs = { content: [chatLogprob(text, g.logprobs)], refusal: null };
        } else if (!named && g.tool) {
            named = true; // the tool's first token is its name: the call opens with id, type and name
            delta = { tool_calls: [{ index: 0, id: g.tool.id, type: 'function', function: { name: t.word, arguments: '' } }] };
        } else {
            delta = { tool_calls: [{ index: 0, function: { arguments: (first.args ? '' : ' ') + t.word } }] };
            first = { ...first, args: false };
        }
        for (let index = 0; index < g.n; index++) steps.push({ token: true, choices: [{ index, delta, logprobs, finish_reason: null }] });
    }
    steps.push({
        token: false,
        choices: each((index) => (g.kind === 'chat' ? { index, delta: {}, logprobs: null, finish_reason: g.finishReason } : { index, text: '', logprobs: null, finish_reason: g.finishReason })),
    });
    return steps;
}

// ---------------------------------------------------------------------------------------------------------------
// Input

function optBool(o: Record<string, unknown>, key: string, param = key): boolean | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw invalid(`Invalid type for '${param}': expected a boolean.`, 'invalid_type', param);
    return v;
}

function optInt(o: Record<string, unknown>, key: string, min: number): number | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(`Invalid type for '${key}': expected an integer.`, 'invalid_type', key);
    if (v < min) throw invalid(`Invalid '${key}': must be at least ${min}.`, 'invalid_value', key);
    return v;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** A message's text (string content, text parts joined with spaces, tool calls' names and arguments) and images. */
function messageText(m: unknown, i: number): { role: string; text: string; images: number } {
    const param = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalid(`Invalid type for '${param}': expected an object.`, 'invalid_type', param);
    const { role, content, tool_calls } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role)) throw invalid(`Invalid value for '${param}.role'.`, 'invalid_value', `${param}.role`);
    const calls = Array.isArray(tool_calls)
        ? tool_calls.map((c) => {
              const f = (c as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
              return `${typeof f?.name === 'string' ? f.name : ''} ${typeof f?.arguments === 'string' ? f.arguments : ''}`;
          })
        : [];
    if (content === undefined || content === null) {
        if (role === 'assistant') return { role, text: calls.join(' '), images: 0 };
        throw invalid(`Missing required parameter: '${param}.content'.`, 'missing_required_parameter', `${param}.content`);
    }
    if (typeof content === 'string') return { role, text: [content, ...calls].join(' '), images: 0 };
    if (Array.isArray(content)) {
        let images = 0;
        const parts = content.map((p, j) => {
            const pp = p as Record<string, unknown>;
            if (typeof p === 'object' && p !== null && pp.type === 'image_url' && typeof (pp.image_url as { url?: unknown } | null)?.url === 'string') {
                images++;
                return '';
            }
            if (typeof p !== 'object' || p === null || pp.type !== 'text' || typeof pp.text !== 'string')
                throw invalid(`Invalid value for '${param}.content[${j}]': only text and image_url parts are supported.`, 'invalid_value', `${param}.content[${j}]`);
            return pp.text;
        });
        return { role, text: [...parts, ...calls].join(' '), images };
    }
    throw invalid(`Invalid type for '${param}.content'.`, 'invalid_type', `${param}.content`);
}
