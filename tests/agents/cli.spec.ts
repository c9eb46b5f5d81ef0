// The `cocoon` command: dispatch, help, and the installed bin/cocoon entry as a separate process.
import { spawnSync } from 'child_process';
import { join } from 'path';
import { main } from '../../agents/cli';
import { tdxVectorPath } from '../../fixtures/vectors';

const REPO = join(__dirname, '..', '..');

function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out, err };
}

describe('cocoon CLI', () => {
    it('lists every command on --help and exits 0', async () => {
        const c = capture();
        expect(await main(['--help'], c.io)).toBe(0);
        expect(c.out.join('')).toMatch(/chain serve/);
        expect(c.out.join('')).toMatch(/attest verify/);
    });

    it('refuses an unknown command with exit status 2', async () => {
        const c = capture();
        expect(await main(['chain', 'explode'], c.io)).toBe(2);
        expect(c.err.join('')).toMatch(/unknown command: chain explode/);
    });

    it('refuses bad chain serve flags with exit status 2', async () => {
        const c = capture();
        expect(await main(['chain', 'serve', '--port', 'x'], c.io)).toBe(2);
        expect(c.err.join('')).toMatch(/--port/);
    });

    it('bin/cocoon attest verify accepts the Intel vector at its time and rejects it later', () => {
        const args = [join(REPO, 'bin', 'cocoon'), 'attest', 'verify', tdxVectorPath('tdx_quote'), '--collateral', tdxVectorPath('tdx_quote_collateral.json')];
        const ok = spawnSync(process.execPath, [...args, '--at', '2025-06-19T11:16:03Z'], { encoding: 'utf8' });
        expect(ok.status).toBe(0);
        expect(JSON.parse(ok.stdout)).toMatchObject({ verdict: 'accepted', tcbStatus: 'UpToDate', debug: false });
        const late = spawnSync(process.execPath, [...args, '--at', '2025-08-01T00:00:00Z'], { encoding: 'utf8' });
        expect(late.status).toBe(1);
        expect(JSON.parse(late.stdout)).toMatchObject({ verdict: 'rejected', error: { code: 'COLLATERAL_EXPIRED' } });
    });
});
