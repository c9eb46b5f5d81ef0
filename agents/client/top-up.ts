// Automatic top-up (spec/client.md, "Automatic top-up"): keeps the channel's spendable balance above a threshold so
// that a busy client is not refused INSUFFICIENT_DEPOSIT (402) by its proxy, never sending more than a budget over
// the state file's life.
//
//   spendable = balance − live pendingWithdraw − (committed − redeemed) − holds
//
// `committed` = every cost accepted (signed or about to be), `holds` = the worst-case cost of every request being sent
// or answered (what the proxy holds for it, agents/core/metering.ts maxRequestCost at our coefficient cap). A redeem
// moves balance to redeemed and leaves it unchanged, so one chain snapshot stays valid until our own top-up or
// withdrawal; the snapshot is re-read before each top-up. One top-up runs at a time; its amount is counted in the
// state file before the transfer is sent, so a crash or a restart never lets the total pass the budget.
import type { ClientChannelState } from '../../wrappers/ClientChannel';
import { maxRequestCost } from '../core/metering';
import { livePendingWithdraw } from '../proxy/admission';
import type { Model } from '../../wrappers/Root';
import type { Clock } from '../core/clock';
import { chainSeconds } from '../core/chain/trust-clock';
import type { Log } from '../core/log';
import { ClientError } from './errors';
import type { ClientStateStore } from './state';
import { errMsg } from './util';

export interface AutoTopUpConfig {
    /** Top up when the spendable balance falls below this (nanoTON). */
    threshold: bigint;
    /** What one top-up adds (nanoTON; the last one is cut to what is left of the budget). */
    amount: bigint;
    /** Most all automatic top-ups (and failover deposits) may send over the state file's life (nanoTON). */
    budget: bigint;
}

export interface AutoTopUpStatus extends AutoTopUpConfig {
    spent: bigint;
    /** The spendable balance as last computed (null before the first chain read). */
    spendable: bigint | null;
}

export interface AutoTopUpOptions {
    config: AutoTopUpConfig | undefined;
    maxCoefficient: bigint;
    /** The channel's on-chain state now (null: not deployed). */
    read: () => Promise<ClientChannelState | null>;
    /** ClientChannelOps.topUp: `beforeSend` runs right before the transfer. */
    topUp: (amount: bigint, beforeSend: () => Promise<void>) => Promise<ClientChannelState>;
    store: () => ClientStateStore;
    /** Costs accepted so far (Payments.committed). */
    committed: () => bigint;
    stopped: () => boolean;
    clock: Clock;
    /** The clock of trust: a pending withdrawal counts until it lapses by chain time (without chain time it counts). */
    trustClock: Clock;
    log: Log;
}

/** Validates the SDK option: three non-negative bigints, amount and budget positive. */
export function checkAutoTopUp(c: AutoTopUpConfig | undefined): AutoTopUpConfig | undefined {
    if (c === undefined) return undefined;
    const bad = (key: string, what: string) => new ClientError('CONFIG_INVALID', `autoTopUp.${key} must be ${what}`, { key: `autoTopUp.${key}` });
    if (typeof c !== 'object' || c === null) throw new ClientError('CONFIG_INVALID', 'autoTopUp must be {threshold, amount, budget}', { key: 'autoTopUp' });
    if (typeof c.threshold !== 'bigint' || c.threshold < 0n) throw bad('threshold', 'a non-negative bigint (nanoTON)');
    if (typeof c.amount !== 'bigint' || c.amount <= 0n) throw bad('amount', 'a positive bigint (nanoTON)');
    if (typeof c.budget !== 'bigint' || c.budget <= 0n) throw bad('budget', 'a positive bigint (nanoTON)');
    return { threshold: c.threshold, amount: c.amount, budget: c.budget };
}

/** Top-ups a request not covered by the balance waits for before it is sent anyway. */
const MAX_WAITS = 4;
/** After a failed top-up (or a channel that takes none), the next attempt waits this long. */
const RETRY_MS = 5000;

export class AutoTopUp {
    private snapshot: ClientChannelState | null = null;
    private holds = 0n;
    private running?: Promise<void>;
    private quietUntil = 0;

    constructor(private readonly o: AutoTopUpOptions) {}

    get enabled(): boolean {
        return this.o.config !== undefined;
    }

    /** After open(): the first snapshot, and a top-up if the channel is already low. */
    async start(): Promise<void> {
        if (!this.enabled) return;
        this.snapshot = await this.o.read();
        this.check();
    }

    /** Our own withdrawal changed the channel: re-read it (in the background; a failed read waits for the next top-up's). */
    refresh(): void {
        if (!this.enabled) return;
        this.o.read().then(
            (st) => (this.snapshot = st),
            (e: unknown) => this.o.log('client.channel-read-failed', { message: errMsg(e) }),
        );
    }

    /** Our own withdrawal or top-up changed the channel: take a fresh snapshot. */
    changed(st: ClientChannelState | null): void {
        this.snapshot = st;
    }

    status(): AutoTopUpStatus | null {
        const c = this.o.config;
        if (!c) return null;
        return { ...c, spent: this.o.store().topUpSpent, spendable: this.spendable() };
    }

    /**
     * A request of this model and maxTokens is about to be sent: hold its worst case, top up when that takes the
     * channel below the threshold, and when it would not be covered at all wait for the top-up under way. Returns
     * the release of the hold (call it once the request is over).
     */
    async reserve(model: Model, maxTokens: number): Promise<() => void> {
        if (!this.enabled) return () => undefined;
        const hold = maxRequestCost(model, maxTokens, model.contextLength, this.o.maxCoefficient);
        this.holds += hold;
        let released = false;
        const release = () => {
            if (released) return;
            released = true;
            this.holds -= hold;
        };
        this.check();
        // Not covered: the proxy would refuse it (402). Wait for the top-ups the budget allows, one at a time (a few
        // at most: a top-up that fails or finds the budget spent ends the wait, and the proxy decides).
        for (let i = 0; i < MAX_WAITS && this.running && (this.spendable() ?? 0n) < 0n && !this.o.stopped(); i++) {
            await this.running;
            this.check();
        }
        return release;
    }

    private spendable(): bigint | null {
        const s = this.snapshot;
        if (!s) return null;
        const owed = this.o.committed() - s.redeemed;
        return s.balance - livePendingWithdraw(s, chainSeconds(this.o.trustClock)) - (owed > 0n ? owed : 0n) - this.holds;
    }

    /** Starts a top-up when below the threshold and none is running. */
    private check(): void {
        const c = this.o.config;
        if (!c || this.running || this.o.stopped() || this.o.store().topUpSpent >= c.budget || this.o.clock.now() < this.quietUntil) return;
        const sp = this.spendable();
        if (sp !== null && sp >= c.threshold) return;
        this.running = this.run(c)
            .catch((e: unknown) => {
                this.quietUntil = this.o.clock.now() + RETRY_MS;
                this.o.log('client.auto-top-up-failed', { code: (e as ClientError).code, message: errMsg(e) });
            })
            .finally(() => {
                this.running = undefined;
            });
    }

    private async run(c: AutoTopUpConfig): Promise<void> {
        // Fresh state first: another top-up (ours from elsewhere, anyone's) may have landed.
        this.snapshot = await this.o.read();
        const s = this.snapshot;
        if (!s || s.state !== 0n) {
            this.quietUntil = this.o.clock.now() + RETRY_MS; // not deployed (open() deploys) or leaving: no deposit goes in
            return;
        }
        const sp = this.spendable()!;
        if (sp >= c.threshold) return;
        const store = this.o.store();
        const left = c.budget - store.topUpSpent;
        const amount = left < c.amount ? left : c.amount;
        this.snapshot = await this.o.topUp(amount, () => store.addTopUpSpent(amount));
        this.o.log('client.auto-top-up', { amount: amount.toString(), spent: store.topUpSpent.toString(), budget: c.budget.toString(), spendable: String(this.spendable()) });
        if (store.topUpSpent >= c.budget) this.o.log('client.auto-top-up-budget-spent', { budget: c.budget.toString(), spent: store.topUpSpent.toString() });
        // Load may have grown meanwhile: look again once this one is done.
        setImmediate(() => this.check());
    }
}
