// PCCS client (Intel PCS v4 API shape): TCB info, QE identity, PCK CRL and root CA CRL for one platform, with their
// issuer-chain headers, into our Collateral shape (spec/attestation.md "Live collateral"). Every response is bounded
// (size, time) and everything fetched is verified against the trusted roots before the caller may keep it, so a PCCS
// can withhold collateral but never forge it.
import { rootKeyIdOf, isSignedBy, ParsedCert } from '../certs';
import { checkCollateralTime, ParsedCollateral, parseCollateral, verifyCrl, verifyP1363, verifySigningChain } from '../collateral';
import { MAX_PEM_CHAIN_BYTES } from '../quote';
import { pckCaOf } from '../verify';
import { AttestationError, AttestationErrorCode, Collateral, PckCa } from '../types';

/** Largest response body accepted (Intel's PCK CRLs are a few KiB, TCB info about 10 KiB). */
export const PCCS_MAX_BODY_BYTES = 1024 * 1024;
/** Largest issuer-chain header accepted (URL-encoded PEM, so up to three times the PEM). */
export const PCCS_MAX_HEADER_BYTES = 3 * MAX_PEM_CHAIN_BYTES;
/** Deadline of one collateral fetch (all four requests, bodies included). */
export const PCCS_DEFAULT_TIMEOUT_MS = 15_000;

export interface PccsClientOptions {
    /** Base URL, e.g. https://api.trustedservices.intel.com or http://127.0.0.1:8081/simulated (paths are appended). */
    baseUrl: string;
    timeoutMs?: number;
    maxBodyBytes?: number;
}

/** What one platform's collateral is fetched for. */
export interface Platform {
    fmspc: string; // 12 hex
    ca: PckCa;
}

function fail(code: AttestationErrorCode, message: string, details?: Record<string, unknown>): never {
    throw new AttestationError(code, message, details);
}

export function normalizeFmspc(fmspc: string): string {
    if (typeof fmspc !== 'string' || !/^[0-9a-fA-F]{12}$/.test(fmspc)) fail('POLICY_INVALID', 'FMSPC must be 6 bytes of hex', { fmspc: String(fmspc).slice(0, 32) });
    return fmspc.toUpperCase();
}

interface Fetched {
    headers: Headers;
    body: Buffer;
}

export class PccsClient {
    readonly baseUrl: string;
    private readonly timeoutMs: number;
    private readonly maxBodyBytes: number;

    constructor(opts: PccsClientOptions) {
        let u: URL;
        try {
            u = new URL(opts.baseUrl);
        } catch {
            fail('POLICY_INVALID', `PCCS URL ${JSON.stringify(opts.baseUrl)} is not a URL`);
        }
        if (u.protocol !== 'https:' && u.protocol !== 'http:') fail('POLICY_INVALID', 'PCCS URL must be http(s)');
        if (u.search || u.hash) fail('POLICY_INVALID', 'PCCS URL must not carry a query or fragment');
        this.baseUrl = u.toString().replace(/\/+$/, '');
        this.timeoutMs = opts.timeoutMs ?? PCCS_DEFAULT_TIMEOUT_MS;
        this.maxBodyBytes = opts.maxBodyBytes ?? PCCS_MAX_BODY_BYTES;
    }

    /**
     * The platform's collateral, verified against `trustedRootKeyIds` and current at `at`:
     * COLLATERAL_UNAVAILABLE (unreachable, HTTP error, too large, too slow), COLLATERAL_INVALID (malformed, forged,
     * another platform or root), COLLATERAL_EXPIRED (not current at `at`).
     */
    async fetchCollateral(platform: Platform, trustedRootKeyIds: readonly string[], at: Date, graceMs = 0): Promise<{ collateral: Collateral; parsed: ParsedCollateral }> {
        const fmspc = normalizeFmspc(platform.fmspc);
        if (platform.ca !== 'platform' && platform.ca !== 'processor') fail('POLICY_INVALID', 'PCK CA must be platform or processor', { ca: String(platform.ca).slice(0, 32) });
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), this.timeoutMs);
        try {
            const get = (path: string) => this.get(path, abort.signal);
            const [tcb, qe, pckCrl, rootCrl] = await Promise.all([
                get(`/tdx/certification/v4/tcb?fmspc=${fmspc}`),
                get('/tdx/certification/v4/qe/identity'),
                get(`/sgx/certification/v4/pckcrl?ca=${platform.ca}&encoding=der`),
                get('/sgx/certification/v4/rootcacrl'),
            ]);
            const tcbInfo = signedJson(tcb.body, 'tcbInfo');
            const qeIdentity = signedJson(qe.body, 'enclaveIdentity');
            const collateral: Collateral = {
                pck_crl_issuer_chain: chainHeader(pckCrl.headers, ['SGX-PCK-CRL-Issuer-Chain']),
                root_ca_crl: crlHex(rootCrl.body, 'root CA CRL'),
                pck_crl: crlHex(pckCrl.body, 'PCK CRL'),
                tcb_info_issuer_chain: chainHeader(tcb.headers, ['TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain']),
                tcb_info: tcbInfo.text,
                tcb_info_signature: tcbInfo.signature,
                qe_identity_issuer_chain: chainHeader(qe.headers, ['SGX-Enclave-Identity-Issuer-Chain']),
                qe_identity: qeIdentity.text,
                qe_identity_signature: qeIdentity.signature,
            };
            return { collateral, parsed: checkFetchedCollateral(collateral, { fmspc, ca: platform.ca }, trustedRootKeyIds, at, graceMs) };
        } finally {
            clearTimeout(timer);
            abort.abort(); // requests still running when another failed end here, not at the peer's pace
        }
    }

    private async get(path: string, signal: AbortSignal): Promise<Fetched> {
        const url = this.baseUrl + path;
        const unavailable = (reason: string): never => fail('COLLATERAL_UNAVAILABLE', `PCCS ${url}: ${reason}`, { url, reason });
        let res: Response;
        try {
            res = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/json, application/pkix-crl, */*' } });
        } catch (e) {
            return unavailable(signal.aborted ? `no answer within ${this.timeoutMs} ms` : `unreachable (${(e as Error).message})`);
        }
        if (res.status !== 200) {
            await res.body?.cancel().catch(() => undefined);
            return unavailable(`HTTP ${res.status}`);
        }
        const declared = Number(res.headers.get('content-length') ?? 0);
        if (declared > this.maxBodyBytes) {
            await res.body?.cancel().catch(() => undefined);
            return unavailable(`body of ${declared} bytes exceeds ${this.maxBodyBytes}`);
        }
        const chunks: Buffer[] = [];
        let size = 0;
        try {
            const reader = res.body?.getReader();
            for (;;) {
                const r = reader ? await reader.read() : { done: true as const, value: undefined };
                if (r.done) break;
                size += r.value.byteLength;
                if (size > this.maxBodyBytes) {
                    await reader?.cancel().catch(() => undefined);
                    return unavailable(`body exceeds ${this.maxBodyBytes} bytes`);
                }
                chunks.push(Buffer.from(r.value));
            }
        } catch (e) {
            if (e instanceof AttestationError) throw e;
            return unavailable(signal.aborted ? `body not complete within ${this.timeoutMs} ms` : `body failed (${(e as Error).message})`);
        }
        return { headers: res.headers, body: Buffer.concat(chunks) };
    }
}

function invalid(message: string): never {
    fail('COLLATERAL_INVALID', `PCCS response: ${message}`);
}

/**
 * `{"<key>":{...},"signature":"<hex>"}` as Intel PCS sends it: the signed text is the exact bytes of the inner
 * object, so it is cut out of the body (not re-serialised); the whole body must also be exactly that JSON object.
 */
export function signedJson(body: Buffer, key: string): { text: string; signature: string } {
    const text = body.toString('utf8').trimEnd();
    const head = `{"${key}":`;
    const tail = ',"signature":"';
    const cut = text.lastIndexOf(tail);
    if (!text.startsWith(head) || cut < head.length || !text.endsWith('"}')) invalid(`expected {"${key}":{...},"signature":"..."}`);
    let whole: unknown;
    try {
        whole = JSON.parse(text);
    } catch {
        invalid(`${key} response is not JSON`);
    }
    const o = whole as Record<string, unknown>;
    const signature = text.slice(cut + tail.length, -2);
    if (typeof o !== 'object' || o === null || Object.keys(o).length !== 2 || o.signature !== signature || !/^[0-9a-fA-F]{128}$/.test(signature)) {
        invalid(`${key} response must hold exactly ${key} and a 64-byte hex signature`);
    }
    return { text: text.slice(head.length, cut), signature: signature.toLowerCase() };
}

/** An issuer chain header: URL-encoded PEM (Intel's encoding), bounded. */
function chainHeader(headers: Headers, names: string[]): string {
    for (const name of names) {
        const v = headers.get(name);
        if (v === null) continue;
        if (v.length > PCCS_MAX_HEADER_BYTES) invalid(`${name} header exceeds ${PCCS_MAX_HEADER_BYTES} bytes`);
        try {
            return decodeURIComponent(v);
        } catch {
            invalid(`${name} header is not URL-encoded PEM`);
        }
    }
    invalid(`missing ${names[0]} header`);
}

/** A CRL body: DER (Intel PCS with encoding=der), or hex text (PCCS rootcacrl); returned as hex. */
function crlHex(body: Buffer, name: string): string {
    if (body.length > 0 && body[0] === 0x30) return body.toString('hex');
    const text = body.toString('latin1').trim();
    if (text.length > 0 && text.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(text)) return text.toLowerCase();
    invalid(`${name} is neither DER nor hex`);
}

/**
 * Checks collateral that came from outside (a PCCS, a cache file) without a quote: it parses strictly; TCB info,
 * QE identity and both CRLs are signed under one root whose key id is trusted; the PCK CRL is issued by a PCK CA
 * of the requested kind under that root; the TCB info is TDX v3 for the requested FMSPC; all of it is current at
 * `at` (or within `graceMs` after its nextUpdate). The quote-specific checks (PCK chain, QE and TCB levels) still run at verification.
 */
export function checkFetchedCollateral(c: Collateral, want: Platform, trustedRootKeyIds: readonly string[], at: Date, graceMs = 0): ParsedCollateral {
    let pc: ParsedCollateral;
    try {
        pc = parseCollateral(c);
        const root = pc.tcbInfoChain[pc.tcbInfoChain.length - 1] as ParsedCert | undefined;
        if (!root) invalid('TCB info issuer chain is empty');
        const rootId = rootKeyIdOf(root.publicKey);
        if (!trustedRootKeyIds.map((k) => k.toLowerCase()).includes(rootId)) invalid(`collateral is signed under root ${rootId}, which is not trusted`);
        if (!isSignedBy(root, root)) invalid('collateral root is not self-signed');
        verifyCrl('root CA CRL', pc.rootCaCrl, root);
        const tcbSigner = verifySigningChain('TCB info', pc.tcbInfoChain, root, pc.rootCaCrl, at);
        if (!verifyP1363(tcbSigner, pc.tcbInfoText, pc.tcbInfoSignature)) invalid('TCB info signature is invalid');
        const qeSigner = verifySigningChain('QE identity', pc.qeIdentityChain, root, pc.rootCaCrl, at);
        if (!verifyP1363(qeSigner, pc.qeIdentityText, pc.qeIdentitySignature)) invalid('QE identity signature is invalid');
        const [pckCa, pckRoot] = pc.pckCrlChain;
        if (pc.pckCrlChain.length !== 2 || rootKeyIdOf(pckRoot.publicKey) !== rootId) invalid('PCK CRL issuer chain must be [PCK CA, the same root]');
        if (!pckCa.ca || !isSignedBy(pckCa, root)) invalid('PCK CRL issuer is not a CA signed by the root');
        if (pc.rootCaCrl.revokedSerials.has(pckCa.serial)) invalid('PCK CRL issuer is revoked by the root CA CRL');
        verifyCrl('PCK CRL', pc.pckCrl, pckCa);
        if (pckCaOf(pckCa) !== want.ca) invalid(`PCK CRL is issued by the ${pckCaOf(pckCa)} CA, not the ${want.ca} CA`);
        const ti = pc.tcbInfo;
        if (ti.id !== 'TDX' || ti.version !== 3) invalid(`TCB info ${ti.id} v${ti.version} is not TDX TCB info v3`);
        if (ti.fmspc.toString('hex').toUpperCase() !== want.fmspc.toUpperCase()) invalid(`TCB info is for FMSPC ${ti.fmspc.toString('hex').toUpperCase()}, not ${want.fmspc.toUpperCase()}`);
        if (pc.qeIdentity.id !== 'TD_QE') invalid(`QE identity ${pc.qeIdentity.id} is not TD_QE`);
    } catch (e) {
        if (e instanceof AttestationError) throw e;
        invalid((e as Error).message);
    }
    checkCollateralTime(pc, at, graceMs);
    return pc;
}
