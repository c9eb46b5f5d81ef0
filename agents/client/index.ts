// The client: SDK (CocoonClient), its state file, and the local OpenAI-compatible HTTP API (spec/client.md).
export * from './errors';
export * from './state';
export * from './sdk';
export * from './server';
