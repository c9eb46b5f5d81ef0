// The implementation lives in wrappers/ed25519.ts so that wrappers/ (which imports only build/, @ton/* and itself)
// signs payloads with the same code; the agents import it from here.
export * from '../../wrappers/ed25519';
