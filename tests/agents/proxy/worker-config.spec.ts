// The proxy checks a worker's attested configuration (spec/attestation.md, "Measured worker configuration") at hello
// and at every offer: real RA-TLS certificates on the simulated TEE, real WorkerChannels on the devnet. The proxy
// under test runs the production policy (no unchecked weights, no backend outside the TD), so every refusal a real
// TDX network makes is exercised here.
import { Address } from '@ton/core';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { TonChain } from '../../../agents/core/chain/chain';
import { PRODUCTION_WORKER_CONFIG_POLICY } from '../../../agents/core/transport';
import { ProxyAgent, ProxyUrls } from '../../../agents/proxy/agent';
import { RootWrapper } from '../../../wrappers/Root';
import { AgentNetwork, NETWORK_MODEL, seed, startAgentNetwork, testWorkerConfig } from '../../../fixtures/agent-network';
import { TestWorker } from './fake-worker';

const WEIGHTED = 'mcfg/weighted-model';
const WEIGHTS = 'ab'.repeat(32);
const ROOT_WEIGHTS_OF_TEST_MODEL = '00'.repeat(32);

describe('the proxy refuses a worker whose attested configuration does not match what it announces', () => {
    let net: AgentNetwork;
    let chain: TonChain;
    let dir: string;
    let proxyAddress: Address;
    let agent: ProxyAgent;
    let urls: ProxyUrls;

    beforeAll(async () => {
        net = await startAgentNetwork();
        chain = net.newChain();
        await net.govern(RootWrapper.registerModelBody({ ...NETWORK_MODEL, name: WEIGHTED, weightsHash: BigInt('0x' + WEIGHTS) }));
        dir = mkdtempSync(join(tmpdir(), 'proxy-mcfg-'));
        const PROXY_SEED = seed('mcfg/proxy-under-test');
        ({ address: proxyAddress } = await net.deployProxy({ seed: PROXY_SEED, clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: 'wss://127.0.0.1:2/' }));
        const { wallet } = await net.fundWallet('mcfg/proxy-ops', '50');
        agent = new ProxyAgent({
            chain: net.newChain(),
            wallet,
            proxyAddress,
            seed: PROXY_SEED,
            tee: net.tee,
            quotePolicy: net.quotePolicy,
            workerConfigPolicy: PRODUCTION_WORKER_CONFIG_POLICY,
            ledgerPath: join(dir, 'ledger.sqlite'),
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            rootPollMs: 100,
            commitGuardMs: 0,
        });
        urls = await agent.start();
    });

    afterAll(async () => {
        await agent?.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const both = [
        { name: WEIGHTED, weightsHash: WEIGHTS },
        { name: NETWORK_MODEL.name, weightsHash: ROOT_WEIGHTS_OF_TEST_MODEL },
    ];

    async function refusedAtHello(label: string, workerConfig: Buffer | null, models: string[], reason: RegExp, capacity = 4): Promise<void> {
        const w = await new TestWorker(net, label, 900n, capacity).setup(proxyAddress, chain, { workerConfig });
        const log = await w.connect(urls.workerUrl, { models: models.map((name) => ({ name, coefficient: 900n })) });
        const err = await log.next((f) => f.type === 'error');
        expect(err).toMatchObject({ code: 'WORKER_CONFIG_MISMATCH', fatal: true });
        expect((err as { message: string }).message).toMatch(reason);
        await log.waitClosed();
        expect(log.frames.some((f) => f.type === 'hello_ok')).toBe(false);
        expect(agent.router.size).toBe(0);
    }

    it('attack: a worker attesting other weights than Root registers is refused at hello (WORKER_CONFIG_MISMATCH, fatal)', async () => {
        await refusedAtHello('mcfg-other', testWorkerConfig({ models: [{ name: WEIGHTED, weightsHash: 'cd'.repeat(32) }] }), [WEIGHTED], /Root registers/);
    });

    it('attack: a worker announcing a model its attested configuration does not serve is refused at hello', async () => {
        await refusedAtHello('mcfg-unserved', testWorkerConfig({ models: [{ name: WEIGHTED, weightsHash: WEIGHTS }] }), [WEIGHTED, NETWORK_MODEL.name], /does not serve/);
    });

    it('attack: a worker announcing more capacity in hello than it attests (to draw more routing) is refused at hello', async () => {
        await refusedAtHello('mcfg-capacity', testWorkerConfig({ capacity: 4, models: [both[0]] }), [WEIGHTED], /above the attested 4/, 5);
    });

    it('attack: a worker certificate without a configuration (version-1 claims) is refused at hello', async () => {
        await refusedAtHello('mcfg-none', null, [WEIGHTED], /no attested configuration/);
    });

    it('attack: under the production policy a backend outside the TD and unchecked weights are refused at hello', async () => {
        await refusedAtHello('mcfg-remote', testWorkerConfig({ backend: 'remote', models: both }), [WEIGHTED], /outside its TD/);
        await refusedAtHello('mcfg-unchecked', testWorkerConfig({ models: [{ name: WEIGHTED, weightsHash: null }] }), [WEIGHTED], /did not check/);
    });

    it('admits a worker whose attested configuration matches; refuses (not fatally) an offer naming a model it does not attest; unroutes a model whose registered weights change', async () => {
        const w = await new TestWorker(net, 'mcfg-honest', 900n).setup(proxyAddress, chain, { workerConfig: testWorkerConfig({ models: [both[0]] }) });
        const log = await w.connect(urls.workerUrl, { models: [{ name: WEIGHTED, coefficient: 900n }] });
        await log.next((f) => f.type === 'hello_ok');
        expect(agent.router.size).toBe(1);
        // The test model is registered in Root, but this worker's certificate does not serve it.
        w.send({ type: 'offer', v: 1, seq: 1, models: [{ name: WEIGHTED, coefficient: 900n }, { name: NETWORK_MODEL.name, coefficient: 500n }] });
        expect(await log.next((f) => f.type === 'error')).toMatchObject({ code: 'WORKER_CONFIG_MISMATCH', fatal: false });
        w.send({ type: 'offer', v: 1, seq: 2, models: [{ name: WEIGHTED, coefficient: 800n }] });
        expect(await log.next((f) => f.type === 'offer_ok')).toMatchObject({ seq: 2 });
        expect(agent.stats().workers).toEqual([expect.objectContaining({ models: [{ name: WEIGHTED, coefficient: 800n }] })]);
        // Governance re-registers the model with other weights: the worker's attested ones no longer serve it.
        await net.govern(RootWrapper.registerModelBody({ ...NETWORK_MODEL, name: WEIGHTED, weightsHash: BigInt('0x' + 'ef'.repeat(32)) }));
        for (let i = 0; i < 200 && agent.stats().workers[0]?.models.length !== 0; i++) await new Promise((r) => setTimeout(r, 50));
        expect(agent.stats().workers).toEqual([expect.objectContaining({ models: [] })]);
        w.close();
    });
});
