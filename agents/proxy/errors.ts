// Typed errors of the proxy agent (spec/proxy.md, "Codes"). The wire codes are what the proxy sends in
// `response_error.code` / `error.code` (shared with the worker and client agents, spec/wire.md); the PROXY_* codes
// are the agent's own failures (start-up, configuration), thrown from ProxyAgent's methods.
import { CocoonError } from '../core/errors';

/** Codes the proxy puts on the wire (besides every WireError code for frames that do not parse). */
export const ProxyWireCodes = [
    'HELLO_REQUIRED', // a frame other than hello before hello_ok (fatal), or no hello in time
    'HELLO_REPEATED', // a second hello on a connection that is already past hello (not fatal, ignored)
    'CHANNEL_INVALID', // the hello's channel is not ours / wrong key / not canonical / not open or active (fatal)
    'CHANNEL_NOT_OWNED', // a worker's hello lacks a valid signature by the channel owner's wallet over its attested key (fatal)
    'CHANNEL_UNDERSTAKED', // the WorkerChannel's stake is below its minStake, at hello or on a later check (fatal)
    'MODEL_NOT_REGISTERED', // a request or a worker's hello names a model Root does not list
    'NO_WORKER', // no connected worker serves the model within the price cap (or holds the sealed key id); retryable
    'WORKER_BUSY', // workers exist but all are at capacity; retryable
    'WORKER_LOST', // the worker disconnected; retryable iff before response_start
    'WORKER_TIMEOUT', // the worker missed a deadline (first byte, idle, cancel grace); retryable iff before response_start
    'DUPLICATE_REQUEST', // the request id is in flight or already in the ledger
    'CREDIT_WINDOW_EXCEEDED', // delivered − voucher ≥ Root's creditWindow
    'INSUFFICIENT_DEPOSIT', // delivered − redeemed ≥ the ClientChannel's balance
    'VOUCHER_INVALID', // the voucher signature does not verify under the channel's clientKey
    'VOUCHER_REFUSED', // the ledger refused the voucher (not increasing, above delivered); message names why
    'RECEIPT_INVALID', // the worker's receipt did not verify; nothing booked, the worker is disconnected
    'IMAGE_NOT_ALLOWED', // the worker's image left Root's allowlist (fatal)
    'PROXY_UNAVAILABLE', // the proxy is stopping or halted, or a chain read it needed failed
    'RATE_LIMITED', // too many frames/bytes before hello, too many hellos being checked, or too many requests in flight on a connection
] as const;
export type ProxyWireCode = (typeof ProxyWireCodes)[number];

/** Codes thrown by ProxyAgent's own API. */
export const ProxyAgentCodes = [
    'PROXY_CONFIG', // an option is missing or invalid; details.key names it
    'PROXY_NOT_DEPLOYED', // the Proxy contract does not exist at proxyAddress
    'PROXY_KEY_MISMATCH', // the Proxy contract's enclaveKey is not the key of `seed`
    'PROXY_ROLLBACK', // the ledger is behind or different from the chain's last commit (details.reason); nothing listens
    'PROXY_NOT_STARTED', // a call that needs start() first
    'PROXY_HALTED', // the agent stopped serving after a rollback detected while running (details.reason)
] as const;
export type ProxyAgentCode = (typeof ProxyAgentCodes)[number];

export type ProxyErrorCode = ProxyWireCode | ProxyAgentCode;

export class ProxyError extends CocoonError<ProxyErrorCode> {}
