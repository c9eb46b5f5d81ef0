// The one pricing function (design §6, spec/payments.md). Worker receipts, the proxy's ledger, the client's checks
// and the tests all compute a request's cost here, in bigint nanoTON, never with floats.
import { CocoonError } from './errors';

export const PricingErrorCodes = [
    'PRICING_INVALID_USAGE', // a token count is missing, negative, not an integer, too large, or inconsistent (cached > prompt, reasoning > completion, wrong total)
    'PRICING_INVALID_PRICE', // a per-million price is not a bigint in 0..MAX_COINS
    'PRICING_INVALID_COEFFICIENT', // the coefficient is not a bigint in 0..MAX_COEFFICIENT
    'PRICING_OVERFLOW', // the cost does not fit in Coins (2^120 - 1 nanoTON)
] as const;
export type PricingErrorCode = (typeof PricingErrorCodes)[number];

export class PricingError extends CocoonError<PricingErrorCode> {}

/** Coefficient unit: 1000 means 1.0x of Root's prices (1500 = 1.5x, 800 = 0.8x). */
export const COEFFICIENT_ONE = 1000n;
/** Coefficients travel as uint32 (receipts, worker announcements, client caps). */
export const MAX_COEFFICIENT = (1n << 32n) - 1n;
/** Token counts travel as uint64. */
export const MAX_TOKENS = (1n << 64n) - 1n;
/** Largest Coins value (VarUInteger 16): prices and costs must fit. */
export const MAX_COINS = (1n << 120n) - 1n;
/** Prices are per this many tokens. */
export const TOKENS_PER_PRICE_UNIT = 1_000_000n;

/**
 * Token counts of one request, split into the four kinds Root prices separately. The kinds are disjoint:
 * `prompt` excludes cached prompt tokens and `completion` excludes reasoning tokens.
 */
export interface TokenUsage {
    prompt: bigint;
    cached: bigint;
    completion: bigint;
    reasoning: bigint;
}

/** A model's prices as Root stores them (wrappers/Root.ts `Model`): nanoTON per 1M tokens of each kind. */
export interface ModelPrices {
    pricePrompt: bigint;
    priceCached: bigint;
    priceCompletion: bigint;
    priceReasoning: bigint;
}

export const TOKEN_KINDS = ['prompt', 'cached', 'completion', 'reasoning'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

const PRICE_FIELD: Record<TokenKind, keyof ModelPrices> = {
    prompt: 'pricePrompt',
    cached: 'priceCached',
    completion: 'priceCompletion',
    reasoning: 'priceReasoning',
};

export const ZERO_USAGE: Readonly<TokenUsage> = Object.freeze({ prompt: 0n, cached: 0n, completion: 0n, reasoning: 0n });

function checkBig(v: unknown, max: bigint, code: PricingErrorCode, what: string): bigint {
    if (typeof v !== 'bigint') throw new PricingError(code, `${what} must be a bigint, got ${typeof v}`, { field: what });
    if (v < 0n || v > max) throw new PricingError(code, `${what} must be in 0..${max}, got ${v}`, { field: what });
    return v;
}

/** Throws PRICING_INVALID_USAGE unless every count is a bigint in 0..MAX_TOKENS. */
export function checkUsage(u: TokenUsage): TokenUsage {
    if (typeof u !== 'object' || u === null) throw new PricingError('PRICING_INVALID_USAGE', 'usage must be an object');
    for (const k of TOKEN_KINDS) checkBig(u[k], MAX_TOKENS, 'PRICING_INVALID_USAGE', `usage.${k}`);
    return u;
}

/** Throws PRICING_INVALID_PRICE unless every price is a bigint in 0..MAX_COINS. */
export function checkPrices(p: ModelPrices): ModelPrices {
    if (typeof p !== 'object' || p === null) throw new PricingError('PRICING_INVALID_PRICE', 'prices must be an object');
    for (const k of TOKEN_KINDS) checkBig(p[PRICE_FIELD[k]], MAX_COINS, 'PRICING_INVALID_PRICE', PRICE_FIELD[k]);
    return p;
}

/** Throws PRICING_INVALID_COEFFICIENT unless the coefficient is a bigint in 0..MAX_COEFFICIENT. */
export function checkCoefficient(c: bigint): bigint {
    return checkBig(c, MAX_COEFFICIENT, 'PRICING_INVALID_COEFFICIENT', 'coefficient');
}

/**
 * cost = floor( Σ_kind tokens_kind × price_kind × coefficient / (1e6 × COEFFICIENT_ONE) ) nanoTON.
 * One division at the end, so rounding loses less than 1 nanoTON per request.
 */
export function cost(usage: TokenUsage, prices: ModelPrices, coefficient: bigint): bigint {
    checkUsage(usage);
    checkPrices(prices);
    checkCoefficient(coefficient);
    let weighted = 0n;
    for (const k of TOKEN_KINDS) weighted += usage[k] * prices[PRICE_FIELD[k]];
    const result = (weighted * coefficient) / (TOKENS_PER_PRICE_UNIT * COEFFICIENT_ONE);
    if (result > MAX_COINS) throw new PricingError('PRICING_OVERFLOW', `cost ${result} exceeds the Coins range`, { cost: result.toString() });
    return result;
}

/** Component-wise sum (e.g. a stream's usage over several requests, for statistics; charges sum per-request costs). */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
    checkUsage(a);
    checkUsage(b);
    return checkUsage({ prompt: a.prompt + b.prompt, cached: a.cached + b.cached, completion: a.completion + b.completion, reasoning: a.reasoning + b.reasoning });
}

export function totalTokens(u: TokenUsage): bigint {
    return u.prompt + u.cached + u.completion + u.reasoning;
}

/** The OpenAI `usage` object (only the fields this module reads). */
export interface OpenAIUsage {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number | null } | null;
    completion_tokens_details?: { reasoning_tokens?: number | null } | null;
}

function count(v: unknown, path: string, optional: boolean): bigint {
    if (v === undefined || v === null) {
        if (optional) return 0n;
        throw new PricingError('PRICING_INVALID_USAGE', `usage.${path} is missing`, { field: path });
    }
    let b: bigint;
    if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
    else if (typeof v === 'bigint') b = v;
    else throw new PricingError('PRICING_INVALID_USAGE', `usage.${path} must be a non-negative integer, got ${String(v)}`, { field: path });
    if (b < 0n || b > MAX_TOKENS) throw new PricingError('PRICING_INVALID_USAGE', `usage.${path} must be in 0..${MAX_TOKENS}, got ${b}`, { field: path });
    return b;
}

function details(v: unknown, path: string): Record<string, unknown> {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw new PricingError('PRICING_INVALID_USAGE', `usage.${path} must be an object`, { field: path });
    return v as Record<string, unknown>;
}

/**
 * Maps OpenAI's `usage` to the four disjoint kinds, strictly:
 *   prompt = prompt_tokens − prompt_tokens_details.cached_tokens, cached = cached_tokens,
 *   completion = completion_tokens − completion_tokens_details.reasoning_tokens, reasoning = reasoning_tokens.
 * Missing (or null) details count as 0. `total_tokens`, when present, must equal prompt_tokens + completion_tokens.
 * Anything else malformed throws PRICING_INVALID_USAGE.
 */
export function usageFromOpenAI(usage: unknown): TokenUsage {
    if (typeof usage !== 'object' || usage === null || Array.isArray(usage)) throw new PricingError('PRICING_INVALID_USAGE', 'usage must be an object');
    const u = usage as Record<string, unknown>;
    const promptTokens = count(u.prompt_tokens, 'prompt_tokens', false);
    const completionTokens = count(u.completion_tokens, 'completion_tokens', false);
    const cached = count(details(u.prompt_tokens_details, 'prompt_tokens_details').cached_tokens, 'prompt_tokens_details.cached_tokens', true);
    const reasoning = count(
        details(u.completion_tokens_details, 'completion_tokens_details').reasoning_tokens,
        'completion_tokens_details.reasoning_tokens',
        true,
    );
    if (u.total_tokens !== undefined && u.total_tokens !== null) {
        const total = count(u.total_tokens, 'total_tokens', false);
        if (total !== promptTokens + completionTokens)
            throw new PricingError('PRICING_INVALID_USAGE', `usage.total_tokens ${total} != prompt_tokens + completion_tokens ${promptTokens + completionTokens}`, {
                field: 'total_tokens',
            });
    }
    if (cached > promptTokens)
        throw new PricingError('PRICING_INVALID_USAGE', `usage cached_tokens ${cached} exceeds prompt_tokens ${promptTokens}`, { field: 'prompt_tokens_details.cached_tokens' });
    if (reasoning > completionTokens)
        throw new PricingError('PRICING_INVALID_USAGE', `usage reasoning_tokens ${reasoning} exceeds completion_tokens ${completionTokens}`, {
            field: 'completion_tokens_details.reasoning_tokens',
        });
    return { prompt: promptTokens - cached, cached, completion: completionTokens - reasoning, reasoning };
}

/** The inverse of usageFromOpenAI, for APIs that report usage in OpenAI's shape (numbers; throws past 2^53 − 1). */
export function usageToOpenAI(u: TokenUsage): Required<OpenAIUsage> & {
    prompt_tokens_details: { cached_tokens: number };
    completion_tokens_details: { reasoning_tokens: number };
} {
    checkUsage(u);
    const num = (b: bigint, what: string) => {
        if (b > BigInt(Number.MAX_SAFE_INTEGER)) throw new PricingError('PRICING_INVALID_USAGE', `${what} ${b} does not fit a JSON number`, { field: what });
        return Number(b);
    };
    const prompt = num(u.prompt + u.cached, 'prompt_tokens');
    const completion = num(u.completion + u.reasoning, 'completion_tokens');
    return {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: num(u.prompt + u.cached + u.completion + u.reasoning, 'total_tokens'),
        prompt_tokens_details: { cached_tokens: num(u.cached, 'cached_tokens') },
        completion_tokens_details: { reasoning_tokens: num(u.reasoning, 'reasoning_tokens') },
    };
}
