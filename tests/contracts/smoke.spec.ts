import '@ton/test-utils';
import { toNano } from '@ton/core';
import { GLOBAL_ID, deployNetwork, CLIENT_DEPOSIT, WORKER_STAKE, balanceOf } from '../../fixtures/network';

describe('network smoke', () => {
    it('registers a proxy, redeems a voucher and pays a worker', async () => {
        const n = await deployNetwork();
        const ps = await n.proxy.getProxyState();
        expect(ps.registered).toBe(true);
        expect(ps.workerChannels).toBe(1n);
        const cs = await n.clientChannel.getChannelState();
        expect(cs.balance).toBe(CLIENT_DEPOSIT);
        const ws = await n.workerChannel.getChannelState();
        expect(ws.stake).toBe(WORKER_STAKE);

        const sig = n.clientChannel.signVoucher(toNano('1'), n.clientKeys.secretKey, GLOBAL_ID);
        const r = await n.clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: sig });
        expect(r.transactions).toHaveTransaction({ from: n.clientChannel.address, to: n.proxy.address, success: true });
        expect((await n.proxy.getProxyState()).pool).toBe(toNano('0.9'));

        const before = await balanceOf(n.bc, n.worker.address);
        const psig = n.workerChannel.signPayout(toNano('0.5'), n.proxyKeys.secretKey, GLOBAL_ID);
        const r2 = await n.workerChannel.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: psig });
        expect(r2.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, success: true });
        expect((await balanceOf(n.bc, n.worker.address)) - before).toBeGreaterThan(toNano('0.5'));
    });
});
