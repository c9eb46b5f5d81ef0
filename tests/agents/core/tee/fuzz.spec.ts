// The quote parser and verifier are total: over 11,500 random and mutated inputs (bit flips, truncations,
// length-field edits, splices, PEM-region edits, collateral edits) of real and simulated quotes, every call returns
// or throws an AttestationError — QUOTE_MALFORMED / QUOTE_UNSUPPORTED when the bytes do not parse, any verdict code
// when they do — and nothing else. (No timing is asserted; each call returning is the boundedness property.)
import fc from 'fast-check';
import { parseQuote } from '../../../../agents/core/tee/quote';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { AttestationError, Collateral, INTEL_ROOT_KEY_ID, VerifyPolicy } from '../../../../agents/core/tee/types';
import { verifyQuote } from '../../../../agents/core/tee/verify';
import { chainDer, chainPem, intelPolicy, offsets, T_GOOD, vector, vectorCollateral, withPemChain } from './util';

const PARSE_CODES = new Set(['QUOTE_MALFORMED', 'QUOTE_UNSUPPORTED']);

interface Source {
    name: string;
    quote: Buffer;
    offline: VerifyPolicy; // cheap: no collateral
    full: VerifyPolicy; // with collateral
    collateral: Collateral;
}

let sources: Source[] = [];
let counted = 0;

beforeAll(async () => {
    const tee = await SimulatedTee.create();
    const collateral = await tee.signCollateral();
    const roots = [tee.rootKeyId, INTEL_ROOT_KEY_ID];
    const sim = (name: string, quote: Buffer): Source => ({
        name,
        quote,
        collateral,
        offline: { trustedRootKeyIds: roots, at: new Date(), requireCollateral: false },
        full: { trustedRootKeyIds: roots, at: new Date(), requireCollateral: true, collateral },
    });
    const rd = Buffer.alloc(64, 0x42);
    sources = [
        sim('simulated v4', tee.makeQuote(rd)),
        sim('simulated v5 tdx10', tee.makeQuote(rd, { layout: { version: 5, bodyType: 'tdx10' } })),
        sim('simulated v5 tdx15', tee.makeQuote(rd, { layout: { version: 5, bodyType: 'tdx15' } })),
    ];
    const c = vectorCollateral('tdx_quote_collateral.json');
    for (const name of ['tdx_quote', 'tdx_quote_outdated']) {
        sources.push({ name, quote: vector(name), collateral: c, offline: intelPolicy(T_GOOD), full: intelPolicy(T_GOOD, c) });
    }
});

afterAll(() => {
    expect(counted).toBeGreaterThanOrEqual(10_000);
});

/** The property: parse (and optionally verify) returns or throws a typed AttestationError, never anything else. */
function total(input: Buffer, policy?: VerifyPolicy): boolean {
    counted++;
    let parseCode: string | undefined;
    try {
        parseQuote(input);
    } catch (e) {
        if (!(e instanceof AttestationError) || !PARSE_CODES.has(e.code)) throw e;
        parseCode = e.code;
    }
    if (policy) {
        try {
            verifyQuote(input, policy);
            if (parseCode) throw new Error(`verifyQuote accepted bytes that parseQuote rejected (${parseCode})`);
        } catch (e) {
            if (!(e instanceof AttestationError)) throw e;
            if (parseCode && e.code !== parseCode) throw new Error(`verifyQuote said ${e.code}, parseQuote said ${parseCode}`);
        }
    }
    return true;
}

/** Byte arrays with a length uniform in [0, max] (fast-check's default size would keep them short). */
const bytes = (max: number) => fc.integer({ min: 0, max }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));

const src = () => fc.nat().map((i) => sources[i % sources.length]);

function header(version: number, keyType: number, teeType: number): Buffer {
    const h = Buffer.alloc(48);
    h.writeUInt16LE(version, 0);
    h.writeUInt16LE(keyType, 2);
    h.writeUInt32LE(teeType, 4);
    return h;
}

describe('quote parser and verifier under fuzzing', () => {
    it('random buffers (3,000)', () => {
        fc.assert(
            fc.property(bytes(8192), (b) => total(Buffer.from(b))),
            { numRuns: 3000 },
        );
    });

    it('random bodies behind plausible headers (2,000)', () => {
        fc.assert(
            fc.property(fc.constantFrom(3, 4, 5), fc.constantFrom(2, 3), fc.constantFrom(0x81, 0), bytes(6000), (v, k, t, tail) =>
                total(Buffer.concat([header(v, k, t), Buffer.from(tail)])),
            ),
            { numRuns: 2000 },
        );
    });

    it('bit flips of real and simulated quotes, verified (1,500)', () => {
        fc.assert(
            fc.property(src(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }), (s, flips) => {
                const b = Buffer.from(s.quote);
                for (const [pos, bit] of flips) b[pos % b.length] ^= 1 << bit;
                return total(b, s.offline);
            }),
            { numRuns: 1500 },
        );
    });

    it('truncations, verified (1,000)', () => {
        fc.assert(
            fc.property(src(), fc.nat(), (s, n) => total(s.quote.subarray(0, n % (s.quote.length + 1)), s.offline)),
            { numRuns: 1000 },
        );
    });

    it('length-field edits, verified (1,500)', () => {
        const value = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -8, max: 8 }).map((d) => ({ delta: d })));
        fc.assert(
            fc.property(src(), fc.constantFrom('sigDataLen', 'certSize', 'authLen', 'innerSize', 'bodyType', 'bodySize', 'certType', 'innerType'), value, (s, field, v) => {
                const o = offsets(s.quote);
                const b = Buffer.from(s.quote);
                const v5 = b.readUInt16LE(0) === 5;
                const at: Record<string, [number, 2 | 4]> = {
                    sigDataLen: [o.signedEnd, 4],
                    certSize: [o.certHeader + 2, 4],
                    authLen: [o.authLen, 2],
                    innerSize: [o.innerHeader + 2, 4],
                    bodyType: [v5 ? 48 : 0, 2],
                    bodySize: [v5 ? 50 : 4, 4],
                    certType: [o.certHeader, 2],
                    innerType: [o.innerHeader, 2],
                };
                const [off, width] = at[field];
                const max = width === 2 ? 0xffff : 0xffffffff;
                const old = width === 2 ? b.readUInt16LE(off) : b.readUInt32LE(off);
                const nv = typeof v === 'number' ? v % (max + 1) : Math.min(max, Math.max(0, old + v.delta));
                if (width === 2) b.writeUInt16LE(nv, off);
                else b.writeUInt32LE(nv, off);
                return total(b, s.offline);
            }),
            { numRuns: 1500 },
        );
    });

    it('splices of two quotes (insert / delete / replace), verified (1,000)', () => {
        fc.assert(
            fc.property(src(), src(), fc.nat(), fc.nat(), fc.nat({ max: 600 }), fc.nat({ max: 600 }), (a, b, p, q, del, ins) => {
                const x = a.quote;
                const y = b.quote;
                const pos = p % (x.length + 1);
                const from = q % (y.length + 1);
                const out = Buffer.concat([x.subarray(0, pos), y.subarray(from, from + ins), x.subarray(Math.min(x.length, pos + del))]);
                return total(out, a.offline);
            }),
            { numRuns: 1000 },
        );
    });

    it('edits inside the PEM chain region, verified (500)', () => {
        const alphabet = fc.constantFrom(...'ABCxyz019+/=\n\r -\0', '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '\u00ff');
        fc.assert(
            fc.property(src(), fc.array(fc.tuple(fc.nat(), alphabet), { minLength: 1, maxLength: 6 }), (s, edits) => {
                const o = offsets(s.quote);
                const b = Buffer.from(s.quote);
                for (const [pos, text] of edits) {
                    const at = o.pem + (pos % Math.max(1, o.sigEnd - o.pem));
                    Buffer.from(text, 'latin1').copy(b, at, 0, Math.max(0, o.sigEnd - at));
                }
                return total(b, s.offline);
            }),
            { numRuns: 500 },
        );
    });

    it('DER-level edits of the PCK certificates, re-wrapped as valid PEM, verified (500)', () => {
        fc.assert(
            fc.property(src(), fc.nat({ max: 2 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), (s, which, edits) => {
                const ders = chainDer(s.quote);
                const d = Buffer.from(ders[which]);
                for (const [pos, byte] of edits) d[pos % d.length] = byte;
                ders[which] = d;
                return total(withPemChain(s.quote, chainPem(ders)), s.full);
            }),
            { numRuns: 500 },
        );
    });

    it('bit flips verified with collateral (300)', () => {
        fc.assert(
            fc.property(src(), fc.nat(), fc.integer({ min: 0, max: 7 }), (s, pos, bit) => {
                const b = Buffer.from(s.quote);
                b[pos % b.length] ^= 1 << bit;
                return total(b, s.full);
            }),
            { numRuns: 300 },
        );
    });

    it('collateral edits never escape as untyped errors (300)', () => {
        const keys: (keyof Collateral)[] = ['pck_crl_issuer_chain', 'root_ca_crl', 'pck_crl', 'tcb_info_issuer_chain', 'tcb_info', 'tcb_info_signature', 'qe_identity_issuer_chain', 'qe_identity', 'qe_identity_signature'];
        fc.assert(
            fc.property(src(), fc.constantFrom(...keys), fc.nat(), fc.constantFrom('0', 'f', '"', '{', ']', '-', ' ', '\n', ''), (s, key, pos, ch) => {
                const v = s.collateral[key];
                const i = pos % (v.length + 1);
                const edited = { ...s.collateral, [key]: v.slice(0, i) + ch + v.slice(i + 1) };
                return total(s.quote, { ...s.full, collateral: edited });
            }),
            { numRuns: 300 },
        );
    });
});
