// ToncenterClient's getter path and ChainWallet's confirmation logic against a stub of toncenter (an
// external service): nested tuples and tonlib lisp lists decode to proper TupleItems (stock TonClient
// 16.3.0 returns raw values there), get-method exit codes become CHAIN_GETTER_FAILED, and a transfer whose
// seqno never moves ends in CHAIN_SEND_TIMEOUT while one whose sendBoc failed after landing still succeeds.
import { Address, beginCell, TupleReader } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { TonClient } from '@ton/ton';
import { TonChain } from '../../../../agents/core/chain/chain';
import { loadChainConfig } from '../../../../agents/core/chain/config';
import { parseToncenterStack } from '../../../../agents/core/chain/toncenter';
import { StubHandler, StubServer, VirtualClock } from './fake-chain-api';

const num = (n: number | string) => ({ '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: String(n) } });
const cellB64 = beginCell().storeUint(0xabcd, 16).endCell().toBoc().toString('base64');
const addrSlice = beginCell().storeAddress(new Address(0, Buffer.alloc(32, 3))).endCell().toBoc().toString('base64');

const nestedStack = [
    ['num', '0x2a'],
    [
        'tuple',
        {
            '@type': 'tvm.tuple',
            elements: [
                num(7),
                { '@type': 'tvm.stackEntryTuple', tuple: { '@type': 'tvm.tuple', elements: [num(-5), { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', bytes: addrSlice } }] } },
                { '@type': 'tvm.stackEntryList', list: { '@type': 'tvm.list', elements: [] } },
                { '@type': 'tvm.stackEntryCell', cell: { '@type': 'tvm.cell', bytes: cellB64 } },
                { '@type': 'tvm.stackEntryList', list: { '@type': 'tvm.list', elements: [num(1), num(2)] } },
            ],
        },
    ],
    ['null'],
];

type Rpc = (method: string, params: Record<string, unknown>) => { status?: number; result?: unknown };

function rpcHandler(handle: Rpc): StubHandler {
    return (req, res) => {
        const { method, params } = JSON.parse(req.body);
        const r = handle(method, params);
        const status = r.status ?? 200;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status === 200 ? { ok: true, result: r.result } : { ok: false, error: 'stub error', code: status }));
    };
}
const rpcStub = (handle: Rpc) => new StubServer(rpcHandler(handle));

describe('parseToncenterStack', () => {
    it('decodes nested tuples, tonlib lists (as lisp pairs), nulls, slices and cells into TupleItems', () => {
        const r = new TupleReader(parseToncenterStack(nestedStack));
        expect(r.readBigNumber()).toBe(42n);
        const t = r.readTuple();
        expect(t.readBigNumber()).toBe(7n);
        const inner = t.readTupleOpt()!;
        expect(inner.readBigNumber()).toBe(-5n);
        expect(inner.readAddress().equals(new Address(0, Buffer.alloc(32, 3)))).toBe(true);
        expect(t.readTupleOpt()).toBeNull(); // tonlib's empty list is TVM null
        expect(t.readCell().beginParse().loadUint(16)).toBe(0xabcd);
        expect(t.readLispList().map((i) => (i.type === 'int' ? i.value : null))).toEqual([1n, 2n]);
        expect(r.readTupleOpt()).toBeNull();
    });

    it.each([[[['num', 'zz']]], [[['weird', 1]]], [[['tuple', { elements: [{ '@type': 'tvm.mystery' }] }]]], [['num']], [[['tuple', { elements: 'x' }]]]])('rejects malformed stack %j', (stack) => {
        expect(() => parseToncenterStack(stack as unknown[])).toThrow(/stack:/);
    });
});

describe('ToncenterClient getters through TonChain', () => {
    let stub: StubServer;
    afterEach(() => stub.stop());

    it('reads nested results that stock TonClient cannot, and types exit codes', async () => {
        stub = await rpcStub((method, params) => {
            if (method !== 'runGetMethod') return { status: 404 };
            if (params.method === 'nested') return { result: { gas_used: 10, exit_code: 0, stack: nestedStack } };
            return { result: { gas_used: 10, exit_code: 11, stack: [] } };
        }).start();
        const chain = new TonChain({ config: loadChainConfig({ endpoint: `${stub.url}/api/v2/jsonRPC`, rps: 1000 }, {}), clock: new VirtualClock() });
        const a = new Address(0, Buffer.alloc(32, 9));
        const res = await chain.client.provider(a).get('nested', []);
        res.stack.readBigNumber();
        expect(res.stack.readTuple().readBigNumber()).toBe(7n);
        await expect(chain.client.provider(a).get('missing', [])).rejects.toMatchObject({ code: 'CHAIN_GETTER_FAILED', details: { exitCode: 11, getter: 'missing' } });

        // The stock client returns raw values inside tuples (why ToncenterClient exists).
        const stock = new TonClient({ endpoint: `${stub.url}/api/v2/jsonRPC` });
        const raw = await stock.runMethod(a, 'nested');
        raw.stack.readBigNumber();
        expect(() => raw.stack.readTuple().readBigNumber()).toThrow('Not a number');
    });
});

describe('ChainWallet confirmation', () => {
    let stub: StubServer;
    afterEach(() => stub.stop());

    const account = {
        '@type': 'raw.fullAccountState',
        balance: '5000000000',
        state: 'active',
        code: cellB64,
        data: cellB64,
        last_transaction_id: { '@type': 'internal.transactionId', lt: '1', hash: Buffer.alloc(32).toString('base64') },
        block_id: { '@type': 'ton.blockIdExt', workchain: -1, shard: '-9223372036854775808', seqno: 1, root_hash: '', file_hash: '' },
        sync_utime: 1,
    };

    function walletRpc(onSend: () => { status?: number }, seqno: () => number): StubHandler {
        return rpcHandler((method) => {
            if (method === 'getAddressInformation') return { result: account };
            if (method === 'runGetMethod') return { result: { gas_used: 1, exit_code: 0, stack: [['num', '0x' + seqno().toString(16)]] } };
            if (method === 'sendBoc') {
                const r = onSend();
                return r.status ? r : { result: { '@type': 'ok' } };
            }
            return { status: 404 };
        });
    }

    it('fails with CHAIN_SEND_TIMEOUT when the seqno never advances (bounded polling)', async () => {
        let sends = 0;
        stub = await new StubServer(walletRpc(() => (sends++, {}), () => 5)).start();
        const clock = new VirtualClock();
        const chain = new TonChain({ config: loadChainConfig({ endpoint: stub.url, rps: 1000, sendTimeoutMs: 10_000, sendPollMs: 1_000 }, {}), clock });
        const wallet = chain.wallet(keyPairFromSeed(Buffer.alloc(32, 1)));
        const err = await wallet.send([{ to: wallet.address, value: 1n }]).catch((e) => e);
        expect(err).toMatchObject({ code: 'CHAIN_SEND_TIMEOUT', details: { seqno: 5 } });
        expect(sends).toBe(1);
        // Polls every sendPollMs until the deadline: 10 sleeps of 1 s on the virtual clock.
        expect(clock.sleeps.filter((s) => s === 1_000)).toHaveLength(10);
        const polls = stub.requests.filter((r) => JSON.parse(r.body).params.method === 'seqno').length;
        expect(polls).toBe(12); // before signing, then 11 checks (t = 0..10 s)
    });

    it('trusts the seqno over a sendBoc error: a transfer that landed counts as sent', async () => {
        let seqno = 5;
        stub = await new StubServer(
            walletRpc(() => {
                seqno = 6; // the message was applied, but the answer was lost
                return { status: 502 };
            }, () => seqno),
        ).start();
        const chain = new TonChain({ config: loadChainConfig({ endpoint: stub.url, rps: 1000, maxRetries: 1 }, {}), clock: new VirtualClock() });
        const wallet = chain.wallet(keyPairFromSeed(Buffer.alloc(32, 2)));
        await expect(wallet.send([{ to: wallet.address, value: 1n }])).resolves.toEqual({ seqno: 5 });

        // Not landed: the transport's error comes through.
        seqno = 9;
        stub.handler = walletRpc(() => ({ status: 503 }), () => seqno);
        await expect(wallet.send([{ to: wallet.address, value: 1n }])).rejects.toMatchObject({ code: 'CHAIN_UNAVAILABLE' });
    });
});
