// `cocoon worker status|add-stake|unbond|finish-unbond|claim|close --config worker.json [--proxy <address>]`
// (spec/operations.md, "Operator commands"): the worker's lifecycle with each proxy over the worker agent's config
// file. A WorkerChannel is derived from (the proxy, the wallet), so the wallet is the worker by construction; `claim`
// sends the latest proxy-signed payout from the worker's state file (worker.stateFile). `close` is the whole exit from
// one proxy, as far as it can go now: claim what is signed and unpaid, then unbond (an active channel) or finish the
// unbonding (once its delay is over); run it again after the delay.
import { resolve } from 'path';
import { Address } from '@ton/core';
import { CommandIo, UsageError } from '../core/cli-io';
import { noLog } from '../core/log';
import { systemClock } from '../core/clock';
import { Loaded, loadConfigFile, WorkerConfigFile, WorkerConfigSchema } from '../config';
import { ProxyState, StateActive } from '../../wrappers/Proxy';
import { FeeClaim, FeeFinish, FeeSimple, WorkerActive, WorkerChannelState, WorkerChannelWrapper, WorkerNew, WorkerSuspended, WorkerUnbonding } from '../../wrappers/WorkerChannel';
import { PayoutBook } from '../worker/payouts';
import { workerChannelOf } from '../core/chain';
import { OperatorError } from './errors';
import { PROXY_STATES, WORKER_STATES } from './proxy';
import { accountNow, addressFlag, amountFlag, capture, COMMON_USAGE, execute, OperatorContext, operatorCommand, Plan, print, ton } from './send';

const name = (s: bigint) => WORKER_STATES[Number(s)] ?? `unknown(${s})`;

const usage = (cmd: string, what: string, extra = '') => `usage: cocoon worker ${cmd} --config <worker.json> [--proxy <address>]${extra ? ' ' + extra : ''} [--dry-run] [--json] [--wallet <file>]
  ${what}
  --proxy <address> the proxy whose channel this is (default: the only channel among worker.proxies or Root's proxies)
${COMMON_USAGE}`;

export const WORKER_OPERATOR_USAGE = {
    status: `usage: cocoon worker status --config <worker.json> [--proxy <address>] [--json]
  Each WorkerChannel of this wallet (with worker.proxies, or every proxy in Root, and those in the state file): state,
  stake, paid, the latest signed payout and what is claimable, the unbonding timer and any pending slash.
${COMMON_USAGE}`,
    'add-stake': usage('add-stake', 'WorkerStake: adds --amount TON to the channel (deploys it the first time; at the minimum stake it opens).', '--amount <TON>'),
    unbond: usage('unbond', 'StartUnbond: the channel stops serving and unbonds for the delay; signed payouts stay claimable.'),
    'finish-unbond': usage('finish-unbond', 'FinishUnbond: after the delay and with no slash pending, the stake returns to the wallet; the channel closes.'),
    claim: usage('claim', "ClaimPayout: the latest payout the proxy signed (the state file's) minus what was paid goes to the wallet."),
    close: usage('close', 'Leave this proxy: claim what is signed and unpaid, then unbond, or finish-unbond once the delay is over (run again then).'),
} as const;
type Sub = keyof typeof WORKER_OPERATOR_USAGE;

interface ChannelView {
    proxy: Address;
    ps: ProxyState;
    wrapper: WorkerChannelWrapper;
    st: WorkerChannelState | null;
}

/** The proxies to look at: --proxy, else worker.proxies (else Root's) and every proxy the state file has a payout of. */
async function candidates(ctx: OperatorContext, loaded: Loaded<WorkerConfigFile>, book: PayoutBook, proxy: Address | undefined): Promise<Address[]> {
    if (proxy) return [proxy];
    const listed = loaded.config.worker.proxies?.map((a) => Address.parse(a)) ?? [...(await ctx.chain.getRootConfig()).proxies.keys()].map((a) => Address.parse(a));
    const all = new Map(listed.map((a) => [a.toRawString(), a]));
    for (const channel of book.earned().keys()) {
        const p = book.get(Address.parse(channel))!.proxy;
        all.set(p.toRawString(), p);
    }
    return [...all.values()];
}

async function viewOf(ctx: OperatorContext, proxy: Address, explicit: boolean): Promise<ChannelView | null> {
    const ps = await ctx.chain.getProxyState(proxy);
    if (!ps || !ps.terms) {
        if (!explicit) return null;
        throw new OperatorError('NOT_DEPLOYED', `no registered Proxy contract at ${proxy.toString()} (--proxy)`, { proxy: proxy.toRawString() });
    }
    const { wrapper } = await workerChannelOf(ctx.chain, proxy, ctx.wallet.address, ps);
    return { proxy, ps, wrapper, st: await ctx.chain.getWorkerChannelState(wrapper.address) };
}

function report(v: ChannelView, book: PayoutBook, now: number): Record<string, unknown> {
    const st = v.st;
    const earned = book.get(v.wrapper.address)?.amount ?? 0n;
    const paid = st?.paid ?? 0n;
    return {
        proxy: v.proxy,
        proxyState: PROXY_STATES[Number(v.ps.state)],
        channel: v.wrapper.address,
        state: st ? name(st.state) : 'not deployed',
        stake: st?.stake ?? 0n,
        minStake: v.ps.terms!.minWorkerStake,
        paid,
        earned,
        claimable: earned > paid ? earned - paid : 0n,
        proxyPool: v.ps.pool,
        ...(st && st.state === WorkerUnbonding ? { unbondAt: Number(st.unbondAt), unbondInS: Math.max(0, Number(st.unbondAt) - now) } : {}),
        faultSeqno: st ? Number(st.faultSeqno) : undefined,
        slash: st?.slash ? { amount: st.slash.amount, executeAt: Number(st.slash.executeAt), reason: Number(st.slash.reason) } : undefined,
    };
}

/** The one channel a sending command acts on. */
async function pick(ctx: OperatorContext, loaded: Loaded<WorkerConfigFile>, book: PayoutBook, proxy: Address | undefined): Promise<ChannelView> {
    if (proxy) return (await viewOf(ctx, proxy, true))!;
    const views = (await Promise.all((await candidates(ctx, loaded, book, undefined)).map((p) => viewOf(ctx, p, false)))).filter((v): v is ChannelView => v !== null);
    const open = views.filter((v) => v.st !== null);
    if (open.length === 1) return open[0];
    if (open.length === 0 && views.length === 1) return views[0];
    const list = (open.length ? open : views).map((v) => v.proxy.toString()).join(', ');
    throw new UsageError(`--proxy <address> is required: ${open.length ? `this wallet has channels with ${open.length} proxies` : `${views.length} proxies and no channel yet`}: ${list}`);
}

function requireChannel(v: ChannelView): WorkerChannelState {
    if (!v.st) throw new OperatorError('NOT_DEPLOYED', `this wallet has no WorkerChannel with proxy ${v.proxy.toString()} (${v.wrapper.address.toString()}); add-stake opens one`, { channel: v.wrapper.address.toRawString() });
    return v.st;
}

const isBonded = (st: WorkerChannelState) => st.state === WorkerActive || st.state === WorkerSuspended || (st.state === WorkerNew && st.stake > 0n);

type Planner = (ctx: OperatorContext, v: ChannelView, book: PayoutBook, now: number, amount: () => bigint) => Promise<Plan>;

function reader(ctx: OperatorContext, v: ChannelView, book: PayoutBook) {
    return async () => {
        const fresh = (await viewOf(ctx, v.proxy, true))!;
        return report(fresh, book, (await accountNow(ctx.chain, v.proxy)).now);
    };
}

const PLANNERS: Record<Exclude<Sub, 'status' | 'close'>, Planner> = {
    'add-stake': async (ctx, v, book, _now, amount) => {
        const a = amount();
        if (v.st && !(v.st.state === WorkerNew || v.st.state === WorkerActive || v.st.state === WorkerSuspended))
            throw new OperatorError('WRONG_STATE', `the channel ${v.wrapper.address.toString()} is ${name(v.st.state)}: stake can be added only before unbonding`, { state: name(v.st.state) });
        if (v.ps.state !== StateActive)
            throw new OperatorError('WRONG_STATE', `proxy ${v.proxy.toString()} is ${PROXY_STATES[Number(v.ps.state)]}: it takes no new stake`, { state: PROXY_STATES[Number(v.ps.state)] });
        if (!v.st && !v.wrapper.init)
            throw new OperatorError('WRONG_STATE', `cannot open a channel with proxy ${v.proxy.toString()}: its WorkerChannel code is neither Root's current one nor this build's`, { state: 'unknown code' });
        const before = v.st?.stake ?? 0n;
        const min = v.ps.terms!.minWorkerStake;
        return {
            message: await capture(ctx.wallet.address, (via) => ctx.chain.open(v.wrapper).sendStake(via, a)),
            gasBudget: FeeSimple,
            effect: `stake ${ton(before)} -> ${ton(before + a)}${before + a < min ? ` (below the minimum ${ton(min)}: the channel does not serve yet)` : ''}`,
            read: reader(ctx, v, book),
            done: (s) => s.stake === before + a,
        };
    },
    unbond: async (ctx, v, book) => {
        const st = requireChannel(v);
        if (!isBonded(st)) throw new OperatorError('WRONG_STATE', `the channel ${v.wrapper.address.toString()} is ${name(st.state)}: nothing to unbond`, { state: name(st.state) });
        return {
            message: await capture(ctx.wallet.address, (via) => ctx.chain.open(v.wrapper).sendStartUnbond(via)),
            gasBudget: FeeSimple,
            effect: `the channel unbonds for ${st.unbondDelay} s, then finish-unbond returns the stake ${ton(st.stake)}`,
            read: reader(ctx, v, book),
            done: (s) => s.state === 'unbonding',
        };
    },
    'finish-unbond': async (ctx, v, book, now) => {
        const st = requireChannel(v);
        if (st.state !== WorkerUnbonding) throw new OperatorError('WRONG_STATE', `the channel ${v.wrapper.address.toString()} is ${name(st.state)}: run unbond first`, { state: name(st.state) });
        const at = Number(st.unbondAt);
        if (now < at) throw new OperatorError('TOO_EARLY', `the unbonding ends at ${new Date(at * 1000).toISOString()} (in ${at - now} s of chain time)`, { at, waitS: at - now });
        if (st.slash) throw new OperatorError('SLASH_PENDING', `a slash of ${ton(st.slash.amount)} is pending (executes at ${st.slash.executeAt}): it must execute or be vetoed first`, { executeAt: Number(st.slash.executeAt) });
        return {
            message: await capture(ctx.wallet.address, (via) => ctx.chain.open(v.wrapper).sendFinishUnbond(via)),
            gasBudget: FeeFinish,
            effect: `the channel closes; its stake ${ton(st.stake)} returns to the wallet`,
            read: reader(ctx, v, book),
            done: (s) => s.state === 'closed',
        };
    },
    claim: async (ctx, v, book) => {
        const st = requireChannel(v);
        if (st.state === WorkerNew) throw new OperatorError('WRONG_STATE', 'the channel was never staked: it has no payouts', { state: 'new' });
        const stored = book.get(v.wrapper.address);
        if (!stored || stored.amount <= st.paid)
            throw new OperatorError('NOTHING_TO_DO', `nothing to claim: the latest signed payout is ${ton(stored?.amount ?? 0n)}, paid ${ton(st.paid)}`, { earned: (stored?.amount ?? 0n).toString(), paid: st.paid.toString() });
        const due = stored.amount - st.paid;
        if (due > v.ps.pool)
            throw new OperatorError('POOL_SHORT', `the proxy's pool holds ${ton(v.ps.pool)}, the claim needs ${ton(due)}: it would bounce; wait for the proxy to redeem`, { due: due.toString(), pool: v.ps.pool.toString() });
        return {
            message: await capture(ctx.wallet.address, (via) => ctx.chain.open(v.wrapper).sendClaim(via, { amount: stored.amount, signature: stored.signature })),
            gasBudget: FeeClaim,
            effect: `${ton(due)} from the proxy's pool to the wallet; paid becomes ${ton(stored.amount)}`,
            read: reader(ctx, v, book),
            done: (s) => s.paid === stored.amount,
        };
    },
};

/** close: the steps that can run now, in order (claim, then unbond or finish-unbond). */
async function closeSteps(ctx: OperatorContext, v: ChannelView, book: PayoutBook, now: number): Promise<{ steps: Sub[]; next?: string }> {
    const st = requireChannel(v);
    const steps: Sub[] = [];
    const due = (book.get(v.wrapper.address)?.amount ?? 0n) - st.paid;
    if (st.state !== WorkerNew && due > 0n && due <= v.ps.pool) steps.push('claim');
    if (isBonded(st)) return { steps: [...steps, 'unbond'], next: `run close again after the unbonding delay (${st.unbondDelay} s)` };
    if (st.state === WorkerUnbonding) {
        if (now >= Number(st.unbondAt) && !st.slash) return { steps: [...steps, 'finish-unbond'] };
        if (steps.length === 0) await PLANNERS['finish-unbond'](ctx, v, book, now, () => 0n); // throws TOO_EARLY / SLASH_PENDING
        return { steps, next: `run close again at ${Number(st.unbondAt)} (finish-unbond)` };
    }
    if (steps.length === 0) {
        if (due > 0n) await PLANNERS.claim(ctx, v, book, now, () => 0n); // throws POOL_SHORT
        throw new OperatorError('NOTHING_TO_DO', `the channel is ${name(st.state)} and nothing is left to claim`, { state: name(st.state) });
    }
    return { steps };
}

export function workerOperatorCommand(sub: Sub, argv: string[], io: CommandIo): Promise<number> {
    const flags = sub === 'add-stake' ? ({ proxy: 'value', amount: 'value' } as const) : ({ proxy: 'value' } as const);
    return operatorCommand<Loaded<WorkerConfigFile>>(
        io,
        WORKER_OPERATOR_USAGE[sub],
        argv,
        flags,
        (path) => loadConfigFile(path, WorkerConfigSchema),
        async (ctx, f, loaded) => {
            const amount = () => amountFlag(f.amount);
            if (sub === 'add-stake') amount(); // a bad amount is a usage error before any chain read
            const proxy = f.proxy === undefined ? undefined : addressFlag('proxy', f.proxy);
            // Read only: accept() (which verifies against the global id) is never called here.
            const book = new PayoutBook({ path: resolve(loaded.dir, loaded.config.worker.stateFile), chain: ctx.chain, wallet: ctx.wallet, threshold: 0n, globalId: 0, clock: systemClock, log: noLog });
            book.load();
            if (sub === 'status') {
                const views = (await Promise.all((await candidates(ctx, loaded, book, proxy)).map((p) => viewOf(ctx, p, proxy !== undefined)))).filter((v): v is ChannelView => v !== null);
                const now = (await accountNow(ctx.chain, ctx.wallet.address)).now;
                const channels = views.filter((v) => v.st !== null || book.get(v.wrapper.address)).map((v) => report(v, book, now));
                print(ctx, `worker ${ctx.wallet.address.toString()}`, { wallet: ctx.wallet.address, balance: await ctx.wallet.getBalance(), chainTime: now, channels });
                return 0;
            }
            const v = await pick(ctx, loaded, book, proxy);
            const now = (await accountNow(ctx.chain, v.proxy)).now;
            if (sub !== 'close') {
                const result = await execute(ctx, await PLANNERS[sub](ctx, v, book, now, amount));
                print(ctx, `worker ${sub}${ctx.dryRun ? ' (dry run: nothing sent)' : ''}`, result);
                return 0;
            }
            const { steps, next } = await closeSteps(ctx, v, book, now);
            const results: Record<string, unknown> = {};
            const title = `worker close${ctx.dryRun ? ' (dry run: nothing sent)' : ''}`;
            for (const step of steps) {
                try {
                    const fresh = (await viewOf(ctx, v.proxy, true))!;
                    results[step] = await execute(ctx, await PLANNERS[step as Exclude<Sub, 'status' | 'close'>](ctx, fresh, book, now, amount));
                } catch (e) {
                    // The steps already done stay done: show them before the error that stopped the next one.
                    if (Object.keys(results).length > 0) print(ctx, title, { steps: results, failed: step });
                    throw e;
                }
            }
            print(ctx, title, { steps: results, ...(next ? { next } : {}) });
            return 0;
        },
    );
}
