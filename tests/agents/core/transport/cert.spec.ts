// RA-TLS certificate format, claims format and the certificate checks of PeerVerifier, on hostile inputs.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto, X509Certificate as NodeX509 } from 'crypto';
import fc from 'fast-check';
import { AttestationError, AttestationErrorCodes } from '../../../../agents/core/tee/types';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { imageHash } from '../../../../agents/core/tee/image';
import {
    buildRaTlsCert,
    claimsReportData,
    decodeClaims,
    encodeClaims,
    Ed25519KeyPair,
    generateEd25519KeyPair,
    issueRaTlsCert,
    OID_TDX_QUOTE,
    OID_USER_CLAIMS,
    PeerPolicy,
    PeerVerifier,
    RaTlsCert,
} from '../../../../agents/core/transport';

type X509Keys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

let tee: SimulatedTee;
let policy: PeerPolicy;
let keys: Ed25519KeyPair;
let good: RaTlsCert;
let verifier: PeerVerifier;

beforeAll(async () => {
    tee = await SimulatedTee.create();
    const allowed = imageHash(tee.measurements).toString('hex');
    policy = { quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (x) => x === allowed };
    keys = await generateEd25519KeyPair();
    good = await issueRaTlsCert({ keys, provider: tee });
    verifier = new PeerVerifier(policy);
});

function codeOf(f: () => unknown): string {
    try {
        f();
    } catch (e) {
        if (e instanceof AttestationError) return e.code;
        throw e;
    }
    return 'OK';
}

/** A self-signed certificate with arbitrary extensions (for cases issueRaTlsCert never produces). */
async function customCert(o: { extensions: x509.Extension[]; keys?: X509Keys; alg?: object; notBefore?: Date; notAfter?: Date }): Promise<Buffer> {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: '4a01',
        name: 'CN=custom',
        notBefore: o.notBefore ?? new Date(Date.now() - 60_000),
        notAfter: o.notAfter ?? new Date(Date.now() + 3600_000),
        keys: o.keys ?? ({ publicKey: keys.publicKey, privateKey: keys.privateKey } as unknown as X509Keys),
        signingAlgorithm: (o.alg ?? { name: 'Ed25519' }) as never,
        extensions: o.extensions,
    });
    return Buffer.from(cert.rawData);
}

function boundExtensions(opts: { quoteCritical?: boolean } = {}): x509.Extension[] {
    const claims = encodeClaims({ ed25519PublicKey: keys.publicKeyRaw });
    return [new x509.Extension(OID_TDX_QUOTE, opts.quoteCritical ?? true, tee.makeQuote(claimsReportData(claims))), new x509.Extension(OID_USER_CLAIMS, true, claims)];
}

describe('claims', () => {
    it('round-trips with and without an HPKE key', () => {
        const ed = Buffer.alloc(32, 1);
        const hp = Buffer.alloc(32, 2);
        const a = encodeClaims({ ed25519PublicKey: ed });
        expect(a.toString('hex')).toBe('0100' + ed.toString('hex'));
        expect(decodeClaims(a)).toEqual({ version: 1, ed25519PublicKey: ed });
        const b = encodeClaims({ ed25519PublicKey: ed, hpkePublicKey: hp });
        expect(b.toString('hex')).toBe('0101' + ed.toString('hex') + hp.toString('hex'));
        expect(decodeClaims(b)).toEqual({ version: 1, ed25519PublicKey: ed, hpkePublicKey: hp });
        expect(claimsReportData(a).equals(createHash('sha512').update(a).digest())).toBe(true);
    });

    it.each([
        ['empty', ''],
        ['cocoon-style bare key', '11'.repeat(32)],
        ['version 2', '0200' + '11'.repeat(32)],
        ['unknown flag', '0102' + '11'.repeat(32)],
        ['one byte short', '0100' + '11'.repeat(31)],
        ['one byte long', '0100' + '11'.repeat(33)],
        ['flag without key', '0101' + '11'.repeat(32)],
        ['key without flag', '0100' + '11'.repeat(64)],
    ])('rejects %s with CERT_INVALID', (_name, hex) => {
        expect(codeOf(() => decodeClaims(Buffer.from(hex, 'hex')))).toBe('CERT_INVALID');
    });
});

describe('certificate layout', () => {
    it('carries the required extensions with the required criticality', () => {
        const c = new x509.X509Certificate(good.der);
        const ext = Object.fromEntries(c.extensions.map((e) => [e.type, e]));
        expect(c.extensions.map((e) => e.type)).toEqual(['2.5.29.19', '2.5.29.15', '2.5.29.37', '2.5.29.14', '2.5.29.17', OID_TDX_QUOTE, OID_USER_CLAIMS]);
        expect(ext['2.5.29.19'].critical && !(ext['2.5.29.19'] as x509.BasicConstraintsExtension).ca).toBe(true);
        expect(ext['2.5.29.15'].critical && (ext['2.5.29.15'] as x509.KeyUsagesExtension).usages).toBe(x509.KeyUsageFlags.digitalSignature);
        expect(ext['2.5.29.37'].critical).toBe(true);
        expect((ext['2.5.29.37'] as x509.ExtendedKeyUsageExtension).usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
        expect(ext[OID_TDX_QUOTE].critical && Buffer.from(ext[OID_TDX_QUOTE].value).equals(good.quote)).toBe(true);
        expect(ext[OID_USER_CLAIMS].critical && Buffer.from(ext[OID_USER_CLAIMS].value).equals(good.claims)).toBe(true);
        expect(decodeClaims(good.claims).ed25519PublicKey.equals(keys.publicKeyRaw)).toBe(true);
        expect(good.quote.subarray(568, 632).equals(claimsReportData(good.claims))).toBe(true); // REPORTDATA, quote v4
        expect(good.serialHex).toMatch(/^[4-7][0-9a-f]{31}$/);
        expect(c.serialNumber.toLowerCase()).toBe(good.serialHex);
        expect(good.notAfter.getTime() - good.notBefore.getTime()).toBe(24 * 3600_000 + 60_000); // 1 day + 60 s backdate
        expect(c.subject).toBe(c.issuer);
    });

    it('is readable by OpenSSL (node X509Certificate from a PEM we wrap, never from raw DER)', () => {
        const n = new NodeX509(good.pem);
        expect(n.raw.equals(good.der)).toBe(true);
        expect(n.publicKey.asymmetricKeyType).toBe('ed25519');
        expect(n.verify(n.publicKey)).toBe(true);
    });

    it('gives every certificate a fresh 128-bit serial', async () => {
        const other = await issueRaTlsCert({ keys, provider: tee });
        expect(other.serialHex).not.toBe(good.serialHex);
    });
});

describe('PeerVerifier on hostile certificates', () => {
    it('accepts the well-formed certificate', () => {
        const p = verifier.verify(good.der);
        expect(p.cert.serialHex).toBe(good.serialHex);
        expect(p.quoteHash).toBe(createHash('sha256').update(good.quote).digest('hex'));
    });

    it('never PEM-sniffs: the PEM text of a valid certificate is not a certificate (pitfall 1)', () => {
        expect(codeOf(() => verifier.verify(Buffer.from(good.pem)))).toBe('CERT_INVALID');
        expect(codeOf(() => verifier.verify(Buffer.from('junk' + good.pem)))).toBe('CERT_INVALID');
    });

    it.each([
        ['empty', () => Buffer.alloc(0)],
        ['trailing byte', () => Buffer.concat([good.der, Buffer.from([0])])],
        ['truncated', () => good.der.subarray(0, good.der.length - 1)],
        ['garbage', () => Buffer.from('3082ffff' + '00'.repeat(64), 'hex')],
        ['oversized', () => Buffer.concat([Buffer.from('30840000c000', 'hex'), Buffer.alloc(0xc000)])],
        ['bad signature', () => Buffer.concat([good.der.subarray(0, -1), Buffer.from([good.der[good.der.length - 1] ^ 1])])],
        ['altered to-be-signed part', () => {
            const d = Buffer.from(good.der);
            const at = d.indexOf(good.claims) + 5; // a byte of the claims
            d[at] ^= 1;
            return d;
        }],
    ])('refuses %s with CERT_INVALID', (_n, make) => {
        expect(codeOf(() => verifier.verify(make()))).toBe('CERT_INVALID');
    });

    it('refuses an unknown critical extension, tolerates an unknown non-critical one', async () => {
        expect(codeOf(() => verifier.verify(Buffer.alloc(0)))).toBe('CERT_INVALID');
        const crit = await customCert({ extensions: [...boundExtensions(), new x509.Extension('1.2.3.4', true, Buffer.from([5]))] });
        expect(codeOf(() => verifier.verify(crit))).toBe('CERT_INVALID');
        const nonCrit = await customCert({ extensions: [...boundExtensions(), new x509.Extension('1.2.3.4', false, Buffer.from([5]))] });
        expect(codeOf(() => verifier.verify(nonCrit))).toBe('OK');
    });

    it('refuses a duplicated extension, a non-critical quote, a missing quote, a CA certificate', async () => {
        const [q, c] = boundExtensions();
        expect(codeOf(() => verifier.verify(null as unknown as Buffer))).toBe('CERT_INVALID');
        const certs = await Promise.all([
            customCert({ extensions: [q, c, c] }),
            customCert({ extensions: boundExtensions({ quoteCritical: false }) }),
            customCert({ extensions: [c] }),
            customCert({ extensions: [new x509.BasicConstraintsExtension(true, undefined, true), q, c] }),
        ]);
        expect(certs.map((d) => codeOf(() => verifier.verify(d)))).toEqual(['CERT_INVALID', 'CERT_INVALID', 'CERT_INVALID', 'CERT_INVALID']);
    });

    it('refuses a quote extension over 32 KiB', async () => {
        const d = await customCert({ extensions: [new x509.Extension(OID_TDX_QUOTE, true, Buffer.alloc(32 * 1024 + 1, 4)), boundExtensions()[1]] });
        expect(codeOf(() => verifier.verify(d))).toBe('CERT_INVALID');
    });

    it('refuses a well-placed extension holding garbage instead of a quote (QUOTE_MALFORMED)', async () => {
        const truncated = tee.makeQuote(Buffer.alloc(64)).subarray(0, 700);
        const d = await customCert({ extensions: [new x509.Extension(OID_TDX_QUOTE, true, truncated), boundExtensions()[1]] });
        expect(codeOf(() => verifier.verify(d))).toBe('QUOTE_MALFORMED');
    });

    it('refuses a P-256 certificate even with a bound quote', async () => {
        const ec = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as unknown as X509Keys;
        const d = await customCert({ keys: ec, alg: { name: 'ECDSA', hash: 'SHA-256' }, extensions: boundExtensions() });
        expect(codeOf(() => verifier.verify(d))).toBe('CERT_INVALID');
    });

    it('refuses a not-yet-valid certificate (CERT_EXPIRED) and an over-long lifetime (CERT_INVALID)', async () => {
        const future = await customCert({ extensions: boundExtensions(), notBefore: new Date(Date.now() + 3600_000), notAfter: new Date(Date.now() + 7200_000) });
        expect(codeOf(() => verifier.verify(future))).toBe('CERT_EXPIRED');
        const long = await customCert({ extensions: boundExtensions(), notAfter: new Date(Date.now() + 30 * 24 * 3600_000) });
        expect(codeOf(() => verifier.verify(long))).toBe('CERT_INVALID');
        expect(codeOf(() => new PeerVerifier({ ...policy, maxCertLifetimeMs: 31 * 24 * 3600_000 }).verify(long))).toBe('OK');
    });

    it('refuses a certificate whose claims are for the wrong key even when the quote matches the claims', async () => {
        const other = await generateEd25519KeyPair();
        const claims = encodeClaims({ ed25519PublicKey: other.publicKeyRaw });
        const c = await buildRaTlsCert({ keys, provider: tee, claims, quote: tee.makeQuote(claimsReportData(claims)) });
        expect(codeOf(() => verifier.verify(c.der))).toBe('REPORT_DATA_MISMATCH');
    });

    it('refuses to be built from an invalid policy (POLICY_INVALID), so there is no trust-anything verifier', () => {
        expect(codeOf(() => new PeerVerifier({ ...policy, quote: { ...policy.quote, trustedRootKeyIds: [] } }))).toBe('POLICY_INVALID');
        expect(codeOf(() => new PeerVerifier({ ...policy, quote: { ...policy.quote, trustedRootKeyIds: ['zz'] } }))).toBe('POLICY_INVALID');
        expect(codeOf(() => new PeerVerifier({ quote: policy.quote } as PeerPolicy))).toBe('POLICY_INVALID');
    });

    it('answers every mutated certificate with a typed verdict, never another exception', () => {
        const v = new PeerVerifier(policy);
        fc.assert(
            fc.property(
                fc.array(fc.tuple(fc.nat(good.der.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
                fc.option(fc.tuple(fc.nat(good.der.length), fc.nat(64)), { nil: undefined }),
                (flips, cut) => {
                    let d = Buffer.from(good.der);
                    for (const [i, b] of flips) d[i] = b;
                    if (cut) d = Buffer.concat([d.subarray(0, cut[0]), d.subarray(Math.min(d.length, cut[0] + cut[1]))]);
                    const code = codeOf(() => v.verify(d)); // rethrows anything that is not an AttestationError
                    return code === 'OK' || (AttestationErrorCodes as readonly string[]).includes(code);
                },
            ),
            { numRuns: 1500 },
        );
    });
});
