// Wire protocol (spec/wire.md): frames, their parser/encoder, and router-blind sealing on top of agents/core/hpke.
export * from './errors';
export * from './frames';
export * from './sealed';
