// Errors of the RA-TLS transport that are not attestation verdicts (those are AttestationError, ../tee/types.ts).
import { CocoonError } from '../errors';

export const TransportErrorCodes = [
    'HANDSHAKE_FAILED', // TLS handshake did not complete (wrong protocol version, no shared cipher, reset, bad URL)
    'CERT_MISSING', // the peer presented no certificate
    'SESSION_REUSED', // the peer resumed a TLS session; every connection must present and verify a fresh certificate
    'PEER_REJECTED', // the server closed the connection before WebSocket open (it refused our attestation or request)
    'TIMEOUT', // handshake + WebSocket open did not finish in time
    'TOO_MANY_CONNECTIONS', // the server already holds its limit of connections from this source address
] as const;
export type TransportErrorCode = (typeof TransportErrorCodes)[number];

export class TransportError extends CocoonError<TransportErrorCode> {}
