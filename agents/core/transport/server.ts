// RA-TLS server: https (TLS 1.3 only, client certificate requested) + ws. Each client's certificate is verified
// synchronously in 'secureConnection', prepended before the HTTP layer's own listener, so a rejected socket is
// destroyed before HTTP reads any of its bytes; ws's verifyClient checks the same verdict again.
import { EventEmitter } from 'events';
import { createServer, Server as HttpsServer } from 'https';
import type { IncomingMessage, ServerResponse } from 'http';
import type { AddressInfo, Socket } from 'net';
import type { TLSSocket } from 'tls';
import { ServerOptions as WsServerOptions, WebSocket, WebSocketServer } from 'ws';
import { CocoonError } from '../errors';
import { TransportError } from './errors';
import { RaTlsIdentity } from './identity';
import { CertVerifier, PeerAttestation } from './peer';
import { RATLS_TLS_OPTIONS, takePeerCertDer } from './tls';

export interface RaTlsServerOptions<P = PeerAttestation> {
    identity: RaTlsIdentity;
    /**
     * Verifier of client certificates: a PeerVerifier (attestation policy + quote verification, usually cached) for
     * attested peers, a ClientKeyVerifier for clients known by key only.
     */
    verifier: CertVerifier<P>;
    /** Bind address; default 127.0.0.1. */
    host?: string;
    /** Port; default 0 (ephemeral). */
    port?: number;
    /** Only accept WebSocket upgrades on this path (default: any). */
    path?: string;
    /** Passed to ws (e.g. maxPayload). */
    ws?: Pick<WsServerOptions, 'maxPayload' | 'perMessageDeflate'>;
    /**
     * Open TCP connections allowed from one source address; a further one is destroyed before the TLS handshake
     * (no CPU spent on it) and reported as `peerRejected` TOO_MANY_CONNECTIONS. Default: no limit.
     */
    maxConnectionsPerAddress?: number;
    /** Plain HTTPS requests of verified peers (the key service's JSON API); default: 426, this endpoint speaks WebSocket only. */
    onRequest?(req: IncomingMessage, res: ServerResponse, peer: P): void;
}

export interface PeerInfo {
    remoteAddress?: string;
    remotePort?: number;
}

export interface RaTlsServerEvents<P = PeerAttestation> {
    /** A verified peer opened a WebSocket. */
    connection: [ws: WebSocket, peer: P, req: IncomingMessage];
    /** A peer completed TLS but its certificate was refused; its socket is already destroyed. */
    peerRejected: [err: CocoonError, info: PeerInfo];
    /** The TLS handshake itself failed (e.g. a TLS 1.2 client). */
    handshakeFailed: [err: TransportError, info: PeerInfo];
}

export class RaTlsServer<P = PeerAttestation> extends EventEmitter<RaTlsServerEvents<P>> {
    readonly https: HttpsServer;
    readonly wss: WebSocketServer;
    private readonly peers = new WeakMap<Socket, P>();
    private readonly sockets = new Set<Socket>();
    private readonly perAddress = new Map<string, number>();
    private readonly onRotated: () => void;
    private address?: AddressInfo;

    constructor(private readonly opts: RaTlsServerOptions<P>) {
        super();
        this.https = createServer({
            ...RATLS_TLS_OPTIONS,
            ...opts.identity.tlsCredentials(),
            requestCert: true,
            // OpenSSL cannot judge an RA-TLS certificate (self-signed, unknown critical extensions): we do.
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
        });
        // Prepended: the limit is applied before the TLS layer starts its handshake on the socket.
        this.https.prependListener('connection', (s: Socket) => {
            const addr = s.remoteAddress ?? '';
            const n = this.perAddress.get(addr) ?? 0;
            if (n >= (opts.maxConnectionsPerAddress ?? Infinity)) {
                s.destroy();
                const e = new TransportError('TOO_MANY_CONNECTIONS', `${n} connections from ${addr} are open`, { limit: opts.maxConnectionsPerAddress });
                this.emit('peerRejected', e, { remoteAddress: addr, remotePort: s.remotePort });
                return;
            }
            this.perAddress.set(addr, n + 1);
            this.sockets.add(s);
            s.once('close', () => {
                this.sockets.delete(s);
                const left = (this.perAddress.get(addr) ?? 1) - 1;
                if (left > 0) this.perAddress.set(addr, left);
                else this.perAddress.delete(addr);
            });
        });
        this.https.prependListener('secureConnection', (sock: TLSSocket) => {
            this.sockets.add(sock);
            sock.once('close', () => this.sockets.delete(sock));
            this.admit(sock);
        });
        this.https.on('tlsClientError', (err: Error & { code?: string }, sock: TLSSocket) => {
            const e = new TransportError('HANDSHAKE_FAILED', `TLS handshake failed: ${err.message}`, { cause: err.code });
            this.emit('handshakeFailed', e, { remoteAddress: sock.remoteAddress, remotePort: sock.remotePort });
        });
        // Plain HTTP requests from verified peers: onRequest's, or refused (this endpoint only speaks WebSocket).
        this.https.on('request', (req, res) => {
            const peer = this.peers.get(req.socket);
            if (opts.onRequest && peer) return opts.onRequest(req, res, peer);
            res.writeHead(426, { 'content-type': 'application/json', upgrade: 'websocket' });
            res.end(JSON.stringify({ code: 'UPGRADE_REQUIRED', message: 'this endpoint speaks WebSocket only' }));
        });
        this.wss = new WebSocketServer({
            server: this.https,
            path: opts.path,
            maxPayload: opts.ws?.maxPayload,
            perMessageDeflate: opts.ws?.perMessageDeflate ?? false,
            verifyClient: (info: { req: IncomingMessage }) => this.peers.has(info.req.socket),
        });
        this.wss.on('connection', (ws, req) => {
            const peer = this.peers.get(req.socket);
            if (!peer) return ws.terminate(); // unreachable: verifyClient refused it already
            this.emit('connection', ws, peer, req);
        });
        this.onRotated = () => this.https.setSecureContext({ ...RATLS_TLS_OPTIONS, ...opts.identity.tlsCredentials() });
        opts.identity.on('rotated', this.onRotated);
    }

    /** Runs before the HTTP layer sees the socket: verify or destroy. */
    private admit(sock: TLSSocket): void {
        try {
            const peer = this.opts.verifier.verify(takePeerCertDer(sock));
            this.peers.set(sock, peer);
        } catch (e) {
            sock.destroy();
            const err = e instanceof CocoonError ? e : new TransportError('HANDSHAKE_FAILED', String((e as Error)?.message ?? e));
            this.emit('peerRejected', err, { remoteAddress: sock.remoteAddress, remotePort: sock.remotePort });
        }
    }

    /** The attestation of the peer behind a server-side WebSocket or socket. */
    peerOf(x: WebSocket | Socket): P | undefined {
        const s = x instanceof WebSocket ? (x as unknown as { _socket?: Socket })._socket : x;
        return s ? this.peers.get(s) : undefined;
    }

    async listen(): Promise<{ host: string; port: number; url: string }> {
        const host = this.opts.host ?? '127.0.0.1';
        await new Promise<void>((resolve, reject) => {
            this.https.once('error', reject);
            this.https.listen(this.opts.port ?? 0, host, () => {
                this.https.off('error', reject);
                resolve();
            });
        });
        this.address = this.https.address() as AddressInfo;
        return { host, port: this.address.port, url: this.url };
    }

    get url(): string {
        if (!this.address) throw new Error('server is not listening');
        const h = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
        return `wss://${h}:${this.address.port}${this.opts.path ?? '/'}`;
    }

    async close(): Promise<void> {
        this.opts.identity.off('rotated', this.onRotated);
        for (const c of this.wss.clients) c.terminate();
        await new Promise<void>((resolve) => this.wss.close(() => resolve()));
        const closing = [...this.sockets].map((s) => (s.destroyed && s.closed ? undefined : new Promise((r) => s.once('close', r))));
        for (const s of this.sockets) s.destroy();
        await Promise.all(closing);
        await new Promise<void>((resolve) => this.https.close(() => resolve()));
    }
}
