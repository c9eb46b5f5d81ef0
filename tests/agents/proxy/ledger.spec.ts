// The proxy ledger against a real SQLite file: every operation, its idempotency, and every refusal leaving
// the file byte-for-byte unchanged (spec/ledger.md).
import { keyPairFromSeed } from '@ton/crypto';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'fs';
import { join } from 'path';
import { createHash } from 'crypto';
import { signPayload, voucherPayload, payoutPayload, modelId } from '../../../wrappers/payloads';
import { Ledger, LedgerCode, LedgerError, MAX_AMOUNT, workerShare } from '../../../agents/proxy/ledger';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../../agents/proxy/ledger-schema';
import { LedgerCodes } from '../../../agents/proxy/ledger-types';
import { addr, dumpDb, manualClock, receipt, sigHex, snapshotLedger, tempDir } from './fixtures/ledger-helpers';
import { GLOBAL_ID } from '../../../fixtures/network';
import { TEST_MODEL } from '../../../agents/backend/test-model';

const MODEL = modelId(TEST_MODEL.id);
const C1 = addr('client', 1);
const C2 = addr('client', 2);
const W1 = addr('worker', 1);
const W2 = addr('worker', 2);

let tmp: ReturnType<typeof tempDir>;
let path: string;
let clock: ReturnType<typeof manualClock>;
let ledger: Ledger;

beforeEach(() => {
    tmp = tempDir();
    path = tmp.file('ledger.sqlite');
    clock = manualClock();
    ledger = Ledger.open(path, { clock, commissionBps: 1000 });
});

afterEach(() => {
    ledger.close();
    tmp.remove();
});

function deliver(requestId: string, cost: bigint, client = C1, worker = W1) {
    return ledger.recordDelivery({ requestId, client, worker, modelId: MODEL, cost, receipt: receipt(requestId) });
}

/** Asserts `fn` throws a LedgerError with `code` and that no table changed. */
function expectRefused(fn: () => unknown, code: LedgerCode): LedgerError {
    const before = dumpDb(path);
    let caught: unknown;
    try {
        fn();
    } catch (e) {
        caught = e;
    }
    expect(caught).toBeInstanceOf(LedgerError);
    expect((caught as LedgerError).code).toBe(code);
    expect(dumpDb(path)).toEqual(before);
    return caught as LedgerError;
}

describe('opening a ledger', () => {
    it('uses WAL, synchronous = NORMAL (flush() syncs the WAL off the event loop) and foreign keys, at the latest schema version', () => {
        expect(ledger.pragmas()).toEqual({ journalMode: 'wal', synchronous: 1, foreignKeys: true });
        expect(ledger.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect(dumpDb(path).schema_version).toEqual(MIGRATIONS.map((m) => ({ version: BigInt(m.version), applied_at: BigInt(clock.now()) })));
    });

    it('keeps its data across close and reopen', () => {
        deliver('r1', 500n);
        ledger.close();
        ledger = Ledger.open(path, { clock, commissionBps: 1000 });
        expect(ledger.client(C1).deliveredCost).toBe(500n);
        expect(ledger.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    });

    it('refuses a file with a newer schema version (LEDGER_SCHEMA) and leaves it alone', () => {
        ledger.close();
        const raw = new Database(path);
        raw.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(LATEST_SCHEMA_VERSION + 1, 0);
        raw.close();
        const before = dumpDb(path);
        expect(() => Ledger.open(path, { clock, commissionBps: 1000 })).toThrow(
            expect.objectContaining({ code: 'LEDGER_SCHEMA', details: { found: LATEST_SCHEMA_VERSION + 1, supported: LATEST_SCHEMA_VERSION } }),
        );
        expect(dumpDb(path)).toEqual(before);
        const fix = new Database(path);
        fix.prepare('DELETE FROM schema_version WHERE version > ?').run(LATEST_SCHEMA_VERSION);
        fix.close();
        ledger = Ledger.open(path, { clock, commissionBps: 1000 });
    });

    it('refuses another commissionBps than the file was created with (LEDGER_SETTINGS_MISMATCH)', () => {
        ledger.close();
        expect(() => Ledger.open(path, { clock, commissionBps: 999 })).toThrow(
            expect.objectContaining({ code: 'LEDGER_SETTINGS_MISMATCH', details: { key: 'commissionBps', stored: 1000, given: 999 } }),
        );
        ledger = Ledger.open(path, { clock, commissionBps: 1000 });
    });

    it.each([[-1], [10_001], [1.5], [NaN]])('refuses commissionBps %p naming the key', (bps) => {
        expect(() => Ledger.open(tmp.file('other.sqlite'), { clock, commissionBps: bps })).toThrow(
            expect.objectContaining({ code: 'LEDGER_BAD_INPUT', details: { key: 'commissionBps' } }),
        );
    });

    it('refuses calls after close (LEDGER_CLOSED)', () => {
        ledger.close();
        expect(() => ledger.client(C1)).toThrow(expect.objectContaining({ code: 'LEDGER_CLOSED' }));
        ledger = Ledger.open(path, { clock, commissionBps: 1000 });
    });
});

describe('recording deliveries', () => {
    it('adds the cost to the client and the worker share to the worker', () => {
        const { row, replayed } = deliver('r1', 12_345n);
        expect(replayed).toBe(false);
        expect(row).toEqual({
            requestId: 'r1',
            client: C1.toRawString(),
            worker: W1.toRawString(),
            modelId: MODEL,
            cost: 12_345n,
            workerPart: 11_110n, // floor(12345 * 9000 / 10000) = 11110 (11110.5 rounded down; proxy keeps 1235)
            receipt: receipt('r1'),
            status: 'delivered',
            createdAt: clock.now(),
            updatedAt: clock.now(),
        });
        deliver('r2', 1_000n, C1, W2);
        deliver('r3', 7n, C2, W1);
        expect(ledger.client(C1)).toEqual({ client: C1.toRawString(), deliveredCost: 13_345n, latestVoucher: null, redeemedOnChain: 0n });
        expect(ledger.client(C2).deliveredCost).toBe(7n);
        expect(ledger.worker(W1)).toEqual({ worker: W1.toRawString(), earned: 11_110n + 6n, latestPayout: null });
        expect(ledger.worker(W2).earned).toBe(900n);
    });

    it('accepts addresses in friendly form too and stores the raw form', () => {
        ledger.recordDelivery({ requestId: 'f1', client: C1.toString(), worker: W1.toString({ bounceable: false }), modelId: MODEL, cost: 10n, receipt: receipt('f1') });
        expect(ledger.client(C1.toRawString()).deliveredCost).toBe(10n);
    });

    it('is idempotent on requestId: a replay returns the stored row and charges nothing', () => {
        const first = deliver('r1', 500n).row;
        clock.advance(1000);
        const before = dumpDb(path);
        const again = deliver('r1', 500n);
        expect(again).toEqual({ row: first, replayed: true });
        expect(dumpDb(path)).toEqual(before);
        expect(ledger.client(C1).deliveredCost).toBe(500n);
    });

    it('refuses a replay with another cost, receipt, client, worker or model (LEDGER_REQUEST_CONFLICT)', () => {
        deliver('r1', 500n);
        expectRefused(() => deliver('r1', 501n), 'LEDGER_REQUEST_CONFLICT');
        expectRefused(() => ledger.recordDelivery({ requestId: 'r1', client: C1, worker: W1, modelId: MODEL, cost: 500n, receipt: receipt('x') }), 'LEDGER_REQUEST_CONFLICT');
        expectRefused(() => deliver('r1', 500n, C2), 'LEDGER_REQUEST_CONFLICT');
        expectRefused(() => deliver('r1', 500n, C1, W2), 'LEDGER_REQUEST_CONFLICT');
        expectRefused(() => ledger.recordDelivery({ requestId: 'r1', client: C1, worker: W1, modelId: MODEL + 1n, cost: 500n, receipt: receipt('r1') }), 'LEDGER_REQUEST_CONFLICT');
    });

    it('moves a started request to delivered, and a failed one never', () => {
        const started = ledger.recordStart({ requestId: 's1', client: C1, worker: W1, modelId: MODEL });
        expect(started).toMatchObject({ status: 'started', cost: 0n, receipt: null });
        expect(ledger.recordStart({ requestId: 's1', client: C1, worker: W1, modelId: MODEL })).toEqual(started);
        expect(ledger.client(C1).deliveredCost).toBe(0n);
        clock.advance(50);
        expect(deliver('s1', 300n).row).toMatchObject({ status: 'delivered', cost: 300n, createdAt: started.createdAt, updatedAt: started.createdAt + 50 });
        expect(ledger.client(C1).deliveredCost).toBe(300n);
        expectRefused(() => ledger.recordFailure('s1'), 'LEDGER_REQUEST_STATE');

        ledger.recordStart({ requestId: 's2', client: C1, worker: W1, modelId: MODEL });
        expect(ledger.recordFailure('s2')).toMatchObject({ status: 'failed', cost: 0n });
        expect(ledger.recordFailure('s2')).toMatchObject({ status: 'failed' });
        expectRefused(() => deliver('s2', 300n), 'LEDGER_REQUEST_STATE');
        expectRefused(() => ledger.recordFailure('nope'), 'LEDGER_UNKNOWN_REQUEST');
        expect(ledger.getRequest('nope')).toBeNull();
    });

    it('refuses bad input naming the field (LEDGER_BAD_INPUT)', () => {
        const ok = { requestId: 'b1', client: C1, worker: W1, modelId: MODEL, cost: 1n, receipt: receipt('b1') };
        const cases: Array<[string, Record<string, unknown>]> = [
            ['requestId', { requestId: '' }],
            ['requestId', { requestId: 'has space' }],
            ['requestId', { requestId: 'x'.repeat(129) }],
            ['client', { client: 'not-an-address' }],
            ['worker', { worker: 42 }],
            ['modelId', { modelId: -1n }],
            ['modelId', { modelId: 1n << 256n }],
            ['cost', { cost: -1n }],
            ['cost', { cost: 5 }],
            ['receipt', { receipt: '' }],
            ['receipt', { receipt: 'not base64!' }],
            ['receipt', { receipt: 'abc' }],
        ];
        for (const [key, patch] of cases) {
            const err = expectRefused(() => ledger.recordDelivery({ ...ok, ...patch } as never), 'LEDGER_BAD_INPUT');
            expect(err.details).toEqual({ key });
        }
    });

    it('refuses amounts SQLite INTEGER cannot hold, and sums that would overflow (LEDGER_OVERFLOW)', () => {
        expectRefused(() => deliver('o1', MAX_AMOUNT + 1n), 'LEDGER_OVERFLOW');
        deliver('o2', MAX_AMOUNT - 10n);
        expect(ledger.client(C1).deliveredCost).toBe(MAX_AMOUNT - 10n);
        expectRefused(() => deliver('o3', 11n), 'LEDGER_OVERFLOW');
        deliver('o4', 10n);
        expect(ledger.client(C1).deliveredCost).toBe(MAX_AMOUNT);
    });
});

describe('the commission split', () => {
    it('gives the worker floor(cost × (10000 − bps) / 10000); the proxy keeps the rounding dust', () => {
        expect(workerShare(0n, 1000)).toBe(0n);
        expect(workerShare(1n, 1000)).toBe(0n);
        expect(workerShare(10n, 1000)).toBe(9n);
        expect(workerShare(19n, 1000)).toBe(17n); // 17.1
        expect(workerShare(12_345n, 0)).toBe(12_345n);
        expect(workerShare(12_345n, 10_000)).toBe(0n);
        expect(workerShare(MAX_AMOUNT, 1)).toBe((MAX_AMOUNT * 9999n) / 10000n);
    });

    it('never credits workers more than the Proxy contract puts in its pool for the same nanoTON', () => {
        // Contract: fee = floor(d × bps / 10000) per redeemed difference d; pool += d − fee.
        const bps = 1234;
        const costs = [1n, 7n, 99n, 12_345n, 3n, 10_001n, 5n];
        const earned = costs.reduce((s, c) => s + workerShare(c, bps), 0n);
        const total = costs.reduce((s, c) => s + c, 0n);
        for (const parts of [[total], [costs[0] + costs[1], total - costs[0] - costs[1]], costs]) {
            const pool = parts.reduce((s, d) => s + d - (d * BigInt(bps)) / 10000n, 0n);
            expect(pool).toBeGreaterThanOrEqual(earned);
        }
    });
});

describe('client vouchers', () => {
    it('keeps deliveries unsettled until a voucher equal to the delivered cost covers them (re-sent after a reconnect)', () => {
        const kp = keyPairFromSeed(Buffer.alloc(32, 7));
        deliver('r1', 1000n);
        deliver('r2', 500n);
        deliver('r3', 50n, C2);
        expect(ledger.unsettled(C1).map((r) => r.requestId)).toEqual(['r1', 'r2']);
        expect(ledger.unsettled(C1, 1).map((r) => r.requestId)).toEqual(['r2']); // the most recent ones
        ledger.acceptVoucher(C1, 1000n, signPayload(voucherPayload(C1, 1000n, GLOBAL_ID), kp.secretKey).toString('hex'));
        expect(ledger.unsettled(C1)).toHaveLength(2); // 1000 of 1500: which ones it covers is not known
        ledger.acceptVoucher(C1, 1500n, signPayload(voucherPayload(C1, 1500n, GLOBAL_ID), kp.secretKey).toString('hex'));
        expect(ledger.unsettled(C1)).toEqual([]);
        expect(ledger.unsettled(C2).map((r) => r.requestId)).toEqual(['r3']);
    });

    it('stores strictly increasing vouchers up to the delivered cost, with real client signatures', () => {
        const kp = keyPairFromSeed(Buffer.alloc(32, 7));
        deliver('r1', 1000n);
        const sig = signPayload(voucherPayload(C1, 600n, GLOBAL_ID), kp.secretKey).toString('hex');
        const { stored, state } = ledger.acceptVoucher(C1, 600n, sig);
        expect(stored).toBe(true);
        expect(state.latestVoucher).toEqual({ amount: 600n, signature: sig });
        expect(ledger.unsignedExposure(C1)).toBe(400n);
        const full = signPayload(voucherPayload(C1, 1000n, GLOBAL_ID), kp.secretKey).toString('hex').toUpperCase();
        expect(ledger.acceptVoucher(C1, 1000n, full).state.latestVoucher).toEqual({ amount: 1000n, signature: full.toLowerCase() });
        expect(ledger.unsignedExposure(C1)).toBe(0n);
    });

    it('treats re-sending the stored voucher as a no-op', () => {
        deliver('r1', 1000n);
        const sig = sigHex();
        ledger.acceptVoucher(C1, 500n, sig);
        const before = dumpDb(path);
        expect(ledger.acceptVoucher(C1, 500n, sig).stored).toBe(false);
        expect(dumpDb(path)).toEqual(before);
    });

    it('refuses an equal or smaller amount (LEDGER_VOUCHER_NOT_INCREASING)', () => {
        deliver('r1', 1000n);
        ledger.acceptVoucher(C1, 500n, sigHex());
        expectRefused(() => ledger.acceptVoucher(C1, 500n, sigHex()), 'LEDGER_VOUCHER_NOT_INCREASING');
        expectRefused(() => ledger.acceptVoucher(C1, 499n, sigHex()), 'LEDGER_VOUCHER_NOT_INCREASING');
    });

    it('refuses an amount above the delivered cost, for known and unknown clients (LEDGER_VOUCHER_ABOVE_DELIVERED)', () => {
        deliver('r1', 1000n);
        const err = expectRefused(() => ledger.acceptVoucher(C1, 1001n, sigHex()), 'LEDGER_VOUCHER_ABOVE_DELIVERED');
        expect(err.details).toEqual({ client: C1.toRawString(), amount: '1001', delivered: '1000' });
        expectRefused(() => ledger.acceptVoucher(C2, 1n, sigHex()), 'LEDGER_VOUCHER_ABOVE_DELIVERED');
    });

    it('refuses a zero amount, a malformed signature or a bad address (LEDGER_BAD_INPUT)', () => {
        deliver('r1', 1000n);
        expectRefused(() => ledger.acceptVoucher(C1, 0n, sigHex()), 'LEDGER_BAD_INPUT');
        expectRefused(() => ledger.acceptVoucher(C1, 10n, 'ab'), 'LEDGER_BAD_INPUT');
        expectRefused(() => ledger.acceptVoucher(C1, 10n, 'zz'.repeat(64)), 'LEDGER_BAD_INPUT');
        expectRefused(() => ledger.acceptVoucher('EQ-nope', 10n, sigHex()), 'LEDGER_BAD_INPUT');
    });

    it('serves a client only while its unsigned exposure is below the credit window', () => {
        expect(ledger.unsignedExposure(C1)).toBe(0n);
        expect(ledger.withinCreditWindow(C1, 100n)).toBe(true);
        expect(ledger.withinCreditWindow(C1, 0n)).toBe(false);
        deliver('r1', 99n);
        expect(ledger.withinCreditWindow(C1, 100n)).toBe(true);
        deliver('r2', 1n);
        expect(ledger.unsignedExposure(C1)).toBe(100n);
        expect(ledger.withinCreditWindow(C1, 100n)).toBe(false);
        ledger.acceptVoucher(C1, 1n, sigHex());
        expect(ledger.withinCreditWindow(C1, 100n)).toBe(true);
        expect(() => ledger.withinCreditWindow(C1, -1n)).toThrow(expect.objectContaining({ code: 'LEDGER_BAD_INPUT' }));
    });
});

describe('redemptions', () => {
    beforeEach(() => {
        deliver('r1', 1000n, C1);
        deliver('r2', 500n, C2);
        ledger.acceptVoucher(C1, 1000n, sigHex());
        ledger.acceptVoucher(C2, 200n, sigHex());
    });

    it('lists clients whose unredeemed voucher reaches the threshold, by address', () => {
        expect(ledger.redeemCandidates(200n).map((c) => c.client)).toEqual([C1.toRawString(), C2.toRawString()].sort());
        expect(ledger.redeemCandidates(201n).map((c) => c.client)).toEqual([C1.toRawString()]);
        expect(ledger.redeemCandidates(1n, 1)).toHaveLength(1);
        ledger.markRedeemed(C1, 900n);
        expect(ledger.redeemCandidates(200n).map((c) => c.client)).toEqual([C2.toRawString()]);
        expect(ledger.redeemCandidates(100n).map((c) => c.client)).toEqual([C1.toRawString(), C2.toRawString()].sort());
        expect(() => ledger.redeemCandidates(0n)).toThrow(expect.objectContaining({ code: 'LEDGER_BAD_INPUT' }));
    });

    it('moves redeemedOnChain forward only, never above the voucher', () => {
        expect(ledger.markRedeemed(C1, 400n).redeemedOnChain).toBe(400n);
        const before = dumpDb(path);
        expect(ledger.markRedeemed(C1, 400n).redeemedOnChain).toBe(400n);
        expect(dumpDb(path)).toEqual(before);
        expectRefused(() => ledger.markRedeemed(C1, 399n), 'LEDGER_REDEEM_NOT_INCREASING');
        expectRefused(() => ledger.markRedeemed(C1, 1001n), 'LEDGER_REDEEM_ABOVE_VOUCHER');
        expectRefused(() => ledger.markRedeemed(addr('client', 9), 1n), 'LEDGER_REDEEM_ABOVE_VOUCHER');
        expect(ledger.markRedeemed(C1, 1000n).redeemedOnChain).toBe(1000n);
    });
});

describe('worker payouts', () => {
    beforeEach(() => {
        deliver('r1', 1000n, C1, W1); // W1 earns 900
        deliver('r2', 100n, C1, W2); // W2 earns 90
    });

    it('stores strictly increasing proxy-signed payouts up to the earned amount', () => {
        const kp = keyPairFromSeed(Buffer.alloc(32, 9));
        const sig = signPayload(payoutPayload(W1, 900n, GLOBAL_ID), kp.secretKey).toString('hex');
        expect(ledger.payoutCandidates(90n).map((w) => w.worker)).toEqual([W1.toRawString(), W2.toRawString()].sort());
        const { stored, state } = ledger.recordPayoutSigned(W1, 900n, sig);
        expect(stored).toBe(true);
        expect(state).toEqual({ worker: W1.toRawString(), earned: 900n, latestPayout: { amount: 900n, signature: sig } });
        expect(ledger.payoutCandidates(1n).map((w) => w.worker)).toEqual([W2.toRawString()]);
        const before = dumpDb(path);
        expect(ledger.recordPayoutSigned(W1, 900n, sig).stored).toBe(false);
        expect(dumpDb(path)).toEqual(before);
    });

    it('refuses a payout above earned or not increasing, changing nothing', () => {
        expectRefused(() => ledger.recordPayoutSigned(W1, 901n, sigHex()), 'LEDGER_PAYOUT_ABOVE_EARNED');
        expectRefused(() => ledger.recordPayoutSigned(addr('worker', 9), 1n, sigHex()), 'LEDGER_PAYOUT_ABOVE_EARNED');
        ledger.recordPayoutSigned(W1, 500n, sigHex());
        expectRefused(() => ledger.recordPayoutSigned(W1, 500n, sigHex()), 'LEDGER_PAYOUT_NOT_INCREASING');
        expectRefused(() => ledger.recordPayoutSigned(W1, 1n, sigHex()), 'LEDGER_PAYOUT_NOT_INCREASING');
        expectRefused(() => ledger.recordPayoutSigned(W1, 600n, 'x'), 'LEDGER_BAD_INPUT');
        expect(ledger.payoutCandidates(400n).map((w) => w.worker)).toEqual([W1.toRawString()]);
        expect(ledger.payoutCandidates(401n)).toEqual([]);
    });
});

describe('the state hash', () => {
    it('is SHA-256 over the documented canonical serialization', () => {
        deliver('r1', 1000n, C2, W1);
        deliver('r2', 10n, C1, W2);
        ledger.acceptVoucher(C2, 700n, sigHex());
        ledger.markRedeemed(C2, 300n);
        ledger.recordPayoutSigned(W1, 100n, sigHex());
        const [c1, c2] = [C1.toRawString(), C2.toRawString()].sort();
        const rowC1 = c1 === C1.toRawString() ? '10 0 0' : '1000 700 300';
        const rowC2 = c1 === C1.toRawString() ? '1000 700 300' : '10 0 0';
        const text = ledger.stateSerialization();
        expect(text).toBe(
            `cocoon-ledger-state/v1\nclient ${c1} ${rowC1}\nclient ${c2} ${rowC2}\n` +
                [`worker ${W1.toRawString()} 900 100`, `worker ${W2.toRawString()} 9 0`].sort().join('\n') +
                '\n',
        );
        expect(ledger.stateHash()).toBe(BigInt('0x' + createHash('sha256').update(text).digest('hex')));
    });

    it('depends on the counters only, not on insertion order, request ids or signatures', () => {
        const other = Ledger.open(tmp.file('other.sqlite'), { clock, commissionBps: 1000 });
        try {
            deliver('a', 100n, C1, W1);
            deliver('b', 50n, C2, W2);
            ledger.acceptVoucher(C1, 100n, sigHex());
            other.recordDelivery({ requestId: 'z', client: C2, worker: W2, modelId: MODEL, cost: 50n, receipt: receipt('z') });
            other.recordStart({ requestId: 'y', client: addr('client', 3), worker: W1, modelId: MODEL });
            other.recordDelivery({ requestId: 'x', client: C1, worker: W1, modelId: MODEL + 5n, cost: 100n, receipt: receipt('x') });
            other.acceptVoucher(C1, 100n, sigHex());
            expect(other.stateHash()).toBe(ledger.stateHash());
            other.recordDelivery({ requestId: 'w', client: C1, worker: W1, modelId: MODEL, cost: 1n, receipt: receipt('w') });
            expect(other.stateHash()).not.toBe(ledger.stateHash());
        } finally {
            other.close();
        }
    });
});

describe('state commits and rollback detection', () => {
    it('hands out seqnos 1, 2, 3 … each recorded before it is returned', () => {
        deliver('r1', 10n);
        const c1 = ledger.nextCommit();
        expect(c1).toEqual({ seqno: 1n, hash: ledger.stateHash(), committedAt: clock.now(), onChain: false });
        expect(ledger.getCommit(1n)).toEqual(c1);
        deliver('r2', 10n);
        const c2 = ledger.nextCommit();
        expect(c2.seqno).toBe(2n);
        expect(c2.hash).not.toBe(c1.hash);
        expect(ledger.latestCommit()).toEqual(c2);
        expect(ledger.confirmCommit(1n).onChain).toBe(true);
        expect(ledger.confirmCommit(1n).onChain).toBe(true);
        expect(ledger.getCommit(2n)?.onChain).toBe(false);
        expectRefused(() => ledger.confirmCommit(3n), 'LEDGER_UNKNOWN_COMMIT');
        expectRefused(() => ledger.confirmCommit(0n), 'LEDGER_BAD_INPUT');
    });

    it('accepts a chain that has no commit yet, or the ledger’s own commit, and confirms it', () => {
        expect(ledger.checkAgainstChain(0n, 0n)).toBeNull();
        const c1 = ledger.nextCommit();
        const c2 = ledger.nextCommit();
        expect(ledger.checkAgainstChain(0n, 0n)).toBeNull(); // both still pending: not a rollback
        expect(ledger.checkAgainstChain(c1.seqno, c1.hash)).toEqual({ ...c1, onChain: true });
        expect(ledger.getCommit(c2.seqno)?.onChain).toBe(false); // a pending later commit may still land
        expect(ledger.checkAgainstChain(c2.seqno, c2.hash)?.onChain).toBe(true);
    });

    it('reports unknown-seqno, hash-mismatch and chain-behind as LEDGER_ROLLBACK, changing nothing', () => {
        const c1 = ledger.nextCommit();
        expect(expectRefused(() => ledger.checkAgainstChain(2n, c1.hash), 'LEDGER_ROLLBACK').details).toMatchObject({ reason: 'unknown-seqno', chainSeqno: '2' });
        expect(expectRefused(() => ledger.checkAgainstChain(1n, c1.hash ^ 1n), 'LEDGER_ROLLBACK').details).toMatchObject({ reason: 'hash-mismatch', ledgerSeqno: '1' });
        ledger.nextCommit();
        ledger.confirmCommit(2n);
        expect(expectRefused(() => ledger.checkAgainstChain(1n, c1.hash), 'LEDGER_ROLLBACK').details).toMatchObject({ reason: 'chain-behind', ledgerSeqno: '2' });
        expectRefused(() => ledger.checkAgainstChain(0n, 0n), 'LEDGER_ROLLBACK');
        expectRefused(() => ledger.checkAgainstChain(-1n, 0n), 'LEDGER_BAD_INPUT');
        expectRefused(() => ledger.checkAgainstChain(1n, 1n << 256n), 'LEDGER_BAD_INPUT');
    });

    it('detects a database restored from an older copy', () => {
        // The "chain": the Proxy contract's (commitSeqno, commitHash) after each landed commit.
        let chain = { seqno: 0n, hash: 0n };
        const land = () => {
            const c = ledger.nextCommit();
            chain = { seqno: c.seqno, hash: c.hash };
            ledger.confirmCommit(c.seqno);
        };
        deliver('r1', 100n);
        land();
        ledger.close(); // checkpoints the WAL into the main file
        const backup = tmp.file('backup.sqlite');
        copyFileSync(path, backup);

        ledger = Ledger.open(path, { clock, commissionBps: 1000 });
        expect(ledger.checkAgainstChain(chain.seqno, chain.hash)?.seqno).toBe(1n);
        deliver('r2', 100n);
        land();
        deliver('r3', 100n);
        land();
        ledger.close();

        for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
        copyFileSync(backup, path);
        expect(existsSync(path + '-wal')).toBe(false);
        ledger = Ledger.open(path, { clock, commissionBps: 1000 });
        expect(ledger.client(C1).deliveredCost).toBe(100n); // the old state came back
        const err = expectRefused(() => ledger.checkAgainstChain(chain.seqno, chain.hash), 'LEDGER_ROLLBACK');
        expect(err.details).toMatchObject({ reason: 'unknown-seqno', chainSeqno: '3' });
    });
});

describe('spec/ledger.md', () => {
    it('documents every LedgerError code once in its table', () => {
        const root = join(__dirname, '..', '..', '..');
        const spec = readFileSync(join(root, 'spec/ledger.md'), 'utf8');
        const codes = [...LedgerCodes];
        expect(codes.length).toBeGreaterThanOrEqual(16);
        for (const code of codes) expect(spec.match(new RegExp(`^\\| \`${code}\` \\|`, 'gm'))).toHaveLength(1);
    });
});

describe('group commit (batch)', () => {
    it('applies every operation of a batch in one transaction; a refused one rolls back alone', () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { Ledger, LedgerError } = require('../../../agents/proxy/ledger') as typeof import('../../../agents/proxy/ledger');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { mkdtempSync, rmSync } = require('fs') as typeof import('fs');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { join } = require('path') as typeof import('path');
        const dir = mkdtempSync(join(require('os').tmpdir(), 'ledger-batch-'));
        const path = join(dir, 'l.sqlite');
        const c = '0:' + 'c'.repeat(64);
        const w = '0:' + 'd'.repeat(64);
        const l = Ledger.open(path, { commissionBps: 1000 });
        const errors: unknown[] = [];
        l.batch(() => {
            l.recordDelivery({ requestId: 'a'.repeat(32), client: c, worker: w, modelId: 1n, cost: 100n, receipt: 'AAAA' });
            try {
                l.acceptVoucher(c, 500n, 'ab'.repeat(64)); // above delivered: refused
            } catch (e) {
                errors.push(e);
            }
            l.recordDelivery({ requestId: 'b'.repeat(32), client: c, worker: w, modelId: 1n, cost: 50n, receipt: 'AAAA' });
            l.acceptVoucher(c, 150n, 'cd'.repeat(64));
        });
        expect(errors).toHaveLength(1);
        expect(errors[0]).toBeInstanceOf(LedgerError);
        expect((errors[0] as InstanceType<typeof LedgerError>).code).toBe('LEDGER_VOUCHER_ABOVE_DELIVERED');
        l.close();
        const again = Ledger.open(path, { commissionBps: 1000 });
        expect(again.client(c)).toMatchObject({ deliveredCost: 150n });
        expect(again.client(c).latestVoucher?.amount).toBe(150n);
        expect(again.worker(w).earned).toBe(90n + 45n);
        again.close();
        rmSync(dir, { recursive: true, force: true });
    });
});

describe('durability: commits survive a process crash, flush() a power loss (spec/ledger.md, "Durability")', () => {
    it('flush() resolves for writes so far, shares one sync among concurrent callers, and resolves on a closed ledger', async () => {
        deliver('f1', 10n);
        const [a, b, c] = [ledger.flush(), ledger.flush(), ledger.flush()];
        expect(b).toBe(c); // queued behind the sync in flight: one sync for both
        await Promise.all([a, b, c]);
        const mem = Ledger.open(':memory:', { commissionBps: 1000 });
        await mem.flush();
        mem.close();
        const other = Ledger.open(tmp.file('closed.sqlite'), { commissionBps: 1000 });
        other.close();
        await other.flush();
    });

    it('knows a clean start from an unclean one (the run marker)', () => {
        expect(ledger.uncleanStart).toBe(false);
        deliver('m1', 10n);
        const copy = tmp.file('crashed.sqlite');
        snapshotLedger(path, copy); // the file as a killed run leaves it: marker 'open'
        const crashed = Ledger.open(copy, { commissionBps: 1000 });
        expect(crashed.uncleanStart).toBe(true);
        expect(crashed.getRequest('m1')).toMatchObject({ status: 'delivered', cost: 10n });
        crashed.close();
        const clean = Ledger.open(copy, { commissionBps: 1000 });
        expect(clean.uncleanStart).toBe(false);
        clean.close();
    });

    it('power loss: bookings the disk lost are signed for by the client; after the unclean restart that voucher is accepted once, within the allowance, the excess booked for the proxy, nothing paid twice', async () => {
        const ALLOWANCE = 500n;
        const first = Ledger.open(tmp.file('pl.sqlite'), { commissionBps: 1000, clock, recoveryAllowance: ALLOWANCE });
        const d = (l: Ledger, id: string, cost: bigint) => l.recordDelivery({ requestId: id, client: C1, worker: W1, modelId: MODEL, cost, receipt: receipt(id) });
        d(first, 'p1', 100n);
        first.acceptVoucher(C1, 100n, sigHex());
        await first.flush();
        const disk = tmp.file('after-power-loss.sqlite');
        snapshotLedger(tmp.file('pl.sqlite'), disk); // synced up to here
        d(first, 'p2', 150n); // committed, response_end sent, the flush never completed
        d(first, 'p3', 200n);
        first.close();

        const l = Ledger.open(disk, { commissionBps: 1000, clock, recoveryAllowance: ALLOWANCE });
        try {
            expect(l.uncleanStart).toBe(true);
            expect(l.getRequest('p2')).toBeNull();
            expect(l.client(C1).deliveredCost).toBe(100n);
            // The client verified p2 and p3 and signs 450 cumulative.
            const sig = sigHex();
            const r = l.acceptVoucher(C1, 450n, sig);
            expect(r).toMatchObject({ stored: true, recovered: 350n });
            expect(l.client(C1)).toMatchObject({ deliveredCost: 450n, latestVoucher: { amount: 450n, signature: sig } });
            expect(l.recovered(C1)).toBe(350n);
            expect(l.unsignedExposure(C1)).toBe(0n);
            expect(l.unsettled(C1)).toEqual([]);
            // The worker's share of p2 and p3 is what the power loss cost: its earned holds p1 only.
            expect(l.worker(W1).earned).toBe(workerShare(100n, 1000));
            // Re-sent (reconnect): a no-op, nothing booked twice.
            expect(l.acceptVoucher(C1, 450n, sig)).toMatchObject({ stored: false, recovered: 0n });
            expect(l.client(C1).deliveredCost).toBe(450n);
            // The allowance is per client and run: 150 left.
            d(l, 'p4', 10n);
            const err = (() => {
                try {
                    l.acceptVoucher(C1, 460n + 151n, sigHex());
                } catch (e) {
                    return e as LedgerError;
                }
            })();
            expect(err?.code).toBe('LEDGER_VOUCHER_ABOVE_DELIVERED');
            expect(err?.details).toMatchObject({ delivered: '460', recoverable: '150' });
            expect(l.acceptVoucher(C1, 610n, sigHex()).recovered).toBe(150n);
            expect(l.markRedeemed(C1, 610n).redeemedOnChain).toBe(610n);
            expect(() => l.markRedeemed(C1, 611n)).toThrow(expect.objectContaining({ code: 'LEDGER_REDEEM_ABOVE_VOUCHER' }));
            expect(l.stateSerialization()).toContain(`client ${C1.toRawString()} 610 610 610`);
        } finally {
            l.close();
        }
        // The rows add up: delivered = Σ cost + recovered.
        const db = dumpDb(disk) as unknown as { requests: Array<{ cost: bigint }>; clients: Array<{ delivered: bigint; recovered: bigint }> };
        expect(db.clients[0].delivered).toBe(db.requests.reduce((s, r) => s + r.cost, 0n) + db.clients[0].recovered);
        // A clean restart: no allowance any more.
        const clean = Ledger.open(disk, { commissionBps: 1000, clock, recoveryAllowance: ALLOWANCE });
        try {
            expect(clean.uncleanStart).toBe(false);
            expect(() => clean.acceptVoucher(C1, 611n, sigHex())).toThrow(expect.objectContaining({ code: 'LEDGER_VOUCHER_ABOVE_DELIVERED' }));
        } finally {
            clean.close();
        }
    });
});
