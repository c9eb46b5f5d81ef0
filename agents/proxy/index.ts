// The proxy agent (spec/proxy.md): routing, metering, settlement and state commits.
export * from './errors';
export * from './router';
export * from './agent';
export { Ledger, LedgerError, workerShare } from './ledger';
