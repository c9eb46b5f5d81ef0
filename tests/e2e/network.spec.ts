// The whole network over real sockets: the devnet chain server, one proxy, two workers on reference backends and one
// client with its OpenAI-compatible endpoint, driven by the official `openai` package. Nothing of ours is mocked:
// real RA-TLS (simulated TEE quotes verified by the production verifier), real SQLite ledger, real signatures, real
// TVM. The backends are the reference test model (an external system's stand-in).
import OpenAI from 'openai';
import { Address, toNano } from '@ton/core';
import { keyPairFromSeed, sign } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { mkdtempSync, rmSync } from 'fs';
import { freePort } from '../../agents/core/net';
import { tmpdir } from 'os';
import { join } from 'path';
import { WebSocket } from 'ws';
import { AgentNetwork, seed, startAgentNetwork } from '../../fixtures/agent-network';
import { ProxyAgent } from '../../agents/proxy/agent';
import { WorkerAgent } from '../../agents/worker/runner';
import { CocoonClient } from '../../agents/client/runner';
import { OpenAIServer } from '../../agents/client/server';
import { ReferenceBackend } from '../../agents/backend/reference';
import { TEST_MODEL } from '../../agents/backend/test-model';
import { connectRaTls, KeyIdentity, PeerVerifier } from '../../agents/core/transport';
import { encodeFrame, parseFrame, PROTOCOL_VERSION } from '../../agents/core/wire';
import { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { toUint256, voucherPayload } from '../../wrappers/payloads';
import { workerShare } from '../../agents/proxy/ledger';
import { GLOBAL_ID } from '../../fixtures/network';
import { requestBound } from '../../agents/proxy/admission';

jest.setTimeout(120_000);

const until = async (what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000) => {
    const end = Date.now() + timeoutMs;
    while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
    }
};

describe('end to end: client → proxy → two workers', () => {
    let net: AgentNetwork;
    let dir: string;
    let proxyAddress: Address;
    let ports: { client: number; worker: number; stats: number };
    let proxyWallet: Awaited<ReturnType<AgentNetwork['fundWallet']>>;
    let proxy: ProxyAgent;
    const backends: ReferenceBackend[] = [];
    const workers: WorkerAgent[] = [];
    const workerWallets: Address[] = [];
    let client: CocoonClient;
    let api: OpenAIServer;
    let openai: OpenAI;
    /** Cost of every response the client accepted (its receipts). */
    const costs: bigint[] = [];

    const startProxy = async () => {
        proxy = new ProxyAgent({
            chain: net.newChain(),
            wallet: proxyWallet.wallet,
            proxyAddress,
            seed: seed('e2e-proxy'),
            tee: net.tee,
            quotePolicy: net.quotePolicy,
            ledgerPath: join(dir, 'ledger.sqlite'),
            clientPort: ports.client,
            workerPort: ports.worker,
            statsPort: ports.stats,
            redeemThreshold: toNano('1000'), // settle() only, so the test controls when money moves
            payoutThreshold: toNano('1000'),
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            rootPollMs: 200,
            commitGuardMs: 0,
        });
        await proxy.start();
    };

    const startWorker = async (i: number) => {
        const { wallet } = await net.fundWallet(`e2e-worker-${i}`, '20');
        workerWallets[i] = wallet.address;
        const w = new WorkerAgent({
            chain: net.newChain(),
            wallet,
            seed: seed(`e2e-worker-${i}`),
            tee: net.tee,
            quotePolicy: net.quotePolicy,
            models: [{ name: TEST_MODEL.id, coefficient: 1000n + BigInt(i) * 100n }],
            backendUrl: backends[i].url,
            capacity: 8,
            payoutThreshold: toNano('1000'),
            statePath: join(dir, `worker-${i}.json`),
            rootPollMs: 200,
            reconnect: { baseMs: 50, maxMs: 500 },
        });
        await w.start();
        workers[i] = w;
    };

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-e2e-'));
        // A small credit window, so a client that never signs is cut off after a few requests (admission holds each
        // request's worst case against it, so it must still fit a dozen concurrent small requests).
        net = await startAgentNetwork({ params: { creditWindow: toNano('0.01') } });
        ports = { client: await freePort(), worker: await freePort(), stats: await freePort() };
        const deployed = await net.deployProxy({ seed: seed('e2e-proxy'), clientEndpoint: `wss://127.0.0.1:${ports.client}/`, workerEndpoint: `wss://127.0.0.1:${ports.worker}/` });
        proxyAddress = deployed.address;
        proxyWallet = await net.fundWallet('e2e-proxy-wallet', '20');
        await startProxy();
        for (let i = 0; i < 2; i++) {
            const b = new ReferenceBackend({ tokenDelayMs: 5 });
            await b.start();
            backends.push(b);
            await startWorker(i);
        }
        const { wallet } = await net.fundWallet('e2e-client', '20');
        client = new CocoonClient({
            chain: net.newChain(),
            wallet,
            seed: seed('e2e-client'),
            quotePolicy: net.quotePolicy,
            statePath: join(dir, 'client.json'),
            proxy: proxyAddress,
            deposit: toNano('2'),
            rootPollMs: 200,
            reconnectMaxMs: 500,
            log: (event, fields) => process.env.E2E_LOG && console.log('client', event, fields),
        });
        await client.open();
        await client.connect();
        api = new OpenAIServer({ client });
        const { url } = await api.start();
        openai = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
        await until('both workers to be routable', async () => (await client.listModels()).some((m) => m.id === TEST_MODEL.id && m.workers === 2));
    });

    afterAll(async () => {
        await api?.stop();
        await client?.stop();
        for (const w of workers) await w?.stop();
        await proxy?.stop();
        for (const b of backends) await b.stop();
        await net?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    it('lists the registered model that has workers', async () => {
        const models = await openai.models.list();
        expect(models.data.map((m) => m.id)).toEqual([TEST_MODEL.id]);
    });

    it('serves a non-streaming chat completion with usage and its cost', async () => {
        const r = await openai.chat.completions.create({ model: TEST_MODEL.id, messages: [{ role: 'user', content: 'one two three' }], max_tokens: 8 });
        expect(r.choices[0].message.content).toBe('one two three this is a deterministic reply');
        expect(r.choices[0].finish_reason).toBe('length');
        expect(r.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 8, total_tokens: 11 });
        const cost = BigInt((r.usage as unknown as { cost_nanoton: string }).cost_nanoton);
        expect(cost).toBeGreaterThan(0n);
        costs.push(cost);
    });

    it('streams a chat completion in OpenAI chunks, with usage when asked', async () => {
        const stream = await openai.chat.completions.create({
            model: TEST_MODEL.id,
            messages: [{ role: 'user', content: 'stream me please' }],
            max_tokens: 6,
            stream: true,
            stream_options: { include_usage: true },
        });
        let text = '';
        let usage: (OpenAI.CompletionUsage & { cost_nanoton?: string }) | undefined;
        for await (const chunk of stream) {
            text += chunk.choices[0]?.delta?.content ?? '';
            if (chunk.usage) usage = chunk.usage;
        }
        expect(text).toBe('stream me please this is a');
        expect(usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 6 });
        costs.push(BigInt(usage!.cost_nanoton!));
    });

    it('serves legacy completions, streaming and not, and spreads load over both workers', async () => {
        // Concurrent requests: the proxy's expected-latency routing spreads them over both workers.
        const replies = await Promise.all(
            Array.from({ length: 12 }, (_, i) => openai.completions.create({ model: TEST_MODEL.id, prompt: `prompt number ${i}`, max_tokens: 4 })),
        );
        replies.forEach((r, i) => {
            expect(r.choices[0].text).toBe(`prompt number ${i} this`);
            costs.push(BigInt((r.usage as unknown as { cost_nanoton: string }).cost_nanoton));
        });
        const stream = await openai.completions.create({ model: TEST_MODEL.id, prompt: 'a b', max_tokens: 3, stream: true, stream_options: { include_usage: true } });
        let text = '';
        for await (const c of stream) {
            text += c.choices[0]?.text ?? '';
            if (c.usage) costs.push(BigInt((c.usage as unknown as { cost_nanoton: string }).cost_nanoton));
        }
        expect(text).toBe('a b this');
        // Both workers served something (their backends saw requests).
        expect(backends.every((b) => b.received.length > 0)).toBe(true);
    });

    it('after settlement, on-chain balances equal the sum of the receipts', async () => {
        const channel = client.channel;
        const total = costs.reduce((a, b) => a + b, 0n);
        await until('the last voucher to reach the proxy', () => proxy.stats().ledger.vouchers === total);
        await proxy.settle({ force: true });
        const chain = net.newChain();
        const state = await chain.getClientChannelState(channel);
        expect(state!.redeemed).toBe(total);
        await until('payout frames to reach the workers', () => workers.every((w) => Object.values(w.stats().earned).some((a) => a > 0n)), 10_000);
        for (const w of workers) await w.claimNow();
        const commissionBps = Number(net.params.commissionBps);
        // Each receipt's worker share, summed per worker, is what each WorkerChannel paid out.
        const paid: bigint[] = [];
        for (const wallet of workerWallets) {
            const wc = await WorkerChannelWrapper.create({ proxy: proxyAddress, worker: wallet, proxyKey: toUint256(keyPairFromSeed(seed('e2e-proxy')).publicKey), root: net.root, terms: (await chain.getProxyState(proxyAddress))!.terms! });
            paid.push((await chain.getWorkerChannelState(wc.address))!.paid);
        }
        const ledgerEarned = proxy.stats().ledger.earned;
        expect(paid.reduce((a, b) => a + b, 0n)).toBe(ledgerEarned);
        // ledger earned = Σ workerShare(cost) over the same receipts the client paid for
        expect(ledgerEarned).toBe(costs.reduce((a, c) => a + workerShare(c, commissionBps), 0n));
    });

    it('a worker killed mid-stream ends the request with a clear error and charges nobody for it', async () => {
        for (const b of backends) b.tokenDelayMs = 100;
        const before = (await client.balances()).cumulative;
        const deliveredBefore = proxy.stats().ledger.delivered;
        const stream = await openai.chat.completions.create({ model: TEST_MODEL.id, messages: [{ role: 'user', content: 'long answer' }], max_tokens: 40, stream: true });
        const it = stream[Symbol.asyncIterator]();
        await it.next(); // the first chunk arrived: the request is streaming
        const serving = workers.findIndex((w) => w.stats().inFlight > 0);
        expect(serving).toBeGreaterThanOrEqual(0);
        await workers[serving].stop();
        let error: unknown;
        try {
            for (;;) if ((await it.next()).done) break;
        } catch (e) {
            error = e;
        } finally {
            for (const b of backends) b.tokenDelayMs = 5;
        }
        expect(error).toMatchObject({ code: 'worker_lost' });
        expect((await client.balances()).cumulative).toBe(before);
        expect(proxy.stats().ledger.delivered).toBe(deliveredBefore);
        await startWorker(serving);
        await until('the worker to come back', async () => (await client.listModels()).some((m) => m.workers === 2));
    });

    it('a restarted proxy resumes its ledger: no double payment', async () => {
        const total = () => costs.reduce((a, b) => a + b, 0n);
        await proxy.stop();
        await startProxy();
        await until('the client to reconnect', () => client.connected);
        const r = await openai.chat.completions.create({ model: TEST_MODEL.id, messages: [{ role: 'user', content: 'after restart' }], max_tokens: 3 });
        costs.push(BigInt((r.usage as unknown as { cost_nanoton: string }).cost_nanoton));
        await until('the voucher', () => proxy.stats().ledger.vouchers === total());
        await proxy.settle({ force: true });
        const state = await net.newChain().getClientChannelState(client.channel);
        expect(state!.redeemed).toBe(total());
        expect(proxy.stats().ledger.delivered).toBe(total());
    });

    describe('refusals with typed errors', () => {
        /** A bare client speaking frames, with its own funded channel. */
        async function rawClient(label: string) {
            const s = seed(label);
            const { wallet } = await net.fundWallet(label, '10');
            const chain = net.newChain();
            const cfg = await chain.getRootConfig();
            const info = cfg.proxies.get(proxyAddress.toRawString())!;
            const ch = await ClientChannelWrapper.create({ proxy: proxyAddress, client: wallet.address, clientKey: toUint256(keyPairFromSeed(s).publicKey), proxyKey: info.enclaveKey, closeDelay: cfg.params.clientCloseDelay, code: cfg.childCode.clientCode });
            await chain.open(ch).sendTopUp(wallet.sender(), toNano('1'));
            const conn = await connectRaTls(info.clientEndpoint, await KeyIdentity.create({ seed: s }), new PeerVerifier({ quote: net.quotePolicy, isImageAllowed: (h) => cfg.proxyImages.has(h) }));
            const inbox: ReturnType<typeof parseFrame<'proxy_to_client'>>[] = [];
            conn.ws.on('message', (m) => inbox.push(parseFrame(m.toString(), 'proxy_to_client')));
            const send = (f: Parameters<typeof encodeFrame>[0]) => conn.ws.send(encodeFrame(f, 'client_to_proxy'));
            send({ type: 'hello', v: PROTOCOL_VERSION, minV: PROTOCOL_VERSION, role: 'client', channel: ch.address.toString() });
            const next = async (...types: string[]) => {
                await until(`a ${types.join('/')} frame`, () => inbox.some((f) => types.includes(f.type)), 20_000);
                return inbox.splice(inbox.findIndex((f) => types.includes(f.type)), 1)[0];
            };
            await next('hello_ok');
            return { ws: conn.ws as WebSocket, send, next, channel: ch.address, key: keyPairFromSeed(s) };
        }
        const request = (model = TEST_MODEL.id) => ({
            type: 'request' as const,
            v: PROTOCOL_VERSION,
            id: randomBytes(16).toString('hex'),
            model,
            endpoint: 'chat' as const,
            stream: false,
            maxTokens: 5,
            maxCoefficient: 2000n,
            body: { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
        });

        it('refuses a voucher with a bad signature and books nothing', async () => {
            const c = await rawClient('e2e-raw-voucher');
            c.send(request());
            const end = (await c.next('response_end')) as { cost: bigint };
            expect(end.cost).toBeGreaterThan(0n);
            const forged = sign(voucherPayload(c.channel, end.cost, GLOBAL_ID).hash(), keyPairFromSeed(seed('someone-else')).secretKey);
            c.send({ type: 'voucher', v: PROTOCOL_VERSION, amount: end.cost, signature: forged.toString('hex') });
            expect(await c.next('error')).toMatchObject({ code: 'VOUCHER_INVALID' });
            c.ws.close();
        });

        it('refuses a client past its credit window until it signs', async () => {
            const c = await rawClient('e2e-raw-credit');
            const window = net.params.creditWindow;
            // Serve unsigned requests until the next one's worst case no longer fits in the window: admission refuses it.
            const big = () => ({ ...request(), maxTokens: 10, body: { model: TEST_MODEL.id, messages: [{ role: 'user', content: 'x '.repeat(4000) }], max_tokens: 10 } });
            const bound = requestBound({ maxTokens: 10, contextLength: net.model.contextLength, prices: net.model, coefficient: 2000n });
            let delivered = 0n;
            for (let i = 0; i < 10_000 && delivered < window; i++) {
                c.send(big());
                const f = await c.next('response_end', 'response_error');
                if (f.type === 'response_error') {
                    expect(f).toMatchObject({ code: 'CREDIT_WINDOW_EXCEEDED', retryable: false });
                    break;
                }
                delivered += (f as { cost: bigint }).cost;
            }
            expect(delivered).toBeLessThanOrEqual(window);
            expect(delivered + bound).toBeGreaterThan(window);
            c.send(big());
            expect(await c.next('response_error')).toMatchObject({ code: 'CREDIT_WINDOW_EXCEEDED' });
            // Signing what was delivered opens the window again.
            c.send({ type: 'voucher', v: PROTOCOL_VERSION, amount: delivered, signature: sign(voucherPayload(c.channel, delivered, GLOBAL_ID).hash(), c.key.secretKey).toString('hex') });
            await c.next('payment_status');
            c.send(request());
            expect((await c.next('response_end')).type).toBe('response_end');
            c.ws.close();
        });
    });
});
