// Attestation module (spec/attestation.md): TDX quote parsing and DCAP verification, image hash, quote providers.
export * from './types';
export { parseQuote, splitPemChain, isDebugTd, MAX_QUOTE_BYTES, MAX_PEM_CHAIN_BYTES, MAX_PEM_CERTS, TEE_TYPE_TDX, ATT_KEY_TYPE_ECDSA_P256 } from './quote';
export { verifyQuote, verifyQuoteDetailed, normalizePolicy, policyFingerprint, inspectRootKeyId, VerificationCache, DEFAULT_ACCEPTED_TCB_STATUSES } from './verify';
export type { VerificationCacheOptions, VerificationResult } from './verify';
export { imageHash, imageHashInput, checkImageAllowed, normalizeImageHashHex } from './image';
export type { ImageMeasurements } from './image';
export { parseCollateral, TCB_STATUSES, mergeTcbStatus } from './collateral';
export { rootKeyIdOf, parsePckExtension, OID_SGX_EXTENSION } from './certs';
export { SimulatedTee, SIMULATED_STATE_FORMAT } from './simulated';
export type { SimulatedMeasurements, SimulatedTeeOptions, SimulatedTeeState, SimulatedCollateralOptions, QuoteLayout } from './simulated';
export * from './configfs';
