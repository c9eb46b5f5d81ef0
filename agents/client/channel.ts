// The ClientChannel's on-chain life (spec/client.md, "Proxy selection" and "Withdraw and close"): which proxy's
// channel open() uses, deposit and top-up, withdraw, close, and the balances the app sees. Every operation checks the wallet and the channel's state first, then waits until
// the channel's state shows the change.
import { Address, toNano } from '@ton/core';
import { ChainWallet, RootConfig, TonChain } from '../core/chain';
import type { Clock, SleepClock } from '../core/clock';
import { chainNow, chainNowRetried } from '../core/chain/trust-clock';
import { ClientChannelState, ClientChannelWrapper, WithdrawWindow } from '../../wrappers/ClientChannel';
import { FeeFinish, FeeSimple, FeeTopUp } from '../../wrappers/fees';
import { ProxyInfo } from '../../wrappers/Root';
import type { Log } from '../core/log';
import { ClientError } from './errors';
import { ClientStateStore } from './state';
import type { PaymentStatus, StatsSnapshot } from './stats';
import type { AutoTopUpStatus } from './top-up';

export type ChannelStateName = 'open' | 'closing' | 'closed';

export interface Balances {
    channel: string;
    proxy: string;
    /** On-chain state; null when the channel is not deployed. */
    onChain: { state: ChannelStateName; balance: bigint; redeemed: bigint; pendingWithdraw: bigint; withdrawAt: number; closeAt: number } | null;
    /** Latest signed cumulative voucher (the state file). */
    cumulative: bigint;
    /** Signed but not yet redeemed: cumulative − redeemed. */
    owed: bigint;
    /** What the client could still withdraw: balance − owed (≥ 0). */
    available: bigint;
    /** The proxy's last payment_status (null before the first). */
    proxyStatus: PaymentStatus | null;
    /** The last voucher the proxy refused (error frame), if any. */
    lastVoucherError: { code: string; message: string } | null;
    /** The automatic top-up's settings, budget spent and spendable balance (null when off; CocoonClient fills it). */
    autoTopUp?: AutoTopUpStatus | null;
}

export interface WithdrawResult {
    amount: bigint;
    /** Unix seconds from which FinishWithdraw is allowed. */
    withdrawAt: number;
    /** Milliseconds left until then (0 when finished). */
    waitMs: number;
    finished: boolean;
    /** nanoTON paid to the wallet by FinishWithdraw (when finished). */
    paid?: bigint;
}

export interface CloseResult {
    closeAt: number;
    waitMs: number;
}

const STATE_NAMES: Record<string, ChannelStateName> = { '0': 'open', '1': 'closing', '2': 'closed' };
/**
 * Left in the wallet on top of what an operation sends: the wallet's own transaction (importing the external
 * message, its gas, forwarding the internal one) and its storage. No contract checks it, so it is not one of the
 * measured fee thresholds of wrappers/fees.ts; 0.05 TON is a generous bound for a wallet v4/v5 transfer.
 */
const WALLET_RESERVE = toNano('0.05');

export interface ChannelOptions {
    chain: TonChain;
    wallet: ChainWallet;
    /** The voucher key as the channel's clientKey. */
    clientKey: bigint;
    /** Polling and timeouts. */
    clock: SleepClock;
    /** The clock of trust: the contract judges withdrawAt / closeAt by its now(), so the client waits by chain time. */
    trustClock: Clock;
    txTimeoutMs: number;
    /** The channel (NOT_OPEN before open()). */
    wrapper: () => ClientChannelWrapper;
    /** The latest signed cumulative voucher. */
    cumulative: () => bigint;
    log: Log;
}

export class ClientChannelOps {
    constructor(private readonly o: ChannelOptions) {}

    /** `stats` is read once the chain answered (the proxy's status as of then). */
    async balances(proxy: string, stats: () => StatsSnapshot): Promise<Balances> {
        const wrapper = this.o.wrapper();
        const s = await this.o.chain.getClientChannelState(wrapper.address);
        const onChain = s
            ? {
                  state: STATE_NAMES[s.state.toString()] ?? 'closed',
                  balance: s.balance,
                  redeemed: s.redeemed,
                  pendingWithdraw: s.pendingWithdraw,
                  withdrawAt: Number(s.withdrawAt),
                  closeAt: Number(s.closeAt),
              }
            : null;
        const cumulative = this.o.cumulative();
        const { proxyStatus, lastVoucherError } = stats();
        const owed = cumulative - (s?.redeemed ?? 0n);
        const available = (s?.balance ?? 0n) - (owed > 0n ? owed : 0n);
        return {
            channel: wrapper.address.toString(),
            proxy,
            onChain,
            cumulative,
            owed: owed > 0n ? owed : 0n,
            available: available > 0n ? available : 0n,
            proxyStatus,
            lastVoucherError,
        };
    }

    /** Pinned proxy, or Root's proxies: those we already have a channel with first, then by registeredAt. */
    async selectProxy(cfg: RootConfig, store: ClientStateStore, pinned: Address | undefined, probe: (info: ProxyInfo) => Promise<void>, exclude?: string): Promise<{ address: Address; info: ProxyInfo }> {
        if (pinned) {
            const info = cfg.proxies.get(pinned.toRawString());
            if (!info) throw new ClientError('NO_PROXY', `proxy ${pinned.toString()} is not registered in Root`);
            await probe(info);
            return { address: pinned, info };
        }
        // Proxies we have a channel with: by the state file's records (a channel under an older child code or
        // close delay is not at the address the current ones give).
        const known = new Set<string>(store.entries().map(([, r]) => r.proxy));
        const order = [...cfg.proxies.entries()].filter(([raw]) => raw !== exclude).sort(([a, x], [b, y]) => {
            const k = Number(known.has(b)) - Number(known.has(a));
            if (k !== 0) return k;
            return x.registeredAt !== y.registeredAt ? (x.registeredAt < y.registeredAt ? -1 : 1) : a < b ? -1 : 1;
        });
        const refusals: Record<string, string> = {};
        for (const [raw, info] of order) {
            try {
                await probe(info);
                return { address: Address.parse(raw), info };
            } catch (e) {
                if (!(e instanceof ClientError) || (e.code !== 'PROXY_REJECTED' && e.code !== 'PROXY_UNREACHABLE')) throw e;
                refusals[raw] = `${e.code}: ${e.message}`;
                this.o.log('client.proxy-skipped', { peer: raw, code: e.code, reason: e.details?.reason, message: e.message });
            }
        }
        throw new ClientError('NO_PROXY', `no usable proxy among ${cfg.proxies.size} registered`, { refusals });
    }

    /**
     * The channel to use with that proxy: the state file's most recent channel with it while that channel is open and
     * names our wallet, key and the proxy's key (it may sit at an older child code's address after Root's
     * SetChildCode, or under an older close delay), else the canonical one under Root's current code and params.
     */
    async channelWith(cfg: RootConfig, store: ClientStateStore, proxy: Address, info: ProxyInfo, usable: (state: bigint) => boolean = (st) => st === 0n): Promise<ClientChannelWrapper> {
        const canonical = await this.channelFor(cfg, proxy, info);
        const stored = store
            .entries()
            .filter(([ch, r]) => r.proxy === proxy.toRawString() && ch !== canonical.address.toRawString())
            .sort(([, a], [, b]) => b.updatedAt - a.updatedAt);
        for (const [ch] of stored) {
            const s = await this.o.chain.getClientChannelState(Address.parse(ch));
            if (s && usable(s.state) && s.client.equals(this.o.wallet.address) && s.clientKey === this.o.clientKey && s.proxyKey === info.enclaveKey && s.proxy.equals(proxy)) {
                // Kept while it serves: an open canonical channel with money in it is used before an older one.
                const c = await this.o.chain.getClientChannelState(canonical.address);
                if (c && c.state === 0n && c.balance > 0n) return canonical;
                this.o.log('client.channel-stored', { channel: ch, canonical: canonical.address.toRawString() });
                return ClientChannelWrapper.open(Address.parse(ch));
            }
        }
        return canonical;
    }

    /** The canonical ClientChannel of this wallet and key with that proxy. */
    channelFor(cfg: RootConfig, proxy: Address, info: ProxyInfo): Promise<ClientChannelWrapper> {
        return ClientChannelWrapper.create({
            proxy,
            client: this.o.wallet.address,
            clientKey: this.o.clientKey,
            proxyKey: info.enclaveKey,
            closeDelay: cfg.params.clientCloseDelay,
            code: cfg.childCode.clientCode,
        });
    }

    /** What open() deposits: the option, else max(Root's minClientDeposit, 1 TON). */
    depositTarget(cfg: RootConfig, deposit: bigint | undefined): bigint {
        return deposit ?? (cfg.params.minClientDeposit > toNano('1') ? cfg.params.minClientDeposit : toNano('1'));
    }

    /**
     * Adds `amount` to the channel (deploying it on first use); resolves when the chain shows it. `beforeSend` runs
     * after the checks, right before the transfer (the automatic top-up counts its budget there).
     */
    async topUp(amount: bigint, beforeSend?: () => Promise<void>): Promise<ClientChannelState> {
        const wrapper = this.o.wrapper();
        if (typeof amount !== 'bigint' || amount <= 0n) throw new ClientError('CONFIG_INVALID', 'amount must be a positive bigint (nanoTON)', { key: 'amount' });
        const before = await this.o.chain.getClientChannelState(wrapper.address);
        if (before && before.state !== 0n) throw new ClientError('CHANNEL_CLOSED', `channel is ${STATE_NAMES[before.state.toString()]}; it takes no deposit`);
        await this.checkWallet(amount + FeeTopUp);
        const sumBefore = (before?.balance ?? 0n) + (before?.redeemed ?? 0n);
        await beforeSend?.();
        await this.o.chain.open(wrapper).sendTopUp(this.o.wallet.sender(), amount, FeeTopUp);
        this.o.log('client.top-up', { amount: amount.toString() });
        // Redeems move balance to redeemed, so balance + redeemed grows by exactly the top-up.
        return this.waitChannel((s) => s !== null && s.balance + s.redeemed >= sumBefore + amount, 'top-up');
    }

    /**
     * RequestWithdraw(amount); when `withdrawAt` has already passed (closeDelay 0) also FinishWithdraw. Otherwise
     * reports the wait: call finishWithdraw() after `withdrawAt`. At most `available` (balance minus signed,
     * unredeemed vouchers) may be withdrawn.
     */
    async withdraw(amount: bigint): Promise<WithdrawResult> {
        const wrapper = this.o.wrapper();
        if (typeof amount !== 'bigint' || amount <= 0n) throw new ClientError('CONFIG_INVALID', 'amount must be a positive bigint (nanoTON)', { key: 'amount' });
        const s = await this.openState();
        const available = this.available(s);
        if (amount > available) {
            throw new ClientError('CONFIG_INVALID', `amount ${amount} exceeds what is withdrawable (${available}: balance ${s.balance} minus what is signed and unredeemed)`, { key: 'amount' });
        }
        await this.checkWallet(FeeSimple);
        await this.o.chain.open(wrapper).sendRequestWithdraw(this.o.wallet.sender(), amount, FeeSimple);
        const after = await this.waitChannel((x) => x !== null && x.pendingWithdraw === amount && x.withdrawAt >= s.withdrawAt && (x.withdrawAt !== s.withdrawAt || s.pendingWithdraw !== amount), 'withdraw request');
        const withdrawAt = Number(after.withdrawAt);
        const waitMs = this.waitUntil(withdrawAt, after);
        this.o.log('client.withdraw-requested', { amount: amount.toString(), withdrawAt, waitMs });
        if (waitMs > 0) return { amount, withdrawAt, waitMs, finished: false };
        const paid = await this.finishWithdraw();
        return { amount, withdrawAt, waitMs: 0, finished: true, paid };
    }

    /** FinishWithdraw after `withdrawAt`; returns the nanoTON paid to the wallet. */
    async finishWithdraw(): Promise<bigint> {
        const wrapper = this.o.wrapper();
        const s = await this.o.chain.getClientChannelState(wrapper.address);
        if (!s || s.state === 2n || s.pendingWithdraw === 0n) throw new ClientError('NOTHING_PENDING', 'no withdrawal is pending');
        const now = await this.chainNow('FinishWithdraw');
        const waitMs = Number(s.withdrawAt) * 1000 - now;
        if (waitMs > 0) throw new ClientError('TOO_EARLY', `FinishWithdraw allowed at ${Number(s.withdrawAt)} (in ${waitMs} ms)`, { waitMs, withdrawAt: Number(s.withdrawAt) });
        const lapsesAt = Number(s.withdrawAt + WithdrawWindow);
        if (now >= lapsesAt * 1000)
            throw new ClientError('WITHDRAW_LAPSED', `the withdrawal request lapsed at ${lapsesAt}; request it again`, { withdrawAt: Number(s.withdrawAt), lapsedAt: lapsesAt });
        await this.checkWallet(FeeSimple);
        await this.o.chain.open(wrapper).sendFinishWithdraw(this.o.wallet.sender(), FeeSimple);
        const after = await this.waitChannel((x) => x !== null && x.pendingWithdraw === 0n, 'finish withdraw');
        const paid = s.balance + s.redeemed - (after.balance + after.redeemed);
        this.o.log('client.withdraw-finished', { paid: paid.toString() });
        return paid;
    }

    /** StartClose: the proxy may still redeem until `closeAt`; then finishClose() refunds the rest. */
    async close(): Promise<CloseResult> {
        const wrapper = this.o.wrapper();
        await this.openState();
        await this.checkWallet(FeeSimple);
        await this.o.chain.open(wrapper).sendStartClose(this.o.wallet.sender(), FeeSimple);
        const after = await this.waitChannel((x) => x !== null && x.state === 1n, 'start close');
        const closeAt = Number(after.closeAt);
        const waitMs = this.waitUntil(closeAt, after);
        this.o.log('client.closing', { closeAt, waitMs });
        return { closeAt, waitMs };
    }

    /** FinishClose after `closeAt`: the channel's whole balance goes to the wallet. Returns that balance. */
    async finishClose(): Promise<bigint> {
        const wrapper = this.o.wrapper();
        const s = await this.o.chain.getClientChannelState(wrapper.address);
        if (!s || s.state !== 1n) throw new ClientError('NOTHING_PENDING', 'the channel is not closing');
        const waitMs = Number(s.closeAt) * 1000 - (await this.chainNow('FinishClose'));
        if (waitMs > 0) throw new ClientError('TOO_EARLY', `FinishClose allowed at ${Number(s.closeAt)} (in ${waitMs} ms)`, { waitMs, closeAt: Number(s.closeAt) });
        await this.checkWallet(FeeFinish);
        await this.o.chain.open(wrapper).sendFinishClose(this.o.wallet.sender(), FeeFinish);
        await this.waitChannel((x) => x === null || x.state === 2n, 'finish close');
        this.o.log('client.closed', { refunded: s.balance.toString() });
        return s.balance;
    }

    /** open(): tops the channel up to `deposit` (default max(Root's minClientDeposit, 1 TON)); the first top-up deploys it. */
    async ensureDeposit(cfg: RootConfig, deposit: bigint | undefined): Promise<void> {
        const wrapper = this.o.wrapper();
        const want = this.depositTarget(cfg, deposit);
        const s = await this.o.chain.getClientChannelState(wrapper.address);
        if (s && s.state !== 0n) throw new ClientError('CHANNEL_CLOSED', `channel ${wrapper.address.toString()} is ${STATE_NAMES[s.state.toString()]}; open a new one with a new seed`);
        const balance = s?.balance ?? 0n;
        if (balance < want) await this.topUp(want - balance);
    }

    /** What withdraw() may take now: balance minus signed, unredeemed vouchers (≥ 0). */
    available(s: ClientChannelState): bigint {
        const cumulative = this.o.cumulative();
        const owed = cumulative > s.redeemed ? cumulative - s.redeemed : 0n;
        return s.balance - owed > 0n ? s.balance - owed : 0n;
    }

    /** Sends a proxy co-signed CoopWithdraw; resolves when the chain shows the seqno used (null: the channel is gone). */
    async sendCoopWithdraw(o: { amount: bigint; seqno: bigint; close: boolean; signature: Buffer }): Promise<ClientChannelState | null> {
        await this.checkWallet(FeeSimple);
        await this.o.chain.open(this.o.wrapper()).sendCoopWithdraw(this.o.wallet.sender(), { ...o, value: FeeSimple });
        return this.waitChannel((x) => x === null || x.withdrawSeqno > o.seqno, 'cooperative withdrawal');
    }

    async openState(): Promise<ClientChannelState> {
        const s = await this.o.chain.getClientChannelState(this.o.wrapper().address);
        if (!s) throw new ClientError('CHANNEL_CLOSED', 'the channel is not deployed');
        if (s.state !== 0n) throw new ClientError('CHANNEL_CLOSED', `the channel is ${STATE_NAMES[s.state.toString()]}`);
        return s;
    }

    /**
     * Milliseconds until `at` (unix seconds, set by the contract as its now() + closeDelay) by chain time; without chain
     * time the whole close delay, an upper bound (the request landed in a block no earlier than at − closeDelay).
     */
    private waitUntil(at: number, s: ClientChannelState): number {
        const now = chainNow(this.o.trustClock);
        return Math.max(0, now === null ? Number(s.closeDelay) * 1000 : at * 1000 - now);
    }

    /** Chain time (ms) for a Finish the contract judges by its now(): DEADLINE_UNKNOWN (nothing sent) without it after a retry. */
    private async chainNow(what: string): Promise<number> {
        const now = await chainNowRetried(this.o.trustClock);
        if (now === null) throw new ClientError('DEADLINE_UNKNOWN', `${what}: the chain has not told its time, so whether the contract would accept it is unknown; nothing was sent, retry`);
        return now;
    }

    private async checkWallet(need: bigint): Promise<void> {
        const have = await this.o.wallet.getBalance();
        if (have < need + WALLET_RESERVE) {
            throw new ClientError('CHAIN_TX_FAILED', `wallet ${this.o.wallet.address.toString()} holds ${have} nanoTON, needs ${need + WALLET_RESERVE} (incl. gas)`, {
                have: have.toString(),
                need: (need + WALLET_RESERVE).toString(),
            });
        }
    }

    /** Polls the channel until `ok` (the wallet's transfer is applied; the channel's message may follow). */
    private async waitChannel(ok: (s: ClientChannelState | null) => boolean, what: string): Promise<ClientChannelState> {
        const wrapper = this.o.wrapper();
        const deadline = this.o.clock.now() + this.o.txTimeoutMs;
        for (;;) {
            const s = await this.o.chain.getClientChannelState(wrapper.address);
            if (ok(s)) return s!;
            if (this.o.clock.now() >= deadline) {
                throw new ClientError('CHAIN_TX_FAILED', `${what}: the channel state did not change within ${this.o.txTimeoutMs} ms (the message may have bounced)`, { channel: wrapper.address.toString() });
            }
            await this.o.clock.sleep(250);
        }
    }
}
