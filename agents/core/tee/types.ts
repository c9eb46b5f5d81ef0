// Shared types of the attestation module (spec/attestation.md). Implementations:
//   quote.ts      strict parser of TDX quotes v4/v5            parseQuote(buf) -> ParsedQuote
//   verify.ts     DCAP verification + policy                   verifyQuote(buf, policy) -> VerifiedQuote
//   image.ts      image hash of design §5                      imageHash(measurements) -> Buffer(32)
//   simulated.ts  local Intel-like PKI issuing real-format quotes (SimulatedTee implements QuoteProvider)
//   configfs.ts   Linux configfs-tsm quote provider (TdxProvider implements QuoteProvider)
import { CocoonError } from '../errors';

/** Stable error codes of attestation. Each rejection carries exactly one. */
export const AttestationErrorCodes = [
    'QUOTE_MALFORMED', // bytes do not parse as a quote (truncated, bad lengths, garbage)
    'QUOTE_UNSUPPORTED', // version / attestation key type / TEE type / body type not supported
    'UNTRUSTED_ROOT', // PCK chain ends at a root whose key id is not in policy.trustedRootKeyIds
    'PCK_CHAIN_INVALID', // PCK chain signatures, shape or validity period wrong at policy time
    'PCK_REVOKED', // a PCK chain certificate is on a CRL
    'QE_REPORT_SIGNATURE', // QE report not signed by the PCK leaf key
    'QE_REPORT_DATA', // QE report data != SHA-256(attestation key || auth data) || 0^32
    'QE_IDENTITY', // QE report does not match the QE identity collateral
    'QUOTE_SIGNATURE', // header+body not signed by the attestation key
    'DEBUG_TD', // TDATTRIBUTES debug bit set
    'TD_ATTRIBUTES', // TDATTRIBUTES not allowed by policy
    'XFAM', // XFAM not allowed by policy
    'COLLATERAL_MISSING', // policy requires collateral and none was given
    'COLLATERAL_INVALID', // collateral malformed or its signature chain/signature invalid
    'COLLATERAL_EXPIRED', // collateral not valid at the policy time (issueDate/nextUpdate)
    'TCB_STATUS', // TCB status not in policy.acceptedTcbStatuses (or no matching TCB level)
    'IMAGE_NOT_ALLOWED', // image hash not in the allowlist (e.g. Root's proxy/worker image allowlist)
    'REPORT_DATA_MISMATCH', // REPORTDATA != SHA-512(user claims)
    'CERT_INVALID', // RA-TLS certificate malformed, wrong key type, bad self-signature, unknown critical extension
    'CERT_EXPIRED', // RA-TLS certificate outside its validity window
    'PROVIDER_UNAVAILABLE', // quote provider cannot produce a quote (no configfs-tsm, wrong provider, I/O error)
    'POLICY_INVALID', // the verification policy itself is malformed (caller/config error, not a verdict on the quote)
    'COLLATERAL_UNAVAILABLE', // the collateral source (PCCS) has nothing usable for this platform yet: unreachable, refused or never fetched
    'CHAIN_TIME_UNAVAILABLE', // the clock of trust has no chain time within its bound: evidence is not judged by the host's clock
] as const;
export type AttestationErrorCode = (typeof AttestationErrorCodes)[number];

export class AttestationError extends CocoonError<AttestationErrorCode> {}

/** Fields of the TD quote body (all raw bytes as in the quote). */
export interface TdReportBody {
    teeTcbSvn: Buffer; // 16
    mrSeam: Buffer; // 48
    mrSignerSeam: Buffer; // 48
    seamAttributes: Buffer; // 8
    tdAttributes: Buffer; // 8
    xfam: Buffer; // 8
    mrTd: Buffer; // 48
    mrConfigId: Buffer; // 48
    mrOwner: Buffer; // 48
    mrOwnerConfig: Buffer; // 48
    rtmr0: Buffer; // 48
    rtmr1: Buffer; // 48
    rtmr2: Buffer; // 48
    rtmr3: Buffer; // 48
    reportData: Buffer; // 64
    teeTcbSvn2?: Buffer; // 16, TDX 1.5 body only
    mrServiceTd?: Buffer; // 48, TDX 1.5 body only
}

export interface QeReport {
    cpuSvn: Buffer;
    miscSelect: number;
    attributes: Buffer;
    mrEnclave: Buffer;
    mrSigner: Buffer;
    isvProdId: number;
    isvSvn: number;
    reportData: Buffer;
    raw: Buffer; // the 384 signed bytes
}

export interface ParsedQuote {
    version: 4 | 5;
    bodyType: 'tdx10' | 'tdx15';
    header: { attestationKeyType: number; teeType: number; qeVendorId: Buffer; userData: Buffer };
    body: TdReportBody;
    signedRegion: Buffer; // header + body, what the attestation key signs
    signature: Buffer; // 64, r||s
    attestationKey: Buffer; // 64, x||y
    qeReport: QeReport;
    qeReportSignature: Buffer; // 64
    qeAuthData: Buffer;
    pckChainPem: string[]; // leaf first
}

/** DCAP collateral, field names as in @phala/dcap-qvl's Collateral (see fixtures/vectors/tdx). */
export interface Collateral {
    pck_crl_issuer_chain: string;
    root_ca_crl: string; // hex DER
    pck_crl: string; // hex DER
    tcb_info_issuer_chain: string;
    tcb_info: string; // JSON text
    tcb_info_signature: string; // hex
    qe_identity_issuer_chain: string;
    qe_identity: string; // JSON text
    qe_identity_signature: string; // hex
}

export type TcbStatus = 'UpToDate' | 'SWHardeningNeeded' | 'ConfigurationNeeded' | 'ConfigurationAndSWHardeningNeeded' | 'OutOfDate' | 'OutOfDateConfigurationNeeded' | 'Revoked';

export interface VerifyPolicy {
    /** SHA-384 of the uncompressed root public key (hex). Intel's: INTEL_ROOT_KEY_ID. No default-to-anything. */
    trustedRootKeyIds: string[];
    /** Time at which certificates and collateral must be valid. */
    at: Date;
    /** Collateral for TCB/QE-identity/CRL evaluation; required unless requireCollateral is false. */
    collateral?: Collateral;
    requireCollateral: boolean;
    /** Accepted TCB statuses (default ['UpToDate']). */
    acceptedTcbStatuses?: TcbStatus[];
    /** Allowed TDATTRIBUTES values (hex, 16 chars); undefined = any non-debug value. The debug bit is always rejected. */
    allowedTdAttributes?: string[];
    /** Allowed XFAM values (hex, 16 chars); undefined = any. */
    allowedXfam?: string[];
    /** Allowed image hashes (hex); undefined = not checked here (e.g. checked against Root by the caller). */
    allowedImageHashes?: string[];
    /** Live collateral per platform (a PCCS through pccs/service.ts); excludes `collateral`. */
    collateralSource?: CollateralSource;
}

/** The PCK CA that issued a PCK certificate (Intel PCS `ca=` parameter). */
export type PckCa = 'platform' | 'processor';

/** What a collateral source hands the verifier: collateral for one platform and how far past nextUpdate it may serve. */
export interface SourcedCollateral {
    collateral: Collateral;
    /** Collateral may be used up to this long after its earliest nextUpdate (stale, flagged in the verdict). */
    graceMs: number;
}

/** Collateral held in memory per platform, looked up synchronously during verification (spec/attestation.md "Live collateral"). */
export interface CollateralSource {
    /** Collateral for FMSPC (12 hex, upper case) and PCK CA; throws AttestationError COLLATERAL_UNAVAILABLE / COLLATERAL_EXPIRED. */
    collateralFor(fmspc: string, ca: PckCa, at: Date): SourcedCollateral;
    /** Changes whenever the collateral held changes (part of the verdict cache key). */
    readonly generation: number;
    /** Ends its background refresh, if it has one (the agent's stop()). */
    close?(): void;
}

export interface VerifiedQuote {
    quote: ParsedQuote;
    imageHash: Buffer; // 32
    rootKeyId: string; // hex SHA-384
    debug: boolean;
    tcbStatus?: TcbStatus; // present when collateral was evaluated
    advisoryIds: string[];
    fmspc?: string;
    /** The collateral was past its nextUpdate (within the source's grace) at the policy time. */
    collateralStale?: boolean;
}

/** Produces a quote whose REPORTDATA is exactly the given 64 bytes. */
export interface QuoteProvider {
    readonly kind: 'tdx' | 'simulated';
    getQuote(reportData: Buffer): Promise<Buffer>;
}

export const INTEL_ROOT_KEY_ID = '46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993';
