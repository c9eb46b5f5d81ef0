// Property tests: random operation sequences against the real ClientChannel / WorkerChannel / Proxy
// (plus Root for slash vetoes) in one sandbox. The network is deployed once; every generated run
// restores the same snapshot and applies its sequence.
//
// Every run also drives a small reference model of the three contracts: each operation's predicted
// outcome (exit code of every transaction in its chain) is checked against the chain in every
// property, and property (c) additionally compares the full stored state with the model after every
// step. The properties are then:
//   (a) conservation of TON over every account involved, exact to the nanoTON. Note: a transaction's
//       totalFees does not include the forwarding fee its inbound internal message still carried
//       (paid to validators on delivery), so the identity is
//       Σbefore − Σafter = Σ totalFees + Σ inMessage.forwardFee (internal messages);
//   (b) the client can always get back its deposits minus what was redeemed (and the worker its
//       unslashed stake);
//   (c) nothing moves without a valid signature + the Proxy's accounting identity
//       pool + commission + withdrawn commission = redeemed + stranger donations − paid to workers.
// Seeds are fixed; on failure fast-check prints the seed, the path and the shrunk sequence, and the
// error names the failing step with a trace of the run. PROP_STATS=1 prints outcome coverage.
import '@ton/test-utils';
import * as fc from 'fast-check';
import { Address, beginCell, Cell, toNano } from '@ton/core';
import { BlockchainSnapshot, BlockchainTransaction, SendMessageResult } from '@ton/sandbox';
import { flattenTransaction } from '@ton/test-utils';
import { KeyPair } from '@ton/crypto';
import { GLOBAL_ID, CLIENT_DEPOSIT, deployNetwork, keys, Network } from '../../fixtures/network';
import { storageFees } from '../helpers/tx';
import {
    ErrAccessDenied,
    ErrBadParams,
    ErrBadSignature,
    ErrExpired,
    ErrInsufficientFunds,
    ErrLowValue,
    ErrNoPendingSlash,
    ErrOldVoucher,
    ErrSlashPending,
    ErrTooEarly,
    ErrWrongState,
    ErrZeroAmount,
    FeeFinish,
    FeeTopUp,
    MinStorage,
    StateActive,
    StateClosed,
    StateClosing,
    storeChannelClosed,
    storeChannelOpened,
    storeChannelPayment,
    storeLatePayout,
    storePayoutRequest,
    storeProxyClose,
    storeSlashVeto,
    WithdrawWindow,
} from '../../wrappers/ClientChannel';
import { WorkerActive, WorkerClosed, WorkerNew, WorkerSuspended, WorkerUnbonding } from '../../wrappers/WorkerChannel';
import { RootWrapper } from '../../wrappers/Root';

// ---------------------------------------------------------------------------------------------
// opcodes (contracts/messages.tact) used to pick the right transaction out of a chain
const OP = {
    TopUp: 0xc0c00401,
    Redeem: 0xc0c00402,
    CoopWithdraw: 0xc0c00403,
    RequestWithdraw: 0xc0c00404,
    FinishWithdraw: 0xc0c00405,
    StartClose: 0xc0c00406,
    FinishClose: 0xc0c00407,
    WorkerStake: 0xc0c00501,
    ClaimPayout: 0xc0c00502,
    ReportFault: 0xc0c00503,
    ExecuteSlash: 0xc0c00504,
    SlashVeto: 0xc0c00505,
    StartUnbond: 0xc0c00506,
    FinishUnbond: 0xc0c00507,
    WithdrawCommission: 0xc0c00305,
    ChannelPayment: 0xc0c00306,
    PayoutRequest: 0xc0c00307,
    LatePayout: 0xc0c0030e,
    ChannelOpened: 0xc0c00308,
    ChannelClosed: 0xc0c00309,
    ProxyClose: 0xc0c0030a,
    EvictWorker: 0xc0c0030c,
    PayoutSent: 0xc0c0030d,
    VetoSlash: 0xc0c0010a,
    Excesses: 0xd53276db,
    Bounced: 0xffffffff,
} as const;
const KNOWN_OPS = new Set<number>(Object.values(OP));
const ErrInvalidMessage = 130; // Tact: no receiver for this opcode / empty body

/** PROP_STATS=1 prints how often each (operation, outcome) occurred: a check that the generator reaches the interesting paths. */
const STATS: Map<string, number> | null = process.env.PROP_STATS ? new Map() : null;
afterAll(() => {
    if (STATS) console.log([...STATS.entries()].sort().map(([k, v]) => `${String(v).padStart(5)}  ${k}`).join('\n'));
});

// ---------------------------------------------------------------------------------------------
// operation alphabet

type By = 'client' | 'stranger';
type Op =
    | { t: 'topUp'; by: By; amount: bigint; lowValue: boolean }
    | { t: 'signVoucher'; cost: bigint } // off-chain: the client signs cumulative += cost
    // fresh: the client signs cumulative += extra and the proxy redeems it at once (the normal flow)
    | { t: 'redeem'; v: 'fresh' | 'latest' | 'old' | 'forged' | 'inflated'; pick: number; extra: bigint; forger: number; by: 'proxy' | 'stranger' }
    | { t: 'signPayout'; add: bigint } // off-chain: the proxy signs worker cumulative += add
    // fresh: the proxy signs worker cumulative += extra and the worker claims it at once
    | { t: 'claim'; v: 'fresh' | 'latest' | 'replay' | 'forged' | 'inflated'; pick: number; extra: bigint; forger: number; by: 'worker' | 'stranger' }
    | { t: 'time'; secs: number }
    | { t: 'startClose'; by: By }
    // wait: first advance the clock exactly to the pending deadline, if there is one in the future
    | { t: 'finishClose'; by: By; wait: boolean; low: boolean } // low: value below FeeFinish
    | { t: 'coop'; pct: number; close: boolean; sig: 'valid' | 'forged' | 'stale' | 'tampered' | 'stolen'; forger: number }
    | { t: 'requestWithdraw'; pct: number; by: By }
    | { t: 'finishWithdraw'; by: By; wait: boolean }
    | { t: 'fault'; sig: 'valid' | 'forged' | 'stale'; pct: number; forger: number; requestId: number }
    | { t: 'executeSlash'; wait: boolean }
    | { t: 'veto'; by: 'gov' | 'govStale' | 'stranger' } // govStale: names a fault seqno that is not the pending one
    | { t: 'workerStake'; amount: bigint }
    | { t: 'unbond'; by: 'worker' | 'evict' | 'stranger' }
    | { t: 'finishUnbond'; wait: boolean; low: boolean }
    | { t: 'withdrawCommission'; by: 'owner' | 'stranger' }
    | {
          t: 'stranger';
          what: 'donate' | 'donateLow' | 'payoutRequest' | 'latePayout' | 'channelOpened' | 'channelClosed' | 'slashVeto' | 'proxyClose' | 'garbage' | 'empty';
          target: 0 | 1 | 2; // garbage/empty: ClientChannel, WorkerChannel, Proxy
          amount: bigint;
          junk: number;
      };

const ton = (s: string) => toNano(s);
const amount = (min: string, max: string) => fc.bigInt({ min: ton(min), max: ton(max) });
const rarely = (p: number) => fc.oneof({ weight: 100 - p, arbitrary: fc.constant(false) }, { weight: p, arbitrary: fc.constant(true) });
const by = fc.constantFrom<By>('client', 'client', 'client', 'stranger');
const forger = fc.integer({ min: 0, max: 1_000_000 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 2, arbitrary: fc.record({ t: fc.constant('topUp' as const), by, amount: fc.oneof({ weight: 9, arbitrary: amount('0.01', '3') }, { weight: 1, arbitrary: fc.constant(0n) }), lowValue: rarely(15) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('signVoucher' as const), cost: amount('0.01', '2.5') }) },
    {
        weight: 5,
        arbitrary: fc.record({
            t: fc.constant('redeem' as const),
            v: fc.constantFrom('fresh' as const, 'fresh' as const, 'fresh' as const, 'latest' as const, 'old' as const, 'forged' as const, 'inflated' as const),
            pick: fc.nat(),
            extra: fc.oneof(fc.constant(1n), amount('0.000000001', '2.5')),
            forger,
            by: fc.constantFrom('proxy' as const, 'proxy' as const, 'stranger' as const),
        }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('signPayout' as const), add: amount('0.01', '1.5') }) },
    {
        weight: 4,
        arbitrary: fc.record({
            t: fc.constant('claim' as const),
            v: fc.constantFrom('fresh' as const, 'fresh' as const, 'fresh' as const, 'latest' as const, 'replay' as const, 'forged' as const, 'inflated' as const),
            pick: fc.nat(),
            extra: fc.oneof(fc.constant(1n), amount('0.000000001', '1.5')),
            forger,
            by: fc.constantFrom('worker' as const, 'stranger' as const),
        }),
    },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('time' as const), secs: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(1, 3599, 3600, 3601, 7199, 7200, 7201) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 10_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 6 * 86_400 }) }, // past the challenge period / unbond delay
    ) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('startClose' as const), by }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('finishClose' as const), by, wait: fc.boolean(), low: rarely(20) }) },
    {
        weight: 3,
        arbitrary: fc.record({
            t: fc.constant('coop' as const),
            pct: fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 0, max: 130 }) }, { weight: 1, arbitrary: fc.constant(100) }),
            close: rarely(30),
            sig: fc.constantFrom('valid' as const, 'valid' as const, 'forged' as const, 'stale' as const, 'tampered' as const, 'stolen' as const),
            forger,
        }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('requestWithdraw' as const), pct: fc.integer({ min: 0, max: 150 }), by }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('finishWithdraw' as const), by, wait: fc.boolean() }) },
    {
        weight: 3,
        arbitrary: fc.record({
            t: fc.constant('fault' as const),
            sig: fc.constantFrom('valid' as const, 'valid' as const, 'forged' as const, 'stale' as const),
            pct: fc.integer({ min: 0, max: 150 }),
            forger,
            requestId: fc.nat(),
        }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('executeSlash' as const), wait: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('veto' as const), by: fc.constantFrom('gov' as const, 'gov' as const, 'govStale' as const, 'stranger' as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('workerStake' as const), amount: amount('0.01', '1') }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('unbond' as const), by: fc.constantFrom('worker' as const, 'evict' as const, 'stranger' as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('finishUnbond' as const), wait: fc.boolean(), low: rarely(20) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('withdrawCommission' as const), by: fc.constantFrom('owner' as const, 'owner' as const, 'stranger' as const) }) },
    {
        weight: 2,
        arbitrary: fc.record({
            t: fc.constant('stranger' as const),
            what: fc.constantFrom(
                'donate' as const,
                'donateLow' as const,
                'payoutRequest' as const,
                'latePayout' as const,
                'channelOpened' as const,
                'channelClosed' as const,
                'slashVeto' as const,
                'proxyClose' as const,
                'garbage' as const,
                'empty' as const,
            ),
            target: fc.constantFrom(0 as const, 1 as const, 2 as const),
            amount: amount('0.05', '2'),
            junk: fc.integer({ min: 0, max: 0xffff }),
        }),
    },
);
const opsArb = fc.array(opArb, { minLength: 4, maxLength: 14, size: 'max' });

// ---------------------------------------------------------------------------------------------
// reference model

interface CC { state: bigint; balance: bigint; redeemed: bigint; withdrawSeqno: bigint; pendingWithdraw: bigint; withdrawAt: bigint; closeAt: bigint }
interface WC { state: bigint; stake: bigint; paid: bigint; unbondAt: bigint; faultSeqno: bigint; slash: { amount: bigint; executeAt: bigint } | null }
interface PX { state: bigint; stake: bigint; pool: bigint; commission: bigint; workerChannels: bigint }
interface Model { cc: CC; wc: WC; px: PX }

const clone = (m: Model): Model => ({ cc: { ...m.cc }, wc: { ...m.wc, slash: m.wc.slash && { ...m.wc.slash } }, px: { ...m.px } });
const show = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
const maxOf = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a), 0n);

async function readChain(n: Network): Promise<Model> {
    const c = await n.clientChannel.getChannelState();
    const w = await n.workerChannel.getChannelState();
    const p = await n.proxy.getProxyState();
    return {
        cc: { state: c.state, balance: c.balance, redeemed: c.redeemed, withdrawSeqno: c.withdrawSeqno, pendingWithdraw: c.pendingWithdraw, withdrawAt: c.withdrawAt, closeAt: c.closeAt },
        wc: {
            state: w.state,
            stake: w.stake,
            paid: w.paid,
            unbondAt: w.unbondAt,
            faultSeqno: w.faultSeqno,
            slash: w.slash ? { amount: w.slash.amount, executeAt: w.slash.executeAt } : null,
        },
        px: { state: p.state, stake: p.stake, pool: p.pool, commission: p.commission, workerChannels: p.workerChannels },
    };
}

/** Field-by-field differences between two models ("" when equal). */
function diffModels(expected: Model, actual: Model): string {
    const out: string[] = [];
    for (const part of ['cc', 'wc', 'px'] as const) {
        const e = expected[part] as unknown as Record<string, unknown>;
        const a = actual[part] as unknown as Record<string, unknown>;
        for (const k of Object.keys(e)) if (show(e[k]) !== show(a[k])) out.push(`${part}.${k}: expected ${show(e[k])}, chain has ${show(a[k])}`);
    }
    return out.join('; ');
}

// ---------------------------------------------------------------------------------------------
// runner

interface Expect { from: Address; to: Address; op: number; code: number } // code 0 = success
interface Fixture {
    n: Network;
    snapshot: BlockchainSnapshot;
    initial: Model;
    commissionBps: bigint;
    closeDelay: bigint;
    unbondDelay: bigint;
    challengePeriod: bigint;
    minStake: bigint;
    accounts: Address[];
    initialVouchers: bigint[]; // vouchers the client signed before the snapshot
}

class Run {
    readonly txs: BlockchainTransaction[] = [];
    readonly trace: string[] = [];
    m: Model;
    vouchers: bigint[] = []; // cumulative amounts the client signed, in order
    payouts: bigint[] = []; // cumulative amounts the proxy signed for the worker, in order
    deposited = CLIENT_DEPOSIT; // credited TopUp amounts (the network's initial deposit included)
    donated = 0n; // ChannelPayments sent to the Proxy by a stranger
    commissionWithdrawn = 0n;
    chain!: Model; // last state read from the chain (strict mode)
    step = 0;
    sawFailure = false; // some transaction of the current operation was expected to fail

    constructor(
        readonly f: Fixture,
        readonly strict: boolean,
    ) {
        this.m = clone(f.initial);
        this.vouchers = [...f.initialVouchers];
    }

    get n() {
        return this.f.n;
    }
    get now(): bigint {
        return BigInt(this.n.bc.now!);
    }
    name(a: Address | undefined): string {
        if (!a) return '-';
        const n = this.n;
        const names: [string, Address][] = [
            ['client', n.client.address], ['stranger', n.stranger.address], ['proxyOwner', n.proxyOwner.address], ['worker', n.worker.address],
            ['gov', n.gov.address], ['treasury', n.treasury.address], ['root', n.root.address], ['proxy', n.proxy.address],
            ['clientChannel', n.clientChannel.address], ['workerChannel', n.workerChannel.address],
        ];
        return names.find(([, x]) => x.equals(a))?.[0] ?? a.toString();
    }

    fail(msg: string): never {
        throw new Error(
            `step #${this.step}: ${msg}\n  trace:\n    ${this.trace.join('\n    ')}\n  model: ${show(this.m)}\n  vouchers: ${show(this.vouchers)} payouts: ${show(this.payouts)}`,
        );
    }

    describeTxs(r: SendMessageResult): string {
        return r.transactions
            .map((t) => {
                const x = flattenTransaction(t);
                return `${this.name(x.from)}->${this.name(x.to)} op=${x.op?.toString(16) ?? '-'} ${x.success ? 'ok' : `FAIL(exit ${x.exitCode}, action ${x.actionResultCode})`}${x.inMessageBounced ? ' [bounced]' : ''}`;
            })
            .join(' | ');
    }

    /** Sends, records every transaction, and checks each expected transaction of the chain. */
    async send(what: string, fn: () => Promise<SendMessageResult>, expects: Expect[]): Promise<SendMessageResult> {
        const r = await fn();
        this.txs.push(...r.transactions);
        this.trace.push(`#${this.step} ${what} => ${expects.map((e) => `${this.name(e.to)}:${e.code}`).join(',')}`);
        if (expects.some((e) => e.code !== 0)) this.sawFailure = true;
        if (STATS) {
            const variant = what.match(/^[\w ]+\(([a-z]+)[,)]/)?.[1];
            const k = `${what.replace(/\(.*$/, '')}${variant ? '/' + variant : ''} => ${expects.map((e) => e.code).join(',')}`;
            STATS.set(k, (STATS.get(k) ?? 0) + 1);
        }
        for (const e of expects) {
            const tx = r.transactions.find((t) => {
                const x = flattenTransaction(t);
                return x.from?.equals(e.from) && x.to?.equals(e.to) && x.op === e.op;
            });
            if (!tx) this.fail(`${what}: no transaction ${this.name(e.from)} -> ${this.name(e.to)} op ${e.op.toString(16)}; chain: ${this.describeTxs(r)}`);
            const x = flattenTransaction(tx);
            const ok = e.code === 0 ? x.success === true : x.success === false && x.exitCode === e.code;
            if (!ok)
                this.fail(
                    `${what}: ${this.name(e.from)} -> ${this.name(e.to)} expected ${e.code === 0 ? 'success' : `exit code ${e.code}`}, ` +
                        `got success=${x.success} exit=${x.exitCode} action=${x.actionResultCode}; chain: ${this.describeTxs(r)}`,
                );
        }
        return r;
    }

    // ---- operations -------------------------------------------------------------------------

    async apply(op: Op): Promise<void> {
        const n = this.n;
        const { cc, wc, px } = this.m;
        const CCa = n.clientChannel.address;
        const WCa = n.workerChannel.address;
        const PXa = n.proxy.address;
        const wallet = (b: By) => (b === 'client' ? n.client : n.stranger);
        const e = (from: Address, to: Address, op: number, code: bigint | number): Expect => ({ from, to, op, code: Number(code) });
        const waitUntil = (wait: boolean, deadline: bigint | null) => {
            if (wait && deadline !== null && this.now < deadline) {
                this.trace.push(`#${this.step} time -> ${deadline} (deadline)`);
                n.bc.now = Number(deadline);
            }
        };
        if ((op.t === 'finishClose' && this.m.cc.state === StateClosing) || (op.t === 'finishWithdraw' && this.m.cc.pendingWithdraw > 0n)) {
            waitUntil(op.wait, op.t === 'finishClose' ? cc.closeAt : cc.withdrawAt);
        } else if (op.t === 'executeSlash') {
            waitUntil(op.wait, wc.slash?.executeAt ?? null);
        } else if (op.t === 'finishUnbond' && wc.state === WorkerUnbonding) {
            waitUntil(op.wait, wc.unbondAt);
        }
        const now = this.now;

        switch (op.t) {
            case 'topUp': {
                const w = wallet(op.by);
                const fee = op.lowValue ? FeeTopUp - 1n : FeeTopUp;
                const code = cc.state !== StateActive ? ErrWrongState : op.amount <= 0n ? ErrZeroAmount : op.lowValue ? ErrLowValue : 0n;
                await this.send(`topUp(${op.by}, ${op.amount}, fee ${fee})`, () => n.clientChannel.sendTopUp(w.getSender(), op.amount, fee), [e(w.address, CCa, OP.TopUp, code)]);
                if (code === 0n) {
                    cc.balance += op.amount;
                    this.deposited += op.amount;
                }
                return;
            }
            case 'signVoucher': {
                const c = (this.vouchers.at(-1) ?? 0n) + op.cost;
                this.vouchers.push(c);
                this.trace.push(`#${this.step} client signs voucher ${c} (off-chain)`);
                return;
            }
            case 'redeem': {
                const last = this.vouchers.at(-1) ?? 0n;
                let amt: bigint;
                let sig: Buffer;
                let valid = true;
                if (op.v === 'fresh') {
                    amt = last + op.extra;
                    this.vouchers.push(amt);
                    sig = n.clientChannel.signVoucher(amt, n.clientKeys.secretKey, GLOBAL_ID);
                } else if (op.v === 'latest' || op.v === 'old') {
                    amt = op.v === 'latest' || this.vouchers.length === 0 ? last : this.vouchers[op.pick % this.vouchers.length];
                    if (this.vouchers.length === 0) this.vouchers.push(0n); // the client "signed" 0: nothing owed
                    sig = n.clientChannel.signVoucher(amt, n.clientKeys.secretKey, GLOBAL_ID);
                } else if (op.v === 'forged') {
                    amt = last + op.extra;
                    sig = n.clientChannel.signVoucher(amt, forgerKeys(op.forger).secretKey, GLOBAL_ID);
                    valid = false;
                } else {
                    amt = last + op.extra; // a genuine signature over `last`, presented for a larger amount
                    sig = n.clientChannel.signVoucher(last, n.clientKeys.secretKey, GLOBAL_ID);
                    valid = false;
                }
                const w = op.by === 'proxy' ? n.proxyOwner : n.stranger;
                const diff = amt - cc.redeemed < cc.balance ? amt - cc.redeemed : cc.balance;
                const code = cc.state === StateClosed ? ErrWrongState : amt <= cc.redeemed ? ErrOldVoucher : !valid ? ErrBadSignature : diff <= 0n ? ErrInsufficientFunds : 0n;
                const ex = [e(w.address, CCa, OP.Redeem, code)];
                if (code === 0n) ex.push(e(CCa, PXa, OP.ChannelPayment, px.state === StateClosed ? ErrWrongState : 0));
                await this.send(`redeem(${op.v}, amount ${amt}, by ${op.by})`, () => n.clientChannel.sendRedeem(w.getSender(), { amount: amt, signature: sig }), ex);
                if (code === 0n) {
                    cc.redeemed += diff;
                    cc.balance -= diff;
                    this.credit(diff);
                }
                return;
            }
            case 'signPayout': {
                const c = (this.payouts.at(-1) ?? 0n) + op.add;
                this.payouts.push(c);
                this.trace.push(`#${this.step} proxy signs payout ${c} (off-chain)`);
                return;
            }
            case 'claim': {
                const last = this.payouts.at(-1) ?? 0n;
                let amt: bigint;
                let sig: Buffer;
                let valid = true;
                if (op.v === 'fresh') {
                    // a sane proxy signs roughly what its pool can pay (pick % 130 > 100: more than it has)
                    const target = wc.paid + (px.pool * BigInt((op.pick % 130) + 1)) / 100n;
                    amt = target > last ? target : last + op.extra;
                    this.payouts.push(amt);
                    sig = n.workerChannel.signPayout(amt, n.proxyKeys.secretKey, GLOBAL_ID);
                } else if (op.v === 'latest' || op.v === 'replay') {
                    amt = op.v === 'latest' || this.payouts.length === 0 ? last : this.payouts[op.pick % this.payouts.length];
                    if (this.payouts.length === 0) this.payouts.push(0n);
                    sig = n.workerChannel.signPayout(amt, n.proxyKeys.secretKey, GLOBAL_ID);
                } else if (op.v === 'forged') {
                    amt = last + op.extra;
                    sig = n.workerChannel.signPayout(amt, forgerKeys(op.forger).secretKey, GLOBAL_ID);
                    valid = false;
                } else {
                    amt = last + op.extra;
                    sig = n.workerChannel.signPayout(last, n.proxyKeys.secretKey, GLOBAL_ID);
                    valid = false;
                }
                const w = op.by === 'worker' ? n.worker : n.stranger;
                // Signed earnings stay claimable in every state after the first stake; a closed channel (no longer
                // counted by the Proxy) asks with LatePayout, which any Proxy state accepts while the pool can pay.
                const code = wc.state === WorkerNew ? ErrWrongState : amt <= wc.paid ? ErrOldVoucher : !valid ? ErrBadSignature : 0n;
                const diff = amt - wc.paid;
                const late = wc.state === WorkerClosed;
                const pcode = code !== 0n ? -1n : !late && px.state === StateClosed ? ErrWrongState : diff > px.pool ? ErrInsufficientFunds : 0n;
                const ex = [e(w.address, WCa, OP.ClaimPayout, code)];
                if (code === 0n) ex.push(e(WCa, PXa, late ? OP.LatePayout : OP.PayoutRequest, pcode));
                if (pcode === 0n) ex.push(e(PXa, n.worker.address, OP.PayoutSent, 0));
                if (pcode > 0n) ex.push(e(PXa, WCa, OP.Bounced, 0)); // the bounce restores `paid`
                await this.send(`claim(${op.v}, amount ${amt}, by ${op.by})`, () => n.workerChannel.sendClaim(w.getSender(), { amount: amt, signature: sig }), ex);
                if (pcode === 0n) {
                    wc.paid = amt;
                    px.pool -= diff;
                }
                return;
            }
            case 'time': {
                n.bc.now = n.bc.now! + op.secs;
                this.trace.push(`#${this.step} time +${op.secs}s`);
                return;
            }
            case 'startClose': {
                const w = wallet(op.by);
                const code = op.by !== 'client' ? ErrAccessDenied : cc.state !== StateActive ? ErrWrongState : 0n;
                await this.send(`startClose(${op.by})`, () => n.clientChannel.sendStartClose(w.getSender()), [e(w.address, CCa, OP.StartClose, code)]);
                if (code === 0n) {
                    cc.state = StateClosing;
                    cc.closeAt = now + this.f.closeDelay;
                }
                return;
            }
            case 'finishClose': {
                const w = wallet(op.by);
                const value = op.low ? FeeFinish - 1n : FeeFinish;
                const code = op.low ? ErrLowValue : cc.state !== StateClosing ? ErrWrongState : now < cc.closeAt ? ErrTooEarly : 0n;
                const ex = [e(w.address, CCa, OP.FinishClose, code)];
                if (code === 0n) ex.push(e(CCa, n.client.address, OP.Excesses, 0));
                await this.send(`finishClose(${op.by}, value ${value})`, () => n.clientChannel.sendFinishClose(w.getSender(), value), ex);
                if (code === 0n) this.closeClient();
                return;
            }
            case 'coop': {
                const amt = (cc.balance * BigInt(op.pct)) / 100n;
                const seqno = op.sig === 'stale' ? (cc.withdrawSeqno > 0n ? cc.withdrawSeqno - 1n : cc.withdrawSeqno + 1n) : cc.withdrawSeqno;
                const key = op.sig === 'forged' ? forgerKeys(op.forger).secretKey : n.proxyKeys.secretKey;
                const sig = n.clientChannel.signWithdraw(amt, seqno, op.close, key, GLOBAL_ID);
                const sentAmount = op.sig === 'tampered' ? amt + 1n : amt;
                const w = op.sig === 'stolen' ? n.stranger : n.client;
                const code =
                    op.sig === 'stolen' ? ErrAccessDenied
                    : cc.state === StateClosed ? ErrWrongState
                    : seqno !== cc.withdrawSeqno ? ErrOldVoucher
                    : op.sig === 'forged' || op.sig === 'tampered' ? ErrBadSignature
                    : sentAmount > cc.balance ? ErrInsufficientFunds
                    : op.close && sentAmount !== cc.balance ? ErrBadParams
                    : 0n;
                const ex = [e(w.address, CCa, OP.CoopWithdraw, code)];
                if (code === 0n) ex.push(e(CCa, n.client.address, OP.Excesses, 0));
                await this.send(`coopWithdraw(${op.sig}, amount ${sentAmount}, seqno ${seqno}, close ${op.close})`, () => n.clientChannel.sendCoopWithdraw(w.getSender(), { amount: sentAmount, seqno, close: op.close, signature: sig }), ex);
                if (code === 0n) {
                    cc.withdrawSeqno += 1n;
                    if (op.close) this.closeClient();
                    else {
                        cc.balance -= amt;
                        cc.pendingWithdraw = 0n;
                    }
                }
                return;
            }
            case 'requestWithdraw': {
                const w = wallet(op.by);
                const amt = (cc.balance * BigInt(op.pct)) / 100n;
                const code = op.by !== 'client' ? ErrAccessDenied : cc.state !== StateActive ? ErrWrongState : amt <= 0n ? ErrZeroAmount : amt > cc.balance ? ErrInsufficientFunds : 0n;
                await this.send(`requestWithdraw(${op.by}, ${amt})`, () => n.clientChannel.sendRequestWithdraw(w.getSender(), amt), [e(w.address, CCa, OP.RequestWithdraw, code)]);
                if (code === 0n) {
                    cc.pendingWithdraw = amt;
                    cc.withdrawAt = now + this.f.closeDelay;
                }
                return;
            }
            case 'finishWithdraw': {
                const w = wallet(op.by);
                const code =
                    op.by !== 'client' ? ErrAccessDenied
                    : !(cc.state !== StateClosed && cc.pendingWithdraw > 0n) ? ErrWrongState
                    : now < cc.withdrawAt ? ErrTooEarly
                    : now >= cc.withdrawAt + WithdrawWindow ? ErrExpired
                    : 0n;
                const ex = [e(w.address, CCa, OP.FinishWithdraw, code)];
                if (code === 0n) ex.push(e(CCa, n.client.address, OP.Excesses, 0));
                await this.send(`finishWithdraw(${op.by})`, () => n.clientChannel.sendFinishWithdraw(w.getSender()), ex);
                if (code === 0n) {
                    const pay = cc.pendingWithdraw < cc.balance ? cc.pendingWithdraw : cc.balance;
                    cc.pendingWithdraw = 0n;
                    cc.balance -= pay;
                }
                return;
            }
            case 'fault': {
                // a share of the stake; a fixed amount once the stake is gone (op.pct 0: amount 0)
                const amt = wc.stake > 0n ? (wc.stake * BigInt(op.pct)) / 100n : op.pct > 0 ? ton('0.1') : 0n;
                const seqno = op.sig === 'stale' ? wc.faultSeqno + 1n + BigInt(op.requestId % 3) : wc.faultSeqno;
                const report = { seqno, amount: amt, reason: 1n, requestId: BigInt(op.requestId), evidenceHash: 0xe71dn };
                const key = op.sig === 'forged' ? forgerKeys(op.forger).secretKey : n.proxyKeys.secretKey;
                const signature = n.workerChannel.signFault(report, key, GLOBAL_ID);
                const open = wc.state === WorkerActive || wc.state === WorkerSuspended || wc.state === WorkerUnbonding;
                const code =
                    !open ? ErrWrongState
                    : wc.slash !== null ? ErrSlashPending
                    : seqno !== wc.faultSeqno ? ErrOldVoucher
                    : amt <= 0n ? ErrZeroAmount
                    : wc.stake <= 0n ? ErrInsufficientFunds
                    : op.sig === 'forged' ? ErrBadSignature
                    : 0n;
                await this.send(`reportFault(${op.sig}, amount ${amt}, seqno ${seqno})`, () => n.workerChannel.sendReportFault(n.proxyOwner.getSender(), { ...report, signature }), [
                    e(n.proxyOwner.address, WCa, OP.ReportFault, code),
                ]);
                if (code === 0n) {
                    wc.faultSeqno += 1n;
                    wc.slash = { amount: amt < wc.stake ? amt : wc.stake, executeAt: now + this.f.challengePeriod };
                }
                return;
            }
            case 'executeSlash': {
                const code = wc.slash === null ? ErrNoPendingSlash : now < wc.slash.executeAt ? ErrTooEarly : 0n;
                const amt = wc.slash === null ? 0n : wc.slash.amount < wc.stake ? wc.slash.amount : wc.stake;
                const ex = [e(n.stranger.address, WCa, OP.ExecuteSlash, code)];
                if (code === 0n && amt > 0n) ex.push(e(WCa, n.treasury.address, OP.Excesses, 0));
                await this.send(`executeSlash`, () => n.workerChannel.sendExecuteSlash(n.stranger.getSender()), ex);
                if (code === 0n) {
                    wc.stake -= amt;
                    wc.slash = null;
                    if (wc.state === WorkerActive && wc.stake < this.f.minStake) wc.state = WorkerSuspended;
                }
                return;
            }
            case 'veto': {
                const w = op.by === 'stranger' ? n.stranger : n.gov;
                // A pending slash always belongs to the last report (seqno faultSeqno - 1); faultSeqno names no report yet.
                const seqno = op.by === 'govStale' ? wc.faultSeqno : wc.faultSeqno > 0n ? wc.faultSeqno - 1n : 0n;
                const clears = op.by === 'gov' && wc.slash !== null;
                const ex = [e(w.address, n.root.address, OP.VetoSlash, op.by === 'stranger' ? ErrAccessDenied : 0)];
                if (op.by !== 'stranger') ex.push(e(n.root.address, WCa, OP.SlashVeto, clears ? 0 : ErrNoPendingSlash));
                await this.send(`vetoSlash(${op.by}, fault ${seqno})`, () => n.root.sendAction(w.getSender(), RootWrapper.vetoSlashBody(WCa, seqno)), ex);
                if (clears) wc.slash = null;
                return;
            }
            case 'workerStake': {
                const code = wc.state === WorkerNew || wc.state === WorkerActive || wc.state === WorkerSuspended ? 0n : ErrWrongState;
                await this.send(`workerStake(${op.amount})`, () => n.workerChannel.sendStake(n.worker.getSender(), op.amount), [e(n.worker.address, WCa, OP.WorkerStake, code)]);
                if (code === 0n) {
                    wc.stake += op.amount;
                    if (wc.state === WorkerSuspended && wc.stake >= this.f.minStake) wc.state = WorkerActive;
                }
                return;
            }
            case 'unbond': {
                const can = wc.state === WorkerActive || wc.state === WorkerSuspended || (wc.state === WorkerNew && wc.stake > 0n);
                const code = op.by === 'stranger' ? ErrAccessDenied : can ? 0n : ErrWrongState;
                if (op.by === 'evict') {
                    await this.send(`evictWorker`, () => n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.worker.address), [
                        e(n.proxyOwner.address, PXa, OP.EvictWorker, 0),
                        e(PXa, WCa, OP.StartUnbond, code),
                    ]);
                } else {
                    const w = op.by === 'worker' ? n.worker : n.stranger;
                    await this.send(`startUnbond(${op.by})`, () => n.workerChannel.sendStartUnbond(w.getSender()), [e(w.address, WCa, OP.StartUnbond, code)]);
                }
                if (code === 0n) {
                    wc.state = WorkerUnbonding;
                    wc.unbondAt = now + this.f.unbondDelay;
                }
                return;
            }
            case 'finishUnbond': {
                const value = op.low ? FeeFinish - 1n : FeeFinish;
                const code =
                    op.low ? ErrLowValue
                    : wc.state !== WorkerUnbonding ? ErrWrongState
                    : now < wc.unbondAt ? ErrTooEarly
                    : wc.slash !== null ? ErrSlashPending
                    : 0n;
                const ex = [e(n.stranger.address, WCa, OP.FinishUnbond, code)];
                if (code === 0n) ex.push(e(WCa, PXa, OP.ChannelClosed, 0), e(WCa, n.worker.address, OP.Excesses, 0));
                await this.send(`finishUnbond(value ${value})`, () => n.workerChannel.sendFinishUnbond(n.stranger.getSender(), value), ex);
                if (code === 0n) {
                    wc.state = WorkerClosed;
                    wc.stake = 0n;
                    px.workerChannels -= 1n;
                }
                return;
            }
            case 'withdrawCommission': {
                const w = op.by === 'owner' ? n.proxyOwner : n.stranger;
                const code = op.by === 'owner' ? 0n : ErrAccessDenied;
                const ex = [e(w.address, PXa, OP.WithdrawCommission, code)];
                if (code === 0n) ex.push(e(PXa, n.proxyOwner.address, OP.Excesses, 0));
                await this.send(`withdrawCommission(${op.by})`, () => n.proxy.sendWithdrawCommission(w.getSender()), ex);
                if (code === 0n) {
                    this.commissionWithdrawn += px.commission;
                    px.commission = 0n;
                }
                return;
            }
            case 'stranger': {
                const s = n.stranger;
                const raw = (to: Address, value: bigint, body: Cell | undefined, code: bigint | number, opc: number, what: string) =>
                    this.send(`stranger ${what}`, () => s.send({ to, value, body, bounce: true }), [e(s.address, to, opc, code)]);
                switch (op.what) {
                    case 'donate':
                    case 'donateLow': {
                        const low = op.what === 'donateLow';
                        const body = beginCell().store(storeChannelPayment({ $$type: 'ChannelPayment', queryId: 7n, amount: op.amount })).endCell();
                        const code = px.state === StateClosed ? ErrWrongState : low ? ErrLowValue : 0n;
                        await raw(PXa, low ? op.amount - 1n : op.amount + ton('0.02'), body, code, OP.ChannelPayment, `ChannelPayment(${op.amount}${low ? ', value amount-1' : ''})`);
                        if (code === 0n) {
                            this.credit(op.amount);
                            this.donated += op.amount;
                        }
                        return;
                    }
                    case 'payoutRequest': {
                        const body = beginCell().store(storePayoutRequest({ $$type: 'PayoutRequest', queryId: 7n, amount: op.amount })).endCell();
                        await raw(PXa, ton('0.05'), body, ErrAccessDenied, OP.PayoutRequest, `PayoutRequest(${op.amount})`);
                        return;
                    }
                    case 'latePayout': {
                        // claims to be the worker's (closed) channel; the Proxy derives the address and refuses
                        const body = beginCell().store(storeLatePayout({ $$type: 'LatePayout', queryId: 7n, amount: op.amount, worker: n.worker.address })).endCell();
                        await raw(PXa, ton('0.05'), body, ErrAccessDenied, OP.LatePayout, `LatePayout(${op.amount})`);
                        return;
                    }
                    case 'channelOpened': {
                        const body = beginCell().store(storeChannelOpened({ $$type: 'ChannelOpened', queryId: 7n, worker: s.address })).endCell();
                        await raw(PXa, ton('0.05'), body, ErrAccessDenied, OP.ChannelOpened, `ChannelOpened(self)`);
                        return;
                    }
                    case 'channelClosed': {
                        // accepted but ignored: the sender is not an open channel
                        const body = beginCell().store(storeChannelClosed({ $$type: 'ChannelClosed', queryId: 7n, worker: n.worker.address })).endCell();
                        await raw(PXa, ton('0.05'), body, 0, OP.ChannelClosed, `ChannelClosed(worker)`);
                        return;
                    }
                    case 'slashVeto': {
                        const body = beginCell().store(storeSlashVeto({ $$type: 'SlashVeto', queryId: 7n, faultSeqno: 0n })).endCell();
                        await raw(WCa, ton('0.05'), body, ErrAccessDenied, OP.SlashVeto, `SlashVeto`);
                        return;
                    }
                    case 'proxyClose': {
                        const body = beginCell().store(storeProxyClose({ $$type: 'ProxyClose', queryId: 7n })).endCell();
                        await raw(PXa, ton('0.05'), body, ErrAccessDenied, OP.ProxyClose, `ProxyClose`);
                        return;
                    }
                    case 'garbage':
                    case 'empty': {
                        const to = [CCa, WCa, PXa][op.target];
                        let opcode = (0x0bad0000 | op.junk) >>> 0;
                        if (KNOWN_OPS.has(opcode)) opcode = 0x0bad0000;
                        const body = op.what === 'garbage' ? beginCell().storeUint(opcode, 32).storeUint(op.junk, 64).storeCoins(op.amount).endCell() : undefined;
                        // an empty body has no opcode; flattenTransaction reports op undefined
                        const r = await s.send({ to, value: ton('0.05'), body, bounce: true });
                        this.txs.push(...r.transactions);
                        this.trace.push(`#${this.step} stranger ${op.what} -> ${this.name(to)} => ${ErrInvalidMessage}`);
                        this.sawFailure = true;
                        const tx = r.transactions.find((t) => {
                            const x = flattenTransaction(t);
                            return x.from?.equals(s.address) && x.to?.equals(to);
                        });
                        const x = tx && flattenTransaction(tx);
                        if (!x || x.success !== false || x.exitCode !== ErrInvalidMessage)
                            this.fail(`stranger ${op.what} to ${this.name(to)}: expected exit ${ErrInvalidMessage}, chain: ${this.describeTxs(r)}`);
                        return;
                    }
                }
            }
        }
    }

    /** The Proxy accepted a ChannelPayment of `amount`. */
    credit(amount: bigint) {
        const fee = (amount * this.f.commissionBps) / 10000n;
        this.m.px.commission += fee;
        this.m.px.pool += amount - fee;
    }

    closeClient() {
        this.m.cc.state = StateClosed;
        this.m.cc.balance = 0n;
        this.m.cc.pendingWithdraw = 0n;
    }

    // ---- strict-mode checks (property c) -------------------------------------------------------

    async balances(): Promise<Map<string, bigint>> {
        const out = new Map<string, bigint>();
        for (const a of [this.n.clientChannel.address, this.n.workerChannel.address, this.n.proxy.address]) out.set(a.toString(), (await this.n.bc.getContract(a)).balance);
        return out;
    }

    /** Applies `op` and checks the signature/accounting properties around it. */
    async applyChecked(op: Op): Promise<void> {
        const modelBefore = clone(this.m);
        const before = this.chain;
        const balBefore = await this.balances();
        const txFrom = this.txs.length;
        this.sawFailure = false;
        await this.apply(op);
        const after = await readChain(this.n);
        const rejected = this.sawFailure && show(modelBefore) === show(this.m);

        if (rejected) {
            // Nothing moves: stored state is exactly what it was ...
            const d = diffModels(before, after);
            if (d) this.fail(`${show(op)} was rejected but changed on-chain state: ${d}`);
            // ... and no contract lost TON beyond the storage fee it was charged.
            for (const [addr, b0] of balBefore) {
                const a = Address.parse(addr);
                const b1 = (await this.n.bc.getContract(a)).balance;
                const storage = storageFees(this.txs.slice(txFrom), a);
                if (b1 < b0 - storage) this.fail(`${show(op)} was rejected but ${this.name(a)} lost ${b0 - b1} nanoTON (storage fees ${storage})`);
            }
        }
        const d = diffModels(this.m, after);
        if (d) this.fail(`${show(op)}: chain state differs from the reference model: ${d}`);
        this.chain = after;
        await this.checkInvariants(after, op);
    }

    async checkInvariants(s: Model, op: Op) {
        const maxVoucher = maxOf(this.vouchers);
        const maxPayout = maxOf(this.payouts);
        if (s.cc.redeemed > maxVoucher) this.fail(`after ${show(op)}: redeemed ${s.cc.redeemed} > largest client-signed voucher ${maxVoucher}`);
        if (s.wc.paid > maxPayout) this.fail(`after ${show(op)}: worker paid ${s.wc.paid} > largest proxy-signed payout ${maxPayout}`);
        if (s.px.pool < 0n || s.px.commission < 0n) this.fail(`after ${show(op)}: negative pool/commission ${s.px.pool}/${s.px.commission}`);
        // Exact accounting: everything that reached the Proxy as ChannelPayment is in pool + commission
        // (or was withdrawn as commission) unless it was paid to the worker.
        const lhs = s.px.pool + s.px.commission + this.commissionWithdrawn;
        const rhs = s.cc.redeemed + this.donated - s.wc.paid;
        if (lhs !== rhs)
            this.fail(`after ${show(op)}: pool ${s.px.pool} + commission ${s.px.commission} + withdrawn ${this.commissionWithdrawn} = ${lhs} != redeemed ${s.cc.redeemed} + donated ${this.donated} - paid ${s.wc.paid} = ${rhs}`);
        // The coins owed are backed by the contracts' TON balances. (Not "+ MinStorage": the floor is
        // what storage fees are paid from, so it legitimately shrinks between transactions.)
        const bal = await this.balances();
        const pxTon = bal.get(this.n.proxy.address.toString())!;
        const ccTon = bal.get(this.n.clientChannel.address.toString())!;
        const wcTon = bal.get(this.n.workerChannel.address.toString())!;
        if (pxTon < s.px.stake + s.px.pool + s.px.commission)
            this.fail(`after ${show(op)}: Proxy holds ${pxTon} < stake ${s.px.stake} + pool ${s.px.pool} + commission ${s.px.commission}`);
        if (ccTon < s.cc.balance) this.fail(`after ${show(op)}: ClientChannel holds ${ccTon} < its balance ${s.cc.balance}`);
        if (wcTon < s.wc.stake) this.fail(`after ${show(op)}: WorkerChannel holds ${wcTon} < its stake ${s.wc.stake}`);
    }

    async runAll(ops: Op[]): Promise<void> {
        if (this.strict) this.chain = await readChain(this.n);
        for (const op of ops) {
            this.step++;
            if (this.strict) await this.applyChecked(op);
            else await this.apply(op);
        }
    }

    /** The client recovers its funds unilaterally: StartClose if still active, wait, FinishClose. */
    async forceCloseByClient(): Promise<void> {
        const n = this.n;
        this.step++;
        let s = await n.clientChannel.getChannelState();
        if (s.state === StateActive) {
            await this.send('final startClose(client)', () => n.clientChannel.sendStartClose(n.client.getSender()), [e2(n.client.address, n.clientChannel.address, OP.StartClose, 0)]);
            s = await n.clientChannel.getChannelState();
        }
        if (s.state === StateClosing) {
            if (BigInt(n.bc.now!) < s.closeAt) n.bc.now = Number(s.closeAt);
            await this.send('final finishClose(client)', () => n.clientChannel.sendFinishClose(n.client.getSender()), [
                e2(n.client.address, n.clientChannel.address, OP.FinishClose, 0),
                e2(n.clientChannel.address, n.client.address, OP.Excesses, 0),
            ]);
        }
    }

    /** The worker leaves: a pending slash is executed, then unbond and finish after the delay. Returns the stake it had left. */
    async settleWorker(): Promise<bigint> {
        const n = this.n;
        this.step++;
        let s = await n.workerChannel.getChannelState();
        if (s.slash) {
            if (BigInt(n.bc.now!) < s.slash.executeAt) n.bc.now = Number(s.slash.executeAt);
            const amt = s.slash.amount < s.stake ? s.slash.amount : s.stake;
            const ex = [e2(n.stranger.address, n.workerChannel.address, OP.ExecuteSlash, 0)];
            if (amt > 0n) ex.push(e2(n.workerChannel.address, n.treasury.address, OP.Excesses, 0));
            await this.send('final executeSlash', () => n.workerChannel.sendExecuteSlash(n.stranger.getSender()), ex);
            s = await n.workerChannel.getChannelState();
        }
        if (s.state === WorkerActive || s.state === WorkerSuspended) {
            await this.send('final startUnbond(worker)', () => n.workerChannel.sendStartUnbond(n.worker.getSender()), [e2(n.worker.address, n.workerChannel.address, OP.StartUnbond, 0)]);
            s = await n.workerChannel.getChannelState();
        }
        const stake = s.stake;
        if (s.state === WorkerUnbonding) {
            if (BigInt(n.bc.now!) < s.unbondAt) n.bc.now = Number(s.unbondAt);
            await this.send('final finishUnbond', () => n.workerChannel.sendFinishUnbond(n.stranger.getSender()), [
                e2(n.stranger.address, n.workerChannel.address, OP.FinishUnbond, 0),
                e2(n.workerChannel.address, n.proxy.address, OP.ChannelClosed, 0),
                e2(n.workerChannel.address, n.worker.address, OP.Excesses, 0),
            ]);
        }
        return stake;
    }
}

const e2 = (from: Address, to: Address, op: number, code: number): Expect => ({ from, to, op, code });
const forgerCache = new Map<number, KeyPair>();
function forgerKeys(i: number): KeyPair {
    let k = forgerCache.get(i);
    if (!k) forgerCache.set(i, (k = keys(`forger-${i}`)));
    return k;
}

async function totalBalance(n: Network, accounts: Address[]): Promise<bigint> {
    let s = 0n;
    for (const a of accounts) s += (await n.bc.getContract(a)).balance;
    return s;
}

/** Value carried by non-bounced internal messages from `from` to `to`. */
function valueSent(txs: BlockchainTransaction[], from: Address, to: Address): bigint {
    let s = 0n;
    for (const t of txs) {
        const i = t.inMessage?.info;
        if (i?.type === 'internal' && !i.bounced && i.src.equals(from) && i.dest.equals(to)) s += i.value.coins;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------

// Sized so the whole file stays well under a minute on 2 busy cores (each run: snapshot restore +
// up to 14 operations + the final settlement).
const NUM_RUNS = { conservation: 25, recovery: 25, signatures: 25 };
const PRE_REDEEMED = toNano('2');
// A passing property takes ~10 s; shrinking a failure can take a minute or more, and the shrunk
// counterexample is the useful output, so the per-test timeout leaves room for it.
const SHRINK_TIMEOUT = 300_000;
const SEEDS = { conservation: 0x0c0c0a, recovery: 0x0c0c0b, signatures: 0x0c0c0c };

describe('channel properties over random operation sequences', () => {
    let f: Fixture;

    beforeAll(async () => {
        const n = await deployNetwork();
        // Start every run with part of the deposit already redeemed, so the Proxy's pool can pay workers.
        const sig = n.clientChannel.signVoucher(PRE_REDEEMED, n.clientKeys.secretKey, GLOBAL_ID);
        const r = await n.clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: PRE_REDEEMED, signature: sig });
        expect(r.transactions).toHaveTransaction({ from: n.clientChannel.address, to: n.proxy.address, success: true });
        const ps = await n.proxy.getProxyState();
        expect(ps.pool + ps.commission).toBe(PRE_REDEEMED);
        const ws = await n.workerChannel.getChannelState();
        const cs = await n.clientChannel.getChannelState();
        expect(ps.terms).not.toBeNull();
        expect(ps.workerChannels).toBe(1n);
        expect(ws.state).toBe(WorkerActive);
        expect(cs.state).toBe(StateActive);
        const accounts = [n.gov, n.treasury, n.root, n.proxyOwner, n.proxy, n.client, n.clientChannel, n.worker, n.workerChannel, n.stranger].map((c) => c.address);
        f = {
            n,
            snapshot: n.bc.snapshot(),
            initial: await readChain(n),
            commissionBps: ps.terms!.commissionBps,
            closeDelay: cs.closeDelay,
            unbondDelay: ws.unbondDelay,
            challengePeriod: ws.challengePeriod,
            minStake: ws.minStake,
            accounts,
            initialVouchers: [PRE_REDEEMED],
        };
    });

    it('(a) conserves TON exactly: balances before − after = Σ transaction fees + Σ forwarding fees of delivered messages', async () => {
        await fc.assert(
            fc.asyncProperty(opsArb, async (ops) => {
                await f.n.bc.loadFrom(f.snapshot);
                const run = new Run(f, false);
                const before = await totalBalance(f.n, f.accounts);
                await run.runAll(ops);
                await run.forceCloseByClient();
                await run.settleWorker();
                const after = await totalBalance(f.n, f.accounts);

                let fees = 0n;
                let fwd = 0n;
                for (const t of run.txs) {
                    const dest = t.inMessage?.info.dest;
                    if (!(dest instanceof Address) || !f.accounts.some((a) => a.equals(dest))) run.fail(`transaction on an account outside the tracked set: ${String(dest)}`);
                    fees += t.totalFees.coins;
                    // total_fees excludes the part of an internal message's forwarding fee that is
                    // paid on delivery (the in_msg fwd_fee); it leaves the system all the same.
                    if (t.inMessage?.info.type === 'internal') fwd += t.inMessage.info.forwardFee;
                }
                if (before - after !== fees + fwd)
                    run.fail(`conservation: before ${before} − after ${after} = ${before - after}, but fees ${fees} + forwarding ${fwd} = ${fees + fwd} (off by ${before - after - fees - fwd})`);
            }),
            { numRuns: NUM_RUNS.conservation, seed: SEEDS.conservation },
        );
    }, SHRINK_TIMEOUT);

    it('(b) lets the client recover deposits minus redeemed by force-closing (and the worker its unslashed stake), never redeeming beyond the largest voucher', async () => {
        await fc.assert(
            fc.asyncProperty(opsArb, async (ops) => {
                await f.n.bc.loadFrom(f.snapshot);
                const run = new Run(f, false);
                await run.runAll(ops);
                await run.forceCloseByClient();
                const n = f.n;
                const s = await n.clientChannel.getChannelState();
                if (s.state !== StateClosed || s.balance !== 0n) run.fail(`channel not closed after the force close: state ${s.state}, balance ${s.balance}`);

                const received = valueSent(run.txs, n.clientChannel.address, n.client.address);
                const owed = run.deposited - s.redeemed;
                if (received < owed) run.fail(`client got ${received} back but is owed deposits ${run.deposited} − redeemed ${s.redeemed} = ${owed} (short by ${owed - received})`);
                const maxVoucher = maxOf(run.vouchers);
                if (s.redeemed > maxVoucher) run.fail(`redeemed ${s.redeemed} > largest voucher the client signed ${maxVoucher}`);
                // Nothing but the storage floor stays behind in the closed channel.
                const ccTon = (await n.bc.getContract(n.clientChannel.address)).balance;
                if (ccTon > MinStorage) run.fail(`closed ClientChannel still holds ${ccTon} nanoTON (> storage floor ${MinStorage})`);

                // After the close no voucher can move anything any more.
                const latest = run.vouchers.at(-1) ?? 0n;
                const amt = latest > s.redeemed ? latest : s.redeemed + 1n;
                run.step++;
                await run.send(`redeem after close (amount ${amt})`, () => n.clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: amt, signature: n.clientChannel.signVoucher(amt, n.clientKeys.secretKey, GLOBAL_ID) }), [
                    e2(n.proxyOwner.address, n.clientChannel.address, OP.Redeem, Number(ErrWrongState)),
                ]);
                const s2 = await n.clientChannel.getChannelState();
                if (s2.redeemed !== s.redeemed) run.fail(`redeem after close changed redeemed ${s.redeemed} -> ${s2.redeemed}`);

                // The worker, too, can always leave with what was not slashed.
                const from = run.txs.length;
                const stakeLeft = await run.settleWorker();
                const workerGot = valueSent(run.txs.slice(from), n.workerChannel.address, n.worker.address);
                if (workerGot < stakeLeft) run.fail(`worker got ${workerGot} on unbonding but had ${stakeLeft} stake left`);
                const ws = await n.workerChannel.getChannelState();
                const ps = await n.proxy.getProxyState();
                if (ws.state !== WorkerClosed || ws.stake !== 0n || ps.workerChannels !== 0n)
                    run.fail(`worker not settled: channel state ${ws.state}, stake ${ws.stake}, proxy still counts ${ps.workerChannels} channels`);
            }),
            { numRuns: NUM_RUNS.recovery, seed: SEEDS.recovery },
        );
    }, SHRINK_TIMEOUT);

    it('(c) moves nothing without a valid signature and keeps pool + commission = redeemed − paid to workers', async () => {
        await fc.assert(
            fc.asyncProperty(opsArb, async (ops) => {
                await f.n.bc.loadFrom(f.snapshot);
                const run = new Run(f, true);
                await run.runAll(ops);
            }),
            { numRuns: NUM_RUNS.signatures, seed: SEEDS.signatures },
        );
    }, SHRINK_TIMEOUT);
});
