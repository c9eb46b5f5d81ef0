// Pieces shared by the Blueprint scripts: the sender's address, waiting, and printing results.
import { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { ArgError } from './args';

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
