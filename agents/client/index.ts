// The client: SDK (CocoonClient), its state file, and the local OpenAI-compatible HTTP API (spec/client.md).
export * from './errors';
export * from './state';
export { CocoonClient } from './runner';
export type { CocoonClientOptions, Privacy } from './runner';
export type { Log } from '../core/log';
export type { ClientEvent, Endpoint, RequestArgs } from './running-request';
export type { ModelInfo } from './candidates';
export type { Balances, ChannelStateName, CloseResult, WithdrawResult } from './channel';
export type { PaymentStatus } from './stats';
export * from './server';
