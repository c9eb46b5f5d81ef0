// Settlement (spec/proxy.md, "Settlement" and "Channel watch"): redeeming client vouchers on their ClientChannels,
// signing worker payouts, and the cached ClientChannel states that the watch re-reads so that a leaving client's
// voucher is redeemed before its withdrawal or close can take the money.
import { Address } from '@ton/core';
import { ChainWallet, TonChain } from '../core/chain/chain';
import { CocoonError } from '../core/errors';
import { ClientChannelState, ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { payoutPayload, signPayload } from '../../wrappers/payloads';
import type { Log } from '../core/log';
import type { Clock } from '../core/clock';
import { chainSeconds } from '../core/chain/trust-clock';
import { Ledger } from './ledger';
import { livePendingWithdraw } from './admission';
import { ProxyError } from './errors';
import { SETTLEMENT_DEFAULTS } from './options';

export interface RedeemResult {
    client: string;
    voucher: bigint;
    /** The channel's cumulative `redeemed` after the redeem (what the ledger now holds). */
    redeemed: bigint;
    /** Redeemed before this call. */
    previous: bigint;
}

export interface PayoutResult {
    worker: string;
    amount: bigint;
    signature: string;
    /** Worker connections the payout frame was sent to. */
    sentTo: number;
}

export interface SettleResult {
    redeemed: RedeemResult[];
    payouts: PayoutResult[];
    errors: { party: string; code: string; message: string }[];
}

/** The client announced it is leaving: a pending withdrawal or a started close (nowSec: chain time; null counts the withdrawal). */
export function isLeaving(st: ClientChannelState, nowSec: number | null): boolean {
    return livePendingWithdraw(st, nowSec) > 0n || st.state !== 0n;
}

/** What settlement needs of its runner. */
export interface SettlementHost {
    readonly chain: TonChain;
    readonly wallet: ChainWallet;
    readonly secretKey: Buffer;
    readonly redeemThreshold?: bigint;
    readonly payoutThreshold?: bigint;
    /** The ledger (undefined before start). */
    ledger(): Ledger | undefined;
    /** Why a settlement cannot run now (not started, stopping, halted), if it cannot. */
    refusal(): Error | undefined;
    halted(): boolean;
    stopping(): boolean;
    globalId(): number;
    /** Bookkeeping (when a channel state was read). */
    readonly clock: Clock;
    /** The clock of trust: whether a withdrawal request has lapsed is the contract's call by chain time. */
    readonly trustClock: Clock;
    /** Channels of the ready client connections. */
    connectedChannels(): Iterable<string>;
    /** Sends a signed payout to every ready connection of that WorkerChannel; returns how many got it. */
    sendPayout(worker: string, amount: bigint, signature: string): number;
    readonly log: Log;
}

export class Settlement {
    private settling?: Promise<SettleResult>;
    private watching?: Promise<string[]>;
    private readonly channelCache = new Map<string, { state: ClientChannelState; fetchedAt: number }>();

    constructor(private readonly h: SettlementHost) {}

    /** What settle() and the watch are running now (stop() waits for it). */
    running(): (Promise<unknown> | undefined)[] {
        return [this.settling, this.watching];
    }

    /** The channel state last read from the chain, if any. */
    cached(channelRaw: string): ClientChannelState | undefined {
        return this.channelCache.get(channelRaw)?.state;
    }

    remember(channelRaw: string, state: ClientChannelState): void {
        this.channelCache.set(channelRaw, { state, fetchedAt: this.h.clock.now() });
    }

    async refreshChannel(channelRaw: string): Promise<ClientChannelState | null> {
        const st = await this.h.chain.getClientChannelState(Address.parse(channelRaw));
        if (st) this.remember(channelRaw, st);
        return st;
    }

    private nowSec(): number | null {
        return chainSeconds(this.h.trustClock);
    }

    /** Whether the cached state of that channel says its client is leaving. */
    cachedLeaving(channelRaw: string): boolean {
        const st = this.cached(channelRaw);
        return st !== undefined && isLeaving(st, this.nowSec());
    }

    /**
     * Redeems vouchers with voucher − redeemed ≥ redeemThreshold (any positive difference with `force`) and signs
     * payouts for workers with earned − payout ≥ payoutThreshold: each payout is recorded in the ledger before it is
     * sent to the worker's connections. Runs once at a time; concurrent calls share the run.
     */
    settle(opts: { force?: boolean; channel?: string } = {}): Promise<SettleResult> {
        const refusal = this.h.refusal();
        if (refusal) return Promise.reject(refusal);
        const ledger = this.h.ledger()!;
        if (this.settling) return this.settling.then(() => this.settle(opts), () => this.settle(opts));
        this.settling = this.doSettle(ledger, opts.force === true, opts.channel).finally(() => (this.settling = undefined));
        return this.settling;
    }

    /** `channel`: redeem that ClientChannel's latest voucher whatever its size, and nothing else (the channel watch). */
    private async doSettle(ledger: Ledger, force: boolean, channel?: string): Promise<SettleResult> {
        const out: SettleResult = { redeemed: [], payouts: [], errors: [] };
        const candidates = channel !== undefined ? [ledger.client(channel)].filter((c) => c.latestVoucher && c.latestVoucher.amount > c.redeemedOnChain) : ledger.redeemCandidates(force ? 1n : this.h.redeemThreshold ?? SETTLEMENT_DEFAULTS.redeemThreshold);
        for (const c of candidates) {
            try {
                const r = await this.redeemOne(ledger, c.client, c.latestVoucher!.amount, c.latestVoucher!.signature, c.redeemedOnChain);
                if (r) out.redeemed.push(r);
            } catch (e) {
                out.errors.push({ party: c.client, code: (e as CocoonError).code ?? 'ERROR', message: String((e as Error).message ?? e) });
                this.h.log('redeem.failed', { peer: c.client, code: out.errors[out.errors.length - 1].code, error: String(e) });
            }
        }
        for (const w of channel !== undefined ? [] : ledger.payoutCandidates(force ? 1n : this.h.payoutThreshold ?? SETTLEMENT_DEFAULTS.payoutThreshold)) {
            try {
                out.payouts.push(await this.signPayout(ledger, w.worker, w.earned));
            } catch (e) {
                out.errors.push({ party: w.worker, code: (e as CocoonError).code ?? 'ERROR', message: String((e as Error).message ?? e) });
                this.h.log('payout.failed', { peer: w.worker, code: out.errors[out.errors.length - 1].code, error: String(e) });
            }
        }
        if (out.redeemed.length || out.payouts.length) this.h.log('settle.done', { redeemed: out.redeemed.length, payouts: out.payouts.length });
        return out;
    }

    private async redeemOne(ledger: Ledger, client: string, amount: bigint, signature: string, previous: bigint): Promise<RedeemResult | null> {
        const addr = Address.parse(client);
        // Read first: a redeem an earlier run sent may have landed already (the contract would refuse a second one).
        const before = await this.refreshChannel(client);
        if (!before) throw new ProxyError('CHANNEL_INVALID', 'the ClientChannel is gone');
        if (before.redeemed < amount && before.balance > 0n) {
            await ledger.flush(); // the voucher (and every delivery it covers) survives a power loss before it is redeemed
            await this.h.chain.open(ClientChannelWrapper.open(addr)).sendRedeem(this.h.wallet.sender(), { amount, signature: Buffer.from(signature, 'hex') });
        }
        const after = (await this.refreshChannel(client)) ?? before;
        const redeemed = after.redeemed < amount ? after.redeemed : amount;
        if (redeemed > previous) ledger.markRedeemed(addr, redeemed);
        if (redeemed === previous) return null;
        this.h.log('redeem.done', { peer: client, voucher: amount.toString(), redeemed: redeemed.toString() });
        return { client, voucher: amount, redeemed, previous };
    }

    private async signPayout(ledger: Ledger, worker: string, amount: bigint): Promise<PayoutResult> {
        const addr = Address.parse(worker);
        const signature = signPayload(payoutPayload(addr, amount, this.h.globalId()), this.h.secretKey).toString('hex');
        ledger.recordPayoutSigned(addr, amount, signature);
        await ledger.flush(); // durable (power loss too) before the signature leaves
        const sentTo = this.h.sendPayout(worker, amount, signature);
        this.h.log('payout.signed', { peer: worker, amount: amount.toString(), sentTo });
        return { worker, amount, signature, sentTo };
    }

    /**
     * The channel watch (spec/proxy.md, "Channel watch"): re-reads every ClientChannel that has a connected client or
     * an unredeemed voucher. A channel whose client started a withdrawal or a close has its latest voucher redeemed at
     * once (whatever the threshold), long before the client's delay ends; admission then counts only
     * balance − pendingWithdraw (and nothing of a closing channel). Returns the channels found leaving.
     */
    watchChannels(): Promise<string[]> {
        if (this.watching) return this.watching;
        this.watching = (async () => {
            const leaving: string[] = [];
            const ledger = this.h.ledger();
            if (!ledger || this.h.stopping() || this.h.halted()) return leaving;
            const channels = new Set<string>(this.h.connectedChannels());
            for (const c of ledger.redeemCandidates(1n)) channels.add(c.client);
            for (const ch of channels) {
                if (this.h.stopping()) break;
                try {
                    const st = await this.refreshChannel(ch);
                    if (!st || !isLeaving(st, this.nowSec())) continue;
                    leaving.push(ch);
                    this.h.log('channel.leaving', { peer: ch, state: st.state.toString(), pendingWithdraw: st.pendingWithdraw.toString(), withdrawAt: Number(st.withdrawAt), closeAt: Number(st.closeAt) });
                    await this.redeemLeaving(ch);
                } catch (e) {
                    this.h.log('channel.watch-failed', { peer: ch, code: (e as CocoonError).code, error: String(e) });
                }
            }
            return leaving;
        })().finally(() => (this.watching = undefined));
        return this.watching;
    }

    /** Redeems a leaving channel's latest voucher now, if it is above what was redeemed. */
    async redeemLeaving(channel: string): Promise<void> {
        const c = this.h.ledger()!.client(channel);
        if (!c.latestVoucher || c.latestVoucher.amount <= c.redeemedOnChain) return;
        const r = await this.settle({ channel });
        for (const e of r.errors) this.h.log('channel.redeem-failed', { peer: channel, code: e.code, message: e.message });
    }
}
