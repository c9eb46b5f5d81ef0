// Live DCAP collateral (spec/attestation.md "Live collateral"): per platform (FMSPC + PCK CA) collateral fetched from a
// PCCS, verified, held in memory and optionally in a cache directory (atomic writes), refreshed before its nextUpdate
// with backoff on failure, served stale only within a grace with a warning, and refused after it. The verifier
// looks collateral up synchronously (CollateralSource); fetching happens in the background.
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { noLog, Log } from '../../log';
import { writeJsonAtomicAsync } from '../../state-file';
import { collateralWindow, ParsedCollateral } from '../collateral';
import { AttestationError, Collateral, CollateralSource, PckCa, SourcedCollateral } from '../types';
import { checkFetchedCollateral, normalizeFmspc, PccsClient, Platform } from './client';

export const CACHE_FILE_FORMAT = 'cocoon-collateral/1';
const MAX_CACHE_FILE_BYTES = 4 * 1024 * 1024;
const CACHE_FILE = /^([0-9A-F]{12})-(platform|processor)\.json$/;
/** Platforms held at most (FMSPCs come from verified PCK certificates: Intel has a few hundred). */
export const MAX_PLATFORMS = 256;

export interface CollateralServiceOptions {
    client: PccsClient;
    /** Roots the collateral must be signed under (the policy's trustedRootKeyIds). */
    trustedRootKeyIds: readonly string[];
    /** How long after nextUpdate stale collateral may still be served (with a warning). */
    graceMs: number;
    /** Directory for one verified file per platform, reloaded (and re-verified) at start. */
    cacheDir?: string;
    /** The clock of trust (issue 13 part 5 passes chain time); default the host clock. */
    clock?: () => Date;
    log?: Log;
    /** Refresh when this fraction of the collateral's window has passed (default 0.8). */
    refreshFraction?: number;
    /** Backoff after a failed or unchanged fetch: from retryMinMs doubling up to retryMaxMs (default 1 min .. 1 h). */
    retryMinMs?: number;
    retryMaxMs?: number;
    /** Background check interval (default 1 min); 0 = none (call tick()). */
    tickMs?: number;
}

interface Held {
    collateral: Collateral;
    notBefore: number;
    notAfter: number;
    /** Issue times of TCB info, QE identity, PCK CRL, root CA CRL (ms): never replaced by older ones. */
    issued: number[];
    staleWarned: boolean;
    expiredWarned: boolean;
}

interface Slot {
    platform: Platform;
    held?: Held;
    refreshAt: number;
    retryAt: number;
    failures: number;
    lastError?: string;
    inflight?: Promise<void>;
}

export interface PlatformStatus {
    fmspc: string;
    ca: PckCa;
    nextUpdate: string | null;
    refreshAt: string | null;
    failures: number;
    lastError: string | null;
}

const keyOf = (p: Platform) => `${p.fmspc}-${p.ca}`;
const issuedOf = (pc: ParsedCollateral) => [pc.tcbInfo.issueDate, pc.qeIdentity.issueDate, pc.pckCrl.thisUpdate, pc.rootCaCrl.thisUpdate].map((d) => d.getTime());

/** Writes to one cache file are serialised in this process (agents sharing a directory share the temporary file). */
const writing = new Map<string, Promise<void>>();

function writeCacheFile(path: string, value: unknown): Promise<void> {
    const next = (writing.get(path) ?? Promise.resolve()).catch(() => undefined).then(() => writeJsonAtomicAsync(path, value));
    writing.set(path, next);
    return next.finally(() => {
        if (writing.get(path) === next) writing.delete(path);
    });
}

export class CollateralService implements CollateralSource {
    generation = 0;
    private readonly slots = new Map<string, Slot>();
    private readonly clock: () => Date;
    private readonly log: Log;
    private readonly fraction: number;
    private readonly retryMinMs: number;
    private readonly retryMaxMs: number;
    private timer?: NodeJS.Timeout;

    constructor(private readonly o: CollateralServiceOptions) {
        if (!Number.isFinite(o.graceMs) || o.graceMs < 0) throw new RangeError('CollateralService: graceMs must be a non-negative number');
        this.clock = o.clock ?? (() => new Date());
        this.log = o.log ?? noLog;
        this.fraction = o.refreshFraction ?? 0.8;
        if (!(this.fraction > 0 && this.fraction < 1)) throw new RangeError('CollateralService: refreshFraction must be in (0, 1)');
        this.retryMinMs = o.retryMinMs ?? 60_000;
        this.retryMaxMs = o.retryMaxMs ?? 3600_000;
    }

    /** Loads the cache directory, fetches the given platforms (failures are logged, not thrown) and starts the background check. */
    async start(platforms: Platform[] = []): Promise<void> {
        this.loadCache();
        await Promise.all(platforms.map((p) => this.refresh(p).catch(() => undefined)));
        const tickMs = this.o.tickMs ?? 60_000;
        if (tickMs > 0 && !this.timer) {
            // the clock of trust throws while the chain is out of reach: that tick is skipped
            this.timer = setInterval(() => void this.tick().catch(() => undefined), tickMs);
            this.timer.unref();
        }
    }

    close(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }

    /** Collateral for the verifier (synchronous). Unknown platforms are fetched in the background. */
    collateralFor(fmspc: string, ca: PckCa, at: Date): SourcedCollateral {
        const platform = { fmspc: normalizeFmspc(fmspc), ca };
        const slot = this.slot(platform);
        const held = slot.held;
        if (!held) {
            this.kick(slot);
            throw new AttestationError('COLLATERAL_UNAVAILABLE', `no collateral yet for FMSPC ${platform.fmspc} (${ca} CA)${slot.lastError ? `: ${slot.lastError}` : ''}`, { ...platform, lastError: slot.lastError ?? null });
        }
        const t = at.getTime();
        if (t > held.notAfter) {
            this.kick(slot);
            const details = { ...platform, nextUpdate: new Date(held.notAfter).toISOString(), graceMs: this.o.graceMs, at: at.toISOString(), lastError: slot.lastError ?? null };
            if (t > held.notAfter + this.o.graceMs) {
                if (!held.expiredWarned) this.log('collateral.expired-refused', { code: 'COLLATERAL_EXPIRED', ...details });
                held.expiredWarned = true;
                throw new AttestationError('COLLATERAL_EXPIRED', `collateral for FMSPC ${platform.fmspc} expired at ${details.nextUpdate} and the grace is over; the PCCS has not provided newer`, details);
            }
            if (!held.staleWarned) {
                held.staleWarned = true;
                this.log('collateral.stale', details);
            }
        }
        return { collateral: held.collateral, graceMs: this.o.graceMs };
    }

    /** Starts every due refresh (not yet fetched, past refreshAt, or retry due); resolves when they have finished. */
    async tick(): Promise<void> {
        const now = this.clock().getTime();
        const due = [...this.slots.values()].filter((s) => !s.inflight && now >= s.retryAt && (!s.held || now >= s.refreshAt));
        await Promise.all(due.map((s) => this.refresh(s.platform).catch(() => undefined)));
    }

    /** Fetches, verifies and keeps one platform's collateral; throws the AttestationError of a failed fetch (recorded for backoff). */
    refresh(platform: Platform): Promise<void> {
        let slot: Slot;
        try {
            slot = this.slot({ fmspc: normalizeFmspc(platform.fmspc), ca: platform.ca });
        } catch (e) {
            return Promise.reject(e);
        }
        slot.inflight ??= this.fetchInto(slot).finally(() => (slot.inflight = undefined));
        return slot.inflight;
    }

    status(): PlatformStatus[] {
        const iso = (t?: number) => (t === undefined ? null : new Date(t).toISOString());
        return [...this.slots.values()].map((s) => ({
            ...s.platform,
            nextUpdate: iso(s.held?.notAfter),
            refreshAt: iso(s.held ? s.refreshAt : undefined),
            failures: s.failures,
            lastError: s.lastError ?? null,
        }));
    }

    private slot(platform: Platform): Slot {
        const k = keyOf(platform);
        let s = this.slots.get(k);
        if (!s) {
            if (this.slots.size >= MAX_PLATFORMS) throw new AttestationError('COLLATERAL_UNAVAILABLE', `collateral is held for ${MAX_PLATFORMS} platforms already`, { ...platform });
            this.slots.set(k, (s = { platform, refreshAt: 0, retryAt: 0, failures: 0 }));
        }
        return s;
    }

    private kick(slot: Slot): void {
        if (!slot.inflight && this.clock().getTime() >= slot.retryAt) void this.refresh(slot.platform).catch(() => undefined);
    }

    private async fetchInto(slot: Slot): Promise<void> {
        const now = this.clock();
        const fields = { ...slot.platform, pccs: this.o.client.baseUrl };
        try {
            const { collateral, parsed } = await this.o.client.fetchCollateral(slot.platform, this.o.trustedRootKeyIds, now, this.o.graceMs);
            const changed = this.keep(slot, collateral, parsed);
            if (changed) {
                slot.failures = 0;
                slot.retryAt = 0;
                slot.lastError = undefined;
                this.log('collateral.refreshed', { ...fields, nextUpdate: new Date(slot.held!.notAfter).toISOString(), refreshAt: new Date(slot.refreshAt).toISOString() });
                if (this.o.cacheDir) {
                    // a full disk costs the restart cache, not the collateral just verified
                    await writeCacheFile(join(this.o.cacheDir, `${keyOf(slot.platform)}.json`), { format: CACHE_FILE_FORMAT, ...slot.platform, collateral }).catch((e: Error) =>
                        this.log('collateral.cache-write-failed', { ...fields, message: e.message }),
                    );
                }
            } else {
                // The PCCS has nothing newer yet: ask again later, backing off.
                this.backoff(slot, now.getTime());
            }
        } catch (e) {
            const err = e instanceof AttestationError ? e : new AttestationError('COLLATERAL_UNAVAILABLE', (e as Error).message);
            slot.lastError = `${err.code}: ${err.message}`;
            this.backoff(slot, now.getTime());
            this.log('collateral.refresh-failed', { ...fields, code: err.code, message: err.message, failures: slot.failures, retryAt: new Date(slot.retryAt).toISOString() });
            throw err;
        }
    }

    private backoff(slot: Slot, now: number): void {
        slot.failures++;
        slot.retryAt = now + Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(slot.failures - 1, 30));
    }

    /** Keeps verified collateral if it is newer (no item older than what is held, one newer); refuses a rollback. */
    private keep(slot: Slot, collateral: Collateral, parsed: ParsedCollateral): boolean {
        const issued = issuedOf(parsed);
        const held = slot.held;
        if (held) {
            if (issued.some((t, i) => t < held.issued[i])) {
                throw new AttestationError('COLLATERAL_INVALID', 'PCCS served collateral older than the collateral held (rollback refused)', { ...slot.platform });
            }
            if (issued.every((t, i) => t === held.issued[i])) return false;
        }
        const w = collateralWindow(parsed);
        slot.held = { collateral, notBefore: w.notBefore, notAfter: w.notAfter, issued, staleWarned: false, expiredWarned: false };
        slot.refreshAt = w.notBefore + Math.floor((w.notAfter - w.notBefore) * this.fraction);
        this.generation++;
        return true;
    }

    /** Reads the cache directory: each file is verified like a PCCS response; bad files are logged and ignored. */
    private loadCache(): void {
        const dir = this.o.cacheDir;
        if (!dir) return;
        let names: string[];
        try {
            names = readdirSync(dir);
        } catch {
            return; // created at the first write
        }
        for (const name of names) {
            const m = CACHE_FILE.exec(name);
            if (!m) continue;
            const platform: Platform = { fmspc: m[1], ca: m[2] as PckCa };
            try {
                const path = join(dir, name);
                if (statSync(path).size > MAX_CACHE_FILE_BYTES) throw new Error(`larger than ${MAX_CACHE_FILE_BYTES} bytes`);
                const file = JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown; collateral?: Collateral };
                if (file.format !== CACHE_FILE_FORMAT) throw new Error(`not a ${CACHE_FILE_FORMAT} file`);
                const parsed = checkFetchedCollateral(file.collateral as Collateral, platform, this.o.trustedRootKeyIds, this.clock(), this.o.graceMs);
                this.keep(this.slot(platform), file.collateral as Collateral, parsed);
            } catch (e) {
                this.log('collateral.cache-skipped', { ...platform, file: name, code: e instanceof AttestationError ? e.code : undefined, message: (e as Error).message });
            }
        }
    }
}
