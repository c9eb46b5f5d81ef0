// Chain access (design §4): config, transport, the Chain interface over TonClient, wallets, tonapi streams.
export * from './errors';
export * from './config';
export * from './http';
export * from './toncenter';
export * from './chain';
export * from './tonapi';
export * from './worker-channel';
export * from './trust-clock';
