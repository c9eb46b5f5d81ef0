// The client's one kind of peer: an attested RA-TLS connection to the proxy (spec/client.md, "Identity and trust").
// Dialing verifies the proxy's quote, Root's proxy images and its registered enclave key before any frame is sent;
// the connection then parses frames, runs hello → hello_ok → payment_status, and routes each frame to the running
// request or candidate query that waits for it. What the runner does with the rest (payment_status, late receipts,
// refused vouchers, a drop) goes through ConnectionHost.
import { Address } from '@ton/core';
import type { WebSocket, RawData } from 'ws';
import { VerificationCache } from '../core/tee/verify';
import { AttestationError, VerifyPolicy } from '../core/tee/types';
import { connectRaTls, PeerAttestation, PeerPolicy, PeerVerifier, PeerVerifierOptions, RaTlsConnection, RaTlsIdentity, TransportError } from '../core/transport';
import { dialHello, errorFrame, fitsBuffer, HelloFailure, pongFor, readFrame } from '../core/transport/socket';
import {
    DirectionFrames,
    encodeFrame,
    Frame,
    HelloFrame,
    MAX_FRAME_BYTES,
    MIN_PROTOCOL_VERSION,
    PaymentStatusFrame,
    PROTOCOL_VERSION,
    ResponseEndFrame,
    WireError,
} from '../core/wire';
import { ProxyInfo } from '../../wrappers/Root';
import type { Log } from '../core/log';
import type { Clock } from '../core/clock';
import { bytes256 } from '../core/hex';
import { ClientError } from './errors';
import { DONE, Queue } from './queue';
import { errMsg } from './util';

export type InFrame = DirectionFrames['proxy_to_client'];

/** Bytes the client queues for a proxy that does not read before it refuses to send more (two largest frames). */
const MAX_UNSENT_BYTES = 2 * MAX_FRAME_BYTES;
const AGENT = 'cocoon-ts-client/0.1';

/** What a proxy connection asks of its runner. */
export interface ConnectionHost {
    log: Log;
    /** A payment_status frame (the handshake's, and every later one). */
    onPaymentStatus(f: PaymentStatusFrame): void;
    /** A response_end for no running request: true when it is a late receipt the runner settles. */
    onLateReceipt(conn: ProxyConnection, f: ResponseEndFrame): boolean;
    /** The proxy refused a voucher (error frame VOUCHER_INVALID / VOUCHER_REFUSED). */
    onVoucherError(code: string, message: string): void;
    /** The connection was dropped by us (`closedByPeer` false) or closed by the proxy / the network. */
    onGone(conn: ProxyConnection, closedByPeer: boolean): void;
}

/** PeerVerifier that also requires the certificate key to be the proxy's registered enclave key. */
class ProxyVerifier extends PeerVerifier {
    constructor(
        policy: PeerPolicy,
        private readonly enclaveKey: Buffer,
        opts: PeerVerifierOptions,
    ) {
        super(policy, opts);
    }

    verify(der: Buffer | undefined): PeerAttestation {
        const peer = super.verify(der);
        if (!peer.cert.publicKey.equals(this.enclaveKey)) {
            throw new ClientError('PROXY_REJECTED', `proxy certificate key ${peer.cert.publicKey.toString('hex')} is not the enclave key registered in Root`, {
                reason: 'KEY_MISMATCH',
            });
        }
        return peer;
    }
}

/** What dialing a proxy needs: our identity, the quote policy, Root's current proxy images. */
export interface DialOptions {
    identity: RaTlsIdentity;
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    isImageAllowed: (imageHash: string) => boolean;
    cache: VerificationCache;
    clock: Clock;
    connectTimeoutMs: number;
    /** Told of each attestation verification (the client's metrics). */
    observe?: (code: string | null) => void;
}

/** RA-TLS to the proxy's client endpoint; PROXY_REJECTED for attestation / image / key, PROXY_UNREACHABLE otherwise. */
export async function dialProxy(info: ProxyInfo, o: DialOptions): Promise<RaTlsConnection> {
    const verifier = new ProxyVerifier({ quote: o.quotePolicy, isImageAllowed: o.isImageAllowed }, bytes256(info.enclaveKey), { cache: o.cache, clock: () => new Date(o.clock.now()), observe: o.observe });
    try {
        return await connectRaTls(info.clientEndpoint, o.identity, verifier, { timeoutMs: o.connectTimeoutMs, ws: { maxPayload: MAX_FRAME_BYTES } });
    } catch (e) {
        if (e instanceof ClientError) throw e;
        if (e instanceof AttestationError) throw new ClientError('PROXY_REJECTED', `proxy attestation refused: ${e.message}`, { reason: e.code, endpoint: info.clientEndpoint });
        const reason = e instanceof TransportError ? e.code : undefined;
        throw new ClientError('PROXY_UNREACHABLE', `cannot connect to ${info.clientEndpoint}: ${errMsg(e)}`, { reason, endpoint: info.clientEndpoint });
    }
}

/** One RA-TLS connection to the proxy, after (or during) hello. */
export class ProxyConnection {
    version: number | undefined;
    /** Frames before the handshake finished (hello_ok, the first payment_status, an error). */
    pre: Queue<InFrame> | undefined = new Queue<InFrame>();
    readonly requests = new Map<string, Queue<InFrame>>();
    readonly queries = new Map<string, Queue<InFrame>>();
    closed = false;
    /** Why everything waiting on this connection failed (the handshake reports it rather than the dialler's view). */
    private failure: ClientError | undefined;

    constructor(
        readonly ws: WebSocket,
        readonly peer: PeerAttestation,
        private readonly host: ConnectionHost,
    ) {
        ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
        ws.on('close', () => this.onClosed());
        ws.on('error', (e) => this.host.log('client.socket-error', { message: e.message }));
    }

    /** Up: hello done, not closed. */
    get ready(): boolean {
        return !this.closed && this.pre === undefined;
    }

    /** Queues a frame; refuses (PROXY_UNREACHABLE, reason BACKPRESSURE) while the proxy leaves MAX_UNSENT_BYTES unread. */
    send(f: Frame): void {
        if (this.closed) throw new ClientError('PROXY_UNREACHABLE', 'the proxy connection is closed');
        const text = encodeFrame(f, 'client_to_proxy');
        if (!fitsBuffer(this.ws, Buffer.byteLength(text, 'utf8'), MAX_UNSENT_BYTES)) {
            throw new ClientError('PROXY_UNREACHABLE', `the proxy has not read the last ${this.ws.bufferedAmount} bytes; not queueing more`, { reason: 'BACKPRESSURE' });
        }
        this.ws.send(text);
    }

    /** Fails everything waiting on this connection. */
    failAll(err: ClientError): void {
        this.failure ??= err;
        this.pre?.fail(err);
        for (const q of this.requests.values()) q.fail(err);
        for (const q of this.queries.values()) q.fail(err);
    }

    /**
     * hello → hello_ok (version, proxy address) → payment_status. Returns the proxy's payment_status; the frames right
     * behind it are dispatched before this returns.
     */
    async handshake(channel: Address, proxy: Address, connectTimeoutMs: number): Promise<{ version: number; status: PaymentStatusFrame }> {
        const pre = this.pre!;
        const hello: HelloFrame = { type: 'hello', v: PROTOCOL_VERSION, minV: MIN_PROTOCOL_VERSION, role: 'client', channel: channel.toString(), agent: AGENT };
        const timeout = () => new ClientError('PROXY_UNREACHABLE', `no hello_ok within ${connectTimeoutMs} ms`);
        let version: number;
        try {
            version = await dialHello(this.ws, hello, {
                inDir: 'proxy_to_client',
                proxy,
                timeoutMs: connectTimeoutMs,
                errors: 'fail',
                send: (f) => this.ws.send(encodeFrame(f, 'client_to_proxy')),
                // From the next message on, frames queue in `pre` (payment_status, then the re-sent receipts).
                onReady: (v) => (this.version = v),
            });
        } catch (e) {
            if (this.failure) throw this.failure;
            const f = e as HelloFailure;
            if (f.kind === 'timeout') throw timeout();
            if (f.kind === 'refused') throw new ClientError('PROXY_REFUSED', f.message, { wireCode: f.details.code });
            if (f.kind === 'closed') throw new ClientError('PROXY_UNREACHABLE', 'the proxy connection closed');
            throw new ClientError('PROTOCOL_ERROR', f.message, f.details.code ? { wireCode: f.details.code } : undefined);
        }
        const st = await pre.next(connectTimeoutMs, () => new ClientError('PROXY_UNREACHABLE', `no payment_status within ${connectTimeoutMs} ms`));
        if (st === DONE) throw timeout();
        if (st.type === 'error') throw new ClientError('PROXY_REFUSED', `proxy refused the channel: ${st.code}: ${st.message}`, { wireCode: st.code });
        if (st.type !== 'payment_status') throw new ClientError('PROTOCOL_ERROR', `expected payment_status, got ${st.type}`);
        this.pre = undefined;
        this.host.onPaymentStatus(st);
        // Frames right behind payment_status: the proxy re-sends unsettled receipts there (settleLate).
        for (const f of pre.drain()) this.dispatch(f);
        return { version, status: st };
    }

    private onMessage(data: RawData, isBinary: boolean): void {
        if (this.closed) return;
        let f: InFrame;
        try {
            f = readFrame(data, isBinary, 'proxy_to_client', this.version);
        } catch (e) {
            return this.protocolFault(e);
        }
        if (f.type === 'ping') {
            try {
                this.send(pongFor(f, f.v));
            } catch {
                /* closing */
            }
            return;
        }
        if (f.type === 'pong') return;
        if (this.version === undefined) return; // before hello_ok: the dialler (dialHello) reads it
        if (this.pre) {
            this.pre.push(f);
            return;
        }
        this.dispatch(f);
    }

    private dispatch(f: InFrame): void {
        switch (f.type) {
            case 'payment_status':
                return this.host.onPaymentStatus(f);
            case 'response_start':
            case 'response_chunk':
            case 'response_end':
            case 'response_error': {
                const q = this.requests.get(f.id);
                if (q) q.push(f);
                else if (f.type === 'response_end' && this.host.onLateReceipt(this, f)) return;
                else this.host.log('client.frame-dropped', { type: f.type, id: f.id });
                return;
            }
            case 'worker_candidates':
            case 'coop_withdraw_signed': {
                const q = this.queries.get(f.id);
                if (q) q.push(f);
                return;
            }
            case 'error': {
                const q = f.id !== undefined ? (this.requests.get(f.id) ?? this.queries.get(f.id)) : undefined;
                if (q) return q.push(f);
                if (f.code === 'VOUCHER_INVALID' || f.code === 'VOUCHER_REFUSED') this.host.onVoucherError(f.code, f.message);
                this.host.log('client.proxy-error', { code: f.code, message: f.message, fatal: f.fatal });
                if (f.fatal) this.drop(new ClientError('PROXY_REFUSED', `proxy closed the connection: ${f.code}: ${f.message}`, { wireCode: f.code }));
                return;
            }
            case 'hello_ok':
                return this.protocolFault(new WireError('WIRE_BAD_FIELD', 'hello_ok after the handshake'));
        }
    }

    /** The proxy sent something that does not parse: tell it (fatal) and drop the connection. */
    private protocolFault(e: unknown): void {
        const code = e instanceof WireError ? e.code : 'WIRE_MALFORMED';
        this.host.log('client.bad-frame', { code, message: errMsg(e) });
        try {
            this.send(errorFrame(this.version ?? PROTOCOL_VERSION, code, errMsg(e), true));
        } catch {
            /* already closing */
        }
        this.drop(new ClientError('PROTOCOL_ERROR', `proxy sent a bad frame: ${errMsg(e)}`, { wireCode: code }));
    }

    /** Closes the connection: everything waiting on it fails with `err`; the runner reconnects if it was its own. */
    drop(err: ClientError): void {
        if (!this.closed) {
            this.closed = true;
            this.failAll(err);
            this.ws.terminate();
        }
        this.host.onGone(this, false);
    }

    private onClosed(): void {
        if (!this.closed) {
            this.closed = true;
            this.failAll(new ClientError('PROXY_UNREACHABLE', 'the proxy connection closed'));
        }
        this.host.onGone(this, true);
    }
}
