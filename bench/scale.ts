// Scale benchmark (issue 10, part 3): ONE proxy process with 1,000 workers and 10,000 client sessions attached.
//   npm run bench:scale -- [--workers 1000] [--sessions 10000] [--sample 64] [--requests 4] [--storm 1000] [--tokens 8]
//                          [--privacy plain|sealed] [--short]   (one 2 s Root-poll window pair instead of three 5 s pairs: for tests)
// Prints one JSON object: {machine, params, setup, hello, memory, routing, rootPoll, settlement, storm, summary, notes}.
//
// Network: the devnet chain server with Root (fixtures/agent-network.ts) in this process, and the proxy started as
// deployed, `cocoon proxy --config` in its own process with the usage probe (bench/processes.ts), so its CPU and RSS
// are its own. Chain state for every simulated peer is created in bulk (bench/scale-chain.ts): a staked
// WorkerChannel per worker, a funded ClientChannel per four sessions (the proxy admits at most four connections per
// channel) plus one per sample client. Then, in order:
//   1. workers: `workers` real WorkerAgents in this process (one shared TonChain, one shared ReferenceBackend over
//      HTTP), each with its own RA-TLS identity from the simulated TEE, dialing the proxy and passing its real
//      worker hello (channel check + owner signature), 64 starting at a time;
//   2. sample: `sample` real CocoonClients (plain mode unless --privacy sealed) in this process, one channel each;
//   3. sessions: sessions − sample − storm client sessions from a child process (bench/scale-sessions.ts): RA-TLS +
//      hello → hello_ok → payment_status each, then held open, 64 dialing at a time;
//   4. traffic before: each sample client sends `requests` streaming chats of `tokens` tokens, one at a time;
//   5. storm: the sample clients keep sending while `storm` more sessions connect from the child process; requests
//      started during the storm are "during";
//   6. routing decision time from the proxy's own stats (GET /stats `routing`, timed in the proxy process);
//   7. Root poll: proxy CPU of 5 s windows with Root unchanged vs windows in which Root changed once (an image
//      added to the worker allowlist, so the poll re-reads Root and re-checks every worker connection);
//   8. settlement: the proxy's Ledger class with `sessions` client channels and `workers` worker channels booked
//      and vouchered, timing what a settle tick and a commit run over it (see notes).
import { ChildProcess, spawn } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { cpus, tmpdir } from 'os';
import { join } from 'path';
import { performance } from 'perf_hooks';
import { Address, toNano } from '@ton/core';
import { AgentNetwork, seed, startAgentNetwork } from '../fixtures/agent-network';
import { ReferenceBackend } from '../agents/backend/reference';
import { TEST_MODEL } from '../agents/backend/test-model';
import { TonChain } from '../agents/core/chain/chain';
import { CHAIN_DEFAULTS } from '../agents/core/chain/config';
import { freePort } from '../agents/core/net';
import type { SimulatedTee } from '../agents/core/tee/simulated';
import { WorkerAgent } from '../agents/worker/runner';
import { CocoonClient } from '../agents/client/runner';
import { Ledger } from '../agents/proxy/ledger';
import { Router } from '../agents/proxy/router';
import { RootWrapper } from '../wrappers/Root';
import { modelId } from '../wrappers/payloads';
import { cocoon, ProcessUsage, usageOf } from './processes';
import { percentiles, round } from './network-measure';
import { bulkChannels, clientSeed, clientWalletKeys, workerSeed, workerWalletKeys } from './scale-chain';
import { OpenResult, pool, SessionsInit } from './scale-sessions';
import { intArg, oneOfArg, runBench } from './cli';

export interface ScaleBenchOptions {
    workers?: number;
    /** Client sessions in all, the sample clients and the storm included. */
    sessions?: number;
    /** Sample clients whose requests are timed (each is also one session). */
    sample?: number;
    /** Requests per sample client before the storm. */
    requests?: number;
    /** Sessions that connect while the sample's traffic flows; default min(1000, sessions − sample). */
    storm?: number;
    tokens?: number;
    /**
     * The sample clients' mode; default plain (the proxy's Router.pick scans every worker; sealed requests are routed
     * by key id to the worker the client sealed to).
     */
    privacy?: 'plain' | 'sealed';
    /** Short mode (tests): one Root-poll window pair of 2 s instead of three of 5 s. */
    short?: boolean;
    progress?: (line: string) => void;
}

/** Requests sent and failed; p50 / p99 over the ones that ended with a paid receipt. */
export interface Latency {
    requests: number;
    errors: number;
    firstError: string | null;
    p50Ms: number;
    p99Ms: number;
}

export interface Aim {
    aim: string;
    target: string;
    measured: number | string;
    met: boolean;
}

export interface ScaleBenchReport {
    bench: 'scale';
    date: string;
    machine: { cpus: number; cpuModel: string | undefined; node: string; platform: string; openFilesLimit: string };
    params: Required<Omit<ScaleBenchOptions, 'progress'>>;
    setup: { chainSetupMs: number; workerChannels: number; clientChannels: number; sessionsPerChannel: number };
    hello: {
        workers: { count: number; ready: number; ms: number; perSec: number; proxyCpuUsPerHello: number };
        sessions: { count: number; ok: number; errors: number; firstError: string | null; ms: number; perSec: number; proxyCpuUsPerHello: number };
    };
    memory: {
        proxyRssMb: { idle: number; withWorkers: number; withSessions: number; end: number };
        proxyKbPerWorker: number;
        proxyKbPerSession: number;
        sessionsProcessRssMb: number;
        benchProcessRssMb: number;
    };
    routing: {
        candidates: number;
        decisions: number;
        window: number;
        p50Us: number | null;
        p99Us: number | null;
        maxUs: number | null;
        /** The proxy's Router class alone in the bench process after the load stopped: `candidates` workers, 10,000 picks. */
        isolated: { p50Us: number; p99Us: number };
    };
    rootPoll: { pollMs: number; idleCpuUsPerSec: number; changeCpuUs: number; windows: number; windowMs: number };
    settlement: { channels: number; workers: number; settleTickUs: number; redeemScanUs: number; commitHashUs: number };
    storm: { sessions: number; ok: number; errors: number; ms: number; before: Latency; during: Latency; p99Ratio: number };
    proxyConnections: { workers: number; clients: number };
    summary: { aims: Aim[] };
    notes: string[];
}

const SESSIONS_PER_CHANNEL = 4;
const DIAL_CONCURRENCY = 64;
const mb = (b: number) => round(b / 2 ** 20, 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The client sessions' process: opens sessions on request and reports its usage (bench/scale-sessions.ts). */
class SessionsProcess {
    private seq = 0;
    constructor(readonly child: ChildProcess) {}

    static async start(init: SessionsInit): Promise<SessionsProcess> {
        const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'scale-sessions.ts'), JSON.stringify(init)], {
            cwd: join(__dirname, '..'),
            stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        });
        await new Promise<void>((resolve, reject) => {
            child.once('exit', (code) => reject(new Error(`the sessions process exited with ${code}`)));
            child.on('message', (m: { ready?: boolean }) => m?.ready && resolve());
        });
        return new SessionsProcess(child);
    }

    private ask<T>(msg: object, key: string): Promise<T> {
        const id = ++this.seq;
        return new Promise((resolve) => {
            const on = (m: Record<string, unknown>) => {
                if (m?.[key] !== id) return;
                this.child.off('message', on);
                resolve(m as T);
            };
            this.child.on('message', on);
            this.child.send({ ...msg, [key === 'opened' ? 'open' : key]: id });
        });
    }

    open(sessions: { j: number; channel: string }[]): Promise<OpenResult> {
        return this.ask<OpenResult>({ sessions, concurrency: DIAL_CONCURRENCY }, 'opened');
    }

    usage(): Promise<{ rss: number; sessions: number }> {
        return this.ask({}, 'usage');
    }

    async stop(): Promise<void> {
        if (this.child.exitCode !== null) return;
        const exited = new Promise((r) => this.child.once('exit', r));
        this.child.send({ close: true });
        await Promise.race([exited, sleep(5000)]);
        if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
}

/** One streaming chat of `tokens` tokens; its wall time in ms (throws unless it ended with a paid receipt). */
async function chat(client: CocoonClient, tokens: number): Promise<number> {
    const t0 = performance.now();
    let ended = false;
    const body = { model: TEST_MODEL.id, messages: [{ role: 'user', content: Array(tokens).fill('w').join(' ') }], max_tokens: tokens, stream: true };
    for await (const ev of client.request({ endpoint: 'chat', body })) if (ev.type === 'end') ended = true;
    if (!ended) throw new Error('stream ended without a receipt');
    return performance.now() - t0;
}

function latency(ms: number[], errors: string[]): Latency {
    const p = percentiles(ms);
    return { requests: ms.length + errors.length, errors: errors.length, firstError: errors[0] ?? null, p50Ms: round(p.p50), p99Ms: round(p.p99) };
}

async function proxyStats(url: string): Promise<{ routing: ScaleBenchReport['routing'] & object; connections: Record<'clients' | 'workers', { ready: number }>; rootVersion: number }> {
    const r = await fetch(`${url}/stats`);
    return (await r.json()) as never;
}

export async function runScaleBench(o: ScaleBenchOptions = {}): Promise<ScaleBenchReport> {
    const workers = o.workers ?? 1000;
    const sessions = o.sessions ?? 10_000;
    const sample = Math.min(o.sample ?? 64, sessions);
    const requests = o.requests ?? 4;
    const storm = Math.min(o.storm ?? 1000, sessions - sample);
    const tokens = o.tokens ?? 8;
    const privacy = o.privacy ?? 'plain';
    const say = o.progress ?? (() => undefined);
    const thin = sessions - sample;
    const thinChannels = Math.ceil(thin / SESSIONS_PER_CHANNEL);
    const deposit = toNano('5');

    const dir = mkdtempSync(join(tmpdir(), 'cocoon-bench-scale-'));
    const children = new Map<string, ChildProcess>();
    const stops: (() => Promise<void>)[] = [];
    const benchRss = { peak: 0 };
    const rssTimer = setInterval(() => (benchRss.peak = Math.max(benchRss.peak, process.memoryUsage().rss)), 500);
    try {
        // ---- network: chain, proxy process, bulk channels
        const net: AgentNetwork = await startAgentNetwork({ params: { creditWindow: toNano('10') } });
        stops.push(() => net.stop());
        writeFileSync(join(dir, 'tee.json'), JSON.stringify((net.tee as SimulatedTee).toState()), { mode: 0o600 });
        const ports = { client: await freePort(), worker: await freePort(), stats: await freePort() };
        const proxySeed = seed('scale-proxy');
        const { address: proxy } = await net.deployProxy({ seed: proxySeed, clientEndpoint: `wss://127.0.0.1:${ports.client}/`, workerEndpoint: `wss://127.0.0.1:${ports.worker}/` });
        const { secretKey } = await net.fundWallet('scale-proxy-wallet', '50');
        writeFileSync(join(dir, 'proxy.wallet'), secretKey.toString('hex'), { mode: 0o600 });
        writeFileSync(join(dir, 'proxy.seed'), proxySeed.toString('hex'), { mode: 0o600 });
        const chainSection = { ...net.chainConfig, rootAddress: net.root.toString(), cacheTtlMs: CHAIN_DEFAULTS.cacheTtlMs };
        const rootPollMs = 1000;
        writeFileSync(
            join(dir, 'proxy.json'),
            JSON.stringify({
                chain: chainSection,
                seedFile: 'proxy.seed',
                trust: { simulatedTeeFile: 'tee.json' },
                wallet: { secretKeyFile: 'proxy.wallet' },
                tee: { provider: 'simulated', stateFile: 'tee.json' },
                proxy: {
                    address: proxy.toString(),
                    ledgerFile: 'ledger.sqlite',
                    clientPort: ports.client,
                    workerPort: ports.worker,
                    statsPort: ports.stats,
                    // Settlement off (bench:settlement measures it); the watch and channel re-checks run at their defaults.
                    redeemThresholdTon: '1000',
                    payoutThresholdTon: '1000',
                    commitIntervalMs: 0,
                    settleIntervalMs: 0,
                    rootPollMs,
                    // Every simulated host dials from 127.0.0.1: the per-address bounds would otherwise cap the bench at 64
                    // connections; the totals (helloChecks 16, helloQueue 256) stay at their defaults.
                    limits: { maxConnectionsPerAddress: 1 << 20, helloChecksPerAddress: 16 },
                },
            }),
        );
        stops.push(async () => {
            for (const c of children.values()) {
                if (c.exitCode !== null || c.signalCode !== null) continue;
                const exited = new Promise((r) => c.once('exit', r));
                c.kill('SIGTERM');
                await Promise.race([exited, sleep(10_000)]);
                if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
            }
        });
        await cocoon('proxy', ['proxy', '--config', join(dir, 'proxy.json')], /proxy stats/, children);
        const statsUrl = `http://127.0.0.1:${ports.stats}`;
        const proxyUsage = async (): Promise<ProcessUsage> => (await usageOf(children)).get('proxy')!;
        const cpuUs = (u: ProcessUsage) => u.userUs + u.systemUs;

        say(`chain: ${workers} worker channels, ${sample + thinChannels} client channels`);
        const bulk = await bulkChannels(net, proxy, { workers, clients: sample + thinChannels, deposit, progress: say });
        const idle = await proxyUsage();

        // ---- 1. workers
        const backend = new ReferenceBackend({ tokenDelayMs: 0 });
        await backend.start();
        stops.push(() => backend.stop());
        const chain = new TonChain({ config: { ...net.chainConfig, cacheTtlMs: CHAIN_DEFAULTS.cacheTtlMs } });
        const agents: WorkerAgent[] = [];
        stops.push(async () => void (await Promise.allSettled(agents.map((a) => a.stop()))));
        say(`workers: starting ${workers}`);
        const w0 = performance.now();
        let ready = 0;
        await pool([...Array(workers).keys()], DIAL_CONCURRENCY, async (i) => {
            const agent = new WorkerAgent({
                chain,
                wallet: chain.wallet(workerWalletKeys(i)),
                seed: workerSeed(i),
                tee: net.tee,
                quotePolicy: net.quotePolicy,
                models: [{ name: TEST_MODEL.id, coefficient: 1000n }],
                backendUrl: backend.url,
                capacity: 4,
                proxies: [proxy],
                payoutThreshold: toNano('1000'),
                statePath: join(dir, `worker-${i}.json`),
                // One shared chain cache; a fleet polling Root every 5 s would be 200 reads/s on the devnet here.
                rootPollMs: 3_600_000,
                replayCacheSize: 0,
                connectTimeoutMs: 120_000,
                helloTimeoutMs: 120_000,
            });
            agents.push(agent);
            await agent.start();
            await agent.waitReady(180_000);
            ready++;
            if (ready % 200 === 0) say(`workers: ${ready}/${workers} ready`);
        });
        const workersMs = performance.now() - w0;
        const withWorkers = await proxyUsage();

        // ---- 2. sample clients
        say(`sample: ${sample} clients`);
        const clients: CocoonClient[] = [];
        stops.push(async () => void (await Promise.allSettled(clients.map((c) => c.stop()))));
        await pool([...Array(sample).keys()], 16, async (j) => {
            const c = new CocoonClient({
                chain,
                wallet: chain.wallet(clientWalletKeys(j)),
                seed: clientSeed(j),
                quotePolicy: net.quotePolicy,
                statePath: join(dir, `client-${j}.json`),
                proxy,
                privacy,
                deposit,
                rootPollMs: 3_600_000,
            });
            clients.push(c);
            await c.open();
        });
        for (const c of clients) await chat(c, tokens); // warm-up: candidate caches, JIT

        // ---- 3. sessions
        const sessionsProc = await SessionsProcess.start({ endpoint: net.chainConfig.endpoint, rootAddress: net.root.toString(), teeFile: join(dir, 'tee.json'), proxy: proxy.toString() });
        stops.push(() => sessionsProc.stop());
        const thinList = [...Array(thin).keys()].map((k) => {
            const j = sample + Math.floor(k / SESSIONS_PER_CHANNEL);
            return { j, channel: bulk.clientChannels[j].toString() };
        });
        const [held, stormList] = [thinList.slice(0, thin - storm), thinList.slice(thin - storm)];
        say(`sessions: opening ${held.length}`);
        const s0 = await proxyUsage();
        const opened = await sessionsProc.open(held);
        const withSessions = await proxyUsage();

        // ---- 4 + 5. traffic before and during the storm
        say(`traffic: ${sample} × ${requests} requests before the storm`);
        const before: number[] = [];
        const beforeErr: string[] = [];
        await Promise.all(
            clients.map(async (c) => {
                for (let k = 0; k < requests; k++) await chat(c, tokens).then((ms) => before.push(ms), (e) => beforeErr.push(String(e?.message ?? e)));
            }),
        );
        say(`storm: ${storm} sessions connect while the sample sends`);
        const during: number[] = [];
        const duringErr: string[] = [];
        let storming = true;
        const loops = clients.map(async (c) => {
            while (storming) await chat(c, tokens).then((ms) => void during.push(ms), (e) => void duringErr.push(String(e?.message ?? e)));
        });
        const stormResult = await sessionsProc.open(stormList);
        storming = false;
        await Promise.all(loops);

        // ---- 6. routing, connections
        const st = await proxyStats(statsUrl);

        // ---- 7. Root poll
        say('root poll: idle and change windows');
        const windowMs = o.short ? 2000 : 5000;
        const idleRates: number[] = [];
        const changeCosts: number[] = [];
        const windowCpu = async (act?: () => Promise<void>) => {
            const a = cpuUs(await proxyUsage());
            await act?.();
            await sleep(windowMs);
            return cpuUs(await proxyUsage()) - a;
        };
        for (let k = 0; k < (o.short ? 1 : 3); k++) {
            const base = await windowCpu();
            idleRates.push((base * 1000) / windowMs);
            const image = BigInt('0x' + createHash('sha256').update(randomBytes(32)).digest('hex'));
            const changed = await windowCpu(() => net.govern(RootWrapper.addImageBody('worker', image)));
            changeCosts.push(changed - base);
        }
        const after = await proxyStats(statsUrl);
        const end = await proxyUsage();
        const sessionsUsage = await sessionsProc.usage();

        // ---- 8. settlement at `sessions` channels
        say(`settlement: ledger with ${sessions} channels`);
        const settlement = settlementCost(sessions, workers);
        const isolated = routingAlone(st.connections.workers.ready);

        const idleRss = idle.rss;
        const perWorker = (withWorkers.rss - idleRss) / Math.max(1, workers);
        const perSession = (withSessions.rss - s0.rss) / Math.max(1, held.length);
        const p99Ratio = round(latency(during, duringErr).p99Ms / latency(before, beforeErr).p99Ms, 2);
        const report: ScaleBenchReport = {
            bench: 'scale',
            date: new Date().toISOString(),
            machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, platform: `${process.platform}-${process.arch}`, openFilesLimit: String(openFilesLimit()) },
            params: { workers, sessions, sample, requests, storm, tokens, privacy, short: o.short === true },
            setup: { chainSetupMs: Math.round(bulk.ms), workerChannels: workers, clientChannels: sample + thinChannels, sessionsPerChannel: SESSIONS_PER_CHANNEL },
            hello: {
                workers: { count: workers, ready, ms: Math.round(workersMs), perSec: round((ready * 1000) / workersMs, 1), proxyCpuUsPerHello: Math.round((cpuUs(withWorkers) - cpuUs(idle)) / Math.max(1, ready)) },
                sessions: {
                    count: held.length,
                    ok: opened.ok,
                    errors: opened.errors,
                    firstError: opened.firstError,
                    ms: Math.round(opened.ms),
                    perSec: opened.ms > 0 ? round((opened.ok * 1000) / opened.ms, 1) : 0,
                    proxyCpuUsPerHello: Math.round((cpuUs(withSessions) - cpuUs(s0)) / Math.max(1, opened.ok)),
                },
            },
            memory: {
                proxyRssMb: { idle: mb(idleRss), withWorkers: mb(withWorkers.rss), withSessions: mb(withSessions.rss), end: mb(end.rss) },
                proxyKbPerWorker: round(perWorker / 1024, 1),
                proxyKbPerSession: round(perSession / 1024, 1),
                sessionsProcessRssMb: mb(sessionsUsage.rss),
                benchProcessRssMb: mb(benchRss.peak),
            },
            routing: { candidates: st.connections.workers.ready, ...pick(st.routing, ['decisions', 'window', 'p50Us', 'p99Us', 'maxUs']), isolated },
            rootPoll: { pollMs: rootPollMs, idleCpuUsPerSec: Math.round(median(idleRates)), changeCpuUs: Math.round(median(changeCosts)), windows: changeCosts.length, windowMs },
            settlement,
            storm: { sessions: storm, ok: stormResult.ok, errors: stormResult.errors, ms: Math.round(stormResult.ms), before: latency(before, beforeErr), during: latency(during, duringErr), p99Ratio },
            proxyConnections: { workers: after.connections.workers.ready, clients: after.connections.clients.ready },
            summary: { aims: [] },
            notes: [],
        };
        report.summary.aims = scaleAims(report);
        report.notes = notes(report);
        return report;
    } finally {
        clearInterval(rssTimer);
        for (const s of stops.reverse()) await s().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
    }
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
    return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

function openFilesLimit(): string {
    try {
        return require('child_process').execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim();
    } catch {
        return 'unknown';
    }
}

/**
 * Router.pick with `candidates` workers of one model, their load and latencies varied as traffic would (every worker
 * measured, a quarter of them busy), timed alone: what a decision costs when the proxy process has a core to itself.
 */
export function routingAlone(candidates: number): { p50Us: number; p99Us: number } {
    const router = new Router();
    const models = new Map([[TEST_MODEL.id, 1000n]]);
    for (let k = 0; k < Math.max(1, candidates); k++) {
        const key = createHash('sha256').update(`worker/${k}`).digest();
        router.add({ id: `w${k}`, channel: `0:${key.toString('hex')}`, workerKey: key, keyId: key.toString('hex'), hpkePublicKey: key, certDer: key, imageHash: '', models, capacity: 4 });
        router.begin(`w${k}`);
        router.end(`w${k}`, { kind: 'success', ttfbMs: 50 + (k % 97), totalMs: 300 + ((k * 7) % 211) });
        if (k % 4 === 0) router.begin(`w${k}`);
    }
    const ns: number[] = [];
    for (let i = 0; i < 10_000; i++) {
        const t = process.hrtime.bigint();
        const w = router.pick(TEST_MODEL.id, 2000n);
        ns.push(Number(process.hrtime.bigint() - t));
        if (w) {
            router.begin(w.id);
            router.end(w.id, { kind: 'success', ttfbMs: 40 + (i % 50), totalMs: 250 + (i % 300) });
        }
    }
    const p = percentiles(ns.map((x) => x / 1000));
    return { p50Us: p.p50, p99Us: p.p99 };
}

/**
 * What a settle tick and a commit cost at `channels` client channels: the proxy's Ledger class (SQLite in memory)
 * with one delivered request and one voucher per channel, `workers` worker rows. CPU µs, median of 5 runs each.
 */
function settlementCost(channels: number, workers: number): ScaleBenchReport['settlement'] {
    const ledger = Ledger.open(':memory:', { commissionBps: 1000 });
    try {
        const addr = (kind: string, k: number) => new Address(0, createHash('sha256').update(`${kind}/${k}`).digest());
        const model = modelId(TEST_MODEL.id);
        const sig = 'ab'.repeat(64);
        for (let k = 0; k < channels; k++) {
            const client = addr('client', k);
            ledger.recordDelivery({ requestId: `scale-${k}`, client, worker: addr('worker', k % workers), modelId: model, cost: 1_000_000n, receipt: 'AA==' });
            ledger.acceptVoucher(client, 1_000_000n, sig);
        }
        const cpu = (fn: () => void) => {
            const runs: number[] = [];
            for (let r = 0; r < 5; r++) {
                const t = process.cpuUsage();
                fn();
                const d = process.cpuUsage(t);
                runs.push(d.user + d.system);
            }
            return Math.round(median(runs));
        };
        const threshold = toNano('1');
        return {
            channels,
            workers,
            // A settle tick with nothing due at the default thresholds: the two candidate queries.
            settleTickUs: cpu(() => void (ledger.redeemCandidates(threshold), ledger.payoutCandidates(threshold))),
            // What the channel watch and a forced settle scan: every channel with an unredeemed voucher (≤ 1000 rows).
            redeemScanUs: cpu(() => void ledger.redeemCandidates(1n)),
            // A commit (and each commit-loop check): the canonical serialization of the whole ledger and its hash.
            commitHashUs: cpu(() => void ledger.stateHash()),
        };
    } finally {
        ledger.close();
    }
}

function scaleAims(r: ScaleBenchReport): Aim[] {
    const rssMb = Math.max(r.memory.proxyRssMb.withSessions, r.memory.proxyRssMb.end);
    const full = r.params.workers >= 1000 && r.params.sessions >= 10_000;
    const heldAll = r.proxyConnections.workers === r.params.workers && r.proxyConnections.clients === r.params.sessions;
    return [
        { aim: 'workers and sessions held by one proxy', target: '1,000 workers and 10,000 sessions, all ready', measured: `${r.proxyConnections.workers} workers, ${r.proxyConnections.clients} sessions`, met: full && heldAll },
        { aim: 'proxy RSS', target: '≤ 2048 MB', measured: rssMb, met: rssMb <= 2048 },
        { aim: 'routing decision p99 (wall, in the proxy process, under the bench load)', target: '≤ 100 µs', measured: r.routing.p99Us ?? 'none', met: r.routing.p99Us !== null && r.routing.p99Us <= 100 },
        { aim: 'routing decision p99 (the Router alone, same candidates)', target: '≤ 100 µs', measured: r.routing.isolated.p99Us, met: r.routing.isolated.p99Us <= 100 },
        {
            aim: 'no degradation while sessions connect',
            target: 'p99 during ≤ 1.5 × p99 before, 0 errors',
            measured: `${r.storm.p99Ratio}× p99, ${r.storm.before.errors + r.storm.during.errors + r.storm.errors} errors`,
            met: r.storm.p99Ratio <= 1.5 && r.storm.before.errors + r.storm.during.errors + r.storm.errors === 0,
        },
    ];
}

function notes(r: ScaleBenchReport): string[] {
    return [
        'One proxy process (cocoon proxy --config, settlement and commits off, Root poll every 1 s, channel watch every 5 s and worker channel re-check every 30 s at their defaults). Its CPU and RSS are read in the proxy process itself over IPC (bench/process-probe.js). The devnet chain server, the workers, the sample clients and the reference backend share the bench process; the held sessions and the storm come from a second child process (bench/scale-sessions.ts). All of it shares this machine\'s cores.',
        `Workers: real WorkerAgents (RA-TLS with the simulated TEE, real hello with the owner's wallet signature), capacity 4, one shared TonChain, Root poll 1 h (a fleet polling Root every 5 s would load the in-process devnet, not the proxy). hello.workers.perSec is the end-to-end attach rate (each worker's identity, quote and chain reads included); proxyCpuUsPerHello is the proxy's own CPU per attached worker.`,
        `Sessions: the client's own dialProxy + ProxyConnection handshake (RA-TLS, hello → hello_ok → payment_status), ${r.setup.sessionsPerChannel} per ClientChannel (the proxy's limit per channel), so ${r.setup.clientChannels} channels were created in bulk in the devnet's sandbox (bench/scale-chain.ts: the contracts see the wallets' messages; the wallets' external step is skipped). The proxy's per-address bounds are raised (maxConnectionsPerAddress, helloChecksPerAddress = 16) because every simulated host dials from 127.0.0.1; the total hello-check bounds (16 running, 256 queued) are the defaults, and they set the hello rate: each hello costs the proxy one or two chain reads.`,
        'Memory: proxyKbPerWorker and proxyKbPerSession are RSS growth of the proxy process over the phase divided by the connections added (includes TLS state, WebSocket buffers, V8 heap growth not yet collected).',
        'Routing: the proxy times every Router.pick / pickByKeyId call (stats.routing, last 4096 decisions) in its own process; candidates = ready worker connections, every one of them serving the model within the cap. These are wall times in a process that shares two cores with the bench process (chain server, every worker) and the sessions process, so they include time the proxy was not scheduled; routing.isolated times the same Router class alone in the bench process after the load stopped (10,000 picks over as many candidates, a quarter of them busy).',
        `Root poll: proxy CPU of ${r.rootPoll.windowMs} ms windows; changeCpuUs = CPU of a window in which Root changed once (a worker image added: the poll re-reads Root and every worker connection re-checks its image) minus the CPU of the idle window before it (median of ${r.rootPoll.windows}). idleCpuUsPerSec is the proxy's CPU per second with everything connected and no traffic: keepalive pings, Root polls, the channel watch re-reading every connected ClientChannel every 5 s and the worker channel re-check every 30 s.`,
        'Settlement: measured in the bench process on the proxy\'s Ledger class (SQLite in memory) holding `channels` client channels each with one delivered request and a voucher, and `workers` workers: settleTickUs = the tick\'s two candidate queries with nothing due at the default 1 TON thresholds; redeemScanUs = redeemCandidates(1) (what the channel watch and a forced settle scan, ≤ 1000 rows); commitHashUs = the state hash over the whole ledger (each commit, and each commit-loop check). Chain I/O (redeems, commit transactions) is bench:settlement\'s subject.',
        'Storm: the sample clients send one request at a time each; "before" = the requests sent before the storm, "during" = those started while the storm sessions were connecting (each sample client starts one at once). Degradation = p99 during > 1.5 × p99 before, or any error. Latency is measured in the bench process, which also hosts the devnet chain server (answering every hello check and the proxy\'s channel watch) and every worker: at 1,000 workers that process, not the proxy, is the busiest; read the latencies with the proxy\'s own CPU figures.',
    ];
}

// -----------------------------------------------------------------------------------------------------------------
// CLI

if (require.main === module) {
    runBench('scale', (progress) =>
        runScaleBench({
            workers: intArg('workers', 1),
            sessions: intArg('sessions', 1),
            sample: intArg('sample', 1),
            requests: intArg('requests', 1),
            storm: intArg('storm', 0),
            tokens: intArg('tokens', 1),
            short: process.argv.includes('--short'),
            privacy: oneOfArg('privacy', ['plain', 'sealed'] as const),
            progress,
        }),
    );
}
