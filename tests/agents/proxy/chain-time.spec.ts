// The proxy's money decisions on the clock of trust (spec/attestation.md, "Chain time for money and receipts"): a
// real proxy, worker and SDK client on the devnet, the proxy's host clock 26 hours ahead of the chain. By
// that clock a client's fresh withdrawal request has lapsed (the contract lets it be finished for a day after
// withdrawAt); by chain time it has not, and the client can still take the money. The proxy follows the chain: the
// channel watch finds the channel leaving, admission and a co-signed withdrawal keep the pending amount aside.
import { toNano } from '@ton/core';
import { ask, drain, MoneyStack, startMoneyStack } from '../../helpers/money-stack';
import { livePendingWithdraw } from '../../../agents/proxy/admission';
import { TrustClock } from '../../../agents/core/chain/trust-clock';

jest.setTimeout(120_000);

const AHEAD_MS = 26 * 3600_000; // past withdrawAt (now + 1 h) + WithdrawWindow (1 day) + the proxy's 10 min margin

describe("the proxy judges a client's pending withdrawal by chain time, not by its host clock a day ahead", () => {
    let stack: MoneyStack;

    beforeAll(async () => {
        stack = await startMoneyStack({
            params: { clientCloseDelay: 3600n, creditWindow: toNano('0.5') },
            label: 'proxy-chain-time',
            proxy: (net) => {
                const chain = net.newChain();
                // started by the proxy's start() (resumeTrustClock), stopped by its stop()
                return { clock: { now: () => Date.now() + AHEAD_MS }, trustClock: new TrustClock({ chainTime: () => chain.getChainTime() }) };
            },
        });
    });
    afterAll(async () => {
        await stack?.stop();
    });

    it('attack: a withdrawal the host clock calls lapsed still counts: the channel is leaving and no co-signature frees the amount', async () => {
        const c = await stack.sdkClient('proxy-chain-time/client', toNano('1'));
        await drain(c.request(ask(8)));
        await stack.signedAndHeld(c);
        await c.withdraw(toNano('0.6'));
        const st = (await stack.net.newChain().getClientChannelState(c.channel))!;
        expect(livePendingWithdraw(st, Math.floor((Date.now() + AHEAD_MS) / 1000))).toBe(0n); // what the host clock would say
        expect(await stack.proxy.watchChannels()).toContain(c.channel.toRawString());
        const redeemed = (await stack.net.newChain().getClientChannelState(c.channel))!; // the watch redeemed the voucher
        expect(redeemed.redeemed).toBeGreaterThan(0n);
        // balance − pending 0.6 − owed leaves less than 0.5: the proxy refuses to co-sign it
        await expect(c.coopWithdraw({ amount: toNano('0.5') })).rejects.toMatchObject({ code: 'PROXY_REFUSED', details: { wireCode: 'COOP_WITHDRAW_TOO_LARGE' } });
        expect(await stack.net.newChain().getClientChannelState(c.channel)).toMatchObject({ balance: redeemed.balance, withdrawSeqno: redeemed.withdrawSeqno, pendingWithdraw: toNano('0.6') });
    });
});
