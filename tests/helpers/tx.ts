// Transaction helpers shared by the contract tests: who paid what in a chain of sandbox transactions,
// and moving the sandbox clock.
import { Address } from '@ton/core';
import { Blockchain, BlockchainTransaction } from '@ton/sandbox';
import { findTransactionRequired, flattenTransaction } from '@ton/test-utils';

/** The account id a transaction carries in `tx.address` (the address hash as a number). */
export function accountKey(a: Address): bigint {
    return BigInt('0x' + a.hash.toString('hex'));
}

/** Storage fees `addr` paid in these transactions (the only thing a rejected message may take from it). */
export function storageFees(txs: BlockchainTransaction[], addr: Address): bigint {
    let fees = 0n;
    for (const tx of txs) {
        if (tx.address !== accountKey(addr)) continue;
        const d = tx.description;
        if (d.type === 'generic' && d.storagePhase) fees += d.storagePhase.storageFeesCollected;
    }
    return fees;
}

/** Value of the message from -> to (the transaction must exist). */
export function valueOf(txs: BlockchainTransaction[], from: Address, to: Address): bigint {
    return flattenTransaction(findTransactionRequired(txs, { from, to })).value!;
}

/** Moves the sandbox clock `secs` seconds forward. */
export function advanceTime(bc: Blockchain, secs: number): void {
    bc.now = (bc.now ?? Math.floor(Date.now() / 1000)) + secs;
}

/** Every message `addr` sent in these transactions is a bounce (a refused message moves nothing else out). */
export function expectOnlyBouncesFrom(txs: BlockchainTransaction[], addr: Address): void {
    for (const tx of txs) {
        const f = flattenTransaction(tx);
        if (f.from?.equals(addr)) expect(f.inMessageBounced).toBe(true);
    }
}
