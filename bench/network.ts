// Network throughput benchmark: streaming chat completions through client → proxy → worker → backend, against the
// same backend called directly, at several concurrencies, on loopback, everything in this one process.
//   npm run bench:network -- [--concurrency 1,16,64] [--requests N] [--tokens T] [--token-delay-ms 0,10]
//                            [--privacy sealed,plain] [--warmup W] [--layout single|processes]
// Prints one JSON object: {machine, params, results, summary, notes}. Each path reports CPU per process (`processes`),
// each concurrency-1 result a latency breakdown by stage (`breakdown`, method in its `method` field), and
// `summary.aims` each target of issue 10 with the measured figure and whether it is met.
//
// Network: the devnet chain server with Root (fixtures/agent-network.ts), one ProxyAgent, one WorkerAgent
// (capacity ≥ 2 × the largest concurrency) in front of one ReferenceBackend, and one CocoonClient + OpenAIServer per
// privacy mode (each with its own channel). Settlement is off during the run (thresholds high, no timers), so what
// is measured is the request path: RA-TLS frames, sealing, receipts, durable ledger bookings and vouchers.
//
// Each measurement sends `requests` streaming chat completions with `max_tokens = T` from `c` concurrent loops over
// keep-alive HTTP/1.1 (node:http, one socket per loop), parsing SSE: (a) straight to the backend, (b) to the client's
// OpenAI endpoint. The prompt has T words, so the echo model answers exactly T completion tokens, one per chunk.
// A request counts as ok only if it got HTTP 200, T content chunks, a usage chunk with completion_tokens = T and
// [DONE]. Throughput = ok requests (tokens) / wall time of the measurement.
import { cpus, tmpdir } from 'os';
import { mkdtempSync, rmSync } from 'fs';
import { freePort } from '../agents/core/net';
import { join } from 'path';
import { performance } from 'perf_hooks';
import { toNano } from '@ton/core';
import { AgentNetwork, deployProxyForAgent, seed, startAgentNetwork, workerAgentOptions } from '../fixtures/agent-network';
import { ProxyAgent } from '../agents/proxy/agent';
import { WorkerAgent } from '../agents/worker/runner';
import { CocoonClient } from '../agents/client/runner';
import { OpenAIServer } from '../agents/client/server';
import { ReferenceBackend } from '../agents/backend/reference';
import { TEST_MODEL } from '../agents/backend/test-model';
import { TonChain } from '../agents/core/chain/chain';
import { CHAIN_DEFAULTS } from '../agents/core/chain/config';
import { ProcessUsage, startProcessNetwork } from './processes';

import { BREAKDOWN_METHOD, BackendClock, FixedCost, LatencyBreakdown, Meter, NetworkBenchOptions, NetworkBenchReport, NetworkResult, Privacy, RssSampler, StageTimes, aims, load, round, stages } from './network-measure';
import { intArg, intsArg, listArg, oneOfArg, runBench } from './cli';
export type { Privacy, NetworkBenchOptions, Percentiles, PathStats, ProcessCpu, StageTimes, LatencyBreakdown, Aim, NetworkResult, NetworkBenchReport } from './network-measure';

interface Network {
    backend: ReferenceBackend;
    /** The client's OpenAI base URL (ends in /v1) per privacy mode. */
    apis: Map<Privacy, string>;
    /** Layout "processes": each agent process's own usage. */
    usage?: () => Promise<Map<string, ProcessUsage>>;
    stop(): Promise<void>;
}

async function startNetwork(privacies: Privacy[], capacity: number, dir: string): Promise<Network> {
    const stops: (() => Promise<void>)[] = [];
    const stop = async () => {
        for (const s of stops.reverse()) await s().catch(() => undefined);
    };
    try {
        // Every response is signed for right after it ends, so the unsigned amount stays ≤ c × one request's cost;
        // a large window keeps CREDIT_WINDOW_EXCEEDED out of the measurement all the same.
        const net: AgentNetwork = await startAgentNetwork({ params: { creditWindow: toNano('10') } });
        stops.push(() => net.stop());
        // The fixture's chains check Root's version on every getRootConfig() (cacheTtlMs 0, so tests see governance
        // changes at once): one getter round trip per request. Agents here use the production default instead.
        const agentChain = () => new TonChain({ config: { ...net.chainConfig, cacheTtlMs: CHAIN_DEFAULTS.cacheTtlMs } });
        const deployed = await deployProxyForAgent(net, 'bench-proxy');
        const { proxyAddress } = deployed;
        const proxy = new ProxyAgent({
            ...deployed.agentOptions({ chain: agentChain(), ledgerPath: join(dir, 'ledger.sqlite') }),
            statsPort: await freePort(),
            // Settlement off: the bench measures the request path, not redeems and commits.
            redeemThreshold: toNano('1000'),
            payoutThreshold: toNano('1000'),
            commitIntervalMs: 0,
            settleIntervalMs: 0,
        });
        await proxy.start();
        stops.push(() => proxy.stop());

        const backend = new ReferenceBackend({ tokenDelayMs: 0 });
        await backend.start();
        stops.push(() => backend.stop());

        const { wallet: workerWallet } = await net.fundWallet('bench-worker', '20');
        const worker = new WorkerAgent({
            ...workerAgentOptions(net, { chain: agentChain(), wallet: workerWallet, seed: seed('bench-worker'), backendUrl: backend.url, statePath: join(dir, 'worker.json'), capacity }),
            payoutThreshold: toNano('1000'),
        });
        await worker.start();
        stops.push(() => worker.stop());
        await worker.waitReady();

        const apis = new Map<Privacy, string>();
        for (const privacy of privacies) {
            const { wallet } = await net.fundWallet(`bench-client-${privacy}`, '100');
            const client = new CocoonClient({
                chain: agentChain(),
                wallet,
                seed: seed(`bench-client-${privacy}`),
                quotePolicy: net.quotePolicy,
                statePath: join(dir, `client-${privacy}.json`),
                proxy: proxyAddress,
                privacy,
                deposit: toNano('20'),
            });
            await client.open();
            stops.push(() => client.stop());
            await client.connect();
            const api = new OpenAIServer({ client });
            const { url } = await api.start();
            stops.push(() => api.stop());
            const end = Date.now() + 30_000;
            while (!(await client.listModels()).some((m) => m.id === TEST_MODEL.id && m.workers >= 1)) {
                if (Date.now() > end) throw new Error(`the ${privacy} client sees no worker for ${TEST_MODEL.id}`);
                await new Promise((r) => setTimeout(r, 50));
            }
            apis.set(privacy, url);
        }
        return { backend, apis, stop };
    } catch (e) {
        await stop();
        throw e;
    }
}

// -----------------------------------------------------------------------------------------------------------------
// The bench

const DEFAULTS = { concurrency: [1, 16, 64], tokens: 32, tokenDelaysMs: [0, 10], privacy: ['sealed', 'plain'] as Privacy[] };

export async function runNetworkBench(o: NetworkBenchOptions = {}): Promise<NetworkBenchReport> {
    const concurrency = o.concurrency ?? DEFAULTS.concurrency;
    const tokens = o.tokens ?? DEFAULTS.tokens;
    const tokenDelaysMs = o.tokenDelaysMs ?? DEFAULTS.tokenDelaysMs;
    const privacies = o.privacy ?? DEFAULTS.privacy;
    const progress = o.progress ?? (() => undefined);
    const requestsFor = (c: number) => o.requests ?? Math.max(50, 8 * c);
    const warmupFor = (c: number) => o.warmup ?? Math.max(4, 2 * c);
    const capacity = Math.max(64, 2 * Math.max(...concurrency));

    const rss = new RssSampler();
    rss.start();
    const dir = mkdtempSync(join(tmpdir(), 'cocoon-bench-network-'));
    const setup0 = performance.now();
    const layout = o.layout ?? 'single';
    const network = layout === 'processes' ? await startProcessNetwork(privacies, capacity, dir) : await startNetwork(privacies, capacity, dir);
    const setupMs = performance.now() - setup0;
    const meter: Meter = { rss, backend: new BackendClock(network.backend), agents: network.usage };
    const results: NetworkResult[] = [];
    try {
        const direct = new URL(`${network.backend.url}/v1/chat/completions`);
        for (const privacy of privacies) {
            const through = new URL(`${network.apis.get(privacy)}/chat/completions`);
            for (const tokenDelayMs of tokenDelaysMs) {
                network.backend.tokenDelayMs = tokenDelayMs;
                for (const c of concurrency) {
                    const n = requestsFor(c);
                    progress(`${privacy} delay=${tokenDelayMs}ms c=${c} n=${n}`);
                    // Warm-up: JIT, keep-alive sockets, the client's candidate cache, SQLite pages.
                    await load(direct, c, warmupFor(c), tokens, meter, privacy);
                    await load(through, c, warmupFor(c), tokens, meter, privacy);
                    const dm = await load(direct, c, n, tokens, meter, privacy);
                    const tm = await load(through, c, n, tokens, meter, privacy);
                    const [d, t] = [dm.stats, tm.stats];
                    const agentRoles = ['client', 'proxy', 'worker'].filter((r) => t.processes[r]);
                    const [ds, ts] = c === 1 ? [stages(dm), stages(tm)] : [undefined, undefined];
                    const breakdown: LatencyBreakdown | undefined =
                        ds && ts
                            ? {
                                  method: BREAKDOWN_METHOD,
                                  direct: ds,
                                  through: ts,
                                  added: Object.fromEntries(Object.entries(ts).map(([k, v]) => [k, round(v - ds[k as keyof StageTimes])])) as unknown as StageTimes,
                                  pathAddedMs: {
                                      firstToken: round(ts.requestToBackend - ds.requestToBackend + ts.firstTokenToClient - ds.firstTokenToClient),
                                      end: round(ts.requestToBackend - ds.requestToBackend + ts.endToClient - ds.endToClient),
                                  },
                                  agentCpuUsPerRequest: Object.fromEntries(agentRoles.map((r) => [r, t.processes[r].cpuUsPerRequest])),
                              }
                            : undefined;
                    const busiest = Math.max(...agentRoles.map((r) => t.processes[r].cpuUsPerToken));
                    let perRequestFixed: FixedCost | undefined;
                    if (layout === 'processes' && c > 1 && c === Math.max(...concurrency) && tokens > 1) {
                        progress(`${privacy} delay=${tokenDelayMs}ms c=${c} n=${n} tokens=1`);
                        await load(through, c, warmupFor(c), 1, meter, privacy);
                        const one = (await load(through, c, n, 1, meter, privacy)).stats;
                        perRequestFixed = {
                            requests: n,
                            cpuUsPerRequest: Object.fromEntries(agentRoles.map((r) => [r, one.processes[r].cpuUsPerRequest])),
                            marginalCpuUsPerToken: Object.fromEntries(
                                agentRoles.map((r) => [r, round((t.processes[r].cpuUsPerRequest - one.processes[r].cpuUsPerRequest) / (tokens - 1), 2)]),
                            ),
                        };
                    }
                    results.push({
                        privacy,
                        tokenDelayMs,
                        concurrency: c,
                        tokens,
                        direct: d,
                        through: t,
                        ratio: { requestsPerSec: round(t.requestsPerSec / d.requestsPerSec), completionTokensPerSec: round(t.completionTokensPerSec / d.completionTokensPerSec) },
                        addedLatencyMs: {
                            ttft: { p50: round(t.ttftMs.p50 - d.ttftMs.p50), p99: round(t.ttftMs.p99 - d.ttftMs.p99) },
                            total: { p50: round(t.totalMs.p50 - d.totalMs.p50), p99: round(t.totalMs.p99 - d.totalMs.p99) },
                        },
                        ...(breakdown ? { breakdown } : {}),
                        ...(agentRoles.length > 0 && busiest > 0 ? { tokensPerSecOneCorePerAgent: round(1e6 / busiest, 0) } : {}),
                        ...(perRequestFixed ? { perRequestFixed } : {}),
                    });
                }
            }
        }
    } finally {
        await network.stop();
        rss.stop();
        rmSync(dir, { recursive: true, force: true });
    }

    return {
        bench: 'network',
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, platform: `${process.platform}-${process.arch}` },
        params: {
            layout,
            concurrency,
            requests: o.requests ?? 'max(50, 8c)',
            tokens,
            tokenDelaysMs,
            privacy: privacies,
            warmup: o.warmup ?? 'max(4, 2c)',
            workerCapacity: capacity,
        },
        results,
        summary: {
            peakRssMb: round(rss.overall / 2 ** 20, 1),
            aims: aims(results),
        },
        notes: [
            layout === 'processes'
                ? 'Layout "processes": proxy, worker and each client run in their own Node process (cocoon proxy|worker|client --config), as deployed; the devnet chain server, the reference backend and the load generator share the bench process. All processes share this machine\'s cores. Each result\'s direct/through `processes` gives every process\'s own CPU (process.resourceUsage() read in the process over IPC before and after the measurement) per request and per token, and its RSS; `bench` is the load generator + reference backend + chain server. tokensPerSecOneCorePerAgent = 1e6 / the busiest agent\'s CPU µs per token: the through rate if each agent had a core of its own. At the highest concurrency (if above 1), perRequestFixed runs the same load with 1-token requests: each agent\'s CPU per request without the relays of the other tokens, and the marginal CPU per further token.'
                : 'Layout "single": see the next note.',
            'In layout "single" everything runs in ONE Node process on loopback: the devnet chain server, proxy, worker, reference backend, client + OpenAI HTTP server and the load generator share one event loop and its cores, so "through" pays for every hop on the same CPU that also drives the load; on separate machines each agent would have its own cores.',
            `Direct = the load generator straight to the ReferenceBackend; through = the client's OpenAI endpoint → CocoonClient → RA-TLS WebSocket → ProxyAgent → RA-TLS WebSocket → WorkerAgent → the same backend over HTTP. Same requests, same backend, same token delay.`,
            'tokenDelayMs = 0 is the CPU-bound worst case (all per-request overhead is visible); a positive delay models a real model streaming tokens, where the overhead hides behind generation.',
            'Per request the through path also verifies and books a signed receipt in the proxy (SQLite), verifies it in the client, signs and durably persists a cumulative voucher (serialised), and the proxy verifies and books that voucher. Settlement (redeem, payouts, commits) is off during the run.',
            'Latency: ttft = time to the first non-empty content chunk; total = until the stream ends ([DONE], which on the through path follows the receipt checks). Added latency = through − direct per percentile (nearest rank). cpuMsPerRequest = process CPU time / requests.',
            `Network setup took ${Math.round(setupMs)} ms and is not measured.`,
        ],
    };
}

// -----------------------------------------------------------------------------------------------------------------
// CLI

if (require.main === module) {
    runBench('network', (progress) => {
        const privacy = listArg('privacy');
        if (privacy && privacy.some((p) => p !== 'sealed' && p !== 'plain')) throw new Error('--privacy must be sealed, plain or sealed,plain');
        return runNetworkBench({
            concurrency: intsArg('concurrency', 1),
            requests: intArg('requests', 1),
            tokens: intArg('tokens', 1),
            tokenDelaysMs: intsArg('token-delay-ms', 0),
            privacy: privacy as Privacy[] | undefined,
            warmup: intArg('warmup', 0),
            layout: oneOfArg('layout', ['single', 'processes'] as const),
            progress,
        });
    });
}
