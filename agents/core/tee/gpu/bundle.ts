// The GPU evidence bundle a worker carries in its RA-TLS certificate (spec/attestation.md, "GPU evidence in the chain
// of evidence"): extension 1.3.6.1.4.1.12345.4, whose SHA-256 the worker-configuration document names, so the TDX
// quote's REPORTDATA covers it.
//
//   offset  size  field
//   0       1     version = 1
//   1       1     n = number of GPUs, 1..MAX_GPUS
//   then n times:
//           2     u16be r = report length, 1..MAX_BUNDLE_REPORT_BYTES
//           r     the report: SPDM GET_MEASUREMENTS request ‖ MEASUREMENTS response (report.ts)
//           2     u16be c = chain length, 1..MAX_BUNDLE_CHAIN_BYTES
//           c     the device certificate chain, PEM (printable ASCII, CR, LF), leaf first
//
// Nothing may follow the last GPU. The decoder checks the layout and the bounds only: the reports and chains are
// judged by verifyGpuEvidence.
import { createHash } from 'crypto';
import { GpuAttestationError } from './types';

export const GPU_BUNDLE_VERSION = 1;
/** An HGX board has 8 GPUs. */
export const MAX_GPUS = 8;
/** An H100 report is about 4 KiB. */
export const MAX_BUNDLE_REPORT_BYTES = 16 * 1024;
/** NVIDIA's five-certificate chain is about 5 KiB of PEM. */
export const MAX_BUNDLE_CHAIN_BYTES = 16 * 1024;
/** The whole extension: eight real GPUs need about 72 KiB. */
export const MAX_GPU_BUNDLE_BYTES = 80 * 1024;

/** One GPU's evidence as its driver returns it. */
export interface GpuEvidence {
    report: Buffer;
    chainPem: string;
}

const PEM_TEXT = /^[\x20-\x7e\r\n]+$/;

const bad = (why: string, details?: Record<string, unknown>) => new GpuAttestationError('GPU_EVIDENCE_MALFORMED', `GPU evidence bundle: ${why}`, details);

function checkItem(e: GpuEvidence, i: number): void {
    if (!Buffer.isBuffer(e?.report) || e.report.length < 1 || e.report.length > MAX_BUNDLE_REPORT_BYTES) throw bad(`GPU ${i}: report must be 1..${MAX_BUNDLE_REPORT_BYTES} bytes`, { gpu: i });
    if (typeof e.chainPem !== 'string' || !PEM_TEXT.test(e.chainPem)) throw bad(`GPU ${i}: chain must be PEM text`, { gpu: i });
    if (e.chainPem.length > MAX_BUNDLE_CHAIN_BYTES) throw bad(`GPU ${i}: chain must be at most ${MAX_BUNDLE_CHAIN_BYTES} bytes`, { gpu: i });
}

function u16(n: number): Buffer {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    return b;
}

/** The extension bytes of 1..MAX_GPUS GPUs' evidence; GPU_EVIDENCE_MALFORMED when out of bounds. */
export function encodeGpuBundle(items: GpuEvidence[]): Buffer {
    if (!Array.isArray(items) || items.length < 1 || items.length > MAX_GPUS) throw bad(`expected 1..${MAX_GPUS} GPUs`);
    items.forEach(checkItem);
    const parts: Buffer[] = [Buffer.from([GPU_BUNDLE_VERSION, items.length])];
    for (const e of items) {
        const chain = Buffer.from(e.chainPem, 'latin1');
        parts.push(u16(e.report.length), e.report, u16(chain.length), chain);
    }
    const out = Buffer.concat(parts);
    if (out.length > MAX_GPU_BUNDLE_BYTES) throw bad(`${out.length} bytes, limit ${MAX_GPU_BUNDLE_BYTES}`);
    return out;
}

/** Strict decoder: version, count, every length in bounds and inside the buffer, nothing trailing. */
export function decodeGpuBundle(b: Buffer): GpuEvidence[] {
    if (!Buffer.isBuffer(b) || b.length < 2 || b.length > MAX_GPU_BUNDLE_BYTES) throw bad(`${b?.length} bytes, expected 2..${MAX_GPU_BUNDLE_BYTES}`);
    if (b[0] !== GPU_BUNDLE_VERSION) throw bad(`unsupported version ${b[0]}`);
    const n = b[1];
    if (n < 1 || n > MAX_GPUS) throw bad(`${n} GPUs, expected 1..${MAX_GPUS}`);
    let off = 2;
    const take = (max: number, what: string, i: number): Buffer => {
        if (off + 2 > b.length) throw bad(`GPU ${i}: truncated before the ${what} length`, { offset: off, gpu: i });
        const len = b.readUInt16BE(off);
        if (len < 1 || len > max) throw bad(`GPU ${i}: ${what} length ${len}, expected 1..${max}`, { offset: off, gpu: i });
        off += 2;
        if (off + len > b.length) throw bad(`GPU ${i}: ${what} runs past the end`, { offset: off, gpu: i });
        const out = b.subarray(off, off + len);
        off += len;
        return out;
    };
    const items: GpuEvidence[] = [];
    for (let i = 0; i < n; i++) {
        const report = Buffer.from(take(MAX_BUNDLE_REPORT_BYTES, 'report', i));
        const chain = take(MAX_BUNDLE_CHAIN_BYTES, 'chain', i).toString('latin1');
        if (!PEM_TEXT.test(chain)) throw bad(`GPU ${i}: chain is not PEM text`, { gpu: i });
        items.push({ report, chainPem: chain });
    }
    if (off !== b.length) throw bad(`${b.length - off} bytes after the last GPU`, { offset: off });
    return items;
}

/** SHA-256 of the extension bytes, hex: what the worker-configuration document names. */
export function gpuBundleHash(bundle: Buffer): string {
    return createHash('sha256').update(bundle).digest('hex');
}
