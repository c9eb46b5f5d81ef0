// Operating the agents: every command answers --help, refuses bad flags with status 2, and refuses a bad config file
// with CONFIG_INVALID naming the key, before anything starts or any coin moves.
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { main } from '../../agents/cli';
import { ClientConfigSchema, loadConfigFile, ProxyConfigSchema, proxyAddressOf, readSeed, readWalletKey, WorkerConfigSchema } from '../../agents/config';
import { CocoonError } from '../../agents/core/errors';

function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

const codeAndKey = (f: () => unknown) => {
    try {
        f();
    } catch (e) {
        return { code: (e as CocoonError).code, key: (e as CocoonError).details?.key };
    }
    return undefined;
};

describe('cocoon devnet | proxy | worker | client', () => {
    let dir: string;
    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-ops-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each([['devnet'], ['proxy'], ['worker'], ['client'], ['chain', 'serve'], ['attest', 'verify'], ['status']])('%s %s answers --help with its usage and status 0', async (...cmd) => {
        const c = capture();
        expect(await main([...cmd.filter(Boolean), '--help'], c.io)).toBe(0);
        expect(c.out()).toMatch(/usage: cocoon/);
    });

    it('lists the agent commands in the top-level help', async () => {
        const c = capture();
        expect(await main(['--help'], c.io)).toBe(0);
        for (const name of ['devnet', 'proxy', 'worker', 'client', 'chain serve', 'attest verify', 'status']) expect(c.out()).toContain(`  ${name}`);
    });

    it.each([
        [['proxy'], /--config <file> is required/],
        [['proxy', 'enclave-key'], /--config <file> is required/],
        [['proxy', 'enclave-key', '--config', 'p.json', '--key', 'x'], /unknown argument --key/],
        [['proxy', 'wallet-address'], /--config <file> is required/],
        [['worker', 'wallet-address', '--config', 'w.json', '--wallet', 'x'], /unknown argument --wallet/],
        [['worker', '--bogus'], /unknown argument --bogus/],
        [['client', 'withdraw', '--config'], /--config: missing value/],
        [['devnet', '--port', 'x'], /--port: expected 0..65535/],
        [['devnet', '--no-demo=1'], /takes no value/],
    ])('%j is a usage error (status 2)', async (argv, message) => {
        const c = capture();
        const status = await main(argv, c.io);
        expect(c.err()).toMatch(message);
        expect(status).toBe(2);
    });

    it('a missing config file is CONFIG_INVALID, status 1', async () => {
        const c = capture();
        expect(await main(['proxy', '--config', join(dir, 'nope.json')], c.io)).toBe(1);
        expect(c.err()).toMatch(/^CONFIG_INVALID: config: cannot read/);
    });

    describe('config files', () => {
        const base = {
            chain: { endpoint: 'http://127.0.0.1:1/api/v2/jsonRPC', rootAddress: 'EQCUVxGwPC8G-XTYgb1qRPYdVMhbkySUERhSTHVvZOBmbeoO' },
            seedFile: 'seed',
            wallet: { secretKeyFile: 'wallet' },
            trust: { simulatedTeeFile: 'tee.json' },
        };
        /** A real TD keeps its wallet key sealed, and the proxy its seed (spec/operations.md "Seeds"); JSON drops the undefined seedFile. */
        const tdWallet = { wallet: { sealedSecretKeyFile: 'wallet.sealed' }, keyService: { url: 'https://127.0.0.1:1' } };
        const sealed = { seedFile: undefined, sealedSeedFile: 'proxy.sealed', ...tdWallet };
        const write = (name: string, value: unknown) => {
            const p = join(dir, name);
            writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
            return p;
        };

        it('accepts a complete proxy, worker and client config', () => {
            expect(loadConfigFile(write('p.json', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l.sqlite', clientPort: 0 } }), ProxyConfigSchema).config.proxy.clientPort).toBe(0);
            const limits = { maxBufferedBytes: 1 << 20, idleTimeoutMs: 30_000, helloChecksPerAddress: 2 };
            expect(loadConfigFile(write('pl.json', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l.sqlite', limits } }), ProxyConfigSchema).config.proxy.limits).toEqual(limits);
            const w = loadConfigFile(write('w.json', { ...base, tee: { provider: 'simulated', stateFile: 't.json' }, worker: { models: [{ name: 'm', coefficient: 1000 }], backendUrl: 'http://127.0.0.1:9/', capacity: 4, stateFile: 's.json' } }), WorkerConfigSchema);
            expect(w.dir).toBe(dir);
            expect(loadConfigFile(write('c.json', { ...base, client: { stateFile: 's.json', privacy: 'plain', depositTon: '1.5' } }), ClientConfigSchema).config.client.privacy).toBe('plain');
        });

        it.each([
            ['an unknown key', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l', colour: 'red' } }, 'proxy'],
            ['a bad address', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { address: 'not-an-address', ledgerFile: 'l' } }, 'proxy.address'],
            ['a string port', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l', clientPort: '80' } }, 'proxy.clientPort'],
            ['an unknown TEE provider', { ...base, tee: { provider: 'sgx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l' } }, 'tee.provider'],
            ['no trust anchor material', { ...base, trust: {}, tee: { provider: 'tdx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l' } }, 'trust'],
            ['an unknown limit (attacks 14-16 knobs)', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l', limits: { colour: 1 } } }, 'proxy.limits'],
            ['a fractional limit', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { address: base.chain.rootAddress, ledgerFile: 'l', limits: { idleTimeoutMs: 1.5 } } }, 'proxy.limits.idleTimeoutMs'],
        ])('refuses %s with CONFIG_INVALID naming the key', (_n, cfg, key) => {
            expect(codeAndKey(() => loadConfigFile(write('bad.json', cfg), ProxyConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key });
        });

        it('takes the money and replay knobs of attacks 3, 9, 11 and 12, and refuses bad values naming the key', () => {
            const proxy = { address: base.chain.rootAddress, ledgerFile: 'l', watchIntervalMs: 1000, channelCheckMs: 2000 };
            const p = loadConfigFile(write('pk.json', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy }), ProxyConfigSchema).config.proxy;
            expect([p.watchIntervalMs, p.channelCheckMs]).toEqual([1000, 2000]);
            const worker = { models: [{ name: 'm', coefficient: 1000 }], backendUrl: 'http://127.0.0.1:9/', capacity: 4, stateFile: 's', replayCacheSize: 1024 };
            expect(loadConfigFile(write('wk.json', { ...base, seedFile: undefined, ...tdWallet, tee: { provider: 'tdx' }, worker }), WorkerConfigSchema).config.worker.replayCacheSize).toBe(1024);
            expect(loadConfigFile(write('ck.json', { ...base, client: { stateFile: 's', maxRequestCostTon: '0.05' } }), ClientConfigSchema).config.client.maxRequestCostTon).toBe('0.05');
            expect(codeAndKey(() => loadConfigFile(write('pk2.json', { ...base, ...sealed, tee: { provider: 'tdx' }, proxy: { ...proxy, watchIntervalMs: -1 } }), ProxyConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key: 'proxy.watchIntervalMs' });
            expect(codeAndKey(() => loadConfigFile(write('wk2.json', { ...base, seedFile: undefined, ...tdWallet, tee: { provider: 'tdx' }, worker: { ...worker, replayCacheSize: 1 << 25 } }), WorkerConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key: 'worker.replayCacheSize' });
            expect(codeAndKey(() => loadConfigFile(write('ck2.json', { ...base, client: { stateFile: 's', maxRequestCostTon: 'lots' } }), ClientConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key: 'client.maxRequestCostTon' });
        });

        it('refuses a worker model list that is empty and a TON amount with too many decimals', () => {
            const worker = { models: [], backendUrl: 'http://127.0.0.1:9/', capacity: 4, stateFile: 's' };
            expect(codeAndKey(() => loadConfigFile(write('w2.json', { ...base, seedFile: undefined, ...tdWallet, tee: { provider: 'tdx' }, worker }), WorkerConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key: 'worker.models' });
            expect(codeAndKey(() => loadConfigFile(write('c2.json', { ...base, client: { stateFile: 's', depositTon: '1.0000000001' } }), ClientConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key: 'client.depositTon' });
            expect(codeAndKey(() => loadConfigFile(write('c3.json', '{"chain": '), ClientConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key: 'config' });
        });

        it('seeds: a plaintext seedFile is refused under tdx for the proxy and the worker, one seed source for the proxy, the client needs its file', () => {
            const proxy = { address: base.chain.rootAddress, ledgerFile: 'l' };
            const worker = { models: [{ name: 'm', coefficient: 1000 }], backendUrl: 'http://127.0.0.1:9/', capacity: 4, stateFile: 's' };
            const tdx = { provider: 'tdx' };
            const sim = { provider: 'simulated', stateFile: 't.json' };
            const bad: [unknown, typeof ProxyConfigSchema | typeof WorkerConfigSchema | typeof ClientConfigSchema, string][] = [
                [{ ...base, tee: tdx, proxy }, ProxyConfigSchema, 'seedFile'],
                [{ ...base, tee: tdx, worker }, WorkerConfigSchema, 'seedFile'],
                [{ ...base, ...sealed, seedFile: 'seed', tee: sim, proxy }, ProxyConfigSchema, 'sealedSeedFile'],
                [{ ...base, seedFile: undefined, tee: sim, proxy }, ProxyConfigSchema, 'sealedSeedFile'],
                [{ ...base, ...sealed, keyService: undefined, tee: tdx, proxy }, ProxyConfigSchema, 'keyService'],
                [{ ...base, ...sealed, keyService: { url: 'http://127.0.0.1:1' }, tee: tdx, proxy }, ProxyConfigSchema, 'keyService.url'],
                [{ ...base, seedFile: undefined, client: { stateFile: 's' } }, ClientConfigSchema, 'seedFile'],
            ];
            for (const [cfg, schema, key] of bad) expect(codeAndKey(() => loadConfigFile(write('seed.json', cfg), schema as typeof ProxyConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key });
            // Allowed: a simulated TEE with a plaintext seed (logged as a warning at start), a worker with no seed at all.
            expect(loadConfigFile(write('ps.json', { ...base, tee: sim, proxy }), ProxyConfigSchema).config.seedFile).toBe('seed');
            expect(loadConfigFile(write('ws.json', { ...base, seedFile: undefined, ...tdWallet, tee: tdx, worker }), WorkerConfigSchema).config.seedFile).toBeUndefined();
            // proxy.address may wait for `cocoon proxy enclave-key`; running the proxy (or its operator commands) needs it
            const noAddress = loadConfigFile(write('pa.json', { ...base, ...sealed, tee: tdx, proxy: { ledgerFile: 'l' } }), ProxyConfigSchema);
            expect(noAddress.config.proxy.address).toBeUndefined();
            expect(codeAndKey(() => proxyAddressOf(noAddress))).toEqual({ code: 'CONFIG_INVALID', key: 'proxy.address' });
        });

        it('wallets: a plaintext wallet.secretKeyFile is refused under tdx for the proxy and the worker, exactly one wallet file, the key service with a sealed one; the client keeps its plaintext wallet', async () => {
            const proxy = { address: base.chain.rootAddress, ledgerFile: 'l' };
            const worker = { models: [{ name: 'm', coefficient: 1000 }], backendUrl: 'http://127.0.0.1:9/', capacity: 4, stateFile: 's' };
            const tdx = { provider: 'tdx' };
            const sim = { provider: 'simulated', stateFile: 't.json' };
            const keyService = tdWallet.keyService;
            const both = { secretKeyFile: 'wallet', sealedSecretKeyFile: 'wallet.sealed' };
            const bad: [unknown, typeof ProxyConfigSchema | typeof WorkerConfigSchema | typeof ClientConfigSchema, string][] = [
                [{ ...base, ...sealed, wallet: base.wallet, tee: tdx, proxy }, ProxyConfigSchema, 'wallet.secretKeyFile'],
                [{ ...base, seedFile: undefined, wallet: base.wallet, tee: tdx, worker }, WorkerConfigSchema, 'wallet.secretKeyFile'],
                [{ ...base, ...sealed, wallet: both, tee: sim, proxy }, ProxyConfigSchema, 'wallet.sealedSecretKeyFile'],
                [{ ...base, wallet: {}, tee: sim, worker }, WorkerConfigSchema, 'wallet.sealedSecretKeyFile'],
                [{ ...base, seedFile: undefined, wallet: tdWallet.wallet, tee: tdx, worker }, WorkerConfigSchema, 'keyService'],
                [{ ...base, keyService, tee: sim, worker }, WorkerConfigSchema, 'keyService'],
                [{ ...base, wallet: tdWallet.wallet, tee: sim, proxy }, ProxyConfigSchema, 'keyService'],
                [{ ...base, wallet: tdWallet.wallet, client: { stateFile: 's' } }, ClientConfigSchema, 'wallet.secretKeyFile'],
            ];
            for (const [cfg, schema, key] of bad) expect(codeAndKey(() => loadConfigFile(write('wallet.json', cfg), schema as typeof ProxyConfigSchema))).toEqual({ code: 'CONFIG_INVALID', key });
            // Allowed: a sealed wallet under a simulated TEE with a plaintext seed (the devnet's proxy), a plaintext wallet with the simulated TEE.
            expect(loadConfigFile(write('pw.json', { ...base, ...tdWallet, tee: sim, proxy }), ProxyConfigSchema).config.wallet.sealedSecretKeyFile).toBe('wallet.sealed');
            expect(loadConfigFile(write('ww.json', { ...base, tee: sim, worker }), WorkerConfigSchema).config.wallet.secretKeyFile).toBe('wallet');
            // The command refuses such a config before it reaches the chain or the key service.
            const c = capture();
            expect(await main(['worker', 'wallet-address', '--config', write('ww2.json', { ...base, seedFile: undefined, tee: tdx, worker })], c.io)).toBe(1);
            expect(c.err()).toMatch(/^CONFIG_INVALID: wallet\.secretKeyFile: a plaintext wallet\.secretKeyFile is refused with tee\.provider 'tdx'/);
        });

        it('reads seeds and wallet keys, and refuses malformed ones', async () => {
            write('seed', 'ab'.repeat(32) + '\n');
            expect(readSeed(dir, 'seed').equals(Buffer.alloc(32, 0xab))).toBe(true);
            write('short', 'ab'.repeat(31));
            expect(codeAndKey(() => readSeed(dir, 'short'))).toEqual({ code: 'CONFIG_INVALID', key: 'seedFile' });
            write('words', 'not a mnemonic at all');
            await expect(readWalletKey(dir, 'words')).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { key: 'wallet.secretKeyFile' } });
        });
    });
});
