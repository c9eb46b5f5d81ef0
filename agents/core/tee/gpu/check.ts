// A peer's check of a worker's GPU evidence (spec/attestation.md, "GPU evidence in the chain of evidence"): the
// bundle its RA-TLS certificate carries, every GPU verified with the peer's trust (device and RIM roots, RIMs,
// revocation input) at the clock of trust, with nonce = gpuNonceFor(the certificate's key). Verdicts are cached per
// (bundle, key) so a hot path does not re-run XML-DSig for every request.
import { createHash } from 'crypto';
import { decodeGpuBundle } from './bundle';
import { NVIDIA_DEVICE_ROOT_PEM, NVIDIA_RIM_ROOT_PEM } from './roots';
import { GpuAttestationError, GpuVerdict, RimSource } from './types';
import { gpuNonceFor, verifyGpuEvidence } from './verify';

/** What a peer trusts of GPU evidence: roots pinned byte for byte, candidate RIMs, revoked serials (undefined: not checked). */
export interface GpuTrust {
    deviceRootPem: string;
    rimRootPem: string;
    rims: RimSource[];
    revoked?: { serials: string[] };
}

/** NVIDIA's roots and no RIMs: real evidence is GPU_RIM_MISSING until an operator names a RIM directory. */
export const DEFAULT_GPU_TRUST: GpuTrust = { deviceRootPem: NVIDIA_DEVICE_ROOT_PEM, rimRootPem: NVIDIA_RIM_ROOT_PEM, rims: [] };

export const DEFAULT_GPU_CACHE_TTL_MS = 10 * 60_000;
export const MAX_GPU_CACHE_ENTRIES = 1024;

export interface GpuEvidenceCheckerOptions {
    /** The clock of trust (chain time in the agents); may throw when it has none: the check fails closed. */
    clock?: () => Date;
    cacheTtlMs?: number;
}

type Entry = { until: number; verdicts?: GpuVerdict[]; error?: GpuAttestationError };

export class GpuEvidenceChecker {
    private readonly cache = new Map<string, Entry>();
    private readonly clock: () => Date;
    private readonly ttlMs: number;
    /** Full verifications run (not cache hits): for tests and metrics. */
    verifications = 0;

    constructor(
        readonly trust: GpuTrust = DEFAULT_GPU_TRUST,
        o: GpuEvidenceCheckerOptions = {},
    ) {
        this.clock = o.clock ?? (() => new Date());
        this.ttlMs = o.cacheTtlMs ?? DEFAULT_GPU_CACHE_TTL_MS;
    }

    /**
     * Every GPU of `bundle` (the certificate extension) verified for `workerKey`; the first failure throws its
     * GpuAttestationError with `details.gpu`. A verdict is reused until the TTL or the earliest device certificate
     * notAfter, whichever comes first; a rejection until the TTL.
     */
    verify(bundle: Buffer, workerKey: Buffer): GpuVerdict[] {
        const at = this.clock();
        const now = at.getTime();
        const key = `${createHash('sha256').update(bundle).digest('hex')}:${workerKey.toString('hex')}`;
        const hit = this.cache.get(key);
        if (hit && hit.until > now) {
            if (hit.error) throw hit.error;
            return hit.verdicts!;
        }
        this.verifications++;
        const entry: Entry = { until: now + this.ttlMs };
        try {
            const nonce = gpuNonceFor(workerKey);
            const policy = { ...this.trust, at, nonce };
            entry.verdicts = decodeGpuBundle(bundle).map((e, gpu) => {
                try {
                    return verifyGpuEvidence(e.report, e.chainPem, policy);
                } catch (err) {
                    if (err instanceof GpuAttestationError) throw new GpuAttestationError(err.code, `GPU ${gpu}: ${err.message}`, { ...(err.details ?? {}), gpu });
                    throw err;
                }
            });
            for (const v of entry.verdicts) for (const c of v.certificates.device) entry.until = Math.min(entry.until, new Date(c.notAfter).getTime());
        } catch (err) {
            if (!(err instanceof GpuAttestationError)) throw err;
            entry.error = err;
        }
        if (this.cache.size >= MAX_GPU_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(key, entry);
        if (entry.error) throw entry.error;
        return entry.verdicts!;
    }
}

/** Why a worker may not serve a model whose Root record says `requireGpu`, or null (GPU evidence not required, or verified). */
export function gpuRefusal(peer: { gpuEvidence?: Buffer; cert: { publicKey: Buffer } }, requireGpu: boolean, checker: GpuEvidenceChecker): { message: string; gpuCode?: string } | null {
    if (!requireGpu) return null;
    if (!peer.gpuEvidence) return { message: 'the model requires GPU evidence and the worker certificate carries none' };
    try {
        checker.verify(peer.gpuEvidence, peer.cert.publicKey);
        return null;
    } catch (e) {
        if (e instanceof GpuAttestationError) return { message: `the worker's GPU evidence is refused: ${e.code}: ${e.message}`, gpuCode: e.code };
        const code = (e as { code?: unknown }).code;
        return { message: `the worker's GPU evidence cannot be judged: ${(e as Error).message}`, ...(typeof code === 'string' ? { gpuCode: code } : {}) };
    }
}
