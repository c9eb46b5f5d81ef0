// The explorer's HTTP surface under abuse, over a real devnet: a stranger's bad addresses, ids, methods, huge or odd
// URLs and stream floods each get a typed error with the security headers and change nothing; a chain failure is a
// 502, never a crash.
import { Address } from '@ton/core';
import { createServer, request } from 'http';
import { AddressInfo } from 'net';
import { ExplorerServer, MAX_URL, SECURITY_HEADERS } from '../../../agents/explorer/server';
import { ExplorerNetwork, startExplorerNetwork } from '../../../fixtures/explorer-network';
import type { ErrorBody, RootView } from '../../../agents/explorer/types';

jest.setTimeout(60_000);

let net: ExplorerNetwork;
let explorer: ExplorerServer;
let url: string;

beforeAll(async () => {
    net = await startExplorerNetwork();
    explorer = new ExplorerServer({ chain: { ...net.chainConfig, maxRetries: 0 }, network: 'devnet', maxStreams: 2, heartbeatMs: 200 });
    ({ url } = await explorer.start());
});

afterAll(async () => {
    await explorer?.stop();
    await net?.stop().catch(() => undefined);
});

function expectHeaders(res: Response): void {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(k)).toBe(v);
}

async function error(path: string, status: number, code: string, init?: RequestInit): Promise<ErrorBody> {
    const res = await fetch(url + path, { redirect: 'manual', ...init });
    expect(res.status).toBe(status);
    expectHeaders(res);
    if (path.startsWith('/api/')) {
        const body = (await res.json()) as ErrorBody;
        expect(body.error.code).toBe(code);
        expect(typeof body.error.message).toBe('string');
        return body;
    }
    await res.text();
    return { error: { code: code as ErrorBody['error']['code'], message: '' } };
}

/** A raw request target (fetch would normalise it). */
function rawGet(target: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
        const req = request({ host: u.hostname, port: u.port, path: target, method: 'GET' }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
        });
        req.on('error', reject);
        req.end();
    });
}

describe('attacks on the explorer API (each gains nothing)', () => {
    let rootBefore: RootView;
    beforeAll(async () => {
        rootBefore = (await (await fetch(`${url}/api/root`)).json()) as RootView;
    });

    it('a bad address is 400 BAD_ADDRESS on every route that takes one', async () => {
        for (const bad of ['nonsense', '0:zz', '0:' + 'a'.repeat(63), 'EQ' + 'A'.repeat(200), '%E0%A4%A', '<script>alert(1)</script>']) {
            await error(`/api/address/${encodeURIComponent(bad)}`, 400, 'BAD_ADDRESS');
            await error(`/api/proxies/${encodeURIComponent(bad)}`, 400, 'BAD_ADDRESS');
        }
        await error('/api/address/%E0%A4%A', 400, 'BAD_ADDRESS');
        await error('/address?q=not-an-address', 400, 'BAD_ADDRESS');
    });

    it('/address?q=<address> redirects (303) to /address/<raw>', async () => {
        const res = await fetch(`${url}/address?q=${encodeURIComponent(net.proxy.toString())}`, { redirect: 'manual' });
        expect(res.status).toBe(303);
        expectHeaders(res);
        expect(res.headers.get('location')).toBe(`/address/${net.proxy.toRawString()}`);
    });

    it('an address where no Proxy lives is 404 on /api/proxies/<addr>', async () => {
        await error(`/api/proxies/${new Address(0, Buffer.alloc(32, 9)).toRawString()}`, 404, 'NOT_FOUND');
        await error(`/api/proxies/${net.root.toRawString()}`, 404, 'NOT_FOUND');
    });

    it('bad proposal ids and feed limits are 400 BAD_REQUEST; an unknown proposal is 404', async () => {
        for (const id of ['-1', 'abc', '1e3', '4294967296', '99999999999', '0x1']) await error(`/api/governance/proposals/${id}`, 400, 'BAD_REQUEST');
        await error('/api/governance/proposals/77', 404, 'NOT_FOUND');
        for (const limit of ['0', '201', 'abc', '-5', '1000000']) await error(`/api/feed?limit=${limit}`, 400, 'BAD_REQUEST');
    });

    it('unknown routes are 404 NOT_FOUND (JSON under /api/, a page elsewhere), path tricks included', async () => {
        await error('/api/nope', 404, 'NOT_FOUND');
        await error('/api/root/extra', 404, 'NOT_FOUND');
        await error('/nope', 404, 'NOT_FOUND');
        for (const target of ['/assets/../../package.json', '/assets/..%2f..%2fpackage.json', '/assets/%00', '/api/../package.json']) {
            const r = await rawGet(target);
            expect([400, 404]).toContain(r.status);
            expect(r.body).not.toContain('"dependencies"');
        }
    });

    it('POST, PUT, DELETE are 405 METHOD_NOT_ALLOWED with Allow: GET, HEAD', async () => {
        for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
            const res = await fetch(`${url}/api/root`, { method, body: method === 'DELETE' ? undefined : '{"x":1}' });
            expect(res.status).toBe(405);
            expect(res.headers.get('allow')).toBe('GET, HEAD');
            expect(((await res.json()) as ErrorBody).error.code).toBe('METHOD_NOT_ALLOWED');
        }
    });

    it(`a URL longer than ${MAX_URL} bytes is 400 BAD_REQUEST; HEAD answers headers only`, async () => {
        await error(`/api/address/${'A'.repeat(MAX_URL)}`, 400, 'BAD_REQUEST');
        await error(`/api/feed?${'x=1&'.repeat(1000)}`, 400, 'BAD_REQUEST');
        const head = await fetch(`${url}/api/root`, { method: 'HEAD' });
        expect(head.status).toBe(200);
        expectHeaders(head);
        expect(await head.text()).toBe('');
    });

    it('after all of it the explorer answers the same Root view', async () => {
        const after = (await (await fetch(`${url}/api/root`)).json()) as RootView;
        expect({ ...after, chainTime: 0 }).toEqual({ ...rootBefore, chainTime: 0 });
    });
});

describe('amplification', () => {
    it('fifty concurrent requests for one view cost the chain what one request costs (shared, briefly cached)', async () => {
        // A pass-through in front of the devnet counts the reads views make (getters, chain time); the live feed's
        // getTransactions (its backfill may run at any moment) are not counted.
        let count = 0;
        const target = new URL(net.chainConfig.endpoint);
        const counter = createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on('data', (d) => chunks.push(d));
            req.on('end', () => {
                const body = Buffer.concat(chunks);
                if (!body.toString().includes('"getTransactions"')) count++;
                const fwd = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
                    res.writeHead(r.statusCode!, r.headers);
                    r.pipe(res);
                });
                fwd.end(body);
            });
        });
        await new Promise<void>((r) => counter.listen(0, '127.0.0.1', () => r()));
        const endpoint = `http://127.0.0.1:${(counter.address() as AddressInfo).port}${target.pathname}`;
        const own = new ExplorerServer({ chain: { ...net.chainConfig, endpoint }, streamEndpoint: target.origin, network: 'devnet', viewCacheMs: 60_000 });
        try {
            const { url: ownUrl } = await own.start();
            count = 0;
            expect((await fetch(`${ownUrl}/api/governance/proposals/1`)).status).toBe(200);
            const one = count;
            expect(one).toBeGreaterThan(0);
            count = 0;
            const many = await Promise.all(Array.from({ length: 50 }, () => fetch(`${ownUrl}/api/governance/proposals/1`)));
            expect(many.map((r) => r.status)).toEqual(Array(50).fill(200));
            expect(count).toBe(0);
            // A different spelling of the same address is the same view.
            count = 0;
            await fetch(`${ownUrl}/api/address/${net.proxy.toRawString()}`);
            const first = count;
            await fetch(`${ownUrl}/api/address/${encodeURIComponent(net.proxy.toString())}`);
            expect(count).toBe(first);
        } finally {
            await own.stop();
            await new Promise<void>((r) => counter.close(() => r()));
        }
    });
});

describe('pages and assets', () => {
    it('every page route renders HTML (the same views as the API) with the security headers and no inline script', async () => {
        const pages = ['/', '/models', '/images', '/proxies', `/proxies/${net.proxy.toRawString()}`, `/address/${net.channel.toRawString()}`, '/governance', '/governance/proposals/1', '/governance/proposals/0', '/feed'];
        for (const p of pages) {
            const res = await fetch(url + p);
            expect([p, res.status]).toEqual([p, 200]);
            expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
            expectHeaders(res);
            const body = await res.text();
            expect(body).toMatch(/^<!doctype html>/i);
            expect(body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
        }
        const proxyPage = await (await fetch(`${url}/proxies/${net.proxy.toRawString()}`)).text();
        expect(proxyPage).toContain(net.channel.toString({ urlSafe: true, bounceable: true, testOnly: true }).slice(0, 12));
    });

    it('a bad address or an unknown page is an HTML error page with its status and code', async () => {
        for (const [p, status, code] of [['/address/nonsense', 400, 'BAD_ADDRESS'], ['/nope', 404, 'NOT_FOUND'], ['/governance/proposals/abc', 400, 'BAD_REQUEST']] as const) {
            const res = await fetch(url + p);
            expect(res.status).toBe(status);
            expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
            expectHeaders(res);
            expect(await res.text()).toContain(code);
        }
    });

    it('/assets/* serves only the built bundle, with an ETag a revalidation answers 304', async () => {
        const res = await fetch(`${url}/assets/app.js`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
        expectHeaders(res);
        const etag = res.headers.get('etag')!;
        expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
        const again = await fetch(`${url}/assets/app.js`, { headers: { 'If-None-Match': etag } });
        expect(again.status).toBe(304);
        await error('/assets/nope.js', 404, 'NOT_FOUND');
    });
});

describe('the live feed stream', () => {
    it(`holds at most maxStreams subscribers: one more is 503 TOO_MANY_STREAMS; a freed slot is reused`, async () => {
        const ctrls = [new AbortController(), new AbortController()];
        const open = await Promise.all(ctrls.map((c) => fetch(`${url}/api/feed/stream`, { signal: c.signal })));
        for (const r of open) {
            expect(r.status).toBe(200);
            expectHeaders(r);
        }
        await error('/api/feed/stream', 503, 'TOO_MANY_STREAMS');
        // Heartbeats keep an idle subscriber's connection alive.
        const reader = open[0].body!.getReader();
        let text = '';
        while (!text.includes(': heartbeat')) text += Buffer.from((await reader.read()).value!).toString();
        ctrls[0].abort();
        for (let i = 0; ; i++) {
            const c = new AbortController();
            const r = await fetch(`${url}/api/feed/stream`, { signal: c.signal });
            c.abort();
            if (r.status === 200) break;
            expect(r.status).toBe(503);
            if (i > 50) throw new Error('the freed slot was never reused');
            await new Promise((res) => setTimeout(res, 50));
        }
        ctrls[1].abort();
    });
});

describe('a chain failure', () => {
    it('is 502 CHAIN_UNAVAILABLE with the chain code in details, and the explorer keeps serving', async () => {
        await net.stop();
        // A view read within the last second is served from the explorer's short cache; then the failure shows.
        const dead = async (path: string) => {
            for (let i = 0; (await fetch(url + path)).status === 200; i++) {
                if (i > 40) throw new Error(`the dead chain never showed on ${path}`);
                await new Promise((r) => setTimeout(r, 100));
            }
            return error(path, 502, 'CHAIN_UNAVAILABLE');
        };
        const body = await dead('/api/root');
        expect(body.error.details?.code).toMatch(/^CHAIN_/);
        await dead('/api/governance');
        await error('/api/nope', 404, 'NOT_FOUND');
    });
});
