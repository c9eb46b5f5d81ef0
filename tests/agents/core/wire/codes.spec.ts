// The registry of wire error codes (agents/core/wire/codes.ts): spec/wire.md documents it row for row and is the
// only spec table listing a wire code; every code the agents put on the wire is registered; the lists derived from
// it say what the hand-written ones said.
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { blamesWorker, isWireCode, WIRE_CODES, WireCode, wireCodeTable, WireErrorCodes } from '../../../../agents/core/wire';
import { HpkeErrorCodes } from '../../../../agents/core/hpke';
import { PricingErrorCodes } from '../../../../agents/core/pricing';
import { ForwardErrorCodes } from '../../../../agents/worker/forward';
import { WorkerRequestErrorCodes } from '../../../../agents/worker/openai-request';
import { ProxyWireCodes } from '../../../../agents/proxy/errors';
import { WorkerWireCodes } from '../../../../agents/worker/errors';
import { HTTP_ERROR_TABLE } from '../../../../agents/client/errors';

const ROOT = join(__dirname, '../../../..');
const CODES = Object.keys(WIRE_CODES) as WireCode[];

function files(dir: string, ext: string): string[] {
    return readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
    });
}

describe('wire error codes: one registry, documented once', () => {
    const wireSpec = readFileSync(join(ROOT, 'spec/wire.md'), 'utf8');

    it("spec/wire.md's code table is the registry, row for row", () => {
        expect(wireSpec).toContain(wireCodeTable());
    });

    // Module error tables that document the same string as their own error class (not as a wire code).
    const MODULE_TABLES: Record<string, string[]> = {
        'spec/attestation.md': ['IMAGE_NOT_ALLOWED'], // AttestationError
        'spec/client.md': ['NO_WORKER', 'WORKER_LOST', 'RECEIPT_INVALID'], // ClientError codes of the same name (their HTTP rows)
        'spec/payments.md': ['PRICING_INVALID_USAGE', 'PRICING_INVALID_PRICE', 'PRICING_INVALID_COEFFICIENT', 'PRICING_OVERFLOW', 'RECEIPT_MALFORMED'], // PricingError, ReceiptError
    };
    const specs = readdirSync(join(ROOT, 'spec'))
        .filter((n) => n.endsWith('.md'))
        .map((n) => ({ name: `spec/${n}`, text: readFileSync(join(ROOT, 'spec', n), 'utf8') }));

    it.each(CODES)('%s heads a row of exactly one spec table (spec/wire.md)', (code) => {
        const row = new RegExp(`^\\| *\`?${code}\`? *\\|`, 'm');
        const inTables = specs.filter((s) => row.test(s.text) && !MODULE_TABLES[s.name]?.includes(code)).map((s) => s.name);
        expect(inTables).toEqual(['spec/wire.md']);
    });
});

describe('wire error codes: every code put on the wire is registered', () => {
    const sources = files(join(ROOT, 'agents'), '.ts').map((p) => ({ p, text: readFileSync(p, 'utf8') }));
    // Literal codes at every send site: sendError / fail / failover / the worker's error(), and frames built inline.
    const SITES = [
        /sendError\(\s*'([A-Z_]+)'/g,
        /\bthis\.error\(\s*'([A-Z_]+)'/g,
        /\bthis\.fail\(\s*'([A-Z_]+)'/g,
        /tryFailover\(\s*'([A-Z_]+)'/g,
        /type: '(?:response_)?error'[^}\n]*code: '([A-Z_]+)'/g,
        /: '([A-Z_]+)'\s*:\s*'WORKER_INTERNAL'/g,
    ];
    const literal = new Set<string>();
    for (const { text } of sources) for (const re of SITES) for (const m of text.matchAll(re)) literal.add(m[1]);
    // Codes of errors whose `code` is sent as is (e.code at the send site).
    const passedThrough = [...WireErrorCodes, ...HpkeErrorCodes, ...PricingErrorCodes, ...ForwardErrorCodes, ...WorkerRequestErrorCodes, 'CREDIT_WINDOW_EXCEEDED', 'INSUFFICIENT_DEPOSIT', 'WORKER_INTERNAL'];

    it('finds the send sites it scans', () => {
        expect(literal.size).toBeGreaterThan(15);
        expect([...literal]).toEqual(expect.arrayContaining(['HELLO_REQUIRED', 'WORKER_BUSY', 'RECEIPT_INVALID', 'WIRE_BAD_FIELD']));
    });

    it.each([...new Set([...literal, ...passedThrough])].sort())('%s is registered', (code) => {
        expect(isWireCode(code)).toBe(true);
    });
});

describe('wire error codes: the derived lists say what the hand-written ones said', () => {
    it('the proxy blames a worker for exactly the codes it blamed before (not REQUEST_*, HPKE_*, BACKEND_ABORTED, BACKEND_ERROR; unknown codes count)', () => {
        const neutral = /^(REQUEST_|HPKE_|BACKEND_ABORTED$|BACKEND_ERROR$)/;
        for (const c of CODES) expect([c, blamesWorker(c)]).toEqual([c, !neutral.test(c)]);
        expect(blamesWorker('SOMETHING_NEW')).toBe(true);
    });

    it('the client HTTP table is the registry rows with an HTTP answer', () => {
        expect(Object.keys(HTTP_ERROR_TABLE.wire).sort()).toEqual(CODES.filter((c) => 'http' in WIRE_CODES[c]).sort());
        expect(HTTP_ERROR_TABLE.wire.WORKER_LOST).toEqual([502, 'server_error', 'worker_lost']);
    });

    it('the proxy, worker and parser lists', () => {
        expect([...WireErrorCodes]).toEqual(['WIRE_MALFORMED', 'WIRE_TOO_LARGE', 'WIRE_UNKNOWN_TYPE', 'WIRE_DIRECTION', 'WIRE_BAD_FIELD', 'WIRE_VERSION']);
        expect(ProxyWireCodes).toHaveLength(20);
        expect(WorkerWireCodes).toEqual(expect.arrayContaining(['WORKER_BUSY', 'WORKER_INTERNAL', 'REQUEST_PRICE_CAP', ...ForwardErrorCodes, ...WorkerRequestErrorCodes, ...HpkeErrorCodes]));
    });
});
