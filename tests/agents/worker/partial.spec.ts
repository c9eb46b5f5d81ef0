// Partial receipts (spec/payments.md, "Partial receipts"): what a stream cut short bills, counted by the worker.
import { partialUsage, StreamMeter } from '../../../agents/worker/partial';

describe('StreamMeter / partialUsage', () => {
    it('counts one token per relayed event that carries generated text: content, reasoning, completions text and tool-call arguments', () => {
        const m = new StreamMeter();
        const ev = (delta: Record<string, unknown>) => ({ choices: [{ index: 0, delta }] });
        m.observe(ev({ role: 'assistant', content: '' })); // the role chunk: no text
        m.observe(ev({ reasoning_content: 'hmm' }));
        m.observe(ev({ content: ' yes' }));
        m.observe({ choices: [{ index: 0, text: ' word' }] });
        m.observe(ev({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] })); // opening: no text
        m.observe(ev({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }));
        m.observe(ev({}));
        m.observe({ choices: [], usage: null });
        expect(m.streamed).toBe(4n);
    });

    it('bills the prompt words and the counted tokens within the bounds of all n choices', () => {
        const m = new StreamMeter();
        for (let i = 0; i < 10; i++) m.observe({ choices: [{ index: i % 2, delta: { content: 'x' } }] });
        const body = { messages: [{ role: 'user', content: 'one two three' }] };
        expect(partialUsage('chat', body, m, { maxTokens: 6, contextLength: 4096n, choices: 2 })).toEqual({ prompt: 3n, cached: 0n, completion: 6n, reasoning: 0n });
        expect(partialUsage('chat', body, m, { maxTokens: 100, contextLength: 4096n, choices: 2 }).completion).toBe(10n);
    });
});
