// Sealed secrets (issue 13 part 6; spec/attestation.md "Sealed secrets"): the shapes shared by the key service
// (agents/keys/), its client (agents/core/keys/client.ts) and the agents that keep their long-lived seed sealed
// (agents/core/keys/sealed-file.ts). A sealed blob on the host's disk is useless outside a TD whose RA-TLS evidence
// the key service accepts: the host never holds the secret in clear.
import { Address } from '@ton/core';
import { CocoonError } from '../errors';

/** Which Root allowlist the requesting TD's image must be on: proxy or worker images (key services: 'keys'). */
export type SealRole = 'proxy' | 'worker';

export const KeysErrorCodes = [
    'KEYS_BAD_REQUEST', // malformed request body or blob (typed, nothing changes)
    'KEYS_PEER_REFUSED', // the requester's (or, client side, the key service's) RA-TLS evidence is not accepted
    'KEYS_IMAGE_NOT_ALLOWED', // the peer's image is not on Root's allowlist for the role it asks as (or 'keys')
    'KEYS_WRONG_SERVICE', // the blob was sealed by another key service (different master)
    'KEYS_UNSEAL_FAILED', // authentication failed: the blob was altered, or its role/owner do not match
    'KEYS_LEASE_HELD', // another live TD holds the lease on this blob
    'KEYS_STARTING', // the key service is inside its start-up quiet period (one lease duration)
    'KEYS_UNAVAILABLE', // the key service cannot be reached or answered out of protocol
    'KEYS_STATE_INVALID', // a key-service state file cannot be read, or is refused under a real TEE
    'KEYS_NO_LEASE', // renew or release of a lease this key service does not hold for the requester
] as const;
export type KeysErrorCode = (typeof KeysErrorCodes)[number];
export class KeysError extends CocoonError<KeysErrorCode> {}

export interface SealRequest {
    role: SealRole;
    /** The operator's wallet that owns what the secret signs for (the Proxy's owner, the worker's wallet). */
    owner: Address;
    /** What the secret is, e.g. 'seed'; 1..32 bytes of [a-z0-9-]. */
    name: string;
    /** The secret itself, generated inside the requesting TD; 1..128 bytes. */
    secret: Buffer;
}

/** One live holder per blob: granted by unseal, renewed while the holder runs, released on stop. */
export interface KeyLease {
    /** hex SHA-256 of the blob. */
    readonly id: string;
    /** Unix ms (trust clock) when the lease lapses unless renewed. */
    readonly expiresAt: number;
    renew(): Promise<void>;
    release(): Promise<void>;
}

export interface KeyServiceClient {
    /** Seals a secret for this TD's role and owner; returns the blob to keep on the host's disk. */
    seal(req: SealRequest): Promise<Buffer>;
    /** Opens a blob this TD's role may open; grants the lease (KEYS_LEASE_HELD while another TD holds it). */
    unseal(blob: Buffer, expect: { role: SealRole; owner: Address; name: string }): Promise<{ secret: Buffer; lease: KeyLease }>;
}
