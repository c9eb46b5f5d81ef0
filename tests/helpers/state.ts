// Reading contract state for comparisons in the contract tests.
import { Address, Cell } from '@ton/core';
import { Blockchain } from '@ton/sandbox';

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
