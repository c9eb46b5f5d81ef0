// What both kinds of peer connection share (spec/proxy.md, "Connection state machine"): await_hello → checking →
// ready → closed, the hello timeout, frames held while the hello is checked, keepalive, the bounded send path and
// error frames. client-connection.ts and worker-connection.ts add what each kind of peer says.
import { randomBytes } from 'crypto';
import type { Address } from '@ton/core';
import type { RawData, WebSocket } from 'ws';
import { asWireError, badFrameRef, fitsBuffer, Keepalive, pongFor, rawBytes, rawSize, readFrame, sendError, WS_OPEN } from '../core/transport/socket';
import { Direction, encodeFrame, Frame, HelloClientFrame, HelloWorkerFrame, negotiateVersion, WireError } from '../core/wire';
import { Log, withFields } from '../core/log';
import { ProxySendableCode } from './errors';
import { ProxyLimits, Refusal } from './guard';
import type { RunningRequest } from './running-request';
import type { ProxyCounters } from './stats';

export type ConnState = 'await_hello' | 'checking' | 'ready' | 'closed';

const FATAL_WIRE = new Set(['WIRE_MALFORMED', 'WIRE_TOO_LARGE', 'WIRE_DIRECTION', 'WIRE_VERSION']);
/** A peer that ignores the close handshake after a fatal error is cut off after this long. */
const CLOSE_GRACE_MS = 2000;

/** What a connection needs of its runner. */
export interface ConnectionHost {
    readonly limits: ProxyLimits;
    readonly counters: ProxyCounters;
    readonly helloTimeoutMs: number;
    readonly proxyAddress: Address;
    stopping(): boolean;
    readonly log: Log;
    /** Runs a hello check through the hello gate (guard.ts HelloGate.admit). */
    gate(address: string, key: string | undefined, known: boolean, run: () => Promise<Refusal>): Promise<Refusal>;
}

export abstract class Connection {
    abstract readonly kind: 'worker' | 'client';
    readonly id = randomBytes(8).toString('hex');
    state: ConnState = 'await_hello';
    /** Negotiated protocol version (valid once ready). */
    version = 0;
    /** Frames received while the hello was being checked, and their size. */
    private pending: RawData[] = [];
    private pendingBytes = 0;
    private keepaliveTicks?: Keepalive;
    private helloTimer?: NodeJS.Timeout;
    channel?: Address;
    channelRaw?: string;
    readonly requests = new Map<string, RunningRequest>();

    /** The runner's log with this connection as `peer` on every line. */
    protected readonly log: Log;

    constructor(
        readonly ws: WebSocket,
        /** Source address of the TCP connection. */
        readonly address: string,
        protected readonly host: ConnectionHost,
    ) {
        this.log = withFields(host.log, { peer: this.id });
    }

    protected abstract readonly inDir: Direction;
    protected abstract readonly outDir: Direction;
    /** The hello's checks on chain; sets the connection's channel when it passes. */
    protected abstract checkHello(frame: HelloWorkerFrame | HelloClientFrame): Promise<Refusal>;
    /** The check through the hello gate (keyed per kind). */
    protected abstract gatedCheck(channel: string, run: () => Promise<Refusal>): Promise<Refusal>;
    /** After hello_ok went out. */
    protected abstract onReady(): void;
    /** A frame of a ready peer, other than ping, pong, error and hello. */
    protected abstract onFrame(frame: Frame, buf: Buffer): void;
    /** A non-fatal bad frame of a ready peer that names request `id` (`type`: its type field); true when handled. */
    protected abstract onBadFrame(type: unknown, id: string | undefined, err: WireError): boolean;
    /** The socket closed (state is already 'closed'). */
    protected abstract onClosed(): void;

    /** Starts the hello timer and listens to the socket. */
    wire(): void {
        const { ws } = this;
        this.helloTimer = setTimeout(() => {
            if (this.state === 'await_hello') this.sendError('HELLO_REQUIRED', 'no hello in time', true);
        }, this.host.helloTimeoutMs);
        this.helloTimer.unref();
        this.keepaliveTicks = new Keepalive(ws, () => this.log(`${this.kind}.timeout`, {}));
        ws.on('message', (data, isBinary) => {
            if (isBinary) return this.sendError('WIRE_MALFORMED', 'binary messages are not frames', true);
            if (this.state === 'checking') {
                this.pendingBytes += rawSize(data);
                if (this.pending.length >= this.host.limits.maxPendingFrames || this.pendingBytes > this.host.limits.maxPendingBytes) {
                    this.pending = [];
                    return this.sendError('RATE_LIMITED', 'too many frames or bytes before hello_ok', true);
                }
                this.pending.push(data);
                return;
            }
            this.onMessage(data);
        });
        ws.on('close', () => this.onClose());
        ws.on('error', (e) => this.log(`${this.kind}.socket-error`, { error: e.message }));
    }

    clearHelloTimer(): void {
        if (this.helloTimer) clearTimeout(this.helloTimer);
        this.helloTimer = undefined;
    }

    /** One keepalive tick: a peer that did not answer the previous ping is cut off. */
    keepalive(): void {
        this.keepaliveTicks?.tick();
    }

    send(frame: Frame): void {
        if (this.ws.readyState !== WS_OPEN) return;
        this.sendRaw(encodeFrame(frame, this.outDir));
    }

    /**
     * Every frame to a peer goes through here: queued only while the peer's unread backlog plus the frame stays
     * within limits.maxBufferedBytes; otherwise the peer is dropped (attack 14: a client that stops reading).
     */
    sendRaw(text: string): void {
        const { ws } = this;
        if (ws.readyState !== WS_OPEN) return;
        const limit = this.host.limits.maxBufferedBytes;
        if (!fitsBuffer(ws, Buffer.byteLength(text, 'utf8'), limit)) {
            this.host.counters.slowPeerDropped();
            this.log(`${this.kind}.slow-dropped`, { buffered: ws.bufferedAmount, limit });
            ws.terminate(); // 'close' follows: its requests are cancelled at their workers / fail over
            return;
        }
        ws.send(text);
        this.host.counters.buffered(ws.bufferedAmount);
    }

    /** An `error` frame; `fatal` closes the connection after it. */
    sendError(code: ProxySendableCode, message: string, fatal: boolean, id?: string): void {
        this.log(`${this.kind}.error-sent`, { code, fatal, id });
        sendError(this.ws, (f) => this.send(f), { v: this.version || 1, code, message, fatal, id }, { code: 1008, graceMs: CLOSE_GRACE_MS });
    }

    private onMessage(data: RawData): void {
        let frame: Frame;
        const buf = rawBytes(data);
        try {
            frame = readFrame(buf, false, this.inDir, this.state === 'ready' ? this.version : undefined);
        } catch (e) {
            return this.onParseError(e, buf);
        }
        try {
            if (this.state === 'await_hello') return this.onHello(frame);
            if (frame.type === 'ping') return this.send(pongFor(frame, this.version));
            if (frame.type === 'pong') return;
            if (frame.type === 'error') {
                this.log(`${this.kind}.error-received`, { code: frame.code, message: frame.message, fatal: frame.fatal, id: frame.id });
                if (frame.fatal) this.ws.close();
                return;
            }
            if (frame.type === 'hello') return this.sendError('HELLO_REPEATED', 'hello was already accepted', false);
            this.onFrame(frame, buf);
        } catch (e) {
            // A bug of ours must not take the process down; the peer learns that the proxy failed.
            this.log('proxy.internal-error', { error: e instanceof Error ? e.stack ?? e.message : String(e) });
            this.sendError('INTERNAL', 'internal error', false);
        }
    }

    /** spec/wire.md: fatal for frames that make the sender untrustworthy; a bad request field fails that request. */
    private onParseError(e: unknown, buf: Buffer): void {
        const err = asWireError(e);
        if (this.state !== 'ready' || FATAL_WIRE.has(err.code)) return this.sendError(err.code, err.message, true);
        const { type, id } = badFrameRef(buf);
        if (this.onBadFrame(type, id, err)) return;
        this.sendError(err.code, err.message, false, id);
    }

    private onClose(): void {
        const was = this.state;
        this.state = 'closed';
        this.clearHelloTimer();
        this.onClosed();
        this.log(`${this.kind}.closed`, { state: was, channel: this.channelRaw });
    }

    private onHello(frame: Frame): void {
        if (frame.type !== 'hello') return this.sendError('HELLO_REQUIRED', 'the first frame must be hello', true);
        let version: number;
        try {
            version = negotiateVersion(frame);
        } catch (e) {
            return this.sendError('WIRE_VERSION', (e as Error).message, true);
        }
        this.version = version;
        this.state = 'checking';
        this.clearHelloTimer();
        this.gatedCheck(frame.channel, () => (this.state === 'closed' ? Promise.resolve(null) : this.checkHello(frame as HelloWorkerFrame | HelloClientFrame)))
            .then((refusal) => {
                if (this.state === 'closed' || this.host.stopping()) return;
                if (refusal) return this.sendError(refusal.code, refusal.message, true);
                this.becomeReady();
            })
            .catch((e) => {
                this.log(`${this.kind}.hello-failed`, { error: String(e) });
                if (this.state !== 'closed' && !this.host.stopping()) this.sendError('PROXY_UNAVAILABLE', 'could not check the channel on chain', true);
            });
    }

    private becomeReady(): void {
        this.state = 'ready';
        this.send({ type: 'hello_ok', v: this.version, proxy: this.host.proxyAddress.toString() });
        this.onReady();
        this.log(`${this.kind}.ready`, { channel: this.channelRaw, version: this.version });
        const pending = this.pending;
        this.pending = [];
        for (const d of pending) if (this.state === 'ready') this.onMessage(d);
    }
}
