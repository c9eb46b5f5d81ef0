// The client's durable state (spec/client.md, "State file"): per channel, the latest cumulative voucher it signed.
//
// Money rule: the voucher is written (atomically, fsynced; on the libuv threadpool, so other streams keep flowing)
// BEFORE it is sent, so after a crash the client never signs
// a cumulative amount below one the proxy may already hold, and never forgets what it owes. The file names the
// client key it belongs to; a file of another key is refused instead of being overwritten.
import { z } from 'zod';
import { readJsonFile, writeJsonAtomicAsync } from '../core/state-file';
import { ClientError } from './errors';

export const CLIENT_STATE_VERSION = 1;

export interface ChannelRecord {
    /** The Proxy contract the channel pays (raw address). */
    proxy: string;
    /** Cumulative nanoTON of the latest signed voucher (0 before the first). */
    cumulative: bigint;
    /** Hex Ed25519 signature of voucherPayload(channel, cumulative, globalId); null before the first voucher. */
    signature: string | null;
    /** Unix ms of the last write. */
    updatedAt: number;
}

const decimal = z.string().regex(/^(0|[1-9][0-9]{0,39})$/, 'not a decimal nanoTON amount');
const RecordSchema = z
    .object({
        proxy: z.string().regex(/^-?[0-9]+:[0-9a-f]{64}$/, 'not a raw address'),
        cumulative: decimal,
        signature: z.string().regex(/^[0-9a-f]{128}$/, 'not a 64-byte hex signature').nullable(),
        updatedAt: z.number().int().nonnegative(),
    })
    .strict();
const FileSchema = z
    .object({
        version: z.literal(CLIENT_STATE_VERSION),
        clientKey: z.string().regex(/^[0-9a-f]{64}$/),
        channels: z.record(z.string().regex(/^-?[0-9]+:[0-9a-f]{64}$/), RecordSchema),
        /** nanoTON sent by automatic top-ups and failover deposits over the file's life (the autoTopUp budget). */
        topUpSpent: decimal.optional(),
    })
    .strict();

/** One JSON file, loaded once, rewritten whole on every change (writes are serialised). */
export class ClientStateStore {
    private queue: Promise<unknown> = Promise.resolve();

    private constructor(
        readonly path: string,
        readonly clientKey: string,
        private readonly channels: Map<string, ChannelRecord>,
        private spent: bigint,
    ) {}

    /** Loads the file (a missing file is an empty state). Throws STATE_INVALID for a corrupt file or another key's. */
    static load(path: string, clientKeyHex: string): ClientStateStore {
        let raw: unknown;
        try {
            raw = readJsonFile(path);
        } catch (e) {
            throw new ClientError('STATE_INVALID', `state file ${path} is not readable JSON: ${(e as Error).message}`, { path });
        }
        if (raw === undefined) return new ClientStateStore(path, clientKeyHex, new Map(), 0n);
        const r = FileSchema.safeParse(raw);
        if (!r.success) {
            const i = r.error.issues[0];
            throw new ClientError('STATE_INVALID', `state file ${path}: ${i.path.join('.') || '(root)'}: ${i.message}`, { path });
        }
        if (r.data.clientKey !== clientKeyHex) {
            throw new ClientError('STATE_INVALID', `state file ${path} belongs to client key ${r.data.clientKey}, not ${clientKeyHex}`, { path });
        }
        const channels = new Map<string, ChannelRecord>();
        for (const [ch, rec] of Object.entries(r.data.channels)) channels.set(ch, { ...rec, cumulative: BigInt(rec.cumulative) });
        return new ClientStateStore(path, clientKeyHex, channels, BigInt(r.data.topUpSpent ?? '0'));
    }

    /** Every channel record (raw channel address → record). */
    entries(): [string, ChannelRecord][] {
        return [...this.channels].map(([k, r]) => [k, { ...r }]);
    }

    /** nanoTON the automatic top-ups (and failover deposits) have sent so far: what the autoTopUp budget has spent. */
    get topUpSpent(): bigint {
        return this.spent;
    }

    /**
     * Counts `amount` against the budget and writes the file; resolves once durable. Called before the top-up is sent,
     * so a crash in between under-uses the budget rather than exceeding it.
     */
    addTopUpSpent(amount: bigint): Promise<void> {
        const run = this.queue.then(async () => {
            const next = this.spent + amount;
            await writeJsonAtomicAsync(this.path, this.serialize(this.channels, next));
            this.spent = next;
        });
        this.queue = run.catch(() => undefined);
        return run;
    }

    get(channel: string): ChannelRecord | undefined {
        const r = this.channels.get(channel);
        return r ? { ...r } : undefined;
    }

    /**
     * Sets a channel's record and writes the file; resolves once it is durable. A cumulative below the stored one
     * is refused (vouchers only grow).
     */
    put(channel: string, rec: Omit<ChannelRecord, 'updatedAt'>, now: number = Date.now()): Promise<void> {
        const run = this.queue.then(async () => {
            const prev = this.channels.get(channel);
            if (prev && rec.cumulative < prev.cumulative) {
                throw new ClientError('STATE_INVALID', `cumulative voucher would go down (${prev.cumulative} -> ${rec.cumulative})`, { channel });
            }
            const next = new Map(this.channels);
            next.set(channel, { ...rec, updatedAt: now });
            await writeJsonAtomicAsync(this.path, this.serialize(next));
            // Only after the write: memory never claims more than the disk holds.
            this.channels.set(channel, { ...rec, updatedAt: now });
        });
        this.queue = run.catch(() => undefined);
        return run;
    }

    private serialize(channels: Map<string, ChannelRecord>, spent: bigint = this.spent) {
        const out: Record<string, unknown> = {};
        for (const [ch, r] of channels) out[ch] = { proxy: r.proxy, cumulative: r.cumulative.toString(), signature: r.signature, updatedAt: r.updatedAt };
        return { version: CLIENT_STATE_VERSION, clientKey: this.clientKey, channels: out, ...(spent > 0n ? { topUpSpent: spent.toString() } : {}) };
    }
}
