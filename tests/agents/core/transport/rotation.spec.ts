// Verification cache and certificate rotation of RA-TLS, with injected clocks and real loopback connections.
import { once } from 'events';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { imageHash } from '../../../../agents/core/tee/image';
import { VerificationCache } from '../../../../agents/core/tee/verify';
import { connectRaTls, PeerPolicy, PeerVerifier, RaTlsCert, RaTlsIdentity, RaTlsServer } from '../../../../agents/core/transport';

let tee: SimulatedTee;
let policy: PeerPolicy;
const servers: RaTlsServer[] = [];

beforeAll(async () => {
    tee = await SimulatedTee.create();
    const allowed = imageHash(tee.measurements).toString('hex');
    policy = { quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (x) => x === allowed };
});

afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
});

async function serve(identity: RaTlsIdentity, verifier: PeerVerifier): Promise<RaTlsServer> {
    const s = new RaTlsServer({ identity, verifier });
    s.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m.toString()}`)));
    await s.listen();
    servers.push(s);
    return s;
}

describe('verification cache', () => {
    it('verifies a reconnecting peer\'s quote once on each side', async () => {
        const [sid, cid] = await Promise.all([RaTlsIdentity.create({ provider: tee }), RaTlsIdentity.create({ provider: tee })]);
        const serverVerifier = new PeerVerifier(policy);
        const clientVerifier = new PeerVerifier(policy);
        const s = await serve(sid, serverVerifier);
        for (let i = 0; i < 3; i++) {
            const c = await connectRaTls(s.url, cid, clientVerifier);
            c.ws.close();
        }
        expect(serverVerifier.cache).toMatchObject({ misses: 1, hits: 2 });
        expect(clientVerifier.cache).toMatchObject({ misses: 1, hits: 2 });
    });

    it('expires entries after the TTL (injected clock) and keys them by policy', async () => {
        let t = Date.now();
        const clock = () => new Date(t);
        const id = await RaTlsIdentity.create({ provider: tee, clock });
        const v = new PeerVerifier(policy, { clock, cacheTtlMs: 60_000 });
        const der = id.current.der;
        v.verify(der);
        expect(v.cache).toMatchObject({ misses: 1, hits: 0 });
        t += 30_000;
        v.verify(der);
        expect(v.cache).toMatchObject({ misses: 1, hits: 1 });
        t += 31_000; // 61 s after the first verification
        v.verify(der);
        expect(v.cache).toMatchObject({ misses: 2, hits: 1 });
        // same cache, another policy (one more trusted root): a separate entry
        const other = new PeerVerifier({ ...policy, quote: { ...policy.quote, trustedRootKeyIds: [tee.rootKeyId, 'ab'.repeat(48)] } }, { clock, cache: v.cache });
        other.verify(der);
        expect(v.cache).toMatchObject({ misses: 3, hits: 1 });
    });

    it('checks the certificate every time even when the quote verdict is cached', async () => {
        let t = Date.now();
        const clock = () => new Date(t);
        const id = await RaTlsIdentity.create({ provider: tee, clock, validityMs: 3600_000 });
        const cache = new VerificationCache({ ttlMs: 24 * 3600_000, now: () => t });
        const v = new PeerVerifier(policy, { clock, cache });
        v.verify(id.current.der);
        t += 2 * 3600_000; // the cached quote verdict is still fresh; the certificate is not
        expect(() => v.verify(id.current.der)).toThrow(expect.objectContaining({ code: 'CERT_EXPIRED' }));
        const forbid = new PeerVerifier({ ...policy, isImageAllowed: () => false }, { clock: () => new Date(t - 2 * 3600_000), cache });
        expect(() => forbid.verify(id.current.der)).toThrow(expect.objectContaining({ code: 'IMAGE_NOT_ALLOWED' }));
    });
});

describe('certificate rotation', () => {
    it('re-issues before expiry with a fresh quote; a new connection sees the new serial, an open one keeps working', async () => {
        let t = Date.now();
        const clock = () => new Date(t);
        const sid = await RaTlsIdentity.create({ provider: tee, clock, validityMs: 10_000, rotateBeforeMs: 3_000 });
        const cid = await RaTlsIdentity.create({ provider: tee });
        const s = await serve(sid, new PeerVerifier(policy));
        const clientVerifier = new PeerVerifier(policy, { clock });
        const first = sid.current;
        const c1 = await connectRaTls(s.url, cid, clientVerifier);
        expect(c1.peer.cert.serialHex).toBe(first.serialHex);

        t += 5_000;
        expect(await sid.rotateIfDue()).toBe(false); // 5 s before notAfter: not yet
        t += 2_500;
        const rotated = once(sid, 'rotated');
        expect(await sid.rotateIfDue()).toBe(true); // 2.5 s before notAfter
        const [next, prev] = (await rotated) as [RaTlsCert, RaTlsCert];
        expect(prev.serialHex).toBe(first.serialHex);
        expect(next.serialHex).not.toBe(first.serialHex);
        expect(next.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
        expect(next.quote.equals(first.quote)).toBe(false); // a new quote (ECDSA signatures are randomized)
        expect(next.claims.equals(first.claims)).toBe(true); // same key, same claims

        const c2 = await connectRaTls(s.url, cid, clientVerifier);
        expect(c2.peer.cert.serialHex).toBe(next.serialHex);
        expect(c2.peer.cert.publicKey.equals(sid.keys.publicKeyRaw)).toBe(true);
        // the connection opened under the old certificate is unaffected
        const reply = once(c1.ws, 'message');
        c1.ws.send('still here');
        expect(String((await reply)[0])).toBe('echo:still here');
        c1.ws.close();
        c2.ws.close();
    });

    it('rotates from its background check and keeps the old certificate when re-issuing fails', async () => {
        let t = Date.now();
        let fail = false;
        const provider = { kind: 'simulated' as const, getQuote: async (rd: Buffer) => (fail ? Promise.reject(new Error('QGS down')) : tee.getQuote(rd)) };
        const id = await RaTlsIdentity.create({ provider, clock: () => new Date(t), validityMs: 10_000, rotateBeforeMs: 3_000, checkIntervalMs: 20 });
        const errors: Error[] = [];
        id.on('error', (e) => errors.push(e));
        id.start();
        try {
            const first = id.current;
            fail = true;
            t += 8_000;
            while (errors.length === 0) await new Promise((r) => setTimeout(r, 10));
            expect(id.current).toBe(first);
            expect(errors[0].message).toBe('QGS down');
            fail = false;
            const [next] = (await once(id, 'rotated')) as [RaTlsCert];
            expect(next.serialHex).not.toBe(first.serialHex);
            expect(id.current).toBe(next);
        } finally {
            id.stop();
        }
    });
});
