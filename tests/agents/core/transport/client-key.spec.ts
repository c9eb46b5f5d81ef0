// The client link: clients are outside any TEE, so they present a plain key certificate from a 32-byte seed (the
// same key signs their vouchers) and the proxy's client endpoint admits them by key with a ClientKeyVerifier, while
// the client still verifies the proxy's attestation. An attestation verifier never accepts a plain key certificate.
import { keyPairFromSeed, sign, signVerify } from '@ton/crypto';
import { createHash } from 'crypto';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { imageHash } from '../../../../agents/core/tee/image';
import {
    ClientKeyVerifier,
    connectRaTls,
    ed25519KeyPairFromSeed,
    KeyIdentity,
    KeyPeer,
    PeerPolicy,
    PeerVerifier,
    RaTlsIdentity,
    RaTlsServer,
} from '../../../../agents/core/transport';
import { CocoonError } from '../../../../agents/core/errors';

const seedOf = (label: string) => createHash('sha256').update(label).digest();

describe('plain key identities (clients)', () => {
    it('derives the same Ed25519 key as @ton/crypto from a seed, and signs interchangeably', async () => {
        const seed = seedOf('client-key');
        const kp = await ed25519KeyPairFromSeed(seed);
        const ton = keyPairFromSeed(seed);
        expect(kp.publicKeyRaw.equals(ton.publicKey)).toBe(true);
        const msg = Buffer.from('voucher hash');
        const { sign: nodeSign, createPrivateKey } = await import('crypto');
        const sig = nodeSign(null, msg, createPrivateKey(kp.privateKeyPem));
        expect(signVerify(msg, sig, ton.publicKey)).toBe(true);
        expect(sig.equals(sign(msg, ton.secretKey))).toBe(true); // Ed25519 is deterministic
        await expect(ed25519KeyPairFromSeed(Buffer.alloc(31))).rejects.toThrow(RangeError);
    });

    describe('over TLS', () => {
        let tee: SimulatedTee;
        let server: RaTlsServer<KeyPeer>;
        let url: string;
        let proxyPolicy: PeerPolicy;
        const admitted: KeyPeer[] = [];
        const rejected: string[] = [];

        beforeAll(async () => {
            tee = await SimulatedTee.create();
            const image = imageHash(tee.measurements).toString('hex');
            proxyPolicy = { quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (h) => h === image };
            const proxyIdentity = await RaTlsIdentity.create({ provider: tee });
            server = new RaTlsServer({ identity: proxyIdentity, verifier: new ClientKeyVerifier() });
            server.on('connection', (ws, peer) => {
                admitted.push(peer);
                ws.on('message', (m) => ws.send(m));
            });
            server.on('peerRejected', (e) => rejected.push(e.code));
            ({ url } = await server.listen());
        });
        afterAll(async () => {
            await server?.close();
        });

        it('admits a client by its key and lets it verify the attested proxy', async () => {
            const seed = seedOf('client-a');
            const id = await KeyIdentity.create({ seed });
            const c = await connectRaTls(url, id, proxyPolicy);
            expect(c.peer.imageHash).toBe(imageHash(tee.measurements).toString('hex'));
            c.ws.send('ping');
            expect(String(await new Promise((r) => c.ws.once('message', r)))).toBe('ping');
            expect(admitted.at(-1)!.publicKey.equals(keyPairFromSeed(seed).publicKey)).toBe(true);
            c.ws.close();
        });

        it('an attestation verifier refuses a plain key certificate', async () => {
            const id = await KeyIdentity.create({ seed: seedOf('client-b') });
            const der = Buffer.from(id.current.der);
            let code: string | undefined;
            try {
                new PeerVerifier(proxyPolicy).verify(der);
            } catch (e) {
                code = (e as CocoonError).code;
            }
            expect(code).toBe('CERT_INVALID');
            // and the key verifier accepts it, but not a truncated one
            expect(new ClientKeyVerifier().verify(der).publicKey.equals(keyPairFromSeed(seedOf('client-b')).publicKey)).toBe(true);
            expect(() => new ClientKeyVerifier().verify(der.subarray(0, der.length - 1))).toThrow(expect.objectContaining({ code: 'CERT_INVALID' }));
        });

        it('refuses an expired client certificate before any byte', async () => {
            const id = await KeyIdentity.create({ seed: seedOf('client-c'), validityMs: 2000, clock: () => new Date(Date.now() - 3600_000) });
            await expect(connectRaTls(url, id, proxyPolicy)).rejects.toMatchObject({ code: 'PEER_REJECTED' });
            expect(rejected.at(-1)).toBe('CERT_EXPIRED');
        });
    });
});
