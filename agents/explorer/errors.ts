// The explorer's error codes (types.ts ExplorerErrorCode; spec/explorer.md "Errors"): each is an HTTP status and an
// ErrorBody, never a crash.
import { CocoonError } from '../core/errors';
import type { ExplorerErrorCode } from './types';

export const ExplorerErrorCodes = ['BAD_ADDRESS', 'BAD_REQUEST', 'NOT_FOUND', 'METHOD_NOT_ALLOWED', 'TOO_MANY_STREAMS', 'CHAIN_UNAVAILABLE'] as const satisfies readonly ExplorerErrorCode[];

/** Every code has its status: the Record makes a code added to the type without one a compile error. */
export const EXPLORER_HTTP_STATUS: Record<ExplorerErrorCode, number> = {
    BAD_ADDRESS: 400,
    BAD_REQUEST: 400,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    TOO_MANY_STREAMS: 503,
    CHAIN_UNAVAILABLE: 502,
};

export class ExplorerError extends CocoonError<(typeof ExplorerErrorCodes)[number]> {}
