// The socket mechanics every role shares (agents/core/transport/socket.ts), checked directly: the pure parts, and
// keepalive and the dialling side of hello over real WebSockets on 127.0.0.1 (plain: RA-TLS is below this layer and
// every role's agent tests run the same code over it).
import { AddressInfo } from 'net';
import { Address } from '@ton/core';
import WebSocket, { WebSocketServer } from 'ws';
import { badFrameRef, dialHello, errorFrame, fitsBuffer, HelloFailure, Keepalive, readFrame } from '../../../../agents/core/transport/socket';
import { encodeFrame, Frame, HelloFrame, MAX_MESSAGE_CHARS, WireError } from '../../../../agents/core/wire';

const ID = 'ab'.repeat(16);

describe('core/transport/socket', () => {
    it('readFrame refuses a binary message as WIRE_MALFORMED and parses text by direction and version', () => {
        const ping = Buffer.from(JSON.stringify({ type: 'ping', v: 1, nonce: 'ab' }));
        expect(() => readFrame(ping, true, 'proxy_to_worker')).toThrow(expect.objectContaining({ code: 'WIRE_MALFORMED' }));
        expect(readFrame(ping, false, 'proxy_to_worker', 1)).toEqual({ type: 'ping', v: 1, nonce: 'ab' });
        expect(() => readFrame(Buffer.from(JSON.stringify({ type: 'payout', v: 1, amount: '1', signature: 'ab'.repeat(64) })), false, 'proxy_to_client')).toThrow(WireError);
        expect(() => readFrame(ping, false, 'proxy_to_worker', 2)).toThrow(expect.objectContaining({ code: 'WIRE_VERSION' }));
    });

    it('badFrameRef names the type and only a well-formed request id of a frame that failed to parse', () => {
        expect(badFrameRef(JSON.stringify({ type: 'request', id: ID, model: 7 }))).toEqual({ type: 'request', id: ID });
        expect(badFrameRef(JSON.stringify({ type: 'request', id: 'not-an-id' }))).toEqual({ type: 'request', id: undefined });
        expect(badFrameRef(Buffer.from('{"type":'))).toEqual({ type: undefined, id: undefined });
        expect(badFrameRef('null')).toEqual({ type: undefined, id: undefined });
    });

    it('errorFrame cuts the message to MAX_MESSAGE_CHARS and carries the id only when given', () => {
        const f = errorFrame(1, 'WIRE_BAD_FIELD', 'x'.repeat(5000), false);
        expect(f.message).toHaveLength(MAX_MESSAGE_CHARS);
        expect(f).not.toHaveProperty('id');
        expect(errorFrame(1, 'RATE_LIMITED', 'm', true, ID)).toEqual({ type: 'error', v: 1, code: 'RATE_LIMITED', message: 'm', fatal: true, id: ID });
    });

    it('fitsBuffer counts the backlog, the frame and its header against the limit', () => {
        expect(fitsBuffer({ bufferedAmount: 0 }, 1000, 1010)).toBe(true);
        expect(fitsBuffer({ bufferedAmount: 1 }, 1000, 1010)).toBe(false);
    });
});

const PROXY = new Address(0, Buffer.alloc(32, 7));
const OTHER = new Address(0, Buffer.alloc(32, 8));
const HELLO: HelloFrame = { type: 'hello', v: 1, minV: 1, role: 'client', channel: PROXY.toString() };

/**
 * A WebSocket server on 127.0.0.1 and a client socket to it; `peer` is the server's side. `onHello` runs when the
 * client's first message arrives (the proxy's part of a hello).
 */
async function pair(onHello: (peer: WebSocket) => void = () => undefined, opts: { autoPong?: boolean } = {}) {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => server.once('listening', () => r()));
    const peer = new Promise<WebSocket>((r) =>
        server.on('connection', (ws) => {
            ws.once('message', () => onHello(ws));
            r(ws);
        }),
    );
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, opts);
    await new Promise<void>((r, j) => client.once('open', () => r()).once('error', j));
    return {
        client,
        peer: await peer,
        close: async () => {
            client.terminate();
            for (const c of server.clients) c.terminate();
            await new Promise<void>((r) => server.close(() => r()));
        },
    };
}

const out = (f: Frame) => encodeFrame(f, 'proxy_to_client');
const dial = (ws: WebSocket, o: { errors?: 'fail' | 'fatal-only'; timeoutMs?: number; onReady?: (v: number) => void } = {}) =>
    dialHello(ws, HELLO, {
        inDir: 'proxy_to_client',
        proxy: PROXY,
        timeoutMs: o.timeoutMs ?? 5000,
        errors: o.errors,
        send: (f) => ws.send(encodeFrame(f, 'client_to_proxy')),
        onReady: o.onReady ?? (() => undefined),
    });

describe('core/transport/socket over a WebSocket', () => {
    it('dialHello resolves with the version and attaches onReady before the frame right behind hello_ok is read', async () => {
        const { client, close } = await pair((peer) => {
            peer.send(out({ type: 'hello_ok', v: 1, proxy: PROXY.toString() }));
            peer.send(out({ type: 'payment_status', v: 1, delivered: 0n, voucher: 0n, creditWindow: 1n, creditRemaining: 1n }));
        });
        const behind = new Promise<string>((r) => void dial(client, { onReady: () => client.once('message', (d) => r(readFrame(d as Buffer, false, 'proxy_to_client', 1).type)) }));
        expect(await behind).toBe('payment_status');
        await close();
    });

    it('dialHello refuses a hello_ok naming another proxy, a fatal error frame, silence past the timeout', async () => {
        const wrong = await pair((peer) => peer.send(out({ type: 'hello_ok', v: 1, proxy: OTHER.toString() })));
        await expect(dial(wrong.client)).rejects.toMatchObject({ kind: 'protocol' });
        await wrong.close();

        const fatal = await pair((peer) => peer.send(out(errorFrame(1, 'CHANNEL_INVALID', 'no', true))));
        await expect(dial(fatal.client)).rejects.toMatchObject({ kind: 'refused', details: { code: 'CHANNEL_INVALID' } });
        await fatal.close();

        const silent = await pair();
        await expect(dial(silent.client, { timeoutMs: 100 })).rejects.toMatchObject({ kind: 'timeout' });
        await silent.close();
    });

    it("dialHello on a non-fatal error: 'fatal-only' names it when the proxy then closes, 'fail' stops at once", async () => {
        const soft = () =>
            pair((peer) => {
                peer.send(out(errorFrame(1, 'RATE_LIMITED', 'later', false)));
                setTimeout(() => peer.close(1000), 200);
            });
        const a = await soft();
        let settled = false;
        const waiting = dial(a.client, { errors: 'fatal-only' }).finally(() => (settled = true));
        await new Promise((r) => a.client.once('message', r));
        expect(settled).toBe(false); // the error frame alone did not end it
        await expect(waiting).rejects.toMatchObject({ kind: 'refused', details: { code: 'RATE_LIMITED' } });
        await a.close();

        const b = await soft();
        const closed = new Promise((r) => b.client.once('close', r));
        await expect(dial(b.client, { errors: 'fail' })).rejects.toMatchObject({ kind: 'refused', details: { code: 'RATE_LIMITED' } });
        expect(b.client.readyState).toBe(WebSocket.OPEN); // before the close
        await closed;
        await b.close();
    });

    it('Keepalive terminates a peer that did not answer the previous ping, and keeps one that does', async () => {
        for (const autoPong of [true, false]) {
            const { client, peer, close } = await pair(() => undefined, { autoPong });
            let dead = 0;
            const k = new Keepalive(peer, () => dead++);
            k.tick();
            // The ping arrived; a peer with autoPong answers it before the next tick, the other stays silent.
            await new Promise((r) => (autoPong ? peer : client).once(autoPong ? 'pong' : 'ping', r));
            k.tick();
            expect(dead).toBe(autoPong ? 0 : 1);
            if (!autoPong) await new Promise((r) => client.once('close', r));
            else expect(client.readyState).toBe(WebSocket.OPEN);
            await close();
        }
    });
});
