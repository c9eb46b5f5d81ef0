// Wire frames: every frame round-trips, every error code is reachable, bounds and strictness hold.
import {
    DIRECTIONS,
    Direction,
    encodeFrame,
    FRAME_TYPES,
    MAX_FRAME_BYTES,
    MAX_JSON_DEPTH,
    negotiateVersion,
    parseFrame,
    PROTOCOL_VERSION,
    WireError,
    WireErrorCode,
} from '../../../../agents/core/wire';
import { ID, MODEL, requestPlain, requestSealed, SAMPLES, wire } from './fixtures';
import fc from 'fast-check';
import { isCanonicalBase64 } from '../../../../agents/core/wire/fields';

function fail(input: unknown, dir: Direction = 'client_to_proxy', version?: number): WireError {
    try {
        parseFrame(input as string, dir, version === undefined ? {} : { version });
    } catch (e) {
        if (e instanceof WireError) return e;
        throw e;
    }
    throw new Error('parsed');
}
const obj = (o: unknown, dir: Direction = 'client_to_proxy') => fail(JSON.stringify(o), dir);
const code = (input: unknown, dir?: Direction): WireErrorCode => fail(input, dir).code;

describe('round trip', () => {
    it('covers every frame type in some direction', () => {
        const seen = new Set(DIRECTIONS.flatMap((d) => SAMPLES[d].map((f) => f.type)));
        expect([...seen].sort()).toEqual([...FRAME_TYPES].sort());
    });

    for (const dir of DIRECTIONS) {
        it(`parses back what it encodes, ${dir}`, () => {
            for (const f of SAMPLES[dir]) {
                const text = encodeFrame(f, dir);
                expect(parseFrame(text, dir)).toEqual(f);
                expect(parseFrame(Buffer.from(text, 'utf8'), dir)).toEqual(f);
                expect(parseFrame(text, dir, { version: PROTOCOL_VERSION })).toEqual(f);
            }
        });
    }

    it('carries money, token counts and coefficients as decimal strings and returns bigints', () => {
        const text = encodeFrame({ type: 'voucher', v: 1, amount: 12345678901234567890n, signature: 'ab'.repeat(64) });
        expect(JSON.parse(text).amount).toBe('12345678901234567890');
        const f = parseFrame(text, 'client_to_proxy');
        expect(f.type === 'voucher' && f.amount).toBe(12345678901234567890n);
        const end = parseFrame(encodeFrame(SAMPLES.worker_to_proxy.find((x) => x.type === 'response_end')!), 'worker_to_proxy');
        expect(end.type === 'response_end' && end.usage.completion).toBe(2n ** 64n - 1n);
        expect(end.type === 'response_end' && end.cost).toBe(2n ** 120n - 1n);
    });

    it('keeps the request body as the JSON the client sent', () => {
        const f = parseFrame(encodeFrame(requestPlain), 'proxy_to_worker');
        expect(f.type === 'request' && f.body).toEqual(requestPlain.type === 'request' && requestPlain.body);
    });
});

describe('WIRE_MALFORMED', () => {
    it.each([
        ['not JSON', '{"type":'],
        ['an array', '[1,2]'],
        ['null', 'null'],
        ['a string', '"hello"'],
        ['no type', '{"v":1}'],
        ['a numeric type', '{"type":5,"v":1}'],
        ['empty', ''],
    ])('refuses %s', (_name, text) => {
        expect(code(text)).toBe('WIRE_MALFORMED');
    });

    it('refuses invalid UTF-8 and non-text input', () => {
        expect(code(Buffer.from([0x7b, 0xff, 0x7d]))).toBe('WIRE_MALFORMED');
        expect(code(42)).toBe('WIRE_MALFORMED');
        expect(code(undefined)).toBe('WIRE_MALFORMED');
        expect(code({ type: 'ping' })).toBe('WIRE_MALFORMED');
    });

    it(`refuses nesting deeper than ${MAX_JSON_DEPTH}, also inside the body`, () => {
        const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
        expect(code(`{"type":"ping","v":1,"nonce":"1","x":${deep(MAX_JSON_DEPTH)}}`)).toBe('WIRE_MALFORMED');
        expect(code(deep(1_000_000))).toBe('WIRE_MALFORMED');
        const body = { model: MODEL, stream: true, x: JSON.parse(deep(MAX_JSON_DEPTH - 2)) };
        expect(parseFrame(JSON.stringify({ ...wire(requestPlain), body }), 'client_to_proxy')).toMatchObject({ body }); // depth exactly 64
        expect(code(JSON.stringify({ ...wire(requestPlain), body: { ...body, x: JSON.parse(deep(MAX_JSON_DEPTH)) } }))).toBe('WIRE_MALFORMED');
    });
});

describe('WIRE_TOO_LARGE', () => {
    it('refuses a frame over MAX_FRAME_BYTES as text or bytes, before parsing', () => {
        const big = JSON.stringify({ type: 'ping', v: 1, nonce: '1', pad: 'x'.repeat(MAX_FRAME_BYTES) });
        expect(code(big)).toBe('WIRE_TOO_LARGE');
        expect(code(Buffer.from(big))).toBe('WIRE_TOO_LARGE');
        expect(code('x'.repeat(MAX_FRAME_BYTES + 1))).toBe('WIRE_TOO_LARGE');
    });

    it('counts UTF-8 bytes, not characters', () => {
        const s = '€'.repeat(Math.floor(MAX_FRAME_BYTES / 3) + 1); // fewer chars than the limit, more bytes
        expect(s.length).toBeLessThan(MAX_FRAME_BYTES);
        expect(code(s)).toBe('WIRE_TOO_LARGE');
    });

    it('encodeFrame refuses to produce one', () => {
        const body = { model: MODEL, stream: true, pad: 'x'.repeat(MAX_FRAME_BYTES) };
        expect(() => encodeFrame({ ...requestPlain, body } as never)).toThrow(expect.objectContaining({ code: 'WIRE_TOO_LARGE' }));
    });
});

describe('WIRE_UNKNOWN_TYPE and WIRE_DIRECTION', () => {
    it('refuses a type the protocol does not have', () => {
        const e = obj({ type: 'hello_world', v: 1 });
        expect(e.code).toBe('WIRE_UNKNOWN_TYPE');
        expect(e.details).toEqual({ type: 'hello_world' });
        expect(obj({ type: 'toString', v: 1 }).code).toBe('WIRE_UNKNOWN_TYPE');
        expect(obj({ type: '__proto__', v: 1 }).code).toBe('WIRE_UNKNOWN_TYPE');
    });

    it.each<[string, Direction]>([
        ['request', 'worker_to_proxy'],
        ['voucher', 'proxy_to_client'],
        ['payout', 'proxy_to_client'],
        ['response_chunk', 'client_to_proxy'],
        ['hello_ok', 'client_to_proxy'],
        ['hello', 'proxy_to_worker'],
        ['worker_candidates', 'proxy_to_worker'],
    ])('refuses %s sent %s', (type, dir) => {
        expect(obj({ type, v: 1 }, dir).code).toBe('WIRE_DIRECTION');
    });

    it('a client hello on the worker link is a bad field, not a worker', () => {
        const e = obj(SAMPLES.client_to_proxy[0], 'worker_to_proxy');
        expect(e.code).toBe('WIRE_BAD_FIELD');
        expect(e.details?.path).toBe('role');
    });

    it('encodeFrame checks the direction too', () => {
        expect(() => encodeFrame(requestPlain, 'worker_to_proxy')).toThrow(expect.objectContaining({ code: 'WIRE_DIRECTION' }));
    });
});

describe('WIRE_BAD_FIELD names the offending path', () => {
    const good = wire(requestPlain);
    const cases: [string, Record<string, unknown>, string][] = [
        ['an unknown key', { ...good, extra: 1 }, 'extra'],
        ['an unknown key named __proto__', JSON.parse(JSON.stringify(good).replace('{', '{"__proto__":{"x":1},')), '__proto__'],
        ['a missing field', { ...good, id: undefined }, 'id'],
        ['a short request id', { ...good, id: 'abcd' }, 'id'],
        ['an upper-case request id', { ...good, id: ID.toUpperCase() }, 'id'],
        ['an unknown endpoint', { ...good, endpoint: 'embeddings' }, 'endpoint'],
        ['a fractional maxTokens', { ...good, maxTokens: 1.5 }, 'maxTokens'],
        ['zero maxTokens', { ...good, maxTokens: 0 }, 'maxTokens'],
        ['a coefficient as a number', { ...good, maxCoefficient: 1000 }, 'maxCoefficient'],
        ['a coefficient over uint32', { ...good, maxCoefficient: '4294967296' }, 'maxCoefficient'],
        ['a coefficient with a leading zero', { ...good, maxCoefficient: '01' }, 'maxCoefficient'],
        ['a negative coefficient', { ...good, maxCoefficient: '-1' }, 'maxCoefficient'],
        ['a model with a space', { ...good, model: 'a b', body: { ...good.body, model: 'a b' } }, 'model'],
        ['an array body', { ...good, body: [] }, 'body'],
        ['body and sealed together', { ...good, sealed: wire(requestSealed).sealed }, 'sealed'],
        ['neither body nor sealed', { ...good, body: undefined }, 'body'],
        ['a body for another model', { ...good, body: { ...good.body, model: 'other' } }, 'body.model'],
        ['a body with another stream flag', { ...good, body: { ...good.body, stream: false } }, 'body.stream'],
        ['a stream flag as a string', { ...good, stream: 'true' }, 'stream'],
        ['a non-canonical base64 enc', { ...wire(requestSealed), sealed: { ...wire(requestSealed).sealed, enc: 'AQ' } }, 'sealed.enc'],
        ['an enc of 31 bytes', { ...wire(requestSealed), sealed: { ...wire(requestSealed).sealed, enc: Buffer.alloc(31).toString('base64') } }, 'sealed.enc'],
        ['base64 with unused bits set', { ...wire(requestSealed), sealed: { ...wire(requestSealed).sealed, ct: 'AAAAAAAAAAAAAAAAAAAAAB==' } }, 'sealed.ct'],
        ['a sealed ct shorter than a tag', { ...wire(requestSealed), sealed: { ...wire(requestSealed).sealed, ct: 'AAAA' } }, 'sealed.ct'],
        ['a v that is a string', { ...good, v: '1' }, 'v'],
        ['a bad voucher amount', { type: 'voucher', v: 1, amount: '1e9', signature: 'ab'.repeat(64) }, 'amount'],
        ['an amount over 2^120-1', { type: 'voucher', v: 1, amount: (2n ** 120n).toString(), signature: 'ab'.repeat(64) }, 'amount'],
        ['a short signature', { type: 'voucher', v: 1, amount: '1', signature: 'ab' }, 'signature'],
        ['a bad address', { type: 'hello', v: 1, minV: 1, role: 'client', channel: 'EQnot-an-address' }, 'channel'],
        ['minV above v', { type: 'hello', v: 1, minV: 2, role: 'client', channel: 'x' }, 'minV'],
        ['a lower-case error code', { type: 'error', v: 1, code: 'oops', message: '', fatal: true }, 'code'],
        ['an over-long message', { type: 'error', v: 1, code: 'X', message: 'm'.repeat(1025), fatal: true }, 'message'],
    ];
    it.each(cases)('%s', (_name, o, path) => {
        const e = obj(o);
        expect(e.code).toBe('WIRE_BAD_FIELD');
        expect(e.details?.path).toBe(path);
        expect(e.message).toContain(path);
    });

    it('in nested arrays and objects', () => {
        const hello = wire(SAMPLES.worker_to_proxy[0]);
        const p = (o: unknown) => obj(o, 'worker_to_proxy').details?.path;
        expect(p({ ...hello, models: [hello.models[0], { ...hello.models[1], coefficient: '-5' }] })).toBe('models[1].coefficient');
        expect(p({ ...hello, models: [hello.models[0], hello.models[0]] })).toBe('models[1].name');
        expect(p({ ...hello, models: [] })).toBe('models');
        expect(p({ ...hello, models: Array(33).fill(hello.models[0]) })).toBe('models');
        expect(p({ ...hello, capacity: 0 })).toBe('capacity');
        expect(p({ ...hello, models: [{ ...hello.models[0], price: 1 }] })).toBe('models[0].price');
        const start = wire(SAMPLES.worker_to_proxy.find((f) => f.type === 'response_start'));
        expect(p({ ...start, headers: { 'set-cookie': 'a=b' } })).toBe('headers.set-cookie');
        expect(p({ ...start, status: 600 })).toBe('status');
        const chunk = { type: 'response_chunk', v: 1, id: ID, seq: 0 };
        expect(p(chunk)).toBe('data');
        expect(p({ ...chunk, data: 'x', sealed: { ct: Buffer.alloc(16).toString('base64') } })).toBe('sealed');
        expect(p({ ...chunk, seq: -1, data: 'x' })).toBe('seq');
        expect(p({ ...chunk, seq: 2 ** 32, data: 'x' })).toBe('seq');
    });

    it('checks that a worker candidate key id is the hash of its key', () => {
        const wc = wire(SAMPLES.proxy_to_client.find((f) => f.type === 'worker_candidates'));
        const bad = { ...wc, candidates: [{ ...wc.candidates[0], keyId: 'ee'.repeat(32) }] };
        expect(obj(bad, 'proxy_to_client').details?.path).toBe('candidates[0].keyId');
        const many = { ...wc, candidates: Array(17).fill(wc.candidates[0]) };
        expect(obj(many, 'proxy_to_client').details?.path).toBe('candidates');
    });

    it('encodeFrame refuses an invalid typed frame', () => {
        expect(() => encodeFrame({ type: 'voucher', v: 1, amount: -1n, signature: 'ab'.repeat(64) })).toThrow(
            expect.objectContaining({ code: 'WIRE_BAD_FIELD', details: expect.objectContaining({ path: 'amount' }) }),
        );
        expect(() => encodeFrame({ ...requestPlain, extra: 1 } as never)).toThrow(expect.objectContaining({ code: 'WIRE_BAD_FIELD' }));
    });
});

describe('WIRE_VERSION and negotiation', () => {
    it('refuses frames of a version we do not speak', () => {
        expect(obj({ type: 'ping', v: PROTOCOL_VERSION + 1, nonce: '1' }).code).toBe('WIRE_VERSION');
        expect(fail(encodeFrame({ type: 'ping', v: 1, nonce: '1' }), 'client_to_proxy', 2).code).toBe('WIRE_VERSION');
    });

    it('refuses a hello whose range does not overlap ours, whatever else it carries', () => {
        const e = obj({ type: 'hello', v: 9, minV: 7, role: 'client', channel: 'whatever', future: true });
        expect(e.code).toBe('WIRE_VERSION');
        expect(e.details).toEqual({ peer: [7, 9], ours: [1, PROTOCOL_VERSION] });
    });

    it('accepts a newer peer that still speaks our version, dropping hello fields we do not know', () => {
        const hello = { ...wire(SAMPLES.client_to_proxy[0]), v: 7, minV: 1, compression: 'zstd' };
        const f = parseFrame(JSON.stringify(hello), 'client_to_proxy');
        expect(f).toEqual({ ...SAMPLES.client_to_proxy[0], v: 7 });
        expect(f.type === 'hello' && negotiateVersion(f)).toBe(PROTOCOL_VERSION);
        // but a peer at our version may not send unknown keys
        expect(obj({ ...hello, v: PROTOCOL_VERSION }).code).toBe('WIRE_BAD_FIELD');
    });

    it('negotiates the highest common version', () => {
        expect(negotiateVersion({ v: 1, minV: 1 })).toBe(1);
        expect(negotiateVersion({ v: 5, minV: 1 })).toBe(PROTOCOL_VERSION);
        expect(() => negotiateVersion({ v: 5, minV: 2 })).toThrow(expect.objectContaining({ code: 'WIRE_VERSION' }));
    });
});

describe('canonical base64', () => {
    // The definition: padded RFC 4648 alphabet, and decoding then encoding gives the same text (unused bits zero).
    const byDefinition = (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 && Buffer.from(s, 'base64').toString('base64') === s;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ '.split('');

    it('accepts exactly the texts the definition accepts (the last-quantum check equals a decode and re-encode)', () => {
        fc.assert(
            fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')), fc.array(fc.constantFrom(...alphabet), { maxLength: 16 }).map((a) => a.join(''))), (s) => {
                expect(isCanonicalBase64(s)).toBe(byDefinition(s));
            }),
            { numRuns: 20_000 },
        );
        for (const s of ['AQ==', 'AR==', 'AQI=', 'AQJ=', 'AQID', '', '=', 'A===', 'AQ=A']) expect(isCanonicalBase64(s)).toBe(byDefinition(s));
    });
});

describe('coop_withdraw (issue 11: cooperative withdrawal)', () => {
    const base = { type: 'coop_withdraw', v: 1, id: ID };
    it('takes an amount, or close: true without one; anything else is WIRE_BAD_FIELD naming amount', () => {
        for (const bad of [{ ...base, close: false }, { ...base, close: true, amount: '5' }, { ...base, close: false, amount: '0' }]) {
            const e = fail(JSON.stringify(bad), 'client_to_proxy');
            expect([e.code, e.details?.path]).toEqual(['WIRE_BAD_FIELD', 'amount']);
        }
        expect(obj({ ...base, close: false, amount: '-1' }).code).toBe('WIRE_BAD_FIELD');
        expect(obj({ ...base, close: 'yes', amount: '1' }).code).toBe('WIRE_BAD_FIELD');
        expect(obj({ ...base, close: false, amount: '1', extra: 1 }).code).toBe('WIRE_BAD_FIELD');
        // Only a client sends it, only a proxy answers it.
        expect(obj({ ...base, close: true }, 'worker_to_proxy').code).toBe('WIRE_DIRECTION');
        expect(obj({ type: 'coop_withdraw_signed', v: 1, id: ID, amount: '1', seqno: '0', close: false, signature: 'ab'.repeat(64) }, 'client_to_proxy').code).toBe('WIRE_DIRECTION');
    });
});
