// Where a worker's WorkerChannel with a proxy lives. The Proxy derives it with the channel code of its own creation
// (its `workerChannelAddress` getter), which after a governance SetChildCode is neither Root's current code nor
// necessarily this build's: staking at an address computed from another code would deploy a channel the Proxy does
// not know. The worker agent and `cocoon worker …` both come here.
import { Address } from '@ton/core';
import { ProxyState, ProxyWrapper } from '../../../wrappers/Proxy';
import { WorkerChannelWrapper } from '../../../wrappers/WorkerChannel';
import { TonChain } from './chain';

/**
 * The worker's channel with `proxy` at the address the Proxy gives, with its state init when that address is Root's
 * current worker code's or this build's (needed to deploy it with a first stake); `deployable: false` otherwise (an
 * existing channel is still reached; a new one cannot be deployed by this build).
 */
export async function workerChannelOf(chain: TonChain, proxy: Address, worker: Address, ps: ProxyState): Promise<{ wrapper: WorkerChannelWrapper; deployable: boolean }> {
    if (!ps.terms) throw new Error('workerChannelOf: the Proxy is not registered (no terms)');
    const target = await chain.open(ProxyWrapper.open(proxy)).getWorkerChannelAddress(worker);
    for (const code of [(await chain.getRootConfig()).childCode.workerCode, undefined]) {
        const w = await WorkerChannelWrapper.create({ proxy, worker, proxyKey: ps.enclaveKey, root: ps.root, terms: ps.terms, code });
        if (w.address.equals(target)) return { wrapper: w, deployable: true };
    }
    return { wrapper: WorkerChannelWrapper.open(target), deployable: false };
}
