// Group commit of the ledger writes that money needs (deliveries, vouchers): see GroupCommit.durably.
import { Ledger } from './ledger';
import { ProxyError } from './errors';

export class GroupCommit {
    /** Ledger writes waiting for the next group commit (durably()). */
    private writes: { op: () => void; settle: (e: unknown) => void }[] = [];

    constructor(private readonly ledger: () => Ledger | undefined) {}

    /**
     * Group commit: the ledger writes that money needs (deliveries, vouchers) queue here and run together, each in
     * its own savepoint, in one SQLite transaction per event-loop turn — one fsync for the batch instead of one per
     * write. Each caller learns its own outcome only after the batch is durable, so nothing is acknowledged early.
     */
    durably(op: () => void): Promise<void> {
        return new Promise<void>((resolve, reject) => {
            this.writes.push({ op, settle: (e) => (e === undefined ? resolve() : reject(e)) });
            if (this.writes.length === 1) setImmediate(() => this.flush());
        });
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
    }
}
