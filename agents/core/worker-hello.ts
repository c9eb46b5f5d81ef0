// Binding a WorkerChannel to the worker that presents it (spec/wire.md, "hello"; spec/worker.md, "Channel
// ownership"). The channel names its owner's wallet, not the worker's attested key, so a worker could present
// another worker's channel in hello. The worker's hello therefore carries an Ed25519 signature by the owner wallet's
// key over this cell, and the proxy checks it with the key the wallet's `get_public_key` getter returns:
//
//   worker_hello$_ tag:uint32 ("coh7") channel:MsgAddress proxy:MsgAddress tlsKey:uint256 expiresAt:uint32
//
// tlsKey is the worker's attested RA-TLS certificate key (= its receipt key), so the signature is good only on a
// connection that this very worker opened, with this proxy, until expiresAt. Assumption: the owner is a standard
// wallet (v3/v4/v5: `get_public_key` returns its signing key). The tag sits where a wallet's signed body carries its
// subwallet id; 0x636f6837 is no standard wallet's id, so a wallet refuses this cell as a transfer.
import { Address, beginCell, Cell } from '@ton/core';
import { ed25519Verify } from './ed25519';

/** "coh7": distinct from the other signed payloads (cov1 cow2 coc3 cop4 cof5 cor6). */
export const TagWorkerHello = 0x636f6837;
/** How long a worker's hello signature is valid; the proxy refuses one valid for longer than MAX_HELLO_AUTH_S. */
export const HELLO_AUTH_TTL_S = 600;
export const MAX_HELLO_AUTH_S = 24 * 3600;

export function workerHelloPayload(channel: Address, proxy: Address, tlsKey: Buffer, expiresAt: number): Cell {
    if (tlsKey.length !== 32) throw new RangeError('tlsKey must be 32 bytes');
    return beginCell().storeUint(TagWorkerHello, 32).storeAddress(channel).storeAddress(proxy).storeBuffer(tlsKey, 32).storeUint(expiresAt, 32).endCell();
}

/** Why the owner signature does not bind the channel to this worker, or null when it does. */
export function workerHelloRefusal(
    a: { channel: Address; proxy: Address; tlsKey: Buffer; expiresAt: number; signature: Buffer; ownerKey: Buffer },
    nowS: number,
): string | null {
    if (a.expiresAt <= nowS) return `the owner signature expired at ${a.expiresAt}`;
    if (a.expiresAt > nowS + MAX_HELLO_AUTH_S) return `the owner signature is valid for more than ${MAX_HELLO_AUTH_S} s`;
    if (!ed25519Verify(workerHelloPayload(a.channel, a.proxy, a.tlsKey, a.expiresAt).hash(), a.signature, a.ownerKey))
        return "the hello is not signed by the channel owner's wallet key for this worker's attested key";
    return null;
}
