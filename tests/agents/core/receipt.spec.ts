// Usage receipts: exact cell layout, real Ed25519 signatures, every rejection code, and a strict decoder (fuzzed).
import { beginCell, Cell } from '@ton/core';
import { keyPairFromSeed, sign, signVerify } from '@ton/crypto';
import fc from 'fast-check';
import { readFileSync } from 'fs';
import { join } from 'path';
import { COEFFICIENT_ONE, cost, ModelPrices, TokenUsage } from '../../../agents/core/pricing';
import {
    buildReceipt,
    decodeReceipt,
    encodeReceipt,
    Receipt,
    ReceiptError,
    receiptCell,
    receiptHash,
    signedReceiptCell,
    signReceipt,
    SignedReceipt,
    TagReceipt,
    verifyReceipt,
    VerifyReceiptOptions,
} from '../../../agents/core/receipt';
import { modelId } from '../../../wrappers/payloads';
import { TEST_MODEL } from '../../../agents/backend/test-model';

const worker = keyPairFromSeed(Buffer.alloc(32, 7));
const other = keyPairFromSeed(Buffer.alloc(32, 9));
const prices: ModelPrices = { pricePrompt: 1_000_000_000n, priceCached: 100_000_000n, priceCompletion: 3_000_000_000n, priceReasoning: 2_000_000_000n };
const model = modelId(TEST_MODEL.id);
const requestId = 0x1234_5678_9abc_def0_1122_3344_5566_7788_99aa_bbcc_ddee_ff00_0102_0304_0506_0708n;
const usage: TokenUsage = { prompt: 1000n, cached: 10n, completion: 500n, reasoning: 7n };

function make(over: Partial<Parameters<typeof buildReceipt>[0]> = {}): Receipt {
    return buildReceipt({ requestId, modelId: model, worker: worker.publicKey, usage, prices, coefficient: 1200n, issuedAt: 1_700_000_000, ...over });
}
const opts: VerifyReceiptOptions = { workerPublicKey: worker.publicKey, prices, maxCoefficient: 1500n, requestId, modelId: model };

function code(f: () => unknown): string {
    try {
        f();
    } catch (e) {
        if (e instanceof ReceiptError) return e.code;
        throw e;
    }
    return 'no error';
}

describe('receipt layout', () => {
    it('uses tag "cor6", distinct from every contract signature tag', () => {
        expect(Buffer.from(TagReceipt.toString(16), 'hex').toString('ascii')).toBe('cor6');
        const constants = readFileSync(join(__dirname, '../../../contracts/constants.tact'), 'utf8');
        const tags = [...constants.matchAll(/^const Tag\w+: Int = 0x([0-9a-f]{8});/gm)].map((m) => parseInt(m[1], 16));
        expect(tags.length).toBe(5);
        expect(tags).not.toContain(TagReceipt);
    });

    it('encodes exactly the documented TL-B', () => {
        const r = make();
        const expected = beginCell()
            .storeUint(0x636f7236, 32)
            .storeUint(requestId, 256)
            .storeUint(model, 256)
            .storeBuffer(worker.publicKey)
            .storeUint(1200, 32)
            .storeCoins(r.cost)
            .storeUint(1_700_000_000, 32)
            .storeRef(beginCell().storeUint(1000, 64).storeUint(10, 64).storeUint(500, 64).storeUint(7, 64))
            .endCell();
        expect(receiptCell(r).equals(expected)).toBe(true);
        expect(r.cost).toBe(cost(usage, prices, 1200n));
        expect(r.cost).toBe(3_018_000n); // 2_515_000 at 1.0x, x1.2
    });

    it('round-trips through the base64 wire form', () => {
        const s = signReceipt(make(), worker.secretKey);
        const wire = encodeReceipt(s);
        expect(wire.length).toBeLessThan(400);
        const back = decodeReceipt(wire);
        expect(back.receipt).toEqual(s.receipt);
        expect(back.signature.equals(s.signature)).toBe(true);
        expect(verifyReceipt(wire, opts)).toEqual(s.receipt);
    });

    it('round-trips any in-range receipt', () => {
        const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
        fc.assert(
            fc.property(
                fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
                fc.record({ prompt: u64, cached: u64, completion: u64, reasoning: u64 }),
                fc.bigInt({ min: 0n, max: (1n << 120n) - 1n }),
                fc.bigInt({ min: 0n, max: 0xffffffffn }),
                fc.integer({ min: 0, max: 0xffffffff }),
                (id, u, c, coef, t) => {
                    const r: Receipt = { requestId: id, modelId: model, worker: BigInt('0x' + worker.publicKey.toString('hex')), coefficient: coef, cost: c, issuedAt: t, usage: u };
                    const s = signReceipt(r, worker.secretKey);
                    expect(decodeReceipt(encodeReceipt(s)).receipt).toEqual(r);
                },
            ),
            { numRuns: 300 },
        );
    });

    it('writes the same bytes and hash as the @ton/core cells it defines (direct codec), for every cost length', () => {
        const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
        const costOfBytes = fc.integer({ min: 0, max: 15 }).chain((n) => (n === 0 ? fc.constant(0n) : fc.bigInt({ min: 1n << BigInt(8 * n - 8), max: (1n << BigInt(8 * n)) - 1n })));
        fc.assert(
            fc.property(
                fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
                fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
                fc.record({ prompt: u64, cached: u64, completion: u64, reasoning: u64 }),
                costOfBytes,
                fc.bigInt({ min: 0n, max: 0xffffffffn }),
                fc.integer({ min: 0, max: 0xffffffff }),
                fc.uint8Array({ minLength: 64, maxLength: 64 }),
                (id, w, u, c, coef, t, sig) => {
                    const s: SignedReceipt = { receipt: { requestId: id, modelId: model, worker: w, coefficient: coef, cost: c, issuedAt: t, usage: u }, signature: Buffer.from(sig) };
                    const wire = encodeReceipt(s);
                    expect(wire).toBe(signedReceiptCell(s).toBoc({ idx: false, crc32: false }).toString('base64'));
                    expect(receiptHash(s.receipt).equals(receiptCell(s.receipt).hash())).toBe(true);
                    const back = decodeReceipt(wire);
                    expect(back.receipt).toEqual(s.receipt);
                    expect(back.signature.equals(s.signature)).toBe(true);
                },
            ),
            { numRuns: 500 },
        );
    });
});

describe('signatures', () => {
    it('are byte-identical to @ton/crypto sign() over the receipt cell hash, and verify with signVerify()', () => {
        const r = make();
        const s = signReceipt(r, worker.secretKey);
        expect(s.signature.equals(sign(receiptCell(r).hash(), worker.secretKey))).toBe(true);
        expect(signVerify(receiptCell(r).hash(), s.signature, worker.publicKey)).toBe(true);
    });

    it('refuses a secret key whose public half does not match its seed', () => {
        const bad = Buffer.concat([worker.secretKey.subarray(0, 32), other.publicKey]);
        expect(code(() => signReceipt(make({ worker: other.publicKey }), bad))).toBe('RECEIPT_MALFORMED');
    });

    it('treats a public key that is not a curve point as a bad signature', () => {
        const s = signReceipt(make(), worker.secretKey);
        const notAPoint = Buffer.alloc(32, 0xff);
        expect(code(() => verifyReceipt(s, { ...opts, workerPublicKey: notAPoint }))).toBe('RECEIPT_BAD_SIGNATURE');
    });
});

describe('verifyReceipt', () => {
    const signed = () => signReceipt(make(), worker.secretKey);

    it('accepts an honest receipt at and below the cap, and with matching reported usage', () => {
        expect(verifyReceipt(signed(), opts).cost).toBe(3_018_000n);
        const atCap = signReceipt(make({ coefficient: 1500n }), worker.secretKey);
        expect(verifyReceipt(atCap, opts).coefficient).toBe(1500n);
        expect(verifyReceipt(signed(), { ...opts, usage }).usage).toEqual(usage);
    });

    it('refuses a receipt signed by another key (RECEIPT_BAD_SIGNATURE)', () => {
        const r = make({ worker: other.publicKey });
        const s = signReceipt(r, other.secretKey);
        expect(code(() => verifyReceipt(s, opts))).toBe('RECEIPT_BAD_SIGNATURE');
    });

    it('refuses a receipt altered after signing (RECEIPT_BAD_SIGNATURE)', () => {
        const s = signed();
        const inflated: SignedReceipt = { ...s, receipt: { ...s.receipt, usage: { ...usage, completion: 600n }, cost: cost({ ...usage, completion: 600n }, prices, 1200n) } };
        expect(code(() => verifyReceipt(inflated, opts))).toBe('RECEIPT_BAD_SIGNATURE');
        const flipped = Buffer.from(s.signature);
        flipped[5] ^= 1;
        expect(code(() => verifyReceipt({ ...s, signature: flipped }, opts))).toBe('RECEIPT_BAD_SIGNATURE');
    });

    it('refuses a receipt for another request, model or reported usage (RECEIPT_MISMATCH)', () => {
        expect(code(() => verifyReceipt(signed(), { ...opts, requestId: requestId + 1n }))).toBe('RECEIPT_MISMATCH');
        expect(code(() => verifyReceipt(signed(), { ...opts, modelId: modelId('other') }))).toBe('RECEIPT_MISMATCH');
        expect(code(() => verifyReceipt(signed(), { ...opts, usage: { ...usage, cached: 11n } }))).toBe('RECEIPT_MISMATCH');
    });

    it('refuses a receipt naming a different worker than its signer', () => {
        // Signed by `worker` but claims `other` as the worker: signReceipt refuses to produce it...
        expect(code(() => signReceipt(make({ worker: other.publicKey }), worker.secretKey))).toBe('RECEIPT_MISMATCH');
        // ...and a hand-made one fails verification.
        const r = make({ worker: other.publicKey });
        const forged = { receipt: r, signature: signReceipt({ ...r, worker: BigInt('0x' + worker.publicKey.toString('hex')) }, worker.secretKey).signature };
        expect(code(() => verifyReceipt(forged, opts))).toBe('RECEIPT_BAD_SIGNATURE');
    });

    it('refuses a coefficient above the client cap (RECEIPT_COEFFICIENT_TOO_HIGH)', () => {
        const s = signReceipt(make({ coefficient: 1501n }), worker.secretKey);
        expect(code(() => verifyReceipt(s, opts))).toBe('RECEIPT_COEFFICIENT_TOO_HIGH');
    });

    it('refuses a cost other than the pricing function gives (RECEIPT_COST_MISMATCH)', () => {
        for (const delta of [1n, -1n]) {
            const r = { ...make(), cost: make().cost + delta };
            expect(code(() => verifyReceipt(signReceipt(r, worker.secretKey), opts))).toBe('RECEIPT_COST_MISMATCH');
        }
        // Priced against other (e.g. stale) Root prices.
        expect(code(() => verifyReceipt(signed(), { ...opts, prices: { ...prices, priceCompletion: prices.priceCompletion + 1_000_000n } }))).toBe('RECEIPT_COST_MISMATCH');
        // Usage so large that the true cost overflows Coins.
        const huge = { ...make(), usage: { ...usage, prompt: (1n << 64n) - 1n }, cost: 5n };
        const big = { pricePrompt: (1n << 120n) - 1n, priceCached: 0n, priceCompletion: 0n, priceReasoning: 0n };
        expect(code(() => verifyReceipt(signReceipt(huge, worker.secretKey), { ...opts, prices: big }))).toBe('RECEIPT_COST_MISMATCH');
    });

    it('refuses out-of-range fields when building (RECEIPT_MALFORMED)', () => {
        expect(code(() => receiptCell({ ...make(), issuedAt: -1 }))).toBe('RECEIPT_MALFORMED');
        expect(code(() => receiptCell({ ...make(), requestId: 1n << 256n }))).toBe('RECEIPT_MALFORMED');
        expect(code(() => make({ worker: Buffer.alloc(31) }))).toBe('RECEIPT_MALFORMED');
        expect(code(() => signReceipt(make(), Buffer.alloc(32)))).toBe('RECEIPT_MALFORMED');
    });
});

describe('decodeReceipt is strict and total', () => {
    const good = signReceipt(make(), worker.secretKey);
    const wire = encodeReceipt(good);
    const bocOf = (c: Cell) => c.toBoc({ idx: false, crc32: false }).toString('base64');
    const sigCell = (inner: Cell) => beginCell().storeBuffer(good.signature).storeRef(inner).endCell();
    const rc = receiptCell(good.receipt);

    it.each([
        ['a number', 42],
        ['an empty string', ''],
        ['non-base64 text', 'not a receipt!'],
        ['base64 without padding', wire.replace(/=+$/, '')],
        ['url-safe base64', wire.replace(/\+/g, '-').replace(/\//g, '_') + (wire.includes('+') || wire.includes('/') ? '' : '-')],
        ['an over-long string', 'A'.repeat(4096)],
        ['random bytes', Buffer.from('hello world, this is not a boc').toString('base64')],
        ['an empty cell', beginCell().endCell().toBoc().toString('base64')],
        ['a bare receipt without signature', bocOf(rc)],
        ['a wrong tag', bocOf(sigCell(beginCell().storeUint(0x636f7631, 32).storeSlice(rc.beginParse().skip(32)).endCell()))],
        ['trailing bits', bocOf(sigCell(beginCell().storeSlice(rc.beginParse()).storeBit(0).endCell()))],
        ['an extra reference', bocOf(sigCell(beginCell().storeSlice(rc.beginParse()).storeRef(beginCell()).endCell()))],
        ['a short usage cell', bocOf(sigCell(beginCell().storeBits(rc.bits).storeRef(beginCell().storeUint(0, 255)).endCell()))],
        ['a usage cell with a reference', bocOf(sigCell(beginCell().storeBits(rc.bits).storeRef(beginCell().storeSlice(rc.refs[0].beginParse()).storeRef(beginCell())).endCell()))],
        ['a signature of 511 bits', bocOf(beginCell().storeBits(beginCell().storeBuffer(good.signature).endCell().bits.substring(0, 511)).storeRef(rc).endCell())],
    ])('rejects %s with RECEIPT_MALFORMED', (_name, input) => {
        expect(code(() => decodeReceipt(input))).toBe('RECEIPT_MALFORMED');
    });

    it('rejects two concatenated BOCs', () => {
        const two = Buffer.concat([Buffer.from(wire, 'base64'), Buffer.from(wire, 'base64')]).toString('base64');
        expect(code(() => decodeReceipt(two))).toBe('RECEIPT_MALFORMED');
    });

    it('rejects a non-canonical Coins encoding (leading zero byte) even though it parses', () => {
        const s = rc.beginParse();
        const head = beginCell().storeUint(s.loadUint(32), 32).storeUint(s.loadUintBig(256), 256).storeUint(s.loadUintBig(256), 256).storeUint(s.loadUintBig(256), 256).storeUint(s.loadUint(32), 32);
        const c = s.loadCoins();
        const bytes = Buffer.from(c.toString(16).padStart(8, '0'), 'hex'); // 3_018_000 fits in 3 bytes; stored in 4 with a leading zero
        head.storeUint(bytes.length, 4).storeBuffer(bytes).storeUint(s.loadUint(32), 32).storeRef(s.loadRef());
        expect(code(() => decodeReceipt(bocOf(sigCell(head.endCell()))))).toBe('RECEIPT_MALFORMED');
    });

    it('accepts only the canonical BOC: the same cell with index or CRC is refused', () => {
        const c = beginCell().storeBuffer(good.signature).storeRef(rc).endCell();
        expect(decodeReceipt(bocOf(c)).receipt).toEqual(good.receipt);
        expect(code(() => decodeReceipt(c.toBoc({ idx: true, crc32: true }).toString('base64')))).toBe('RECEIPT_MALFORMED');
        expect(code(() => decodeReceipt(c.toBoc({ idx: false, crc32: true }).toString('base64')))).toBe('RECEIPT_MALFORMED');
    });

    it('maps arbitrary strings and byte strings to RECEIPT_MALFORMED, never another exception', () => {
        const arb = fc.oneof(fc.string({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b).toString('base64')));
        fc.assert(
            fc.property(arb, (s) => {
                expect(code(() => decodeReceipt(s))).toBe('RECEIPT_MALFORMED');
            }),
            { numRuns: 3000 },
        );
    });

    it('never accepts a mutated receipt with different content', () => {
        const bytes = Buffer.from(wire, 'base64');
        fc.assert(
            fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
                const m = Buffer.from(bytes);
                for (const [i, x] of flips) m[i] ^= x;
                let verified: Receipt;
                try {
                    verified = verifyReceipt(m.toString('base64'), opts);
                } catch (e) {
                    expect(e).toBeInstanceOf(ReceiptError);
                    expect(['RECEIPT_MALFORMED', 'RECEIPT_BAD_SIGNATURE']).toContain((e as ReceiptError).code);
                    return;
                }
                expect(verified).toEqual(good.receipt);
                expect(m.equals(bytes)).toBe(true); // canonical form: a changed byte string never verifies
            }),
            { numRuns: 3000 },
        );
    });
});

describe('native Ed25519 (agents/core/ed25519.ts)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ed25519Sign, ed25519Verify, Ed25519KeyError } = require('../../../agents/core/ed25519') as typeof import('../../../agents/core/ed25519');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ton = require('@ton/crypto') as typeof import('@ton/crypto');
    it('agrees with @ton/crypto in both directions, caches keys, and refuses mismatched or malformed keys', () => {
        for (let i = 0; i < 20; i++) {
            const kp = ton.keyPairFromSeed(require('crypto').randomBytes(32));
            const msg = require('crypto').randomBytes(32);
            const a = ed25519Sign(msg, kp.secretKey);
            expect(a.equals(ton.sign(msg, kp.secretKey))).toBe(true);
            expect(ed25519Verify(msg, a, kp.publicKey)).toBe(true);
            expect(ton.signVerify(msg, a, kp.publicKey)).toBe(true);
            const bad = Buffer.from(a);
            bad[i % 64] ^= 1;
            expect(ed25519Verify(msg, bad, kp.publicKey)).toBe(false);
            expect(ed25519Verify(msg, a, kp.publicKey)).toBe(true); // cached key, still right
        }
        const kp = ton.keyPairFromSeed(Buffer.alloc(32, 1));
        const other = ton.keyPairFromSeed(Buffer.alloc(32, 2));
        expect(() => ed25519Sign(Buffer.alloc(32), Buffer.concat([kp.secretKey.subarray(0, 32), other.publicKey]))).toThrow(Ed25519KeyError);
        expect(() => ed25519Sign(Buffer.alloc(32), kp.secretKey.subarray(0, 32))).toThrow(Ed25519KeyError);
        expect(ed25519Verify(Buffer.alloc(32), Buffer.alloc(64), Buffer.alloc(31))).toBe(false);
        expect(ed25519Verify(Buffer.alloc(32), Buffer.alloc(63), kp.publicKey)).toBe(false);
    });
});
