// No long-lived secret in clear on the host's disk (issue 13 part 6; spec/attestation.md "Sealed secrets", "In the
// agents"): a real devnet whose proxy seals its enclave seed through the devnet's key service (a simulated TD whose
// image Root allowlists as 'keys') and whose worker's seed is ephemeral. The host's view is the devnet directory:
// after a paid request no file in it holds either seed in any encoding; the proxy re-opens its sealed seed after a
// restart; a second proxy on the same blob, or on a tampered copy, gets nothing; a restarted worker serves under a
// new key.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { keyPairFromSeed } from '@ton/crypto';
import { RunningDevnet, startDevnet } from '../../agents/devnet/network';
import { demoRequest } from '../../agents/devnet/demo';
import { KeysConfigSchema, loadConfigFile, ProxyConfigSchema, WorkerConfigSchema } from '../../agents/config';
import { keyServiceFromConfig } from '../../agents/keys/command';
import { proxyFromConfig, workerFromConfig } from '../../agents/run';
import { hex256 } from '../../agents/core/hex';
import { main } from '../../agents/cli';
import type { ProxyAgent } from '../../agents/proxy/agent';
import type { WorkerAgent } from '../../agents/worker/runner';

jest.setTimeout(240_000);

/** Every regular file under `dir`, recursively (admin sockets are not files). */
function files(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
        const p = join(dir, name);
        const st = statSync(p);
        return st.isDirectory() ? files(p) : st.isFile() ? [p] : [];
    });
}

/** The files under `dir` that hold `secret` raw, in hex (either case) or base64 (standard or URL-safe). */
function holders(dir: string, secret: Buffer): string[] {
    const forms = [secret, ...[secret.toString('hex'), secret.toString('hex').toUpperCase(), secret.toString('base64').replace(/=+$/, ''), secret.toString('base64url')].map((t) => Buffer.from(t))];
    return files(dir).filter((f) => {
        const bytes = readFileSync(f);
        return forms.some((form) => bytes.includes(form));
    });
}

// The agents' seeds, read from the running objects' memory (the TD's view), to look for them on the host's disk.
/** The proxy's wallet secret key (64 bytes: its Ed25519 seed, then the public key), from the same memory. */
const walletKeyOf = (proxy: ProxyAgent): Buffer => (proxy as unknown as { o: { wallet: { keys: { secretKey: Buffer } } } }).o.wallet.keys.secretKey;
const seedOf = (agent: ProxyAgent | WorkerAgent): Buffer => (agent as unknown as { o?: { seed: Buffer }; opts?: { seed: Buffer } }).o?.seed ?? (agent as unknown as { opts: { seed: Buffer } }).opts.seed;

describe('sealed secrets on a real devnet', () => {
    let dir: string;
    let run: RunningDevnet | undefined;
    const extra: { stop(): Promise<void> }[] = [];
    /** The devnet's log events (the proxy's lease handling among them). */
    const events: string[] = [];
    let out = '';
    const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (out += t) };

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-sealed-'));
        run = await startDevnet({ dir, io, demo: false, tokenDelayMs: 0, log: (e) => void events.push(e) });
    });
    afterAll(async () => {
        for (const a of extra.reverse()) await a.stop().catch(() => undefined);
        await run?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    it("after a paid request, no file under the devnet directory holds the proxy's or the worker's seed (raw, hex, base64)", async () => {
        const { cost } = await demoRequest(run!, io);
        expect(cost).toBeGreaterThan(0n);
        const proxySeed = seedOf(run!.proxy);
        const workerSeed = seedOf(run!.worker);
        // the scan can find a secret: the client's seed is a plaintext file (the client is not a TEE role)
        const clientSeed = Buffer.from(readFileSync(join(dir, 'keys', 'client.seed'), 'utf8').trim(), 'hex');
        expect(holders(dir, clientSeed)).toEqual([join(dir, 'keys', 'client.seed')]);
        expect(files(dir).length).toBeGreaterThan(10);
        expect(holders(dir, proxySeed)).toEqual([]);
        expect(holders(dir, workerSeed)).toEqual([]);
        // nor the proxy's wallet key (sealed in keys/proxy-wallet.sealed, funded at the address it derives), as its seed or its 64-byte secret key
        const proxyWallet = walletKeyOf(run!.proxy);
        expect(holders(dir, proxyWallet.subarray(0, 32))).toEqual([]);
        expect(holders(dir, proxyWallet)).toEqual([]);
        expect(existsSync(join(dir, 'keys', 'proxy-wallet.wallet'))).toBe(false);
        expect(statSync(join(dir, 'keys', 'proxy-wallet.sealed')).mode & 0o777).toBe(0o600);
        expect(readdirSync(join(dir, 'keys')).filter((f) => f.endsWith('.seed'))).toEqual(['client.seed']);
        expect(statSync(join(dir, 'keys', 'proxy.sealed')).mode & 0o777).toBe(0o600);
        // the Proxy contract names the sealed seed's key, which the devnet printed
        expect(out).toContain(`the proxy's enclave key (its seed sealed in keys/proxy.sealed): ${keyPairFromSeed(proxySeed).publicKey.toString('hex')}`);
    });

    it('attack 6a: a restarted worker has a new attested key and still serves', async () => {
        const before = keyPairFromSeed(seedOf(run!.worker)).publicKey;
        await run!.worker.stop();
        const worker = await workerFromConfig(loadConfigFile(join(dir, 'worker.json'), WorkerConfigSchema));
        extra.push(worker);
        await worker.start();
        const after = keyPairFromSeed(seedOf(worker)).publicKey;
        expect(after.equals(before)).toBe(false);
        await worker.waitReady(60_000);
        await demoRequest(run!, io);
        expect(hex256(run!.client.lastReceipt!.worker)).toBe(after.toString('hex'));
    });

    it('attack 6b: a second proxy on the same sealed blob while the first runs is refused KEYS_LEASE_HELD and changes nothing', async () => {
        const blob = readFileSync(join(dir, 'keys', 'proxy.sealed'));
        await expect(proxyFromConfig(loadConfigFile(join(dir, 'proxy.json'), ProxyConfigSchema))).rejects.toMatchObject({ code: 'KEYS_LEASE_HELD' });
        let errors = '';
        expect(await main(['proxy', 'enclave-key', '--config', join(dir, 'proxy.json')], { stdout: () => undefined, stderr: (t) => void (errors += t) })).toBe(1);
        expect(errors).toMatch(/^KEYS_LEASE_HELD: /m);
        expect(readFileSync(join(dir, 'keys', 'proxy.sealed')).equals(blob)).toBe(true);
        expect(run!.proxy.stats().status).toBe('serving');
        await demoRequest(run!, io); // the first proxy still holds its seed and serves
    });

    it('attack 6c: a proxy given a tampered copy of the blob fails KEYS_UNSEAL_FAILED; the original is untouched', async () => {
        const blob = readFileSync(join(dir, 'keys', 'proxy.sealed'));
        const bad = Buffer.from(blob);
        bad[bad.length - 1] ^= 0x01;
        writeFileSync(join(dir, 'keys', 'tampered.sealed'), bad, { mode: 0o600 });
        const cfg = JSON.parse(readFileSync(join(dir, 'proxy.json'), 'utf8'));
        // the running proxy holds its sealed wallet's lease: this one reaches its seed through the same wallet in clear (simulated TEE)
        writeFileSync(join(dir, 'keys', 'tampered-test.wallet'), walletKeyOf(run!.proxy).toString('hex'), { mode: 0o600 });
        const wallet = { secretKeyFile: 'keys/tampered-test.wallet' };
        writeFileSync(join(dir, 'proxy-tampered.json'), JSON.stringify({ ...cfg, wallet, sealedSeedFile: 'keys/tampered.sealed' }));
        await expect(proxyFromConfig(loadConfigFile(join(dir, 'proxy-tampered.json'), ProxyConfigSchema))).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        expect(readFileSync(join(dir, 'keys', 'tampered.sealed')).equals(bad)).toBe(true);
        // a wallet blob swapped for the seed's blob (same owner, another name), or altered, is refused too
        writeFileSync(join(dir, 'keys', 'swapped-wallet.sealed'), blob, { mode: 0o600 });
        writeFileSync(join(dir, 'proxy-swapped.json'), JSON.stringify({ ...cfg, wallet: { sealedSecretKeyFile: 'keys/swapped-wallet.sealed' } }));
        await expect(proxyFromConfig(loadConfigFile(join(dir, 'proxy-swapped.json'), ProxyConfigSchema))).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        const walletBad = Buffer.from(readFileSync(join(dir, 'keys', 'proxy-wallet.sealed')));
        walletBad[walletBad.length - 1] ^= 0x01;
        writeFileSync(join(dir, 'keys', 'swapped-wallet.sealed'), walletBad, { mode: 0o600 });
        await expect(proxyFromConfig(loadConfigFile(join(dir, 'proxy-swapped.json'), ProxyConfigSchema))).rejects.toMatchObject({ code: 'KEYS_UNSEAL_FAILED' });
        rmSync(join(dir, 'keys', 'tampered-test.wallet'));
        expect(readFileSync(join(dir, 'keys', 'proxy.sealed')).equals(blob)).toBe(true);
    });

    it("a restarted key service forgets the proxy's lease; the running proxy takes it anew after the quiet period, so a clone is still refused", async () => {
        await run!.keyService!.stop();
        const again = await keyServiceFromConfig(loadConfigFile(join(dir, 'keys.json'), KeysConfigSchema));
        extra.push(again);
        const from = events.length;
        for (let i = 0; i < 300 && !events.slice(from).includes('keys.lease-reopened'); i++) await new Promise((r) => setTimeout(r, 100));
        expect(events.slice(from)).toContain('keys.lease-reopened');
        let errors = '';
        expect(await main(['proxy', 'enclave-key', '--config', join(dir, 'proxy.json')], { stdout: () => undefined, stderr: (t) => void (errors += t) })).toBe(1);
        expect(errors).toMatch(/^KEYS_LEASE_HELD: /m);
        expect(run!.proxy.stats().status).toBe('serving');
    });

    it('the proxy restarts and re-opens its sealed seed: the same enclave key, accepted by the same Proxy contract', async () => {
        const key = run!.proxy.stats().enclaveKey;
        copyFileSync(join(dir, 'keys', 'proxy.sealed'), join(dir, 'keys', 'proxy.sealed.before'));
        await run!.proxy.stop(); // releases the lease
        // The operator's way to learn the key (spec/operations.md "Seeds"): opens the same blob and releases it again.
        let printed = '';
        let errors = '';
        expect(await main(['proxy', 'enclave-key', '--config', join(dir, 'proxy.json'), '--json'], { stdout: (t) => void (printed += t), stderr: (t) => void (errors += t) })).toBe(0);
        expect(JSON.parse(printed)).toEqual({ enclaveKey: key, seed: 'sealed', created: false });
        const proxy = await proxyFromConfig(loadConfigFile(join(dir, 'proxy.json'), ProxyConfigSchema));
        extra.push(proxy);
        await proxy.start(); // PROXY_KEY_MISMATCH unless the contract's enclaveKey is the re-opened seed's key
        expect(proxy.stats().enclaveKey).toBe(key);
        expect(proxy.stats().proxy).toBe(run!.proxy.stats().proxy);
        expect(readFileSync(join(dir, 'keys', 'proxy.sealed')).equals(readFileSync(join(dir, 'keys', 'proxy.sealed.before')))).toBe(true);
    });

    it('a devnet directory from before sealed seeds (plaintext keys/proxy.seed, no sealed file) still starts on its seed and says so', async () => {
        const seed = seedOf(run!.proxy);
        const run0 = run!.proxy;
        const key = run!.proxy.stats().enclaveKey;
        for (const a of extra.splice(0).reverse()) await a.stop();
        await run!.stop();
        run = undefined;
        // What an older devnet left: the proxy's seed in clear, no sealed blob, no key-service port.
        writeFileSync(join(dir, 'keys', 'proxy.seed'), seed.toString('hex') + '\n', { mode: 0o600 });
        writeFileSync(join(dir, 'keys', 'proxy-wallet.wallet'), walletKeyOf(run0).toString('hex') + '\n', { mode: 0o600 });
        rmSync(join(dir, 'keys', 'proxy.sealed'));
        rmSync(join(dir, 'keys', 'proxy-wallet.sealed'));
        const net = JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8'));
        delete net.ports.keys;
        writeFileSync(join(dir, 'network.json'), JSON.stringify(net));
        out = '';
        const from = events.length;
        run = await startDevnet({ dir, io, demo: false, tokenDelayMs: 0, log: (e) => void events.push(e) });
        expect(events.slice(from)).toContain('keys.plaintext-seed-unchecked'); // the loud warning of a plaintext seed (simulated TEE only)
        expect(out).toMatch(/this devnet was created before sealed seeds: its proxy keeps the plaintext keys\/proxy\.seed .*remove .* to start over/);
        expect(out).not.toMatch(/key service \(sealed secrets/);
        expect(JSON.parse(readFileSync(join(dir, 'proxy.json'), 'utf8'))).toMatchObject({ seedFile: 'keys/proxy.seed', wallet: { secretKeyFile: 'keys/proxy-wallet.wallet' } });
        expect(run.proxy.stats().enclaveKey).toBe(key);
        await demoRequest(run, io);
    });
});
