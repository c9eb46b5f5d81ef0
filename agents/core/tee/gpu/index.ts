// GPU attestation (spec/attestation.md "GPU evidence"): what the agents' wiring imports.
export * from './types';
export { parseGpuReport, MAX_GPU_REPORT_BYTES, GPU_NONCE_BYTES } from './report';
export { verifyGpuEvidence, gpuNonceFor, compareMeasurements, GPU_NONCE_TAG } from './verify';
export { verifyRim } from './rim';
export { NVIDIA_DEVICE_ROOT_PEM, NVIDIA_RIM_ROOT_PEM } from './roots';
export { SimulatedGpu } from './simulated';
export type { SimulatedGpuOptions, SimulatedReportOptions } from './simulated';
