// The worker agent (spec/worker.md) and its building blocks.
export * from './errors';
export * from './payouts';
export * from './agent';
export * from './stats';
export * from './forward';
export * from './openai-request';
