// A worker's sealed wallet through the real key service over mutual RA-TLS, judged against a Root on the devnet chain
// (spec/attestation.md "In the agents"): created once in the worker TD for its own address, reopened after a restart
// to the same address, never on disk in clear, and a swapped or altered blob refused typed with the file unchanged.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { keyPairFromSeed } from '@ton/crypto';
import { walletAddressOf } from '../../../agents/core/chain';
import { parseBlob } from '../../../agents/core/keys/blob';
import { loadOrCreateSealedSecret } from '../../../agents/core/keys/sealed-file';
import { KeyService } from '../../../agents/keys/service';
import { keysNetwork, KeysNetwork } from '../../helpers/keys';

jest.setTimeout(60_000);

const walletOf = (seed: Buffer) => walletAddressOf(keyPairFromSeed(seed).publicKey);

describe('a sealed worker wallet through the key service', () => {
    let net: KeysNetwork;
    let svc: KeyService;
    const dir = mkdtempSync(join(tmpdir(), 'sealed-wallet-svc-'));
    const file = join(dir, 'worker-wallet.sealed');
    const open = (name = 'wallet', f = file) =>
        loadOrCreateSealedSecret({ file: f, client: net.client(net.tds.worker, svc.url), role: 'worker', owner: walletOf, name, size: 32 });

    beforeAll(async () => {
        net = await keysNetwork();
        svc = await net.service();
        net.clock.advance(60_001); // past the start-up quiet period
    });
    afterAll(() => net?.stop());

    it('is created for its own address, holds no form of the key in clear, and reopens after a restart to the same address', async () => {
        const first = await open();
        expect(first.created).toBe(true);
        const address = walletOf(first.secret);
        expect(parseBlob(readFileSync(file)).owner.equals(address)).toBe(true);
        await first.lease.release(); // the worker stops
        const secretKey = keyPairFromSeed(first.secret).secretKey;
        const forms = [first.secret, secretKey].flatMap((k) => [k, Buffer.from(k.toString('hex')), Buffer.from(k.toString('base64'))]);
        for (const name of readdirSync(dir)) for (const form of forms) expect(readFileSync(join(dir, name)).includes(form)).toBe(false);
        const again = await open(); // a restarted worker: a new RA-TLS client, the same blob
        expect(again.created).toBe(false);
        expect(walletOf(again.secret).equals(address)).toBe(true);
        await again.lease.release();
    });

    it('a blob with its owner altered, or swapped for a worker blob of another name, is refused KEYS_UNSEAL_FAILED and left as it was', async () => {
        const original = readFileSync(file);
        const altered = Buffer.from(original);
        altered[50] ^= 1; // inside the owner hash
        writeFileSync(file, altered);
        await expect(open()).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        expect(readFileSync(file).equals(altered)).toBe(true);
        const other = await open('other', join(dir, 'other.sealed'));
        await other.lease.release();
        writeFileSync(file, readFileSync(join(dir, 'other.sealed')));
        await expect(open()).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        writeFileSync(file, original);
        const back = await open();
        await back.lease.release();
    });
});
