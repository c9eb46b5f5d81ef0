// Observability on every agent (spec/operations.md, "Observability"): a real proxy, worker and SDK client on the
// devnet, each with its ops server. Every /metrics is scraped over HTTP and parsed with a Prometheus text-format
// parser; after real requests the counters and histograms moved by exactly what the requests did; /readyz turns
// 503 → 200 as the agents connect; the endpoints refuse other paths and methods and bind loopback by default; the
// Grafana dashboard plots only metrics the agents export.
import { Address, toNano } from '@ton/core';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { AgentNetwork, deployProxyForAgent, seed, startAgentNetwork, workerAgentOptions } from '../../../fixtures/agent-network';
import { ProxyAgent } from '../../../agents/proxy/agent';
import { WorkerAgent } from '../../../agents/worker/runner';
import { CocoonClient } from '../../../agents/client/runner';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import type { ClientEvent } from '../../../agents/client/running-request';
import { ask, until } from '../../helpers/money-stack';
import { connectRaTls, ed25519KeyPairFromSeed, RaTlsIdentity } from '../../../agents/core/transport';
import { SimulatedTee } from '../../../agents/core/tee/simulated';

interface Sample {
    value?: string;
    labels?: Record<string, string>;
}
interface Family {
    name: string;
    help: string;
    type: string;
    metrics: Sample[];
}

/**
 * GET base/metrics, checked for its content type and parsed: the families by name. parse-prometheus-text-format
 * 1.1.1 keeps a histogram's labels only for label-less histograms, so histograms are parsed as their samples:
 * `<name>_bucket` (with `le`), `<name>_sum` and `<name>_count`, each a family of its own (merged across series).
 */
async function scrape(base: string): Promise<Map<string, Family>> {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = (await res.text()).replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
    const out = new Map<string, Family>();
    for (const f of parsePrometheusTextFormat(text) as Family[]) {
        const seen = out.get(f.name);
        if (seen) seen.metrics.push(...f.metrics);
        else out.set(f.name, f);
    }
    return out;
}

/** The sum over the samples of `name` whose labels include `labels`. */
function total(m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
    const f = m.get(name);
    if (!f) return 0;
    return f.metrics
        .filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))
        .reduce((a, s) => a + Number(s.value ?? 0), 0);
}

const labelValues = (m: Map<string, Family>, name: string, label: string) => new Set(m.get(name)?.metrics.map((s) => s.labels?.[label]) ?? []);

async function collect(it: AsyncGenerator<ClientEvent>): Promise<ClientEvent[]> {
    const out: ClientEvent[] = [];
    for await (const ev of it) out.push(ev);
    return out;
}

describe('observability: /metrics, /healthz, /readyz, /stats on every agent', () => {
    let net: AgentNetwork;
    let dir: string;
    let proxy: ProxyAgent;
    let worker: WorkerAgent;
    let client: CocoonClient;
    let proxyAddress: Address;
    let workerUrl: string;
    const backend = new ReferenceBackend({ tokenDelayMs: 0 });
    let urls: { proxy: string; worker: string; client: string };
    const readyz = async (base: string) => {
        const r = await fetch(`${base}/readyz`);
        return { status: r.status, body: (await r.json()) as { ready: boolean; reasons: string[] } };
    };

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-observability-'));
        net = await startAgentNetwork();
        await backend.start();
        const deployed = await deployProxyForAgent(net, 'obs-proxy');
        proxyAddress = deployed.proxyAddress;
        proxy = new ProxyAgent({
            ...deployed.agentOptions({ chain: net.newChain(), ledgerPath: join(dir, 'ledger.sqlite') }),
            redeemThreshold: toNano('1000'),
            payoutThreshold: toNano('1000'),
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            watchIntervalMs: 0,
            rootPollMs: 0,
            commitGuardMs: 0,
        });
        const w = await net.fundWallet('obs-worker', '20');
        worker = new WorkerAgent({
            ...workerAgentOptions(net, { chain: net.newChain(), wallet: w.wallet, seed: seed('obs-worker'), backendUrl: backend.url, statePath: join(dir, 'worker.json'), capacity: 8 }),
            payoutThreshold: toNano('1000'),
            rootPollMs: 60_000,
            reconnect: { baseMs: 50, maxMs: 300 },
            metricsPort: 0,
        });
    }, 120_000);

    afterAll(async () => {
        await client?.stop();
        await worker?.stop();
        await proxy?.stop();
        await backend.stop();
        await net?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    it('/readyz turns 503 → 200 as the worker, then the proxy, connect; the client is ready once connected and funded', async () => {
        // The worker starts while its proxy is not listening: live, not ready.
        await worker.start();
        urls = { proxy: '', worker: worker.opsUrl!, client: '' };
        expect((await fetch(`${urls.worker}/healthz`)).status).toBe(200);
        let r = await readyz(urls.worker);
        expect(r.status).toBe(503);
        expect(r.body.reasons).toContain('no_proxy_ready');
        const firstScrape = await scrape(urls.worker);
        expect(total(firstScrape, 'cocoon_ready')).toBe(0);

        const started = await proxy.start();
        urls.proxy = started.statsUrl;
        workerUrl = started.workerUrl;
        expect(started.metricsUrl).toBe(`${started.statsUrl}/metrics`);
        await until('the worker to connect', async () => (await readyz(urls.worker)).status === 200);
        await until('the proxy to route to the worker', async () => (await readyz(urls.proxy)).status === 200);
        expect(total(await scrape(urls.proxy), 'cocoon_ready')).toBe(1);
        expect(total(await scrape(urls.worker), 'cocoon_ready')).toBe(1);

        const { wallet } = await net.fundWallet('obs-client', '10');
        client = new CocoonClient({
            chain: net.newChain(),
            wallet,
            seed: seed('obs-client'),
            quotePolicy: net.quotePolicy,
            statePath: join(dir, 'client.json'),
            proxy: proxyAddress,
            deposit: toNano('2'),
            privacy: 'plain',
            rootPollMs: 60_000,
            metricsPort: 0,
        });
        await client.open();
        urls.client = client.opsUrl!;
        r = await readyz(urls.client);
        expect(r).toEqual({ status: 200, body: { ready: true, reasons: [] } });
    }, 120_000);

    it('after real requests, every agent counted them: requests by model and outcome, tokens, latency per hop, in flight, connections', async () => {
        await until('the client to see the worker', async () => (await client.listModels()).some((m) => m.id === TEST_MODEL.id && m.workers >= 1));
        const before = { proxy: await scrape(urls.proxy), worker: await scrape(urls.worker), client: await scrape(urls.client) };
        const ends: Extract<ClientEvent, { type: 'end' }>[] = [];
        for (const stream of [false, true, false]) {
            const evs = await collect(client.request(ask(6, stream, `count me ${stream}`)));
            ends.push(evs.find((e): e is Extract<ClientEvent, { type: 'end' }> => e.type === 'end')!);
        }
        await client.vouchersSettled();
        const after = { proxy: await scrape(urls.proxy), worker: await scrape(urls.worker), client: await scrape(urls.client) };
        const served = { model: TEST_MODEL.id, outcome: 'served', code: 'none' };
        const delta = (agent: keyof typeof after, name: string, labels: Record<string, string> = {}) => total(after[agent], name, labels) - total(before[agent], name, labels);
        const hops = { client: 'proxy', proxy: 'worker', worker: 'backend' } as const;
        for (const agent of ['client', 'proxy', 'worker'] as const) {
            expect([agent, delta(agent, 'cocoon_requests_total', served)]).toEqual([agent, 3]);
            expect([agent, delta(agent, 'cocoon_requests_total', { outcome: 'failed' })]).toEqual([agent, 0]);
            for (const kind of ['prompt', 'completion'] as const) {
                const want = ends.reduce((a, e) => a + Number(e.usage[kind]), 0);
                expect([agent, kind, delta(agent, 'cocoon_tokens_total', { model: TEST_MODEL.id, kind })]).toEqual([agent, kind, want]);
            }
            expect([agent, delta(agent, 'cocoon_request_duration_seconds_count', { model: TEST_MODEL.id, hop: hops[agent] })]).toEqual([agent, 3]);
            expect([agent, delta(agent, 'cocoon_request_duration_seconds_bucket', { model: TEST_MODEL.id, hop: hops[agent], le: '+Inf' })]).toEqual([agent, 3]);
            expect([agent, delta(agent, 'cocoon_request_first_token_seconds_count', { model: TEST_MODEL.id, hop: hops[agent] })]).toEqual([agent, 3]);
            expect(delta(agent, 'cocoon_request_duration_seconds_sum', { model: TEST_MODEL.id })).toBeGreaterThan(0);
            expect([agent, total(after[agent], 'cocoon_requests_in_flight')]).toEqual([agent, 0]);
            // Every agent reads the chain through its own TonChain: reads were counted and timed alike.
            expect(total(after[agent], 'cocoon_chain_requests_total')).toBeGreaterThan(0);
            expect(total(after[agent], 'cocoon_chain_request_seconds_count')).toBe(total(after[agent], 'cocoon_chain_requests_total'));
            for (const s of after[agent].get('cocoon_requests_total')!.metrics) expect(s.labels?.role).toBe(agent);
        }
        expect(total(after.proxy, 'cocoon_connections', { peer: 'worker', state: 'ready' })).toBe(1);
        expect(total(after.proxy, 'cocoon_connections', { peer: 'client', state: 'ready' })).toBe(1);
        expect(total(after.worker, 'cocoon_connections', { peer: 'proxy', state: 'ready' })).toBe(1);
        expect(total(after.client, 'cocoon_connections', { peer: 'proxy', state: 'ready' })).toBe(1);
        // Attestations: the proxy verified the worker, the worker the proxy, the client the proxy, all passed.
        expect(total(after.proxy, 'cocoon_attestation_verifications_total', { peer: 'worker', result: 'ok' })).toBeGreaterThanOrEqual(1);
        expect(total(after.worker, 'cocoon_attestation_verifications_total', { peer: 'proxy', result: 'ok' })).toBeGreaterThanOrEqual(1);
        expect(total(after.client, 'cocoon_attestation_verifications_total', { peer: 'proxy', result: 'ok' })).toBeGreaterThanOrEqual(1);
        expect(total(after.proxy, 'cocoon_attestation_verifications_total', { result: 'failed' })).toBe(0);
    }, 60_000);

    it('a request the backend refuses is counted once as failed by every agent, with the code each saw', async () => {
        const before = { proxy: await scrape(urls.proxy), worker: await scrape(urls.worker), client: await scrape(urls.client) };
        backend.faults.failWith = { status: 400, code: 'context_length_exceeded' };
        let thrown: { code?: string } | undefined;
        try {
            await collect(client.request(ask(4)));
        } catch (e) {
            thrown = e as { code?: string };
        } finally {
            backend.faults.failWith = undefined;
        }
        expect(thrown?.code).toEqual(expect.any(String));
        const after = { proxy: await scrape(urls.proxy), worker: await scrape(urls.worker), client: await scrape(urls.client) };
        const failed = (agent: keyof typeof after, code?: string) => {
            const labels = { model: TEST_MODEL.id, outcome: 'failed', ...(code ? { code } : {}) };
            return total(after[agent], 'cocoon_requests_total', labels) - total(before[agent], 'cocoon_requests_total', labels);
        };
        expect(failed('worker', 'BACKEND_ERROR')).toBe(1);
        expect(failed('proxy', 'BACKEND_ERROR')).toBe(1);
        expect(failed('client', thrown!.code)).toBe(1);
        for (const agent of ['client', 'proxy', 'worker'] as const) {
            expect([agent, failed(agent)]).toEqual([agent, 1]);
            // A failed request has no duration sample and no tokens.
            expect(total(after[agent], 'cocoon_request_duration_seconds_count')).toBe(total(before[agent], 'cocoon_request_duration_seconds_count'));
            expect(total(after[agent], 'cocoon_tokens_total')).toBe(total(before[agent], 'cocoon_tokens_total'));
        }
    }, 60_000);

    it('a worker on an untrusted platform is refused at the handshake and counted as a failed attestation with its code', async () => {
        const before = await scrape(urls.proxy);
        const identity = await RaTlsIdentity.create({ provider: await SimulatedTee.create(), keys: await ed25519KeyPairFromSeed(seed('obs-rogue')) });
        identity.start();
        try {
            await expect(connectRaTls(workerUrl, identity, { quote: net.quotePolicy, isImageAllowed: () => true }, { timeoutMs: 5000 })).rejects.toBeDefined();
        } finally {
            identity.stop();
        }
        let after = before;
        const failed = (m: Map<string, Family>) => total(m, 'cocoon_attestation_verifications_total', { peer: 'worker', result: 'failed' });
        await until('the refusal to be counted', async () => failed((after = await scrape(urls.proxy))) === failed(before) + 1);
        const codes = after.get('cocoon_attestation_verifications_total')!.metrics.filter((x) => x.labels?.result === 'failed').map((x) => x.labels?.code);
        expect(codes).toHaveLength(1);
        expect(codes[0]).toMatch(/^[A-Z][A-Z0-9_]+$/);
        expect(codes[0]).not.toBe('none');
        expect(total(after, 'cocoon_connections', { peer: 'worker', state: 'ready' })).toBe(1);
    }, 60_000);

    it('ledger totals and credit exposure follow the ledger; a redeem is counted as a settlement transaction with its fee', async () => {
        const cost = (await client.balances()).cumulative;
        await until('the proxy to hold the voucher', () => proxy.stats().ledger.vouchers === cost);
        let m = await scrape(urls.proxy);
        const l = proxy.stats().ledger;
        expect(total(m, 'cocoon_ledger_nanoton', { kind: 'delivered' })).toBe(Number(l.delivered));
        expect(total(m, 'cocoon_ledger_nanoton', { kind: 'vouchers' })).toBe(Number(cost));
        expect(total(m, 'cocoon_ledger_nanoton', { kind: 'earned' })).toBe(Number(l.earned));
        expect(total(m, 'cocoon_credit_exposure_nanoton', { kind: 'unsigned' })).toBe(Number(l.delivered - l.vouchers));
        expect(total(await scrape(urls.client), 'cocoon_ledger_nanoton', { kind: 'vouchers' })).toBe(Number(cost));

        const redeems = total(m, 'cocoon_settlement_transactions_total', { kind: 'Redeem', outcome: 'ok' });
        const r = await proxy.settle({ force: true });
        expect(r.redeemed.length).toBe(1);
        await until('the redeem fee to be read', async () => total(await scrape(urls.proxy), 'cocoon_settlement_fees_nanoton_total', { kind: 'Redeem' }) > 0);
        m = await scrape(urls.proxy);
        expect(total(m, 'cocoon_settlement_transactions_total', { kind: 'Redeem', outcome: 'ok' })).toBe(redeems + 1);
        expect(total(m, 'cocoon_ledger_nanoton', { kind: 'redeemed' })).toBe(Number(cost));
        // The worker staked its channel at start: a WorkerStake transaction it paid a fee for.
        await until('the stake fee to be read', async () => total(await scrape(urls.worker), 'cocoon_settlement_fees_nanoton_total') > 0);
        expect(total(await scrape(urls.worker), 'cocoon_settlement_transactions_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    }, 60_000);

    it('attack: request model names a caller invents never become label values (bounded cardinality)', async () => {
        const before = await scrape(urls.client);
        for (let i = 0; i < 3; i++) await expect(collect(client.request({ endpoint: 'chat', body: { model: `invented-${i}-${Date.now()}`, messages: [{ role: 'user', content: 'x' }] } }))).rejects.toBeDefined();
        const after = await scrape(urls.client);
        expect([...labelValues(after, 'cocoon_requests_total', 'model')].filter((v) => v?.startsWith('invented'))).toEqual([]);
        expect(total(after, 'cocoon_requests_total', { model: 'other', outcome: 'failed' }) - total(before, 'cocoon_requests_total', { model: 'other', outcome: 'failed' })).toBe(3);
        for (const base of Object.values(urls)) {
            const m = await scrape(base);
            for (const f of m.values()) for (const s of f.metrics) for (const v of Object.values(s.labels ?? {})) expect(v).not.toMatch(/^[0-9a-f]{32,}$|^[0-9]:|^EQ|^UQ/);
        }
    }, 60_000);

    it('attack: a stranger gets 404 for other paths and 405 for other methods, and the endpoints bind loopback only', async () => {
        const before = total(await scrape(urls.proxy), 'cocoon_requests_total');
        for (const base of Object.values(urls)) {
            expect(new URL(base).hostname).toBe('127.0.0.1');
            const nf = await fetch(`${base}/admin`);
            expect(nf.status).toBe(404);
            expect(((await nf.json()) as { code: string }).code).toBe('NOT_FOUND');
            for (const method of ['POST', 'PUT', 'DELETE']) {
                const res = await fetch(`${base}/metrics`, { method, body: method === 'DELETE' ? undefined : 'x'.repeat(10_000) });
                expect([method, res.status, res.headers.get('allow')]).toEqual([method, 405, 'GET, HEAD']);
            }
            expect((await fetch(`${base}/healthz`)).status).toBe(200);
            const stats = await fetch(`${base}/stats?x=1`);
            expect(stats.status).toBe(200);
            expect(stats.headers.get('content-type')).toBe('application/json');
            await stats.json();
        }
        // The scrape after all that still parses and the request counters did not move.
        expect(total(await scrape(urls.proxy), 'cocoon_requests_total')).toBe(before);
    }, 30_000);

    it('spec/operations.md documents every metric the agents export', async () => {
        const spec = readFileSync(resolve(__dirname, '../../../spec/operations.md'), 'utf8');
        const exported = new Set<string>();
        for (const base of Object.values(urls)) for (const name of (await scrape(base)).keys()) exported.add(name.replace(/_(bucket|sum|count)$/, ''));
        expect(exported.size).toBeGreaterThan(20);
        expect([...exported].filter((n) => !spec.includes(`\`${n}\``))).toEqual([]);
    }, 30_000);

    it('the Grafana dashboard is valid JSON whose every expression names metrics the agents export', async () => {
        const exported = new Set<string>();
        for (const base of Object.values(urls)) for (const name of (await scrape(base)).keys()) exported.add(name);
        const dash = JSON.parse(readFileSync(resolve(__dirname, '../../../ops/grafana-dashboard.json'), 'utf8')) as {
            title: string;
            uid: string;
            schemaVersion: number;
            panels: { id: number; type: string; title: string; gridPos: object; targets: { expr: string; refId: string }[] }[];
        };
        expect(typeof dash.title).toBe('string');
        expect(dash.schemaVersion).toBeGreaterThan(30);
        expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
        const names = new Set<string>();
        for (const p of dash.panels) {
            expect(p.targets.length).toBeGreaterThan(0);
            for (const t of p.targets) for (const n of t.expr.match(/\b(cocoon|process)_[a-z0-9_]+/g) ?? []) names.add(n.replace(/_(bucket|sum|count)$/, ''));
        }
        expect(names.size).toBeGreaterThan(15);
        expect([...names].filter((n) => !exported.has(n))).toEqual([]);
    }, 30_000);
});
