// Smoke test of the explorer benchmark (bench/explorer.ts): a few commits and requests. It checks the report's shape,
// that the busy proxy's commits were indexed into the feed and that every route answered; it never asserts timings.
import { runExplorerBench } from '../../bench/explorer';

jest.setTimeout(90_000);

describe('bench/explorer', () => {
    it('indexes a proxy with a few commits and serves every measured route', async () => {
        const r = await runExplorerBench({ commits: 4, requests: 3 });
        expect(r.bench).toBe('explorer');
        expect(r.params).toEqual({ commits: 4, requests: 3 });
        // The fixture's own commit and the 4 here are in the feed, with the fixture's proposals, votes and registrations.
        expect(r.index.feedEventsFirstPage).toBeGreaterThanOrEqual(4 + 1 + 3);
        expect(r.index.wallMs).toBeGreaterThan(0);
        expect(Object.keys(r.routes)).toEqual(['/api/root', '/api/governance', '/api/proxies/<proxy>', '/', '/governance', '/proxies/<proxy>', '/feed']);
        for (const v of Object.values(r.routes) as { bytes: number; p50Ms: number; cpuMsPerRequest: number }[]) {
            expect(v.bytes).toBeGreaterThan(100);
            expect(v.p50Ms).toBeGreaterThan(0);
            expect(v.cpuMsPerRequest).toBeGreaterThanOrEqual(0);
        }
        expect(r.memory.afterIndex.rssMiB).toBeGreaterThan(0);
    });
});
