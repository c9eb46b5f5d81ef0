// TLS parameters shared by both sides of RA-TLS: TLS 1.3 only, AES-GCM suites.
import type { TLSSocket } from 'tls';
import { TransportError } from './errors';

export const RATLS_TLS_OPTIONS = {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384',
} as const;

/**
 * The peer certificate DER of a finished handshake, read exactly once (reference/attestation.md §2, pitfalls 2-3:
 * getPeerX509Certificate() empties the client's peer chain; getPeerCertificate() returns {} without a cert).
 * Throws TransportError SESSION_REUSED / CERT_MISSING.
 */
export function takePeerCertDer(sock: TLSSocket): Buffer {
    if (sock.isSessionReused()) throw new TransportError('SESSION_REUSED', 'TLS session resumption is not accepted');
    if (sock.getProtocol() !== 'TLSv1.3') throw new TransportError('HANDSHAKE_FAILED', `negotiated ${sock.getProtocol()}, need TLSv1.3`);
    const pc = sock.getPeerCertificate(true) as { raw?: Buffer } | null;
    if (!pc || !Buffer.isBuffer(pc.raw) || pc.raw.length === 0) throw new TransportError('CERT_MISSING', 'peer presented no certificate');
    return pc.raw;
}
