// The worker agent (spec/worker.md) and its building blocks.
export * from './errors';
export * from './payouts';
export * from './runner';
export type { ExcludeReason, LinkState, LinkStats, WorkerStats } from './stats';
export { splitUtf8 } from './running-request';
export * from './forward';
export * from './openai-request';
