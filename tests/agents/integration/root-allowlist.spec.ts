// Attestation meets the chain: an RA-TLS server admits a worker only while Root's worker-image allowlist, read
// through TonChain from the devnet chain server, holds the image hash of the worker's (simulated) TD.
import { Address, toNano } from '@ton/core';
import { DevnetServer } from '../../../agents/devnet/server';
import { TonChain } from '../../../agents/core/chain/chain';
import { loadChainConfig } from '../../../agents/core/chain/config';
import { SimulatedTee } from '../../../agents/core/tee/simulated';
import { imageHash } from '../../../agents/core/tee/image';
import { connectRaTls, PeerPolicy, PeerVerifier, RaTlsIdentity, RaTlsServer } from '../../../agents/core/transport';
import { RootWrapper } from '../../../wrappers/Root';

describe("worker admission follows Root's allowlist", () => {
    let devnet: DevnetServer;
    let chain: TonChain;
    let rootAddress: Address;
    let server: RaTlsServer;
    let url: string;
    let policy: PeerPolicy;
    let worker: RaTlsIdentity;
    let workerImage: bigint;
    const rejected: string[] = [];

    /** Sends a governance body to Root as its governance wallet (inside the devnet's blockchain). */
    async function govern(body: ReturnType<typeof RootWrapper.addImageBody>) {
        await devnet.withBlockchain(async (bc) => {
            const gov = await bc.treasury('allowlist-governance');
            await bc.openContract(RootWrapper.open(rootAddress)).sendAction(gov.getSender(), body);
        });
    }

    beforeAll(async () => {
        devnet = new DevnetServer({ port: 0 });
        await devnet.start();
        await devnet.withBlockchain(async (bc) => {
            const gov = await bc.treasury('allowlist-governance');
            const root = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: gov.address }));
            await root.sendDeploy(gov.getSender(), toNano('0.5'));
            rootAddress = root.address;
        });
        chain = new TonChain({ config: loadChainConfig({ endpoint: devnet.url, rps: 1000, rootAddress: rootAddress.toString(), cacheTtlMs: 0 }, {}) });

        const tee = await SimulatedTee.create();
        workerImage = BigInt('0x' + imageHash(tee.measurements).toString('hex'));
        const quote = { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() };
        // The proxy side: the image check reads the Root config TonChain fetched last (sync, no I/O in the handshake).
        policy = { quote, isImageAllowed: (h) => chain.cachedRootConfig?.workerImages.has(h) ?? false };
        const proxyId = await RaTlsIdentity.create({ provider: tee });
        worker = await RaTlsIdentity.create({ provider: tee });
        server = new RaTlsServer({ identity: proxyId, verifier: new PeerVerifier(policy) });
        server.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
        server.on('peerRejected', (e) => rejected.push(e.code));
        ({ url } = await server.listen());
    });

    afterAll(async () => {
        await server?.close();
        await devnet?.stop();
    });

    it('refuses the worker before its image is allowlisted, admits it after, refuses it again after removal', async () => {
        // The worker side trusts any image for the proxy here; only the proxy's admission policy is under test.
        const workerPolicy: PeerPolicy = { ...policy, isImageAllowed: () => true };
        await chain.refreshIfChanged();
        expect(chain.cachedRootConfig!.workerImages.size).toBe(0);
        await expect(connectRaTls(url, worker, workerPolicy)).rejects.toMatchObject({ code: 'PEER_REJECTED' });
        expect(rejected.pop()).toBe('IMAGE_NOT_ALLOWED');

        await govern(RootWrapper.addImageBody('worker', workerImage));
        expect(await chain.refreshIfChanged()).toBe(true);
        const c = await connectRaTls(url, worker, workerPolicy);
        c.ws.send('hello');
        expect((await new Promise<Buffer>((r) => c.ws.once('message', r))).toString()).toBe('hello');
        c.ws.close();

        await govern(RootWrapper.removeImageBody('worker', workerImage));
        expect(await chain.refreshIfChanged()).toBe(true);
        await expect(connectRaTls(url, worker, workerPolicy)).rejects.toMatchObject({ code: 'PEER_REJECTED' });
        expect(rejected.pop()).toBe('IMAGE_NOT_ALLOWED');
    });
});
