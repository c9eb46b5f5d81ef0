// spec/payments.md must match the code: every error code once, the receipt tag, units and the backend's model and filler.
import { readFileSync } from 'fs';
import { join } from 'path';
import { FILLER } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { COEFFICIENT_ONE, MAX_COEFFICIENT, MAX_COINS, MAX_TOKENS, PricingErrorCodes, TOKENS_PER_PRICE_UNIT } from '../../../agents/core/pricing';
import { MAX_RECEIPT_BASE64, ReceiptErrorCodes, TagReceipt } from '../../../agents/core/receipt';
import { isWireCode } from '../../../agents/core/wire';

const spec = readFileSync(join(__dirname, '../../../spec/payments.md'), 'utf8');

describe('spec/payments.md', () => {
    // A code that is also a wire code (PRICING_*, RECEIPT_MALFORMED) has its one row in wire.md's code table instead.
    const wireSpec = readFileSync(join(__dirname, '../../../spec/wire.md'), 'utf8');
    it.each([...PricingErrorCodes, ...ReceiptErrorCodes])('documents error code %s once in an error table', (code) => {
        const row = new RegExp(`^\\| \`${code}\` \\|`, 'gm');
        expect(spec.match(row)?.length ?? 0).toBe(isWireCode(code) ? 0 : 1);
        if (isWireCode(code)) expect(wireSpec.match(row)).toHaveLength(1);
    });

    it.each(['Units', 'Token kinds', 'Formula and rounding', 'Receipts', 'Error codes', 'Reference backend'])('has the section "## %s"', (h) => {
        expect(spec).toMatch(new RegExp(`^## ${h}$`, 'm'));
    });

    it('states the receipt tag, units and limits the code uses', () => {
        expect(spec).toContain(`tag:#${TagReceipt.toString(16)}`);
        expect(COEFFICIENT_ONE).toBe(1000n);
        expect(spec).toContain('`COEFFICIENT_ONE = 1000`');
        expect(TOKENS_PER_PRICE_UNIT).toBe(1_000_000n);
        expect(spec).toContain('**1,000,000**');
        expect([MAX_TOKENS, MAX_COEFFICIENT, MAX_COINS]).toEqual([2n ** 64n - 1n, 2n ** 32n - 1n, 2n ** 120n - 1n]);
        expect(spec).toContain('0 .. 2^64 − 1');
        expect(spec).toContain('0 .. 2^32 − 1');
        expect(spec).toContain('0 .. 2^120 − 1');
        expect(spec).toContain(`longer than ${MAX_RECEIPT_BASE64} characters`);
    });

    it("names the reference backend's model and filler words", () => {
        expect(spec).toContain(`\`${TEST_MODEL.id}\``);
        expect(spec).toContain(`\`${FILLER.join(' ')}\``);
        expect(TEST_MODEL.description).toMatch(/^Test model \(not a language model\)/);
    });
});
