// The devnet chain server in-process: persistence across restarts, refusal of corrupt state, bad
// requests, the transaction stream, clock handling and the stack encoding TonClient reads.
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Address, beginCell, Cell, external, storeMessage, toNano, TupleItem } from '@ton/core';
import { TonClient } from '@ton/ton';
import fc from 'fast-check';
import { DevnetServer } from '../../../agents/devnet/server';
import { DevnetStateError } from '../../../agents/devnet/errors';
import { decodeStack, encodeStack } from '../../../agents/devnet/stack';
import { httpRequest, postJson, rpc, rpcOk, SseClient } from './http';

const addr = (n: number) => new Address(0, Buffer.alloc(32, n));
const servers: DevnetServer[] = [];
const streams: SseClient[] = [];
let tmp: string;

async function started(opts: ConstructorParameters<typeof DevnetServer>[0] = {}): Promise<DevnetServer> {
    const s = new DevnetServer(opts);
    servers.push(s);
    await s.start();
    return s;
}

async function faucet(s: DevnetServer, to: Address, ton: string) {
    return rpcOk(s.url, 'devFaucet', { address: to.toString(), amount: toNano(ton).toString() });
}

function bocOf(msg: Parameters<typeof storeMessage>[0]): string {
    return beginCell().store(storeMessage(msg)).endCell().toBoc().toString('base64');
}

beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'devnet-spec-'));
});

afterAll(async () => {
    for (const c of streams) c.close();
    for (const s of servers) await s.stop();
    await fs.rm(tmp, { recursive: true, force: true });
});

describe('persistence', () => {
    it('keeps balances, transactions and blocks across stop() and start() on the same state file', async () => {
        // A fixed clock: no storage fees accrue between the payments, so balances are exact.
        const clock = () => 1_900_000_000_000;
        const statePath = path.join(tmp, 'a', 'state.json');
        const a = await started({ statePath, snapshotIntervalMs: 0, clock });
        const alice = addr(1);
        await faucet(a, alice, '3');
        await faucet(a, alice, '4');
        const txsBefore = await rpcOk(a.url, 'getTransactions', { address: alice.toString(), limit: 10 });
        const seqnoBefore = (await rpcOk(a.url, 'getMasterchainInfo')).last.seqno;
        await a.stop();
        const saved = JSON.parse(await fs.readFile(statePath, 'utf8'));
        expect(saved.format).toBe('cocoon-devnet-state');

        const b = await started({ statePath, snapshotIntervalMs: 0, clock });
        const client = new TonClient({ endpoint: b.url });
        expect(await client.getBalance(alice)).toBe(toNano('7'));
        const txsAfter = await rpcOk(b.url, 'getTransactions', { address: alice.toString(), limit: 10 });
        expect(txsAfter.map((t: any) => t.transaction_id)).toEqual(txsBefore.map((t: any) => t.transaction_id));
        expect((await rpcOk(b.url, 'getMasterchainInfo')).last.seqno).toBe(seqnoBefore);

        // The restored chain keeps going: logical time and block numbers continue.
        const next = await faucet(b, alice, '1');
        expect(BigInt(next.transaction_id.lt) > BigInt(txsBefore[0].transaction_id.lt)).toBe(true);
        expect((await rpcOk(b.url, 'getMasterchainInfo')).last.seqno).toBe(seqnoBefore + 1);
        expect(await client.getBalance(alice)).toBe(toNano('8'));
        await b.stop();
    });

    it('writes the state file on its interval while running', async () => {
        const statePath = path.join(tmp, 'interval.json');
        const a = await started({ statePath, snapshotIntervalMs: 50 });
        const bob = addr(2);
        await faucet(a, bob, '2');
        // Wait (bounded) until a snapshot holding bob's block has been written.
        let copy: string | undefined;
        for (let i = 0; i < 200 && copy === undefined; i++) {
            const text = await fs.readFile(statePath, 'utf8').catch(() => undefined);
            if (text && JSON.parse(text).blocks.length >= 2) copy = text;
            else await new Promise((r) => setTimeout(r, 50));
        }
        expect(copy).toBeDefined();
        const copyPath = path.join(tmp, 'interval-copy.json');
        await fs.writeFile(copyPath, copy!);
        const b = await started({ statePath: copyPath, snapshotIntervalMs: 0 });
        expect(await new TonClient({ endpoint: b.url }).getBalance(bob)).toBe(toNano('2'));
    });

    it('refuses a corrupt state file with DEVNET_STATE_CORRUPT naming the path, and leaves the file alone', async () => {
        // A good file to damage in several ways.
        const goodPath = path.join(tmp, 'good.json');
        const g = await started({ statePath: goodPath, snapshotIntervalMs: 0 });
        await faucet(g, addr(3), '1');
        await g.stop();
        const good = await fs.readFile(goodPath, 'utf8');
        const parsed = JSON.parse(good);
        const badTx = { ...parsed, snapshot: { ...parsed.snapshot, transactions: [{ ...parsed.snapshot.transactions[0], transaction: 'bm90IGEgYm9j' }] } };
        const cases: [string, string][] = [
            ['not-json.json', 'not json {'],
            ['empty.json', ''],
            ['truncated.json', good.slice(0, Math.floor(good.length / 2))],
            ['wrong-shape.json', JSON.stringify({ hello: 'world' })],
            ['wrong-version.json', JSON.stringify({ ...parsed, version: 99 })],
            ['bad-blocks.json', JSON.stringify({ ...parsed, blocks: [[5, 1], [2, 1]] })],
            ['bad-tx-boc.json', JSON.stringify(badTx)],
        ];
        for (const [name, content] of cases) {
            const p = path.join(tmp, name);
            await fs.writeFile(p, content);
            const s = new DevnetServer({ statePath: p, snapshotIntervalMs: 0 });
            let err: unknown;
            try {
                await s.start();
            } catch (e) {
                err = e;
            }
            expect(err).toBeInstanceOf(DevnetStateError);
            expect((err as DevnetStateError).code).toBe('DEVNET_STATE_CORRUPT');
            expect((err as DevnetStateError).message).toContain(p);
            expect((err as DevnetStateError).path).toBe(p);
            expect(await fs.readFile(p, 'utf8')).toBe(content);
        }
    });
});

describe('bad requests', () => {
    let s: DevnetServer;
    beforeAll(async () => {
        // A fixed clock keeps balances exact (no storage fees between payments).
        s = await started({ clock: () => 1_900_000_000_000 });
        await faucet(s, addr(10), '5');
    });

    it('answers malformed JSON-RPC toncenter style with the HTTP status as code, and keeps serving', async () => {
        const expectError = async (p: Promise<{ status: number; json: any }>, status: number, fragment?: RegExp) => {
            const r = await p;
            expect(r.status).toBe(status);
            expect(r.json).toMatchObject({ ok: false, code: status, error: expect.any(String) });
            if (fragment) expect(r.json.error).toMatch(fragment);
            return r.json;
        };
        await expectError(postJson(s.url, 'not json {'), 400, /not JSON/);
        await expectError(postJson(s.url, '[1,2]'), 400);
        await expectError(postJson(s.url, { id: 1, jsonrpc: '2.0' }), 400, /no method/);
        const unknown = await expectError(rpc(s.url, 'getEverything'), 404, /method not found/);
        expect(unknown.id).toBe('7');
        await expectError(postJson(s.url, { id: 1, method: 'getAddressInformation', params: [1] }), 422, /params/);
        await expectError(rpc(s.url, 'getAddressInformation', { address: 'nonsense' }), 422, /^address/);
        await expectError(rpc(s.url, 'getAddressInformation', {}), 422, /address: required/);
        await expectError(rpc(s.url, 'getTransactions', { address: addr(10).toString(), limit: 'ten' }), 422, /^limit/);
        await expectError(rpc(s.url, 'getTransactions', { address: addr(10).toString(), lt: '1', hash: 'ab'.repeat(32) }), 404, /not found/);
        await expectError(rpc(s.url, 'runGetMethod', { address: addr(10).toString(), method: 'seqno', stack: [['weird', '1']] }), 422, /stack\[0\]/);
        await expectError(rpc(s.url, 'runGetMethod', { address: addr(10).toString(), method: 'seqno', stack: [['num', '12abc']] }), 422, /stack\[0\]/);
        await expectError(rpc(s.url, 'sendBoc', { boc: 'AAAA' }), 422, /^boc/);
        await expectError(rpc(s.url, 'sendBoc', {}), 422, /boc: required/);
        // An internal message cannot be injected from outside.
        const internalBoc = bocOf({
            info: { type: 'internal', ihrDisabled: true, bounce: false, bounced: false, src: addr(10), dest: addr(11), value: { coins: toNano('1') }, ihrFee: 0n, forwardFee: 0n, createdLt: 0n, createdAt: 0 },
            body: Cell.EMPTY,
        });
        await expectError(rpc(s.url, 'sendBoc', { boc: internalBoc }), 422, /only external-in/);
        // An external the chain does not accept (no contract to run) is the chain's refusal: 500, as toncenter.
        await expectError(rpc(s.url, 'sendBoc', { boc: bocOf(external({ to: addr(12), body: Cell.EMPTY })) }), 500, /LITE_SERVER_UNKNOWN/);
        await expectError(rpc(s.url, 'devFaucet', { address: addr(13).toString(), amount: toNano('1001').toString() }), 422, /amount/);
        await expectError(rpc(s.url, 'devFaucet', { address: addr(13).toString(), amount: '0' }), 422, /amount/);
        await expectError(rpc(s.url, 'getConfigParam', { config_id: 12345 }), 404);
        await expectError(httpRequest(s.url), 405);
        await expectError(httpRequest(`${s.baseUrl}/no/such/route`), 404);
        await expectError(httpRequest(`${s.baseUrl}/api/v2/getAddressInformation?address=zzz`), 422);
        await expectError(postJson(s.url, 'x'.repeat(1_100_000)), 413);
        await expectError(httpRequest(`${s.baseUrl}/v2/sse/accounts/transactions`), 400, /accounts/);
        await expectError(httpRequest(`${s.baseUrl}/v2/sse/accounts/transactions?accounts=nope`), 400, /accounts/);

        // Still serving, through TonClient and the GET form.
        const client = new TonClient({ endpoint: s.url });
        expect((await client.getMasterchainInfo()).workchain).toBe(-1);
        expect(await client.getBalance(addr(10))).toBe(toNano('5'));
        const viaGet = await httpRequest(`${s.baseUrl}/api/v2/getAddressBalance?address=${encodeURIComponent(addr(10).toString())}`);
        expect(viaGet.json).toEqual({ ok: true, result: toNano('5').toString() });
        expect(await client.getBalance(addr(13))).toBe(0n);
    });

    it('answers random params to every method with a 2xx/4xx (never an internal error)', async () => {
        const methods = [
            'getAddressInformation', 'getAddressBalance', 'getAddressState', 'getWalletInformation', 'runGetMethod', 'getTransactions',
            'sendBoc', 'sendBocReturnHash', 'estimateFee', 'getMasterchainInfo', 'shards', 'getBlockTransactions', 'getConfigParam',
            'tryLocateTx', 'tryLocateResultTx', 'tryLocateSourceTx', 'devFaucet',
        ];
        const valid = addr(10).toString();
        const value = fc.oneof(
            fc.constant(valid),
            fc.constant('te6cckEBAQEAAgAAAEysuc0='),
            fc.string({ maxLength: 40 }),
            fc.integer(),
            fc.double(),
            fc.boolean(),
            fc.constant(null),
            fc.array(fc.oneof(fc.string(), fc.integer(), fc.array(fc.string(), { maxLength: 3 })), { maxLength: 4 }),
            fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
        );
        const keys = ['address', 'method', 'stack', 'limit', 'lt', 'hash', 'to_lt', 'boc', 'body', 'init_code', 'init_data', 'seqno', 'workchain', 'shard', 'count', 'config_id', 'source', 'destination', 'created_lt', 'amount', 'ignore_chksig'];
        const params = fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 6 });
        const samples = fc.sample(fc.tuple(fc.constantFrom(...methods), params), { numRuns: 300, seed: 20261124 });
        for (const [method, p] of samples) {
            const r = await rpc(s.url, method, p);
            const rejectedByChain = r.status === 500 && /LITE_SERVER_UNKNOWN/.test(r.json?.error);
            if (!(r.status === 200 || (r.status >= 400 && r.status < 500) || rejectedByChain)) {
                throw new Error(`${method} ${JSON.stringify(p)} -> ${r.status} ${r.text}`);
            }
            expect(r.json.ok).toBe(r.status === 200);
        }
        expect((await rpcOk(s.url, 'getMasterchainInfo')).last.seqno).toBeGreaterThan(0);
    });

    it('reports get methods of inactive accounts and failing get methods by exit code', async () => {
        const r = await rpcOk(s.url, 'runGetMethod', { address: addr(10).toString(), method: 'seqno', stack: [] });
        expect(r).toMatchObject({ exit_code: -13, stack: [] });
        await expect(new TonClient({ endpoint: s.url }).runMethod(addr(10), 'seqno')).rejects.toThrow(/exit_code: -13/);
    });

    it('serializes concurrent requests: twenty parallel faucet payments all land, one block each', async () => {
        const carol = addr(20);
        const seqno0 = (await rpcOk(s.url, 'getMasterchainInfo')).last.seqno;
        const results = await Promise.all(Array.from({ length: 20 }, () => faucet(s, carol, '0.5')));
        const lts = new Set(results.map((r) => r.transaction_id.lt));
        expect(lts.size).toBe(20);
        expect(await new TonClient({ endpoint: s.url }).getBalance(carol)).toBe(toNano('10'));
        expect((await rpcOk(s.url, 'getMasterchainInfo')).last.seqno).toBe(seqno0 + 20);
        // Each block lists the faucet wallet's transaction and carol's.
        const block = await rpcOk(s.url, 'getBlockTransactions', { workchain: 0, shard: '-9223372036854775808', seqno: seqno0 + 20 });
        expect(block.transactions.map((t: any) => t.account)).toContain(carol.toRawString());
        expect(block.incomplete).toBe(false);
    });

    it('shows the sandbox config as the config contract, for Blueprint getConfig()', async () => {
        const info = await rpcOk(s.url, 'getAddressInformation', { address: '-1:5555555555555555555555555555555555555555555555555555555555555555' });
        expect(info.state).toBe('active');
        const dict = Cell.fromBase64(info.data).beginParse().loadRef();
        const p34 = await rpcOk(s.url, 'getConfigParam', { config_id: 34 });
        expect(p34.config.bytes.length).toBeGreaterThan(0);
        expect(dict.hash().equals(Cell.fromBase64((await rpcOk(s.url, 'getConfigAll')).config.bytes).hash())).toBe(true);
    });
});

describe('in-process set-up', () => {
    it('withBlockchain() changes are indexed as one block and served like any other', async () => {
        const s = await started({ clock: () => 1_900_000_000_000 });
        const seqno0 = (await rpcOk(s.url, 'getMasterchainInfo')).last.seqno;
        const gina = addr(50);
        const sent = await s.withBlockchain(async (bc) => {
            const t = await bc.treasury('set-up');
            const r = await t.send({ to: gina, value: toNano('3'), bounce: false });
            return r.transactions.length;
        });
        expect(sent).toBeGreaterThanOrEqual(2);
        expect((await rpcOk(s.url, 'getMasterchainInfo')).last.seqno).toBe(seqno0 + 1);
        const txs = await rpcOk(s.url, 'getTransactions', { address: gina.toString() });
        expect(txs).toHaveLength(1);
        expect(txs[0].in_msg.value).toBe(toNano('3').toString());
        expect(txs[0].utime).toBe(1_900_000_000);
    });
});

describe('time', () => {
    it('follows the injected clock and never goes backwards', async () => {
        let nowMs = 1_900_000_000_500;
        const s = await started({ clock: () => nowMs });
        const dave = addr(30);
        await faucet(s, dave, '1');
        const [tx] = await rpcOk(s.url, 'getTransactions', { address: dave.toString(), limit: 1 });
        expect(tx.utime).toBe(1_900_000_000);
        nowMs += 3_600_000;
        expect((await rpcOk(s.url, 'getAddressInformation', { address: dave.toString() })).sync_utime).toBe(1_900_003_600);
        nowMs -= 7_200_000;
        expect((await rpcOk(s.url, 'getAddressInformation', { address: dave.toString() })).sync_utime).toBe(1_900_003_600);
        await faucet(s, dave, '1');
        const [tx2] = await rpcOk(s.url, 'getTransactions', { address: dave.toString(), limit: 1 });
        expect(tx2.utime).toBe(1_900_003_600);
    });
});

describe('transaction stream (SSE)', () => {
    it('delivers one event per transaction of the watched accounts, heartbeats, and ends on stop()', async () => {
        const s = await started({ sseHeartbeatMs: 50 });
        const erin = addr(40);
        const frank = addr(41);
        const watchErin = await SseClient.open(`${s.baseUrl}/v2/sse/accounts/transactions?accounts=${encodeURIComponent(erin.toString())}`);
        const watchAll = await SseClient.open(`${s.baseUrl}/v2/sse/accounts/transactions?accounts=ALL`);
        streams.push(watchErin, watchAll);
        expect(watchErin.status).toBe(200);

        await faucet(s, frank, '1');
        const paid = await faucet(s, erin, '2');
        await watchErin.waitFor('erin event', () => watchErin.json().length >= 1);
        const [ev] = watchErin.json();
        expect(ev).toEqual({ account_id: erin.toRawString(), lt: Number(paid.transaction_id.lt), tx_hash: Buffer.from(paid.transaction_id.hash, 'base64').toString('hex') });

        // ALL sees frank's and erin's transactions and the faucet wallet's; erin's stream only erin's.
        await watchAll.waitFor('four events', () => watchAll.json().length >= 4);
        const all = watchAll.json().map((e) => e.account_id);
        expect(all).toContain(frank.toRawString());
        expect(all).toContain(erin.toRawString());
        expect(watchErin.json().every((e) => e.account_id === erin.toRawString())).toBe(true);

        await watchErin.waitFor('a heartbeat', () => watchErin.comments.includes('heartbeat'));
        await s.stop();
        await watchErin.waitEnd();
        await watchAll.waitEnd();
        expect(watchErin.json()).toHaveLength(1);
    });
});

describe('stack encoding', () => {
    it('decodes what TonClient sends and encodes results the way toncenter does', () => {
        const cell = beginCell().storeUint(7, 8).endCell();
        const b64 = cell.toBoc().toString('base64');
        const comparable = (items: TupleItem[]) => items.map((i) => ('cell' in i ? { type: i.type, hash: i.cell.hash().toString('hex') } : i));
        expect(comparable(decodeStack([['num', '-5'], ['num', '0x1f'], ['tvm.Cell', b64], ['tvm.Slice', b64], ['null']]))).toEqual([
            { type: 'int', value: -5n },
            { type: 'int', value: 31n },
            { type: 'cell', hash: cell.hash().toString('hex') },
            { type: 'slice', hash: cell.hash().toString('hex') },
            { type: 'null' },
        ]);
        const items: TupleItem[] = [
            { type: 'int', value: -255n },
            { type: 'cell', cell },
            { type: 'null' },
            { type: 'tuple', items: [{ type: 'int', value: 3n }, { type: 'null' }, { type: 'slice', cell }, { type: 'tuple', items: [] }] },
        ];
        expect(encodeStack(items)).toEqual([
            ['num', '-0xff'],
            ['cell', { bytes: b64 }],
            ['null'],
            [
                'tuple',
                {
                    '@type': 'tvm.tuple',
                    elements: [
                        { '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: '3' } },
                        { '@type': 'tvm.stackEntryNull' },
                        { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', bytes: b64 } },
                        { '@type': 'tvm.stackEntryTuple', tuple: { '@type': 'tvm.tuple', elements: [] } },
                    ],
                },
            ],
        ]);
    });
});
