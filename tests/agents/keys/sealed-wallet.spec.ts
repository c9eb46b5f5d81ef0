// agents/core/keys/sealed-file.ts with an owner derived from the secret (a sealed wallet key owns its own wallet
// address, spec/operations.md "Seeds"). The key service is replaced by an in-test client that seals and opens with
// the real blob format (agents/core/keys/blob.ts) under a test master, one lease per blob; the real service runs in
// tests/agents/keys/key-service.spec.ts and the whole path in tests/e2e/sealed-secrets.spec.ts.
import { randomBytes } from 'crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Address } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { walletAddressOf } from '../../../agents/core/chain';
import { blobId, openBlob, parseBlob, sealBlob } from '../../../agents/core/keys/blob';
import { loadOrCreateSealedSecret } from '../../../agents/core/keys/sealed-file';
import { KeyLease, KeysError, KeyServiceClient, SealRequest, SealRole } from '../../../agents/core/keys/types';

const walletOf = (secret: Buffer) => walletAddressOf(keyPairFromSeed(secret).publicKey);

class BlobKeyService implements KeyServiceClient {
    readonly master = randomBytes(32);
    readonly held = new Set<string>();
    async seal(req: SealRequest): Promise<Buffer> {
        return sealBlob(this.master, req, req.secret);
    }
    async unseal(blob: Buffer, expect: { role: SealRole; owner: Address; name: string }): Promise<{ secret: Buffer; lease: KeyLease }> {
        const secret = openBlob(this.master, blob, expect);
        const id = blobId(blob);
        if (this.held.has(id)) throw new KeysError('KEYS_LEASE_HELD', 'held');
        this.held.add(id);
        return { secret, lease: { id, expiresAt: Date.now() + 60_000, renew: async () => undefined, release: async () => void this.held.delete(id) } };
    }
}

const dir = () => mkdtempSync(join(tmpdir(), 'sealed-wallet-'));
const opts = (svc: KeyServiceClient, file: string, name = 'wallet') => ({ file, client: svc, role: 'worker' as const, owner: walletOf, name, size: 32 });

describe('loadOrCreateSealedSecret with the owner derived from the secret (sealed wallets)', () => {
    it('seals a new wallet key for its own address (the header owner) and reopens it to the same key and address', async () => {
        const svc = new BlobKeyService();
        const file = join(dir(), 'worker.wallet.sealed');
        const a = await loadOrCreateSealedSecret(opts(svc, file));
        expect(a.created).toBe(true);
        expect(parseBlob(readFileSync(file)).owner.equals(walletOf(a.secret))).toBe(true);
        await a.lease.release();
        const b = await loadOrCreateSealedSecret(opts(svc, file));
        expect(b.created).toBe(false);
        expect(b.secret.equals(a.secret)).toBe(true);
        await b.lease.release();
    });

    it("a blob whose secret does not derive the owner its header names is refused KEYS_UNSEAL_FAILED, its lease released, the file unchanged", async () => {
        const svc = new BlobKeyService();
        const file = join(dir(), 'w.sealed');
        const stranger = Address.parse('0:' + '33'.repeat(32));
        const blob = sealBlob(svc.master, { role: 'worker', owner: stranger, name: 'wallet' }, randomBytes(32));
        writeFileSync(file, blob);
        await expect(loadOrCreateSealedSecret(opts(svc, file))).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        expect(svc.held.size).toBe(0);
        expect(readFileSync(file).equals(blob)).toBe(true);
    });

    it('a blob with its header owner changed, or swapped for the seed blob (another name), is refused KEYS_UNSEAL_FAILED', async () => {
        const svc = new BlobKeyService();
        const d = dir();
        const file = join(d, 'w.sealed');
        const a = await loadOrCreateSealedSecret(opts(svc, file));
        await a.lease.release();
        const tampered = Buffer.from(readFileSync(file));
        tampered[40] ^= 1; // inside the owner hash
        writeFileSync(file, tampered);
        await expect(loadOrCreateSealedSecret(opts(svc, file))).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        const seed = await loadOrCreateSealedSecret(opts(svc, join(d, 'seed.sealed'), 'seed'));
        await seed.lease.release();
        writeFileSync(file, readFileSync(join(d, 'seed.sealed')));
        await expect(loadOrCreateSealedSecret(opts(svc, file))).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        expect(svc.held.size).toBe(0);
    });
});
