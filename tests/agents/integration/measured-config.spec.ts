// The measured worker configuration end to end, under the production policy on both verifying sides: a real
// WorkerAgent that checked its model's weights against Root attests them, a real ProxyAgent admits and routes it, a
// real CocoonClient seals a request to it and pays; a second real WorkerAgent without a weights check is refused at
// the proxy's hello. The devnet chain, RA-TLS on the simulated TEE, the reference backend on 127.0.0.1.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { toNano } from '@ton/core';
import { AgentNetwork, deployProxyForAgent, NETWORK_MODEL, seed, startAgentNetwork, workerAgentOptions } from '../../../fixtures/agent-network';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { hashModelDir } from '../../../agents/core/model-hash';
import { PRODUCTION_WORKER_CONFIG_POLICY } from '../../../agents/core/transport';
import { ProxyAgent } from '../../../agents/proxy/agent';
import { WorkerAgent } from '../../../agents/worker/runner';
import { CocoonClient } from '../../../agents/client/runner';
import { RootWrapper } from '../../../wrappers/Root';
import { modelId } from '../../../wrappers/payloads';

const MODEL = 'mcfg/measured';

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
    }
}

describe('measured worker configuration, production policy, real agents', () => {
    let net: AgentNetwork;
    let dir: string;
    let backend: ReferenceBackend;
    let proxy: ProxyAgent;
    const workers: WorkerAgent[] = [];
    let client: CocoonClient;
    const proxyLog: { event: string; fields: Record<string, unknown> }[] = [];

    beforeAll(async () => {
        net = await startAgentNetwork();
        dir = mkdtempSync(join(tmpdir(), 'cocoon-measured-'));
        const weights = join(dir, 'weights');
        mkdirSync(weights);
        writeFileSync(join(weights, 'config.json'), '{"architectures":["Echo"]}');
        writeFileSync(join(weights, 'model.safetensors'), Buffer.alloc(4096, 7));
        const hash = (await hashModelDir(weights)).weightsHash;
        await net.govern(RootWrapper.registerModelBody({ ...NETWORK_MODEL, name: MODEL, weightsHash: BigInt('0x' + hash) }));
        await until('Root to list the model', async () => (await net.newChain().getRootConfig()).models.has(modelId(MODEL).toString(16).padStart(64, '0')));

        backend = new ReferenceBackend({ models: [{ ...TEST_MODEL, id: MODEL }] });
        await backend.start();
        const deployed = await deployProxyForAgent(net, 'measured-proxy');
        proxy = new ProxyAgent({
            ...deployed.agentOptions({ chain: net.newChain(), ledgerPath: join(dir, 'ledger.sqlite') }),
            workerConfigPolicy: PRODUCTION_WORKER_CONFIG_POLICY,
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            rootPollMs: 0,
            commitGuardMs: 0,
            log: (event, fields) => proxyLog.push({ event, fields }),
        });
        await proxy.start();

        for (const [label, checked] of [['measured-worker', true], ['unchecked-worker', false]] as const) {
            const { wallet } = await net.fundWallet(label, '20');
            const w = new WorkerAgent({
                ...workerAgentOptions(net, { chain: net.newChain(), wallet, seed: seed(label), backendUrl: backend.url, statePath: join(dir, `${label}.json`), capacity: 2 }),
                models: [{ name: MODEL, coefficient: checked ? 1100n : 900n, ...(checked ? { weightsDir: weights } : {}) }],
                proxies: [deployed.proxyAddress],
                reconnect: { baseMs: 50, maxMs: 300 },
                keepaliveMs: 0,
            });
            workers.push(w);
            await w.start();
        }
        await until('the measured worker to be routed', () => proxy.router.size === 1);

        const { wallet } = await net.fundWallet('measured-client', '10');
        client = new CocoonClient({
            chain: net.newChain(),
            wallet,
            seed: seed('measured-client'),
            quotePolicy: net.quotePolicy,
            workerConfigPolicy: PRODUCTION_WORKER_CONFIG_POLICY,
            statePath: join(dir, 'client.json'),
            proxy: deployed.proxyAddress,
            deposit: toNano('2'),
            reconnectMinMs: 50,
        });
        await client.open();
    });

    afterAll(async () => {
        await client?.stop();
        for (const w of workers) await w.stop();
        await proxy?.stop();
        await backend?.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('attack: the cheaper worker that did not check its weights is refused at hello; only the measured one is routed', async () => {
        await until('the unchecked worker to be refused', () => proxyLog.some((l) => l.fields.code === 'WORKER_CONFIG_MISMATCH'));
        expect(proxy.router.size).toBe(1);
        expect(proxy.stats().workers.map((w) => w.models)).toEqual([[{ name: MODEL, coefficient: 1100n }]]);
    });

    it('a client under the production policy seals to the measured worker, gets the answer and pays for it', async () => {
        let text = '';
        for await (const ev of client.request({ endpoint: 'chat', body: { model: MODEL, messages: [{ role: 'user', content: 'measured weights' }], max_tokens: 4 } })) {
            if (ev.type === 'chunk') text += ev.data;
        }
        expect(text).toContain('measured weights');
        await client.vouchersSettled();
        expect((await client.balances()).cumulative).toBeGreaterThan(0n);
    });
});
