// Live admin of running agents (spec/operations.md, "Live admin"): a real proxy and two real workers on reference
// backends, each with its admin socket, a real client, the devnet chain. Commands go through `cocoon admin --config`
// (or the socket itself for what the CLI would never send), and every effect is observed where it matters: the
// client's requests, the proxy's routing, the chain.
import { Address, toNano } from '@ton/core';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { main } from '../../../agents/cli';
import { AdminServer } from '../../../agents/core/admin/server';
import { adminCall, adminRequest } from '../../../agents/core/admin/command';
import { KeyIdentity } from '../../../agents/core/transport';
import { cost } from '../../../agents/core/pricing';
import { ProxyAgent } from '../../../agents/proxy/agent';
import { proxyAdminHandlers } from '../../../agents/proxy/admin';
import { WorkerAgent } from '../../../agents/worker/runner';
import { workerAdminHandlers } from '../../../agents/worker/admin';
import { clientAdminHandlers } from '../../../agents/client/admin';
import { CocoonClient } from '../../../agents/client/runner';
import type { ClientEvent } from '../../../agents/client/running-request';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { RootWrapper } from '../../../wrappers/Root';
import { AgentNetwork, deployProxyForAgent, NETWORK_MODEL, seed, startAgentNetwork, workerAgentOptions } from '../../../fixtures/agent-network';
import { TestClient } from '../proxy/fake-client';

const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
    }
};

const ask = (max_tokens: number, stream = false) => ({ endpoint: 'chat' as const, body: { model: TEST_MODEL.id, messages: [{ role: 'user', content: 'hello there' }], max_tokens, stream } });

/** Runs a request to its end: the end event and whether any chunk came before it. */
async function run(gen: AsyncGenerator<ClientEvent>, onChunk?: () => void): Promise<Extract<ClientEvent, { type: 'end' }>> {
    let end: Extract<ClientEvent, { type: 'end' }> | undefined;
    for await (const e of gen) {
        if (e.type === 'chunk') onChunk?.();
        if (e.type === 'end') end = e;
    }
    return end!;
}

function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

/** `cocoon admin <argv> --config <config>`: status and parsed JSON output (or stderr). */
async function admin(config: string, ...argv: string[]): Promise<{ status: number; json: any; err: string }> {
    const c = capture();
    const status = await main(['admin', ...argv, '--config', config], c.io);
    return { status, json: status === 0 ? JSON.parse(c.out()) : undefined, err: c.err() };
}

/** A config file naming `dataDir` as the agent's data directory (what `cocoon admin` reads of it). */
function configFile(dir: string, role: 'proxy' | 'worker', dataDir: string, proxy?: Address): string {
    const common = { chain: {}, seedFile: 'seed', wallet: { secretKeyFile: 'wallet' }, trust: { simulatedTeeFile: 'tee.json' }, tee: { provider: 'simulated', stateFile: 'tee.json' } };
    const path = join(dir, `${role}-${dataDir.split('/').pop()}.json`);
    const body =
        role === 'proxy'
            ? { ...common, proxy: { address: proxy!.toString(), ledgerFile: join(dataDir, 'ledger.sqlite') } }
            : { ...common, worker: { models: [{ name: TEST_MODEL.id, coefficient: 1000 }], backendUrl: 'http://127.0.0.1:1', capacity: 1, stateFile: join(dataDir, 'payouts.json') } };
    writeFileSync(path, JSON.stringify(body));
    return path;
}

describe('live admin of a running proxy and workers', () => {
    let net: AgentNetwork;
    let dir: string;
    let proxy: ProxyAgent;
    let proxyAddress: Address;
    let clientUrl: string;
    const backends: ReferenceBackend[] = [];
    const workers: WorkerAgent[] = [];
    const admins: AdminServer[] = [];
    let client: CocoonClient;
    const dirs = { proxy: '', a: '', b: '' };
    const cfg = { proxy: '', a: '', b: '' };
    let baseline: bigint;

    const key = (w: WorkerAgent) => w.publicKey.toString('hex');
    /** The proxy's router entry for a worker: its models and coefficients. */
    const routed = (w: WorkerAgent) => {
        const ch = w.channelOf(proxyAddress)!.toRawString();
        return proxy.stats().workers.find((x) => x.channel === ch)?.models.map((m) => [m.name, m.coefficient]) ?? null;
    };

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'admin-live-'));
        for (const k of ['proxy', 'a', 'b'] as const) mkdirSync((dirs[k] = join(dir, k)), { mode: 0o700 });
        net = await startAgentNetwork({ params: { creditWindow: toNano('1') } });
        const deployed = await deployProxyForAgent(net, 'admin-live-proxy');
        proxyAddress = deployed.proxyAddress;
        proxy = new ProxyAgent({
            ...deployed.agentOptions({ chain: net.newChain(), ledgerPath: join(dirs.proxy, 'ledger.sqlite') }),
            redeemThreshold: toNano('1000'),
            payoutThreshold: toNano('1000'),
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            watchIntervalMs: 0,
            rootPollMs: 0, // Root is re-read only when told (reload)
            commitGuardMs: 0,
        });
        ({ clientUrl } = await proxy.start());
        admins.push(new AdminServer({ dir: dirs.proxy, handlers: proxyAdminHandlers(proxy) }));
        for (const k of ['a', 'b'] as const) {
            const backend = new ReferenceBackend({ tokenDelayMs: 25 });
            await backend.start();
            backends.push(backend);
            const { wallet } = await net.fundWallet(`admin-live-${k}`, '20');
            const w = new WorkerAgent({
                ...workerAgentOptions(net, { chain: net.newChain(), wallet, seed: seed(`admin-live-${k}`), backendUrl: backend.url, statePath: join(dirs[k], 'payouts.json'), capacity: 16 }),
                payoutThreshold: toNano('1000'),
                rootPollMs: 60_000,
                reconnect: { baseMs: 50, maxMs: 500 },
            });
            await w.start();
            workers.push(w);
            admins.push(new AdminServer({ dir: dirs[k], handlers: workerAdminHandlers(w) }));
        }
        for (const a of admins) await a.start();
        cfg.proxy = configFile(dir, 'proxy', dirs.proxy, proxyAddress);
        cfg.a = configFile(dir, 'worker', dirs.a);
        cfg.b = configFile(dir, 'worker', dirs.b);
        await until('both workers routable', () => proxy.stats().workers.length === 2);
        const { wallet } = await net.fundWallet('admin-live-client', '20');
        client = new CocoonClient({
            chain: net.newChain(),
            wallet,
            seed: seed('admin-live-client'),
            quotePolicy: net.quotePolicy,
            statePath: join(dir, 'client.json'),
            proxy: proxyAddress,
            deposit: toNano('5'),
            privacy: 'plain',
            maxCoefficient: 1500n,
            rootPollMs: 60_000,
            reconnectMinMs: 50,
            reconnectMaxMs: 200,
        });
        await client.open();
        await client.connect();
        mkdirSync(join(dir, 'client'), { mode: 0o700 });
        const clientAdmin = new AdminServer({ dir: join(dir, 'client'), handlers: clientAdminHandlers(client) });
        await clientAdmin.start();
        admins.push(clientAdmin);
        baseline = (await run(client.request(ask(20, true)))).usage.completion;
    }, 120_000);

    afterAll(async () => {
        await client?.stop();
        for (const a of admins) await a.stop();
        for (const w of workers) await w.stop();
        await proxy?.stop();
        for (const b of backends) await b.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('drain while requests stream: no stream is cut, new requests go to the other worker, then it reports drained; enable brings it back', async () => {
        const [a, b] = workers;
        const streams: Promise<Extract<ClientEvent, { type: 'end' }>>[] = [];
        for (let i = 0; i < 6; i++) streams.push(run(client.request(ask(20, true))));
        await until('worker a to be streaming', () => a.inFlight > 0);
        const drained = admin(cfg.a, 'drain');
        await until('the proxy to route nothing to worker a', () => routed(a)?.length === 0);
        const during = await Promise.all(Array.from({ length: 4 }, () => run(client.request(ask(5)))));
        expect(during.map((e) => e.worker)).toEqual(Array(4).fill(key(b)));
        const d = await drained;
        expect(d.status).toBe(0);
        expect(d.json).toMatchObject({ role: 'worker', state: 'draining', drained: true, inFlight: 0, announced: { [proxyAddress.toRawString()]: 'acked' } });
        const ends = await Promise.all(streams);
        expect(ends.filter((e) => e.worker === key(a)).length).toBeGreaterThan(0);
        for (const e of ends) expect(e.usage.completion).toBe(baseline); // every stream ran to its end, none partial
        expect(a.stats().proxies.map((p) => p.state)).toEqual(['ready']); // drained, not disconnected
        const e = await admin(cfg.a, 'enable');
        expect(e.json).toMatchObject({ state: 'serving', announced: { [proxyAddress.toRawString()]: 'acked' } });
        expect(routed(a)).toEqual([[TEST_MODEL.id, 1000n]]);
    });

    it('router-blind: a sealed client whose cached candidates include the drained worker re-seals to the other one, and no request fails', async () => {
        const [a, b] = workers;
        const { wallet } = await net.fundWallet('admin-live-sealed', '20');
        const sealed = new CocoonClient({
            chain: net.newChain(),
            wallet,
            seed: seed('admin-live-sealed'),
            quotePolicy: net.quotePolicy,
            statePath: join(dir, 'sealed.json'),
            proxy: proxyAddress,
            deposit: toNano('2'),
            maxCoefficient: 1500n,
            rootPollMs: 60_000,
            candidateTtlMs: 60_000, // keeps listing the drained worker
        });
        try {
            await sealed.open();
            await sealed.connect();
            await run(sealed.request(ask(5))); // caches both workers as candidates
            expect((await admin(cfg.a, 'drain')).json).toMatchObject({ drained: true });
            const ends = await Promise.all(Array.from({ length: 6 }, () => run(sealed.request(ask(5)))));
            expect(ends.map((e) => e.worker)).toEqual(Array(6).fill(key(b)));
        } finally {
            await sealed.stop();
            expect((await admin(cfg.a, 'enable')).json).toMatchObject({ state: 'serving' });
        }
        expect(routed(a)).toEqual([[TEST_MODEL.id, 1000n]]);
    });

    it('a request that crosses the announcement is refused with WORKER_DRAINING and routed elsewhere; with nowhere to go the client gets that code', async () => {
        // The router is deterministic: the worker it picks next is disabled without telling the proxy yet.
        const next = workers.find((w) => w.channelOf(proxyAddress)!.toRawString() === proxy.router.pick(TEST_MODEL.id, 1500n)!.channel)!;
        const other = workers.find((w) => w !== next)!;
        const failovers = proxy.stats().requests.failovers;
        next.offerBook.disable();
        const e = await run(client.request(ask(5)));
        expect(e.worker).toBe(key(other));
        expect(proxy.stats().requests.failovers).toBe(failovers + 1);
        other.offerBook.disable(TEST_MODEL.id);
        await expect(run(client.request(ask(5)))).rejects.toMatchObject({ wireCode: 'WORKER_DRAINING', code: 'NO_WORKER' });
        next.offerBook.enable();
        other.offerBook.enable(TEST_MODEL.id);
        expect((await run(client.request(ask(5)))).type).toBe('end');
    });

    it('coefficient: the change reaches the proxy and the routed price; a stream in flight keeps its price; above the client max the worker is not used', async () => {
        const [a] = workers;
        expect((await admin(cfg.b, 'disable')).json).toMatchObject({ state: 'disabled' });
        const r1 = await run(client.request(ask(5)));
        expect([r1.worker, r1.receipt.coefficient]).toEqual([key(a), 1000n]);
        let streaming = false;
        const inFlight = run(client.request(ask(20, true)), () => (streaming = true));
        await until('the stream to start', () => streaming);
        const c = await admin(cfg.a, 'coefficient', '--model', TEST_MODEL.id, '--value', '1200');
        expect(c.json).toMatchObject({ model: TEST_MODEL.id, from: '1000', to: '1200', announced: { [proxyAddress.toRawString()]: 'acked' } });
        expect(routed(a)).toEqual([[TEST_MODEL.id, 1200n]]);
        expect((await admin(cfg.a, 'status')).json.proxies).toEqual([expect.objectContaining({ offer: [{ name: TEST_MODEL.id, coefficient: '1200' }] })]);
        const s = await inFlight;
        expect(s.receipt.coefficient).toBe(1000n);
        expect(s.cost).toBe(cost(s.usage, net.model, 1000n));
        const r2 = await run(client.request(ask(5)));
        expect(r2.receipt.coefficient).toBe(1200n);
        expect(r2.cost).toBe(cost(r2.usage, net.model, 1200n));
        expect(r2.usage).toEqual(r1.usage);
        expect(r2.cost * 1000n).toBe(r1.cost * 1200n);
        // 2000 is above this client's maxCoefficient (1500): the proxy does not route its requests there.
        expect((await admin(cfg.a, 'coefficient', '--model', TEST_MODEL.id, '--value', '2000')).status).toBe(0);
        await expect(run(client.request(ask(5)))).rejects.toMatchObject({ wireCode: 'NO_WORKER' });
        // Bad input changes nothing.
        for (const [argv, code] of [
            [['--model', 'no/such-model', '--value', '1'], 'ADMIN_CONFLICT'],
            [['--model', TEST_MODEL.id, '--value', '4294967296'], 'ADMIN_BAD_REQUEST'],
            [['--model', TEST_MODEL.id, '--value', '-5'], 'ADMIN_BAD_REQUEST'],
            [['--model', TEST_MODEL.id], 'ADMIN_BAD_REQUEST'],
        ] as const) {
            const r = await admin(cfg.a, 'coefficient', ...argv);
            expect([argv, r.status, r.err]).toEqual([argv, 1, expect.stringContaining(code)]);
        }
        expect(routed(a)).toEqual([[TEST_MODEL.id, 2000n]]);
        expect((await admin(cfg.a, 'coefficient', '--model', TEST_MODEL.id, '--value', '1000')).status).toBe(0);
        expect((await admin(cfg.b, 'enable')).json).toMatchObject({ state: 'serving' });
        expect((await run(client.request(ask(5)))).receipt.coefficient).toBe(1000n);
    });

    it('a wrong or missing token is 401 and changes nothing, on the worker and on the proxy', async () => {
        const [a] = workers;
        for (const [d, cmd] of [
            [dirs.a, 'drain'],
            [dirs.a, 'coefficient'],
            [dirs.proxy, 'stop-accepting'],
            [dirs.proxy, 'settle-now'],
        ]) {
            for (const token of [undefined, '0'.repeat(64)]) {
                const r = await adminRequest(join(d, 'admin.sock'), { path: `/${cmd}`, token, body: JSON.stringify(cmd === 'coefficient' ? { model: TEST_MODEL.id, value: '9' } : {}) });
                expect([cmd, r.status, r.body.ok === false && r.body.error.code]).toEqual([cmd, 401, 'ADMIN_UNAUTHORIZED']);
            }
        }
        expect(a.offerBook.snapshot()).toMatchObject({ state: 'serving', models: [{ name: TEST_MODEL.id, coefficient: 1000n, enabled: true }] });
        expect(routed(a)).toEqual([[TEST_MODEL.id, 1000n]]);
        expect(proxy.accepting).toBe(true);
        expect((await run(client.request(ask(5)))).type).toBe('end');
    });

    it('stop-accepting refuses new requests and client sessions (PROXY_NOT_ACCEPTING) while a stream in flight finishes; resume serves again', async () => {
        let streaming = false;
        const inFlight = run(client.request(ask(20, true)), () => (streaming = true));
        await until('the stream to start', () => streaming);
        expect((await admin(cfg.proxy, 'stop-accepting')).json).toMatchObject({ role: 'proxy', accepting: false });
        await expect(run(client.request(ask(5)))).rejects.toMatchObject({ wireCode: 'PROXY_NOT_ACCEPTING' });
        // A new session: refused at hello, before any chain lookup (the channel need not even exist).
        const stranger = new TestClient(net, 'admin-live-stranger');
        stranger.identity = await KeyIdentity.create({ seed: seed('admin-live-stranger') });
        stranger.channel = new Address(0, Buffer.alloc(32, 7));
        const log = await stranger.connect(clientUrl);
        expect(await log.next((f) => f.type === 'error')).toMatchObject({ code: 'PROXY_NOT_ACCEPTING', fatal: true });
        const s = await inFlight;
        expect(s.usage.completion).toBe(baseline);
        expect((await admin(cfg.proxy, 'resume')).json).toMatchObject({ accepting: true });
        expect((await run(client.request(ask(5)))).type).toBe('end');
    });

    it('settle-now redeems the vouchers and signs payouts, commit-now commits the ledger: real transactions on the devnet', async () => {
        await client.vouchersSettled();
        const cumulative = (await client.balances()).cumulative;
        await until('the proxy to hold the latest voucher', async () => (await client.balances()).proxyStatus?.voucher === cumulative);
        const before = (await client.balances()).onChain!.redeemed;
        expect(before).toBeLessThan(cumulative);
        const s = await admin(cfg.proxy, 'settle-now');
        expect(s.status).toBe(0);
        expect(s.json.redeemed.length).toBeGreaterThan(0);
        expect(s.json.payouts.length).toBeGreaterThan(0);
        expect(s.json.errors).toEqual([]);
        await until('the redeem on chain', async () => (await client.balances()).onChain!.redeemed === cumulative);
        const chain = net.newChain();
        const seqnoBefore = (await chain.getProxyState(proxyAddress))!.commitSeqno;
        const c = await admin(cfg.proxy, 'commit-now');
        expect(c.status).toBe(0);
        expect(BigInt(c.json.seqno)).toBeGreaterThan(seqnoBefore);
        await until('the commit on chain', async () => (await chain.getProxyState(proxyAddress))!.commitSeqno === BigInt(c.json.seqno));
    });

    it('reload re-reads Root now: a model registered since is known at once, without a Root poll', async () => {
        const before = await admin(cfg.proxy, 'reload');
        expect(before.json.models).toEqual([TEST_MODEL.id]);
        const second = 'cocoon-test/admin-second';
        await net.govern(RootWrapper.registerModelBody({ ...NETWORK_MODEL, name: second }));
        const askSecond = { endpoint: 'chat' as const, body: { model: second, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 } };
        // The proxy's routing has not seen the model yet (no Root poll)...
        await expect(run(client.request(askSecond))).rejects.toMatchObject({ wireCode: 'MODEL_NOT_REGISTERED' });
        const after = await admin(cfg.proxy, 'reload');
        expect(after.json.version).toBeGreaterThan(before.json.version);
        expect(after.json.models).toEqual(expect.arrayContaining([TEST_MODEL.id, second]));
        // ...and knows it right after reload: registered, but no worker serves it.
        await expect(run(client.request(askSecond))).rejects.toMatchObject({ wireCode: 'NO_WORKER' });
    });

    it('status answers on each agent', async () => {
        expect((await admin(cfg.proxy, 'status')).json).toMatchObject({ role: 'proxy', status: 'serving', accepting: true });
        expect((await admin(cfg.b, 'status')).json).toMatchObject({ role: 'worker', state: 'serving', inFlight: 0, proxies: [{ proxy: proxyAddress.toRawString(), state: 'ready' }] });
        expect((await admin(cfg.proxy, 'drain')).err).toMatch(/ADMIN_UNKNOWN_COMMAND/);
        const clientCfg = join(dir, 'client-config.json');
        const common = { chain: {}, seedFile: 'seed', wallet: { secretKeyFile: 'wallet' }, trust: { simulatedTeeFile: 'tee.json' } };
        writeFileSync(clientCfg, JSON.stringify({ ...common, client: { stateFile: join(dir, 'client', 'state.json') } }));
        const c = await admin(clientCfg, 'status');
        expect(c.json).toMatchObject({ role: 'client', cumulative: expect.stringMatching(/^\d+$/), onChain: { state: expect.any(String) } });
        expect(Address.parse(c.json.proxy).equals(proxyAddress)).toBe(true);
        expect((await admin(clientCfg, 'stop-accepting')).err).toMatch(/ADMIN_UNKNOWN_COMMAND/);
    });
});
