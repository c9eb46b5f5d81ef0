// workerChannelOf (agents/core/chain/worker-channel.ts): a worker's channel is where the Proxy says it is. After a
// governance SetChildCode, a Proxy keeps the WorkerChannel code of its creation; a worker that derived the address
// from this build's code would stake at an address the Proxy does not know (it did, before workerChannelOf).
import { seed, startAgentNetwork, AgentNetwork } from '../../../../fixtures/agent-network';
import { workerChannelOf } from '../../../../agents/core/chain';
import { compiledChildCodes, RootWrapper } from '../../../../wrappers/Root';
import { ProxyWrapper } from '../../../../wrappers/Proxy';
import { WorkerChannelWrapper } from '../../../../wrappers/WorkerChannel';

jest.setTimeout(120_000);

describe('workerChannelOf', () => {
    let net: AgentNetwork;

    beforeAll(async () => {
        net = await startAgentNetwork();
    });

    afterAll(async () => {
        await net?.stop();
    });

    it("gives the Proxy's own address and the code to deploy it, and says when this build cannot deploy it", async () => {
        const chain = net.newChain();
        const codes = await compiledChildCodes();
        // Governance installs another worker code (any other code will do), then a proxy registers under it.
        await net.govern(RootWrapper.setChildCodeBody({ ...codes, workerCode: codes.clientCode }));
        const { address: proxy } = await net.deployProxy({ seed: seed('wc-proxy'), clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: 'wss://127.0.0.1:2/' });
        const ps = (await chain.getProxyState(proxy))!;
        const worker = (await net.fundWallet('wc-worker', '1')).wallet.address;
        const target = await chain.open(ProxyWrapper.open(proxy)).getWorkerChannelAddress(worker);

        const now = await workerChannelOf(chain, proxy, worker, ps);
        expect(now.deployable).toBe(true);
        expect(now.wrapper.address.equals(target)).toBe(true);
        expect(now.wrapper.init!.code.equals(codes.clientCode)).toBe(true);
        // What the worker agent computed before: this build's code, another address.
        const fromBuild = await WorkerChannelWrapper.create({ proxy, worker, proxyKey: ps.enclaveKey, root: ps.root, terms: ps.terms! });
        expect(fromBuild.address.equals(target)).toBe(false);

        // Root moves on again: the Proxy's code is neither Root's nor this build's. Still the Proxy's address, but no
        // state init to deploy with, so the agent refuses (CHANNEL_UNUSABLE) instead of staking elsewhere.
        await net.govern(RootWrapper.setChildCodeBody({ ...codes, workerCode: codes.proxyCode }));
        const later = await workerChannelOf(chain, proxy, worker, ps);
        expect(later.deployable).toBe(false);
        expect(later.wrapper.address.equals(target)).toBe(true);
        expect(later.wrapper.init).toBeUndefined();
    });
});
