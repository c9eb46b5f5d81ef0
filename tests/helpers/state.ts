// Reading contract state for comparisons in the contract tests.
import { Address, Cell } from '@ton/core';
import { Blockchain } from '@ton/sandbox';
import { configParse18, loadConfigParamById } from '@ton/ton';

/** Code and data of an active account (throws if it is not active). */
export async function accountOf(bc: Blockchain, addr: Address): Promise<{ code: Cell; data: Cell }> {
    const st = (await bc.getContract(addr)).accountState;
    if (st?.type !== 'active' || !st.state.code || !st.state.data) throw new Error(`${addr} is not active`);
    return { code: st.state.code, data: st.state.data };
}

/** Deep copy with addresses as strings and cells as hashes (Address objects carry per-instance closures that break toEqual). */
export function plain(x: unknown): unknown {
    if (x instanceof Address) return x.toString();
    if (x instanceof Cell) return x.hash().toString('hex');
    if (Array.isArray(x)) return x.map(plain);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
    return x;
}

/** Cells and bits an account is charged storage for (the emulator's storage stats, updated by each transaction). */
export async function storageUsed(bc: Blockchain, addr: Address): Promise<{ cells: bigint; bits: bigint }> {
    const used = (await bc.getContract(addr)).account.account?.storageStats.used;
    if (!used) throw new Error(`${addr} has no storage stats`);
    return { cells: BigInt(used.cells), bits: BigInt(used.bits) };
}

/** Basechain storage fee in nanoTON for `secs` seconds, from this blockchain's config param 18 (newest price entry). */
export function storageFee(bc: Blockchain, used: { cells: bigint; bits: bigint }, secs: bigint): bigint {
    const prices = configParse18(loadConfigParamById(bc.configBase64, 18).beginParse());
    const p = prices[prices.length - 1];
    const perSecond = used.bits * p.bit_price_ps + used.cells * p.cell_price_ps; // in 2^-16 nanoTON
    return (perSecond * secs + 65535n) >> 16n;
}
