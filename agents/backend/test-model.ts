// The test model, defined once: what the reference backend serves (its id, context and description) and what Root
// registers for it (the same name and context, with prices). The devnet, the tests' network fixtures and the backend
// all read it from here.
import { toNano } from '@ton/core';
import type { ModelPrices } from '../core/pricing';
import type { Model } from '../../wrappers/Root';
import type { ReferenceModel } from './reference';

/** The one model the reference backend serves by default. Its id and description say it is a test model. */
export const TEST_MODEL: ReferenceModel = Object.freeze({
    id: 'cocoon-test/echo-1',
    contextLength: 4096,
    description: 'Test model (not a language model): echoes the last user message, then fixed filler words; 1 token = 1 word',
});

// Root's prices are nanoTON per 1M tokens of each kind (agents/core/pricing.ts, TOKENS_PER_PRICE_UNIT).

/**
 * The tests' prices: 0.1 / 0.01 / 0.3 / 0.3 TON per 1M tokens (prompt / cached / completion / reasoning), i.e. 100 /
 * 10 / 300 / 300 nanoTON per token: small enough that the default credit window and deposits serve many requests.
 */
export const TEST_MODEL_PRICES: ModelPrices = Object.freeze({
    pricePrompt: toNano('0.1'),
    priceCached: toNano('0.01'),
    priceCompletion: toNano('0.3'),
    priceReasoning: toNano('0.3'),
});

/**
 * The devnet's prices, 1000x the tests': 100 / 10 / 300 / 300 TON per 1M tokens, i.e. 0.0001 / 0.00001 / 0.0003 /
 * 0.0003 TON per token, so a newcomer sees a demo request's cost in TON (a 32-token reply: about 0.01 TON).
 */
export const DEVNET_MODEL_PRICES: ModelPrices = Object.freeze({
    pricePrompt: toNano('100'),
    priceCached: toNano('10'),
    priceCompletion: toNano('300'),
    priceReasoning: toNano('300'),
});

/** Root's record of the test model (RegisterModel) at `prices`. */
export function testModelRecord(prices: ModelPrices): Omit<Model, '$$type'> {
    return { name: TEST_MODEL.id, weightsHash: 0n, contextLength: BigInt(TEST_MODEL.contextLength), ...prices, requireGpu: false };
}
