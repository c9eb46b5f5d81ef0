// Shared helpers of the attestation tests: the real Intel vectors (fixtures/vectors/tdx; a missing one fails the test),
// quote surgery (offsets of the signature data, PEM chain replacement) and policy builders.
import { readFileSync } from 'fs';
import { TDX_VECTORS, tdxVector, tdxVectorPath } from '../../../../fixtures/vectors';
import { derToPem, pemToDer } from '../../../../agents/core/tee/certs';
import { parseQuote } from '../../../../agents/core/tee/quote';
import { Collateral, INTEL_ROOT_KEY_ID, VerifyPolicy } from '../../../../agents/core/tee/types';

export const VECTORS = TDX_VECTORS;
export const vector = tdxVector;

export function vectorCollateral(name: string): Collateral {
    return JSON.parse(readFileSync(tdxVectorPath(name), 'utf8')) as Collateral;
}

/** README times. */
export const T_GOOD = new Date('2025-06-19T11:16:03Z');
export const T_OUTDATED = new Date('2026-02-18T11:58:51Z');
export const T_AFTER_EXPIRY = new Date('2025-07-19T10:16:04Z');

export function intelPolicy(at: Date, collateral?: Collateral, extra: Partial<VerifyPolicy> = {}): VerifyPolicy {
    return { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], at, collateral, requireCollateral: collateral !== undefined, ...extra };
}

/** Offsets inside a quote, derived from its own length fields. */
export interface QuoteLayoutOffsets {
    bodyStart: number;
    signedEnd: number; // also the offset of sig_data_len
    sigStart: number;
    attKey: number;
    certHeader: number;
    qeReport: number;
    qeReportSig: number;
    authLen: number;
    auth: number;
    innerHeader: number;
    pem: number;
    sigEnd: number;
}

export function offsets(quote: Buffer): QuoteLayoutOffsets {
    const q = parseQuote(quote);
    const bodyStart = q.version === 5 ? 54 : 48;
    const signedEnd = q.signedRegion.length;
    const sigStart = signedEnd + 4;
    const authLen = sigStart + 128 + 6 + 384 + 64;
    const auth = authLen + 2;
    const innerHeader = auth + q.qeAuthData.length;
    return {
        bodyStart,
        signedEnd,
        sigStart,
        attKey: sigStart + 64,
        certHeader: sigStart + 128,
        qeReport: sigStart + 134,
        qeReportSig: sigStart + 134 + 384,
        authLen,
        auth,
        innerHeader,
        pem: innerHeader + 6,
        sigEnd: sigStart + quote.readUInt32LE(signedEnd),
    };
}

/** A copy of `quote` whose certification data carries `pem` (the signed region is unchanged). */
export function withPemChain(quote: Buffer, pem: string | Buffer): Buffer {
    const o = offsets(quote);
    const pemBytes = typeof pem === 'string' ? Buffer.concat([Buffer.from(pem, 'latin1'), Buffer.from([0])]) : pem;
    const head = Buffer.from(quote.subarray(0, o.pem));
    const certSize = o.pem - o.qeReport + pemBytes.length;
    head.writeUInt32LE(o.pem - o.sigStart + pemBytes.length, o.signedEnd);
    head.writeUInt32LE(certSize, o.certHeader + 2);
    head.writeUInt32LE(pemBytes.length, o.innerHeader + 2);
    return Buffer.concat([head, pemBytes]);
}

/** The PCK chain of a quote as DER certificates, leaf first. */
export function chainDer(quote: Buffer): Buffer[] {
    return parseQuote(quote).pckChainPem.map(pemToDer);
}

export function chainPem(ders: Buffer[]): string {
    return ders.map((d) => derToPem(d)).join('');
}

export function flipBit(buf: Buffer, offset: number, bit = 0): Buffer {
    const b = Buffer.from(buf);
    b[offset] ^= 1 << bit;
    return b;
}

/** Runs fn and returns the thrown error's code (fails the test if nothing is thrown). */
export function codeOf(fn: () => unknown): string {
    try {
        fn();
    } catch (e) {
        return (e as { code?: string }).code ?? `non-coded ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`;
    }
    throw new Error('expected a rejection, but verification passed');
}
