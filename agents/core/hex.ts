// uint256 off chain, one copy: keys, hashes and ids are uint256 in cells and 64 hex characters / 32 bytes elsewhere.

/** 64 lowercase hex characters, zero-padded (a value of 2^256 or more gives more: callers range-check). */
export function hex256(v: bigint): string {
    return v.toString(16).padStart(64, '0');
}

/** The 32 big-endian bytes of a uint256. */
export function bytes256(v: bigint): Buffer {
    return Buffer.from(hex256(v), 'hex');
}
