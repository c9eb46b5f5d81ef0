// The live feed over the devnet's tonapi-compatible stream: a Proxy registered after the explorer started is found
// through Root's transaction, the stream reopens with it, and its own transactions (a state commit) reach the feed
// and the SSE subscribers without any request to the explorer in between.
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
