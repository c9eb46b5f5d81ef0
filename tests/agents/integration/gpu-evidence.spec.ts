// GPU evidence in the chain of evidence, end to end (spec/attestation.md): Root registers a model with requireGpu; a
// real WorkerAgent with a simulated GPU attests its GPU's evidence (made for its own RA-TLS key) inside its
// certificate, a real ProxyAgent trusting the simulated GPU PKI admits and routes it, a real CocoonClient with the same
// trust verifies the evidence again, seals a request to it and pays. Workers without evidence, with evidence replayed
// from another worker's key, or with a tampered measurement are refused at hello for that model; a worker without GPU
// evidence is still admitted for a model whose Root record does not require it, until governance requires it there
// too. The devnet chain, RA-TLS on the simulated TEE, the reference backend on 127.0.0.1.
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { toNano } from '@ton/core';
import { AgentNetwork, deployProxyForAgent, NETWORK_MODEL, seed, startAgentNetwork, workerAgentOptions } from '../../../fixtures/agent-network';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { keyPairFromSeed } from '@ton/crypto';
import { GpuEvidenceSource, SimulatedGpuSource } from '../../../agents/core/tee/gpu/source';
import { SimulatedGpu, simulatedMeasurement } from '../../../agents/core/tee/gpu/simulated';
import { gpuNonceFor } from '../../../agents/core/tee/gpu/verify';
import { GpuEvidenceChecker, GpuTrust } from '../../../agents/core/tee/gpu/check';
import { ProxyAgent } from '../../../agents/proxy/agent';
import { WorkerAgent } from '../../../agents/worker/runner';
import { CocoonClient } from '../../../agents/client/runner';
import { ClientError } from '../../../agents/client/errors';
import { RootWrapper } from '../../../wrappers/Root';
import { modelId } from '../../../wrappers/payloads';

const GPU_MODEL = 'gpu/required';

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
    }
}

/** Evidence made for someone else's key: what a TD without a GPU would copy from a TD that has one. */
class ReplayedSource implements GpuEvidenceSource {
    constructor(
        private readonly gpu: SimulatedGpu,
        private readonly victimKey: Buffer,
    ) {}
    async evidence(): Promise<{ report: Buffer; chainPem: string }[]> {
        return [{ report: this.gpu.report(gpuNonceFor(this.victimKey)), chainPem: this.gpu.chainPem }];
    }
}

describe('GPU evidence required by Root, real agents', () => {
    let net: AgentNetwork;
    let dir: string;
    let backend: ReferenceBackend;
    let proxy: ProxyAgent;
    /** The proxy's chain access: one cache shared by its Root poll and its hello and model checks. */
    let proxyChain: ReturnType<AgentNetwork['newChain']>;
    let gpu: SimulatedGpu;
    let trust: GpuTrust;
    const workers = new Map<string, WorkerAgent>();
    const clients: CocoonClient[] = [];
    let deployed: Awaited<ReturnType<typeof deployProxyForAgent>>;

    const workerLog: { label: string; event: string; fields: Record<string, unknown> }[] = [];

    async function startWorker(label: string, models: string[], source?: GpuEvidenceSource): Promise<WorkerAgent> {
        const { wallet } = await net.fundWallet(label, '20');
        const w = new WorkerAgent({
            log: (event, fields) => void workerLog.push({ label, event, fields }),
            ...workerAgentOptions(net, { chain: net.newChain(), wallet, seed: seed(label), backendUrl: backend.url, statePath: join(dir, `${label}.json`), capacity: 2 }),
            models: models.map((name) => ({ name, coefficient: 1000n })),
            gpu: source,
            proxies: [deployed.proxyAddress],
            reconnect: { baseMs: 50, maxMs: 300 },
            keepaliveMs: 0,
        });
        workers.set(label, w);
        await w.start();
        return w;
    }

    async function newClient(label: string, gpuTrust?: GpuTrust, log?: (event: string, fields: Record<string, unknown>) => void): Promise<CocoonClient> {
        const { wallet } = await net.fundWallet(label, '10');
        const c = new CocoonClient({ chain: net.newChain(), wallet, seed: seed(label), quotePolicy: net.quotePolicy, gpuTrust, log, statePath: join(dir, `${label}.json`), proxy: deployed.proxyAddress, deposit: toNano('2'), reconnectMinMs: 50 });
        clients.push(c);
        await c.open();
        return c;
    }

    const lastError = (label: string) => workers.get(label)!.stats().proxies[0]?.lastError;
    const proxyLog: { event: string; fields: Record<string, unknown> }[] = [];
    /** The proxy's fatal refusals of this code, and the worker's record of its refusal (the proxy's message). */
    const refused = (label: string, text: string) => {
        expect(proxyLog.filter((l) => l.event === 'worker.error-sent' && l.fields.code === 'WORKER_GPU_EVIDENCE_REQUIRED' && l.fields.fatal === true).length).toBeGreaterThanOrEqual(3);
        expect(lastError(label)).toEqual({ code: 'PROXY_REFUSED', message: expect.stringContaining(text) });
    };

    beforeAll(async () => {
        net = await startAgentNetwork();
        dir = mkdtempSync(join(tmpdir(), 'cocoon-gpu-e2e-'));
        gpu = await SimulatedGpu.create();
        trust = { deviceRootPem: gpu.deviceRootPem, rimRootPem: gpu.rimRootPem, rims: gpu.rims() };
        await net.govern(RootWrapper.registerModelBody({ ...NETWORK_MODEL, name: GPU_MODEL, requireGpu: true }));
        await until('Root to list the GPU model', async () => (await net.newChain().getRootConfig()).models.get(modelId(GPU_MODEL).toString(16).padStart(64, '0'))?.requireGpu === true);

        backend = new ReferenceBackend({ models: [{ ...TEST_MODEL, id: GPU_MODEL }, TEST_MODEL] });
        await backend.start();
        deployed = await deployProxyForAgent(net, 'gpu-proxy');
        proxy = new ProxyAgent({
            ...deployed.agentOptions({ chain: (proxyChain = net.newChain()), ledgerPath: join(dir, 'ledger.sqlite') }),
            gpuTrust: trust,
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            rootPollMs: 0,
            commitGuardMs: 0,
            log: (event, fields) => proxyLog.push({ event, fields }),
        });
        await proxy.start();

        const honest = await startWorker('gpu-honest', [GPU_MODEL], new SimulatedGpuSource(gpu));
        await startWorker('gpu-none', [GPU_MODEL]);
        await startWorker('gpu-none-plain-model', [TEST_MODEL.id]);
        await startWorker('gpu-replayed', [GPU_MODEL], new ReplayedSource(gpu, honest.publicKey));
        await startWorker('gpu-tampered', [GPU_MODEL], new SimulatedGpuSource(gpu, 1, { measurements: { 2: simulatedMeasurement(5) } }));
        await until('two workers routed and three refused', () => proxy.router.size === 2 && ['gpu-none', 'gpu-replayed', 'gpu-tampered'].every((l) => lastError(l) !== undefined));
    }, 180_000);

    afterAll(async () => {
        for (const c of clients) await c.stop();
        for (const w of workers.values()) await w.stop();
        await proxy?.stop();
        await backend?.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the worker certificate carries its GPU evidence, named in its attested configuration (version 2)', () => {
        const w = workers.get('gpu-honest')!;
        expect(w.identity.current.gpuEvidence).toBeDefined();
        expect(JSON.parse(w.workerConfig.toString()).version).toBe(2);
        expect(keyPairFromSeed(seed('gpu-honest')).publicKey.equals(w.publicKey)).toBe(true);
    });

    it('a renewed certificate carries evidence asked afresh from the GPU, bound by the new configuration, and still verifies', async () => {
        const w = workers.get('gpu-honest')!;
        const before = w.identity.current;
        const after = await w.identity.rotate();
        expect(after.gpuEvidence!.equals(before.gpuEvidence!)).toBe(false); // a new report (the GPU's own nonce differs)
        expect(after.workerConfig!.equals(before.workerConfig!)).toBe(false);
        expect(w.workerConfig.equals(after.workerConfig!)).toBe(true);
        const checker = new GpuEvidenceChecker(trust);
        expect(checker.verify(after.gpuEvidence!, w.publicKey)).toHaveLength(1);
    });

    it('attack: a worker without GPU evidence is refused for the model that requires it, admitted for one that does not', () => {
        refused('gpu-none', `model ${GPU_MODEL}: the model requires GPU evidence and the worker certificate carries none`);
        expect(workerLog.filter((l) => l.event === 'worker.gpu-evidence-missing').map((l) => [l.label, l.fields.models])).toEqual([['gpu-none', [GPU_MODEL]]]);
        expect(workers.get('gpu-none-plain-model')!.stats().proxies[0].state).toBe('ready');
        expect(proxy.stats().workers.map((w) => w.models.map((m) => m.name)).sort()).toEqual([[TEST_MODEL.id], [GPU_MODEL]]);
    });

    it("attack: GPU evidence replayed from another worker's key is refused (GPU_NONCE_MISMATCH)", () => {
        refused('gpu-replayed', "the worker's GPU evidence is refused: GPU_NONCE_MISMATCH");
    });

    it('attack: GPU evidence with a tampered measurement is refused (GPU_MEASUREMENT_MISMATCH)', () => {
        refused('gpu-tampered', "the worker's GPU evidence is refused: GPU_MEASUREMENT_MISMATCH");
    });

    it('a client trusting the simulated GPU PKI verifies the evidence, seals to the GPU worker, gets the answer and pays', async () => {
        const client = await newClient('gpu-client', trust);
        let text = '';
        for await (const ev of client.request({ endpoint: 'chat', body: { model: GPU_MODEL, messages: [{ role: 'user', content: 'attested GPU' }], max_tokens: 4 } })) {
            if (ev.type === 'chunk') text += ev.data;
        }
        expect(text).toContain('attested GPU');
        await client.vouchersSettled();
        expect((await client.balances()).cumulative).toBeGreaterThan(0n);
    });

    it("attack: a client whose GPU trust is NVIDIA's refuses the simulated GPU worker and pays nothing", async () => {
        const refusals: Record<string, unknown>[] = [];
        const client = await newClient('gpu-strict-client', undefined, (event, fields) => void (event === 'client.candidate-refused' && refusals.push(fields)));
        let err: unknown;
        try {
            for await (const ev of client.request({ endpoint: 'chat', body: { model: GPU_MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 } })) void ev;
        } catch (e) {
            err = e;
        }
        expect(err).toBeInstanceOf(ClientError);
        expect((err as ClientError).code).toBe('NO_WORKER');
        expect(refusals).toContainEqual(expect.objectContaining({ code: 'WORKER_GPU_EVIDENCE_REQUIRED', gpuCode: 'GPU_CHAIN_INVALID' }));
        expect((await client.balances()).cumulative).toBe(0n);
    });

    it('governance requiring a GPU for a model already served drops the worker without GPU evidence from its routing at the next Root poll', async () => {
        const routed = () => proxy.stats().workers.map((w) => w.models.map((m) => m.name)).sort();
        expect(routed()).toEqual([[TEST_MODEL.id], [GPU_MODEL]]);
        await net.govern(RootWrapper.registerModelBody({ ...NETWORK_MODEL, requireGpu: true }));
        await until('Root to require a GPU for the test model', async () => (await net.newChain().getRootConfig()).models.get(modelId(TEST_MODEL.id).toString(16).padStart(64, '0'))?.requireGpu === true);
        // Another read of the proxy's (a hello check, a model look-up) takes the new version into the shared cache
        // first, so the poll's refreshIfChanged sees nothing new: the routing must still follow the version.
        await until('the proxy chain to see the new version', async () => {
            await proxyChain.refreshIfChanged();
            return proxyChain.cachedRootConfig?.models.get(modelId(TEST_MODEL.id).toString(16).padStart(64, '0'))?.requireGpu === true;
        });
        await until('the proxy to re-filter its routing', async () => {
            await proxy.pollRoot();
            return JSON.stringify(routed()) === JSON.stringify([[], [GPU_MODEL]]);
        });
    });
});
