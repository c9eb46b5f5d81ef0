// The OpenAI surface under abuse (spec/openai.md, spec/threat-model.md): a bad field costs nothing, a backend that
// claims more tokens than n × max_tokens is cut to the bound, the per-request headers can lower the client's caps but
// never raise them, and /v1/models shows each model's load. Real client → proxy → worker → reference backend.
import type OpenAI from 'openai';
import { MAX_TIMEOUT_MS } from '../../../agents/client/server';
import { apiError, costOf, MODEL, OpenAIStack, startOpenAIStack } from './stack';
import { until } from '../../helpers/money-stack';

describe('OpenAI surface: abuse gains nothing', () => {
    let s: OpenAIStack;
    beforeAll(async () => {
        s = await startOpenAIStack('oa-abuse');
    });
    afterAll(async () => {
        await s?.stop();
    });
    afterEach(() => {
        s.stack.backend.faults = {};
    });

    const chat = (extra: Record<string, unknown> = {}): OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming => ({
        model: MODEL,
        messages: [{ role: 'user', content: 'a b' }],
        max_tokens: 4,
        ...extra,
    });

    describe.each(['sealed', 'plain'] as const)('%s', (privacy) => {
        const side = () => s.sides[privacy];

        it('an unknown field is a 400 naming it, the backend never sees the request, and nothing is charged', async () => {
            const { openai, client } = side();
            await client.vouchersSettled();
            const cumulative = (await client.balances()).cumulative;
            const delivered = s.delivered();
            const received = s.stack.backend.received.length;
            const e = await apiError(openai.chat.completions.create({ ...chat(), frobnicate: true } as never));
            expect([e.status, e.code, e.param]).toEqual([400, 'unknown_field', 'frobnicate']);
            expect(e.message).toContain("'frobnicate'");
            expect(s.stack.backend.received.length).toBe(received);
            expect(s.delivered()).toBe(delivered);
            await client.vouchersSettled();
            expect((await client.balances()).cumulative).toBe(cumulative);
        });

        it('a field the backend itself refuses comes back as backend_error, and nothing is charged', async () => {
            const { openai } = side();
            s.stack.backend.faults = { failWith: { status: 400, code: 'invalid_value', message: 'reasoning_effort minimal is not supported' } };
            const before = s.delivered();
            const e = await apiError(openai.chat.completions.create(chat({ reasoning_effort: 'minimal' })));
            expect([e.status, e.code]).toEqual([502, 'backend_error']);
            expect(e.message).toContain('HTTP 400');
            expect(s.delivered()).toBe(before);
        });

        it('attack: a backend claiming 3,000,000 tokens for n = 3 × max_tokens 4 is billed at most 12', async () => {
            const { openai } = side();
            s.stack.backend.faults = { lyingUsage: { completionTokens: 3_000_000 } };
            const before = s.delivered();
            const r = await openai.chat.completions.create(chat({ n: 3 }));
            const charged = s.delivered() - before;
            // The worker clamps to the frame's budget n × max_tokens before signing; the response says what was signed.
            expect(r.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 12 });
            expect(charged).toBe(costOf(r.usage).cost);
            expect(costOf(r.usage).usage.completion).toBe(12n);
        });

        it('attack: n above MAX_CHOICES (128) is refused before the backend, nothing charged', async () => {
            const { client } = side();
            const received = s.stack.backend.received.length;
            const before = s.delivered();
            const events = client.request({ endpoint: 'chat', body: chat({ n: 200 }) as unknown as Record<string, unknown> });
            await expect(events.next()).rejects.toMatchObject({ details: { wireCode: 'REQUEST_INVALID_FIELD' } });
            expect(s.stack.backend.received.length).toBe(received);
            expect(s.delivered()).toBe(before);
        });

        it('X-Cocoon-Max-Coefficient lowers the cap (below the worker: no worker, nothing charged) and may not raise it', async () => {
            const { post, client } = side();
            const ok = await post('/chat/completions', chat(), { 'x-cocoon-max-coefficient': '1000' });
            expect(ok.status).toBe(200);
            expect(client.lastReceipt?.coefficient).toBe(1000n);

            const before = s.delivered();
            const received = s.stack.backend.received.length;
            const low = await post('/chat/completions', chat(), { 'x-cocoon-max-coefficient': '999' });
            expect(low.status).toBe(503);
            expect(((await low.json()) as { error: { code: string } }).error.code).toBe('no_worker_available');

            const high = await post('/chat/completions', chat(), { 'x-cocoon-max-coefficient': String(client.maxCoefficient + 1n) });
            expect(high.status).toBe(400);
            expect(((await high.json()) as { error: unknown }).error).toMatchObject({ code: 'invalid_value', param: 'x-cocoon-max-coefficient' });
            // The SDK holds the same line for callers that skip the HTTP layer.
            const sdk = client.request({ endpoint: 'chat', body: chat() as unknown as Record<string, unknown>, maxCoefficient: client.maxCoefficient + 1n });
            await expect(sdk.next()).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { key: 'maxCoefficient' } });
            for (const bad of ['-1', '1.5', 'cheap', '99999999999']) {
                const r = await post('/chat/completions', chat(), { 'x-cocoon-max-coefficient': bad });
                expect(r.status).toBe(400);
            }
            expect(s.stack.backend.received.length).toBe(received);
            expect(s.delivered()).toBe(before);
        });

        it('X-Cocoon-Timeout-Ms: a request past its deadline is cancelled with 504; bad values are 400', async () => {
            const { post } = side();
            s.stack.backend.faults = { stallAfterChunks: 0 }; // the backend never answers
            const before = s.delivered();
            const r = await post('/chat/completions', chat(), { 'x-cocoon-timeout-ms': '300' });
            expect(r.status).toBe(504);
            expect(((await r.json()) as { error: { code: string } }).error.code).toBe('timeout');
            expect(s.delivered()).toBe(before); // nothing was generated, nothing is billed
            s.stack.backend.faults = {};
            for (const bad of ['0', String(MAX_TIMEOUT_MS + 1), 'soon']) {
                const b = await post('/chat/completions', chat(), { 'x-cocoon-timeout-ms': bad });
                expect(b.status).toBe(400);
                expect(((await b.json()) as { error: unknown }).error).toMatchObject({ code: 'invalid_value', param: 'x-cocoon-timeout-ms' });
            }
            expect((await post('/chat/completions', chat(), { 'x-cocoon-timeout-ms': String(MAX_TIMEOUT_MS) })).status).toBe(200);
        });
    });

    it('/v1/models shows the model with its workers and free capacity, which an in-flight request uses', async () => {
        const { openai, post } = s.sides.plain;
        const load = async () => (await openai.models.retrieve(MODEL)) as unknown as { workers: number; free_capacity: number };
        await until('the worker to be idle', async () => (await load()).free_capacity === 64);
        expect(await load()).toMatchObject({ workers: 1, free_capacity: 64 });
        s.stack.backend.faults = { stallAfterChunks: 0 };
        const ctrl = new AbortController();
        const pending = post('/chat/completions', chat(), {}, ctrl.signal).catch(() => undefined);
        await until('the request to take a slot', async () => (await load()).free_capacity === 63);
        ctrl.abort(); // the app leaves: the request is cancelled and its slot freed
        await pending;
        await until('the slot to be free again', async () => (await load()).free_capacity === 64);
    });
});
