// Strict, bounded parser of Intel TDX DCAP quotes (v4 and v5; TDX 1.0 and 1.5 bodies). spec/attestation.md
// "Quote format" documents the layout. parseQuote is total: for any input it returns a ParsedQuote or throws
// AttestationError with code QUOTE_MALFORMED or QUOTE_UNSUPPORTED — never another exception, and it runs in time
// linear in min(input length, MAX_QUOTE_BYTES).
import { AttestationError, ParsedQuote, QeReport, TdReportBody } from './types';
import { ByteReader } from './byte-reader';

export const MAX_QUOTE_BYTES = 64 * 1024;
export const MAX_PEM_CHAIN_BYTES = 16 * 1024;
export const MAX_PEM_CERTS = 5;

export const HEADER_LEN = 48;
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
export const TEE_TYPE_TDX = 0x81;
export const BODY_TYPE_SGX = 1;
export const BODY_TYPE_TDX10 = 2;
export const BODY_TYPE_TDX15 = 3;
export const TD10_BODY_LEN = 584;
export const TD15_BODY_LEN = 648;
export const V5_BODY_HEADER_LEN = 6;
export const CERT_TYPE_PCK_CHAIN = 5;
export const CERT_TYPE_QE_REPORT = 6;
export const QE_REPORT_LEN = 384;
export const SIG_LEN = 64;
export const ATT_KEY_LEN = 64;
/** Intel's QE vendor id (informational; not checked: the PCK chain and QE identity decide). */
export const INTEL_QE_VENDOR_ID = Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex');

/** Offsets of TD report body fields, relative to the body start. */
export const BODY = {
    teeTcbSvn: [0, 16],
    mrSeam: [16, 48],
    mrSignerSeam: [64, 48],
    seamAttributes: [112, 8],
    tdAttributes: [120, 8],
    xfam: [128, 8],
    mrTd: [136, 48],
    mrConfigId: [184, 48],
    mrOwner: [232, 48],
    mrOwnerConfig: [280, 48],
    rtmr0: [328, 48],
    rtmr1: [376, 48],
    rtmr2: [424, 48],
    rtmr3: [472, 48],
    reportData: [520, 64],
    teeTcbSvn2: [584, 16],
    mrServiceTd: [600, 48],
} as const;

/** Offsets of QE report (SGX REPORT body) fields. */
export const QE = {
    cpuSvn: [0, 16],
    miscSelect: [16, 4],
    attributes: [48, 16],
    mrEnclave: [64, 32],
    mrSigner: [128, 32],
    isvProdId: [256, 2],
    isvSvn: [258, 2],
    reportData: [320, 64],
} as const;

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';

function malformed(message: string, details?: Record<string, unknown>): never {
    throw new AttestationError('QUOTE_MALFORMED', message, details);
}

function unsupported(message: string, details?: Record<string, unknown>): never {
    throw new AttestationError('QUOTE_UNSUPPORTED', message, details);
}

/** A cursor over `buf[pos, limit)` whose short reads are QUOTE_MALFORMED ("truncated <what>"). */
function reader(buf: Buffer, pos: number, limit: number): ByteReader {
    return new ByteReader(buf, pos, limit, (at, what) => new AttestationError('QUOTE_MALFORMED', `truncated ${what}`, { offset: at.offset, need: at.need, limit: at.limit }));
}

function field(body: Buffer, [off, len]: readonly [number, number]): Buffer {
    return Buffer.from(body.subarray(off, off + len));
}

function parseBody(body: Buffer, tdx15: boolean): TdReportBody {
    const b: TdReportBody = {
        teeTcbSvn: field(body, BODY.teeTcbSvn),
        mrSeam: field(body, BODY.mrSeam),
        mrSignerSeam: field(body, BODY.mrSignerSeam),
        seamAttributes: field(body, BODY.seamAttributes),
        tdAttributes: field(body, BODY.tdAttributes),
        xfam: field(body, BODY.xfam),
        mrTd: field(body, BODY.mrTd),
        mrConfigId: field(body, BODY.mrConfigId),
        mrOwner: field(body, BODY.mrOwner),
        mrOwnerConfig: field(body, BODY.mrOwnerConfig),
        rtmr0: field(body, BODY.rtmr0),
        rtmr1: field(body, BODY.rtmr1),
        rtmr2: field(body, BODY.rtmr2),
        rtmr3: field(body, BODY.rtmr3),
        reportData: field(body, BODY.reportData),
    };
    if (tdx15) {
        b.teeTcbSvn2 = field(body, BODY.teeTcbSvn2);
        b.mrServiceTd = field(body, BODY.mrServiceTd);
    }
    return b;
}

export function parseQeReport(raw: Buffer): QeReport {
    if (raw.length !== QE_REPORT_LEN) malformed('QE report must be 384 bytes');
    return {
        cpuSvn: field(raw, QE.cpuSvn),
        miscSelect: raw.readUInt32LE(QE.miscSelect[0]),
        attributes: field(raw, QE.attributes),
        mrEnclave: field(raw, QE.mrEnclave),
        mrSigner: field(raw, QE.mrSigner),
        isvProdId: raw.readUInt16LE(QE.isvProdId[0]),
        isvSvn: raw.readUInt16LE(QE.isvSvn[0]),
        reportData: field(raw, QE.reportData),
        raw: Buffer.from(raw),
    };
}

function isWs(c: number) {
    return c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09;
}

/**
 * Splits the PCK chain (certification data type 5) into canonical PEM blocks, leaf first. Strict: printable ASCII
 * only, trailing NUL bytes allowed (real quotes end the chain with one), nothing but whitespace between blocks,
 * base64 bodies only. Linear time: indexOf scans and character-class checks, no backtracking.
 */
export function splitPemChain(bytes: Buffer): string[] {
    if (bytes.length > MAX_PEM_CHAIN_BYTES) malformed('PCK chain too large', { size: bytes.length, max: MAX_PEM_CHAIN_BYTES });
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    for (let i = 0; i < end; i++) {
        const c = bytes[i];
        if (!(isWs(c) || (c >= 0x20 && c < 0x7f))) malformed('PCK chain contains non-ASCII bytes', { offset: i });
    }
    const s = bytes.toString('latin1', 0, end);
    const out: string[] = [];
    let pos = 0;
    for (;;) {
        while (pos < s.length && isWs(s.charCodeAt(pos))) pos++;
        if (pos >= s.length) break;
        if (!s.startsWith(PEM_BEGIN, pos)) malformed('PCK chain: expected BEGIN CERTIFICATE', { offset: pos });
        pos += PEM_BEGIN.length;
        const stop = s.indexOf(PEM_END, pos);
        if (stop < 0) malformed('PCK chain: missing END CERTIFICATE');
        const body = s.slice(pos, stop);
        if (!/^[A-Za-z0-9+/=\r\n]*$/.test(body)) malformed('PCK chain: invalid base64', { offset: pos });
        const b64 = body.replace(/[\r\n]/g, '');
        if (b64.length === 0 || b64.length % 4 !== 0 || /=[^=]/.test(b64) || /={3}/.test(b64)) malformed('PCK chain: invalid base64 length or padding');
        if (out.length >= MAX_PEM_CERTS) malformed('PCK chain has too many certificates', { max: MAX_PEM_CERTS });
        const lines: string[] = [];
        for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
        out.push(`${PEM_BEGIN}\n${lines.join('\n')}\n${PEM_END}\n`);
        pos = stop + PEM_END.length;
    }
    if (out.length === 0) malformed('PCK chain holds no certificate');
    return out;
}

/** Parses a TDX quote. Throws AttestationError QUOTE_MALFORMED / QUOTE_UNSUPPORTED and nothing else. */
export function parseQuote(input: Buffer | Uint8Array): ParsedQuote {
    if (!(input instanceof Uint8Array)) malformed('quote must be bytes');
    const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (buf.length > MAX_QUOTE_BYTES) malformed('quote too large', { size: buf.length, max: MAX_QUOTE_BYTES });
    if (buf.length < HEADER_LEN) malformed('quote shorter than its header', { size: buf.length });

    const version = buf.readUInt16LE(0);
    const attestationKeyType = buf.readUInt16LE(2);
    const teeType = buf.readUInt32LE(4);
    if (version !== 4 && version !== 5) unsupported(`quote version ${version} is not supported (4 or 5)`, { version });
    if (teeType !== TEE_TYPE_TDX) unsupported(`TEE type 0x${teeType.toString(16)} is not TDX (0x81)`, { teeType });
    if (attestationKeyType !== ATT_KEY_TYPE_ECDSA_P256) unsupported(`attestation key type ${attestationKeyType} is not ECDSA P-256 (2)`, { attestationKeyType });

    const r = reader(buf, HEADER_LEN, buf.length);
    let bodyType: 'tdx10' | 'tdx15' = 'tdx10';
    let bodyLen = TD10_BODY_LEN;
    if (version === 5) {
        const t = r.u16('v5 body type');
        const size = r.u32('v5 body size');
        if (t === BODY_TYPE_TDX10) bodyType = 'tdx10';
        else if (t === BODY_TYPE_TDX15) bodyType = 'tdx15';
        else unsupported(`v5 body type ${t} is not a TDX report (2 or 3)`, { bodyType: t });
        bodyLen = bodyType === 'tdx15' ? TD15_BODY_LEN : TD10_BODY_LEN;
        if (size !== bodyLen) malformed(`v5 body size ${size} does not match body type ${t} (${bodyLen})`, { bodyType: t, size });
    }
    const bodyRaw = r.bytes(bodyLen, 'TD report body');
    const signedEnd = r.pos;

    const sigDataLen = r.u32('signature data length');
    r.need(sigDataLen, 'signature data');
    // Anything after sig_data_len (real quotes carry zero padding) is covered by no signature and ignored.
    const sigEnd = r.pos + sigDataLen;
    const s = reader(buf, r.pos, sigEnd);
    const signature = s.bytes(SIG_LEN, 'quote signature');
    const attestationKey = s.bytes(ATT_KEY_LEN, 'attestation key');
    const certType = s.u16('certification data type');
    const certSize = s.u32('certification data size');
    if (certSize !== sigEnd - s.pos) malformed('certification data size does not fill the signature data', { certSize, available: sigEnd - s.pos });
    if (certType !== CERT_TYPE_QE_REPORT) unsupported(`certification data type ${certType} is not QE report (6)`, { certType });
    const qeReportRaw = s.bytes(QE_REPORT_LEN, 'QE report');
    const qeReportSignature = s.bytes(SIG_LEN, 'QE report signature');
    const authLen = s.u16('QE auth data length');
    const qeAuthData = s.bytes(authLen, 'QE auth data');
    const innerType = s.u16('inner certification data type');
    const innerSize = s.u32('inner certification data size');
    if (innerSize !== sigEnd - s.pos) malformed('PCK chain size does not fill the certification data', { innerSize, available: sigEnd - s.pos });
    if (innerType !== CERT_TYPE_PCK_CHAIN) unsupported(`inner certification data type ${innerType} is not a PCK chain (5)`, { innerType });
    if (innerSize > MAX_PEM_CHAIN_BYTES) malformed('PCK chain too large', { size: innerSize, max: MAX_PEM_CHAIN_BYTES });
    const pem = s.bytes(innerSize, 'PCK chain');

    return {
        version: version as 4 | 5,
        bodyType,
        header: {
            attestationKeyType,
            teeType,
            qeVendorId: Buffer.from(buf.subarray(12, 28)),
            userData: Buffer.from(buf.subarray(28, 48)),
        },
        body: parseBody(bodyRaw, bodyType === 'tdx15'),
        signedRegion: Buffer.from(buf.subarray(0, signedEnd)),
        signature,
        attestationKey,
        qeReport: parseQeReport(qeReportRaw),
        qeReportSignature,
        qeAuthData,
        pckChainPem: splitPemChain(pem),
    };
}

/** True when TDATTRIBUTES bit 0 (TUD.DEBUG) is set: the host can read and write the TD's memory. */
export function isDebugTd(body: TdReportBody): boolean {
    return (body.tdAttributes[0] & 1) === 1;
}
