// The bounded little-endian cursor of the attestation parsers (TDX quotes in quote.ts, GPU reports in gpu/report.ts):
// it never reads past its limit, and each parser says what a short read throws.

/** Where a read came up short; `left` = limit − offset. */
export interface ShortRead {
    offset: number;
    need: number;
    left: number;
    limit: number;
}

export class ByteReader {
    constructor(
        readonly buf: Buffer,
        public pos: number,
        readonly limit: number,
        private readonly short: (at: ShortRead, what: string) => Error,
    ) {}

    need(n: number, what: string): void {
        if (n < 0 || n > this.limit - this.pos) throw this.short({ offset: this.pos, need: n, left: this.limit - this.pos, limit: this.limit }, what);
    }

    u8(what: string): number {
        this.need(1, what);
        return this.buf[this.pos++];
    }

    u16(what: string): number {
        this.need(2, what);
        const v = this.buf.readUInt16LE(this.pos);
        this.pos += 2;
        return v;
    }

    u24(what: string): number {
        this.need(3, what);
        const v = this.buf.readUIntLE(this.pos, 3);
        this.pos += 3;
        return v;
    }

    u32(what: string): number {
        this.need(4, what);
        const v = this.buf.readUInt32LE(this.pos);
        this.pos += 4;
        return v;
    }

    /** A copy of the next n bytes. */
    bytes(n: number, what: string): Buffer {
        this.need(n, what);
        const v = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n;
        return v;
    }
}
