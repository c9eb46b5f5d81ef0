// Admission of client requests against money (spec/proxy.md, "Admission"): every request holds its worst-case cost
// (agents/core/metering.ts maxRequestCost) from the moment it is admitted until it is booked or fails, so concurrent
// requests cannot run past the credit window or the deposit together. Two bounds, both checked with what is already
// held on the channel:
//
//   window:  (delivered − voucher) + held + worst ≤ creditWindow          unsigned exposure never exceeds one window
//   deposit: (delivered − redeemed) + held + worst ≤ balance − pending     only what a redeem can still take counts
//            (pending: a live withdrawal request, plus a co-signed cooperative withdrawal not yet used, coop-withdraw.ts)
//
// `balance`, `redeemed` and `pendingWithdraw` come from one snapshot of the ClientChannel (a redeem lowers balance and
// raises redeemed alike, so the deposit bound stays valid between snapshots); a channel that is closing admits
// nothing (its deposit leaves at closeAt).
import { WithdrawWindow, type ClientChannelState } from '../../wrappers/ClientChannel';
import { maxRequestCost } from '../core/metering';
import type { ModelPrices } from '../core/pricing';

/** ClientChannel state: active (the only state that admits requests). */
const CHANNEL_ACTIVE = 0n;

/** Seconds past the contract's WithdrawWindow before the proxy trusts a request to have lapsed (the chain-time estimate's error). */
export const LAPSE_MARGIN_SEC = 600n;

/**
 * The withdrawal a client can still finish: the on-chain `pendingWithdraw` until `withdrawAt + WithdrawWindow` (plus a
 * margin for the clock of trust's error) by chain time; after that FinishWithdraw is refused (ErrExpired), so the
 * request no longer counts. `nowSec` null (no chain time: spec/attestation.md "Chain time for money and receipts"): it still counts.
 */
export function livePendingWithdraw(st: Pick<ClientChannelState, 'pendingWithdraw' | 'withdrawAt'>, nowSec: number | null): bigint {
    if (st.pendingWithdraw === 0n || nowSec === null) return st.pendingWithdraw;
    return BigInt(nowSec) > st.withdrawAt + WithdrawWindow + LAPSE_MARGIN_SEC ? 0n : st.pendingWithdraw;
}

export interface AdmissionInput {
    channel: string;
    /** Worst-case cost of the request (requestBound). */
    amount: bigint;
    /** Ledger: delivered cost and latest voucher amount of the channel. */
    delivered: bigint;
    voucher: bigint;
    creditWindow: bigint;
    /** The cached on-chain snapshot, if any (none: the deposit check fails and the caller re-reads the chain). */
    chain: Pick<ClientChannelState, 'state' | 'balance' | 'redeemed' | 'pendingWithdraw' | 'withdrawAt'> | undefined;
    /** Chain time, unix seconds (a lapsed withdrawal request no longer counts); null: unknown, the request counts. */
    nowSec: number | null;
    /** A co-signed cooperative withdrawal not yet used on chain (coop-withdraw.ts): kept aside like a pending one. */
    reserved?: bigint;
}

export type AdmissionRefusal = { code: 'CREDIT_WINDOW_EXCEEDED' | 'INSUFFICIENT_DEPOSIT'; message: string };

/**
 * Worst-case cost of a request: the most a receipt the proxy accepts for it can cost (agents/core/metering.ts usage
 * bounds, which the proxy enforces on every receipt): a full context of prompt and `maxTokens` of the dearer output
 * kind, at the client's `maxCoefficient` (the chosen worker's coefficient is at most that).
 */
export function requestBound(o: { maxTokens: number; contextLength: bigint; prices: ModelPrices; coefficient: bigint }): bigint {
    return maxRequestCost(o.prices, o.maxTokens, o.contextLength, o.coefficient);
}

export class ClientAdmission {
    /** Worst-case cost held per channel (raw address) by admitted requests not yet booked or failed. */
    private readonly held = new Map<string, bigint>();

    /** Held over all channels. */
    total(): bigint {
        let t = 0n;
        for (const v of this.held.values()) t += v;
        return t;
    }

    heldBy(channel: string): bigint {
        return this.held.get(channel) ?? 0n;
    }

    /** Checks both bounds; on success holds `amount` for the channel (release it exactly once). */
    admit(i: AdmissionInput): AdmissionRefusal | null {
        const held = this.heldBy(i.channel);
        const exposure = i.delivered - i.voucher;
        if (exposure + held + i.amount > i.creditWindow) {
            return {
                code: 'CREDIT_WINDOW_EXCEEDED',
                message:
                    i.amount > i.creditWindow
                        ? `this request may cost up to ${i.amount} nanoTON, more than the credit window ${i.creditWindow}; lower max_tokens`
                        : `unsigned ${exposure} + in flight ${held} + this request's bound ${i.amount} exceed the credit window ${i.creditWindow}; sign a voucher or wait`,
            };
        }
        const refusal = depositRefusal(i, held);
        if (refusal) return refusal;
        this.held.set(i.channel, held + i.amount);
        return null;
    }

    release(channel: string, amount: bigint): void {
        const left = this.heldBy(channel) - amount;
        if (left > 0n) this.held.set(channel, left);
        else this.held.delete(channel);
    }
}

function depositRefusal(i: AdmissionInput, held: bigint): AdmissionRefusal | null {
    const c = i.chain;
    if (!c) return { code: 'INSUFFICIENT_DEPOSIT', message: 'the channel state is not known yet' };
    if (c.state !== CHANNEL_ACTIVE) return { code: 'INSUFFICIENT_DEPOSIT', message: 'the channel is closing: its deposit is no longer available' };
    const pending = livePendingWithdraw(c, i.nowSec) + (i.reserved ?? 0n);
    const usable = c.balance - pending;
    const owed = i.delivered - c.redeemed;
    if (owed + held + i.amount > usable) {
        return {
            code: 'INSUFFICIENT_DEPOSIT',
            message: `balance ${c.balance} − pending withdrawal ${pending} does not cover unredeemed ${owed} + in flight ${held} + this request's bound ${i.amount}; top up`,
        };
    }
    return null;
}
