// Partial receipts (spec/payments.md, "Partial receipts"): a stream that ends early — the client cancelled or went
// away, or the backend broke — before the backend reported its usage is still billed for what was delivered: the
// prompt and every token already streamed. Without the backend's `usage` the worker counts itself:
//   completion = the stream events it relayed that carry generated text (one token each: OpenAI-compatible servers
//                emit one event per token; a server that batches tokens is under-counted, never over-counted);
//   prompt     = the whitespace-separated words of the prompt text (a tokenizer yields at least one token per word,
//                so this never exceeds the backend's count).
// The receipt is an ordinary signed receipt over this usage; response_end carries `partial: true`.
import { clampUsage, UsageBounds } from '../core/metering';
import type { TokenUsage } from '../core/pricing';
import type { Endpoint } from './openai-request';

/** Counts the relayed stream events that carry generated text. */
export class StreamMeter {
    streamed = 0n;

    /** One relayed event, as forward.ts parsed it. */
    observe(o: unknown): void {
        const choices = (o as { choices?: unknown } | null)?.choices;
        if (!Array.isArray(choices)) return;
        for (const c of choices) {
            const ch = c as { delta?: { content?: unknown; reasoning_content?: unknown; tool_calls?: { function?: { arguments?: unknown } }[] }; text?: unknown } | null;
            const call = Array.isArray(ch?.delta?.tool_calls) ? ch.delta.tool_calls[0]?.function?.arguments : undefined;
            const piece = ch?.delta?.content ?? ch?.delta?.reasoning_content ?? ch?.text ?? call;
            if (typeof piece === 'string' && piece.length > 0) {
                this.streamed++;
                return;
            }
        }
    }
}

function words(text: string): bigint {
    return BigInt(text.split(/\s+/).filter((w) => w.length > 0).length);
}

function textOf(content: unknown): string {
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) return content.map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join(' ');
    return '';
}

/** Prompt words of a validated body (chat: every message's text; completions: the prompt). */
export function promptWords(endpoint: Endpoint, body: Record<string, unknown>): bigint {
    if (endpoint === 'chat') {
        const messages = Array.isArray(body.messages) ? body.messages : [];
        return messages.reduce((n: bigint, m) => n + words(textOf((m as { content?: unknown } | null)?.content)), 0n);
    }
    const p = body.prompt;
    return words(Array.isArray(p) ? p.join(' ') : typeof p === 'string' ? p : '');
}

/** The usage a partial receipt bills, within the request's usage bounds like any receipt. */
export function partialUsage(endpoint: Endpoint, body: Record<string, unknown>, meter: StreamMeter, bounds: UsageBounds): TokenUsage {
    return clampUsage({ prompt: promptWords(endpoint, body), cached: 0n, completion: meter.streamed, reasoning: 0n }, bounds);
}
