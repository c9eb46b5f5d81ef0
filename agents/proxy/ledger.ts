// The proxy's durable ledger (spec/ledger.md): per ClientChannel the delivered cost, the latest client-signed
// voucher and what has been redeemed on chain; per WorkerChannel the earned amount and the latest proxy-signed
// payout; one row per request; and the state commits the proxy signs and sends to its Proxy contract.
//
// Every public mutation is ONE immediate transaction that first validates and then writes; a refused call throws a
// LedgerError and changes nothing. Money is bigint nanoTON; arithmetic happens in JS with explicit overflow checks,
// never in SQL.
//
// The ledger stores what it is given: signature checks (voucherPayload / payoutPayload, wrappers/payloads.ts)
// and receipt checks happen in the caller before it calls in.
//
// Public types and codes: ledger-types.ts; rows, input validation and conversion: ledger-rows.ts; schema,
// statements and settings: ledger-schema.ts; the WAL sync and the power-loss recovery budget: ledger-durability.ts;
// the SQLite connection (opening the file, close, flush, transactions): ledger-connection.ts.
import { Address } from '@ton/core';
import { LedgerConnection, OpenedLedgerFile, openLedgerFile } from './ledger-connection';
import {
    ClientState, Commit, DEFAULT_LIST_LIMIT, DeliveryInput, LedgerError, LedgerOptions, RequestRow,
    StartInput, STATE_TAG, WorkerState, workerShare,
} from './ledger-types';
import {
    bad, checked, ClientDbRow, CommitDbRow, hashOf, hex256, normAddress, RequestDbRow, rollback, sameParties,
    toClient, toCommit, toRequest, toWorker, validateAmount, validateDelivery, validateLimit, validateRequestId,
    validateSeqno, validateSignature, validateStart, WorkerDbRow,
} from './ledger-rows';

export { BPS_DENOMINATOR, LedgerError, MAX_AMOUNT, workerShare } from './ledger-types';

export type { ClientState, Commit, DeliveryInput, LedgerCode, LedgerOptions, RequestRow, RequestStatus, SignedAmount, StartInput, WorkerState } from './ledger-types';

/** A cooperative withdrawal the proxy co-signed: valid on chain while the channel's withdrawSeqno equals `seqno`. */
export interface CoopWithdrawal {
    seqno: bigint;
    amount: bigint;
    close: boolean;
    signature: string;
}

/** settings key prefix of a client's latest co-signed withdrawal. */
const COOP_PREFIX = 'coop_withdraw:';
/** settings key of the ClientChannel codes seen in Root (a JSON array of base64 BOCs). */
const CLIENT_CODES = 'client_codes';

export class Ledger extends LedgerConnection {
    private constructor(f: OpenedLedgerFile) {
        super(f);
    }

    /**
     * Opens (creating if needed) the ledger at `path`, applies pending migrations and checks the settings.
     * Throws LEDGER_SCHEMA for a file written by a newer version, LEDGER_SETTINGS_MISMATCH when the file was
     * created with another commissionBps.
     */
    static open(path: string, opts: LedgerOptions): Ledger {
        return new Ledger(openLedgerFile(path, opts));
    }

    // ---------------------------------------------------------------- requests

    /**
     * Records that a request was sent to a worker (status `started`, cost 0). Idempotent on requestId for the
     * same client/worker/model; a started row later becomes `delivered` or `failed`.
     */
    recordStart(input: StartInput): RequestRow {
        this.alive();
        const v = validateStart(input);
        return this.tx(() => {
            const existing = this.s.getRequest.get(v.requestId) as RequestDbRow | undefined;
            if (existing) {
                sameParties(existing, v);
                return toRequest(existing);
            }
            const now = this.now();
            this.ensureClient(v.client, now);
            this.ensureWorker(v.worker, now);
            this.s.insertRequest.run(v.requestId, v.client, v.worker, v.modelHex, 0n, 0n, null, 'started', now, now);
            return toRequest(this.s.getRequest.get(v.requestId) as RequestDbRow);
        });
    }

    /**
     * Records a served response: the client's delivered cost and the worker's earned amount grow by the
     * receipt's cost (worker: its share after commission). Idempotent on requestId: a replay with the same
     * content changes nothing and returns the stored row (`replayed: true`); a replay with other content is
     * LEDGER_REQUEST_CONFLICT; a request marked failed cannot be delivered (LEDGER_REQUEST_STATE).
     */
    recordDelivery(input: DeliveryInput): { row: RequestRow; replayed: boolean } {
        this.alive();
        const v = validateDelivery(input);
        return this.tx(() => {
            const existing = this.s.getRequest.get(v.requestId) as RequestDbRow | undefined;
            if (existing) {
                sameParties(existing, v);
                if (existing.status === 'delivered') {
                    if (existing.cost !== v.cost || existing.receipt !== v.receipt) {
                        throw new LedgerError('LEDGER_REQUEST_CONFLICT', `request ${v.requestId} was delivered with another cost or receipt`, {
                            requestId: v.requestId,
                        });
                    }
                    return { row: toRequest(existing), replayed: true };
                }
                if (existing.status === 'failed') {
                    throw new LedgerError('LEDGER_REQUEST_STATE', `request ${v.requestId} is marked failed`, { requestId: v.requestId });
                }
            }
            const now = this.now();
            const client = this.ensureClient(v.client, now);
            const worker = this.ensureWorker(v.worker, now);
            const part = workerShare(v.cost, this.commissionBps);
            const delivered = checked(client.delivered + v.cost, 'client delivered cost');
            const earned = checked(worker.earned + part, 'worker earned amount');
            if (existing) {
                this.s.deliverRequest.run(v.cost, part, v.receipt, now, v.requestId);
            } else {
                this.s.insertDelivered.run(v.requestId, v.client, v.worker, v.modelHex, v.cost, part, v.receipt, now, now);
            }
            this.s.setDelivered.run(delivered, now, v.client);
            this.s.setEarned.run(earned, now, v.worker);
            // The row as written (no re-read on the hot path).
            const row: RequestRow = {
                requestId: v.requestId,
                client: v.client,
                worker: v.worker,
                modelId: BigInt('0x' + v.modelHex),
                cost: v.cost,
                workerPart: part,
                receipt: v.receipt,
                status: 'delivered',
                createdAt: existing ? Number(existing.created_at) : now,
                updatedAt: now,
            };
            return { row, replayed: false };
        });
    }

    /** Marks a started request failed (nothing is charged). Idempotent; a delivered request cannot fail. */
    recordFailure(requestId: string): RequestRow {
        this.alive();
        const id = validateRequestId(requestId);
        return this.tx(() => {
            const existing = this.s.getRequest.get(id) as RequestDbRow | undefined;
            if (!existing) throw new LedgerError('LEDGER_UNKNOWN_REQUEST', `no request ${id}`, { requestId: id });
            if (existing.status === 'delivered') {
                throw new LedgerError('LEDGER_REQUEST_STATE', `request ${id} was already delivered`, { requestId: id });
            }
            if (existing.status === 'started') this.s.failRequest.run(this.now(), id);
            return toRequest(this.s.getRequest.get(id) as RequestDbRow);
        });
    }

    getRequest(requestId: string): RequestRow | null {
        this.alive();
        const row = this.s.getRequest.get(validateRequestId(requestId)) as RequestDbRow | undefined;
        return row ? toRequest(row) : null;
    }

    // ---------------------------------------------------------------- clients

    /** A client's counters; an unknown client reads as all zeros. */
    client(client: Address | string): ClientState {
        this.alive();
        const addr = normAddress(client, 'client');
        return toClient(addr, this.s.getClient.get(addr) as ClientDbRow | undefined);
    }

    /**
     * Stores a client-signed cumulative voucher (the caller has verified the signature). The amount must be
     * strictly greater than the stored one (LEDGER_VOUCHER_NOT_INCREASING) and at most the delivered cost
     * (LEDGER_VOUCHER_ABOVE_DELIVERED): a client signs only for responses it has received, which the ledger
     * recorded before they were sent. Re-sending exactly the stored voucher is a no-op (`stored: false`).
     *
     * Power loss (spec/ledger.md, "Power loss"): in a run after an unclean shutdown, bookings that never reached the
     * disk may be signed for; an excess above `delivered` of at most recoveryAllowance per client per run is booked
     * as recovered delivered cost (no worker share, no request row) and the voucher stored (`recovered` > 0).
     */
    acceptVoucher(client: Address | string, amount: bigint, signatureHex: string): { stored: boolean; state: ClientState; recovered: bigint } {
        this.alive();
        const addr = normAddress(client, 'client');
        const amt = validateAmount(amount, 'amount', 1n);
        const sig = validateSignature(signatureHex);
        return this.tx(() => {
            const row = this.s.getClient.get(addr) as ClientDbRow | undefined;
            const delivered = row?.delivered ?? 0n;
            const current = row?.voucher_amount ?? 0n;
            if (row && amt === current && sig === row.voucher_sig) return { stored: false, state: toClient(addr, row), recovered: 0n };
            if (amt <= current) {
                throw new LedgerError('LEDGER_VOUCHER_NOT_INCREASING', `voucher ${amt} is not above the stored ${current}`, {
                    client: addr,
                    amount: amt.toString(),
                    stored: current.toString(),
                });
            }
            const excess = amt > delivered ? amt - delivered : 0n;
            const recoverable = this.recovery.left(addr);
            if (excess > recoverable) {
                throw new LedgerError('LEDGER_VOUCHER_ABOVE_DELIVERED', `voucher ${amt} is above the delivered cost ${delivered}`, {
                    client: addr,
                    amount: amt.toString(),
                    delivered: delivered.toString(),
                    ...(this.uncleanStart ? { recoverable: recoverable.toString() } : {}),
                });
            }
            const now = this.now();
            if (excess > 0n) {
                const r = this.ensureClient(addr, now);
                this.s.setRecovered.run(amt, checked(r.recovered + excess, 'client recovered cost'), now, addr);
            }
            this.s.setVoucher.run(amt, sig, now, addr);
            if (amt >= delivered) this.s.settleAll.run(addr);
            this.recovery.spend(addr, excess);
            return { stored: true, state: toClient(addr, this.s.getClient.get(addr) as ClientDbRow), recovered: excess };
        });
    }

    /** Delivered cost a client's vouchers covered beyond the bookings on disk after unclean shutdowns (acceptVoucher). */
    recovered(client: Address | string): bigint {
        this.alive();
        const addr = normAddress(client, 'client');
        return (this.s.getClient.get(addr) as ClientDbRow | undefined)?.recovered ?? 0n;
    }

    /**
     * Delivered requests of a client not yet known to be covered by a voucher (a voucher equal to the delivered cost
     * settles all of them), at most `limit`, the most recent ones, oldest first: what the proxy re-sends after the
     * client reconnects, so a receipt booked but never seen by the client (proxy crash, client gone) gets signed.
     */
    unsettled(client: Address | string, limit = 256): RequestRow[] {
        this.alive();
        const addr = normAddress(client, 'client');
        return (this.s.unsettled.all(addr, validateLimit(limit)) as RequestDbRow[]).map(toRequest);
    }

    /** The latest cooperative withdrawal co-signed for a client (proxy/coop-withdraw.ts), or null. */
    coopWithdrawal(client: Address | string): CoopWithdrawal | null {
        this.alive();
        const v = this.s.getSetting.get(COOP_PREFIX + normAddress(client, 'client')) as string | undefined;
        if (v === undefined) return null;
        const o = JSON.parse(v) as { seqno: string; amount: string; close: boolean; signature: string };
        return { seqno: BigInt(o.seqno), amount: BigInt(o.amount), close: o.close, signature: o.signature };
    }

    /** Records a co-signature before it leaves (replacing the previous one); flush() makes it power-loss durable. */
    recordCoopWithdrawal(client: Address | string, w: CoopWithdrawal): void {
        this.alive();
        const value = JSON.stringify({ seqno: w.seqno.toString(), amount: validateAmount(w.amount, 'amount', 0n).toString(), close: w.close, signature: w.signature });
        this.s.putSetting.run(COOP_PREFIX + normAddress(client, 'client'), value);
    }

    /** Every ClientChannel code Root has listed while this proxy watched (BOCs, base64), oldest first. */
    clientCodes(): string[] {
        this.alive();
        const v = this.s.getSetting.get(CLIENT_CODES) as string | undefined;
        return v === undefined ? [] : (JSON.parse(v) as string[]);
    }

    /** Remembers a ClientChannel code (BOC, base64): channels created under it stay acceptable after SetChildCode. */
    rememberClientCode(boc: string): void {
        const codes = this.clientCodes();
        if (codes.includes(boc)) return;
        this.s.putSetting.run(CLIENT_CODES, JSON.stringify([...codes, boc]));
    }

    /** Delivered cost not yet covered by a voucher (≥ 0). */
    unsignedExposure(client: Address | string): bigint {
        const c = this.client(client);
        return c.deliveredCost - (c.latestVoucher?.amount ?? 0n);
    }

    /** True while the unsigned exposure is strictly below `creditWindow` (the proxy may serve the client). */
    withinCreditWindow(client: Address | string, creditWindow: bigint): boolean {
        const window = validateAmount(creditWindow, 'creditWindow', 0n);
        return this.unsignedExposure(client) < window;
    }

    /**
     * Records the ClientChannel's cumulative `redeemed` as read from chain (or known from a confirmed Redeem).
     * Monotonic: a smaller value is LEDGER_REDEEM_NOT_INCREASING, the same value a no-op; it can never exceed
     * the stored voucher (LEDGER_REDEEM_ABOVE_VOUCHER). It may be below the voucher: the channel pays at most
     * its balance.
     */
    markRedeemed(client: Address | string, amount: bigint): ClientState {
        this.alive();
        const addr = normAddress(client, 'client');
        const amt = validateAmount(amount, 'amount', 0n);
        return this.tx(() => {
            const row = this.s.getClient.get(addr) as ClientDbRow | undefined;
            const current = row?.redeemed ?? 0n;
            const voucher = row?.voucher_amount ?? 0n;
            if (amt < current) {
                throw new LedgerError('LEDGER_REDEEM_NOT_INCREASING', `redeemed ${amt} is below the stored ${current}`, {
                    client: addr,
                    amount: amt.toString(),
                    stored: current.toString(),
                });
            }
            if (amt > voucher) {
                throw new LedgerError('LEDGER_REDEEM_ABOVE_VOUCHER', `redeemed ${amt} is above the latest voucher ${voucher}`, {
                    client: addr,
                    amount: amt.toString(),
                    voucher: voucher.toString(),
                });
            }
            if (row && amt > current) this.s.setRedeemed.run(amt, this.now(), addr);
            return toClient(addr, this.s.getClient.get(addr) as ClientDbRow | undefined);
        });
    }

    /** Clients whose latest voucher exceeds what was redeemed by at least `minAmount` (≥ 1), by address. */
    redeemCandidates(minAmount: bigint, limit = DEFAULT_LIST_LIMIT): ClientState[] {
        this.alive();
        const min = validateAmount(minAmount, 'minAmount', 1n);
        const rows = this.s.redeemCandidates.all(min, validateLimit(limit)) as ClientDbRow[];
        return rows.map((r) => toClient(r.address, r));
    }

    // ---------------------------------------------------------------- workers

    /** A worker's counters; an unknown worker reads as all zeros. */
    worker(worker: Address | string): WorkerState {
        this.alive();
        const addr = normAddress(worker, 'worker');
        return toWorker(addr, this.s.getWorker.get(addr) as WorkerDbRow | undefined);
    }

    /**
     * Stores a proxy-signed cumulative payout. Write it BEFORE sending the signature anywhere. Strictly
     * increasing (LEDGER_PAYOUT_NOT_INCREASING) and at most the earned amount (LEDGER_PAYOUT_ABOVE_EARNED);
     * storing exactly the stored payout again is a no-op (`stored: false`).
     */
    recordPayoutSigned(worker: Address | string, amount: bigint, signatureHex: string): { stored: boolean; state: WorkerState } {
        this.alive();
        const addr = normAddress(worker, 'worker');
        const amt = validateAmount(amount, 'amount', 1n);
        const sig = validateSignature(signatureHex);
        return this.tx(() => {
            const row = this.s.getWorker.get(addr) as WorkerDbRow | undefined;
            const earned = row?.earned ?? 0n;
            const current = row?.payout_amount ?? 0n;
            if (row && amt === current && sig === row.payout_sig) return { stored: false, state: toWorker(addr, row) };
            if (amt <= current) {
                throw new LedgerError('LEDGER_PAYOUT_NOT_INCREASING', `payout ${amt} is not above the stored ${current}`, {
                    worker: addr,
                    amount: amt.toString(),
                    stored: current.toString(),
                });
            }
            if (amt > earned) {
                throw new LedgerError('LEDGER_PAYOUT_ABOVE_EARNED', `payout ${amt} is above the earned ${earned}`, {
                    worker: addr,
                    amount: amt.toString(),
                    earned: earned.toString(),
                });
            }
            this.s.setPayout.run(amt, sig, this.now(), addr);
            return { stored: true, state: toWorker(addr, this.s.getWorker.get(addr) as WorkerDbRow) };
        });
    }

    /** Workers whose earned amount exceeds the latest signed payout by at least `minAmount` (≥ 1), by address. */
    payoutCandidates(minAmount: bigint, limit = DEFAULT_LIST_LIMIT): WorkerState[] {
        this.alive();
        const min = validateAmount(minAmount, 'minAmount', 1n);
        const rows = this.s.payoutCandidates.all(min, validateLimit(limit)) as WorkerDbRow[];
        return rows.map((r) => toWorker(r.address, r));
    }

    // ---------------------------------------------------------------- state commits

    /** The canonical serialization the state hash is taken over (spec/ledger.md, "State hash"). */
    stateSerialization(): string {
        this.alive();
        return this.serialize();
    }

    /** SHA-256 of the canonical serialization, as the uint256 the Proxy contract stores. */
    stateHash(): bigint {
        this.alive();
        return hashOf(this.serialize());
    }

    /**
     * Records the next state commit (seqno = last recorded + 1, hash of the current state) and returns it.
     * Call BEFORE signing: a seqno is handed out once, so a crash can never lead to two different hashes
     * signed for one seqno (which the Proxy contract slashes as equivocation).
     */
    nextCommit(): Commit {
        this.alive();
        return this.tx(() => {
            const last = this.s.lastCommit.get() as CommitDbRow | undefined;
            const seqno = (last?.seqno ?? 0n) + 1n;
            const hash = hashOf(this.serialize());
            const now = this.now();
            this.s.insertCommit.run(seqno, hex256(hash), now, 0n);
            return { seqno, hash, committedAt: now, onChain: false };
        });
    }

    /** Marks a recorded commit as seen on chain. Idempotent; LEDGER_UNKNOWN_COMMIT for a seqno never recorded. */
    confirmCommit(seqno: bigint): Commit {
        this.alive();
        const n = validateSeqno(seqno);
        return this.tx(() => {
            const row = this.s.getCommit.get(n) as CommitDbRow | undefined;
            if (!row) throw new LedgerError('LEDGER_UNKNOWN_COMMIT', `no commit with seqno ${n}`, { seqno: n.toString() });
            if (row.on_chain === 0n) this.s.confirmCommit.run(n);
            return toCommit(this.s.getCommit.get(n) as CommitDbRow);
        });
    }

    latestCommit(): Commit | null {
        this.alive();
        const row = this.s.lastCommit.get() as CommitDbRow | undefined;
        return row ? toCommit(row) : null;
    }

    getCommit(seqno: bigint): Commit | null {
        this.alive();
        const row = this.s.getCommit.get(validateSeqno(seqno)) as CommitDbRow | undefined;
        return row ? toCommit(row) : null;
    }

    /**
     * Start-up check against the Proxy contract's (commitSeqno, commitHash). LEDGER_ROLLBACK when
     *  - `unknown-seqno`: the chain holds a seqno ≥ 1 this ledger never recorded (the file is older than the
     *    last commit: restored from a backup, or another proxy's file);
     *  - `hash-mismatch`: the ledger recorded that seqno with another hash (tampered, or a restored file that
     *    re-used the seqno);
     *  - `chain-behind`: the ledger holds a commit confirmed on chain with a higher seqno than the chain
     *    reports (the chain view is wrong, or the file belongs to another Proxy contract).
     * Otherwise the chain's commit is marked confirmed and returned (null when the chain has none yet).
     */
    checkAgainstChain(onChainSeqno: bigint, onChainHash: bigint): Commit | null {
        this.alive();
        const seqno = validateAmount(onChainSeqno, 'onChainSeqno', 0n);
        if (typeof onChainHash !== 'bigint' || onChainHash < 0n || onChainHash >= 1n << 256n) bad('onChainHash', 'must be a uint256 bigint');
        return this.tx(() => {
            const confirmed = this.s.lastConfirmedCommit.get() as CommitDbRow | undefined;
            if (confirmed && confirmed.seqno > seqno) {
                throw rollback('chain-behind', `ledger commit ${confirmed.seqno} is confirmed but the chain is at ${seqno}`, seqno, confirmed);
            }
            if (seqno === 0n) return null;
            const row = this.s.getCommit.get(seqno) as CommitDbRow | undefined;
            if (!row) throw rollback('unknown-seqno', `the chain holds commit ${seqno}, unknown to this ledger`, seqno, undefined);
            if (row.hash !== hex256(onChainHash)) {
                throw rollback('hash-mismatch', `commit ${seqno} on chain has another hash than the ledger recorded`, seqno, row);
            }
            if (row.on_chain === 0n) this.s.confirmCommit.run(seqno);
            return toCommit(this.s.getCommit.get(seqno) as CommitDbRow);
        });
    }

    // ---------------------------------------------------------------- internals

    private serialize(): string {
        const lines = [STATE_TAG];
        for (const r of this.s.allClients.iterate() as IterableIterator<ClientDbRow>) {
            lines.push(`client ${r.address} ${r.delivered} ${r.voucher_amount} ${r.redeemed}`);
        }
        for (const r of this.s.allWorkers.iterate() as IterableIterator<WorkerDbRow>) {
            lines.push(`worker ${r.address} ${r.earned} ${r.payout_amount}`);
        }
        return lines.join('\n') + '\n';
    }

    /**
     * Group commit: runs `fn` — any number of the operations above — in one IMMEDIATE transaction. Each operation
     * keeps its own savepoint (a refused one rolls back alone and throws to its caller inside `fn`), and the batch
     * commits when `batch` returns (surviving a process crash; flush() for a power loss). Nothing in `fn` is before.
     */
    batch<T>(fn: () => T): T {
        this.alive();
        return this.tx(fn);
    }
}
