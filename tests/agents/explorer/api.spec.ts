// The explorer's JSON API over a real devnet (fixtures/explorer-network.ts): every view equals what the getters say,
// provenance names the proposal that set a value, an executed proposal (gone from Governance) is rebuilt from its
// transactions, a worker channel shows under its proxy, and a vote lands in /api/feed and on the SSE stream.
import { Address, toNano } from '@ton/core';
import { ExplorerServer } from '../../../agents/explorer/server';
import { hex256 } from '../../../agents/core/hex';
import { GovernanceWrapper } from '../../../wrappers/Governance';
import { RootWrapper } from '../../../wrappers/Root';
import { EXPLORER_GOV_PARAMS, ExplorerNetwork, IMAGE_A, IMAGE_B, startExplorerNetwork } from '../../../fixtures/explorer-network';
import { NETWORK_MODEL } from '../../../fixtures/agent-network';
import type { AddressView, FeedEvent, FeedView, GovernanceView, ImagesView, ModelsView, ProposalView, ProxiesView, ProxyView, RootView } from '../../../agents/explorer/types';

jest.setTimeout(60_000);

let net: ExplorerNetwork;
let explorer: ExplorerServer;
let url: string;

beforeAll(async () => {
    net = await startExplorerNetwork();
    explorer = new ExplorerServer({ chain: net.chainConfig, network: 'devnet', heartbeatMs: 500 });
    ({ url } = await explorer.start());
});

afterAll(async () => {
    await explorer?.stop();
    await net?.stop();
});

async function get<T>(path: string): Promise<T> {
    const res = await fetch(url + path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    return (await res.json()) as T;
}

/** Polls until `f` returns a value (the live feed indexes a transaction within a second or two of it landing). */
async function eventually<T>(f: () => Promise<T | undefined>, what: string): Promise<T> {
    for (let i = 0; i < 100; i++) {
        const v = await f();
        if (v !== undefined) return v;
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
}

const raw = (a: Address) => a.toRawString();

describe('views equal the getters', () => {
    it('GET /api/root: version, params, governance, treasury, child code hashes and counts as Root reports them', async () => {
        const v = await get<RootView>('/api/root');
        const root = net.chain.open(RootWrapper.open(net.root));
        const params = await root.getParams();
        const counts = await root.getCounts();
        const cc = await root.getChildCode();
        expect(v.address.raw).toBe(raw(net.root));
        expect(v.version).toBe(Number(await root.getVersion()));
        expect(v.governance.raw).toBe(raw(net.governance));
        expect(v.treasury.raw).toBe(raw(await root.getTreasury()));
        expect(v.params.minProxyStake).toBe(params.minProxyStake.toString());
        expect(v.params.commissionBps).toBe(Number(params.commissionBps));
        expect(v.params.slashChallengePeriod).toBe(Number(params.slashChallengePeriod));
        expect(v.childCode).toEqual({
            codeVersion: Number(cc.codeVersion),
            proxyCodeHash: cc.proxyCode.hash().toString('hex'),
            clientCodeHash: cc.clientCode.hash().toString('hex'),
            workerCodeHash: cc.workerCode.hash().toString('hex'),
        });
        expect(v.counts).toEqual({ proxyImages: 1, workerImages: 1, keyImages: 0, models: 1, proxies: 1 });
        expect(v.counts.keyImages).toBe(Number(counts.keyImages));
        expect(Number(counts.proxies)).toBe(1);
        expect(v.balance).toBe((await net.chain.getBalance(net.root)).toString());
        expect(v.chainTime).toBe(net.now());
        expect(v.historyComplete).toBe(true);
    });

    it('GET /api/models and /api/images: each registered by proposal 0, proposed by voter 1', async () => {
        const cfg = await net.chain.getRootConfig();
        const models = await get<ModelsView>('/api/models');
        expect(models.models.map((m) => m.id)).toEqual([...cfg.models.keys()]);
        const [m] = models.models;
        const onChain = cfg.models.get(m.id)!;
        expect(m).toMatchObject({ name: onChain.name, weightsHash: hex256(onChain.weightsHash), contextLength: Number(onChain.contextLength) });
        expect(m.prices).toEqual({ prompt: onChain.pricePrompt.toString(), cached: onChain.priceCached.toString(), completion: onChain.priceCompletion.toString(), reasoning: onChain.priceReasoning.toString() });
        expect(m.requireGpu).toBe(onChain.requireGpu);
        expect(m.registered).toMatchObject({ proposalId: 0, proposer: { raw: raw(net.voters[0]) } });

        const images = await get<ImagesView>('/api/images');
        expect(images.images.map((i) => [i.kind, i.hash])).toEqual([
            ['proxy', hex256(IMAGE_A)],
            ['worker', hex256(IMAGE_A)],
        ]);
        for (const i of images.images) expect(i.added).toMatchObject({ proposalId: 0, proposer: { raw: raw(net.voters[0]) } });
        // The provenance tx is Root's transaction that applied it.
        const rootTxs = await net.chain.getTransactions(net.root, { limit: 50 });
        expect(rootTxs.map((t) => t.hash().toString('hex'))).toContain(images.images[0].added!.tx.hash);
    });

    it('GET /api/governance: voters, params and proposals; proposal 0 executed (rebuilt from history), proposal 1 open', async () => {
        const v = await get<GovernanceView>('/api/governance');
        const g = net.chain.open(GovernanceWrapper.open(net.governance));
        expect(v.voters.map((x) => x.address.raw).sort()).toEqual(net.voters.map(raw).sort());
        expect(v.voters.every((x) => x.weight === 1)).toBe(true);
        expect(v.totalWeight).toBe(Number(await g.getTotalWeight()));
        expect(v.nextProposalId).toBe(Number(await g.getNextProposalId()));
        expect(v.params).toEqual({ quorumBps: 5000, majorityBps: 5000, votingPeriod: 3600, timelock: 0, executionWindow: 3600 });
        expect(v.proposals.map((p) => [p.id, p.status])).toEqual([
            [1, 'open'],
            [0, 'executed'],
        ]);
        const open = v.proposals[0];
        const live = (await g.getProposal(1n))!;
        expect(open).toMatchObject({ proposer: { raw: raw(net.voters[0]) }, createdAt: Number(live.createdAt), deadline: Number(live.deadline), yes: 1, no: 0, totalWeight: 3 });
        expect(open.deadline! - open.createdAt!).toBe(Number(EXPLORER_GOV_PARAMS.votingPeriod));
        expect(open.votes.map((x) => [x.voter.raw, x.support])).toEqual([[raw(net.voters[0]), true]]);
        expect(open.created).not.toBeNull();

        const done = v.proposals[1];
        expect(await g.getProposal(0n)).toBeNull();
        expect(done.executed).not.toBeNull();
        expect(done.proposer?.raw).toBe(raw(net.voters[0]));
        expect(done.votes.map((x) => [x.voter.raw, x.support]).sort()).toEqual([[raw(net.voters[0]), true], [raw(net.voters[1]), true]].sort());
        expect(done.yes).toBe(2);
    });

    it('an executed proposal keeps its actions in words; an open one carries vote links, no execute link', async () => {
        const p = await get<ProposalView>('/api/governance/proposals/0');
        expect(p.actions.map((a) => a.kind)).toEqual(['AddImage', 'AddImage', 'RegisterModel']);
        expect(p.actions.every((a) => a.to.raw === raw(net.root))).toBe(true);
        expect(p).toMatchObject({ voteLinks: null, executeLink: null });
        const open = await get<ProposalView>('/api/governance/proposals/1');
        expect(open.actions).toHaveLength(1);
        expect(open.actions[0]).toMatchObject({ kind: 'AddImage', bodyBoc: RootWrapper.addImageBody('worker', IMAGE_B).toBoc().toString('base64') });
        expect(open.voteLinks?.yes.url).toMatch(/^ton:\/\/transfer\//);
        expect(open.voteLinks?.yes.to.raw).toBe(raw(net.governance));
        expect(open.voteLinks?.no.payloadBoc).not.toBe(open.voteLinks?.yes.payloadBoc);
        expect(open.executeLink).toBeNull();
    });

    it('GET /api/proxies and /api/proxies/<addr>: the registration, the getter state, the last commit and the worker channel', async () => {
        const list = await get<ProxiesView>('/api/proxies');
        expect(list.proxies.map((p) => p.address.raw)).toEqual([raw(net.proxy)]);
        expect(list.proxies[0]).toMatchObject({ owner: { raw: raw(net.proxyOwner) }, clientEndpoint: 'wss://proxy.example:8443/', workerEndpoint: 'wss://proxy.example:8444/' });

        const v = await get<ProxyView>(`/api/proxies/${raw(net.proxy)}`);
        const ps = (await net.chain.getProxyState(net.proxy))!;
        expect(v).toMatchObject({ state: 'active', registered: true, banned: false, stake: ps.stake.toString(), pool: ps.pool.toString(), commission: ps.commission.toString(), enclaveKey: hex256(ps.enclaveKey) });
        expect(v.registration?.stake).toBe(list.proxies[0].stake);
        expect(v.lastCommit).toMatchObject({ seqno: '1', hash: hex256(42n) });
        expect(v.lastCommit?.tx).not.toBeNull();
        expect(v.workerChannels.map((c) => c.address.raw)).toEqual([raw(net.channel)]);
        const ws = (await net.chain.getWorkerChannelState(net.channel))!;
        expect(v.workerChannels[0]).toMatchObject({ worker: { raw: raw(net.worker) }, proxy: { raw: raw(net.proxy) }, stake: ws.stake.toString(), paid: '0', pendingFault: null, state: 'active' });
        expect(v.workerChannels[0].opened).not.toBeNull();
        expect(v.slashes).toEqual([]);
    });

    it('GET /api/address/<addr>: Root, Governance, a Proxy, a WorkerChannel, a wallet and an empty address by what lives there', async () => {
        const kind = async (a: Address | string) => (await get<AddressView>(`/api/address/${typeof a === 'string' ? a : raw(a)}`)).kind;
        expect(await kind(net.root)).toBe('root');
        expect(await kind(net.governance)).toBe('governance');
        expect(await kind(net.proxy)).toBe('proxy');
        const ch = await get<AddressView>(`/api/address/${encodeURIComponent(net.channel.toString())}`);
        expect(ch.kind).toBe('worker-channel');
        expect(ch.address.raw).toBe(raw(net.channel));
        expect(await kind(net.voters[0])).toBe('other');
        expect(await kind(new Address(0, Buffer.alloc(32, 7)))).toBe('not-deployed');
    });
});

describe('the live feed', () => {
    it('a vote shows in /api/feed and on the SSE stream (event: feed) within seconds of landing', async () => {
        const ctrl = new AbortController();
        const res = await fetch(`${url}/api/feed/stream`, { signal: ctrl.signal });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
        const reader = res.body!.getReader();
        let text = '';
        const seen = (async () => {
            for (;;) {
                const { value, done } = await reader.read();
                if (done) return null;
                text += Buffer.from(value).toString();
                const m = /event: feed\ndata: (.*)\n\n/.exec(text.split('\n\n').filter((f) => f.includes('"vote"')).map((f) => f + '\n\n').join(''));
                if (m) return JSON.parse(m[1]) as FeedEvent;
            }
        })();
        await net.vote(2, 1, false);
        const ev = await seen;
        ctrl.abort();
        expect(ev).toMatchObject({ kind: 'vote', links: { proposalId: 1 }, account: { raw: raw(net.governance) } });
        expect(ev!.words).toContain('voted no on proposal 1');
        const feed = await eventually(async () => {
            const f = await get<FeedView>('/api/feed?limit=5');
            return f.events.some((e) => e.id === ev!.id) ? f : undefined;
        }, 'the vote in /api/feed');
        expect(feed.events[0].kind).toBe('vote');
        const p = await get<ProposalView>('/api/governance/proposals/1');
        expect(p).toMatchObject({ status: 'open', yes: 1, no: 1 });
        expect(p.votes.find((x) => x.voter.raw === raw(net.voters[2]))?.tx?.hash).toBe(ev!.tx.hash);
    });
});

describe('executed changes in words', () => {
    it('an executed SetParams names every value it set (compared with today\'s params it would read "no change")', async () => {
        const params = { ...(await net.chain.getRootConfig()).params, minProxyStake: toNano('12') };
        const id = await net.passRoot(0, 1, [RootWrapper.setParamsBody(params)]);
        const p = await eventually(async () => {
            const v = await get<ProposalView>(`/api/governance/proposals/${id}`);
            return v.status === 'executed' ? v : undefined;
        }, 'the executed SetParams proposal');
        expect(p.actions).toHaveLength(1);
        expect(p.actions[0].kind).toBe('SetParams');
        expect(p.actions[0].words).not.toContain('no change');
        expect(p.actions[0].words).toContain('min proxy stake to 12 TON');
        expect(p.actions[0].words).toContain('commission');
    });
});

describe('the key-service allowlist and requireGpu', () => {
    it('a proposal allowlisting a key-service image and registering a GPU-requiring model shows in images, models, counts, feed and words', async () => {
        const gpuModel = { ...NETWORK_MODEL, name: 'gpu/model-1', requireGpu: true };
        const id = await net.passRoot(2, 1, [RootWrapper.addImageBody('keys', IMAGE_B), RootWrapper.registerModelBody(gpuModel)]);
        const root = net.chain.open(RootWrapper.open(net.root));
        expect(await root.getIsKeyImageAllowed(IMAGE_B)).toBe(true);

        const images = await eventually(async () => {
            const v = await get<ImagesView>('/api/images');
            return v.images.some((i) => i.kind === 'keys' && i.added !== null) ? v : undefined;
        }, 'the key-service image with its provenance');
        expect(images.images.filter((i) => i.kind === 'keys')).toEqual([
            { kind: 'keys', hash: hex256(IMAGE_B), added: expect.objectContaining({ proposalId: id, proposer: expect.objectContaining({ raw: raw(net.voters[2]) }) }) },
        ]);
        // IMAGE_B is also proposed as a worker image, but that proposal (1) is still open: Root lists it as a key service only
        expect(await root.getIsWorkerImageAllowed(IMAGE_B)).toBe(false);
        expect(images.images.filter((i) => i.hash === hex256(IMAGE_B)).map((i) => i.kind)).toEqual(['keys']);

        const models = await get<ModelsView>('/api/models');
        const cfg = await net.chain.getRootConfig();
        expect(models.models.map((m) => [m.name, m.requireGpu])).toEqual(models.models.map((m) => [cfg.models.get(m.id)!.name, cfg.models.get(m.id)!.requireGpu]));
        expect(models.models.find((m) => m.name === gpuModel.name)).toMatchObject({ requireGpu: true, registered: { proposalId: id } });

        const v = await get<RootView>('/api/root');
        expect(v.counts.keyImages).toBe(Number((await root.getCounts()).keyImages));
        expect(v.counts.keyImages).toBe(1);

        const p = await get<ProposalView>(`/api/governance/proposals/${id}`);
        expect(p.actions.map((a) => a.words)).toEqual([
            `allowlist key-service image ${hex256(IMAGE_B).slice(0, 8)}…${hex256(IMAGE_B).slice(-8)}`,
            expect.stringMatching(/^register model "gpu\/model-1" .*; GPU evidence required\)$/),
        ]);
        const feed = await eventually(async () => {
            const f = await get<FeedView>('/api/feed?limit=50');
            return f.events.some((e) => e.kind === 'model-registered' && e.words.includes('gpu/model-1')) ? f : undefined;
        }, 'the feed events of the proposal');
        expect(feed.events.filter((e) => e.kind === 'image-added').map((e) => e.words)).toContain(`key-service image ${hex256(IMAGE_B).slice(0, 8)}… allowlisted`);
        expect(feed.events.filter((e) => e.kind === 'model-registered').map((e) => e.words)).toContain('model "gpu/model-1" registered (GPU evidence required)');
    });
});

describe('chain time', () => {
    it("moving the chain's clock past a proposal's deadline moves chainTime, and the proposal turns failed (1 yes, 1 no of 3)", async () => {
        const before = await get<ProposalView & { chainTime: number }>('/api/governance/proposals/1');
        expect(before.status).toBe('open');
        net.advance(Number(EXPLORER_GOV_PARAMS.votingPeriod) + 1);
        // The explorer caches chain time for a second; the devnet closes an empty block at the new time when asked.
        const after = await eventually(async () => {
            const p = await get<ProposalView & { chainTime: number }>('/api/governance/proposals/1');
            return p.chainTime === net.now() ? p : undefined;
        }, 'the new chain time');
        expect(after.chainTime).toBeGreaterThanOrEqual(before.deadline!);
        expect(after).toMatchObject({ status: 'failed', voteLinks: null, executeLink: null });
    });
});
