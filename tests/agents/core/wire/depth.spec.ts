// Attack 17 of issue 8: a frame of 4 MiB of `[` made JSON.parse block the event loop for about a second before
// hello. parseFrame now scans the nesting depth on the raw text first (one pass, string-aware) and refuses with
// WIRE_MALFORMED after MAX_JSON_DEPTH + 1 characters; brackets inside strings do not count.
import { jsonDepthExceeded, MAX_FRAME_BYTES, MAX_JSON_DEPTH, parseFrame, WireError } from '../../../../agents/core/wire';
import { MODEL, requestPlain, wire } from './fixtures';

function codeOf(input: string | Buffer): string {
    try {
        parseFrame(input, 'client_to_proxy');
    } catch (e) {
        if (e instanceof WireError) return e.code;
        throw e;
    }
    return 'parsed';
}

describe('attack 17: deeply nested frames are refused before JSON.parse', () => {
    const flood = '['.repeat(MAX_FRAME_BYTES);

    it('attack 17: 4 MiB of `[` is WIRE_MALFORMED, found after MAX_JSON_DEPTH + 1 characters of scanning', () => {
        expect(flood.length).toBe(MAX_FRAME_BYTES);
        // the scan stops at the bracket that crosses the limit: constant work, whatever follows
        expect(jsonDepthExceeded(flood)).toBe(MAX_JSON_DEPTH);
        expect(codeOf(flood)).toBe('WIRE_MALFORMED');
        expect(codeOf(Buffer.from(flood))).toBe('WIRE_MALFORMED');
        // the same with objects, and behind a harmless prefix
        expect(jsonDepthExceeded('{"a":'.repeat(100_000))).toBe(5 * MAX_JSON_DEPTH);
        expect(codeOf('{"type":"ping","v":1,"nonce":"1","x":' + flood.slice(0, MAX_FRAME_BYTES - 64))).toBe('WIRE_MALFORMED');
    });

    it('attack 17: nesting inside strings does not count (escaped quotes included): such a frame parses', () => {
        const text = '['.repeat(500_000) + '\\"[[[{{{\\\\' + '{'.repeat(500_000);
        const body = { model: MODEL, stream: true, messages: [{ role: 'user', content: text }] };
        const raw = JSON.stringify({ ...wire(requestPlain), body });
        expect(raw.length).toBeLessThan(MAX_FRAME_BYTES);
        expect(jsonDepthExceeded(raw)).toBe(-1);
        expect(parseFrame(raw, 'client_to_proxy')).toMatchObject({ type: 'request', body });
    });

    it('counts depth exactly: MAX_JSON_DEPTH passes, one more does not; unbalanced text is left to JSON.parse', () => {
        const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
        expect(jsonDepthExceeded(deep(MAX_JSON_DEPTH))).toBe(-1);
        expect(jsonDepthExceeded(deep(MAX_JSON_DEPTH + 1))).toBe(MAX_JSON_DEPTH);
        expect(jsonDepthExceeded('"[[[[' + '\\\\"' + '['.repeat(100))).toBe(MAX_JSON_DEPTH + 8);
        expect(jsonDepthExceeded(']' + '['.repeat(100))).toBe(-1);
        expect(codeOf(']' + flood.slice(1))).toBe('WIRE_MALFORMED');
    });
});
