// The ledger's SQLite schema as forward-only migrations (spec/ledger.md, "Schema").
//
// A migration is applied at most once, in its own transaction together with its row in `schema_version`,
// so a crash mid-migration leaves the previous version intact. Migrations are never edited once released;
// a change is a new migration with the next version number.

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
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
