// GPU evidence in the chain of evidence (spec/attestation.md): the bundle a worker's certificate carries (extension
// 1.3.6.1.4.1.12345.4) on hostile bytes, its binding through the worker configuration into the quote, the worker's
// command source on hostile commands, and the peers' cached check (nonce = gpuNonceFor(certificate key)).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import fc from 'fast-check';
import { AttestationError } from '../../../../agents/core/tee/types';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { imageHash } from '../../../../agents/core/tee/image';
import { buildRaTlsCert, encodeClaims, encodeWorkerConfig, generateEd25519KeyPair, issueRaTlsCert, PeerVerifier, WorkerConfigDoc, workerConfigHash } from '../../../../agents/core/transport';
import { claimsReportData } from '../../../../agents/core/transport/claims';
import { decodeGpuBundle, encodeGpuBundle, gpuBundleHash, GpuEvidence, MAX_BUNDLE_REPORT_BYTES, MAX_GPU_BUNDLE_BYTES, MAX_GPUS } from '../../../../agents/core/tee/gpu/bundle';
import { GpuEvidenceChecker, gpuRefusal } from '../../../../agents/core/tee/gpu/check';
import { CommandGpuSource, MAX_GPU_COMMAND_OUTPUT_BYTES, SimulatedGpuSource } from '../../../../agents/core/tee/gpu/source';
import { MAX_CERT_BYTES } from '../../../../agents/core/transport/cert';
import { MAX_ATTESTATION_BYTES } from '../../../../agents/core/wire/fields';
import { SimulatedGpu, simulatedMeasurement } from '../../../../agents/core/tee/gpu/simulated';
import { gpuNonceFor } from '../../../../agents/core/tee/gpu/verify';
import { GpuAttestationError } from '../../../../agents/core/tee/gpu/types';
import { realChain, realReport } from './gpu-util';

function codeOf(f: () => unknown): string {
    try {
        f();
    } catch (e) {
        if (e instanceof GpuAttestationError || e instanceof AttestationError) return e.code;
        throw e;
    }
    return 'OK';
}

async function asyncCodeOf(p: Promise<unknown>): Promise<string> {
    try {
        await p;
    } catch (e) {
        if (e instanceof GpuAttestationError) return e.code;
        throw e;
    }
    return 'OK';
}

let gpu: SimulatedGpu;
beforeAll(async () => {
    gpu = await SimulatedGpu.create();
});

const trustOf = (g: SimulatedGpu) => ({ deviceRootPem: g.deviceRootPem, rimRootPem: g.rimRootPem, rims: g.rims() });

describe('GPU evidence bundle (extension 1.3.6.1.4.1.12345.4)', () => {
    const item = (): GpuEvidence => ({ report: gpu.report(Buffer.alloc(32, 1)), chainPem: gpu.chainPem });

    it('round-trips 1 and 8 GPUs byte for byte', () => {
        for (const n of [1, MAX_GPUS]) {
            const items = Array.from({ length: n }, item);
            const b = encodeGpuBundle(items);
            const back = decodeGpuBundle(b);
            expect(back).toHaveLength(n);
            back.forEach((e, i) => {
                expect(e.report.equals(items[i].report)).toBe(true);
                expect(e.chainPem).toBe(items[i].chainPem);
            });
            expect(encodeGpuBundle(back).equals(b)).toBe(true);
        }
    });

    it("fits real evidence: eight copies of NVIDIA's H100 report and chain round-trip within the bounds", () => {
        const real = { report: realReport(), chainPem: realChain() };
        const b = encodeGpuBundle(Array.from({ length: MAX_GPUS }, () => real));
        expect(b.length).toBeLessThan(MAX_GPU_BUNDLE_BYTES);
        expect(decodeGpuBundle(b)[7].report.equals(real.report)).toBe(true);
    });

    it('refuses out-of-bounds inputs to the encoder: no GPU, nine GPUs, an oversized report, a chain that is not text', () => {
        expect(codeOf(() => encodeGpuBundle([]))).toBe('GPU_EVIDENCE_MALFORMED');
        expect(codeOf(() => encodeGpuBundle(Array.from({ length: MAX_GPUS + 1 }, item)))).toBe('GPU_EVIDENCE_MALFORMED');
        expect(codeOf(() => encodeGpuBundle([{ report: Buffer.alloc(MAX_BUNDLE_REPORT_BYTES + 1), chainPem: gpu.chainPem }]))).toBe('GPU_EVIDENCE_MALFORMED');
        expect(codeOf(() => encodeGpuBundle([{ report: Buffer.alloc(10), chainPem: 'bin\x00ary' }]))).toBe('GPU_EVIDENCE_MALFORMED');
    });

    it('attack: hostile bundles (wrong version, count 0 or 9, lengths past the end, trailing bytes, oversize) are typed errors', () => {
        const good = encodeGpuBundle([item()]);
        const cases: Buffer[] = [
            Buffer.alloc(0),
            Buffer.from([1]),
            Buffer.concat([Buffer.from([2]), good.subarray(1)]),
            Buffer.concat([Buffer.from([1, 0]), good.subarray(2)]),
            Buffer.concat([Buffer.from([1, 9]), good.subarray(2)]),
            Buffer.concat([Buffer.from([1, 2]), good.subarray(2)]), // says two GPUs, holds one
            Buffer.concat([good, Buffer.from([0])]),
            good.subarray(0, good.length - 1),
            Buffer.from([1, 1, 0xff, 0xff]),
            Buffer.from([1, 1, 0, 0]),
            Buffer.alloc(MAX_GPU_BUNDLE_BYTES + 1, 1),
        ];
        for (const b of cases) expect(codeOf(() => decodeGpuBundle(b))).toBe('GPU_EVIDENCE_MALFORMED');
    });

    it('fuzz: 3,000 random and mutated bundles decode or fail typed, never crash', () => {
        const good = encodeGpuBundle([item(), item()]);
        fc.assert(
            fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(good.length)).map(([i, v, cut]) => {
                const b = Buffer.from(good);
                b[i] = v;
                return b.subarray(0, Math.max(cut, 2));
            })), (bytes) => {
                const code = codeOf(() => decodeGpuBundle(Buffer.from(bytes)));
                expect(['OK', 'GPU_EVIDENCE_MALFORMED']).toContain(code);
            }),
            { numRuns: 3000 },
        );
    });
});

describe('the bundle is bound into the quote through the worker configuration', () => {
    let tee: SimulatedTee;
    let verifier: PeerVerifier;

    beforeAll(async () => {
        tee = await SimulatedTee.create();
        const allowed = imageHash(tee.measurements).toString('hex');
        verifier = new PeerVerifier({ quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (x) => x === allowed });
    });

    const doc = (gpuEvidence?: string): WorkerConfigDoc => ({ version: gpuEvidence ? 2 : 1, backend: 'loopback', capacity: 2, models: [{ name: 'm', weightsHash: null }], ...(gpuEvidence ? { gpuEvidence } : {}) });

    it('an honest worker certificate carries the bundle and the peer hands it over (not yet verified)', async () => {
        const keys = await generateEd25519KeyPair();
        const bundle = encodeGpuBundle([{ report: gpu.report(gpuNonceFor(keys.publicKeyRaw)), chainPem: gpu.chainPem }]);
        const cert = await issueRaTlsCert({ keys, provider: tee, workerConfig: encodeWorkerConfig(doc(gpuBundleHash(bundle))), gpuEvidence: bundle });
        const a = verifier.verify(cert.der);
        expect(a.workerConfig?.gpuEvidence).toBe(gpuBundleHash(bundle));
        expect(a.gpuEvidence?.equals(bundle)).toBe(true);
    });

    it('attack: evidence swapped after the quote, dropped, or added without a name in the configuration is refused', async () => {
        const keys = await generateEd25519KeyPair();
        const bundle = encodeGpuBundle([{ report: gpu.report(gpuNonceFor(keys.publicKeyRaw)), chainPem: gpu.chainPem }]);
        const other = encodeGpuBundle([{ report: gpu.report(gpuNonceFor(keys.publicKeyRaw)), chainPem: gpu.chainPem }]);
        const workerConfig = encodeWorkerConfig(doc(gpuBundleHash(bundle)));
        const honest = await issueRaTlsCert({ keys, provider: tee, workerConfig, gpuEvidence: bundle });
        const swapped = await buildRaTlsCert({ keys, provider: tee, claims: honest.claims, quote: honest.quote, workerConfig, gpuEvidence: other });
        expect(codeOf(() => verifier.verify(swapped.der))).toBe('REPORT_DATA_MISMATCH');
        const dropped = await buildRaTlsCert({ keys, provider: tee, claims: honest.claims, quote: honest.quote, workerConfig });
        expect(codeOf(() => verifier.verify(dropped.der))).toBe('CERT_INVALID');
        const v1 = await issueRaTlsCert({ keys, provider: tee, workerConfig: encodeWorkerConfig(doc()) });
        const added = await buildRaTlsCert({ keys, provider: tee, claims: v1.claims, quote: v1.quote, workerConfig: v1.workerConfig, gpuEvidence: bundle });
        expect(codeOf(() => verifier.verify(added.der))).toBe('CERT_INVALID');
    });

    it('attack: a malformed bundle the quote does bind is CERT_INVALID, not a crash', async () => {
        const keys = await generateEd25519KeyPair();
        const junk = Buffer.from([1, 1, 0, 5, 1, 2]);
        const workerConfig = encodeWorkerConfig(doc(gpuBundleHash(junk)));
        const claims = encodeClaims({ ed25519PublicKey: keys.publicKeyRaw, workerConfigHash: workerConfigHash(workerConfig) });
        const cert = await buildRaTlsCert({ keys, provider: tee, claims, quote: await tee.getQuote(claimsReportData(claims)), workerConfig, gpuEvidence: junk });
        expect(codeOf(() => verifier.verify(cert.der))).toBe('CERT_INVALID');
    });

    it('a version-2 document must name a hash and a version-1 document must not', () => {
        expect(codeOf(() => encodeWorkerConfig({ ...doc(), version: 2 }))).toBe('CERT_INVALID');
        expect(codeOf(() => encodeWorkerConfig({ ...doc(), gpuEvidence: 'ab'.repeat(32) }))).toBe('CERT_INVALID');
        expect(encodeWorkerConfig(doc('ab'.repeat(32))).toString()).toBe(`{"backend":"loopback","capacity":2,"gpuEvidence":"${'ab'.repeat(32)}","models":[{"name":"m","weightsHash":null}],"version":2}`);
    });
});

describe("the peers' GPU check (GpuEvidenceChecker, gpuRefusal)", () => {
    const key = Buffer.alloc(32, 7);
    const bundleFor = (k: Buffer, g = gpu, opts = {}) => encodeGpuBundle([{ report: g.report(gpuNonceFor(k), opts), chainPem: g.chainPem }]);

    it('accepts evidence made for the key, and reuses the verdict (no second XML-DSig run)', () => {
        const checker = new GpuEvidenceChecker(trustOf(gpu));
        const b = bundleFor(key);
        expect(checker.verify(b, key)).toHaveLength(1);
        expect(checker.verify(b, key)[0].measurements.mismatches).toEqual([]);
        expect(checker.verifications).toBe(1);
    });

    it('attack: evidence made for another TD key is GPU_NONCE_MISMATCH', () => {
        const checker = new GpuEvidenceChecker(trustOf(gpu));
        expect(gpuRefusal({ gpuEvidence: bundleFor(Buffer.alloc(32, 8)), cert: { publicKey: key } }, true, checker)?.gpuCode).toBe('GPU_NONCE_MISMATCH');
    });

    it('attack: a tampered measurement is GPU_MEASUREMENT_MISMATCH; a GPU of another PKI GPU_CHAIN_INVALID', async () => {
        const checker = new GpuEvidenceChecker(trustOf(gpu));
        const tampered = bundleFor(key, gpu, { measurements: { 3: simulatedMeasurement(4) } });
        expect(gpuRefusal({ gpuEvidence: tampered, cert: { publicKey: key } }, true, checker)?.gpuCode).toBe('GPU_MEASUREMENT_MISMATCH');
        const stranger = await SimulatedGpu.create();
        expect(gpuRefusal({ gpuEvidence: bundleFor(key, stranger), cert: { publicKey: key } }, true, checker)?.gpuCode).toBe('GPU_CHAIN_INVALID');
    });

    it('requires evidence only when the model does; no evidence for a model that requires it is refused without a GPU code', () => {
        const checker = new GpuEvidenceChecker(trustOf(gpu));
        expect(gpuRefusal({ cert: { publicKey: key } }, false, checker)).toBeNull();
        expect(gpuRefusal({ cert: { publicKey: key } }, true, checker)).toEqual({ message: expect.stringContaining('carries none') });
    });

    it('fails closed when the clock of trust has no time', () => {
        const checker = new GpuEvidenceChecker(trustOf(gpu), {
            clock: () => {
                throw new AttestationError('CHAIN_TIME_UNAVAILABLE', 'no chain time');
            },
        });
        expect(gpuRefusal({ gpuEvidence: bundleFor(key), cert: { publicKey: key } }, true, checker)?.gpuCode).toBe('CHAIN_TIME_UNAVAILABLE');
    });

    it('the default trust (NVIDIA roots, no RIMs) refuses simulated evidence', () => {
        expect(gpuRefusal({ gpuEvidence: bundleFor(key), cert: { publicKey: key } }, true, new GpuEvidenceChecker())?.gpuCode).toBe('GPU_CHAIN_INVALID');
    });

    it('a simulated GPU kept in a file is the same PKI when loaded again', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'cocoon-gpu-'));
        try {
            const a = await SimulatedGpu.loadOrCreate(join(dir, 'gpu.json'));
            const b = await SimulatedGpu.loadOrCreate(join(dir, 'gpu.json'));
            expect(b.chainPem).toBe(a.chainPem);
            const checker = new GpuEvidenceChecker(trustOf(a));
            expect(checker.verify(encodeGpuBundle(await new SimulatedGpuSource(b, 2).evidence(gpuNonceFor(key))), key)).toHaveLength(2);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("the worker's GPU command (CommandGpuSource)", () => {
    let dir: string;
    const script = (name: string, body: string) => {
        const p = join(dir, name);
        writeFileSync(p, `#!/bin/sh\n${body}\n`);
        chmodSync(p, 0o755);
        return p;
    };
    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-gpu-cmd-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('gets the nonce as its last argument and its JSON lines become evidence the peer accepts', async () => {
        const key = Buffer.alloc(32, 3);
        const nonce = gpuNonceFor(key);
        const line = JSON.stringify({ report: gpu.report(nonce).toString('base64'), chain: gpu.chainPem });
        writeFileSync(join(dir, 'line.json'), line + '\n' + line + '\n');
        const p = script('ok.sh', `[ "$2" = "${nonce.toString('hex')}" ] || exit 3\ncat ${join(dir, 'line.json')}`);
        const items = await new CommandGpuSource({ command: [p, 'extra-arg'], count: 2 }).evidence(nonce);
        expect(items).toHaveLength(2);
        expect(new GpuEvidenceChecker(trustOf(gpu)).verify(encodeGpuBundle(items), key)).toHaveLength(2);
    });

    it('attack: a failing, hanging, flooding, lying or missing command is GPU_EVIDENCE_UNAVAILABLE', async () => {
        const nonce = Buffer.alloc(32);
        const cases: [string[], number?][] = [
            [[script('fail.sh', 'exit 1')]],
            [[script('hang.sh', 'sleep 30')]],
            [[script('flood.sh', 'yes AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')]],
            [[script('garbage.sh', 'echo not json')]],
            [[script('shape.sh', `echo '{"report": 5, "chain": "x"}'`)]],
            [[script('b64.sh', `echo '{"report": "!!!!", "chain": "x"}'`)]],
            [[script('empty.sh', 'true')]],
            [[script('count.sh', `echo '{"report": "AAAA", "chain": "x"}'`)], 2],
            [[join(dir, 'does-not-exist')]],
        ];
        for (const [command, count] of cases) {
            expect(await asyncCodeOf(new CommandGpuSource({ command, count, timeoutMs: 500 }).evidence(nonce))).toBe('GPU_EVIDENCE_UNAVAILABLE');
        }
    });
});

describe('spec/attestation.md "GPU evidence in the chain of evidence"', () => {
    const spec = readFileSync(join(__dirname, '../../../../spec/attestation.md'), 'utf8');
    const section = spec.slice(spec.indexOf('\n## GPU evidence in the chain of evidence\n'));

    it('states the bounds the code uses', () => {
        expect(spec.indexOf('\n## GPU evidence in the chain of evidence\n')).toBeGreaterThan(0);
        expect([MAX_GPUS, MAX_BUNDLE_REPORT_BYTES, MAX_GPU_BUNDLE_BYTES, MAX_CERT_BYTES, MAX_ATTESTATION_BYTES]).toEqual([8, 16384, 80 * 1024, 128 * 1024, 128 * 1024]);
        expect(section).toContain('| 1 | 1 | n = number of GPUs, 1..8 |');
        expect(section).toContain('at most 80 KiB');
        expect(section).toContain('128 KiB');
        expect(Math.round(MAX_GPU_COMMAND_OUTPUT_BYTES / 1024 / 10) * 10).toBe(430);
        expect(section).toContain('~430 KiB');
    });
});
