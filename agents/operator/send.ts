// The one way operator commands (`cocoon proxy|worker <command>`, spec/operations.md "Operator commands") build, show
// and send a message. A generated wrapper builds it: its typed sender runs against a Sender that only records what it
// would send, so no body is ever written by hand. The command checks the contract's state before it calls execute();
// execute() prints the plan (destination, value, opcode, decoded fields, the fee estimate) and, unless --dry-run,
// sends it through the config's wallet, waits for the destination's transaction, reads its exit code and waits for
// the state change the command expects.
import { resolve } from 'path';
import { Address, Cell, fromNano, Sender, SenderArguments, Transaction } from '@ton/core';
import { keyPairFromSecretKey } from '@ton/crypto';
import { command, CommandIo, FlagSpec, tonFlag, UsageError } from '../core/cli-io';
import { ChainWallet, TonChain, WalletMessage } from '../core/chain';
import { Loaded, readWalletKey, trustOf } from '../config';
import { chainOf, CommonFile, walletKeyOf } from '../common';
import { systemClock } from '../core/clock';
import * as generated from '../../wrappers/Proxy';
import { OperatorError } from './errors';

/** Flags every operator command takes. */
export const COMMON_FLAGS = { config: 'value', json: 'switch', 'dry-run': 'switch', wallet: 'value' } as const;

export const COMMON_USAGE = `  --config <file>   the agent's config file (required)
  --wallet <file>   send from this wallet (a 64-byte secret key in hex or a 24-word mnemonic) instead of the config's
  --dry-run         check and show the message (destination, value, opcode, fields, fee estimate); send nothing
  --json            print one JSON object (amounts in nanoTON as decimal strings, addresses raw)
  -h, --help        show this help
exit status: 0 done (or dry run shown), 1 refused or failed (<CODE>: message), 2 bad command line`;

export interface OperatorContext {
    chain: TonChain;
    wallet: ChainWallet;
    io: CommandIo;
    json: boolean;
    dryRun: boolean;
    /** How long to wait for the transaction and its effect (the chain config's sendTimeoutMs). */
    timeoutMs: number;
    pollMs: number;
}

type Cfg = Loaded<CommonFile>;

/** The values of an operator command's flags (each command accepts only its own: `extra` of operatorCommand). */
export interface OperatorFlags {
    config?: string;
    json?: true;
    'dry-run'?: true;
    wallet?: string;
    amount?: string;
    proxy?: string;
    worker?: string;
}

/**
 * Runs an operator command: parses COMMON_FLAGS + `extra`, loads the config with `load`, builds the chain and the
 * wallet (`--wallet`, else `walletFile(config)`, else the config's wallet) and runs `body`.
 */
export function operatorCommand<C extends Cfg>(
    io: CommandIo,
    usage: string,
    argv: string[],
    extra: Partial<Record<'amount' | 'proxy' | 'worker', 'value'>>,
    load: (path: string) => C,
    body: (ctx: OperatorContext, flags: OperatorFlags, loaded: C) => Promise<number>,
    walletFile?: (loaded: C) => string | undefined,
): Promise<number> {
    const spec: FlagSpec = { ...COMMON_FLAGS, ...extra };
    return command(io, usage, argv, spec, async (parsed) => {
        const f = parsed as OperatorFlags;
        if (f.config === undefined) throw new UsageError('--config <file> is required');
        const loaded = load(f.config);
        const c = await chainOf(loaded);
        const other = f.wallet !== undefined ? resolve(f.wallet) : walletFile?.(loaded);
        // The agent's own sealed wallet opens only inside its TD (and while the agent is stopped: it holds the lease).
        const key =
            other !== undefined
                ? { secretKey: await readWalletKey(loaded.dir, other) }
                : await walletKeyOf(loaded, { ...c, quotePolicy: await trustOf(loaded.dir, loaded.config.trust, undefined, () => c.trustClock.date()) });
        await key.lease?.lease.release();
        const keys = keyPairFromSecretKey(key.secretKey);
        // A transfer expires by the chain's clock (valid_until): the wallet keeps time with the chain's last block.
        const skewMs = (await accountNow(c.chain, c.chain.wallet(keys).address)).now * 1000 - Date.now();
        const wallet = c.chain.wallet(keys, { clock: { now: () => Date.now() + skewMs, sleep: systemClock.sleep } });
        const ctx: OperatorContext = {
            chain: c.chain,
            wallet,
            io,
            json: f.json === true,
            dryRun: f['dry-run'] === true,
            timeoutMs: c.chainConfig.sendTimeoutMs,
            pollMs: c.chainConfig.sendPollMs,
        };
        return body(ctx, f, loaded);
    });
}

/** `--amount <TON>`. */
export const amountFlag = (v: string | undefined): bigint => tonFlag('amount', v);

export function addressFlag(name: string, v: string | undefined): Address {
    if (v === undefined) throw new UsageError(`--${name} <address> is required`);
    try {
        return Address.parse(v.trim());
    } catch {
        throw new UsageError(`--${name}: not a TON address: ${v}`);
    }
}

/** The message a wrapper's typed sender would send, recorded instead of sent. */
export async function capture(from: Address, send: (via: Sender) => Promise<void>): Promise<WalletMessage & { body: Cell }> {
    let got: SenderArguments | undefined;
    await send({ address: from, send: async (args) => void (got = args) });
    if (!got?.body) throw new Error('the wrapper sent no message body');
    return { to: got.to, value: got.value, body: got.body, bounce: got.bounce ?? true, init: got.init ?? null };
}

/** Operator messages by opcode, decoded by the generated loaders. */
const LOADERS: Record<string, (s: ReturnType<Cell['beginParse']>) => Record<string, unknown>> = {
    AddStake: generated.loadAddStake,
    WithdrawCommission: generated.loadWithdrawCommission,
    ProxyClose: generated.loadProxyClose,
    ProxyFinishClose: generated.loadProxyFinishClose,
    EvictWorker: generated.loadEvictWorker,
    WorkerStake: generated.loadWorkerStake,
    StartUnbond: generated.loadStartUnbond,
    FinishUnbond: generated.loadFinishUnbond,
    ClaimPayout: generated.loadClaimPayout,
};
const OPCODES: Record<string, number> = generated.Proxy.opcodes;

export function decodeBody(body: Cell): { opcode: string; name: string; fields: Record<string, unknown> } {
    const op = body.beginParse().preloadUint(32);
    const name = Object.keys(LOADERS).find((n) => OPCODES[n] === op);
    if (name === undefined) throw new Error(`opcode 0x${op.toString(16)} is not an operator message`);
    const { $$type: _t, ...fields } = LOADERS[name](body.beginParse());
    return { opcode: `0x${op.toString(16).padStart(8, '0')}`, name, fields };
}

/** A contract exit code's name (contracts/constants.tact, or TVM's / Tact's own). */
export function exitCodeName(code: number): string {
    const named = Object.entries(generated).find(([k, v]) => k.startsWith('Err') && v === BigInt(code));
    if (named) return named[0];
    return (generated.Proxy_errors as Record<number, { message: string } | undefined>)[code]?.message ?? `exit code ${code}`;
}

/** Bigints as decimal strings, addresses raw, byte strings hex: what --json prints. */
export function plain(v: unknown): unknown {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Address) return v.toRawString();
    if (Buffer.isBuffer(v)) return v.toString('hex');
    if (v instanceof Cell) return v.toBoc().toString('hex');
    if (isSlice(v)) return (v as ReturnType<Cell['beginParse']>).asCell().bits.toString();
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
}

/** An amount for people: `1.5 TON`. */
export const ton = (v: bigint) => `${fromNano(v)} TON`;

const isSlice = (v: unknown) => !!v && typeof v === 'object' && typeof (v as { loadBits?: unknown }).loadBits === 'function';
const AMOUNT_KEYS = new Set(['value', 'amount', 'stake', 'commission', 'pool', 'balance', 'withdrawable', 'minStake', 'paid', 'earned', 'claimable', 'wallet', 'contract', 'total', 'change', 'before', 'after', 'minWorkerStake', 'due', 'need', 'proxyPool']);

/** Text output: nested `key: value` lines; amounts (keys in AMOUNT_KEYS) in TON, addresses user-friendly. */
export function render(v: Record<string, unknown>, indent = '  '): string {
    let out = '';
    for (const [k, x] of Object.entries(v)) {
        if (x === undefined) continue;
        if (x !== null && typeof x === 'object' && !(x instanceof Address) && !(x instanceof Cell) && !Buffer.isBuffer(x) && !isSlice(x)) {
            out += `${indent}${k}:\n${render(x as Record<string, unknown>, indent + '  ')}`;
            continue;
        }
        const shown = typeof x === 'bigint' && AMOUNT_KEYS.has(k) ? ton(x) : x instanceof Address ? x.toString() : String(plain(x));
        out += `${indent}${k}: ${shown}\n`;
    }
    return out;
}

/** Prints a result: one JSON object, or text lines under a title. */
export function print(ctx: OperatorContext, title: string, result: Record<string, unknown>): void {
    if (ctx.json) ctx.io.stdout(JSON.stringify(plain(result), null, 2) + '\n');
    else ctx.io.stdout(`${title}\n${render(result)}`);
}

/** The chain's time (the last synced block's, unix seconds) and an account's balance and last transaction. */
export async function accountNow(chain: TonChain, address: Address): Promise<{ now: number; balance: bigint; lastLt: bigint }> {
    const s = await chain.client.getContractState(address);
    return { now: s.timestampt, balance: s.balance, lastLt: s.lastTransaction ? BigInt(s.lastTransaction.lt) : 0n };
}

/** What a step sends and what the command expects after it. */
export interface Plan {
    /** The message, as the wrapper built it. */
    message: WalletMessage & { body: Cell };
    /** The contract's fee threshold included in the value (gas and notices; what is unused stays or returns as the message says). */
    gasBudget: bigint;
    /** What the message does, in words. */
    effect: string;
    /** Reads the state the command shows after it (and before, for the plan). */
    read: () => Promise<Record<string, unknown>>;
    /** The effect that must follow the transaction (downstream messages included); checked on `read()`. */
    done: (state: Record<string, unknown>) => boolean;
}

/** The wallet transaction's own fees for sending `m` (toncenter estimateFee of the signed transfer, signature unchecked). */
export async function walletFee(ctx: OperatorContext, m: WalletMessage): Promise<bigint> {
    const seqno = await ctx.wallet.getSeqno();
    const deployed = seqno > 0 || (await ctx.chain.isDeployed(ctx.wallet.address));
    const init = deployed ? null : ctx.wallet.contract.init;
    const r = await ctx.chain.client.estimateExternalMessageFee(ctx.wallet.address, {
        body: ctx.wallet.buildTransfer(seqno, [m]),
        initCode: init?.code ?? null,
        initData: init?.data ?? null,
        ignoreSignature: true,
    });
    const f = r.source_fees;
    return BigInt(f.in_fwd_fee) + BigInt(f.storage_fee) + BigInt(f.gas_fee) + BigInt(f.fwd_fee);
}

/**
 * Shows the plan; unless --dry-run sends it, waits for the destination's transaction (its exit code) and for `done`,
 * and returns the result object (also for the dry run). A refused transaction is TX_FAILED naming the exit code.
 */
export async function execute(ctx: OperatorContext, plan: Plan): Promise<Record<string, unknown>> {
    const m = plan.message;
    const fee = await walletFee(ctx, m);
    const balance = await ctx.wallet.getBalance();
    const shown = {
        to: m.to,
        value: m.value,
        bounce: m.bounce ?? true,
        deploys: m.init ? true : undefined,
        message: decodeBody(m.body),
        fees: { wallet: fee, contract: plan.gasBudget, total: fee + plan.gasBudget },
        effect: plan.effect,
        from: { address: ctx.wallet.address, balance },
    };
    const need = m.value + fee;
    if (balance < need)
        throw new OperatorError('INSUFFICIENT_BALANCE', `wallet ${ctx.wallet.address.toString()} holds ${ton(balance)}; this needs ${ton(need)} (value plus the wallet's fee)`, {
            need: need.toString(),
            balance: balance.toString(),
        });
    if (ctx.dryRun) return { dryRun: true, ...shown, state: await plan.read() };
    const before = await accountNow(ctx.chain, m.to);
    await ctx.wallet.send([m]);
    const tx = await landed(ctx, m, before.lastLt);
    const outcome = outcomeOf(tx);
    if (!outcome.success)
        throw new OperatorError('TX_FAILED', `${shown.message.name} to ${m.to.toString()} was refused: exit code ${outcome.exitCode} (${outcome.error})`, { ...outcome, lt: outcome.lt.toString() });
    const deadline = Date.now() + ctx.timeoutMs;
    let state = await plan.read();
    while (!plan.done(state)) {
        if (Date.now() >= deadline)
            throw new OperatorError('NOT_CONFIRMED', `${shown.message.name} landed (lt ${outcome.lt}) but the expected change did not follow: ${plan.effect}`, { lt: outcome.lt.toString() });
        await new Promise((r) => setTimeout(r, ctx.pollMs));
        state = await plan.read();
    }
    const after = await ctx.wallet.getBalance();
    return { dryRun: false, ...shown, outcome, state, walletBalance: { before: balance, after, change: after - balance } };
}

/** The destination's transaction whose inbound message is ours (from our wallet, with our body), after `sinceLt`. */
async function landed(ctx: OperatorContext, m: WalletMessage & { body: Cell }, sinceLt: bigint): Promise<Transaction> {
    const deadline = Date.now() + ctx.timeoutMs;
    const hash = m.body.hash();
    for (;;) {
        const txs = await ctx.chain.getTransactions(m.to, { limit: 64, toLt: sinceLt });
        const tx = txs.find((t) => {
            const info = t.inMessage?.info;
            return t.lt > sinceLt && info?.type === 'internal' && info.src.equals(ctx.wallet.address) && t.inMessage!.body.hash().equals(hash);
        });
        if (tx) return tx;
        if (Date.now() >= deadline)
            throw new OperatorError('TX_NOT_FOUND', `the wallet sent the message, but ${m.to.toString()} shows no transaction for it within ${ctx.timeoutMs} ms`, { to: m.to.toRawString() });
        await new Promise((r) => setTimeout(r, ctx.pollMs));
    }
}

export function outcomeOf(tx: Transaction): { lt: bigint; hash: string; exitCode: number | null; success: boolean; error: string } {
    const d = tx.description;
    const base = { lt: tx.lt, hash: tx.hash().toString('hex') };
    if (d.type !== 'generic') return { ...base, exitCode: null, success: false, error: `transaction of type ${d.type}` };
    if (d.computePhase.type !== 'vm') return { ...base, exitCode: null, success: false, error: `compute phase skipped (${d.computePhase.reason})` };
    const exitCode = d.computePhase.exitCode;
    const actionOk = d.actionPhase === undefined || d.actionPhase === null || d.actionPhase.success;
    const success = d.computePhase.success && !d.aborted && actionOk;
    return { ...base, exitCode, success, error: success ? 'ok' : !d.computePhase.success ? exitCodeName(exitCode) : `action phase failed (result code ${d.actionPhase?.resultCode})` };
}
