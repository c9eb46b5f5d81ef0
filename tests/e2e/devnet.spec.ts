// `npm start` as a newcomer runs it: `cocoon devnet` in a child process (the real bin, real signals), first on an
// empty directory (deploys everything, answers the demo request, serves until SIGINT), then again on the same
// directory (resumes: no deployment, the same contracts, the ledger and vouchers carried over).
import { ChildProcess, spawn } from 'child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import OpenAI from 'openai';
import { Address } from '@ton/core';
import { TEST_MODEL } from '../../agents/backend/test-model';
import { main } from '../../agents/cli';

jest.setTimeout(180_000);

const REPO = join(__dirname, '..', '..');

interface Run {
    child: ChildProcess;
    out: () => string;
    err: () => string;
    exited: Promise<number | null>;
}

function startDevnet(dir: string): Run {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'cocoon'), 'devnet', '--dir', dir, '--port', '0', '--chain-port', '0'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, out: () => out, err: () => err, exited };
}

async function waitFor(run: Run, pattern: RegExp, timeoutMs = 150_000): Promise<RegExpMatchArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const m = run.out().match(pattern);
        if (m) return m;
        if (run.child.exitCode !== null || Date.now() > end) throw new Error(`no ${pattern} in output (exit ${run.child.exitCode}):\n${run.out()}\n${run.err()}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** `cocoon …` in-process; its --json output. */
async function cocoonJson(...argv: string[]) {
    let out = '';
    let err = '';
    const status = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
    if (status !== 0) throw new Error(`cocoon ${argv.join(' ')} exited ${status}: ${err}`);
    return JSON.parse(out);
}

describe('cocoon devnet (npm start)', () => {
    let dir: string;
    const running: Run[] = [];
    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-devnet-'));
    });
    afterAll(async () => {
        for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
    });

    it('starts a network, answers one streaming request with a receipt and balances, and stops on SIGINT', async () => {
        const run = startDevnet(dir);
        running.push(run);
        const [, endpoint] = await waitFor(run, /OpenAI-compatible endpoint: (http:\/\/127\.0\.0\.1:\d+\/v1)/);
        await waitFor(run, /Press Ctrl-C/);
        const out = run.out();
        expect(out).toMatch(/creating a new devnet/);
        expect(out).toMatch(/< Hello from the cocoon devnet this is a deterministic reply/);
        expect(out).toMatch(/receipt: request [0-9a-f]{32}, worker key [0-9a-f]{16}…, coefficient 1000, cost (\d+) nanoTON/);
        const cost = BigInt(out.match(/usage: \d+ prompt \+ \d+ completion tokens, cost (\d+) nanoTON/)![1]);
        expect(cost).toBeGreaterThan(0n);
        expect(out).toMatch(/balances after: {2}channel [\d.]+ TON deposited, 0\.005 redeemed by the proxy, vouchers signed 0\.005 TON/);
        // Peers' collateral came from the local PCCS through the production path (fetched, verified, cached on disk).
        expect(out).toMatch(/local PCCS \(simulated platform, Intel vectors\) at http:\/\/127\.0\.0\.1:\d+/);
        expect(readdirSync(join(dir, 'collateral'))).toEqual(['00C06F000000-platform.json']);
        // The demo model requires GPU evidence: the worker's simulated GPU (gpu.json) answered for its key, and the
        // proxy and the client, trusting that simulated PKI, verified it before the request above was served.
        expect(JSON.parse(readFileSync(join(dir, 'worker.json'), 'utf8')).gpu).toEqual({ evidence: 'simulated', stateFile: 'gpu.json' });
        expect(JSON.parse(readFileSync(join(dir, 'client.json'), 'utf8')).trust.gpu).toEqual({ simulatedGpuFile: 'gpu.json' });
        expect(existsSync(join(dir, 'gpu.json'))).toBe(true);

        // It prints the explorer's URL beside the endpoint, on the port network.json keeps, reading this network's Root.
        const [, explorer, explorerPort] = await waitFor(run, /\nExplorer: (http:\/\/127\.0\.0\.1:(\d+))\n/);
        const network = JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8'));
        expect(network.ports.explorer).toBe(Number(explorerPort));
        const rootView = (await (await fetch(`${explorer}/api/root`)).json()) as { address: { raw: string } };
        expect(rootView.address.raw).toBe(Address.parse(network.root).toRawString());

        // The endpoint serves any OpenAI client while it runs.
        const openai = new OpenAI({ baseURL: endpoint, apiKey: 'unused', maxRetries: 0 });
        expect((await openai.models.list()).data.map((m) => m.id)).toEqual([TEST_MODEL.id]);
        const r = await openai.chat.completions.create({ model: TEST_MODEL.id, messages: [{ role: 'user', content: 'hi there' }], max_tokens: 4 });
        expect(r.choices[0].message.content).toBe('hi there this is');

        // npm start says where each agent's metrics are, and each answers a scrape that counted the requests.
        for (const role of ['proxy', 'worker', 'client']) {
            const url = out.match(new RegExp(`${role} metrics (http://127\\.0\\.0\\.1:\\d+/metrics)`))?.[1];
            expect([role, url]).toEqual([role, expect.any(String)]);
            const text = await (await fetch(url!)).text();
            expect(text.split('\n')).toContain(`cocoon_requests_total{model="${TEST_MODEL.id}",outcome="served",code="none",role="${role}"} 2`);
        }

        // The operator commands run over the devnet's own config files: the proxy's names its owner's wallet.
        const proxyStatus = await cocoonJson('proxy', 'status', '--config', join(dir, 'proxy.json'), '--json');
        expect(proxyStatus).toMatchObject({ state: 'active', walletIsOwner: true, workerChannels: 1 });
        const workerStatus = await cocoonJson('worker', 'status', '--config', join(dir, 'worker.json'), '--json');
        expect(workerStatus.channels).toEqual([expect.objectContaining({ proxy: proxyStatus.address, state: 'active' })]);

        // Its agents answer `cocoon admin` on their sockets, found from the config files it wrote (spec/operations.md).
        for (const [agent, role] of [['proxy', 'proxy'], ['worker', 'worker'], ['client', 'client']]) {
            let json = '';
            expect(await main(['admin', 'status', '--config', join(dir, `${agent}.json`)], { stdout: (t) => void (json += t), stderr: () => undefined })).toBe(0);
            expect(JSON.parse(json)).toMatchObject({ role });
        }

        run.child.kill('SIGINT');
        expect(await run.exited).toBe(0);
        for (const agent of ['proxy', 'worker', 'client']) expect([agent, existsSync(join(dir, agent, 'admin.sock')), existsSync(join(dir, agent, 'admin.token'))]).toEqual([agent, false, false]);
    });

    it('a second start resumes the saved network: same contracts, vouchers carried over, no deployment', async () => {
        const network = JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8'));
        // As a network.json written before the explorer existed: no explorer port (it gets a free one, saved).
        delete network.ports.explorer;
        writeFileSync(join(dir, 'network.json'), JSON.stringify(network));
        const run = startDevnet(dir);
        running.push(run);
        await waitFor(run, /Press Ctrl-C/);
        const out = run.out();
        expect(out).toMatch(/resuming the devnet/);
        expect(out).not.toMatch(/deploying/);
        expect(out).toContain(`• proxy ${network.proxy}`);
        // Before: the first run's demo and the extra request are signed; after: one more demo request.
        const before = out.match(/balances before: channel [\d.]+ TON deposited, [\d.]+ redeemed by the proxy, vouchers signed ([\d.]+) TON/)![1];
        const after = out.match(/balances after: {2}channel [\d.]+ TON deposited, ([\d.]+) redeemed by the proxy, vouchers signed ([\d.]+) TON/)!;
        expect(Number(before)).toBeGreaterThan(0.005);
        expect(Number(after[2])).toBeCloseTo(Number(before) + 0.005, 9);
        expect(after[1]).toBe(after[2]); // everything signed is redeemed on chain
        const explorerPort = Number(out.match(/\nExplorer: http:\/\/127\.0\.0\.1:(\d+)\n/)![1]);
        expect(JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8')).ports).toEqual({ ...network.ports, explorer: explorerPort });
        run.child.kill('SIGINT');
        expect(await run.exited).toBe(0);
    });
});
