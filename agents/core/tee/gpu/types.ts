// Shared types of GPU attestation (spec/attestation.md "GPU evidence"). Implementations:
//   report.ts     strict parser of the SPDM GET_MEASUREMENTS request + MEASUREMENTS response   parseGpuReport(buf)
//   chain.ts      X.509 chains (P-384) pinned to a trusted root                                 verifyGpuChain(...)
//   rim.ts        signed reference integrity manifests (SWID tags, XML-DSig)                   verifyRim(xml, ...)
//   verify.ts     the whole check against a policy, and the TD binding                        verifyGpuEvidence, gpuNonceFor
//   simulated.ts  a simulated device + RIM PKI producing evidence of the same format          SimulatedGpu
//   bundle.ts     the evidence bundle a worker certificate carries (extension .4)             encodeGpuBundle, decodeGpuBundle
//   source.ts     where a worker gets evidence: a simulated GPU or an external command        GpuEvidenceSource
//   check.ts      a peer's cached check of a worker's bundle for models that require a GPU    GpuEvidenceChecker, gpuRefusal
import { CocoonError } from '../../errors';

/** Stable error codes of GPU attestation. Each rejection carries exactly one. */
export const GpuErrorCodes = [
    'GPU_REPORT_MALFORMED', // bytes do not parse as request ‖ response (details: offset, field)
    'GPU_CHAIN_INVALID', // device certificate chain: shape, signature, CA/path constraint, root not the pinned one, FWID
    'GPU_CERT_EXPIRED', // a device chain certificate is outside its validity at policy.at
    'GPU_CERT_REVOKED', // a device or RIM certificate serial is in policy.revoked
    'GPU_SIGNATURE_INVALID', // the response signature does not verify with the attestation key
    'GPU_NONCE_MISMATCH', // the request nonce is not the nonce the policy expects
    'GPU_RIM_MISSING', // no signed RIM for the driver / VBIOS version the report names
    'GPU_RIM_INVALID', // a RIM is malformed, its XML signature or its certificate chain fails
    'GPU_MEASUREMENT_MISMATCH', // an active golden measurement differs from the report's block (details: indexes)
    'GPU_POLICY_INVALID', // the policy itself is malformed (caller error, not a verdict on the evidence)
    'GPU_EVIDENCE_MALFORMED', // the certificate's evidence bundle (bundle.ts) breaks its layout or bounds
    'GPU_EVIDENCE_UNAVAILABLE', // the worker could not obtain evidence: the command failed, timed out or printed garbage
] as const;
export type GpuErrorCode = (typeof GpuErrorCodes)[number];

export class GpuAttestationError extends CocoonError<GpuErrorCode> {}

/** One measurement block of the response (DMTF measurement specification). */
export interface GpuMeasurementBlock {
    index: number; // 1..254
    dmtfType: number; // DMTFSpecMeasurementValueType
    value: Buffer;
}

export interface GpuOpaqueField {
    type: number;
    value: Buffer;
}

export interface ParsedGpuReport {
    spdmVersion: number; // 0x11 or 0x12
    requestNonce: Buffer; // 32, chosen by the verifier
    slotId: number;
    responseNonce: Buffer; // 32, chosen by the GPU
    blocks: GpuMeasurementBlock[]; // in report order, indexes unique
    opaque: GpuOpaqueField[]; // in report order, types unique
    driverVersion: string; // e.g. "550.90.07"
    vbiosVersion: string; // lowercase "96.00.9f.00.01"
    project: string; // e.g. "1010"
    projectSku: string; // e.g. "0200"
    chipSku: string; // e.g. "882"
    fwid?: Buffer; // 48, when the GPU reports it; must equal the leaf certificate's FWID
    nvdec0Status?: number; // 0x55 = disabled (golden index 35 then not compared)
    signature: Buffer; // 96, raw r‖s (P-384)
    signed: Buffer; // request ‖ response without the signature: what the attestation key signs
}

/** A signed reference integrity manifest, after its signature and chain verified. */
export interface GoldenMeasurement {
    index: number; // golden index: compared with the report block of index + 1
    name: string;
    size: number;
    active: boolean;
    values: Buffer[]; // the alternatives
}

export interface VerifiedRim {
    tagId: string;
    version: string; // colloquialVersion, lowercase
    measurements: GoldenMeasurement[];
    certificates: CertSummary[];
}

export interface CertSummary {
    subject: string;
    serial: string; // lowercase hex, no leading zeros
    notBefore: string;
    notAfter: string;
}

/** A RIM as given to the verifier: its XML text and, for messages, where it came from. */
export interface RimSource {
    name: string;
    xml: string;
}

export interface GpuPolicy {
    /** PEM of the trusted device identity root (NVIDIA's, or the simulated one). Pinned: compared byte for byte. */
    deviceRootPem: string;
    /** PEM of the trusted RIM signing root. */
    rimRootPem: string;
    /** Time at which every certificate must be valid (chain time, not the host clock, in production). */
    at: Date;
    /** The nonce the verifier asked for (32 bytes); undefined = not checked (and said so in the verdict). */
    nonce?: Buffer;
    /** Candidate RIMs; the verifier picks the driver and VBIOS RIM by the versions in the report. */
    rims: RimSource[];
    /** Revoked certificate serials (hex), e.g. from an OCSP/CRL feed the caller trusts. Undefined = not checked. */
    revoked?: { serials: string[] };
}

export interface GpuVerdict {
    driverVersion: string;
    vbiosVersion: string;
    project: string;
    projectSku: string;
    chipSku: string;
    nonce: string; // hex of the request nonce
    nonceChecked: boolean;
    revocation: 'checked' | 'not-checked';
    measurements: { matched: number; total: number; mismatches: number[] };
    certificates: { device: CertSummary[]; driverRim: CertSummary[]; vbiosRim: CertSummary[] };
    rims: { driver: { name: string; tagId: string }; vbios: { name: string; tagId: string } };
}
