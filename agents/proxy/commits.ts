// State commits (spec/proxy.md, "State commits"; spec/ledger.md): the ledger's state hash signed by the enclave key
// and sent to the Proxy contract, after a start-up guard that lets any commit of an earlier run land or lapse first.
import { Address } from '@ton/core';
import { ChainWallet, TonChain } from '../core/chain/chain';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { commitPayload, signPayload } from '../../wrappers/payloads';
import type { Clock } from '../core/clock';
import type { Log } from '../core/log';
import { Commit, Ledger, LedgerError } from './ledger';
import { ProxyError } from './errors';
import { ledgerTotals, LedgerTotals } from './stats';

/**
 * The sum of every money counter of the ledger (delivered, vouchers, redeemed, earned, payouts). Each only grows, so
 * the difference between two readings bounds the money a ledger restored to the earlier point would lose.
 */
export function ledgerVolume(t: LedgerTotals): bigint {
    return t.delivered + t.vouchers + t.redeemed + t.earned + t.payouts;
}

/**
 * The commit loop's trigger (spec/proxy.md "State commits"): a changed state is committed once `intervalMs` has
 * passed since the last commit, or sooner once the money counters moved by `valueThreshold` since then.
 */
export function commitDue(o: { now: number; since: number; moved: bigint; intervalMs: number; valueThreshold: bigint }): boolean {
    return o.now - o.since >= o.intervalMs || o.moved >= o.valueThreshold;
}

/** LEDGER_ROLLBACK as the proxy reports it (PROXY_ROLLBACK); anything else unchanged. */
export function rollbackError(e: unknown): unknown {
    if (e instanceof LedgerError && e.code === 'LEDGER_ROLLBACK') {
        return new ProxyError('PROXY_ROLLBACK', `the ledger does not match the chain: ${e.message}`, { ...(e.details ?? {}), cause: e.code });
    }
    return e;
}

/** What commits need of their runner. */
export interface CommitsHost {
    readonly chain: TonChain;
    readonly wallet: ChainWallet;
    readonly proxyAddress: Address;
    readonly secretKey: Buffer;
    readonly commitGuardMs?: number;
    /** The longest a change stays uncommitted (ms). */
    readonly commitIntervalMs: number;
    /** Commit as soon as the money counters moved this much since the last commit (nanoTON). */
    readonly commitValueThreshold: bigint;
    readonly clock: Clock;
    /** The ledger (undefined before start). */
    ledger(): Ledger | undefined;
    globalId(): number;
    stopping(): boolean;
    halted(): ProxyError | undefined;
    /** Stops serving for good (a rollback found by the guard). */
    halt(err: ProxyError): Promise<void>;
    readonly log: Log;
}

const volumeOf = (ledger: Ledger): bigint => ledgerVolume(ledgerTotals(ledger.stateSerialization()));

export class Commits {
    private commitReady?: Promise<void>;
    private guardTimer?: NodeJS.Timeout;
    private committing?: Promise<Commit>;
    private lastCommit: { seqno: bigint; hash: bigint; onChain: boolean; at: number; error?: string } | null = null;
    private emptyHash?: bigint;
    /** ledgerVolume at start or at the last commit this run made (the value trigger's baseline). */
    private baseVolume?: bigint;

    private readonly startedAt: number;

    constructor(private readonly h: CommitsHost) {
        this.startedAt = h.clock.now();
    }

    /** Starts the commit guard (at start, with the loops). */
    startGuard(): void {
        const ledger = this.h.ledger();
        if (ledger) this.baseVolume = volumeOf(ledger);
        this.commitReady = this.commitGuard();
        // Observed here so that a guard failure (halt, stop) is never an unhandled rejection; commitNow rethrows it.
        this.commitReady.catch((e) => this.h.log('commit.guard-failed', { error: String(e) }));
    }

    /** At stop: the guard no longer waits. */
    stopGuard(): void {
        if (this.guardTimer) {
            clearTimeout(this.guardTimer);
            this.guardTimer = undefined;
        }
        this.commitReady?.catch(() => undefined);
    }

    /** The commit running now (stop() waits for it). */
    running(): Promise<unknown> | undefined {
        return this.committing;
    }

    /** The error of the last commit this run sent, if it is `seqno`'s. */
    errorOf(seqno: bigint): string | null {
        return this.lastCommit?.seqno === seqno ? this.lastCommit.error ?? null : null;
    }

    /**
     * The open point of spec/ledger.md: a commit an earlier run signed and sent may still be in flight, and a ledger
     * restored from a backup may not know it. Any such message carries valid_until ≤ (its send time + the wallet's
     * send timeout), and the earlier run ended before this start, so after `commitGuardMs` (default: sendTimeoutMs +
     * 5 s) since start it can no longer land. Then the rollback check runs again (a commit that landed meanwhile is
     * confirmed, or found unknown → halt) and only then may this run sign a commit.
     */
    private commitGuard(): Promise<void> {
        const ms = this.h.commitGuardMs ?? this.h.chain.config.sendTimeoutMs + 5000;
        return new Promise<void>((resolve) => {
            this.guardTimer = setTimeout(resolve, ms);
            this.guardTimer.unref();
        }).then(async () => {
            this.guardTimer = undefined;
            if (this.h.stopping()) throw new ProxyError('PROXY_NOT_STARTED', 'the proxy stopped');
            const st = await this.h.chain.getProxyState(this.h.proxyAddress);
            if (!st) throw new ProxyError('PROXY_NOT_DEPLOYED', 'the Proxy contract is gone');
            try {
                this.h.ledger()!.checkAgainstChain(st.commitSeqno, st.commitHash);
            } catch (e) {
                const err = rollbackError(e);
                if (err instanceof ProxyError && err.code === 'PROXY_ROLLBACK') await this.h.halt(err);
                throw err;
            }
            this.h.log('commit.guard-passed', { chainSeqno: st.commitSeqno.toString() });
        });
    }

    /**
     * Records the next commit in the ledger, signs it and sends StateCommit; confirms it once the Proxy contract shows
     * it. Waits for the start-up commit guard first (see commitGuard).
     */
    async commitNow(): Promise<Commit> {
        if (!this.h.ledger() || !this.commitReady) throw new ProxyError('PROXY_NOT_STARTED', 'start the proxy first');
        await this.commitReady;
        const halted = this.h.halted();
        if (halted) throw halted;
        if (this.h.stopping()) throw new ProxyError('PROXY_NOT_STARTED', 'the proxy is stopping');
        if (this.committing) await this.committing.catch(() => undefined);
        this.committing = this.doCommit().finally(() => (this.committing = undefined));
        return this.committing;
    }

    /**
     * The commit loop's tick: commits when the state differs from the last commit confirmed on chain (and is not
     * empty) and either `commitIntervalMs` has passed since the last commit (or since start, before the first) or the
     * money counters moved by `commitValueThreshold` since the last commit of this run (or since start). So what a
     * ledger restored from a backup can lose undetected is bounded by value as well as by time, and a quiet proxy does
     * not pay for a commit every period (spec/proxy.md "State commits").
     */
    async commitIfChanged(): Promise<void> {
        if (this.committing || this.h.halted() || this.h.stopping()) return;
        const ledger = this.h.ledger()!;
        const last = ledger.latestCommit();
        if (last && last.onChain && last.hash === ledger.stateHash()) return;
        if (!last && ledger.stateHash() === this.emptyStateHash(ledger)) return;
        const moved = volumeOf(ledger) - (this.baseVolume ?? 0n);
        const due = commitDue({ now: this.h.clock.now(), since: last?.committedAt ?? this.startedAt, moved, intervalMs: this.h.commitIntervalMs, valueThreshold: this.h.commitValueThreshold });
        if (!due) return;
        await this.commitNow();
    }

    private emptyStateHash(ledger: Ledger): bigint {
        if (this.emptyHash === undefined) {
            const mem = Ledger.open(':memory:', { commissionBps: ledger.commissionBps });
            this.emptyHash = mem.stateHash();
            mem.close();
        }
        return this.emptyHash;
    }

    private async doCommit(): Promise<Commit> {
        const ledger = this.h.ledger()!;
        const { chain, proxyAddress } = this.h;
        const c = ledger.nextCommit(); // recorded before signing: a seqno is never signed twice
        this.baseVolume = volumeOf(ledger);
        await ledger.flush(); // and survives a power loss before the signature exists (equivocation otherwise)
        const signature = signPayload(commitPayload(proxyAddress, c.seqno, c.hash, this.h.globalId()), this.h.secretKey);
        this.lastCommit = { seqno: c.seqno, hash: c.hash, onChain: false, at: c.committedAt };
        try {
            await chain.open(ProxyWrapper.open(proxyAddress)).sendSignedCommit(this.h.wallet.sender(), { seqno: c.seqno, hash: c.hash, signature });
            const st = await chain.getProxyState(proxyAddress);
            if (st && st.commitSeqno === c.seqno && st.commitHash === c.hash) {
                const confirmed = ledger.confirmCommit(c.seqno);
                this.lastCommit.onChain = true;
                this.h.log('commit.confirmed', { seqno: c.seqno.toString() });
                return confirmed;
            }
            this.lastCommit.error = `not on chain yet (chain seqno ${st?.commitSeqno ?? 'none'})`;
        } catch (e) {
            this.lastCommit.error = String((e as Error).message ?? e);
            this.h.log('commit.send-failed', { seqno: c.seqno.toString(), error: this.lastCommit.error });
            throw e;
        }
        return ledger.getCommit(c.seqno)!;
    }
}
