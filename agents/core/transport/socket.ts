// The socket mechanics every role shares, written once (spec/wire.md, "Framing", "Keepalive", "Backpressure"):
// reading a message as a frame of one direction at the negotiated version, the request id of a frame that failed to
// parse, bounded `error` frames and the close after a fatal one, WebSocket-level keepalive, bufferedAmount
// backpressure, and the dialling side of hello (worker and client both dial a proxy). What each role does with a
// frame, and which error class a failure becomes, stays in the role's connection class.
import { Address } from '@ton/core';
import type { RawData, WebSocket } from 'ws';
import {
    Direction,
    DirectionFrames,
    ErrorFrameT,
    Frame,
    HelloFrame,
    MAX_MESSAGE_CHARS,
    MIN_PROTOCOL_VERSION,
    parseFrame,
    PROTOCOL_VERSION,
    WireCode,
    WireError,
} from '../wire';

/** WebSocket.OPEN. */
export const WS_OPEN = 1;

/** The bytes of a WebSocket message (ws hands a Buffer, an ArrayBuffer or fragments). */
export function rawBytes(data: RawData): Buffer {
    if (Buffer.isBuffer(data)) return data;
    if (Array.isArray(data)) return Buffer.concat(data);
    return Buffer.from(data);
}

/** A message's size in bytes, without copying it. */
export function rawSize(data: RawData): number {
    return Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : Buffer.isBuffer(data) ? data.length : data.byteLength;
}

/**
 * A message as a frame `dir` may carry: binary messages are not frames (WIRE_MALFORMED); with `version` (after
 * hello) every frame but hello must carry exactly it. Throws WireError only.
 */
export function readFrame<D extends Direction>(data: RawData, isBinary: boolean, dir: D, version?: number): DirectionFrames[D] {
    if (isBinary) throw new WireError('WIRE_MALFORMED', 'binary messages are not frames');
    return parseFrame(rawBytes(data), dir, version === undefined ? {} : { version });
}

/** A failure of readFrame as a WireError (parseFrame throws nothing else; anything else is reported as malformed). */
export function asWireError(e: unknown): WireError {
    return e instanceof WireError ? e : new WireError('WIRE_MALFORMED', 'unparseable frame');
}

const REQUEST_ID = /^[0-9a-f]{32}$/;

/**
 * The `type` of a message that failed to parse and its request id if that id itself is well-formed, so a bad field
 * fails one request instead of the connection. Only looked at on that error path.
 */
export function badFrameRef(data: RawData | string): { type: unknown; id: string | undefined } {
    try {
        const o = JSON.parse(typeof data === 'string' ? data : rawBytes(data).toString('utf8')) as { type?: unknown; id?: unknown } | null;
        if (!o || typeof o !== 'object') return { type: undefined, id: undefined };
        return { type: o.type, id: typeof o.id === 'string' && REQUEST_ID.test(o.id) ? o.id : undefined };
    } catch {
        return { type: undefined, id: undefined };
    }
}

/** An `error` frame; the message is cut to what the wire allows. */
export function errorFrame(v: number, code: WireCode, message: string, fatal: boolean, id?: string): ErrorFrameT {
    return { type: 'error', v, code, message: message.slice(0, MAX_MESSAGE_CHARS), fatal, ...(id ? { id } : {}) };
}

/** How the side that sends a fatal error closes: WebSocket close code, and how long a peer may ignore the close. */
export interface FatalClose {
    code: number;
    /** After this many ms a peer that has not completed the close handshake is terminated; absent: never. */
    graceMs?: number;
}

/**
 * Sends an `error` frame through `send` (the role's bounded send path) and, when `fatal`, closes the socket with the
 * code as reason. `code` is a registered wire code: each role narrows it further (WireCodeOf<role> | WireErrorCode).
 */
export function sendError(
    ws: WebSocket,
    send: (f: Frame) => unknown,
    e: { v: number; code: WireCode; message: string; fatal: boolean; id?: string },
    close: FatalClose,
): void {
    send(errorFrame(e.v, e.code, e.message, e.fatal, e.id));
    if (!e.fatal) return;
    ws.close(close.code, e.code.slice(0, 100));
    if (close.graceMs !== undefined) setTimeout(() => ws.terminate(), close.graceMs).unref();
}

/** The `pong` answering an application-level `ping` frame. */
export const pongFor = (ping: { nonce: string }, v: number): Frame => ({ type: 'pong', v, nonce: ping.nonce });

/**
 * WebSocket-level keepalive: each tick pings; a peer that has not answered the previous tick's ping (silent for two
 * periods) is reported through `onDead` and terminated. The proxy ticks all its connections from one timer; a
 * worker link runs its own (`every`).
 */
export class Keepalive {
    private alive = true;

    constructor(
        private readonly ws: WebSocket,
        private readonly onDead: () => void,
    ) {
        ws.on('pong', () => (this.alive = true));
    }

    tick(): void {
        if (!this.alive) {
            this.onDead();
            this.ws.terminate();
            return;
        }
        this.alive = false;
        try {
            this.ws.ping();
        } catch {
            /* closing */
        }
    }

    /** Ticks every `ms` (≤ 0: never); returns the function that stops it. */
    every(ms: number): () => void {
        if (ms <= 0) return () => undefined;
        const t = setInterval(() => this.tick(), ms);
        t.unref();
        return () => clearInterval(t);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Backpressure: every role bounds what it queues for a peer that does not read (ws.bufferedAmount). The proxy drops
// such a peer, the client refuses to queue more, the worker's stream waits for the socket to drain.

/** Largest WebSocket frame header a server writes (unmasked, 64-bit length). */
export const WS_HEADER_BYTES = 10;

/** Whether `bytes` more may be queued on `ws` (plus the frame header) within `limit`. */
export function fitsBuffer(ws: { bufferedAmount: number }, bytes: number, limit: number): boolean {
    return ws.bufferedAmount + bytes + WS_HEADER_BYTES <= limit;
}

/** Resolves once at most `highWater` bytes are queued on `ws`, or it is no longer open. */
export function drained(ws: WebSocket, highWater: number): Promise<void> {
    if (ws.readyState !== WS_OPEN || ws.bufferedAmount <= highWater) return Promise.resolve();
    return new Promise<void>((resolve) => {
        const check = () => (ws.readyState !== WS_OPEN || ws.bufferedAmount <= highWater ? resolve() : setTimeout(check, 10));
        check();
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Dialling: hello → hello_ok

/** Why hello did not end in hello_ok; each role turns it into its own error (WorkerLinkError, ClientError). */
export type HelloFailureKind = 'timeout' | 'refused' | 'protocol' | 'closed';

export class HelloFailure extends Error {
    constructor(
        readonly kind: HelloFailureKind,
        message: string,
        /** refused: the proxy's wire code; protocol: the WireError code if a frame did not parse; closed: the close code and reason. */
        readonly details: { code?: string; closeCode?: number; reason?: string } = {},
    ) {
        super(message);
    }
}

export interface DialHello {
    /** Where hello_ok comes from: 'proxy_to_worker' or 'proxy_to_client'. */
    inDir: 'proxy_to_worker' | 'proxy_to_client';
    /** The proxy we dialled: hello_ok must name it. */
    proxy: Address;
    timeoutMs: number;
    /** Sends hello on the role's send path. */
    send(hello: HelloFrame): unknown;
    /**
     * Called synchronously with the negotiated version when hello_ok is accepted, before the next message is read:
     * ws emits the frames of one read back to back, and the proxy may send right behind hello_ok.
     */
    onReady(version: number): void;
    /** 'fail': any error frame ends the wait; 'fatal-only' (default): a non-fatal one is kept as the reason if the proxy then closes. */
    errors?: 'fail' | 'fatal-only';
}

/**
 * Sends `hello` and waits for hello_ok (or an error frame, a close, the deadline); resolves with the negotiated
 * version. ping / pong before hello_ok are left to the role's own listener. Rejects with HelloFailure only.
 */
export function dialHello(ws: WebSocket, hello: HelloFrame, o: DialHello): Promise<number> {
    return new Promise<number>((resolve, reject) => {
        let refusal: HelloFailure | null = null;
        const timer = setTimeout(() => finish(new HelloFailure('timeout', `no hello_ok within ${o.timeoutMs} ms`)), o.timeoutMs);
        const finish = (e: HelloFailure | null, version = 0) => {
            clearTimeout(timer);
            ws.off('message', onMessage);
            ws.off('close', onClose);
            if (e) reject(e);
            else resolve(version);
        };
        const onClose = (code: number, reason: Buffer) => {
            const r = reason.toString();
            finish(refusal ?? new HelloFailure('closed', `closed before hello_ok (${code}${r ? ` ${r}` : ''})`, { closeCode: code, reason: r }));
        };
        const onMessage = (data: RawData, isBinary: boolean) => {
            let f: Frame;
            try {
                f = readFrame(data, isBinary, o.inDir);
            } catch (e) {
                return finish(new HelloFailure('protocol', `bad frame before hello_ok: ${(e as Error).message}`, { code: asWireError(e).code }));
            }
            if (f.type === 'ping' || f.type === 'pong') return;
            if (f.type === 'error') {
                refusal = new HelloFailure('refused', `proxy refused hello: ${f.code}: ${f.message}`, { code: f.code });
                if (f.fatal || o.errors === 'fail') return finish(refusal);
                return;
            }
            if (f.type !== 'hello_ok') return finish(new HelloFailure('protocol', `expected hello_ok, got ${f.type}`));
            let proxy: Address;
            try {
                proxy = Address.parse(f.proxy);
            } catch {
                return finish(new HelloFailure('protocol', 'hello_ok names no address'));
            }
            if (!proxy.equals(o.proxy)) return finish(new HelloFailure('protocol', `hello_ok names proxy ${f.proxy}, we dialled ${o.proxy.toString()}`));
            if (f.v < MIN_PROTOCOL_VERSION || f.v > PROTOCOL_VERSION) return finish(new HelloFailure('protocol', `hello_ok negotiated unsupported version ${f.v}`));
            o.onReady(f.v);
            finish(null, f.v);
        };
        ws.on('message', onMessage);
        ws.once('close', onClose);
        o.send(hello);
    });
}
