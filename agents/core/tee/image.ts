// Image hash of design §5 (the same derivation as cocoon's AttestationData::image_hash):
//   SHA-256( MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3 ‖ 64×00 )   (448 bytes)
// The trailing 64 zero bytes are REPORTDATA zeroed, so the hash names the image, not one boot's claims.
// Note: TDATTRIBUTES, XFAM, MRSEAM and TEE_TCB_SVN are not in it (cocoon compatibility); the verifier checks the
// debug bit always and TDATTRIBUTES / XFAM by policy instead.
import { createHash } from 'crypto';
import { hex256 } from '../hex';
import { AttestationError, TdReportBody } from './types';

export type ImageMeasurements = Pick<TdReportBody, 'mrTd' | 'mrConfigId' | 'mrOwner' | 'mrOwnerConfig' | 'rtmr0' | 'rtmr1' | 'rtmr2' | 'rtmr3'>;

export const IMAGE_HASH_INPUT_LEN = 448;

/** The 448-byte preimage of the image hash. */
export function imageHashInput(m: ImageMeasurements): Buffer {
    const parts = [m.mrTd, m.mrConfigId, m.mrOwner, m.mrOwnerConfig, m.rtmr0, m.rtmr1, m.rtmr2, m.rtmr3];
    for (const p of parts) if (p.length !== 48) throw new RangeError('image measurements are 48 bytes each');
    return Buffer.concat([...parts, Buffer.alloc(64)]);
}

/** Image hash (32 bytes) of a TD report body or of the eight measurements. */
export function imageHash(m: ImageMeasurements): Buffer {
    return createHash('sha256').update(imageHashInput(m)).digest();
}

/** Normalises a hex allowlist entry (case, optional 0x); throws RangeError on anything that is not 32-byte hex. */
export function normalizeImageHashHex(h: string): string {
    const s = h.trim().toLowerCase().replace(/^0x/, '');
    if (!/^[0-9a-f]{64}$/.test(s)) throw new RangeError(`image hash must be 32 bytes of hex: ${JSON.stringify(h)}`);
    return s;
}

/**
 * Checks an image hash against an allowlist (e.g. Root's proxy or worker image allowlist, as hex or bigint uint256).
 * Throws AttestationError IMAGE_NOT_ALLOWED when it is not listed.
 */
export function checkImageAllowed(hash: Buffer, allowed: Iterable<string | bigint>): void {
    const hex = hash.toString('hex');
    for (const a of allowed) {
        const s = typeof a === 'bigint' ? hex256(a) : normalizeImageHashHex(a);
        if (s === hex) return;
    }
    throw new AttestationError('IMAGE_NOT_ALLOWED', `image hash ${hex} is not in the allowlist`, { imageHash: hex });
}
