// Model-based property test: random operation sequences against the ledger and a plain in-memory model.
// Each step must give the model's outcome (or the model's refusal code, with the state unchanged); at the end
// the stored rows must add up: deliveredCost = Σ distinct delivered costs + recovered, earned = Σ worker shares,
// vouchers and payouts monotonic and bounded. Runs include clean restarts and power losses (the file reverts to the
// last flush point; the next run is an unclean start that may book a voucher's excess as recovered cost).
import fc from 'fast-check';
import { modelId } from '../../../wrappers/payloads';
import { Ledger, LedgerError, workerShare } from '../../../agents/proxy/ledger';
import { addr, dumpDb, manualClock, receipt, sigHex, snapshotLedger, tempDir } from './fixtures/ledger-helpers';
import { TEST_MODEL } from '../../../agents/backend/test-model';

const MODEL = modelId(TEST_MODEL.id);
const CLIENTS = [0, 1, 2].map((i) => addr('client', i).toRawString());
const WORKERS = [0, 1, 2].map((i) => addr('worker', i).toRawString());

type Op =
    | { kind: 'deliver'; req: number; client: number; worker: number; cost: bigint }
    | { kind: 'start'; req: number; client: number; worker: number }
    | { kind: 'fail'; req: number }
    | { kind: 'voucher'; client: number; amount: bigint }
    | { kind: 'redeem'; client: number; amount: bigint }
    | { kind: 'payout'; worker: number; amount: bigint }
    | { kind: 'commit' }
    /** A voucher `over` above the client's delivered cost (as a client that got responses the disk lost signs). */
    | { kind: 'voucher-over'; client: number; over: bigint }
    | { kind: 'flush' }
    | { kind: 'power-loss' }
    | { kind: 'restart' };

const ALLOWANCE = 5_000n;

const idx = fc.integer({ min: 0, max: 2 });
const req = fc.integer({ min: 0, max: 11 });
const amount = fc.bigInt({ min: 0n, max: 30_000n });
const op: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('deliver' as const), req, client: idx, worker: idx, cost: fc.bigInt({ min: 0n, max: 10_000n }) }), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant('start' as const), req, client: idx, worker: idx }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('fail' as const), req }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('voucher' as const), client: idx, amount }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('redeem' as const), client: idx, amount }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('payout' as const), worker: idx, amount }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('commit' as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('voucher-over' as const), client: idx, over: fc.bigInt({ min: 1n, max: 6_000n }) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('flush' as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('power-loss' as const) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('restart' as const) }), weight: 1 },
);

interface ModelReq {
    client: number;
    worker: number;
    cost: bigint;
    status: 'started' | 'delivered' | 'failed';
}

class Model {
    delivered = [0n, 0n, 0n];
    voucher = [0n, 0n, 0n];
    voucherSig: (string | null)[] = [null, null, null];
    redeemed = [0n, 0n, 0n];
    earned = [0n, 0n, 0n];
    payout = [0n, 0n, 0n];
    payoutSig: (string | null)[] = [null, null, null];
    reqs = new Map<number, ModelReq>();
    commits = 0n;
    recovered = [0n, 0n, 0n];
    /** This run started unclean; what it recovered per client so far. */
    unclean = false;
    recoveredRun = [0n, 0n, 0n];

    constructor(readonly bps: number) {}

    /** The state at a flush point (what a power loss reverts to). */
    clone(): Model {
        const m = new Model(this.bps);
        for (const k of ['delivered', 'voucher', 'voucherSig', 'redeemed', 'earned', 'payout', 'payoutSig', 'recovered'] as const) (m[k] as unknown[]) = [...this[k]];
        for (const [k, r] of this.reqs) m.reqs.set(k, { ...r });
        m.commits = this.commits;
        return m;
    }

    /** A new run: unclean after a power loss, clean after close(). */
    newRun(unclean: boolean): void {
        this.unclean = unclean;
        this.recoveredRun = [0n, 0n, 0n];
    }

    /** Applies `o`; returns the expected refusal code, or null when it succeeds. */
    apply(o: Op, sig: string): string | null {
        switch (o.kind) {
            case 'start':
            case 'deliver': {
                const r = this.reqs.get(o.req);
                const cost = o.kind === 'deliver' ? o.cost : 0n;
                if (r && (r.client !== o.client || r.worker !== o.worker)) return 'LEDGER_REQUEST_CONFLICT';
                if (o.kind === 'start') {
                    if (!r) this.reqs.set(o.req, { client: o.client, worker: o.worker, cost: 0n, status: 'started' });
                    return null;
                }
                if (r?.status === 'delivered') return r.cost === cost ? null : 'LEDGER_REQUEST_CONFLICT';
                if (r?.status === 'failed') return 'LEDGER_REQUEST_STATE';
                this.reqs.set(o.req, { client: o.client, worker: o.worker, cost, status: 'delivered' });
                this.delivered[o.client] += cost;
                this.earned[o.worker] += workerShare(cost, this.bps);
                return null;
            }
            case 'fail': {
                const r = this.reqs.get(o.req);
                if (!r) return 'LEDGER_UNKNOWN_REQUEST';
                if (r.status === 'delivered') return 'LEDGER_REQUEST_STATE';
                r.status = 'failed';
                return null;
            }
            case 'voucher':
                if (o.amount < 1n) return 'LEDGER_BAD_INPUT';
                if (o.amount <= this.voucher[o.client]) return 'LEDGER_VOUCHER_NOT_INCREASING';
                {
                    const excess = o.amount > this.delivered[o.client] ? o.amount - this.delivered[o.client] : 0n;
                    const recoverable = this.unclean ? ALLOWANCE - this.recoveredRun[o.client] : 0n;
                    if (excess > recoverable) return 'LEDGER_VOUCHER_ABOVE_DELIVERED';
                    this.delivered[o.client] += excess;
                    this.recovered[o.client] += excess;
                    this.recoveredRun[o.client] += excess;
                }
                this.voucher[o.client] = o.amount;
                this.voucherSig[o.client] = sig;
                return null;
            case 'redeem':
                if (o.amount < this.redeemed[o.client]) return 'LEDGER_REDEEM_NOT_INCREASING';
                if (o.amount > this.voucher[o.client]) return 'LEDGER_REDEEM_ABOVE_VOUCHER';
                this.redeemed[o.client] = o.amount;
                return null;
            case 'payout':
                if (o.amount < 1n) return 'LEDGER_BAD_INPUT';
                if (o.amount <= this.payout[o.worker]) return 'LEDGER_PAYOUT_NOT_INCREASING';
                if (o.amount > this.earned[o.worker]) return 'LEDGER_PAYOUT_ABOVE_EARNED';
                this.payout[o.worker] = o.amount;
                this.payoutSig[o.worker] = sig;
                return null;
            case 'commit':
                this.commits += 1n;
                return null;
            case 'voucher-over':
            case 'flush':
            case 'power-loss':
            case 'restart':
                return null; // the runner switches files and models; voucher-over runs as a voucher
        }
    }
}

function run(ledger: Ledger, o: Op, sig: string): void {
    switch (o.kind) {
        case 'deliver':
            ledger.recordDelivery({ requestId: `req-${o.req}`, client: CLIENTS[o.client], worker: WORKERS[o.worker], modelId: MODEL, cost: o.cost, receipt: receipt(`${o.req}:${o.cost}`) });
            return;
        case 'start':
            ledger.recordStart({ requestId: `req-${o.req}`, client: CLIENTS[o.client], worker: WORKERS[o.worker], modelId: MODEL });
            return;
        case 'fail':
            ledger.recordFailure(`req-${o.req}`);
            return;
        case 'voucher':
            ledger.acceptVoucher(CLIENTS[o.client], o.amount, sig);
            return;
        case 'redeem':
            ledger.markRedeemed(CLIENTS[o.client], o.amount);
            return;
        case 'payout':
            ledger.recordPayoutSigned(WORKERS[o.worker], o.amount, sig);
            return;
        case 'commit':
            ledger.nextCommit();
            return;
        default:
            return;
    }
}

describe('ledger invariants over random operation sequences', () => {
    it('matches the model step by step and its rows add up', () => {
        const tmp = tempDir();
        let n = 0;
        try {
            fc.assert(
                fc.property(fc.integer({ min: 0, max: 10_000 }), fc.array(op, { minLength: 4, maxLength: 60, size: 'medium' }), (bps, ops) => {
                    const clock = manualClock();
                    const opts = { clock, commissionBps: bps, recoveryAllowance: ALLOWANCE };
                    let path = tmp.file(`p${n++}.sqlite`);
                    let ledger = Ledger.open(path, opts);
                    let model = new Model(bps);
                    /** The last flush point: a copy of the file and the model then (power loss reverts to it). */
                    let flushed: { path: string; model: Model } = { path: tmp.file(`p${n++}.sqlite`), model: model.clone() };
                    snapshotLedger(path, flushed.path);
                    let prevVoucher = [0n, 0n, 0n];
                    let prevPayout = [0n, 0n, 0n];
                    try {
                        for (const op of ops) {
                            const o: Op = op.kind === 'voucher-over' ? { kind: 'voucher', client: op.client, amount: model.delivered[op.client] + op.over } : op;
                            if (o.kind === 'flush') {
                                flushed = { path: tmp.file(`p${n++}.sqlite`), model: model.clone() };
                                snapshotLedger(path, flushed.path);
                                continue;
                            }
                            if (o.kind === 'power-loss' || o.kind === 'restart') {
                                ledger.close();
                                if (o.kind === 'power-loss') {
                                    path = tmp.file(`p${n++}.sqlite`);
                                    snapshotLedger(flushed.path, path);
                                    model = flushed.model.clone();
                                    // Vouchers and payouts were acknowledged only after a flush: what the file holds.
                                    prevVoucher = model.voucher.slice();
                                    prevPayout = model.payout.slice();
                                }
                                ledger = Ledger.open(path, opts);
                                expect(ledger.uncleanStart).toBe(o.kind === 'power-loss');
                                model.newRun(o.kind === 'power-loss');
                                continue;
                            }
                            const sig = sigHex();
                            const hashBefore = ledger.stateSerialization();
                            const expected = model.apply(o, sig);
                            let code: string | null = null;
                            try {
                                run(ledger, o, sig);
                            } catch (e) {
                                if (!(e instanceof LedgerError)) throw e;
                                code = e.code;
                            }
                            expect(code).toBe(expected);
                            if (code !== null) expect(ledger.stateSerialization()).toBe(hashBefore);
                            for (let i = 0; i < 3; i++) {
                                const c = ledger.client(CLIENTS[i]);
                                expect(c.deliveredCost).toBe(model.delivered[i]);
                                expect(c.latestVoucher).toEqual(model.voucherSig[i] ? { amount: model.voucher[i], signature: model.voucherSig[i] } : null);
                                expect(c.redeemedOnChain).toBe(model.redeemed[i]);
                                expect(c.latestVoucher?.amount ?? 0n).toBeGreaterThanOrEqual(prevVoucher[i]);
                                expect(c.latestVoucher?.amount ?? 0n).toBeLessThanOrEqual(c.deliveredCost);
                                expect(c.redeemedOnChain).toBeLessThanOrEqual(c.latestVoucher?.amount ?? 0n);
                                prevVoucher[i] = c.latestVoucher?.amount ?? 0n;
                                const w = ledger.worker(WORKERS[i]);
                                expect(w.earned).toBe(model.earned[i]);
                                expect(w.latestPayout).toEqual(model.payoutSig[i] ? { amount: model.payout[i], signature: model.payoutSig[i] } : null);
                                expect(w.latestPayout?.amount ?? 0n).toBeGreaterThanOrEqual(prevPayout[i]);
                                expect(w.latestPayout?.amount ?? 0n).toBeLessThanOrEqual(w.earned);
                                prevPayout[i] = w.latestPayout?.amount ?? 0n;
                            }
                        }
                        expect(ledger.latestCommit()?.seqno ?? 0n).toBe(model.commits);
                    } finally {
                        ledger.close();
                    }
                    // The stored rows add up (read through a separate connection).
                    const db = dumpDb(path) as unknown as {
                        requests: Array<{ client: string; worker: string; cost: bigint; worker_part: bigint; status: string }>;
                        clients: Array<{ address: string; delivered: bigint; recovered: bigint }>;
                        workers: Array<{ address: string; earned: bigint }>;
                    };
                    const delivered = db.requests.filter((r) => r.status === 'delivered');
                    expect(db.requests.filter((r) => r.status !== 'delivered').every((r) => r.cost === 0n)).toBe(true);
                    for (const c of db.clients) {
                        expect(c.delivered).toBe(delivered.filter((r) => r.client === c.address).reduce((s, r) => s + r.cost, 0n) + c.recovered);
                        expect(c.recovered).toBe(model.recovered[CLIENTS.indexOf(c.address)]);
                    }
                    for (const w of db.workers) {
                        const rows = delivered.filter((r) => r.worker === w.address);
                        expect(rows.every((r) => r.worker_part === workerShare(r.cost, bps))).toBe(true);
                        expect(w.earned).toBe(rows.reduce((s, r) => s + r.worker_part, 0n));
                    }
                }),
                { numRuns: 100 },
            );
        } finally {
            tmp.remove();
        }
    });
});
