// The reference backend, driven by the official `openai` client and by raw HTTP for the exact SSE bytes.
import OpenAI from 'openai';
import { COEFFICIENT_ONE, cost, usageFromOpenAI } from '../../../agents/core/pricing';
import { countWords, FILLER, ReferenceBackend } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';

const MODEL = TEST_MODEL.id;

describe('ReferenceBackend', () => {
    let backend: ReferenceBackend;
    let client: OpenAI;

    beforeAll(async () => {
        backend = new ReferenceBackend();
        await backend.start();
        client = new OpenAI({ baseURL: backend.url + '/v1', apiKey: 'test', maxRetries: 0 });
    });
    afterAll(() => backend.stop());
    afterEach(() => {
        backend.faults = {};
        backend.tokenDelayMs = 0;
    });

    const post = (path: string, body: unknown) =>
        fetch(backend.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

    it('lists exactly one model, named and described as a test model', async () => {
        const models = [];
        for await (const m of client.models.list()) models.push(m);
        expect(models).toHaveLength(1);
        expect(models[0].id).toBe('cocoon-test/echo-1');
        expect(models[0].object).toBe('model');
        expect((models[0] as unknown as { description: string }).description).toMatch(/^Test model/);
        expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
    });

    it('answers a chat completion: echo of the last user message, then filler; usage counts words', async () => {
        const r = await client.chat.completions.create({
            model: MODEL,
            messages: [
                { role: 'system', content: 'You are terse.' },
                { role: 'user', content: 'first question here' },
                { role: 'assistant', content: 'ok' },
                { role: 'user', content: [{ type: 'text', text: 'hello   there\nworld' }] },
            ],
        });
        expect(r.object).toBe('chat.completion');
        expect(r.model).toBe(MODEL);
        expect(r.choices).toHaveLength(1);
        expect(r.choices[0].message.role).toBe('assistant');
        expect(r.choices[0].message.content).toBe(['hello', 'there', 'world', ...FILLER].join(' '));
        expect(r.choices[0].finish_reason).toBe('stop');
        // 3 + 3 + 1 + 3 words in the prompt; 3 + 10 generated.
        expect(r.usage).toEqual({
            prompt_tokens: 10,
            completion_tokens: 13,
            total_tokens: 23,
            prompt_tokens_details: { cached_tokens: 0 },
            completion_tokens_details: { reasoning_tokens: 0 },
        });
    });

    it('streams a chat completion in OpenAI chunks, with a final usage chunk', async () => {
        const stream = await client.chat.completions.create({
            model: MODEL,
            messages: [{ role: 'user', content: 'stream me please' }],
            stream: true,
            stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        const content = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
        expect(content).toBe(['stream', 'me', 'please', ...FILLER].join(' '));
        expect(chunks[0].choices[0].delta.role).toBe('assistant');
        for (const c of chunks) expect(c.object).toBe('chat.completion.chunk');
        expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
        const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
        expect(finish).toHaveLength(1);
        expect(finish[0].choices[0].finish_reason).toBe('stop');
        const last = chunks[chunks.length - 1];
        expect(last.choices).toEqual([]);
        expect(last.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 13, total_tokens: 16 });
        for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
    });

    it('writes the exact SSE framing: data lines, blank-line separators, [DONE] last', async () => {
        const res = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'a b' }], max_tokens: 3, stream: true });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const raw = await res.text();
        expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
        const events = raw.split('\n\n').filter(Boolean);
        for (const e of events) expect(e).toMatch(/^data: /);
        const objs = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
        // role chunk, 3 content chunks, finish chunk; no usage chunk without include_usage, and no usage field either.
        expect(objs.map((o) => o.choices[0].delta)).toEqual([{ role: 'assistant', content: '', refusal: null }, { content: 'a' }, { content: ' b' }, { content: ' this' }, {}]);
        expect(objs[objs.length - 1].choices[0].finish_reason).toBe('length');
        for (const o of objs) expect(o).not.toHaveProperty('usage');
    });

    it('serves /v1/completions, streaming and not', async () => {
        const r = await client.completions.create({ model: MODEL, prompt: 'once upon a time', max_tokens: 6 });
        expect(r.object).toBe('text_completion');
        expect(r.choices[0].text).toBe('once upon a time this is');
        expect(r.choices[0].finish_reason).toBe('length');
        expect(r.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });

        const s = await client.completions.create({ model: MODEL, prompt: 'x y', stream: true, stream_options: { include_usage: true } });
        let text = '';
        let usage: unknown = null;
        for await (const c of s) {
            text += c.choices[0]?.text ?? '';
            if (c.usage) usage = c.usage;
        }
        expect(text).toBe(['x', 'y', ...FILLER].join(' '));
        expect(usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 12, total_tokens: 14 });
    });

    it('honours max_tokens and max_completion_tokens with finish_reason "length"', async () => {
        const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'one two three four' }], max_tokens: 2 });
        expect(r.choices[0].message.content).toBe('one two');
        expect(r.choices[0].finish_reason).toBe('length');
        expect(r.usage?.completion_tokens).toBe(2);
        const r2 = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'one two three four' }], max_completion_tokens: 5 });
        expect(r2.choices[0].message.content).toBe('one two three four this');
        // Exactly the natural length still ends with "stop".
        const r3 = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'q' }], max_tokens: 11 });
        expect(r3.choices[0].finish_reason).toBe('stop');
    });

    it('answers bad input with OpenAI-shaped errors', async () => {
        const err = async (p: Promise<unknown>) => {
            try {
                await p;
            } catch (e) {
                return e as InstanceType<typeof OpenAI.APIError>;
            }
            throw new Error('expected an error');
        };
        const notFound = await err(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
        expect(notFound.status).toBe(404);
        expect(notFound.code).toBe('model_not_found');
        expect(notFound.param).toBe('model');
        expect(notFound.type).toBe('invalid_request_error');

        const missing = await err(client.chat.completions.create({ model: MODEL } as never));
        expect(missing.status).toBe(400);
        expect(missing.code).toBe('missing_required_parameter');
        expect(missing.param).toBe('messages');

        const n0 = await err(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 0 }));
        expect([n0.status, n0.code, n0.param]).toEqual([400, 'invalid_value', 'n']);

        const tooLong = await err(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5000 }));
        expect([tooLong.status, tooLong.code]).toEqual([400, 'context_length_exceeded']);

        const badType = await err(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 'ten' } as never));
        expect([badType.status, badType.code, badType.param]).toEqual([400, 'invalid_type', 'max_tokens']);

        const badJson = await post('/v1/chat/completions', '{"model": ');
        expect(badJson.status).toBe(400);
        expect(await badJson.json()).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_json' } });

        const badRole = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'wizard', content: 'x' }] });
        expect(((await badRole.json()) as { error: unknown }).error).toMatchObject({ code: 'invalid_value', param: 'messages[0].role' });

        const noUrl = await post('/v1/embeddings', { model: MODEL, input: 'x' });
        expect(noUrl.status).toBe(404);
        expect(((await noUrl.json()) as { error: { code: string } }).error.code).toBe('unknown_url');

        const big = await post('/v1/completions', { model: MODEL, prompt: 'x'.repeat(2 * 1024 * 1024) });
        expect(big.status).toBe(413);
    });

    it('bills the backend usage through usageFromOpenAI + cost()', async () => {
        const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'price this request now' }], max_tokens: 6 });
        const usage = usageFromOpenAI(r.usage);
        expect(usage).toEqual({ prompt: 4n, cached: 0n, completion: 6n, reasoning: 0n });
        // Root-style prices, nanoTON per 1M tokens: 0.5 TON prompt, 1.5 TON completion; bid 1.2x.
        const prices = { pricePrompt: 500_000_000n, priceCached: 50_000_000n, priceCompletion: 1_500_000_000n, priceReasoning: 1_500_000_000n };
        // (4 x 500_000_000 + 6 x 1_500_000_000) x 1200 / (1e6 x 1000) = 11_000_000_000 x 1.2 / 1e6 = 13_200
        expect(cost(usage, prices, 1200n)).toBe(13_200n);
        expect(cost(usage, prices, COEFFICIENT_ONE)).toBe(11_000n);
    });

    it('drops a stream after K chunks (fault knob), keeping what it sent well-formed', async () => {
        backend.faults = { dropAfterChunks: 3 };
        const res = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'a b c d e' }], stream: true });
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        let raw = '';
        let failed = false;
        try {
            for (;;) {
                const { done, value } = await reader.read();
                if (done) break;
                raw += Buffer.from(value).toString('utf8');
            }
        } catch {
            failed = true;
        }
        expect(failed).toBe(true); // not a clean end of stream
        const events = raw.split('\n\n').filter(Boolean);
        expect(events).toHaveLength(3);
        expect(raw).not.toContain('[DONE]');
        expect(events.map((e) => JSON.parse(e.slice(6)).choices[0].delta.content)).toEqual(['', 'a', ' b']);

        // The openai client surfaces it as an error, and the next request is served normally once the knob is cleared.
        const s = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true });
        await expect(
            (async () => {
                for await (const _ of s);
            })(),
        ).rejects.toThrow();
        // Non-streaming: the connection closes without an answer.
        await expect(post('/v1/completions', { model: MODEL, prompt: 'x' })).rejects.toThrow(/fetch failed/);
        backend.faults = {};
        expect((await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] })).choices[0].message.content).toMatch(/^x this/);
    });

    it('fails requests with a configured error (fault knob) and records what it received', async () => {
        backend.faults = { failWith: { status: 503, code: 'overloaded' } };
        const before = backend.received.length;
        const res = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], temperature: 0.5 });
        expect(res.status).toBe(503);
        expect(((await res.json()) as { error: unknown }).error).toMatchObject({ type: 'server_error', code: 'overloaded' });
        expect(backend.received.slice(before)).toEqual([
            { method: 'POST', path: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'x' }], temperature: 0.5 } },
        ]);
    });

    it('streams with a per-token delay and stops generating when the client goes away', async () => {
        backend.tokenDelayMs = 20;
        const ac = new AbortController();
        const res = await fetch(backend.url + '/v1/chat/completions', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'slow words here' }], stream: true }),
            signal: ac.signal,
        });
        const reader = res.body!.getReader();
        const first = await reader.read();
        expect(Buffer.from(first.value!).toString()).toMatch(/^data: /);
        ac.abort();
        // The server stays healthy after the abandoned stream.
        backend.tokenDelayMs = 0;
        const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'ok' }] });
        expect(r.usage?.prompt_tokens).toBe(1);
    });

    it('counts tokens as whitespace-separated words', () => {
        expect(countWords('')).toBe(0);
        expect(countWords('  a\tb\n\nc  ')).toBe(3);
        expect(countWords('héllo, wörld!')).toBe(2);
    });

    it('serves other models when configured, and refuses the context overflow of the prompt itself', async () => {
        const small = new ReferenceBackend({ models: [{ id: 'cocoon-test/tiny', contextLength: 4, description: 'Test model, 4 words' }] });
        await small.start();
        try {
            const c = new OpenAI({ baseURL: small.url + '/v1', apiKey: 'test', maxRetries: 0 });
            const r = await c.chat.completions.create({ model: 'cocoon-test/tiny', messages: [{ role: 'user', content: 'a b c' }] });
            expect(r.choices[0].message.content).toBe('a'); // 3 prompt words leave room for 1
            expect(r.choices[0].finish_reason).toBe('length');
            await expect(c.chat.completions.create({ model: 'cocoon-test/tiny', messages: [{ role: 'user', content: 'a b c d e' }] })).rejects.toMatchObject({
                status: 400,
                code: 'context_length_exceeded',
            });
        } finally {
            await small.stop();
        }
    });
    it('streams a tool call as OpenAI tool_calls deltas: the opening delta names the call, then argument pieces', async () => {
        const res = await post('/v1/chat/completions', {
            model: MODEL,
            messages: [{ role: 'user', content: 'Rome please' }],
            tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
            stream: true,
        });
        const objs = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
        const deltas = objs.map((o) => o.choices[0].delta);
        expect(deltas[0]).toEqual({ role: 'assistant', content: '', refusal: null });
        expect(deltas[1]).toEqual({ tool_calls: [{ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'lookup', arguments: '' } }] });
        const args = deltas.slice(2, -1).map((d) => d.tool_calls[0].function.arguments).join('');
        expect(JSON.parse(args)).toEqual({ q: 'Rome please' });
        expect(objs[objs.length - 1].choices[0].finish_reason).toBe('tool_calls');
    });

    it('n choices: the stream interleaves the choices by index; usage counts the prompt once and every choice', async () => {
        const res = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'a b' }], n: 2, max_tokens: 2, stream: true, stream_options: { include_usage: true } });
        const objs = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
        const content = objs.slice(1, -2).map((o) => [o.choices[0].index, o.choices[0].delta.content]);
        expect(content).toEqual([[0, 'a'], [1, 'a'], [0, ' b'], [1, ' b']]);
        expect(objs[objs.length - 1].usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    });
});
