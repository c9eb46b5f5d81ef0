// parseFrame is total: on random JSON, random bytes and mutated valid frames it returns a frame that re-encodes to
// itself or throws a WireError with a known code, never anything else (6,000 inputs per run, each parsed in all four directions).
import fc from 'fast-check';
import { DIRECTIONS, Direction, encodeFrame, FRAME_TYPES, parseFrame, WireError, WireErrorCodes } from '../../../../agents/core/wire';
import { SAMPLES, wire } from './fixtures';

let inputs = 0;
const codes = new Map<string, number>();

/** Parses under every direction; the outcome must be a consistent frame or a typed WireError. */
function total(input: string | Buffer): void {
    inputs++;
    for (const dir of DIRECTIONS) {
        let f;
        try {
            f = parseFrame(input, dir);
        } catch (e) {
            if (!(e instanceof WireError)) throw new Error(`untyped ${String(e)} for ${String(input).slice(0, 200)}`);
            expect(WireErrorCodes).toContain(e.code);
            expect(e.details?.internal).toBeUndefined();
            codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
            continue;
        }
        codes.set('OK', (codes.get('OK') ?? 0) + 1);
        // what parses must encode and parse back to the same frame
        expect(parseFrame(encodeFrame(f, dir), dir)).toEqual(f);
    }
}

type Path = (string | number)[];
function paths(x: unknown, at: Path = [], out: Path[] = []): Path[] {
    out.push(at);
    if (Array.isArray(x)) x.forEach((c, i) => paths(c, [...at, i], out));
    else if (typeof x === 'object' && x !== null) for (const [k, c] of Object.entries(x)) paths(c, [...at, k], out);
    return out;
}

function mutate(root: Record<string, unknown>, path: Path, op: number, value: unknown, key: string, pos: number): unknown {
    const clone = structuredClone(root) as Record<string, unknown>;
    if (path.length === 0) return op === 0 ? value : { ...clone, [key]: value };
    const parent = path.slice(0, -1).reduce<any>((o, k) => o[k], clone);
    const last = path[path.length - 1];
    const cur = parent[last];
    switch (op) {
        case 0: // replace with random JSON
            parent[last] = value;
            break;
        case 1: // delete
            if (Array.isArray(parent)) parent.splice(last as number, 1);
            else delete parent[last];
            break;
        case 2: // add a key beside it
            if (!Array.isArray(parent)) parent[key] = value;
            else parent.push(value);
            break;
        default: // edit a character of a string, or nudge a number
            if (typeof cur === 'string') {
                const p = cur.length ? pos % cur.length : 0;
                parent[last] = cur.slice(0, p) + key.slice(0, 1) + cur.slice(p + 1);
            } else if (typeof cur === 'number') parent[last] = [cur + 1, cur - 1, -cur, cur * 2 ** 32, cur + 0.5][pos % 5];
            else parent[last] = value;
    }
    return clone;
}

const ALL = DIRECTIONS.flatMap((d) => SAMPLES[d].map((f) => ({ dir: d as Direction, wire: wire(f) as Record<string, unknown> })));

describe('parseFrame is total', () => {
    afterAll(() => {
        expect(inputs).toBeGreaterThanOrEqual(5000);
        // the generators reach the interesting outcomes, not just WIRE_MALFORMED
        for (const c of ['OK', 'WIRE_MALFORMED', 'WIRE_UNKNOWN_TYPE', 'WIRE_DIRECTION', 'WIRE_BAD_FIELD', 'WIRE_VERSION']) {
            expect(codes.get(c) ?? 0).toBeGreaterThan(0);
        }
    });

    it('on random JSON values', () => {
        fc.assert(
            fc.property(fc.jsonValue(), (j) => total(JSON.stringify(j) ?? 'null')),
            { numRuns: 1000 },
        );
    });

    it('on random objects with a known type and v', () => {
        fc.assert(
            fc.property(
                fc.constantFrom(...FRAME_TYPES),
                fc.oneof(fc.constant(1), fc.integer()),
                fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })),
                (type, v, rest) => total(JSON.stringify({ ...rest, type, v })),
            ),
            { numRuns: 1000 },
        );
    });

    it('on mutated valid frames', () => {
        fc.assert(
            fc.property(
                fc.nat(ALL.length - 1),
                fc.nat(),
                fc.nat(3),
                fc.jsonValue({ maxDepth: 2 }),
                fc.string({ minLength: 1, maxLength: 8 }),
                fc.nat(),
                (i, pi, op, value, key, pos) => {
                    const ps = paths(ALL[i].wire);
                    const m = mutate(ALL[i].wire, ps[pi % ps.length], op, value, key, pos);
                    total(JSON.stringify(m));
                },
            ),
            { numRuns: 2500 },
        );
    });

    it('on byte-level mutations of valid frame text', () => {
        fc.assert(
            fc.property(fc.nat(ALL.length - 1), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (i, pos, byte, insert) => {
                const b = Buffer.from(JSON.stringify(ALL[i].wire), 'utf8');
                const p = pos % b.length;
                const m = insert ? Buffer.concat([b.subarray(0, p), Buffer.from([byte]), b.subarray(p)]) : Buffer.from(b);
                if (!insert) m[p] = byte;
                total(m);
                total(m.toString('latin1'));
            }),
            { numRuns: 500 },
        );
    });

    it('on random bytes', () => {
        fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (b) => total(Buffer.from(b))), { numRuns: 500 });
    });
});
