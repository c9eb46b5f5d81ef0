// A long-lived secret kept on the host's disk only as a sealed blob (spec/attestation.md "Sealed secrets", "In the
// agents"): generated inside the TD at first start, sealed through the key service, and opened through it at every
// later start. The blob file is what the host sees; the secret exists only in the TD's memory. Opening grants a
// lease (one live holder per blob) that `keepLease` renews while the agent runs and releases when it stops.
import { randomBytes } from 'crypto';
import { readFileSync } from 'fs';
import { Address } from '@ton/core';
import type { Log } from '../log';
import { parseBlob } from './blob';
import { writeFileAtomic } from '../state-file';
import { KeyLease, KeysError, KeyServiceClient, SealRole } from './types';

/** A blob is a few hundred bytes (spec/attestation.md "Sealed secrets"); a larger file is not one. */
export const MAX_SEALED_FILE_BYTES = 4096;

export interface SealedSecretOptions {
    /** The blob file (created with mode 0600 when missing). */
    file: string;
    client: KeyServiceClient;
    role: SealRole;
    /**
     * The owner the blob is sealed for; or, for a secret that names its own owner (a wallet key owns the wallet's
     * address), the owner derived from the secret: a new secret is sealed for ownerOf(secret), an existing blob is
     * opened for the owner its header names and refused (KEYS_UNSEAL_FAILED) unless its secret derives that owner.
     */
    owner: Address | ((secret: Buffer) => Address);
    name: string;
    /** Bytes of a new secret (1..128). */
    size: number;
    /**
     * A key service inside its start-up quiet period answers KEYS_STARTING: wait up to this long (ms, default 0 = do
     * not wait), asking again every `retryMs` (default 1000).
     */
    waitStartingMs?: number;
    retryMs?: number;
    sleep?: (ms: number) => Promise<void>;
    log?: Log;
}

export interface SealedSecret {
    secret: Buffer;
    /** Whether this call generated the secret and wrote the blob file. */
    created: boolean;
    lease: KeyLease;
    /** Opens the blob again through the same client (the same holder): a lease the service forgot is taken anew. */
    reopen(): Promise<KeyLease>;
}

/**
 * Opens the blob in `file`, or, when there is none, generates a secret, seals it, opens the new blob (which takes the
 * lease and proves the round trip) and only then writes the file: a failure anywhere leaves the disk unchanged.
 */
export async function loadOrCreateSealedSecret(o: SealedSecretOptions): Promise<SealedSecret> {
    const existing = readBlob(o.file);
    const derive = typeof o.owner === 'function' ? o.owner : undefined;
    const fresh = existing === undefined ? randomBytes(o.size) : undefined;
    const owner = !derive ? (o.owner as Address) : existing !== undefined ? parseBlob(existing).owner : derive(fresh!);
    const expect = { role: o.role, owner, name: o.name };
    const reopener = (blob: Buffer, secret: Buffer) => async () => {
        const again = await o.client.unseal(blob, expect);
        if (!again.secret.equals(secret)) throw new KeysError('KEYS_UNSEAL_FAILED', 'the key service opened the blob to another secret', { file: o.file });
        return again.lease;
    };
    if (existing !== undefined) {
        const { secret, lease } = await whileStarting(o, () => o.client.unseal(existing, expect));
        if (derive && !derive(secret).equals(owner)) {
            await lease.release().catch(() => undefined);
            throw new KeysError('KEYS_UNSEAL_FAILED', `the secret in ${o.file} does not derive the owner its blob names (${owner.toRawString()})`, { file: o.file });
        }
        o.log?.('keys.unsealed', { file: o.file, role: o.role, name: o.name, lease: lease.id });
        return { secret, created: false, lease, reopen: reopener(existing, secret) };
    }
    const blob = await o.client.seal({ ...expect, secret: fresh! });
    const { secret, lease } = await whileStarting(o, () => o.client.unseal(blob, expect));
    if (!secret.equals(fresh!)) {
        await lease.release().catch(() => undefined);
        throw new KeysError('KEYS_UNSEAL_FAILED', 'the key service opened the new blob to another secret', { file: o.file });
    }
    writeFileAtomic(o.file, blob);
    o.log?.('keys.sealed', { file: o.file, role: o.role, name: o.name, lease: lease.id });
    return { secret, created: true, lease, reopen: reopener(blob, secret) };
}

async function whileStarting<T>(o: SealedSecretOptions, f: () => Promise<T>): Promise<T> {
    const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    let waited = 0;
    for (;;) {
        try {
            return await f();
        } catch (e) {
            const retryMs = o.retryMs ?? 1000;
            if (!(e instanceof KeysError) || e.code !== 'KEYS_STARTING' || waited + retryMs > (o.waitStartingMs ?? 0)) throw e;
            o.log?.('keys.starting-wait', { file: o.file, waitedMs: waited });
            await sleep(retryMs);
            waited += retryMs;
        }
    }
}

/** The blob in `file`, or undefined when there is no such file. */
function readBlob(file: string): Buffer | undefined {
    let blob: Buffer;
    try {
        blob = readFileSync(file);
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new KeysError('KEYS_BAD_REQUEST', `cannot read the sealed file ${file}: ${(e as Error).message}`, { file });
    }
    if (blob.length === 0 || blob.length > MAX_SEALED_FILE_BYTES) {
        throw new KeysError('KEYS_BAD_REQUEST', `${file} is not a sealed blob (${blob.length} bytes; at most ${MAX_SEALED_FILE_BYTES})`, { file });
    }
    return blob;
}

export interface LeaseKeeper {
    stop(): Promise<void>;
}

/** A lease an agent keeps while it runs: the lease, how to take it anew, how often to renew it. */
export type LeaseToKeep = Pick<KeepLeaseOptions, 'renewMs' | 'reopen'> & { lease: KeyLease };

export interface KeepLeaseOptions {
    /** Renewal period (default 20 s, a third of the service's default lease). */
    renewMs?: number;
    /** Takes the lease anew when the service no longer knows it (it restarted, or the lease lapsed). */
    reopen?: () => Promise<KeyLease>;
    /** Another TD holds the lease now: the holder must stop using the secret. Called once; renewals end. */
    onLost?: (e: KeysError) => void;
    log?: Log;
}

/**
 * Renews `lease` every `renewMs` until stop(), which releases it. By the service's answer:
 * - unreachable or any other failure: logged (`keys.renew-failed`), the agent keeps its secret: while the service
 *   cannot renew our lease it cannot grant anyone else one either;
 * - KEYS_NO_LEASE / KEYS_STARTING (the service restarted and forgot its leases, or ours lapsed): `reopen` takes it
 *   anew, at once or at a later tick once the service's quiet period (one lease duration) is over;
 * - KEYS_LEASE_HELD (another TD took the lease after ours lapsed): `onLost`, and renewals end.
 */
export function keepLease(lease: KeyLease, o: KeepLeaseOptions = {}): LeaseKeeper {
    let stopped = false;
    let current = lease;
    let pending: Promise<void> = Promise.resolve();
    const code = (e: unknown) => (e instanceof KeysError ? e.code : undefined);
    const lost = (e: KeysError) => {
        clearInterval(timer);
        o.log?.('keys.lease-refused', { lease: current.id, code: e.code, error: e.message });
        o.onLost?.(e);
    };
    const tick = async () => {
        try {
            await current.renew();
            return;
        } catch (e) {
            if (code(e) === 'KEYS_LEASE_HELD') return lost(e as KeysError);
            if (!o.reopen || (code(e) !== 'KEYS_NO_LEASE' && code(e) !== 'KEYS_STARTING')) {
                o.log?.('keys.renew-failed', { lease: current.id, code: code(e), error: (e as Error).message });
                return;
            }
        }
        try {
            current = await o.reopen();
            o.log?.('keys.lease-reopened', { lease: current.id });
        } catch (e) {
            if (code(e) === 'KEYS_LEASE_HELD') return lost(e as KeysError);
            o.log?.('keys.renew-failed', { lease: current.id, code: code(e), error: (e as Error).message });
        }
    };
    const timer = setInterval(() => {
        if (!stopped) pending = pending.then(tick);
    }, o.renewMs ?? 20_000);
    timer.unref();
    return {
        async stop() {
            if (stopped) return;
            stopped = true;
            clearInterval(timer);
            await pending;
            await current.release().catch((e) => o.log?.('keys.release-failed', { lease: current.id, error: (e as Error).message }));
        },
    };
}

/** The secret as the proxy and worker use it: exactly 32 bytes. */
export const SEED_BYTES = 32;

/** keepLease for each lease given, under its name (e.g. `seed`, `wallet`); one stop() releases them all. */
export function keepLeases(held: Record<string, LeaseToKeep | undefined>, o: { onLost: (what: string, e: KeysError) => void; log?: Log }): LeaseKeeper {
    const keepers = Object.entries(held).flatMap(([what, l]) => (l ? [keepLease(l.lease, { renewMs: l.renewMs, reopen: l.reopen, onLost: (e) => o.onLost(what, e), log: o.log })] : []));
    return { stop: async () => void (await Promise.all(keepers.map((k) => k.stop()))) };
}
