// Cooperative withdrawal (spec/proxy.md, "Cooperative withdrawal"; spec/wire.md, coop_withdraw): the proxy co-signs
// the ClientChannel's CoopWithdraw so an honest client need not wait the close delay. It signs only what the channel
// holds beyond what the client owes it, so what it is owed stays in the channel for a later redeem; only a close
// (which takes the whole balance) redeems the latest voucher first. Redeeming before every partial withdrawal would
// let a client make the proxy pay a Redeem's gas per co-signature for a request's worth of credit:
//
//   amount ≤ balance − live pendingWithdraw − (delivered − redeemed) − held            (a close: nothing owed or held)
//
// `delivered − redeemed` covers the unsigned credit as well as any voucher a failed redeem left behind, `held` the
// worst case of the channel's requests in flight. The contract accepts a signature while its withdrawSeqno equals the
// signed seqno, and nothing lets the proxy revoke it, so the co-signature is written to the ledger (and flushed) before
// it leaves, and admission keeps its amount aside (`reserved`) until the chain shows the seqno moved past it.
import { Address } from '@ton/core';
import type { ClientChannelState } from '../../wrappers/ClientChannel';
import { signPayload, withdrawPayload } from '../../wrappers/payloads';
import type { Clock } from '../core/clock';
import { chainSeconds } from '../core/chain/trust-clock';
import type { Log } from '../core/log';
import { livePendingWithdraw } from './admission';
import { ProxyError } from './errors';
import type { CoopWithdrawal, Ledger } from './ledger';
import type { Settlement } from './settlement';

export interface CoopHost {
    ledger(): Pick<Ledger, 'client' | 'coopWithdrawal' | 'recordCoopWithdrawal' | 'flush'> | undefined;
    readonly settlement: Pick<Settlement, 'settle' | 'refreshChannel'>;
    /** Worst case held by the channel's admitted requests (admission.ts). */
    heldBy(channelRaw: string): bigint;
    readonly secretKey: Buffer;
    globalId(): number;
    /** The clock of trust: a pending withdrawal counts until it lapses by chain time (without chain time it counts). */
    readonly trustClock: Clock;
    readonly log: Log;
}

const tooLarge = (m: string) => new ProxyError('COOP_WITHDRAW_TOO_LARGE', m);
const unavailable = (m: string) => new ProxyError('COOP_WITHDRAW_UNAVAILABLE', m);

export class CoopWithdrawals {
    /** Channels whose co-signature is being made (one at a time per channel). */
    private readonly busy = new Set<string>();
    /** The ledger's latest co-signature per channel, read once. */
    private readonly cache = new Map<string, CoopWithdrawal | null>();

    constructor(private readonly h: CoopHost) {}

    private latest(channelRaw: string): CoopWithdrawal | null {
        let w = this.cache.get(channelRaw);
        if (w === undefined) {
            w = this.h.ledger()?.coopWithdrawal(channelRaw) ?? null;
            this.cache.set(channelRaw, w);
        }
        return w;
    }

    /** What admission keeps aside for the channel: a co-signed withdrawal the chain has not yet seen used. */
    reserved(channelRaw: string, st: Pick<ClientChannelState, 'balance' | 'withdrawSeqno'> | undefined): bigint {
        const w = this.latest(channelRaw);
        if (!w || !st || w.seqno < st.withdrawSeqno) return 0n;
        return w.close ? st.balance : w.amount;
    }

    /** Co-signs `amount`, or redeems and then co-signs the whole balance with `close`; throws COOP_WITHDRAW_* and signs nothing. */
    async sign(channel: Address, req: { amount?: bigint; close: boolean }): Promise<CoopWithdrawal> {
        const raw = channel.toRawString();
        const ledger = this.h.ledger();
        if (!ledger) throw unavailable('the proxy is not started');
        if (this.busy.has(raw)) throw unavailable('another cooperative withdrawal of this channel is being signed');
        this.busy.add(raw);
        try {
            const c = ledger.client(raw);
            if (req.close && c.latestVoucher && c.latestVoucher.amount > c.redeemedOnChain) {
                const r = await this.h.settlement.settle({ channel: raw });
                if (r.errors.length > 0) throw unavailable(`redeeming the latest voucher first failed: ${r.errors[0].code}: ${r.errors[0].message}`);
            }
            let st: ClientChannelState | null;
            try {
                st = await this.h.settlement.refreshChannel(raw);
            } catch (e) {
                throw unavailable(`could not read the channel: ${(e as Error).message}`);
            }
            if (!st || st.state !== 0n) throw unavailable('the channel is not open');
            // From here to the record nothing awaits: no request is admitted between the check and the reservation.
            const owedRaw = ledger.client(raw).deliveredCost - st.redeemed;
            const owed = owedRaw > 0n ? owedRaw : 0n;
            const held = this.h.heldBy(raw);
            const prev = this.latest(raw);
            if (prev && prev.seqno === st.withdrawSeqno) {
                // The answer was lost: the same request gets the same signature; another one would make two usable.
                if (prev.close === req.close && (req.close ? prev.amount === st.balance : prev.amount === req.amount)) return prev;
                throw unavailable(`an unused co-signed ${prev.close ? 'close' : 'withdrawal'} of ${prev.amount} at seqno ${prev.seqno} exists: send it (or ask for it again) first`);
            }
            let amount: bigint;
            if (req.close) {
                if (owed > 0n || held > 0n) throw tooLarge(`a cooperative close needs nothing owed and nothing in flight: owed ${owed} (delivered − redeemed), in flight ${held}; sign a voucher for everything delivered and wait`);
                amount = st.balance;
            } else {
                amount = req.amount!;
                const pending = livePendingWithdraw(st, chainSeconds(this.h.trustClock));
                const free = st.balance - pending - owed - held;
                if (amount > free) {
                    throw tooLarge(`asked ${amount}, but balance ${st.balance} − pending withdrawal ${pending} − owed ${owed} (delivered − redeemed) − in flight ${held} leaves ${free > 0n ? free : 0n}`);
                }
            }
            const signature = signPayload(withdrawPayload(channel, amount, st.withdrawSeqno, req.close, this.h.globalId()), this.h.secretKey).toString('hex');
            const w: CoopWithdrawal = { seqno: st.withdrawSeqno, amount, close: req.close, signature };
            ledger.recordCoopWithdrawal(raw, w);
            this.cache.set(raw, w);
            await ledger.flush(); // durable (power loss too) before the signature leaves
            this.h.log('coop-withdraw.signed', { peer: raw, amount: amount.toString(), seqno: Number(st.withdrawSeqno), close: req.close });
            return w;
        } finally {
            this.busy.delete(raw);
        }
    }
}
