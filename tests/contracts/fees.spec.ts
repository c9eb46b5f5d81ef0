// Every fee threshold of the contracts (contracts/constants.tact: measured gas converted at the chain's prices),
// on the real contracts in the sandbox: one nanoTON below the threshold the operation fails with ErrLowValue (259)
// and leaves the contract as it was; at exactly the threshold the operation and every transaction it causes
// succeed (so the threshold covers what the operation really costs, notices carrying NotifyValue included). The
// thresholds come from wrappers/fees.ts, so this also proves the TypeScript formula equals the on-chain one.
import '@ton/test-utils';
import { Address, Cell, toNano } from '@ton/core';
import { SendMessageResult } from '@ton/sandbox';
import { GLOBAL_ID, balanceOf, keys, Network, PROXY_STAKE } from '../../fixtures/network';
import { useNetworkSnapshot } from '../helpers/fixture';
import { accountOf } from '../helpers/state';
import { advanceTime } from '../helpers/tx';
import { FeeClaim, FeeFinish, FeeRedeem, FeeTopUp, MinStorage } from '../../wrappers/ClientChannel';
import { ErrInsufficientFunds, ErrLowValue, FeeCommit, FeePayment, FeeRegister, FeeSimple, NotifyValue, ProxyWrapper } from '../../wrappers/Proxy';
import { commitPayload, signPayload, toUint256 } from '../../wrappers/payloads';

const getN = useNetworkSnapshot();
let n: Network;
beforeEach(() => {
    n = getN();
});

interface Case {
    fee: string;
    threshold: () => bigint;
    op: string;
    /** State the operation needs (run once before the refused and once before the accepted attempt). */
    prepare?: () => Promise<void>;
    /** Sends the operation with `value` where the fee goes (value = threshold + whatever the operation moves). */
    send: (fee: bigint) => Promise<SendMessageResult>;
    target: () => Address;
    /** Failures the accepted attempt causes by design (anything else failing fails the test). */
    expectedFailures?: () => { to: Address; exitCode: number }[];
    /** Extra check after the accepted attempt. */
    check?: (r: SendMessageResult) => Promise<void>;
}

const voucher = (amount: bigint) => n.clientChannel.signVoucher(amount, n.clientKeys.secretKey, GLOBAL_ID);
const payout = (amount: bigint) => n.workerChannel.signPayout(amount, n.proxyKeys.secretKey, GLOBAL_ID);
const redeem = (amount: bigint) => n.clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount, signature: voucher(amount) });
const fault = { seqno: 0n, amount: toNano('0.3'), reason: 7n, requestId: 1n, evidenceHash: 2n };
const signedFault = () => ({ ...fault, signature: n.workerChannel.signFault(fault, n.proxyKeys.secretKey, GLOBAL_ID) });
const commitSig = (h: bigint) => signPayload(commitPayload(n.proxy.address, 5n, h, GLOBAL_ID), n.proxyKeys.secretKey);
async function closeWorkerChannel() {
    await n.workerChannel.sendStartUnbond(n.worker.getSender());
    advanceTime(n.bc, Number(n.params.workerUnbondDelay));
    await n.workerChannel.sendFinishUnbond(n.worker.getSender());
}

// Root answers UnregisterProxy with a cashback the Proxy has no receiver for (exit 130, non-bounceable: the value
// stays in the Proxy as owner surplus). Not a fee matter; listed so that nothing else may fail.
const rootCashbackToProxy = () => ({ to: n.proxy.address, exitCode: 130 });

const cases: Case[] = [
    {
        fee: 'FeeTopUp', threshold: () => FeeTopUp, op: 'TopUp',
        send: (fee) => n.clientChannel.sendTopUp(n.stranger.getSender(), toNano('1'), fee),
        target: () => n.clientChannel.address,
    },
    {
        fee: 'FeeRedeem', threshold: () => FeeRedeem, op: 'Redeem (the Proxy books the ChannelPayment)',
        send: (fee) => n.clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: voucher(toNano('1')), value: fee }),
        target: () => n.clientChannel.address,
        check: async (r) => {
            expect(r.transactions).toHaveTransaction({ from: n.clientChannel.address, to: n.proxy.address, success: true });
        },
    },
    {
        fee: 'FeePayment', threshold: () => FeePayment, op: 'ChannelPayment',
        send: (fee) => n.proxy.send(n.stranger.getSender(), { value: toNano('1') + fee }, { $$type: 'ChannelPayment', queryId: 0n, amount: toNano('1') }),
        target: () => n.proxy.address,
    },
    {
        fee: 'FeeCommit', threshold: () => FeeCommit, op: 'StateCommit',
        send: (fee) => n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno: 1n, hash: 1n, secretKey: n.proxyKeys.secretKey, value: fee }),
        target: () => n.proxy.address,
    },
    {
        fee: 'FeeClaim', threshold: () => FeeClaim, op: 'ClaimPayout (the Proxy pays the worker)',
        prepare: async () => void (await redeem(toNano('2'))),
        send: (fee) => n.workerChannel.sendClaim(n.stranger.getSender(), { amount: toNano('1'), signature: payout(toNano('1')), value: fee }),
        target: () => n.workerChannel.address,
        check: async (r) => {
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, success: true, value: (v?: bigint) => (v ?? 0n) >= toNano('1') });
        },
    },
    {
        fee: 'FeeClaim', threshold: () => FeeClaim, op: 'ClaimPayout on a closed channel with an empty pool (LatePayout refused, value sent on to the worker)',
        prepare: closeWorkerChannel,
        send: (fee) => n.workerChannel.sendClaim(n.stranger.getSender(), { amount: toNano('1'), signature: payout(toNano('1')), value: fee }),
        target: () => n.workerChannel.address,
        expectedFailures: () => [{ to: n.proxy.address, exitCode: Number(ErrInsufficientFunds) }],
        check: async (r) => {
            expect(r.transactions).toHaveTransaction({ from: n.workerChannel.address, to: n.worker.address, success: true });
        },
    },
    {
        fee: 'FeeSimple', threshold: () => FeeSimple, op: 'CoopWithdraw',
        send: (fee) =>
            n.clientChannel.sendCoopWithdraw(n.client.getSender(), {
                amount: toNano('1'), seqno: 0n, close: false, value: fee,
                signature: n.clientChannel.signWithdraw(toNano('1'), 0n, false, n.proxyKeys.secretKey, GLOBAL_ID),
            }),
        target: () => n.clientChannel.address,
    },
    {
        fee: 'FeeSimple', threshold: () => FeeSimple, op: 'AddStake',
        send: (fee) => n.proxy.sendAddStake(n.proxyOwner.getSender(), toNano('1'), fee),
        target: () => n.proxy.address,
    },
    {
        fee: 'FeeSimple', threshold: () => FeeSimple, op: 'ProxyClose (its UnregisterProxy notice carries NotifyValue to Root)',
        send: (fee) => n.proxy.sendClose(n.proxyOwner.getSender(), fee),
        target: () => n.proxy.address,
        expectedFailures: () => [rootCashbackToProxy()],
        check: async (r) => {
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: true, value: NotifyValue });
            expect(await n.root.getProxy(n.proxy.address)).toBeNull();
        },
    },
    {
        fee: 'FeeSimple', threshold: () => FeeSimple, op: 'WorkerStake',
        send: (fee) => n.workerChannel.sendStake(n.worker.getSender(), toNano('1'), fee),
        target: () => n.workerChannel.address,
    },
    {
        fee: 'FeeSimple', threshold: () => FeeSimple, op: 'ReportFault',
        send: (fee) => n.workerChannel.sendReportFault(n.proxyOwner.getSender(), { ...signedFault(), value: fee }),
        target: () => n.workerChannel.address,
    },
    {
        fee: 'FeeRegister', threshold: () => FeeRegister, op: 'ProxyRegister again (Proxy -> Root -> Proxy -> owner)',
        send: (fee) => n.proxy.send(n.proxyOwner.getSender(), { value: fee }, { $$type: 'ProxyRegister', queryId: 0n, clientEndpoint: 'c'.repeat(120), workerEndpoint: 'w'.repeat(120) }),
        target: () => n.proxy.address,
        check: async () => {
            expect((await n.root.getProxy(n.proxy.address))?.clientEndpoint).toBe('c'.repeat(120));
        },
    },
    {
        fee: 'FeeFinish', threshold: () => FeeFinish, op: 'FinishClose of a ClientChannel',
        prepare: async () => {
            await n.clientChannel.sendStartClose(n.client.getSender());
            advanceTime(n.bc, Number(n.params.clientCloseDelay));
        },
        send: (fee) => n.clientChannel.sendFinishClose(n.stranger.getSender(), fee),
        target: () => n.clientChannel.address,
    },
    {
        fee: 'FeeFinish', threshold: () => FeeFinish, op: 'FinishUnbond (its ChannelClosed notice carries NotifyValue to the Proxy)',
        prepare: async () => {
            await n.workerChannel.sendStartUnbond(n.worker.getSender());
            advanceTime(n.bc, Number(n.params.workerUnbondDelay));
        },
        send: (fee) => n.workerChannel.sendFinishUnbond(n.stranger.getSender(), fee),
        target: () => n.workerChannel.address,
        check: async (r) => {
            expect(r.transactions).toHaveTransaction({ from: n.workerChannel.address, to: n.proxy.address, success: true, value: NotifyValue });
        },
    },
    {
        fee: 'FeeFinish', threshold: () => FeeFinish, op: 'ExecuteSlash',
        prepare: async () => {
            await n.workerChannel.sendReportFault(n.proxyOwner.getSender(), signedFault());
            advanceTime(n.bc, Number(n.params.slashChallengePeriod));
        },
        send: (fee) => n.workerChannel.sendExecuteSlash(n.stranger.getSender(), fee),
        target: () => n.workerChannel.address,
    },
    {
        fee: 'FeeFinish', threshold: () => FeeFinish, op: 'ReportEquivocation (the Proxy unregisters from Root)',
        send: (fee) =>
            n.proxy.sendReportEquivocation(n.stranger.getSender(), { seqno: 5n, hashA: 1n, sigA: commitSig(1n), hashB: 2n, sigB: commitSig(2n), value: fee }),
        target: () => n.proxy.address,
        expectedFailures: () => [rootCashbackToProxy()],
        check: async () => {
            expect(await n.root.getProxy(n.proxy.address)).toBeNull();
        },
    },
];

function expectWholeChainSucceeded(r: SendMessageResult, expected: { to: Address; exitCode: number }[] = []) {
    const failed = r.transactions.filter((tx) => {
        const d = tx.description as { type: string; aborted?: boolean; computePhase?: { type: string; success?: boolean; exitCode?: number }; actionPhase?: { success: boolean } };
        if (d.type !== 'generic') return false;
        const vmFailed = d.computePhase?.type === 'vm' && !d.computePhase.success;
        const dest = tx.inMessage?.info.dest;
        if (vmFailed && expected.some((e) => dest instanceof Address && dest.equals(e.to) && e.exitCode === d.computePhase!.exitCode)) return false;
        return d.aborted || vmFailed || (d.actionPhase !== undefined && !d.actionPhase.success);
    });
    expect(failed.map((tx) => `${tx.inMessage?.info.dest?.toString()}: ${JSON.stringify((tx.description as { computePhase?: unknown }).computePhase, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`)).toEqual([]);
}

async function dataOf(a: Address): Promise<Cell> {
    return (await accountOf(n.bc, a)).data;
}

describe('fee thresholds on the real contracts', () => {
    it.each(cases.map((c) => [c.fee, c.op, c] as const))('%s, %s: one nanoTON below fails with ErrLowValue and changes nothing; the threshold succeeds', async (_fee, _op, c) => {
        const snap = n.bc.snapshot();
        await c.prepare?.();
        const before = await dataOf(c.target());
        const low = await c.send(c.threshold() - 1n);
        expect(low.transactions).toHaveTransaction({ to: c.target(), success: false, exitCode: Number(ErrLowValue) });
        expect((await dataOf(c.target())).equals(before)).toBe(true);

        await n.bc.loadFrom(snap);
        await c.prepare?.();
        const ok = await c.send(c.threshold());
        expect(ok.transactions).toHaveTransaction({ to: c.target(), success: true });
        expectWholeChainSucceeded(ok, c.expectedFailures?.());
        await c.check?.(ok);
    });

    it('FeeRegister: a first ProxyRegister with exactly stake + FeeRegister deploys, registers and leaves stake + MinStorage', async () => {
        const cc = await n.root.getChildCode();
        const owner = await n.bc.treasury('owner-fees');
        const kp = keys('fees');
        const proxy = n.bc.openContract(
            await ProxyWrapper.create({ root: n.root.address, owner: owner.address, enclaveKey: toUint256(kp.publicKey), workerCode: cc.workerCode, proxyCode: cc.proxyCode }),
        );
        const r = await proxy.sendRegister(owner.getSender(), { stake: PROXY_STAKE, clientEndpoint: 'c', workerEndpoint: 'w' });
        expectWholeChainSucceeded(r);
        expect((await proxy.getProxyState()).registered).toBe(true);
        expect(await balanceOf(n.bc, proxy.address)).toBeGreaterThanOrEqual(PROXY_STAKE + MinStorage);
    });

});
