// Small JSON state files that must survive a crash (a client's signed vouchers, a worker's latest payouts):
// written to a temporary file, fsynced, renamed over the old one, and the directory fsynced, so a reader sees
// either the old or the new content and an acknowledged write is on disk.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'fs';
import { mkdir, open, rename } from 'fs/promises';
import { dirname, basename, join } from 'path';
import { CocoonError } from './errors';

export const StateFileErrorCodes = ['STATE_FILE_UNREADABLE'] as const;
export class StateFileError extends CocoonError<(typeof StateFileErrorCodes)[number]> {}

/** Writes `value` as pretty JSON atomically and durably. BigInts must be converted by the caller. */
export function writeJsonAtomic(path: string, value: unknown): void {
    writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Writes `data` to a temporary file (0600), fsyncs it, renames it over `path` and fsyncs the directory. */
export function writeFileAtomic(path: string, data: string | Buffer): void {
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
        writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
        fsyncSync(fd);
    } finally {
        closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(dir, 'r');
    try {
        fsyncSync(dfd);
    } finally {
        closeSync(dfd);
    }
}

/**
 * writeJsonAtomic on the libuv threadpool (fs/promises: open, write, fdatasync, rename, directory fsync): the same
 * guarantee when it resolves, while the event loop keeps serving other streams. Concurrent calls for one path must be
 * serialised by the caller (they share the temporary file).
 */
export async function writeJsonAtomicAsync(path: string, value: unknown): Promise<void> {
    const dir = dirname(path);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
        await fh.writeFile(JSON.stringify(value, null, 2) + '\n');
        await fh.datasync();
    } finally {
        await fh.close();
    }
    await rename(tmp, path);
    const dh = await open(dir, 'r');
    try {
        await dh.sync();
    } finally {
        await dh.close();
    }
}

/** The parsed JSON of `path`, or undefined when the file does not exist. Unparsable content is a typed error. */
export function readJsonFile(path: string): unknown {
    let text: string;
    try {
        text = readFileSync(path, 'utf8');
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new StateFileError('STATE_FILE_UNREADABLE', `cannot read ${path}: ${(e as Error).message}`, { path });
    }
    try {
        return JSON.parse(text);
    } catch (e) {
        throw new StateFileError('STATE_FILE_UNREADABLE', `${path} is not valid JSON: ${(e as Error).message}`, { path });
    }
}
