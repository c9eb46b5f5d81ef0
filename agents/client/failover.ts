// Failover (spec/client.md, "Failover"): when the client's proxy has been unreachable for `failoverAfterMs`, move to
// another proxy from Root — probed like open()'s choice, its channel the state file's or the canonical one, funded up
// to `deposit` within the autoTopUp budget — and keep the old channel in the state file for a later close.
import type { Address } from '@ton/core';
import type { TonChain } from '../core/chain';
import type { Clock } from '../core/clock';
import type { CocoonError } from '../core/errors';
import type { Log } from '../core/log';
import type { ClientChannelState, ClientChannelWrapper } from '../../wrappers/ClientChannel';
import type { ProxyInfo } from '../../wrappers/Root';
import type { ClientChannelOps } from './channel';
import { ClientError } from './errors';
import type { ClientStateStore } from './state';
import { errMsg } from './util';

export interface FailoverHost {
    readonly afterMs: number;
    readonly chain: TonChain;
    readonly channelOps: ClientChannelOps;
    readonly clock: Clock;
    readonly log: Log;
    /** open()'s deposit option and the autoTopUp budget, if any. */
    readonly deposit: bigint | undefined;
    readonly budget: bigint | undefined;
    stopped(): boolean;
    /** The proxy in use and the state file. */
    current(): { proxy: Address; store: ClientStateStore };
    /** An attested connection closed at once (open()'s probe). */
    probe(info: ProxyInfo): Promise<void>;
    /** Every voucher for what was delivered is signed and persisted for the current channel; its outstanding requests are forgotten. */
    leave(): Promise<void>;
    /** The channel with `proxy` becomes the client's (its state file record, the payments' counter). */
    adopt(proxy: Address, info: ProxyInfo, wrapper: ClientChannelWrapper): Promise<void>;
    /** The new channel's state after its deposit (the automatic top-up's snapshot). */
    funded(st: ClientChannelState | null): void;
    /** After a failover (done or failed): reconnect. */
    reconnect(): void;
}

export class Failover {
    /** Since when no connection to the proxy is up (undefined while connected). */
    private downSince?: number;
    private running?: Promise<void>;

    constructor(private readonly h: FailoverHost) {}

    /** The switch under way, if any: connects wait for it. */
    get switching(): Promise<void> | undefined {
        return this.running;
    }

    up(): void {
        this.downSince = undefined;
    }

    down(): void {
        this.downSince ??= this.h.clock.now();
    }

    /** A connect failed as unreachable: fail over once the proxy has been down for afterMs (one switch at a time). */
    unreachable(): void {
        this.down();
        if (this.running || this.h.stopped() || this.h.clock.now() - this.downSince! < this.h.afterMs) return;
        this.running = this.run()
            .catch((e: unknown) => this.h.log('client.failover-failed', { code: (e as CocoonError).code, message: errMsg(e) }))
            .finally(() => {
                this.running = undefined;
                this.h.reconnect();
            });
    }

    private async run(): Promise<void> {
        const h = this.h;
        const { proxy: from, store } = h.current();
        const cfg = await h.chain.getRootConfig();
        h.log('client.failover-start', { from: from.toString(), downMs: h.clock.now() - (this.downSince ?? h.clock.now()) });
        const next = await h.channelOps.selectProxy(cfg, store, undefined, (i) => h.probe(i), from.toRawString());
        const wrapper = await h.channelOps.channelWith(cfg, store, next.address, next.info);
        const st = await h.chain.getClientChannelState(wrapper.address);
        if (st && st.state !== 0n) throw new ClientError('CHANNEL_CLOSED', `the channel with ${next.address.toString()} is closing or closed`);
        const have = st?.balance ?? 0n;
        const want = h.channelOps.depositTarget(cfg, h.deposit);
        let add = want > have ? want - have : 0n;
        if (h.budget !== undefined) {
            const left = h.budget - store.topUpSpent;
            if (add > left) add = left > 0n ? left : 0n;
        }
        if (have + add === 0n) throw new ClientError('CHAIN_TX_FAILED', 'the autoTopUp budget leaves nothing to fund a channel with another proxy');
        await h.leave();
        await h.adopt(next.address, next.info, wrapper);
        // Counted against the budget before the transfer, like an automatic top-up.
        h.funded(add > 0n ? await h.channelOps.topUp(add, h.budget !== undefined ? () => store.addTopUpSpent(add) : undefined) : st);
        this.downSince = undefined;
        h.log('client.failover', { from: from.toString(), to: next.address.toString(), channel: wrapper.address.toString(), deposit: add.toString() });
    }
}
