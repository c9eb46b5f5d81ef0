// Pieces shared by the Blueprint scripts: the sender's address, waiting, and printing results.
import { NetworkProvider } from '@ton/blueprint';
import { Address, Contract, OpenedContract } from '@ton/core';
import { TonClient } from '@ton/ton';
import { ToncenterClient } from '../../agents/core/chain/toncenter';
import { ArgError } from './args';

const readers = new WeakMap<TonClient, ToncenterClient>();

/**
 * Opens a contract for the scripts. With a toncenter v2 endpoint (`--custom ... --custom-version v2`) it goes
 * through ToncenterClient, because @ton/ton 16.3's TonClient cannot decode getters that return nested or
 * optional structs (Proxy.proxyState, Root.proxy, Governance.proposal, ...); sends still go through the
 * provider's sender. Otherwise (TonClient4, tonapi, tests) it is provider.open.
 */
export function open<T extends Contract>(provider: NetworkProvider, contract: T): OpenedContract<T> {
    let api: unknown;
    try {
        api = provider.api();
    } catch {
        api = undefined;
    }
    if (api instanceof TonClient && !(api instanceof ToncenterClient)) {
        let reader = readers.get(api);
        if (!reader) {
            reader = new ToncenterClient(api.parameters);
            readers.set(api, reader);
        }
        return reader.open(contract);
    }
    return provider.open(contract);
}

export function senderAddress(provider: NetworkProvider): Address {
    const a = provider.sender().address;
    if (!a) throw new ArgError('the sender has no address: use --mnemonic (or a wallet that reports its address)');
    return a;
}

/** Polls `check` until it returns true (on a real network state lags the send by a few seconds). */
export async function waitUntil(what: string, check: () => Promise<boolean>, attempts = 30, intervalMs = 2000): Promise<void> {
    for (let i = 0; i < attempts; i++) {
        if (await check().catch(() => false)) return;
        await new Promise((r) => setTimeout(r, intervalMs));
    }
    throw new Error(`timed out waiting for ${what}`);
}

/** Prints a result as one JSON object (bigints as decimal strings, addresses in friendly form). */
export function report(provider: NetworkProvider, result: Record<string, unknown>): void {
    provider.ui().write(
        JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Address ? v.toString() : v), 2),
    );
}
