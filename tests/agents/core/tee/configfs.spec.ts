// TdxProvider over configfs-tsm, against a stand-in for the kernel.
//
// What the fake covers: the kernel side of the configfs-tsm ABI as documented in
// Documentation/ABI/testing/configfs-tsm and reference/attestation.md §4, on a real temporary directory: mkdir
// populates provider/generation/inblob/outblob; closing inblob bumps `generation`; the first read of outblob after
// a write "runs GetQuote" (TDX: EINVAL unless exactly 64 bytes were written) and stores the blob, later reads are
// served from the real file with real reads; rmdir removes the report. It injects the kernel's errors (EIO, EBUSY),
// a foreign provider, a concurrent writer, oversize and wrong outblobs.
// What it does not cover: real configfs semantics (attribute sizes vs st_size, O_ flags, permissions, blocking
// GetQuote, the TDVMCALL and QGS). The fake stands in through TdxProvider's `fs` option because configfs
// creates a report's attribute files atomically with mkdir, which a plain directory cannot do.
import { constants as fsc, mkdirSync, mkdtempSync, promises as fsp, readdirSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, basename, join } from 'path';
import { randomBytes } from 'crypto';
import { TdxProvider, TsmFileHandle, TsmFs, TSM_OUTBLOB_MAX, quoteReportData } from '../../../../agents/core/tee/configfs';
import { AttestationError } from '../../../../agents/core/tee/types';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { verifyQuote } from '../../../../agents/core/tee/verify';
import { imageHash } from '../../../../agents/core/tee/image';
import { PeerVerifier, RaTlsIdentity } from '../../../../agents/core/transport';

type Fault = 'EIO' | 'EBUSY' | undefined;

interface FakeOptions {
    provider?: string;
    /** Produces the outblob for an inblob (the "GetQuote"). */
    quote?: (inblob: Buffer) => Promise<Buffer>;
    fault?: Fault;
    /** Bump the generation an extra time after this many inblob writes (a concurrent writer). */
    foreignWrites?: number;
}

interface Report {
    gen: number;
    readGen: number;
    inblob: Buffer;
}

function errno(code: string, msg: string): NodeJS.ErrnoException {
    return Object.assign(new Error(`${code}: ${msg}`), { code });
}

/** A v4-shaped blob carrying `rd` as REPORTDATA (offset 568), as GetQuote returns. */
function syntheticQuote(rd: Buffer, size = 1200): Buffer {
    const q = Buffer.alloc(size);
    q.writeUInt16LE(4, 0);
    rd.copy(q, 568);
    return q;
}

class FakeTsmKernel implements TsmFs {
    readonly reports = new Map<string, Report>();
    readonly inblobWrites: number[] = []; // byte count of each write(2) to inblob
    getQuoteCalls = 0;
    maxConcurrentReports = 0;
    foreignLeft: number;

    constructor(
        readonly base: string,
        private readonly o: FakeOptions = {},
    ) {
        this.foreignLeft = o.foreignWrites ?? 0;
    }

    async mkdir(p: string): Promise<void> {
        if (dirname(p) !== this.base) throw errno('EPERM', 'report directories live directly under the base');
        await fsp.mkdir(p); // ENOENT without base, EEXIST twice
        await fsp.writeFile(join(p, 'provider'), `${this.o.provider ?? 'tdx_guest'}\n`);
        await fsp.writeFile(join(p, 'generation'), '0\n');
        await fsp.writeFile(join(p, 'inblob'), '');
        await fsp.writeFile(join(p, 'outblob'), '');
        this.reports.set(p, { gen: 0, readGen: 0, inblob: Buffer.alloc(0) });
        this.maxConcurrentReports = Math.max(this.maxConcurrentReports, this.reports.size);
    }

    async rmdir(p: string): Promise<void> {
        if (!this.reports.delete(p)) throw errno('ENOENT', p);
        await fsp.rm(p, { recursive: true });
    }

    async open(p: string, flags: number): Promise<TsmFileHandle> {
        const dir = dirname(p);
        const rep = this.reports.get(dir);
        if (!rep) throw errno('ENOENT', p);
        const real = await fsp.open(p, flags);
        const attr = basename(p);
        if (attr === 'inblob') {
            if ((flags & 3) !== fsc.O_WRONLY) throw errno('EACCES', 'inblob is write-only');
            const parts: Buffer[] = [];
            return {
                read: () => Promise.reject(errno('EBADF', 'write-only')),
                write: async (b, off, len) => {
                    this.inblobWrites.push(len);
                    parts.push(Buffer.from(b.subarray(off, off + len)));
                    return real.write(b, off, len, null);
                },
                close: async () => {
                    await real.close();
                    rep.inblob = Buffer.concat(parts);
                    rep.gen += 1;
                    if (this.foreignLeft > 0) {
                        this.foreignLeft--;
                        rep.gen += 1; // another writer slipped in on the same report
                    }
                    await fsp.writeFile(join(dir, 'generation'), `${rep.gen}\n`);
                },
            };
        }
        if (attr === 'outblob') {
            return {
                read: async (b, off, len, pos) => {
                    if (rep.readGen !== rep.gen) {
                        if (this.o.fault) throw errno(this.o.fault, 'GetQuote');
                        if (rep.inblob.length !== 64) throw errno('EINVAL', 'TDX inblob must be 64 bytes');
                        this.getQuoteCalls++;
                        await new Promise((r) => setTimeout(r, 5)); // GetQuote takes a while
                        const blob = await (this.o.quote ?? (async (rd: Buffer) => syntheticQuote(rd)))(rep.inblob);
                        await fsp.writeFile(p, blob);
                        rep.readGen = rep.gen;
                    }
                    return real.read(b, off, len, pos);
                },
                write: () => Promise.reject(errno('EBADF', 'read-only')),
                close: () => real.close(),
            };
        }
        return real;
    }
}

async function rejection(p: Promise<unknown>): Promise<AttestationError> {
    try {
        await p;
    } catch (e) {
        expect(e).toBeInstanceOf(AttestationError);
        return e as AttestationError;
    }
    throw new Error('expected a rejection');
}

describe('TdxProvider (configfs-tsm)', () => {
    let base: string;
    let root: string;
    beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), 'tsm-'));
        base = join(root, 'report');
        mkdirSync(base);
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('writes REPORTDATA in one 64-byte write, reads the quote back, checks the generation and removes its report', async () => {
        const kernel = new FakeTsmKernel(base);
        const p = new TdxProvider({ baseDir: base, fs: kernel });
        expect(p.kind).toBe('tdx');
        const rd = randomBytes(64);
        const q = await p.getQuote(rd);
        expect(q.length).toBe(1200);
        expect(quoteReportData(q)!.equals(rd)).toBe(true);
        expect(kernel.inblobWrites).toEqual([64]);
        expect(kernel.getQuoteCalls).toBe(1);
        expect(readdirSync(base)).toEqual([]);
    });

    it('reads an outblob larger than one read(2) chunk completely', async () => {
        const kernel = new FakeTsmKernel(base, { quote: async (rd) => syntheticQuote(rd, 20_000) });
        const q = await new TdxProvider({ baseDir: base, fs: kernel }).getQuote(Buffer.alloc(64, 3));
        expect(q.length).toBe(20_000);
    });

    it('serializes concurrent requests: one report directory at a time', async () => {
        const kernel = new FakeTsmKernel(base);
        const p = new TdxProvider({ baseDir: base, fs: kernel });
        const rds = [1, 2, 3, 4].map((i) => Buffer.alloc(64, i));
        const qs = await Promise.all(rds.map((rd) => p.getQuote(rd)));
        qs.forEach((q, i) => expect(quoteReportData(q)!.equals(rds[i])).toBe(true));
        expect(kernel.maxConcurrentReports).toBe(1);
        expect(kernel.getQuoteCalls).toBe(4);
    });

    it('keeps serving after a failed request', async () => {
        const kernel = new FakeTsmKernel(base);
        const p = new TdxProvider({ baseDir: base, fs: kernel });
        const bad = p.getQuote(Buffer.alloc(10));
        const good = p.getQuote(Buffer.alloc(64, 9));
        expect((await rejection(bad)).details).toMatchObject({ errno: 'EINVAL' });
        expect(quoteReportData(await good)!.equals(Buffer.alloc(64, 9))).toBe(true);
    });

    it('refuses REPORTDATA that is not 64 bytes without touching configfs', async () => {
        const kernel = new FakeTsmKernel(base);
        const e = await rejection(new TdxProvider({ baseDir: base, fs: kernel }).getQuote(Buffer.alloc(32)));
        expect(e.code).toBe('PROVIDER_UNAVAILABLE');
        expect(e.details).toMatchObject({ step: 'inblob', errno: 'EINVAL' });
        expect(kernel.maxConcurrentReports).toBe(0);
    });

    it('reports ENOENT when configfs-tsm is absent (real filesystem, default fs)', async () => {
        const e = await rejection(new TdxProvider({ baseDir: join(root, 'no-such-dir') }).getQuote(Buffer.alloc(64)));
        expect(e.code).toBe('PROVIDER_UNAVAILABLE');
        expect(e.details).toMatchObject({ step: 'mkdir', errno: 'ENOENT' });
        expect(e.message).toContain('ENOENT');
    });

    it('refuses a provider other than tdx_guest and cleans up', async () => {
        const kernel = new FakeTsmKernel(base, { provider: 'sev_guest' });
        const e = await rejection(new TdxProvider({ baseDir: base, fs: kernel }).getQuote(Buffer.alloc(64)));
        expect(e.code).toBe('PROVIDER_UNAVAILABLE');
        expect(e.details).toMatchObject({ step: 'provider', provider: 'sev_guest' });
        expect(kernel.inblobWrites).toEqual([]);
        expect(readdirSync(base)).toEqual([]);
    });

    it.each(['EIO', 'EBUSY'] as const)('names the errno when GetQuote fails with %s', async (fault) => {
        const kernel = new FakeTsmKernel(base, { fault });
        const e = await rejection(new TdxProvider({ baseDir: base, fs: kernel }).getQuote(Buffer.alloc(64)));
        expect(e.code).toBe('PROVIDER_UNAVAILABLE');
        expect(e.details).toMatchObject({ step: 'outblob', errno: fault });
        expect(e.message).toContain(fault);
        expect(readdirSync(base)).toEqual([]);
    });

    it('retries when a concurrent writer advanced the generation, then succeeds', async () => {
        const kernel = new FakeTsmKernel(base, { foreignWrites: 1 });
        const rd = Buffer.alloc(64, 7);
        const q = await new TdxProvider({ baseDir: base, fs: kernel }).getQuote(rd);
        expect(quoteReportData(q)!.equals(rd)).toBe(true);
        expect(kernel.inblobWrites).toEqual([64, 64]);
        expect(kernel.getQuoteCalls).toBe(2);
    });

    it('gives up after the configured attempts when the generation keeps jumping', async () => {
        const kernel = new FakeTsmKernel(base, { foreignWrites: 10 });
        const e = await rejection(new TdxProvider({ baseDir: base, fs: kernel, attempts: 2 }).getQuote(Buffer.alloc(64)));
        expect(e.details).toMatchObject({ step: 'generation', errno: 'EAGAIN', attempts: 2 });
        expect(kernel.inblobWrites).toEqual([64, 64]);
    });

    it('refuses an outblob over 32 KiB', async () => {
        const kernel = new FakeTsmKernel(base, { quote: async (rd) => syntheticQuote(rd, TSM_OUTBLOB_MAX + 1) });
        const e = await rejection(new TdxProvider({ baseDir: base, fs: kernel }).getQuote(Buffer.alloc(64)));
        expect(e.details).toMatchObject({ step: 'outblob', errno: 'EFBIG' });
    });

    it('refuses an outblob that does not carry the requested REPORTDATA', async () => {
        const kernel = new FakeTsmKernel(base, { quote: async () => syntheticQuote(Buffer.alloc(64, 0xee)) });
        const e = await rejection(new TdxProvider({ baseDir: base, fs: kernel }).getQuote(Buffer.alloc(64, 1)));
        expect(e.details).toMatchObject({ step: 'outblob', errno: 'EBADMSG' });
    });

    it('reports the missing attribute when the base is a plain directory, not configfs (real filesystem)', async () => {
        const e = await rejection(new TdxProvider({ baseDir: base }).getQuote(Buffer.alloc(64)));
        expect(e.code).toBe('PROVIDER_UNAVAILABLE');
        expect(e.details).toMatchObject({ step: 'provider', errno: 'ENOENT' });
        expect(readdirSync(base)).toEqual([]); // its empty report directory was removed again
    });

    it('hands out real-format quotes that the verifier accepts, and RA-TLS certificates built on them', async () => {
        // the fake kernel's GetQuote is a simulated TD-QE: the outblob is a signed DCAP quote
        const tee = await SimulatedTee.create();
        const kernel = new FakeTsmKernel(base, { quote: (rd) => tee.getQuote(rd) });
        const p = new TdxProvider({ baseDir: base, fs: kernel });
        const rd = randomBytes(64);
        const q = await p.getQuote(rd);
        const policy = { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: false, at: new Date() };
        expect(verifyQuote(q, policy).quote.body.reportData.equals(rd)).toBe(true);

        const id = await RaTlsIdentity.create({ provider: p });
        const allowed = imageHash(tee.measurements).toString('hex');
        const peer = new PeerVerifier({ quote: policy, isImageAllowed: (x) => x === allowed }).verify(id.current.der);
        expect(peer.cert.serialHex).toBe(id.current.serialHex);
        expect(kernel.getQuoteCalls).toBe(2);
        expect(readdirSync(base)).toEqual([]);
    });
});
