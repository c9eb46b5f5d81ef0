// Smoke test of the network benchmark (bench/network.ts): the whole client → proxy → worker → backend path with tiny
// parameters. It checks the report's shape and that every request succeeded on both paths; it never asserts timings.
import { runNetworkBench, PathStats } from '../../bench/network';

jest.setTimeout(60_000);

function expectAllOk(s: PathStats, requests: number) {
    expect(s).toMatchObject({ requests, ok: requests, errors: 0, errorSamples: [] });
    expect(s.requestsPerSec).toBeGreaterThan(0);
    expect(s.completionTokensPerSec).toBeGreaterThan(0);
    for (const p of [s.ttftMs, s.totalMs]) {
        expect(Number.isFinite(p.p50)).toBe(true);
        expect(p.p99).toBeGreaterThanOrEqual(p.p50);
    }
    // Time to first token is part of the total.
    expect(s.ttftMs.p50).toBeLessThanOrEqual(s.totalMs.p50);
    expect(s.peakRssMb).toBeGreaterThan(0);
}

describe('bench/network', () => {
    it('runs client → proxy → worker against the direct backend and reports every request as served', async () => {
        const report = await runNetworkBench({ concurrency: [1, 2], requests: 4, tokens: 3, tokenDelaysMs: [0], privacy: ['sealed', 'plain'], warmup: 1 });
        expect(report.bench).toBe('network');
        expect(report.machine.cpus).toBeGreaterThan(0);
        expect(report.machine.node).toBe(process.version);
        expect(report.params).toMatchObject({ concurrency: [1, 2], requests: 4, tokens: 3, tokenDelaysMs: [0], privacy: ['sealed', 'plain'] });
        expect(report.results.map((r) => [r.privacy, r.tokenDelayMs, r.concurrency])).toEqual([
            ['sealed', 0, 1],
            ['sealed', 0, 2],
            ['plain', 0, 1],
            ['plain', 0, 2],
        ]);
        for (const r of report.results) {
            expect(r.tokens).toBe(3);
            expectAllOk(r.direct, 4);
            expectAllOk(r.through, 4);
            expect(r.ratio.requestsPerSec).toBeCloseTo(r.through.requestsPerSec / r.direct.requestsPerSec, 2);
            expect(r.addedLatencyMs.total.p50).toBeCloseTo(r.through.totalMs.p50 - r.direct.totalMs.p50, 2);
        }
        // One aim entry per result at the largest concurrency.
        expect(report.summary.aims.map((a) => [a.privacy, a.concurrency])).toEqual([
            ['sealed', 2],
            ['plain', 2],
        ]);
        expect(report.summary.peakRssMb).toBeGreaterThan(0);
        expect(report.notes.join(' ')).toMatch(/one node process/i);
    });
});
