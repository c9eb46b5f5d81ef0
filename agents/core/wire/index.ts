// Wire protocol (spec/wire.md): frames, their parser/encoder, the registry of error codes, and router-blind sealing
// on top of agents/core/hpke.
export * from './codes';
export * from './errors';
export * from './frames';
export * from './sealed';
