// Usage bounds (spec/payments.md, "Usage bounds"): what a receipt may claim, whoever produced the numbers. The worker
// clamps its backend's usage to them before signing, and the proxy and the client refuse a receipt beyond them
// (verifyReceipt in ./receipt.ts), so a backend or worker that inflates usage gains nothing.
//
//   completion + reasoning ≤ min(maxTokens, streamed bytes + END_TOKEN_SLACK × choices)   (bytes: when the checker saw the text)
//   prompt + cached        ≤ the model's context length (Root's contextLength)
//
// The byte bound is sound: every generated token but the end-of-sequence token carries at least one byte of the text
// streamed to the client (byte-level tokenizers split a character across tokens, never emit an empty piece of text).
// maxTokens is the completion budget of the whole request: for n choices the frame carries n × max_tokens
// (spec/openai.md, "n"), so the bound holds for all choices together, and each choice has its own end token.
import { ModelPrices, cost, TokenUsage } from './pricing';

/** The most choices (`n`) one request may ask for (OpenAI's limit); the worker refuses more. */
export const MAX_CHOICES = 128;

/** Generated tokens that carry no text: the end-of-sequence token of each choice. */
export const END_TOKEN_SLACK = 1n;

/** Keys under `choices` whose strings are not generated text (every other string counts). */
const NOT_TEXT = new Set(['role', 'finish_reason']);

/**
 * UTF-8 bytes of the text an OpenAI response (or one stream event) carries: every string value under `choices`
 * except `role` and `finish_reason` (content, reasoning_content, text, refusal, …). An over-count only loosens the
 * bound, so unknown fields are counted rather than skipped.
 */
export function contentBytes(response: unknown): number {
    const choices = (response as { choices?: unknown } | null)?.choices;
    let n = 0;
    const stack: unknown[] = [choices];
    while (stack.length > 0) {
        const v = stack.pop();
        if (typeof v === 'string') n += Buffer.byteLength(v, 'utf8');
        else if (Array.isArray(v)) stack.push(...v);
        else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) if (!NOT_TEXT.has(k)) stack.push(x);
    }
    return n;
}

export interface UsageBounds {
    /** The request's maxTokens (the frame's, which the client sealed and the worker enforces). */
    maxTokens: bigint | number;
    /** Root's contextLength of the model. */
    contextLength: bigint;
    /** UTF-8 bytes of generated text the checker counted itself (contentBytes over the response), if it saw it. */
    streamedBytes?: bigint | number;
    /** The request's `n` (default 1): one end token of slack per choice. */
    choices?: number;
}

/** The largest completion + reasoning the bounds allow. */
export function maxGenerated(b: UsageBounds): bigint {
    const cap = BigInt(b.maxTokens);
    if (b.streamedBytes === undefined) return cap;
    const byBytes = BigInt(b.streamedBytes) + END_TOKEN_SLACK * BigInt(b.choices ?? 1);
    return byBytes < cap ? byBytes : cap;
}

/** Which bound the usage exceeds, or null. */
export function usageExcess(u: TokenUsage, b: UsageBounds): string | null {
    const gen = maxGenerated(b);
    if (u.completion + u.reasoning > gen) return `completion + reasoning ${u.completion + u.reasoning} exceeds ${gen} (maxTokens ${b.maxTokens}${b.streamedBytes !== undefined ? `, ${b.streamedBytes} bytes streamed` : ''})`;
    if (u.prompt + u.cached > b.contextLength) return `prompt + cached ${u.prompt + u.cached} exceeds the context length ${b.contextLength}`;
    return null;
}

/** The usage cut down to the bounds: reasoning first kept, then completion; cached first kept, then prompt. */
export function clampUsage(u: TokenUsage, b: UsageBounds): TokenUsage {
    const min = (a: bigint, c: bigint) => (a < c ? a : c);
    const gen = maxGenerated(b);
    const reasoning = min(u.reasoning, gen);
    const completion = min(u.completion, gen - reasoning);
    const cached = min(u.cached, b.contextLength);
    const prompt = min(u.prompt, b.contextLength - cached);
    return { prompt, cached, completion, reasoning };
}

/** The most one request can cost within the bounds: a full context of prompt and maxTokens of the dearer output kind. */
export function maxRequestCost(prices: ModelPrices, maxTokens: bigint | number, contextLength: bigint, coefficient: bigint): bigint {
    const out = prices.priceReasoning > prices.priceCompletion ? 'reasoning' : 'completion';
    const inp = prices.priceCached > prices.pricePrompt ? 'cached' : 'prompt';
    const u: TokenUsage = { prompt: 0n, cached: 0n, completion: 0n, reasoning: 0n };
    u[out] = BigInt(maxTokens);
    u[inp] = contextLength;
    return cost(u, prices, coefficient);
}
