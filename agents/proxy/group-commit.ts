// Group commit of the ledger writes that money needs (deliveries, vouchers): see GroupCommit.durably; and the
// background WAL flush behind every batch (spec/ledger.md, "Durable before what").
import { Ledger } from './ledger';
import { ProxyError } from './errors';

export class GroupCommit {
    /** Ledger writes waiting for the next group commit (durably()). */
    private writes: { op: () => void; settle: (e: unknown) => void }[] = [];

    constructor(private readonly ledger: () => Ledger | undefined) {}

    /**
     * Group commit: the ledger writes that money needs (deliveries, vouchers) queue here and run together, each in
     * its own savepoint, in one SQLite transaction per event-loop turn. Each caller learns its own outcome once the
     * batch is committed: it survives a process crash (the WAL is in the OS cache), which is all a response_end
     * needs. A flush of the WAL (power loss) starts behind every batch off the event loop; what acknowledges money to
     * another party awaits flushed().
     */
    durably(op: () => void): Promise<void> {
        return new Promise<void>((resolve, reject) => {
            this.writes.push({ op, settle: (e) => (e === undefined ? resolve() : reject(e)) });
            if (this.writes.length === 1) setImmediate(() => this.flush());
        });
    }

    /**
     * Resolves once everything committed so far survives a power loss (Ledger.flush); rejects when the sync failed
     * or the ledger is closed.
     */
    flushed(): Promise<void> {
        const ledger = this.ledger();
        return ledger ? ledger.flush() : Promise.reject(new ProxyError('PROXY_NOT_STARTED', 'the ledger is closed'));
    }

    /** Runs the queued writes now (stop(): what was delivered is booked before the ledger closes). */
    flushPending(): void {
        if (this.writes.length > 0) this.flush();
    }

    private flush(): void {
        const batch = this.writes;
        this.writes = [];
        const errors: unknown[] = batch.map(() => undefined);
        try {
            const ledger = this.ledger();
            if (!ledger) throw new ProxyError('PROXY_NOT_STARTED', 'the ledger is closed');
            ledger.batch(() => {
                batch.forEach((w, i) => {
                    try {
                        w.op();
                    } catch (e) {
                        errors[i] = e ?? new Error('ledger write failed');
                    }
                });
            });
        } catch (e) {
            for (const w of batch) w.settle(e ?? new Error('ledger batch failed'));
            return;
        }
        batch.forEach((w, i) => w.settle(errors[i]));
        // Bounds the power-loss window to about one fdatasync; a failed sync is retried by the next batch or waiter.
        this.flushed().catch(() => undefined);
    }
}
