// The worker agent (spec/worker.md) and its building blocks.
export * from './errors';
export * from './payouts';
export * from './agent';
export type { ExcludeReason, LinkState, LinkStats, WorkerStats } from './stats';
export { splitUtf8 } from './running-request';
export * from './forward';
export * from './openai-request';
