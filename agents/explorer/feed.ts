// The live feed: a tonapi-compatible transaction stream (agents/core/chain/tonapi.ts) over the tracked accounts (Root,
// Governance, every Proxy and WorkerChannel found). Each announced transaction makes its account sync through
// toncenter (History.sync: every transaction newer than the last indexed), so a missed or duplicated announcement
// costs nothing; every (re)connection backfills all accounts first. A new Proxy or WorkerChannel found by the index
// reopens the stream with it included, and a slow full re-sync covers a stream that stays down.
import { Address } from '@ton/core';
import { ChainError, TonapiAdapter, TonChain, TxStream } from '../core/chain';
import type { Log } from '../core/log';
import { History } from './history';

export interface LiveFeedOptions {
    chain: TonChain;
    history: History;
    /** Base URL of the tonapi-compatible SSE service. */
    streamEndpoint: string;
    /** Its key (tonapi: `Authorization: Bearer`), if any. */
    streamApiKey?: string;
    log?: Log;
    /** Stream reconnect backoff (defaults: the adapter's). */
    reconnectBaseMs?: number;
    reconnectMaxMs?: number;
    /** A full re-sync of every account this often, in case the stream is down for long (default 60000 ms; 0 = never). */
    pollMs?: number;
}

export class LiveFeed {
    private readonly adapter: TonapiAdapter;
    private stream: TxStream | null = null;
    private stopped = false;
    private reopen: NodeJS.Timeout | null = null;
    private poll: NodeJS.Timeout | null = null;
    /** Accounts whose sync is queued and not started yet. */
    private readonly waiting = new Set<string>();
    /** Serialises syncs (one account at a time; History.sync dedups per account). */
    private queue: Promise<unknown> = Promise.resolve();

    constructor(private readonly o: LiveFeedOptions) {
        this.adapter = new TonapiAdapter({
            endpoint: o.streamEndpoint,
            ...(o.streamApiKey ? { apiKey: o.streamApiKey } : {}),
            rps: 1000,
            // The stream never gives up on its own: the explorer keeps serving what it has and keeps trying.
            maxReconnects: Number.MAX_SAFE_INTEGER,
            ...(o.reconnectBaseMs !== undefined ? { reconnectBaseMs: o.reconnectBaseMs } : {}),
            ...(o.reconnectMaxMs !== undefined ? { reconnectMaxMs: o.reconnectMaxMs } : {}),
        });
    }

    /** Indexes the history of every tracked account (and the proxies Root lists), then follows the stream. */
    async start(): Promise<void> {
        const cfg = await this.o.chain.getRootConfig();
        for (const raw of cfg.proxies.keys()) this.o.history.track(Address.parse(raw), 'proxy');
        await this.o.history.syncAll(this.o.chain);
        this.o.history.onTrack = () => this.scheduleReopen();
        this.open();
        const pollMs = this.o.pollMs ?? 60_000;
        let polling = false;
        // At most one poll waits in the queue, however slow the endpoint.
        const tick = () => {
            if (polling) return;
            polling = true;
            void this.enqueue(() => this.o.history.syncAll(this.o.chain)).finally(() => (polling = false));
        };
        if (pollMs > 0) this.poll = setInterval(tick, pollMs);
    }

    stop(): void {
        this.stopped = true;
        this.o.history.onTrack = null;
        if (this.reopen) clearTimeout(this.reopen);
        if (this.poll) clearInterval(this.poll);
        this.stream?.close();
        this.stream = null;
    }

    private scheduleReopen(): void {
        if (this.stopped || this.reopen) return;
        // Several accounts found by one sync reopen the stream once.
        this.reopen = setTimeout(() => {
            this.reopen = null;
            this.open();
        }, 50);
    }

    private open(): void {
        if (this.stopped) return;
        this.stream?.close();
        this.stream = this.adapter.accountTransactions(this.o.history.tracked(), (ev) => this.announced(ev.accountId), {
            // Transactions during a gap are not replayed: backfill every account on each (re)connection.
            onOpen: () => void this.enqueue(() => this.o.history.syncAll(this.o.chain)),
            onError: (e) => this.o.log?.('explorer.stream-error', { code: e instanceof ChainError ? e.code : 'STREAM_FAILED', error: e instanceof Error ? e.message : String(e) }),
        });
    }

    /**
     * An announced transaction: sync its account, unless a sync of it is already waiting (that one will see it). So a
     * burst of announcements, or a stream repeating one, costs one getTransactions walk per account, and an account
     * that is not tracked costs nothing.
     */
    private announced(accountId: string): void {
        const raw = Address.parse(accountId).toRawString();
        if (this.waiting.has(raw) || this.o.history.kindOf(raw) === null) return;
        this.waiting.add(raw);
        void this.enqueue(() => {
            this.waiting.delete(raw);
            return this.o.history.sync(this.o.chain, raw);
        });
    }

    private enqueue(f: () => Promise<unknown>): Promise<void> {
        const run = this.queue.then(f).then(
            () => undefined,
            (e) => this.o.log?.('explorer.sync-failed', { code: e instanceof ChainError ? e.code : 'CHAIN_UNAVAILABLE', error: e instanceof Error ? e.message : String(e) }),
        );
        this.queue = run;
        return run;
    }
}
