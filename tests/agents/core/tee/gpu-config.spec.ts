// The GPU keys of the agents' config files (spec/operations.md, spec/worker.md "GPU evidence"): the worker's `gpu`
// section and the peers' `trust.gpu`, on hostile files. Every problem is a ConfigError naming the key, before the
// agent starts.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ConfigError } from '../../../../agents/core/chain/errors';
import { DEFAULT_GPU_TRUST } from '../../../../agents/core/tee/gpu/check';
import { gpuSourceOf, gpuTrustOf, parseConfig, WorkerConfigSchema } from '../../../../agents/config';
import { CommandGpuSource, SimulatedGpuSource } from '../../../../agents/core/tee/gpu/source';
import { SimulatedGpu } from '../../../../agents/core/tee/gpu/simulated';
import { NVIDIA_DEVICE_ROOT_PEM } from '../../../../agents/core/tee/gpu/roots';

function keyOf(f: () => unknown): string {
    try {
        f();
    } catch (e) {
        if (e instanceof ConfigError) return (e.details as { key: string }).key;
        throw e;
    }
    return 'OK';
}

async function asyncKeyOf(p: Promise<unknown>): Promise<string> {
    try {
        await p;
    } catch (e) {
        if (e instanceof ConfigError) return (e.details as { key: string }).key;
        throw e;
    }
    return 'OK';
}

const base = {
    chain: { endpoint: 'http://127.0.0.1:1/api/v2/jsonRPC', rootAddress: 'EQCUVxGwPC8G-XTYgb1qRPYdVMhbkySUERhSTHVvZOBmbeoO' },
    seedFile: 's',
    wallet: { secretKeyFile: 'w' },
    trust: { simulatedTeeFile: 't.json' },
    tee: { provider: 'simulated', stateFile: 't.json' },
    worker: { models: [{ name: 'm', coefficient: 1000 }], backendUrl: 'http://127.0.0.1:9/', capacity: 4, stateFile: 's.json' },
};

describe('config: the worker gpu section', () => {
    it('accepts the simulated and the command forms', () => {
        expect(parseConfig({ ...base, gpu: { evidence: 'simulated', stateFile: 'gpu.json', count: 2 } }, WorkerConfigSchema).gpu).toEqual({ evidence: 'simulated', stateFile: 'gpu.json', count: 2 });
        expect(parseConfig({ ...base, gpu: { evidence: 'command', command: ['/usr/bin/nv-evidence', '--json'], timeoutMs: 5000 } }, WorkerConfigSchema).gpu?.evidence).toBe('command');
    });

    it.each([
        ['an unknown source', { evidence: 'nvml' }, 'gpu.evidence'],
        ['nine GPUs', { evidence: 'simulated', stateFile: 'g', count: 9 }, 'gpu.count'],
        ['an empty command', { evidence: 'command', command: [] }, 'gpu.command'],
        ['a shell string instead of argv', { evidence: 'command', command: 'nv-evidence | tee /tmp/x' }, 'gpu.command'],
        ['an empty argument', { evidence: 'command', command: ['x', ''] }, 'gpu.command.1'],
        ['an endless timeout', { evidence: 'command', command: ['x'], timeoutMs: 3_600_000 }, 'gpu.timeoutMs'],
        ['an unknown key', { evidence: 'command', command: ['x'], shell: true }, 'gpu'],
    ])('attack: %s is a ConfigError naming the key', (_what, gpu, key) => {
        expect(keyOf(() => parseConfig({ ...base, gpu }, WorkerConfigSchema))).toBe(key);
    });

    it('builds the source it names; no section is no source', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'cocoon-gpu-conf-'));
        try {
            expect(await gpuSourceOf(dir, undefined)).toBeUndefined();
            expect(await gpuSourceOf(dir, { evidence: 'command', command: ['x'] })).toBeInstanceOf(CommandGpuSource);
            expect(await gpuSourceOf(dir, { evidence: 'simulated', stateFile: 'gpu.json' })).toBeInstanceOf(SimulatedGpuSource);
            expect(statSync(join(dir, 'gpu.json')).mode & 0o777).toBe(0o600);
            writeFileSync(join(dir, 'bad.json'), 'not json');
            expect(await asyncKeyOf(gpuSourceOf(dir, { evidence: 'simulated', stateFile: 'bad.json' }))).toBe('gpu.stateFile');
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('config: trust.gpu', () => {
    let dir: string;
    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-gpu-trust-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("defaults to NVIDIA's roots with no RIMs, revocation not checked", async () => {
        expect(await gpuTrustOf(dir, undefined)).toBe(DEFAULT_GPU_TRUST);
        expect(DEFAULT_GPU_TRUST.deviceRootPem).toBe(NVIDIA_DEVICE_ROOT_PEM);
        expect(DEFAULT_GPU_TRUST.revoked).toBeUndefined();
    });

    it("a simulated GPU file gives that GPU's roots and RIMs; root files, a RIM directory and a revocation list are read", async () => {
        const sim = await SimulatedGpu.loadOrCreate(join(dir, 'gpu.json'));
        const t = await gpuTrustOf(dir, { simulatedGpuFile: 'gpu.json' });
        expect(t.deviceRootPem).toBe(sim.deviceRootPem);
        expect(t.rims).toHaveLength(2);
        mkdirSync(join(dir, 'rims'));
        for (const r of sim.rims()) writeFileSync(join(dir, 'rims', r.name), r.xml);
        writeFileSync(join(dir, 'root.pem'), sim.deviceRootPem);
        writeFileSync(join(dir, 'revoked.txt'), '# revoked by the operator\n1A2b\n\n  ff00 # a comment\n');
        const files = await gpuTrustOf(dir, { deviceRootFile: 'root.pem', rimDir: 'rims', revokedFile: 'revoked.txt' });
        expect(files.deviceRootPem).toBe(sim.deviceRootPem);
        expect(files.rims.map((r) => r.name).sort()).toEqual(sim.rims().map((r) => r.name).sort());
        expect(files.revoked).toEqual({ serials: ['1A2b', 'ff00'] });
    });

    it('attack: unreadable files, a non-hex serial, and a simulated file beside a root file are ConfigErrors naming the key', async () => {
        writeFileSync(join(dir, 'bad-revoked.txt'), '1a2b\n<script>\n');
        expect(await asyncKeyOf(gpuTrustOf(dir, { revokedFile: 'bad-revoked.txt' }))).toBe('trust.gpu.revokedFile');
        expect(await asyncKeyOf(gpuTrustOf(dir, { revokedFile: 'missing.txt' }))).toBe('trust.gpu.revokedFile');
        expect(await asyncKeyOf(gpuTrustOf(dir, { deviceRootFile: 'missing.pem' }))).toBe('trust.gpu.deviceRootFile');
        expect(await asyncKeyOf(gpuTrustOf(dir, { rimDir: 'no-such-dir' }))).toBe('trust.gpu.rimDir');
        writeFileSync(join(dir, 'junk-gpu.json'), '{');
        expect(await asyncKeyOf(gpuTrustOf(dir, { simulatedGpuFile: 'junk-gpu.json' }))).toBe('trust.gpu.simulatedGpuFile');
        expect(keyOf(() => parseConfig({ ...base, trust: { simulatedTeeFile: 't.json', gpu: { simulatedGpuFile: 'g', deviceRootFile: 'r' } } }, WorkerConfigSchema))).toBe('trust.gpu');
        expect(keyOf(() => parseConfig({ ...base, trust: { simulatedTeeFile: 't.json', gpu: { ocspUrl: 'http://x' } } }, WorkerConfigSchema))).toBe('trust.gpu');
    });
});
