// The live feed over the devnet's tonapi-compatible stream: a Proxy registered after the explorer started is found
// through Root's transaction, the stream reopens with it, and its own transactions (a state commit) reach the feed
// and the SSE subscribers without any request to the explorer in between.
import { randomBytes } from 'crypto';
import { createServer, request } from 'http';
import { AddressInfo } from 'net';
import { ExplorerServer } from '../../../agents/explorer/server';
import { ExplorerNetwork, startExplorerNetwork } from '../../../fixtures/explorer-network';
import type { FeedEvent, ProxyView } from '../../../agents/explorer/types';

jest.setTimeout(60_000);

let net: ExplorerNetwork;
let explorer: ExplorerServer;
let url: string;

beforeAll(async () => {
    net = await startExplorerNetwork();
    explorer = new ExplorerServer({ chain: net.chainConfig, network: 'devnet' });
    ({ url } = await explorer.start());
});
afterAll(async () => {
    await explorer?.stop();
    await net?.stop();
});

/** Reads SSE `event: feed` frames until `want` returns true for one; returns it. */
async function nextEvent(body: ReadableStream<Uint8Array>, want: (e: FeedEvent) => boolean): Promise<FeedEvent> {
    const reader = body.getReader();
    let buf = '';
    for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += Buffer.from(value).toString();
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = /^event: feed\ndata: (.*)$/m.exec(frame.replace(/^id: .*\n/, ''))?.[1];
            if (data) {
                const e = JSON.parse(data) as FeedEvent;
                if (want(e)) {
                    reader.releaseLock();
                    return e;
                }
            }
        }
    }
}

describe('the live feed follows new contracts', () => {
    it('a Proxy registered later shows as proxy-registered, and its commit arrives on the stream once it is tracked', async () => {
        const ctrl = new AbortController();
        const res = await fetch(`${url}/api/feed/stream`, { signal: ctrl.signal });
        const proxy = await net.addProxy('late');
        const raw = proxy.address.toRawString();
        const reg = await nextEvent(res.body!, (e) => e.kind === 'proxy-registered' && e.links.proxy?.raw === raw);
        expect(reg.account.raw).toBe(net.root.toRawString());
        // The stream is reopened with the new Proxy (and every account backfilled): a commit sent now is announced.
        await proxy.commit(5n);
        const commit = await nextEvent(res.body!, (e) => e.kind === 'commit' && e.account.raw === raw);
        ctrl.abort();
        expect(commit.words).toContain('committed state 5');
        const v = (await (await fetch(`${url}/api/proxies/${raw}`)).json()) as ProxyView;
        expect(v.lastCommit).toMatchObject({ seqno: '5', tx: commit.tx });
    });
});

describe('attacks through the stream (each gains nothing)', () => {
    it('a stream announcing one account a thousand times, and accounts the explorer does not follow, costs a few getTransactions walks', async () => {
        // A hostile tonapi-compatible stream (a double of the outside service) and a pass-through counting walks.
        let walks = 0;
        let sent = false;
        const target = new URL(net.chainConfig.endpoint);
        const counter = createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on('data', (d) => chunks.push(d));
            req.on('end', () => {
                const body = Buffer.concat(chunks);
                if (body.toString().includes('"getTransactions"')) walks++;
                const fwd = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
                    res.writeHead(r.statusCode!, r.headers);
                    r.pipe(res);
                });
                fwd.end(body);
            });
        });
        const stream = createServer((_req, res) => {
            res.writeHead(200, { 'Content-Type': 'text/event-stream' });
            const ev = (account: string, i: number) => `event: message\ndata: ${JSON.stringify({ account_id: account, lt: 1000 + i, tx_hash: randomBytes(32).toString('hex') })}\n\n`;
            let frames = '';
            for (let i = 0; i < 1000; i++) frames += ev(net.root.toRawString(), i);
            for (let i = 0; i < 200; i++) frames += ev(`0:${randomBytes(32).toString('hex')}`, i);
            res.write(frames);
            sent = true;
        });
        for (const s of [counter, stream]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
        const port = (s: typeof counter) => (s.address() as AddressInfo).port;
        const own = new ExplorerServer({ chain: { ...net.chainConfig, endpoint: `http://127.0.0.1:${port(counter)}${target.pathname}` }, streamEndpoint: `http://127.0.0.1:${port(stream)}`, network: 'devnet' });
        try {
            await own.start();
            const atStart = walks;
            while (!sent) await new Promise((r) => setTimeout(r, 20));
            // Let the announcements drain: the count settles.
            for (let last = -1; last !== walks; ) {
                last = walks;
                await new Promise((r) => setTimeout(r, 300));
            }
            // The (re)connection's backfill walks each followed account once more; the thousand announcements add a few.
            expect(walks - atStart).toBeLessThanOrEqual(2 * atStart + 5);
            expect(walks - atStart).toBeLessThan(100);
        } finally {
            await own.stop();
            for (const s of [counter, stream]) {
                s.closeAllConnections();
                await new Promise<void>((r) => s.close(() => r()));
            }
        }
    });
});

