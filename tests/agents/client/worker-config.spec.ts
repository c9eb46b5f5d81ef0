// The client checks each worker candidate's attested configuration (spec/attestation.md, "Measured worker
// configuration") before it seals anything to it, and the worker a plain-mode receipt names before it signs a
// voucher: real RA-TLS certificates on the simulated TEE, a raw-frame proxy registered on the devnet, the reference
// backend.
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { toNano } from '@ton/core';
import { AgentNetwork, seed, startAgentNetwork, testWorkerConfig } from '../../../fixtures/agent-network';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { CocoonClient, CocoonClientOptions } from '../../../agents/client';
import { PRODUCTION_WORKER_CONFIG_POLICY } from '../../../agents/core/transport';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { fakeWorker, FakeWorker, TestProxy } from './fake-proxy';

const MODEL = TEST_MODEL.id;
/** Root registers the test model with weightsHash 0: this is the value a worker that checked it attests. */
const ROOT_WEIGHTS = '00'.repeat(32);

describe('a client refuses workers whose attested configuration does not serve the model with Root’s weights', () => {
    let net: AgentNetwork;
    let backend: ReferenceBackend;
    let proxy: TestProxy;
    let dir: string;
    const w: Record<string, FakeWorker> = {};
    const clients: CocoonClient[] = [];
    const events: { event: string; fields: Record<string, unknown> }[] = [];

    async function newClient(label: string, o: Partial<CocoonClientOptions> = {}): Promise<CocoonClient> {
        const { wallet } = await net.fundWallet(`mcfg/${label}`, '5');
        const c = new CocoonClient({
            chain: net.newChain(),
            quotePolicy: net.quotePolicy,
            proxy: proxy.address,
            wallet,
            seed: seed(`mcfg/${label}`),
            statePath: join(dir, `${label}.json`),
            deposit: toNano('1'),
            reconnectMinMs: 50,
            log: (event, fields) => events.push({ event, fields }),
            ...o,
        });
        clients.push(c);
        await c.open();
        return c;
    }

    const run = async (c: CocoonClient) => {
        try {
            for await (const _ev of c.request({ endpoint: 'chat', body: { model: MODEL, messages: [{ role: 'user', content: 'which worker?' }] } })) void _ev;
        } catch (e) {
            return e;
        }
        return undefined;
    };

    beforeAll(async () => {
        net = await startAgentNetwork();
        backend = new ReferenceBackend();
        await backend.start();
        // The cheap ones lie; a client that skipped the check would pick them first.
        w.otherWeights = await fakeWorker(net.tee, 'mcfg-other-weights', 900n, undefined, testWorkerConfig({ models: [{ name: MODEL, weightsHash: 'ab'.repeat(32) }] }));
        w.notServing = await fakeWorker(net.tee, 'mcfg-not-serving', 900n, undefined, testWorkerConfig({ models: [{ name: 'another/model', weightsHash: null }] }));
        w.noConfig = await fakeWorker(net.tee, 'mcfg-no-config', 900n, undefined, null);
        w.unchecked = await fakeWorker(net.tee, 'mcfg-unchecked', 1200n);
        w.remote = await fakeWorker(net.tee, 'mcfg-remote', 1250n, undefined, testWorkerConfig({ backend: 'remote', models: [{ name: MODEL, weightsHash: ROOT_WEIGHTS }] }));
        w.exact = await fakeWorker(net.tee, 'mcfg-exact', 1300n, undefined, testWorkerConfig({ models: [{ name: MODEL, weightsHash: ROOT_WEIGHTS }] }));
        proxy = await TestProxy.start({ net, seed: seed('mcfg/proxy'), workers: Object.values(w), backend });
        dir = mkdtempSync(join(tmpdir(), 'cocoon-mcfg-'));
    });

    afterAll(async () => {
        for (const c of clients) await c.stop().catch(() => undefined);
        await proxy?.stop();
        await backend?.stop();
        await net?.stop();
    });

    const refusedKeys = () => new Set(events.filter((e) => e.event === 'client.candidate-refused' && e.fields.code === 'WORKER_CONFIG_MISMATCH').map((e) => e.fields.keyId));

    it('attack: other weights, a model not served, no configuration — never listed, never sealed to (simulated-TEE policy)', async () => {
        const c = await newClient('simulated');
        const models = await c.listModels();
        expect(models).toEqual([expect.objectContaining({ id: MODEL, workers: 3, minCoefficient: 1200n })]);
        expect(refusedKeys()).toEqual(new Set([w.otherWeights.hpke.keyId, w.notServing.hpke.keyId, w.noConfig.hpke.keyId]));
        const seen = proxy.requests.length;
        expect(await run(c)).toBeUndefined();
        const sent = proxy.requests.slice(seen);
        expect(sent).toHaveLength(1);
        expect(sent[0].sealed?.keyId).toBe(w.unchecked.hpke.keyId); // the cheapest honest one, not the cheaper liars
    });

    it('attack: under a production policy, unchecked weights and a backend outside the TD are refused too', async () => {
        events.length = 0;
        const c = await newClient('production', { workerConfigPolicy: PRODUCTION_WORKER_CONFIG_POLICY });
        expect(await c.listModels()).toEqual([expect.objectContaining({ id: MODEL, workers: 1, minCoefficient: 1300n })]);
        expect(refusedKeys()).toEqual(new Set([w.otherWeights, w.notServing, w.noConfig, w.unchecked, w.remote].map((x) => x.hpke.keyId)));
        const seen = proxy.requests.length;
        expect(await run(c)).toBeUndefined();
        expect(proxy.requests.slice(seen).map((r) => r.sealed?.keyId)).toEqual([w.exact.hpke.keyId]);
    });

    it('attack: a plain-mode receipt signed by a worker whose configuration names other weights gets no voucher', async () => {
        // The test proxy serves plain requests with its first worker: the one attesting other weights.
        const c = await newClient('plain', { privacy: 'plain' });
        const vouchers = proxy.vouchers.length;
        expect(await run(c)).toMatchObject({ code: 'RECEIPT_INVALID', details: expect.objectContaining({ reason: 'RECEIPT_MISMATCH' }) });
        await c.vouchersSettled();
        expect((await c.balances()).cumulative).toBe(0n);
        expect(proxy.vouchers.length).toBe(vouchers);
    });
});
