// Typed errors of the devnet chain server. Codes are stable (they appear in logs and in the CLI's output).
import { CocoonError } from '../core/errors';

export const DevnetErrorCodes = [
    'DEVNET_STATE_CORRUPT', // the state file exists but does not parse as a devnet snapshot
    'DEVNET_STATE_IO', // the state file (or its directory) cannot be read or written
    'DEVNET_NOT_RUNNING', // stop()/url used before start() or after stop()
    'DEVNET_ALREADY_STARTED', // start() called twice
    'CONFIG_INVALID', // invalid constructor option; details.key names it
    'DEVNET_DEPLOY', // the local network's deployment did not take effect (governance proposal, Proxy registration)
    'DEVNET_DEMO', // the local network's demo request failed or found no worker in time
] as const;
export type DevnetErrorCode = (typeof DevnetErrorCodes)[number];

export class DevnetError extends CocoonError<DevnetErrorCode> {}

/** The state file at `path` exists but cannot be used. The server refuses to start fresh over it. */
export class DevnetStateError extends DevnetError {
    constructor(
        code: 'DEVNET_STATE_CORRUPT' | 'DEVNET_STATE_IO',
        readonly path: string,
        readonly reason: string,
    ) {
        super(
            code,
            code === 'DEVNET_STATE_CORRUPT'
                ? `devnet state file ${path} is corrupt (${reason}); move it away to start a fresh chain, or restore a good copy`
                : `devnet state file ${path}: ${reason}`,
            { path, reason },
        );
    }
}

/**
 * An error answered to an API caller, toncenter style: HTTP `status` and body `{ok:false, error, code}`
 * with `code` equal to the status (400 malformed request, 404 unknown method or route, 405 wrong verb,
 * 413 body too large, 422 invalid params, 500 the chain rejected the message, 503 stopping).
 */
export class RpcError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
        this.name = 'RpcError';
    }
}
