// `cocoon attest verify-gpu <report> --chain <pem> --rims <dir> [--nonce <hex>] [--at <ISO>] [--device-root <pem>]
// [--rim-root <pem>] [--revoked <serial>]...`: verifies GPU evidence (spec/attestation.md "GPU evidence") and prints
// one JSON object {verdict, error, driverVersion, vbiosVersion, measurements: {matched, total, mismatches},
// certificates, ...}. Exit status: 0 accepted, 1 rejected (error.code), 2 usage, I/O or policy error.
import { readdirSync, statSync } from 'fs';
import { join } from 'path';
import { command, CommandIo, Flags, UsageError } from '../../cli-io';
import { quoteBytes, readBounded } from '../cli';
import { parseGpuReport } from './report';
import { MAX_RIM_BYTES } from './rim';
import { MAX_RIMS, verifyGpuEvidence } from './verify';
import { NVIDIA_DEVICE_ROOT_PEM, NVIDIA_RIM_ROOT_PEM } from './roots';
import { GpuAttestationError, GpuPolicy, GpuVerdict, RimSource } from './types';

export const ATTEST_VERIFY_GPU_USAGE = `usage: cocoon attest verify-gpu <report-file> --chain <pem-file> --rims <dir> [options]
  <report-file>          SPDM GET_MEASUREMENTS request + response, raw bytes or hex text (as nvtrust stores it)
  --chain <file>         the GPU attestation-key certificate chain, PEM, leaf first
  --rims <dir>           directory of signed RIMs (*.swidtag, *.xml); the driver and VBIOS RIM are picked by the
                         versions the report names
  --nonce <hex>          the 32-byte nonce the report must answer (default: not checked, said so in the output)
  --at <ISO time>        evaluate certificates at this time (default: now)
  --device-root <file>   trusted device identity root, PEM (default: NVIDIA Device Identity CA)
  --rim-root <file>      trusted RIM signing root, PEM (default: NVIDIA CoRIM signing Root CA)
  --revoked <serial>     a revoked certificate serial (hex); repeatable (default: revocation not checked)
exit status: 0 accepted, 1 rejected (see error.code), 2 usage or I/O error`;

const FLAGS = { chain: 'value', rims: 'value', nonce: 'value', at: 'value', 'device-root': 'value', 'rim-root': 'value', revoked: 'list' } as const;
const RIM_FILE = /\.(swidtag|xml)$/i;

function isoTime(v: string): Date {
    const d = new Date(v);
    if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2}))?$/.test(v) || Number.isNaN(d.getTime())) throw new UsageError(`--at: not an ISO time with a zone (e.g. 2024-06-01T00:00:00Z): ${v}`);
    return d;
}

export function readRims(dir: string): RimSource[] {
    let names: string[];
    try {
        names = readdirSync(dir).filter((n) => RIM_FILE.test(n)).sort();
    } catch (e) {
        throw new UsageError(`cannot read --rims directory ${dir}: ${(e as Error).message}`);
    }
    if (names.length > MAX_RIMS) throw new UsageError(`--rims: more than ${MAX_RIMS} RIM files in ${dir}`);
    return names.map((name) => {
        const path = join(dir, name);
        if (statSync(path).size > MAX_RIM_BYTES) throw new UsageError(`RIM file ${path} is larger than ${MAX_RIM_BYTES} bytes`);
        return { name, xml: readBounded(path, 'RIM file').toString('utf8') };
    });
}

function policyOf(f: Flags<typeof FLAGS>, now: () => Date): GpuPolicy {
    if (!f.chain) throw new UsageError('--chain is required');
    if (!f.rims) throw new UsageError('--rims is required');
    if (f.nonce !== undefined && !/^[0-9a-fA-F]{64}$/.test(f.nonce)) throw new UsageError('--nonce: expected 64 hex characters (32 bytes)');
    for (const s of f.revoked ?? []) if (!/^[0-9a-fA-F]{1,64}$/.test(s)) throw new UsageError(`--revoked: not a hex serial: ${s}`);
    return {
        deviceRootPem: f['device-root'] ? readBounded(f['device-root'], 'device root').toString('latin1') : NVIDIA_DEVICE_ROOT_PEM,
        rimRootPem: f['rim-root'] ? readBounded(f['rim-root'], 'RIM root').toString('latin1') : NVIDIA_RIM_ROOT_PEM,
        at: f.at !== undefined ? isoTime(f.at) : now(),
        nonce: f.nonce ? Buffer.from(f.nonce, 'hex') : undefined,
        rims: readRims(f.rims),
        revoked: f.revoked?.length ? { serials: f.revoked } : undefined,
    };
}

/** The `attest verify-gpu` command. `argv` is what follows `attest verify-gpu`. */
export function attestVerifyGpuCommand(argv: string[], io: CommandIo, now: () => Date = () => new Date()): Promise<number> {
    return command(
        io,
        ATTEST_VERIFY_GPU_USAGE,
        argv,
        FLAGS,
        async (flags, positional) => {
            if (positional.length !== 1) throw new UsageError('expected exactly one <report-file>');
            const policy = policyOf(flags, now);
            const report = quoteBytes(readBounded(positional[0], 'report file'));
            const chain = readBounded(flags.chain!, 'chain file');
            return verify(positional[0], report, chain, policy, io);
        },
        { positional: true, prefix: 'attest verify-gpu: ' },
    );
}

function verify(file: string, report: Buffer, chain: Buffer, policy: GpuPolicy, io: CommandIo): number {
    const out: Record<string, unknown> = {
        verdict: 'rejected',
        error: null,
        file,
        size: report.length,
        driverVersion: null,
        vbiosVersion: null,
        nonce: null,
        nonceChecked: policy.nonce !== undefined,
        revocation: policy.revoked ? 'checked' : 'not-checked',
        measurements: null,
        certificates: null,
        rims: null,
        at: policy.at.toISOString(),
        rimsGiven: policy.rims.length,
    };
    // What the report says, even when it is rejected (never trusted: the verdict decides).
    try {
        const p = parseGpuReport(report);
        Object.assign(out, { driverVersion: p.driverVersion, vbiosVersion: p.vbiosVersion, nonce: p.requestNonce.toString('hex') });
    } catch {
        // the verifier reports the parse error below
    }
    let status: number;
    const progress: Partial<GpuVerdict> = {};
    try {
        verifyGpuEvidence(report, chain, policy, progress);
        out.verdict = 'accepted';
        status = 0;
    } catch (e) {
        if (!(e instanceof GpuAttestationError)) throw e;
        out.error = e.toJSON();
        status = e.code === 'GPU_POLICY_INVALID' ? 2 : 1;
    }
    // What the checks that passed established (all of it when accepted; e.g. the device chain when a RIM is missing).
    Object.assign(out, progress);
    io.stdout(JSON.stringify(out, null, 2) + '\n');
    return status;
}
