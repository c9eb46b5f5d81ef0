// The registry of wire error codes (agents/core/wire/codes.ts): spec/wire.md documents it row for row; every code the
// agents put on the wire is registered; the lists derived from it say what the hand-written ones said. Every code an
// agent throws is in its error class's list, and every listed code heads exactly one spec table row.
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { blamesWorker, clientRefusal, isWireCode, WIRE_CODES, WireCode, wireCodeTable, WireErrorCodes } from '../../../../agents/core/wire';
import { HpkeErrorCodes } from '../../../../agents/core/hpke';
import { PricingErrorCodes } from '../../../../agents/core/pricing';
import { ForwardErrorCodes } from '../../../../agents/worker/forward';
import { WorkerRequestErrorCodes } from '../../../../agents/worker/openai-request';
import { ProxyWireCodes } from '../../../../agents/proxy/errors';
import { WorkerWireCodes } from '../../../../agents/worker/errors';
import { ClientErrorCodes, HTTP_ERROR_TABLE } from '../../../../agents/client/errors';
import { ProxyAgentCodes } from '../../../../agents/proxy/errors';
import { PayoutErrorCodes, WorkerConfigErrorCodes, WorkerLinkErrorCodes } from '../../../../agents/worker/errors';
import { ChainErrorCodes, ConfigErrorCodes } from '../../../../agents/core/chain/errors';
import { TransportErrorCodes } from '../../../../agents/core/transport/errors';
import { DevnetErrorCodes } from '../../../../agents/devnet/errors';
import { LedgerCodes } from '../../../../agents/proxy/ledger-types';
import { ReceiptErrorCodes } from '../../../../agents/core/receipt';
import { StateFileErrorCodes } from '../../../../agents/core/state-file';
import { AttestationErrorCodes } from '../../../../agents/core/tee/types';
import { OperatorErrorCodes } from '../../../../agents/operator/errors';
import { AdminErrorCodes } from '../../../../agents/core/admin/server';
import { ModelHashErrorCodes } from '../../../../agents/core/model-hash';
import { GpuErrorCodes } from '../../../../agents/core/tee/gpu/types';
import { ExplorerErrorCodes } from '../../../../agents/explorer/errors';
import { KeysErrorCodes } from '../../../../agents/core/keys/types';

const ROOT = join(__dirname, '../../../..');
const CODES = Object.keys(WIRE_CODES) as WireCode[];

/** Every CocoonError class that agents/ throws, with the list its code must come from. */
const ERROR_LISTS: Record<string, readonly string[]> = {
    WireError: WireErrorCodes,
    HpkeError: HpkeErrorCodes,
    PricingError: PricingErrorCodes,
    ReceiptError: ReceiptErrorCodes,
    AttestationError: AttestationErrorCodes,
    TransportError: TransportErrorCodes,
    ChainError: ChainErrorCodes,
    ConfigError: ConfigErrorCodes,
    StateFileError: StateFileErrorCodes,
    ProxyError: [...ProxyWireCodes, ...ProxyAgentCodes],
    LedgerError: LedgerCodes,
    WorkerConfigError: WorkerConfigErrorCodes,
    WorkerLinkError: WorkerLinkErrorCodes,
    PayoutError: PayoutErrorCodes,
    WorkerRequestError: WorkerRequestErrorCodes,
    ForwardError: ForwardErrorCodes,
    ClientError: ClientErrorCodes,
    DevnetError: DevnetErrorCodes,
    DevnetStateError: DevnetErrorCodes,
    OperatorError: OperatorErrorCodes,
    AdminError: AdminErrorCodes,
    ModelHashError: ModelHashErrorCodes,
    GpuAttestationError: GpuErrorCodes,
    ExplorerError: ExplorerErrorCodes,
    KeysError: KeysErrorCodes,
};

function files(dir: string, ext: string): string[] {
    return readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
    });
}

describe('wire error codes: one registry, documented once', () => {
    it("spec/wire.md's code table is the registry, row for row", () => {
        expect(readFileSync(join(ROOT, 'spec/wire.md'), 'utf8')).toContain(wireCodeTable());
    });
});

describe('every error code is in a list and heads exactly one spec table row', () => {
    const sources = files(join(ROOT, 'agents'), '.ts').map((p) => ({ p: p.slice(ROOT.length + 1), text: readFileSync(p, 'utf8') }));
    // Literal codes at throw sites: `new XError('CODE'`. ConfigError's first argument is the key (its code is always CONFIG_INVALID).
    const thrown = sources.flatMap(({ p, text }) => [...text.matchAll(/new (\w+Error)\(\s*'([A-Z][A-Z0-9_]*)'/g)].filter((m) => m[1] !== 'ConfigError').map((m) => ({ p, cls: m[1], code: m[2] })));
    // Literal `code: 'CODE'` anywhere (error frames, refusals, report entries).
    const literals = sources.flatMap(({ p, text }) => [...text.matchAll(/\bcode: '([A-Z]+_[A-Z0-9_]+)'/g)].map((m) => ({ p, code: m[1] })));
    // Codes that are not errors thrown or sent by an agent: an HTTP body, a log line, a status report entry.
    const NOT_THROWN: Record<string, string> = {
        NOT_FOUND: "the ops server's 404 body (agents/core/ops-server.ts)",
        METHOD_NOT_ALLOWED: "the ops server's 405 body (agents/core/ops-server.ts)",
        UPGRADE_REQUIRED: "the RA-TLS server's 426 body to a plain HTTP request",
        HPKE_KEY_NOT_ATTESTED: "the client's log line for a candidate whose HPKE key is not in its certificate",
        CHANNEL_NOT_DEPLOYED: "`cocoon status`'s report for a channel (spec/chain.md)",
        CHANNEL_UNKNOWN_KIND: "`cocoon status`'s report for a channel (spec/chain.md)",
        INVALID_FMSPC: "the local PCCS's 400 body, as Intel's PCS words it (agents/core/tee/pccs/server.ts)",
        INVALID_CA: "the local PCCS's 400 body, as Intel's PCS words it (agents/core/tee/pccs/server.ts)",
    };
    const all = new Set([...CODES, ...Object.values(ERROR_LISTS).flat()]);
    const specs = readdirSync(join(ROOT, 'spec'))
        .filter((n) => n.endsWith('.md'))
        .map((n) => ({ name: `spec/${n}`, text: readFileSync(join(ROOT, 'spec', n), 'utf8') }));

    it('finds the throw sites and literals it scans', () => {
        expect(thrown.length).toBeGreaterThan(150);
        expect(new Set(thrown.map((t) => t.cls)).size).toBeGreaterThanOrEqual(15);
        expect(literals.length).toBeGreaterThan(20);
    });

    it("every thrown literal code is in its class's list", () => {
        const bad = thrown.filter((t) => !ERROR_LISTS[t.cls]?.includes(t.code)).map((t) => `${t.p}: new ${t.cls}('${t.code}'`);
        expect(bad).toEqual([]);
    });

    it('every `code:` literal is a listed code (or a named non-error)', () => {
        const bad = literals.filter((l) => !all.has(l.code) && !(l.code in NOT_THROWN)).map((l) => `${l.p}: ${l.code}`);
        expect(bad).toEqual([]);
    });

    it.each([...all].sort())('%s heads exactly one spec table row', (code) => {
        const row = new RegExp(`^\\| \`${code}\` \\|`, 'gm');
        const rows = specs.flatMap((s) => (s.text.match(row) ?? []).map(() => s.name));
        expect(rows).toHaveLength(1);
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
    ];
    const literal = new Set<string>();
    for (const { text } of sources) for (const re of SITES) for (const m of text.matchAll(re)) literal.add(m[1]);
    // Codes of errors whose `code` is sent as is (e.code at the send site; the worker's sendableCode(e) falls back to INTERNAL).
    const passedThrough = [...WireErrorCodes, ...HpkeErrorCodes, ...PricingErrorCodes, ...ForwardErrorCodes, ...WorkerRequestErrorCodes, 'CREDIT_WINDOW_EXCEEDED', 'INSUFFICIENT_DEPOSIT', 'PAYOUT_INVALID', 'PAYOUT_STALE', 'INTERNAL'];

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
        const neutral = /^(REQUEST_|HPKE_|BACKEND_ABORTED$|BACKEND_ERROR$|WORKER_DRAINING$)/;
        for (const c of CODES) expect([c, blamesWorker(c)]).toEqual([c, !neutral.test(c)]);
        expect(blamesWorker('SOMETHING_NEW')).toBe(true);
    });

    it("the client's refusal mapping is the hand-written one it replaced, for every code before and after response_start", () => {
        const handWritten = (code: string, started: boolean): string => {
            if (code === 'WORKER_LOST' || (started && code === 'BACKEND_STREAM_BROKEN')) return 'WORKER_LOST';
            if (code === 'NO_WORKER' || code === 'WORKER_BUSY' || code === 'WORKER_DRAINING') return 'NO_WORKER';
            if (code === 'MODEL_NOT_REGISTERED') return 'MODEL_NOT_FOUND';
            if (code === 'RECEIPT_INVALID') return 'RECEIPT_INVALID';
            if (code.startsWith('WIRE_') || code.startsWith('HPKE_')) return 'PROTOCOL_ERROR';
            return 'REQUEST_REJECTED';
        };
        for (const c of [...CODES, 'SOMETHING_NEW']) for (const started of [false, true]) expect([c, started, clientRefusal(c, started)]).toEqual([c, started, handWritten(c, started)]);
    });

    it('the client HTTP table is the registry rows with an HTTP answer', () => {
        expect(Object.keys(HTTP_ERROR_TABLE.wire).sort()).toEqual(CODES.filter((c) => 'http' in WIRE_CODES[c]).sort());
        expect(HTTP_ERROR_TABLE.wire.WORKER_LOST).toEqual([502, 'server_error', 'worker_lost']);
        expect(HTTP_ERROR_TABLE.wire.INTERNAL).toEqual([500, 'server_error', 'internal_error']);
        // Client codes named like a wire code answer its row.
        for (const c of ['NO_WORKER', 'WORKER_LOST', 'RECEIPT_INVALID'] as const) expect(HTTP_ERROR_TABLE.client[c]).toEqual(HTTP_ERROR_TABLE.wire[c]);
    });

    it('the proxy, worker and parser lists', () => {
        expect([...WireErrorCodes]).toEqual(['WIRE_MALFORMED', 'WIRE_TOO_LARGE', 'WIRE_UNKNOWN_TYPE', 'WIRE_DIRECTION', 'WIRE_BAD_FIELD', 'WIRE_VERSION']);
        expect(ProxyWireCodes).toHaveLength(26); // issue 11 added COOP_WITHDRAW_TOO_LARGE, COOP_WITHDRAW_UNAVAILABLE and PROXY_NOT_ACCEPTING; issue 13 WORKER_CONFIG_MISMATCH and WORKER_GPU_EVIDENCE_REQUIRED
        expect(WorkerWireCodes).toEqual(expect.arrayContaining(['WORKER_BUSY', 'INTERNAL', 'PAYOUT_INVALID', 'PAYOUT_STALE', 'REQUEST_PRICE_CAP', ...ForwardErrorCodes, ...WorkerRequestErrorCodes, ...HpkeErrorCodes]));
    });
});
