// Smoke test of the settlement-cost benchmark (bench/settlement.ts): a few requests on the devnet with the agents'
// default thresholds, at a slow simulated rate so that the bench's settle and commit loops fire within the run. It
// checks the report's shape, that requests cause no transaction (vouchers stay off chain), that each forced
// settlement message was measured with a fee, and the steady-state arithmetic; it never asserts timings.
import { runSettlementBench, steadyState, AGENT_DEFAULTS, KindTally } from '../../bench/settlement';

jest.setTimeout(90_000);

const nano = (s: string) => BigInt(s);
const tally = (fees: string): KindTally => ({ actions: 1, transactions: 2, fees });

describe('bench/settlement', () => {
    it('counts the settlement messages of a short run in simulated time and measures the fee of each kind', async () => {
        // 7 requests at 0.01 requests/s: 700 simulated seconds, a settle tick every 30 s, the commit check every 30 s;
        // the money moved stays far below the 1 TON value trigger, so the one commit comes when 600 s have passed.
        const r = await runSettlementBench({ requests: 7, ratePerSec: 0.01, tokens: 3 });
        expect(r.bench).toBe('settlement');
        expect(r.params).toEqual({ requests: 7, ratePerSec: 0.01, tokens: 3 });
        expect(r.method).toMatch(/real run .* analytic extrapolation/);
        expect(r.settings).toMatchObject({ usingDefaults: true, redeemThreshold: '1000000000', workerPayoutThreshold: '1000000000', settleIntervalMs: 30_000, commitIntervalMs: 600_000, commitValueThreshold: '1000000000' });
        expect(r.run.simulatedSeconds).toBe(700);
        expect(nano(r.run.costPerRequest)).toBeGreaterThan(0n);
        // Vouchers are frames, not transactions.
        expect(r.run.byKind.requests).toEqual({ actions: 0, transactions: 0, fees: '0' });
        expect(r.run.byKind.deposit.actions).toBe(1);
        // A few requests are far below the default 1 TON thresholds: no redeem, no payout; the ledger changed: one commit.
        expect(r.run.byKind.redeem.actions).toBe(0);
        expect(r.run.byKind.claim.actions).toBe(0);
        expect(r.run.byKind.commit.actions).toBe(1);
        expect(r.run.byKind.commit.transactions).toBeGreaterThanOrEqual(2); // the wallet's external + the Proxy contract's
        for (const k of ['redeem', 'claim', 'commit'] as const) {
            expect(r.fees[k].actions).toBe(1);
            expect(r.fees[k].transactions).toBeGreaterThanOrEqual(2);
            expect(nano(r.fees[k].fees)).toBeGreaterThan(0n);
        }
        const p = r.perThousand;
        expect(p.total).toBeCloseTo(p.redeems + p.payouts + p.commits, 3);
        expect(nano(p.fees.total)).toBe(nano(p.fees.redeems) + nano(p.fees.payouts) + nano(p.fees.commits));
        expect(r.target.met).toBe(p.total <= 1);
        expect(r.target.meetWith.perThousand).toBeLessThanOrEqual(1);
        expect(r.atDevnetPrices.costPerRequest).toBe((nano(r.run.costPerRequest) * 1000n).toString());
    });

    it('counts every redeem and worker claim the settle loop causes when the thresholds are low (settings override)', async () => {
        // Settle ticks at 30 s and 60 s (before requests 3 and 6): each redeems the new vouchers and pays the worker,
        // which claims at once (threshold 1 nanoTON); a commit follows each settle (the value trigger at 1 nanoTON).
        const r = await runSettlementBench({ requests: 6, ratePerSec: 0.1, tokens: 2, settings: { redeemThreshold: 1n, proxyPayoutThreshold: 1n, workerPayoutThreshold: 1n, commitValueThreshold: 1n } });
        expect(r.settings).toMatchObject({ usingDefaults: false, redeemThreshold: '1', proxyPayoutThreshold: '1', workerPayoutThreshold: '1' });
        expect(r.run.byKind.requests.transactions).toBe(0);
        expect(r.run.byKind.redeem.actions).toBe(2);
        expect(r.run.byKind.claim.actions).toBe(2);
        expect(r.run.byKind.commit.actions).toBe(2);
        expect(r.run.perThousand).toEqual({ redeems: 333.3333, payouts: 333.3333, commits: 333.3333, total: 999.9999 });
        // Each redeem and claim is one wallet message and its trace.
        expect(r.run.byKind.redeem.transactions).toBe(2 * r.fees.redeem.transactions);
        expect(r.run.byKind.claim.transactions).toBe(2 * r.fees.claim.transactions);
    });

    it('extrapolates: one commit per interval or per value moved, redeems and payouts by spend over threshold, capped at one per settle tick', () => {
        const fees = { redeem: tally('8000000'), claim: tally('10000000'), commit: tally('5000000') };
        // 10 requests/s, 12,800 nanoTON each: 12.8 mTON per 1,000 requests against 1 TON thresholds. The counters move
        // 3 × 12,800 + 2 × 11,520 = 61,440 nanoTON per request, 1 TON in 1,628 s: the 600 s interval commits first.
        const cheap = steadyState({ rate: 10, costPerRequest: 12_800n, commissionBps: 1000, fees });
        expect(cheap.perThousand.commits).toBeCloseTo(1000 / (10 * AGENT_DEFAULTS.commitIntervalMs / 1000), 3);
        expect(cheap.perThousand.redeems).toBeCloseTo(0.0128, 4);
        expect(cheap.perThousand.payouts).toBeCloseTo(0.0128 * 0.9, 4);
        expect(cheap.perThousand.fees.commits).toBe(String(Math.round((5_000_000 * 1000) / 6000)));
        expect(cheap.target.met).toBe(true);
        expect(cheap.perThousand.total).toBeCloseTo(1 / 6 + 0.0128 + 0.01152, 3);
        expect(cheap.target.meetWith).toMatchObject({ commitIntervalMs: 600_000, commitValueThreshold: '1000000000', redeemThreshold: '1000000000', payoutThreshold: '1000000000' });
        // 1000× the price: 61.44 mTON per request, 1 TON in 1.6 s: the value trigger commits at every 30 s check, and
        // every settle tick redeems and pays out (3.33 per 1,000 requests each at 10/s and 30 s).
        const dear = steadyState({ rate: 10, costPerRequest: 12_800_000n, commissionBps: 1000, fees });
        expect(dear.perThousand.commits).toBeCloseTo(1000 / 300, 3);
        expect(dear.perThousand.redeems).toBeCloseTo(1000 / 300, 3);
        expect(dear.perThousand.payouts).toBeCloseTo(1000 / 300, 3);
        expect(dear.target.met).toBe(false);
        expect(nano(dear.target.meetWith.redeemThreshold)).toBe(4n * 12_800_000_000n);
        expect(nano(dear.target.meetWith.commitValueThreshold)).toBe(61_440_000n * 10n * 600n);
        expect(dear.target.meetWith.perThousand).toBeLessThanOrEqual(1);
        // A commit covers every request of its period: at 100 requests/s the value trigger (1 TON in 163 s) commits at
        // the 180 s check; at 0.1/s one commit per 600 s, i.e. per 60 requests.
        expect(steadyState({ rate: 100, costPerRequest: 12_800n, commissionBps: 1000, fees }).perThousand.commits).toBeCloseTo(1000 / 18_000, 4);
        expect(steadyState({ rate: 100, costPerRequest: 12_800n, commissionBps: 1000, fees }).target.met).toBe(true);
        expect(steadyState({ rate: 0.1, costPerRequest: 12_800n, commissionBps: 1000, fees }).perThousand.commits).toBeCloseTo(1000 / 60, 2);
    });
});
