// `tdx` quote provider over Linux configfs-tsm (kernel >= 6.7; reference/attestation.md §4,
// Documentation/ABI/testing/configfs-tsm). One report directory per request:
//
//   mkdir  $BASE/<unique>            the kernel populates provider, generation, inblob, outblob, ...
//   read   provider                  must be "tdx_guest"
//   read   generation                g0
//   write  inblob                    exactly 64 bytes (REPORTDATA) in one write(2)
//   read   outblob                   open/read loop to EOF; the first read runs TDG.MR.REPORT + GetQuote (seconds)
//   read   generation                must be g0 + 1, otherwise someone else wrote in between: retry
//   rmdir  $BASE/<unique>
//
// Requests are serialized per provider. Every failure is AttestationError('PROVIDER_UNAVAILABLE') naming the step
// and the errno (ENOENT: no configfs-tsm; EINVAL: bad inblob; EBUSY; EIO: GetQuote failed, e.g. no QGS; ...).
import { constants as fsc, promises as fsp } from 'fs';
import { join } from 'path';
import { randomBytes } from 'crypto';
import { AttestationError, QuoteProvider } from './types';

export const DEFAULT_TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';
/** TSM_OUTBLOB_MAX in drivers/virt/coco/tsm.c. */
export const TSM_OUTBLOB_MAX = 32 * 1024;

/** The file handle operations used; node's fs.promises FileHandle satisfies it. */
export interface TsmFileHandle {
    read(buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
    write(buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
    close(): Promise<void>;
}

/** The system calls the provider makes, so that tests can stand in for the kernel. Default: node's fs.promises. */
export interface TsmFs {
    mkdir(path: string): Promise<void>;
    rmdir(path: string): Promise<void>;
    open(path: string, flags: number): Promise<TsmFileHandle>;
}

export const nodeTsmFs: TsmFs = {
    mkdir: async (p) => {
        await fsp.mkdir(p);
    },
    rmdir: (p) => fsp.rmdir(p),
    open: (p, flags) => fsp.open(p, flags),
};

export interface TdxProviderOptions {
    /** configfs-tsm report directory; default /sys/kernel/config/tsm/report. */
    baseDir?: string;
    fs?: TsmFs;
    /** Attempts when the generation counter shows a concurrent writer; default 3. */
    attempts?: number;
    /** Prefix of report directory names; default "cocoon". */
    namePrefix?: string;
}

function errnoOf(e: unknown): string {
    return (e as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN';
}

export class TdxProvider implements QuoteProvider {
    readonly kind = 'tdx' as const;
    readonly baseDir: string;
    private readonly fs: TsmFs;
    private readonly attempts: number;
    private readonly prefix: string;
    private queue: Promise<unknown> = Promise.resolve();

    constructor(opts: TdxProviderOptions = {}) {
        this.baseDir = opts.baseDir ?? DEFAULT_TSM_REPORT_DIR;
        this.fs = opts.fs ?? nodeTsmFs;
        this.attempts = opts.attempts ?? 3;
        this.prefix = opts.namePrefix ?? 'cocoon';
        if (!(this.attempts >= 1)) throw new RangeError('attempts must be >= 1');
    }

    /** A quote whose REPORTDATA is `reportData` (exactly 64 bytes). Requests run one at a time. */
    getQuote(reportData: Buffer): Promise<Buffer> {
        const run = this.queue.then(
            () => this.quoteOnce(reportData),
            () => this.quoteOnce(reportData),
        );
        this.queue = run.catch(() => undefined);
        return run;
    }

    private fail(step: string, e: unknown, extra?: Record<string, unknown>): AttestationError {
        const errno = errnoOf(e);
        return new AttestationError('PROVIDER_UNAVAILABLE', `configfs-tsm ${step} failed: ${errno}${e instanceof Error && e.message ? ` (${e.message})` : ''}`, {
            step,
            errno,
            baseDir: this.baseDir,
            ...extra,
        });
    }

    private async quoteOnce(reportData: Buffer): Promise<Buffer> {
        if (!Buffer.isBuffer(reportData) || reportData.length !== 64) {
            throw new AttestationError('PROVIDER_UNAVAILABLE', `TDX REPORTDATA must be exactly 64 bytes, got ${reportData?.length}`, { step: 'inblob', errno: 'EINVAL' });
        }
        const dir = join(this.baseDir, `${this.prefix}-${process.pid}-${randomBytes(8).toString('hex')}`);
        try {
            await this.fs.mkdir(dir);
        } catch (e) {
            throw this.fail('mkdir', e, { hint: errnoOf(e) === 'ENOENT' ? 'configfs-tsm not available (kernel >= 6.7 with tdx_guest, configfs mounted)' : undefined });
        }
        try {
            const provider = (await this.readAll(join(dir, 'provider'), 'provider', 256)).toString('utf8').trim();
            if (provider !== 'tdx_guest') {
                throw new AttestationError('PROVIDER_UNAVAILABLE', `configfs-tsm provider is "${provider}", not tdx_guest`, { step: 'provider', errno: 'ENODEV', provider });
            }
            for (let attempt = 1; ; attempt++) {
                const g0 = await this.generation(dir);
                await this.writeInblob(join(dir, 'inblob'), reportData);
                const quote = await this.readAll(join(dir, 'outblob'), 'outblob', TSM_OUTBLOB_MAX);
                const g1 = await this.generation(dir);
                if (g1 !== g0 + 1) {
                    if (attempt < this.attempts) continue;
                    throw new AttestationError('PROVIDER_UNAVAILABLE', `configfs-tsm generation went ${g0} -> ${g1}: a concurrent writer on ${dir}`, {
                        step: 'generation',
                        errno: 'EAGAIN',
                        attempts: attempt,
                    });
                }
                if (quote.length === 0) throw new AttestationError('PROVIDER_UNAVAILABLE', 'configfs-tsm returned an empty outblob', { step: 'outblob', errno: 'ENODATA' });
                const rd = quoteReportData(quote);
                if (!rd || !rd.equals(reportData)) {
                    throw new AttestationError('PROVIDER_UNAVAILABLE', 'configfs-tsm outblob does not carry the requested REPORTDATA', { step: 'outblob', errno: 'EBADMSG' });
                }
                return quote;
            }
        } finally {
            await this.fs.rmdir(dir).catch(() => undefined);
        }
    }

    private async generation(dir: string): Promise<number> {
        const text = (await this.readAll(join(dir, 'generation'), 'generation', 64)).toString('utf8').trim();
        if (!/^\d{1,15}$/.test(text)) throw new AttestationError('PROVIDER_UNAVAILABLE', `configfs-tsm generation is not a number: "${text.slice(0, 32)}"`, { step: 'generation', errno: 'EBADMSG' });
        return Number(text);
    }

    private async writeInblob(path: string, data: Buffer): Promise<void> {
        let fh: TsmFileHandle | undefined;
        try {
            fh = await this.fs.open(path, fsc.O_WRONLY);
            const { bytesWritten } = await fh.write(data, 0, data.length, null);
            if (bytesWritten !== data.length) throw Object.assign(new Error(`short write ${bytesWritten}/${data.length}`), { code: 'EIO' });
            const h = fh;
            fh = undefined;
            await h.close(); // configfs commits a binary attribute on release
        } catch (e) {
            throw this.fail('inblob', e);
        } finally {
            if (fh) await fh.close().catch(() => undefined);
        }
    }

    /** open/read loop to EOF (configfs attribute sizes need not match st_size); at most `max` bytes. */
    private async readAll(path: string, step: string, max: number): Promise<Buffer> {
        let fh: TsmFileHandle | undefined;
        try {
            fh = await this.fs.open(path, fsc.O_RDONLY);
            const chunks: Buffer[] = [];
            let total = 0;
            for (;;) {
                const buf = Buffer.alloc(Math.min(4096, max + 1 - total));
                const { bytesRead } = await fh.read(buf, 0, buf.length, null);
                if (bytesRead === 0) break;
                chunks.push(buf.subarray(0, bytesRead));
                total += bytesRead;
                if (total > max) throw Object.assign(new Error(`${step} exceeds ${max} bytes`), { code: 'EFBIG' });
            }
            return Buffer.concat(chunks, total);
        } catch (e) {
            throw this.fail(step, e);
        } finally {
            if (fh) await fh.close().catch(() => undefined);
        }
    }
}

/** REPORTDATA of a TDX quote v4/v5 by fixed offsets (full parsing and verification is verify.ts's job). */
export function quoteReportData(quote: Buffer): Buffer | undefined {
    if (quote.length < 2) return undefined;
    const version = quote.readUInt16LE(0);
    const off = version === 4 ? 48 + 520 : version === 5 ? 54 + 520 : -1;
    if (off < 0 || quote.length < off + 64) return undefined;
    return quote.subarray(off, off + 64);
}
