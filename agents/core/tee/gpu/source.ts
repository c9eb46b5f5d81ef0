// Where a worker gets its GPUs' evidence (spec/worker.md "GPU evidence"): the simulated GPU of the devnet and the
// tests, or, on real hardware, an external command (e.g. a wrapper around NVIDIA's attestation SDK) that is given
// the nonce as hex and prints one JSON line per GPU: {"report": "<base64>", "chain": "<PEM, leaf first>"}.
// Output and time are bounded; every failure is GPU_EVIDENCE_UNAVAILABLE.
import { spawn } from 'child_process';
import { GpuEvidence, MAX_BUNDLE_CHAIN_BYTES, MAX_BUNDLE_REPORT_BYTES, MAX_GPUS } from './bundle';
import { GPU_NONCE_BYTES } from './report';
import { SimulatedGpu, SimulatedReportOptions } from './simulated';
import { GpuAttestationError } from './types';

/** Asked for evidence answering `nonce` (32 bytes) at start and at every certificate renewal. */
export interface GpuEvidenceSource {
    evidence(nonce: Buffer): Promise<GpuEvidence[]>;
}

const unavailable = (why: string, details?: Record<string, unknown>) => new GpuAttestationError('GPU_EVIDENCE_UNAVAILABLE', why, details);

/** `count` simulated GPUs sharing one PKI (one report each); `report` options e.g. tamper a measurement in tests. */
export class SimulatedGpuSource implements GpuEvidenceSource {
    constructor(
        readonly gpu: SimulatedGpu,
        private readonly count = 1,
        private readonly report: SimulatedReportOptions = {},
    ) {
        if (!Number.isInteger(count) || count < 1 || count > MAX_GPUS) throw new RangeError(`count must be 1..${MAX_GPUS}`);
    }

    async evidence(nonce: Buffer): Promise<GpuEvidence[]> {
        return Array.from({ length: this.count }, () => ({ report: this.gpu.report(nonce, this.report), chainPem: this.gpu.chainPem }));
    }
}

export interface CommandGpuSourceOptions {
    /** argv: the program and its arguments; the nonce hex is appended. Run without a shell. */
    command: string[];
    /** The number of GPUs the command must report (default: whatever it prints, 1..8). */
    count?: number;
    /** Killed after this long (default 30 s). */
    timeoutMs?: number;
}

export const DEFAULT_GPU_COMMAND_TIMEOUT_MS = 30_000;
/** Base64 of the largest bundle item plus JSON framing, per GPU. */
export const MAX_GPU_COMMAND_OUTPUT_BYTES = MAX_GPUS * (Math.ceil(MAX_BUNDLE_REPORT_BYTES / 3) * 4 + MAX_BUNDLE_CHAIN_BYTES * 2 + 256);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** One JSON line of the command's output → one GPU's evidence. */
export function parseGpuCommandLine(line: string, i: number): GpuEvidence {
    let o: unknown;
    try {
        o = JSON.parse(line);
    } catch {
        throw unavailable(`GPU command: line ${i + 1} is not JSON`, { line: i + 1 });
    }
    const r = o as { report?: unknown; chain?: unknown };
    if (typeof o !== 'object' || o === null || typeof r.report !== 'string' || typeof r.chain !== 'string') throw unavailable(`GPU command: line ${i + 1} must be {"report": base64, "chain": PEM}`, { line: i + 1 });
    if (!BASE64.test(r.report) || r.report.length % 4 !== 0) throw unavailable(`GPU command: line ${i + 1}: report is not base64`, { line: i + 1 });
    const report = Buffer.from(r.report, 'base64');
    if (report.length < 1 || report.length > MAX_BUNDLE_REPORT_BYTES) throw unavailable(`GPU command: line ${i + 1}: report is ${report.length} bytes, expected 1..${MAX_BUNDLE_REPORT_BYTES}`, { line: i + 1 });
    if (r.chain.length < 1 || r.chain.length > MAX_BUNDLE_CHAIN_BYTES || !/^[\x20-\x7e\r\n]+$/.test(r.chain)) throw unavailable(`GPU command: line ${i + 1}: chain must be 1..${MAX_BUNDLE_CHAIN_BYTES} bytes of PEM`, { line: i + 1 });
    return { report, chainPem: r.chain };
}

export class CommandGpuSource implements GpuEvidenceSource {
    constructor(private readonly o: CommandGpuSourceOptions) {
        if (!Array.isArray(o.command) || o.command.length < 1 || o.command.some((a) => typeof a !== 'string' || a.length === 0)) throw new RangeError('command must be a non-empty list of non-empty strings');
        if (o.count !== undefined && (!Number.isInteger(o.count) || o.count < 1 || o.count > MAX_GPUS)) throw new RangeError(`count must be 1..${MAX_GPUS}`);
    }

    evidence(nonce: Buffer): Promise<GpuEvidence[]> {
        if (nonce.length !== GPU_NONCE_BYTES) return Promise.reject(unavailable(`nonce must be ${GPU_NONCE_BYTES} bytes`));
        const [program, ...args] = this.o.command;
        const timeoutMs = this.o.timeoutMs ?? DEFAULT_GPU_COMMAND_TIMEOUT_MS;
        return new Promise((resolve, reject) => {
            const chunks: Buffer[] = [];
            let size = 0;
            let failure: GpuAttestationError | undefined;
            // Its own process group, so a timeout or a flood ends the command's children too (a shell's `sleep`).
            const child = spawn(program, [...args, nonce.toString('hex')], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
            const fail = (e: GpuAttestationError) => {
                failure ??= e;
                try {
                    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
                } catch {
                    // already gone
                }
                child.stdout.destroy();
            };
            const timer = setTimeout(() => fail(unavailable(`GPU command did not finish within ${timeoutMs} ms`, { timeoutMs })), timeoutMs);
            child.stdout.on('data', (c: Buffer) => {
                size += c.length;
                if (size > MAX_GPU_COMMAND_OUTPUT_BYTES) return fail(unavailable(`GPU command printed more than ${MAX_GPU_COMMAND_OUTPUT_BYTES} bytes`));
                chunks.push(c);
            });
            child.on('error', (e) => fail(unavailable(`GPU command cannot run: ${e.message}`)));
            child.on('close', (code, signal) => {
                clearTimeout(timer);
                if (failure) return reject(failure);
                if (code !== 0) return reject(unavailable(`GPU command exited with ${code ?? signal}`, { exitCode: code, signal }));
                try {
                    resolve(this.parse(Buffer.concat(chunks)));
                } catch (e) {
                    reject(e);
                }
            });
        });
    }

    private parse(out: Buffer): GpuEvidence[] {
        const lines = out.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
        if (lines.length < 1 || lines.length > MAX_GPUS) throw unavailable(`GPU command printed ${lines.length} lines, expected 1..${MAX_GPUS}`);
        if (this.o.count !== undefined && lines.length !== this.o.count) throw unavailable(`GPU command reported ${lines.length} GPUs, the config says ${this.o.count}`, { expected: this.o.count, actual: lines.length });
        return lines.map(parseGpuCommandLine);
    }
}
