// X.509 helpers of the verifier: certificates and CRLs parsed from DER we have validated ourselves, the root key
// id, and Intel's SGX PCK extension (FMSPC, PCE-ID, CPUSVN, PCESVN).
//
// Pitfall (reference/attestation.md §2, pitfall 1): `new crypto.X509Certificate(der)` tries PEM first and silently
// parses a PEM block embedded anywhere in the bytes. The verifier never uses it: certificates are parsed from DER
// by our bounded reader (der.ts), keys come from createPublicKey(SPKI DER) and signatures are checked over the
// exact tbsCertificate bytes with crypto.verify.
import { createHash, createPublicKey, KeyObject, verify as cryptoVerify } from 'crypto';
import { children, content, decodeOid, decodeSmallUint, decodeTime, DerError, expectTag, integerHex, octets, oid, raw, readOne, seq, TAG, Tlv, uint } from './der';

export const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
export const OID_SGX_EXTENSION = '1.2.840.113741.1.13.1';
const SGX = OID_SGX_EXTENSION;

/** Upper bound on a single certificate or CRL in DER (Intel PCK CRLs are a few KiB; leave room). */
export const MAX_CERT_DER_BYTES = 8 * 1024;
export const MAX_CRL_DER_BYTES = 1024 * 1024;

export interface CertExtension {
    critical: boolean;
    value: Buffer;
}

export interface ParsedCert {
    der: Buffer;
    publicKey: KeyObject;
    serial: string; // lowercase hex, no leading zeros
    issuerRaw: Buffer; // DER of the issuer Name
    subjectRaw: Buffer; // DER of the subject Name
    notBefore: Date;
    notAfter: Date;
    signatureAlgorithm: string; // OID
    /** basicConstraints cA (false when the extension is absent). */
    ca: boolean;
    extensions: Map<string, CertExtension>;
    tbs: Buffer; // DER of tbsCertificate: what the issuer signed
    signature: Buffer; // signatureValue (DER ECDSA-Sig-Value for ECDSA)
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
    const b64 = der.toString('base64');
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
    return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** DER of one canonical PEM block (as produced by splitPemChain). */
export function pemToDer(pem: string): Buffer {
    const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    return Buffer.from(body, 'base64');
}

const OID_BASIC_CONSTRAINTS = '2.5.29.19';

/**
 * Parses one X.509 certificate from DER with our own bounded reader (no PEM sniffing, so pitfall 1 cannot
 * happen): the fields the verifier needs, the public key (via createPublicKey on the SPKI DER), and the exact
 * tbsCertificate bytes for signature checks. Throws DerError or Error on anything malformed.
 */
export function parseCertDer(der: Buffer): ParsedCert {
    if (der.length > MAX_CERT_DER_BYTES) throw new DerError('certificate too large');
    const cert = readOne(der, TAG.SEQUENCE);
    const top = children(cert, 3);
    if (top.length !== 3) throw new DerError('certificate must be (tbs, algorithm, signature)');
    const [tbs, sigAlg, sig] = top;
    expectTag(tbs, TAG.SEQUENCE, 'tbsCertificate');
    expectTag(sig, TAG.BIT_STRING, 'signatureValue');
    const f = children(tbs, 16);
    let i = 0;
    if (f[i]?.tag === 0xa0) i++; // [0] version
    if (f.length < i + 6) throw new DerError('tbsCertificate too short');
    const serial = integerHex(f[i++]);
    const tbsAlg = decodeOid(children(expectTag(f[i++], TAG.SEQUENCE, 'signature'), 2)[0]);
    const issuer = expectTag(f[i++], TAG.SEQUENCE, 'issuer');
    const validity = children(expectTag(f[i++], TAG.SEQUENCE, 'validity'), 2);
    if (validity.length !== 2) throw new DerError('bad validity');
    const subject = expectTag(f[i++], TAG.SEQUENCE, 'subject');
    const spki = expectTag(f[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
    const extensions = new Map<string, CertExtension>();
    for (; i < f.length; i++) {
        if (f[i].tag !== 0xa3) continue; // [1]/[2] unique ids are skipped
        const list = expectTag(readOne(content(f[i])), TAG.SEQUENCE, 'extensions');
        for (const e of children(list, 64)) {
            const parts = children(expectTag(e, TAG.SEQUENCE, 'extension'), 3);
            const id = decodeOid(parts[0]);
            let critical = false;
            let v = parts[1];
            if (v?.tag === TAG.BOOLEAN) {
                critical = content(v)[0] === 0xff;
                v = parts[2];
            }
            if (!v) throw new DerError('extension without value');
            if (extensions.has(id)) throw new DerError(`duplicate extension ${id}`);
            extensions.set(id, { critical, value: Buffer.from(content(expectTag(v, TAG.OCTET_STRING, 'extnValue'))) });
        }
    }
    const signatureAlgorithm = decodeOid(children(expectTag(sigAlg, TAG.SEQUENCE, 'signatureAlgorithm'), 2)[0]);
    if (signatureAlgorithm !== tbsAlg) throw new DerError('certificate signature algorithms disagree');
    const sigBytes = content(sig);
    if (sigBytes.length < 2 || sigBytes[0] !== 0) throw new DerError('bad signature bit string');
    let ca = false;
    const bc = extensions.get(OID_BASIC_CONSTRAINTS);
    if (bc) {
        const items = children(readOne(bc.value, TAG.SEQUENCE), 2);
        ca = items[0]?.tag === TAG.BOOLEAN && content(items[0])[0] === 0xff;
    }
    return {
        der,
        publicKey: spkiToKey(spki),
        serial,
        issuerRaw: Buffer.from(raw(issuer)),
        subjectRaw: Buffer.from(raw(subject)),
        notBefore: decodeTime(validity[0]),
        notAfter: decodeTime(validity[1]),
        signatureAlgorithm,
        ca,
        extensions,
        tbs: Buffer.from(raw(tbs)),
        signature: Buffer.from(sigBytes.subarray(1)),
    };
}

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';

/**
 * Public key of a SubjectPublicKeyInfo. P-256 keys (all of the PCK and collateral chains) go through JWK, which is
 * several times faster in Node 20 / OpenSSL 3 than decoding SPKI DER; anything else through the SPKI decoder.
 */
function spkiToKey(spki: Tlv): KeyObject {
    const [alg, bits] = children(spki, 2);
    const algParts = children(expectTag(alg, TAG.SEQUENCE, 'algorithm'), 2);
    const point = content(expectTag(bits, TAG.BIT_STRING, 'subjectPublicKey'));
    if (algParts.length === 2 && decodeOid(algParts[0]) === OID_EC_PUBLIC_KEY && algParts[1].tag === TAG.OID && decodeOid(algParts[1]) === OID_P256 && point.length === 66 && point[0] === 0 && point[1] === 4) {
        return createPublicKey({
            key: { kty: 'EC', crv: 'P-256', x: point.subarray(2, 34).toString('base64url'), y: point.subarray(34).toString('base64url') },
            format: 'jwk',
        });
    }
    return createPublicKey({ key: Buffer.from(raw(spki)), format: 'der', type: 'spki' });
}

/** True when `cert` names `issuer` as its issuer and carries a valid ECDSA-SHA256 signature by its key. */
export function isSignedBy(cert: ParsedCert, issuer: ParsedCert): boolean {
    if (!cert.issuerRaw.equals(issuer.subjectRaw) || cert.signatureAlgorithm !== OID_ECDSA_SHA256) return false;
    return cryptoVerify('sha256', cert.tbs, issuer.publicKey, cert.signature);
}

/** True when the key is an EC P-256 public key. */
export function isP256(key: KeyObject): boolean {
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/** Uncompressed point 04||X||Y of an EC public key. */
export function ecPoint(key: KeyObject): Buffer {
    const jwk = key.export({ format: 'jwk' });
    if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new DerError('not an EC key');
    return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
}

/** Root key id: SHA-384 of the uncompressed root public key (hex); Intel's is INTEL_ROOT_KEY_ID. */
export function rootKeyIdOf(key: KeyObject): string {
    return createHash('sha384').update(ecPoint(key)).digest('hex');
}

// ---- CRLs ----

export interface ParsedCrl {
    issuerRaw: Buffer;
    thisUpdate: Date;
    nextUpdate?: Date;
    revokedSerials: Set<string>;
    tbs: Buffer;
    signatureAlgorithm: string;
    signature: Buffer; // DER ECDSA-Sig-Value (BIT STRING content without the unused-bits byte)
}

export function parseCrlDer(der: Buffer): ParsedCrl {
    if (der.length > MAX_CRL_DER_BYTES) throw new DerError('CRL too large');
    const list = readOne(der, TAG.SEQUENCE);
    const [tbs, sigAlg, sig] = children(list, 3);
    expectTag(tbs, TAG.SEQUENCE, 'tbsCertList');
    expectTag(sig, TAG.BIT_STRING, 'signature');
    const sigBytes = content(sig);
    if (sigBytes.length < 2 || sigBytes[0] !== 0) throw new DerError('bad CRL signature bit string');
    const f = children(tbs, 8);
    let i = 0;
    if (f[i]?.tag === TAG.INTEGER) i++; // version
    const tbsAlg = decodeOid(children(expectTag(f[i++], TAG.SEQUENCE, 'signature'), 2)[0]);
    const issuer = expectTag(f[i++], TAG.SEQUENCE, 'issuer');
    if (!f[i]) throw new DerError('CRL without thisUpdate');
    const thisUpdate = decodeTime(f[i++]);
    let nextUpdate: Date | undefined;
    if (f[i] && (f[i].tag === TAG.UTC_TIME || f[i].tag === TAG.GENERALIZED_TIME)) nextUpdate = decodeTime(f[i++]);
    const revokedSerials = new Set<string>();
    if (f[i]?.tag === TAG.SEQUENCE) {
        for (const entry of children(f[i++])) {
            const parts = children(expectTag(entry, TAG.SEQUENCE, 'revokedCertificate'), 3);
            revokedSerials.add(integerHex(parts[0]));
        }
    }
    const outerAlg = decodeOid(children(expectTag(sigAlg, TAG.SEQUENCE, 'signatureAlgorithm'), 2)[0]);
    if (outerAlg !== tbsAlg) throw new DerError('CRL signature algorithms disagree');
    return {
        issuerRaw: Buffer.from(raw(issuer)),
        thisUpdate,
        nextUpdate,
        revokedSerials,
        tbs: Buffer.from(raw(tbs)),
        signatureAlgorithm: outerAlg,
        signature: Buffer.from(sigBytes.subarray(1)),
    };
}

// ---- Intel SGX PCK extension (OID 1.2.840.113741.1.13.1) ----

export interface PckExtension {
    ppid: Buffer; // 16
    /** SGX TCB component SVNs 1..16 (the CPUSVN bytes). */
    cpuSvn: Buffer; // 16
    pceSvn: number;
    pceId: Buffer; // 2
    fmspc: Buffer; // 6
    sgxType: number;
}

function sgxItems(t: Tlv): Map<string, Tlv> {
    const out = new Map<string, Tlv>();
    for (const item of children(expectTag(t, TAG.SEQUENCE, 'SGX extension'), 32)) {
        const parts = children(expectTag(item, TAG.SEQUENCE, 'SGX extension item'), 2);
        if (parts.length !== 2) throw new DerError('SGX extension item must be (OID, value)');
        const id = decodeOid(parts[0]);
        if (out.has(id)) throw new DerError(`duplicate SGX extension item ${id}`);
        out.set(id, parts[1]);
    }
    return out;
}

function sgxOctets(items: Map<string, Tlv>, id: string, len: number, name: string): Buffer {
    const t = items.get(id);
    if (!t) throw new DerError(`SGX extension lacks ${name}`);
    const b = content(expectTag(t, TAG.OCTET_STRING, name));
    if (b.length !== len) throw new DerError(`${name} must be ${len} bytes`);
    return Buffer.from(b);
}

export function parsePckExtension(value: Buffer): PckExtension {
    const items = sgxItems(readOne(value));
    const tcbT = items.get(`${SGX}.2`);
    if (!tcbT) throw new DerError('SGX extension lacks TCB');
    const tcb = sgxItems(tcbT);
    const pceSvnT = tcb.get(`${SGX}.2.17`);
    if (!pceSvnT) throw new DerError('SGX TCB lacks PCESVN');
    const sgxTypeT = items.get(`${SGX}.5`);
    return {
        ppid: sgxOctets(items, `${SGX}.1`, 16, 'PPID'),
        cpuSvn: sgxOctets(tcb, `${SGX}.2.18`, 16, 'CPUSVN'),
        pceSvn: decodeSmallUint(pceSvnT),
        pceId: sgxOctets(items, `${SGX}.3`, 2, 'PCE-ID'),
        fmspc: sgxOctets(items, `${SGX}.4`, 6, 'FMSPC'),
        sgxType: sgxTypeT ? decodeSmallUint(sgxTypeT) : 0,
    };
}

/** DER of the SGX PCK extension value, in Intel's layout (used by the simulated PKI). */
export function buildPckExtension(e: PckExtension): Buffer {
    const item = (id: string, v: Buffer) => seq(oid(id), v);
    const comps: Buffer[] = [];
    for (let k = 0; k < 16; k++) comps.push(item(`${SGX}.2.${k + 1}`, uint(e.cpuSvn[k])));
    comps.push(item(`${SGX}.2.17`, uint(e.pceSvn)));
    comps.push(item(`${SGX}.2.18`, octets(e.cpuSvn)));
    return seq(
        item(`${SGX}.1`, octets(e.ppid)),
        item(`${SGX}.2`, seq(...comps)),
        item(`${SGX}.3`, octets(e.pceId)),
        item(`${SGX}.4`, octets(e.fmspc)),
        item(`${SGX}.5`, uint(e.sgxType, TAG.ENUMERATED)),
    );
}
