// The socket mechanics every role shares (agents/core/transport/socket.ts): the pure parts, checked directly; the
// socket parts (keepalive, dialHello, backpressure) run under every role's agent tests over real RA-TLS sockets.
import { badFrameRef, errorFrame, fitsBuffer, readFrame } from '../../../../agents/core/transport/socket';
import { MAX_MESSAGE_CHARS, WireError } from '../../../../agents/core/wire';

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
