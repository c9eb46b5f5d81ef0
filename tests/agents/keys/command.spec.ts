// `cocoon keys serve` from a config file, in process: it serves what the library serves, and refuses bad setups typed.
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { main } from '../../../agents/cli';
import { keysNetwork, KeysNetwork, OWNER } from '../../helpers/keys';
import { capture } from '../../helpers/io';
import { keysServeCommand } from '../../../agents/keys/command';

jest.setTimeout(60_000);

describe('cocoon keys serve', () => {
    let net: KeysNetwork;
    let dir: string;
    const config = (keys: Record<string, unknown>, tee: Record<string, unknown> = { provider: 'simulated', stateFile: 'td.json' }) => {
        const file = join(dir, `keys-${Math.random().toString(36).slice(2)}.json`);
        writeFileSync(file, JSON.stringify({ chain: { endpoint: net.devnet.url, rootAddress: net.root.toString(), rps: 1000 }, trust: { simulatedTeeFile: 'td.json' }, tee, keys }));
        return file;
    };

    beforeAll(async () => {
        net = await keysNetwork();
        dir = mkdtempSync(join(tmpdir(), 'keys-cli-'));
        writeFileSync(join(dir, 'td.json'), JSON.stringify(net.tds.keys.toState()));
    });
    afterAll(() => net?.stop());

    it('serves sealing from its config until stopped, then exits 0', async () => {
        const io = capture();
        const stop = new AbortController();
        const exit = keysServeCommand(['--config', config({ port: 0 }), '--state', join(dir, 'master.json')], io, stop.signal);
        const url = await new Promise<string>((resolve) => {
            const t = setInterval(() => {
                const m = /key service (https:\S+)/.exec(io.out);
                if (m) {
                    clearInterval(t);
                    resolve(m[1]);
                }
            }, 20);
        });
        const blob = await net.client(net.tds.proxy, url).seal({ role: 'proxy', owner: OWNER, name: 'seed', secret: Buffer.from('x') });
        expect(blob.length).toBe(96 + 4 + 1); // spec/attestation.md "Blob format": 96 + name + secret
        stop.abort();
        expect(await exit).toBe(0);
    });

    it('is registered as `cocoon keys serve` and refuses a bad config key, a bad --peer, and --state with a real TEE', async () => {
        let io = capture();
        expect(await main(['keys', 'serve', '--config', config({ port: 0, leaseSeconds: 1 })], io)).toBe(1);
        expect(io.err).toMatch(/keys\.leaseSeconds/);
        io = capture();
        expect(await main(['keys', 'serve', '--config', config({}), '--peer', 'http://plain'], io)).toBe(2);
        io = capture();
        expect(await main(['keys', 'serve', '--config', config({ port: 0 }, { provider: 'tdx', configfsDir: dir }), '--state', join(dir, 's.json')], io)).toBe(1);
        expect(io.err).toMatch(/^KEYS_STATE_INVALID: /);
    });
});
