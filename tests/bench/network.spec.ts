// Smoke test of the network benchmark (bench/network.ts): the whole client → proxy → worker → backend path with tiny
// parameters. It checks the report's shape and that every request succeeded on both paths; it never asserts timings.
import { runNetworkBench, NetworkBenchReport, PathStats, ProcessCpu, StageTimes } from '../../bench/network';

jest.setTimeout(120_000);

const STAGES: (keyof StageTimes)[] = ['requestToBackend', 'backendFirstToken', 'backendTotal', 'firstTokenToClient', 'endToClient'];

function expectCpu(p: ProcessCpu | undefined) {
    expect(p).toBeDefined();
    for (const v of Object.values(p!)) expect(Number.isFinite(v)).toBe(true);
    expect(p!.cpuMs).toBeCloseTo(p!.userMs + p!.systemMs, 0);
    expect(p!.rssMb).toBeGreaterThan(0);
}

/** Per-process CPU on both paths, a stage breakdown for every concurrency-1 result, one entry per aim of issue 10. */
function expectMeasurements(report: NetworkBenchReport, roles: string[]) {
    for (const r of report.results) {
        for (const path of [r.direct, r.through]) {
            expect(Object.keys(path.processes).sort()).toEqual([...roles].sort());
            for (const role of roles) expectCpu(path.processes[role]);
        }
        if (r.concurrency !== 1) {
            expect(r.breakdown).toBeUndefined();
            continue;
        }
        const b = r.breakdown!;
        expect(b.method).toMatch(/concurrency 1/i);
        for (const s of STAGES) {
            for (const side of [b.direct, b.through, b.added]) expect(Number.isFinite(side[s])).toBe(true);
            expect(b.added[s]).toBeCloseTo(b.through[s] - b.direct[s], 2);
        }
        expect(b.pathAddedMs.end).toBeCloseTo(b.added.requestToBackend + b.added.endToClient, 2);
        expect(b.pathAddedMs.firstToken).toBeCloseTo(b.added.requestToBackend + b.added.firstTokenToClient, 2);
        expect(Object.keys(b.agentCpuUsPerRequest).sort()).toEqual(roles.filter((x) => x !== 'bench').sort());
    }
    // Every target of issue 10 appears, with a number wherever this run measured it.
    expect(report.summary.aims).toHaveLength(16);
    for (const a of report.summary.aims) {
        const r = report.results.find((x) => x.privacy === a.privacy && x.tokenDelayMs === a.tokenDelayMs && x.concurrency === a.concurrency);
        if (r && (a.unit !== 'µs' || r.through.processes.proxy)) expect(Number.isFinite(a.measured)).toBe(true);
        else expect(a.measured).toBeNull();
        expect(a.met).toBe(a.measured !== null && (a.bound === 'min' ? a.measured >= a.target : a.measured <= a.target));
    }
}

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
        const report = await runNetworkBench({ concurrency: [1, 2], requests: 4, tokens: 3, tokenDelaysMs: [0, 10], privacy: ['sealed', 'plain'], warmup: 1 });
        expect(report.bench).toBe('network');
        expect(report.machine.cpus).toBeGreaterThan(0);
        expect(report.machine.node).toBe(process.version);
        expect(report.params).toMatchObject({ concurrency: [1, 2], requests: 4, tokens: 3, tokenDelaysMs: [0, 10], privacy: ['sealed', 'plain'] });
        expect(report.results.map((r) => [r.privacy, r.tokenDelayMs, r.concurrency])).toEqual([
            ['sealed', 0, 1],
            ['sealed', 0, 2],
            ['sealed', 10, 1],
            ['sealed', 10, 2],
            ['plain', 0, 1],
            ['plain', 0, 2],
            ['plain', 10, 1],
            ['plain', 10, 2],
        ]);
        for (const r of report.results) {
            expect(r.tokens).toBe(3);
            expectAllOk(r.direct, 4);
            expectAllOk(r.through, 4);
            expect(r.ratio.requestsPerSec).toBeCloseTo(r.through.requestsPerSec / r.direct.requestsPerSec, 2);
            expect(r.addedLatencyMs.total.p50).toBeCloseTo(r.through.totalMs.p50 - r.direct.totalMs.p50, 2);
        }
        // Layout "single": every agent shares the bench process, so it is the one process measured.
        expectMeasurements(report, ['bench']);
        expect(report.summary.peakRssMb).toBeGreaterThan(0);
        expect(report.notes.join(' ')).toMatch(/one node process/i);
    });

    it('in layout "processes" each agent process reports its own CPU and memory over IPC', async () => {
        const report = await runNetworkBench({ layout: 'processes', concurrency: [1, 2], requests: 2, tokens: 2, tokenDelaysMs: [10], privacy: ['plain'], warmup: 1 });
        expect(report.params.layout).toBe('processes');
        for (const r of report.results) {
            expectAllOk(r.direct, 2);
            expectAllOk(r.through, 2);
            // The agents serve the through path, not the direct one.
            for (const role of ['client', 'proxy', 'worker']) expect(r.through.processes[role].cpuMs).toBeGreaterThan(r.direct.processes[role].cpuMs);
            expect(r.tokensPerSecOneCorePerAgent).toBeGreaterThan(0);
        }
        // The highest concurrency runs again with 1-token requests: each agent's fixed CPU per request, and the
        // marginal CPU of a further token (what the proxy-per-request aim reads at 64 streams).
        expect(report.results.find((r) => r.concurrency === 1)!.perRequestFixed).toBeUndefined();
        const fixed = report.results.find((r) => r.concurrency === 2)!.perRequestFixed!;
        expect(fixed.requests).toBe(2);
        for (const role of ['client', 'proxy', 'worker']) {
            expect(fixed.cpuUsPerRequest[role]).toBeGreaterThan(0);
            expect(Number.isFinite(fixed.marginalCpuUsPerToken[role])).toBe(true);
        }
        expectMeasurements(report, ['bench', 'client', 'proxy', 'worker']);
    });
});
