// RA-TLS transport (spec/attestation.md, "RA-TLS").
export * from './errors';
export * from './claims';
export * from './worker-config';
export * from './cert';
export * from './peer';
export * from './identity';
export * from './tls';
export * from './server';
export * from './client';
export * from './socket';
