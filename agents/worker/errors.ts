// Typed errors of the worker agent (spec/worker.md). Request-level failures travel as `response_error` codes
// (REQUEST_*, BACKEND_*, HPKE_*, ... see running-request.ts; WORKER_BUSY, runner.ts); these classes cover
// configuration, the connection to a proxy, and payouts. Every code is logged with the proxy it concerns.
import { CocoonError } from '../core/errors';
import { wireCodesOf, WireCodeOf, WireErrorCode, WireErrorCodes } from '../core/wire';

/** Codes the worker puts in `response_error` / `error` frames besides every WireError code: the registry's `worker` codes (agents/core/wire/codes.ts). */
export const WorkerWireCodes = wireCodesOf('worker');
export type WorkerWireCode = WireCodeOf<'worker'>;
/** What the worker may send in an `error` / `response_error` frame. */
export type WorkerSendableCode = WorkerWireCode | WireErrorCode;
const SENDABLE: readonly string[] = [...WorkerWireCodes, ...WireErrorCodes];

/** The code to send for a failure: the error's own when the worker may send it (HpkeError, PricingError, ...), else INTERNAL. */
export function sendableCode(e: unknown): WorkerSendableCode {
    return e instanceof CocoonError && SENDABLE.includes(e.code) ? (e.code as WorkerSendableCode) : 'INTERNAL';
}

export const WorkerConfigErrorCodes = [
    'CONFIG_INVALID', // a config key is missing or out of range; details.key names it
    'WORKER_MODEL_NOT_REGISTERED', // a configured model is not in Root's registry (details.model)
    'WORKER_STATE_INVALID', // the state file exists but is not a worker state file (details.path); nothing is overwritten
    'WORKER_BACKEND_OUTSIDE_TD', // a real TDX worker whose backendUrl is neither loopback (127.0.0.1 / ::1) nor a Unix socket; details.key = backendUrl
    'WORKER_WEIGHTS_MISMATCH', // a model's weightsDir does not hash to the weightsHash Root registers (details.model, expected, actual)
] as const;
export type WorkerConfigErrorCode = (typeof WorkerConfigErrorCodes)[number];

export class WorkerConfigError extends CocoonError<WorkerConfigErrorCode> {
    /** The offending config key, e.g. "models[0].coefficient". */
    get key(): string | undefined {
        const k = this.details?.key;
        return typeof k === 'string' ? k : undefined;
    }
}

export const WorkerLinkErrorCodes = [
    'PROXY_KEY_MISMATCH', // the attested proxy's certificate key is not the enclaveKey Root lists for it
    'PROXY_NOT_LISTED', // the proxy is not (or no longer) registered in Root
    'PROXY_IMAGE_REMOVED', // the proxy's image is not (or no longer) on Root's proxy allowlist
    'PROXY_HELLO_TIMEOUT', // no hello_ok within the hello timeout
    'PROXY_REFUSED', // the proxy answered our hello with an `error` frame (details.code = its code)
    'PROXY_PROTOCOL', // the proxy sent a frame we cannot accept (unparsable, wrong state, wrong address in hello_ok)
    'CHANNEL_UNUSABLE', // our WorkerChannel with this proxy is unbonding or closed: nothing to serve through
    'STAKE_FAILED', // the stake was sent but the channel did not become active in time
    'CONNECTION_LOST', // the WebSocket closed (details.code, details.reason)
    'WORKER_NOT_READY', // waitReady(): the links did not all become ready in time (details.proxies = link stats)
] as const;
export type WorkerLinkErrorCode = (typeof WorkerLinkErrorCodes)[number];

export class WorkerLinkError extends CocoonError<WorkerLinkErrorCode> {}

export const PayoutErrorCodes = [
    'PAYOUT_INVALID', // the signature does not verify under the proxy's enclave key over payoutPayload(channel, amount, globalId)
    'PAYOUT_STALE', // the amount is below the payout already stored for the channel
    'CLAIM_FAILED', // a claim was sent but the channel's `paid` did not reach its amount (e.g. the proxy's pool was short)
] as const;
export type PayoutErrorCode = (typeof PayoutErrorCodes)[number];

export class PayoutError extends CocoonError<PayoutErrorCode> {}
