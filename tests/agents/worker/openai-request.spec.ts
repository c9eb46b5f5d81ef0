// Strict validation of OpenAI request bodies before the worker forwards them.
import { MAX_IMAGE_BYTES, MAX_IMAGES, toOpenAIError, validateOpenAIRequest, WorkerRequestError, WorkerRequestErrorCode } from '../../../agents/worker/openai-request';
import { TEST_MODEL } from '../../../agents/backend/test-model';

const MODEL = TEST_MODEL.id;
const opts = { model: MODEL, contextLength: 4096 };
const chat = (extra: Record<string, unknown> = {}) => ({ model: MODEL, messages: [{ role: 'user', content: 'hello there' }], ...extra });
const completion = (extra: Record<string, unknown> = {}) => ({ model: MODEL, prompt: 'hello there', ...extra });

function refused(fn: () => unknown): WorkerRequestError {
    try {
        fn();
    } catch (e) {
        expect(e).toBeInstanceOf(WorkerRequestError);
        return e as WorkerRequestError;
    }
    throw new Error('expected a WorkerRequestError');
}

function expectRefused(fn: () => unknown, code: WorkerRequestErrorCode, param: string | null) {
    const e = refused(fn);
    expect({ code: e.code, param: e.param }).toEqual({ code, param });
    return e;
}

describe('validateOpenAIRequest', () => {
    it('accepts a full chat body and returns only known fields', () => {
        const body = chat({
            max_tokens: 16,
            temperature: 0.5,
            top_p: 1,
            stop: ['\n', 'END'],
            seed: 7,
            presence_penalty: 0,
            frequency_penalty: -1,
            user: 'u1',
            n: 1,
            messages: [
                { role: 'system', content: 'be brief' },
                { role: 'developer', content: [{ type: 'text', text: 'really' }] },
                { role: 'assistant', content: null },
                { role: 'user', content: 'hi', name: 'bob' },
            ],
        });
        const v = validateOpenAIRequest('chat', body, opts);
        expect(v).toEqual({ endpoint: 'chat', body, stream: false, maxTokens: 16, clientIncludeUsage: false, choices: 1 });
        expect(v.body).not.toBe(body);
    });

    it('drops null optional fields and accepts a one-string prompt array for completions', () => {
        const v = validateOpenAIRequest('completions', completion({ prompt: ['one two'], temperature: null, max_tokens: 3 }), opts);
        expect(v.body).toEqual({ model: MODEL, prompt: ['one two'], max_tokens: 3 });
        expect(v.maxTokens).toBe(3);
    });

    it('forces stream_options.include_usage = true when streaming and remembers what the client asked', () => {
        const a = validateOpenAIRequest('chat', chat({ stream: true }), opts);
        expect(a.body.stream_options).toEqual({ include_usage: true });
        expect(a.clientIncludeUsage).toBe(false);
        const b = validateOpenAIRequest('completions', completion({ stream: true, stream_options: { include_usage: false } }), opts);
        expect(b.body).toEqual({ model: MODEL, prompt: 'hello there', stream: true, stream_options: { include_usage: true } });
        expect(b.stream).toBe(true);
        const c = validateOpenAIRequest('chat', chat({ stream: true, stream_options: { include_usage: true } }), opts);
        expect(c.clientIncludeUsage).toBe(true);
        expect(validateOpenAIRequest('chat', chat({ stream: false }), opts).body.stream_options).toBeUndefined();
    });

    it('refuses unknown fields, naming them (top level and nested)', () => {
        expectRefused(() => validateOpenAIRequest('chat', chat({ functions: [] }), opts), 'REQUEST_UNKNOWN_FIELD', 'functions');
        expectRefused(() => validateOpenAIRequest('completions', completion({ best_of: 2 }), opts), 'REQUEST_UNKNOWN_FIELD', 'best_of');
        expectRefused(() => validateOpenAIRequest('completions', completion({ tools: [] }), opts), 'REQUEST_UNKNOWN_FIELD', 'tools');
        expectRefused(() => validateOpenAIRequest('completions', completion({ echo: true }), opts), 'REQUEST_UNKNOWN_FIELD', 'echo');
        // max_completion_tokens belongs to chat only
        expectRefused(() => validateOpenAIRequest('completions', completion({ max_completion_tokens: 5 }), opts), 'REQUEST_UNKNOWN_FIELD', 'max_completion_tokens');
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [{ role: 'user', content: 'x', tool_calls: [] }] }), opts), 'REQUEST_UNKNOWN_FIELD', 'messages[0].tool_calls');
        expectRefused(
            () => validateOpenAIRequest('chat', chat({ stream: true, stream_options: { include_usage: true, include_obfuscation: false } }), opts),
            'REQUEST_UNKNOWN_FIELD',
            'stream_options.include_obfuscation',
        );
        // unknown wins over an invalid known field, so the error names the unknown one
        const e = expectRefused(() => validateOpenAIRequest('chat', chat({ temperature: 'hot', frobnicate: 1 }), opts), 'REQUEST_UNKNOWN_FIELD', 'frobnicate');
        expect(e.message).toContain("'frobnicate'");
    });

    it('refuses invalid values of known fields', () => {
        expectRefused(() => validateOpenAIRequest('chat', chat({ n: 0 }), opts), 'REQUEST_INVALID_FIELD', 'n');
        expectRefused(() => validateOpenAIRequest('chat', chat({ n: 129 }), opts), 'REQUEST_INVALID_FIELD', 'n');
        expectRefused(() => validateOpenAIRequest('chat', chat({ temperature: 3 }), opts), 'REQUEST_INVALID_FIELD', 'temperature');
        expectRefused(() => validateOpenAIRequest('chat', chat({ top_p: -0.1 }), opts), 'REQUEST_INVALID_FIELD', 'top_p');
        expectRefused(() => validateOpenAIRequest('chat', chat({ stream: 'yes' }), opts), 'REQUEST_INVALID_FIELD', 'stream');
        expectRefused(() => validateOpenAIRequest('chat', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), opts), 'REQUEST_INVALID_FIELD', 'stop');
        expectRefused(() => validateOpenAIRequest('chat', chat({ seed: 1.5 }), opts), 'REQUEST_INVALID_FIELD', 'seed');
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [] }), opts), 'REQUEST_INVALID_FIELD', 'messages');
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [{ role: 'robot', content: 'x' }] }), opts), 'REQUEST_INVALID_FIELD', 'messages[0].role');
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }] }), opts), 'REQUEST_INVALID_FIELD', 'messages[0].content');
        expectRefused(() => validateOpenAIRequest('completions', completion({ prompt: ['a', 'b'] }), opts), 'REQUEST_INVALID_FIELD', 'prompt');
        expectRefused(() => validateOpenAIRequest('chat', chat({ stream_options: { include_usage: true } }), opts), 'REQUEST_INVALID_FIELD', 'stream_options');
        expectRefused(() => validateOpenAIRequest('chat', chat({ max_tokens: 5, max_completion_tokens: 5 }), opts), 'REQUEST_INVALID_FIELD', 'max_completion_tokens');
        expectRefused(() => validateOpenAIRequest('chat', chat({ max_tokens: '5' }), opts), 'REQUEST_INVALID_FIELD', 'max_tokens');
    });

    it('refuses missing required fields and non-object bodies', () => {
        expectRefused(() => validateOpenAIRequest('chat', { model: MODEL }, opts), 'REQUEST_MISSING_FIELD', 'messages');
        expectRefused(() => validateOpenAIRequest('completions', { model: MODEL }, opts), 'REQUEST_MISSING_FIELD', 'prompt');
        expectRefused(() => validateOpenAIRequest('completions', { prompt: 'x' }, opts), 'REQUEST_MISSING_FIELD', 'model');
        for (const b of [null, [], 'x', 3]) expectRefused(() => validateOpenAIRequest('chat', b, opts), 'REQUEST_INVALID_BODY', null);
    });

    it('bounds max_tokens / max_completion_tokens by 1..context length', () => {
        expect(validateOpenAIRequest('chat', chat({ max_tokens: 4096 }), opts).maxTokens).toBe(4096);
        expect(validateOpenAIRequest('chat', chat({ max_completion_tokens: 1 }), opts).maxTokens).toBe(1);
        expect(validateOpenAIRequest('chat', chat(), opts).maxTokens).toBeUndefined();
        expectRefused(() => validateOpenAIRequest('chat', chat({ max_tokens: 4097 }), opts), 'REQUEST_MAX_TOKENS', 'max_tokens');
        expectRefused(() => validateOpenAIRequest('chat', chat({ max_completion_tokens: 4097 }), opts), 'REQUEST_MAX_TOKENS', 'max_completion_tokens');
        expectRefused(() => validateOpenAIRequest('completions', completion({ max_tokens: 0 }), opts), 'REQUEST_MAX_TOKENS', 'max_tokens');
        expectRefused(() => validateOpenAIRequest('completions', completion({ max_tokens: 10 }), { model: MODEL, contextLength: 9 }), 'REQUEST_MAX_TOKENS', 'max_tokens');
    });

    it('refuses a body whose model is not the routed model', () => {
        expectRefused(() => validateOpenAIRequest('chat', chat({ model: 'other/model' }), opts), 'REQUEST_MODEL_MISMATCH', 'model');
    });

    it('maps errors to OpenAI error JSON', () => {
        const e = refused(() => validateOpenAIRequest('chat', chat({ functions: [] }), opts));
        expect(toOpenAIError(e)).toEqual({
            status: 400,
            body: { error: { message: "Unrecognized request argument supplied: 'functions'.", type: 'invalid_request_error', param: 'functions', code: 'REQUEST_UNKNOWN_FIELD' } },
        });
        const m = refused(() => validateOpenAIRequest('chat', chat({ model: 'x' }), opts));
        expect(toOpenAIError(m).status).toBe(404);
        const b = refused(() => validateOpenAIRequest('chat', null, opts));
        expect(toOpenAIError(b).body.error.param).toBeNull();
    });
});

describe('validateOpenAIRequest: the OpenAI surface (spec/openai.md)', () => {
    const png = (bytes: number) => `data:image/png;base64,${Buffer.alloc(bytes, 7).toString('base64')}`;
    const image = (url: string) => ({ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url, detail: 'low' } }] });
    const weather = { type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true } };

    it('accepts tools, tool messages, JSON mode, n, logprobs, reasoning effort, images and passes them unchanged', () => {
        const body = chat({
            messages: [
                { role: 'user', content: 'weather in Paris?' },
                { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
                { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
                image(png(100)),
            ],
            tools: [weather],
            tool_choice: { type: 'function', function: { name: 'get_weather' } },
            parallel_tool_calls: false,
            response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
            n: 3,
            logprobs: true,
            top_logprobs: 2,
            reasoning_effort: 'low',
            logit_bias: { '50256': -100 },
            top_k: 40,
            min_p: 0.1,
            repetition_penalty: 1.1,
            max_tokens: 5,
        });
        const v = validateOpenAIRequest('chat', body, opts);
        expect(v.body).toEqual(body);
        expect(v.choices).toBe(3);
        expect(validateOpenAIRequest('completions', completion({ logprobs: 5, n: 2 }), opts).choices).toBe(2);
    });

    it('bounds image parts: data URLs of image types only, each within MAX_IMAGE_BYTES, at most MAX_IMAGES', () => {
        expect(() => validateOpenAIRequest('chat', chat({ messages: [image(png(MAX_IMAGE_BYTES))] }), opts)).not.toThrow();
        const url = 'messages[0].content[1].image_url.url';
        const e = expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [image(png(MAX_IMAGE_BYTES + 1))] }), opts), 'REQUEST_INVALID_FIELD', url);
        expect(e.message).toContain(`at most ${MAX_IMAGE_BYTES}`);
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [image('https://example.com/cat.png')] }), opts), 'REQUEST_INVALID_FIELD', url);
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [image('data:text/html;base64,AAAA')] }), opts), 'REQUEST_INVALID_FIELD', url);
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [image('data:image/png;base64,AA A')] }), opts), 'REQUEST_INVALID_FIELD', url);
        const many = Array.from({ length: MAX_IMAGES + 1 }, () => image(png(10)));
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: many }), opts), 'REQUEST_INVALID_FIELD', `messages[${MAX_IMAGES}].content[1]`);
        // images only in user messages
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [{ ...image(png(10)), role: 'system' }] }), opts), 'REQUEST_INVALID_FIELD', 'messages[0].content');
    });

    it('refuses inconsistent tool, logprobs and choice settings, naming the field', () => {
        expectRefused(() => validateOpenAIRequest('chat', chat({ tool_choice: 'required' }), opts), 'REQUEST_INVALID_FIELD', 'tool_choice');
        expectRefused(() => validateOpenAIRequest('chat', chat({ tools: [weather], tool_choice: { type: 'function', function: { name: 'other' } } }), opts), 'REQUEST_INVALID_FIELD', 'tool_choice.function.name');
        expectRefused(() => validateOpenAIRequest('chat', chat({ tools: [{ type: 'function', function: { name: 'bad name!' } }] }), opts), 'REQUEST_INVALID_FIELD', 'tools[0].function.name');
        expectRefused(() => validateOpenAIRequest('chat', chat({ tools: [{ type: 'function', function: { name: 'f', code: 'x' } }] }), opts), 'REQUEST_UNKNOWN_FIELD', 'tools[0].function.code');
        expectRefused(() => validateOpenAIRequest('chat', chat({ top_logprobs: 2 }), opts), 'REQUEST_INVALID_FIELD', 'top_logprobs');
        expectRefused(() => validateOpenAIRequest('chat', chat({ logprobs: true, top_logprobs: 21 }), opts), 'REQUEST_INVALID_FIELD', 'top_logprobs');
        expectRefused(() => validateOpenAIRequest('completions', completion({ logprobs: 6 }), opts), 'REQUEST_INVALID_FIELD', 'logprobs');
        expectRefused(() => validateOpenAIRequest('chat', chat({ response_format: { type: 'yaml' } }), opts), 'REQUEST_INVALID_FIELD', 'response_format.type');
        expectRefused(() => validateOpenAIRequest('chat', chat({ reasoning_effort: 'extreme' }), opts), 'REQUEST_INVALID_FIELD', 'reasoning_effort');
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [{ role: 'tool', content: 'x' }] }), opts), 'REQUEST_INVALID_FIELD', 'messages[0].tool_call_id');
        expectRefused(() => validateOpenAIRequest('chat', chat({ stream: true, stream_options: { continuous_usage_stats: true } }), opts), 'REQUEST_UNKNOWN_FIELD', 'stream_options.continuous_usage_stats');
    });
});
