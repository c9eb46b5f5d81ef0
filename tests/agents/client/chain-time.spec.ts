// The client's withdraw and close deadlines on the clock of trust (spec/client.md "Withdraw and close",
// spec/attestation.md "Chain time for money and receipts"): the ClientChannel judges withdrawAt / closeAt by its now(), a block time, so the
// client waits by chain time. Here the host clock runs an hour ahead of a devnet chain (real TVM): judged by it, the
// client would send FinishWithdraw at once and the contract would refuse it; by chain time it reports the wait and
// sends nothing, and the FinishWithdraw sent anyway shows the contract's refusal. Without chain time nothing is sent.
import { Address, toNano } from '@ton/core';
import { AgentNetwork, startAgentNetwork } from '../../../fixtures/agent-network';
import { ChainWallet, TonChain } from '../../../agents/core/chain';
import { TrustClock } from '../../../agents/core/chain/trust-clock';
import { ClientChannelOps } from '../../../agents/client/channel';
import { ClientChannelWrapper, FeeSimple } from '../../../wrappers/ClientChannel';
import { noLog } from '../../../agents/core/log';

jest.setTimeout(60_000);

const HOUR = 3600_000;
const CLOSE_DELAY = 600n;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("the client's withdraw and close deadlines follow chain time, not the host clock", () => {
    let net: AgentNetwork;
    let chain: TonChain;
    let wallet: ChainWallet;
    let wrapper: ClientChannelWrapper;
    let chainDown = false;
    const ops = (trustClock: { now(): number }) =>
        new ClientChannelOps({ chain, wallet, clientKey: 5n, clock: { now: () => Date.now() + HOUR, sleep }, trustClock, txTimeoutMs: 30_000, wrapper: () => wrapper, cumulative: () => 0n, log: noLog });
    let trust: TrustClock;
    let down: TrustClock;

    beforeAll(async () => {
        net = await startAgentNetwork({ params: { clientCloseDelay: CLOSE_DELAY } });
        chain = net.newChain();
        ({ wallet } = await net.fundWallet('chain-time/client'));
        wrapper = await ClientChannelWrapper.create({ proxy: Address.parse('0:' + '22'.repeat(32)), client: wallet.address, clientKey: 5n, proxyKey: 6n, closeDelay: CLOSE_DELAY });
        trust = new TrustClock({ chainTime: () => chain.getChainTime(), refreshMs: 0 });
        await trust.refresh();
        down = new TrustClock({ chainTime: async () => (chainDown ? Promise.reject(new Error('chain down')) : chain.getChainTime()), refreshMs: 0 });
        await ops(trust).topUp(toNano('1')); // deploys the channel
    });
    afterAll(async () => {
        await net?.stop();
    });

    it('attack: the host clock an hour ahead does not make the client finish a withdrawal the contract would refuse', async () => {
        const o = ops(trust);
        const wd = await o.withdraw(toNano('0.3'));
        // by the host clock withdrawAt (chain now + 600 s) is long past: it would have sent FinishWithdraw at once
        expect(wd.withdrawAt * 1000).toBeLessThan(Date.now() + HOUR);
        expect(wd.finished).toBe(false);
        expect(wd.waitMs).toBeGreaterThan(Number(CLOSE_DELAY) * 1000 - 60_000);
        const before = await wallet.getBalance();
        await expect(o.finishWithdraw()).rejects.toMatchObject({ code: 'TOO_EARLY' });
        expect(await wallet.getBalance()).toBe(before); // nothing sent
        // What the host clock would have done: the contract refuses it (ErrTooEarly) and the withdrawal stays pending.
        await chain.open(wrapper).sendFinishWithdraw(wallet.sender(), FeeSimple);
        const st = await chain.getClientChannelState(wrapper.address);
        expect(st).toMatchObject({ balance: toNano('1'), pendingWithdraw: toNano('0.3') });
        expect(await wallet.getBalance()).toBeLessThan(before); // the refused attempt cost its fee
    });

    it('without chain time (after one more look at the chain) FinishWithdraw is not sent: DEADLINE_UNKNOWN', async () => {
        chainDown = true;
        const before = await wallet.getBalance();
        await expect(ops(down).finishWithdraw()).rejects.toMatchObject({ code: 'DEADLINE_UNKNOWN' });
        await expect(ops(down).finishClose()).rejects.toMatchObject({ code: 'NOTHING_PENDING' }); // checked before time: not closing
        expect(await wallet.getBalance()).toBe(before);
        chainDown = false;
    });

    it('close() reports the wait by chain time; without chain time the whole close delay (an upper bound)', async () => {
        chainDown = true;
        const cl = await ops(down).close();
        expect(cl.waitMs).toBe(Number(CLOSE_DELAY) * 1000);
        chainDown = false;
        const before = await wallet.getBalance();
        await expect(ops(trust).finishClose()).rejects.toMatchObject({ code: 'TOO_EARLY' });
        chainDown = true;
        await expect(ops(down).finishClose()).rejects.toMatchObject({ code: 'DEADLINE_UNKNOWN' });
        expect(await wallet.getBalance()).toBe(before);
    });
});
