// Minimal, bounded DER reader and writer for the few structures the verifier walks itself (X.509 CRLs, the
// extension list of a certificate, Intel's SGX PCK extension) and the simulated PKI writes (the SGX extension).
// Everything is synchronous; every read is bounds-checked and throws DerError, which callers map to a stable
// attestation error code. Indefinite lengths, lengths over 4 bytes and high tag numbers are refused (DER forbids
// the first and Intel's structures use none of them).

export class DerError extends Error {}

export interface Tlv {
    tag: number;
    /** Offset of the first content byte in `buf`. */
    start: number;
    /** Offset one past the last content byte. */
    end: number;
    /** Offset of the tag byte (start of the whole TLV). */
    headerStart: number;
    buf: Buffer;
}

export const TAG = {
    BOOLEAN: 0x01,
    INTEGER: 0x02,
    BIT_STRING: 0x03,
    OCTET_STRING: 0x04,
    NULL: 0x05,
    OID: 0x06,
    ENUMERATED: 0x0a,
    UTC_TIME: 0x17,
    GENERALIZED_TIME: 0x18,
    SEQUENCE: 0x30,
    SET: 0x31,
} as const;

/** Reads the TLV at `off`, which must end at or before `limit`. */
export function readTlv(buf: Buffer, off: number, limit = buf.length): Tlv {
    if (off + 2 > limit) throw new DerError('truncated DER header');
    const tag = buf[off];
    if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not supported');
    let len = buf[off + 1];
    let p = off + 2;
    if (len & 0x80) {
        const n = len & 0x7f;
        if (n === 0 || n > 4) throw new DerError('unsupported DER length form');
        if (p + n > limit) throw new DerError('truncated DER length');
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
        p += n;
    }
    if (p + len > limit) throw new DerError('DER length exceeds its container');
    return { tag, start: p, end: p + len, headerStart: off, buf };
}

/** Reads one TLV that must span the whole buffer. */
export function readOne(buf: Buffer, expectTag?: number): Tlv {
    const t = readTlv(buf, 0);
    if (t.end !== buf.length) throw new DerError('trailing bytes after DER value');
    if (expectTag !== undefined && t.tag !== expectTag) throw new DerError(`expected tag 0x${expectTag.toString(16)}`);
    return t;
}

/** Children of a constructed TLV, in order. */
export function children(t: Tlv, max = 100_000): Tlv[] {
    if (!(t.tag & 0x20)) throw new DerError('not a constructed value');
    const out: Tlv[] = [];
    let off = t.start;
    while (off < t.end) {
        if (out.length >= max) throw new DerError('too many DER elements');
        const c = readTlv(t.buf, off, t.end);
        out.push(c);
        off = c.end;
    }
    return out;
}

export function expectTag(t: Tlv, tag: number, what: string): Tlv {
    if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
    return t;
}

export function content(t: Tlv): Buffer {
    return t.buf.subarray(t.start, t.end);
}

/** The whole TLV including its header. */
export function raw(t: Tlv): Buffer {
    return t.buf.subarray(t.headerStart, t.end);
}

export function decodeOid(t: Tlv): string {
    expectTag(t, TAG.OID, 'OID');
    const b = content(t);
    if (b.length === 0 || b.length > 64) throw new DerError('bad OID length');
    const parts: number[] = [];
    let v = 0;
    for (let i = 0; i < b.length; i++) {
        v = v * 128 + (b[i] & 0x7f);
        if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
        if (!(b[i] & 0x80)) {
            if (parts.length === 0) {
                const first = v < 80 ? Math.floor(v / 40) : 2;
                parts.push(first, v - first * 40);
            } else parts.push(v);
            v = 0;
        } else if (i === b.length - 1) throw new DerError('truncated OID');
    }
    return parts.join('.');
}

/** A non-negative INTEGER that fits a JS number (SVNs, versions). */
export function decodeSmallUint(t: Tlv): number {
    if (t.tag !== TAG.INTEGER && t.tag !== TAG.ENUMERATED) throw new DerError('expected INTEGER');
    const b = content(t);
    if (b.length === 0 || b.length > 6) throw new DerError('INTEGER out of range');
    if (b[0] & 0x80) throw new DerError('negative INTEGER');
    let v = 0;
    for (const x of b) v = v * 256 + x;
    return v;
}

/** INTEGER as lowercase hex without leading zeros ("0" for zero); used to compare serial numbers. */
export function integerHex(t: Tlv): string {
    expectTag(t, TAG.INTEGER, 'INTEGER');
    return normalizeSerialHex(content(t).toString('hex'));
}

export function normalizeSerialHex(hex: string): string {
    const s = hex.toLowerCase().replace(/^0+/, '');
    return s === '' ? '0' : s;
}

/** UTCTime or GeneralizedTime (the Z forms DER requires). */
export function decodeTime(t: Tlv): Date {
    const s = content(t).toString('latin1');
    let m: RegExpExecArray | null;
    let year: number;
    if (t.tag === TAG.UTC_TIME) {
        m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
        if (!m) throw new DerError('bad UTCTime');
        const yy = Number(m[1]);
        year = yy >= 50 ? 1900 + yy : 2000 + yy;
    } else if (t.tag === TAG.GENERALIZED_TIME) {
        m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
        if (!m) throw new DerError('bad GeneralizedTime');
        year = Number(m[1]);
    } else throw new DerError('expected a time value');
    const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
    if (Number.isNaN(d.getTime())) throw new DerError('bad time value');
    return d;
}

// ---- writer (used by the simulated PKI) ----

function encodeLength(n: number): Buffer {
    if (n < 0x80) return Buffer.from([n]);
    const bytes: number[] = [];
    while (n > 0) {
        bytes.unshift(n & 0xff);
        n = Math.floor(n / 256);
    }
    return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, body: Buffer): Buffer {
    return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

export function seq(...items: Buffer[]): Buffer {
    return tlv(TAG.SEQUENCE, Buffer.concat(items));
}

export function octets(b: Buffer): Buffer {
    return tlv(TAG.OCTET_STRING, b);
}

export function uint(n: number, tag: number = TAG.INTEGER): Buffer {
    if (!Number.isSafeInteger(n) || n < 0) throw new DerError('uint out of range');
    const bytes: number[] = [];
    do {
        bytes.unshift(n & 0xff);
        n = Math.floor(n / 256);
    } while (n > 0);
    if (bytes[0] & 0x80) bytes.unshift(0);
    return tlv(tag, Buffer.from(bytes));
}

export function oid(dotted: string): Buffer {
    const arcs = dotted.split('.').map(Number);
    if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new DerError(`bad OID ${dotted}`);
    const out: number[] = [];
    const push = (v: number) => {
        const tmp = [v & 0x7f];
        v = Math.floor(v / 128);
        while (v > 0) {
            tmp.unshift((v & 0x7f) | 0x80);
            v = Math.floor(v / 128);
        }
        out.push(...tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for (const a of arcs.slice(2)) push(a);
    return tlv(TAG.OID, Buffer.from(out));
}
