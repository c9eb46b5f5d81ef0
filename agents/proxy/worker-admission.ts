// Which workers the proxy admits and keeps (spec/proxy.md, "Connection state machine" and "Worker channel
// re-check"): the WorkerChannel must be ours, Active, staked at least its minStake (attack 3), and bound to the
// connecting worker by its owner's wallet signature over the worker's attested key (attack 18).
import { Address } from '@ton/core';
import { TonChain } from '../core/chain/chain';
import { nullIfGetterFailed } from '../core/chain/errors';
import { workerHelloRefusal } from '../core/worker-hello';
import type { HelloWorkerFrame } from '../core/wire';
import { WorkerActive, WorkerSuspended, type WorkerChannelState } from '../../wrappers/WorkerChannel';
import type { Clock } from '../core/clock';
import type { ProxyWireCode } from './errors';

export interface Refusal {
    code: ProxyWireCode;
    message: string;
}

/** Owner wallet keys cached at most (one per distinct channel owner). */
const MAX_OWNER_KEYS = 4096;

export class WorkerAdmission {
    /** Channel owners' wallet keys by raw address (a standard wallet's key never changes). */
    private readonly ownerKeys = new Map<string, Buffer>();

    constructor(
        private readonly o: { chain: TonChain; proxyAddress: Address; enclaveKey: bigint; clock: Clock },
    ) {}

    /** The channel's state, or null when there is no WorkerChannel at that address. */
    async channelState(channel: Address): Promise<WorkerChannelState | null> {
        return this.o.chain.getWorkerChannelState(channel).catch(nullIfGetterFailed);
    }

    /** Why a WorkerChannel may not serve through us: not ours, not Active, or stake below its minStake; else null. */
    channelRefusal(st: WorkerChannelState | null): Refusal | null {
        if (!st) return { code: 'CHANNEL_INVALID', message: 'no WorkerChannel at that address' };
        if (!st.proxy.equals(this.o.proxyAddress)) return { code: 'CHANNEL_INVALID', message: 'the WorkerChannel belongs to another proxy' };
        if (st.proxyKey !== this.o.enclaveKey) return { code: 'CHANNEL_INVALID', message: 'the WorkerChannel names another proxy key' };
        // Suspended: slashed below minStake, routable again once topped up.
        if (st.state === WorkerSuspended) return { code: 'CHANNEL_UNDERSTAKED', message: `the WorkerChannel is suspended: its stake ${st.stake} is below its minimum ${st.minStake}` };
        if (st.state !== WorkerActive) return { code: 'CHANNEL_INVALID', message: `the WorkerChannel is not active (state ${st.state})` };
        if (st.stake < st.minStake) return { code: 'CHANNEL_UNDERSTAKED', message: `the WorkerChannel's stake ${st.stake} is below its minimum ${st.minStake}` };
        return null;
    }

    /**
     * A worker hello's channel: usable (channelRefusal), and bound to the worker whose attested certificate key is
     * `tlsKey` by the owner wallet's signature in `hello.auth` (CHANNEL_NOT_OWNED otherwise).
     */
    async checkHello(channel: Address, hello: HelloWorkerFrame, tlsKey: Buffer): Promise<Refusal | null> {
        const st = await this.channelState(channel);
        const unusable = this.channelRefusal(st);
        if (unusable || !st) return unusable;
        if (!hello.auth) return { code: 'CHANNEL_NOT_OWNED', message: "the hello carries no signature by the channel owner's wallet" };
        const ownerKey = await this.ownerKey(st.worker);
        if (!ownerKey) return { code: 'CHANNEL_NOT_OWNED', message: 'the channel owner is not a wallet with get_public_key' };
        const why = workerHelloRefusal(
            { channel, proxy: this.o.proxyAddress, tlsKey, expiresAt: hello.auth.expiresAt, signature: Buffer.from(hello.auth.signature, 'hex'), ownerKey },
            Math.floor(this.o.clock.now() / 1000),
        );
        return why ? { code: 'CHANNEL_NOT_OWNED', message: why } : null;
    }

    private async ownerKey(owner: Address): Promise<Buffer | null> {
        const raw = owner.toRawString();
        const hit = this.ownerKeys.get(raw);
        if (hit) return hit;
        const key = await this.o.chain.getWalletPublicKey(owner);
        if (key) {
            if (this.ownerKeys.size >= MAX_OWNER_KEYS) this.ownerKeys.delete(this.ownerKeys.keys().next().value as string);
            this.ownerKeys.set(raw, key);
        }
        return key;
    }
}
