// A local PCCS on 127.0.0.1 serving the Intel PCS v4 API shape from collateral sets (spec/attestation.md "Live
// collateral"): the real vectors (fixtures/vectors/tdx, both FMSPCs) and the simulated platform's collateral, each
// under its own mount (`/intel`, `/simulated`: one trust root per mount), so the devnet and the tests fetch
// collateral through the same client, verification and cache as production. At each request it serves, per item, the
// newest collateral issued by its clock, as a PCCS that has been refreshing would.
import { existsSync, readdirSync, readFileSync } from 'fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo } from 'net';
import { join } from 'path';
import { derToPem } from '../certs';
import { ParsedCollateral, parseCollateral } from '../collateral';
import { SimulatedTee } from '../simulated';
import { Collateral } from '../types';
import { pckCaOf } from '../verify';

/** The collateral sets of one mount (called per request, so a source may re-sign or reload). */
export type CollateralSets = () => Collateral[] | Promise<Collateral[]>;

export interface LocalPccsOptions {
    /** Mount name (a path segment, '' for the root) → its collateral sets. */
    mounts: Record<string, CollateralSets>;
    port?: number;
    clock?: () => Date;
}

interface Set {
    c: Collateral;
    pc: ParsedCollateral;
}

const hexToBuf = (h: string) => Buffer.from(h, 'hex');

export class LocalPccs {
    private server?: Server;
    private readonly clock: () => Date;
    url = '';

    constructor(private readonly o: LocalPccsOptions) {
        this.clock = o.clock ?? (() => new Date());
        for (const m of Object.keys(o.mounts)) if (!/^[a-z0-9-]*$/.test(m)) throw new RangeError(`LocalPccs: mount ${JSON.stringify(m)} must be a lower-case path segment`);
    }

    /** The base URL of a mount (what `trust.pccsUrl` names). */
    baseUrl(mount: string): string {
        return mount ? `${this.url}/${mount}` : this.url;
    }

    async start(): Promise<string> {
        const server = createServer((req, res) => {
            this.handle(req, res).catch((e: Error) => send(res, 500, { code: 'INTERNAL', message: e.message }));
        });
        this.server = server;
        await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(this.o.port ?? 0, '127.0.0.1', () => resolve());
        });
        this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        return this.url;
    }

    async stop(): Promise<void> {
        const s = this.server;
        this.server = undefined;
        if (!s) return;
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
    }

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        if (req.method !== 'GET') return send(res, 405, { code: 'METHOD_NOT_ALLOWED' });
        const u = new URL(req.url ?? '/', 'http://pccs');
        const m = /^(?:\/([a-z0-9-]+))?\/(sgx|tdx)\/certification\/v4\/(tcb|qe\/identity|pckcrl|rootcacrl)$/.exec(u.pathname);
        const mount = m ? this.o.mounts[m[1] ?? ''] : undefined;
        if (!m || !mount) return send(res, 404, { code: 'NOT_FOUND' });
        const [, , tee, what] = m;
        const sets = (await mount()).map((c) => ({ c, pc: parseCollateral(c) }));
        const now = this.clock().getTime();
        /** The set whose `issued` item is newest but not after now. */
        const newest = (candidates: Set[], issued: (s: Set) => Date) =>
            candidates.filter((s) => issued(s).getTime() <= now).sort((a, b) => issued(b).getTime() - issued(a).getTime())[0] as Set | undefined;

        if (tee === 'tdx' && what === 'tcb') {
            const fmspc = u.searchParams.get('fmspc') ?? '';
            if (!/^[0-9a-fA-F]{12}$/.test(fmspc)) return send(res, 400, { code: 'INVALID_FMSPC' });
            const s = newest(sets.filter((x) => x.pc.tcbInfo.fmspc.toString('hex') === fmspc.toLowerCase()), (x) => x.pc.tcbInfo.issueDate);
            if (!s) return send(res, 404, { code: 'NOT_FOUND' });
            return signed(res, 'tcbInfo', s.c.tcb_info, s.c.tcb_info_signature, 'TCB-Info-Issuer-Chain', s.c.tcb_info_issuer_chain);
        }
        if (tee === 'tdx' && what === 'qe/identity') {
            const s = newest(sets, (x) => x.pc.qeIdentity.issueDate);
            if (!s) return send(res, 404, { code: 'NOT_FOUND' });
            return signed(res, 'enclaveIdentity', s.c.qe_identity, s.c.qe_identity_signature, 'SGX-Enclave-Identity-Issuer-Chain', s.c.qe_identity_issuer_chain);
        }
        if (tee === 'sgx' && what === 'pckcrl') {
            const ca = u.searchParams.get('ca');
            if (ca !== 'platform' && ca !== 'processor') return send(res, 400, { code: 'INVALID_CA' });
            const s = newest(sets.filter((x) => pckCaOf(x.pc.pckCrlChain[0]) === ca), (x) => x.pc.pckCrl.thisUpdate);
            if (!s) return send(res, 404, { code: 'NOT_FOUND' });
            const der = hexToBuf(s.c.pck_crl);
            const der_ = u.searchParams.get('encoding') === 'der';
            res.writeHead(200, { 'content-type': der_ ? 'application/pkix-crl' : 'application/x-pem-file', 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(s.c.pck_crl_issuer_chain) });
            return void res.end(der_ ? der : derToPem(der, 'X509 CRL'));
        }
        if (tee === 'sgx' && what === 'rootcacrl') {
            const s = newest(sets, (x) => x.pc.rootCaCrl.thisUpdate);
            if (!s) return send(res, 404, { code: 'NOT_FOUND' });
            res.writeHead(200, { 'content-type': 'text/plain' }); // PCCS sends the DER as hex text
            return void res.end(s.c.root_ca_crl);
        }
        return send(res, 404, { code: 'NOT_FOUND' });
    }
}

function send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
}

/** Intel's body: the signed JSON text verbatim inside `{"<key>":...,"signature":"<hex>"}`, the chain URL-encoded. */
function signed(res: ServerResponse, key: string, text: string, signature: string, header: string, chain: string): void {
    res.writeHead(200, { 'content-type': 'application/json', [header]: encodeURIComponent(chain) });
    res.end(`{"${key}":${text},"signature":"${signature}"}`);
}

/** The `*_collateral.json` files of a vectors directory (dcap-qvl field names); none when the directory is absent. */
export function vectorCollaterals(dir: string): CollateralSets {
    const sets = existsSync(dir)
        ? readdirSync(dir)
              .filter((n) => n.endsWith('_collateral.json'))
              .sort()
              .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as Collateral)
        : [];
    return () => sets;
}

/**
 * The simulated platform's collateral, signed at the clock's time and re-signed once 80 % of its window has passed
 * (as Intel issues new TCB info before nextUpdate), so a long-running devnet never runs out.
 */
export function simulatedCollaterals(tee: SimulatedTee, clock: () => Date = () => new Date(), windowMs = 30 * 24 * 3600_000): CollateralSets {
    let current: { c: Promise<Collateral>; issuedAt: number; renewAt: number } | undefined;
    return async () => {
        const now = clock().getTime();
        if (!current || now >= current.renewAt || now < current.issuedAt) {
            const issueDate = new Date(Math.floor(now / 1000) * 1000 - 60_000);
            const nextUpdate = new Date(issueDate.getTime() + windowMs);
            current = { c: tee.signCollateral({ issueDate, nextUpdate }), issuedAt: issueDate.getTime(), renewAt: issueDate.getTime() + windowMs * 0.8 };
        }
        return [await current.c];
    };
}
