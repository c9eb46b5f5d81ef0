// `cocoon explorer`: bad flags exit 2 before any chain read, a dead chain exits 1 with its code, and on a devnet it
// prints its URL, serves the API and stops cleanly.
import { main } from '../../../agents/cli';
import { explorerCommand } from '../../../agents/explorer/command';
import { ExplorerNetwork, startExplorerNetwork } from '../../../fixtures/explorer-network';
import type { RootView } from '../../../agents/explorer/types';

jest.setTimeout(60_000);

function io() {
    const out = { stdout: '', stderr: '' };
    return { out, io: { stdout: (s: string) => void (out.stdout += s), stderr: (s: string) => void (out.stderr += s) } };
}

// Nothing listens on port 1: a command that reached the chain would fail with CHAIN_UNAVAILABLE (exit 1), not 2.
const DEAD = 'http://127.0.0.1:1/api/v2/jsonRPC';
const ROOT = '0:' + '11'.repeat(32);
const ENV = { TONCENTER_MAX_RETRIES: '0' };

describe('cocoon explorer flags', () => {
    it.each([
        [['--network', 'moonnet'], '--network'],
        [['--port', '70000'], '--port'],
        [['--history', '0'], '--history'],
        [['--history', '1e9'], '--history'],
        [['--stream', 'ftp://x'], '--stream'],
        [['--host', 'evil host'], '--host'],
        [['--log-level', 'loud'], '--log-level'],
        [['--root', 'not-an-address'], '--root'],
        [['--endpoint', 'not a url'], '--endpoint'],
        [['--bogus'], '--bogus'],
    ])('%j exits 2 naming %s, before any chain read', async (argv, flag) => {
        const { out, io: cio } = io();
        const args = [...argv];
        if (!args.includes('--endpoint')) args.push('--endpoint', DEAD);
        if (!args.includes('--root')) args.push('--root', ROOT);
        expect(await explorerCommand(args, cio, ENV)).toBe(2);
        expect(out.stderr).toContain(flag);
        expect(out.stdout).toBe('');
    });

    it('without a Root exits 2 naming --root', async () => {
        const { out, io: cio } = io();
        expect(await explorerCommand(['--endpoint', DEAD], cio, ENV)).toBe(2);
        expect(out.stderr).toContain('--root');
    });

    it('--help prints the usage and exits 0; `cocoon explorer --help` reaches it through the CLI table', async () => {
        const a = io();
        expect(await main(['explorer', '--help'], a.io)).toBe(0);
        expect(a.out.stdout).toContain('usage: cocoon explorer');
        const b = io();
        expect(await main(['--help'], b.io)).toBe(0);
        expect(b.out.stdout).toMatch(/explorer\s+serve the web explorer/);
    });

    it('a chain that cannot be read at start exits 1 with its CHAIN_* code', async () => {
        const { out, io: cio } = io();
        expect(await explorerCommand(['--endpoint', DEAD, '--root', ROOT, '--port', '0'], cio, ENV)).toBe(1);
        expect(out.stderr).toMatch(/cocoon explorer: CHAIN_[A-Z_]+: /);
    });
});

describe('cocoon explorer on a devnet', () => {
    let net: ExplorerNetwork;
    beforeAll(async () => {
        net = await startExplorerNetwork();
    });
    afterAll(async () => net?.stop());

    it('prints its URL, serves /api/root for the given Root, and exits 0 when stopped', async () => {
        const { out, io: cio } = io();
        const stop = new AbortController();
        const done = explorerCommand(['--endpoint', net.chainConfig.endpoint, '--root', net.root.toString(), '--port', '0', '--log-level', 'error'], cio, { TONCENTER_RPS: '1000' }, stop.signal);
        let url: string | undefined;
        for (let i = 0; i < 200 && !url; i++) {
            url = /explorer: (http:\/\/127\.0\.0\.1:\d+)/.exec(out.stdout)?.[1];
            if (!url) await new Promise((r) => setTimeout(r, 50));
        }
        expect(url).toBeDefined();
        const root = (await (await fetch(`${url}/api/root`)).json()) as RootView;
        expect(root.address.raw).toBe(net.root.toRawString());
        expect(root.governance.raw).toBe(net.governance.toRawString());
        stop.abort();
        expect(await done).toBe(0);
        await expect(fetch(`${url}/api/root`)).rejects.toThrow();
    });
});
