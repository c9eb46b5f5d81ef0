// Shared helpers of the GPU attestation tests: NVIDIA's real vectors (fixtures/vectors/gpu; a missing one fails the
// test) and policy builders.
import { readdirSync, readFileSync } from 'fs';
import { gpuVector, gpuVectorPath } from '../../../../fixtures/vectors';
import { GpuPolicy, RimSource } from '../../../../agents/core/tee/gpu/types';

/** Inside every certificate's validity: device chain (2022-03-01 ..), RIM signers (2023-09-06 .. 2025-06-22). */
export const T_GPU = new Date('2024-06-01T00:00:00Z');
/** After the RIM L4 signing certificates expired (the latest on 2025-09-05). */
export const T_RIM_EXPIRED = new Date('2026-01-01T00:00:00Z');

export const realReport = (): Buffer => Buffer.from(gpuVector('hopperAttestationReport.txt').toString('latin1').trim(), 'hex');
export const realChain = (): string => gpuVector('hopperCertChain.txt').toString('latin1');
export const deviceRootPem = (): string => gpuVector('verifier_device_root.pem').toString('latin1');
export const rimRootPem = (): string => gpuVector('verifier_RIM_root.pem').toString('latin1');
export const RIM_DIR = () => gpuVectorPath('rims');

export function realRim(name: string): RimSource {
    return { name, xml: readFileSync(`${RIM_DIR()}/${name}`, 'utf8') };
}

export function realRims(): RimSource[] {
    return readdirSync(RIM_DIR()).sort().map(realRim);
}

export function nvidiaPolicy(extra: Partial<GpuPolicy> = {}): GpuPolicy {
    return { deviceRootPem: deviceRootPem(), rimRootPem: rimRootPem(), at: T_GPU, rims: realRims(), ...extra };
}

/** The request nonce of the real report. */
export const REAL_NONCE = Buffer.from('931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb', 'hex');
