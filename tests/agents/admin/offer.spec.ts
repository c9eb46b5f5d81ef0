// The `offer` frame at the proxy (spec/wire.md, "Offers"): a worker announces a new coefficient or stops serving
// without reconnecting. The proxy checks it like the hello, routes by it once it answered offer_ok, keeps enforcing
// the client's maxCoefficient, and bills a request in flight at the coefficient it was routed at whatever the worker
// announces or signs later. Real ProxyAgent, real RA-TLS, real channels on the devnet; the worker is the proxy
// tests' raw-frame worker so that it can lie.
import { toNano } from '@ton/core';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { randomBytes } from 'crypto';
import { cost } from '../../../agents/core/pricing';
import { ResponseEndFrame } from '../../../agents/core/wire';
import { meterAndSign } from '../../../agents/worker/forward';
import { ProxyAgent, ProxyUrls } from '../../../agents/proxy/agent';
import { Ledger } from '../../../agents/proxy/ledger';
import { modelId } from '../../../wrappers/payloads';
import { AgentNetwork, seed, startAgentNetwork } from '../../../fixtures/agent-network';
import { TestClient } from '../proxy/fake-client';
import { TestWorker, WORKER_USAGE } from '../proxy/fake-worker';

describe('offer frames at the proxy', () => {
    let net: AgentNetwork;
    let dir: string;
    let agent: ProxyAgent;
    let urls: ProxyUrls;
    let w: TestWorker;
    let client: TestClient;
    const costAt = (c: bigint) => cost(WORKER_USAGE, net.model, c);
    /** What the router holds for the worker: model → coefficient. */
    const routed = () => Object.fromEntries(agent.stats().workers.flatMap((x) => x.models.map((m) => [m.name, m.coefficient])));
    const delivered = () => {
        const l = Ledger.open(join(dir, 'ledger.sqlite'), { commissionBps: Number(net.params.commissionBps) });
        try {
            return l.client(client.channel).deliveredCost;
        } finally {
            l.close();
        }
    };
    /** The raw-frame worker signs its receipts at this coefficient (what a worker that changed its offer would). */
    const signAt = (c: bigint) => ((w as unknown as { coefficient: bigint }).coefficient = c);
    const offer = async (seq: number, models: { name: string; coefficient: bigint }[]) => {
        const from = w.log.frames.length;
        w.send({ type: 'offer', v: 1, seq, models });
        return w.log.next((f) => (f.type === 'offer_ok' && f.seq === seq) || f.type === 'error', 8000, from);
    };

    beforeAll(async () => {
        net = await startAgentNetwork({ params: { creditWindow: toNano('1') } });
        const chain = net.newChain();
        dir = mkdtempSync(join(tmpdir(), 'admin-offer-'));
        const proxySeed = seed('admin-offer-proxy');
        const { address: proxyAddress } = await net.deployProxy({ seed: proxySeed, clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: 'wss://127.0.0.1:2/' });
        const { wallet } = await net.fundWallet('admin-offer-ops', '50');
        agent = new ProxyAgent({
            chain: net.newChain(),
            wallet,
            proxyAddress,
            seed: proxySeed,
            tee: net.tee,
            quotePolicy: net.quotePolicy,
            ledgerPath: join(dir, 'ledger.sqlite'),
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            rootPollMs: 0,
            commitGuardMs: 0,
        });
        urls = await agent.start();
        w = await new TestWorker(net, 'offer-w', 1000n).setup(proxyAddress, chain);
        client = await new TestClient(net, 'offer-c').setup(proxyAddress, chain);
        await (await w.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        await (await client.connect(urls.clientUrl)).next((f) => f.type === 'hello_ok');
    });

    afterAll(async () => {
        w?.close();
        client?.close();
        await agent?.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('routes and bills at the new coefficient once the proxy answered offer_ok; a client cap below it finds NO_WORKER', async () => {
        const before = await client.request({ maxCoefficient: 2000n });
        expect((before.end as ResponseEndFrame).cost).toBe(costAt(1000n));
        expect(await offer(1, [{ name: net.model.name, coefficient: 1500n }])).toMatchObject({ type: 'offer_ok', seq: 1 });
        expect(routed()).toEqual({ [net.model.name]: 1500n });
        signAt(1500n);
        const after = await client.request({ maxCoefficient: 2000n });
        expect((after.end as ResponseEndFrame).cost).toBe(costAt(1500n));
        const capped = await client.request({ maxCoefficient: 1200n });
        expect(capped.end).toMatchObject({ type: 'response_error', code: 'NO_WORKER', retryable: true });
    });

    it('attack: a worker that raises its coefficient while a request is in flight and signs at the new one is refused (RECEIPT_INVALID), nothing booked', async () => {
        w.mode = 'hold';
        const id = randomBytes(16).toString('hex');
        const pending = client.request({ id, maxCoefficient: 5000n });
        const until = Date.now() + 8000;
        while (!w.requests.some((r) => r.id === id) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        const bookedBefore = delivered();
        // Routed at 1500; now the worker announces 5000 (within this client's cap) and bills the request at it.
        expect(await offer(2, [{ name: net.model.name, coefficient: 5000n }])).toMatchObject({ type: 'offer_ok', seq: 2 });
        w.send({ type: 'response_start', v: 1, id, status: 200, headers: { 'content-type': 'application/json' } });
        w.send({ type: 'response_chunk', v: 1, id, seq: 0, data: 'x'.repeat(1200) });
        const m = meterAndSign({ requestId: id, modelId: modelId(net.model.name), usage: WORKER_USAGE, prices: net.model, coefficient: 5000n, workerKeys: w.keys, clock: { now: () => Date.now() } });
        w.send({ type: 'response_end', v: 1, id, usage: WORKER_USAGE, cost: m.cost, receipt: m.receipt });
        const r = await pending;
        expect(r.end).toMatchObject({ type: 'response_error', code: 'RECEIPT_INVALID', retryable: false });
        expect(delivered()).toBe(bookedBefore);
        await w.log.waitClosed();
        // Back with an honest hello at 1000.
        w.mode = 'ok';
        signAt(1000n);
        await (await w.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        expect(routed()).toEqual({ [net.model.name]: 1000n });
    });

    it('checks an offer like the hello: an unregistered model, a duplicate, a coefficient past 2^32 − 1 or 33 models change nothing', async () => {
        const before = routed();
        expect(await offer(3, [{ name: 'not/registered', coefficient: 1n }])).toMatchObject({ type: 'error', code: 'MODEL_NOT_REGISTERED', fatal: false });
        const raw = (models: unknown[]) => {
            const from = w.log.frames.length;
            w.ws.send(JSON.stringify({ type: 'offer', v: 1, seq: 4, models }));
            return w.log.next((f) => f.type === 'error' || f.type === 'offer_ok', 8000, from);
        };
        const m = { name: net.model.name, coefficient: '1' };
        expect(await raw([m, m])).toMatchObject({ type: 'error', code: 'WIRE_BAD_FIELD', fatal: false });
        expect(await raw([{ ...m, coefficient: '4294967296' }])).toMatchObject({ type: 'error', code: 'WIRE_BAD_FIELD' });
        expect(await raw([{ ...m, coefficient: '-1' }])).toMatchObject({ type: 'error', code: 'WIRE_BAD_FIELD' });
        expect(await raw(Array.from({ length: 33 }, (_, i) => ({ name: `m${i}`, coefficient: '1' })))).toMatchObject({ type: 'error', code: 'WIRE_BAD_FIELD' });
        expect(routed()).toEqual(before);
        expect(w.log.closed).toBe(false);
        expect((await client.request({ maxCoefficient: 1000n })).end.type).toBe('response_end');
    });

    it('an empty offer takes the worker out of routing (NO_WORKER), the next one brings it back', async () => {
        expect(await offer(5, [])).toMatchObject({ type: 'offer_ok', seq: 5 });
        expect((await client.request()).end).toMatchObject({ type: 'response_error', code: 'NO_WORKER' });
        expect(await offer(6, [{ name: net.model.name, coefficient: 1000n }])).toMatchObject({ type: 'offer_ok', seq: 6 });
        expect((await client.request()).end.type).toBe('response_end');
    });

    it('a client cannot send an offer (WIRE_DIRECTION, fatal)', async () => {
        const c = new TestClient(net, 'offer-c');
        Object.assign(c, { keys: client.keys, identity: client.identity, channel: client.channel, wallet: client.wallet });
        const log = await c.connect(urls.clientUrl);
        await log.next((f) => f.type === 'hello_ok');
        c.ws.send(JSON.stringify({ type: 'offer', v: 1, seq: 1, models: [] }));
        expect(await log.next((f) => f.type === 'error')).toMatchObject({ code: 'WIRE_DIRECTION', fatal: true });
        await log.waitClosed();
        expect(routed()).toEqual({ [net.model.name]: 1000n });
    });
});
