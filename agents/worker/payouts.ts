// The worker's payouts (design §2.1, spec/worker.md "Payouts"): every `payout` frame is a cumulative amount the
// proxy signed with its enclave key for our WorkerChannel. We keep the latest verified one per channel in a small
// JSON state file (written atomically before anything else happens with it) and claim it on chain through the
// worker's wallet once it is worth the gas: when `latest − paid` reaches the threshold, or on claimNow().
//
// State file (`statePath`):
//   {"format": "cocoon-worker-state/1",
//    "payouts": {"<channel raw address>": {"proxy": "<raw>", "amount": "<nanoTON>", "signature": "<128 hex>",
//                                          "receivedAt": <unix ms>}}}
// Only verified payouts are ever written, and an amount only ever grows, so a restart resumes with the best claim.
import { Address } from '@ton/core';
import { ed25519Verify } from '../core/ed25519';
import { z } from 'zod';
import { TonChain, ChainWallet } from '../core/chain';
import type { SleepClock } from '../core/clock';
import { readJsonFile, StateFileError, writeJsonAtomic } from '../core/state-file';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { payoutPayload } from '../../wrappers/payloads';
import type { Log } from '../core/log';
import { bytes256 } from '../core/hex';
import { PayoutError, WorkerConfigError } from './errors';

export const WORKER_STATE_FORMAT = 'cocoon-worker-state/1';

export interface StoredPayout {
    channel: Address;
    proxy: Address;
    amount: bigint;
    signature: Buffer;
    receivedAt: number;
}

export interface ClaimResult {
    channel: Address;
    /** The payout amount the claim carried. */
    amount: bigint;
    /** The channel's `paid` after the claim (re-read from chain). */
    paid: bigint;
    /** Whether `paid` reached `amount`. */
    ok: boolean;
}

export interface PayoutBookOptions {
    path: string;
    chain: TonChain;
    wallet: ChainWallet;
    /** Claim automatically when `latest − paid ≥ threshold` (nanoTON). */
    threshold: bigint;
    /** The chain's global id (config param 19), part of every signed payout. */
    globalId: number;
    clock: SleepClock;
    log: Log;
    /** How long to wait for `paid` to move after the claim transfer was applied (default 60 s). */
    confirmMs?: number;
    /** Poll period while waiting (default 500 ms). */
    confirmPollMs?: number;
}

const Entry = z
    .object({
        proxy: z.string().min(1).max(96),
        amount: z.string().regex(/^(0|[1-9][0-9]{0,39})$/),
        signature: z.string().regex(/^[0-9a-f]{128}$/),
        receivedAt: z.number().int().nonnegative(),
    })
    .strict();
const StateFile = z.object({ format: z.literal(WORKER_STATE_FORMAT), payouts: z.record(z.string(), Entry) }).strict();

/** Verifies a payout signature: Ed25519 by the proxy's enclave key over payoutPayload(channel, amount, globalId).hash(). */
export function verifyPayoutSignature(channel: Address, amount: bigint, signature: Buffer, enclaveKey: bigint, globalId: number): boolean {
    if (signature.length !== 64) return false;
    const key = bytes256(enclaveKey);
    if (key.length !== 32) return false;
    try {
        return ed25519Verify(payoutPayload(channel, amount, globalId).hash(), signature, key);
    } catch {
        return false;
    }
}

export class PayoutBook {
    private readonly payouts = new Map<string, StoredPayout>();
    /** Last `paid` read from each channel on chain. */
    private readonly paid = new Map<string, bigint>();
    /** Per channel: the claim running now (claims are strictly one at a time per channel). */
    private readonly running = new Map<string, Promise<ClaimResult | null>>();
    /** Per channel: a re-check requested while a claim ran (force = claim regardless of the threshold). */
    private readonly again = new Map<string, boolean>();
    private stopped = false;

    constructor(private readonly o: PayoutBookOptions) {}

    /** Reads the state file; a missing file is an empty book, anything unreadable is WORKER_STATE_INVALID. */
    load(): void {
        let raw: unknown;
        try {
            raw = readJsonFile(this.o.path);
        } catch (e) {
            if (e instanceof StateFileError) throw new WorkerConfigError('WORKER_STATE_INVALID', e.message, { path: this.o.path, key: 'statePath' });
            throw e;
        }
        if (raw === undefined) return;
        const r = StateFile.safeParse(raw);
        if (!r.success) {
            const issue = r.error.issues[0];
            throw new WorkerConfigError('WORKER_STATE_INVALID', `${this.o.path}: ${issue?.path.join('.') || '(file)'}: ${issue?.message ?? 'invalid'}`, { path: this.o.path, key: 'statePath' });
        }
        for (const [ch, e] of Object.entries(r.data.payouts)) {
            let channel: Address;
            let proxy: Address;
            try {
                channel = Address.parse(ch);
                proxy = Address.parse(e.proxy);
            } catch {
                throw new WorkerConfigError('WORKER_STATE_INVALID', `${this.o.path}: payouts.${ch}: not a TON address`, { path: this.o.path, key: 'statePath' });
            }
            this.payouts.set(channel.toRawString(), { channel, proxy, amount: BigInt(e.amount), signature: Buffer.from(e.signature, 'hex'), receivedAt: e.receivedAt });
        }
    }

    get(channel: Address): StoredPayout | undefined {
        return this.payouts.get(channel.toRawString());
    }

    /** Latest verified payout per channel (raw address → nanoTON). */
    earned(): Map<string, bigint> {
        return new Map([...this.payouts].map(([k, p]) => [k, p.amount]));
    }

    /** Last `paid` read from chain per channel. */
    claimed(): Map<string, bigint> {
        return new Map(this.paid);
    }

    /**
     * Verifies and stores a payout frame's content. Returns 'stored' (new, higher amount: persisted) or
     * 'unchanged' (the same amount again, e.g. re-sent after hello_ok). Throws PayoutError PAYOUT_INVALID /
     * PAYOUT_STALE without touching anything.
     */
    accept(p: { channel: Address; proxy: Address; enclaveKey: bigint; amount: bigint; signature: Buffer }): 'stored' | 'unchanged' {
        const key = p.channel.toRawString();
        if (!verifyPayoutSignature(p.channel, p.amount, p.signature, p.enclaveKey, this.o.globalId))
            throw new PayoutError('PAYOUT_INVALID', `payout of ${p.amount} for ${p.channel.toString()} is not signed by the proxy's enclave key`, { channel: key, amount: p.amount.toString() });
        const prev = this.payouts.get(key);
        if (prev && p.amount === prev.amount) return 'unchanged';
        if (prev && p.amount < prev.amount)
            throw new PayoutError('PAYOUT_STALE', `payout of ${p.amount} is below the stored ${prev.amount}`, { channel: key, amount: p.amount.toString(), stored: prev.amount.toString() });
        const next: StoredPayout = { channel: p.channel, proxy: p.proxy, amount: p.amount, signature: Buffer.from(p.signature), receivedAt: this.o.clock.now() };
        // Persist first: a payout we acknowledge (by claiming or reporting it) must survive a crash.
        this.persist(new Map(this.payouts).set(key, next));
        this.payouts.set(key, next);
        return 'stored';
    }

    private persist(all: Map<string, StoredPayout>): void {
        const payouts: Record<string, z.infer<typeof Entry>> = {};
        for (const [k, p] of all) payouts[k] = { proxy: p.proxy.toRawString(), amount: p.amount.toString(), signature: p.signature.toString('hex'), receivedAt: p.receivedAt };
        writeJsonAtomic(this.o.path, { format: WORKER_STATE_FORMAT, payouts });
    }

    /**
     * Claims the stored payout of `channel` if `amount − paid ≥ threshold` (or > 0 with force). One claim runs per
     * channel; a request arriving meanwhile re-checks after it (with `paid` re-read), so nothing is claimed twice.
     */
    claim(channel: Address, force = false): Promise<ClaimResult | null> {
        const key = channel.toRawString();
        const running = this.running.get(key);
        if (running) {
            // The running loop re-checks before it ends (it leaves `running` synchronously after its last check).
            this.again.set(key, force || (this.again.get(key) ?? false));
            return running;
        }
        const run = this.claimLoop(channel, force);
        this.running.set(key, run);
        return run;
    }

    /** Claims every stored payout above the channel's `paid`, regardless of the threshold. */
    async claimAll(): Promise<ClaimResult[]> {
        const results = await Promise.all([...this.payouts.values()].map((p) => this.claim(p.channel, true)));
        return results.filter((r): r is ClaimResult => r !== null);
    }

    /** Refreshes `paid` of a channel from chain (for stats) without claiming. */
    async refreshPaid(channel: Address): Promise<bigint | null> {
        const s = await this.o.chain.getWorkerChannelState(channel);
        if (s) this.paid.set(channel.toRawString(), s.paid);
        return s?.paid ?? null;
    }

    /** Waits for running claims; no new automatic claim starts afterwards. */
    async stop(): Promise<void> {
        this.stopped = true;
        await Promise.allSettled([...this.running.values()]);
    }

    private async claimLoop(channel: Address, force: boolean): Promise<ClaimResult | null> {
        const key = channel.toRawString();
        let result: ClaimResult | null = null;
        for (let f = force; ; ) {
            try {
                result = (await this.claimOnce(channel, f)) ?? result;
            } catch (e) {
                this.o.log('claim.failed', { channel: key, code: (e as { code?: string }).code ?? 'CHAIN_ERROR', message: (e as Error).message });
            }
            if (!this.again.has(key) || this.stopped) break;
            f = this.again.get(key)!;
            this.again.delete(key);
        }
        this.again.delete(key);
        this.running.delete(key);
        return result;
    }

    private async claimOnce(channel: Address, force: boolean): Promise<ClaimResult | null> {
        const key = channel.toRawString();
        const stored = this.payouts.get(key);
        if (!stored) return null;
        const paid = await this.refreshPaid(channel);
        if (paid === null) {
            this.o.log('claim.skipped', { channel: key, reason: 'channel not deployed' });
            return null;
        }
        const due = stored.amount - paid;
        if (due <= 0n || (!force && due < this.o.threshold) || (this.stopped && !force)) return null;
        // The Proxy pays a claim from its pool and bounces one the pool cannot cover, after the worker paid the claim's
        // gas. A proxy may sign more than it has redeemed yet (vouchers in transit or below its redeem threshold), so
        // a claim above the pool waits for the next payout or claimNow() instead of paying for a certain bounce.
        const proxy = await this.o.chain.getProxyState(stored.proxy);
        if (proxy && due > proxy.pool) {
            this.o.log('claim.deferred', { peer: stored.proxy.toRawString(), channel: key, reason: 'pool-short', due: due.toString(), pool: proxy.pool.toString() });
            return null;
        }
        this.o.log('claim.sent', { channel: key, amount: stored.amount.toString(), paid: paid.toString() });
        await this.o.chain.open(WorkerChannelWrapper.open(channel)).sendClaim(this.o.wallet.sender(), { amount: stored.amount, signature: stored.signature });
        // The wallet transfer is applied; the channel → Proxy → worker messages follow. Wait until `paid` moves.
        const deadline = this.o.clock.now() + (this.o.confirmMs ?? 60_000);
        let after = paid;
        for (;;) {
            after = (await this.refreshPaid(channel)) ?? after;
            if (after >= stored.amount || this.o.clock.now() >= deadline) break;
            await this.o.clock.sleep(this.o.confirmPollMs ?? 500);
        }
        const ok = after >= stored.amount;
        if (ok) this.o.log('claim.done', { channel: key, amount: stored.amount.toString(), paid: after.toString() });
        else {
            const e = new PayoutError('CLAIM_FAILED', `claim of ${stored.amount} left paid at ${after}`, { channel: key });
            this.o.log('claim.failed', { channel: key, code: e.code, message: e.message, amount: stored.amount.toString(), paid: after.toString() });
        }
        return { channel, amount: stored.amount, paid: after, ok };
    }
}
