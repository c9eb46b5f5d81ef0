// Reference integrity manifests (NVIDIA's signed SWID tags): the XML signature is checked by xml-crypto, which lacks
// what NVIDIA uses, so three algorithms are registered on the instance: ECDSA-SHA384 (XML-DSig 1.1: SignatureValue is
// raw r‖s, verified by node:crypto with ieee-p1363), SHA-384 digests, and the Canonical XML 1.1 URI mapped to
// xml-crypto's Canonical XML 1.0 (1.1 differs only in how xml:id/xml:base/xml:lang/xml:space are inherited into a
// document subset; the reference is the whole document, which has no ancestors to inherit from, and we refuse any
// xml:* attribute anyway). Checked by hand before xml-crypto runs: size, no DTD, exactly one Signature as a child of
// the root, its SignedInfo naming exactly those algorithms and exactly one whole-document Reference (URI="") with the
// enveloped-signature + c14n11 transforms, and the KeyInfo certificate chain up to the pinned RIM root (chain.ts).
// The golden measurements are then read from the bytes xml-crypto says it verified (getSignedReferences), never from
// the original document, so nothing outside the signature can be smuggled in.
import { createHash, createPublicKey, KeyLike, sign as cryptoSign, verify as cryptoVerify } from 'crypto';
import { DOMParser, Element as XmlElement } from '@xmldom/xmldom';
import { C14nCanonicalization, SignedXml } from 'xml-crypto';
import { derToPem } from '../certs';
import { summarize, verifyGpuChain } from './chain';
import { GoldenMeasurement, GpuAttestationError, VerifiedRim } from './types';

export const MAX_RIM_BYTES = 256 * 1024;
export const MAX_RIM_CERTS = 6;
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const SWID_NS = 'http://standards.iso.org/iso/19770/-2/2015/schema.xsd';
export const SHA384_ATTR_NS = 'http://www.w3.org/2001/04/xmlenc#sha384';
export const ALG = {
    c14n11: 'http://www.w3.org/2006/12/xml-c14n11',
    ecdsaSha384: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
    sha384: 'http://www.w3.org/2001/04/xmldsig-more#sha384',
    enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
} as const;
const MAX_ALTERNATIVES = 8;

class EcdsaSha384 {
    getAlgorithmName = () => ALG.ecdsaSha384;
    getSignature = ((signedInfo: string, privateKey: KeyLike) => cryptoSign('sha384', Buffer.from(signedInfo), { key: privateKey as never, dsaEncoding: 'ieee-p1363' }).toString('base64')) as never;
    verifySignature = ((material: string, key: KeyLike, signatureValue: string) => {
        const sig = Buffer.from(signatureValue, 'base64');
        if (sig.length !== 96) return false;
        return cryptoVerify('sha384', Buffer.from(material), { key: createPublicKey(key as never), dsaEncoding: 'ieee-p1363' }, sig);
    }) as never;
}

class Sha384 {
    getAlgorithmName = () => ALG.sha384;
    getHash = (xml: string) => createHash('sha384').update(xml, 'utf8').digest('base64');
}

class C14n11 extends C14nCanonicalization {
    getAlgorithmName() {
        return ALG.c14n11;
    }
}

/** A SignedXml that knows NVIDIA's algorithms and nothing weaker (no HMAC, no SHA-1 digests or RSA-SHA1). */
export function rimSignedXml(opts: ConstructorParameters<typeof SignedXml>[0] = {}): SignedXml {
    const sx = new SignedXml(opts);
    sx.SignatureAlgorithms = { [ALG.ecdsaSha384]: EcdsaSha384 } as never;
    sx.HashAlgorithms = { [ALG.sha384]: Sha384 } as never;
    sx.CanonicalizationAlgorithms = { [ALG.c14n11]: C14n11, [ALG.enveloped]: sx.CanonicalizationAlgorithms[ALG.enveloped] } as never;
    return sx;
}

function invalid(name: string, message: string, details?: Record<string, unknown>): GpuAttestationError {
    return new GpuAttestationError('GPU_RIM_INVALID', `RIM ${name}: ${message}`, { rim: name, ...details });
}

function parseXml(xml: string, name: string) {
    const doc = new DOMParser({
        onError: (level, msg) => {
            throw new Error(`${level}: ${msg}`);
        },
    }).parseFromString(xml, 'text/xml');
    const root = doc.documentElement;
    if (!root) throw invalid(name, 'no root element');
    return root as unknown as XmlElement;
}

function childElements(e: XmlElement, ns: string, local: string): XmlElement[] {
    const out: XmlElement[] = [];
    for (let n = e.firstChild; n; n = n.nextSibling) if (n.nodeType === 1 && (n as XmlElement).namespaceURI === ns && (n as XmlElement).localName === local) out.push(n as XmlElement);
    return out;
}

function one(e: XmlElement, ns: string, local: string, name: string): XmlElement {
    const c = childElements(e, ns, local);
    if (c.length !== 1) throw invalid(name, `expected exactly one ${local} in ${e.localName}, found ${c.length}`);
    return c[0];
}

function algorithm(e: XmlElement, ns: string, local: string, name: string): string {
    return one(e, ns, local, name).getAttribute('Algorithm') ?? '';
}

/** The hand checks on the Signature element; returns the KeyInfo certificates (DER, leaf first). */
function checkSignatureShape(root: XmlElement, name: string): Buffer[] {
    const all = root.getElementsByTagNameNS(DSIG_NS, 'Signature');
    if (all.length !== 1 || all[0].parentNode !== root) throw invalid(name, 'expected exactly one Signature, a child of the root element');
    const sig = all[0] as unknown as XmlElement;
    const si = one(sig, DSIG_NS, 'SignedInfo', name);
    if (algorithm(si, DSIG_NS, 'CanonicalizationMethod', name) !== ALG.c14n11) throw invalid(name, 'SignedInfo canonicalization is not Canonical XML 1.1');
    if (algorithm(si, DSIG_NS, 'SignatureMethod', name) !== ALG.ecdsaSha384) throw invalid(name, 'signature method is not ECDSA-SHA384');
    const ref = one(si, DSIG_NS, 'Reference', name);
    if (ref.getAttribute('URI') !== '') throw invalid(name, 'the Reference is not the whole document (URI="")');
    const transforms = childElements(one(ref, DSIG_NS, 'Transforms', name), DSIG_NS, 'Transform').map((t) => t.getAttribute('Algorithm'));
    if (transforms.length !== 2 || transforms[0] !== ALG.enveloped || transforms[1] !== ALG.c14n11) throw invalid(name, 'Reference transforms are not enveloped-signature + Canonical XML 1.1');
    if (algorithm(ref, DSIG_NS, 'DigestMethod', name) !== ALG.sha384) throw invalid(name, 'digest method is not SHA-384');
    const certs = childElements(one(one(sig, DSIG_NS, 'KeyInfo', name), DSIG_NS, 'X509Data', name), DSIG_NS, 'X509Certificate');
    if (certs.length === 0 || certs.length > MAX_RIM_CERTS) throw invalid(name, `KeyInfo holds ${certs.length} certificates (1..${MAX_RIM_CERTS})`);
    return certs.map((c) => {
        const b64 = (c.textContent ?? '').replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw invalid(name, 'X509Certificate is not base64');
        return Buffer.from(b64, 'base64');
    });
}

function intAttr(e: XmlElement, attr: string, min: number, max: number, name: string): number {
    const v = e.getAttribute(attr) ?? '';
    if (!/^\d{1,4}$/.test(v) || +v < min || +v > max) throw invalid(name, `Resource ${attr}="${v}" out of range ${min}..${max}`);
    return +v;
}

/** Golden measurements of the Payload (read from the verified bytes). */
function goldenMeasurements(root: XmlElement, name: string): GoldenMeasurement[] {
    const payload = one(root, SWID_NS, 'Payload', name);
    const out: GoldenMeasurement[] = [];
    const seen = new Set<number>();
    for (const r of childElements(payload, SWID_NS, 'Resource')) {
        const index = intAttr(r, 'index', 0, 253, name);
        if (seen.has(index)) throw invalid(name, `golden index ${index} repeated`);
        seen.add(index);
        const size = intAttr(r, 'size', 1, 512, name);
        const alternatives = intAttr(r, 'alternatives', 1, MAX_ALTERNATIVES, name);
        const active = r.getAttribute('active');
        if (active !== 'True' && active !== 'False') throw invalid(name, `Resource active="${active}" is not True/False`);
        const values: Buffer[] = [];
        for (let i = 0; i < alternatives; i++) {
            const hex = r.getAttributeNS(SHA384_ATTR_NS, `Hash${i}`) ?? '';
            if (hex.length !== size * 2 || !/^[0-9a-fA-F]+$/.test(hex)) throw invalid(name, `golden index ${index} Hash${i} is not ${size} bytes of hex`);
            values.push(Buffer.from(hex, 'hex'));
        }
        out.push({ index, name: r.getAttribute('name') ?? '', size, active: active === 'True', values });
    }
    if (out.length === 0) throw invalid(name, 'no golden measurements');
    return out;
}

/**
 * Verifies one RIM: shape, XML signature, certificate chain up to `rimRootDer` at `at` (any failure, including an
 * expired signing certificate, is GPU_RIM_INVALID; a revoked serial is GPU_CERT_REVOKED). Returns the version and the
 * golden measurements as signed.
 */
export function verifyRim(xml: string, name: string, rimRootDer: Buffer, at: Date, revoked?: Set<string>): VerifiedRim {
    try {
        return verifyRimSteps(xml, name, rimRootDer, at, revoked);
    } catch (e) {
        // Anything unexpected (a DOM or DER surprise) is still a typed refusal of this RIM.
        throw e instanceof GpuAttestationError ? e : invalid(name, `unexpected: ${(e as Error)?.message}`);
    }
}

function verifyRimSteps(xml: string, name: string, rimRootDer: Buffer, at: Date, revoked?: Set<string>): VerifiedRim {
    if (typeof xml !== 'string' || xml.length > MAX_RIM_BYTES) throw invalid(name, `not text of at most ${MAX_RIM_BYTES} bytes`);
    if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw invalid(name, 'document type declarations are refused');
    if (/\sxml:[a-z]+\s*=/i.test(xml)) throw invalid(name, 'xml:* attributes are refused (Canonical XML 1.0 and 1.1 would differ)');
    let root: XmlElement;
    try {
        root = parseXml(xml, name);
    } catch (e) {
        throw e instanceof GpuAttestationError ? e : invalid(name, `XML does not parse: ${(e as Error).message}`);
    }
    if (root.namespaceURI !== SWID_NS || root.localName !== 'SoftwareIdentity') throw invalid(name, 'root element is not a SWID SoftwareIdentity');
    const certs = checkSignatureShape(root, name);
    const { chain } = verifyGpuChain(certs, rimRootDer, at, { invalid: 'GPU_RIM_INVALID', expired: 'GPU_RIM_INVALID' }, `RIM ${name} signing chain`, revoked);

    let signed: string;
    try {
        const sx = rimSignedXml({ publicCert: derToPem(chain[0].der), getCertFromKeyInfo: () => null });
        const sigNode = root.getElementsByTagNameNS(DSIG_NS, 'Signature')[0];
        sx.loadSignature(sigNode as never);
        if (!sx.checkSignature(xml)) throw new Error('a reference digest does not match');
        const refs = sx.getSignedReferences();
        if (refs.length !== 1) throw new Error(`${refs.length} signed references`);
        signed = refs[0];
    } catch (e) {
        throw invalid(name, `XML signature does not verify: ${(e as Error).message}`);
    }
    let verified: XmlElement;
    try {
        verified = parseXml(signed, name);
    } catch (e) {
        throw invalid(name, `signed content does not parse: ${(e as Error).message}`);
    }
    const meta = one(verified, SWID_NS, 'Meta', name);
    const version = (meta.getAttribute('colloquialVersion') ?? '').toLowerCase();
    if (!/^[0-9a-z._-]{1,32}$/.test(version)) throw invalid(name, 'Meta colloquialVersion missing or malformed');
    return { tagId: verified.getAttribute('tagId') ?? '', version, measurements: goldenMeasurements(verified, name), certificates: chain.map(summarize) };
}
