// The one pricing function: exact formula, rounding, invariants (fast-check) and the OpenAI usage mapping.
import fc from 'fast-check';
import {
    addUsage,
    COEFFICIENT_ONE,
    cost,
    MAX_COEFFICIENT,
    MAX_COINS,
    MAX_TOKENS,
    ModelPrices,
    PricingError,
    TokenUsage,
    usageFromOpenAI,
    usageToOpenAI,
    ZERO_USAGE,
} from '../../../agents/core/pricing';

const prices: ModelPrices = { pricePrompt: 1_000_000_000n, priceCached: 100_000_000n, priceCompletion: 3_000_000_000n, priceReasoning: 2_000_000_000n };

// Realistic ranges (token counts up to 2^40, prices up to 10^15 nanoTON per 1M), plus full-range values.
const tokens = fc.oneof(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.bigInt({ min: 0n, max: 1000n }));
const usageArb: fc.Arbitrary<TokenUsage> = fc.record({ prompt: tokens, cached: tokens, completion: tokens, reasoning: tokens });
const priceArb = fc.bigInt({ min: 0n, max: 10n ** 15n });
const pricesArb: fc.Arbitrary<ModelPrices> = fc.record({ pricePrompt: priceArb, priceCached: priceArb, priceCompletion: priceArb, priceReasoning: priceArb });
const coefArb = fc.bigInt({ min: 0n, max: 100_000n });
const kinds = ['prompt', 'cached', 'completion', 'reasoning'] as const;

function code(f: () => unknown): string {
    try {
        f();
    } catch (e) {
        if (e instanceof PricingError) return e.code;
        throw e;
    }
    return 'no error';
}

// Independent reference: exact rationals (numerator/denominator reduced by gcd), one term per kind, floored at the end.
type Q = { n: bigint; d: bigint };
const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
const q = (n: bigint, d: bigint): Q => {
    const g = gcd(n, d) || 1n;
    return { n: n / g, d: d / g };
};
const add = (a: Q, b: Q) => q(a.n * b.d + b.n * a.d, a.d * b.d);
const mul = (a: Q, b: Q) => q(a.n * b.n, a.d * b.d);
function referenceCost(u: TokenUsage, p: ModelPrices, c: bigint): bigint {
    const perToken: Record<(typeof kinds)[number], Q> = {
        prompt: q(p.pricePrompt, 1_000_000n),
        cached: q(p.priceCached, 1_000_000n),
        completion: q(p.priceCompletion, 1_000_000n),
        reasoning: q(p.priceReasoning, 1_000_000n),
    };
    let sum: Q = { n: 0n, d: 1n };
    for (const k of kinds) sum = add(sum, mul(q(u[k], 1n), perToken[k]));
    const total = mul(sum, q(c, 1000n));
    return total.n / total.d; // non-negative, so truncation = floor
}

describe('cost()', () => {
    it('charges tokens x price-per-million x coefficient, rounded down once at the end', () => {
        // 1000 prompt tokens at 1 TON/1M = 1_000_000 nanoTON; 10 cached at 0.1 TON/1M = 1000; 500 completion at 3 TON/1M = 1_500_000;
        // 7 reasoning at 2 TON/1M = 14_000. Sum 2_515_000 at 1.0x.
        const u = { prompt: 1000n, cached: 10n, completion: 500n, reasoning: 7n };
        expect(cost(u, prices, COEFFICIENT_ONE)).toBe(2_515_000n);
        expect(cost(u, prices, 1500n)).toBe(3_772_500n);
        expect(cost(u, prices, 1n)).toBe(2_515n);
        // 1 prompt token at 1 nanoTON/1M = 1e-6 nanoTON: rounds to 0; 999_999 such tokens still 0; 1_000_000 is 1.
        const tiny = { pricePrompt: 1n, priceCached: 0n, priceCompletion: 0n, priceReasoning: 0n };
        expect(cost({ ...ZERO_USAGE, prompt: 999_999n }, tiny, COEFFICIENT_ONE)).toBe(0n);
        expect(cost({ ...ZERO_USAGE, prompt: 1_000_000n }, tiny, COEFFICIENT_ONE)).toBe(1n);
        // Rounding happens on the sum, not per kind: 0.6 + 0.6 nanoTON = 1.
        const half = { pricePrompt: 600_000n, priceCached: 600_000n, priceCompletion: 0n, priceReasoning: 0n };
        expect(cost({ ...ZERO_USAGE, prompt: 1n, cached: 1n }, half, COEFFICIENT_ONE)).toBe(1n);
    });

    it('prices each kind with its own price', () => {
        for (const k of kinds) {
            const u = { ...ZERO_USAGE, [k]: 1_000_000n };
            const field = { prompt: 'pricePrompt', cached: 'priceCached', completion: 'priceCompletion', reasoning: 'priceReasoning' }[k] as keyof ModelPrices;
            expect(cost(u, prices, COEFFICIENT_ONE)).toBe(prices[field]);
        }
    });

    it('costs 0 for zero usage, zero prices or a zero coefficient', () => {
        fc.assert(
            fc.property(usageArb, pricesArb, coefArb, (u, p, c) => {
                expect(cost(ZERO_USAGE, p, c)).toBe(0n);
                expect(cost(u, { pricePrompt: 0n, priceCached: 0n, priceCompletion: 0n, priceReasoning: 0n }, c)).toBe(0n);
                expect(cost(u, p, 0n)).toBe(0n);
            }),
        );
    });

    it('matches an exact rational reference computation', () => {
        fc.assert(fc.property(usageArb, pricesArb, coefArb, (u, p, c) => expect(cost(u, p, c)).toBe(referenceCost(u, p, c))), { numRuns: 2000 });
    });

    it('is monotone in every token count, every price and the coefficient', () => {
        fc.assert(
            fc.property(usageArb, pricesArb, coefArb, fc.constantFrom(...kinds), fc.bigInt({ min: 0n, max: 1n << 30n }), (u, p, c, k, d) => {
                const base = cost(u, p, c);
                expect(cost({ ...u, [k]: u[k] + d }, p, c)).toBeGreaterThanOrEqual(base);
                expect(cost(u, p, c + d)).toBeGreaterThanOrEqual(base);
                const field = ({ prompt: 'pricePrompt', cached: 'priceCached', completion: 'priceCompletion', reasoning: 'priceReasoning' } as const)[k];
                expect(cost(u, { ...p, [field]: p[field] + d }, c)).toBeGreaterThanOrEqual(base);
            }),
            { numRuns: 1000 },
        );
    });

    it('is additive within one nanoTON: cost(a)+cost(b) <= cost(a+b) <= cost(a)+cost(b)+1', () => {
        fc.assert(
            fc.property(usageArb, usageArb, pricesArb, coefArb, (a, b, p, c) => {
                const sum = cost(addUsage(a, b), p, c);
                const parts = cost(a, p, c) + cost(b, p, c);
                expect(sum).toBeGreaterThanOrEqual(parts);
                expect(sum).toBeLessThanOrEqual(parts + 1n);
            }),
            { numRuns: 1000 },
        );
    });

    it('scales exactly with the coefficient when nothing is lost to rounding', () => {
        fc.assert(
            fc.property(usageArb, pricesArb, fc.bigInt({ min: 0n, max: 1000n }), (u, p, m) => {
                // With prices that are whole nanoTON per token, 1.0x is exact and m/1000 of it floors once.
                const whole = { pricePrompt: p.pricePrompt * 1_000_000n, priceCached: p.priceCached * 1_000_000n, priceCompletion: p.priceCompletion * 1_000_000n, priceReasoning: p.priceReasoning * 1_000_000n };
                const one = cost(u, whole, COEFFICIENT_ONE);
                expect(cost(u, whole, COEFFICIENT_ONE * m)).toBe(one * m);
            }),
        );
    });

    it('rejects bad inputs with typed errors', () => {
        expect(code(() => cost({ ...ZERO_USAGE, prompt: -1n }, prices, COEFFICIENT_ONE))).toBe('PRICING_INVALID_USAGE');
        expect(code(() => cost({ ...ZERO_USAGE, cached: MAX_TOKENS + 1n }, prices, COEFFICIENT_ONE))).toBe('PRICING_INVALID_USAGE');
        expect(code(() => cost({ ...ZERO_USAGE, prompt: 5 as unknown as bigint }, prices, COEFFICIENT_ONE))).toBe('PRICING_INVALID_USAGE');
        expect(code(() => cost(ZERO_USAGE, { ...prices, priceCached: -1n }, COEFFICIENT_ONE))).toBe('PRICING_INVALID_PRICE');
        expect(code(() => cost(ZERO_USAGE, { ...prices, priceReasoning: MAX_COINS + 1n }, COEFFICIENT_ONE))).toBe('PRICING_INVALID_PRICE');
        expect(code(() => cost(ZERO_USAGE, prices, -1n))).toBe('PRICING_INVALID_COEFFICIENT');
        expect(code(() => cost(ZERO_USAGE, prices, MAX_COEFFICIENT + 1n))).toBe('PRICING_INVALID_COEFFICIENT');
        expect(code(() => cost(ZERO_USAGE, prices, 1.5 as unknown as bigint))).toBe('PRICING_INVALID_COEFFICIENT');
        const max = { pricePrompt: MAX_COINS, priceCached: MAX_COINS, priceCompletion: MAX_COINS, priceReasoning: MAX_COINS };
        expect(code(() => cost({ prompt: MAX_TOKENS, cached: 0n, completion: 0n, reasoning: 0n }, max, MAX_COEFFICIENT))).toBe('PRICING_OVERFLOW');
        // The largest representable inputs that still fit are fine.
        expect(cost({ ...ZERO_USAGE, prompt: 1_000_000n }, { ...max, pricePrompt: MAX_COINS }, COEFFICIENT_ONE)).toBe(MAX_COINS);
    });
});

describe('usageFromOpenAI()', () => {
    it('splits cached prompt tokens and reasoning tokens into their own kinds', () => {
        expect(
            usageFromOpenAI({
                prompt_tokens: 120,
                completion_tokens: 80,
                total_tokens: 200,
                prompt_tokens_details: { cached_tokens: 20, audio_tokens: 0 },
                completion_tokens_details: { reasoning_tokens: 30, accepted_prediction_tokens: 0 },
            }),
        ).toEqual({ prompt: 100n, cached: 20n, completion: 50n, reasoning: 30n });
    });

    it('tolerates missing or null details (llama.cpp, older vLLM)', () => {
        expect(usageFromOpenAI({ prompt_tokens: 5, completion_tokens: 7 })).toEqual({ prompt: 5n, cached: 0n, completion: 7n, reasoning: 0n });
        expect(usageFromOpenAI({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12, prompt_tokens_details: null, completion_tokens_details: {} })).toEqual({
            prompt: 5n,
            cached: 0n,
            completion: 7n,
            reasoning: 0n,
        });
        expect(usageFromOpenAI({ prompt_tokens: 5, completion_tokens: 7, prompt_tokens_details: { cached_tokens: null } }).cached).toBe(0n);
    });

    it.each([
        ['not an object', null],
        ['an array', [1, 2]],
        ['missing prompt_tokens', { completion_tokens: 1 }],
        ['missing completion_tokens', { prompt_tokens: 1 }],
        ['negative prompt_tokens', { prompt_tokens: -1, completion_tokens: 1 }],
        ['fractional completion_tokens', { prompt_tokens: 1, completion_tokens: 1.5 }],
        ['string counts', { prompt_tokens: '1', completion_tokens: 1 }],
        ['unsafe integers', { prompt_tokens: 2 ** 53, completion_tokens: 1 }],
        ['NaN', { prompt_tokens: NaN, completion_tokens: 1 }],
        ['cached > prompt', { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 4 } }],
        ['reasoning > completion', { prompt_tokens: 3, completion_tokens: 1, completion_tokens_details: { reasoning_tokens: 2 } }],
        ['negative cached', { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: { cached_tokens: -1 } }],
        ['details not an object', { prompt_tokens: 3, completion_tokens: 1, prompt_tokens_details: 5 }],
        ['wrong total', { prompt_tokens: 3, completion_tokens: 1, total_tokens: 5 }],
    ])('rejects %s with PRICING_INVALID_USAGE', (_name, usage) => {
        expect(code(() => usageFromOpenAI(usage))).toBe('PRICING_INVALID_USAGE');
    });

    it('is total: any JSON value maps to usage or PRICING_INVALID_USAGE, never another exception', () => {
        const num = fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string(), fc.constant(undefined));
        const arb = fc.oneof(
            fc.jsonValue(),
            fc.record(
                {
                    prompt_tokens: num,
                    completion_tokens: num,
                    total_tokens: num,
                    prompt_tokens_details: fc.oneof(fc.constant(null), fc.record({ cached_tokens: num }), fc.jsonValue()),
                    completion_tokens_details: fc.oneof(fc.constant(null), fc.record({ reasoning_tokens: num }), fc.jsonValue()),
                },
                { requiredKeys: [] },
            ),
        );
        fc.assert(
            fc.property(arb, (v) => {
                let u: TokenUsage;
                try {
                    u = usageFromOpenAI(v);
                } catch (e) {
                    expect(e).toBeInstanceOf(PricingError);
                    expect((e as PricingError).code).toBe('PRICING_INVALID_USAGE');
                    return;
                }
                for (const k of kinds) expect(u[k]).toBeGreaterThanOrEqual(0n);
            }),
            { numRuns: 3000 },
        );
    });

    it('round-trips with usageToOpenAI', () => {
        const small = fc.bigInt({ min: 0n, max: 1n << 40n });
        fc.assert(
            fc.property(fc.record({ prompt: small, cached: small, completion: small, reasoning: small }), (u) => {
                const o = usageToOpenAI(u);
                expect(o.total_tokens).toBe(o.prompt_tokens + o.completion_tokens);
                expect(usageFromOpenAI(JSON.parse(JSON.stringify(o)))).toEqual(u);
            }),
        );
    });
});
