// Parser strictness (typed QUOTE_MALFORMED / QUOTE_UNSUPPORTED), the image hash of design §5, and the
// verification cache.
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { MAX_PEM_CHAIN_BYTES, MAX_QUOTE_BYTES, parseQuote, splitPemChain } from '../../../../agents/core/tee/quote';
import { checkImageAllowed, imageHash, imageHashInput } from '../../../../agents/core/tee/image';
import { Collateral, TdReportBody, VerifyPolicy } from '../../../../agents/core/tee/types';
import { VerificationCache, verifyQuote } from '../../../../agents/core/tee/verify';
import { codeOf, offsets, withPemChain } from './util';

let tee: SimulatedTee;
let quote: Buffer;
let collateral: Collateral;

beforeAll(async () => {
    tee = await SimulatedTee.create();
    quote = await tee.getQuote(Buffer.alloc(64, 9));
    collateral = await tee.signCollateral();
});

function edit(q: Buffer, f: (b: Buffer) => void): Buffer {
    const b = Buffer.from(q);
    f(b);
    return b;
}

describe('parseQuote', () => {
    it('parses every field of a v4 quote at the documented offsets', () => {
        const q = parseQuote(quote);
        expect(q.version).toBe(4);
        expect(q.bodyType).toBe('tdx10');
        expect(q.header).toMatchObject({ attestationKeyType: 2, teeType: 0x81 });
        expect(q.body.mrTd).toEqual(quote.subarray(184, 232));
        expect(q.body.tdAttributes).toEqual(quote.subarray(168, 176));
        expect(q.body.reportData).toEqual(Buffer.alloc(64, 9));
        expect(q.signedRegion).toEqual(quote.subarray(0, 632));
        expect(q.signature).toEqual(quote.subarray(636, 700));
        expect(q.attestationKey).toEqual(quote.subarray(700, 764));
        expect(q.qeReport.raw).toEqual(quote.subarray(770, 1154));
        expect(q.qeReport.isvProdId).toBe(2);
        expect(q.qeAuthData.length).toBe(32);
        expect(q.pckChainPem).toHaveLength(3);
        expect(q.body.teeTcbSvn2).toBeUndefined();
    });

    it('returns copies: mutating the input afterwards does not change the parsed quote', () => {
        const b = Buffer.from(quote);
        const q = parseQuote(b);
        b.fill(0);
        expect(q.body.reportData).toEqual(Buffer.alloc(64, 9));
    });

    it('accepts a Uint8Array as well as a Buffer', () => {
        expect(parseQuote(new Uint8Array(quote)).version).toBe(4);
    });

    it.each([
        ['version 3', (b: Buffer) => b.writeUInt16LE(3, 0)],
        ['version 6', (b: Buffer) => b.writeUInt16LE(6, 0)],
        ['attestation key type 3 (ECDSA P-384)', (b: Buffer) => b.writeUInt16LE(3, 2)],
        ['TEE type SGX', (b: Buffer) => b.writeUInt32LE(0, 4)],
        ['certification data type 5 at the top level', (b: Buffer) => b.writeUInt16LE(5, 764)],
    ])('QUOTE_UNSUPPORTED for %s', (_n, f) => {
        expect(codeOf(() => parseQuote(edit(quote, f)))).toBe('QUOTE_UNSUPPORTED');
    });

    it('QUOTE_UNSUPPORTED for an inner certification data type other than the PEM chain', () => {
        expect(codeOf(() => parseQuote(edit(quote, (b) => b.writeUInt16LE(3, offsets(quote).innerHeader))))).toBe('QUOTE_UNSUPPORTED');
    });

    it('QUOTE_UNSUPPORTED for a v5 SGX body or an unknown body type; QUOTE_MALFORMED for a wrong body size', () => {
        const v5 = tee.makeQuote(Buffer.alloc(64), { layout: { version: 5, bodyType: 'tdx10' } });
        expect(parseQuote(v5).version).toBe(5);
        expect(codeOf(() => parseQuote(edit(v5, (b) => b.writeUInt16LE(1, 48))))).toBe('QUOTE_UNSUPPORTED');
        expect(codeOf(() => parseQuote(edit(v5, (b) => b.writeUInt16LE(9, 48))))).toBe('QUOTE_UNSUPPORTED');
        expect(codeOf(() => parseQuote(edit(v5, (b) => b.writeUInt32LE(648, 50))))).toBe('QUOTE_MALFORMED');
        // A TDX 1.0 body labelled as TDX 1.5 (size matching the label) runs past its real end.
        expect(codeOf(() => parseQuote(edit(v5, (b) => (b.writeUInt16LE(3, 48), b.writeUInt32LE(648, 50)))))).toBe('QUOTE_MALFORMED');
    });

    it.each([
        ['empty', Buffer.alloc(0)],
        ['a header only', () => quote.subarray(0, 48)],
        ['a truncated body', () => quote.subarray(0, 600)],
        ['no signature data', () => quote.subarray(0, 636)],
        ['a truncated PEM chain', () => quote.subarray(0, quote.length - 100)],
    ])('QUOTE_MALFORMED for %s', (_n, input) => {
        const b = typeof input === 'function' ? input() : input;
        expect(codeOf(() => parseQuote(b))).toBe('QUOTE_MALFORMED');
    });

    it('QUOTE_MALFORMED when a length field disagrees with the data', () => {
        const o = offsets(quote);
        const sigLen = quote.readUInt32LE(o.signedEnd);
        expect(codeOf(() => parseQuote(edit(quote, (b) => b.writeUInt32LE(sigLen + 1, o.signedEnd))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(edit(quote, (b) => b.writeUInt32LE(sigLen - 1, o.signedEnd))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(edit(quote, (b) => b.writeUInt32LE(0xffffffff, o.signedEnd))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(edit(quote, (b) => b.writeUInt32LE(b.readUInt32LE(o.certHeader + 2) - 1, o.certHeader + 2))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(edit(quote, (b) => b.writeUInt16LE(33, o.authLen))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(edit(quote, (b) => b.writeUInt32LE(b.readUInt32LE(o.innerHeader + 2) + 1, o.innerHeader + 2))))).toBe('QUOTE_MALFORMED');
    });

    it('ignores bytes after sig_data_len but caps the total size', () => {
        expect(parseQuote(Buffer.concat([quote, Buffer.alloc(1000, 0xee)])).version).toBe(4);
        expect(codeOf(() => parseQuote(Buffer.concat([quote, Buffer.alloc(MAX_QUOTE_BYTES)])))).toBe('QUOTE_MALFORMED');
    });

    it('QUOTE_MALFORMED for a PEM chain over the cap, with non-ASCII bytes, junk between blocks or bad base64', () => {
        const pem = tee.pckChainPem;
        expect(codeOf(() => parseQuote(withPemChain(quote, pem + ' '.repeat(MAX_PEM_CHAIN_BYTES))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(withPemChain(quote, pem.replace('\n', '\u00e9\n'))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(withPemChain(quote, pem.replace('-----END CERTIFICATE-----\n', '-----END CERTIFICATE-----\njunk\n'))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(withPemChain(quote, pem.replace(/\n[A-Za-z0-9]/, '\n*'))))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(withPemChain(quote, '')))).toBe('QUOTE_MALFORMED');
        expect(codeOf(() => parseQuote(withPemChain(quote, pem.repeat(2))))).toBe('QUOTE_MALFORMED'); // 6 > MAX_PEM_CERTS
    });

    it('splitPemChain tolerates CRLF line ends and trailing NULs, and canonicalises blocks', () => {
        const blocks = splitPemChain(Buffer.concat([Buffer.from(tee.pckChainPem.replace(/\n/g, '\r\n')), Buffer.alloc(3)]));
        expect(blocks.join('')).toBe(tee.pckChainPem);
    });

    it('never throws anything but AttestationError, whatever the argument', () => {
        for (const v of [undefined, null, 42, 'quote', {}, [4, 0, 2, 0]]) {
            expect(codeOf(() => parseQuote(v as unknown as Buffer))).toBe('QUOTE_MALFORMED');
        }
    });
});

describe('image hash (design §5)', () => {
    const zero = (): TdReportBody => {
        const z48 = Buffer.alloc(48);
        return { mrTd: z48, mrConfigId: z48, mrOwner: z48, mrOwnerConfig: z48, rtmr0: z48, rtmr1: z48, rtmr2: z48, rtmr3: z48 } as TdReportBody;
    };

    it("is cocoon's fake_tdx value for all-zero measurements (448-byte preimage)", () => {
        expect(imageHashInput(zero()).length).toBe(448);
        expect(imageHash(zero()).toString('hex')).toBe('5c55c8f4db4010ba9203d83536d0609856af8c847ac039e37e7dde8fbd574b61');
    });

    it('covers MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG and RTMR0..3 in that order', () => {
        const m = { ...zero(), mrTd: Buffer.alloc(48, 1), rtmr3: Buffer.alloc(48, 8) };
        const input = imageHashInput(m);
        expect(input.subarray(0, 48)).toEqual(Buffer.alloc(48, 1));
        expect(input.subarray(336, 384)).toEqual(Buffer.alloc(48, 8));
        expect(input.subarray(384)).toEqual(Buffer.alloc(64));
        expect(imageHash(m)).not.toEqual(imageHash(zero()));
    });

    it('does not depend on REPORTDATA', () => {
        const a = parseQuote(tee.makeQuote(Buffer.alloc(64, 1)));
        const b = parseQuote(tee.makeQuote(Buffer.alloc(64, 2)));
        expect(imageHash(a.body)).toEqual(imageHash(b.body));
    });

    it('checkImageAllowed accepts hex (any case) or Root-style uint256 bigints, else IMAGE_NOT_ALLOWED', () => {
        const h = imageHash(zero());
        expect(() => checkImageAllowed(h, [h.toString('hex').toUpperCase()])).not.toThrow();
        expect(() => checkImageAllowed(h, [BigInt('0x' + h.toString('hex'))])).not.toThrow();
        expect(codeOf(() => checkImageAllowed(h, [1n, '00'.repeat(32)]))).toBe('IMAGE_NOT_ALLOWED');
    });
});

describe('VerificationCache', () => {
    const policy = (extra: Partial<VerifyPolicy> = {}): VerifyPolicy => ({ trustedRootKeyIds: [tee.rootKeyId], at: new Date(), collateral, requireCollateral: true, ...extra });

    it('serves a repeated verification from the cache until the TTL runs out', () => {
        let now = 1_000_000;
        const cache = new VerificationCache({ ttlMs: 60_000, now: () => now });
        const first = cache.verify(quote, policy());
        expect(cache.verify(quote, policy())).toBe(first);
        expect([cache.hits, cache.misses]).toEqual([1, 1]);
        now += 60_001;
        expect(cache.verify(quote, policy())).not.toBe(first);
        expect([cache.hits, cache.misses]).toEqual([1, 2]);
    });

    it('keys by quote and policy: another quote, root set, allowlist or collateral is a miss', async () => {
        const cache = new VerificationCache({ ttlMs: 60_000 });
        cache.verify(quote, policy());
        cache.verify(tee.makeQuote(Buffer.alloc(64, 1)), policy());
        cache.verify(quote, policy({ acceptedTcbStatuses: ['UpToDate', 'OutOfDate'] }));
        cache.verify(quote, policy({ collateral: await tee.signCollateral() }));
        expect(cache.misses).toBe(4);
        expect(cache.hits).toBe(0);
        // A policy that now rejects is evaluated, not answered from the cache.
        expect(codeOf(() => cache.verify(quote, policy({ allowedImageHashes: ['00'.repeat(32)] })))).toBe('IMAGE_NOT_ALLOWED');
    });

    it('never serves a verdict at a time outside the validity of the collateral it was based on', async () => {
        const c = await tee.signCollateral({ issueDate: new Date(Date.now() - 3600_000), nextUpdate: new Date(Date.now() + 3600_000) });
        const cache = new VerificationCache({ ttlMs: 24 * 3600_000 });
        cache.verify(quote, policy({ collateral: c }));
        expect(codeOf(() => cache.verify(quote, policy({ collateral: c, at: new Date(Date.now() + 2 * 3600_000) })))).toBe('COLLATERAL_EXPIRED');
        expect(cache.hits).toBe(0);
    });

    it('does not cache rejections and evicts the least recently used entry beyond maxEntries', () => {
        const cache = new VerificationCache({ ttlMs: 60_000, maxEntries: 2 });
        expect(codeOf(() => cache.verify(Buffer.from('junk'), policy()))).toBe('QUOTE_MALFORMED');
        expect(cache.size).toBe(0);
        const q = [1, 2, 3].map((i) => tee.makeQuote(Buffer.alloc(64, i)));
        cache.verify(q[0], policy());
        cache.verify(q[1], policy());
        cache.verify(q[0], policy()); // q[0] becomes most recent
        cache.verify(q[2], policy()); // evicts q[1]
        expect(cache.size).toBe(2);
        expect(cache.get(q[0], policy())).toBeDefined();
        expect(cache.get(q[1], policy())).toBeUndefined();
    });

    it('agrees with verifyQuote on the verdict it caches', () => {
        const cache = new VerificationCache({ ttlMs: 1000 });
        const a = cache.verify(quote, policy());
        const b = verifyQuote(quote, policy());
        expect({ ...a, quote: undefined }).toEqual({ ...b, quote: undefined });
    });
});
