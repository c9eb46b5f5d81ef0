// RA-TLS client: TLS 1.3 with our certificate, the server's certificate verified on 'secureConnect', and only then
// a WebSocket over that very socket — so no byte of the HTTP upgrade leaves before the server is verified.
// Acceptance by the server is WebSocket 'open' (HTTP 101) and nothing earlier: in TLS 1.3 the client finishes its
// handshake before the server has judged the client certificate.
import { isIP } from 'net';
import { connect as tlsConnect, TLSSocket } from 'tls';
import { ClientOptions as WsClientOptions, WebSocket } from 'ws';
import { CocoonError } from '../errors';
import { TransportError } from './errors';
import { RaTlsCredentials } from './identity';
import { PeerAttestation, PeerPolicy, PeerVerifier, QuoteVerifyFn } from './peer';
import { RATLS_TLS_OPTIONS, takePeerCertDer } from './tls';

export interface ConnectOptions {
    /** For a PeerPolicy: quote verification (default: a fresh VerificationCache; pass a PeerVerifier to share one). */
    verifyQuote?: QuoteVerifyFn;
    clock?: () => Date;
    /** Handshake + WebSocket open deadline; default 10 s. */
    timeoutMs?: number;
    /** Local (source) address to connect from; default: chosen by the OS. */
    localAddress?: string;
    ws?: Pick<WsClientOptions, 'maxPayload' | 'perMessageDeflate' | 'headers'>;
}

export interface RaTlsConnection {
    ws: WebSocket;
    peer: PeerAttestation;
    socket: TLSSocket;
}

export function connectRaTls(url: string, identity: RaTlsCredentials, policy: PeerPolicy | PeerVerifier, opts: ConnectOptions = {}): Promise<RaTlsConnection> {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        return Promise.reject(new TransportError('HANDSHAKE_FAILED', `bad URL ${url}`));
    }
    if (u.protocol !== 'wss:') return Promise.reject(new TransportError('HANDSHAKE_FAILED', `RA-TLS needs a wss: URL, got ${u.protocol}`));
    let verifier: PeerVerifier;
    if (policy instanceof PeerVerifier) verifier = policy;
    else {
        try {
            verifier = new PeerVerifier(policy, { verifyQuote: opts.verifyQuote, clock: opts.clock });
        } catch (e) {
            return Promise.reject(e);
        }
    }
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(u.port || 443);

    return new Promise<RaTlsConnection>((resolve, reject) => {
        let settled = false;
        let verified = false;
        let ws: WebSocket | undefined;
        const sock = tlsConnect({
            host,
            port,
            servername: isIP(host) ? undefined : host,
            // passed on to net.connect (Node's tls.connect does; its typings omit it)
            ...({ localAddress: opts.localAddress } as object),
            ...RATLS_TLS_OPTIONS,
            ...identity.tlsCredentials(),
            // OpenSSL cannot judge an RA-TLS certificate (self-signed, unknown critical extensions): the attestation
            // check on 'secureConnect' below does, before the WebSocket (and so any byte of ours) exists.
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
        });
        const timer = setTimeout(() => fail(new TransportError('TIMEOUT', `no WebSocket open from ${url} within ${opts.timeoutMs ?? 10_000} ms`)), opts.timeoutMs ?? 10_000);
        const fail = (e: CocoonError | Error) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (ws) ws.terminate();
            sock.destroy();
            reject(e);
        };
        const lost = (why: string, cause?: string) =>
            fail(
                verified
                    ? new TransportError('PEER_REJECTED', `server closed the connection before WebSocket open (${why}); it may have refused our attestation`, { cause })
                    : new TransportError('HANDSHAKE_FAILED', `TLS handshake with ${u.host} failed: ${why}`, { cause }),
            );
        sock.on('error', (e: Error & { code?: string }) => lost(e.message, e.code));
        sock.once('close', () => lost('connection closed'));
        sock.once('secureConnect', () => {
            let peer: PeerAttestation;
            try {
                peer = verifier.verify(takePeerCertDer(sock));
            } catch (e) {
                return fail(e as Error);
            }
            verified = true;
            ws = new WebSocket(url, {
                ...opts.ws,
                perMessageDeflate: opts.ws?.perMessageDeflate ?? false,
                createConnection: () => sock,
            });
            ws.once('unexpected-response', (_req, res) => lost(`HTTP ${res.statusCode}`));
            ws.once('error', (e: Error & { code?: string }) => lost(e.message, e.code));
            ws.once('open', () => {
                if (settled) return;
                settled = true;
                clearTimeout(timer);
                resolve({ ws: ws!, peer, socket: sock });
            });
        });
    });
}
