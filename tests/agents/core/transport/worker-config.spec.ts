// The measured worker configuration (spec/attestation.md, "Measured worker configuration"): its canonical document,
// the version-2 claims that bind it, the certificate extension that carries it, and the refusal rule proxies and
// clients apply — on hostile inputs.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { AttestationError, INTEL_ROOT_KEY_ID } from '../../../../agents/core/tee/types';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { imageHash } from '../../../../agents/core/tee/image';
import {
    backendKindOf,
    buildRaTlsCert,
    decodeClaims,
    decodeWorkerConfig,
    encodeClaims,
    encodeWorkerConfig,
    generateEd25519KeyPair,
    issueRaTlsCert,
    MAX_WORKER_CONFIG_BYTES,
    OID_WORKER_CONFIG,
    PeerVerifier,
    PRODUCTION_WORKER_CONFIG_POLICY,
    SIMULATED_WORKER_CONFIG_POLICY,
    WorkerConfigDoc,
    workerConfigHash,
    workerConfigPolicyFor,
    workerConfigRefusal,
} from '../../../../agents/core/transport';

const H1 = 'ab'.repeat(32);
const H2 = 'cd'.repeat(32);
const DOC: WorkerConfigDoc = {
    version: 1,
    backend: 'loopback',
    capacity: 8,
    models: [
        { name: 'zeta/model', weightsHash: H1 },
        { name: 'alpha/model', weightsHash: null },
    ],
};

function codeOf(f: () => unknown): string {
    try {
        f();
    } catch (e) {
        if (e instanceof AttestationError) return e.code;
        throw e;
    }
    return 'OK';
}

describe('the configuration document', () => {
    it('has one canonical encoding: sorted keys, models sorted by name, no whitespace', () => {
        const b = encodeWorkerConfig(DOC);
        expect(b.toString()).toBe(
            `{"backend":"loopback","capacity":8,"models":[{"name":"alpha/model","weightsHash":null},{"name":"zeta/model","weightsHash":"${H1}"}],"version":1}`,
        );
        expect(decodeWorkerConfig(b)).toEqual({ ...DOC, models: [DOC.models[1], DOC.models[0]] });
        expect(encodeWorkerConfig({ ...DOC, models: [DOC.models[1], DOC.models[0]] }).equals(b)).toBe(true);
    });

    it('refuses every other spelling of the same configuration (whitespace, key order, escapes, 8.0)', () => {
        const b = encodeWorkerConfig(DOC).toString();
        const variants = [
            b.replace('{"backend"', '{ "backend"'),
            b + '\n',
            b.replace('"capacity":8', '"capacity":8.0'),
            b.replace('"backend":"loopback","capacity":8', '"capacity":8,"backend":"loopback"'),
            b.replace('alpha/model', 'alpha\\/model'),
            b.replace('"version":1', '"version":1,"version":1'),
        ];
        for (const v of variants) expect(codeOf(() => decodeWorkerConfig(Buffer.from(v)))).toBe('CERT_INVALID');
    });

    it('refuses out-of-bounds content: duplicate models, bad hashes, unknown keys, backends, capacity, size', () => {
        const bad: unknown[] = [
            { ...DOC, models: [DOC.models[0], DOC.models[0]] },
            { ...DOC, models: [{ name: 'm', weightsHash: H1.toUpperCase() }] },
            { ...DOC, models: [{ name: 'm', weightsHash: 'ab' }] },
            { ...DOC, models: [{ name: 'with space', weightsHash: null }] },
            { ...DOC, models: [] },
            { ...DOC, backend: 'gpu-farm' },
            { ...DOC, capacity: 0 },
            { ...DOC, capacity: 1.5 },
            { ...DOC, version: 2 },
        ];
        for (const d of bad) expect(codeOf(() => encodeWorkerConfig(d as WorkerConfigDoc))).toBe('CERT_INVALID');
        const extra = Buffer.from(encodeWorkerConfig(DOC).toString().replace('"version":1}', '"version":1,"coefficient":1000}'));
        expect(codeOf(() => decodeWorkerConfig(extra))).toBe('CERT_INVALID');
        const proto = Buffer.from(encodeWorkerConfig(DOC).toString().replace('{"backend"', '{"__proto__":{},"backend"'));
        expect(codeOf(() => decodeWorkerConfig(proto))).toBe('CERT_INVALID');
        expect(codeOf(() => decodeWorkerConfig(Buffer.alloc(MAX_WORKER_CONFIG_BYTES + 1, 0x20)))).toBe('CERT_INVALID');
        expect(codeOf(() => decodeWorkerConfig(Buffer.from([0xff, 0xfe])))).toBe('CERT_INVALID');
    });

    it('decoder fuzz: any bytes either decode to a document that re-encodes to exactly them, or fail CERT_INVALID', () => {
        const valid = encodeWorkerConfig(DOC);
        const mutated = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
            const b = Buffer.from(valid);
            b[i] = v;
            return b;
        });
        const jsonish = fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s));
        const docs = fc
            .record({
                backend: fc.constantFrom('loopback', 'unix', 'remote', 'x'),
                capacity: fc.oneof(fc.integer({ min: -2, max: 100_002 }), fc.double()),
                models: fc.array(fc.record({ name: fc.string({ maxLength: 140 }), weightsHash: fc.oneof(fc.constant(null), fc.uint8Array({ minLength: 32, maxLength: 32 }).map((u) => Buffer.from(u).toString('hex')), fc.string()) }), { maxLength: 34 }),
                version: fc.constantFrom(1, 2, '1'),
            })
            .map((d) => Buffer.from(JSON.stringify(d)));
        fc.assert(
            fc.property(fc.oneof(mutated, jsonish, docs, fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u))), (b) => {
                let doc: WorkerConfigDoc;
                try {
                    doc = decodeWorkerConfig(b);
                } catch (e) {
                    expect(e).toBeInstanceOf(AttestationError);
                    expect((e as AttestationError).code).toBe('CERT_INVALID');
                    return;
                }
                expect(encodeWorkerConfig(doc).equals(b)).toBe(true);
            }),
            { numRuns: 4000 },
        );
    });

    it('classifies the backend: http+unix is a Unix socket, 127.0.0.1 and [::1] are loopback, any other host (localhost, a LAN or public address) remote', () => {
        expect(backendKindOf('http://127.0.0.1:8000')).toBe('loopback');
        expect(backendKindOf('https://[::1]:8443/base')).toBe('loopback');
        expect(backendKindOf('http+unix://%2Frun%2Fvllm.sock')).toBe('unix');
        for (const u of ['http://localhost:8000', 'http://10.0.0.5', 'https://api.example.com', 'http://127.0.0.2', 'http://[::2]']) expect(backendKindOf(u)).toBe('remote');
    });
});

describe('version-2 claims', () => {
    const ed = Buffer.alloc(32, 1);
    const hpke = Buffer.alloc(32, 2);
    const hash = Buffer.alloc(32, 3);

    it('bind the SHA-256 of the document after the HPKE key; version 1 stays as it was', () => {
        const v2 = encodeClaims({ ed25519PublicKey: ed, hpkePublicKey: hpke, workerConfigHash: hash });
        expect(v2.length).toBe(98);
        expect([v2[0], v2[1]]).toEqual([2, 3]);
        expect(decodeClaims(v2)).toEqual({ version: 2, ed25519PublicKey: ed, hpkePublicKey: hpke, workerConfigHash: hash });
        const noHpke = encodeClaims({ ed25519PublicKey: ed, workerConfigHash: hash });
        expect(decodeClaims(noHpke)).toEqual({ version: 2, ed25519PublicKey: ed, workerConfigHash: hash });
        expect(encodeClaims({ ed25519PublicKey: ed, hpkePublicKey: hpke })[0]).toBe(1);
    });

    it('refuse a version-2 header without the hash flag, the hash flag under version 1, and wrong lengths', () => {
        const v2 = encodeClaims({ ed25519PublicKey: ed, hpkePublicKey: hpke, workerConfigHash: hash });
        const cases = [
            Buffer.concat([Buffer.from([2, 1]), ed, hpke]), // version 2 without a hash
            Buffer.concat([Buffer.from([1, 3]), ed, hpke, hash]), // hash flag in version 1
            v2.subarray(0, 97),
            Buffer.concat([v2, Buffer.from([0])]),
            Buffer.concat([Buffer.from([2, 7]), ed, hpke, hash]),
            Buffer.concat([Buffer.from([3, 3]), ed, hpke, hash]),
        ];
        for (const c of cases) expect(codeOf(() => decodeClaims(c))).toBe('CERT_INVALID');
    });
});

describe('a worker certificate carries its configuration', () => {
    let tee: SimulatedTee;
    let verifier: PeerVerifier;

    beforeAll(async () => {
        tee = await SimulatedTee.create();
        const allowed = imageHash(tee.measurements).toString('hex');
        verifier = new PeerVerifier({ quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (x) => x === allowed });
    });

    it('and verifies: the attestation holds the decoded document, the claims its hash', async () => {
        const doc = encodeWorkerConfig(DOC);
        const cert = await issueRaTlsCert({ keys: await generateEd25519KeyPair(), provider: tee, hpkePublicKey: Buffer.alloc(32, 9), workerConfig: doc });
        const a = verifier.verify(cert.der);
        expect(a.claims.version).toBe(2);
        expect(a.claims.workerConfigHash).toEqual(workerConfigHash(doc));
        expect(a.workerConfig).toEqual(decodeWorkerConfig(doc));
        const ext = new x509.X509Certificate(cert.der).getExtension(OID_WORKER_CONFIG);
        expect(ext?.critical).toBe(true);
        expect(Buffer.from(ext!.value).equals(doc)).toBe(true);
    });

    it('a version-1 certificate (a proxy, a client-facing key) still verifies, with no configuration', async () => {
        const a = verifier.verify((await issueRaTlsCert({ keys: await generateEd25519KeyPair(), provider: tee })).der);
        expect(a.claims.version).toBe(1);
        expect(a.workerConfig).toBeUndefined();
    });

    it('attack: a document changed after the quote (more models, other weights, a loopback claim) fails REPORT_DATA_MISMATCH', async () => {
        const keys = await generateEd25519KeyPair();
        const honest = await issueRaTlsCert({ keys, provider: tee, workerConfig: encodeWorkerConfig({ ...DOC, backend: 'remote' }) });
        for (const forged of [
            encodeWorkerConfig(DOC),
            encodeWorkerConfig({ ...DOC, backend: 'remote', models: [{ name: 'zeta/model', weightsHash: H2 }] }),
            encodeWorkerConfig({ ...DOC, backend: 'remote', capacity: 100_000 }),
        ]) {
            const cert = await buildRaTlsCert({ keys, provider: tee, claims: honest.claims, quote: honest.quote, workerConfig: forged });
            expect(codeOf(() => verifier.verify(cert.der))).toBe('REPORT_DATA_MISMATCH');
        }
        // and claims rewritten to the forged document's hash no longer match the quote's REPORTDATA
        const forged = encodeWorkerConfig(DOC);
        const claims = encodeClaims({ ed25519PublicKey: keys.publicKeyRaw, workerConfigHash: workerConfigHash(forged) });
        const cert = await buildRaTlsCert({ keys, provider: tee, claims, quote: honest.quote, workerConfig: forged });
        expect(codeOf(() => verifier.verify(cert.der))).toBe('REPORT_DATA_MISMATCH');
    });

    it('attack: dropping the document from a version-2 certificate, or adding one to a version-1 one, is CERT_INVALID', async () => {
        const keys = await generateEd25519KeyPair();
        const v2 = await issueRaTlsCert({ keys, provider: tee, workerConfig: encodeWorkerConfig(DOC) });
        const dropped = await buildRaTlsCert({ keys, provider: tee, claims: v2.claims, quote: v2.quote });
        expect(codeOf(() => verifier.verify(dropped.der))).toBe('CERT_INVALID');
        const v1 = await issueRaTlsCert({ keys, provider: tee });
        const added = await buildRaTlsCert({ keys, provider: tee, claims: v1.claims, quote: v1.quote, workerConfig: encodeWorkerConfig(DOC) });
        expect(codeOf(() => verifier.verify(added.der))).toBe('CERT_INVALID');
    });

    it('attack: a non-canonical document whose hash the quote does bind is still CERT_INVALID', async () => {
        const keys = await generateEd25519KeyPair();
        const loose = Buffer.from(' ' + encodeWorkerConfig(DOC).toString());
        const claims = encodeClaims({ ed25519PublicKey: keys.publicKeyRaw, workerConfigHash: workerConfigHash(loose) });
        const { claimsReportData } = await import('../../../../agents/core/transport');
        const quote = await tee.getQuote(claimsReportData(claims));
        const cert = await buildRaTlsCert({ keys, provider: tee, claims, quote, workerConfig: loose });
        expect(codeOf(() => verifier.verify(cert.der))).toBe('CERT_INVALID');
    });
});

describe('the refusal rule (proxy and client)', () => {
    const doc = decodeWorkerConfig(encodeWorkerConfig(DOC));
    const reg = BigInt('0x' + H1);

    it('accepts the model with the weights Root registers, under either policy', () => {
        expect(workerConfigRefusal(doc, 'zeta/model', reg, PRODUCTION_WORKER_CONFIG_POLICY)).toBeNull();
        expect(workerConfigRefusal(doc, 'zeta/model', reg, SIMULATED_WORKER_CONFIG_POLICY)).toBeNull();
    });

    it('refuses other weights, a model not served, and no document at all, under either policy', () => {
        for (const p of [PRODUCTION_WORKER_CONFIG_POLICY, SIMULATED_WORKER_CONFIG_POLICY]) {
            expect(workerConfigRefusal(doc, 'zeta/model', BigInt('0x' + H2), p)).toMatch(/Root registers/);
            expect(workerConfigRefusal(doc, 'other/model', reg, p)).toMatch(/does not serve/);
            expect(workerConfigRefusal(undefined, 'zeta/model', reg, p)).toMatch(/no attested configuration/);
        }
    });

    it('unchecked weights and a remote backend pass only a policy that allows them (the simulated TEE), not production', () => {
        expect(workerConfigRefusal(doc, 'alpha/model', 0n, SIMULATED_WORKER_CONFIG_POLICY)).toBeNull();
        expect(workerConfigRefusal(doc, 'alpha/model', 0n, PRODUCTION_WORKER_CONFIG_POLICY)).toMatch(/did not check/);
        const remote = { ...doc, backend: 'remote' as const };
        expect(workerConfigRefusal(remote, 'zeta/model', reg, SIMULATED_WORKER_CONFIG_POLICY)).toBeNull();
        expect(workerConfigRefusal(remote, 'zeta/model', reg, PRODUCTION_WORKER_CONFIG_POLICY)).toMatch(/outside its TD/);
    });

    it("the default policy is production for Intel's root and lenient for another (simulated) root", () => {
        expect(workerConfigPolicyFor(INTEL_ROOT_KEY_ID)).toBe(PRODUCTION_WORKER_CONFIG_POLICY);
        expect(workerConfigPolicyFor('00'.repeat(48))).toBe(SIMULATED_WORKER_CONFIG_POLICY);
    });
});
