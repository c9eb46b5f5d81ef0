// The weights hash (spec/worker.md "Weights hash"): the documented rule computed independently here, what the rule
// includes and refuses, the CLI, and the worker's check against Root.
import { createHash, randomBytes } from 'crypto';
import { execFileSync } from 'child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { hashModelDir, ModelHashError, weightsHashOf, WEIGHTS_HASH_TAG } from '../../../agents/core/model-hash';
import { checkWeights } from '../../../agents/worker/options';
import { main } from '../../../agents/cli';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

/** The rule written out from the spec, byte by byte, for the files given. */
function byTheSpec(files: Record<string, Buffer>): string {
    const h = createHash('sha256').update(WEIGHTS_HASH_TAG);
    const paths = Object.keys(files).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const p of paths) {
        const path = Buffer.from(p, 'utf8');
        const len = Buffer.from([path.length >> 8, path.length & 0xff]);
        const size = Buffer.alloc(8);
        size.writeBigUInt64BE(BigInt(files[p].length));
        h.update(len).update(path).update(size).update(sha256(files[p]));
    }
    return h.digest('hex');
}

describe('the weights hash of a model directory', () => {
    let dir: string;
    let model: string;
    const files: Record<string, Buffer> = {
        'config.json': Buffer.from('{"architectures":["TinyForCausalLM"],"hidden_size":64}'),
        'tokenizer.json': Buffer.from('{"model":{"vocab":{"a":0,"b":1}}}'),
        'model-00001-of-00002.safetensors': randomBytes(5 * 1024 * 1024 + 17), // more than one 4 MiB read
        'model-00002-of-00002.safetensors': randomBytes(1000),
        'sub/Zeta.bin': randomBytes(10),
        'sub/alpha.bin': Buffer.alloc(0),
        'é-unicode.txt': Buffer.from('x'),
    };

    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), 'model-hash-'));
        model = join(dir, 'model');
        for (const [p, b] of Object.entries(files)) {
            mkdirSync(join(model, p, '..'), { recursive: true });
            writeFileSync(join(model, p), b);
        }
        // Not part of the model: hidden files and directories.
        mkdirSync(join(model, '.git'), { recursive: true });
        writeFileSync(join(model, '.git', 'HEAD'), 'ref: refs/heads/main\n');
        writeFileSync(join(model, '.gitattributes'), '*.safetensors filter=lfs\n');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('follows the documented rule: sorted UTF-8 paths, sizes, per-file sha256, hidden files left out', async () => {
        const m = await hashModelDir(model);
        expect(m.weightsHash).toBe(byTheSpec(files));
        expect(m.files.map((f) => f.path)).toEqual(Object.keys(files).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
        expect(m.files.map((f) => f.path)).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'sub/Zeta.bin', 'sub/alpha.bin', 'tokenizer.json', 'é-unicode.txt']);
        for (const f of m.files) expect(f.sha256).toBe(sha256(files[f.path]).toString('hex'));
        expect(m.totalBytes).toBe(Object.values(files).reduce((s, b) => s + b.length, 0));
        // The per-file digests are sha256sum's: a voter can rebuild the hash from published digests alone.
        const sum = execFileSync('sha256sum', ['model-00002-of-00002.safetensors'], { cwd: model, encoding: 'utf8' }).split(' ')[0];
        expect(m.files.find((f) => f.path === 'model-00002-of-00002.safetensors')!.sha256).toBe(sum);
        expect(weightsHashOf([...m.files].reverse())).toBe(m.weightsHash);
    });

    it('moves with any content byte, any rename and any new file, but not with hidden files', async () => {
        const base = (await hashModelDir(model)).weightsHash;
        const variant = join(dir, 'variant');
        const copy = () => {
            rmSync(variant, { recursive: true, force: true });
            execFileSync('cp', ['-r', model, variant]);
        };
        copy();
        writeFileSync(join(variant, '.cache-note'), 'hidden');
        expect((await hashModelDir(variant)).weightsHash).toBe(base);

        const flipped = Buffer.from(files['model-00002-of-00002.safetensors']);
        flipped[999] ^= 1;
        writeFileSync(join(variant, 'model-00002-of-00002.safetensors'), flipped);
        expect((await hashModelDir(variant)).weightsHash).not.toBe(base);

        copy();
        execFileSync('mv', [join(variant, 'sub/Zeta.bin'), join(variant, 'sub/zeta.bin')]);
        expect((await hashModelDir(variant)).weightsHash).not.toBe(base);

        copy();
        writeFileSync(join(variant, 'extra.py'), '');
        expect((await hashModelDir(variant)).weightsHash).not.toBe(base);
    });

    it('counts a link to a file as that file (Hugging Face snapshots), and refuses links to directories and special files', async () => {
        const snap = join(dir, 'snapshot');
        const blobs = join(dir, 'blobs');
        mkdirSync(join(snap, 'sub'), { recursive: true });
        mkdirSync(blobs, { recursive: true });
        for (const [p, b] of Object.entries(files)) {
            const blob = join(blobs, sha256(b).toString('hex'));
            writeFileSync(blob, b);
            symlinkSync(blob, join(snap, p));
        }
        expect((await hashModelDir(snap)).weightsHash).toBe(byTheSpec(files));

        symlinkSync(blobs, join(snap, 'loop'));
        await expect(hashModelDir(snap)).rejects.toMatchObject({ code: 'MODEL_FILE_INVALID', details: { path: 'loop' } });
        rmSync(join(snap, 'loop'));
        symlinkSync(join(dir, 'nowhere'), join(snap, 'broken'));
        await expect(hashModelDir(snap)).rejects.toMatchObject({ code: 'MODEL_FILE_INVALID', details: { path: 'broken' } });
        rmSync(join(snap, 'broken'));
        execFileSync('mkfifo', [join(snap, 'pipe')]);
        await expect(hashModelDir(snap)).rejects.toMatchObject({ code: 'MODEL_FILE_INVALID', details: { path: 'pipe' } });
    });

    it('refuses what is not a model directory', async () => {
        const empty = join(dir, 'empty');
        mkdirSync(join(empty, '.git'), { recursive: true });
        writeFileSync(join(empty, '.git', 'x'), 'x');
        await expect(hashModelDir(empty)).rejects.toMatchObject({ code: 'MODEL_DIR_INVALID' });
        await expect(hashModelDir(join(dir, 'missing'))).rejects.toMatchObject({ code: 'MODEL_DIR_INVALID' });
        await expect(hashModelDir(join(model, 'config.json'))).rejects.toMatchObject({ code: 'MODEL_DIR_INVALID' });
        const e = await hashModelDir(empty).catch((x) => x);
        expect(e).toBeInstanceOf(ModelHashError);
    });

    it('rejects a manifest entry that is not a plain path, size and digest', () => {
        const ok = { path: 'a', size: 1, sha256: '00'.repeat(32) };
        for (const bad of [{ ...ok, path: '../a' }, { ...ok, path: 'a//b' }, { ...ok, path: 'a\nb' }, { ...ok, path: '' }, { ...ok, size: -1 }, { ...ok, size: 1.5 }, { ...ok, sha256: 'AB'.repeat(32) }]) {
            expect(() => weightsHashOf([bad])).toThrow(ModelHashError);
        }
    });

    it('`cocoon model hash` prints the hash and the files; bad arguments exit 2, a bad directory 1 with its code', async () => {
        const out: string[] = [];
        const err: string[] = [];
        const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) };
        expect(await main(['model', 'hash', model, '--json'], io)).toBe(0);
        const json = JSON.parse(out.join(''));
        expect(json.weightsHash).toBe(byTheSpec(files));
        expect(json.files).toHaveLength(Object.keys(files).length);
        out.length = 0;
        expect(await main(['model', 'hash', model], io)).toBe(0);
        expect(out.join('')).toContain(`weights hash ${byTheSpec(files)}`);
        expect(await main(['model', 'hash'], io)).toBe(2);
        expect(await main(['model', 'hash', model, model], io)).toBe(2);
        expect(await main(['model', 'hash', model, '--yaml'], io)).toBe(2);
        err.length = 0;
        expect(await main(['model', 'hash', join(dir, 'missing')], io)).toBe(1);
        expect(err.join('')).toMatch(/^model hash: MODEL_DIR_INVALID: /);
    });

    it("a worker's check passes only for the weights Root registers", async () => {
        const registered = BigInt('0x' + byTheSpec(files));
        await expect(checkWeights('tiny', model, registered)).resolves.toBeUndefined();
        await expect(checkWeights('tiny', model, registered ^ 1n)).rejects.toMatchObject({ code: 'WORKER_WEIGHTS_MISMATCH', details: { model: 'tiny', actual: byTheSpec(files) } });
        await expect(checkWeights('tiny', join(dir, 'missing'), registered)).rejects.toMatchObject({ code: 'WORKER_WEIGHTS_MISMATCH', details: { actual: null } });
    });
});
