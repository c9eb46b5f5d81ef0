// Usage bounds (spec/payments.md, "Usage bounds"): the numbers a receipt may claim, whoever produced them.
import fc from 'fast-check';
import { clampUsage, contentBytes, maxGenerated, maxRequestCost, usageExcess } from '../../../agents/core/metering';
import { cost, TokenUsage } from '../../../agents/core/pricing';
import { buildReceipt, encodeReceipt, signReceipt, verifyReceipt } from '../../../agents/core/receipt';
import { keyPairFromSeed } from '@ton/crypto';
import { toUint256 } from '../../../wrappers/payloads';

const prices = { pricePrompt: 100_000_000n, priceCached: 10_000_000n, priceCompletion: 300_000_000n, priceReasoning: 300_000_000n };

describe('metering: usage bounds', () => {
    it('contentBytes counts the UTF-8 of generated text under choices, not roles, finish reasons or envelope fields', () => {
        expect(contentBytes({ id: 'chatcmpl-xyz', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'hé' }, finish_reason: 'stop' }] })).toBe(3);
        expect(contentBytes({ choices: [{ message: { content: 'ab', reasoning_content: '€' } }] })).toBe(5);
        expect(contentBytes({ choices: [{ text: ' word' }] })).toBe(5);
        expect(contentBytes({ choices: [], usage: { prompt_tokens: 3 } })).toBe(0);
        expect(contentBytes(null)).toBe(0);
        expect(contentBytes('text')).toBe(0);
    });

    it('attack 11: 3,000,000 completion tokens for maxTokens 3 exceed the bound and clamp to 3; the text bound is bytes + 1', () => {
        const lie: TokenUsage = { prompt: 4n, cached: 0n, completion: 3_000_000n, reasoning: 0n };
        expect(usageExcess(lie, { maxTokens: 3, contextLength: 4096n })).toMatch(/exceeds 3/);
        expect(clampUsage(lie, { maxTokens: 3, contextLength: 4096n })).toEqual({ prompt: 4n, cached: 0n, completion: 3n, reasoning: 0n });
        expect(maxGenerated({ maxTokens: 1000, contextLength: 4096n, streamedBytes: 45 })).toBe(46n);
        expect(usageExcess({ ...lie, completion: 47n }, { maxTokens: 1000, contextLength: 4096n, streamedBytes: 45 })).toMatch(/45 bytes streamed/);
        expect(usageExcess({ ...lie, completion: 46n }, { maxTokens: 1000, contextLength: 4096n, streamedBytes: 45 })).toBeNull();
        expect(usageExcess({ ...lie, completion: 1n, prompt: 5000n }, { maxTokens: 3, contextLength: 4096n })).toMatch(/context length/);
    });

    it('n choices: maxTokens is the budget of all of them, and each choice adds one end token of slack to the byte bound', () => {
        const lie: TokenUsage = { prompt: 2n, cached: 0n, completion: 3_000_000n, reasoning: 0n };
        // n = 3, max_tokens 4: the frame carries 12; 33 bytes of text in three choices.
        expect(clampUsage(lie, { maxTokens: 12, contextLength: 4096n, streamedBytes: 33, choices: 3 }).completion).toBe(12n);
        expect(maxGenerated({ maxTokens: 1000, contextLength: 4096n, streamedBytes: 0, choices: 3 })).toBe(3n);
        expect(maxGenerated({ maxTokens: 1000, contextLength: 4096n, streamedBytes: 0 })).toBe(1n);
        // tool-call arguments are text like any other string under choices
        expect(contentBytes({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] } }] })).toBe(7);
    });

    it('clampUsage always lands within the bounds and never raises a count (property)', () => {
        const n = fc.bigInt({ min: 0n, max: 1n << 40n });
        fc.assert(
            fc.property(n, n, n, n, fc.integer({ min: 1, max: 1 << 20 }), fc.bigInt({ min: 1n, max: 1n << 20n }), fc.option(fc.integer({ min: 0, max: 1 << 20 }), { nil: undefined }), (prompt, cached, completion, reasoning, maxTokens, contextLength, streamedBytes) => {
                const u = { prompt, cached, completion, reasoning };
                const b = { maxTokens, contextLength, streamedBytes };
                const c = clampUsage(u, b);
                expect(usageExcess(c, b)).toBeNull();
                for (const k of ['prompt', 'cached', 'completion', 'reasoning'] as const) expect(c[k] <= u[k]).toBe(true);
                if (usageExcess(u, b) === null) expect(c).toEqual(u);
            }),
        );
    });

    it('maxRequestCost is the cost of a full context plus maxTokens of the dearer kinds, and bounds every in-bound usage (property)', () => {
        expect(maxRequestCost(prices, 3, 4096n, 1500n)).toBe(cost({ prompt: 4096n, cached: 0n, completion: 3n, reasoning: 0n }, prices, 1500n));
        fc.assert(
            fc.property(fc.bigInt({ min: 0n, max: 4096n }), fc.bigInt({ min: 0n, max: 4096n }), fc.bigInt({ min: 0n, max: 64n }), fc.bigInt({ min: 0n, max: 64n }), (prompt, cached, completion, reasoning) => {
                const u = clampUsage({ prompt, cached, completion, reasoning }, { maxTokens: 64, contextLength: 4096n });
                expect(cost(u, prices, 1500n) <= maxRequestCost(prices, 64, 4096n, 1500n)).toBe(true);
            }),
        );
    });

    it('verifyReceipt refuses a validly signed receipt beyond the bounds (RECEIPT_USAGE_BOUND) or the cost cap (RECEIPT_COST_CAP)', () => {
        const kp = keyPairFromSeed(Buffer.alloc(32, 3));
        const usage: TokenUsage = { prompt: 4n, cached: 0n, completion: 3_000_000n, reasoning: 0n };
        const c = cost(usage, prices, 1000n);
        const r = buildReceipt({ requestId: 7n, modelId: 9n, worker: toUint256(kp.publicKey), coefficient: 1000n, prices, issuedAt: 1, usage });
        const wire = encodeReceipt(signReceipt(r, kp.secretKey));
        const base = { workerPublicKey: kp.publicKey, prices, maxCoefficient: 1000n, requestId: 7n, modelId: 9n };
        expect(verifyReceipt(wire, base).cost).toBe(c); // signed and priced correctly: only the bounds catch it
        expect(() => verifyReceipt(wire, { ...base, bounds: { maxTokens: 3, contextLength: 4096n } })).toThrow(expect.objectContaining({ code: 'RECEIPT_USAGE_BOUND' }));
        expect(() => verifyReceipt(wire, { ...base, maxCost: c - 1n })).toThrow(expect.objectContaining({ code: 'RECEIPT_COST_CAP' }));
    });
});
