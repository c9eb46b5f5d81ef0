// The ledger's SQLite schema as forward-only migrations (spec/ledger.md, "Schema").
//
// A migration is applied at most once, in its own transaction together with its row in `schema_version`,
// so a crash mid-migration leaves the previous version intact. Migrations are never edited once released;
// a change is a new migration with the next version number. Below them: the prepared statements, applying the
// migrations, and the settings check.
import type Database from 'better-sqlite3';
import type { Clock } from '../core/clock';
import { LedgerError } from './ledger-types';

export interface Migration {
    version: number;
    /** Statements run in order inside the migration's transaction. */
    statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
    {
        version: 1,
        statements: [
            // Amounts are nanoTON in SQLite INTEGER (64-bit signed): at most 2^63-1 ≈ 9.2e9 TON; the ledger
            // refuses anything larger before it reaches SQL (LEDGER_OVERFLOW) and never does money
            // arithmetic in SQL, where an overflow would silently turn into a REAL.
            `CREATE TABLE clients (
                address        TEXT PRIMARY KEY,                -- ClientChannel, raw form "wc:hex"
                delivered      INTEGER NOT NULL CHECK (delivered >= 0),
                voucher_amount INTEGER NOT NULL CHECK (voucher_amount >= 0),
                voucher_sig    TEXT CHECK (voucher_sig IS NULL OR length(voucher_sig) = 128),
                redeemed       INTEGER NOT NULL CHECK (redeemed >= 0),
                updated_at     INTEGER NOT NULL,
                CHECK (voucher_amount <= delivered),
                CHECK (redeemed <= voucher_amount),
                CHECK ((voucher_sig IS NULL) = (voucher_amount = 0))
            ) WITHOUT ROWID`,
            `CREATE TABLE workers (
                address        TEXT PRIMARY KEY,                -- WorkerChannel, raw form "wc:hex"
                earned         INTEGER NOT NULL CHECK (earned >= 0),
                payout_amount  INTEGER NOT NULL CHECK (payout_amount >= 0),
                payout_sig     TEXT CHECK (payout_sig IS NULL OR length(payout_sig) = 128),
                updated_at     INTEGER NOT NULL,
                CHECK (payout_amount <= earned),
                CHECK ((payout_sig IS NULL) = (payout_amount = 0))
            ) WITHOUT ROWID`,
            `CREATE TABLE requests (
                request_id   TEXT PRIMARY KEY,
                client       TEXT NOT NULL REFERENCES clients(address),
                worker       TEXT NOT NULL REFERENCES workers(address),
                model_id     TEXT NOT NULL CHECK (length(model_id) = 64),   -- sha256(model name), hex
                cost         INTEGER NOT NULL CHECK (cost >= 0),
                worker_part  INTEGER NOT NULL CHECK (worker_part >= 0 AND worker_part <= cost),
                receipt      TEXT,                                          -- worker receipt, base64
                status       TEXT NOT NULL CHECK (status IN ('started', 'delivered', 'failed')),
                created_at   INTEGER NOT NULL,
                updated_at   INTEGER NOT NULL,
                CHECK ((status = 'delivered') = (receipt IS NOT NULL))
            ) WITHOUT ROWID`,
            `CREATE INDEX requests_by_client ON requests (client)`,
            `CREATE INDEX requests_by_worker ON requests (worker)`,
            `CREATE TABLE commits (
                seqno        INTEGER PRIMARY KEY CHECK (seqno >= 1),
                hash         TEXT NOT NULL CHECK (length(hash) = 64),       -- sha256 of the state, hex
                committed_at INTEGER NOT NULL,
                on_chain     INTEGER NOT NULL CHECK (on_chain IN (0, 1))
            )`,
            `CREATE TABLE settings (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) WITHOUT ROWID`,
        ],
    },
    {
        version: 2,
        statements: [
            // A delivered request is `settled` once a voucher is known to cover it: a voucher equal to the client's
            // delivered cost covers every delivery before it. Unsettled deliveries are re-sent to the client after
            // it reconnects (spec/proxy.md, "Unsettled receipts"); rows from version 1 count as settled.
            `ALTER TABLE requests ADD COLUMN settled INTEGER NOT NULL DEFAULT 1 CHECK (settled IN (0, 1))`,
            `CREATE INDEX requests_unsettled ON requests (client, updated_at) WHERE settled = 0`,
        ],
    },
    {
        version: 3,
        statements: [
            // Delivered cost booked without a request row: after an unclean shutdown (power loss inside a WAL flush
            // window) a client's voucher may exceed `delivered` by bookings that never reached the disk; that excess,
            // bounded per run, is booked here for the proxy (spec/ledger.md, "Power loss"). delivered = Σ cost + recovered.
            `ALTER TABLE clients ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0 CHECK (recovered >= 0)`,
        ],
    },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

// ---------------------------------------------------------------- statements (a fixed set, prepared once)

export function prepare(db: Database.Database) {
    return {
        schemaVersion: db.prepare('SELECT MAX(version) FROM schema_version').pluck(),
        getRequest: db.prepare('SELECT * FROM requests WHERE request_id = ?'),
        insertRequest: db.prepare(
            `INSERT INTO requests (request_id, client, worker, model_id, cost, worker_part, receipt, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ),
        deliverRequest: db.prepare(
            `UPDATE requests SET cost = ?, worker_part = ?, receipt = ?, status = 'delivered', settled = 0, updated_at = ?
             WHERE request_id = ? AND status = 'started'`,
        ),
        insertDelivered: db.prepare(
            `INSERT INTO requests (request_id, client, worker, model_id, cost, worker_part, receipt, status, settled, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'delivered', 0, ?, ?)`,
        ),
        settleAll: db.prepare('UPDATE requests SET settled = 1 WHERE client = ? AND settled = 0'),
        unsettled: db.prepare(
            `SELECT * FROM (SELECT * FROM requests WHERE client = ? AND settled = 0 ORDER BY updated_at DESC, request_id DESC LIMIT ?)
             ORDER BY updated_at, request_id`,
        ),
        failRequest: db.prepare(`UPDATE requests SET status = 'failed', updated_at = ? WHERE request_id = ? AND status = 'started'`),
        getClient: db.prepare('SELECT * FROM clients WHERE address = ?'),
        ensureClient: db.prepare(
            `INSERT OR IGNORE INTO clients (address, delivered, voucher_amount, voucher_sig, redeemed, updated_at) VALUES (?, 0, 0, NULL, 0, ?)`,
        ),
        setDelivered: db.prepare('UPDATE clients SET delivered = ?, updated_at = ? WHERE address = ?'),
        setRecovered: db.prepare('UPDATE clients SET delivered = ?, recovered = ?, updated_at = ? WHERE address = ?'),
        getSetting: db.prepare('SELECT value FROM settings WHERE key = ?').pluck(),
        putSetting: db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
        setVoucher: db.prepare('UPDATE clients SET voucher_amount = ?, voucher_sig = ?, updated_at = ? WHERE address = ?'),
        setRedeemed: db.prepare('UPDATE clients SET redeemed = ?, updated_at = ? WHERE address = ?'),
        redeemCandidates: db.prepare('SELECT * FROM clients WHERE voucher_amount - redeemed >= ? ORDER BY address LIMIT ?'),
        allClients: db.prepare(
            'SELECT * FROM clients WHERE delivered > 0 OR voucher_amount > 0 OR redeemed > 0 ORDER BY address',
        ),
        getWorker: db.prepare('SELECT * FROM workers WHERE address = ?'),
        ensureWorker: db.prepare(
            `INSERT OR IGNORE INTO workers (address, earned, payout_amount, payout_sig, updated_at) VALUES (?, 0, 0, NULL, ?)`,
        ),
        setEarned: db.prepare('UPDATE workers SET earned = ?, updated_at = ? WHERE address = ?'),
        setPayout: db.prepare('UPDATE workers SET payout_amount = ?, payout_sig = ?, updated_at = ? WHERE address = ?'),
        payoutCandidates: db.prepare('SELECT * FROM workers WHERE earned - payout_amount >= ? ORDER BY address LIMIT ?'),
        allWorkers: db.prepare('SELECT * FROM workers WHERE earned > 0 OR payout_amount > 0 ORDER BY address'),
        lastCommit: db.prepare('SELECT * FROM commits ORDER BY seqno DESC LIMIT 1'),
        lastConfirmedCommit: db.prepare('SELECT * FROM commits WHERE on_chain = 1 ORDER BY seqno DESC LIMIT 1'),
        getCommit: db.prepare('SELECT * FROM commits WHERE seqno = ?'),
        insertCommit: db.prepare('INSERT INTO commits (seqno, hash, committed_at, on_chain) VALUES (?, ?, ?, ?)'),
        confirmCommit: db.prepare('UPDATE commits SET on_chain = 1 WHERE seqno = ?'),
    };
}

// ---------------------------------------------------------------- schema and settings

export function migrate(db: Database.Database, clock: Clock): void {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const current = Number((db.prepare('SELECT MAX(version) FROM schema_version').pluck().get() as bigint | null) ?? 0n);
    if (current > LATEST_SCHEMA_VERSION) {
        throw new LedgerError('LEDGER_SCHEMA', `ledger schema ${current} is newer than this build supports (${LATEST_SCHEMA_VERSION})`, {
            found: current,
            supported: LATEST_SCHEMA_VERSION,
        });
    }
    for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        db.transaction(() => {
            for (const sql of m.statements) db.exec(sql);
            db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(m.version, clock.now());
        }).immediate();
    }
}

export function checkSettings(db: Database.Database, commissionBps: number): void {
    db.transaction(() => {
        const stored = db.prepare("SELECT value FROM settings WHERE key = 'commission_bps'").pluck().get() as string | undefined;
        if (stored === undefined) {
            db.prepare("INSERT INTO settings (key, value) VALUES ('commission_bps', ?)").run(String(commissionBps));
        } else if (stored !== String(commissionBps)) {
            throw new LedgerError('LEDGER_SETTINGS_MISMATCH', `commissionBps: the ledger was created with ${stored}, not ${commissionBps}`, {
                key: 'commissionBps',
                stored: Number(stored),
                given: commissionBps,
            });
        }
    }).immediate();
}
