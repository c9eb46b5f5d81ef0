// A model's weights hash: the value governance registers in Root (`Model.weightsHash`) and a worker checks its files
// against before it serves the model. The rule (spec/worker.md "Weights hash", version 1):
//
//   files    every regular file under the directory, recursively, except names starting with "." (.git, .cache,
//            .gitattributes) and the directories below them; a symbolic link to a regular file counts as that file
//            under the link's path (Hugging Face snapshots are links into a blob store); a link to a directory, a
//            device, a socket or a FIFO is refused, as is a directory with no file.
//   path     relative, "/"-separated, UTF-8 without control characters, at most 1024 bytes
//   order    paths sorted by their UTF-8 bytes
//   file     sha256(contents), read in 4 MiB chunks: the value Hugging Face publishes for every LFS file, so a
//            voter can rebuild the hash from the model page without downloading anything
//   hash     sha256("cocoon-model-weights/1" ‖ for each file: u16 path length ‖ path ‖ u64 size ‖ file digest)
//            (integers big-endian), shown as 64 hex digits = the uint256 in Root
import { createHash } from 'crypto';
import { promises as fs, Stats } from 'fs';
import { join } from 'path';
import { CocoonError } from './errors';
import { command, CommandIo, UsageError } from './cli-io';

export const WEIGHTS_HASH_TAG = 'cocoon-model-weights/1';
const CHUNK = 4 * 1024 * 1024;
const MAX_FILES = 100_000;
const MAX_PATH_BYTES = 1024;
const MAX_DEPTH = 32;

export const ModelHashErrorCodes = [
    'MODEL_DIR_INVALID', // not a readable directory, no file in it, too many files or too deep
    'MODEL_FILE_INVALID', // an entry the rule refuses (a link to a directory, a device, a bad path); details.path names it
] as const;
export type ModelHashErrorCode = (typeof ModelHashErrorCodes)[number];

export class ModelHashError extends CocoonError<ModelHashErrorCode> {}

export interface WeightsFile {
    path: string;
    size: number;
    /** sha256 of the contents, hex. */
    sha256: string;
}

export interface WeightsManifest {
    /** 64 hex digits, the uint256 to register in Root. */
    weightsHash: string;
    files: WeightsFile[];
    totalBytes: number;
}

/** The weights hash of `dir` by the rule above, with the per-file digests it was built from. */
export async function hashModelDir(dir: string): Promise<WeightsManifest> {
    let top: Stats;
    try {
        top = await fs.stat(dir);
    } catch (e) {
        throw new ModelHashError('MODEL_DIR_INVALID', `${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path: dir });
    }
    if (!top.isDirectory()) throw new ModelHashError('MODEL_DIR_INVALID', `${dir} is not a directory`, { path: dir });
    const found: { path: string; abs: string }[] = [];
    await walk(dir, '', 0, found);
    if (found.length === 0) throw new ModelHashError('MODEL_DIR_INVALID', `${dir} holds no file to hash`, { path: dir });
    found.sort((a, b) => Buffer.compare(Buffer.from(a.path, 'utf8'), Buffer.from(b.path, 'utf8')));
    const files: WeightsFile[] = [];
    for (const f of found) files.push({ path: f.path, ...(await hashFile(f.abs, f.path)) });
    return { weightsHash: weightsHashOf(files), files, totalBytes: files.reduce((s, f) => s + f.size, 0) };
}

/** The weights hash of a list of (path, size, sha256): what `hashModelDir` computes after reading the files. */
export function weightsHashOf(files: readonly WeightsFile[]): string {
    const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.path, 'utf8'), Buffer.from(b.path, 'utf8')));
    const h = createHash('sha256').update(WEIGHTS_HASH_TAG);
    for (const f of sorted) {
        const path = checkedPath(f.path);
        if (!Number.isSafeInteger(f.size) || f.size < 0) throw new ModelHashError('MODEL_FILE_INVALID', `${f.path}: bad size ${f.size}`, { path: f.path });
        if (!/^[0-9a-f]{64}$/.test(f.sha256)) throw new ModelHashError('MODEL_FILE_INVALID', `${f.path}: sha256 must be 64 lower-case hex digits`, { path: f.path });
        const len = Buffer.alloc(2);
        len.writeUInt16BE(path.length);
        const size = Buffer.alloc(8);
        size.writeBigUInt64BE(BigInt(f.size));
        h.update(len).update(path).update(size).update(Buffer.from(f.sha256, 'hex'));
    }
    return h.digest('hex');
}

function checkedPath(path: string): Buffer {
    const bytes = Buffer.from(path, 'utf8');
    // eslint-disable-next-line no-control-regex
    if (path.length === 0 || bytes.length > MAX_PATH_BYTES || /[\u0000-\u001f\u007f]/.test(path) || path.split('/').some((p) => p === '' || p === '.' || p === '..')) {
        throw new ModelHashError('MODEL_FILE_INVALID', `path ${JSON.stringify(path.slice(0, 80))} is not a plain relative path of at most ${MAX_PATH_BYTES} bytes`, { path });
    }
    return bytes;
}

async function walk(abs: string, rel: string, depth: number, out: { path: string; abs: string }[]): Promise<void> {
    if (depth > MAX_DEPTH) throw new ModelHashError('MODEL_DIR_INVALID', `${rel} is nested deeper than ${MAX_DEPTH} directories`, { path: rel });
    const entries = await fs.readdir(abs, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
        throw new ModelHashError('MODEL_DIR_INVALID', `${rel || abs}: ${e.code ?? e.message}`, { path: rel });
    });
    for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const path = rel === '' ? e.name : `${rel}/${e.name}`;
        const full = join(abs, e.name);
        checkedPath(path);
        if (e.isDirectory()) {
            await walk(full, path, depth + 1, out);
            continue;
        }
        if (e.isSymbolicLink()) {
            const target = await fs.stat(full).catch(() => null);
            if (target === null) throw new ModelHashError('MODEL_FILE_INVALID', `${path} is a broken link`, { path });
            if (!target.isFile()) throw new ModelHashError('MODEL_FILE_INVALID', `${path} links to something other than a regular file`, { path });
            out.push({ path, abs: full });
        } else if (e.isFile()) {
            out.push({ path, abs: full });
        } else {
            throw new ModelHashError('MODEL_FILE_INVALID', `${path} is not a regular file, directory or link to a file`, { path });
        }
        if (out.length > MAX_FILES) throw new ModelHashError('MODEL_DIR_INVALID', `more than ${MAX_FILES} files`, { path: rel });
    }
}

async function hashFile(abs: string, path: string): Promise<{ size: number; sha256: string }> {
    const h = createHash('sha256');
    const handle = await fs.open(abs, 'r');
    try {
        const buf = Buffer.allocUnsafe(CHUNK);
        let size = 0;
        for (;;) {
            const { bytesRead } = await handle.read(buf, 0, CHUNK, null);
            if (bytesRead === 0) break;
            h.update(buf.subarray(0, bytesRead));
            size += bytesRead;
        }
        return { size, sha256: h.digest('hex') };
    } catch (e) {
        throw new ModelHashError('MODEL_FILE_INVALID', `${path}: ${(e as Error).message}`, { path });
    } finally {
        await handle.close();
    }
}

export const MODEL_HASH_USAGE = `usage: cocoon model hash <dir> [--json]
  Computes a model directory's weights hash (the uint256 governance registers in Root as the model's weightsHash)
  by the rule in spec/worker.md "Weights hash": every regular file except hidden ones, sorted by path, each file's
  sha256 with its path and size, hashed under "${WEIGHTS_HASH_TAG}".
  --json      print {weightsHash, totalBytes, files: [{path, size, sha256}]}
  -h, --help  show this help
exit status: 0 ok, 1 the directory cannot be hashed (MODEL_DIR_INVALID, MODEL_FILE_INVALID), 2 bad arguments`;

/** `cocoon model hash <dir> [--json]`. */
export function modelHashCommand(argv: string[], io: CommandIo): Promise<number> {
    return command(
        io,
        MODEL_HASH_USAGE,
        argv,
        { json: 'switch' } as const,
        async (flags, positional) => {
            if (positional.length !== 1) throw new UsageError(positional.length === 0 ? 'name the model directory' : `one directory only, got ${positional.length}`);
            const m = await hashModelDir(positional[0]);
            if (flags.json) {
                io.stdout(`${JSON.stringify(m, null, 2)}\n`);
            } else {
                io.stdout(`weights hash ${m.weightsHash}\n${m.files.length} files, ${m.totalBytes} bytes\n`);
                for (const f of m.files) io.stdout(`  ${f.sha256}  ${String(f.size).padStart(14)}  ${f.path}\n`);
            }
            return 0;
        },
        { positional: true, prefix: 'model hash: ' },
    );
}
