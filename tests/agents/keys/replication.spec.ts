// Where a key service's master lives (spec/attestation.md "Sealed secrets"): a restarted service (simulated state
// file) keeps its blobs but waits one lease before opening any; a replica fetches the master from a live 'keys' TD and
// from nothing else; and a client sends nothing to a key service it cannot attest.
import { createServer } from 'https';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { randomBytes } from 'crypto';
import { KeyService } from '../../../agents/keys/service';
import { resolveMaster } from '../../../agents/keys/master';
import { TdxProvider } from '../../../agents/core/tee/configfs';
import { KeyIdentity, RaTlsIdentity, RATLS_TLS_OPTIONS } from '../../../agents/core/transport';
import { RootWrapper } from '../../../wrappers/Root';
import { imageOf, keysNetwork, KeysNetwork, OWNER } from '../../helpers/keys';

jest.setTimeout(60_000);

describe('key service: restart, replication, and what a client refuses', () => {
    let net: KeysNetwork;
    let dir: string;
    const asProxy = { role: 'proxy' as const, owner: OWNER, name: 'seed' };

    beforeAll(async () => {
        net = await keysNetwork();
        dir = mkdtempSync(join(tmpdir(), 'keys-'));
    });
    afterAll(() => net?.stop());

    it('attack 6g: a restarted service (simulated state) refuses unseal with KEYS_STARTING for one lease, then opens its old blobs', async () => {
        const stateFile = join(dir, 'restart.json');
        const a = await net.service({ stateFile });
        const secret = randomBytes(32);
        const blob = await net.client(net.tds.proxy, a.url).seal({ ...asProxy, secret });
        expect(readFileSync(stateFile, 'utf8')).not.toContain(a.serviceId);
        await a.stop();

        const b = await net.service({ stateFile });
        expect(b.serviceId).toBe(a.serviceId);
        const client = net.client(net.tds.proxy, b.url);
        await expect(client.unseal(blob, asProxy)).rejects.toMatchObject({ code: 'KEYS_STARTING' });
        net.clock.advance(60_001);
        const { secret: opened, lease } = await client.unseal(blob, asProxy);
        expect(opened.equals(secret)).toBe(true);
        await lease.release();
        await b.stop();
    });

    it("a state file does not open in another image's TD, and is refused with a real TEE (KEYS_STATE_INVALID)", async () => {
        const stateFile = join(dir, 'moved.json');
        const a = await net.service({ stateFile });
        await a.stop();
        const common = { quotePolicy: net.quotePolicy, chain: net.chain, clock: net.clock, identity: a.identity };
        await expect(resolveMaster({ ...common, tee: net.tds.proxy, stateFile })).rejects.toMatchObject({ code: 'KEYS_STATE_INVALID' });
        await expect(resolveMaster({ ...common, tee: new TdxProvider({ baseDir: dir }), stateFile })).rejects.toMatchObject({ code: 'KEYS_STATE_INVALID' });
        writeFileSync(join(dir, 'garbage.json'), '{"format":"cocoon-keys-state/1","nonce":1}');
        await expect(resolveMaster({ ...common, tee: net.tds.keys, stateFile: join(dir, 'garbage.json') })).rejects.toMatchObject({ code: 'KEYS_STATE_INVALID' });
    });

    it("replica B started with --peer A opens A's blobs (after its own quiet period)", async () => {
        const a = await net.service();
        const blob = await net.client(net.tds.proxy, a.url).seal({ ...asProxy, secret: Buffer.from('replicated') });
        const b = await net.service({ peers: [a.url] });
        expect(b.serviceId).toBe(a.serviceId);
        net.clock.advance(60_001);
        const { secret, lease } = await net.client(net.tds.proxy, b.url).unseal(blob, asProxy);
        expect(secret.toString()).toBe('replicated');
        await lease.release();
        await b.stop();
        await a.stop();
    });

    it("attack 6h: a replica request from a TD whose image is not on Root's 'keys' list is refused; a replica trusts no unlisted peer", async () => {
        const a = await net.service();
        // a proxy-image TD (on Root's proxy list, not 'keys') asks for the master
        await expect(net.service({ tee: net.tds.proxy, peers: [a.url] })).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
        // a 'keys' TD asked to replicate from a service running an unlisted image refuses it before asking
        const rogue = await net.service({ tee: net.tds.stranger });
        await expect(net.service({ peers: [rogue.url] })).rejects.toMatchObject({ code: 'KEYS_PEER_REFUSED' });
        // peers named but none answering: no fresh master (no split cluster)
        await rogue.stop();
        await expect(net.service({ peers: [rogue.url] })).rejects.toMatchObject({ code: 'KEYS_UNAVAILABLE' });
        await a.stop();
    });

    it("governance removing an image from Root stops that image's renewals and unseals", async () => {
        const svc = await net.service();
        net.clock.advance(60_001);
        const worker = net.client(net.tds.worker, svc.url);
        const asWorker = { ...asProxy, role: 'worker' as const };
        const blob = await worker.seal({ ...asWorker, secret: Buffer.from('w') });
        const { lease } = await worker.unseal(blob, asWorker);
        await net.govern(RootWrapper.removeImageBody('worker', imageOf(net.tds.worker)));
        try {
            await expect(lease.renew()).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
            await lease.release();
            await expect(worker.unseal(blob, asWorker)).rejects.toMatchObject({ code: 'KEYS_IMAGE_NOT_ALLOWED' });
        } finally {
            await net.govern(RootWrapper.addImageBody('worker', imageOf(net.tds.worker)));
        }
        const again = await worker.unseal(blob, asWorker);
        expect(again.secret.toString()).toBe('w');
        await again.lease.release();
        await svc.stop();
    });

    describe('attack 6i: a client sends nothing to a key service it cannot attest', () => {
        it("a key service whose image is not on Root's 'keys' list", async () => {
            const seen: string[] = [];
            const rogue = await net.service({ tee: net.tds.stranger, log: (event) => seen.push(event) });
            const client = net.client(net.tds.proxy, rogue.url);
            await expect(client.seal({ ...asProxy, secret: randomBytes(32) })).rejects.toMatchObject({ code: 'KEYS_PEER_REFUSED' });
            await expect(client.unseal(randomBytes(120), asProxy)).rejects.toMatchObject({ code: 'KEYS_PEER_REFUSED' });
            expect(seen.filter((e) => e !== 'keys.started')).toEqual([]);
            await rogue.stop();
        });

        it('a plain TLS server with an ordinary certificate', async () => {
            const bodies: string[] = [];
            const id: RaTlsIdentity = await KeyIdentity.create({ seed: randomBytes(32) });
            const fake = createServer({ ...RATLS_TLS_OPTIONS, ...id.tlsCredentials() }, (req, res) => {
                let b = '';
                req.on('data', (c) => (b += c));
                req.on('end', () => {
                    bodies.push(b);
                    res.end(JSON.stringify({ blob: 'AA==' }));
                });
            });
            await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
            const port = (fake.address() as { port: number }).port;
            const client = net.client(net.tds.proxy, `https://127.0.0.1:${port}`);
            await expect(client.seal({ ...asProxy, secret: randomBytes(32) })).rejects.toMatchObject({ code: 'KEYS_PEER_REFUSED' });
            expect(bodies).toEqual([]);
            await new Promise((r) => fake.close(r));
        });
    });
});
