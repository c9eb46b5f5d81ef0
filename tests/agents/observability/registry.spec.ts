// AgentMetrics and the ops server on their own (agents/core/metrics.ts, agents/core/ops-server.ts): one registry per
// agent instance and never prom-client's global one; label values only from bounded sets, whatever a peer sends.
import { register as globalRegistry } from 'prom-client';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { AgentMetrics } from '../../../agents/core/metrics';
import { OpsServer } from '../../../agents/core/ops-server';
import { FundingCheck } from '../../../agents/client/stats';
import type { Balances } from '../../../agents/client/channel';

const samples = async (m: AgentMetrics, name: string) => {
    const families = parsePrometheusTextFormat((await m.exposition()).text) as { name: string; metrics: { value: string; labels?: Record<string, string> }[] }[];
    return families.find((f) => f.name === name)?.metrics ?? [];
};

describe('AgentMetrics', () => {
    it('attack: error codes a peer invents (a worker response_error the proxy relays) and unknown models are counted as `other`', async () => {
        const m = new AgentMetrics('proxy', (name) => name === 'known/model-1');
        m.requestDone({ model: 'known/model-1', code: 'BACKEND_ERROR' });
        for (let i = 0; i < 50; i++) m.requestDone({ model: `made-up-${i}`, code: `MADE_UP_${i}` });
        const s = await samples(m, 'cocoon_requests_total');
        expect(s.map((x) => [x.labels?.model, x.labels?.code, x.value])).toEqual([
            ['known/model-1', 'BACKEND_ERROR', '1'],
            ['other', 'other', '50'],
        ]);
    });

    it("a role's own codes are label values; two agents in one process keep apart and the global registry stays empty", async () => {
        const a = new AgentMetrics('client', () => true, new Set(['CANCELLED']));
        const b = new AgentMetrics('client', () => true);
        a.requestDone({ model: 'm', code: 'CANCELLED' });
        b.requestDone({ model: 'm', code: 'CANCELLED' });
        expect((await samples(a, 'cocoon_requests_total')).map((x) => x.labels?.code)).toEqual(['CANCELLED']);
        expect((await samples(b, 'cocoon_requests_total')).map((x) => x.labels?.code)).toEqual(['other']);
        expect(await globalRegistry.getMetricsAsJSON()).toEqual([]);
    });

    it('a scrape-time counter reports the total its stats object keeps', async () => {
        const m = new AgentMetrics('worker', () => true);
        let busy = 3;
        m.counter('cocoon_worker_busy_total', 'busy', [], () => busy);
        expect((await samples(m, 'cocoon_worker_busy_total'))[0].value).toBe('3');
        busy = 7;
        expect((await samples(m, 'cocoon_worker_busy_total'))[0].value).toBe('7');
    });
});

describe('OpsServer', () => {
    it('binds 127.0.0.1 by default, answers HEAD without a body, and 405 names the methods it allows', async () => {
        const metrics = new AgentMetrics('worker', () => true);
        const ops = new OpsServer({ metrics, health: () => ({ ok: true }), ready: () => ({ ready: false, reasons: ['no_proxy_ready'] }), stats: () => ({ n: 1n }) });
        const base = await ops.listen();
        try {
            expect(ops.address()?.address).toBe('127.0.0.1');
            const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
            expect(head.status).toBe(200);
            expect(await head.text()).toBe('');
            expect(await (await fetch(`${base}/stats`)).json()).toEqual({ n: '1' });
            const r = await fetch(`${base}/readyz`);
            expect([r.status, await r.json()]).toEqual([503, { ready: false, reasons: ['no_proxy_ready'] }]);
            const p = await fetch(`${base}/readyz`, { method: 'PATCH' });
            expect([p.status, p.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
        } finally {
            await ops.close();
        }
    });
});

describe("the client's readiness", () => {
    const balances = (state: 'open' | 'closing' | null, available: bigint) =>
        ({ onChain: state ? { state, balance: 0n, redeemed: 0n, pendingWithdraw: 0n, withdrawAt: 0, closeAt: 0 } : null, available }) as unknown as Balances;

    it('is not funded with nothing available or a channel that is closing; a failed read says nothing; the chain is read at most every 5 s', async () => {
        let now = 0;
        let reads = 0;
        let next: Balances | Error = balances('open', 0n);
        const check = new FundingCheck(async () => {
            reads++;
            if (next instanceof Error) throw next;
            return next;
        }, { now: () => now });
        const up = { opened: true, connected: true, blocked: undefined };
        expect(await check.readiness(up)).toEqual({ ready: false, reasons: ['not_funded'] });
        next = balances('open', 5n);
        expect((await check.readiness(up)).reasons).toEqual(['not_funded']); // cached
        expect(reads).toBe(1);
        now += 5000;
        expect(await check.readiness(up)).toEqual({ ready: true, reasons: [] });
        next = balances('closing', 5n);
        now += 5000;
        expect((await check.readiness(up)).reasons).toEqual(['not_funded']);
        next = new Error('chain down');
        now += 5000;
        expect((await check.readiness({ ...up, connected: false })).reasons).toEqual(['not_connected']);
        expect((await check.readiness({ opened: false, connected: false, blocked: 'image removed' })).reasons).toEqual(['not_open', 'proxy_blocked']);
        expect(reads).toBe(4);
    });
});
