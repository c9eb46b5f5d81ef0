// The GPU report parser is total: over 11,000 random and mutated inputs (bit flips, byte sets, truncations,
// insertions, length-field edits of the real H100 report and of simulated reports, and random bytes) every call
// returns a parsed report or throws GPU_REPORT_MALFORMED, nothing else. The whole verifier is run on a share of the
// mutations: it returns or throws a GpuAttestationError. (No timing is asserted: inputs are capped at 64 KiB, and
// each call returning is the boundedness property.)
import fc from 'fast-check';
import { GPU_REQUEST_BYTES, parseGpuReport } from '../../../../agents/core/tee/gpu/report';
import { SimulatedGpu } from '../../../../agents/core/tee/gpu/simulated';
import { GpuAttestationError, GpuPolicy } from '../../../../agents/core/tee/gpu/types';
import { verifyGpuEvidence } from '../../../../agents/core/tee/gpu/verify';
import { nvidiaPolicy, realChain, realReport } from './gpu-util';

let parsed = 0;
let refused = 0;

function parses(b: Buffer): true {
    try {
        parseGpuReport(b);
        parsed++;
    } catch (e) {
        if (!(e instanceof GpuAttestationError) || e.code !== 'GPU_REPORT_MALFORMED') throw e;
        const d = e.details as { offset: unknown; field: unknown };
        if (typeof d.offset !== 'number' || typeof d.field !== 'string') throw new Error(`malformed without offset/field: ${e.message}`);
        refused++;
    }
    return true;
}

function verifies(b: Buffer, chain: string, policy: GpuPolicy): true {
    try {
        verifyGpuEvidence(b, chain, policy);
    } catch (e) {
        if (!(e instanceof GpuAttestationError)) throw e;
    }
    return true;
}

interface Source {
    report: Buffer;
    chain: string;
    policy: GpuPolicy;
}
let sources: Source[] = [];

beforeAll(async () => {
    const gpu = await SimulatedGpu.create({ blocks: 8 });
    const simPolicy: GpuPolicy = { deviceRootPem: gpu.deviceRootPem, rimRootPem: gpu.rimRootPem, at: new Date(), rims: gpu.rims() };
    sources = [
        { report: realReport(), chain: realChain(), policy: nvidiaPolicy({ rims: [] }) },
        { report: gpu.report(Buffer.alloc(32, 1)), chain: gpu.chainPem, policy: simPolicy },
        { report: gpu.report(Buffer.alloc(32, 2), { noFwid: true }), chain: gpu.chainPem, policy: simPolicy },
    ];
});

const src = () => fc.integer({ min: 0, max: 2 }).map((i) => sources[i]);
/** Offsets of the length fields and the parts they bound. */
const HOT = [0, 1, 2, 3, GPU_REQUEST_BYTES, GPU_REQUEST_BYTES + 1, GPU_REQUEST_BYTES + 4, GPU_REQUEST_BYTES + 5, GPU_REQUEST_BYTES + 6, GPU_REQUEST_BYTES + 7, GPU_REQUEST_BYTES + 8, GPU_REQUEST_BYTES + 10, GPU_REQUEST_BYTES + 11];

describe('GPU report parser under fuzzing', () => {
    afterAll(() => {
        // Both outcomes happen, so the properties exercised the parser rather than one early exit.
        expect(parsed).toBeGreaterThan(100);
        expect(refused).toBeGreaterThan(5000);
    });

    it('random buffers (3,000)', () => {
        fc.assert(
            fc.property(fc.uint8Array({ maxLength: 8192 }), (b) => parses(Buffer.from(b))),
            { numRuns: 3000 },
        );
    });

    it('random bodies behind a valid request and response header (2,000)', () => {
        fc.assert(
            fc.property(src(), fc.uint8Array({ maxLength: 6000 }), (s, tail) => parses(Buffer.concat([s.report.subarray(0, GPU_REQUEST_BYTES + 8), Buffer.from(tail)]))),
            { numRuns: 2000 },
        );
    });

    it('bit flips of real and simulated reports (2,500)', () => {
        fc.assert(
            fc.property(src(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }), (s, flips) => {
                const b = Buffer.from(s.report);
                for (const [pos, bit] of flips) b[pos % b.length] ^= 1 << bit;
                return parses(b);
            }),
            { numRuns: 2500 },
        );
    });

    it('length and header fields set to any byte (1,500)', () => {
        fc.assert(
            fc.property(src(), fc.constantFrom(...HOT), fc.integer({ min: 0, max: 255 }), (s, at, v) => {
                const b = Buffer.from(s.report);
                b[at] = v;
                return parses(b);
            }),
            { numRuns: 1500 },
        );
    });

    it('truncations and insertions (1,500)', () => {
        fc.assert(
            fc.property(src(), fc.nat(), fc.uint8Array({ maxLength: 64 }), fc.boolean(), (s, cut, ins, truncate) => {
                const at = cut % s.report.length;
                const b = truncate ? s.report.subarray(0, at) : Buffer.concat([s.report.subarray(0, at), Buffer.from(ins), s.report.subarray(at)]);
                return parses(Buffer.from(b));
            }),
            { numRuns: 1500 },
        );
    });

    it('mutated reports through the whole verifier (600)', () => {
        fc.assert(
            fc.property(src(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (s, sets) => {
                const b = Buffer.from(s.report);
                for (const [pos, v] of sets) b[pos % b.length] = v;
                return parses(b) && verifies(b, s.chain, s.policy);
            }),
            { numRuns: 600 },
        );
    });
});
