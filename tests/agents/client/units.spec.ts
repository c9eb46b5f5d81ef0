// Client pieces without a network: the HTTP error table, the include_usage rewrite, the state file.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ClientError, ClientErrorCodes, HTTP_ERROR_TABLE, toHttpError } from '../../../agents/client/errors';
import { rewriteChunk } from '../../../agents/client/server';
import { isWireCode } from '../../../agents/core/wire';
import { ClientStateStore } from '../../../agents/client/state';
import { cheapestUntried, VerifiedCandidate } from '../../../agents/client/candidates';

const CH = '0:' + 'ab'.repeat(32);
const PROXY = '0:' + 'cd'.repeat(32);
const KEY = '11'.repeat(32);

describe('toHttpError maps SDK and wire codes to OpenAI errors', () => {
    it.each([
        ['REQUEST_REJECTED', 'REQUEST_UNKNOWN_FIELD', "Unrecognized request argument supplied: 'tools'.", 400, 'invalid_request_error', 'unknown_field', 'tools'],
        ['REQUEST_REJECTED', 'REQUEST_MAX_TOKENS', "'max_tokens' must be in 1..4096", 400, 'invalid_request_error', 'invalid_max_tokens', 'max_tokens'],
        ['NO_WORKER', 'WORKER_BUSY', 'busy', 503, 'server_error', 'no_worker_available', null],
        ['REQUEST_REJECTED', 'CREDIT_WINDOW_EXCEEDED', 'pay', 402, 'insufficient_quota', 'credit_window_exceeded', null],
        ['REQUEST_REJECTED', 'INSUFFICIENT_DEPOSIT', 'pay', 402, 'insufficient_quota', 'insufficient_deposit', null],
        ['RECEIPT_INVALID', undefined, 'bad', 502, 'server_error', 'receipt_invalid', null],
        ['WORKER_LOST', 'WORKER_LOST', 'gone', 502, 'server_error', 'worker_lost', null],
        ['TIMEOUT', undefined, 'slow', 504, 'server_error', 'timeout', null],
        ['PROXY_UNREACHABLE', undefined, 'down', 502, 'server_error', 'proxy_unreachable', null],
        ['MODEL_NOT_FOUND', undefined, 'none', 404, 'invalid_request_error', 'model_not_found', 'model'],
    ] as const)('%s/%s (%s) → %i %s %s', (code, wireCode, message, status, type, httpCode, param) => {
        const e = new ClientError(code, message, wireCode ? { wireCode } : {});
        expect(toHttpError(e)).toEqual({ status, body: { error: { message, type, param, code: httpCode } } });
    });

    it('passes an upstream OpenAI error body and status through', () => {
        const body = { error: { message: 'too long', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } };
        expect(toHttpError(new ClientError('UPSTREAM_ERROR', 'too long', { status: 400, body }))).toEqual({ status: 400, body });
    });

    it('hides the message of an unexpected error', () => {
        expect(toHttpError(new Error('secret detail'))).toEqual({ status: 500, body: { error: { message: 'Internal error.', type: 'server_error', param: null, code: 'internal_error' } } });
    });
});

describe('rewriteChunk restores what OpenAI sends without include_usage', () => {
    const chunk = '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}';
    const usage = '{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}';

    it('drops "usage": null and the usage chunk when the app did not ask', () => {
        expect(rewriteChunk(chunk, false)).toEqual({ data: '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}' });
        expect(rewriteChunk(usage, false)).toEqual({});
    });

    it('keeps chunks byte for byte and holds the usage chunk back when the app asked', () => {
        expect(rewriteChunk(chunk, true)).toEqual({ data: chunk });
        expect(rewriteChunk(usage, true).usageChunk).toEqual(JSON.parse(usage));
    });
});

describe('ClientStateStore', () => {
    const dir = mkdtempSync(join(tmpdir(), 'client-state-'));

    it('writes vouchers durably and reloads them; refuses to go down', async () => {
        const path = join(dir, 'a.json');
        const s = ClientStateStore.load(path, KEY);
        await s.put(CH, { proxy: PROXY, cumulative: 5n, signature: 'aa'.repeat(64) }, 1000);
        expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ version: 1, clientKey: KEY, channels: { [CH]: { proxy: PROXY, cumulative: '5', signature: 'aa'.repeat(64), updatedAt: 1000 } } });
        await expect(s.put(CH, { proxy: PROXY, cumulative: 4n, signature: null })).rejects.toMatchObject({ code: 'STATE_INVALID' });
        expect(ClientStateStore.load(path, KEY).get(CH)?.cumulative).toBe(5n);
    });

    it('writes the file off the event loop (other callbacks run while it syncs), serialised, leaving no temp file and mode 0600', async () => {
        const path = join(dir, 'async.json');
        const s = ClientStateStore.load(path, KEY);
        let ticked = false;
        setImmediate(() => (ticked = true));
        const writes = [1n, 2n, 3n].map((n) => s.put(CH, { proxy: PROXY, cumulative: n, signature: 'bb'.repeat(64) }, 2000));
        await Promise.all(writes);
        expect(ticked).toBe(true); // a synchronous fsync would have resolved before the loop turned
        expect(JSON.parse(readFileSync(path, 'utf8')).channels[CH].cumulative).toBe('3');
        expect(readdirSync(dir).filter((f) => f.startsWith('.async.json'))).toEqual([]);
        expect(statSync(path).mode & 0o777).toBe(0o600);
        expect(ClientStateStore.load(path, KEY).get(CH)?.cumulative).toBe(3n);
    });

    it('refuses a corrupt file and a file of another client key', async () => {
        const bad = join(dir, 'bad.json');
        writeFileSync(bad, '{"version":1,"clientKey":"' + KEY + '","channels":{"' + CH + '":{"proxy":"' + PROXY + '","cumulative":"-1","signature":null,"updatedAt":0}}}');
        expect(() => ClientStateStore.load(bad, KEY)).toThrow(expect.objectContaining({ code: 'STATE_INVALID' }));
        writeFileSync(bad, 'not json');
        expect(() => ClientStateStore.load(bad, KEY)).toThrow(expect.objectContaining({ code: 'STATE_INVALID' }));
        const other = join(dir, 'other.json');
        await ClientStateStore.load(other, KEY).put(CH, { proxy: PROXY, cumulative: 1n, signature: null });
        expect(() => ClientStateStore.load(other, '22'.repeat(32))).toThrow(expect.objectContaining({ code: 'STATE_INVALID' }));
    });
});

describe('spec/client.md documents the error tables as built', () => {
    const spec = readFileSync(join(__dirname, '../../../spec/client.md'), 'utf8');
    // The wire codes' HTTP rows live in wire.md's code table (one table per code); client.md points to it.
    const wireSpec = readFileSync(join(__dirname, '../../../spec/wire.md'), 'utf8');

    it.each(Object.entries(HTTP_ERROR_TABLE.wire))('wire code %s', (code, [status, type, http]) => {
        expect(wireSpec).toContain(`| \`${code}\` | ${status} | ${type} | \`${http}\` |`);
    });

    // A client code named like a wire code (NO_WORKER, WORKER_LOST, RECEIPT_INVALID) answers that code's row in wire.md.
    it.each([...ClientErrorCodes])('client code %s', (code) => {
        const [status, type, http] = HTTP_ERROR_TABLE.client[code];
        if (isWireCode(code)) expect(wireSpec).toContain(`| \`${code}\` | ${status} | ${type} | \`${http}\` |`);
        else expect(spec).toMatch(new RegExp(`\\| \`${code}\` \\| [^|]+ \\| ${status} \\| ${type} \\| \`${http}\` \\|`));
    });
});

describe('choosing a sealed candidate', () => {
    const cand = (keyId: string, coefficient: bigint): VerifiedCandidate => ({ keyId, coefficient, hpkePublicKey: Buffer.alloc(32), workerKey: Buffer.alloc(32), imageHash: '' });
    const list = [cand('a', 1000n), cand('b', 1000n), cand('c', 1200n), cand('d', 1000n)];

    it('spreads clients over the cheapest candidates instead of all taking the first (no herding)', () => {
        const seen = new Map<string, number>();
        for (let i = 0; i < 300; i++) {
            const k = cheapestUntried(list, new Set())!.keyId;
            seen.set(k, (seen.get(k) ?? 0) + 1);
        }
        expect([...seen.keys()].sort()).toEqual(['a', 'b', 'd']);
        for (const n of seen.values()) expect(n).toBeGreaterThan(30);
    });

    it('takes a dearer candidate only when every cheaper one was tried, and none when all were', () => {
        expect(cheapestUntried(list, new Set(['a', 'b', 'd']))!.keyId).toBe('c');
        expect(cheapestUntried(list, new Set(['a', 'b', 'c', 'd']))).toBeUndefined();
        expect(cheapestUntried([], new Set())).toBeUndefined();
    });
});
