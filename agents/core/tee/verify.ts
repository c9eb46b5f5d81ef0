// DCAP verification of TDX quotes against an explicit policy (spec/attestation.md "Verification steps").
// Synchronous (node:crypto only), so it can run inside a TLS 'secureConnection' handler before any byte moves.
// Every rejection is an AttestationError with exactly one stable code; no other exception escapes.
import { createHash, createPublicKey, KeyObject, verify as cryptoVerify } from 'crypto';
import { isP256, isSignedBy, OID_ECDSA_SHA256, OID_SGX_EXTENSION, ParsedCert, parseCertDer, parsePckExtension, pemToDer, rootKeyIdOf } from './certs';
import { checkCollateralTime, collateralWindow, evaluateCollateral, ParsedCollateral, parseCollateral, PckContext, TCB_STATUSES } from './collateral';
import { imageHash } from './image';
import { isDebugTd, parseQuote } from './quote';
import { AttestationError, AttestationErrorCode, Collateral, CollateralSource, ParsedQuote, PckCa, SourcedCollateral, TcbStatus, VerifiedQuote, VerifyPolicy } from './types';

export const DEFAULT_ACCEPTED_TCB_STATUSES: readonly TcbStatus[] = ['UpToDate'];

function fail(code: AttestationErrorCode, message: string, details?: Record<string, unknown>): never {
    throw new AttestationError(code, message, details);
}

/** Runs `fn`; any exception that is not already an AttestationError becomes one with `code`. */
function guard<T>(code: AttestationErrorCode, what: string, fn: () => T): T {
    try {
        return fn();
    } catch (e) {
        if (e instanceof AttestationError) throw e;
        throw new AttestationError(code, `${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
}

// ---- policy ----

interface NormalizedPolicy {
    trustedRootKeyIds: Set<string>;
    at: Date;
    collateral?: Collateral;
    collateralSource?: CollateralSource;
    requireCollateral: boolean;
    acceptedTcbStatuses: Set<TcbStatus>;
    allowedTdAttributes?: Set<string>;
    allowedXfam?: Set<string>;
    allowedImageHashes?: Set<string>;
}

function hexList(v: unknown, key: string, bytes: number): Set<string> | undefined {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) fail('POLICY_INVALID', `policy.${key} must be an array of hex strings`);
    const out = new Set<string>();
    for (const x of v) {
        const s = typeof x === 'string' ? x.trim().toLowerCase().replace(/^0x/, '') : '';
        if (s.length !== bytes * 2 || !/^[0-9a-f]*$/.test(s)) fail('POLICY_INVALID', `policy.${key} entries must be ${bytes} bytes of hex`, { value: x });
        out.add(s);
    }
    return out;
}

/** Validates a policy; throws AttestationError POLICY_INVALID naming the offending key. */
export function normalizePolicy(policy: VerifyPolicy): NormalizedPolicy {
    if (typeof policy !== 'object' || policy === null) fail('POLICY_INVALID', 'policy must be an object');
    const roots = hexList(policy.trustedRootKeyIds, 'trustedRootKeyIds', 48);
    if (!roots || roots.size === 0) fail('POLICY_INVALID', 'policy.trustedRootKeyIds must list at least one root key id (there is no trust-anything mode)');
    if (!(policy.at instanceof Date) || Number.isNaN(policy.at.getTime())) fail('POLICY_INVALID', 'policy.at must be a valid Date');
    if (typeof policy.requireCollateral !== 'boolean') fail('POLICY_INVALID', 'policy.requireCollateral must be a boolean');
    const accepted = policy.acceptedTcbStatuses ?? DEFAULT_ACCEPTED_TCB_STATUSES;
    if (!Array.isArray(accepted) || accepted.length === 0) fail('POLICY_INVALID', 'policy.acceptedTcbStatuses must be a non-empty array');
    for (const s of accepted) {
        if (!(TCB_STATUSES as readonly string[]).includes(s)) fail('POLICY_INVALID', `policy.acceptedTcbStatuses: unknown status ${JSON.stringify(s)}`);
        if (s === 'Revoked') fail('POLICY_INVALID', 'policy.acceptedTcbStatuses must not accept Revoked');
    }
    const source = policy.collateralSource;
    if (source !== undefined && (typeof source !== 'object' || source === null || typeof source.collateralFor !== 'function')) fail('POLICY_INVALID', 'policy.collateralSource must be a collateral source');
    if (source !== undefined && policy.collateral !== undefined && policy.collateral !== null) fail('POLICY_INVALID', 'policy.collateral and policy.collateralSource exclude each other');
    const tdAttrs = hexList(policy.allowedTdAttributes, 'allowedTdAttributes', 8);
    for (const a of tdAttrs ?? []) {
        if (Buffer.from(a, 'hex')[0] & 1) fail('POLICY_INVALID', `policy.allowedTdAttributes: ${a} has the debug bit set; debug TDs are never accepted`);
    }
    return {
        trustedRootKeyIds: roots,
        at: policy.at,
        collateral: policy.collateral,
        collateralSource: source,
        requireCollateral: policy.requireCollateral,
        acceptedTcbStatuses: new Set(accepted),
        allowedTdAttributes: tdAttrs,
        allowedXfam: hexList(policy.allowedXfam, 'allowedXfam', 8),
        allowedImageHashes: hexList(policy.allowedImageHashes, 'allowedImageHashes', 32),
    };
}

// ---- steps ----

interface CheckedChain extends PckContext {
    rootKeyId: string;
}

/** Step: PCK chain leaf <- PCK CA <- root, root key trusted, signatures, CA flags, validity at `at`, SGX extension. */
function checkPckChain(q: ParsedQuote, policy: NormalizedPolicy): CheckedChain {
    const bad = (message: string, details?: Record<string, unknown>): never => fail('PCK_CHAIN_INVALID', message, details);
    if (q.pckChainPem.length !== 3) bad(`PCK chain must be [PCK cert, PCK CA, root], got ${q.pckChainPem.length} certificates`);
    const [leaf, intermediate, root] = q.pckChainPem.map((pem, i) => guard('PCK_CHAIN_INVALID', `PCK chain certificate ${i}`, () => parseCertDer(pemToDer(pem)))) as [ParsedCert, ParsedCert, ParsedCert];
    for (const [name, c] of [['PCK certificate', leaf], ['PCK CA', intermediate], ['root', root]] as const) {
        if (!isP256(c.publicKey)) bad(`${name} key is not EC P-256`);
        if (c.signatureAlgorithm !== OID_ECDSA_SHA256) bad(`${name} is not signed with ecdsa-with-SHA256`);
    }
    const rootKeyId = guard('PCK_CHAIN_INVALID', 'root key', () => rootKeyIdOf(root.publicKey));
    if (!policy.trustedRootKeyIds.has(rootKeyId)) fail('UNTRUSTED_ROOT', `PCK chain root key ${rootKeyId} is not a trusted root`, { rootKeyId });
    const signed = (c: ParsedCert, issuer: ParsedCert) => guard('PCK_CHAIN_INVALID', 'certificate signature', () => isSignedBy(c, issuer));
    if (!signed(root, root)) bad('root certificate is not self-signed');
    if (!signed(intermediate, root)) bad('PCK CA certificate is not signed by the root');
    if (!signed(leaf, intermediate)) bad('PCK certificate is not signed by the PCK CA');
    if (!root.ca || !intermediate.ca) bad('root and PCK CA must be CA certificates');
    if (leaf.ca) bad('PCK certificate must not be a CA certificate');
    for (const [name, c] of [['PCK certificate', leaf], ['PCK CA', intermediate], ['root', root]] as const) {
        if (policy.at < c.notBefore || policy.at > c.notAfter) {
            bad(`${name} is not valid at ${policy.at.toISOString()}`, { notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString() });
        }
    }
    const ext = leaf.extensions.get(OID_SGX_EXTENSION);
    if (!ext) fail('PCK_CHAIN_INVALID', 'PCK certificate lacks the SGX extension');
    const pck = guard('PCK_CHAIN_INVALID', 'SGX extension', () => parsePckExtension(ext.value));
    return { leaf, intermediate, root, pck, rootKeyId };
}

/** Step: QE report signed by the PCK key; QE report data binds the attestation key; QE is not a debug enclave. */
function checkQeReport(q: ParsedQuote, leafKey: KeyObject): void {
    const ok = guard('QE_REPORT_SIGNATURE', 'QE report signature', () =>
        cryptoVerify('sha256', q.qeReport.raw, { key: leafKey, dsaEncoding: 'ieee-p1363' }, q.qeReportSignature),
    );
    if (!ok) fail('QE_REPORT_SIGNATURE', 'QE report is not signed by the PCK certificate key');
    const expected = createHash('sha256').update(q.attestationKey).update(q.qeAuthData).digest();
    const rd = q.qeReport.reportData;
    if (!rd.subarray(0, 32).equals(expected) || rd.subarray(32).some((b) => b !== 0)) {
        fail('QE_REPORT_DATA', 'QE report data is not SHA-256(attestation key || QE auth data) || 0^32');
    }
    if (q.qeReport.attributes[0] & 0x02) fail('QE_IDENTITY', 'the quoting enclave is a debug enclave');
}

/** Step: the header+body signature with the attestation key (P-256, raw r||s). */
function checkQuoteSignature(q: ParsedQuote): void {
    const key = guard('QUOTE_SIGNATURE', 'attestation key is not a P-256 point', () =>
        createPublicKey({
            key: { kty: 'EC', crv: 'P-256', x: q.attestationKey.subarray(0, 32).toString('base64url'), y: q.attestationKey.subarray(32).toString('base64url') },
            format: 'jwk',
        }),
    );
    const ok = guard('QUOTE_SIGNATURE', 'quote signature', () => cryptoVerify('sha256', q.signedRegion, { key, dsaEncoding: 'ieee-p1363' }, q.signature));
    if (!ok) fail('QUOTE_SIGNATURE', 'quote header and body are not signed by the attestation key');
}

/** Step: debug bit (always), TDATTRIBUTES and XFAM allowlists (policy). */
function checkTdPolicy(q: ParsedQuote, policy: NormalizedPolicy): void {
    if (isDebugTd(q.body)) fail('DEBUG_TD', 'the TD is a debug TD (TDATTRIBUTES bit 0): the host can read its memory', { tdAttributes: q.body.tdAttributes.toString('hex') });
    const attrs = q.body.tdAttributes.toString('hex');
    if (policy.allowedTdAttributes && !policy.allowedTdAttributes.has(attrs)) fail('TD_ATTRIBUTES', `TDATTRIBUTES ${attrs} not allowed by policy`, { tdAttributes: attrs });
    const xfam = q.body.xfam.toString('hex');
    if (policy.allowedXfam && !policy.allowedXfam.has(xfam)) fail('XFAM', `XFAM ${xfam} not allowed by policy`, { xfam });
}

/** A verified quote and the time window (ms since epoch) over which the same verdict holds. */
export interface VerificationResult {
    verified: VerifiedQuote;
    notBefore: number;
    notAfter: number;
}

/** verifyQuote plus the validity window of the verdict (used by VerificationCache). */
export function verifyQuoteDetailed(quote: Buffer | Uint8Array, policy: VerifyPolicy): VerificationResult {
    const p = normalizePolicy(policy);
    const q = parseQuote(quote);

    // Collateral presence, shape and time window come first, so an expired collateral set reports
    // COLLATERAL_EXPIRED whatever else is wrong with the time (as @phala/dcap-qvl orders it).
    let pc: ParsedCollateral | undefined;
    let stale = false;
    if (p.collateral !== undefined && p.collateral !== null) {
        pc = guard('COLLATERAL_INVALID', 'collateral', () => parseCollateral(p.collateral));
        checkCollateralTime(pc, p.at);
    } else if (p.requireCollateral && !p.collateralSource) {
        fail('COLLATERAL_MISSING', 'policy requires collateral (TCB info, QE identity, CRLs) and none was given');
    }

    const chain = checkPckChain(q, p);
    // A collateral source is asked for the platform the verified PCK certificate names (FMSPC and PCK CA).
    let graceMs = 0;
    if (p.collateralSource) {
        const got = sourced(p.collateralSource, chain.pck.fmspc.toString('hex').toUpperCase(), pckCaOf(chain.intermediate), p.at);
        graceMs = got.graceMs;
        pc = guard('COLLATERAL_INVALID', 'collateral', () => parseCollateral(got.collateral));
        stale = checkCollateralTime(pc, p.at, graceMs).stale;
    }
    checkQeReport(q, chain.leaf.publicKey);
    checkQuoteSignature(q);
    checkTdPolicy(q, p);

    let notBefore = Math.max(chain.leaf.notBefore.getTime(), chain.intermediate.notBefore.getTime(), chain.root.notBefore.getTime());
    let notAfter = Math.min(chain.leaf.notAfter.getTime(), chain.intermediate.notAfter.getTime(), chain.root.notAfter.getTime());
    let tcbStatus: TcbStatus | undefined;
    let advisoryIds: string[] = [];
    if (pc) {
        const collateral = pc;
        const v = guard('COLLATERAL_INVALID', 'collateral evaluation', () => evaluateCollateral(collateral, q, chain, p.at));
        if (!p.acceptedTcbStatuses.has(v.tcbStatus)) {
            fail('TCB_STATUS', `TCB status ${v.tcbStatus} is not accepted by policy`, { tcbStatus: v.tcbStatus, advisoryIds: v.advisoryIds, accepted: [...p.acceptedTcbStatuses] });
        }
        tcbStatus = v.tcbStatus;
        advisoryIds = v.advisoryIds;
        // A stale verdict holds only inside the grace; a fresh one only until the earliest nextUpdate.
        const w = collateralWindow(pc);
        notBefore = Math.max(notBefore, stale ? w.notAfter + 1 : w.notBefore, v.notBefore);
        notAfter = Math.min(notAfter, stale ? w.notAfter + graceMs : w.notAfter, v.notAfter);
    }

    const image = imageHash(q.body);
    if (p.allowedImageHashes && !p.allowedImageHashes.has(image.toString('hex'))) {
        fail('IMAGE_NOT_ALLOWED', `image hash ${image.toString('hex')} is not in the allowlist`, { imageHash: image.toString('hex') });
    }
    return {
        verified: {
            quote: q,
            imageHash: image,
            rootKeyId: chain.rootKeyId,
            debug: false,
            tcbStatus,
            advisoryIds,
            fmspc: chain.pck.fmspc.toString('hex'),
            ...(stale ? { collateralStale: true } : {}),
        },
        notBefore,
        notAfter,
    };
}

/** The PCK CA of a PCK chain: Intel names it "... PCK Processor CA" or "... PCK Platform CA". */
export function pckCaOf(intermediate: ParsedCert): PckCa {
    return intermediate.subjectRaw.includes('Processor CA') ? 'processor' : 'platform';
}

function sourced(source: CollateralSource, fmspc: string, ca: PckCa, at: Date): SourcedCollateral {
    const got = guard('COLLATERAL_UNAVAILABLE', 'collateral source', () => source.collateralFor(fmspc, ca, at));
    if (typeof got !== 'object' || got === null || !Number.isFinite(got.graceMs) || got.graceMs < 0) fail('COLLATERAL_UNAVAILABLE', 'collateral source returned nothing usable', { fmspc, ca });
    return got;
}

/**
 * Verifies a TDX quote against `policy`: PCK chain to a trusted root key, QE report signature and data binding,
 * quote signature, debug bit, TD attributes / XFAM, collateral (TCB info, QE identity, CRLs, TCB status) and the
 * image allowlist. Returns the verified quote or throws AttestationError with the code of the first failed step.
 */
export function verifyQuote(quote: Buffer | Uint8Array, policy: VerifyPolicy): VerifiedQuote {
    return verifyQuoteDetailed(quote, policy).verified;
}

/** Best-effort inspection for reports (CLI): root key id of the quote's chain, without trusting it. */
export function inspectRootKeyId(q: ParsedQuote): string | undefined {
    try {
        const root = parseCertDer(pemToDer(q.pckChainPem[q.pckChainPem.length - 1]));
        return rootKeyIdOf(root.publicKey);
    } catch {
        return undefined;
    }
}

// ---- verification cache ----

const collateralDigests = new WeakMap<object, string>();

function collateralDigest(c: Collateral | undefined): string | null {
    if (c === undefined || c === null) return null;
    if (typeof c !== 'object') return 'invalid';
    const hit = collateralDigests.get(c);
    if (hit) return hit;
    const h = createHash('sha256');
    for (const k of ['pck_crl_issuer_chain', 'root_ca_crl', 'pck_crl', 'tcb_info_issuer_chain', 'tcb_info', 'tcb_info_signature', 'qe_identity_issuer_chain', 'qe_identity', 'qe_identity_signature'] as const) {
        h.update(`${k}=${JSON.stringify((c as unknown as Record<string, unknown>)[k])};`);
    }
    const d = h.digest('hex');
    collateralDigests.set(c, d);
    return d;
}

const sourceIds = new WeakMap<object, number>();
let nextSourceId = 1;

function sourceId(source: CollateralSource): number {
    let id = sourceIds.get(source);
    if (id === undefined) sourceIds.set(source, (id = nextSourceId++));
    return id;
}

/** Fingerprint of everything in a policy except `at` (the cache checks `at` against the verdict's window). */
export function policyFingerprint(policy: VerifyPolicy): string {
    const sorted = (v?: readonly string[]) => (v ? [...v].map((s) => String(s).toLowerCase().replace(/^0x/, '')).sort() : null);
    return createHash('sha256')
        .update(
            JSON.stringify({
                roots: sorted(policy.trustedRootKeyIds),
                requireCollateral: policy.requireCollateral,
                accepted: sorted(policy.acceptedTcbStatuses ?? DEFAULT_ACCEPTED_TCB_STATUSES),
                tdAttributes: sorted(policy.allowedTdAttributes),
                xfam: sorted(policy.allowedXfam),
                images: sorted(policy.allowedImageHashes),
                collateral: collateralDigest(policy.collateral),
                source: policy.collateralSource ? `${sourceId(policy.collateralSource)}:${policy.collateralSource.generation}` : null,
            }),
        )
        .digest('hex');
}

export interface VerificationCacheOptions {
    /** How long a successful verdict is reused (ms). */
    ttlMs: number;
    /** Bound on entries; the least recently used is evicted first. Default 1024. */
    maxEntries?: number;
    /** Clock (ms since epoch) for TTL bookkeeping; defaults to Date.now. */
    now?: () => number;
}

interface CacheEntry {
    result: VerifiedQuote;
    expiresAt: number;
    notBefore: number;
    notAfter: number;
}

/**
 * Cache of successful verdicts keyed by SHA-256(quote) + policy fingerprint (cocoon's AttestationCache idea).
 * A hit needs: the entry younger than ttlMs, and policy.at inside the window where every certificate and
 * collateral item involved is valid — so a cached verdict never outlives what a fresh verification would accept.
 * Rejections are not cached (each is recomputed; they are cheap and may depend on time).
 */
export class VerificationCache {
    private readonly entries = new Map<string, CacheEntry>();
    private readonly ttlMs: number;
    private readonly maxEntries: number;
    private readonly now: () => number;
    hits = 0;
    misses = 0;

    constructor(opts: VerificationCacheOptions) {
        if (!Number.isFinite(opts.ttlMs) || opts.ttlMs < 0) throw new RangeError('VerificationCache: ttlMs must be a non-negative number');
        this.ttlMs = opts.ttlMs;
        this.maxEntries = opts.maxEntries ?? 1024;
        if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError('VerificationCache: maxEntries must be a positive integer');
        this.now = opts.now ?? Date.now;
    }

    static key(quote: Buffer | Uint8Array, policy: VerifyPolicy): string {
        return `${createHash('sha256').update(quote).digest('hex')}:${policyFingerprint(policy)}`;
    }

    /** A cached verdict for this quote and policy, if still valid. */
    get(quote: Buffer | Uint8Array, policy: VerifyPolicy): VerifiedQuote | undefined {
        normalizePolicy(policy);
        return this.lookup(VerificationCache.key(quote, policy), policy.at.getTime());
    }

    private lookup(key: string, at: number): VerifiedQuote | undefined {
        const e = this.entries.get(key);
        if (!e) return undefined;
        if (this.now() >= e.expiresAt) {
            this.entries.delete(key);
            return undefined;
        }
        if (!(at >= e.notBefore && at <= e.notAfter)) return undefined;
        this.entries.delete(key); // refresh the LRU position
        this.entries.set(key, e);
        return e.result;
    }

    /** Returns the cached verdict or verifies (throwing AttestationError on rejection) and caches success. */
    verify(quote: Buffer | Uint8Array, policy: VerifyPolicy): VerifiedQuote {
        normalizePolicy(policy); // POLICY_INVALID before anything is hashed
        if (!(quote instanceof Uint8Array)) return verifyQuote(quote, policy); // throws QUOTE_MALFORMED
        const key = VerificationCache.key(quote, policy);
        const cached = this.lookup(key, policy.at.getTime());
        if (cached) {
            this.hits++;
            return cached;
        }
        this.misses++;
        const r = verifyQuoteDetailed(quote, policy);
        this.entries.set(key, { result: r.verified, expiresAt: this.now() + this.ttlMs, notBefore: r.notBefore, notAfter: r.notAfter });
        while (this.entries.size > this.maxEntries) {
            const oldest = this.entries.keys().next().value as string;
            this.entries.delete(oldest);
        }
        return r.verified;
    }

    get size(): number {
        return this.entries.size;
    }

    clear(): void {
        this.entries.clear();
    }
}
