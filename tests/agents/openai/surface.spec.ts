// The OpenAI request surface end to end (spec/openai.md): the official `openai` package → the client's HTTP API →
// proxy → worker → reference backend, sealed (router-blind) and plain. Tools, JSON mode, n choices, logprobs,
// reasoning effort and image parts arrive in OpenAI's exact shapes, and every request costs what its usage says.
import type OpenAI from 'openai';
import { FILLER, IMAGE_TOKENS } from '../../../agents/backend/reference';
import { MAX_IMAGE_BYTES } from '../../../agents/worker/openai-request';
import { apiError, costOf, MODEL, OpenAIStack, startOpenAIStack } from './stack';

const weather: OpenAI.Chat.Completions.ChatCompletionTool = {
    type: 'function',
    function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } },
};

describe('OpenAI surface through client → proxy → worker', () => {
    let s: OpenAIStack;
    beforeAll(async () => {
        s = await startOpenAIStack('oa-surface');
    });
    afterAll(async () => {
        await s?.stop();
    });

    /** Runs `fn` and returns what the proxy's ledger booked meanwhile. */
    const booked = async (fn: () => Promise<unknown>): Promise<bigint> => {
        const before = s.delivered();
        await fn();
        return s.delivered() - before;
    };

    describe.each(['sealed', 'plain'] as const)('%s', (privacy) => {
        const side = () => s.sides[privacy];

        it('a tool call round trip: the call, the tool result, the answer; each metered by its usage', async () => {
            const { openai } = side();
            const ask: OpenAI.Chat.Completions.ChatCompletionMessageParam = { role: 'user', content: 'Paris' };
            let first!: OpenAI.Chat.Completions.ChatCompletion;
            const charged = await booked(async () => {
                first = await openai.chat.completions.create({ model: MODEL, messages: [ask], tools: [weather], tool_choice: 'auto' });
            });
            const choice = first.choices[0];
            expect(choice.finish_reason).toBe('tool_calls');
            expect(choice.message.content).toBeNull();
            expect(choice.message.tool_calls).toHaveLength(1);
            const call = choice.message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
            expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
            expect(call.id).toMatch(/^call_/);
            expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris', days: 1 });
            // name + the argument words: {"city":"Paris","days":1} is one word
            expect(first.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 2 });
            expect(charged).toBe(costOf(first.usage).cost);

            const second = await openai.chat.completions.create({
                model: MODEL,
                messages: [ask, choice.message, { role: 'tool', tool_call_id: call.id, content: 'sunny and warm' }],
                tools: [weather],
            });
            expect(second.choices[0].finish_reason).toBe('stop');
            expect(second.choices[0].message.content).toBe(['sunny', 'and', 'warm', ...FILLER].join(' '));
            expect(second.choices[0].message.tool_calls ?? []).toEqual([]);
        });

        it('a streamed tool call arrives as tool_calls deltas the SDK assembles', async () => {
            const { openai } = side();
            const stream = openai.chat.completions.stream({ model: MODEL, messages: [{ role: 'user', content: 'Oslo' }], tools: [weather], tool_choice: { type: 'function', function: { name: 'get_weather' } }, stream_options: { include_usage: true } });
            const deltas: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
            stream.on('chunk', (c) => deltas.push(c));
            const done = await stream.finalChatCompletion();
            const call = done.choices[0].message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
            expect(done.choices[0].finish_reason).toBe('tool_calls');
            expect(call.function.name).toBe('get_weather');
            expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Oslo', days: 1 });
            const opening = deltas.find((c) => c.choices[0]?.delta.tool_calls)!.choices[0].delta.tool_calls![0];
            expect(opening).toEqual({ index: 0, id: call.id, type: 'function', function: { name: 'get_weather', arguments: '' } });
            const usage = deltas[deltas.length - 1].usage as unknown as Record<string, unknown>;
            expect(usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 2 });
            expect(usage.cost_nanoton).toBe(costOf(usage).cost.toString());
        });

        it('JSON mode: json_object and json_schema answer parseable JSON', async () => {
            const { openai } = side();
            const o = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello there' }], response_format: { type: 'json_object' } });
            expect(JSON.parse(o.choices[0].message.content!)).toEqual({ echo: 'hello there' });
            const schema = { type: 'object', properties: { answer: { type: 'string' }, words: { type: 'integer' }, sure: { type: 'boolean' } } };
            const j = await openai.chat.completions.create({
                model: MODEL,
                messages: [{ role: 'user', content: 'three small words' }],
                response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
            });
            expect(JSON.parse(j.choices[0].message.content!)).toEqual({ answer: 'three small words', words: 3, sure: true });
        });

        it('n = 3: three choices with their indexes; cost = the prompt once + every choice', async () => {
            const { openai } = side();
            let r!: OpenAI.Chat.Completions.ChatCompletion;
            const charged = await booked(async () => {
                r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'a b' }], n: 3, max_tokens: 4 });
            });
            expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
            for (const c of r.choices) expect([c.message.content, c.finish_reason]).toEqual(['a b this is', 'length']);
            expect(r.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 12, total_tokens: 14 });
            const { cost, usage } = costOf(r.usage);
            expect(usage).toEqual({ prompt: 2n, cached: 0n, completion: 12n, reasoning: 0n });
            expect(charged).toBe(cost);
            expect((r.usage as unknown as { cost_nanoton: string }).cost_nanoton).toBe(cost.toString());

            const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'a b' }], n: 3, max_tokens: 2, stream: true });
            const texts = ['', '', ''];
            const finish: (string | null)[] = [null, null, null];
            for await (const c of stream) for (const ch of c.choices) {
                texts[ch.index] += ch.delta.content ?? '';
                finish[ch.index] = ch.finish_reason ?? finish[ch.index];
            }
            expect(texts).toEqual(['a b', 'a b', 'a b']);
            expect(finish).toEqual(['length', 'length', 'length']);
        });

        it('logprobs: chat top_logprobs and completions logprobs in OpenAI shapes', async () => {
            const { openai } = side();
            const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x y' }], max_tokens: 3, logprobs: true, top_logprobs: 2 });
            const lp = r.choices[0].logprobs!.content!;
            expect(lp.map((t) => t.token)).toEqual(['x', ' y', ' this']);
            for (const t of lp) {
                expect(t.logprob).toBe(0);
                expect(t.bytes).toEqual([...Buffer.from(t.token)]);
                expect(t.top_logprobs).toHaveLength(2);
            }
            expect(r.usage?.completion_tokens).toBe(3);
            const c = await openai.completions.create({ model: MODEL, prompt: 'x y', max_tokens: 2, logprobs: 1 });
            expect(c.choices[0].logprobs).toEqual({ tokens: ['x', ' y'], token_logprobs: [0, 0], top_logprobs: [{ x: 0 }, { ' y': 0 }], text_offset: [0, 1] });
        });

        it('reasoning_effort: reasoning tokens are reported, metered at the reasoning price and signed', async () => {
            const { openai, client } = side();
            const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'why' }], reasoning_effort: 'low', max_tokens: 5 });
            const message = r.choices[0].message as unknown as { content: string; reasoning_content: string };
            expect(message.reasoning_content).toBe('let me');
            expect(message.content).toBe('why this is');
            expect(r.usage).toMatchObject({ completion_tokens: 5, completion_tokens_details: { reasoning_tokens: 2 } });
            expect(client.lastReceipt?.usage).toEqual({ prompt: 1n, cached: 0n, completion: 3n, reasoning: 2n });
        });

        it('image parts: one within the bound is served (and counted in the prompt); one over it is refused, nothing charged', async () => {
            const { openai, client } = side();
            const image = (bytes: number) => `data:image/png;base64,${Buffer.alloc(bytes, 1).toString('base64')}`;
            const content = (url: string): OpenAI.Chat.Completions.ChatCompletionContentPart[] => [
                { type: 'text', text: 'describe' },
                { type: 'image_url', image_url: { url } },
            ];
            const ok = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: content(image(1000)) }], max_tokens: 1 });
            expect(ok.usage?.prompt_tokens).toBe(1 + IMAGE_TOKENS);
            await client.vouchersSettled();
            const cumulative = (await client.balances()).cumulative;
            const received = s.stack.backend.received.length;
            let e!: Awaited<ReturnType<typeof apiError>>;
            const charged = await booked(async () => {
                e = await apiError(openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: content(image(MAX_IMAGE_BYTES + 3)) }] }));
            });
            expect([e.status, e.code, e.param]).toEqual([400, 'invalid_value', 'messages[0].content[1].image_url.url']);
            expect(charged).toBe(0n);
            expect(s.stack.backend.received.length).toBe(received);
            await client.vouchersSettled();
            expect((await client.balances()).cumulative).toBe(cumulative);
        });
    });
});
