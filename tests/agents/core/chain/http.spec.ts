// The throttled, retrying transport against a local stub of toncenter's failure behaviour (429 with and
// without Retry-After, 5xx, dropped connections, hanging requests). Retry delays run on a virtual clock,
// so no test waits in real time; limits are asserted by counting starts per window, never by timing.
import { Address } from '@ton/core';
import { TonClient } from '@ton/ton';
import { ChainError } from '../../../../agents/core/chain/errors';
import { ChainTransport, parseRetryAfter, Throttle, TransportOptions } from '../../../../agents/core/chain/http';
import { maxPerWindow, scripted, StubServer, VirtualClock } from './fake-chain-api';

const ok = { status: 200 };

function transport(clock: VirtualClock, over: Partial<TransportOptions> = {}) {
    return new ChainTransport({
        rps: 1000,
        maxRetries: 4,
        backoffBaseMs: 100,
        backoffMaxMs: 1_000,
        retryAfterMaxMs: 30_000,
        timeoutMs: 5_000,
        clock,
        random: () => 0.5,
        ...over,
    });
}

const rpc = (method: string, params: object = {}) => ({
    method: 'POST',
    url: '',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: '1', jsonrpc: '2.0', method, params }),
});

async function codeOf(p: Promise<unknown>): Promise<string> {
    try {
        await p;
    } catch (e) {
        if (e instanceof ChainError) return e.code;
        throw e;
    }
    throw new Error('expected a rejection');
}

describe('ChainTransport retries', () => {
    let stub: StubServer;
    beforeEach(async () => {
        stub = await new StubServer(scripted([ok])).start();
    });
    afterEach(() => stub.stop());

    it('retries 429 (honouring Retry-After) and 500, then returns the success', async () => {
        stub.handler = scripted([{ status: 429, headers: { 'retry-after': '2' } }, { status: 500 }, ok]);
        const clock = new VirtualClock();
        const t = transport(clock);
        const res = await t.request({ ...rpc('getMasterchainInfo'), url: stub.url });
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toEqual({ ok: true, result: 'fine' });
        expect(stub.requests).toHaveLength(3);
        expect(t.stats.retries).toBe(2);
        // First wait: Retry-After 2 s outranks the 75 ms backoff; second: backoff(1) = 100 + 0.5 * 100.
        expect(t.stats.retryDelays).toEqual([2000, 150]);
        expect(t.stats.byMethod).toEqual({ getMasterchainInfo: 3 });
    });

    it('backs off exponentially with jitter when 429 carries no Retry-After', async () => {
        stub.handler = scripted([{ status: 429 }, { status: 429 }, { status: 429 }, { status: 429 }, { status: 429 }, ok]);
        const clock = new VirtualClock();
        const t = transport(clock, { maxRetries: 5, random: () => 1 });
        await t.request({ ...rpc('runGetMethod', { method: 'version' }), url: stub.url });
        expect(stub.requests).toHaveLength(6);
        // min(max, base * 2^n) with random=1 → full step; capped at backoffMaxMs.
        expect(t.stats.retryDelays).toEqual([100, 200, 400, 800, 1000]);
        expect(t.stats.byMethod).toEqual({ 'runGetMethod:version': 6 });
        const zero = transport(new VirtualClock(), { random: () => 0 });
        expect([0, 1, 2, 3, 4].map((n) => zero.backoff(n))).toEqual([50, 100, 200, 400, 500]);
    });

    it('accepts Retry-After as an HTTP date', async () => {
        const now = Date.parse('2025-01-01T00:00:00Z');
        expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:03 GMT', now)).toBe(3000);
        expect(parseRetryAfter('1.5', now)).toBe(1500);
        expect(parseRetryAfter('soon', now)).toBeUndefined();
        expect(parseRetryAfter(undefined, now)).toBeUndefined();
    });

    it.each([400, 401, 403, 404, 422])('does not retry HTTP %i', async (status) => {
        stub.handler = scripted([{ status }, ok]);
        const t = transport(new VirtualClock());
        expect(await codeOf(t.request({ ...rpc('sendBoc'), url: stub.url }))).toBe('CHAIN_REQUEST_REJECTED');
        expect(stub.requests).toHaveLength(1);
        expect(t.stats.retries).toBe(0);
    });

    it('gives up after maxRetries with CHAIN_UNAVAILABLE (5xx) or CHAIN_RATE_LIMITED (429)', async () => {
        stub.handler = scripted([{ status: 503 }]);
        const t = transport(new VirtualClock(), { maxRetries: 2 });
        const err = await t.request({ ...rpc('getAddressInformation'), url: stub.url }).catch((e) => e);
        expect(err).toBeInstanceOf(ChainError);
        expect(err.code).toBe('CHAIN_UNAVAILABLE');
        expect(err.details).toMatchObject({ status: 503, attempts: 3, request: 'getAddressInformation' });
        expect(stub.requests).toHaveLength(3);

        stub.requests.length = 0;
        stub.handler = scripted([{ status: 429, headers: { 'retry-after': '1' } }]);
        const t2 = transport(new VirtualClock(), { maxRetries: 3 });
        expect(await codeOf(t2.request({ ...rpc('getAddressInformation'), url: stub.url }))).toBe('CHAIN_RATE_LIMITED');
        expect(stub.requests).toHaveLength(4);
    });

    it('does not wait for a Retry-After beyond retryAfterMaxMs', async () => {
        stub.handler = scripted([{ status: 429, headers: { 'retry-after': '3600' } }, ok]);
        const clock = new VirtualClock();
        const t = transport(clock, { retryAfterMaxMs: 60_000 });
        const err = await t.request({ ...rpc('getAddressInformation'), url: stub.url }).catch((e) => e);
        expect(err.code).toBe('CHAIN_RATE_LIMITED');
        expect(err.details.retryAfterMs).toBe(3_600_000);
        expect(stub.requests).toHaveLength(1);
        expect(clock.sleeps).toEqual([]);
    });

    it('retries dropped connections and timeouts as network errors', async () => {
        stub.handler = scripted(['drop', 'drop', ok]);
        const t = transport(new VirtualClock());
        expect((await t.request({ ...rpc('getMasterchainInfo'), url: stub.url })).status).toBe(200);
        expect(stub.requests).toHaveLength(3);

        // A server that never answers: each attempt times out (50 ms real), then CHAIN_UNAVAILABLE.
        stub.requests.length = 0;
        stub.handler = () => undefined;
        const t2 = transport(new VirtualClock(), { timeoutMs: 50, maxRetries: 1 });
        const err = await t2.request({ ...rpc('getMasterchainInfo'), url: stub.url }).catch((e) => e);
        expect(err.code).toBe('CHAIN_UNAVAILABLE');
        expect(String(err.details.cause)).toMatch(/timeout|abort/i);
        expect(stub.requests).toHaveLength(2);
    });

    it('retries a refused connection, then reports CHAIN_UNAVAILABLE', async () => {
        const closed = await new StubServer(scripted([ok])).start();
        const url = closed.url;
        await closed.stop();
        const t = transport(new VirtualClock(), { maxRetries: 2 });
        const err = await t.request({ ...rpc('getMasterchainInfo'), url }).catch((e) => e);
        expect(err.code).toBe('CHAIN_UNAVAILABLE');
        expect(t.stats.attempts).toBe(3);
        expect(String(err.details.cause)).toMatch(/ECONNREFUSED|fetch failed/);
    });

    it('sends the API key as X-API-Key', async () => {
        const t = transport(new VirtualClock(), { apiKey: 'k-123' });
        await t.request({ ...rpc('getMasterchainInfo'), url: stub.url });
        expect(stub.requests[0].headers['x-api-key']).toBe('k-123');
    });
});

describe('ChainTransport throttling', () => {
    let stub: StubServer;
    beforeEach(async () => {
        stub = await new StubServer(scripted([ok])).start();
    });
    afterEach(() => stub.stop());

    it('starts at most rps requests in any one-second window, even with 30 concurrent callers', async () => {
        const clock = new VirtualClock();
        const t = transport(clock, { rps: 5 });
        const results = await Promise.all(Array.from({ length: 30 }, (_, i) => t.request({ ...rpc('getAddressInformation', { i }), url: stub.url })));
        expect(results.every((r) => r.status === 200)).toBe(true);
        expect(stub.requests).toHaveLength(30);
        expect(t.stats.starts).toHaveLength(30);
        expect(maxPerWindow(t.stats.starts, 1000)).toBe(5);
        // Every caller got through exactly once (arrival order at the server may differ: parallel sockets).
        expect(stub.requests.map((r) => JSON.parse(r.body).params.i).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    });

    it('counts retries against the limit and pauses everyone after a 429', async () => {
        let n = 0;
        stub.handler = (_req, res) => {
            n++;
            const limited = n % 4 === 0;
            res.writeHead(limited ? 429 : 200, limited ? { 'retry-after': '3' } : {});
            res.end(JSON.stringify({ ok: !limited, result: n }));
        };
        const clock = new VirtualClock();
        const t = transport(clock, { rps: 10 });
        await Promise.all(Array.from({ length: 24 }, () => t.request({ ...rpc('getAddressInformation'), url: stub.url })));
        expect(stub.requests).toHaveLength(t.stats.attempts);
        expect(t.stats.retries).toBe(t.stats.attempts - 24);
        expect(t.stats.retries).toBeGreaterThan(0);
        expect(maxPerWindow(t.stats.starts, 1000)).toBeLessThanOrEqual(10);
        // After each 429 nothing starts for the Retry-After period (3 s): some gap of >= 3000 ms exists.
        const s = t.stats.starts;
        const gaps = s.slice(1).map((v, i) => v - s[i]);
        expect(gaps.filter((g) => g >= 3000).length).toBeGreaterThanOrEqual(1);
    });

    it('Throttle spaces starts by 1000/rps on its clock', async () => {
        const clock = new VirtualClock();
        const th = new Throttle(4, clock);
        const starts: number[] = [];
        const order: number[] = [];
        await Promise.all(Array.from({ length: 9 }, (_, i) => th.acquire().then((at) => (starts.push(at), order.push(i)))));
        expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]); // FIFO
        expect(maxPerWindow(starts, 1000)).toBe(4);
        expect(starts.slice(1).map((v, i) => v - starts[i])).toEqual(Array(8).fill(250));
    });

    it('a host clock set back an hour delays the next start by the interval, not by the hour', async () => {
        const clock = new VirtualClock();
        const th = new Throttle(4, clock);
        await th.acquire();
        th.pauseUntil(clock.now() + 2000); // a Retry-After of 2 s
        clock.t -= 3_600_000;
        const at = await th.acquire();
        expect(Math.max(...clock.sleeps)).toBeLessThanOrEqual(2000);
        expect(at).toBe(clock.now());
    });
});

describe('ChainTransport as the TonClient httpAdapter', () => {
    let stub: StubServer;
    afterEach(() => stub.stop());

    it('carries TonClient calls through 429/500 to a decoded result, with the key header', async () => {
        const info = {
            '@type': 'raw.fullAccountState',
            balance: '1234567',
            state: 'uninitialized',
            code: '',
            data: '',
            last_transaction_id: { '@type': 'internal.transactionId', lt: '0', hash: Buffer.alloc(32).toString('base64') },
            block_id: { '@type': 'ton.blockIdExt', workchain: -1, shard: '-9223372036854775808', seqno: 1, root_hash: '', file_hash: '' },
            sync_utime: 1,
        };
        let n = 0;
        stub = await new StubServer((req, res) => {
            n++;
            const body = JSON.parse(req.body);
            if (n === 1) return void res.writeHead(429).end(JSON.stringify({ ok: false, error: 'Ratelimit exceed', code: 429 }));
            if (n === 2) return void res.writeHead(500).end(JSON.stringify({ ok: false, error: 'LITE_SERVER_NETWORK', code: 500 }));
            if (body.method === 'getAddressInformation') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result: info }));
            if (body.method === 'runGetMethod') {
                return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result: { gas_used: 1, exit_code: 0, stack: [['num', '0x2a']] } }));
            }
            res.writeHead(400).end(JSON.stringify({ ok: false, error: 'unknown method', code: 400 }));
        }).start();
        const t = transport(new VirtualClock(), { apiKey: 'secret' });
        const client = new TonClient({ endpoint: `${stub.url}/api/v2/jsonRPC`, httpAdapter: t.axiosAdapter() });
        const addr = new Address(0, Buffer.alloc(32, 7));
        expect(await client.getBalance(addr)).toBe(1234567n);
        const r = await client.runMethod(addr, 'version');
        expect(r.stack.readBigNumber()).toBe(42n);
        expect(stub.requests).toHaveLength(4);
        expect(stub.requests.every((q) => q.url === '/api/v2/jsonRPC' && q.method === 'POST' && q.headers['x-api-key'] === 'secret')).toBe(true);
        expect(t.stats.byMethod).toEqual({ getAddressInformation: 3, 'runGetMethod:version': 1 });

        // A 4xx reaches the caller as a typed error, not as TonClient's untyped one.
        await expect(client.getMasterchainInfo()).rejects.toMatchObject({ code: 'CHAIN_REQUEST_REJECTED' });
    });
});
