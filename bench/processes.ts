// The network as it is deployed: the proxy, the worker and each client in their own process, started with the
// operator CLI (`cocoon proxy | worker | client --config <file>`) from config files written here. The devnet chain
// server, the reference backend and the load generator stay in the bench process.
import { ChildProcess, spawn } from 'child_process';
import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { toNano } from '@ton/core';
import { AgentNetwork, seed, startAgentNetwork } from '../fixtures/agent-network';
import { ReferenceBackend } from '../agents/backend/reference';
import { TEST_MODEL } from '../agents/backend/test-model';
import { CHAIN_DEFAULTS } from '../agents/core/chain/config';
import { freePort } from '../agents/core/net';
import type { SimulatedTee } from '../agents/core/tee/simulated';

export type Privacy = 'sealed' | 'plain';

/** One process's own account of itself (bench/process-probe.js): cumulative CPU µs since it started, memory now. */
export interface ProcessUsage {
    userUs: number;
    systemUs: number;
    rss: number;
    maxRssKb: number;
}

export interface ProcessNetwork {
    backend: ReferenceBackend;
    apis: Map<Privacy, string>;
    /** The child processes' pids, for CPU and RSS accounting. */
    pids: number[];
    /** Asks every agent process for its usage over IPC; keys are roles: proxy, worker, client-sealed, client-plain. */
    usage(): Promise<Map<string, ProcessUsage>>;
    stop(): Promise<void>;
}

const REPO = join(__dirname, '..');

const PROBE = join(__dirname, 'process-probe.js');

/** BENCH_CPU_PROF=<role> (proxy, worker, client-sealed, client-plain): that process writes a V8 CPU profile to BENCH_CPU_PROF_DIR (default: the working directory) when it exits. */
const profile = (role: string) => (process.env.BENCH_CPU_PROF === role ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR ?? '.'}`] : []);

/** Runs `cocoon <args>` with the usage probe preloaded and resolves with the first stdout match of `ready`. */
export function cocoon(role: string, args: string[], ready: RegExp, children: Map<string, ChildProcess>, timeoutMs = 120_000): Promise<RegExpMatchArray> {
    const child = spawn(process.execPath, [...profile(role), '-r', PROBE, join(REPO, 'bin', 'cocoon'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    children.set(role, child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`cocoon ${args[0]}: not ready after ${timeoutMs} ms\n${err}`)), timeoutMs);
        child.stdout!.on('data', (d) => {
            out += d;
            const m = out.match(ready);
            if (m) {
                clearTimeout(timer);
                resolve(m);
            }
        });
        child.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`cocoon ${args[0]} exited with ${code}\n${err}`));
        });
    });
}

export async function startProcessNetwork(privacies: Privacy[], capacity: number, dir: string): Promise<ProcessNetwork> {
    const children = new Map<string, ChildProcess>();
    const stops: (() => Promise<void>)[] = [];
    const stop = async () => {
        for (const c of children.values()) {
            if (c.exitCode === null && c.signalCode === null) {
                const exited = new Promise((r) => c.once('exit', r));
                c.kill('SIGTERM');
                let timer: NodeJS.Timeout | undefined;
                await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
                clearTimeout(timer);
                if (c.exitCode === null && c.signalCode === null) {
                    c.kill('SIGKILL');
                    await exited;
                }
            }
        }
        for (const s of stops.reverse()) await s().catch(() => undefined);
    };
    try {
        const net: AgentNetwork = await startAgentNetwork({ params: { creditWindow: toNano('10') } });
        stops.push(() => net.stop());
        writeFileSync(join(dir, 'tee.json'), JSON.stringify((net.tee as SimulatedTee).toState()), { mode: 0o600 });
        const chain = { ...net.chainConfig, rootAddress: net.root.toString(), cacheTtlMs: CHAIN_DEFAULTS.cacheTtlMs };
        const secret = async (name: string, label: string, ton: string) => {
            const { secretKey } = await net.fundWallet(label, ton);
            writeFileSync(join(dir, name), secretKey.toString('hex'), { mode: 0o600 });
            return name;
        };
        const seedFile = (name: string) => {
            writeFileSync(join(dir, name), seed(name).toString('hex'), { mode: 0o600 });
            return name;
        };
        const common = (role: string) => ({ chain, seedFile: seedFile(`${role}.seed`), trust: { simulatedTeeFile: 'tee.json' } });
        const config = (name: string, value: object) => {
            writeFileSync(join(dir, name), JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
            return join(dir, name);
        };

        const backend = new ReferenceBackend({ tokenDelayMs: 0 });
        await backend.start();
        stops.push(() => backend.stop());

        // Each agent keeps its data (ledger or state file, admin socket and token) in a directory of its own.
        const own = (agent: string, file: string) => {
            mkdirSync(join(dir, agent), { recursive: true, mode: 0o700 });
            return `${agent}/${file}`;
        };
        const ports = { client: await freePort(), worker: await freePort(), stats: await freePort() };
        const { address: proxy } = await net.deployProxy({ seed: seed('proxy.seed'), clientEndpoint: `wss://127.0.0.1:${ports.client}/`, workerEndpoint: `wss://127.0.0.1:${ports.worker}/` });
        const proxyConfig = config('proxy.json', {
            ...common('proxy'),
            wallet: { secretKeyFile: await secret('proxy.wallet', 'bench-proxy-wallet', '20') },
            tee: { provider: 'simulated', stateFile: 'tee.json' },
            proxy: { address: proxy.toString(), ledgerFile: own('proxy', 'ledger.sqlite'), clientPort: ports.client, workerPort: ports.worker, statsPort: ports.stats, redeemThresholdTon: '1000', payoutThresholdTon: '1000', commitIntervalMs: 0, settleIntervalMs: 0 },
        });
        await cocoon('proxy', ['proxy', '--config', proxyConfig], /proxy stats/, children);

        const workerConfig = config('worker.json', {
            ...common('worker'),
            wallet: { secretKeyFile: await secret('worker.wallet', 'bench-worker', '20') },
            tee: { provider: 'simulated', stateFile: 'tee.json' },
            worker: { models: [{ name: TEST_MODEL.id, coefficient: 1000 }], backendUrl: backend.url, capacity, payoutThresholdTon: '1000', stateFile: own('worker', 'state.json') },
        });
        await cocoon('worker', ['worker', '--config', workerConfig], /worker running/, children);

        const apis = new Map<Privacy, string>();
        for (const privacy of privacies) {
            const clientConfig = config(`client-${privacy}.json`, {
                ...common(`client-${privacy}`),
                wallet: { secretKeyFile: await secret(`client-${privacy}.wallet`, `bench-client-${privacy}`, '100') },
                client: { proxy: proxy.toString(), stateFile: own(`client-${privacy}`, 'state.json'), privacy, depositTon: '20', port: await freePort() },
            });
            const [, url] = await cocoon(`client-${privacy}`, ['client', 'serve', '--config', clientConfig], /OpenAI-compatible endpoint: (\S+)/, children);
            const end = Date.now() + 60_000;
            for (;;) {
                const models = (await fetch(`${url}/models`).then((r) => r.json()).catch(() => ({ data: [] }))) as { data: { id: string }[] };
                if (models.data.some((m) => m.id === TEST_MODEL.id)) break;
                if (Date.now() > end) throw new Error(`the ${privacy} client process sees no worker for ${TEST_MODEL.id}`);
                await new Promise((r) => setTimeout(r, 100));
            }
            apis.set(privacy, url);
        }
        return { backend, apis, pids: [...children.values()].map((c) => c.pid!), usage: () => usageOf(children), stop };
    } catch (e) {
        await stop();
        throw e;
    }
}

let probes = 0;

/** One IPC round trip per process; a process that does not answer within 5 s fails the measurement. */
export async function usageOf(children: Map<string, ChildProcess>): Promise<Map<string, ProcessUsage>> {
    const id = ++probes;
    const entries = await Promise.all(
        [...children].map(
            ([role, child]) =>
                new Promise<[string, ProcessUsage]>((resolve, reject) => {
                    const timer = setTimeout(() => done(new Error(`${role}: no usage answer`)), 5000);
                    const onMessage = (m: { probe?: number } & ProcessUsage) => {
                        if (m?.probe === id) done(undefined, m);
                    };
                    const done = (e?: Error, m?: ProcessUsage) => {
                        clearTimeout(timer);
                        child.off('message', onMessage);
                        if (e || !m) reject(e);
                        else resolve([role, { userUs: m.userUs, systemUs: m.systemUs, rss: m.rss, maxRssKb: m.maxRssKb }]);
                    };
                    child.on('message', onMessage);
                    child.send({ probe: id });
                }),
        ),
    );
    return new Map(entries);
}
