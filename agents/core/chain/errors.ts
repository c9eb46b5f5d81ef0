// Typed errors of chain access. Codes are stable (they appear in logs and in agents' error replies).
import { CocoonError } from '../errors';

/** The one config error code of every agent (ProxyError, WorkerConfigError, ClientError and DevnetError use it too). */
export const ConfigErrorCodes = ['CONFIG_INVALID'] as const;

/** A configuration value is missing or invalid; `details.key` names it (object path or env variable). */
export class ConfigError extends CocoonError<(typeof ConfigErrorCodes)[number]> {
    constructor(
        readonly key: string,
        message: string,
        details?: Record<string, unknown>,
    ) {
        super('CONFIG_INVALID', `${key}: ${message}`, { key, ...details });
    }
}

export const ChainErrorCodes = [
    'CHAIN_RATE_LIMITED', // the endpoint kept answering 429 after all retries (or asked to wait longer than allowed)
    'CHAIN_UNAVAILABLE', // 5xx, timeouts or network errors after all retries
    'CHAIN_REQUEST_REJECTED', // a 4xx other than 429: the request itself is wrong; never retried
    'CHAIN_BAD_RESPONSE', // the endpoint answered something that does not parse
    'CHAIN_GETTER_FAILED', // a get-method exited with a non-zero code (or its result did not decode)
    'CHAIN_NOT_CONFIGURED', // an operation needs a config value that is absent (e.g. the Root address)
    'CHAIN_SEND_TIMEOUT', // a wallet transfer was sent but its seqno did not advance in time
    'CHAIN_SEND_INVALID', // a wallet transfer cannot be built (too many messages, no messages)
    'STREAM_FAILED', // a transaction stream could not be (re)established
] as const;
export type ChainErrorCode = (typeof ChainErrorCodes)[number];

export class ChainError extends CocoonError<ChainErrorCode> {}

/**
 * For `.catch()` on a getter read: a getter that fails or does not decode (CHAIN_GETTER_FAILED) means the contract
 * is not of that kind, so null; any other error (the chain unreachable, a bad response) is rethrown.
 */
export function nullIfGetterFailed(e: unknown): null {
    if (e instanceof ChainError && e.code === 'CHAIN_GETTER_FAILED') return null;
    throw e;
}
