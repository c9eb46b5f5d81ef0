// The proxy agent's old single file, kept as the name other code imports: the runner and its public types.
export { ProxyAgent } from './runner';
export type { ProxyAgentOptions, ProxyUrls } from './options';
export type { LedgerTotals, ProxyStats } from './stats';
export type { PayoutResult, RedeemResult, SettleResult } from './settlement';
