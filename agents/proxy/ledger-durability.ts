// The ledger's durability beyond SQLite's own (spec/ledger.md, "Durability" and "Power loss"): the WAL sync that
// makes committed writes survive a power loss without blocking the event loop, and the run marker and recovery
// budget that let a client's voucher cover bookings a power loss took.
import { FileHandle, open as openFile } from 'fs/promises';
import { dirname } from 'path';

/** settings key: 'open' while a run has the file, 'closed' after close(); 'open' at open = an unclean shutdown. */
export const RUN_MARKER = 'run';

/**
 * fdatasync of the WAL on the libuv threadpool. WAL frames are appended in commit order, so one sync covers every
 * earlier commit. One sync runs at a time; calls during it share the next one (a sync that started before a commit
 * does not cover it).
 */
export class WalSync {
    private flushing?: Promise<void>;
    private queued?: Promise<void>;
    private dirSynced = false;
    private closed = false;
    /**
     * The WAL, opened once per run (saves an open and a close per flush). SQLite keeps the file (and its inode) while
     * its connection is open: it is reset in place after checkpoints and deleted only when the last connection closes.
     */
    private handle?: FileHandle;

    /** `walPath` undefined: an in-memory ledger, nothing to sync. */
    constructor(private readonly walPath: string | undefined) {}

    flush(): Promise<void> {
        if (!this.walPath) return Promise.resolve();
        if (!this.flushing) {
            this.flushing = this.sync().finally(() => (this.flushing = undefined));
            return this.flushing;
        }
        if (!this.queued) {
            this.queued = this.flushing
                .catch(() => undefined)
                .then(() => {
                    this.queued = undefined;
                    return this.flush();
                });
        }
        return this.queued;
    }

    /** The database closed (SQLite checkpointed and synced it): later flushes resolve at once. */
    close(): void {
        this.closed = true;
        this.handle?.close().catch(() => undefined); // after a sync in flight, if any
        this.handle = undefined;
    }

    private async sync(): Promise<void> {
        // A closed ledger was checkpointed and synced by SQLite; no WAL file means nothing is waiting in one.
        if (this.closed) return;
        if (!this.handle) {
            let fh: FileHandle;
            try {
                fh = await openFile(this.walPath!, 'r');
            } catch (e) {
                if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
                throw e;
            }
            if (this.closed) return void (await fh.close());
            this.handle = fh;
        }
        await this.handle.datasync();
        if (!this.dirSynced) {
            // The WAL's directory entry, once per run (SQLite in NORMAL does not sync it on creation).
            const dir = await openFile(dirname(this.walPath!), 'r');
            try {
                await dir.sync();
            } finally {
                await dir.close();
            }
            this.dirSynced = true;
        }
    }
}

/**
 * After an unclean shutdown, a voucher may exceed `delivered` by bookings a power loss took: up to `allowance` per
 * client in this run (Ledger.acceptVoucher). A clean start allows nothing.
 */
export class RecoveryBudget {
    private readonly used = new Map<string, bigint>();

    constructor(
        readonly uncleanStart: boolean,
        private readonly allowance: bigint,
    ) {}

    /** What `client` may still have booked as recovered cost in this run. */
    left(client: string): bigint {
        return this.uncleanStart ? this.allowance - (this.used.get(client) ?? 0n) : 0n;
    }

    spend(client: string, excess: bigint): void {
        if (excess > 0n) this.used.set(client, (this.used.get(client) ?? 0n) + excess);
    }
}
