// Verification of a peer's RA-TLS certificate (spec/attestation.md, "RA-TLS"). Synchronous, so that the TLS
// server can run it inside 'secureConnection' before the HTTP layer reads a byte.
import { createHash, verify as verifySignature } from 'crypto';
import { AttestationError, TcbStatus, VerifiedQuote, VerifyPolicy } from '../tee/types';
import { normalizePolicy, VerificationCache } from '../tee/verify';
import {
    derTotalLength,
    KNOWN_CRITICAL_EXTENSIONS,
    MAX_CERT_BYTES,
    MAX_QUOTE_BYTES,
    OID_GPU_EVIDENCE,
    OID_TDX_QUOTE,
    OID_USER_CLAIMS,
    OID_WORKER_CONFIG,
    parseCertDer,
    spkiKeyObject,
} from './cert';
import { claimsReportData, decodeClaims, RaTlsClaims } from './claims';
import { decodeWorkerConfig, MAX_WORKER_CONFIG_BYTES, WorkerConfigDoc, workerConfigHash } from './worker-config';
import { decodeGpuBundle, gpuBundleHash } from '../tee/gpu/bundle';
import { GpuAttestationError } from '../tee/gpu/types';

/** `verifyQuote` of ../tee/verify.ts, usually behind a VerificationCache. Throws AttestationError. */
export type QuoteVerifyFn = (quote: Buffer, policy: VerifyPolicy) => VerifiedQuote;

/** What a side demands of its peer. */
export interface PeerPolicy {
    /** Quote policy (trusted roots, collateral, TCB statuses, TD attributes, XFAM); `at` is the verifier's clock. */
    quote: Omit<VerifyPolicy, 'at'>;
    /**
     * Image-hash allowlist (hex, lowercase), e.g. Root's proxy or worker image list. Called after every
     * cryptographic check has passed. There is no default: a caller that wants any image must say so.
     */
    isImageAllowed: (imageHashHex: string) => boolean;
    /** Longest certificate validity accepted (notAfter - notBefore); default 7 days. */
    maxCertLifetimeMs?: number;
    /** Require an HPKE key in the claims (a client talking to a worker end to end). */
    requireHpkeKey?: boolean;
}

export interface PeerMeasurements {
    mrTd: string;
    mrConfigId: string;
    mrOwner: string;
    mrOwnerConfig: string;
    rtmr: [string, string, string, string];
    tdAttributes: string;
    xfam: string;
    mrSeam: string;
}

/** The verified attestation of a peer, attached to its connection. */
export interface PeerAttestation {
    imageHash: string;
    rootKeyId: string;
    measurements: PeerMeasurements;
    claims: RaTlsClaims;
    /** The worker configuration the claims bind (version-2 claims), decoded. */
    workerConfig?: WorkerConfigDoc;
    /** The GPU evidence bundle (extension 1.3.6.1.4.1.12345.4) the configuration names: well formed, not yet verified (tee/gpu/check.ts). */
    gpuEvidence?: Buffer;
    tcbStatus?: TcbStatus;
    advisoryIds: string[];
    /** The collateral was past its nextUpdate, used within the configured grace (spec/attestation.md "Live collateral"). */
    collateralStale?: boolean;
    quoteHash: string; // SHA-256 of the quote bytes, hex
    cert: { serialHex: string; notBefore: Date; notAfter: Date; publicKey: Buffer };
}

export interface PeerVerifierOptions {
    /** Quote verification; default `cache.verify` of a VerificationCache (below). */
    verifyQuote?: QuoteVerifyFn;
    /** Cache of quote verdicts (keyed by quote hash + policy); default one per verifier with `cacheTtlMs`. */
    cache?: VerificationCache;
    /** TTL of the default cache; default 10 minutes. */
    cacheTtlMs?: number;
    clock?: () => Date;
    /** Told of every verification: null when it passed, else the error code (an agent's metrics). */
    observe?: (code: string | null) => void;
}

export const DEFAULT_VERIFICATION_CACHE_TTL_MS = 10 * 60_000;

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const DEFAULT_MAX_LIFETIME_MS = 7 * 24 * 3600_000;

function invalid(message: string, details?: Record<string, unknown>): AttestationError {
    return new AttestationError('CERT_INVALID', message, details);
}

interface AsnExtension {
    extnID: string;
    critical?: boolean;
    extnValue: { buffer: ArrayBuffer };
}

/** The extensions as @peculiar/asn1-x509 parsed them (X509Certificate keeps its ASN.1 model in `asn`). */
function asnExtensions(cert: object): AsnExtension[] {
    const exts = (cert as { asn?: { tbsCertificate?: { extensions?: AsnExtension[] } } }).asn?.tbsCertificate?.extensions ?? [];
    for (const e of exts) {
        if (typeof e?.extnID !== 'string' || typeof e.extnValue?.buffer?.byteLength !== 'number') throw new Error('unexpected extension structure');
    }
    return exts;
}

/** The tbsCertificate TLV of a certificate DER (first element of the outer SEQUENCE). */
function tbsOf(der: Buffer): Buffer {
    const hdr = der[1] < 0x80 ? 2 : 2 + (der[1] & 0x7f);
    const inner = der.subarray(hdr);
    const len = derTotalLength(inner);
    if (inner[0] !== 0x30 || len < 0 || len > inner.length) throw invalid('certificate: bad tbsCertificate');
    return inner.subarray(0, len);
}

/**
 * Steps 1-4 of peer verification, shared by attested peers and plain key peers: DER parse, Ed25519 key and
 * self-signature, validity window at `now`, lifetime at most `maxLife` ms. Throws AttestationError.
 */
export function checkSelfSignedEd25519(der: Buffer | undefined, now: Date, maxLife: number): { cert: ReturnType<typeof parseCertDer>; publicKeyRaw: Buffer } {
    if (!der || der.length === 0) throw invalid('no certificate');
    if (der.length > MAX_CERT_BYTES) throw invalid(`certificate is ${der.length} bytes, limit ${MAX_CERT_BYTES}`);
    let cert;
    try {
        cert = parseCertDer(der);
        // touch the lazily parsed fields now so that malformed content fails here, typed
        void cert.notBefore, cert.notAfter, cert.publicKey.rawData, cert.subject, cert.issuer, cert.signature, cert.serialNumber, asnExtensions(cert);
    } catch (e) {
        throw invalid(`certificate does not parse: ${(e as Error).message}`);
    }

    // key and signature: Ed25519 only, self-signed
    const spki = Buffer.from(cert.publicKey.rawData);
    if (spki.length !== 44 || !spki.subarray(0, 12).equals(ED25519_SPKI_PREFIX)) throw invalid('certificate key is not Ed25519');
    const publicKeyRaw = Buffer.from(spki.subarray(12));
    let sigAlg: string;
    try {
        sigAlg = (cert.signatureAlgorithm as unknown as { name: string }).name;
    } catch {
        sigAlg = 'unknown';
    }
    if (sigAlg !== 'Ed25519') throw invalid(`certificate signature algorithm ${sigAlg} is not Ed25519`);
    if (cert.subject !== cert.issuer) throw invalid('certificate is not self-issued');
    let sigOk = false;
    try {
        sigOk = verifySignature(null, tbsOf(der), spkiKeyObject(spki), Buffer.from(cert.signature));
    } catch (e) {
        if (e instanceof AttestationError) throw e;
    }
    if (!sigOk) throw invalid('certificate self-signature does not verify');

    // validity window
    if (now.getTime() < cert.notBefore.getTime() || now.getTime() > cert.notAfter.getTime()) {
        throw new AttestationError('CERT_EXPIRED', `certificate valid ${cert.notBefore.toISOString()}..${cert.notAfter.toISOString()}, now ${now.toISOString()}`, {
            notBefore: cert.notBefore.toISOString(),
            notAfter: cert.notAfter.toISOString(),
        });
    }
    if (cert.notAfter.getTime() - cert.notBefore.getTime() > maxLife) throw invalid(`certificate lifetime exceeds ${maxLife} ms`);
    return { cert, publicKeyRaw };
}

export class PeerVerifier implements CertVerifier<PeerAttestation> {
    private readonly clock: () => Date;
    readonly verifyQuote: QuoteVerifyFn;
    /** The cache behind the default verifyQuote (undefined when verifyQuote was injected). */
    readonly cache?: VerificationCache;
    private readonly observe?: (code: string | null) => void;

    constructor(
        public policy: PeerPolicy,
        opts: PeerVerifierOptions = {},
    ) {
        if (!policy || typeof policy.isImageAllowed !== 'function') throw new AttestationError('POLICY_INVALID', 'policy.isImageAllowed must be a function (name the image allowlist)');
        if (!policy.quote || typeof policy.quote !== 'object') throw new AttestationError('POLICY_INVALID', 'policy.quote must be an object');
        normalizePolicy({ ...policy.quote, at: new Date() }); // POLICY_INVALID naming the key, e.g. no trusted root
        if (policy.maxCertLifetimeMs !== undefined && !(policy.maxCertLifetimeMs > 0)) throw new AttestationError('POLICY_INVALID', 'policy.maxCertLifetimeMs must be a positive number');
        this.clock = opts.clock ?? (() => new Date());
        this.observe = opts.observe;
        if (opts.verifyQuote) this.verifyQuote = opts.verifyQuote;
        else {
            const cache = opts.cache ?? new VerificationCache({ ttlMs: opts.cacheTtlMs ?? DEFAULT_VERIFICATION_CACHE_TTL_MS, now: () => this.clock().getTime() });
            this.cache = cache;
            this.verifyQuote = (q, p) => cache.verify(q, p);
        }
    }

    /**
     * Verifies a peer certificate given as DER (from `getPeerCertificate(true).raw`). Returns the attestation or
     * throws AttestationError with one code. Order: parse, signature, validity, extensions, quote, binding, image.
     */
    verify(der: Buffer | undefined): PeerAttestation {
        if (!this.observe) return this.check(der);
        try {
            const a = this.check(der);
            this.observe(null);
            return a;
        } catch (e) {
            this.observe((e as { code?: string }).code ?? 'CERT_INVALID');
            throw e;
        }
    }

    private check(der: Buffer | undefined): PeerAttestation {
        const now = this.clock();
        const { cert, publicKeyRaw } = checkSelfSignedEd25519(der, now, this.policy.maxCertLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS);

        // extensions: each at most once; critical ones must be understood; quote and claims present and critical.
        // Read from the already parsed ASN.1 (cert.extensions would re-encode and re-parse each one: slow).
        const seen = new Set<string>();
        let quote: Buffer | undefined;
        let claimsRaw: Buffer | undefined;
        let configRaw: Buffer | undefined;
        let gpuRaw: Buffer | undefined;
        for (const ext of asnExtensions(cert)) {
            const type = ext.extnID;
            if (seen.has(type)) throw invalid(`duplicate extension ${type}`);
            seen.add(type);
            const critical = ext.critical === true;
            const value = Buffer.from(ext.extnValue.buffer);
            if (critical && !KNOWN_CRITICAL_EXTENSIONS.has(type)) throw invalid(`unknown critical extension ${type}`);
            if (type === OID_TDX_QUOTE || type === OID_USER_CLAIMS) {
                if (!critical) throw invalid(`extension ${type} must be critical`);
                if (type === OID_TDX_QUOTE) quote = value;
                else claimsRaw = value;
            }
            if (type === OID_WORKER_CONFIG || type === OID_GPU_EVIDENCE) {
                if (!critical) throw invalid(`extension ${type} must be critical`);
                if (type === OID_WORKER_CONFIG) configRaw = value;
                else gpuRaw = value;
            }
            // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... }: refuse cA = TRUE
            if (type === '2.5.29.19' && value.length >= 5 && value[0] === 0x30 && value[2] === 0x01 && value[3] === 0x01 && value[4] !== 0) {
                throw invalid('certificate claims to be a CA');
            }
        }
        if (!quote) throw invalid('certificate has no quote extension');
        if (!claimsRaw) throw invalid('certificate has no user-claims extension');
        if (quote.length === 0 || quote.length > MAX_QUOTE_BYTES) throw invalid(`quote extension is ${quote.length} bytes, limit ${MAX_QUOTE_BYTES}`);
        const claims = decodeClaims(claimsRaw);

        // the quote itself: chain to a trusted root, signatures, debug bit, TD attributes, collateral
        let vq: VerifiedQuote;
        try {
            vq = this.verifyQuote(quote, { ...this.policy.quote, at: now });
        } catch (e) {
            if (e instanceof AttestationError) throw e;
            throw new AttestationError('QUOTE_MALFORMED', `quote verification failed: ${(e as Error).message}`);
        }
        if (vq.debug) throw new AttestationError('DEBUG_TD', 'peer runs a debug TD');

        // binding: REPORTDATA = SHA-512(claims) and the claims name this certificate's key
        const body = vq.quote.body;
        if (!body.reportData.equals(claimsReportData(claimsRaw))) {
            throw new AttestationError('REPORT_DATA_MISMATCH', 'quote REPORTDATA is not SHA-512 of the certificate claims');
        }
        if (!claims.ed25519PublicKey.equals(publicKeyRaw)) {
            throw new AttestationError('REPORT_DATA_MISMATCH', 'certificate claims name another Ed25519 key than the certificate');
        }
        if (this.policy.requireHpkeKey && !claims.hpkePublicKey) throw invalid('claims carry no HPKE key');
        const workerConfig = checkWorkerConfig(claims, configRaw);
        const gpuEvidence = checkGpuEvidence(workerConfig, gpuRaw);

        // image policy (Root's allowlists)
        const imageHash = vq.imageHash.toString('hex');
        if (!this.policy.isImageAllowed(imageHash)) {
            throw new AttestationError('IMAGE_NOT_ALLOWED', `image ${imageHash} is not allowed`, { imageHash });
        }

        const hex = (b: Buffer) => b.toString('hex');
        return {
            imageHash,
            rootKeyId: vq.rootKeyId,
            measurements: {
                mrTd: hex(body.mrTd),
                mrConfigId: hex(body.mrConfigId),
                mrOwner: hex(body.mrOwner),
                mrOwnerConfig: hex(body.mrOwnerConfig),
                rtmr: [hex(body.rtmr0), hex(body.rtmr1), hex(body.rtmr2), hex(body.rtmr3)],
                tdAttributes: hex(body.tdAttributes),
                xfam: hex(body.xfam),
                mrSeam: hex(body.mrSeam),
            },
            claims,
            ...(workerConfig ? { workerConfig } : {}),
            ...(gpuEvidence ? { gpuEvidence } : {}),
            tcbStatus: vq.tcbStatus,
            advisoryIds: vq.advisoryIds,
            ...(vq.collateralStale ? { collateralStale: true } : {}),
            quoteHash: createHash('sha256').update(quote).digest('hex'),
            cert: { serialHex: cert.serialNumber.toLowerCase(), notBefore: cert.notBefore, notAfter: cert.notAfter, publicKey: publicKeyRaw },
        };
    }
}

/**
 * The worker configuration of version-2 claims: the extension must be there and hash to what the claims (and so
 * the quote) bind — a document changed after the quote is REPORT_DATA_MISMATCH; then it must decode strictly.
 * Version-1 claims carry none and the extension must be absent.
 */
function checkWorkerConfig(claims: RaTlsClaims, raw: Buffer | undefined): WorkerConfigDoc | undefined {
    if (!claims.workerConfigHash) {
        if (raw) throw invalid('worker-configuration extension without a hash in the claims');
        return undefined;
    }
    if (!raw) throw invalid('claims bind a worker configuration the certificate does not carry');
    if (raw.length > MAX_WORKER_CONFIG_BYTES) throw invalid(`worker configuration is ${raw.length} bytes, limit ${MAX_WORKER_CONFIG_BYTES}`);
    if (!workerConfigHash(raw).equals(claims.workerConfigHash)) {
        throw new AttestationError('REPORT_DATA_MISMATCH', 'the worker configuration is not the one the claims bind');
    }
    return decodeWorkerConfig(raw);
}

/**
 * The GPU evidence bundle a version-2 worker configuration names: present, hashing to the document's gpuEvidence
 * (else REPORT_DATA_MISMATCH: the quote does not cover it) and well formed (CERT_INVALID). Without a name in the
 * document the extension must be absent. Verifying the evidence itself is the caller's (per model, tee/gpu/check.ts).
 */
function checkGpuEvidence(doc: WorkerConfigDoc | undefined, raw: Buffer | undefined): Buffer | undefined {
    if (!doc?.gpuEvidence) {
        if (raw) throw invalid('GPU evidence extension without a hash in the worker configuration');
        return undefined;
    }
    if (!raw) throw invalid('the worker configuration names GPU evidence the certificate does not carry');
    if (gpuBundleHash(raw) !== doc.gpuEvidence) throw new AttestationError('REPORT_DATA_MISMATCH', 'the GPU evidence is not the one the worker configuration binds');
    try {
        decodeGpuBundle(raw);
    } catch (e) {
        if (e instanceof GpuAttestationError) throw invalid(e.message, { gpuCode: e.code });
        throw e;
    }
    return raw;
}

/** A peer known only by its key (a client outside any TEE): the verified certificate key. */
export interface KeyPeer {
    publicKey: Buffer;
    cert: { serialHex: string; notBefore: Date; notAfter: Date; publicKey: Buffer };
}

/** What an RA-TLS server asks of the certificates of its peers. */
export interface CertVerifier<P> {
    verify(der: Buffer | undefined): P;
}

/**
 * Verifies a plain key certificate (a proxy's client endpoint): a self-signed Ed25519 certificate, valid now,
 * with no critical extension it does not understand. No attestation is asked of the peer; the proxy binds the key
 * to something else (a ClientChannel's clientKey) after the handshake.
 */
export class ClientKeyVerifier implements CertVerifier<KeyPeer> {
    private readonly clock: () => Date;
    private readonly maxLife: number;

    constructor(opts: { clock?: () => Date; maxCertLifetimeMs?: number } = {}) {
        this.clock = opts.clock ?? (() => new Date());
        this.maxLife = opts.maxCertLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS;
    }

    verify(der: Buffer | undefined): KeyPeer {
        const { cert, publicKeyRaw } = checkSelfSignedEd25519(der, this.clock(), this.maxLife);
        const seen = new Set<string>();
        for (const ext of asnExtensions(cert)) {
            if (seen.has(ext.extnID)) throw invalid(`duplicate extension ${ext.extnID}`);
            seen.add(ext.extnID);
            if (ext.critical === true && !KNOWN_CRITICAL_EXTENSIONS.has(ext.extnID)) throw invalid(`unknown critical extension ${ext.extnID}`);
        }
        return {
            publicKey: publicKeyRaw,
            cert: { serialHex: cert.serialNumber.toLowerCase(), notBefore: cert.notBefore, notAfter: cert.notAfter, publicKey: publicKeyRaw },
        };
    }
}
