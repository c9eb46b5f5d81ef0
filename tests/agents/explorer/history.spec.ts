// The transaction index (agents/explorer/history.ts) on a real devnet: only what a contract accepted becomes a fact;
// redeems, workers leaving, reported, executed and equivocation slashes show under their Proxy with their amounts; a
// history cut by the limit says so while proposal ids still come out right. Tests run in order (the clock moves).
import { toNano } from '@ton/core';
import { ExplorerViews } from '../../../agents/explorer/api';
import { History } from '../../../agents/explorer/history';
import { ExplorerNetwork, startExplorerNetwork } from '../../../fixtures/explorer-network';

jest.setTimeout(60_000);

const IMAGE_C = BigInt('0x' + 'c3'.repeat(32));

let net: ExplorerNetwork;
beforeAll(async () => {
    net = await startExplorerNetwork();
});
afterAll(async () => net?.stop());

function indexOf(limit?: number, pageSize = limit): { history: History; views: ExplorerViews } {
    const history = new History({ root: net.root, governance: net.governance, testOnly: true, ...(limit ? { limit } : {}), ...(pageSize ? { pageSize } : {}) });
    history.track(net.proxy, 'proxy');
    return { history, views: new ExplorerViews({ chain: net.chain, history, network: 'devnet' }) };
}

describe('the index', () => {
    it('a Vote Governance refused (a stranger, aborted transaction) makes no vote and no feed event', async () => {
        const { history } = indexOf();
        await history.syncAll(net.chain);
        const before = history.events(1000).length;
        await net.strangerVote(1);
        const govTxs = await net.chain.getTransactions(net.governance, { limit: 1 });
        expect(govTxs[0].description.type === 'generic' && govTxs[0].description.aborted).toBe(true);
        const events = await history.sync(net.chain, net.governance.toRawString());
        expect(events).toEqual([]);
        expect(history.events(1000)).toHaveLength(before);
        expect([...(history.votes.get(1)?.keys() ?? [])]).toEqual([net.voters[0].toRawString()]);
    });

    it('an AddImage a stranger sends Root directly (refused: not Governance) makes no image fact and no event', async () => {
        const { history } = indexOf();
        await history.syncAll(net.chain);
        const before = [...history.images.keys()];
        await net.strangerAddImage(IMAGE_C);
        const rootTxs = await net.chain.getTransactions(net.root, { limit: 1 });
        expect(rootTxs[0].description.type === 'generic' && rootTxs[0].description.aborted).toBe(true);
        expect(await history.sync(net.chain, net.root.toRawString())).toEqual([]);
        expect([...history.images.keys()]).toEqual(before);
        expect(await net.chain.isImageAllowed('worker', IMAGE_C.toString(16))).toBe(false);
    });

    it('a fault reported on a WorkerChannel is a slash in its Proxy view, with the amount the report carried', async () => {
        const { history, views } = indexOf();
        await history.syncAll(net.chain);
        await net.reportFault(0n, toNano('0.3'));
        const events = await history.sync(net.chain, net.channel.toRawString());
        expect(events.map((e) => e.kind)).toEqual(['slash']);
        expect(events[0].links).toMatchObject({ channel: { raw: net.channel.toRawString() }, proxy: { raw: net.proxy.toRawString() } });
        const v = await views.proxy(net.proxy);
        expect(v.slashes).toHaveLength(1);
        expect(v.slashes[0]).toMatchObject({ kind: 'fault-reported', target: { raw: net.channel.toRawString() }, amount: toNano('0.3').toString(), tx: events[0].tx });
        expect(v.workerChannels[0].pendingFault).toMatchObject({ seqno: 0, amount: toNano('0.3').toString(), reason: 1 });
    });

    it("a Proxy's redeem from a ClientChannel is a feed event, and the channel's address view equals its getter", async () => {
        const { history, views } = indexOf();
        await history.syncAll(net.chain);
        const channel = await net.openClientChannel(toNano('0.5'));
        const events = await history.sync(net.chain, net.proxy.toRawString());
        expect(events.map((e) => e.kind)).toEqual(['redeem']);
        expect(events[0].links).toMatchObject({ proxy: { raw: net.proxy.toRawString() }, channel: { raw: channel.toRawString() } });
        expect(events[0].words).toContain('redeemed 0.5 TON');
        const v = await views.address(channel);
        const cs = (await net.chain.getClientChannelState(channel))!;
        expect(v.kind).toBe('client-channel');
        if (v.kind !== 'client-channel') return;
        expect(v.channel).toMatchObject({ state: 'open', balance: cs.balance.toString(), redeemed: toNano('0.5').toString(), proxy: { raw: net.proxy.toRawString() }, client: { raw: cs.client.toRawString() } });
    });

    it('a history cut by the limit is marked incomplete, and proposal ids still count back from nextProposalId', async () => {
        const { history, views } = indexOf(2);
        await history.syncAll(net.chain);
        expect(history.isComplete(net.governance.toRawString())).toBe(false);
        expect(history.complete).toBe(false);
        const g = await views.governance();
        expect(g.historyComplete).toBe(false);
        // The two newest Governance transactions are the stranger's refused Vote and proposal 1's Propose: that Propose
        // is numbered from nextProposalId down, not from 0 (proposal 0's Propose is outside the window).
        expect(history.proposeIds(g.nextProposalId).map((x) => x.id)).toEqual([1]);
        const open = g.proposals.find((p) => p.id === 1)!;
        expect(open.status).toBe('open');
        expect(open.proposer?.raw).toBe(net.voters[0].toRawString());
        // The images were added by transactions older than the window: their provenance is unknown, not invented.
        const images = await views.images();
        expect(images.historyComplete).toBe(false);
        expect(images.images.every((i) => i.added === null)).toBe(true);
    });

    it('paging back two transactions at a time indexes the same events as one page; a limit inside a page cuts it', async () => {
        const one = indexOf();
        await one.history.syncAll(net.chain);
        const paged = indexOf(2000, 2);
        await paged.history.syncAll(net.chain);
        expect(paged.history.complete).toBe(true);
        expect(paged.history.events(1000).map((e) => e.id)).toEqual(one.history.events(1000).map((e) => e.id));
        const cut = indexOf(3, 2);
        await cut.history.syncAll(net.chain);
        expect(cut.history.isComplete(net.governance.toRawString())).toBe(false);
        const govTxs = await net.chain.getTransactions(net.governance, { limit: 3 });
        const govEvents = cut.history.events(1000).filter((e) => e.account.raw === net.governance.toRawString());
        for (const e of govEvents) expect(govTxs.map((t) => t.hash().toString('hex'))).toContain(e.tx.hash);
    });

    it('a worker that unbonds and finishes leaves its Proxy: worker-left, and the Proxy view no longer lists its channel', async () => {
        const { history, views } = indexOf();
        const w = await net.addWorker('leaving-worker');
        await history.syncAll(net.chain);
        expect((await views.proxy(net.proxy)).workerChannels.map((c) => c.address.raw)).toContain(w.channel.toRawString());
        await w.unbond();
        net.advance(Number((await net.chain.getWorkerChannelState(w.channel))!.unbondDelay) + 1);
        await w.finish();
        const events = await history.sync(net.chain, net.proxy.toRawString());
        expect(events.map((e) => e.kind)).toEqual(['worker-left']);
        expect(events[0].links.channel?.raw).toBe(w.channel.toRawString());
        expect((await views.proxy(net.proxy)).workerChannels.map((c) => c.address.raw)).toEqual([net.channel.toRawString()]);
    });

    it('the fault reported earlier, executed after its challenge period, is a slash-executed with the amount taken', async () => {
        const { history, views } = indexOf();
        await history.syncAll(net.chain);
        const pending = (await net.chain.getWorkerChannelState(net.channel))!.slash!;
        net.advance(Math.max(0, Number(pending.executeAt) - net.now()) + 1);
        await net.executeSlash();
        const events = await history.sync(net.chain, net.channel.toRawString());
        expect(events.map((e) => e.kind)).toEqual(['slash']);
        const v = await views.proxy(net.proxy);
        expect(v.slashes.map((x) => [x.kind, x.amount])).toEqual([
            ['slash-executed', pending.amount.toString()],
            ['fault-reported', pending.amount.toString()],
        ]);
        expect(v.workerChannels[0].pendingFault).toBeNull();
    });

    it("an equivocation proof slashes the Proxy: a slash event and the Proxy view's slashing history, stake and ban as the getter says", async () => {
        const { history, views } = indexOf();
        await history.syncAll(net.chain);
        const stakeBefore = (await net.chain.getProxyState(net.proxy))!.stake;
        await net.reportEquivocation(7n);
        const events = await history.sync(net.chain, net.proxy.toRawString());
        expect(events.map((e) => [e.kind, e.links.proxy?.raw])).toEqual([['slash', net.proxy.toRawString()]]);
        const v = await views.proxy(net.proxy);
        const ps = (await net.chain.getProxyState(net.proxy))!;
        expect(v.slashes.map((x) => [x.kind, x.target.raw, x.amount, x.tx.hash])).toContainEqual(['equivocation', net.proxy.toRawString(), stakeBefore.toString(), events[0].tx.hash]);
        expect(v).toMatchObject({ banned: ps.banned, stake: ps.stake.toString() });
        expect(ps.stake).toBe(0n);
    });
});
