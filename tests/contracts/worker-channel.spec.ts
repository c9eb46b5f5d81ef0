// WorkerChannel: every receiver, its refusals (exit code + nothing moved), payouts out of the Proxy's pool,
// slashing with its challenge period and veto, and unbonding.
import '@ton/test-utils';
import { Address, beginCell, toNano } from '@ton/core';
import { internal, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { GLOBAL_ID, balanceOf, keys, Network, WORKER_STAKE } from '../../fixtures/network';
import { useNetworkSnapshot } from '../helpers/fixture';
import { plain } from '../helpers/state';
import { advanceTime, expectOnlyBouncesFrom, storageFees, valueOf } from '../helpers/tx';
import {
    ErrAccessDenied,
    ErrBadSignature,
    ErrInsufficientFunds,
    ErrLowValue,
    ErrNoPendingSlash,
    ErrOldVoucher,
    ErrSlashPending,
    ErrTooEarly,
    ErrWrongState,
    ErrZeroAmount,
    FeeClaim,
    FeeFinish,
    FeeSimple,
    storeSlashVeto,
    WorkerActive,
    WorkerChannelWrapper,
    WorkerClosed,
    WorkerNew,
    WorkerSuspended,
    WorkerUnbonding,
} from '../../wrappers/WorkerChannel';
import { RootWrapper } from '../../wrappers/Root';
import { FaultReport, faultPayload, signatureCell, signPayload, toUint256, voucherPayload, payoutPayload } from '../../wrappers/payloads';

const OP_PAYOUT_SENT = 0xc0c0030d;
const OP_CHANNEL_OPENED = 0xc0c00308;
const OP_CHANNEL_CLOSED = 0xc0c00309;

let n: Network;
let wc: Network['workerChannel'];
let worker2: SandboxContract<TreasuryContract>; // a second worker whose channel is not deployed yet
let wc2: SandboxContract<WorkerChannelWrapper>;
let unbondDelay: number;
let challenge: number;

useNetworkSnapshot(async (net) => {
    n = net;
    wc = n.workerChannel;
    unbondDelay = Number(n.params.workerUnbondDelay);
    challenge = Number(n.params.slashChallengePeriod);
    worker2 = await n.bc.treasury('worker-2');
    wc2 = n.bc.openContract(await channelFor(worker2.address));
});

// ---------- helpers ----------

/** The canonical channel of `worker` with this network's Proxy (as the Proxy derives it). */
async function channelFor(worker: Address): Promise<WorkerChannelWrapper> {
    const ps = await n.proxy.getProxyState();
    const codes = await n.root.getChildCode();
    const c = await WorkerChannelWrapper.create({
        proxy: n.proxy.address,
        worker,
        proxyKey: toUint256(n.proxyKeys.publicKey),
        root: n.root.address,
        terms: ps.terms!,
        code: codes.workerCode,
    });
    expect((await n.proxy.getWorkerChannelAddress(worker)).equals(c.address)).toBe(true);
    return c;
}

const advance = (secs: number) => advanceTime(n.bc, secs);

async function observe(ch = wc) {
    const ps = await n.proxy.getProxyState();
    return {
        ws: await ch.getChannelState(),
        balance: await balanceOf(n.bc, ch.address),
        pool: ps.pool,
        commission: ps.commission,
        workerChannels: ps.workerChannels,
        proxyBalance: await balanceOf(n.bc, n.proxy.address),
    };
}

/**
 * Sends, expects the channel to refuse with `code`, and checks that nothing moved: the channel's state
 * getter is unchanged, its balance did not decrease (beyond storage fees), nothing left it but the bounce,
 * and the Proxy's pool, commission and channel count did not change.
 */
async function expectRefused(send: () => Promise<SendMessageResult>, from: Address, code: bigint, ch = wc): Promise<SendMessageResult> {
    const before = await observe(ch);
    const r = await send();
    expect(r.transactions).toHaveTransaction({ from, to: ch.address, success: false, exitCode: Number(code) });
    const after = await observe(ch);
    expect(plain(after.ws)).toEqual(plain(before.ws));
    expect(after.balance).toBeGreaterThanOrEqual(before.balance - storageFees(r.transactions, ch.address));
    expect(after.pool).toBe(before.pool);
    expect(after.commission).toBe(before.commission);
    expect(after.workerChannels).toBe(before.workerChannels);
    expectOnlyBouncesFrom(r.transactions, ch.address);
    return r;
}

/** Funds the Proxy's pool by redeeming a client voucher (90 % of it lands in the pool). */
async function fundPool(cumulative: bigint) {
    const signature = n.clientChannel.signVoucher(cumulative, n.clientKeys.secretKey, GLOBAL_ID);
    const r = await n.clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: cumulative, signature });
    expect(r.transactions).toHaveTransaction({ from: n.clientChannel.address, to: n.proxy.address, success: true });
}

const payout = (cumulative: bigint, ch = wc) => ch.signPayout(cumulative, n.proxyKeys.secretKey, GLOBAL_ID);
const claim = (cumulative: bigint, via = n.stranger, ch = wc) => ch.sendClaim(via.getSender(), { amount: cumulative, signature: payout(cumulative, ch) });

function report(over: Partial<FaultReport> = {}): FaultReport {
    return { seqno: 0n, amount: toNano('0.3'), reason: 7n, requestId: 0xabcn, evidenceHash: 0xe71den, ...over };
}
const signed = (f: FaultReport, ch = wc) => ({ ...f, signature: ch.signFault(f, n.proxyKeys.secretKey, GLOBAL_ID) });
const sendFault = (f: FaultReport, via = n.stranger) => wc.sendReportFault(via.getSender(), signed(f));

const vetoViaRoot = (channel: Address, seqno = 0n) => n.root.sendAction(n.gov.getSender(), RootWrapper.vetoSlashBody(channel, seqno));

// ---------- WorkerStake ----------

describe('WorkerStake', () => {
    it('activates a channel staked at exactly minStake and the Proxy counts it', async () => {
        const ws = await wc.getChannelState();
        expect(ws.state).toBe(WorkerActive);
        expect(ws.stake).toBe(WORKER_STAKE);
        expect(ws.minStake).toBe(WORKER_STAKE);
        expect(ws.worker.equals(n.worker.address)).toBe(true);
        expect(ws.treasury.equals(n.treasury.address)).toBe(true);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(1n);
        expect(await n.proxy.getIsWorkerChannel(wc.address)).toBe(true);
        expect(await balanceOf(n.bc, wc.address)).toBeGreaterThanOrEqual(WORKER_STAKE);
    });

    it('keeps a channel below minStake new, then activates it (Proxy count++) once the stake reaches it', async () => {
        let r = await wc2.sendStake(worker2.getSender(), toNano('0.4'));
        expect(r.transactions).toHaveTransaction({ from: worker2.address, to: wc2.address, success: true, deploy: true });
        expect(r.transactions).not.toHaveTransaction({ from: wc2.address, to: n.proxy.address });
        let ws = await wc2.getChannelState();
        expect(ws.state).toBe(WorkerNew);
        expect(ws.stake).toBe(toNano('0.4'));
        expect((await n.proxy.getProxyState()).workerChannels).toBe(1n);
        expect(await n.proxy.getIsWorkerChannel(wc2.address)).toBe(false);

        r = await wc2.sendStake(worker2.getSender(), toNano('0.6'));
        expect(r.transactions).toHaveTransaction({ from: wc2.address, to: n.proxy.address, op: OP_CHANNEL_OPENED, success: true });
        ws = await wc2.getChannelState();
        expect(ws.state).toBe(WorkerActive);
        expect(ws.stake).toBe(toNano('1'));
        expect((await n.proxy.getProxyState()).workerChannels).toBe(2n);
        expect(await n.proxy.getIsWorkerChannel(wc2.address)).toBe(true);

        // more stake on an active channel: no second notification, no double count
        r = await wc2.sendStake(worker2.getSender(), toNano('0.5'));
        expect(r.transactions).not.toHaveTransaction({ from: wc2.address, to: n.proxy.address });
        expect((await wc2.getChannelState()).stake).toBe(toNano('1.5'));
        expect((await n.proxy.getProxyState()).workerChannels).toBe(2n);
    });

    it('accepts exactly amount + FeeSimple', async () => {
        const before = await observe();
        await wc.sendStake(n.worker.getSender(), toNano('0.2'), FeeSimple);
        const after = await observe();
        expect(after.ws.stake).toBe(before.ws.stake + toNano('0.2'));
        expect(after.balance).toBeGreaterThanOrEqual(before.balance + toNano('0.2'));
    });

    it('refuses stake from anyone but the worker (ErrAccessDenied)', async () => {
        await expectRefused(() => wc.sendStake(n.stranger.getSender(), toNano('0.5')), n.stranger.address, ErrAccessDenied);
        await expectRefused(() => wc.sendStake(n.proxyOwner.getSender(), toNano('0.5')), n.proxyOwner.address, ErrAccessDenied);
    });

    it('refuses a value below amount + FeeSimple (ErrLowValue)', async () => {
        await expectRefused(() => wc.sendStake(n.worker.getSender(), toNano('0.5'), FeeSimple - 1n), n.worker.address, ErrLowValue);
    });

    it('refuses a zero amount (ErrZeroAmount)', async () => {
        await expectRefused(() => wc.sendStake(n.worker.getSender(), 0n, toNano('0.05')), n.worker.address, ErrZeroAmount);
    });

    it('refuses stake while unbonding (ErrWrongState)', async () => {
        await wc.sendStartUnbond(n.worker.getSender());
        await expectRefused(() => wc.sendStake(n.worker.getSender(), toNano('0.5')), n.worker.address, ErrWrongState);
    });
});

// ---------- ClaimPayout ----------

describe('ClaimPayout', () => {
    it('pays the worker exactly the difference out of the Proxy pool', async () => {
        await fundPool(toNano('2')); // pool 1.8
        const before = await observe();
        expect(before.pool).toBe(toNano('1.8'));
        const r = await claim(toNano('0.5'));
        expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, op: OP_PAYOUT_SENT, success: true });
        expect(valueOf(r.transactions, n.proxy.address, n.worker.address)).toBeGreaterThanOrEqual(toNano('0.5'));
        expect(r.transactions).not.toHaveTransaction({ from: n.proxy.address, to: n.stranger.address });
        let after = await observe();
        expect(after.ws.paid).toBe(toNano('0.5'));
        expect(after.pool).toBe(before.pool - toNano('0.5'));
        expect(after.commission).toBe(before.commission);
        expect(after.ws.stake).toBe(WORKER_STAKE);

        // the next cumulative payout moves only the new difference
        const r2 = await claim(toNano('0.8'), n.worker);
        expect(valueOf(r2.transactions, n.proxy.address, n.worker.address)).toBeGreaterThanOrEqual(toNano('0.3'));
        expect(valueOf(r2.transactions, n.proxy.address, n.worker.address)).toBeLessThan(toNano('0.3') + FeeClaim);
        after = await observe();
        expect(after.ws.paid).toBe(toNano('0.8'));
        expect(after.pool).toBe(before.pool - toNano('0.8'));
    });

    it('refuses an equal or older cumulative payout (ErrOldVoucher)', async () => {
        await fundPool(toNano('2'));
        const old = payout(toNano('0.2'));
        await claim(toNano('0.5'));
        await expectRefused(() => claim(toNano('0.5')), n.stranger.address, ErrOldVoucher);
        await expectRefused(() => wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.2'), signature: old }), n.stranger.address, ErrOldVoucher);
        await expectRefused(() => claim(0n), n.stranger.address, ErrOldVoucher);
    });

    it('refuses a payout signed by another key (ErrBadSignature)', async () => {
        await fundPool(toNano('2'));
        for (const sk of [keys('someone-else').secretKey, n.clientKeys.secretKey]) {
            const sig = wc.signPayout(toNano('0.5'), sk, GLOBAL_ID);
            await expectRefused(() => wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig }), n.stranger.address, ErrBadSignature);
        }
    });

    it('refuses a payout signed for another channel (ErrBadSignature)', async () => {
        await fundPool(toNano('2'));
        const sig = signPayload(payoutPayload(wc2.address, toNano('0.5'), GLOBAL_ID), n.proxyKeys.secretKey);
        await expectRefused(() => wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig }), n.stranger.address, ErrBadSignature);
    });

    it('refuses a proxy signature over the same fields with another tag (voucher tag, ErrBadSignature)', async () => {
        await fundPool(toNano('2'));
        const sig = signPayload(voucherPayload(wc.address, toNano('0.5'), GLOBAL_ID), n.proxyKeys.secretKey);
        await expectRefused(() => wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig }), n.stranger.address, ErrBadSignature);
    });

    it('refuses a payout whose amount was raised after signing (ErrBadSignature)', async () => {
        await fundPool(toNano('2'));
        const sig = payout(toNano('0.5'));
        await expectRefused(() => wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.6'), signature: sig }), n.stranger.address, ErrBadSignature);
    });

    it('refuses a value below FeeClaim (ErrLowValue)', async () => {
        await fundPool(toNano('2'));
        await expectRefused(
            () => wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: payout(toNano('0.5')), value: FeeClaim - 1n }),
            n.stranger.address,
            ErrLowValue,
        );
    });

    it('refuses a claim on a channel that is still new (ErrWrongState)', async () => {
        await fundPool(toNano('2'));
        await wc2.sendStake(worker2.getSender(), toNano('0.4'));
        await expectRefused(() => claim(toNano('0.5'), n.stranger, wc2), n.stranger.address, ErrWrongState, wc2);
    });

    it('restores `paid` when the pool cannot pay; the same payout succeeds once the pool is funded', async () => {
        const before = await observe();
        expect(before.pool).toBe(0n);
        const sig = payout(toNano('0.5'));
        const r = await wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig });
        expect(r.transactions).toHaveTransaction({ from: wc.address, to: n.proxy.address, success: false, exitCode: 262 /* ErrInsufficientFunds */ });
        expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: wc.address, inMessageBounced: true, success: true });
        expect(r.transactions).not.toHaveTransaction({ to: n.worker.address });
        let after = await observe();
        expect(plain(after.ws)).toEqual(plain(before.ws));
        expect(after.ws.paid).toBe(0n);
        expect(after.pool).toBe(0n);
        expect(after.balance).toBeGreaterThanOrEqual(before.balance - storageFees(r.transactions, wc.address));

        // a pool that covers only part of the difference also refuses (no partial payouts)
        await fundPool(toNano('0.5')); // pool 0.45
        const r2 = await wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig });
        expect(r2.transactions).toHaveTransaction({ from: wc.address, to: n.proxy.address, success: false, exitCode: 262 });
        expect((await wc.getChannelState()).paid).toBe(0n);
        expect((await n.proxy.getProxyState()).pool).toBe(toNano('0.45'));

        await fundPool(toNano('1')); // pool 0.9
        const r3 = await wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig });
        expect(r3.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, op: OP_PAYOUT_SENT, success: true });
        expect(valueOf(r3.transactions, n.proxy.address, n.worker.address)).toBeGreaterThanOrEqual(toNano('0.5'));
        after = await observe();
        expect(after.ws.paid).toBe(toNano('0.5'));
        expect(after.pool).toBe(toNano('0.4'));
    });
});

// ---------- ReportFault ----------

describe('ReportFault', () => {
    it('opens a pending slash from a proxy-signed report submitted by anyone', async () => {
        const f = report();
        const r = await sendFault(f);
        expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: wc.address, success: true });
        const ws = await wc.getChannelState();
        expect(ws.faultSeqno).toBe(1n);
        expect(ws.stake).toBe(WORKER_STAKE); // nothing moves until executed
        expect(ws.slash).not.toBeNull();
        expect(ws.slash!.amount).toBe(f.amount);
        expect(ws.slash!.reason).toBe(f.reason);
        expect(ws.slash!.requestId).toBe(f.requestId);
        expect(ws.slash!.evidenceHash).toBe(f.evidenceHash);
        expect(ws.slash!.executeAt).toBe(BigInt(n.bc.now! + challenge));
    });

    it('caps the slash at the stake', async () => {
        await sendFault(report({ amount: toNano('5') }));
        expect((await wc.getChannelState()).slash!.amount).toBe(WORKER_STAKE);
    });

    it('refuses a replayed report (same seqno after the first was settled, ErrOldVoucher)', async () => {
        const f = signed(report());
        await wc.sendReportFault(n.stranger.getSender(), f);
        await vetoViaRoot(wc.address);
        expect((await wc.getChannelState()).slash).toBeNull();
        await expectRefused(() => wc.sendReportFault(n.stranger.getSender(), f), n.stranger.address, ErrOldVoucher);
    });

    it('refuses a seqno ahead of the stored one (ErrOldVoucher)', async () => {
        await expectRefused(() => sendFault(report({ seqno: 1n })), n.stranger.address, ErrOldVoucher);
    });

    it('refuses a report signed by another key (ErrBadSignature)', async () => {
        const f = report();
        const signature = wc.signFault(f, keys('someone-else').secretKey, GLOBAL_ID);
        await expectRefused(() => wc.sendReportFault(n.stranger.getSender(), { ...f, signature }), n.stranger.address, ErrBadSignature);
    });

    it('refuses a report signed for another channel (ErrBadSignature)', async () => {
        const f = report();
        const signature = signPayload(faultPayload(wc2.address, f, GLOBAL_ID), n.proxyKeys.secretKey);
        await expectRefused(() => wc.sendReportFault(n.stranger.getSender(), { ...f, signature }), n.stranger.address, ErrBadSignature);
    });

    it('refuses a report whose amount or reason was changed after signing (ErrBadSignature)', async () => {
        const f = signed(report());
        await expectRefused(() => wc.sendReportFault(n.stranger.getSender(), { ...f, amount: toNano('0.9') }), n.stranger.address, ErrBadSignature);
        await expectRefused(() => wc.sendReportFault(n.stranger.getSender(), { ...f, reason: 8n }), n.stranger.address, ErrBadSignature);
    });

    it('refuses a signature cell that is not 512 bits (ErrBadSignature)', async () => {
        const f = report();
        const sig = wc.signFault(f, n.proxyKeys.secretKey, GLOBAL_ID);
        await expectRefused(
            () =>
                wc.send(n.stranger.getSender(), { value: toNano('0.05') }, {
                    $$type: 'ReportFault',
                    queryId: 0n,
                    ...f,
                    signature: beginCell().storeBuffer(sig.subarray(0, 63)).endCell(),
                }),
            n.stranger.address,
            ErrBadSignature,
        );
        // and the same report with the full signature cell is accepted
        const r = await wc.send(n.stranger.getSender(), { value: toNano('0.05') }, { $$type: 'ReportFault', queryId: 0n, ...f, signature: signatureCell(sig) });
        expect(r.transactions).toHaveTransaction({ to: wc.address, success: true });
    });

    it('refuses a second report while one is pending (ErrSlashPending)', async () => {
        await sendFault(report());
        await expectRefused(() => sendFault(report({ seqno: 1n, amount: toNano('0.1') })), n.stranger.address, ErrSlashPending);
    });

    it('refuses a value below FeeSimple (ErrLowValue)', async () => {
        await expectRefused(() => wc.sendReportFault(n.stranger.getSender(), { ...signed(report()), value: FeeSimple - 1n }), n.stranger.address, ErrLowValue);
    });

    it('refuses a zero amount (ErrZeroAmount)', async () => {
        await expectRefused(() => sendFault(report({ amount: 0n })), n.stranger.address, ErrZeroAmount);
    });

    it('refuses a report against a channel that is still new (ErrWrongState)', async () => {
        await wc2.sendStake(worker2.getSender(), toNano('0.4'));
        const f = report();
        await expectRefused(() => wc2.sendReportFault(n.stranger.getSender(), signed(f, wc2)), n.stranger.address, ErrWrongState, wc2);
    });
});

// ---------- ExecuteSlash ----------

describe('ExecuteSlash', () => {
    it('refuses to execute before the challenge period ends (ErrTooEarly)', async () => {
        await sendFault(report());
        advance(challenge - 1);
        await expectRefused(() => wc.sendExecuteSlash(n.stranger.getSender()), n.stranger.address, ErrTooEarly);
    });

    it('sends exactly the slashed amount to the treasury and reduces the stake', async () => {
        await sendFault(report({ amount: toNano('0.3') }));
        advance(challenge);
        const before = await observe();
        const r = await wc.sendExecuteSlash(n.stranger.getSender());
        expect(r.transactions).toHaveTransaction({ from: wc.address, to: n.treasury.address, success: true });
        expect(valueOf(r.transactions, wc.address, n.treasury.address)).toBe(toNano('0.3'));
        const after = await observe();
        expect(after.ws.stake).toBe(WORKER_STAKE - toNano('0.3'));
        expect(after.ws.slash).toBeNull();
        expect(after.ws.state).toBe(WorkerSuspended); // 0.7 TON left, below minStake (1 TON)
        expect(after.ws.paid).toBe(before.ws.paid);
        expect(after.balance).toBeGreaterThanOrEqual(after.ws.stake);
        expect(after.pool).toBe(before.pool);
        // settled: the same slash cannot be executed twice
        await expectRefused(() => wc.sendExecuteSlash(n.stranger.getSender()), n.stranger.address, ErrNoPendingSlash);
    });

    it('refuses with nothing pending (ErrNoPendingSlash)', async () => {
        await expectRefused(() => wc.sendExecuteSlash(n.stranger.getSender()), n.stranger.address, ErrNoPendingSlash);
    });

    it('attack 3: a worker slashed to zero leaves Active (Suspended), cannot be reported again, keeps its signed earnings claimable, and is Active again only once topped up to minStake', async () => {
        await fundPool(toNano('2')); // pool 1.8
        const earned = payout(toNano('0.4')); // signed while the worker was active
        await sendFault(report({ amount: WORKER_STAKE }));
        advance(challenge);
        await wc.sendExecuteSlash(n.stranger.getSender());
        let ws = await wc.getChannelState();
        expect(ws.stake).toBe(0n);
        expect(ws.state).toBe(WorkerSuspended);
        // The Proxy still counts the channel (it is not closed), but the getter tells the proxy agent not to route to it.
        expect(await n.proxy.getIsWorkerChannel(wc.address)).toBe(true);

        // Nothing left to slash: no new report.
        await expectRefused(() => sendFault(report({ seqno: 1n })), n.stranger.address, ErrInsufficientFunds);

        // Earned money stays claimable.
        const r = await wc.sendClaim(n.stranger.getSender(), { amount: toNano('0.4'), signature: earned });
        expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, op: OP_PAYOUT_SENT, success: true });
        expect((await wc.getChannelState()).paid).toBe(toNano('0.4'));

        // A top-up below minStake keeps it suspended (and reportable again); reaching minStake reactivates it.
        await wc.sendStake(n.worker.getSender(), toNano('0.5'));
        ws = await wc.getChannelState();
        expect(ws.state).toBe(WorkerSuspended);
        expect(ws.stake).toBe(toNano('0.5'));
        await wc.sendStake(n.worker.getSender(), toNano('0.5'));
        ws = await wc.getChannelState();
        expect(ws.state).toBe(WorkerActive);
        expect(ws.stake).toBe(WORKER_STAKE);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(1n); // counted once, never twice
    });

    it('attack 3: a suspended worker can still unbond and leave with what is left', async () => {
        await sendFault(report({ amount: toNano('0.6') }));
        advance(challenge);
        await wc.sendExecuteSlash(n.stranger.getSender());
        expect((await wc.getChannelState()).state).toBe(WorkerSuspended);
        await wc.sendStartUnbond(n.worker.getSender());
        advance(unbondDelay);
        const r = await wc.sendFinishUnbond(n.stranger.getSender());
        expect(valueOf(r.transactions, wc.address, n.worker.address)).toBeGreaterThanOrEqual(toNano('0.4'));
        expect((await wc.getChannelState()).state).toBe(WorkerClosed);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(0n);
    });

    it('refuses a value below FeeFinish (ErrLowValue)', async () => {
        await sendFault(report());
        advance(challenge);
        await expectRefused(() => wc.sendExecuteSlash(n.stranger.getSender(), FeeFinish - 1n), n.stranger.address, ErrLowValue);
    });
});

// ---------- SlashVeto ----------

describe('SlashVeto', () => {
    const vetoBody = () => beginCell().store(storeSlashVeto({ $$type: 'SlashVeto', queryId: 0n, faultSeqno: 0n })).endCell();

    it('refuses a veto sent directly by a stranger, the worker or the Proxy (ErrAccessDenied)', async () => {
        await sendFault(report());
        await expectRefused(() => wc.send(n.stranger.getSender(), { value: toNano('0.05') }, { $$type: 'SlashVeto', queryId: 0n, faultSeqno: 0n }), n.stranger.address, ErrAccessDenied);
        await expectRefused(() => wc.send(n.worker.getSender(), { value: toNano('0.05') }, { $$type: 'SlashVeto', queryId: 0n, faultSeqno: 0n }), n.worker.address, ErrAccessDenied);
        await expectRefused(
            () => n.bc.sendMessage(internal({ from: n.proxy.address, to: wc.address, value: toNano('0.05'), body: vetoBody() })),
            n.proxy.address,
            ErrAccessDenied,
        );
    });

    it('clears the pending slash when Governance vetoes through Root', async () => {
        await sendFault(report());
        const r = await vetoViaRoot(wc.address);
        expect(r.transactions).toHaveTransaction({ from: n.root.address, to: wc.address, success: true });
        const ws = await wc.getChannelState();
        expect(ws.slash).toBeNull();
        expect(ws.stake).toBe(WORKER_STAKE);
        expect(ws.faultSeqno).toBe(1n);
    });

    it('refuses a veto through Root with nothing pending (ErrNoPendingSlash)', async () => {
        await expectRefused(() => vetoViaRoot(wc.address), n.root.address, ErrNoPendingSlash);
    });

    it('attack 5: a veto for fault #0 arriving after #0 executed does not clear fault #1 (ErrNoPendingSlash); #1 still executes', async () => {
        await sendFault(report({ seqno: 0n, amount: toNano('0.1') }));
        advance(challenge);
        await wc.sendExecuteSlash(n.stranger.getSender());
        await sendFault(report({ seqno: 1n, amount: toNano('0.2') }));
        const pending = (await wc.getChannelState()).slash!;
        expect(pending.seqno).toBe(1n);

        await expectRefused(() => vetoViaRoot(wc.address, 0n), n.root.address, ErrNoPendingSlash);
        expect((await wc.getChannelState()).slash).toEqual(pending);

        advance(challenge);
        const r = await wc.sendExecuteSlash(n.stranger.getSender());
        expect(valueOf(r.transactions, wc.address, n.treasury.address)).toBe(toNano('0.2'));
        expect((await wc.getChannelState()).stake).toBe(WORKER_STAKE - toNano('0.3'));
    });

    it('attack 5: a veto naming the pending fault clears exactly that one', async () => {
        await sendFault(report({ seqno: 0n }));
        advance(challenge);
        await wc.sendExecuteSlash(n.stranger.getSender());
        await sendFault(report({ seqno: 1n }));
        const r = await vetoViaRoot(wc.address, 1n);
        expect(r.transactions).toHaveTransaction({ from: n.root.address, to: wc.address, success: true });
        expect((await wc.getChannelState()).slash).toBeNull();
    });
});

// ---------- StartUnbond ----------

describe('StartUnbond', () => {
    it('lets the worker start unbonding: unbondAt = now + unbondDelay', async () => {
        const r = await wc.sendStartUnbond(n.worker.getSender());
        expect(r.transactions).toHaveTransaction({ from: n.worker.address, to: wc.address, success: true });
        const ws = await wc.getChannelState();
        expect(ws.state).toBe(WorkerUnbonding);
        expect(ws.unbondAt).toBe(BigInt(n.bc.now! + unbondDelay));
        expect(ws.stake).toBe(WORKER_STAKE);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(1n); // still counted until finished
    });

    it('lets the Proxy contract start unbonding (owner sends EvictWorker)', async () => {
        const r = await n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.worker.address);
        expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: wc.address, success: true });
        expect((await wc.getChannelState()).state).toBe(WorkerUnbonding);
    });

    it('refuses a start from a stranger or the proxy owner wallet (ErrAccessDenied)', async () => {
        await expectRefused(() => wc.sendStartUnbond(n.stranger.getSender()), n.stranger.address, ErrAccessDenied);
        await expectRefused(() => wc.sendStartUnbond(n.proxyOwner.getSender()), n.proxyOwner.address, ErrAccessDenied);
    });

    it('refuses a second start, also through EvictWorker (ErrWrongState)', async () => {
        await wc.sendStartUnbond(n.worker.getSender());
        advance(10);
        await expectRefused(() => wc.sendStartUnbond(n.worker.getSender()), n.worker.address, ErrWrongState);
        await expectRefused(() => n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.worker.address), n.proxy.address, ErrWrongState);
    });

    it('lets a new channel with some stake unbond; it never was counted, so the Proxy count stays', async () => {
        await wc2.sendStake(worker2.getSender(), toNano('0.4'));
        await wc2.sendStartUnbond(worker2.getSender());
        expect((await wc2.getChannelState()).state).toBe(WorkerUnbonding);
        advance(unbondDelay);
        const r = await wc2.sendFinishUnbond(n.stranger.getSender());
        expect(valueOf(r.transactions, wc2.address, worker2.address)).toBeGreaterThanOrEqual(toNano('0.4'));
        expect(r.transactions).not.toHaveTransaction({ from: wc2.address, to: n.proxy.address });
        expect((await wc2.getChannelState()).state).toBe(WorkerClosed);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(1n);
    });
});

// ---------- FinishUnbond ----------

describe('FinishUnbond', () => {
    it('refuses to finish an active channel (ErrWrongState)', async () => {
        await expectRefused(() => wc.sendFinishUnbond(n.stranger.getSender()), n.stranger.address, ErrWrongState);
    });

    it('refuses to finish before unbondAt (ErrTooEarly)', async () => {
        await wc.sendStartUnbond(n.worker.getSender());
        advance(unbondDelay - 1);
        await expectRefused(() => wc.sendFinishUnbond(n.stranger.getSender()), n.stranger.address, ErrTooEarly);
    });

    it('refuses to finish while a slash is pending (ErrSlashPending)', async () => {
        await wc.sendStartUnbond(n.worker.getSender());
        advance(unbondDelay - 10);
        await sendFault(report());
        advance(10);
        await expectRefused(() => wc.sendFinishUnbond(n.stranger.getSender()), n.stranger.address, ErrSlashPending);
    });

    it('returns the stake to the worker, decrements the Proxy count and closes; closed channels accept nothing', async () => {
        await wc.sendStartUnbond(n.worker.getSender());
        advance(unbondDelay);
        const workerBefore = await balanceOf(n.bc, n.worker.address);
        const r = await wc.sendFinishUnbond(n.stranger.getSender());
        expect(r.transactions).toHaveTransaction({ from: wc.address, to: n.proxy.address, op: OP_CHANNEL_CLOSED, success: true });
        const paid = valueOf(r.transactions, wc.address, n.worker.address);
        expect(paid).toBeGreaterThanOrEqual(WORKER_STAKE);
        expect(paid).toBeLessThan(WORKER_STAKE + toNano('0.2'));
        expect((await balanceOf(n.bc, n.worker.address)) - workerBefore).toBeGreaterThanOrEqual(WORKER_STAKE);
        const ws = await wc.getChannelState();
        expect(ws.state).toBe(WorkerClosed);
        expect(ws.stake).toBe(0n);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(0n);
        expect(await n.proxy.getIsWorkerChannel(wc.address)).toBe(false);
        expect(await balanceOf(n.bc, wc.address)).toBeLessThanOrEqual(toNano('0.01')); // only the storage floor

        // A payout the proxy signed stays claimable after the close (LatePayout, authenticated by derivation).
        await fundPool(toNano('1'));
        const late = await claim(toNano('0.1'));
        expect(late.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, op: OP_PAYOUT_SENT, success: true });
        expect((await wc.getChannelState()).paid).toBe(toNano('0.1'));
        await expectRefused(() => sendFault(report()), n.stranger.address, ErrWrongState);
        await expectRefused(() => wc.sendStake(n.worker.getSender(), toNano('1')), n.worker.address, ErrWrongState);
        await expectRefused(() => wc.sendStartUnbond(n.worker.getSender()), n.worker.address, ErrWrongState);
        await expectRefused(() => wc.sendFinishUnbond(n.stranger.getSender()), n.stranger.address, ErrWrongState);
    });
});

// ---------- lifecycles ----------

describe('late claims on a closed channel', () => {
    it('attack 6/7: a late claim the pool cannot pay bounces, `paid` is restored, and the returned value goes on to the worker (nothing stays locked)', async () => {
        await wc.sendStartUnbond(n.worker.getSender());
        advance(unbondDelay);
        await wc.sendFinishUnbond(n.stranger.getSender());
        expect((await wc.getChannelState()).state).toBe(WorkerClosed);
        const floor = await balanceOf(n.bc, wc.address);
        const r = await claim(toNano('0.5'));
        expect(r.transactions).toHaveTransaction({ from: wc.address, to: n.proxy.address, success: false, exitCode: Number(ErrInsufficientFunds) });
        expect(r.transactions).toHaveTransaction({ from: wc.address, to: n.worker.address, success: true, value: (v?: bigint) => v !== undefined && v > 0n });
        expect((await wc.getChannelState()).paid).toBe(0n);
        expect(await balanceOf(n.bc, wc.address)).toBeLessThanOrEqual(floor);
        // once the pool is funded the same signature pays
        await fundPool(toNano('1'));
        const r2 = await claim(toNano('0.5'));
        expect(r2.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, op: OP_PAYOUT_SENT, success: true });
        expect((await wc.getChannelState()).paid).toBe(toNano('0.5'));
    });
});

describe('lifecycle', () => {
    it('worker earns, unbonds, claims its last payout during the delay and leaves with its stake', async () => {
        await fundPool(toNano('2')); // pool 1.8
        let r = await claim(toNano('0.3'), n.worker);
        expect(valueOf(r.transactions, n.proxy.address, n.worker.address)).toBeGreaterThanOrEqual(toNano('0.3'));

        await wc.sendStartUnbond(n.worker.getSender());
        const unbondAt = Number((await wc.getChannelState()).unbondAt);
        advance(unbondDelay / 2);
        r = await claim(toNano('0.5'));
        expect(valueOf(r.transactions, n.proxy.address, n.worker.address)).toBeGreaterThanOrEqual(toNano('0.2'));
        expect((await wc.getChannelState()).paid).toBe(toNano('0.5'));
        expect((await n.proxy.getProxyState()).pool).toBe(toNano('1.3'));

        n.bc.now = unbondAt - 1;
        await expectRefused(() => wc.sendFinishUnbond(n.stranger.getSender()), n.stranger.address, ErrTooEarly);
        n.bc.now = unbondAt;
        const strangerBefore = await balanceOf(n.bc, n.stranger.address);
        r = await wc.sendFinishUnbond(n.stranger.getSender());
        expect(valueOf(r.transactions, wc.address, n.worker.address)).toBeGreaterThanOrEqual(WORKER_STAKE);
        expect(r.transactions).not.toHaveTransaction({ from: wc.address, to: n.stranger.address });
        expect(await balanceOf(n.bc, n.stranger.address)).toBeLessThan(strangerBefore);
        expect((await wc.getChannelState()).state).toBe(WorkerClosed);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(0n);

        // a payout signed before the close is still claimable after it
        r = await claim(toNano('0.6'));
        expect(valueOf(r.transactions, n.proxy.address, n.worker.address)).toBeGreaterThanOrEqual(toNano('0.1'));
        expect((await n.proxy.getProxyState()).pool).toBe(toNano('1.2'));
    });

    it('slash executed: a fault reported during unbonding blocks the exit until the treasury is paid', async () => {
        await wc.sendStartUnbond(n.worker.getSender());
        const unbondAt = Number((await wc.getChannelState()).unbondAt);
        n.bc.now = unbondAt - 100;
        await sendFault(report({ amount: toNano('0.25') }));
        const executeAt = Number((await wc.getChannelState()).slash!.executeAt);
        expect(executeAt).toBeGreaterThan(unbondAt);

        n.bc.now = unbondAt;
        await expectRefused(() => wc.sendFinishUnbond(n.stranger.getSender()), n.stranger.address, ErrSlashPending);
        await expectRefused(() => wc.sendExecuteSlash(n.stranger.getSender()), n.stranger.address, ErrTooEarly);

        n.bc.now = executeAt;
        let r = await wc.sendExecuteSlash(n.stranger.getSender());
        expect(valueOf(r.transactions, wc.address, n.treasury.address)).toBe(toNano('0.25'));
        expect((await wc.getChannelState()).stake).toBe(WORKER_STAKE - toNano('0.25'));

        r = await wc.sendFinishUnbond(n.stranger.getSender());
        const back = valueOf(r.transactions, wc.address, n.worker.address);
        expect(back).toBeGreaterThanOrEqual(WORKER_STAKE - toNano('0.25'));
        expect(back).toBeLessThan(WORKER_STAKE - toNano('0.25') + toNano('0.2'));
        expect((await wc.getChannelState()).state).toBe(WorkerClosed);
        expect((await n.proxy.getProxyState()).workerChannels).toBe(0n);
    });

    it('slash vetoed: Governance clears it, nothing reaches the treasury and the next report needs the next seqno', async () => {
        const f = signed(report({ amount: toNano('0.4') }));
        await wc.sendReportFault(n.stranger.getSender(), f);
        advance(challenge / 2);
        const r = await vetoViaRoot(wc.address);
        expect(r.transactions).toHaveTransaction({ from: n.root.address, to: wc.address, success: true });
        advance(challenge);
        await expectRefused(() => wc.sendExecuteSlash(n.stranger.getSender()), n.stranger.address, ErrNoPendingSlash);
        expect((await wc.getChannelState()).stake).toBe(WORKER_STAKE);

        await expectRefused(() => wc.sendReportFault(n.stranger.getSender(), f), n.stranger.address, ErrOldVoucher);
        const r2 = await sendFault(report({ seqno: 1n, amount: toNano('0.1') }));
        expect(r2.transactions).toHaveTransaction({ to: wc.address, success: true });
        const ws = await wc.getChannelState();
        expect(ws.faultSeqno).toBe(2n);
        expect(ws.slash!.amount).toBe(toNano('0.1'));

        // the worker can still leave once the new slash is settled
        await wc.sendStartUnbond(n.worker.getSender());
        advance(unbondDelay);
        await wc.sendExecuteSlash(n.stranger.getSender());
        const r3 = await wc.sendFinishUnbond(n.worker.getSender());
        expect(valueOf(r3.transactions, wc.address, n.worker.address)).toBeGreaterThanOrEqual(WORKER_STAKE - toNano('0.1'));
        expect((await wc.getChannelState()).state).toBe(WorkerClosed);
    });
});
