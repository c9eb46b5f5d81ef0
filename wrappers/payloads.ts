// Exact cells that off-chain code signs (spec/contracts.md, "Signed payloads").
// Tags and layouts mirror contracts/constants.tact and the *Hash helpers in the contracts. Every payload carries the
// network's global id (config param 19; the contracts read it with GLOBALID): pass the id of the chain the signature
// is for (agents read it once through agents/core/chain, Chain.getGlobalId()).

import { Address, beginCell, Cell } from '@ton/core';
import { sha256_sync } from '@ton/crypto';
import { loadConfigParamById } from '@ton/ton';
import { ed25519Sign } from './ed25519';
import { TagCommit, TagFault, TagPayout, TagVoucher, TagWithdraw } from '../build/ClientChannel/ClientChannel_ClientChannel';

/** voucher$_ tag:uint32 globalId:int32 channel:MsgAddress amount:Coins — signed by the client's voucher key. */
export function voucherPayload(channel: Address, cumulative: bigint, globalId: number): Cell {
    return beginCell().storeUint(TagVoucher, 32).storeInt(globalId, 32).storeAddress(channel).storeCoins(cumulative).endCell();
}

/** withdraw$_ tag:uint32 globalId:int32 channel:MsgAddress amount:Coins seqno:uint32 close:Bool — co-signed by the proxy's enclave key. */
export function withdrawPayload(channel: Address, amount: bigint, seqno: bigint, close: boolean, globalId: number): Cell {
    return beginCell()
        .storeUint(TagWithdraw, 32)
        .storeInt(globalId, 32)
        .storeAddress(channel)
        .storeCoins(amount)
        .storeUint(seqno, 32)
        .storeBit(close)
        .endCell();
}

/** commit$_ tag:uint32 globalId:int32 proxy:MsgAddress seqno:uint64 hash:uint256 — signed by the proxy's enclave key. */
export function commitPayload(proxy: Address, seqno: bigint, hash: bigint, globalId: number): Cell {
    return beginCell().storeUint(TagCommit, 32).storeInt(globalId, 32).storeAddress(proxy).storeUint(seqno, 64).storeUint(hash, 256).endCell();
}

/** payout$_ tag:uint32 globalId:int32 channel:MsgAddress amount:Coins — signed by the proxy's enclave key. */
export function payoutPayload(channel: Address, cumulative: bigint, globalId: number): Cell {
    return beginCell().storeUint(TagPayout, 32).storeInt(globalId, 32).storeAddress(channel).storeCoins(cumulative).endCell();
}

export interface FaultReport {
    seqno: bigint;
    amount: bigint;
    reason: bigint;
    requestId: bigint;
    evidenceHash: bigint;
}

/** fault$_ tag:uint32 globalId:int32 channel:MsgAddress seqno:uint32 amount:Coins reason:uint32 requestId:uint256 evidenceHash:uint256 (amount < 2^88: one cell) */
export function faultPayload(channel: Address, f: FaultReport, globalId: number): Cell {
    return beginCell()
        .storeUint(TagFault, 32)
        .storeInt(globalId, 32)
        .storeAddress(channel)
        .storeUint(f.seqno, 32)
        .storeCoins(f.amount)
        .storeUint(f.reason, 32)
        .storeUint(f.requestId, 256)
        .storeUint(f.evidenceHash, 256)
        .endCell();
}

/**
 * Ed25519 signature over the payload cell's hash (what the contracts verify with CHKSIGNU). Node's native Ed25519,
 * byte-identical to @ton/crypto's `sign` and fast enough for a voucher per request.
 */
export function signPayload(payload: Cell, secretKey: Buffer): Buffer {
    return ed25519Sign(payload.hash(), secretKey);
}

/** A 512-bit signature in its own cell (for messages that carry signatures by reference). */
export function signatureCell(signature: Buffer): Cell {
    return beginCell().storeBuffer(signature).endCell();
}

/** Model id = sha256 of the canonical model name, as Root computes it. */
export function modelId(name: string): bigint {
    return BigInt('0x' + sha256_sync(Buffer.from(name, 'utf8')).toString('hex'));
}

/** The global id (config param 19) in a base64 config dictionary, e.g. a sandbox Blockchain's `configBase64`. */
export function globalIdFromConfig(configBase64: string): number {
    return loadConfigParamById(configBase64, 19).beginParse().loadInt(32);
}

/** A public key or hash as the uint256 the contracts store. */
export function toUint256(buf: Buffer): bigint {
    return BigInt('0x' + buf.toString('hex'));
}
