// GPU evidence verification on NVIDIA's real H100 vectors and on simulated evidence: every check, each attack with
// its own code.
import { createHash } from 'crypto';
import { readFileSync } from 'fs';
import { join } from 'path';
import { pemToDer } from '../../../../agents/core/tee/certs';
import { pemChainDers, verifyGpuChain } from '../../../../agents/core/tee/gpu/chain';
import { MAX_GPU_REPORT_BYTES, parseGpuReport } from '../../../../agents/core/tee/gpu/report';
import { verifyRim } from '../../../../agents/core/tee/gpu/rim';
import { NVIDIA_DEVICE_ROOT_PEM, NVIDIA_RIM_ROOT_PEM } from '../../../../agents/core/tee/gpu/roots';
import { SimulatedGpu, simulatedMeasurement } from '../../../../agents/core/tee/gpu/simulated';
import { compareMeasurements, GPU_NONCE_TAG, gpuNonceFor, verifyGpuEvidence } from '../../../../agents/core/tee/gpu/verify';
import { GpuErrorCodes, GpuPolicy } from '../../../../agents/core/tee/gpu/types';
import { codeOf } from './util';
import { deviceRootPem, nvidiaPolicy, REAL_NONCE, realChain, realReport, realRim, realRims, rimRootPem, T_GPU, T_RIM_EXPIRED } from './gpu-util';

const rimRoot = () => pemToDer(rimRootPem());

describe('NVIDIA H100 vectors', () => {
    it('the roots the CLI pins by default are the vector roots, byte for byte', () => {
        expect(pemToDer(NVIDIA_DEVICE_ROOT_PEM).equals(pemToDer(deviceRootPem()))).toBe(true);
        expect(pemToDer(NVIDIA_RIM_ROOT_PEM).equals(pemToDer(rimRootPem()))).toBe(true);
    });

    it('the device chain verifies to the device identity root at 2024-06-01: four certificates below the root', () => {
        const { chain, root } = verifyGpuChain(pemChainDers(realChain(), 'GPU_CHAIN_INVALID', 'chain'), pemToDer(deviceRootPem()), T_GPU, { invalid: 'GPU_CHAIN_INVALID', expired: 'GPU_CERT_EXPIRED' }, 'chain');
        expect(chain).toHaveLength(4);
        expect(chain[0].serial).toBe('53c22ba15e5d68088282da074ed9fb37aa585771');
        expect(root.serial).toBe('2d3670b1ca100411c1fec0e82a065b54');
    });

    it('every one of the 26 RIMs verifies (XML signature + chain to the RIM root) at 2024-06-01, with its version and 12 or 21 active golden values', () => {
        const rims = realRims();
        expect(rims).toHaveLength(26);
        for (const r of rims) {
            const v = verifyRim(r.xml, r.name, rimRoot(), T_GPU);
            expect(v.certificates).toHaveLength(3);
            expect(v.measurements.filter((m) => m.active)).toHaveLength(r.name.startsWith('Driver') ? 21 : 12);
            if (!r.name.startsWith('Driver')) expect(v.version).toBe(r.name.split('_')[3].replace(/(..)(..)(..)(..)(..)/, '$1.$2.$3.$4.$5').toLowerCase());
        }
        expect(verifyRim(realRim('Driver_RIM_test_no_gpu.swidtag').xml, 'driver', rimRoot(), T_GPU).version).toBe('545.00');
    });

    it('the report passes chain, nonce and signature, then names versions no vector RIM carries: GPU_RIM_MISSING for driver 550.90.07', () => {
        let err: any;
        try {
            verifyGpuEvidence(realReport(), realChain(), nvidiaPolicy({ nonce: REAL_NONCE }));
        } catch (e) {
            err = e;
        }
        expect(err.code).toBe('GPU_RIM_MISSING');
        expect(err.details).toEqual({ kind: 'driver', version: '550.90.07' });
        // attack: a RIM edited to claim the report's version no longer verifies.
        const fakeDriver = { name: 'x', xml: realRim('Driver_RIM_test_no_gpu.swidtag').xml.replace('colloquialVersion="545.00"', 'colloquialVersion="550.90.07"') };
        expect(codeOf(() => verifyGpuEvidence(realReport(), realChain(), nvidiaPolicy({ rims: [fakeDriver] })))).toBe('GPU_RIM_INVALID');
    });

    it('golden values of driver RIM 545.00 and VBIOS RIM 96.00.5E.00.01 against the report: 13 of 32 compared indexes match (index 35 skipped: NVDEC0 disabled)', () => {
        const driver = verifyRim(realRim('Driver_RIM_test_no_gpu.swidtag').xml, 'd', rimRoot(), T_GPU);
        const vbios = verifyRim(realRim('1010_0200_882_96005E0001_PROD.swidtag').xml, 'v', rimRoot(), T_GPU);
        const cmp = compareMeasurements(parseGpuReport(realReport()), driver.measurements, vbios.measurements);
        expect(parseGpuReport(realReport()).nvdec0Status).toBe(0x55);
        expect(cmp).toEqual({ matched: 13, total: 32, mismatches: [1, 2, 7, 9, 11, 21, 22, 25, 26, 27, 29, 30, 31, 32, 34, 36, 37, 39, 40] });
    });

    it('RIMs are refused after their signing certificates expired (2026-01-01): GPU_RIM_INVALID', () => {
        expect(codeOf(() => verifyRim(realRim('1010_0200_882_96005E0001_PROD.swidtag').xml, 'v', rimRoot(), T_RIM_EXPIRED))).toBe('GPU_RIM_INVALID');
    });
});

describe('attacks on real evidence, one code each', () => {
    const flip = (b: Buffer, at: number) => {
        const c = Buffer.from(b);
        c[at] ^= 0x01;
        return c;
    };
    const verifyReal = (report: Buffer, extra: Partial<GpuPolicy> = {}, chain = realChain()) => codeOf(() => verifyGpuEvidence(report, chain, nvidiaPolicy({ nonce: REAL_NONCE, ...extra })));

    it('attack: one byte of the signature changed: GPU_SIGNATURE_INVALID', () => {
        const r = realReport();
        expect(verifyReal(flip(r, r.length - 10))).toBe('GPU_SIGNATURE_INVALID');
    });

    it('attack: one byte of a measurement changed (firmware swapped, report edited): GPU_SIGNATURE_INVALID', () => {
        expect(verifyReal(flip(realReport(), 37 + 8 + 4 + 3 + 10))).toBe('GPU_SIGNATURE_INVALID');
    });

    it('attack: one byte of the request nonce changed, or an old report replayed for a new nonce: GPU_NONCE_MISMATCH', () => {
        expect(verifyReal(flip(realReport(), 4))).toBe('GPU_NONCE_MISMATCH');
        expect(verifyReal(realReport(), { nonce: Buffer.alloc(32, 1) })).toBe('GPU_NONCE_MISMATCH');
    });

    it('attack: one byte of an intermediate certificate changed: GPU_CHAIN_INVALID', () => {
        const ders = pemChainDers(realChain(), 'GPU_CHAIN_INVALID', 'chain');
        const bad = Buffer.from(ders[1]);
        bad[bad.length - 20] ^= 1; // inside the signature
        const pem = ders.map((d, i) => `-----BEGIN CERTIFICATE-----\n${(i === 1 ? bad : d).toString('base64')}\n-----END CERTIFICATE-----\n`).join('');
        expect(verifyReal(realReport(), {}, pem)).toBe('GPU_CHAIN_INVALID');
    });

    it('attack: a chain to a root the policy does not trust (the simulated root pinned instead): GPU_CHAIN_INVALID', async () => {
        const sim = await SimulatedGpu.create();
        expect(verifyReal(realReport(), { deviceRootPem: sim.deviceRootPem })).toBe('GPU_CHAIN_INVALID');
    });

    it('a time before the Provisioner CA was issued (2022-01-01): GPU_CERT_EXPIRED', () => {
        expect(verifyReal(realReport(), { at: new Date('2022-01-01T00:00:00Z') })).toBe('GPU_CERT_EXPIRED');
    });

    it('the leaf serial listed as revoked: GPU_CERT_REVOKED; revocation is reported as not checked by default', () => {
        expect(verifyReal(realReport(), { revoked: { serials: ['53C22BA15E5D68088282DA074ED9FB37AA585771'] } })).toBe('GPU_CERT_REVOKED');
    });

    it('attack: one golden digest of a RIM changed (the payload no longer matches its DigestValue): GPU_RIM_INVALID', () => {
        const r = realRim('1010_0200_882_96005E0001_PROD.swidtag');
        const xml = r.xml.replace('ns2:Hash0="c3f65ef7', 'ns2:Hash0="c3f65ef8');
        expect(xml).not.toBe(r.xml);
        expect(codeOf(() => verifyRim(xml, r.name, rimRoot(), T_GPU))).toBe('GPU_RIM_INVALID');
        const digest = r.xml.replace(/<ds:DigestValue>(.)/, (_m, c) => `<ds:DigestValue>${c === 'A' ? 'B' : 'A'}`);
        expect(codeOf(() => verifyRim(digest, r.name, rimRoot(), T_GPU))).toBe('GPU_RIM_INVALID');
    });

    it('attack: a RIM checked against another root (the device root) is refused: GPU_RIM_INVALID', () => {
        const r = realRim('Driver_RIM_test_no_gpu.swidtag');
        expect(codeOf(() => verifyRim(r.xml, r.name, pemToDer(deviceRootPem()), T_GPU))).toBe('GPU_RIM_INVALID');
    });

    it('attack: a RIM claiming a version, signed by another key with NVIDIA chain certificates kept: GPU_RIM_INVALID', async () => {
        const sim = await SimulatedGpu.create();
        const forged = sim.rim('96.00.9F.00.01', 0, 8);
        const nvidiaCerts = realRim('Driver_RIM_test_no_gpu.swidtag').xml.match(/<ds:X509Data>[\s\S]*<\/ds:X509Data>/)![0];
        const xml = forged.replace(/<ds:X509Data>[\s\S]*<\/ds:X509Data>/, nvidiaCerts);
        expect(codeOf(() => verifyRim(xml, 'forged', rimRoot(), T_GPU))).toBe('GPU_RIM_INVALID');
        // And signed by its own (simulated) chain, it does not reach NVIDIA's root either.
        expect(codeOf(() => verifyRim(forged, 'forged', rimRoot(), T_GPU))).toBe('GPU_RIM_INVALID');
    });

    it('attack: XML tricks in a RIM (entity declarations, a second Signature, xml:* attributes, 300 KiB): GPU_RIM_INVALID', () => {
        const r = realRim('Driver_RIM_test_no_gpu.swidtag');
        const dtd = `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>${r.xml}`;
        const sig = r.xml.match(/<ds:Signature[\s\S]*<\/ds:Signature>/)![0];
        const twice = r.xml.replace('</SoftwareIdentity>', `${sig}</SoftwareIdentity>`);
        const xmlAttr = r.xml.replace('<ns0:Payload', '<ns0:Payload xml:id="p"');
        const big = r.xml.replace('</SoftwareIdentity>', `<!--${'x'.repeat(300 * 1024)}--></SoftwareIdentity>`);
        for (const xml of [dtd, twice, xmlAttr, big, '', 'not xml', '<a/>']) expect(codeOf(() => verifyRim(xml, r.name, rimRoot(), T_GPU))).toBe('GPU_RIM_INVALID');
    });

    it('a malformed policy is GPU_POLICY_INVALID, not a verdict', () => {
        expect(verifyReal(realReport(), { deviceRootPem: 'nope' })).toBe('GPU_POLICY_INVALID');
        expect(verifyReal(realReport(), { nonce: Buffer.alloc(5) })).toBe('GPU_POLICY_INVALID');
        expect(verifyReal(realReport(), { at: new Date('x') })).toBe('GPU_POLICY_INVALID');
        expect(verifyReal(realReport(), { revoked: { serials: ['zz'] } })).toBe('GPU_POLICY_INVALID');
    });
});

describe('simulated GPU evidence', () => {
    let gpu: SimulatedGpu;
    beforeAll(async () => {
        gpu = await SimulatedGpu.create();
    });
    const simPolicy = (extra: Partial<GpuPolicy> = {}): GpuPolicy => ({ deviceRootPem: gpu.deviceRootPem, rimRootPem: gpu.rimRootPem, at: new Date(), rims: gpu.rims(), ...extra });

    it('round-trips: accepted under the simulated roots, 16 of 16 golden values matched, versions and chains in the verdict', () => {
        const nonce = gpuNonceFor(Buffer.from('worker RA-TLS key A'));
        const v = verifyGpuEvidence(gpu.report(nonce), gpu.chainPem, simPolicy({ nonce }));
        expect(v.measurements).toEqual({ matched: 16, total: 16, mismatches: [] });
        expect(v).toMatchObject({ driverVersion: '550.90.07', vbiosVersion: '96.00.9f.00.01', project: '1010', projectSku: '0200', chipSku: '882', nonce: nonce.toString('hex'), nonceChecked: true, revocation: 'not-checked' });
        expect(v.certificates.device.map((c) => c.subject.split(',')[0])).toEqual(['CN=SIMULATED GPU Attestation Key', 'CN=SIMULATED GPU Provisioner CA']);
        expect(v.rims.driver.name).toBe('SIMULATED_DRIVER_550.90.07.swidtag');
    });

    it('attack: simulated evidence under a production policy (NVIDIA roots): GPU_CHAIN_INVALID', () => {
        const nonce = Buffer.alloc(32, 2);
        expect(codeOf(() => verifyGpuEvidence(gpu.report(nonce), gpu.chainPem, { ...simPolicy(), deviceRootPem: NVIDIA_DEVICE_ROOT_PEM, rimRootPem: NVIDIA_RIM_ROOT_PEM }))).toBe('GPU_CHAIN_INVALID');
        // Trusting the simulated device root but NVIDIA's RIM root: the simulated RIMs are refused.
        expect(codeOf(() => verifyGpuEvidence(gpu.report(nonce), gpu.chainPem, { ...simPolicy(), rimRootPem: NVIDIA_RIM_ROOT_PEM }))).toBe('GPU_RIM_INVALID');
    });

    it('attack: a GPU running other firmware at block 3 (honestly signed): GPU_MEASUREMENT_MISMATCH naming golden index 2', () => {
        const nonce = Buffer.alloc(32, 3);
        let err: any;
        try {
            verifyGpuEvidence(gpu.report(nonce, { measurements: { 3: createHash('sha384').update('evil').digest() } }), gpu.chainPem, simPolicy());
        } catch (e) {
            err = e;
        }
        expect(err.code).toBe('GPU_MEASUREMENT_MISMATCH');
        expect(err.details).toEqual({ mismatches: [2], matched: 15, total: 16 });
    });

    it('a RIM listing two alternatives accepts either; a RIM for the wrong version is not chosen (GPU_RIM_MISSING)', () => {
        const evil = createHash('sha384').update('alt').digest();
        const alt = gpu.rim('550.90.07', 0, 8, (i) => (i === 2 ? evil : simulatedMeasurement(i + 1)));
        const vbios = gpu.rims()[1];
        const nonce = Buffer.alloc(32, 4);
        const report = gpu.report(nonce, { measurements: { 3: evil } });
        expect(verifyGpuEvidence(report, gpu.chainPem, simPolicy({ rims: [{ name: 'alt', xml: alt }, vbios] })).measurements.matched).toBe(16);
        expect(codeOf(() => verifyGpuEvidence(report, gpu.chainPem, simPolicy({ rims: [vbios] })))).toBe('GPU_RIM_MISSING');
        expect(codeOf(() => verifyGpuEvidence(report, gpu.chainPem, simPolicy({ rims: [gpu.rims()[0]] })))).toBe('GPU_RIM_MISSING');
    });

    it('attack: two RIMs claiming the same active golden index: GPU_MEASUREMENT_MISMATCH (conflict)', () => {
        const driver = gpu.rim('550.90.07', 0, 9); // overlaps the VBIOS RIM at index 8
        expect(codeOf(() => verifyGpuEvidence(gpu.report(Buffer.alloc(32)), gpu.chainPem, simPolicy({ rims: [{ name: 'd', xml: driver }, gpu.rims()[1]] })))).toBe('GPU_MEASUREMENT_MISMATCH');
    });

    it('attack 13.3 binding: evidence made for TD A (nonce from its key) presented for TD B: GPU_NONCE_MISMATCH', () => {
        const keyA = Buffer.from('04' + 'aa'.repeat(64), 'hex');
        const keyB = Buffer.from('04' + 'bb'.repeat(64), 'hex');
        expect(gpuNonceFor(keyA).equals(gpuNonceFor(keyB))).toBe(false);
        expect(gpuNonceFor(keyA).equals(gpuNonceFor(keyA))).toBe(true);
        expect(gpuNonceFor(keyA, Buffer.from('challenge 1')).equals(gpuNonceFor(keyA, Buffer.from('challenge 2')))).toBe(false);
        const report = gpu.report(gpuNonceFor(keyA));
        expect(verifyGpuEvidence(report, gpu.chainPem, simPolicy({ nonce: gpuNonceFor(keyA) })).nonceChecked).toBe(true);
        expect(codeOf(() => verifyGpuEvidence(report, gpu.chainPem, simPolicy({ nonce: gpuNonceFor(keyB) })))).toBe('GPU_NONCE_MISMATCH');
    });

    it("attack: a report from one GPU with another GPU's chain: GPU_SIGNATURE_INVALID, or GPU_CHAIN_INVALID when the firmware (FWID) differs", async () => {
        const twin = await SimulatedGpu.create();
        const other = await SimulatedGpu.create({ firmware: 'other' });
        const report = gpu.report(Buffer.alloc(32));
        expect(codeOf(() => verifyGpuEvidence(report, twin.chainPem, simPolicy({ deviceRootPem: twin.deviceRootPem })))).toBe('GPU_SIGNATURE_INVALID');
        expect(codeOf(() => verifyGpuEvidence(report, other.chainPem, simPolicy({ deviceRootPem: other.deviceRootPem })))).toBe('GPU_CHAIN_INVALID');
    });

    it("the RIM signer's serial listed as revoked: GPU_CERT_REVOKED; an unrelated serial changes nothing (revocation: checked)", () => {
        const signer = verifyRim(gpu.rims()[0].xml, 'd', pemToDer(gpu.rimRootPem), new Date()).certificates[0].serial;
        const nonce = Buffer.alloc(32, 5);
        expect(codeOf(() => verifyGpuEvidence(gpu.report(nonce), gpu.chainPem, simPolicy({ revoked: { serials: [signer.toUpperCase()] } })))).toBe('GPU_CERT_REVOKED');
        expect(verifyGpuEvidence(gpu.report(nonce), gpu.chainPem, simPolicy({ revoked: { serials: ['01'] } })).revocation).toBe('checked');
    });

    it('certificates outside their validity at policy.at: GPU_CERT_EXPIRED', async () => {
        const old = await SimulatedGpu.create({ notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
        expect(codeOf(() => verifyGpuEvidence(old.report(Buffer.alloc(32)), old.chainPem, { deviceRootPem: old.deviceRootPem, rimRootPem: old.rimRootPem, at: new Date('2022-01-01T00:00:00Z'), rims: old.rims() }))).toBe('GPU_CERT_EXPIRED');
    });
});

describe('spec/attestation.md "GPU evidence"', () => {
    const spec = readFileSync(join(__dirname, '../../../../spec/attestation.md'), 'utf8');
    const section = spec.slice(spec.indexOf('\n## GPU evidence\n'));

    it.each([...GpuErrorCodes])('documents %s once in the GPU error table', (code) => {
        expect(spec.indexOf('\n## GPU evidence\n')).toBeGreaterThan(0);
        expect(section.match(new RegExp(`^\\| \`${code}\` \\|`, 'gm'))).toHaveLength(1);
    });

    it('states the size cap and the nonce tag the code uses', () => {
        expect(MAX_GPU_REPORT_BYTES).toBe(64 * 1024);
        expect(section).toContain('**64 KiB**');
        expect(section).toContain(`"${GPU_NONCE_TAG}"`);
    });
});
