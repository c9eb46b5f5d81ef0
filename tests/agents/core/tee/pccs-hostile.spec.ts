// A hostile PCCS can withhold collateral but never forge it, and cannot make the client hang or hold unbounded
// memory: tampered JSON, a wrong signature, another FMSPC, huge and slow bodies and bad headers are refused with
// typed errors and nothing is cached. The local PCCS meets bad requests with 4xx and keeps serving.
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo } from 'net';
import { mkdtempSync, readdirSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { TDX_VECTORS } from '../../../../fixtures/vectors';
import fc from 'fast-check';
import { AttestationError } from '../../../../agents/core/tee/types';
import { normalizeFmspc, PccsClient, signedJson } from '../../../../agents/core/tee/pccs/client';
import { CollateralService } from '../../../../agents/core/tee/pccs/service';
import { LocalPccs, vectorCollaterals } from '../../../../agents/core/tee/pccs/server';
import { Collateral, INTEL_ROOT_KEY_ID } from '../../../../agents/core/tee/types';
import { T_GOOD, vectorCollateral } from './util';

type Handler = (req: IncomingMessage, res: ServerResponse, path: string) => void;

let server: Server;
let url: string;
let behave: Handler;
const good = vectorCollateral('tdx_quote_collateral.json');
const dir = mkdtempSync(join(tmpdir(), 'pccs-hostile-'));

/** Serves `c` the way Intel PCS does, whatever the query asks for; `edit` changes one response. */
function pcs(c: Collateral, edit: { path?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Handler {
    return (_req, res, path) => {
        let status = 200;
        let headers: Record<string, string> = {};
        let body: string | Buffer;
        if (path.endsWith('/tcb')) {
            headers = { 'TCB-Info-Issuer-Chain': encodeURIComponent(c.tcb_info_issuer_chain) };
            body = `{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`;
        } else if (path.endsWith('/qe/identity')) {
            headers = { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(c.qe_identity_issuer_chain) };
            body = `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`;
        } else if (path.endsWith('/pckcrl')) {
            headers = { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(c.pck_crl_issuer_chain) };
            body = Buffer.from(c.pck_crl, 'hex');
        } else if (path.endsWith('/rootcacrl')) {
            body = c.root_ca_crl;
        } else {
            status = 404;
            body = '';
        }
        if (edit.path && path.endsWith(edit.path)) {
            if (edit.body !== undefined) body = edit.body;
            if (edit.headers) headers = edit.headers;
        }
        res.writeHead(status, headers);
        res.end(body);
    };
}

beforeAll(async () => {
    server = createServer((req, res) => behave(req, res, new URL(req.url ?? '/', 'http://x').pathname));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
});

/** Refreshes B0C06F000000 from the hostile PCCS at the vector's valid time; returns the error code and checks nothing was kept. */
async function refused(handler: Handler, fmspc = 'B0C06F000000', timeoutMs?: number): Promise<string> {
    behave = handler;
    const cacheDir = mkdtempSync(join(dir, 'c-'));
    const svc = new CollateralService({
        client: new PccsClient({ baseUrl: url, timeoutMs, maxBodyBytes: 256 * 1024 }),
        trustedRootKeyIds: [INTEL_ROOT_KEY_ID],
        graceMs: 0,
        cacheDir,
        clock: () => T_GOOD,
        tickMs: 0,
    });
    let code = 'accepted';
    await svc.refresh({ fmspc, ca: 'platform' }).catch((e: { code: string }) => (code = e.code));
    expect(svc.generation).toBe(0);
    expect(readdirSync(cacheDir)).toEqual([]);
    expect(() => svc.collateralFor(fmspc, 'platform', T_GOOD)).toThrow();
    return code;
}

describe('a hostile PCCS is refused and nothing is cached', () => {
    test('the honest baseline is accepted (so the refusals below are about the edit)', async () => {
        behave = pcs(good);
        const svc = new CollateralService({ client: new PccsClient({ baseUrl: url }), trustedRootKeyIds: [INTEL_ROOT_KEY_ID], graceMs: 0, clock: () => T_GOOD, tickMs: 0 });
        await svc.refresh({ fmspc: 'B0C06F000000', ca: 'platform' });
        expect(svc.generation).toBe(1);
    });

    test('tampered TCB info (one status changed, signature kept)', async () => {
        const edited = { ...good, tcb_info: good.tcb_info.replace('"OutOfDate"', '"UpToDate"') };
        expect(edited.tcb_info).not.toBe(good.tcb_info);
        expect(await refused(pcs(edited))).toBe('COLLATERAL_INVALID');
    });

    test('a wrong QE identity signature', async () => {
        const sig = good.qe_identity_signature;
        const edited = { ...good, qe_identity_signature: (sig[0] === '0' ? '1' : '0') + sig.slice(1) };
        expect(await refused(pcs(edited))).toBe('COLLATERAL_INVALID');
    });

    test('TCB info for another FMSPC than asked', async () => {
        expect(await refused(pcs(good), '90C06F000000')).toBe('COLLATERAL_INVALID');
    });

    test('a PCK CRL signed by another key than its issuer chain names', async () => {
        const other = vectorCollateral('tdx_quote_outdated_collateral.json');
        const edited = { ...good, pck_crl: good.pck_crl.slice(0, -8) + (good.pck_crl.endsWith('00000000') ? '11111111' : '00000000') };
        expect(await refused(pcs(edited))).toBe('COLLATERAL_INVALID');
        expect(await refused(pcs({ ...good, pck_crl_issuer_chain: other.tcb_info_issuer_chain }))).toBe('COLLATERAL_INVALID');
    });

    test('bodies that are not the PCS shape: not JSON, extra keys, re-serialised around the signed text', async () => {
        expect(await refused(pcs(good, { path: '/tcb', body: 'not json' }))).toBe('COLLATERAL_INVALID');
        expect(await refused(pcs(good, { path: '/tcb', body: `{"tcbInfo":${good.tcb_info},"x":1,"signature":"${good.tcb_info_signature}"}` }))).toBe('COLLATERAL_INVALID');
        expect(await refused(pcs(good, { path: '/tcb', body: `{"tcbInfo": ${good.tcb_info},"signature":"${good.tcb_info_signature}"}` }))).toBe('COLLATERAL_INVALID');
        expect(await refused(pcs(good, { path: '/pckcrl', body: 'zz' }))).toBe('COLLATERAL_INVALID');
    });

    test('bad headers: missing issuer chain, broken URL encoding, a chain that is not PEM, an oversized header', async () => {
        expect(await refused(pcs(good, { path: '/tcb', headers: {} }))).toBe('COLLATERAL_INVALID');
        expect(await refused(pcs(good, { path: '/tcb', headers: { 'TCB-Info-Issuer-Chain': '%E0%A4%A' } }))).toBe('COLLATERAL_INVALID');
        expect(await refused(pcs(good, { path: '/qe/identity', headers: { 'SGX-Enclave-Identity-Issuer-Chain': 'hello' } }))).toBe('COLLATERAL_INVALID');
        expect(await refused(pcs(good, { path: '/pckcrl', headers: { 'SGX-PCK-CRL-Issuer-Chain': 'A'.repeat(60 * 1024) } }))).toBe('COLLATERAL_UNAVAILABLE'); // over the HTTP client's header limit (16 KiB)
    });

    test('a huge body is cut off at the cap, declared or streamed', async () => {
        const huge = Buffer.alloc(2 * 1024 * 1024, 0x20);
        expect(await refused(pcs(good, { path: '/rootcacrl', body: huge }))).toBe('COLLATERAL_UNAVAILABLE');
        expect(
            await refused((req, res, path) => {
                if (!path.endsWith('/tcb')) return pcs(good)(req, res, path);
                res.writeHead(200, { 'TCB-Info-Issuer-Chain': encodeURIComponent(good.tcb_info_issuer_chain) }); // chunked, no length
                const chunk = Buffer.alloc(64 * 1024, 0x20);
                let sent = 0;
                const pump = () => {
                    while (sent < 64 && res.write(chunk)) sent++;
                    if (sent < 64) res.once('drain', pump);
                    else res.end();
                };
                res.on('error', () => undefined);
                pump();
            }),
        ).toBe('COLLATERAL_UNAVAILABLE');
    });

    test('a slow body (headers, then nothing) ends at the deadline', async () => {
        const hung: ServerResponse[] = [];
        const code = await refused((req, res, path) => {
            if (!path.endsWith('/qe/identity')) return pcs(good)(req, res, path);
            res.writeHead(200, { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(good.qe_identity_issuer_chain) });
            res.write('{"enclaveIdentity":');
            hung.push(res);
        }, 'B0C06F000000', 300);
        for (const r of hung) r.destroy();
        expect(code).toBe('COLLATERAL_UNAVAILABLE');
    });

    test('when one request fails, the others are cut off instead of left to a slow peer', async () => {
        let arrived!: () => void;
        const qeArrived = new Promise<void>((r) => (arrived = r));
        let closed!: Promise<unknown>;
        const code = await refused((req, res, path) => {
            // TCB info fails only once the QE identity request hangs, so there is something to cut off
            if (path.endsWith('/tcb')) return void qeArrived.then(() => res.writeHead(503).end());
            if (!path.endsWith('/qe/identity')) return pcs(good)(req, res, path);
            res.writeHead(200, { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(good.qe_identity_issuer_chain) });
            res.write('{"enclaveIdentity":');
            closed = new Promise((r) => res.once('close', r));
            arrived();
        }, 'B0C06F000000', 600_000);
        expect(code).toBe('COLLATERAL_UNAVAILABLE');
        await closed; // the client closed the hung response (with a 10-minute deadline, only the cut-off can)
    });

    test('HTTP errors and redirects are unavailability, not content', async () => {
        expect(await refused((_q, res) => res.writeHead(503).end())).toBe('COLLATERAL_UNAVAILABLE');
        expect(await refused((_q, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end())).toBe('COLLATERAL_UNAVAILABLE');
    });

    test('nothing a caller passes reaches the URL unchecked', async () => {
        let asked = 0;
        behave = (_q, res) => void (asked++, res.writeHead(404).end());
        await expect(new PccsClient({ baseUrl: url }).fetchCollateral({ fmspc: 'B0C06F000000', ca: 'platform&x=1' as 'platform' }, [INTEL_ROOT_KEY_ID], T_GOOD)).rejects.toMatchObject({ code: 'POLICY_INVALID' });
        expect(asked).toBe(0);
        expect(() => normalizeFmspc('B0C06F000000&ca=processor')).toThrow(expect.objectContaining({ code: 'POLICY_INVALID' }));
        expect(() => new PccsClient({ baseUrl: 'file:///etc/passwd' })).toThrow(expect.objectContaining({ code: 'POLICY_INVALID' }));
        expect(() => new PccsClient({ baseUrl: 'http://127.0.0.1/?x=1' })).toThrow(expect.objectContaining({ code: 'POLICY_INVALID' }));
    });
});

describe('the PCS body parser is total', () => {
    test('any body gives the signed text or COLLATERAL_INVALID, never another exception', () => {
        const honest = `{"tcbInfo":${good.tcb_info},"signature":"${good.tcb_info_signature}"}`;
        expect(signedJson(Buffer.from(honest), 'tcbInfo')).toEqual({ text: good.tcb_info, signature: good.tcb_info_signature.toLowerCase() });
        const bodies = fc.oneof(
            fc.string(),
            fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b).toString('latin1')),
            // the honest body with a slice cut out or something spliced in
            fc.tuple(fc.nat(honest.length), fc.nat(honest.length), fc.string({ maxLength: 40 })).map(([a, b, x]) => honest.slice(0, Math.min(a, b)) + x + honest.slice(Math.max(a, b))),
        );
        fc.assert(
            fc.property(bodies, (body) => {
                try {
                    const r = signedJson(Buffer.from(body, 'latin1'), 'tcbInfo');
                    // whatever is accepted is the exact text between the fixed head and tail
                    expect(Buffer.from(body, 'latin1').toString('utf8').trimEnd()).toBe(`{"tcbInfo":${r.text},"signature":"${body.trimEnd().slice(-130, -2)}"}`);
                } catch (e) {
                    expect(e).toBeInstanceOf(AttestationError);
                    expect((e as AttestationError).code).toBe('COLLATERAL_INVALID');
                }
            }),
            { numRuns: 2000 },
        );
    });
});

describe('the local PCCS under abuse', () => {
    let pccs: LocalPccs;
    beforeAll(async () => {
        pccs = new LocalPccs({ mounts: { intel: vectorCollaterals(TDX_VECTORS) }, clock: () => T_GOOD });
        await pccs.start();
    });
    afterAll(() => pccs.stop());

    test('bad methods, paths and parameters get 4xx; it keeps serving', async () => {
        const base = pccs.baseUrl('intel');
        const status = async (path: string, init?: RequestInit) => (await fetch(base + path, init)).status;
        expect(await status('/tdx/certification/v4/tcb?fmspc=B0C06F000000', { method: 'POST', body: 'x' })).toBe(405);
        expect(await status('/tdx/certification/v4/tcb?fmspc=B0C06F')).toBe(400);
        expect(await status('/tdx/certification/v4/tcb?fmspc=B0C06F000000%00')).toBe(400);
        expect(await status('/tdx/certification/v4/tcb?fmspc=000000000000')).toBe(404);
        expect(await status('/sgx/certification/v4/pckcrl?ca=../../etc')).toBe(400);
        expect(await status('/../../etc/passwd')).toBe(404);
        expect(await status('/tdx/certification/v4/tcb/../../../x')).toBe(404);
        expect((await fetch(`${pccs.url}/nomount/tdx/certification/v4/qe/identity`)).status).toBe(404);
        expect(await status('/tdx/certification/v4/tcb?fmspc=B0C06F000000')).toBe(200);
    });
});
