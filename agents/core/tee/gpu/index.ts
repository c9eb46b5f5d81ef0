// GPU attestation (spec/attestation.md "GPU evidence"): what the agents' wiring imports.
export * from './types';
export { parseGpuReport, MAX_GPU_REPORT_BYTES, GPU_NONCE_BYTES } from './report';
export { verifyGpuEvidence, gpuNonceFor, compareMeasurements, GPU_NONCE_TAG } from './verify';
export { verifyRim } from './rim';
export { NVIDIA_DEVICE_ROOT_PEM, NVIDIA_RIM_ROOT_PEM } from './roots';
export { SimulatedGpu } from './simulated';
export type { SimulatedGpuOptions, SimulatedReportOptions } from './simulated';
export { encodeGpuBundle, decodeGpuBundle, gpuBundleHash, MAX_GPUS, MAX_GPU_BUNDLE_BYTES } from './bundle';
export type { GpuEvidence } from './bundle';
export { SimulatedGpuSource, CommandGpuSource } from './source';
export type { GpuEvidenceSource, CommandGpuSourceOptions } from './source';
export { GpuEvidenceChecker, gpuRefusal, DEFAULT_GPU_TRUST } from './check';
export type { GpuTrust } from './check';
