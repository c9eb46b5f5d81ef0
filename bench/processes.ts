// The network as it is deployed: the proxy, the worker and each client in their own process, started with the
// operator CLI (`cocoon proxy | worker | client --config <file>`) from config files written here. The devnet chain
// server, the reference backend and the load generator stay in the bench process.
import { ChildProcess, spawn } from 'child_process';
import { writeFileSync } from 'fs';
import { join } from 'path';
import { toNano } from '@ton/core';
import { AgentNetwork, seed, startAgentNetwork } from '../fixtures/agent-network';
import { ReferenceBackend } from '../agents/backend/reference';
import { TEST_MODEL } from '../agents/backend/test-model';
import { CHAIN_DEFAULTS } from '../agents/core/chain/config';
import { freePort } from '../agents/core/net';
import type { SimulatedTee } from '../agents/core/tee/simulated';

export type Privacy = 'sealed' | 'plain';

export interface ProcessNetwork {
    backend: ReferenceBackend;
    apis: Map<Privacy, string>;
    /** The child processes' pids, for CPU and RSS accounting. */
    pids: number[];
    stop(): Promise<void>;
}

const REPO = join(__dirname, '..');

/** Runs `cocoon <args>` and resolves with the first stdout match of `ready`. */
function cocoon(args: string[], ready: RegExp, children: ChildProcess[], timeoutMs = 120_000): Promise<RegExpMatchArray> {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'cocoon'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
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
    const children: ChildProcess[] = [];
    const stops: (() => Promise<void>)[] = [];
    const stop = async () => {
        for (const c of children) {
            if (c.exitCode === null) {
                const exited = new Promise((r) => c.once('exit', r));
                c.kill('SIGTERM');
                await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
                if (c.exitCode === null) c.kill('SIGKILL');
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

        const ports = { client: await freePort(), worker: await freePort(), stats: await freePort() };
        const { address: proxy } = await net.deployProxy({ seed: seed('proxy.seed'), clientEndpoint: `wss://127.0.0.1:${ports.client}/`, workerEndpoint: `wss://127.0.0.1:${ports.worker}/` });
        const proxyConfig = config('proxy.json', {
            ...common('proxy'),
            wallet: { secretKeyFile: await secret('proxy.wallet', 'bench-proxy-wallet', '20') },
            tee: { provider: 'simulated', stateFile: 'tee.json' },
            proxy: { address: proxy.toString(), ledgerFile: 'ledger.sqlite', clientPort: ports.client, workerPort: ports.worker, statsPort: ports.stats, redeemThresholdTon: '1000', payoutThresholdTon: '1000', commitIntervalMs: 0, settleIntervalMs: 0 },
        });
        await cocoon(['proxy', '--config', proxyConfig], /proxy stats/, children);

        const workerConfig = config('worker.json', {
            ...common('worker'),
            wallet: { secretKeyFile: await secret('worker.wallet', 'bench-worker', '20') },
            tee: { provider: 'simulated', stateFile: 'tee.json' },
            worker: { models: [{ name: TEST_MODEL.id, coefficient: 1000 }], backendUrl: backend.url, capacity, payoutThresholdTon: '1000', stateFile: 'worker-state.json' },
        });
        await cocoon(['worker', '--config', workerConfig], /worker running/, children);

        const apis = new Map<Privacy, string>();
        for (const privacy of privacies) {
            const clientConfig = config(`client-${privacy}.json`, {
                ...common(`client-${privacy}`),
                wallet: { secretKeyFile: await secret(`client-${privacy}.wallet`, `bench-client-${privacy}`, '100') },
                client: { proxy: proxy.toString(), stateFile: `client-${privacy}-state.json`, privacy, depositTon: '20', port: await freePort() },
            });
            const [, url] = await cocoon(['client', 'serve', '--config', clientConfig], /OpenAI-compatible endpoint: (\S+)/, children);
            const end = Date.now() + 60_000;
            for (;;) {
                const models = (await fetch(`${url}/models`).then((r) => r.json()).catch(() => ({ data: [] }))) as { data: { id: string }[] };
                if (models.data.some((m) => m.id === TEST_MODEL.id)) break;
                if (Date.now() > end) throw new Error(`the ${privacy} client process sees no worker for ${TEST_MODEL.id}`);
                await new Promise((r) => setTimeout(r, 100));
            }
            apis.set(privacy, url);
        }
        return { backend, apis, pids: children.map((c) => c.pid!), stop };
    } catch (e) {
        await stop();
        throw e;
    }
}
