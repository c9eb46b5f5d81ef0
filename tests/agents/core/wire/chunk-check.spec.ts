// The response_chunk fast path (frames-request.ts isResponseChunk) against its spec, the zod schema ResponseChunk:
// on random frames and on valid frames with one field mutated, removed or added, both give the same verdict, and
// parseFrame (which takes the fast path) accepts and refuses what the schema does, with the schema's error.
import fc from 'fast-check';
import { isResponseChunk, MAX_CHUNK_BYTES, MAX_SEQ, parseFrame, ResponseChunk, WireError } from '../../../../agents/core/wire';

const KEYS = ['type', 'v', 'id', 'seq', 'data', 'sealed', 'final'] as const;

const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');
/** Values near every boundary the schema has, plus arbitrary JSON. */
const BOUNDARIES: unknown[] = [
        'response_chunk',
        'response_start',
        0,
        1,
        -0,
        0xffff,
        0x10000,
        MAX_SEQ,
        MAX_SEQ + 1,
        1.5,
        -1,
        '',
        'x',
        'ab'.repeat(16),
        'AB'.repeat(16),
        'ab'.repeat(15) + 'ag',
        'ab'.repeat(17),
        true,
        false,
        null,
        [],
        {},
        'x'.repeat(MAX_CHUNK_BYTES),
        'x'.repeat(MAX_CHUNK_BYTES + 1),
        { ct: b64(16) },
        { ct: b64(15) },
        { ct: b64(MAX_CHUNK_BYTES + 16) },
        { ct: b64(MAX_CHUNK_BYTES + 17) },
        { ct: b64(16).replace(/=*$/, '') },
        { ct: 'AAAAAAAAAAAAAAAAAAAAAB==' },
        { ct: b64(16), x: 1 },
        { ct: 5 },
        { ct: null },
        { x: b64(16) },
        [b64(16)],
    '1',
];
const interesting = fc.oneof(fc.constantFrom<unknown>(...BOUNDARIES), fc.jsonValue({ maxDepth: 2 }));

const valid = fc.record(
    {
        type: fc.constant('response_chunk'),
        v: fc.integer({ min: 1, max: 0xffff }),
        id: fc.stringMatching(/^[0-9a-f]{32}$/),
        seq: fc.integer({ min: 0, max: MAX_SEQ }),
        body: fc.oneof(
            fc.string({ maxLength: 64 }).map((data) => ({ data })),
            fc.uint8Array({ minLength: 16, maxLength: 96 }).map((b) => ({ sealed: { ct: Buffer.from(b).toString('base64') } })),
        ),
        final: fc.option(fc.boolean(), { nil: undefined }),
    },
    { requiredKeys: ['type', 'v', 'id', 'seq', 'body'] },
).map(({ body, ...rest }) => ({ ...rest, ...body }) as Record<string, unknown>);

const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.constantFrom<string>(...KEYS, 'extra', '__proto__', 'constructor'), fc.oneof(interesting, fc.constant('<delete>'))), { minLength: 1, maxLength: 3 })).map(([f, edits]) => {
    // Through JSON text, as a frame arrives (an own "__proto__" key stays an own key, as JSON.parse makes it).
    let text = JSON.stringify(f);
    for (const [k, val] of edits) {
        const o = JSON.parse(text) as Record<string, unknown>;
        if (val === '<delete>') delete o[k];
        else Object.defineProperty(o, k, { value: val, enumerable: true, writable: true, configurable: true });
        text = JSON.stringify(o);
    }
    return text;
});

const randomFrame = fc.dictionary(fc.constantFrom<string>(...KEYS, 'extra'), interesting).map((o) => JSON.stringify(o));

function verdicts(text: string): { fast: boolean; zod: boolean } {
    const o = JSON.parse(text) as Record<string, unknown>;
    return { fast: isResponseChunk(o), zod: ResponseChunk.safeParse(o).success };
}

describe('response_chunk fast check = the ResponseChunk schema', () => {
    it('gives the schema verdict on valid frames', () => {
        fc.assert(
            fc.property(valid, (f) => {
                const v = verdicts(JSON.stringify(f));
                expect(v).toEqual({ fast: true, zod: true });
            }),
            { numRuns: 500 },
        );
    });

    it('gives the schema verdict on every field set to every boundary value, plain and sealed', () => {
        const bases = [
            { type: 'response_chunk', v: 1, id: 'ab'.repeat(16), seq: 3, data: 'x' },
            { type: 'response_chunk', v: 1, id: 'ab'.repeat(16), seq: 3, sealed: { ct: b64(20) }, final: true },
        ];
        let cases = 0;
        for (const base of bases) {
            for (const k of [...KEYS, 'extra']) {
                for (const val of [...BOUNDARIES, '<delete>']) {
                    const o = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
                    if (val === '<delete>') delete o[k];
                    else o[k] = val;
                    const v = verdicts(JSON.stringify(o));
                    expect({ k, val, fast: v.fast }).toEqual({ k, val, fast: v.zod });
                    cases++;
                }
            }
        }
        expect(cases).toBeGreaterThan(500);
    });

    it('gives the schema verdict on mutated frames (one to three fields changed, removed or added)', () => {
        let refused = 0;
        fc.assert(
            fc.property(mutated, (text) => {
                const v = verdicts(text);
                expect(v.fast).toBe(v.zod);
                if (!v.zod) refused++;
            }),
            { numRuns: 3000 },
        );
        expect(refused).toBeGreaterThan(1000); // the mutations do reach the refusals
    });

    it('gives the schema verdict on random objects', () => {
        fc.assert(
            fc.property(randomFrame, (text) => {
                const v = verdicts(text);
                expect(v.fast).toBe(v.zod);
            }),
            { numRuns: 2000 },
        );
    });

    it('parseFrame accepts what the schema accepts (same value) and refuses with the schema error', () => {
        fc.assert(
            fc.property(fc.oneof(mutated, valid.map((f) => JSON.stringify(f))), (text) => {
                const o = JSON.parse(text) as Record<string, unknown>;
                const v = typeof o.v === 'number' && Number.isInteger(o.v) && o.v >= 1 && o.v <= 0xffff ? o.v : 1;
                if (o.type !== 'response_chunk' || o.v !== v) return; // type and version are checked before the schema
                const z = ResponseChunk.safeParse(o);
                let got: unknown;
                try {
                    got = parseFrame(text, 'worker_to_proxy', { version: v });
                } catch (e) {
                    got = e;
                }
                if (z.success) expect(got).toEqual(z.data);
                else {
                    expect(got).toBeInstanceOf(WireError);
                    expect((got as WireError).code).toBe('WIRE_BAD_FIELD');
                }
            }),
            { numRuns: 2000 },
        );
    });
});
