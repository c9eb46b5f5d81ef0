// Strict, bounded parser of a GPU attestation report as NVIDIA's driver returns it: the SPDM GET_MEASUREMENTS
// request (37 bytes, carrying the verifier's nonce) followed by the signed MEASUREMENTS response (DMTF SPDM 1.1/1.2,
// layout in spec/attestation.md "GPU evidence"). Every length is checked against its container before use, the parts
// must fill the input exactly, and any failure is GPU_REPORT_MALFORMED naming the offset and the field.
import { GpuAttestationError, GpuMeasurementBlock, GpuOpaqueField, ParsedGpuReport } from './types';
import { ByteReader } from '../byte-reader';

export const GPU_REQUEST_BYTES = 37;
export const GPU_NONCE_BYTES = 32;
export const GPU_SIGNATURE_BYTES = 96; // ECDSA P-384 r‖s
/** Upper bound on a report (a Hopper report is about 4 KiB: 64 blocks of 48 bytes plus opaque data). */
export const MAX_GPU_REPORT_BYTES = 64 * 1024;

export const SPDM_GET_MEASUREMENTS = 0xe0;
export const SPDM_MEASUREMENTS = 0x60;
export const SPDM_VERSIONS = [0x11, 0x12];
export const DMTF_MEASUREMENT_SPEC = 1;

/** Opaque data field types (NVIDIA's OPAQUE_FIELD_ID_*) the verifier reads. */
export const OPAQUE = {
    DRIVER_VERSION: 3,
    VBIOS_VERSION: 6,
    NVDEC0_STATUS: 11,
    CHIP_SKU: 15,
    PROJECT: 17,
    PROJECT_SKU: 18,
    FWID: 20,
} as const;

function malformed(offset: number, field: string, message: string): GpuAttestationError {
    return new GpuAttestationError('GPU_REPORT_MALFORMED', `${field} at offset ${offset}: ${message}`, { offset, field });
}

/** A cursor over `buf[pos, limit)` whose short reads are GPU_REPORT_MALFORMED naming the offset and field. */
function reader(buf: Buffer, pos: number, limit: number): ByteReader {
    return new ByteReader(buf, pos, limit, (at, field) => malformed(at.offset, field, `needs ${at.need} bytes, ${at.left} left`));
}

/** Text of an opaque field: ASCII of [0-9A-Za-z._-], trailing NULs and spaces removed, 1..32 characters. */
function opaqueText(f: GpuOpaqueField | undefined, field: string, at: number): string {
    if (!f) throw malformed(at, field, 'missing from the opaque data');
    let end = f.value.length;
    while (end > 0 && (f.value[end - 1] === 0 || f.value[end - 1] === 0x20)) end--;
    const s = f.value.subarray(0, end).toString('latin1');
    if (!/^[0-9A-Za-z._-]{1,32}$/.test(s)) throw malformed(at, field, 'not a short ASCII identifier');
    return s;
}

/**
 * VBIOS version as NVIDIA writes it ("96.00.9f.00.01") from the 8-byte little-endian field: bytes 3, 2, 1, 0, then 4.
 */
export function formatVbiosVersion(v: Buffer): string {
    if (v.length !== 8) throw malformed(0, 'vbiosVersion', 'must be 8 bytes');
    return [v[3], v[2], v[1], v[0], v[4]].map((b) => b.toString(16).padStart(2, '0')).join('.');
}

/** The 8-byte VBIOS version field for a version string (inverse of formatVbiosVersion; used by the simulator). */
export function vbiosVersionField(version: string): Buffer {
    const p = version.split('.').map((h) => parseInt(h, 16));
    if (p.length !== 5 || p.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad VBIOS version ${version}`);
    return Buffer.from([p[3], p[2], p[1], p[0], p[4], 0, 0, 0]);
}

/** Parses request ‖ response. Total: any input gives a ParsedGpuReport or GPU_REPORT_MALFORMED, in linear time. */
export function parseGpuReport(input: unknown): ParsedGpuReport {
    if (!Buffer.isBuffer(input) && !(input instanceof Uint8Array)) throw malformed(0, 'report', 'not bytes');
    const buf = Buffer.from(input);
    if (buf.length > MAX_GPU_REPORT_BYTES) throw malformed(0, 'report', `larger than ${MAX_GPU_REPORT_BYTES} bytes`);
    const minimum = GPU_REQUEST_BYTES + 8 + GPU_NONCE_BYTES + 2 + GPU_SIGNATURE_BYTES;
    if (buf.length < minimum) throw malformed(0, 'report', `shorter than ${minimum} bytes`);

    // ---- request (37 bytes) ----
    const q = reader(buf, 0, GPU_REQUEST_BYTES);
    const spdmVersion = q.u8('request.version');
    if (!SPDM_VERSIONS.includes(spdmVersion)) throw malformed(0, 'request.version', `SPDM version 0x${spdmVersion.toString(16)} is not 1.1 or 1.2`);
    if (q.u8('request.code') !== SPDM_GET_MEASUREMENTS) throw malformed(1, 'request.code', 'not GET_MEASUREMENTS (0xe0)');
    if ((q.u8('request.param1') & 1) !== 1) throw malformed(2, 'request.param1', 'signature not requested');
    if (q.u8('request.param2') !== 0xff) throw malformed(3, 'request.param2', 'not a request for all measurement blocks (0xff)');
    const requestNonce = q.bytes(GPU_NONCE_BYTES, 'request.nonce');
    const slotId = q.u8('request.slotId');

    // ---- response ----
    const sigStart = buf.length - GPU_SIGNATURE_BYTES;
    const r = reader(buf, GPU_REQUEST_BYTES, sigStart);
    if (r.u8('response.version') !== spdmVersion) throw malformed(r.pos - 1, 'response.version', 'differs from the request');
    if (r.u8('response.code') !== SPDM_MEASUREMENTS) throw malformed(r.pos - 1, 'response.code', 'not MEASUREMENTS (0x60)');
    r.u8('response.param1');
    r.u8('response.param2');
    const numberOfBlocks = r.u8('response.numberOfBlocks');
    if (numberOfBlocks === 0) throw malformed(r.pos - 1, 'response.numberOfBlocks', 'no measurement blocks');
    const recordLength = r.u24('response.measurementRecordLength');
    r.need(recordLength, 'response.measurementRecord');
    const blocks = parseBlocks(reader(buf, r.pos, r.pos + recordLength), numberOfBlocks);
    r.pos += recordLength;
    const responseNonce = r.bytes(GPU_NONCE_BYTES, 'response.nonce');
    const opaqueLength = r.u16('response.opaqueLength');
    const opaqueStart = r.pos;
    r.need(opaqueLength, 'response.opaqueData');
    const opaque = parseOpaque(reader(buf, r.pos, r.pos + opaqueLength));
    r.pos += opaqueLength;
    if (r.pos !== sigStart) throw malformed(r.pos, 'response.signature', `${sigStart - r.pos} bytes between the opaque data and the ${GPU_SIGNATURE_BYTES}-byte signature`);

    const field = (t: number) => opaque.find((f) => f.type === t);
    const vbios = field(OPAQUE.VBIOS_VERSION);
    if (!vbios) throw malformed(opaqueStart, 'opaque.vbiosVersion', 'missing from the opaque data');
    if (vbios.value.length !== 8) throw malformed(opaqueStart, 'opaque.vbiosVersion', 'must be 8 bytes');
    const fwid = field(OPAQUE.FWID);
    if (fwid && fwid.value.length !== 48) throw malformed(opaqueStart, 'opaque.fwid', 'must be 48 bytes');
    const nvdec = field(OPAQUE.NVDEC0_STATUS);
    if (nvdec && nvdec.value.length !== 1) throw malformed(opaqueStart, 'opaque.nvdec0Status', 'must be 1 byte');
    return {
        spdmVersion,
        requestNonce,
        slotId,
        responseNonce,
        blocks,
        opaque,
        driverVersion: opaqueText(field(OPAQUE.DRIVER_VERSION), 'opaque.driverVersion', opaqueStart),
        vbiosVersion: formatVbiosVersion(vbios.value),
        project: opaqueText(field(OPAQUE.PROJECT), 'opaque.project', opaqueStart),
        projectSku: opaqueText(field(OPAQUE.PROJECT_SKU), 'opaque.projectSku', opaqueStart),
        chipSku: opaqueText(field(OPAQUE.CHIP_SKU), 'opaque.chipSku', opaqueStart),
        fwid: fwid?.value,
        nvdec0Status: nvdec?.value[0],
        signature: Buffer.from(buf.subarray(sigStart)),
        signed: Buffer.from(buf.subarray(0, sigStart)),
    };
}

/** Blocks: index u8 (1..254, unique), spec u8 (1 = DMTF), size u16, then type u8, value size u16, value. */
function parseBlocks(r: ByteReader, count: number): GpuMeasurementBlock[] {
    const out: GpuMeasurementBlock[] = [];
    const seen = new Set<number>();
    for (let i = 0; i < count; i++) {
        const at = r.pos;
        const index = r.u8(`block[${i}].index`);
        if (index === 0 || index === 0xff || seen.has(index)) throw malformed(at, `block[${i}].index`, `index ${index} reserved or repeated`);
        seen.add(index);
        if (r.u8(`block[${i}].specification`) !== DMTF_MEASUREMENT_SPEC) throw malformed(at + 1, `block[${i}].specification`, 'not the DMTF measurement specification');
        const size = r.u16(`block[${i}].size`);
        r.need(size, `block[${i}].measurement`);
        const end = r.pos + size;
        const m = reader(r.buf, r.pos, end);
        const dmtfType = m.u8(`block[${i}].dmtfType`);
        const valueSize = m.u16(`block[${i}].valueSize`);
        const value = m.bytes(valueSize, `block[${i}].value`);
        if (m.pos !== end) throw malformed(m.pos, `block[${i}].value`, 'value size does not fill the block');
        r.pos = end;
        out.push({ index, dmtfType, value });
    }
    if (r.pos !== r.limit) throw malformed(r.pos, 'response.measurementRecord', 'bytes after the last block');
    return out;
}

/** Opaque data: a list of (type u16, size u16, bytes) that fills its length exactly; types unique. */
function parseOpaque(r: ByteReader): GpuOpaqueField[] {
    const out: GpuOpaqueField[] = [];
    const seen = new Set<number>();
    while (r.pos < r.limit) {
        const at = r.pos;
        const type = r.u16('opaque.type');
        if (seen.has(type)) throw malformed(at, 'opaque.type', `field ${type} repeated`);
        seen.add(type);
        const size = r.u16('opaque.size');
        out.push({ type, value: r.bytes(size, `opaque[${type}]`) });
    }
    return out;
}
