// The tonapi adapter against a local stub of tonapi's SSE endpoint and REST API (external service):
// event parsing across chunk boundaries, heartbeats, reconnection, details through tonapi-sdk-js,
// auth header, and a 4xx ending the stream with STREAM_FAILED.
import { Address } from '@ton/core';
import { ChainError } from '../../../../agents/core/chain/errors';
import { parseTxEvent, readSse, TonapiAdapter, TxEvent } from '../../../../agents/core/chain/tonapi';
import { StubServer, VirtualClock } from './fake-chain-api';

const A = new Address(0, Buffer.alloc(32, 1));
const B = new Address(0, Buffer.alloc(32, 2));
const h = (n: number) => n.toString(16).padStart(64, '0');

function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
        const tick = () => {
            if (cond()) return resolve();
            if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
            setTimeout(tick, 5);
        };
        tick();
    });
}

describe('TonapiAdapter.accountTransactions', () => {
    let stub: StubServer;
    afterEach(() => stub.stop());

    it('delivers events split across chunks, skips heartbeats, reconnects and fetches details via the SDK', async () => {
        let connections = 0;
        stub = await new StubServer(async (req, res) => {
            const url = new URL(req.url, 'http://x');
            if (url.pathname === '/v2/sse/accounts/transactions') {
                connections++;
                res.writeHead(200, { 'content-type': 'text/event-stream' });
                if (connections === 1) {
                    const ev1 = `event: message\r\ndata: {"account_id":"${A.toRawString()}","lt":101,"tx_hash":"${h(1)}"}\r\n\r\n`;
                    // Heartbeat events, a comment, then one event split mid-line and one split inside \r\n.
                    res.write('event: heartbeat\ndata:\n\n: keep-alive\n\n');
                    res.write(ev1.slice(0, 30));
                    await new Promise((r) => setTimeout(r, 10));
                    res.write(ev1.slice(30, ev1.length - 1));
                    await new Promise((r) => setTimeout(r, 10));
                    res.write(ev1.slice(ev1.length - 1) + `event: message\nid: 7\ndata: {"account_id":"${B.toRawString()}",\ndata: "lt":"102","tx_hash":"${h(2).toUpperCase()}"}\n\n`);
                    res.end(); // the server drops the stream: the adapter must reconnect
                } else {
                    res.write(`data: {"account_id":"${A.toRawString()}","lt":103,"tx_hash":"${h(3)}"}\n\n`);
                    res.write('data: not json\n\n');
                    res.write(`data: {"account_id":"${A.toRawString()}","lt":104,"tx_hash":"${h(4)}"}\n\n`);
                }
                return;
            }
            const m = /^\/v2\/blockchain\/transactions\/([0-9a-f]{64})$/.exec(url.pathname);
            if (m) {
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ hash: m[1], lt: 1, account: { address: A.toRawString(), is_scam: false, is_wallet: true }, success: true, raw: 'b5ee' }));
                return;
            }
            res.writeHead(404).end('{}');
        }).start();

        const adapter = new TonapiAdapter({ endpoint: stub.url + '/', apiKey: 'tk', rps: 1000, reconnectBaseMs: 1, reconnectMaxMs: 2, clock: new VirtualClock() });
        const got: TxEvent[] = [];
        const errors: unknown[] = [];
        let opens = 0;
        const stream = adapter.accountTransactions([A, B.toRawString()], (ev) => void got.push(ev), {
            details: true,
            onOpen: () => opens++,
            onError: (e) => errors.push(e),
        });
        await waitFor(() => got.length === 4, '4 events');
        stream.close();
        await stream.done;
        expect(stream.error).toBeUndefined();

        expect(got.map((e) => [e.accountId, e.lt, e.txHash])).toEqual([
            [A.toRawString(), 101n, h(1)],
            [B.toRawString(), 102n, h(2)],
            [A.toRawString(), 103n, h(3)],
            [A.toRawString(), 104n, h(4)],
        ]);
        expect(got.every((e) => e.transaction?.hash === e.txHash)).toBe(true);
        expect(opens).toBe(2);
        // The bad event is reported, and the stream went on.
        expect(errors.some((e) => e instanceof ChainError && e.code === 'STREAM_FAILED' && /not JSON/.test(e.message))).toBe(true);

        const sse = stub.requests.filter((r) => r.url.startsWith('/v2/sse/'));
        expect(sse).toHaveLength(2);
        expect(new URL(sse[0].url, 'http://x').searchParams.get('accounts')).toBe(`${A.toRawString()},${B.toRawString()}`);
        expect(stub.requests.every((r) => r.headers.authorization === 'Bearer tk')).toBe(true);
        expect(stub.requests.filter((r) => r.url.startsWith('/v2/blockchain/transactions/'))).toHaveLength(4);
    });

    it('stops with STREAM_FAILED on 401 without retrying, and gives up after maxReconnects on 503', async () => {
        stub = await new StubServer((_req, res) => void res.writeHead(401).end('{"error":"unauthorized"}')).start();
        const adapter = new TonapiAdapter({ endpoint: stub.url, rps: 1000, clock: new VirtualClock() });
        const s = adapter.accountTransactions('ALL', () => undefined);
        await s.done;
        expect(s.error).toMatchObject({ code: 'STREAM_FAILED', details: { status: 401 } });
        expect(stub.requests).toHaveLength(1);
        expect(new URL(stub.requests[0].url, 'http://x').searchParams.get('accounts')).toBe('ALL');

        stub.requests.length = 0;
        stub.handler = (_req, res) => void res.writeHead(503).end();
        const clock = new VirtualClock();
        const a2 = new TonapiAdapter({ endpoint: stub.url, rps: 1000, maxReconnects: 3, reconnectBaseMs: 100, reconnectMaxMs: 1000, clock });
        const s2 = a2.accountTransactions([A], () => undefined);
        await s2.done;
        expect(s2.error).toMatchObject({ code: 'STREAM_FAILED' });
        expect(stub.requests).toHaveLength(4);
        expect(clock.sleeps).toHaveLength(3);
    });

    it('REST calls go through the throttled, retrying transport', async () => {
        let n = 0;
        stub = await new StubServer((req, res) => {
            if (++n === 1) return void res.writeHead(429, { 'retry-after': '1' }).end('{"error":"rate limit"}');
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hash: h(9), lt: 5 }));
        }).start();
        const clock = new VirtualClock();
        const adapter = new TonapiAdapter({ endpoint: stub.url, rps: 1000, clock });
        const tx = await adapter.getTransaction(h(9));
        expect(tx.hash).toBe(h(9));
        expect(stub.requests).toHaveLength(2);
        expect(adapter.transport.stats.retryDelays[0]).toBeGreaterThanOrEqual(1000);

        stub.handler = (_req, res) => void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"entity not found"}');
        await expect(adapter.getTransaction(h(8))).rejects.toMatchObject({ code: 'CHAIN_REQUEST_REJECTED', details: { status: 404 } });
    });
});

describe('SSE parsing', () => {
    const streamOf = (chunks: string[]) =>
        new ReadableStream<Uint8Array>({
            start(c) {
                for (const s of chunks) c.enqueue(new TextEncoder().encode(s));
                c.close();
            },
        });

    it('handles CR, LF and CRLF line ends, multi-line data, fields without values and a trailing partial event', async () => {
        const out: [string, string][] = [];
        await readSse(streamOf(['data: a\rdata: b\r', '\r', 'event: x\r\ndata\r\n\r\n', 'data:no-space\n\ndata: cut']), new AbortController().signal, async (e, d) => {
            out.push([e, d]);
        });
        expect(out).toEqual([
            ['message', 'a\nb'],
            ['x', ''],
            ['message', 'no-space'],
        ]);
    });

    it('rejects oversized lines instead of buffering without bound', async () => {
        const big = 'data: ' + 'x'.repeat((1 << 20) + 10);
        await expect(readSse(streamOf([big]), new AbortController().signal, async () => undefined)).rejects.toMatchObject({ code: 'STREAM_FAILED' });
    });

    it.each(['{}', '[]', '"x"', `{"account_id":"0:1","lt":-1,"tx_hash":"${h(1)}"}`, `{"account_id":"0:1","lt":1,"tx_hash":"zz"}`, '{"account_id":5,"lt":1,"tx_hash":"00"}'])(
        'parseTxEvent rejects %s',
        (data) => {
            expect(() => parseTxEvent(data)).toThrow(ChainError);
        },
    );
});
