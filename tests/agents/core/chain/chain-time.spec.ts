// TonChain.getChainTime: the latest masterchain block's gen_utime (toncenter getMasterchainInfo + getBlockHeader), on
// the devnet (which closes an empty block when its clock moved, as a real masterchain makes a block every few
// seconds) and against a stub toncenter for what a hostile or lagging endpoint may answer.
import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { DevnetServer } from '../../../../agents/devnet/server';
import { ChainError, ChainTransport, loadChainConfig, TonChain } from '../../../../agents/core/chain';
import { systemClock } from '../../../../agents/core/clock';

jest.setTimeout(30_000);

const rpc = async (url: string, method: string, params: Record<string, unknown> = {}) => {
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id: 1, jsonrpc: '2.0', method, params }) });
    return (await res.json()) as { ok: boolean; result: any; code?: number };
};

describe('on the devnet', () => {
    let clockMs = 1_900_000_000_000;
    const devnet = new DevnetServer({ port: 0, clock: () => clockMs });
    let chain: TonChain;
    beforeAll(async () => {
        await devnet.start();
        chain = new TonChain({ config: loadChainConfig({ endpoint: devnet.url, rps: 10_000 }, {}), chainTimeTtlMs: 0 });
    });
    afterAll(() => devnet.stop());

    it("is the chain's clock: it follows the devnet clock, an empty block once 5 s passed, none while time stands still", async () => {
        expect(await chain.getChainTime()).toBe(1_900_000_000);
        const seqno = (await rpc(devnet.url, 'getMasterchainInfo')).result.last.seqno;
        expect(await chain.getChainTime()).toBe(1_900_000_000);
        expect((await rpc(devnet.url, 'getMasterchainInfo')).result.last.seqno).toBe(seqno);
        // Less than a masterchain block's interval later: still the same block.
        clockMs += 4_000;
        expect(await chain.getChainTime()).toBe(1_900_000_000);
        expect((await rpc(devnet.url, 'getMasterchainInfo')).result.last.seqno).toBe(seqno);
        clockMs += 61_000;
        expect(await chain.getChainTime()).toBe(1_900_000_065);
        const next = (await rpc(devnet.url, 'getMasterchainInfo')).result.last.seqno;
        expect(next).toBe(seqno + 1);
        // An earlier block keeps its time.
        const old = await rpc(devnet.url, 'getBlockHeader', { workchain: -1, shard: '-9223372036854775808', seqno });
        expect(old.result).toMatchObject({ '@type': 'blocks.header', gen_utime: 1_900_000_000, id: { seqno, workchain: -1 } });
    });

    it('getBlockHeader refuses a block that does not exist and a missing seqno (422/404), changing nothing', async () => {
        const latest = (await rpc(devnet.url, 'getMasterchainInfo')).result.last.seqno;
        expect((await rpc(devnet.url, 'getBlockHeader', { workchain: -1, shard: '-9223372036854775808', seqno: latest + 5 })).code).toBe(404);
        expect((await rpc(devnet.url, 'getBlockHeader', { workchain: -1, shard: '-9223372036854775808' })).code).toBe(422);
        expect((await rpc(devnet.url, 'getBlockHeader', { workchain: 7, shard: '-9223372036854775808', seqno: 1 })).code).toBe(422);
        expect((await rpc(devnet.url, 'getMasterchainInfo')).result.last.seqno).toBe(latest);
    });
});

describe('against what an endpoint may answer', () => {
    let server: Server;
    let url: string;
    let headers: unknown[] = [];
    let calls = 0;
    beforeAll(async () => {
        server = createServer((req, res) => {
            let body = '';
            req.on('data', (d) => (body += d));
            req.on('end', () => {
                calls++;
                const { method } = JSON.parse(body);
                const result = method === 'getMasterchainInfo' ? { last: { workchain: -1, shard: '-9223372036854775808', seqno: 10 } } : headers.shift();
                res.writeHead(200, { 'Content-Type': 'application/json' });
                res.end(JSON.stringify({ ok: true, result }));
            });
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/jsonRPC`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));
    const chainOf = (ttl: number) => {
        return new TonChain({ config: loadChainConfig({ endpoint: url, rps: 10_000, maxRetries: 0 }, {}), chainTimeTtlMs: ttl });
    };

    it('never goes backwards: a lagging endpoint answering an older block keeps the newer time', async () => {
        const c = chainOf(0);
        headers = [{ gen_utime: 2_000_000_000 }, { gen_utime: 1_999_999_000 }];
        expect(await c.getChainTime()).toBe(2_000_000_000);
        expect(await c.getChainTime()).toBe(2_000_000_000);
    });

    it('is cached for chainTimeTtlMs: a second read within it makes no request', async () => {
        const c = chainOf(60_000);
        headers = [{ gen_utime: 2_000_000_100 }];
        calls = 0;
        expect(await c.getChainTime()).toBe(2_000_000_100);
        expect(await c.getChainTime()).toBe(2_000_000_100);
        expect(calls).toBe(2); // getMasterchainInfo + getBlockHeader, once
    });

    it('attack: a host clock set back does not stretch the cache: the next read fetches', async () => {
        let back = 0; // the cache's clock, set back by `back` (the transport keeps its own)
        const config = loadChainConfig({ endpoint: url, rps: 10_000, maxRetries: 0 }, {});
        const clock = { now: () => Date.now() - back, sleep: systemClock.sleep };
        const c = new TonChain({ config, transport: new ChainTransport({ ...config, clock: systemClock }), chainTimeTtlMs: 60_000, clock });
        headers = [{ gen_utime: 2_000_000_200 }, { gen_utime: 2_000_000_205 }];
        calls = 0;
        expect(await c.getChainTime()).toBe(2_000_000_200);
        back = 3600_000; // within the TTL by the host's clock for the next hour, if the cache trusted it
        expect(await c.getChainTime()).toBe(2_000_000_205);
        expect(calls).toBe(4);
    });

    it.each([[{ gen_utime: 'soon' }], [{ gen_utime: -5 }], [{ gen_utime: 1e300 }], [{}], [null]])('a header of %j is CHAIN_BAD_RESPONSE', async (h) => {
        headers = [h];
        const e = await chainOf(0).getChainTime().catch((x) => x);
        expect(e).toBeInstanceOf(ChainError);
        expect(e.code).toBe('CHAIN_BAD_RESPONSE');
    });
});
