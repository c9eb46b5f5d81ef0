// The ledger's open SQLite connection (spec/ledger.md, "Durability"): opening the file (WAL journal, pragmas,
// migrations, the settings check, the run marker), closing it, flush(), and the transaction and row plumbing the
// Ledger's operations share. Separate from ledger.ts so that file holds the money rules and nothing about the
// connection; Ledger extends LedgerConnection, so its public surface is unchanged.
//
// SQLite through better-sqlite3 (synchronous): WAL journal, synchronous = NORMAL, so a write the ledger has
// returned from is in the WAL (the OS cache) and survives a process crash; flush() makes every write so far survive a
// power loss too, with an fdatasync of the WAL on the libuv threadpool, off the event loop (spec/ledger.md,
// "Durability").
import { mkdirSync } from 'fs';
import { dirname } from 'path';
import Database from 'better-sqlite3';
import { Clock, systemClock } from '../core/clock';
import { checkSettings, migrate, prepare } from './ledger-schema';
import { RecoveryBudget, RUN_MARKER, WalSync } from './ledger-durability';
import { LedgerError, LedgerOptions } from './ledger-types';
import { bad, ClientDbRow, validateAmount, WorkerDbRow } from './ledger-rows';

/** What openLedgerFile hands to the constructor: an open, migrated, checked connection. */
export interface OpenedLedgerFile {
    db: Database.Database;
    clock: Clock;
    commissionBps: number;
    path: string;
    recovery: RecoveryBudget;
}

/** Ledger.open: opens (creating if needed) the file, applies pending migrations, checks the settings, marks the run. */
export function openLedgerFile(path: string, opts: LedgerOptions): OpenedLedgerFile {
    if (typeof path !== 'string' || path.length === 0) bad('path', 'must be a non-empty string');
    const bps = opts?.commissionBps;
    if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) bad('commissionBps', 'must be an integer in 0..10000');
    const clock = opts.clock ?? systemClock;
    const allowance = validateAmount(opts.recoveryAllowance ?? 0n, 'recoveryAllowance', 0n);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
        db.defaultSafeIntegers(true);
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal' && path !== ':memory:') {
            throw new LedgerError('LEDGER_SCHEMA', `cannot put ${path} in WAL mode (got ${String(mode)})`);
        }
        // FULL while opening: the migrations and the run marker are on disk before anything is served.
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        db.pragma('busy_timeout = 5000');
        migrate(db, clock);
        checkSettings(db, bps);
        const s = prepare(db);
        const unclean = s.getSetting.get(RUN_MARKER) === 'open';
        s.putSetting.run(RUN_MARKER, 'open');
        db.pragma('synchronous = NORMAL');
        return { db, clock, commissionBps: bps, path, recovery: new RecoveryBudget(unclean, allowance) };
    } catch (e) {
        db.close();
        throw e;
    }
}

/** The connection and its plumbing; the Ledger (ledger.ts) adds the operations. */
export abstract class LedgerConnection {
    protected readonly db: Database.Database;
    protected readonly clock: Clock;
    readonly commissionBps: number;
    protected readonly s: ReturnType<typeof prepare>;
    private closed = false;
    /** The WAL sync behind flush() (ledger-durability.ts). */
    private readonly wal: WalSync;
    /** What acceptVoucher may book as recovered cost after an unclean shutdown (ledger-durability.ts). */
    protected readonly recovery: RecoveryBudget;

    protected constructor(f: OpenedLedgerFile) {
        this.db = f.db;
        this.clock = f.clock;
        this.commissionBps = f.commissionBps;
        this.s = prepare(f.db);
        this.wal = new WalSync(f.path === ':memory:' ? undefined : `${f.path}-wal`);
        this.recovery = f.recovery;
    }

    /**
     * The previous run did not close this file (process crash or power loss): a voucher may then exceed `delivered`
     * by bookings a power loss took, up to the recovery allowance per client in this run (acceptVoucher).
     */
    get uncleanStart(): boolean {
        return this.recovery.uncleanStart;
    }

    /** Marks the run closed cleanly; closing the last connection checkpoints the WAL with its syncs. */
    close(): void {
        if (this.closed) return;
        this.closed = true;
        try {
            this.s.putSetting.run(RUN_MARKER, 'closed');
        } catch {
            // Not marked: the next start counts as unclean, which only allows the bounded recovery (acceptVoucher).
        }
        this.db.close();
        this.wal.close();
    }

    /**
     * Resolves once every write committed before the call survives a power loss: an fdatasync of the WAL file on the
     * libuv threadpool (the event loop keeps running). WAL frames are appended in commit order, so one sync covers
     * every earlier commit. One sync runs at a time; calls during it share the next one (a sync that started before a
     * commit does not cover it). What must wait for it: anything that acknowledges money to another party (spec/ledger.md,
     * "Durable before what").
     */
    flush(): Promise<void> {
        return this.wal.flush();
    }

    /** The connection's durability settings, for start-up logs and tests. */
    pragmas(): { journalMode: string; synchronous: number; foreignKeys: boolean } {
        this.alive();
        return {
            journalMode: String(this.db.pragma('journal_mode', { simple: true })),
            synchronous: Number(this.db.pragma('synchronous', { simple: true })),
            foreignKeys: Number(this.db.pragma('foreign_keys', { simple: true })) === 1,
        };
    }

    /** The schema version of the open file. */
    schemaVersion(): number {
        this.alive();
        return Number(this.s.schemaVersion.get() as bigint);
    }

    /** The client's row, inserted (all zeros) first when missing; one statement when it exists. */
    protected ensureClient(addr: string, now: number): ClientDbRow {
        const row = this.s.getClient.get(addr) as ClientDbRow | undefined;
        if (row) return row;
        this.s.ensureClient.run(addr, now);
        return this.s.getClient.get(addr) as ClientDbRow;
    }

    protected ensureWorker(addr: string, now: number): WorkerDbRow {
        const row = this.s.getWorker.get(addr) as WorkerDbRow | undefined;
        if (row) return row;
        this.s.ensureWorker.run(addr, now);
        return this.s.getWorker.get(addr) as WorkerDbRow;
    }

    protected tx<T>(fn: () => T): T {
        return this.db.transaction(fn).immediate();
    }

    protected now(): number {
        const t = this.clock.now();
        if (!Number.isSafeInteger(t) || t < 0) bad('clock', 'now() must return a non-negative integer (ms)');
        return t;
    }

    protected alive(): void {
        if (this.closed) throw new LedgerError('LEDGER_CLOSED', 'the ledger is closed');
    }
}
