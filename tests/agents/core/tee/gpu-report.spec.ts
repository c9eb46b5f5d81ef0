// The SPDM report parser on NVIDIA's real H100 report: exact fields, and a typed GPU_REPORT_MALFORMED naming the
// offset and field for every structural fault.
import { formatVbiosVersion, GPU_REQUEST_BYTES, MAX_GPU_REPORT_BYTES, parseGpuReport, vbiosVersionField } from '../../../../agents/core/tee/gpu/report';
import { codeOf } from './util';
import { REAL_NONCE, realReport } from './gpu-util';

function malformed(b: unknown): { field: string; offset: number } {
    try {
        parseGpuReport(b);
    } catch (e) {
        const err = e as { code: string; details: { field: string; offset: number } };
        expect(err.code).toBe('GPU_REPORT_MALFORMED');
        return err.details;
    }
    throw new Error('expected GPU_REPORT_MALFORMED');
}

const RESP = GPU_REQUEST_BYTES;

describe('parseGpuReport on the real H100 report', () => {
    const p = parseGpuReport(realReport());

    it('reads the request nonce, 64 DMTF blocks of 48 bytes, the opaque data and a 96-byte signature', () => {
        expect(realReport()).toHaveLength(4117);
        expect(p.spdmVersion).toBe(0x11);
        expect(p.requestNonce.equals(REAL_NONCE)).toBe(true);
        expect(p.responseNonce.toString('hex')).toBe('b4b8a06aaaa35542839388e159d447a5d6f6194998fd86513e2d591ccf640985');
        expect(p.blocks).toHaveLength(64);
        expect(p.blocks.map((b) => b.index)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
        expect(new Set(p.blocks.map((b) => `${b.dmtfType}/${b.value.length}`))).toEqual(new Set(['1/48']));
        expect(p.blocks[1].value.toString('hex').slice(0, 16)).toBe('8048dfd18fe229bf');
        expect(p.opaque.map((f) => f.type)).toEqual([6, 14, 15, 16, 17, 18, 19, 3, 4, 12, 13, 11, 20, 21]);
        expect(p.signature).toHaveLength(96);
        expect(p.signed).toHaveLength(4117 - 96);
    });

    it('driver 550.90.07, VBIOS 96.00.9f.00.01, project 1010 / SKU 0200 / chip 882, FWID, NVDEC0 disabled', () => {
        expect(p).toMatchObject({ driverVersion: '550.90.07', vbiosVersion: '96.00.9f.00.01', project: '1010', projectSku: '0200', chipSku: '882', nvdec0Status: 0x55 });
        expect(p.fwid?.toString('hex')).toBe('f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d');
    });

    it('VBIOS version field and text convert both ways', () => {
        expect(formatVbiosVersion(Buffer.from('009f009601000000', 'hex'))).toBe('96.00.9f.00.01');
        expect(vbiosVersionField('96.00.9f.00.01').toString('hex')).toBe('009f009601000000');
    });

    it('returned fields are copies: changing the input afterwards changes nothing', () => {
        const b = realReport();
        const q = parseGpuReport(b);
        b.fill(0);
        expect(q.requestNonce.equals(REAL_NONCE)).toBe(true);
    });
});

describe('parseGpuReport refuses, naming offset and field', () => {
    const real = realReport();
    const set = (at: number, v: number) => {
        const b = Buffer.from(real);
        b[at] = v;
        return b;
    };

    it('non-bytes, empty, short and oversized inputs', () => {
        for (const x of [undefined, null, 'text', 42, {}, Buffer.alloc(0), Buffer.alloc(100)]) expect(codeOf(() => parseGpuReport(x))).toBe('GPU_REPORT_MALFORMED');
        expect(malformed(Buffer.concat([real, Buffer.alloc(MAX_GPU_REPORT_BYTES)])).field).toBe('report');
    });

    it('request: SPDM version, code, signature flag, "all blocks"', () => {
        expect(malformed(set(0, 0x10)).field).toBe('request.version');
        expect(malformed(set(1, 0xe1)).field).toBe('request.code');
        expect(malformed(set(2, 0x00)).field).toBe('request.param1');
        expect(malformed(set(3, 0x01)).field).toBe('request.param2');
    });

    it('response: version differing from the request, wrong code, zero blocks, record length past the end', () => {
        expect(malformed(set(RESP, 0x12))).toEqual({ offset: RESP, field: 'response.version' });
        expect(malformed(set(RESP + 1, 0x61)).field).toBe('response.code');
        expect(malformed(set(RESP + 4, 0)).field).toBe('response.numberOfBlocks');
        expect(malformed(set(RESP + 7, 0x7f)).field).toBe('response.measurementRecord');
    });

    it('blocks: fewer blocks than announced, a repeated index, a non-DMTF block, a value size not filling its block', () => {
        expect(malformed(set(RESP + 4, 63)).field).toBe('response.measurementRecord');
        expect(malformed(set(RESP + 4, 65)).field).toMatch(/^block\[64\]/);
        expect(malformed(set(RESP + 8 + 55, 1)).field).toBe('block[1].index');
        expect(malformed(set(RESP + 8 + 1, 2)).field).toBe('block[0].specification');
        expect(malformed(set(RESP + 8 + 5, 47))).toEqual({ offset: RESP + 8 + 7 + 47, field: 'block[0].value' });
    });

    it('opaque data: length past the signature, a field overrunning it, bytes left before the signature', () => {
        const opaqueLenAt = RESP + 8 + 3520 + 32;
        expect(real.readUInt16LE(opaqueLenAt)).toBe(422);
        expect(malformed(set(opaqueLenAt, 0xa7)).field).toBe('response.opaqueData'); // 423: one byte into the signature
        expect(malformed(set(opaqueLenAt, 0xa1)).field).toBe('response.signature'); // 417: the last field (5 bytes) left over
        expect(malformed(set(opaqueLenAt + 1, 0x10)).field).toBe('response.opaqueData');
        expect(malformed(set(opaqueLenAt + 2 + 2, 0xff)).field).toMatch(/^opaque/);
        expect(malformed(real.subarray(0, real.length - 1)).field).toMatch(/^opaque|response/);
    });

    it('a missing driver version, or a version that is not a short identifier', () => {
        const opaqueAt = RESP + 8 + 3520 + 32 + 2;
        const driverAt = real.indexOf(Buffer.from('550.90.07'), opaqueAt);
        const b = Buffer.from(real);
        b[driverAt - 4] = 0x63; // type 3 -> 99: no driver version field
        expect(malformed(b).field).toBe('opaque.driverVersion');
        expect(malformed(set(driverAt, 0x3c)).field).toBe('opaque.driverVersion'); // '<'
    });
});
