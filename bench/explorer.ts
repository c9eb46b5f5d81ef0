// The explorer's cost (issue 12): how long it takes to index a network's history, what that history costs in memory,
// and what a page or an API view costs to serve.
//   npm run bench:explorer -- [--commits N] [--requests N]
// Prints one JSON object: {bench, machine, params, index, memory, routes, notes}.
//
// Network: fixtures/explorer-network.ts (a devnet chain server with Governance, Root, an executed and an open
// proposal, a Proxy with a WorkerChannel), plus a second Proxy that sends N signed state commits (N transactions on
// one tracked account). Then one ExplorerServer starts over it:
//   index   wall time and this process's CPU for start() (Root's config and the whole indexed history, read over
//           toncenter v2 HTTP from the devnet), and how many events /api/feed?limit=200 then returns (≤ 200);
//   memory  heap used and RSS after a forced GC, before the network is built and after the explorer indexed it;
//   routes  per route: the first (cold) request's latency, then R sequential requests' p50 / p99 latency and CPU per
//           request. Views are shared for a second (spec/explorer.md), so the repeated requests measure the cached
//           path plus rendering; the cold figure is the getters' path.
// Everything runs in one process on 127.0.0.1 (the devnet chain server too), so CPU figures include the chain's side.
import { cpus } from 'os';
import { performance } from 'perf_hooks';
import { ExplorerServer } from '../agents/explorer/server';
import { startExplorerNetwork } from '../fixtures/explorer-network';

export interface ExplorerBenchParams {
    commits: number;
    requests: number;
}

const gcNow = () => (global as { gc?: () => void }).gc?.();
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const memory = () => {
    gcNow();
    const m = process.memoryUsage();
    return { heapUsedMiB: mib(m.heapUsed), rssMiB: mib(m.rss) };
};
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function runExplorerBench(p: ExplorerBenchParams) {
    const before = memory();
    const net = await startExplorerNetwork();
    try {
        const busy = await net.addProxy('bench-busy');
        for (let i = 1; i <= p.commits; i++) await busy.commit(BigInt(i));
        const built = memory();

        const explorer = new ExplorerServer({ chain: net.chainConfig, network: 'devnet', port: 0, historyLimit: Math.max(2000, p.commits + 100) });
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const { url } = await explorer.start();
        const indexMs = performance.now() - t0;
        const indexCpuMs = cpuMs(process.cpuUsage(cpu0));
        const feed = (await (await fetch(`${url}/api/feed?limit=200`)).json()) as { events: unknown[] };
        const proxyPath = `/proxies/${busy.address.toRawString()}`;
        try {
            const routes: Record<string, unknown> = {};
            for (const path of ['/api/root', '/api/governance', `/api${proxyPath}`, '/', '/governance', proxyPath, '/feed']) {
                const c0 = performance.now();
                const first = await fetch(url + path);
                await first.arrayBuffer();
                const coldMs = performance.now() - c0;
                if (first.status !== 200) throw new Error(`${path}: HTTP ${first.status}`);
                const times: number[] = [];
                const rc0 = process.cpuUsage();
                let bytes = 0;
                for (let i = 0; i < p.requests; i++) {
                    const s = performance.now();
                    const res = await fetch(url + path);
                    bytes = (await res.arrayBuffer()).byteLength;
                    times.push(performance.now() - s);
                }
                routes[path.replace(busy.address.toRawString(), '<proxy>')] = {
                    coldMs: round(coldMs),
                    p50Ms: round(pct(times, 50)),
                    p99Ms: round(pct(times, 99)),
                    cpuMsPerRequest: round(cpuMs(process.cpuUsage(rc0)) / p.requests, 3),
                    bytes,
                };
            }
            return {
                bench: 'explorer',
                machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
                params: p,
                index: { wallMs: round(indexMs, 0), cpuMs: round(indexCpuMs, 0), feedEventsFirstPage: feed.events.length, commitsOnBusyProxy: p.commits },
                memory: { before, networkBuilt: built, afterIndex: memory() },
                routes,
                notes: [
                    'one process: the devnet chain server, the explorer and the load generator share it (CPU figures include the chain side)',
                    'repeated requests within a second share a cached view (spec/explorer.md); coldMs is the getters path',
                    (global as { gc?: unknown }).gc ? 'heap figures after a forced GC' : 'run with node --expose-gc for heap figures after a GC',
                ],
            };
        } finally {
            await explorer.stop();
        }
    } finally {
        await net.stop();
    }
}

function flagOf(argv: string[], name: string, dflt: number): number {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return dflt;
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: expected a positive integer`);
    return v;
}

if (require.main === module) {
    const argv = process.argv.slice(2);
    runExplorerBench({ commits: flagOf(argv, 'commits', 500), requests: flagOf(argv, 'requests', 200) })
        .then((r) => console.log(JSON.stringify(r, null, 2)))
        .catch((e) => {
            console.error(e);
            process.exit(1);
        });
}
