import { startAgentNetwork, seed, AgentNetwork } from '../../../fixtures/agent-network';
import { modelId } from '../../../wrappers/payloads';
describe('agent network fixture', () => {
    let net: AgentNetwork;
    beforeAll(async () => { net = await startAgentNetwork(); });
    afterAll(async () => { await net?.stop(); });
    it('serves Root with the model, images and a registered proxy', async () => {
        const chain = net.newChain();
        const cfg = await chain.getRootConfig();
        expect(cfg.models.get(modelId(net.model.name).toString(16).padStart(64, '0'))?.name).toBe(net.model.name);
        expect(cfg.workerImages.has(net.imageHashHex)).toBe(true);
        const { address, owner } = await net.deployProxy({ seed: seed('p'), clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: 'wss://127.0.0.1:2/' });
        expect((await net.proxyAddressFor(owner.address, seed('p'))).equals(address)).toBe(true);
        await chain.refreshIfChanged();
        expect((await chain.getRootConfig()).proxies.get(address.toRawString())?.clientEndpoint).toBe('wss://127.0.0.1:1/');
    });
});
