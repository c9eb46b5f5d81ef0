// Strict validation of OpenAI request bodies before the worker forwards them.
import { toOpenAIError, validateOpenAIRequest, WorkerRequestError, WorkerRequestErrorCode } from '../../../agents/worker/openai-request';
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
        expect(v).toEqual({ endpoint: 'chat', body, stream: false, maxTokens: 16, clientIncludeUsage: false });
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
        expectRefused(() => validateOpenAIRequest('chat', chat({ tools: [] }), opts), 'REQUEST_UNKNOWN_FIELD', 'tools');
        expectRefused(() => validateOpenAIRequest('chat', chat({ logprobs: true }), opts), 'REQUEST_UNKNOWN_FIELD', 'logprobs');
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
        expectRefused(() => validateOpenAIRequest('chat', chat({ n: 2 }), opts), 'REQUEST_INVALID_FIELD', 'n');
        expectRefused(() => validateOpenAIRequest('chat', chat({ temperature: 3 }), opts), 'REQUEST_INVALID_FIELD', 'temperature');
        expectRefused(() => validateOpenAIRequest('chat', chat({ top_p: -0.1 }), opts), 'REQUEST_INVALID_FIELD', 'top_p');
        expectRefused(() => validateOpenAIRequest('chat', chat({ stream: 'yes' }), opts), 'REQUEST_INVALID_FIELD', 'stream');
        expectRefused(() => validateOpenAIRequest('chat', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), opts), 'REQUEST_INVALID_FIELD', 'stop');
        expectRefused(() => validateOpenAIRequest('chat', chat({ seed: 1.5 }), opts), 'REQUEST_INVALID_FIELD', 'seed');
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [] }), opts), 'REQUEST_INVALID_FIELD', 'messages');
        expectRefused(() => validateOpenAIRequest('chat', chat({ messages: [{ role: 'tool', content: 'x' }] }), opts), 'REQUEST_INVALID_FIELD', 'messages[0].role');
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
        const e = refused(() => validateOpenAIRequest('chat', chat({ tools: [] }), opts));
        expect(toOpenAIError(e)).toEqual({
            status: 400,
            body: { error: { message: "Unrecognized request argument supplied: 'tools'.", type: 'invalid_request_error', param: 'tools', code: 'REQUEST_UNKNOWN_FIELD' } },
        });
        const m = refused(() => validateOpenAIRequest('chat', chat({ model: 'x' }), opts));
        expect(toOpenAIError(m).status).toBe(404);
        const b = refused(() => validateOpenAIRequest('chat', null, opts));
        expect(toOpenAIError(b).body.error.param).toBeNull();
    });
});
