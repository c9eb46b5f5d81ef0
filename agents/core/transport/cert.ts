// RA-TLS certificates (spec/attestation.md, "RA-TLS"): short-lived self-signed Ed25519 certificates that carry
// the TDX quote (1.3.6.1.4.1.12345.1) and the user claims (1.3.6.1.4.1.12345.2) as critical extensions.
// Generation uses @peculiar/x509 over node's WebCrypto; parsing never hands raw DER to crypto.X509Certificate
// (reference/attestation.md §2, pitfall 1).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, KeyObject, randomBytes, webcrypto } from 'crypto';
import { QuoteProvider } from '../tee/types';
import { MAX_GPU_BUNDLE_BYTES } from '../tee/gpu/bundle';
import { claimsReportData, encodeClaims } from './claims';
import { workerConfigHash } from './worker-config';

// The project compiles without DOM lib types; name @peculiar/x509's WebCrypto parameter types through its API.
type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
type X509KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type X509PublicKey = Parameters<typeof x509.SubjectKeyIdentifierExtension.create>[0];

x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);

export const OID_TDX_QUOTE = '1.3.6.1.4.1.12345.1';
export const OID_USER_CLAIMS = '1.3.6.1.4.1.12345.2';
/** A worker's attested configuration (worker-config.ts), bound by its SHA-256 in the version-2 claims. */
export const OID_WORKER_CONFIG = '1.3.6.1.4.1.12345.3';
/** A worker's GPU evidence bundle (tee/gpu/bundle.ts), named by its SHA-256 in the worker configuration. */
export const OID_GPU_EVIDENCE = '1.3.6.1.4.1.12345.4';
export const OID_ED25519 = '1.3.101.112';
/** Cocoon's verifiers cap the quote extension at 32 KiB; so do we. */
export const MAX_QUOTE_BYTES = 32 * 1024;
/** Upper bound on a whole RA-TLS certificate we are willing to parse: quote, claims, configuration and GPU evidence. */
export const MAX_CERT_BYTES = 48 * 1024 + MAX_GPU_BUNDLE_BYTES;
export const DEFAULT_CERT_VALIDITY_MS = 24 * 3600_000;

/** Critical extensions a verifier understands: basicConstraints, keyUsage, extKeyUsage, subjectAltName, quote, claims, worker configuration, GPU evidence. */
export const KNOWN_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set([
    '2.5.29.19',
    '2.5.29.15',
    '2.5.29.37',
    '2.5.29.17',
    OID_TDX_QUOTE,
    OID_USER_CLAIMS,
    OID_WORKER_CONFIG,
    OID_GPU_EVIDENCE,
]);

/** An Ed25519 key pair held for the lifetime of an identity. */
export interface Ed25519KeyPair {
    publicKey: webcrypto.CryptoKey;
    privateKey: webcrypto.CryptoKey;
    /** Raw 32-byte public key. */
    publicKeyRaw: Buffer;
    /** PKCS#8 PEM of the private key, for node:tls. */
    privateKeyPem: string;
}

export async function generateEd25519KeyPair(): Promise<Ed25519KeyPair> {
    const kp = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const publicKeyRaw = Buffer.from(await webcrypto.subtle.exportKey('raw', kp.publicKey));
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', kp.privateKey));
    const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
    return { publicKey: kp.publicKey, privateKey: kp.privateKey, publicKeyRaw, privateKeyPem };
}

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The Ed25519 key pair of a 32-byte seed (RFC 8032 private key). The same seed gives the same key as
 * `@ton/crypto`'s `keyPairFromSeed`, so an agent's TLS key can also be its TON signing key (a Proxy's enclave key,
 * a worker's receipt key, a client's voucher key).
 */
export async function ed25519KeyPairFromSeed(seed: Buffer): Promise<Ed25519KeyPair> {
    if (!Buffer.isBuffer(seed) || seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
    const pkcs8 = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
    const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    const publicKeyRaw = Buffer.from(spki.subarray(spki.length - 32));
    const publicKey = await webcrypto.subtle.importKey('raw', publicKeyRaw, { name: 'Ed25519' }, true, ['verify']);
    const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`;
    return { publicKey, privateKey, publicKeyRaw, privateKeyPem };
}

/** One issued RA-TLS certificate. */
export interface RaTlsCert {
    der: Buffer;
    pem: string;
    serialHex: string;
    notBefore: Date;
    notAfter: Date;
    claims: Buffer;
    quote: Buffer;
    /** The worker-configuration document (workers only). */
    workerConfig?: Buffer;
    /** The GPU evidence bundle (workers with GPU evidence only). */
    gpuEvidence?: Buffer;
}

export interface IssueCertOptions {
    keys: Ed25519KeyPair;
    /**
     * Where quotes come from. `null` issues a plain key certificate (no quote, no claims) for a party outside any
     * TEE — a client — which an attestation verifier (PeerVerifier) always refuses and a ClientKeyVerifier accepts.
     */
    provider: QuoteProvider | null;
    /** HPKE X25519 public key to bind into the claims (workers). */
    hpkePublicKey?: Buffer;
    /** A worker's configuration document (encodeWorkerConfig): carried in its extension, its hash in the claims. */
    workerConfig?: Buffer;
    /** A worker's GPU evidence bundle (encodeGpuBundle); the configuration must name its hash. */
    gpuEvidence?: Buffer;
    /** Validity period, default 1 day. */
    validityMs?: number;
    /** notBefore = now - backdateMs, to tolerate peers whose clocks run slightly behind (default 60 s). */
    backdateMs?: number;
    now?: Date;
    /** Subject/issuer common name (default "cocoon-ratls"). */
    commonName?: string;
    sanDns?: string[];
    sanIp?: string[];
}

/** Fetches a quote over SHA-512(claims) and issues a self-signed certificate carrying it. */
export async function issueRaTlsCert(o: IssueCertOptions): Promise<RaTlsCert> {
    if (o.provider === null) return buildRaTlsCert({ ...o, claims: Buffer.alloc(0), quote: Buffer.alloc(0) });
    const claims = encodeClaims({
        ed25519PublicKey: o.keys.publicKeyRaw,
        hpkePublicKey: o.hpkePublicKey,
        workerConfigHash: o.workerConfig ? workerConfigHash(o.workerConfig) : undefined,
    });
    const quote = await o.provider.getQuote(claimsReportData(claims));
    return buildRaTlsCert({ ...o, claims, quote });
}

/**
 * Builds the certificate from given claims and quote bytes without checking that they belong together
 * (issueRaTlsCert does that by construction; tests use this to build hostile certificates).
 */
export async function buildRaTlsCert(o: IssueCertOptions & { claims: Buffer; quote: Buffer }): Promise<RaTlsCert> {
    const now = o.now ?? new Date();
    const validityMs = o.validityMs ?? DEFAULT_CERT_VALIDITY_MS;
    const backdateMs = o.backdateMs ?? 60_000;
    // X.509 times have 1 s resolution; round so that the certificate states exactly what we believe.
    const notBefore = new Date(Math.floor((now.getTime() - backdateMs) / 1000) * 1000);
    const notAfter = new Date(Math.floor((now.getTime() + validityMs) / 1000) * 1000);
    const serial = randomBytes(16);
    serial[0] = (serial[0] & 0x7f) | 0x40; // positive, exactly 128 bits of INTEGER content, no leading zero
    const cn = o.commonName ?? 'cocoon-ratls';
    const name = `C=AE, ST=DUBAI, O=Cocoon-TS, CN=${cn}`;
    const san: x509.JsonGeneralName[] = [
        ...(o.sanDns ?? ['localhost']).map((value) => ({ type: 'dns' as const, value })),
        ...(o.sanIp ?? ['127.0.0.1']).map((value) => ({ type: 'ip' as const, value })),
    ];
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial.toString('hex'),
        name,
        notBefore,
        notAfter,
        keys: { publicKey: o.keys.publicKey, privateKey: o.keys.privateKey } as unknown as X509KeyPair,
        signingAlgorithm: { name: 'Ed25519' },
        extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], true),
            await x509.SubjectKeyIdentifierExtension.create(o.keys.publicKey as unknown as X509PublicKey),
            new x509.SubjectAlternativeNameExtension(san),
            // A plain key certificate (no quote) carries neither private extension.
            ...(o.quote.length === 0 && o.claims.length === 0
                ? []
                : [new x509.Extension(OID_TDX_QUOTE, true, o.quote), new x509.Extension(OID_USER_CLAIMS, true, o.claims)]),
            ...(o.workerConfig ? [new x509.Extension(OID_WORKER_CONFIG, true, o.workerConfig)] : []),
            ...(o.gpuEvidence ? [new x509.Extension(OID_GPU_EVIDENCE, true, o.gpuEvidence)] : []),
        ],
    });
    const der = Buffer.from(cert.rawData);
    return {
        der,
        pem: cert.toString('pem') + '\n',
        serialHex: serial.toString('hex'),
        notBefore,
        notAfter,
        claims: Buffer.from(o.claims),
        quote: Buffer.from(o.quote),
        ...(o.workerConfig ? { workerConfig: Buffer.from(o.workerConfig) } : {}),
        ...(o.gpuEvidence ? { gpuEvidence: Buffer.from(o.gpuEvidence) } : {}),
    };
}

/** Length of a DER TLV at offset 0 (header + content), or -1 when the header is malformed. */
export function derTotalLength(b: Buffer): number {
    if (b.length < 2) return -1;
    const first = b[1];
    if (first < 0x80) return 2 + first;
    const n = first & 0x7f;
    if (n === 0 || n > 4 || b.length < 2 + n) return -1;
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[2 + i];
    if (len < 0x80 || (n > 1 && b[2] === 0)) return -1; // not minimal: not DER
    return 2 + n + len;
}

/** A parsed RA-TLS certificate (no trust decisions yet). */
export interface ParsedRaTlsCert {
    cert: x509.X509Certificate;
    der: Buffer;
    /** Raw 32-byte Ed25519 public key. */
    publicKeyRaw: Buffer;
    publicKey: KeyObject;
}

/** Node's `KeyObject` for an SPKI DER. */
export function spkiKeyObject(spki: Buffer): KeyObject {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

/** Exactly one DER certificate, parsed as ASN.1 (never PEM-sniffed). Throws on malformed input. */
export function parseCertDer(der: Buffer): x509.X509Certificate {
    if (der.length === 0 || der[0] !== 0x30) throw new Error('not a DER SEQUENCE');
    if (derTotalLength(der) !== der.length) throw new Error('DER length does not cover the buffer exactly');
    return new x509.X509Certificate(der);
}
