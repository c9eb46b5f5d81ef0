// Settlement cost per request (issue 10, part 4): chain transactions and fees per 1,000 requests from one client at
// a steady rate, with the agents' DEFAULT thresholds and periods.
//   npm run bench:settlement -- [--requests N] [--rate R] [--tokens T]
//        [--commit-interval-ms MS] [--commit-value-threshold NANOTON] [--settle-interval-ms MS] [--redeem-threshold NANOTON] [--payout-threshold NANOTON]
// Prints one JSON object: {bench, machine, params, method, settings, run, fees, perThousand, target, atDevnetPrices,
// notes}. Without the four settings flags the agents run at their own defaults; with them, a real run can check a
// `target.meetWith` suggestion (--payout-threshold sets the proxy's and the worker's).
//
// Network: the devnet chain server with Root (fixtures/agent-network.ts), one ProxyAgent and one WorkerAgent at their
// default redeem / payout thresholds, one ReferenceBackend and one plain-mode CocoonClient at its default deposit.
//
// Method: a short real run plus an analytic extrapolation. The run sends N requests (T prompt words, T completion
// tokens) one after another as fast as they go, and gives request i the simulated time i / R s. The proxy's own timers
// are off; the bench fires its settle loop (default every 30 s) and its commit loop's check (every min(commitInterval,
// 30 s): commit when the state changed and commitDue — the proxy's own trigger, agents/proxy/commits.ts) at each multiple of their periods in that
// simulated time, so the run sees what the timers would have done at R requests/s without waiting real minutes. Every
// transaction the devnet executes is attributed to the action that caused it (requests, deposit, redeem, payout claim,
// commit). Then one redeem, one payout claim and one commit are forced, so each kind's fee is measured even when the
// defaults did not trigger it within N requests. The steady state per 1,000 requests follows from the measured cost per
// request:
//   commits  = 1000 / (R × T), T = min(commitInterval, the first check tick (every min(commitInterval, 30 s)) at
//              which the ledger's money counters moved by commitValueThreshold: V / (R × volume per request), the
//              volume per request being delivered + voucher + redeemed (3 × cost) + earned + payout (2 × worker share))
//   redeems  = min(1000 × cost / redeemThreshold, 1000 / (R × settleInterval))
//   claims   = min(1000 × cost × (1 − commission) / max(proxy payoutThreshold, worker payoutThreshold),
//                  1000 / (R × settleInterval))                 (the proxy signs a payout off chain; the worker claims)
//   deposits = 1000 × cost / client deposit                     (the client's own top-ups; not the proxy's settlement)
// Vouchers (one per request) are frames on the client's connection, never transactions: the run checks that the
// requests themselves cause none.
import { cpus, tmpdir } from 'os';
import { mkdtempSync, rmSync } from 'fs';
import { join } from 'path';
import { deployProxyForAgent, seed, startAgentNetwork, workerAgentOptions } from '../fixtures/agent-network';
import { ProxyAgent } from '../agents/proxy/agent';
import { commitCheckMs, SETTLEMENT_DEFAULTS } from '../agents/proxy/options';
import { commitDue, ledgerVolume } from '../agents/proxy/commits';
import { WorkerAgent } from '../agents/worker/runner';
import { DEFAULT_PAYOUT_THRESHOLD } from '../agents/worker/options';
import { CocoonClient } from '../agents/client/runner';
import { ReferenceBackend } from '../agents/backend/reference';
import { TEST_MODEL } from '../agents/backend/test-model';
import { TonChain } from '../agents/core/chain/chain';
import { CHAIN_DEFAULTS } from '../agents/core/chain/config';
import type { DevnetChain, TxRecord } from '../agents/devnet/chain';
import { intArg, runBench } from './cli';

/**
 * The agents' own defaults (agents/proxy/options.ts SETTLEMENT_DEFAULTS, agents/worker/options.ts
 * DEFAULT_PAYOUT_THRESHOLD), imported so they cannot drift. Unless overridden, the agents run with their own defaults (the bench passes no threshold);
 * these figures drive the simulated schedule and the extrapolation.
 */
export const AGENT_DEFAULTS = {
    redeemThreshold: SETTLEMENT_DEFAULTS.redeemThreshold as bigint,
    proxyPayoutThreshold: SETTLEMENT_DEFAULTS.payoutThreshold as bigint,
    workerPayoutThreshold: DEFAULT_PAYOUT_THRESHOLD,
    settleIntervalMs: SETTLEMENT_DEFAULTS.settleIntervalMs as number,
    commitIntervalMs: SETTLEMENT_DEFAULTS.commitIntervalMs as number,
    commitValueThreshold: SETTLEMENT_DEFAULTS.commitValueThreshold as bigint,
};

export type Settings = typeof AGENT_DEFAULTS;

export type Kind = 'requests' | 'deposit' | 'redeem' | 'claim' | 'commit';
const KINDS: Kind[] = ['requests', 'deposit', 'redeem', 'claim', 'commit'];

export interface KindTally {
    /** Actions of this kind (one redeem, one claim, one commit, one deposit: each one message from a wallet). */
    actions: number;
    /** Devnet transactions they caused (wallet, contract, forwarded and returned messages). */
    transactions: number;
    /** Σ total_fees of those transactions + the forward fees of the internal messages they sent (nanoTON). */
    fees: string;
}

export interface PerThousand {
    redeems: number;
    payouts: number;
    commits: number;
    /** redeems + payouts + commits: the proxy's and worker's settlement messages. */
    total: number;
    /** The client's own deposits (top-ups) at its default deposit; reported apart from settlement. */
    clientDeposits: number;
    /** Fees of the settlement messages (nanoTON per 1,000 requests, from the measured fee of each kind). */
    fees: { redeems: string; payouts: string; commits: string; total: string; perRequest: string };
}

export interface Target {
    maxPerThousand: number;
    met: boolean;
    /** Settings that would meet it (proxy commitIntervalMs; commit value, redeem and payout thresholds in nanoTON) and their total. */
    meetWith: { commitIntervalMs: number; commitValueThreshold: string; redeemThreshold: string; payoutThreshold: string; perThousand: number };
}

export interface SettlementReport {
    bench: 'settlement';
    machine: { cpus: number; node: string };
    params: { requests: number; ratePerSec: number; tokens: number };
    method: string;
    /** What ran: the agents' defaults unless overridden (`usingDefaults`). */
    settings: { usingDefaults: boolean; redeemThreshold: string; proxyPayoutThreshold: string; workerPayoutThreshold: string; settleIntervalMs: number; commitIntervalMs: number; commitValueThreshold: string; clientDeposit: string; commissionBps: number };
    run: {
        simulatedSeconds: number;
        wallSeconds: number;
        /** nanoTON the client paid per request (its cumulative voucher / requests). */
        costPerRequest: string;
        /** What the timers would have done during the run (simulated time), by kind. */
        byKind: Record<Kind, KindTally>;
        /** Transactions per 1,000 requests within this run (redeems, payouts, commits). */
        perThousand: { redeems: number; payouts: number; commits: number; total: number };
    };
    /** One forced action of each kind: the fee of one message (nanoTON) and its transactions. */
    fees: { redeem: KindTally; claim: KindTally; commit: KindTally };
    /** The steady state at `ratePerSec` with these settings (analytic, from the measured cost and fees). */
    perThousand: PerThousand;
    target: Target;
    /** The same at the devnet's own prices (1000× the test network's): redeems and payouts hit their caps. */
    atDevnetPrices: { costPerRequest: string; perThousand: PerThousand; target: Target };
    notes: string[];
}

export interface SettlementBenchOptions {
    /** Requests in the real run; default 1000. */
    requests?: number;
    /** Requests per second of simulated time; default 10. */
    ratePerSec?: number;
    /** max_tokens (= completion tokens; the prompt has as many words) per request; default 32. */
    tokens?: number;
    /** Override the agents' defaults (the proxy's and worker's thresholds, the loops' periods). */
    settings?: Partial<Settings>;
    progress?: (line: string) => void;
}

const TARGET_PER_THOUSAND = 1;

/** Σ total_fees + forward fees of the internal messages sent (what the chain kept of the message and its trace). */
function feeOf(r: TxRecord): bigint {
    let fee = r.tx.totalFees.coins;
    for (const m of r.tx.outMessages.values()) if (m.info.type === 'internal') fee += m.info.forwardFee;
    return fee;
}

const round = (x: number, digits = 4) => +x.toFixed(digits);

/**
 * Settlement messages per 1,000 requests at `rate` requests/s from one client whose requests cost `costPerRequest`
 * each (see the header for the formulas), with `settings` (default the agents' defaults); and settings that would meet the target: half
 * the budget to commits, a quarter each to redeems and payouts, a setting raised only when its default does not fit.
 */
export function steadyState(o: { rate: number; costPerRequest: bigint; commissionBps: number; fees: { redeem: KindTally; claim: KindTally; commit: KindTally }; settings?: Settings }): {
    perThousand: Omit<PerThousand, 'clientDeposits'>;
    target: Target;
} {
    const set = o.settings ?? AGENT_DEFAULTS;
    const perSettleTick = 1000 / (o.rate * (set.settleIntervalMs / 1000));
    const spendK = Number(o.costPerRequest) * 1000;
    const workerK = (spendK * (10_000 - o.commissionBps)) / 10_000;
    const payoutThr = set.proxyPayoutThreshold > set.workerPayoutThreshold ? set.proxyPayoutThreshold : set.workerPayoutThreshold;
    // Money counters moved per request in the steady state: delivered, voucher and redeemed; earned and payout.
    const volumePerRequest = 3 * Number(o.costPerRequest) + (2 * Number(o.costPerRequest) * (10_000 - o.commissionBps)) / 10_000;
    const commitPeriodMs = (intervalMs: number, valueThr: bigint) => {
        const tick = commitCheckMs(intervalMs);
        const byValueMs = (Number(valueThr) / (volumePerRequest * o.rate)) * 1000;
        return Math.min(intervalMs, Math.max(tick, Math.ceil(byValueMs / tick) * tick));
    };
    const model = (commitIntervalMs: number, valueThr: bigint, redeemThr: bigint, payThr: bigint) => {
        const commits = 1000 / (o.rate * (commitPeriodMs(commitIntervalMs, valueThr) / 1000));
        const redeems = Math.min(spendK / Number(redeemThr), perSettleTick);
        const payouts = Math.min(workerK / Number(payThr), perSettleTick);
        return { commits, redeems, payouts, total: commits + redeems + payouts };
    };
    const s = model(set.commitIntervalMs, set.commitValueThreshold, set.redeemThreshold, payoutThr);
    const fee = (n: number, t: KindTally) => BigInt(Math.round(n * Number(t.fees)));
    const fees = { redeems: fee(s.redeems, o.fees.redeem), payouts: fee(s.payouts, o.fees.claim), commits: fee(s.commits, o.fees.commit) };
    const feeTotal = fees.redeems + fees.payouts + fees.commits;
    const commitFor = Math.max(set.commitIntervalMs, Math.ceil(1000 / (o.rate * 0.5)) * 1000);
    const atLeast = (dflt: bigint, need: number) => (BigInt(Math.ceil(need)) > dflt ? BigInt(Math.ceil(need)) : dflt);
    const valueFor = atLeast(set.commitValueThreshold, (volumePerRequest * o.rate * commitFor) / 1000);
    const redeemFor = atLeast(set.redeemThreshold, spendK / 0.25);
    const payoutFor = atLeast(payoutThr, workerK / 0.25);
    const meet = model(commitFor, valueFor, redeemFor, payoutFor);
    return {
        perThousand: {
            redeems: round(s.redeems),
            payouts: round(s.payouts),
            commits: round(s.commits),
            total: round(s.total),
            fees: { redeems: fees.redeems.toString(), payouts: fees.payouts.toString(), commits: fees.commits.toString(), total: feeTotal.toString(), perRequest: (feeTotal / 1000n).toString() },
        },
        target: {
            maxPerThousand: TARGET_PER_THOUSAND,
            met: s.total <= TARGET_PER_THOUSAND,
            meetWith: { commitIntervalMs: commitFor, commitValueThreshold: valueFor.toString(), redeemThreshold: redeemFor.toString(), payoutThreshold: payoutFor.toString(), perThousand: round(meet.total) },
        },
    };
}

export async function runSettlementBench(opts: SettlementBenchOptions = {}): Promise<SettlementReport> {
    const requests = opts.requests ?? 1000;
    const rate = opts.ratePerSec ?? 10;
    const tokens = opts.tokens ?? 32;
    if (!Number.isInteger(requests) || requests < 1) throw new Error('requests must be a positive integer');
    if (!(rate > 0)) throw new Error('ratePerSec must be positive');
    const progress = opts.progress ?? (() => undefined);
    const given = opts.settings ?? {};
    const set: Settings = { ...AGENT_DEFAULTS, ...given };
    const dir = mkdtempSync(join(tmpdir(), 'cocoon-bench-settlement-'));
    const stops: (() => Promise<unknown>)[] = [];
    const t0 = Date.now();
    try {
        const net = await startAgentNetwork();
        stops.push(() => net.stop());
        // Every transaction the devnet executes, tagged with the action running when it happened (actions run one at a
        // time, each awaited until the chain shows its effect).
        let current = 'setup';
        const tally = new Map<string, { actions: number; transactions: number; fees: bigint }>();
        const bucket = (k: string) => tally.get(k) ?? tally.set(k, { actions: 0, transactions: 0, fees: 0n }).get(k)!;
        // The devnet's transaction index is the bench's only view inside the server (not reachable over HTTP).
        const devnetChain = (net.devnet as unknown as { chain: DevnetChain }).chain;
        const unlisten = devnetChain.onTransactions((recs) => {
            const b = bucket(current);
            for (const r of recs) {
                b.transactions++;
                b.fees += feeOf(r);
            }
        });
        stops.push(async () => unlisten());

        const agentChain = () => new TonChain({ config: { ...net.chainConfig, cacheTtlMs: CHAIN_DEFAULTS.cacheTtlMs } });
        const deployed = await deployProxyForAgent(net, 'bench-settlement-proxy');
        const { proxyAddress } = deployed;
        const proxy = new ProxyAgent({
            ...deployed.agentOptions({ chain: agentChain(), ledgerPath: join(dir, 'ledger.sqlite') }),
            // The default thresholds unless overridden. The loops are driven in simulated time.
            ...(given.redeemThreshold !== undefined ? { redeemThreshold: given.redeemThreshold } : {}),
            ...(given.proxyPayoutThreshold !== undefined ? { payoutThreshold: given.proxyPayoutThreshold } : {}),
            settleIntervalMs: 0,
            commitIntervalMs: 0,
            watchIntervalMs: 0,
            rootPollMs: 0,
            commitGuardMs: 0,
        });
        await proxy.start();
        stops.push(() => proxy.stop());
        const backend = new ReferenceBackend({ tokenDelayMs: 0 });
        await backend.start();
        stops.push(() => backend.stop());
        const { wallet: workerWallet } = await net.fundWallet('bench-settlement-worker', '20');
        const worker = new WorkerAgent({
            ...workerAgentOptions(net, { chain: agentChain(), wallet: workerWallet, seed: seed('bench-settlement-worker'), backendUrl: backend.url, statePath: join(dir, 'worker.json'), capacity: 4 }),
            ...(given.workerPayoutThreshold !== undefined ? { payoutThreshold: given.workerPayoutThreshold } : {}),
        });
        await worker.start();
        stops.push(() => worker.stop());
        await worker.waitReady();
        // The worker claims a payout itself once latest − paid reaches its threshold (agents/worker/payouts.ts).
        let claimedUpTo = 0n;
        let claimsSeen = 0;
        let payoutsSeen = 0;
        let lastPayout = 0n;
        let lastClaimOk = false;
        worker.on('claim', (c: { ok: boolean }) => {
            claimsSeen++;
            lastClaimOk = c.ok;
        });
        worker.on('payout', (_channel: string, amount: bigint) => {
            payoutsSeen++;
            lastPayout = amount;
        });
        /** Waits until the worker has stored a payout after the `seen`-th. */
        const payoutAfter = async (seen: number): Promise<bigint> => {
            const end = Date.now() + 30_000;
            while (payoutsSeen === seen) {
                if (Date.now() > end) throw new Error('the worker got no payout frame');
                await new Promise((res) => setTimeout(res, 10));
            }
            return lastPayout;
        };

        const { wallet: clientWallet } = await net.fundWallet('bench-settlement-client', '100');
        const client = new CocoonClient({
            chain: agentChain(),
            wallet: clientWallet,
            seed: seed('bench-settlement-client'),
            quotePolicy: net.quotePolicy,
            statePath: join(dir, 'client.json'),
            proxy: proxyAddress,
            privacy: 'plain',
            // Default deposit.
        });
        current = 'deposit';
        await client.open();
        bucket('deposit').actions++;
        stops.push(() => client.stop());
        current = 'setup';
        await client.connect();
        const deadline = Date.now() + 30_000;
        while (!(await client.listModels()).some((m) => m.id === TEST_MODEL.id && m.workers >= 1)) {
            if (Date.now() > deadline) throw new Error(`the client sees no worker for ${TEST_MODEL.id}`);
            await new Promise((r) => setTimeout(r, 50));
        }
        const deposit = (await client.balances()).onChain?.balance ?? 0n;
        if (deposit <= 0n) throw new Error("the client's channel has no balance");
        const prompt = Array.from({ length: tokens }, (_, i) => `w${i}`).join(' ');
        const body = { model: TEST_MODEL.id, messages: [{ role: 'user', content: prompt }], max_tokens: tokens, stream: false };

        /**
         * Waits until the proxy holds the client's latest voucher (its payment_status says so): a settle tick then
         * redeems everything it pays the worker for. (A payout above the Proxy contract's pool — deliveries whose
         * vouchers are not yet redeemed — makes the worker's claim bounce: ErrInsufficientFunds.)
         */
        const held = async () => {
            await client.vouchersSettled();
            const end = Date.now() + 30_000;
            for (;;) {
                const b = await client.balances();
                if (b.proxyStatus?.voucher === b.cumulative) return;
                if (Date.now() > end) throw new Error('the proxy does not hold the latest voucher');
                await new Promise((res) => setTimeout(res, 10));
            }
        };

        // ---- the run, in simulated time ----
        const settleMs = set.settleIntervalMs;
        const commitMs = commitCheckMs(set.commitIntervalMs);
        let nextSettle = settleMs;
        let nextCommit = commitMs;
        let bookedSinceCommit = 0;
        let lastCommitAt = 0;
        const volume = () => ledgerVolume(proxy.stats().ledger);
        let baseVolume = volume();
        const runStart = Date.now();
        const settle = async () => {
            current = 'redeem';
            const seen = payoutsSeen;
            const r = await proxy.settle();
            bucket('redeem').actions += r.redeemed.length;
            if (r.errors.length) throw new Error(`settle failed: ${JSON.stringify(r.errors)}`);
            if (r.payouts.length) {
                current = 'claim';
                const amount = await payoutAfter(seen);
                if (amount - claimedUpTo >= set.workerPayoutThreshold) {
                    const claimed = claimsSeen;
                    const end = Date.now() + 60_000;
                    while (claimsSeen === claimed) {
                        if (Date.now() > end) throw new Error('the worker did not claim its payout');
                        await new Promise((res) => setTimeout(res, 20));
                    }
                    if (!lastClaimOk) throw new Error(`the worker's claim of ${amount} failed`);
                    claimedUpTo = amount;
                    bucket('claim').actions++;
                }
            }
            current = 'requests';
        };
        const commit = async (at: number) => {
            current = 'commit';
            await proxy.commitNow();
            bucket('commit').actions++;
            bookedSinceCommit = 0;
            lastCommitAt = at;
            baseVolume = volume();
            current = 'requests';
        };
        current = 'requests';
        for (let i = 1; i <= requests; i++) {
            const at = (i * 1000) / rate;
            while (Math.min(nextSettle, nextCommit) <= at) {
                if (nextSettle <= nextCommit) {
                    await held();
                    await settle();
                    nextSettle += settleMs;
                } else {
                    await held();
                    const due = commitDue({ now: nextCommit, since: lastCommitAt, moved: volume() - baseVolume, intervalMs: set.commitIntervalMs, valueThreshold: set.commitValueThreshold });
                    if (bookedSinceCommit > 0 && due) await commit(nextCommit);
                    nextCommit += commitMs;
                }
            }
            for await (const ev of client.request({ endpoint: 'chat', body })) void ev;
            bookedSinceCommit++;
            if (i % 100 === 0) progress(`${i}/${requests} requests`);
        }
        await held();
        const wallSeconds = (Date.now() - runStart) / 1000;
        const spent = (await client.balances()).cumulative;
        const costPerRequest = spent / BigInt(requests);
        const snapshot = (k: Kind): KindTally => {
            const b = bucket(k);
            return { actions: b.actions, transactions: b.transactions, fees: b.fees.toString() };
        };
        const byKind = Object.fromEntries(KINDS.map((k) => [k, snapshot(k)])) as Record<Kind, KindTally>;
        if (byKind.requests.transactions !== 0) throw new Error(`requests caused ${byKind.requests.transactions} transactions: vouchers must stay off chain`);
        const perK = (n: number) => round((n * 1000) / requests);
        const runPer = { redeems: perK(byKind.redeem.actions), payouts: perK(byKind.claim.actions), commits: perK(byKind.commit.actions), total: 0 };
        runPer.total = round(runPer.redeems + runPer.payouts + runPer.commits);
        progress(`run done: ${JSON.stringify(runPer)}`);

        // ---- one forced action of each kind: its fee ----
        const forced = async (k: 'redeem' | 'claim' | 'commit', fn: () => Promise<number>): Promise<KindTally> => {
            tally.delete(`forced-${k}`);
            current = `forced-${k}`;
            const n = await fn();
            const b = bucket(`forced-${k}`);
            current = 'setup';
            if (n !== 1) throw new Error(`forced ${k}: ${n} actions, expected 1`);
            return { actions: n, transactions: b.transactions, fees: b.fees.toString() };
        };
        // The forced settle also signs a payout (any positive amount); the worker holds it below its threshold.
        const seen = payoutsSeen;
        const redeemFee = await forced('redeem', async () => (await proxy.settle({ force: true })).redeemed.length);
        await payoutAfter(seen);
        const claimFee = await forced('claim', async () => (await worker.claimNow()).filter((r) => r.ok).length);
        const commitFee = await forced('commit', async () => {
            await proxy.commitNow();
            return 1;
        });

        // ---- steady state at `rate` with these settings ----
        const commissionBps = Number(net.params.commissionBps);
        const measured = { redeem: redeemFee, claim: claimFee, commit: commitFee };
        const steady = steadyState({ rate, costPerRequest, commissionBps, fees: measured, settings: set });
        // The devnet's own model is priced 1000× the tests' (agents/backend/test-model.ts): same usage, 1000× the cost.
        const atDevnet = steadyState({ rate, costPerRequest: costPerRequest * 1000n, commissionBps, fees: measured, settings: set });
        return {
            bench: 'settlement',
            machine: { cpus: cpus().length, node: process.version },
            params: { requests, ratePerSec: rate, tokens },
            method:
                `real run of ${requests} requests on the devnet at a simulated ${rate} requests/s (request i at i/${rate} s; the proxy's settle and commit loops fired by the bench at their default periods in that time), ` +
                'one forced redeem, payout claim and commit for their fees, and an analytic extrapolation to the steady state from the measured cost per request',
            settings: {
                usingDefaults: Object.keys(given).length === 0,
                redeemThreshold: set.redeemThreshold.toString(),
                proxyPayoutThreshold: set.proxyPayoutThreshold.toString(),
                workerPayoutThreshold: set.workerPayoutThreshold.toString(),
                settleIntervalMs: settleMs,
                commitIntervalMs: set.commitIntervalMs,
                commitValueThreshold: set.commitValueThreshold.toString(),
                clientDeposit: deposit.toString(),
                commissionBps,
            },
            run: { simulatedSeconds: requests / rate, wallSeconds: round(wallSeconds, 1), costPerRequest: costPerRequest.toString(), byKind, perThousand: runPer },
            fees: measured,
            perThousand: { ...steady.perThousand, clientDeposits: round((Number(costPerRequest) * 1000) / Number(deposit)) },
            target: steady.target,
            atDevnetPrices: { costPerRequest: (costPerRequest * 1000n).toString(), perThousand: { ...atDevnet.perThousand, clientDeposits: round((Number(costPerRequest) * 1000 * 1000) / Number(deposit)) }, target: atDevnet.target },
            notes: [
                'Vouchers are off chain: the client signs one per request and sends it to the proxy on its connection; run.byKind.requests counts the transactions the requests caused (0).',
                'A payout is signed by the proxy off chain (a frame to the worker); the chain transaction is the worker\'s claim, counted under payouts.',
                'Commits: the ledger changes with every request, so at any steady rate the commit loop sends one StateCommit per commitIntervalMs, or sooner when the money counters moved by commitValueThreshold (checked every min(commitIntervalMs, 30 s)). A commit is per proxy, so it covers every request of every client in its period: the per-1,000 figure falls as the proxy\'s total rate grows. Redeems are per ClientChannel, claims per WorkerChannel.',
                'Fees are the devnet\'s: Σ total_fees of every transaction the message caused plus the forward fees of the internal messages it sent.',
                `Costs use the test network\'s prices (fixtures/agent-network.ts); redeems and payouts scale with cost per request, commits do not. The client\'s top-ups (perThousand.clientDeposits) are its own, not settlement.`,
                `Total wall time ${round((Date.now() - t0) / 1000, 1)} s.`,
            ],
        };
    } finally {
        for (const s of stops.reverse()) await s().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
    }
}

function cliSettings(): Partial<Settings> {
    const out: Partial<Settings> = {};
    const commit = intArg('commit-interval-ms', 1);
    const commitValue = intArg('commit-value-threshold', 1);
    const settle = intArg('settle-interval-ms', 1);
    const redeem = intArg('redeem-threshold', 1);
    const payout = intArg('payout-threshold', 1);
    if (commit !== undefined) out.commitIntervalMs = commit;
    if (commitValue !== undefined) out.commitValueThreshold = BigInt(commitValue);
    if (settle !== undefined) out.settleIntervalMs = settle;
    if (redeem !== undefined) out.redeemThreshold = BigInt(redeem);
    if (payout !== undefined) out.proxyPayoutThreshold = out.workerPayoutThreshold = BigInt(payout);
    return out;
}

if (require.main === module) {
    runBench('settlement', (progress) =>
        runSettlementBench({ requests: intArg('requests', 1), ratePerSec: intArg('rate', 1), tokens: intArg('tokens', 1), settings: cliSettings(), progress }),
    );
}
