// GPU evidence verification (spec/attestation.md "GPU evidence"): verifyGpuEvidence runs the checks in order and the
// first failure throws GpuAttestationError with its code; nothing after it runs. gpuNonceFor binds the evidence to
// the TD that asked for it.
import { createHash, verify as cryptoVerify } from 'crypto';
import { pemToDer } from '../certs';
import { splitPemChain } from '../quote';
import { OID_TCG_DICE_FWID, pemChainDers, summarize, verifyGpuChain } from './chain';
import { GPU_NONCE_BYTES, parseGpuReport } from './report';
import { verifyRim } from './rim';
import { GoldenMeasurement, GpuAttestationError, GpuPolicy, GpuVerdict, ParsedGpuReport, RimSource, VerifiedRim } from './types';

import { normalizeSerialHex } from '../der';

/** Golden index NVIDIA skips when the report says NVDEC0 is disabled (opaque NVDEC0_STATUS = 0x55). */
export const NVDEC0_GOLDEN_INDEX = 35;
export const NVDEC0_DISABLED = 0x55;
export const MAX_RIMS = 256;
export const GPU_NONCE_TAG = 'cocoon-gpu-nonce/1';

/**
 * The GPU nonce a worker must request: SHA-256(tag ‖ 0x00 ‖ u16be(len(key)) ‖ key ‖ freshness). `workerKey` is the
 * worker's attested RA-TLS public key (the one its TDX quote's REPORTDATA commits to), so a report made for one TD
 * names a nonce no other TD's key produces; `freshness` (e.g. the verifier's challenge) keeps it from being replayed.
 */
export function gpuNonceFor(workerKey: Buffer, freshness: Buffer = Buffer.alloc(0)): Buffer {
    if (!Buffer.isBuffer(workerKey) || workerKey.length === 0 || workerKey.length > 0xffff) throw new GpuAttestationError('GPU_POLICY_INVALID', 'worker key must be 1..65535 bytes');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(workerKey.length);
    return createHash('sha256').update(GPU_NONCE_TAG).update(Buffer.from([0])).update(len).update(workerKey).update(freshness).digest();
}

function policyError(message: string): GpuAttestationError {
    return new GpuAttestationError('GPU_POLICY_INVALID', message);
}

function rootDer(pem: unknown, what: string): Buffer {
    if (typeof pem !== 'string') throw policyError(`${what} must be PEM text`);
    let blocks: string[];
    try {
        blocks = splitPemChain(Buffer.from(pem, 'latin1'));
    } catch (e) {
        throw policyError(`${what}: ${(e as Error).message}`);
    }
    if (blocks.length !== 1) throw policyError(`${what} must hold exactly one certificate`);
    return pemToDer(blocks[0]);
}

/** Result of comparing the report's blocks with the golden values of two RIMs. */
export interface MeasurementComparison {
    matched: number;
    total: number;
    mismatches: number[]; // golden indexes, ascending
}

/**
 * Every active golden measurement of the driver and VBIOS RIM compared with the report's block of index + 1 (NVIDIA
 * numbers golden values from 0 and SPDM blocks from 1): equal to one of the alternatives and of the golden size.
 * An index active in both RIMs is a conflict and counts as a mismatch. Index 35 is skipped when NVDEC0 is disabled.
 */
export function compareMeasurements(report: ParsedGpuReport, driver: GoldenMeasurement[], vbios: GoldenMeasurement[]): MeasurementComparison {
    const golden = new Map<number, GoldenMeasurement>();
    const conflicts = new Set<number>();
    for (const g of [...driver, ...vbios]) {
        if (!g.active) continue;
        if (golden.has(g.index)) conflicts.add(g.index);
        golden.set(g.index, g);
    }
    const blocks = new Map(report.blocks.map((b) => [b.index, b.value]));
    let matched = 0;
    let total = 0;
    const mismatches: number[] = [];
    for (const [index, g] of [...golden].sort((a, b) => a[0] - b[0])) {
        if (index === NVDEC0_GOLDEN_INDEX && report.nvdec0Status === NVDEC0_DISABLED) continue;
        total++;
        const actual = blocks.get(index + 1);
        if (!conflicts.has(index) && actual !== undefined && actual.length === g.size && g.values.some((v) => v.equals(actual))) matched++;
        else mismatches.push(index);
    }
    return { matched, total, mismatches };
}

/** The candidates for one version that verify; the first failure is kept to report when none does. */
function pickRim(candidates: RimSource[], version: string, kind: 'driver' | 'VBIOS', policy: GpuPolicy, rimRoot: Buffer, revoked?: Set<string>): { source: RimSource; rim: VerifiedRim }[] {
    const out: { source: RimSource; rim: VerifiedRim }[] = [];
    let firstError: GpuAttestationError | undefined;
    let sawVersion = false;
    for (const source of candidates) {
        if (!rimVersionHint(source.xml, version)) continue;
        sawVersion = true;
        try {
            const rim = verifyRim(source.xml, source.name, rimRoot, policy.at, revoked);
            if (rim.version === version) out.push({ source, rim });
        } catch (e) {
            if (!(e instanceof GpuAttestationError)) throw e;
            firstError ??= e;
        }
    }
    if (out.length === 0 && firstError) throw firstError;
    if (out.length === 0) throw new GpuAttestationError('GPU_RIM_MISSING', `no ${sawVersion ? 'valid ' : ''}${kind} RIM for version ${version}`, { kind, version });
    return out;
}

/** Cheap pre-filter before a signature check: the text names the version (the verified value decides). */
function rimVersionHint(xml: string, version: string): boolean {
    return typeof xml === 'string' && xml.toLowerCase().includes(`colloquialversion="${version}"`);
}

/**
 * Verifies GPU evidence (the report bytes and the PEM chain the driver returned, leaf first) against `policy`:
 *  0 policy well formed (GPU_POLICY_INVALID)     1 report parses (GPU_REPORT_MALFORMED)
 *  2 device chain up to the pinned device root at policy.at; FWID of the leaf = the report's (GPU_CHAIN_INVALID,
 *    GPU_CERT_EXPIRED, GPU_CERT_REVOKED)
 *  3 request nonce = policy.nonce when given (GPU_NONCE_MISMATCH)
 *  4 response signature: P-384 / SHA-384 over request ‖ response without the signature (GPU_SIGNATURE_INVALID)
 *  5 driver and VBIOS RIM for the report's versions, each signed up to the pinned RIM root (GPU_RIM_MISSING,
 *    GPU_RIM_INVALID, GPU_CERT_REVOKED)
 *  6 every active golden measurement equals the report's block (GPU_MEASUREMENT_MISMATCH)
 * `progress`, when given, receives the verdict's fields as the steps that establish them pass, so a caller can show
 * how far rejected evidence got (the CLI prints them).
 */
export function verifyGpuEvidence(report: Buffer | Uint8Array, chainPem: string | Buffer, policy: GpuPolicy, progress: Partial<GpuVerdict> = {}): GpuVerdict {
    if (!policy || typeof policy !== 'object') throw policyError('policy must be an object');
    const deviceRoot = rootDer(policy.deviceRootPem, 'deviceRootPem');
    const rimRoot = rootDer(policy.rimRootPem, 'rimRootPem');
    if (!(policy.at instanceof Date) || Number.isNaN(policy.at.getTime())) throw policyError('at must be a valid Date');
    if (policy.nonce !== undefined && (!Buffer.isBuffer(policy.nonce) || policy.nonce.length !== GPU_NONCE_BYTES)) throw policyError(`nonce must be ${GPU_NONCE_BYTES} bytes`);
    if (!Array.isArray(policy.rims) || policy.rims.length > MAX_RIMS) throw policyError(`rims must be a list of at most ${MAX_RIMS}`);
    let revoked: Set<string> | undefined;
    if (policy.revoked !== undefined) {
        if (!Array.isArray(policy.revoked?.serials) || policy.revoked.serials.some((s) => typeof s !== 'string' || !/^[0-9a-fA-F]{1,64}$/.test(s))) throw policyError('revoked.serials must be hex strings');
        revoked = new Set(policy.revoked.serials.map(normalizeSerialHex));
    }

    const parsed = parseGpuReport(report);

    const ders = pemChainDers(chainPem, 'GPU_CHAIN_INVALID', 'device chain');
    const { chain } = verifyGpuChain(ders, deviceRoot, policy.at, { invalid: 'GPU_CHAIN_INVALID', expired: 'GPU_CERT_EXPIRED' }, 'device chain', revoked);
    const leaf = chain[0];
    progress.certificates = { device: chain.map(summarize), driverRim: [], vbiosRim: [] };
    if (parsed.fwid) {
        const ext = leaf.extensions.get(OID_TCG_DICE_FWID);
        if (!ext || ext.value.length < 48 || !ext.value.subarray(ext.value.length - 48).equals(parsed.fwid)) {
            throw new GpuAttestationError('GPU_CHAIN_INVALID', "device chain: the leaf certificate's FWID is not the firmware the report names");
        }
    }

    if (policy.nonce && !policy.nonce.equals(parsed.requestNonce)) {
        throw new GpuAttestationError('GPU_NONCE_MISMATCH', 'the report answers another nonce', { expected: policy.nonce.toString('hex'), actual: parsed.requestNonce.toString('hex') });
    }

    if (!cryptoVerify('sha384', parsed.signed, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, parsed.signature)) {
        throw new GpuAttestationError('GPU_SIGNATURE_INVALID', 'the measurement response is not signed by the attestation key of the device chain');
    }

    const drivers = pickRim(policy.rims, parsed.driverVersion.toLowerCase(), 'driver', policy, rimRoot, revoked);
    progress.certificates.driverRim = drivers[0].rim.certificates;
    const vbioses = pickRim(policy.rims, parsed.vbiosVersion, 'VBIOS', policy, rimRoot, revoked);
    progress.certificates.vbiosRim = vbioses[0].rim.certificates;
    // Several signed RIMs may carry one version (e.g. per board); the report must match one pair completely.
    let best: { d: (typeof drivers)[0]; v: (typeof vbioses)[0]; cmp: MeasurementComparison } | undefined;
    for (const d of drivers) {
        for (const v of vbioses) {
            const cmp = compareMeasurements(parsed, d.rim.measurements, v.rim.measurements);
            if (!best || cmp.mismatches.length < best.cmp.mismatches.length) best = { d, v, cmp };
        }
    }
    const { d, v, cmp } = best!;
    const verdict: GpuVerdict = {
        driverVersion: parsed.driverVersion,
        vbiosVersion: parsed.vbiosVersion,
        project: parsed.project,
        projectSku: parsed.projectSku,
        chipSku: parsed.chipSku,
        nonce: parsed.requestNonce.toString('hex'),
        nonceChecked: policy.nonce !== undefined,
        revocation: revoked ? 'checked' : 'not-checked',
        measurements: cmp,
        certificates: { device: chain.map(summarize), driverRim: d.rim.certificates, vbiosRim: v.rim.certificates },
        rims: { driver: { name: d.source.name, tagId: d.rim.tagId }, vbios: { name: v.source.name, tagId: v.rim.tagId } },
    };
    Object.assign(progress, verdict);
    if (cmp.mismatches.length > 0 || cmp.total === 0) {
        throw new GpuAttestationError('GPU_MEASUREMENT_MISMATCH', `golden measurement index ${cmp.mismatches.join(', ') || '(none active)'} differs from the report`, { mismatches: cmp.mismatches, matched: cmp.matched, total: cmp.total });
    }
    return verdict;
}
