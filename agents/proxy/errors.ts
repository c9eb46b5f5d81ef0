// Typed errors of the proxy agent (spec/proxy.md, "Codes"). The wire codes are what the proxy sends in
// `response_error.code` / `error.code` (shared with the worker and client agents, spec/wire.md); the PROXY_* codes
// are the agent's own failures (start-up, configuration), thrown from ProxyAgent's methods.
import { CocoonError } from '../core/errors';
import { wireCodesOf, WireCodeOf, WireErrorCode } from '../core/wire';

/** Codes the proxy puts on the wire besides every WireError code: the registry's `proxy` codes (agents/core/wire/codes.ts). */
export const ProxyWireCodes = wireCodesOf('proxy');
export type ProxyWireCode = WireCodeOf<'proxy'>;
/** What the proxy may send in an `error` / `response_error` frame of its own. */
export type ProxySendableCode = ProxyWireCode | WireErrorCode;

/** Codes thrown by ProxyAgent's own API. */
export const ProxyAgentCodes = [
    'CONFIG_INVALID', // an option is missing or invalid; details.key names it
    'PROXY_NOT_DEPLOYED', // the Proxy contract does not exist at proxyAddress
    'PROXY_KEY_MISMATCH', // the Proxy contract's enclaveKey is not the key of `seed`
    'PROXY_ROLLBACK', // the ledger is behind or different from the chain's last commit (details.reason); nothing listens
    'PROXY_NOT_STARTED', // a call that needs start() first
    'PROXY_HALTED', // the agent stopped serving after a rollback detected while running (details.reason)
] as const;
export type ProxyAgentCode = (typeof ProxyAgentCodes)[number];

export type ProxyErrorCode = ProxyWireCode | ProxyAgentCode;

export class ProxyError extends CocoonError<ProxyErrorCode> {}
