// Forwarding to the real reference backend over loopback HTTP, metering from its usage, signing receipts.
import { createServer, IncomingMessage, ServerResponse } from 'http';
import { connect, createServer as createNetServer } from 'net';
import type { AddressInfo, Socket } from 'net';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { keyPairFromSeed } from '@ton/crypto';
import { countWords, FILLER, ReferenceBackend } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { COEFFICIENT_ONE, cost, ModelPrices, TokenUsage } from '../../../agents/core/pricing';
import { decodeReceipt, verifyReceipt } from '../../../agents/core/receipt';
import { ForwardError, forwardToBackend, meterAndSign, receiptRequestId, SseParser } from '../../../agents/worker/forward';
import { Endpoint, validateOpenAIRequest } from '../../../agents/worker/openai-request';
import { modelId } from '../../../wrappers/payloads';

const MODEL = TEST_MODEL.id;
const PRICES: ModelPrices = { pricePrompt: 1_000_000n, priceCached: 100_000n, priceCompletion: 3_000_000n, priceReasoning: 5_000_000n };
const COEF = 1500n;
const keys = keyPairFromSeed(Buffer.alloc(32, 4));

const validate = (endpoint: Endpoint, body: unknown) => validateOpenAIRequest(endpoint, body, { model: MODEL, contextLength: TEST_MODEL.contextLength }).body;

async function failure(p: Promise<unknown>): Promise<ForwardError> {
    try {
        await p;
    } catch (e) {
        expect(e).toBeInstanceOf(ForwardError);
        return e as ForwardError;
    }
    throw new Error('expected a ForwardError');
}

const usageOf = (prompt: number, completion: number): TokenUsage => ({ prompt: BigInt(prompt), cached: 0n, completion: BigInt(completion), reasoning: 0n });

describe('forwardToBackend', () => {
    let backend: ReferenceBackend;
    beforeAll(async () => {
        backend = new ReferenceBackend();
        await backend.start();
    });
    afterAll(() => backend.stop());
    afterEach(() => {
        backend.faults = {};
        backend.tokenDelayMs = 0;
    });

    const prompt = 'tell me about the cocoon network';
    const expectedText = [...prompt.split(' '), ...FILLER].slice(0, 8).join(' ');

    it('non-streaming chat: returns the backend JSON and its usage', async () => {
        const body = validate('chat', { model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 8 });
        const r = await forwardToBackend({ backendUrl: backend.url, endpoint: 'chat', body });
        const json = r.json as { choices: { message: { content: string } }[] };
        expect(json.choices[0].message.content).toBe(expectedText);
        expect(r.usage).toEqual(usageOf(countWords(prompt), 8));
        expect(r.finishReason).toBe('length');
        expect(r.completed).toBe(true);
    });

    it('reaches a backend on a Unix socket through an http+unix:// URL (a backend inside the TD, no port), streaming too', async () => {
        // The backend's own TCP port behind a socket file, as a backend listening on one would be.
        const dir = mkdtempSync(join(tmpdir(), 'cocoon-unix-'));
        const socketPath = join(dir, 'backend.sock');
        const port = Number(new URL(backend.url).port);
        const open = new Set<Socket>();
        const relay = createNetServer((c) => {
            open.add(c);
            c.on('close', () => open.delete(c));
            c.pipe(connect(port, '127.0.0.1')).pipe(c);
        });
        await new Promise<void>((r) => relay.listen(socketPath, r));
        try {
            const backendUrl = `http+unix://${encodeURIComponent(socketPath)}`;
            const body = validate('chat', { model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 8 });
            const r = await forwardToBackend({ backendUrl, endpoint: 'chat', body });
            expect((r.json as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(expectedText);
            const events: string[] = [];
            const streamed = validate('chat', { model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 8, stream: true });
            const s = await forwardToBackend({ backendUrl, endpoint: 'chat', body: streamed, onChunk: (data) => void events.push(data) });
            expect(events.length).toBeGreaterThan(1);
            expect(s.usage).toEqual(usageOf(countWords(prompt), 8));
            expect((await failure(forwardToBackend({ backendUrl: `http+unix://${encodeURIComponent(join(dir, 'none.sock'))}`, endpoint: 'chat', body }))).code).toBe('BACKEND_UNREACHABLE');
        } finally {
            for (const c of open) c.destroy(); // the worker's keep-alive sockets
            await new Promise((r) => relay.close(r));
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it('non-streaming completions: usage equals the backend word counts', async () => {
        const body = validate('completions', { model: MODEL, prompt: 'one two three' });
        const r = await forwardToBackend({ backendUrl: backend.url, endpoint: 'completions', body });
        expect((r.json as { choices: { text: string }[] }).choices[0].text).toBe(['one', 'two', 'three', ...FILLER].join(' '));
        expect(r.usage).toEqual(usageOf(3, 3 + FILLER.length));
        expect(r.finishReason).toBe('stop');
    });

    for (const endpoint of ['chat', 'completions'] as const) {
        it(`streaming ${endpoint}: relays every event unchanged, forces usage, meters it and signs a verifiable receipt`, async () => {
            const raw = endpoint === 'chat' ? { model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 8, stream: true } : { model: MODEL, prompt, max_tokens: 8, stream: true };
            const body = validate(endpoint, raw);
            const relayed: string[] = [];
            const r = await forwardToBackend({ backendUrl: backend.url, endpoint, body, onChunk: (d) => void relayed.push(d) });
            // the backend saw include_usage forced on
            expect((backend.received.at(-1)!.body as Record<string, unknown>).stream_options).toEqual({ include_usage: true });
            expect(r.chunks).toBe(relayed.length);
            const events = relayed.map((d) => JSON.parse(d));
            const text = events
                .flatMap((e) => e.choices)
                .map((c: { delta?: { content?: string }; text?: string }) => (endpoint === 'chat' ? (c.delta?.content ?? '') : (c.text ?? '')))
                .join('');
            expect(text).toBe(expectedText);
            expect(events.at(-1).usage.completion_tokens).toBe(8);
            expect(r.usage).toEqual(usageOf(countWords(prompt), 8));
            expect(r.finishReason).toBe('length');

            const requestId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
            const m = meterAndSign({ requestId, modelId: modelId(MODEL), usage: r.usage, prices: PRICES, coefficient: COEF, workerKeys: keys, clock: { now: () => 1_800_000_000_000 } });
            expect(m.cost).toBe(cost(r.usage, PRICES, COEF));
            expect(m.cost).toBe(((6n * 1_000_000n + 8n * 3_000_000n) * COEF) / (1_000_000n * COEFFICIENT_ONE));
            const verified = verifyReceipt(m.receipt, {
                workerPublicKey: keys.publicKey,
                prices: PRICES,
                maxCoefficient: COEF,
                requestId: BigInt('0x' + requestId),
                modelId: modelId(MODEL),
                usage: r.usage,
            });
            expect(verified.cost).toBe(m.cost);
            expect(verified.issuedAt).toBe(1_800_000_000);
            expect(decodeReceipt(m.receipt).receipt.requestId).toBe(0xa1b2c3d4e5f60718293a4b5c6d7e8f90n);
        });
    }

    it('backend dropping the stream mid-way: BACKEND_STREAM_BROKEN, no usage charged, chunks relayed so far', async () => {
        backend.faults = { dropAfterChunks: 3 };
        const relayed: string[] = [];
        const body = validate('chat', { model: MODEL, messages: [{ role: 'user', content: prompt }], stream: true });
        const e = await failure(forwardToBackend({ backendUrl: backend.url, endpoint: 'chat', body, onChunk: (d) => void relayed.push(d) }));
        expect(e.code).toBe('BACKEND_STREAM_BROKEN');
        expect(e.usage).toBeNull();
        expect(relayed).toHaveLength(3);
    });

    it('a stream broken after its usage chunk (only [DONE] missing) carries that usage', async () => {
        backend.faults = { dropAfterChunks: 11 }; // role + 8 tokens + finish + usage
        const relayed: string[] = [];
        const body = validate('chat', { model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 8, stream: true });
        const e = await failure(forwardToBackend({ backendUrl: backend.url, endpoint: 'chat', body, onChunk: (d) => void relayed.push(d) }));
        expect(e.code).toBe('BACKEND_STREAM_BROKEN');
        expect(e.usage).toEqual(usageOf(countWords(prompt), 8));
        expect(relayed).toHaveLength(11);
    });

    it('backend dropping a non-streaming request: BACKEND_STREAM_BROKEN or UNREACHABLE, nothing charged', async () => {
        backend.faults = { dropAfterChunks: 0 };
        const body = validate('completions', { model: MODEL, prompt: 'x' });
        const e = await failure(forwardToBackend({ backendUrl: backend.url, endpoint: 'completions', body }));
        // the socket is destroyed before any response header: fetch reports it as a failed request
        expect(['BACKEND_UNREACHABLE', 'BACKEND_STREAM_BROKEN']).toContain(e.code);
        expect(e.usage).toBeNull();
    });

    it('backend HTTP errors pass through as BACKEND_ERROR with status and OpenAI body', async () => {
        const body = { ...validate('chat', { model: MODEL, messages: [{ role: 'user', content: 'x' }] }), model: 'no/such-model' };
        const e = await failure(forwardToBackend({ backendUrl: backend.url, endpoint: 'chat', body }));
        expect(e.code).toBe('BACKEND_ERROR');
        expect(e.status).toBe(404);
        expect(e.body).toEqual({ error: { message: "The model 'no/such-model' does not exist", type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });

        backend.faults = { failWith: { status: 503, code: 'overloaded', message: 'busy' } };
        const f = await failure(forwardToBackend({ backendUrl: backend.url, endpoint: 'completions', body: validate('completions', { model: MODEL, prompt: 'x', stream: true }) }));
        expect({ code: f.code, status: f.status, body: f.body }).toEqual({
            code: 'BACKEND_ERROR',
            status: 503,
            body: { error: { message: 'busy', type: 'server_error', param: null, code: 'overloaded' } },
        });
    });

    it('an unreachable backend is BACKEND_UNREACHABLE', async () => {
        const other = new ReferenceBackend();
        await other.start();
        const url = other.url;
        await other.stop();
        const e = await failure(forwardToBackend({ backendUrl: url, endpoint: 'completions', body: validate('completions', { model: MODEL, prompt: 'x' }) }));
        expect(e.code).toBe('BACKEND_UNREACHABLE');
    });

    it('reuses one kept-alive connection for requests one after another, streamed or not', async () => {
        let connections = 0;
        const count = () => connections++;
        (backend as unknown as { server: import('http').Server }).server.on('connection', count);
        try {
            for (let i = 0; i < 6; i++) {
                const stream = i % 2 === 0;
                const body = validate('chat', { model: MODEL, stream, messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 4 });
                const r = await forwardToBackend({ backendUrl: backend.url, endpoint: 'chat', body, onChunk: stream ? () => undefined : undefined });
                expect(r.completed).toBe(true);
            }
            // The first request may open the connection (or find one an earlier test left in the pool); none after it.
            expect(connections).toBeLessThanOrEqual(1);
        } finally {
            (backend as unknown as { server: import('http').Server }).server.off('connection', count);
        }
    });

    describe('a kept-alive connection the backend has closed', () => {
        // A backend that hangs up on the second request of each connection without answering (as a server whose
        // keep-alive timeout fired as the request went out), or on every request (`always`).
        async function hangingUp(always: boolean) {
            const seen: number[] = [];
            const perSocket = new Map<Socket, number>();
            const server = createServer((req: IncomingMessage, res: ServerResponse) => {
                const n = (perSocket.get(req.socket) ?? 0) + 1;
                perSocket.set(req.socket, n);
                seen.push(n);
                req.resume();
                req.on('end', () => {
                    if (always || n > 1) return req.socket.destroy();
                    res.writeHead(200, { 'content-type': 'application/json' });
                    res.end(JSON.stringify({ id: 'x', object: 'text_completion', choices: [{ index: 0, text: 'ok', finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
                });
            });
            await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
            const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
            return { server, url, seen, sockets: () => perSocket.size };
        }
        const body = () => validate('completions', { model: MODEL, prompt: 'x' });

        it('a request refused on a reused socket before any answer is sent again on a fresh connection', async () => {
            const b = await hangingUp(false);
            try {
                expect((await forwardToBackend({ backendUrl: b.url, endpoint: 'completions', body: body() })).usage).toEqual(usageOf(1, 1));
                expect((await forwardToBackend({ backendUrl: b.url, endpoint: 'completions', body: body() })).usage).toEqual(usageOf(1, 1));
                expect(b.seen).toEqual([1, 2, 1]); // the hang-up on the reused socket, then the same request on a new one
                expect(b.sockets()).toBe(2);
            } finally {
                b.server.closeAllConnections();
                b.server.close();
            }
        });

        it('a fresh connection that hangs up is not retried: BACKEND_UNREACHABLE after one attempt', async () => {
            const b = await hangingUp(true);
            try {
                const e = await failure(forwardToBackend({ backendUrl: b.url, endpoint: 'completions', body: body() }));
                expect(e.code).toBe('BACKEND_UNREACHABLE');
                expect(b.seen).toEqual([1]);
            } finally {
                b.server.closeAllConnections();
                b.server.close();
            }
        });
    });

    it('the abort signal stops a stream: BACKEND_ABORTED, no more chunks', async () => {
        backend.tokenDelayMs = 20;
        const ac = new AbortController();
        const relayed: string[] = [];
        const body = validate('chat', { model: MODEL, messages: [{ role: 'user', content: prompt }], stream: true });
        const e = await failure(
            forwardToBackend({
                backendUrl: backend.url,
                endpoint: 'chat',
                body,
                signal: ac.signal,
                onChunk: (d) => {
                    relayed.push(d);
                    if (relayed.length === 2) ac.abort();
                },
            }),
        );
        expect(e.code).toBe('BACKEND_ABORTED');
        expect(e.usage).toBeNull();
        expect(relayed).toHaveLength(2);
    });

    it('an already-aborted signal never reaches the backend', async () => {
        const before = backend.received.length;
        const e = await failure(forwardToBackend({ backendUrl: backend.url, endpoint: 'completions', body: validate('completions', { model: MODEL, prompt: 'x' }), signal: AbortSignal.abort() }));
        expect(e.code).toBe('BACKEND_ABORTED');
        expect(backend.received.length).toBe(before);
    });
});

describe('SseParser', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const stream = 'data: {"a":"é€"}\r\n\r\n: comment\nevent: x\ndata: line1\ndata: line2\n\ndata:[DONE]\r\r';

    it('gives the same events for every split of the byte stream', () => {
        const bytes = enc(stream);
        const want = ['{"a":"é€"}', 'line1\nline2', '[DONE]'];
        for (let i = 0; i <= bytes.length; i++) {
            for (let j = i; j <= bytes.length; j += 7) {
                const p = new SseParser();
                const got = [...p.push(bytes.subarray(0, i)), ...p.push(bytes.subarray(i, j)), ...p.push(bytes.subarray(j)), ...p.end()];
                expect(got).toEqual(want);
            }
        }
    });

    it('drops an unterminated last event and refuses oversized events', () => {
        const p = new SseParser();
        expect([...p.push(enc('data: a\n\ndata: b')), ...p.end()]).toEqual(['a']);
        expect(() => new SseParser(10).push(enc('data: ' + 'x'.repeat(11) + '\n'))).toThrow();
        expect(() => new SseParser(10).push(enc('data: ' + 'x'.repeat(40)))).toThrow();
    });
});

describe('meterAndSign', () => {
    it('zero-extends the 128-bit wire request id and refuses malformed ids', () => {
        expect(receiptRequestId('00000000000000000000000000000001')).toBe(1n);
        expect(receiptRequestId('ffffffffffffffffffffffffffffffff')).toBe((1n << 128n) - 1n);
        expect(() => receiptRequestId('ABCDEF00000000000000000000000000')).toThrow();
        expect(() => receiptRequestId('abc')).toThrow();
    });

    it('charges nothing for zero usage and still signs a receipt', () => {
        const zero = { prompt: 0n, cached: 0n, completion: 0n, reasoning: 0n };
        const m = meterAndSign({ requestId: 5n, modelId: modelId(MODEL), usage: zero, prices: PRICES, coefficient: COEFFICIENT_ONE, workerKeys: keys, clock: { now: () => 1000 } });
        expect(m.cost).toBe(0n);
        expect(verifyReceipt(m.receipt, { workerPublicKey: keys.publicKey, prices: PRICES, maxCoefficient: COEFFICIENT_ONE, requestId: 5n, modelId: modelId(MODEL) }).cost).toBe(0n);
    });
});
