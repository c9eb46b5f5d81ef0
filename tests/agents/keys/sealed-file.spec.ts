// agents/core/keys/sealed-file.ts: load-or-create a sealed secret file. The key service is an external dependency
// of this module, so it is replaced here by a small in-test KeyServiceClient (AES-256-GCM under a test key, one
// lease per blob); tests/agents/keys/* run the real service and tests/e2e/sealed-secrets.spec.ts the whole path.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Address } from '@ton/core';
import { keepLease, loadOrCreateSealedSecret, MAX_SEALED_FILE_BYTES } from '../../../agents/core/keys/sealed-file';
import { KeyLease, KeysError, KeyServiceClient, SealRequest, SealRole } from '../../../agents/core/keys/types';

const OWNER = Address.parse('0:' + '11'.repeat(32));
const OTHER = Address.parse('0:' + '22'.repeat(32));

/** A key service double: blob = nonce ‖ tag ‖ AES-GCM(secret), aad = role ‖ owner ‖ name. */
class FakeKeyService implements KeyServiceClient {
    readonly key = randomBytes(32);
    readonly held = new Map<string, string>();
    starting = 0;
    unreachable = false;
    calls: string[] = [];
    constructor(readonly holder = 'td-a') {}

    private aad(e: { role: SealRole; owner: Address; name: string }) {
        return Buffer.from(`${e.role}|${e.owner.toRawString()}|${e.name}`);
    }
    as(holder: string): FakeKeyService {
        const other = Object.create(this) as FakeKeyService;
        Object.defineProperty(other, 'holder', { value: holder });
        return other;
    }
    async seal(req: SealRequest): Promise<Buffer> {
        this.calls.push('seal');
        const nonce = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', this.key, nonce).setAAD(this.aad(req));
        const body = Buffer.concat([c.update(req.secret), c.final()]);
        return Buffer.concat([nonce, c.getAuthTag(), body]);
    }
    async unseal(blob: Buffer, expect: { role: SealRole; owner: Address; name: string }): Promise<{ secret: Buffer; lease: KeyLease }> {
        this.calls.push('unseal');
        if (this.starting > 0) {
            this.starting--;
            throw new KeysError('KEYS_STARTING', 'quiet period');
        }
        let secret: Buffer;
        try {
            const d = createDecipheriv('aes-256-gcm', this.key, blob.subarray(0, 12)).setAAD(this.aad(expect)).setAuthTag(blob.subarray(12, 28));
            secret = Buffer.concat([d.update(blob.subarray(28)), d.final()]);
        } catch {
            throw new KeysError('KEYS_UNSEAL_FAILED', 'authentication failed');
        }
        const id = createHash('sha256').update(blob).digest('hex');
        const h = this.held.get(id);
        if (h !== undefined && h !== this.holder) throw new KeysError('KEYS_LEASE_HELD', 'held');
        this.held.set(id, this.holder);
        const svc = this;
        const holder = this.holder;
        return {
            secret,
            lease: {
                id,
                expiresAt: 0,
                async renew() {
                    svc.calls.push('renew');
                    if (svc.unreachable) throw new KeysError('KEYS_UNAVAILABLE', 'down');
                    const h = svc.held.get(id);
                    if (h === undefined) throw new KeysError('KEYS_NO_LEASE', 'no such lease');
                    if (h !== holder) throw new KeysError('KEYS_LEASE_HELD', 'held');
                },
                async release() {
                    svc.calls.push('release');
                    if (svc.held.get(id) === holder) svc.held.delete(id);
                },
            },
        };
    }
}

const dir = () => mkdtempSync(join(tmpdir(), 'sealed-file-'));
const opts = (file: string, client: KeyServiceClient) => ({ file, client, role: 'proxy' as const, owner: OWNER, name: 'seed', size: 32 });

describe('loadOrCreateSealedSecret', () => {
    it('creates a 32-byte secret, writes only the blob (mode 0600, no clear secret in it), and re-opens it to the same secret', async () => {
        const svc = new FakeKeyService();
        const file = join(dir(), 'keys', 'proxy.sealed');
        const a = await loadOrCreateSealedSecret(opts(file, svc));
        expect(a.created).toBe(true);
        expect(a.secret.length).toBe(32);
        expect(svc.calls).toEqual(['seal', 'unseal']); // the new blob is opened before it is written: round trip + lease
        const blob = readFileSync(file);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        for (const form of [a.secret, Buffer.from(a.secret.toString('hex')), Buffer.from(a.secret.toString('base64'))]) expect(blob.includes(form)).toBe(false);
        await a.lease.release();
        const b = await loadOrCreateSealedSecret(opts(file, svc));
        expect(b.created).toBe(false);
        expect(b.secret.equals(a.secret)).toBe(true);
        expect(readFileSync(file).equals(blob)).toBe(true);
    });

    it('a second TD while the first holds the lease is refused KEYS_LEASE_HELD and the file is unchanged; after release it opens', async () => {
        const svc = new FakeKeyService('td-a');
        const file = join(dir(), 'proxy.sealed');
        const a = await loadOrCreateSealedSecret(opts(file, svc));
        const before = readFileSync(file);
        await expect(loadOrCreateSealedSecret(opts(file, svc.as('td-b')))).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        expect(readFileSync(file).equals(before)).toBe(true);
        await a.lease.release();
        const b = await loadOrCreateSealedSecret(opts(file, svc.as('td-b')));
        expect(b.secret.equals(a.secret)).toBe(true);
    });

    it('a tampered blob fails KEYS_UNSEAL_FAILED and is neither replaced nor rewritten', async () => {
        const svc = new FakeKeyService();
        const file = join(dir(), 'proxy.sealed');
        const a = await loadOrCreateSealedSecret(opts(file, svc));
        await a.lease.release();
        const blob = readFileSync(file);
        blob[blob.length - 1] ^= 1;
        writeFileSync(file, blob);
        await expect(loadOrCreateSealedSecret(opts(file, svc))).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        expect(readFileSync(file).equals(blob)).toBe(true);
    });

    it('a blob asked for under another owner fails KEYS_UNSEAL_FAILED', async () => {
        const svc = new FakeKeyService();
        const file = join(dir(), 'proxy.sealed');
        await (await loadOrCreateSealedSecret(opts(file, svc))).lease.release();
        await expect(loadOrCreateSealedSecret({ ...opts(file, svc), owner: OTHER })).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
    });

    it('an empty, oversized or unreadable (a directory) file is refused KEYS_BAD_REQUEST before anything is sent', async () => {
        const svc = new FakeKeyService();
        const d = dir();
        writeFileSync(join(d, 'empty'), '');
        writeFileSync(join(d, 'big'), Buffer.alloc(MAX_SEALED_FILE_BYTES + 1));
        mkdirSync(join(d, 'dir'));
        for (const f of ['empty', 'big', 'dir']) await expect(loadOrCreateSealedSecret(opts(join(d, f), svc))).rejects.toMatchObject({ code: 'KEYS_BAD_REQUEST' });
        expect(svc.calls).toEqual([]);
    });

    it('when the service cannot open the new blob, no file is written (the next start seals afresh)', async () => {
        const svc = new FakeKeyService();
        svc.starting = 1;
        const d = dir();
        await expect(loadOrCreateSealedSecret(opts(join(d, 'proxy.sealed'), svc))).rejects.toMatchObject({ code: 'KEYS_STARTING' });
        expect(readdirSync(d)).toEqual([]);
    });

    it('waits out KEYS_STARTING up to waitStartingMs, asking again every retryMs (injected sleep)', async () => {
        const svc = new FakeKeyService();
        const file = join(dir(), 'proxy.sealed');
        await (await loadOrCreateSealedSecret(opts(file, svc))).lease.release();
        svc.starting = 3;
        const slept: number[] = [];
        const sleep = async (ms: number) => void slept.push(ms);
        const got = await loadOrCreateSealedSecret({ ...opts(file, svc), waitStartingMs: 3000, retryMs: 1000, sleep });
        expect(got.created).toBe(false);
        expect(slept).toEqual([1000, 1000, 1000]);
        svc.starting = 3;
        await got.lease.release();
        await expect(loadOrCreateSealedSecret({ ...opts(file, svc), waitStartingMs: 2000, retryMs: 1000, sleep })).rejects.toMatchObject({ code: 'KEYS_STARTING' });
        expect(existsSync(file)).toBe(true);
    });
});

describe('keepLease', () => {
    afterEach(() => jest.useRealTimers());

    it('renews every renewMs, keeps going when the service is unreachable (logged), and releases on stop', async () => {
        jest.useFakeTimers();
        const svc = new FakeKeyService();
        const file = join(dir(), 'proxy.sealed');
        const { lease } = await loadOrCreateSealedSecret(opts(file, svc));
        const events: string[] = [];
        const keeper = keepLease(lease, { renewMs: 1000, log: (e) => void events.push(e) });
        svc.calls = [];
        await jest.advanceTimersByTimeAsync(2000);
        svc.unreachable = true;
        await jest.advanceTimersByTimeAsync(1000);
        expect(svc.calls).toEqual(['renew', 'renew', 'renew']);
        expect(events).toEqual(['keys.renew-failed']);
        await keeper.stop();
        await keeper.stop();
        expect(svc.calls).toEqual(['renew', 'renew', 'renew', 'release']);
        expect(svc.held.size).toBe(0);
        await jest.advanceTimersByTimeAsync(5000);
        expect(svc.calls.length).toBe(4);
    });

    it('a lease the service forgot (it restarted) is taken anew, waiting out KEYS_STARTING; the proxy keeps its secret meanwhile', async () => {
        jest.useFakeTimers();
        const svc = new FakeKeyService();
        const file = join(dir(), 'proxy.sealed');
        const s = await loadOrCreateSealedSecret(opts(file, svc));
        const events: string[] = [];
        const lost: string[] = [];
        const keeper = keepLease(s.lease, { renewMs: 1000, reopen: s.reopen, onLost: (e) => void lost.push(e.code), log: (e) => void events.push(e) });
        svc.held.clear(); // the service restarted: it forgot every lease
        svc.starting = 1; // and is inside its quiet period at the first reopen
        svc.calls = [];
        await jest.advanceTimersByTimeAsync(1000);
        expect(svc.calls).toEqual(['renew', 'unseal']);
        expect(svc.held.size).toBe(0);
        await jest.advanceTimersByTimeAsync(1000);
        expect(svc.calls).toEqual(['renew', 'unseal', 'renew', 'unseal']);
        expect([...svc.held.values()]).toEqual(['td-a']); // ours again: a clone asking now is refused
        await expect(loadOrCreateSealedSecret(opts(file, svc.as('td-b')))).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        expect(events).toEqual(['keys.renew-failed', 'keys.lease-reopened']);
        expect(lost).toEqual([]);
        await keeper.stop();
        expect(svc.held.size).toBe(0);
    });

    it('a lease another TD took after ours lapsed ends the renewals and calls onLost once (the proxy halts on it)', async () => {
        jest.useFakeTimers();
        const svc = new FakeKeyService();
        const file = join(dir(), 'proxy.sealed');
        const s = await loadOrCreateSealedSecret(opts(file, svc));
        const lost: string[] = [];
        const keeper = keepLease(s.lease, { renewMs: 1000, reopen: s.reopen, onLost: (e) => void lost.push(e.code) });
        svc.held.set(s.lease.id, 'td-b'); // ours lapsed and a clone took it
        svc.calls = [];
        await jest.advanceTimersByTimeAsync(5000);
        expect(svc.calls).toEqual(['renew']);
        expect(lost).toEqual(['KEYS_LEASE_HELD']);
        await keeper.stop();
        expect(svc.held.get(s.lease.id)).toBe('td-b'); // releasing what we no longer hold changes nothing
    });
});
