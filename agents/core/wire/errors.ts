// Errors of the wire protocol (spec/wire.md, "Error codes"). parseFrame / encodeFrame throw only these.
import { CocoonError } from '../errors';

export const WireErrorCodes = [
    'WIRE_MALFORMED', // not a UTF-8 JSON object, nested too deeply, or `type` missing / not a string
    'WIRE_TOO_LARGE', // the message exceeds MAX_FRAME_BYTES
    'WIRE_UNKNOWN_TYPE', // `type` names no frame of this protocol
    'WIRE_DIRECTION', // a known frame that this sender may not send (e.g. a worker sending `request`)
    'WIRE_BAD_FIELD', // a field is missing, has the wrong type or is out of bounds, or an unknown key is present; details.path names it
    'WIRE_VERSION', // `v` is not the negotiated / a supported version, or hello's version range has no overlap with ours
] as const;
export type WireErrorCode = (typeof WireErrorCodes)[number];

export class WireError extends CocoonError<WireErrorCode> {}
