// `cocoon attest verify-gpu` run in-process with captured output: JSON fields and exit status on NVIDIA's vectors,
// on simulated evidence written to files, and on bad command lines and hostile files.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { main } from '../../../../agents/cli';
import { attestVerifyGpuCommand } from '../../../../agents/core/tee/gpu/cli';
import { SimulatedGpu } from '../../../../agents/core/tee/gpu/simulated';
import { gpuVectorPath } from '../../../../fixtures/vectors';
import { REAL_NONCE } from './gpu-util';
import { capture } from '../../../helpers/io';


const report = () => gpuVectorPath('hopperAttestationReport.txt');
const chain = () => gpuVectorPath('hopperCertChain.txt');
const rims = () => gpuVectorPath('rims');

describe('attest verify-gpu on the NVIDIA vectors', () => {
    it('at 2024-06-01 with the right nonce: exit 1, GPU_RIM_MISSING for driver 550.90.07, versions and nonce printed', async () => {
        const io = capture();
        const status = await main(['attest', 'verify-gpu', report(), '--chain', chain(), '--rims', rims(), '--at', '2024-06-01T00:00:00Z', '--nonce', REAL_NONCE.toString('hex')], io);
        expect(status).toBe(1);
        const j = io.json();
        expect(j).toMatchObject({ verdict: 'rejected', driverVersion: '550.90.07', vbiosVersion: '96.00.9f.00.01', nonce: REAL_NONCE.toString('hex'), nonceChecked: true, revocation: 'not-checked', rimsGiven: 26, at: '2024-06-01T00:00:00.000Z' });
        expect(j.error.code).toBe('GPU_RIM_MISSING');
        // The device chain passed before the RIM step: its four certificates below the root are printed.
        expect(j.certificates.device.map((c: { subject: string }) => c.subject.match(/CN=([^,]+)/)![1])).toEqual(['GH100 A01 GSP FMC LF', 'GH100 A01 GSP BROM', 'NVIDIA GH100 Provisioner ICA 1', 'NVIDIA GH100 Identity']);
        expect(j.measurements).toBeNull();
    });

    it('a wrong --nonce: exit 1, GPU_NONCE_MISMATCH; a revoked leaf: GPU_CERT_REVOKED', async () => {
        const base = [report(), '--chain', chain(), '--rims', rims(), '--at', '2024-06-01T00:00:00Z'];
        let io = capture();
        expect(await attestVerifyGpuCommand([...base, '--nonce', '00'.repeat(32)], io)).toBe(1);
        expect(io.json().error.code).toBe('GPU_NONCE_MISMATCH');
        io = capture();
        expect(await attestVerifyGpuCommand([...base, '--revoked', '53c22ba15e5d68088282da074ed9fb37aa585771'], io)).toBe(1);
        expect(io.json()).toMatchObject({ revocation: 'checked', error: { code: 'GPU_CERT_REVOKED' } });
    });

    it('bad command lines: exit 2 with the usage, nothing verified', async () => {
        const cases: string[][] = [
            [report(), '--rims', rims()],
            [report(), '--chain', chain()],
            [report(), '--chain', chain(), '--rims', rims(), '--nonce', 'abc'],
            [report(), '--chain', chain(), '--rims', rims(), '--at', 'yesterday'],
            [report(), '--chain', chain(), '--rims', rims(), '--revoked', 'xyz'],
            ['--chain', chain(), '--rims', rims()],
            [report(), '--chain', chain(), '--rims', '/nonexistent-dir'],
            ['/nonexistent-report', '--chain', chain(), '--rims', rims()],
            [report(), '--chain', chain(), '--rims', rims(), '--bogus'],
        ];
        for (const argv of cases) {
            const io = capture();
            expect(await attestVerifyGpuCommand(argv, io)).toBe(2);
            expect(io.out).toBe('');
            expect(io.err).toContain('usage: cocoon attest verify-gpu');
        }
    });
});

describe('attest verify-gpu on simulated evidence in files', () => {
    let dir: string;
    let gpu: SimulatedGpu;
    const nonce = Buffer.alloc(32, 9);
    beforeAll(async () => {
        gpu = await SimulatedGpu.create();
        dir = mkdtempSync(join(tmpdir(), 'cocoon-gpu-cli-'));
        mkdirSync(join(dir, 'rims'));
        for (const r of gpu.rims()) writeFileSync(join(dir, 'rims', r.name), r.xml);
        writeFileSync(join(dir, 'report.hex'), gpu.report(nonce).toString('hex') + '\n');
        writeFileSync(join(dir, 'report.bin'), gpu.report(nonce));
        writeFileSync(join(dir, 'chain.pem'), gpu.chainPem);
        writeFileSync(join(dir, 'device-root.pem'), gpu.deviceRootPem);
        writeFileSync(join(dir, 'rim-root.pem'), gpu.rimRootPem);
        writeFileSync(join(dir, 'garbage'), '<script>alert(1)</script>');
        writeFileSync(join(dir, 'other-firmware.bin'), gpu.report(nonce, { measurements: { 5: Buffer.alloc(48, 0xee) } }));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const args = (file: string, extra: string[] = []) => [join(dir, file), '--chain', join(dir, 'chain.pem'), '--rims', join(dir, 'rims'), '--device-root', join(dir, 'device-root.pem'), '--rim-root', join(dir, 'rim-root.pem'), ...extra];

    it.each(['report.hex', 'report.bin'])('%s with the simulated roots: exit 0, accepted, 16 of 16 matched', async (file) => {
        const io = capture();
        expect(await attestVerifyGpuCommand(args(file, ['--nonce', nonce.toString('hex')]), io)).toBe(0);
        const j = io.json();
        expect(j).toMatchObject({ verdict: 'accepted', error: null, driverVersion: '550.90.07', vbiosVersion: '96.00.9f.00.01', measurements: { matched: 16, total: 16, mismatches: [] } });
        expect(j.certificates.device).toHaveLength(2);
        expect(j.certificates.driverRim[0].subject).toContain('SIMULATED RIM Signer');
    });

    it('a GPU running other firmware at block 5: exit 1, GPU_MEASUREMENT_MISMATCH, 15 of 16 matched, golden index 4 named', async () => {
        const io = capture();
        expect(await attestVerifyGpuCommand(args('other-firmware.bin'), io)).toBe(1);
        expect(io.json()).toMatchObject({ verdict: 'rejected', error: { code: 'GPU_MEASUREMENT_MISMATCH' }, measurements: { matched: 15, total: 16, mismatches: [4] } });
    });

    it('the same evidence with the default (NVIDIA) roots: exit 1, GPU_CHAIN_INVALID', async () => {
        const io = capture();
        expect(await attestVerifyGpuCommand([join(dir, 'report.hex'), '--chain', join(dir, 'chain.pem'), '--rims', join(dir, 'rims')], io)).toBe(1);
        expect(io.json().error.code).toBe('GPU_CHAIN_INVALID');
    });

    it('attack: a hostile report file (markup): exit 1, GPU_REPORT_MALFORMED, and the JSON output carries no markup from it', async () => {
        const io = capture();
        expect(await attestVerifyGpuCommand(args('garbage'), io)).toBe(1);
        expect(io.json().error.code).toBe('GPU_REPORT_MALFORMED');
        expect(io.out).not.toContain('<script>');
    });

    it('attack: a RIM directory holding a 300 KiB file: exit 2 before anything is verified', async () => {
        const big = join(dir, 'big-rims');
        mkdirSync(big);
        writeFileSync(join(big, 'huge.xml'), 'x'.repeat(300 * 1024));
        const io = capture();
        expect(await attestVerifyGpuCommand([...args('report.hex'), '--rims', big], io)).toBe(2);
        expect(io.err).toContain('larger than 262144 bytes');
    });

    it('a device root file that is not one PEM certificate: exit 2 (GPU_POLICY_INVALID)', async () => {
        const io = capture();
        expect(await attestVerifyGpuCommand([...args('report.hex'), '--device-root', join(dir, 'garbage')], io)).toBe(2);
        expect(io.json().error.code).toBe('GPU_POLICY_INVALID');
    });
});
