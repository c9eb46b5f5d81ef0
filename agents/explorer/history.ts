// The explorer's transaction index: the transactions of Root, Governance, every Proxy and every WorkerChannel found,
// each successful one's in-message decoded by opcode with the generated loaders. It keeps only the facts the views
// need (provenance of images and models, the proposals' Propose/Vote/Execute/Cleanup history, worker channels per
// Proxy, the last commit, slashes) and a bounded ring of feed events. An aborted transaction, a bounced in-message or
// one that is not an internal message creates no fact and no event: only what the contract accepted counts.
import { Address, Cell, fromNano, Slice, Transaction } from '@ton/core';
import {
    loadAddImage,
    loadAddStake,
    loadChannelClosed,
    loadChannelOpened,
    loadChannelPayment,
    loadCleanup,
    loadDelistProxy,
    loadExecute,
    loadPayoutRequest,
    loadPropose,
    loadRegisterModel,
    loadRegisterProxy,
    loadRemoveImage,
    loadRemoveModel,
    loadReportFault,
    loadSlashVeto,
    loadStateCommit,
    loadVote,
    loadWorkerStake,
    loadClaimPayout,
    IMAGE_KIND_WORDS,
    imageKindOf,
    Root,
} from '../../wrappers/Root';
import { modelId } from '../../wrappers/payloads';
import type { Chain } from '../core/chain';
import { hex256 } from '../core/hex';
import { toAddr } from './actions';
import type { Addr, FeedEvent, FeedKind, Provenance, SlashView, TxRef } from './types';

export type AccountKind = 'root' | 'governance' | 'proxy' | 'worker-channel';


const short = (raw: string) => `${raw.slice(0, 8)}…${raw.slice(-4)}`;
const ton = (nano: bigint) => `${fromNano(nano)} TON`;

interface Tracked {
    address: Address;
    kind: AccountKind;
    /** The newest transaction indexed. */
    newest: { lt: bigint; hash: Buffer } | null;
    /** False when the history limit cut this account's history (older facts unknown). */
    complete: boolean;
}

/** A Root change and the Governance message that caused it (resolved to a proposal when Governance's Execute is known). */
interface RootFact {
    tx: TxRef;
    /** created_lt of the in-message when Governance sent it (matched against Execute transactions' out-messages). */
    govCreatedLt: string | null;
}

export interface ProposeFact {
    tx: TxRef;
    proposer: Address;
    actions: Cell;
}

export interface ChannelFact {
    worker: Address;
    opened: TxRef | null;
    closed: TxRef | null;
}

export interface HistoryOptions {
    root: Address;
    governance: Address;
    testOnly: boolean;
    /** Transactions indexed per account on the first sync (default 2000). */
    limit?: number;
    /** Feed events kept (default 1000). */
    feedSize?: number;
    /** Transactions per getTransactions page (default 100). */
    pageSize?: number;
}

export class History {
    readonly root: Address;
    readonly governance: Address;
    private readonly testOnly: boolean;
    private readonly limit: number;
    private readonly feedSize: number;
    private readonly pageSize: number;
    private readonly accounts = new Map<string, Tracked>();
    private readonly syncing = new Map<string, Promise<FeedEvent[]>>();

    readonly images = new Map<string, RootFact>();
    readonly models = new Map<string, RootFact>();
    /** created_lt of each out-message of an Execute transaction -> the proposal executed. */
    private readonly executedOut = new Map<string, number>();
    readonly proposes: ProposeFact[] = [];
    readonly votes = new Map<number, Map<string, { voter: Address; support: boolean; tx: TxRef }>>();
    readonly executed = new Map<number, TxRef>();
    readonly cleanedUp = new Map<number, TxRef>();
    /** Proxy raw -> channel raw -> what its ChannelOpened / ChannelClosed said. */
    readonly channels = new Map<string, Map<string, ChannelFact>>();
    readonly commits = new Map<string, { seqno: bigint; hash: bigint; tx: TxRef }>();
    /** Target (Proxy or WorkerChannel) raw -> slashes, oldest first. */
    readonly slashes = new Map<string, SlashView[]>();
    /** Newest first, at most feedSize. */
    private feed: FeedEvent[] = [];
    private readonly listeners = new Set<(e: FeedEvent) => void>();
    /** Told when a new account is tracked (the live stream resubscribes). */
    onTrack: ((a: Address) => void) | null = null;

    constructor(o: HistoryOptions) {
        this.root = o.root;
        this.governance = o.governance;
        this.testOnly = o.testOnly;
        this.limit = o.limit ?? 2000;
        this.feedSize = o.feedSize ?? 1000;
        this.pageSize = Math.min(o.pageSize ?? 100, this.limit);
        this.track(o.root, 'root');
        this.track(o.governance, 'governance');
    }

    addr(a: Address): Addr {
        return toAddr(a, this.testOnly);
    }

    /** Starts indexing an account; false when it was already tracked. */
    track(address: Address, kind: AccountKind): boolean {
        const raw = address.toRawString();
        if (this.accounts.has(raw)) return false;
        this.accounts.set(raw, { address, kind, newest: null, complete: true });
        this.onTrack?.(address);
        return true;
    }

    kindOf(raw: string): AccountKind | null {
        return this.accounts.get(raw)?.kind ?? null;
    }

    tracked(): Address[] {
        return [...this.accounts.values()].map((t) => t.address);
    }

    /** False when any account's history was cut by the limit. */
    get complete(): boolean {
        return [...this.accounts.values()].every((t) => t.complete);
    }

    isComplete(raw: string): boolean {
        return this.accounts.get(raw)?.complete ?? false;
    }

    /** Newest first. */
    events(limit: number): FeedEvent[] {
        return this.feed.slice(0, limit);
    }

    subscribe(f: (e: FeedEvent) => void): () => void {
        this.listeners.add(f);
        return () => this.listeners.delete(f);
    }

    /** Syncs every tracked account (new ones found meanwhile too). */
    async syncAll(chain: Chain): Promise<void> {
        const done = new Set<string>();
        for (;;) {
            const todo = [...this.accounts.keys()].filter((k) => !done.has(k));
            if (todo.length === 0) return;
            for (const k of todo) {
                await this.sync(chain, k);
                done.add(k);
            }
        }
    }

    /**
     * Fetches an account's transactions newer than the last one indexed (on the first sync: up to the limit), indexes
     * them oldest first and returns the feed events they made. Concurrent calls for one account share one run.
     */
    sync(chain: Chain, raw: string): Promise<FeedEvent[]> {
        const running = this.syncing.get(raw);
        if (running) return running.then(() => this.sync(chain, raw));
        const run = this.doSync(chain, raw).finally(() => this.syncing.delete(raw));
        this.syncing.set(raw, run);
        return run;
    }

    private async doSync(chain: Chain, raw: string): Promise<FeedEvent[]> {
        const t = this.accounts.get(raw);
        if (!t) return [];
        const fresh: Transaction[] = [];
        let cursor: { lt: bigint; hash: Buffer } | null = null;
        // Set when the limit stops the walk before the account's first transaction or the last one indexed: what lies
        // beyond is unknown (older history on the first sync, a gap after a long outage).
        let cut = false;
        walk: for (;;) {
            const page: Transaction[] = await chain.getTransactions(
                t.address,
                cursor ? { limit: this.pageSize + 1, lt: cursor.lt, hash: cursor.hash.toString('base64') } : { limit: this.pageSize },
            );
            const rest: Transaction[] = cursor ? page.filter((tx) => !(tx.lt === cursor!.lt && tx.hash().equals(cursor!.hash))) : page;
            for (const tx of rest) {
                if (t.newest && tx.lt <= t.newest.lt) break walk;
                if (fresh.length >= this.limit) {
                    cut = true;
                    break walk;
                }
                fresh.push(tx);
            }
            if (rest.length < this.pageSize) break; // the account's first transaction
            const last: Transaction = rest[rest.length - 1];
            cursor = { lt: last.lt, hash: last.hash() };
        }
        if (cut) t.complete = false;
        if (fresh.length > 0) t.newest = { lt: fresh[0].lt, hash: fresh[0].hash() };
        const events: FeedEvent[] = [];
        for (const tx of fresh.reverse()) {
            const e = this.index(t, tx);
            if (e) events.push(e);
        }
        for (const e of events) this.publish(e);
        return events;
    }

    private publish(e: FeedEvent): void {
        if (this.feed.some((x) => x.id === e.id)) return;
        this.feed.push(e);
        this.feed.sort((a, b) => (BigInt(b.tx.lt) > BigInt(a.tx.lt) ? 1 : BigInt(b.tx.lt) < BigInt(a.tx.lt) ? -1 : 0));
        if (this.feed.length > this.feedSize) this.feed.length = this.feedSize;
        if (!this.feed.includes(e)) return; // older than everything kept
        for (const l of this.listeners) {
            try {
                l(e);
            } catch {
                /* a subscriber's failure is its own */
            }
        }
    }

    /** Proposal ids of the indexed Propose transactions, in order (exact when Governance's history is complete). */
    proposeIds(nextProposalId: number): { id: number; fact: ProposeFact }[] {
        const base = this.isComplete(this.governance.toRawString()) ? 0 : nextProposalId - this.proposes.length;
        return this.proposes.map((fact, i) => ({ id: base + i, fact }));
    }

    provenance(f: RootFact | undefined): Provenance | null {
        if (!f) return null;
        const proposalId = f.govCreatedLt === null ? undefined : this.executedOut.get(f.govCreatedLt);
        if (proposalId === undefined) return { tx: f.tx, proposalId: null, proposer: null };
        // Governance's Propose transactions number its proposals from 0 when its whole history is indexed.
        const p = this.isComplete(this.governance.toRawString()) ? this.proposes[proposalId] : undefined;
        return { tx: f.tx, proposalId, proposer: p ? this.addr(p.proposer) : null };
    }

    // ---- indexing one transaction ----

    private index(t: Tracked, tx: Transaction): FeedEvent | null {
        const d = tx.description;
        if (d.type !== 'generic' || d.aborted || d.computePhase.type !== 'vm' || !d.computePhase.success) return null;
        const m = tx.inMessage;
        if (!m || m.info.type !== 'internal' || m.info.bounced) return null;
        const src = m.info.src;
        const body = m.body.beginParse();
        if (body.remainingBits < 32) return null;
        const op = body.preloadUint(32);
        const ref: TxRef = { lt: tx.lt.toString(), hash: tx.hash().toString('hex'), at: tx.now };
        const ev = (kind: FeedKind, words: string, links: FeedEvent['links'] = {}): FeedEvent => ({
            id: `${ref.lt}:${ref.hash}`,
            kind,
            at: tx.now,
            account: this.addr(t.address),
            tx: ref,
            words,
            links,
        });
        try {
            switch (t.kind) {
                case 'governance':
                    return this.governanceTx(tx, ref, src, op, body, ev);
                case 'root':
                    return this.rootTx(ref, src, m.info.createdLt, op, body, ev);
                case 'proxy':
                    return this.proxyTx(tx, t.address, ref, src, op, body, ev);
                case 'worker-channel':
                    return this.channelTx(tx, t.address, ref, op, body, ev);
            }
        } catch {
            // A body with a known opcode that does not decode was refused by the contract too; nothing to record.
            return null;
        }
    }

    private governanceTx(tx: Transaction, ref: TxRef, src: Address, op: number, body: Slice, ev: EventOf): FeedEvent | null {
        const who = short(src.toRawString());
        switch (op) {
            case OP.Propose: {
                const p = loadPropose(body);
                this.proposes.push({ tx: ref, proposer: src, actions: p.actions });
                const complete = this.isComplete(this.governance.toRawString());
                const id = complete ? this.proposes.length - 1 : undefined;
                if (id !== undefined) this.recordVote(id, src, true, ref);
                return ev('proposal', `voter ${who} proposed${id === undefined ? ' a proposal' : ` proposal ${id}`}`, id === undefined ? {} : { proposalId: id });
            }
            case OP.Vote: {
                const v = loadVote(body);
                const id = Number(v.proposalId);
                this.recordVote(id, src, v.support, ref);
                return ev('vote', `voter ${who} voted ${v.support ? 'yes' : 'no'} on proposal ${id}`, { proposalId: id });
            }
            case OP.Execute: {
                const id = Number(loadExecute(body).proposalId);
                this.executed.set(id, ref);
                for (const out of tx.outMessages.values()) if (out.info.type === 'internal') this.executedOut.set(out.info.createdLt.toString(), id);
                return ev('execution', `proposal ${id} executed by ${who}`, { proposalId: id });
            }
            case OP.Cleanup: {
                const id = Number(loadCleanup(body).proposalId);
                this.cleanedUp.set(id, ref);
                return ev('cleanup', `proposal ${id} cleaned up`, { proposalId: id });
            }
        }
        return null;
    }

    private recordVote(id: number, voter: Address, support: boolean, tx: TxRef): void {
        let m = this.votes.get(id);
        if (!m) this.votes.set(id, (m = new Map()));
        m.set(voter.toRawString(), { voter, support, tx });
    }

    private rootTx(ref: TxRef, src: Address, createdLt: bigint, op: number, body: Slice, ev: EventOf): FeedEvent | null {
        const fact: RootFact = { tx: ref, govCreatedLt: src.equals(this.governance) ? createdLt.toString() : null };
        // Root accepted the message, so its kind is one of the allowlists
        const kindName = (k: bigint) => imageKindOf(k) ?? `kind-${k}`;
        const kindWords = (k: bigint) => {
            const known = imageKindOf(k);
            return known ? IMAGE_KIND_WORDS[known] : `kind-${k}`;
        };
        switch (op) {
            case OP.AddImage: {
                const m = loadAddImage(body);
                const key = `${kindName(m.kind)}:${hex256(m.hash)}`;
                this.images.set(key, fact);
                return ev('image-added', `${kindWords(m.kind)} image ${hex256(m.hash).slice(0, 8)}… allowlisted`);
            }
            case OP.RemoveImage: {
                const m = loadRemoveImage(body);
                this.images.delete(`${kindName(m.kind)}:${hex256(m.hash)}`);
                return ev('image-removed', `${kindWords(m.kind)} image ${hex256(m.hash).slice(0, 8)}… removed`);
            }
            case OP.RegisterModel: {
                const m = loadRegisterModel(body);
                this.models.set(hex256(modelId(m.model.name)), fact);
                return ev('model-registered', `model ${JSON.stringify(m.model.name.slice(0, 64))} registered${m.model.requireGpu ? ' (GPU evidence required)' : ''}`);
            }
            case OP.RemoveModel: {
                const m = loadRemoveModel(body);
                this.models.delete(hex256(m.modelId));
                return ev('model-removed', `model ${hex256(m.modelId).slice(0, 8)}… removed`);
            }
            case OP.SetParams:
                return ev('params-set', 'Root parameters changed');
            case OP.SetChildCode:
                return ev('child-code-set', 'child contract code changed');
            case OP.DelistProxy: {
                const p = loadDelistProxy(body).proxy;
                return ev('proxy-delisted', `proxy ${short(p.toRawString())} delisted`, { proxy: this.addr(p) });
            }
            case OP.RegisterProxy: {
                const m = loadRegisterProxy(body);
                this.track(src, 'proxy');
                return ev('proxy-registered', `proxy ${short(src.toRawString())} registered with stake ${ton(m.stake)}`, { proxy: this.addr(src) });
            }
            case OP.UnregisterProxy:
                return ev('proxy-closing', `proxy ${short(src.toRawString())} left Root`, { proxy: this.addr(src) });
        }
        return null;
    }

    private proxyTx(tx: Transaction, proxy: Address, ref: TxRef, src: Address, op: number, body: Slice, ev: EventOf): FeedEvent | null {
        const p = this.addr(proxy);
        const praw = p.raw;
        switch (op) {
            case OP.StateCommit: {
                const m = loadStateCommit(body);
                this.commits.set(praw, { seqno: m.seqno, hash: m.hash, tx: ref });
                return ev('commit', `proxy ${short(praw)} committed state ${m.seqno}`, { proxy: p });
            }
            case OP.ReportEquivocation: {
                const amount = slashed(tx);
                this.addSlash(praw, { kind: 'equivocation', target: p, amount: amount.toString(), tx: ref });
                return ev('slash', `proxy ${short(praw)} slashed ${ton(amount)} for equivocation`, { proxy: p });
            }
            case OP.ChannelPayment: {
                const m = loadChannelPayment(body);
                return ev('redeem', `proxy ${short(praw)} redeemed ${ton(m.amount)} from channel ${short(src.toRawString())}`, { proxy: p, channel: this.addr(src) });
            }
            case OP.ChannelOpened: {
                const m = loadChannelOpened(body);
                let chans = this.channels.get(praw);
                if (!chans) this.channels.set(praw, (chans = new Map()));
                chans.set(src.toRawString(), { worker: m.worker, opened: ref, closed: null });
                this.track(src, 'worker-channel');
                return ev('worker-joined', `worker ${short(m.worker.toRawString())} joined proxy ${short(praw)}`, { proxy: p, channel: this.addr(src) });
            }
            case OP.ChannelClosed: {
                const m = loadChannelClosed(body);
                const c = this.channels.get(praw)?.get(src.toRawString());
                if (c) c.closed = ref;
                return ev('worker-left', `worker ${short(m.worker.toRawString())} left proxy ${short(praw)}`, { proxy: p, channel: this.addr(src) });
            }
            case OP.ProxyClose:
                return ev('proxy-closing', `proxy ${short(praw)} started closing`, { proxy: p });
            case OP.AddStake:
                return ev('stake', `proxy ${short(praw)} added stake ${ton(loadAddStake(body).amount)}`, { proxy: p });
            case OP.PayoutRequest:
                return ev('payout', `proxy ${short(praw)} paid ${ton(loadPayoutRequest(body).amount)} to a worker`, { proxy: p, channel: this.addr(src) });
        }
        return null;
    }

    private channelTx(tx: Transaction, channel: Address, ref: TxRef, op: number, body: Slice, ev: EventOf): FeedEvent | null {
        const c = this.addr(channel);
        const proxy = this.proxyOfChannel(c.raw);
        const links = { channel: c, ...(proxy ? { proxy: this.addr(proxy) } : {}) };
        switch (op) {
            case OP.WorkerStake:
                return ev('stake', `worker channel ${short(c.raw)} staked ${ton(loadWorkerStake(body).amount)}`, links);
            case OP.ClaimPayout:
                return ev('payout', `worker channel ${short(c.raw)} claimed up to ${ton(loadClaimPayout(body).amount)}`, links);
            case OP.ReportFault: {
                const m = loadReportFault(body);
                this.addSlash(c.raw, { kind: 'fault-reported', target: c, amount: m.amount.toString(), tx: ref });
                return ev('slash', `fault ${m.seqno} reported on worker channel ${short(c.raw)}: ${ton(m.amount)}`, links);
            }
            case OP.ExecuteSlash: {
                const amount = slashed(tx);
                this.addSlash(c.raw, { kind: 'slash-executed', target: c, amount: amount.toString(), tx: ref });
                return ev('slash', `${ton(amount)} slashed on worker channel ${short(c.raw)}`, links);
            }
            case OP.SlashVeto: {
                const m = loadSlashVeto(body);
                this.addSlash(c.raw, { kind: 'slash-vetoed', target: c, amount: null, tx: ref });
                return ev('slash', `slash of fault ${m.faultSeqno} vetoed on worker channel ${short(c.raw)}`, links);
            }
        }
        return null;
    }

    proxyOfChannel(channelRaw: string): Address | null {
        for (const [proxy, chans] of this.channels) if (chans.has(channelRaw)) return Address.parse(proxy);
        return null;
    }

    private addSlash(target: string, s: SlashView): void {
        let l = this.slashes.get(target);
        if (!l) this.slashes.set(target, (l = []));
        l.push(s);
    }
}

/**
 * What a slash took: the values of the transaction's Excesses out-messages (ReportEquivocation sends the reporter's
 * share and the treasury's, ExecuteSlash the treasury's; a Proxy's notice to Root is another message).
 */
function slashed(tx: Transaction): bigint {
    let sum = 0n;
    for (const m of tx.outMessages.values()) {
        if (m.info.type !== 'internal') continue;
        const b = m.body.beginParse();
        if (b.remainingBits >= 32 && b.preloadUint(32) === OP.Excesses) sum += m.info.value.coins;
    }
    return sum;
}

type EventOf = (kind: FeedKind, words: string, links?: FeedEvent['links']) => FeedEvent;

/** Opcodes, from the generated contract (every message of contracts/messages.tact is in Root's ABI). */
const OP = Root.opcodes;
