// Certificate chains of GPU attestation (the device's attestation-key chain and each RIM's signing chain), checked
// with our bounded DER reader (../certs.ts, ../der.ts) and node:crypto: P-384 keys, ecdsa-with-SHA384 signatures over
// the exact tbsCertificate, issuer = subject of the next, CA and key-usage and path-length constraints, no unknown
// critical extension, validity at the policy time, and the top pinned to a trusted root given byte for byte.
import { verify as cryptoVerify } from 'crypto';
import { parseCertDer, ParsedCert, pemToDer } from '../certs';
import { children, content, decodeOid, decodeSmallUint, readOne, TAG } from '../der';
import { splitPemChain } from '../quote';
import { CertSummary, GpuAttestationError, GpuErrorCode } from './types';

export const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
/** TCG DICE FWID extension: the firmware digest the GPU also reports in its opaque data. */
export const OID_TCG_DICE_FWID = '2.23.133.5.4.1';
const KNOWN_CRITICAL = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE]);
const NAME_ATTRS: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.6': 'C', '2.5.4.5': 'serialNumber' };
const KU_DIGITAL_SIGNATURE = 0x80;
const KU_KEY_CERT_SIGN = 0x04;

/** Which codes a chain failure maps to: the device chain has its own, a RIM chain reports GPU_RIM_INVALID. */
export interface ChainCodes {
    invalid: GpuErrorCode;
    expired: GpuErrorCode;
}

/** DER certificates of a PEM chain (leaf first); anything that is not clean PEM is `code`. */
export function pemChainDers(pem: string | Buffer, code: GpuErrorCode, what: string): Buffer[] {
    try {
        return splitPemChain(Buffer.isBuffer(pem) ? pem : Buffer.from(pem, 'latin1')).map(pemToDer);
    } catch (e) {
        throw new GpuAttestationError(code, `${what}: ${(e as Error).message}`);
    }
}

function isP384(c: ParsedCert): boolean {
    return c.publicKey.asymmetricKeyType === 'ec' && c.publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1';
}

function keyUsage(c: ParsedCert): number | undefined {
    const ext = c.extensions.get(OID_KEY_USAGE);
    if (!ext) return undefined;
    const bits = content(readOne(ext.value, TAG.BIT_STRING));
    if (bits.length < 2) throw new Error('empty keyUsage');
    return bits[1];
}

function pathLen(c: ParsedCert): number | undefined {
    const ext = c.extensions.get(OID_BASIC_CONSTRAINTS);
    if (!ext) return undefined;
    const items = children(readOne(ext.value, TAG.SEQUENCE), 2);
    const n = items.find((t) => t.tag === TAG.INTEGER);
    return n ? decodeSmallUint(n) : undefined;
}

/** "CN=…, O=…" of a DER Name (display only). */
export function nameText(nameDer: Buffer): string {
    const parts: string[] = [];
    try {
        for (const rdn of children(readOne(nameDer, TAG.SEQUENCE), 32)) {
            for (const atv of children(rdn, 8)) {
                const [type, value] = children(atv, 2);
                const label = NAME_ATTRS[decodeOid(type)];
                if (label && value) parts.push(`${label}=${content(value).toString('utf8')}`);
            }
        }
    } catch {
        return '(unreadable name)';
    }
    return parts.join(', ');
}

export function summarize(c: ParsedCert): CertSummary {
    return { subject: nameText(c.subjectRaw), serial: c.serial, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString() };
}

function signedBy(c: ParsedCert, issuer: ParsedCert): boolean {
    if (!c.issuerRaw.equals(issuer.subjectRaw) || c.signatureAlgorithm !== OID_ECDSA_SHA384) return false;
    return cryptoVerify('sha384', c.tbs, issuer.publicKey, c.signature);
}

/**
 * Verifies `ders` (leaf first; it may end with the root itself) up to the pinned `rootDer` at time `at`. Returns the
 * parsed chain without the root (leaf first) plus the root. Throws GpuAttestationError with `codes.invalid`,
 * `codes.expired`, or GPU_CERT_REVOKED for a serial in `revoked`.
 */
export function verifyGpuChain(ders: Buffer[], rootDer: Buffer, at: Date, codes: ChainCodes, what: string, revoked?: Set<string>): { chain: ParsedCert[]; root: ParsedCert } {
    const fail = (message: string, details?: Record<string, unknown>) => new GpuAttestationError(codes.invalid, `${what}: ${message}`, details);
    if (ders.length > 0 && ders[ders.length - 1].equals(rootDer)) ders = ders.slice(0, -1);
    if (ders.length === 0) throw fail('no certificate below the root');
    let chain: ParsedCert[];
    let root: ParsedCert;
    try {
        chain = ders.map((d) => parseCertDer(d));
        root = parseCertDer(rootDer);
    } catch (e) {
        throw fail(`certificate does not parse: ${(e as Error).message}`);
    }
    const all = [...chain, root];
    for (let i = 0; i < all.length; i++) {
        const c = all[i];
        const position = i === all.length - 1 ? 'root' : `certificate ${i}`;
        if (!isP384(c)) throw fail(`${position} key is not EC P-384`, { position: i });
        for (const [oid, ext] of c.extensions) if (ext.critical && !KNOWN_CRITICAL.has(oid)) throw fail(`${position} has an unknown critical extension ${oid}`, { position: i });
        const issuer = i === all.length - 1 ? c : all[i + 1];
        if (!signedBy(c, issuer)) throw fail(`${position} is not signed by ${i === all.length - 1 ? 'itself' : `certificate ${i + 1}`} (ecdsa-with-SHA384)`, { position: i });
        let ku: number | undefined;
        let len: number | undefined;
        try {
            ku = keyUsage(c);
            len = pathLen(c);
        } catch (e) {
            throw fail(`${position} constraints do not parse: ${(e as Error).message}`, { position: i });
        }
        if (i === 0) {
            if (ku !== undefined && !(ku & KU_DIGITAL_SIGNATURE)) throw fail('leaf key usage lacks digitalSignature', { position: i });
        } else {
            if (!c.ca) throw fail(`${position} is not a CA`, { position: i });
            if (ku !== undefined && !(ku & KU_KEY_CERT_SIGN)) throw fail(`${position} key usage lacks keyCertSign`, { position: i });
            if (len !== undefined && len < i - 1) throw fail(`${position} path length constraint ${len} exceeded`, { position: i });
        }
    }
    for (let i = 0; i < all.length; i++) {
        const c = all[i];
        if (at < c.notBefore || at > c.notAfter) {
            throw new GpuAttestationError(codes.expired, `${what}: ${i === all.length - 1 ? 'root' : `certificate ${i}`} is not valid at ${at.toISOString()} (${c.notBefore.toISOString()} .. ${c.notAfter.toISOString()})`, { position: i });
        }
        if (revoked?.has(c.serial)) throw new GpuAttestationError('GPU_CERT_REVOKED', `${what}: certificate serial ${c.serial} is revoked by the policy`, { serial: c.serial });
    }
    return { chain, root };
}
