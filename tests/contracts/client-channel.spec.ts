// ClientChannel: every receiver, its refusals (exit code + nothing moved) and the two ways a client leaves.
import '@ton/test-utils';
import { Address, beginCell, internal as relaxed, toNano } from '@ton/core';
import { internal, SendMessageResult } from '@ton/sandbox';
import { flattenTransaction } from '@ton/test-utils';
import { GLOBAL_ID, balanceOf, CLIENT_DEPOSIT, keys, Network } from '../../fixtures/network';
import { useNetworkSnapshot } from '../helpers/fixture';
import { plain } from '../helpers/state';
import { advanceTime, expectOnlyBouncesFrom, storageFees, valueOf } from '../helpers/tx';
import {
    ClientChannelWrapper,
    ErrAccessDenied,
    ErrBadParams,
    ErrBadSignature,
    ErrExpired,
    ErrInsufficientFunds,
    ErrLowValue,
    ErrOldVoucher,
    ErrTooEarly,
    ErrWrongState,
    ErrZeroAmount,
    FeeRedeem,
    FeeSimple,
    FeeTopUp,
    StateActive,
    StateClosed,
    StateClosing,
    storeFinishClose,
    storeRedeem,
    storeStartClose,
    WithdrawWindow,
} from '../../wrappers/ClientChannel';
import { payoutPayload, signPayload, toUint256, voucherPayload, withdrawPayload } from '../../wrappers/payloads';

const COMMISSION_BPS = 1000n; // DEFAULT_PARAMS.commissionBps: 10 %
const split = (diff: bigint) => ({ commission: (diff * COMMISSION_BPS) / 10000n, pool: diff - (diff * COMMISSION_BPS) / 10000n });
// Upper bound of what a close may add on top of the client's balance: the unspent gas money of the
// client's own messages and of the finishing message (every value attached in these tests is <= 0.05 TON).
const SURPLUS_BOUND = toNano('0.2');

let n: Network;
let ch: Network['clientChannel'];
let closeDelay: number;

useNetworkSnapshot((net) => {
    n = net;
    ch = n.clientChannel;
    closeDelay = Number(n.params.clientCloseDelay);
});

// ---------- helpers ----------

const advance = (secs: number) => advanceTime(n.bc, secs);

async function observe() {
    return {
        cs: await ch.getChannelState(),
        balance: await balanceOf(n.bc, ch.address),
        ps: await n.proxy.getProxyState(),
    };
}

/**
 * Sends, expects the channel to refuse with `code`, and checks that nothing moved: the channel's state
 * getter is unchanged, its balance did not decrease (beyond storage fees), nothing left it but the
 * bounce, and the Proxy's pool and commission did not change.
 */
async function expectRefused(send: () => Promise<SendMessageResult>, from: Address, code: bigint): Promise<SendMessageResult> {
    const before = await observe();
    const r = await send();
    expect(r.transactions).toHaveTransaction({ from, to: ch.address, success: false, exitCode: Number(code) });
    const after = await observe();
    expect(plain(after.cs)).toEqual(plain(before.cs));
    expect(after.balance).toBeGreaterThanOrEqual(before.balance - storageFees(r.transactions, ch.address));
    expect(after.ps.pool).toBe(before.ps.pool);
    expect(after.ps.commission).toBe(before.ps.commission);
    expectOnlyBouncesFrom(r.transactions, ch.address);
    return r;
}

const voucher = (cumulative: bigint) => ch.signVoucher(cumulative, n.clientKeys.secretKey, GLOBAL_ID);
const coSign = (amount: bigint, seqno: bigint, close: boolean) => ch.signWithdraw(amount, seqno, close, n.proxyKeys.secretKey, GLOBAL_ID);
/** The cooperative close the proxy co-signs: the whole remaining balance to the client. */
async function coopClose() {
    const { balance, withdrawSeqno } = await ch.getChannelState();
    return ch.sendCoopWithdraw(n.client.getSender(), { amount: balance, seqno: withdrawSeqno, close: true, signature: coSign(balance, withdrawSeqno, true) });
}
const redeem = (cumulative: bigint, via = n.proxyOwner) => ch.sendRedeem(via.getSender(), { amount: cumulative, signature: voucher(cumulative) });

/** Another channel of the same proxy and the same client key (for domain-separation checks). */
async function otherChannelAddress(): Promise<Address> {
    const other = await ClientChannelWrapper.create({
        proxy: n.proxy.address,
        client: n.stranger.address,
        clientKey: toUint256(n.clientKeys.publicKey),
        proxyKey: toUint256(n.proxyKeys.publicKey),
        closeDelay: n.params.clientCloseDelay,
    });
    expect(other.address.equals(ch.address)).toBe(false);
    return other.address;
}

// ---------- TopUp ----------

describe('TopUp', () => {
    it('deploys with the first deposit and records it', async () => {
        const cs = await ch.getChannelState();
        expect(cs.state).toBe(StateActive);
        expect(cs.balance).toBe(CLIENT_DEPOSIT);
        expect(cs.redeemed).toBe(0n);
        expect(cs.client.equals(n.client.address)).toBe(true);
        expect(cs.proxy.equals(n.proxy.address)).toBe(true);
        expect(cs.closeDelay).toBe(n.params.clientCloseDelay);
        expect(await balanceOf(n.bc, ch.address)).toBeGreaterThanOrEqual(CLIENT_DEPOSIT);
    });

    it('accepts a top-up from anyone with exactly amount + FeeTopUp', async () => {
        const before = await observe();
        const r = await ch.sendTopUp(n.stranger.getSender(), toNano('2'), FeeTopUp);
        expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: ch.address, success: true });
        const after = await observe();
        expect(after.cs.balance).toBe(before.cs.balance + toNano('2'));
        expect(after.balance).toBeGreaterThanOrEqual(before.balance + toNano('2'));
        expect(after.ps.pool).toBe(before.ps.pool);
    });

    it('refuses a value below amount + FeeTopUp (ErrLowValue)', async () => {
        await expectRefused(() => ch.sendTopUp(n.client.getSender(), toNano('1'), FeeTopUp - 1n), n.client.address, ErrLowValue);
    });

    it('refuses a zero amount (ErrZeroAmount)', async () => {
        await expectRefused(() => ch.sendTopUp(n.client.getSender(), 0n, toNano('0.05')), n.client.address, ErrZeroAmount);
    });

    it('refuses a top-up while closing (ErrWrongState)', async () => {
        await ch.sendStartClose(n.client.getSender());
        await expectRefused(() => ch.sendTopUp(n.client.getSender(), toNano('1')), n.client.address, ErrWrongState);
    });

    it('refuses a top-up after close (ErrWrongState)', async () => {
        await coopClose();
        expect((await ch.getChannelState()).state).toBe(StateClosed);
        await expectRefused(() => ch.sendTopUp(n.client.getSender(), toNano('1')), n.client.address, ErrWrongState);
    });
});

// ---------- Redeem ----------

describe('Redeem', () => {
    it('moves the voucher difference to the Proxy, split 10 % commission / 90 % pool', async () => {
        const before = await observe();
        const r = await redeem(toNano('1.5'));
        const diff = toNano('1.5');
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        expect(valueOf(r.transactions, ch.address, n.proxy.address)).toBeGreaterThanOrEqual(diff);
        const after = await observe();
        expect(after.cs.redeemed).toBe(diff);
        expect(after.cs.balance).toBe(before.cs.balance - diff);
        expect(after.balance).toBe(before.balance - diff - storageFees(r.transactions, ch.address));
        const s = split(diff);
        expect(after.ps.pool).toBe(before.ps.pool + s.pool);
        expect(after.ps.commission).toBe(before.ps.commission + s.commission);
        expect(s.commission).toBe(toNano('0.15'));

        // the next voucher moves only the new difference
        const r2 = await redeem(toNano('2'));
        expect(r2.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        const after2 = await observe();
        expect(after2.cs.redeemed).toBe(toNano('2'));
        expect(after2.cs.balance).toBe(before.cs.balance - toNano('2'));
        expect(after2.ps.pool).toBe(after.ps.pool + split(toNano('0.5')).pool);
        expect(after2.ps.commission).toBe(after.ps.commission + split(toNano('0.5')).commission);
    });

    it('accepts a voucher submitted by anyone; the coins still go to the Proxy', async () => {
        const before = await observe();
        const r = await redeem(toNano('1'), n.stranger);
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        expect(r.transactions).not.toHaveTransaction({ from: ch.address, to: n.stranger.address });
        const after = await observe();
        expect(after.cs.redeemed).toBe(toNano('1'));
        expect(after.ps.pool).toBe(before.ps.pool + split(toNano('1')).pool);
    });

    it('redeems only the balance when the voucher exceeds it; after a top-up the same voucher redeems the rest', async () => {
        const before = await observe();
        const r = await redeem(toNano('7'));
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        let after = await observe();
        expect(after.cs.redeemed).toBe(CLIENT_DEPOSIT);
        expect(after.cs.balance).toBe(0n);
        expect(after.ps.pool).toBe(before.ps.pool + split(CLIENT_DEPOSIT).pool);
        expect(after.ps.commission).toBe(before.ps.commission + split(CLIENT_DEPOSIT).commission);
        expect(after.balance).toBeGreaterThanOrEqual(0n);

        // nothing left: the same or a bigger voucher cannot move anything
        await expectRefused(() => redeem(toNano('7')), n.proxyOwner.address, ErrInsufficientFunds);
        await expectRefused(() => redeem(toNano('8')), n.proxyOwner.address, ErrInsufficientFunds);

        await ch.sendTopUp(n.client.getSender(), toNano('3'));
        const mid = await observe();
        const r2 = await redeem(toNano('7'));
        expect(r2.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        after = await observe();
        expect(after.cs.redeemed).toBe(toNano('7'));
        expect(after.cs.balance).toBe(toNano('1'));
        expect(after.ps.pool).toBe(mid.ps.pool + split(toNano('2')).pool);
        expect(after.ps.commission).toBe(mid.ps.commission + split(toNano('2')).commission);

        // and now it is spent
        await expectRefused(() => redeem(toNano('7')), n.proxyOwner.address, ErrOldVoucher);
    });

    it('refuses a replayed voucher (equal cumulative, ErrOldVoucher)', async () => {
        await redeem(toNano('1'));
        await expectRefused(() => redeem(toNano('1')), n.proxyOwner.address, ErrOldVoucher);
    });

    it('refuses an older voucher (smaller cumulative, ErrOldVoucher)', async () => {
        const old = voucher(toNano('1'));
        await redeem(toNano('2'));
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: old }), n.proxyOwner.address, ErrOldVoucher);
    });

    it('refuses a zero voucher (ErrOldVoucher: not above redeemed)', async () => {
        await expectRefused(() => redeem(0n), n.proxyOwner.address, ErrOldVoucher);
    });

    it('refuses a voucher signed by another key (ErrBadSignature)', async () => {
        const sig = ch.signVoucher(toNano('1'), keys('someone-else').secretKey, GLOBAL_ID);
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: sig }), n.proxyOwner.address, ErrBadSignature);
    });

    it('attack 8: refuses a voucher signed for another network (global id −3, testnet) (ErrBadSignature)', async () => {
        expect(GLOBAL_ID).toBe(-239);
        const otherNet = ch.signVoucher(toNano('1'), n.clientKeys.secretKey, -3);
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: otherNet }), n.proxyOwner.address, ErrBadSignature);
        // the same voucher for this network redeems
        const r = await ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: voucher(toNano('1')) });
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
    });

    it('refuses a voucher signed by the proxy key instead of the client key (ErrBadSignature)', async () => {
        const sig = ch.signVoucher(toNano('1'), n.proxyKeys.secretKey, GLOBAL_ID);
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: sig }), n.proxyOwner.address, ErrBadSignature);
    });

    it('refuses a voucher signed for another channel address (domain separation, ErrBadSignature)', async () => {
        const sig = signPayload(voucherPayload(await otherChannelAddress(), toNano('1'), GLOBAL_ID), n.clientKeys.secretKey);
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: sig }), n.proxyOwner.address, ErrBadSignature);
    });

    it('refuses a client signature over the same fields with another tag (payout tag, ErrBadSignature)', async () => {
        const sig = signPayload(payoutPayload(ch.address, toNano('1'), GLOBAL_ID), n.clientKeys.secretKey);
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: sig }), n.proxyOwner.address, ErrBadSignature);
    });

    it('refuses a voucher whose amount was raised after signing (ErrBadSignature)', async () => {
        const sig = voucher(toNano('1'));
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('2'), signature: sig }), n.proxyOwner.address, ErrBadSignature);
    });

    it('refuses a value below FeeRedeem (ErrLowValue)', async () => {
        await expectRefused(
            () => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: voucher(toNano('1')), value: FeeRedeem - 1n }),
            n.proxyOwner.address,
            ErrLowValue,
        );
    });

    it('accepts a redeem while closing', async () => {
        await ch.sendStartClose(n.client.getSender());
        const before = await observe();
        const r = await redeem(toNano('1'));
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        const after = await observe();
        expect(after.cs.state).toBe(StateClosing);
        expect(after.cs.redeemed).toBe(toNano('1'));
        expect(after.ps.pool).toBe(before.ps.pool + split(toNano('1')).pool);
    });

    it('refuses a redeem after close (ErrWrongState)', async () => {
        const sig = voucher(toNano('1'));
        await coopClose();
        await expectRefused(() => ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: sig }), n.proxyOwner.address, ErrWrongState);
    });

    it('restores redeemed and balance when the closed Proxy bounces the payment', async () => {
        // Close the Proxy: its only worker channel unbonds first, then the proxy finishes closing.
        await n.proxy.sendClose(n.proxyOwner.getSender());
        await n.workerChannel.sendStartUnbond(n.worker.getSender());
        advance(Number(n.params.workerUnbondDelay) + 1);
        await n.workerChannel.sendFinishUnbond(n.worker.getSender());
        await n.proxy.sendFinishClose(n.proxyOwner.getSender());
        expect((await n.proxy.getProxyState()).state).toBe(StateClosed);

        const before = await observe();
        const r = await redeem(toNano('1'));
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: false, exitCode: Number(ErrWrongState) });
        expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: ch.address, inMessageBounced: true, success: true });
        const after = await observe();
        expect(plain(after.cs)).toEqual(plain(before.cs));
        expect(after.cs.redeemed).toBe(0n);
        expect(after.cs.balance).toBe(CLIENT_DEPOSIT);
        expect(after.balance).toBeGreaterThanOrEqual(before.balance - storageFees(r.transactions, ch.address));
        expect(after.ps.pool).toBe(before.ps.pool);
        expect(after.ps.commission).toBe(before.ps.commission);
    });

    it('attack 7: a payment that bounces after the channel closed (Redeem + FinishClose in one block) goes on to the client; nothing stays locked', async () => {
        // The Proxy is closed (its payments bounce); the channel is closing and past closeAt.
        await n.proxy.sendClose(n.proxyOwner.getSender());
        await n.workerChannel.sendStartUnbond(n.worker.getSender());
        advance(Number(n.params.workerUnbondDelay) + 1);
        await n.workerChannel.sendFinishUnbond(n.worker.getSender());
        await n.proxy.sendFinishClose(n.proxyOwner.getSender());
        await ch.sendStartClose(n.client.getSender());
        advance(closeDelay);

        // One wallet transaction sends Redeem then FinishClose: the channel pays out the voucher difference, closes,
        // and only then does the Proxy's bounce come back.
        const redeemBody = beginCell().store(storeRedeem({ $$type: 'Redeem', queryId: 1n, amount: toNano('2'), signature: voucher(toNano('2')) })).endCell();
        const closeBody = beginCell().store(storeFinishClose({ $$type: 'FinishClose', queryId: 2n })).endCell();
        const clientBefore = await balanceOf(n.bc, n.client.address);
        const r = await n.proxyOwner.sendMessages([
            relaxed({ to: ch.address, value: toNano('0.05'), body: redeemBody }),
            relaxed({ to: ch.address, value: toNano('0.05'), body: closeBody }),
        ]);
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: false, exitCode: Number(ErrWrongState) });
        const bounce = r.transactions.find((t) => t.inMessage?.info.type === 'internal' && t.inMessage.info.bounced && t.inMessage.info.dest.equals(ch.address));
        // The bounce reached the channel after FinishClose (it was already closed) and was forwarded to the client.
        expect(bounce).toBeDefined();
        const fwd = flattenTransaction(bounce!);
        expect(fwd.success).toBe(true);
        expect(bounce!.outMessagesCount).toBe(1);
        const out = bounce!.outMessages.get(0)!;
        expect(out.info.dest!.toString()).toBe(n.client.address.toString());
        expect(out.info.type === 'internal' && out.info.value.coins >= toNano('2') && out.info.value.coins < toNano('2.05')).toBe(true);
        const cs = await ch.getChannelState();
        expect(cs.state).toBe(StateClosed);
        expect(cs.balance).toBe(0n);
        expect(cs.redeemed).toBe(0n);
        // The client got its whole deposit back across both payouts; the channel keeps only the storage floor.
        expect((await balanceOf(n.bc, n.client.address)) - clientBefore).toBeGreaterThanOrEqual(CLIENT_DEPOSIT);
        expect(await balanceOf(n.bc, ch.address)).toBeLessThanOrEqual(toNano('0.01'));
    });
});

// ---------- CoopWithdraw ----------

describe('CoopWithdraw', () => {
    it('pays a partial withdrawal to the client, bumps the seqno and clears a pending request', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('3'));
        expect((await ch.getChannelState()).pendingWithdraw).toBe(toNano('3'));
        const before = await observe();
        const r = await ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: false, signature: coSign(toNano('1'), 0n, false) });
        expect(valueOf(r.transactions, ch.address, n.client.address)).toBeGreaterThanOrEqual(toNano('1'));
        const after = await observe();
        expect(after.cs.state).toBe(StateActive);
        expect(after.cs.balance).toBe(before.cs.balance - toNano('1'));
        expect(after.cs.withdrawSeqno).toBe(1n);
        expect(after.cs.pendingWithdraw).toBe(0n);
        expect(after.cs.redeemed).toBe(0n);
        expect(after.balance).toBe(before.balance - toNano('1') - storageFees(r.transactions, ch.address));
        expect(after.ps.pool).toBe(before.ps.pool);

        // the next co-signature must carry seqno 1
        const r2 = await ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('0.5'), seqno: 1n, close: false, signature: coSign(toNano('0.5'), 1n, false) });
        expect(r2.transactions).toHaveTransaction({ from: ch.address, to: n.client.address, success: true });
        expect((await ch.getChannelState()).withdrawSeqno).toBe(2n);
        expect((await ch.getChannelState()).balance).toBe(before.cs.balance - toNano('1.5'));
    });

    it('refuses a replay of the same co-signature (ErrOldVoucher)', async () => {
        const sig = coSign(toNano('1'), 0n, false);
        await ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: false, signature: sig });
        await expectRefused(
            () => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: false, signature: sig }),
            n.client.address,
            ErrOldVoucher,
        );
    });

    it('refuses a seqno ahead of the stored one (ErrOldVoucher)', async () => {
        await expectRefused(
            () => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 1n, close: false, signature: coSign(toNano('1'), 1n, false) }),
            n.client.address,
            ErrOldVoucher,
        );
    });

    it('closes with everything to the client', async () => {
        await redeem(toNano('1'));
        const before = await observe();
        const r = await ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('4'), seqno: 0n, close: true, signature: coSign(toNano('4'), 0n, true) });
        const paid = valueOf(r.transactions, ch.address, n.client.address);
        expect(paid).toBeGreaterThanOrEqual(toNano('4'));
        expect(paid).toBeLessThanOrEqual(toNano('4') + SURPLUS_BOUND);
        const after = await observe();
        expect(after.cs.state).toBe(StateClosed);
        expect(after.cs.balance).toBe(0n);
        expect(after.cs.withdrawSeqno).toBe(1n);
        expect(after.cs.redeemed).toBe(toNano('1'));
        expect(after.balance).toBeLessThanOrEqual(toNano('0.01')); // only the storage floor stays
        expect(after.ps.pool).toBe(before.ps.pool);
    });

    it('refuses a close whose signed amount is not the whole balance (ErrBadParams): the client takes what was signed, never more', async () => {
        await expectRefused(
            () => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: true, signature: coSign(toNano('1'), 0n, true) }),
            n.client.address,
            ErrBadParams,
        );
    });

    it('refuses a withdrawal from anyone but the client (ErrAccessDenied)', async () => {
        await expectRefused(
            () => ch.sendCoopWithdraw(n.stranger.getSender(), { amount: toNano('1'), seqno: 0n, close: false, signature: coSign(toNano('1'), 0n, false) }),
            n.stranger.address,
            ErrAccessDenied,
        );
        await expectRefused(
            () => ch.sendCoopWithdraw(n.proxyOwner.getSender(), { amount: toNano('1'), seqno: 0n, close: true, signature: coSign(toNano('1'), 0n, true) }),
            n.proxyOwner.address,
            ErrAccessDenied,
        );
    });

    it('refuses a withdrawal co-signed by the client instead of the proxy (ErrBadSignature)', async () => {
        const sig = ch.signWithdraw(toNano('1'), 0n, false, n.clientKeys.secretKey, GLOBAL_ID);
        await expectRefused(() => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: false, signature: sig }), n.client.address, ErrBadSignature);
    });

    it('refuses a co-signature made for another channel (ErrBadSignature)', async () => {
        const sig = signPayload(withdrawPayload(await otherChannelAddress(), toNano('1'), 0n, false, GLOBAL_ID), n.proxyKeys.secretKey);
        await expectRefused(() => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: false, signature: sig }), n.client.address, ErrBadSignature);
    });

    it('refuses a partial co-signature used to close, or with a raised amount (ErrBadSignature)', async () => {
        const sig = coSign(toNano('1'), 0n, false);
        await expectRefused(() => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: true, signature: sig }), n.client.address, ErrBadSignature);
        await expectRefused(() => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('2'), seqno: 0n, close: false, signature: sig }), n.client.address, ErrBadSignature);
    });

    it('refuses a value below FeeSimple (ErrLowValue)', async () => {
        await expectRefused(
            () => ch.sendCoopWithdraw(n.client.getSender(), { amount: toNano('1'), seqno: 0n, close: false, signature: coSign(toNano('1'), 0n, false), value: FeeSimple - 1n }),
            n.client.address,
            ErrLowValue,
        );
    });

    it('refuses an amount above the balance (ErrInsufficientFunds)', async () => {
        const amount = CLIENT_DEPOSIT + 1n;
        await expectRefused(
            () => ch.sendCoopWithdraw(n.client.getSender(), { amount, seqno: 0n, close: false, signature: coSign(amount, 0n, false) }),
            n.client.address,
            ErrInsufficientFunds,
        );
    });

    it('refuses a withdrawal after close (ErrWrongState)', async () => {
        await coopClose();
        await expectRefused(
            () => ch.sendCoopWithdraw(n.client.getSender(), { amount: 0n, seqno: 1n, close: true, signature: coSign(0n, 1n, true) }),
            n.client.address,
            ErrWrongState,
        );
    });
});

// ---------- RequestWithdraw / FinishWithdraw ----------

describe('RequestWithdraw / FinishWithdraw', () => {
    it('records the request with withdrawAt = now + closeDelay; a new request replaces it', async () => {
        const r = await ch.sendRequestWithdraw(n.client.getSender(), toNano('2'));
        expect(r.transactions).toHaveTransaction({ from: n.client.address, to: ch.address, success: true });
        let cs = await ch.getChannelState();
        expect(cs.pendingWithdraw).toBe(toNano('2'));
        expect(cs.withdrawAt).toBe(BigInt(n.bc.now! + closeDelay));
        expect(cs.balance).toBe(CLIENT_DEPOSIT);
        advance(100);
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('1'));
        cs = await ch.getChannelState();
        expect(cs.pendingWithdraw).toBe(toNano('1'));
        expect(cs.withdrawAt).toBe(BigInt(n.bc.now! + closeDelay));
    });

    it('attack 2: refuses a request above the balance, e.g. 2^100 (ErrInsufficientFunds)', async () => {
        await expectRefused(() => ch.sendRequestWithdraw(n.client.getSender(), 2n ** 100n), n.client.address, ErrInsufficientFunds);
        await expectRefused(() => ch.sendRequestWithdraw(n.client.getSender(), CLIENT_DEPOSIT + 1n), n.client.address, ErrInsufficientFunds);
    });

    it("attack 2: a request left standing 30 days lapses; a top-up and a 3 TON voucher later, FinishWithdraw is refused (ErrExpired) and the proxy's voucher redeems 3 TON", async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), CLIENT_DEPOSIT);
        advance(30 * 24 * 3600);
        await ch.sendTopUp(n.client.getSender(), toNano('3'));
        const sig = voucher(toNano('3'));
        await expectRefused(() => ch.sendFinishWithdraw(n.client.getSender()), n.client.address, ErrExpired);
        const before = await observe();
        const r = await ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('3'), signature: sig });
        expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true, value: (v?: bigint) => v !== undefined && v >= toNano('3') });
        const after = await observe();
        expect(after.cs.redeemed).toBe(toNano('3'));
        expect(after.ps.pool + after.ps.commission).toBe(before.ps.pool + before.ps.commission + toNano('3'));
    });

    it('attack 2: a request lapses WithdrawWindow after withdrawAt (ErrExpired); a new request finishes after a new delay', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('1'));
        advance(closeDelay + Number(WithdrawWindow));
        await expectRefused(() => ch.sendFinishWithdraw(n.client.getSender()), n.client.address, ErrExpired);
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('1'));
        advance(closeDelay + Number(WithdrawWindow) - 1);
        const r = await ch.sendFinishWithdraw(n.client.getSender());
        expect(valueOf(r.transactions, ch.address, n.client.address)).toBeGreaterThanOrEqual(toNano('1'));
        expect((await ch.getChannelState()).balance).toBe(CLIENT_DEPOSIT - toNano('1'));
    });

    it('attack 2: a top-up after the request does not raise what it takes; a voucher signed after the top-up still redeems in full', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), CLIENT_DEPOSIT);
        advance(closeDelay);
        await ch.sendTopUp(n.client.getSender(), toNano('3'));
        const sig = voucher(toNano('3'));
        const r = await ch.sendFinishWithdraw(n.client.getSender());
        const paid = valueOf(r.transactions, ch.address, n.client.address);
        expect(paid).toBeGreaterThanOrEqual(CLIENT_DEPOSIT);
        expect(paid).toBeLessThan(CLIENT_DEPOSIT + toNano('0.05'));
        expect((await ch.getChannelState()).balance).toBe(toNano('3'));
        const rr = await ch.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('3'), signature: sig });
        expect(rr.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        expect((await ch.getChannelState()).redeemed).toBe(toNano('3'));
    });

    it('refuses a request from anyone but the client (ErrAccessDenied)', async () => {
        await expectRefused(() => ch.sendRequestWithdraw(n.stranger.getSender(), toNano('1')), n.stranger.address, ErrAccessDenied);
    });

    it('refuses a zero request (ErrZeroAmount)', async () => {
        await expectRefused(() => ch.sendRequestWithdraw(n.client.getSender(), 0n), n.client.address, ErrZeroAmount);
    });

    it('refuses a request while closing (ErrWrongState)', async () => {
        await ch.sendStartClose(n.client.getSender());
        await expectRefused(() => ch.sendRequestWithdraw(n.client.getSender(), toNano('1')), n.client.address, ErrWrongState);
    });

    it('refuses to finish before the delay (ErrTooEarly)', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('2'));
        advance(closeDelay - 1);
        await expectRefused(() => ch.sendFinishWithdraw(n.client.getSender()), n.client.address, ErrTooEarly);
    });

    it('refuses to finish without a request (ErrWrongState)', async () => {
        await expectRefused(() => ch.sendFinishWithdraw(n.client.getSender()), n.client.address, ErrWrongState);
    });

    it('refuses a finish from anyone but the client (ErrAccessDenied)', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('2'));
        advance(closeDelay);
        await expectRefused(() => ch.sendFinishWithdraw(n.stranger.getSender()), n.stranger.address, ErrAccessDenied);
    });

    it('pays the pending amount after the delay', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('2'));
        advance(closeDelay);
        const before = await observe();
        const r = await ch.sendFinishWithdraw(n.client.getSender());
        expect(valueOf(r.transactions, ch.address, n.client.address)).toBeGreaterThanOrEqual(toNano('2'));
        const after = await observe();
        expect(after.cs.balance).toBe(CLIENT_DEPOSIT - toNano('2'));
        expect(after.cs.pendingWithdraw).toBe(0n);
        expect(after.cs.state).toBe(StateActive);
        expect(after.balance).toBe(before.balance - toNano('2') - storageFees(r.transactions, ch.address));
        // the request is consumed
        await expectRefused(() => ch.sendFinishWithdraw(n.client.getSender()), n.client.address, ErrWrongState);
    });

    it('lets a redeem during the delay take priority and pays only min(pending, balance)', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('4'));
        advance(closeDelay / 2);
        const pr = await redeem(toNano('3'));
        expect(pr.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        advance(closeDelay / 2);
        const r = await ch.sendFinishWithdraw(n.client.getSender());
        const paid = valueOf(r.transactions, ch.address, n.client.address);
        expect(paid).toBeGreaterThanOrEqual(toNano('2'));
        expect(paid).toBeLessThan(toNano('2') + toNano('0.05'));
        const cs = await ch.getChannelState();
        expect(cs.balance).toBe(0n);
        expect(cs.redeemed).toBe(toNano('3'));
        expect(cs.pendingWithdraw).toBe(0n);
    });

    it('refuses to finish a withdrawal after close (ErrWrongState)', async () => {
        await ch.sendRequestWithdraw(n.client.getSender(), toNano('1'));
        await coopClose();
        advance(closeDelay);
        await expectRefused(() => ch.sendFinishWithdraw(n.client.getSender()), n.client.address, ErrWrongState);
    });
});

// ---------- StartClose / FinishClose ----------

describe('StartClose / FinishClose', () => {
    it('lets the client start closing: closeAt = now + closeDelay', async () => {
        const r = await ch.sendStartClose(n.client.getSender());
        expect(r.transactions).toHaveTransaction({ from: n.client.address, to: ch.address, success: true });
        const cs = await ch.getChannelState();
        expect(cs.state).toBe(StateClosing);
        expect(cs.closeAt).toBe(BigInt(n.bc.now! + closeDelay));
        expect(cs.balance).toBe(CLIENT_DEPOSIT);
    });

    it('lets the Proxy contract start closing (message from its address)', async () => {
        const body = beginCell().store(storeStartClose({ $$type: 'StartClose', queryId: 0n })).endCell();
        const r = await n.bc.sendMessage(internal({ from: n.proxy.address, to: ch.address, value: toNano('0.05'), body }));
        expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: ch.address, success: true });
        expect((await ch.getChannelState()).state).toBe(StateClosing);
    });

    it('refuses a start from a stranger or the proxy owner wallet (ErrAccessDenied)', async () => {
        await expectRefused(() => ch.sendStartClose(n.stranger.getSender()), n.stranger.address, ErrAccessDenied);
        await expectRefused(() => ch.sendStartClose(n.proxyOwner.getSender()), n.proxyOwner.address, ErrAccessDenied);
    });

    it('refuses a second start (ErrWrongState)', async () => {
        await ch.sendStartClose(n.client.getSender());
        advance(10);
        await expectRefused(() => ch.sendStartClose(n.client.getSender()), n.client.address, ErrWrongState);
    });

    it('refuses to finish an active channel (ErrWrongState)', async () => {
        await expectRefused(() => ch.sendFinishClose(n.stranger.getSender()), n.stranger.address, ErrWrongState);
    });

    it('refuses to finish before closeAt (ErrTooEarly)', async () => {
        await ch.sendStartClose(n.client.getSender());
        advance(closeDelay - 1);
        await expectRefused(() => ch.sendFinishClose(n.stranger.getSender()), n.stranger.address, ErrTooEarly);
    });

    it('refuses to finish twice (ErrWrongState)', async () => {
        await ch.sendStartClose(n.client.getSender());
        advance(closeDelay);
        await ch.sendFinishClose(n.client.getSender());
        expect((await ch.getChannelState()).state).toBe(StateClosed);
        await expectRefused(() => ch.sendFinishClose(n.client.getSender()), n.client.address, ErrWrongState);
    });
});

// ---------- lifecycles ----------

describe('lifecycle', () => {
    it('client closes WITH proxy cooperation: pays for what it signed and gets the rest at once', async () => {
        const clientBefore = await balanceOf(n.bc, n.client.address);
        const ps0 = await n.proxy.getProxyState();
        // The client signs 0.4, 0.9, 1.2 over time; the proxy redeems the latest.
        voucher(toNano('0.4'));
        voucher(toNano('0.9'));
        await redeem(toNano('1.2'));
        advance(600);
        const cs = await ch.getChannelState();
        const r = await ch.sendCoopWithdraw(n.client.getSender(), { amount: cs.balance, seqno: 0n, close: true, signature: coSign(cs.balance, 0n, true) });
        const expected = CLIENT_DEPOSIT - toNano('1.2');
        const paid = valueOf(r.transactions, ch.address, n.client.address);
        expect(paid).toBeGreaterThanOrEqual(expected);
        expect(paid).toBeLessThanOrEqual(expected + SURPLUS_BOUND);
        const cs2 = await ch.getChannelState();
        expect(cs2.state).toBe(StateClosed);
        expect(cs2.balance).toBe(0n);
        expect(cs2.redeemed).toBe(toNano('1.2'));
        // the client's wallet: +paid, minus the 0.02 it attached and its own wallet fees
        const clientAfter = await balanceOf(n.bc, n.client.address);
        expect(clientAfter - clientBefore).toBeGreaterThanOrEqual(expected - toNano('0.05'));
        expect(clientAfter - clientBefore).toBeLessThanOrEqual(expected + SURPLUS_BOUND);
        const ps = await n.proxy.getProxyState();
        expect(ps.pool - ps0.pool).toBe(split(toNano('1.2')).pool);
        expect(ps.commission - ps0.commission).toBe(split(toNano('1.2')).commission);
        // closed channels accept nothing
        await expectRefused(() => redeem(toNano('2')), n.proxyOwner.address, ErrWrongState);
    });

    it('client closes WITHOUT the proxy: the proxy redeems its latest voucher during the delay, a stranger finishes', async () => {
        const ps0 = await n.proxy.getProxyState();
        voucher(toNano('0.5'));
        const latest = toNano('1.3');
        const latestSig = voucher(latest);

        await ch.sendStartClose(n.client.getSender());
        const closeAt = (await ch.getChannelState()).closeAt;
        expect(closeAt).toBe(BigInt(n.bc.now! + closeDelay));

        advance(closeDelay / 2);
        const pr = await ch.sendRedeem(n.proxyOwner.getSender(), { amount: latest, signature: latestSig });
        expect(pr.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
        expect((await ch.getChannelState()).redeemed).toBe(latest);

        n.bc.now = Number(closeAt) - 1;
        await expectRefused(() => ch.sendFinishClose(n.stranger.getSender()), n.stranger.address, ErrTooEarly);

        n.bc.now = Number(closeAt);
        const clientBefore = await balanceOf(n.bc, n.client.address);
        const strangerBefore = await balanceOf(n.bc, n.stranger.address);
        const r = await ch.sendFinishClose(n.stranger.getSender());
        expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: ch.address, success: true });
        expect(r.transactions).not.toHaveTransaction({ from: ch.address, to: n.stranger.address });

        const expected = CLIENT_DEPOSIT - latest;
        const paid = valueOf(r.transactions, ch.address, n.client.address);
        expect(paid).toBeGreaterThanOrEqual(expected);
        expect(paid).toBeLessThanOrEqual(expected + SURPLUS_BOUND);
        const clientAfter = await balanceOf(n.bc, n.client.address);
        expect(clientAfter - clientBefore).toBeGreaterThanOrEqual(expected);
        expect(clientAfter - clientBefore).toBeLessThanOrEqual(expected + SURPLUS_BOUND);
        expect(await balanceOf(n.bc, n.stranger.address)).toBeLessThan(strangerBefore); // the caller paid the gas

        const cs = await ch.getChannelState();
        expect(cs.state).toBe(StateClosed);
        expect(cs.balance).toBe(0n);
        expect(cs.redeemed).toBe(latest);
        const ps = await n.proxy.getProxyState();
        expect(ps.pool - ps0.pool).toBe(split(latest).pool);
        expect(ps.commission - ps0.commission).toBe(split(latest).commission);

        // after the close, a voucher the proxy did not redeem in time is worthless
        await expectRefused(() => redeem(toNano('2')), n.proxyOwner.address, ErrWrongState);
    });
});
