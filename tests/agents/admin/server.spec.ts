// The admin endpoint itself (agents/core/admin/server.ts) over a real Unix socket, and `cocoon admin` finding it from
// a config file: only the holder of this run's token, on this uid, can run a command; everything else is refused
// with a typed error and runs nothing.
import { spawnSync } from 'child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { main } from '../../../agents/cli';
import { ADMIN_SOCKET, ADMIN_TOKEN, AdminError, AdminServer, MAX_ADMIN_BODY, uintArg } from '../../../agents/core/admin/server';
import { adminCall, adminRequest } from '../../../agents/core/admin/command';

function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

/** A worker config file whose stateFile lives in `dataDir` (nothing else in it is read by `cocoon admin`). */
function workerConfig(dir: string, dataDir: string): string {
    const path = join(dir, `worker-${dataDir === dir ? 'own' : 'other'}.json`);
    writeFileSync(
        path,
        JSON.stringify({
            chain: {},
            seedFile: 'seed',
            wallet: { secretKeyFile: 'wallet' },
            trust: { simulatedTeeFile: 'tee.json' },
            tee: { provider: 'simulated', stateFile: 'tee.json' },
            worker: { models: [{ name: 'm', coefficient: 1000 }], backendUrl: 'http://127.0.0.1:1', capacity: 1, stateFile: join(dataDir, 'payouts.json') },
        }),
    );
    return path;
}

describe('the admin endpoint', () => {
    let dir: string;
    let server: AdminServer;
    const calls: unknown[] = [];
    const token = () => readFileSync(join(dir, ADMIN_TOKEN), 'utf8').trim();
    const socket = () => join(dir, ADMIN_SOCKET);

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'admin-'));
        server = new AdminServer({
            dir,
            handlers: {
                status: { summary: 'calls so far', run: async () => ({ calls: calls.length, big: 2n ** 100n }) },
                poke: {
                    args: ['value'],
                    summary: 'records a call',
                    run: async (a) => {
                        calls.push(uintArg(a, 'value', 10n));
                        return 'poked';
                    },
                },
                fail: { summary: 'throws', run: async () => Promise.reject(new AdminError('ADMIN_CONFLICT', 'not now')) },
            },
        });
        await server.start();
    });
    afterAll(async () => {
        await server?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    it('writes a 64-hex token to a file of mode 0600 and listens on a socket of mode 0600', () => {
        expect(token()).toMatch(/^[0-9a-f]{64}$/);
        expect(lstatSync(join(dir, ADMIN_TOKEN)).mode & 0o777).toBe(0o600);
        const st = lstatSync(socket());
        expect(st.isSocket()).toBe(true);
        expect(st.mode & 0o777).toBe(0o600);
    });

    it('runs a command for the token holder; bigints come back as decimal strings', async () => {
        expect(await adminRequest(socket(), { path: '/poke', token: token(), body: JSON.stringify({ value: '7' }) })).toEqual({ status: 200, body: { ok: true, result: 'poked' } });
        expect(calls).toEqual([7n]);
        expect(await adminCall(dir, 'status')).toEqual({ calls: 1, big: (2n ** 100n).toString() });
    });

    it('a missing or wrong token is 401 ADMIN_UNAUTHORIZED and runs nothing', async () => {
        const before = calls.length;
        const wrong = token().replace(/^./, (c) => (c === '0' ? '1' : '0'));
        for (const t of [undefined, wrong, 'not-hex', token().toUpperCase(), token() + '0']) {
            const r = await adminRequest(socket(), { path: '/poke', token: t, body: '{"value":"1"}' });
            expect(r).toMatchObject({ status: 401, body: { ok: false, error: { code: 'ADMIN_UNAUTHORIZED' } } });
        }
        const basic = await adminRequest(socket(), { path: '/poke', headers: { authorization: `Basic ${token()}` }, body: '{"value":"1"}' });
        expect(basic.status).toBe(401);
        expect(calls.length).toBe(before);
    });

    it('refuses with typed errors: unknown command 404, GET 405, an oversized body 413, bad JSON or arguments 400, a typed failure 409', async () => {
        const t = token();
        const before = calls.length;
        const cases: [Parameters<typeof adminRequest>[1], number, string][] = [
            [{ path: '/nope', token: t }, 404, 'ADMIN_UNKNOWN_COMMAND'],
            [{ path: '/constructor', token: t }, 404, 'ADMIN_UNKNOWN_COMMAND'],
            [{ path: '/../poke', token: t }, 404, 'ADMIN_UNKNOWN_COMMAND'],
            [{ path: '/poke', token: t, method: 'GET' }, 405, 'ADMIN_METHOD'],
            [{ path: '/poke', token: t, body: JSON.stringify({ value: 'x'.repeat(MAX_ADMIN_BODY) }) }, 413, 'ADMIN_BODY_TOO_LARGE'],
            [{ path: '/poke', token: t, body: '{"value":' }, 400, 'ADMIN_BAD_REQUEST'],
            [{ path: '/poke', token: t, body: '[1]' }, 400, 'ADMIN_BAD_REQUEST'],
            [{ path: '/poke', token: t, body: '{"other":1}' }, 400, 'ADMIN_BAD_REQUEST'],
            [{ path: '/poke', token: t, body: '{"value":"11"}' }, 400, 'ADMIN_BAD_REQUEST'],
            [{ path: '/poke', token: t, body: '{"value":-1}' }, 400, 'ADMIN_BAD_REQUEST'],
            [{ path: '/fail', token: t }, 409, 'ADMIN_CONFLICT'],
        ];
        for (const [req, status, code] of cases) {
            const r = await adminRequest(socket(), req);
            expect([req.path, r.status, r.body.ok === false && r.body.error.code]).toEqual([req.path, status, code]);
        }
        expect(calls.length).toBe(before);
    });

    it('a stranger on another uid cannot connect to the socket (mode 0600), even through an open directory', () => {
        if (process.getuid?.() !== 0) return; // needs root to run a process as another uid; the mode check above still holds
        chmodSync(dir, 0o755);
        const probe = `require('net').connect(${JSON.stringify(socket())}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
        const r = spawnSync(process.execPath, ['-e', probe], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20_000 });
        expect(r.stdout.trim()).toBe('EACCES');
        chmodSync(dir, 0o700);
    });

    it('a second agent on the same directory is refused (ADMIN_IN_USE); the running one keeps its socket and token', async () => {
        const before = token();
        const other = new AdminServer({ dir, handlers: {} });
        await expect(other.start()).rejects.toMatchObject({ code: 'ADMIN_IN_USE' });
        expect(token()).toBe(before);
        expect((await adminRequest(socket(), { path: '/status', token: before })).status).toBe(200);
    });

    it('a new run gets a new token: the old one is refused; a stale socket is replaced, a symlink planted at the token path is not followed', async () => {
        const old = token();
        await server.stop();
        expect(existsSync(socket())).toBe(false);
        expect(existsSync(join(dir, ADMIN_TOKEN))).toBe(false);
        // What a crashed run leaves: a socket file nobody listens on. And an attacker's symlink where the token goes.
        spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket())}, () => process.kill(process.pid, 'SIGKILL'))`], { timeout: 20_000 });
        expect(lstatSync(socket()).isSocket()).toBe(true);
        const target = join(dir, 'victim');
        writeFileSync(target, 'precious');
        symlinkSync(target, join(dir, ADMIN_TOKEN));
        await server.start();
        expect(readFileSync(target, 'utf8')).toBe('precious');
        expect(lstatSync(join(dir, ADMIN_TOKEN)).isSymbolicLink()).toBe(false);
        expect(token()).not.toBe(old);
        expect((await adminRequest(socket(), { path: '/status', token: old })).status).toBe(401);
        expect((await adminRequest(socket(), { path: '/status', token: token() })).status).toBe(200);
    });

    it('creates a missing data directory 0700 (a worker writes its state file only at its first payout)', async () => {
        const d = join(dir, 'not-yet');
        const s = new AdminServer({ dir: d, handlers: {} });
        await s.start();
        expect(lstatSync(d).mode & 0o777).toBe(0o700);
        await s.stop();
    });

    it('refuses to start where a regular file sits at the socket path, or in a world-writable directory (ADMIN_PATH_UNSAFE)', async () => {
        const d = mkdtempSync(join(tmpdir(), 'admin-'));
        writeFileSync(join(d, ADMIN_SOCKET), 'not a socket');
        await expect(new AdminServer({ dir: d, handlers: {} }).start()).rejects.toMatchObject({ code: 'ADMIN_PATH_UNSAFE' });
        expect(existsSync(join(d, ADMIN_TOKEN))).toBe(false);
        rmSync(join(d, ADMIN_SOCKET));
        chmodSync(d, 0o777);
        await expect(new AdminServer({ dir: d, handlers: {} }).start()).rejects.toMatchObject({ code: 'ADMIN_PATH_UNSAFE' });
        expect(existsSync(join(d, ADMIN_TOKEN))).toBe(false);
        rmSync(d, { recursive: true, force: true });
    });

    describe('cocoon admin', () => {
        it('answers --help with its usage and every command, status 0; the top-level help lists it', async () => {
            const c = capture();
            expect(await main(['admin', '--help'], c.io)).toBe(0);
            for (const cmd of ['drain', 'disable', 'enable', 'coefficient', 'stop-accepting', 'resume', 'settle-now', 'commit-now', 'reload', 'status']) expect(c.out()).toContain(cmd);
            const top = capture();
            expect(await main(['--help'], top.io)).toBe(0);
            expect(top.out()).toContain('  admin');
        });

        it('finds the socket and token from the config file and prints the result as JSON', async () => {
            const c = capture();
            expect(await main(['admin', 'status', '--config', workerConfig(dir, dir)], c.io)).toBe(0);
            expect(JSON.parse(c.out())).toMatchObject({ calls: expect.any(Number) });
        });

        it('names what is wrong: no agent running (ADMIN_UNREACHABLE), a typed refusal, a bad command line', async () => {
            const empty = mkdtempSync(join(tmpdir(), 'admin-'));
            const cases: [string[], number, RegExp][] = [
                [['admin', 'status', '--config', workerConfig(empty, empty)], 1, /^cocoon admin: ADMIN_UNREACHABLE: cannot read/],
                [['admin', 'fail', '--config', workerConfig(empty, dir)], 1, /^cocoon admin: ADMIN_CONFLICT: not now/],
                [['admin', 'nope', '--config', workerConfig(empty, dir)], 1, /ADMIN_UNKNOWN_COMMAND/],
                [['admin', '--config', workerConfig(empty, dir)], 2, /name a command/],
                [['admin', 'status'], 2, /--config <file> is required/],
                [['admin', 'drain', '--config', workerConfig(empty, dir), '--timeout-ms', 'soon'], 2, /--timeout-ms: expected milliseconds/],
                [['admin', 'status', '--config', join(empty, 'missing.json')], 1, /CONFIG_INVALID/],
            ];
            for (const [argv, status, message] of cases) {
                const c = capture();
                expect([argv.slice(0, 2), await main(argv, c.io)]).toEqual([argv.slice(0, 2), status]);
                expect(c.err()).toMatch(message);
            }
            rmSync(empty, { recursive: true, force: true });
        });
    });
});
