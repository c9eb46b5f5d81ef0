// The devnet's key service (spec/attestation.md "Sealed secrets"; spec/operations.md "The devnet"): run from
// <dir>/keys.json exactly as `cocoon keys serve --config keys.json` would, in the simulated TD every devnet part
// shares, allowlisted in Root as a 'keys' image by proposal 0. Its master survives restarts in keys/service.json,
// encrypted under the simulated platform's secret (the simulated stand-in for a replicated cluster). The proxy seals
// its enclave seed through it into keys/proxy.sealed.
import { existsSync } from 'fs';
import { join } from 'path';
import type { Address } from '@ton/core';
import type { Log } from '../core/log';
import { KeysConfigSchema, loadConfigFile, ProxyConfigSchema } from '../config';
import { agentWalletAddress, proxyEnclaveKey } from '../run';
import { writeJsonAtomic } from '../core/state-file';
import { keyServiceFromConfig } from '../keys/command';

/**
 * The devnet's lease: short (the schema's minimum), so that a restarted devnet's proxy waits only this long for the
 * service's start-up quiet period (KEYS_STARTING), renewing every DEVNET_RENEW_SECONDS. Production keeps 60 s.
 */
export const DEVNET_LEASE_SECONDS = 5;
export const DEVNET_RENEW_SECONDS = 2;

/** The proxy's sealed seed and, in a devnet created before sealed seeds, its plaintext one. */
export const PROXY_SEALED_SEED = 'keys/proxy.sealed';
export const LEGACY_PROXY_SEED = 'keys/proxy.seed';

/**
 * Whether this devnet's proxy keeps its seed sealed: yes unless the devnet was created before sealed seeds (a
 * plaintext keys/proxy.seed and no sealed file), whose Proxy contract names the plaintext seed's key.
 */
export const proxySeedIsSealed = (dir: string): boolean => existsSync(join(dir, PROXY_SEALED_SEED)) || !existsSync(join(dir, LEGACY_PROXY_SEED));

/** The proxy's sealed wallet key and, in a devnet created before sealed wallets, its plaintext one. */
export const PROXY_SEALED_WALLET = 'keys/proxy-wallet.sealed';
export const LEGACY_PROXY_WALLET = 'keys/proxy-wallet.wallet';

/** Whether this devnet's proxy keeps its wallet key sealed: with a sealed seed, unless a plaintext wallet file is left from before. */
export const proxyWalletIsSealed = (dir: string): boolean => proxySeedIsSealed(dir) && !existsSync(join(dir, LEGACY_PROXY_WALLET));

/**
 * First run: the proxy's wallet address, funded with `fund`, and its enclave key (to deploy its Proxy for), each
 * opened, or created and sealed, as `cocoon proxy wallet-address` and `cocoon proxy enclave-key` do from proxy.json.
 */
export async function openDevnetProxyKeys(dir: string, fund: (wallet: Address) => Promise<void>, log?: Log): Promise<Buffer> {
    const load = () => loadConfigFile(join(dir, 'proxy.json'), ProxyConfigSchema);
    await fund((await agentWalletAddress(load(), log)).address);
    return (await proxyEnclaveKey(load(), log)).enclaveKey;
}

/** Writes keys.json (rewritten at each start, like proxy.json) and starts the key service from it. */
export async function startDevnetKeyService(o: {
    dir: string;
    chain: Record<string, unknown>;
    port: number;
    /** The agents' trust section (the simulated platform, the local PCCS), so the service judges peers as they do. */
    trust: Record<string, unknown>;
    log?: Log;
}): Promise<{ url: string; stop(): Promise<void> }> {
    const file = join(o.dir, 'keys.json');
    writeJsonAtomic(file, {
        chain: o.chain,
        trust: o.trust,
        tee: { provider: 'simulated', stateFile: 'tee.json' },
        keys: { host: '127.0.0.1', port: o.port, stateFile: 'keys/service.json', leaseSeconds: DEVNET_LEASE_SECONDS },
    });
    const k = await keyServiceFromConfig(loadConfigFile(file, KeysConfigSchema), {}, o.log);
    return { url: k.service.url, stop: () => k.stop() };
}
