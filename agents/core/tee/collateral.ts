// DCAP collateral (TCB info, QE identity, PCK and root CA CRLs with their issuer chains): strict parsing, the time
// window at the policy time, signature chains to the quote's (already trusted) root key, revocation, QE identity
// and the TCB level match of Intel's QVL for TDX (including the TDX module identities of TCB info v3).
// Field names follow @phala/dcap-qvl's Collateral (types.ts); spec/attestation.md "Collateral" documents the steps.
import { verify as cryptoVerify } from 'crypto';
import { ecPoint, isP256, isSignedBy, OID_ECDSA_SHA256, ParsedCert, parseCertDer, ParsedCrl, parseCrlDer, PckExtension, pemToDer } from './certs';
import { MAX_PEM_CHAIN_BYTES, splitPemChain } from './quote';
import { AttestationError, AttestationErrorCode, Collateral, ParsedQuote, TcbStatus } from './types';

export const TCB_STATUSES: readonly TcbStatus[] = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'];

const MAX_JSON_BYTES = 256 * 1024;
const MAX_CHAIN_PEM_BYTES = MAX_PEM_CHAIN_BYTES;
const MAX_CRL_HEX_CHARS = 2 * 1024 * 1024;

export interface StatusLevel {
    tcbStatus: TcbStatus;
    advisoryIds: string[];
}

export interface TcbInfoLevel extends StatusLevel {
    sgxComponents: number[]; // 16
    tdxComponents: number[]; // 16
    pceSvn: number;
}

export interface IsvLevel extends StatusLevel {
    isvSvn: number;
}

export interface TdxModuleIdentity {
    id: string;
    mrSigner: Buffer; // 48
    attributes: Buffer; // 8
    attributesMask: Buffer; // 8
    tcbLevels: IsvLevel[];
}

export interface TcbInfo {
    id: string;
    version: number;
    issueDate: Date;
    nextUpdate: Date;
    fmspc: Buffer; // 6
    pceId: Buffer; // 2
    tdxModule?: { mrSigner: Buffer; attributes: Buffer; attributesMask: Buffer };
    tdxModuleIdentities?: TdxModuleIdentity[];
    tcbLevels: TcbInfoLevel[];
}

export interface QeIdentity {
    id: string;
    version: number;
    issueDate: Date;
    nextUpdate: Date;
    miscSelect: number;
    miscSelectMask: number;
    attributes: Buffer; // 16
    attributesMask: Buffer; // 16
    mrSigner: Buffer; // 32
    isvProdId: number;
    tcbLevels: IsvLevel[];
}

export interface ParsedCollateral {
    tcbInfo: TcbInfo;
    tcbInfoText: Buffer;
    tcbInfoSignature: Buffer; // 64, r||s
    tcbInfoChain: ParsedCert[];
    qeIdentity: QeIdentity;
    qeIdentityText: Buffer;
    qeIdentitySignature: Buffer;
    qeIdentityChain: ParsedCert[];
    pckCrl: ParsedCrl;
    pckCrlChain: ParsedCert[];
    rootCaCrl: ParsedCrl;
}

function invalid(message: string, details?: Record<string, unknown>): never {
    throw new AttestationError('COLLATERAL_INVALID', message, details);
}

function fail(code: AttestationErrorCode, message: string, details?: Record<string, unknown>): never {
    throw new AttestationError(code, message, details);
}

// ---- strict JSON field readers ----

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(`${where} must be an object`);
    return v as Obj;
}

function str(o: Obj, k: string, where: string): string {
    const v = o[k];
    if (typeof v !== 'string') invalid(`${where}.${k} must be a string`);
    return v;
}

function int(o: Obj, k: string, where: string, max = 0xffff): number {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) invalid(`${where}.${k} must be an integer in [0, ${max}]`);
    return v;
}

function hex(o: Obj, k: string, bytes: number, where: string): Buffer {
    const v = str(o, k, where);
    if (v.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(v)) invalid(`${where}.${k} must be ${bytes} bytes of hex`);
    return Buffer.from(v, 'hex');
}

function date(o: Obj, k: string, where: string): Date {
    const v = str(o, k, where);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(v)) invalid(`${where}.${k} must be an ISO-8601 UTC time`);
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) invalid(`${where}.${k} is not a valid time`);
    return d;
}

function arr(o: Obj, k: string, where: string, max = 1024): unknown[] {
    const v = o[k];
    if (!Array.isArray(v) || v.length > max) invalid(`${where}.${k} must be an array of at most ${max} items`);
    return v;
}

function status(o: Obj, where: string): StatusLevel {
    const s = str(o, 'tcbStatus', where);
    if (!(TCB_STATUSES as readonly string[]).includes(s)) invalid(`${where}.tcbStatus ${JSON.stringify(s)} is not a known TCB status`);
    const adv = o.advisoryIDs === undefined ? [] : arr(o, 'advisoryIDs', where);
    if (!adv.every((a) => typeof a === 'string' && a.length <= 64)) invalid(`${where}.advisoryIDs must be strings`);
    return { tcbStatus: s as TcbStatus, advisoryIds: adv as string[] };
}

function components(o: Obj, k: string, where: string): number[] {
    const a = arr(o, k, where, 16);
    if (a.length !== 16) invalid(`${where}.${k} must have 16 components`);
    return a.map((c, i) => int(obj(c, `${where}.${k}[${i}]`), 'svn', `${where}.${k}[${i}]`, 255));
}

function isvLevels(o: Obj, where: string): IsvLevel[] {
    const levels = arr(o, 'tcbLevels', where).map((l, i) => {
        const w = `${where}.tcbLevels[${i}]`;
        const lo = obj(l, w);
        return { isvSvn: int(obj(lo.tcb, `${w}.tcb`), 'isvsvn', `${w}.tcb`), ...status(lo, w) };
    });
    if (levels.length === 0) invalid(`${where}.tcbLevels is empty`);
    return levels;
}

function parseJson(text: string, where: string): Obj {
    if (text.length > MAX_JSON_BYTES) invalid(`${where} too large`);
    let v: unknown;
    try {
        v = JSON.parse(text);
    } catch {
        invalid(`${where} is not JSON`);
    }
    return obj(v, where);
}

export function parseTcbInfo(text: string): TcbInfo {
    const w = 'tcb_info';
    const o = parseJson(text, w);
    const t: TcbInfo = {
        id: str(o, 'id', w),
        version: int(o, 'version', w),
        issueDate: date(o, 'issueDate', w),
        nextUpdate: date(o, 'nextUpdate', w),
        fmspc: hex(o, 'fmspc', 6, w),
        pceId: hex(o, 'pceId', 2, w),
        tcbLevels: arr(o, 'tcbLevels', w).map((l, i) => {
            const lw = `${w}.tcbLevels[${i}]`;
            const lo = obj(l, lw);
            const tcb = obj(lo.tcb, `${lw}.tcb`);
            return {
                sgxComponents: components(tcb, 'sgxtcbcomponents', `${lw}.tcb`),
                tdxComponents: components(tcb, 'tdxtcbcomponents', `${lw}.tcb`),
                pceSvn: int(tcb, 'pcesvn', `${lw}.tcb`),
                ...status(lo, lw),
            };
        }),
    };
    if (t.tcbLevels.length === 0) invalid('tcb_info.tcbLevels is empty');
    if (o.tdxModule !== undefined) {
        const m = obj(o.tdxModule, `${w}.tdxModule`);
        t.tdxModule = { mrSigner: hex(m, 'mrsigner', 48, `${w}.tdxModule`), attributes: hex(m, 'attributes', 8, `${w}.tdxModule`), attributesMask: hex(m, 'attributesMask', 8, `${w}.tdxModule`) };
    }
    if (o.tdxModuleIdentities !== undefined) {
        t.tdxModuleIdentities = arr(o, 'tdxModuleIdentities', w, 64).map((m, i) => {
            const mw = `${w}.tdxModuleIdentities[${i}]`;
            const mo = obj(m, mw);
            return {
                id: str(mo, 'id', mw),
                mrSigner: hex(mo, 'mrsigner', 48, mw),
                attributes: hex(mo, 'attributes', 8, mw),
                attributesMask: hex(mo, 'attributesMask', 8, mw),
                tcbLevels: isvLevels(mo, mw),
            };
        });
    }
    return t;
}

export function parseQeIdentity(text: string): QeIdentity {
    const w = 'qe_identity';
    const o = parseJson(text, w);
    return {
        id: str(o, 'id', w),
        version: int(o, 'version', w),
        issueDate: date(o, 'issueDate', w),
        nextUpdate: date(o, 'nextUpdate', w),
        miscSelect: hex(o, 'miscselect', 4, w).readUInt32BE(0),
        miscSelectMask: hex(o, 'miscselectMask', 4, w).readUInt32BE(0),
        attributes: hex(o, 'attributes', 16, w),
        attributesMask: hex(o, 'attributesMask', 16, w),
        mrSigner: hex(o, 'mrsigner', 32, w),
        isvProdId: int(o, 'isvprodid', w),
        tcbLevels: isvLevels(o, w),
    };
}

/** Hex string or byte array (dcap-qvl accepts both) -> bytes. */
function binary(c: Obj, k: string, maxHexChars: number): Buffer {
    const v = c[k];
    if (typeof v === 'string') {
        if (v.length > maxHexChars || v.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(v)) invalid(`collateral.${k} must be hex`);
        return Buffer.from(v, 'hex');
    }
    if (Array.isArray(v) && v.length <= maxHexChars / 2 && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return Buffer.from(v as number[]);
    invalid(`collateral.${k} must be hex or a byte array`);
}

function chain(c: Obj, k: string): ParsedCert[] {
    const v = str(c, k, 'collateral');
    if (v.length > MAX_CHAIN_PEM_BYTES) invalid(`collateral.${k} too large`);
    let pems: string[];
    try {
        pems = splitPemChain(Buffer.from(v, 'latin1'));
    } catch (e) {
        invalid(`collateral.${k} is not a PEM chain: ${(e as Error).message}`);
    }
    return pems.map((pem, i) => {
        try {
            return parseCertDer(pemToDer(pem));
        } catch (e) {
            invalid(`collateral.${k}[${i}] is not a certificate: ${(e as Error).message}`);
        }
    });
}

function crl(c: Obj, k: string): ParsedCrl {
    const der = binary(c, k, MAX_CRL_HEX_CHARS);
    try {
        return parseCrlDer(der);
    } catch (e) {
        invalid(`collateral.${k} is not a CRL: ${(e as Error).message}`);
    }
}

function signature(c: Obj, k: string): Buffer {
    const b = binary(c, k, 128);
    if (b.length !== 64) invalid(`collateral.${k} must be a 64-byte r||s signature`);
    return b;
}

/** Parses collateral strictly; throws COLLATERAL_INVALID. */
export function parseCollateral(collateral: Collateral | unknown): ParsedCollateral {
    const c = obj(collateral, 'collateral');
    const tcbInfoText = str(c, 'tcb_info', 'collateral');
    const qeIdentityText = str(c, 'qe_identity', 'collateral');
    return {
        tcbInfo: parseTcbInfo(tcbInfoText),
        tcbInfoText: Buffer.from(tcbInfoText, 'utf8'),
        tcbInfoSignature: signature(c, 'tcb_info_signature'),
        tcbInfoChain: chain(c, 'tcb_info_issuer_chain'),
        qeIdentity: parseQeIdentity(qeIdentityText),
        qeIdentityText: Buffer.from(qeIdentityText, 'utf8'),
        qeIdentitySignature: signature(c, 'qe_identity_signature'),
        qeIdentityChain: chain(c, 'qe_identity_issuer_chain'),
        pckCrl: crl(c, 'pck_crl'),
        pckCrlChain: chain(c, 'pck_crl_issuer_chain'),
        rootCaCrl: crl(c, 'root_ca_crl'),
    };
}

/** Time window [notBefore, notAfter] (ms) over which all collateral items are current. */
export function collateralWindow(pc: ParsedCollateral): { notBefore: number; notAfter: number } {
    const from = [pc.tcbInfo.issueDate, pc.qeIdentity.issueDate, pc.pckCrl.thisUpdate, pc.rootCaCrl.thisUpdate];
    const to = [pc.tcbInfo.nextUpdate, pc.qeIdentity.nextUpdate, pc.pckCrl.nextUpdate, pc.rootCaCrl.nextUpdate];
    return {
        notBefore: Math.max(...from.map((d) => d.getTime())),
        notAfter: Math.min(...to.map((d) => (d ? d.getTime() : Infinity))),
    };
}

/**
 * issueDate <= at <= nextUpdate for TCB info and QE identity, thisUpdate <= at <= nextUpdate for both CRLs; with a
 * grace (live collateral), up to nextUpdate + graceMs, and then the result says the collateral is stale.
 */
export function checkCollateralTime(pc: ParsedCollateral, at: Date, graceMs = 0): { stale: boolean } {
    const t = at.getTime();
    let stale = false;
    const items: [string, Date, Date | undefined][] = [
        ['TCB info', pc.tcbInfo.issueDate, pc.tcbInfo.nextUpdate],
        ['QE identity', pc.qeIdentity.issueDate, pc.qeIdentity.nextUpdate],
        ['PCK CRL', pc.pckCrl.thisUpdate, pc.pckCrl.nextUpdate],
        ['root CA CRL', pc.rootCaCrl.thisUpdate, pc.rootCaCrl.nextUpdate],
    ];
    for (const [name, from, to] of items) {
        if (!to) invalid(`${name} has no next update time`);
        if (t < from.getTime() || t > to.getTime() + graceMs) {
            fail('COLLATERAL_EXPIRED', `${name} is not current at ${at.toISOString()} (valid ${from.toISOString()} .. ${to.toISOString()}${graceMs ? ` + ${graceMs / 3600_000} h grace` : ''})`, {
                item: name,
                issueDate: from.toISOString(),
                nextUpdate: to.toISOString(),
                at: at.toISOString(),
                ...(graceMs ? { graceMs } : {}),
            });
        }
        if (t > to.getTime()) stale = true;
    }
    return { stale };
}

// ---- evaluation ----

export interface PckContext {
    leaf: ParsedCert;
    intermediate: ParsedCert;
    root: ParsedCert;
    pck: PckExtension;
}

export interface CollateralVerdict {
    tcbStatus: TcbStatus;
    advisoryIds: string[];
    /** Latest notBefore / earliest notAfter (ms) of the collateral signing certificates. */
    notBefore: number;
    notAfter: number;
}

function sameKey(a: ParsedCert, b: ParsedCert): boolean {
    return ecPoint(a.publicKey).equals(ecPoint(b.publicKey));
}

export function verifyCrl(name: string, c: ParsedCrl, issuer: ParsedCert): void {
    if (!c.issuerRaw.equals(issuer.subjectRaw)) invalid(`${name} is not issued by the certificate it must be checked against`);
    if (c.signatureAlgorithm !== OID_ECDSA_SHA256) invalid(`${name} is not signed with ecdsa-with-SHA256`);
    if (!cryptoVerify('sha256', c.tbs, issuer.publicKey, c.signature)) invalid(`${name} signature is invalid`);
}

/** Verifies a collateral signing chain [signer, root] against the trusted root and returns the signer. */
export function verifySigningChain(name: string, certs: ParsedCert[], root: ParsedCert, rootCrl: ParsedCrl, at: Date): ParsedCert {
    if (certs.length !== 2) invalid(`${name} issuer chain must be [signing cert, root]`, { length: certs.length });
    const [signer, chainRoot] = certs;
    if (!sameKey(chainRoot, root)) invalid(`${name} issuer chain does not end at the quote's trusted root`);
    if (!isP256(signer.publicKey) || signer.signatureAlgorithm !== OID_ECDSA_SHA256) invalid(`${name} signing certificate is not ECDSA P-256 / SHA-256`);
    if (!isSignedBy(signer, root)) invalid(`${name} signing certificate is not signed by the trusted root`);
    if (at < signer.notBefore || at > signer.notAfter) {
        fail('COLLATERAL_EXPIRED', `${name} signing certificate is not valid at ${at.toISOString()}`, {
            notBefore: signer.notBefore.toISOString(),
            notAfter: signer.notAfter.toISOString(),
        });
    }
    if (rootCrl.revokedSerials.has(signer.serial)) invalid(`${name} signing certificate is revoked`, { serial: signer.serial });
    return signer;
}

export function verifyP1363(key: ParsedCert, data: Buffer, sig: Buffer): boolean {
    return cryptoVerify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig);
}

/** Combines the platform, TDX module and QE statuses as Intel's QVL does (worst wins; out-of-date + config-needed). */
export function mergeTcbStatus(levels: StatusLevel[]): StatusLevel {
    const s = new Set(levels.map((l) => l.tcbStatus));
    const advisoryIds = [...new Set(levels.flatMap((l) => l.advisoryIds))];
    let tcbStatus: TcbStatus;
    const outOfDate = s.has('OutOfDate') || s.has('OutOfDateConfigurationNeeded');
    const config = s.has('ConfigurationNeeded') || s.has('ConfigurationAndSWHardeningNeeded') || s.has('OutOfDateConfigurationNeeded');
    const swh = s.has('SWHardeningNeeded') || s.has('ConfigurationAndSWHardeningNeeded');
    if (s.has('Revoked')) tcbStatus = 'Revoked';
    else if (outOfDate && config) tcbStatus = 'OutOfDateConfigurationNeeded';
    else if (outOfDate) tcbStatus = 'OutOfDate';
    else if (config && swh) tcbStatus = 'ConfigurationAndSWHardeningNeeded';
    else if (config) tcbStatus = 'ConfigurationNeeded';
    else if (swh) tcbStatus = 'SWHardeningNeeded';
    else tcbStatus = 'UpToDate';
    return { tcbStatus, advisoryIds };
}

function maskedEqual(a: Buffer, b: Buffer, mask: Buffer): boolean {
    if (a.length !== mask.length || b.length !== mask.length) return false;
    for (let i = 0; i < mask.length; i++) if ((a[i] & mask[i]) !== (b[i] & mask[i])) return false;
    return true;
}

function qeStatus(quote: ParsedQuote, qi: QeIdentity): StatusLevel {
    if (qi.id !== 'TD_QE' || (qi.version !== 2 && qi.version !== 3)) invalid(`QE identity ${qi.id} v${qi.version} is not a TD_QE identity (v2/v3)`);
    const qe = quote.qeReport;
    if (!qe.mrSigner.equals(qi.mrSigner)) fail('QE_IDENTITY', 'QE MRSIGNER does not match the QE identity', { mrSigner: qe.mrSigner.toString('hex') });
    if (qe.isvProdId !== qi.isvProdId) fail('QE_IDENTITY', 'QE ISVPRODID does not match the QE identity', { isvProdId: qe.isvProdId });
    if ((qe.miscSelect & qi.miscSelectMask) >>> 0 !== (qi.miscSelect & qi.miscSelectMask) >>> 0) fail('QE_IDENTITY', 'QE MISCSELECT does not match the QE identity');
    if (!maskedEqual(qe.attributes, qi.attributes, qi.attributesMask)) fail('QE_IDENTITY', 'QE ATTRIBUTES do not match the QE identity');
    const levels = [...qi.tcbLevels].sort((a, b) => b.isvSvn - a.isvSvn);
    const level = levels.find((l) => qe.isvSvn >= l.isvSvn);
    if (!level) fail('TCB_STATUS', `QE ISVSVN ${qe.isvSvn} is below every QE identity TCB level`, { qeIsvSvn: qe.isvSvn });
    return level;
}

function tdxModuleStatus(quote: ParsedQuote, ti: TcbInfo): StatusLevel | undefined {
    const b = quote.body;
    const version = b.teeTcbSvn[1];
    const check = (m: { mrSigner: Buffer; attributes: Buffer; attributesMask: Buffer }, name: string) => {
        if (!m.mrSigner.equals(b.mrSignerSeam) || !maskedEqual(b.seamAttributes, m.attributes, m.attributesMask)) {
            fail('TCB_STATUS', `TDX module (MRSIGNERSEAM / SEAMATTRIBUTES) does not match TCB info ${name}`, { mrSignerSeam: b.mrSignerSeam.toString('hex') });
        }
    };
    if (version === 0 || !ti.tdxModuleIdentities) {
        if (ti.tdxModule) check(ti.tdxModule, 'tdxModule');
        return undefined;
    }
    const id = `TDX_${version.toString(16).padStart(2, '0').toUpperCase()}`;
    const ident = ti.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
    if (!ident) fail('TCB_STATUS', `TCB info has no TDX module identity ${id}`, { tdxModule: id });
    check(ident, id);
    const isvSvn = b.teeTcbSvn[0];
    const level = [...ident.tcbLevels].sort((a, c) => c.isvSvn - a.isvSvn).find((l) => isvSvn >= l.isvSvn);
    if (!level) fail('TCB_STATUS', `TDX module ${id} SVN ${isvSvn} is below every TCB level`, { tdxModule: id, isvSvn });
    return level;
}

function platformStatus(quote: ParsedQuote, ti: TcbInfo, pck: PckExtension): StatusLevel {
    const tee = quote.body.teeTcbSvn;
    // With a TDX module major version (TEE_TCB_SVN[1]) the first two bytes are matched by the module identity.
    const start = tee[1] > 0 && ti.tdxModuleIdentities ? 2 : 0;
    for (const level of ti.tcbLevels) {
        if (pck.pceSvn < level.pceSvn) continue;
        if (level.sgxComponents.some((svn, i) => pck.cpuSvn[i] < svn)) continue;
        if (level.tdxComponents.some((svn, i) => i >= start && tee[i] < svn)) continue;
        return level;
    }
    fail('TCB_STATUS', 'no TCB level of the TCB info matches the platform', {
        cpuSvn: pck.cpuSvn.toString('hex'),
        pceSvn: pck.pceSvn,
        teeTcbSvn: tee.toString('hex'),
    });
}

/**
 * Full evaluation of parsed collateral for a quote whose PCK chain has already been verified to a trusted root.
 * Throws COLLATERAL_INVALID / COLLATERAL_EXPIRED / PCK_REVOKED / QE_IDENTITY / TCB_STATUS.
 */
export function evaluateCollateral(pc: ParsedCollateral, quote: ParsedQuote, ctx: PckContext, at: Date): CollateralVerdict {
    // CRLs: the root CA CRL is signed by the root, the PCK CRL by the quote's PCK CA (platform or processor).
    verifyCrl('root CA CRL', pc.rootCaCrl, ctx.root);
    verifyCrl('PCK CRL', pc.pckCrl, ctx.intermediate);
    if (!sameKey(pc.pckCrlChain[0], ctx.intermediate)) invalid('PCK CRL issuer chain does not start at the quote\'s PCK CA');
    if (pc.rootCaCrl.revokedSerials.has(ctx.intermediate.serial)) fail('PCK_REVOKED', 'PCK CA certificate is revoked by the root CA CRL', { serial: ctx.intermediate.serial });
    if (pc.pckCrl.revokedSerials.has(ctx.leaf.serial)) fail('PCK_REVOKED', 'PCK certificate is revoked by the PCK CRL', { serial: ctx.leaf.serial });

    // TCB info and QE identity are signed by a TCB signing certificate under the same root.
    const tcbSigner = verifySigningChain('TCB info', pc.tcbInfoChain, ctx.root, pc.rootCaCrl, at);
    if (!verifyP1363(tcbSigner, pc.tcbInfoText, pc.tcbInfoSignature)) invalid('TCB info signature is invalid');
    const qeSigner = verifySigningChain('QE identity', pc.qeIdentityChain, ctx.root, pc.rootCaCrl, at);
    if (!verifyP1363(qeSigner, pc.qeIdentityText, pc.qeIdentitySignature)) invalid('QE identity signature is invalid');

    const ti = pc.tcbInfo;
    if (ti.id !== 'TDX' || ti.version !== 3) invalid(`TCB info ${ti.id} v${ti.version} is not TDX TCB info v3`);
    if (!ti.fmspc.equals(ctx.pck.fmspc)) invalid('TCB info is for another platform (FMSPC)', { fmspc: ctx.pck.fmspc.toString('hex'), tcbInfoFmspc: ti.fmspc.toString('hex') });
    if (!ti.pceId.equals(ctx.pck.pceId)) invalid('TCB info is for another PCE-ID', { pceId: ctx.pck.pceId.toString('hex') });

    const qe = qeStatus(quote, pc.qeIdentity);
    const module = tdxModuleStatus(quote, ti);
    const platform = platformStatus(quote, ti, ctx.pck);
    const merged = mergeTcbStatus(module ? [platform, module, qe] : [platform, qe]);
    return {
        ...merged,
        notBefore: Math.max(tcbSigner.notBefore.getTime(), qeSigner.notBefore.getTime()),
        notAfter: Math.min(tcbSigner.notAfter.getTime(), qeSigner.notAfter.getTime()),
    };
}
