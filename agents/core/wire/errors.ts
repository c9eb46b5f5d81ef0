// Errors of the wire protocol (spec/wire.md, "Error codes"). parseFrame / encodeFrame throw only these.
import { CocoonError } from '../errors';
import { wireCodesOf, WireCodeOf } from './codes';

/** The registry's `parser` codes (agents/core/wire/codes.ts): WIRE_MALFORMED, WIRE_TOO_LARGE, WIRE_UNKNOWN_TYPE, WIRE_DIRECTION, WIRE_BAD_FIELD (details.path), WIRE_VERSION. */
export const WireErrorCodes = wireCodesOf('parser');
export type WireErrorCode = WireCodeOf<'parser'>;

export class WireError extends CocoonError<WireErrorCode> {}
