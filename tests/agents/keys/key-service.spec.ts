// The key service over real mutual RA-TLS, judged against a Root on the devnet chain (spec/attestation.md "Sealed
// secrets"): seal → unseal, who may open what, tampered and foreign blobs, leases, and hostile request bodies.
import { request as httpsRequest } from 'https';
import { randomBytes } from 'crypto';
import { KeyService } from '../../../agents/keys/service';
import { KeyServiceClient } from '../../../agents/core/keys/types';
import { parseBlob } from '../../../agents/core/keys/blob';
import { KeyIdentity, RaTlsIdentity } from '../../../agents/core/transport';
import { keysNetwork, KeysNetwork, OTHER_OWNER, OWNER } from '../../helpers/keys';

jest.setTimeout(60_000);

describe('key service: sealed secrets for attested TDs', () => {
    let net: KeysNetwork;
    let svc: KeyService;
    let proxy: KeyServiceClient;
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    const asProxy = { role: 'proxy' as const, owner: OWNER, name: 'seed' };

    beforeAll(async () => {
        net = await keysNetwork();
        svc = await net.service({ log: (event, fields) => events.push({ event, fields }) });
        net.clock.advance(60_001); // past the start-up quiet period
        proxy = net.client(net.tds.proxy, svc.url);
    });
    afterAll(() => net?.stop());

    it('seals a secret for a proxy TD and opens it again over mutual RA-TLS, granting a lease bound to the requester', async () => {
        const secret = randomBytes(32);
        const blob = await proxy.seal({ ...asProxy, secret });
        expect(blob.includes(secret)).toBe(false);
        expect(parseBlob(blob)).toMatchObject({ role: 'proxy', name: 'seed', serviceId: Buffer.from(svc.serviceId, 'hex') });
        const { secret: opened, lease } = await proxy.unseal(blob, asProxy);
        expect(opened.equals(secret)).toBe(true);
        expect(lease.expiresAt).toBe(net.clock.now() + 60_000);
        net.clock.advance(20_000);
        await lease.renew();
        expect(lease.expiresAt).toBe(net.clock.now() + 60_000);
        await lease.release();
        await expect(lease.renew()).rejects.toMatchObject({ code: 'KEYS_NO_LEASE' });
    });

    it('answers lease times in whole milliseconds under a clock of trust that runs in fractions', async () => {
        const frac = await net.service({ clock: { now: () => net.clock.now() + 0.25 } });
        net.clock.advance(60_001);
        const c = net.client(net.tds.proxy, frac.url);
        const { lease } = await c.unseal(await c.seal({ ...asProxy, secret: Buffer.from('f') }), asProxy);
        expect(lease.expiresAt).toBe(net.clock.now() + 60_000);
        await lease.renew();
        await lease.release();
        await frac.stop();
    });

    it('attack 6a: a TD whose image is on no Root list is refused as proxy and as worker, and gets no lease', async () => {
        const blob = await proxy.seal({ ...asProxy, secret: randomBytes(32) });
        const leases = svc.leaseCount;
        const stranger = net.client(net.tds.stranger, svc.url);
        await expect(stranger.seal({ ...asProxy, secret: randomBytes(32) })).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
        await expect(stranger.unseal(blob, asProxy)).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
        await expect(stranger.unseal(blob, { ...asProxy, role: 'worker' })).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
        expect(svc.leaseCount).toBe(leases);
        // and the blob still opens for its owner's TD
        const { lease } = await proxy.unseal(blob, asProxy);
        await lease.release();
    });

    it("attack 6b: a worker TD cannot open a proxy's blob, asking as proxy (image) or as worker (blob role)", async () => {
        const blob = await proxy.seal({ ...asProxy, secret: randomBytes(32) });
        const worker = net.client(net.tds.worker, svc.url);
        await expect(worker.unseal(blob, asProxy)).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
        await expect(worker.unseal(blob, { ...asProxy, role: 'worker' })).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        await expect(worker.seal({ ...asProxy, secret: randomBytes(32) })).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
        // a worker seals and opens its own
        const own = await worker.seal({ ...asProxy, role: 'worker', secret: Buffer.from('w') });
        const { secret, lease } = await worker.unseal(own, { ...asProxy, role: 'worker' });
        expect(secret.toString()).toBe('w');
        await lease.release();
    });

    it('attack 6c: a flipped bit, a swapped owner or a swapped name fails KEYS_UNSEAL_FAILED', async () => {
        const blob = await proxy.seal({ ...asProxy, secret: randomBytes(32) });
        const flipped = Buffer.from(blob);
        flipped[flipped.length - 20] ^= 1;
        await expect(proxy.unseal(flipped, asProxy)).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        const ownerSwapped = Buffer.from(blob);
        OTHER_OWNER.hash.copy(ownerSwapped, 35);
        await expect(proxy.unseal(ownerSwapped, { ...asProxy, owner: OTHER_OWNER })).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        await expect(proxy.unseal(blob, { ...asProxy, owner: OTHER_OWNER })).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        const nameSwapped = Buffer.from(blob);
        nameSwapped.write('sead', 68, 'ascii');
        await expect(proxy.unseal(nameSwapped, { ...asProxy, name: 'sead' })).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        await expect(proxy.unseal(blob, { ...asProxy, name: 'sead' })).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        expect(svc.leaseCount).toBe(0);
    });

    it("attack 6d: another key service's blob is KEYS_WRONG_SERVICE", async () => {
        const other = await net.service();
        const foreign = await net.client(net.tds.proxy, other.url).seal({ ...asProxy, secret: randomBytes(32) });
        await expect(proxy.unseal(foreign, asProxy)).rejects.toMatchObject({ code: 'KEYS_WRONG_SERVICE' });
        await other.stop();
    });

    it('attack 6e: a second TD is refused KEYS_LEASE_HELD while the lease is live; it succeeds after release, then after expiry', async () => {
        const blob = await proxy.seal({ ...asProxy, secret: randomBytes(32) });
        const clone = net.client(net.tds.proxy, svc.url); // the same image, another TD (another RA-TLS key)
        const first = await proxy.unseal(blob, asProxy);
        await expect(clone.unseal(blob, asProxy)).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        await first.lease.release();
        const second = await clone.unseal(blob, asProxy);
        await expect(proxy.unseal(blob, asProxy)).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        await expect(first.lease.renew()).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        await expect(first.lease.release()).rejects.toMatchObject({ code: 'KEYS_NO_LEASE' });
        net.clock.advance(59_999);
        await expect(proxy.unseal(blob, asProxy)).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        net.clock.advance(2);
        const third = await proxy.unseal(blob, asProxy);
        await expect(second.lease.renew()).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        await third.lease.release();
    });

    describe('attack 6f: hostile request bodies get a typed 400 and change nothing', () => {
        let id: RaTlsIdentity;
        beforeAll(async () => {
            id = await RaTlsIdentity.create({ provider: net.tds.proxy, clock: () => new Date(net.clock.now()) });
        });
        /** A raw HTTPS request with an attested proxy TD's certificate (the attacker does not verify the service). */
        function raw(path: string, body: Buffer | string, o: { method?: string; chunked?: boolean } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
            return new Promise((resolve, reject) => {
                const u = new URL(svc.url);
                const req = httpsRequest(
                    {
                        host: u.hostname,
                        port: u.port,
                        path,
                        method: o.method ?? 'POST',
                        ...id.tlsCredentials(),
                        rejectUnauthorized: false,
                        minVersion: 'TLSv1.3',
                        agent: false, // no TLS session resumption: the service refuses resumed sessions
                        headers: o.chunked ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
                    },
                    (res) => {
                        let text = '';
                        res.on('data', (c) => (text += c));
                        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
                    },
                );
                req.on('error', reject);
                if (o.chunked) req.write(body);
                req.end(o.chunked ? undefined : body);
            });
        }

        it.each([
            ['garbage', '/v1/unseal', '\x00\xffnot json'],
            ['a JSON array', '/v1/seal', '[1,2]'],
            ['an unknown field', '/v1/seal', JSON.stringify({ role: 'proxy', owner: OWNER.toRawString(), name: 'seed', secret: 'AA==', admin: true })],
            ['a role outside proxy/worker', '/v1/seal', JSON.stringify({ role: 'keys', owner: OWNER.toRawString(), name: 'seed', secret: 'AA==' })],
            ['a name with a slash', '/v1/seal', JSON.stringify({ role: 'proxy', owner: OWNER.toRawString(), name: '../seed', secret: 'AA==' })],
            ['a secret over 128 bytes', '/v1/seal', JSON.stringify({ role: 'proxy', owner: OWNER.toRawString(), name: 'seed', secret: randomBytes(129).toString('base64') })],
            ['a truncated blob', '/v1/unseal', JSON.stringify({ role: 'proxy', owner: OWNER.toRawString(), name: 'seed', blob: randomBytes(40).toString('base64') })],
            ['a lease id that is not hex', '/v1/renew', JSON.stringify({ lease: 'zz' })],
            ['an unknown route', '/v1/admin', '{}'],
        ])('%s', async (_what, path, body) => {
            const r = await raw(path, body);
            expect(r).toEqual({ status: 400, body: { code: 'KEYS_BAD_REQUEST', message: expect.any(String) } });
        });

        it('a body over 16 KiB, declared or chunked, is refused unread', async () => {
            const big = JSON.stringify({ lease: 'a'.repeat(64), pad: 'x'.repeat(1 << 20) });
            expect(await raw('/v1/renew', big)).toMatchObject({ status: 400, body: { code: 'KEYS_BAD_REQUEST' } });
            expect(await raw('/v1/renew', big, { chunked: true })).toMatchObject({ status: 400, body: { code: 'KEYS_BAD_REQUEST' } });
        });

        it('a peer without attestation (a plain key certificate) is cut off in the handshake, before HTTP reads a byte', async () => {
            const plain = await KeyIdentity.create({ seed: randomBytes(32) });
            const saved = id;
            id = plain;
            try {
                await expect(raw('/v1/seal', '{}')).rejects.toThrow(/socket hang up|ECONNRESET/);
            } finally {
                id = saved;
            }
            expect(events.some((e) => e.event === 'keys.peer-rejected' && e.fields.code === 'CERT_INVALID')).toBe(true);
        });

        it('GET is refused and the service still serves afterwards', async () => {
            expect(await raw('/v1/seal', '', { method: 'GET' })).toMatchObject({ status: 400, body: { code: 'KEYS_BAD_REQUEST' } });
            expect(svc.leaseCount).toBe(0);
            const blob = await proxy.seal({ ...asProxy, secret: Buffer.from('still') });
            const { secret, lease } = await proxy.unseal(blob, asProxy);
            expect(secret.toString()).toBe('still');
            await lease.release();
        });
    });

    it('never logs a secret or a blob', () => {
        const text = JSON.stringify(events);
        expect(events.some((e) => e.event === 'keys.unsealed')).toBe(true);
        expect(text).not.toMatch(/"(secret|blob|master)"/);
    });
});
