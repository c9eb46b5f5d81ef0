// `cocoon proxy status|withdraw-commission|add-stake|close|finish-close|evict --config proxy.json` (spec/operations.md,
// "Operator commands"): the Proxy owner's lifecycle over the proxy agent's own config file. Sending commands use
// `--wallet`, else `proxy.ownerWallet`, else the config's wallet, and refuse (NOT_OWNER) before sending when that wallet
// is not the Proxy's owner; each checks the Proxy's state (and the worker's channel for evict) first, as the contract
// would, so a refusal costs nothing.
import { Address } from '@ton/core';
import { CommandIo } from '../core/cli-io';
import { Loaded, loadConfigFile, ProxyConfigFile, ProxyConfigSchema, proxyAddressOf } from '../config';
import { FeeFinish, FeeSimple, MinStorage, ProxyState, ProxyWrapper, StateActive, StateClosed, StateClosing } from '../../wrappers/Proxy';
import { WorkerActive, WorkerNew, WorkerSuspended, WorkerUnbonding } from '../../wrappers/WorkerChannel';
import { OperatorError } from './errors';
import { accountNow, addressFlag, amountFlag, capture, COMMON_USAGE, execute, OperatorContext, operatorCommand, OperatorFlags, Plan, print, ton } from './send';

/** State names by the contracts' state numbers (contracts/constants.tact), shown by every command and `cocoon status`. */
export const PROXY_STATES = ['active', 'closing', 'closed'];
export const WORKER_STATES = ['new', 'active', 'unbonding', 'closed', 'suspended'];
const name = (names: string[], s: bigint) => names[Number(s)] ?? `unknown(${s})`;

const usage = (cmd: string, what: string, extra = '') => `usage: cocoon proxy ${cmd} --config <proxy.json>${extra ? ' ' + extra : ''} [--dry-run] [--json] [--wallet <file>]
  ${what}
${COMMON_USAGE}`;

export const PROXY_OPERATOR_USAGE = {
    status: `usage: cocoon proxy status --config <proxy.json> [--json]
  The Proxy contract's state: stake, state, commission, pool, withdrawable surplus, open worker channels, the close
  timer (against the chain's time), its terms, and whether the sending wallet is the owner.
${COMMON_USAGE}`,
    'withdraw-commission': usage('withdraw-commission', 'WithdrawCommission: the commission and any surplus above stake + pool + the storage floor go to the owner.'),
    'add-stake': usage('add-stake', 'AddStake: adds --amount TON to the stake (only while active; the stake returns to the owner at finish-close).', '--amount <TON>'),
    close: usage('close', 'ProxyClose: leave Root and start the close delay; workers must then unbond (evict them) before finish-close.'),
    'finish-close': usage(
        'finish-close',
        'ProxyFinishClose: after the close delay with no open worker channel, stake, commission and surplus go to the owner;\n  run again after the 30-day claim window to take what is left of the workers\' pool.',
    ),
    evict: usage('evict', "EvictWorker: forces the worker's channel (named by its wallet) into unbonding.", '--worker <address>'),
} as const;

interface ProxyView {
    address: Address;
    st: ProxyState;
    now: number;
    balance: bigint;
}

async function readProxy(ctx: OperatorContext, address: Address): Promise<ProxyView> {
    const st = await ctx.chain.getProxyState(address);
    if (!st) throw new OperatorError('NOT_DEPLOYED', `no Proxy contract at ${address.toString()} (proxy.address)`, { address: address.toRawString() });
    const acc = await accountNow(ctx.chain, address);
    return { address, st, now: acc.now, balance: acc.balance };
}

/** The status report of a Proxy (also the state shown before and after each command). */
export function proxyReport(v: ProxyView, wallet: Address): Record<string, unknown> {
    const { st, now, balance } = v;
    const reserve = st.stake + st.pool + MinStorage;
    const timer = st.state === StateActive ? undefined : { closeAt: Number(st.closeAt), closeInS: Math.max(0, Number(st.closeAt) - now) };
    return {
        address: v.address,
        owner: st.owner,
        state: name(PROXY_STATES, st.state),
        registered: st.registered,
        banned: st.banned,
        stake: st.stake,
        commission: st.commission,
        pool: st.pool,
        balance,
        withdrawable: balance > reserve ? balance - reserve : 0n,
        workerChannels: Number(st.workerChannels),
        commitSeqno: st.commitSeqno,
        ...(timer ?? {}),
        chainTime: now,
        terms: st.terms
            ? {
                  commissionBps: Number(st.terms.commissionBps),
                  proxyCloseDelay: Number(st.terms.proxyCloseDelay),
                  workerUnbondDelay: Number(st.terms.workerUnbondDelay),
                  minWorkerStake: st.terms.minWorkerStake,
                  treasury: st.terms.treasury,
              }
            : null,
        walletIsOwner: wallet.equals(st.owner),
    };
}

function requireOwner(ctx: OperatorContext, v: ProxyView, why: string): void {
    if (!ctx.wallet.address.equals(v.st.owner))
        throw new OperatorError('NOT_OWNER', `wallet ${ctx.wallet.address.toString()} is not the owner ${v.st.owner.toString()} of Proxy ${v.address.toString()}: ${why} (use --wallet or proxy.ownerWallet)`, {
            owner: v.st.owner.toRawString(),
            wallet: ctx.wallet.address.toRawString(),
        });
}

function requireState(v: ProxyView, allowed: bigint[], hint: string): void {
    if (!allowed.includes(v.st.state)) throw new OperatorError('WRONG_STATE', `Proxy ${v.address.toString()} is ${name(PROXY_STATES, v.st.state)}: ${hint}`, { state: name(PROXY_STATES, v.st.state) });
}

function tooEarly(at: number, now: number, what: string): never {
    throw new OperatorError('TOO_EARLY', `${what} at ${new Date(at * 1000).toISOString()} (in ${at - now} s of chain time)`, { at, waitS: at - now });
}

type Planner = (ctx: OperatorContext, v: ProxyView, flags: OperatorFlags) => Promise<Plan>;

const proxyOf = (ctx: OperatorContext, v: ProxyView) => ctx.chain.open(ProxyWrapper.open(v.address));
const stateReader = (ctx: OperatorContext, v: ProxyView) => async () => proxyReport(await readProxy(ctx, v.address), ctx.wallet.address);

const PLANNERS: Record<Exclude<keyof typeof PROXY_OPERATOR_USAGE, 'status'>, Planner> = {
    'withdraw-commission': async (ctx, v) => {
        requireOwner(ctx, v, 'only the owner may withdraw');
        const withdrawable = proxyReport(v, ctx.wallet.address).withdrawable as bigint;
        if (withdrawable <= FeeSimple)
            throw new OperatorError('NOTHING_TO_DO', `nothing to withdraw: the balance holds stake + pool + the storage floor and ${ton(withdrawable)} more, not above the gas`, {
                withdrawable: withdrawable.toString(),
            });
        return {
            message: await capture(ctx.wallet.address, (via) => proxyOf(ctx, v).sendWithdrawCommission(via)),
            gasBudget: FeeSimple,
            effect: `about ${ton(withdrawable)} (commission ${ton(v.st.commission)} and surplus) to the owner; commission becomes 0`,
            read: stateReader(ctx, v),
            done: () => true,
        };
    },
    'add-stake': async (ctx, v, flags) => {
        const amount = amountFlag(flags.amount);
        requireState(v, [StateActive], 'stake can only be added while active');
        requireOwner(ctx, v, 'the stake returns only to the owner at finish-close');
        return {
            message: await capture(ctx.wallet.address, (via) => proxyOf(ctx, v).sendAddStake(via, amount)),
            gasBudget: FeeSimple,
            effect: `stake ${ton(v.st.stake)} -> ${ton(v.st.stake + amount)}`,
            read: stateReader(ctx, v),
            done: () => true,
        };
    },
    close: async (ctx, v) => {
        requireOwner(ctx, v, 'only the owner may close');
        requireState(v, [StateActive], 'it is already closing or closed (finish-close)');
        const delay = v.st.terms ? Number(v.st.terms.proxyCloseDelay) : 0;
        return {
            message: await capture(ctx.wallet.address, (via) => proxyOf(ctx, v).sendClose(via)),
            gasBudget: FeeSimple,
            effect: `leaves Root and closes: finish-close from chain time ${v.now + delay} once all ${v.st.workerChannels} worker channels are closed (evict them)`,
            read: stateReader(ctx, v),
            done: () => true,
        };
    },
    'finish-close': async (ctx, v) => {
        requireOwner(ctx, v, 'only the owner may finish the close');
        requireState(v, [StateClosing, StateClosed], 'run close first');
        const at = Number(v.st.closeAt);
        let effect: string;
        if (v.st.state === StateClosing) {
            if (v.now < at) tooEarly(at, v.now, 'the close delay ends');
            if (v.st.workerChannels > 0n)
                throw new OperatorError('CHANNELS_OPEN', `${v.st.workerChannels} worker channels are still open: evict each worker, and each must finish-unbond after its delay`, {
                    workerChannels: Number(v.st.workerChannels),
                });
            effect = `closed; stake ${ton(v.st.stake)}, commission and surplus to the owner; the pool (${ton(v.st.pool)}) stays for late worker claims`;
        } else {
            if (v.st.pool === 0n) throw new OperatorError('NOTHING_TO_DO', 'the Proxy is closed and its pool is empty: nothing left to take', { state: 'closed' });
            if (v.now < at) tooEarly(at, v.now, "the workers' claim window ends");
            effect = `the rest of the pool (${ton(v.st.pool)}) to the owner`;
        }
        return {
            message: await capture(ctx.wallet.address, (via) => proxyOf(ctx, v).sendFinishClose(via)),
            gasBudget: FeeFinish,
            effect,
            read: stateReader(ctx, v),
            done: () => true,
        };
    },
    evict: async (ctx, v, flags) => {
        const worker = addressFlag('worker', flags.worker);
        requireOwner(ctx, v, 'only the owner may evict');
        if (!v.st.terms) throw new OperatorError('WRONG_STATE', `Proxy ${v.address.toString()} was never registered: it has no worker channels`, { state: 'unregistered' });
        const channel = await proxyOf(ctx, v).getWorkerChannelAddress(worker);
        const readChannel = async () => ctx.chain.getWorkerChannelState(channel);
        const ch = await readChannel();
        if (!ch) throw new OperatorError('NOT_DEPLOYED', `worker ${worker.toString()} has no channel with this Proxy (${channel.toString()})`, { channel: channel.toRawString() });
        const bonded = ch.state === WorkerActive || ch.state === WorkerSuspended || (ch.state === WorkerNew && ch.stake > 0n);
        if (!bonded) throw new OperatorError('WRONG_STATE', `the worker's channel ${channel.toString()} is ${name(WORKER_STATES, ch.state)}: nothing to evict`, { state: name(WORKER_STATES, ch.state) });
        return {
            message: await capture(ctx.wallet.address, (via) => proxyOf(ctx, v).sendEvictWorker(via, worker)),
            gasBudget: FeeSimple,
            effect: `StartUnbond to channel ${channel.toString()}: it unbonds for ${v.st.terms.workerUnbondDelay} s, then anyone may finish-unbond (the stake goes to the worker)`,
            read: async () => {
                const c = await readChannel();
                return { channel, state: c ? name(WORKER_STATES, c.state) : 'not deployed', stake: c?.stake, unbondAt: c ? Number(c.unbondAt) : undefined };
            },
            done: (s) => s.state === WORKER_STATES[Number(WorkerUnbonding)],
        };
    },
};

/** Runs `cocoon proxy <sub> …` for one of PROXY_OPERATOR_USAGE's commands. */
export function proxyOperatorCommand(sub: keyof typeof PROXY_OPERATOR_USAGE, argv: string[], io: CommandIo): Promise<number> {
    const flags = sub === 'add-stake' ? ({ amount: 'value' } as const) : sub === 'evict' ? ({ worker: 'value' } as const) : {};
    return operatorCommand<Loaded<ProxyConfigFile>>(
        io,
        PROXY_OPERATOR_USAGE[sub],
        argv,
        flags,
        (path) => loadConfigFile(path, ProxyConfigSchema),
        async (ctx, f, loaded) => {
            // Bad flags are usage errors before any chain read.
            if (sub === 'add-stake') amountFlag(f.amount);
            if (sub === 'evict') addressFlag('worker', f.worker);
            const address = proxyAddressOf(loaded);
            const v = await readProxy(ctx, address);
            if (sub === 'status') {
                print(ctx, `Proxy ${address.toString()}`, { ...proxyReport(v, ctx.wallet.address), wallet: ctx.wallet.address });
                return 0;
            }
            const plan = await PLANNERS[sub](ctx, v, f);
            const result = await execute(ctx, plan);
            print(ctx, `proxy ${sub}${ctx.dryRun ? ' (dry run: nothing sent)' : ''}`, result);
            return 0;
        },
        (loaded) => loaded.config.proxy.ownerWallet?.secretKeyFile,
    );
}
