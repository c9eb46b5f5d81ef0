// Smoke test of the attestation benchmark's issue-13 figures (bench/attestation.ts): the GPU evidence it times must
// verify (a benchmark of refusals would measure nothing) and the sealed blob must open; it never asserts timings.
import { benchGpuEvidence, benchSealedBlob } from '../../bench/attestation';

jest.setTimeout(60_000);

describe('bench/attestation', () => {
    it('times GPU evidence that verifies in full, cold and cached', async () => {
        const r = await benchGpuEvidence(2);
        expect(r.measurements).toBe('16/16');
        expect(r.bundleBytes).toBeGreaterThan(1000);
        for (const ms of [r.coldMsPerOp, r.cachedMsPerOp, r.decodeMsPerOp]) expect(ms).toBeGreaterThan(0);
    });

    it('times a seal and an open of a 32-byte seed', () => {
        const r = benchSealedBlob(2);
        expect(r.blobBytes).toBe(96 + 'seed'.length + 32);
        expect(r.sealMsPerOp).toBeGreaterThan(0);
        expect(r.openMsPerOp).toBeGreaterThan(0);
    });
});
