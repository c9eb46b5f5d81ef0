// The explorer's views (agents/explorer/types.ts): what the JSON API returns and the pages render. Current state
// comes from getters (Root through TonChain's version-checked config cache, Governance, Proxy and channel getters);
// what only transactions tell (provenance, removed proposals, worker channels, commits, slashes) from the History
// index. Chain time is the latest block's (TonChain.getChainTime), never this machine's clock.
import { Address, Cell, Dictionary } from '@ton/core';
import { nullIfGetterFailed, TonChain } from '../core/chain';
import { hex256 } from '../core/hex';
import type { Log } from '../core/log';
import { GovernanceWrapper, GovParams, Proposal } from '../../wrappers/Governance';
import { IMAGE_KINDS, RootWrapper } from '../../wrappers/Root';
import { WorkerChannelState } from '../../wrappers/WorkerChannel';
import { PROXY_STATES, WORKER_STATES } from '../operator/proxy';
import { CLIENT_STATES, readContract, stateName } from '../status';
import { ActionContext, describeActions } from './actions';
import { executeLink, voteLink } from './links';
import { ExplorerError } from './errors';
import { History } from './history';
import type {
    ActionView,
    AddressView,
    ClientStateName,
    Envelope,
    FeedView,
    GovernanceView,
    ImagesView,
    ModelsView,
    NetworkKind,
    ProposalStatus,
    ProposalView,
    ProxiesView,
    ProxyStateName,
    ProxySummary,
    ProxyView,
    RootView,
    WorkerChannelView,
    WorkerStateName,
} from './types';


export interface ViewsOptions {
    chain: TonChain;
    history: History;
    network: NetworkKind;
    log?: Log;
}

const BPS = 10_000;
/** Proposal ids looked up below nextProposalId even without a Propose transaction in the index (MaxOpenProposals). */
const RECENT_IDS = 128;

export class ExplorerViews {
    readonly chain: TonChain;
    readonly history: History;
    readonly network: NetworkKind;
    private readonly log?: Log;

    constructor(o: ViewsOptions) {
        this.chain = o.chain;
        this.history = o.history;
        this.network = o.network;
        this.log = o.log;
    }

    private get testOnly(): boolean {
        return this.network !== 'mainnet';
    }

    private addr(a: Address) {
        return this.history.addr(a);
    }

    async envelope(): Promise<Envelope> {
        return { chainTime: await this.chain.getChainTime(), historyComplete: this.history.complete };
    }

    private rootContract() {
        return this.chain.open(RootWrapper.open(this.history.root));
    }

    private gov() {
        return this.chain.open(GovernanceWrapper.open(this.history.governance));
    }

    // ---------- Root ----------

    async root(): Promise<RootView> {
        const env = await this.envelope();
        const cfg = await this.chain.getRootConfig();
        const r = this.rootContract();
        const governance = await r.getGovernance();
        const counts = await r.getCounts();
        const balance = await this.chain.getBalance(this.history.root);
        const p = cfg.params;
        const cc = cfg.childCode;
        return {
            ...env,
            address: this.addr(this.history.root),
            version: cfg.version,
            governance: this.addr(governance),
            treasury: this.addr(cfg.terms.treasury),
            balance: balance.toString(),
            params: {
                commissionBps: Number(p.commissionBps),
                reporterShareBps: Number(p.reporterShareBps),
                minProxyStake: p.minProxyStake.toString(),
                minWorkerStake: p.minWorkerStake.toString(),
                minClientDeposit: p.minClientDeposit.toString(),
                creditWindow: p.creditWindow.toString(),
                proxyCloseDelay: Number(p.proxyCloseDelay),
                clientCloseDelay: Number(p.clientCloseDelay),
                workerUnbondDelay: Number(p.workerUnbondDelay),
                slashChallengePeriod: Number(p.slashChallengePeriod),
            },
            childCode: {
                codeVersion: Number(cc.codeVersion),
                proxyCodeHash: cc.proxyCode.hash().toString('hex'),
                clientCodeHash: cc.clientCode.hash().toString('hex'),
                workerCodeHash: cc.workerCode.hash().toString('hex'),
            },
            counts: {
                proxyImages: Number(counts.proxyImages),
                workerImages: Number(counts.workerImages),
                keyImages: Number(counts.keyImages),
                models: Number(counts.models),
                proxies: Number(counts.proxies),
            },
        };
    }

    async models(): Promise<ModelsView> {
        const env = await this.envelope();
        const cfg = await this.chain.getRootConfig();
        const models = [...cfg.models]
            .map(([id, m]) => ({
                id,
                name: m.name,
                weightsHash: hex256(m.weightsHash),
                contextLength: Number(m.contextLength),
                prices: { prompt: m.pricePrompt.toString(), cached: m.priceCached.toString(), completion: m.priceCompletion.toString(), reasoning: m.priceReasoning.toString() },
                requireGpu: m.requireGpu,
                registered: this.history.provenance(this.history.models.get(id)),
            }))
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        return { ...env, models };
    }

    async images(): Promise<ImagesView> {
        const env = await this.envelope();
        const cfg = await this.chain.getRootConfig();
        const lists = { proxy: cfg.proxyImages, worker: cfg.workerImages, keys: cfg.keyImages };
        const images = IMAGE_KINDS.flatMap((kind) =>
            [...lists[kind]].sort().map((hash) => ({ kind, hash, added: this.history.provenance(this.history.images.get(`${kind}:${hash}`)) })),
        );
        return { ...env, images };
    }

    // ---------- proxies ----------

    private async proxySummaries(): Promise<ProxySummary[]> {
        const cfg = await this.chain.getRootConfig();
        return [...cfg.proxies]
            .map(([raw, pi]) => ({
                address: this.addr(Address.parse(raw)),
                owner: this.addr(pi.owner),
                stake: pi.stake.toString(),
                clientEndpoint: pi.clientEndpoint,
                workerEndpoint: pi.workerEndpoint,
                registeredAt: Number(pi.registeredAt),
            }))
            .sort((a, b) => a.address.raw.localeCompare(b.address.raw));
    }

    async proxies(): Promise<ProxiesView> {
        const env = await this.envelope();
        const proxies = await this.proxySummaries();
        for (const p of proxies) this.history.track(Address.parse(p.address.raw), 'proxy');
        return { ...env, proxies };
    }

    async proxy(address: Address): Promise<ProxyView> {
        // A contract without a decodable proxyState getter is no Proxy either.
        const ps = await this.chain.getProxyState(address).catch(nullIfGetterFailed);
        if (!ps) throw new ExplorerError('NOT_FOUND', `no Proxy at ${address.toRawString()}`);
        return this.proxyView(address, ps, await this.envelope());
    }

    private async proxyView(address: Address, ps: NonNullable<Awaited<ReturnType<TonChain['getProxyState']>>>, env: Envelope): Promise<ProxyView> {
        const raw = address.toRawString();
        const registration = (await this.proxySummaries()).find((p) => p.address.raw === raw) ?? null;
        // Only a Proxy Root lists is indexed: anyone can deploy contracts that answer proxyState, and looking them up
        // must not grow what the explorer follows.
        if (registration) this.history.track(address, 'proxy');
        const channels: WorkerChannelView[] = [];
        for (const [channel, fact] of this.history.channels.get(raw) ?? []) {
            if (fact.closed !== null && (fact.opened === null || BigInt(fact.closed.lt) > BigInt(fact.opened.lt))) continue;
            const ws = await this.chain.getWorkerChannelState(Address.parse(channel));
            if (ws) channels.push(this.channelView(Address.parse(channel), ws));
        }
        const commit = this.history.commits.get(raw);
        const committed = ps.commitSeqno > 0n;
        const commitTx = commit && commit.seqno === ps.commitSeqno ? commit.tx : null;
        const slashes = [raw, ...channels.map((c) => c.address.raw)].flatMap((t) => this.history.slashes.get(t) ?? []);
        slashes.sort((a, b) => (BigInt(a.tx.lt) < BigInt(b.tx.lt) ? 1 : -1));
        return {
            ...env,
            address: this.addr(address),
            registration,
            owner: this.addr(ps.owner),
            enclaveKey: hex256(ps.enclaveKey),
            state: stateName(PROXY_STATES, ps.state) as ProxyStateName,
            registered: ps.registered,
            banned: ps.banned,
            stake: ps.stake.toString(),
            commission: ps.commission.toString(),
            pool: ps.pool.toString(),
            closeAt: Number(ps.closeAt),
            lastCommit: committed
                ? { seqno: ps.commitSeqno.toString(), hash: hex256(ps.commitHash), tx: commitTx, ageSeconds: commitTx ? Math.max(0, env.chainTime - commitTx.at) : null }
                : null,
            workerChannels: channels,
            slashes,
        };
    }

    private channelView(address: Address, ws: WorkerChannelState): WorkerChannelView {
        const s = ws.slash;
        const fact = this.history.channels.get(ws.proxy.toRawString())?.get(address.toRawString());
        return {
            address: this.addr(address),
            proxy: this.addr(ws.proxy),
            worker: this.addr(ws.worker),
            state: stateName(WORKER_STATES, ws.state) as WorkerStateName,
            stake: ws.stake.toString(),
            paid: ws.paid.toString(),
            unbondAt: Number(ws.unbondAt),
            pendingFault: s
                ? { seqno: Number(s.seqno), amount: s.amount.toString(), reason: Number(s.reason), requestId: hex256(s.requestId), evidenceHash: hex256(s.evidenceHash), executeAt: Number(s.executeAt) }
                : null,
            opened: fact?.opened ?? null,
        };
    }

    // ---------- any address ----------

    async address(address: Address): Promise<AddressView> {
        const env = await this.envelope();
        const balance = (await this.chain.getBalance(address)).toString();
        const base = { ...env, address: this.addr(address), balance };
        if (address.equals(this.history.root)) return { ...base, kind: 'root' };
        if (address.equals(this.history.governance)) return { ...base, kind: 'governance' };
        const c = await readContract(this.chain, address);
        switch (c.kind) {
            case 'proxy':
                return { ...base, kind: 'proxy', proxy: await this.proxyView(address, c.state, env) };
            case 'worker':
                return { ...base, kind: 'worker-channel', channel: this.channelView(address, c.state) };
            case 'client': {
                const cs = c.state;
                return {
                    ...base,
                    kind: 'client-channel',
                    channel: {
                        address: this.addr(address),
                        proxy: this.addr(cs.proxy),
                        client: this.addr(cs.client),
                        state: stateName(CLIENT_STATES, cs.state) as ClientStateName,
                        balance: cs.balance.toString(),
                        redeemed: cs.redeemed.toString(),
                        pendingWithdraw: cs.pendingWithdraw.toString(),
                        withdrawAt: Number(cs.withdrawAt),
                        closeAt: Number(cs.closeAt),
                    },
                };
            }
            default:
                return { ...base, kind: c.kind };
        }
    }

    // ---------- governance ----------

    async governance(): Promise<GovernanceView> {
        const env = await this.envelope();
        const g = this.gov();
        const voters = await g.getVoters();
        const params = await g.getGovParams();
        const nextProposalId = Number(await g.getNextProposalId());
        const totalWeight = Number(await g.getTotalWeight());
        const balance = await this.chain.getBalance(this.history.governance);
        const ctx = await this.actionContext(params);
        // Live proposals are read by getter, removed ones rebuilt from history (ids are never reused). With Governance's
        // whole history indexed the live ids are known; otherwise the ids below nextProposalId are tried, newest first,
        // until openProposals live ones were found (at most RECENT_IDS getters).
        const removed = (id: number) => this.history.executed.has(id) || this.history.cleanedUp.has(id);
        const known = this.history.proposeIds(nextProposalId).map((x) => x.id);
        const complete = this.history.isComplete(this.history.governance.toRawString());
        let toFind = complete ? 0 : Number(await g.getOpenProposals());
        const ids = new Set<number>([...known, ...this.history.executed.keys(), ...this.history.cleanedUp.keys()]);
        const proposals: ProposalView[] = [];
        for (const id of [...ids].filter((i) => i >= 0 && i < nextProposalId).sort((a, b) => b - a)) {
            const v = await this.proposalById(id, voters, params, nextProposalId, env.chainTime, ctx);
            if (v) proposals.push(v);
            if (v && !removed(id)) toFind--;
        }
        for (let id = nextProposalId - 1; toFind > 0 && id >= Math.max(0, nextProposalId - RECENT_IDS); id--) {
            if (ids.has(id)) continue;
            const v = await this.proposalById(id, voters, params, nextProposalId, env.chainTime, ctx);
            if (v) proposals.push(v);
            if (v && !removed(id)) toFind--;
        }
        proposals.sort((a, b) => b.id - a.id);
        const isOpen = (p: ProposalView) => p.status === 'open' || p.status === 'passed' || p.status === 'executable';
        return {
            ...env,
            address: this.addr(this.history.governance),
            balance: balance.toString(),
            params: {
                quorumBps: Number(params.quorumBps),
                majorityBps: Number(params.majorityBps),
                votingPeriod: Number(params.votingPeriod),
                timelock: Number(params.timelock),
                executionWindow: Number(params.executionWindow),
            },
            voters: [...voters]
                .map(([a, w]) => ({ address: this.addr(a), weight: Number(w) }))
                .sort((a, b) => b.weight - a.weight || a.address.raw.localeCompare(b.address.raw)),
            totalWeight,
            nextProposalId,
            proposals: [...proposals.filter(isOpen), ...proposals.filter((p) => !isOpen(p))],
        };
    }

    async proposal(id: number): Promise<ProposalView & Envelope> {
        const env = await this.envelope();
        const g = this.gov();
        const nextProposalId = Number(await g.getNextProposalId());
        const params = await g.getGovParams();
        const v = id < nextProposalId ? await this.proposalById(id, await g.getVoters(), params, nextProposalId, env.chainTime, await this.actionContext(params)) : null;
        if (!v) throw new ExplorerError('NOT_FOUND', `no proposal ${id} (live or in the indexed history)`);
        return { ...env, ...v };
    }

    private async proposalById(id: number, voters: Dictionary<Address, number>, params: GovParams, nextProposalId: number, now: number, ctx: ActionContext): Promise<ProposalView | null> {
        const fact = this.history.proposeIds(nextProposalId).find((x) => x.id === id)?.fact ?? null;
        const votesTx = this.history.votes.get(id);
        const live = this.history.executed.has(id) || this.history.cleanedUp.has(id) ? null : await this.gov().getProposal(BigInt(id));
        if (live) {
            const status = proposalStatus(live, params, now);
            const opensAt = executionOpensAt(live, params, now);
            const votes = [...live.votes].map(([voter, support]) => ({ voter: this.addr(voter), support, tx: votesTx?.get(voter.toRawString())?.tx ?? null }));
            return {
                id,
                status,
                proposer: this.addr(live.proposer),
                createdAt: Number(live.createdAt),
                deadline: Number(live.deadline),
                executableFrom: opensAt === 0 ? null : opensAt,
                executableUntil: opensAt === 0 ? null : opensAt + Number(params.executionWindow),
                yes: Number(live.yes),
                no: Number(live.no),
                totalWeight: Number(live.totalWeight),
                votes,
                actions: this.actions(live.actions, ctx),
                created: fact?.tx ?? null,
                executed: null,
                ...(await this.walletLinks(id, status)),
            };
        }
        // Removed from Governance: executed or cleaned up, rebuilt from its transactions.
        const executed = this.history.executed.get(id) ?? null;
        const cleaned = this.history.cleanedUp.get(id) ?? null;
        if (!executed && !cleaned) return null;
        const votes = [...(votesTx?.values() ?? [])].map((v) => ({ voter: this.addr(v.voter), support: v.support, tx: v.tx }));
        // Tallies at today's weights (the weights when it was decided are not kept on chain).
        const weight = (support: boolean) => [...(votesTx?.values() ?? [])].filter((v) => v.support === support).reduce((n, v) => n + (voters.get(v.voter) ?? 0), 0);
        return {
            id,
            status: executed ? 'executed' : 'cleaned-up',
            proposer: fact ? this.addr(fact.proposer) : null,
            createdAt: fact?.tx.at ?? null,
            deadline: null,
            executableFrom: null,
            executableUntil: null,
            yes: weight(true),
            no: weight(false),
            totalWeight: [...voters.values()].reduce((n, w) => n + Number(w), 0),
            votes,
            // Today's params are what an executed change set: comparing with them would read "no change", so a removed
            // proposal's SetParams / SetGovParams name every value it sets.
            actions: fact ? this.actions(fact.actions, { ...ctx, currentParams: undefined, currentGovParams: undefined }) : [],
            created: fact?.tx ?? null,
            executed,
            voteLinks: null,
            executeLink: null,
        };
    }

    /** The one place wallet links are built (agents/explorer/links.ts): Vote for an open proposal, Execute for an executable one. */
    private async walletLinks(id: number, status: ProposalStatus): Promise<Pick<ProposalView, 'voteLinks' | 'executeLink'>> {
        const ctx = { governance: this.history.governance, network: this.network, endpoint: this.chain.config.endpoint };
        try {
            return {
                voteLinks: status === 'open' ? { yes: await voteLink(ctx, id, true), no: await voteLink(ctx, id, false) } : null,
                executeLink: status === 'executable' ? await executeLink(ctx, id) : null,
            };
        } catch (e) {
            this.log?.('explorer.links-failed', { reason: 'wallet links failed', proposal: id, error: (e as Error).message });
            return { voteLinks: null, executeLink: null };
        }
    }

    /** What describeActions needs to word a change against today's values (Root's and Governance's params, model names). */
    private async actionContext(govParams: GovParams): Promise<ActionContext> {
        const cfg = await this.chain.getRootConfig();
        return {
            root: this.history.root,
            governance: this.history.governance,
            testOnly: this.testOnly,
            currentParams: cfg.params,
            currentGovParams: govParams,
            modelNames: new Map([...cfg.models].map(([id, m]) => [id, m.name])),
        };
    }

    /** The one place proposal actions are put into words (agents/explorer/actions.ts). */
    private actions(actions: Cell, ctx: ActionContext): ActionView[] {
        try {
            return describeActions(actions, ctx);
        } catch (e) {
            this.log?.('explorer.actions-undecoded', { reason: 'actions did not decode', hash: actions.hash().toString('hex'), error: (e as Error).message });
            return [];
        }
    }

    // ---------- feed ----------

    async feed(limit: number): Promise<FeedView> {
        return { ...(await this.envelope()), events: this.history.events(limit) };
    }
}

/** Governance.executionOpensAt (contracts/governance.tact): 0 while not passed, else when execution opens. */
export function executionOpensAt(p: Proposal, params: GovParams, now: number): number {
    if (p.passedAt !== 0n) return Number(p.passedAt + params.timelock);
    if (now < Number(p.deadline)) return 0;
    const cast = p.yes + p.no;
    if (cast * BigInt(BPS) >= params.quorumBps * p.totalWeight && p.yes * BigInt(BPS) > params.majorityBps * cast) return Number(p.deadline + params.timelock);
    return 0;
}

/**
 * A live proposal's status at chain time `now`, by the contract's rules: open (voting), passed (in its timelock),
 * executable (inside its execution window), failed (its deadline passed without passing, or no remaining votes can
 * make it pass: Cleanup would accept it), expired (its execution window closed unexecuted).
 */
export function proposalStatus(p: Proposal, params: GovParams, now: number): ProposalStatus {
    const opensAt = executionOpensAt(p, params, now);
    if (opensAt === 0) {
        const cannotPass = p.passedAt === 0n && (p.totalWeight - p.no) * BigInt(BPS) <= params.majorityBps * p.totalWeight;
        return now >= Number(p.deadline) || cannotPass ? 'failed' : 'open';
    }
    if (now < opensAt) return 'passed';
    return now < opensAt + Number(params.executionWindow) ? 'executable' : 'expired';
}
