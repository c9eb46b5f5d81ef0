// The client end to end over real sockets: the devnet chain (channels really deployed, topped up, withdrawn, closed),
// a raw-frame test proxy registered in Root that serves sealed requests with real HPKE, the reference backend and
// real signed receipts, and the official `openai` package against the client's OpenAI-compatible server.
import { WithdrawWindow } from '../../../wrappers/ClientChannel';
import { mkdtempSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { toNano } from '@ton/core';
import OpenAI, { APIError } from 'openai';
import { AgentNetwork, seed, startAgentNetwork } from '../../../fixtures/agent-network';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { ChainWallet } from '../../../agents/core/chain';
import { cost, TokenUsage } from '../../../agents/core/pricing';
import { ClientEvent, CocoonClient, CocoonClientOptions, OpenAIServer } from '../../../agents/client';
import { ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { RootWrapper } from '../../../wrappers/Root';
import { fakeWorker, FakeWorker, TestProxy } from './fake-proxy';
import { TEST_MODEL } from '../../../agents/backend/test-model';

const MODEL = TEST_MODEL.id;
const REPLY = 'this is a deterministic reply from the cocoon test model';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
    }
}

async function apiError(p: Promise<unknown>): Promise<APIError> {
    try {
        await p;
    } catch (e) {
        if (e instanceof APIError) return e;
        throw e;
    }
    throw new Error('expected an API error');
}

const usage = (prompt: number, completion: number): TokenUsage => ({ prompt: BigInt(prompt), cached: 0n, completion: BigInt(completion), reasoning: 0n });

describe('CocoonClient + OpenAIServer against a raw-frame proxy on the devnet', () => {
    let net: AgentNetwork;
    let backend: ReferenceBackend;
    let w1: FakeWorker;
    let w2: FakeWorker;
    let proxy: TestProxy;
    let dir: string;
    let statePath: string;
    let wallet: ChainWallet;
    let client: CocoonClient;
    let server: OpenAIServer;
    let url: string;
    let openai: OpenAI;
    const extra: { stop(): Promise<void> }[] = [];

    const newClient = (o: Partial<CocoonClientOptions> & Pick<CocoonClientOptions, 'wallet' | 'seed' | 'statePath'>) =>
        new CocoonClient({ chain: net.newChain(), quotePolicy: net.quotePolicy, proxy: proxy.address, rootPollMs: 200, reconnectMinMs: 50, deposit: toNano('2'), ...o });
    const priceOf = (u: TokenUsage, coefficient = 1000n) => cost(u, net.model, coefficient);
    const stateOf = (path: string, c: CocoonClient) => JSON.parse(readFileSync(path, 'utf8')).channels[c.channel.toRawString()];
    const chat = (content: string, more: Record<string, unknown> = {}) => ({ model: MODEL, messages: [{ role: 'user' as const, content }], ...more });

    async function startServer() {
        server = new OpenAIServer({ client });
        url = (await server.start()).url;
        openai = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
    }

    beforeAll(async () => {
        net = await startAgentNetwork({ params: { clientCloseDelay: 1n } });
        backend = new ReferenceBackend();
        await backend.start();
        w1 = await fakeWorker(net.tee, 'w1', 1000n);
        w2 = await fakeWorker(net.tee, 'w2', 1200n);
        proxy = await TestProxy.start({ net, seed: seed('client-spec/proxy'), workers: [w1, w2], backend });
        dir = mkdtempSync(join(tmpdir(), 'cocoon-client-'));
        statePath = join(dir, 'client.json');
        proxy.statePath = statePath;
        ({ wallet } = await net.fundWallet('client-spec/app'));
        client = newClient({ wallet, seed: seed('client-spec/app'), statePath });
        await client.open();
        await startServer();
    });

    afterAll(async () => {
        for (const x of extra) await x.stop().catch(() => undefined);
        await server?.stop();
        await client?.stop();
        await proxy?.stop();
        await backend?.stop();
        await net?.stop();
    });

    beforeEach(() => {
        proxy.behaviour = {};
        proxy.statePath = statePath;
        backend.faults = {};
        backend.tokenDelayMs = 0;
    });

    it('open() deploys the canonical channel with the deposit, persists its state and says hello with the seed key', async () => {
        const chain = net.newChain();
        const cfg = await chain.getRootConfig();
        const canonical = await ClientChannelWrapper.create({
            proxy: proxy.address,
            client: wallet.address,
            clientKey: BigInt('0x' + client.clientKey),
            proxyKey: cfg.proxies.get(proxy.address.toRawString())!.enclaveKey,
            closeDelay: 1n,
            code: cfg.childCode.clientCode,
        });
        expect(client.channel.equals(canonical.address)).toBe(true);
        const b = await client.balances();
        expect(b.onChain).toMatchObject({ state: 'open', balance: toNano('2'), redeemed: 0n });
        expect(b.proxyStatus).toMatchObject({ voucher: 0n, creditWindow: net.params.creditWindow });
        expect(stateOf(statePath, client)).toMatchObject({ proxy: proxy.address.toRawString(), cumulative: '0', signature: null });
        expect(proxy.hellos.at(-1)).toEqual({ channel: client.channel.toString(), key: client.clientKey });
    });

    it('lists the registered model with its attested workers (OpenAI list shape + extensions)', async () => {
        const list = await openai.models.list();
        expect(list.data).toEqual([
            expect.objectContaining({ id: MODEL, object: 'model', owned_by: 'cocoon-test', context_length: 4096, workers: 2, min_coefficient: 1000, created: expect.any(Number) }),
        ]);
        expect((list.data[0] as unknown as { pricing: Record<string, string> }).pricing).toMatchObject({ prompt: net.model.pricePrompt.toString(), completion: net.model.priceCompletion.toString() });
        expect((await openai.models.retrieve(MODEL)).id).toBe(MODEL);
        const e = await apiError(openai.models.retrieve('nobody/none'));
        expect([e.status, e.code]).toEqual([404, 'model_not_found']);
    });

    it('non-streaming chat: sealed to an attested worker, receipt checked, voucher persisted before it is sent', async () => {
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const before = (await client.balances()).cumulative;
        const seen = proxy.vouchers.length;
        const { data, response } = await openai.chat.completions.create(chat('hello cocoon world')).withResponse();
        expect(data.choices[0].message.content).toBe(`hello cocoon world ${REPLY}`);
        expect(data.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 13, total_tokens: 16 });
        const c = priceOf(usage(3, 13));
        expect(c).toBeGreaterThan(0n);
        expect((data.usage as unknown as { cost_nanoton: string }).cost_nanoton).toBe(c.toString());
        expect(response.headers.get('x-cocoon-cost-nanoton')).toBe(c.toString());
        const req = proxy.requests.at(-1)!;
        expect(response.headers.get('x-cocoon-request-id')).toBe(req.id);
        expect(req.body).toBeUndefined(); // the proxy never saw the prompt
        expect(req.sealed?.keyId).toBe(w1.hpke.keyId);
        expect(req.maxCoefficient).toBe(1500n);

        await waitFor(() => proxy.vouchers.length > seen, 'the voucher');
        const v = proxy.vouchers.at(-1)!;
        expect(v).toMatchObject({ amount: before + c, valid: true });
        // The state file already held this voucher when it reached the proxy.
        expect(JSON.parse(v.stateFile!).channels[client.channel.toRawString()]).toMatchObject({ cumulative: (before + c).toString(), signature: v.signature });
        expect((await client.balances()).cumulative).toBe(before + c);
        expect(proxy.voucher).toBe(before + c);
    });

    it('streams chat exactly as OpenAI does without include_usage, and still pays', async () => {
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const before = (await client.balances()).cumulative;
        const stream = await openai.chat.completions.create({ ...chat('stream me'), stream: true });
        const chunks = [];
        for await (const ch of stream) chunks.push(ch);
        expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe(`stream me ${REPLY}`);
        expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
        expect(chunks.some((c) => 'usage' in c)).toBe(false);

        const res = await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('raw', { stream: true })) });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const events = (await res.text()).split('\n\n').filter((e) => e.length > 0);
        expect(events.at(-1)).toBe('data: [DONE]');
        expect(events.every((e) => e.startsWith('data: ') && !e.includes('\n'))).toBe(true);
        expect(events.join('')).not.toContain('usage');
        const paid = priceOf(usage(2, 12)) + priceOf(usage(1, 11));
        await waitFor(async () => proxy.voucher === before + paid, 'both vouchers');
    });

    it('streams with include_usage: usage null on every chunk, then the usage chunk with cost_nanoton', async () => {
        const stream = await openai.chat.completions.create({ ...chat('count me'), stream: true, stream_options: { include_usage: true } });
        const chunks = [];
        for await (const ch of stream) chunks.push(ch);
        const last = chunks.at(-1)!;
        expect(last.choices).toEqual([]);
        expect(last.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 12, cost_nanoton: priceOf(usage(2, 12)).toString() });
        expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    });

    it('a chunk frame carrying several events (coalesced by the worker) reaches the app as the same SSE stream, and pays the same', async () => {
        const sse = async () => {
            const before = (await client.balances()).cumulative;
            const res = await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('batch me', { stream: true, stream_options: { include_usage: true } })) });
            expect(res.status).toBe(200);
            const text = await res.text();
            await waitFor(async () => (await client.balances()).cumulative > before, 'the voucher');
            // Ids and timestamps differ per response; everything else must be byte-identical.
            return { text: text.replace(/"id":"[^"]*"/g, '"id":""').replace(/"created":[0-9]+/g, '"created":0'), paid: (await client.balances()).cumulative - before };
        };
        const one = await sse();
        proxy.behaviour = { coalesce: 5 };
        try {
            const batched = await sse();
            expect(batched).toEqual(one);
            expect(one.text.split('\n\n').filter((e) => e.length > 0).length).toBeGreaterThan(10); // one data: event per chunk object
            expect(one.paid).toBe(priceOf(usage(2, 12)));
        } finally {
            proxy.behaviour = {};
        }
    });

    it('pays concurrent requests with strictly increasing vouchers', async () => {
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const before = (await client.balances()).cumulative;
        await waitFor(() => proxy.voucher === before, 'earlier vouchers to land');
        const seen = proxy.vouchers.length;
        const words = ['a', 'a b', 'a b c'];
        await Promise.all(words.map((w) => openai.chat.completions.create(chat(w))));
        const total = words.reduce((sum, w, i) => sum + priceOf(usage(i + 1, i + 11)), 0n);
        await waitFor(() => proxy.voucher === before + total, 'three vouchers');
        const amounts = proxy.vouchers.slice(seen).map((v) => v.amount);
        // One voucher per response, or fewer: responses that end while a voucher is being written are covered by the
        // next one (spec/client.md; the write no longer blocks the loop, so they do end meanwhile).
        expect(amounts.length).toBeGreaterThanOrEqual(1);
        expect(amounts.length).toBeLessThanOrEqual(3);
        expect(amounts.at(-1)).toBe(before + total);
        expect(amounts.every((a, i) => i === 0 || a > amounts[i - 1])).toBe(true);
        expect(proxy.vouchers.slice(seen).every((v) => v.valid)).toBe(true);
    });

    it('refuses a sealed response without its final chunk and pays nothing for it', async () => {
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const before = (await client.balances()).cumulative;
        proxy.behaviour.noFinal = true;
        const e = await apiError(openai.chat.completions.create(chat('cut short')));
        expect([e.status, e.code]).toEqual([502, 'protocol_error']);
        expect((await client.balances()).cumulative).toBe(before);
        proxy.behaviour.noFinal = false;
        await waitFor(() => client.connected, 'the reconnect');
    });

    it('attack 19: a proxy that rewrites a sealed response_start 200→500 is detected (HPKE_OPEN_FAILED) and signs no voucher; a plain error status is never paid', async () => {
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const before = (await client.balances()).cumulative;
        await waitFor(() => proxy.voucher === before, 'earlier vouchers to land');
        const seen = proxy.vouchers.length;
        const delivered = proxy.delivered;
        proxy.behaviour.rewriteStatus = 500;
        let caught: unknown;
        try {
            for await (const _ev of client.request({ endpoint: 'chat', body: chat('rewrite me') })) void _ev;
        } catch (e) {
            caught = e;
        }
        expect(caught).toMatchObject({ code: 'PROTOCOL_ERROR', details: expect.objectContaining({ wireCode: 'HPKE_OPEN_FAILED' }) });
        expect(proxy.delivered).toBeGreaterThan(delivered); // the worker part metered it; the client pays none of it
        await client.vouchersSettled();
        expect((await client.balances()).cumulative).toBe(before);
        expect(stateOf(statePath, client).cumulative).toBe(before.toString());
        expect(proxy.vouchers.length).toBe(seen);

        // Plain mode: the proxy sees the status anyway; a response under an error status is never paid for.
        const { wallet: w } = await net.fundWallet('client-spec/plain-19', '5');
        const path = join(dir, 'plain-19.json');
        const plain = newClient({ wallet: w, seed: seed('client-spec/plain-19'), statePath: path, privacy: 'plain', deposit: toNano('1') });
        extra.push(plain);
        await plain.open();
        const n = proxy.vouchers.length;
        caught = undefined;
        try {
            for await (const _ev of plain.request({ endpoint: 'chat', body: chat('rewrite me') })) void _ev;
        } catch (e) {
            caught = e;
        }
        expect(caught).toMatchObject({ code: 'UPSTREAM_ERROR', details: expect.objectContaining({ status: 500 }) });
        await plain.vouchersSettled();
        expect((await plain.balances()).cumulative).toBe(0n);
        expect(proxy.vouchers.length).toBe(n);
        proxy.behaviour.rewriteStatus = undefined;
        await waitFor(() => client.connected, 'the reconnect');
    });

    it('attack 11: a worker that signs its backend\'s inflated usage gets no voucher: beyond maxTokens, beyond the text received, above the cost cap', async () => {
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const before = (await client.balances()).cumulative;
        await waitFor(() => proxy.voucher === before, 'earlier vouchers to land');
        const seen = proxy.vouchers.length;
        const run = async (c: CocoonClient, body: Record<string, unknown>) => {
            try {
                for await (const _ev of c.request({ endpoint: 'chat', body })) void _ev;
            } catch (e) {
                return e;
            }
            return undefined;
        };
        // The test proxy's worker part signs whatever the backend reports (no bounds): 3,000,000 tokens for max_tokens 3.
        backend.faults = { lyingUsage: { completionTokens: 3_000_000 } };
        expect(await run(client, chat('drain me', { max_tokens: 3 }))).toMatchObject({ code: 'RECEIPT_INVALID', details: expect.objectContaining({ reason: 'RECEIPT_USAGE_BOUND' }) });
        await waitFor(() => client.connected, 'the reconnect');
        // Within maxTokens (1000) but above the 78 bytes of text the client unsealed: 500 tokens cannot be true.
        backend.faults = { lyingUsage: { completionTokens: 500 } };
        expect(await run(client, chat('hello brave new world', { max_tokens: 1000, stream: true }))).toMatchObject({ code: 'RECEIPT_INVALID', details: expect.objectContaining({ reason: 'RECEIPT_USAGE_BOUND' }) });
        backend.faults = {};
        await client.vouchersSettled();
        expect((await client.balances()).cumulative).toBe(before);
        expect(proxy.vouchers.length).toBe(seen);
        await waitFor(() => client.connected, 'the reconnect');

        // A configured per-request cap below an honest response's cost: refused too, nothing signed.
        const { wallet: w } = await net.fundWallet('client-spec/capped', '5');
        const capped = newClient({ wallet: w, seed: seed('client-spec/capped'), statePath: join(dir, 'capped.json'), deposit: toNano('1'), maxRequestCost: 1n });
        extra.push(capped);
        await capped.open();
        expect(await run(capped, chat('one two', { max_tokens: 3 }))).toMatchObject({ code: 'RECEIPT_INVALID', details: expect.objectContaining({ reason: 'RECEIPT_COST_CAP' }) });
        expect((await capped.balances()).cumulative).toBe(0n);
    });

    it('serves /v1/completions, streaming and not', async () => {
        const r = await openai.completions.create({ model: MODEL, prompt: 'one two', max_tokens: 3 });
        expect(r.choices[0]).toMatchObject({ text: 'one two this', finish_reason: 'length' });
        expect((r.usage as unknown as { cost_nanoton: string }).cost_nanoton).toBe(priceOf(usage(2, 3)).toString());
        const s = await openai.completions.create({ model: MODEL, prompt: 'a b c', max_tokens: 4, stream: true });
        let text = '';
        for await (const ch of s) text += ch.choices[0]?.text ?? '';
        expect(text).toBe('a b c this');
    });

    it('maps worker and proxy refusals to OpenAI errors and signs nothing for them', async () => {
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const cum = (await client.balances()).cumulative;
        await waitFor(() => proxy.voucher === cum, 'earlier vouchers to land');
        const seen = proxy.vouchers.length;
        let e = await apiError(openai.chat.completions.create({ ...chat('x'), functions: [{ name: 'f' }] }));
        expect([e.status, e.type, e.code, e.param]).toEqual([400, 'invalid_request_error', 'unknown_field', 'functions']);
        e = await apiError(openai.chat.completions.create(chat('x', { max_tokens: 0 })));
        expect([e.status, e.code, e.param]).toEqual([400, 'invalid_max_tokens', 'max_tokens']);
        e = await apiError(openai.chat.completions.create({ ...chat('x'), model: 'nobody/none' }));
        expect([e.status, e.code, e.param]).toEqual([404, 'model_not_found', 'model']);

        backend.faults = { failWith: { status: 400, code: 'context_length_exceeded', message: 'too long' } };
        e = await apiError(openai.chat.completions.create(chat('x')));
        expect([e.status, e.code, e.message]).toEqual([400, 'context_length_exceeded', '400 too long']);
        backend.faults = {};

        proxy.behaviour.failBefore = { code: 'CREDIT_WINDOW_EXCEEDED', retryable: false, count: 1 };
        e = await apiError(openai.chat.completions.create(chat('x')));
        expect([e.status, e.type, e.code]).toEqual([402, 'insufficient_quota', 'credit_window_exceeded']);
        proxy.behaviour.failBefore = { code: 'INSUFFICIENT_DEPOSIT', retryable: false, count: 1 };
        e = await apiError(openai.chat.completions.create(chat('x')));
        expect([e.status, e.code]).toEqual([402, 'insufficient_deposit']);

        const n = proxy.requests.length;
        proxy.behaviour.failBefore = { code: 'WORKER_BUSY', retryable: true, count: 10 };
        e = await apiError(openai.chat.completions.create(chat('x')));
        expect([e.status, e.type, e.code]).toEqual([503, 'server_error', 'no_worker_available']);
        // Re-sealed to each attested candidate once (two of them), never more than three attempts.
        const tried = proxy.requests.slice(n).map((r) => r.sealed?.keyId);
        expect(tried).toEqual([w1.hpke.keyId, w2.hpke.keyId]);
        expect(proxy.vouchers.length).toBe(seen);
    });

    it('re-seals to the next candidate after a retryable refusal before response_start', async () => {
        const n = proxy.requests.length;
        proxy.behaviour.failBefore = { code: 'WORKER_BUSY', retryable: true, count: 1 };
        const r = await openai.chat.completions.create(chat('retry please'));
        expect(r.choices[0].message.content).toBe(`retry please ${REPLY}`);
        const reqs = proxy.requests.slice(n);
        expect(reqs.map((x) => x.sealed?.keyId)).toEqual([w1.hpke.keyId, w2.hpke.keyId]);
        expect(reqs[0].id).not.toBe(reqs[1].id);
        // w2 bids 1.2x: the receipt is checked and paid at its coefficient.
        expect((r.usage as unknown as { cost_nanoton: string }).cost_nanoton).toBe(priceOf(usage(2, 12), 1200n).toString());
    });

    it.each(['cost', 'key', 'coefficient', 'frameCost'] as const)('refuses a bad receipt (%s): 502 receipt_invalid, no voucher, connection dropped', async (tamper) => {
        const seen = proxy.vouchers.length;
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const before = (await client.balances()).cumulative;
        const hellos = proxy.hellos.length;
        proxy.behaviour.tamper = tamper;
        const e = await apiError(openai.chat.completions.create(chat('cheat me')));
        expect([e.status, e.code]).toEqual([502, 'receipt_invalid']);
        expect((await client.balances()).cumulative).toBe(before);
        expect(stateOf(statePath, client).cumulative).toBe(before.toString());
        proxy.behaviour.tamper = undefined;
        await waitFor(() => proxy.hellos.length > hellos && client.connected, 'the reconnect');
        expect(proxy.vouchers.slice(seen).every((v) => v.amount <= before)).toBe(true);
        const ok = await openai.chat.completions.create(chat('honest now'));
        expect(ok.choices[0].message.content).toBe(`honest now ${REPLY}`);
    });

    it('ends a stream that fails mid-way with an SSE error event and no [DONE]', async () => {
        backend.faults = { dropAfterChunks: 3 };
        const res = await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('break here', { stream: true })) });
        const events = (await res.text()).split('\n\n').filter((e) => e.length > 0);
        expect(events.length).toBeGreaterThan(1);
        expect(JSON.parse(events.at(-1)!.slice('data: '.length))).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code: 'worker_lost' } });
        expect(events).not.toContain('data: [DONE]');

        const stream = await openai.chat.completions.create({ ...chat('break again'), stream: true });
        const e = await apiError((async () => {
            for await (const _ of stream) void _;
        })());
        expect(e.code).toBe('worker_lost');
    });

    it('cancels the request at the proxy when the app disconnects', async () => {
        backend.tokenDelayMs = 100;
        const ctrl = new AbortController();
        const res = await fetch(`${url}/chat/completions`, { method: 'POST', signal: ctrl.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('slow words here', { stream: true })) });
        const id = res.headers.get('x-cocoon-request-id')!;
        expect(id).toMatch(/^[0-9a-f]{32}$/);
        await res.body!.getReader().read();
        ctrl.abort();
        await waitFor(() => proxy.cancels.includes(id), 'the cancel frame');
    });

    it('checks HTTP input: JSON only, 1 MiB, known paths and methods', async () => {
        const post = (body: string, type = 'application/json', path = '/chat/completions') => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
        const err = async (r: Response) => [r.status, ((await r.json()) as { error: { code: string } }).error.code];
        expect(await err(await post('{nope'))).toEqual([400, 'invalid_json']);
        expect(await err(await post('[]'))).toEqual([400, 'invalid_body']);
        expect(await err(await post('{"messages":[]}'))).toEqual([400, 'missing_required_parameter']);
        expect(await err(await post('{}', 'text/plain'))).toEqual([415, 'unsupported_media_type']);
        expect(await err(await post(JSON.stringify({ model: MODEL, prompt: 'x'.repeat(1024 * 1024) }), 'application/json', '/completions'))).toEqual([413, 'body_too_large']);
        expect(await err(await fetch(`${url}/chat/completions`))).toEqual([405, 'method_not_allowed']);
        expect(await err(await post('{}', 'application/json', '/embeddings'))).toEqual([404, 'unknown_url']);
    });

    it('reconnects after the proxy drops the connection', async () => {
        const hellos = proxy.hellos.length;
        proxy.dropAll();
        await waitFor(() => proxy.hellos.length > hellos && client.connected, 'the reconnect');
        const r = await openai.chat.completions.create(chat('back again'));
        expect(r.choices[0].message.content).toBe(`back again ${REPLY}`);
    });

    it('a restarted client resumes its cumulative voucher and resends it to a proxy that lacks it', async () => {
        await waitFor(() => proxy.voucher > 0n, 'a voucher');
        await client.vouchersSettled(); // the state file's write now runs off the event loop: wait for vouchers in flight
        const cum = (await client.balances()).cumulative;
        expect(proxy.voucher).toBe(cum);
        await server.stop();
        await client.stop();
        proxy.voucher = 0n; // as if the proxy had lost the last voucher
        const seen = proxy.vouchers.length;
        client = newClient({ wallet, seed: seed('client-spec/app'), statePath });
        await client.open();
        expect((await client.balances()).cumulative).toBe(cum);
        await waitFor(() => proxy.vouchers.length > seen, 'the resent voucher');
        expect(proxy.vouchers.at(-1)).toMatchObject({ amount: cum, valid: true });
        await startServer();
        const r = await openai.chat.completions.create(chat('after restart'));
        const c = BigInt((r.usage as unknown as { cost_nanoton: string }).cost_nanoton);
        await waitFor(() => proxy.voucher === cum + c, 'the next voucher');
        expect(stateOf(statePath, client).cumulative).toBe((cum + c).toString());
    });

    it('plain mode: the body travels in the clear and receipts are checked against attested candidates', async () => {
        const { wallet: w } = await net.fundWallet('client-spec/plain');
        const path = join(dir, 'plain.json');
        const plain = newClient({ wallet: w, seed: seed('client-spec/plain'), statePath: path, privacy: 'plain', deposit: toNano('1') });
        extra.push(plain);
        await plain.open();
        proxy.statePath = path;
        proxy.behaviour.unlistPlainWorker = true;
        const body = chat('in the clear');
        const events: ClientEvent[] = [];
        for await (const ev of plain.request({ endpoint: 'chat', body })) events.push(ev);
        expect(proxy.requests.at(-1)!.body).toEqual(body);
        expect(events[0]).toMatchObject({ type: 'start', status: 200 });
        const end = events.at(-1)!;
        expect(end).toMatchObject({ type: 'end', worker: w1.keys.publicKey.toString('hex'), cost: priceOf(usage(3, 13)), cumulative: priceOf(usage(3, 13)) });
        expect(JSON.parse(events.filter((e) => e.type === 'chunk').map((e) => (e as { data: string }).data).join('')).choices[0].message.content).toBe(`in the clear ${REPLY}`);

        // The proxy picked a worker outside the candidates it listed (a proxy lists at most 16): the client asked for
        // that worker by the key its receipt names, verified its attestation and paid.
        expect(proxy.candidateQueries).toContainEqual({ workerKey: w1.keys.publicKey.toString('hex') });
        proxy.behaviour.unlistPlainWorker = false;

        proxy.behaviour.tamper = 'key';
        const run = async () => {
            for await (const _ of plain.request({ endpoint: 'chat', body })) void _;
        };
        await expect(run()).rejects.toMatchObject({ code: 'RECEIPT_INVALID', details: { reason: 'RECEIPT_MISMATCH' } });
        await plain.vouchersSettled();
        expect((await plain.balances()).cumulative).toBe(priceOf(usage(3, 13)));
    });

    it('attack 2: finishWithdraw after the request lapsed (withdrawAt + WithdrawWindow) is WITHDRAW_LAPSED, nothing sent', async () => {
        const { wallet: w } = await net.fundWallet('client-spec/lapse');
        let skewMs = 0;
        const c = newClient({ wallet: w, seed: seed('client-spec/lapse'), statePath: join(dir, 'lapse.json'), deposit: toNano('1'), clock: { now: () => Date.now() + skewMs, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) } });
        extra.push(c);
        await c.open();
        // The client's clock runs 2 minutes behind while it requests, so it does not finish the withdrawal itself
        // when the chain is slower than the devnet's short close delay.
        skewMs = -120_000;
        const wd = await c.withdraw(toNano('0.3'));
        expect(wd.finished).toBe(false);
        const st = (await c.balances()).onChain!;
        skewMs = (st.withdrawAt - Math.floor(Date.now() / 1000) + Number(WithdrawWindow) + 60) * 1000;
        const before = await w.getBalance();
        await expect(c.finishWithdraw()).rejects.toMatchObject({ code: 'WITHDRAW_LAPSED' });
        expect(await w.getBalance()).toBe(before);
        expect((await c.balances()).onChain).toMatchObject({ balance: toNano('1'), pendingWithdraw: toNano('0.3') });
    });

    it('deposit, top-up, withdraw and close really move TON', async () => {
        const { wallet: w } = await net.fundWallet('client-spec/chain');
        // While the test checks TOO_EARLY the client's clock runs a minute behind, so a loaded machine that takes longer
        // than the 1 s close delay between the request and the check cannot turn the refusal into a payout.
        let lagMs = 0;
        const c = newClient({ wallet: w, seed: seed('client-spec/chain'), statePath: join(dir, 'chain.json'), deposit: toNano('1'), clock: { now: () => Date.now() - lagMs, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) } });
        extra.push(c);
        await c.open();
        expect((await c.balances()).onChain).toMatchObject({ state: 'open', balance: toNano('1') });
        const w0 = await w.getBalance();
        expect(w0).toBeLessThan(toNano('99'));

        await c.topUp(toNano('0.5'));
        expect((await c.balances()).onChain?.balance).toBe(toNano('1.5'));
        const w1b = await w.getBalance();
        expect(w0 - w1b).toBeGreaterThanOrEqual(toNano('0.5'));
        expect(w0 - w1b).toBeLessThan(toNano('0.6'));

        await expect(c.withdraw(toNano('2'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
        lagMs = 60_000;
        const wd = await c.withdraw(toNano('0.4'));
        expect(wd.finished).toBe(false);
        await expect(c.finishWithdraw()).rejects.toMatchObject({ code: 'TOO_EARLY' });
        lagMs = 0;
        await sleep(Math.max(0, wd.withdrawAt * 1000 - Date.now()) + 1100);
        expect(await c.finishWithdraw()).toBe(toNano('0.4'));
        expect((await c.balances()).onChain).toMatchObject({ balance: toNano('1.1'), pendingWithdraw: 0n });
        const w2b = await w.getBalance();
        expect(w2b - w1b).toBeGreaterThan(toNano('0.3'));

        lagMs = 60_000;
        const cl = await c.close();
        expect(cl.waitMs).toBeGreaterThan(0);
        expect((await c.balances()).onChain?.state).toBe('closing');
        await expect(c.topUp(toNano('0.1'))).rejects.toMatchObject({ code: 'CHANNEL_CLOSED' });
        await expect(c.finishClose()).rejects.toMatchObject({ code: 'TOO_EARLY' });
        lagMs = 0;
        await sleep(Math.max(0, cl.closeAt * 1000 - Date.now()) + 1100);
        expect(await c.finishClose()).toBe(toNano('1.1'));
        expect((await c.balances()).onChain?.state ?? 'closed').toBe('closed');
        const w3 = await w.getBalance();
        expect(w3 - w2b).toBeGreaterThan(toNano('1'));
    });

    it('refuses a proxy whose TLS key is not its registered enclave key; picks a good proxy when not pinned', async () => {
        const bad = await TestProxy.start({ net, seed: seed('client-spec/bad-key'), tlsSeed: seed('client-spec/other-key'), workers: [w1], backend });
        extra.push(bad);
        const { wallet: w } = await net.fundWallet('client-spec/victim');
        const pinned = newClient({ wallet: w, seed: seed('client-spec/victim'), statePath: join(dir, 'victim.json'), proxy: bad.address });
        extra.push(pinned);
        await expect(pinned.open()).rejects.toMatchObject({ code: 'PROXY_REJECTED', details: { reason: 'KEY_MISMATCH' } });
        expect(await w.getBalance()).toBe(toNano('100')); // no deposit went anywhere
        expect(bad.hellos).toEqual([]);

        const free = newClient({ wallet: w, seed: seed('client-spec/victim'), statePath: join(dir, 'victim.json'), proxy: undefined, deposit: toNano('1') });
        extra.push(free);
        await free.open();
        expect(free.proxy.equals(proxy.address)).toBe(true);
    });

    it("disconnects when Root drops the proxy's image, refuses new opens, and reconnects when it is back", async () => {
        const image = BigInt('0x' + net.imageHashHex);
        await net.govern(RootWrapper.removeImageBody('proxy', image));
        await waitFor(() => !client.connected, 'the disconnect');
        const e = await apiError(openai.chat.completions.create(chat('blocked')));
        expect([e.status, e.code]).toEqual([502, 'proxy_rejected']);
        const { wallet: w } = await net.fundWallet('client-spec/late');
        const late = newClient({ wallet: w, seed: seed('client-spec/late'), statePath: join(dir, 'late.json') });
        extra.push(late);
        await expect(late.open()).rejects.toMatchObject({ code: 'PROXY_REJECTED', details: { reason: 'IMAGE_NOT_ALLOWED' } });

        await net.govern(RootWrapper.addImageBody('proxy', image));
        await waitFor(() => client.connected, 'the reconnect');
        const r = await openai.chat.completions.create(chat('allowed again'));
        expect(r.choices[0].message.content).toBe(`allowed again ${REPLY}`);
    });
});
