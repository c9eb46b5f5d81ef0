import '@ton/test-utils';
import { beginCell, toNano } from '@ton/core';
import { flattenTransaction } from '@ton/test-utils';
import { deployNetwork } from '../helpers/network';

it('probe', async () => {
    const n = await deployNetwork();
    const cc = await n.clientChannel.getChannelState();
    const wc = await n.workerChannel.getChannelState();
    const ps = await n.proxy.getProxyState();
    const b = async (a: any) => (await n.bc.getContract(a)).balance;
    console.log('cc', await b(n.clientChannel.address), cc.balance, 'wc', await b(n.workerChannel.address), wc.stake, 'px', await b(n.proxy.address), ps.stake, ps.pool, ps.commission);
    let t0 = Date.now();
    for (let i = 0; i < 20; i++) {
        const r = await n.stranger.send({ to: n.clientChannel.address, value: toNano('0.05'), body: beginCell().storeUint(0x12345678, 32).storeUint(1, 64).endCell() });
        if (i == 0) console.log(r.transactions.map(t => { const f = flattenTransaction(t); return [f.success, f.exitCode, f.op?.toString(16)]; }));
    }
    console.log('send ms', (Date.now() - t0) / 20);
    const r = await n.stranger.send({ to: n.proxy.address, value: toNano('0.05') });
    console.log(r.transactions.map(t => { const f = flattenTransaction(t); return [f.success, f.exitCode, f.op?.toString(16)]; }));
    t0 = Date.now();
    for (let i = 0; i < 20; i++) { await n.clientChannel.getChannelState(); }
    console.log('getter ms', (Date.now() - t0) / 20);
    const snap = n.bc.snapshot();
    t0 = Date.now();
    for (let i = 0; i < 20; i++) { await n.bc.loadFrom(snap); }
    console.log('load ms', (Date.now() - t0) / 20);
});
