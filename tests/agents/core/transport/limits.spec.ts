// RaTlsServer's per-source-address connection limit (attack 15 of issue 8: one address opening hundreds of
// connections): a connection past maxConnectionsPerAddress is closed before its TLS handshake and reported as
// peerRejected TOO_MANY_CONNECTIONS; closing a connection frees its place; other addresses are not affected.
import { createHash } from 'crypto';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { imageHash } from '../../../../agents/core/tee/image';
import { ClientKeyVerifier, connectRaTls, KeyIdentity, KeyPeer, PeerVerifier, RaTlsConnection, RaTlsCredentials, RaTlsIdentity, RaTlsServer } from '../../../../agents/core/transport';

describe('RaTlsServer maxConnectionsPerAddress', () => {
    let server: RaTlsServer<KeyPeer>;
    let url: string;
    let verifier: PeerVerifier;
    let identity: RaTlsCredentials;
    const rejected: { code: string; address?: string }[] = [];

    beforeAll(async () => {
        const tee = await SimulatedTee.create();
        const image = imageHash(tee.measurements).toString('hex');
        verifier = new PeerVerifier({ quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (h) => h === image });
        server = new RaTlsServer({ identity: await RaTlsIdentity.create({ provider: tee }), verifier: new ClientKeyVerifier(), maxConnectionsPerAddress: 3 });
        server.on('peerRejected', (e, info) => rejected.push({ code: e.code, address: info.remoteAddress }));
        ({ url } = await server.listen());
        identity = await KeyIdentity.create({ seed: createHash('sha256').update('limits-client').digest() });
    });
    afterAll(async () => {
        await server?.close();
    });

    const dial = (localAddress: string) => connectRaTls(url, identity, verifier, { localAddress, timeoutMs: 5000 });

    it('attack 15: the fourth connection from one address is closed before TLS; another address still connects', async () => {
        const held: RaTlsConnection[] = [];
        for (let i = 0; i < 3; i++) held.push(await dial('127.0.0.40'));
        await expect(dial('127.0.0.40')).rejects.toMatchObject({ code: expect.stringMatching(/^(HANDSHAKE_FAILED|PEER_REJECTED)$/) });
        expect(rejected).toEqual([{ code: 'TOO_MANY_CONNECTIONS', address: '127.0.0.40' }]);
        const other = await dial('127.0.0.41');
        other.ws.terminate();
        // a closed connection frees its place (once the server has seen both closes)
        held.pop()!.ws.terminate();
        const open = () => new Promise<number>((resolve, reject) => server.https.getConnections((e, n) => (e ? reject(e) : resolve(n))));
        for (let i = 0; i < 500 && (await open()) > 2; i++) await new Promise((r) => setTimeout(r, 10));
        held.push(await dial('127.0.0.40'));
        expect(rejected.length).toBe(1);
        for (const c of held) c.ws.terminate();
    });
});
