// The devnet's key service (spec/attestation.md "Sealed secrets"; spec/operations.md "The devnet"): in-process, in
// the simulated TD every devnet part shares, allowlisted in Root as a 'keys' image by proposal 0. Its master survives
// restarts in <dir>/keys/service.json, encrypted under the simulated platform's secret (the simulated stand-in for a
// replicated cluster). The proxy seals its enclave seed through it into keys/proxy.sealed.
import { existsSync } from 'fs';
import { join } from 'path';
import type { Log } from '../core/log';
import { TonChain } from '../core/chain/chain';
import { loadChainConfig } from '../core/chain/config';
import { trustClockOf, trustOf } from '../config';
import { KeyService } from '../keys/service';
import { SimulatedTee } from '../core/tee/simulated';

/**
 * The devnet's lease: short, so that a restarted devnet's proxy waits only this long for the service's start-up quiet
 * period (KEYS_STARTING) and renews every DEVNET_RENEW_SECONDS. Production keeps the default (60 s).
 */
export const DEVNET_LEASE_MS = 6000;
export const DEVNET_RENEW_SECONDS = 2;

/** The proxy's sealed seed and, in a devnet created before sealed seeds, its plaintext one. */
export const PROXY_SEALED_SEED = 'keys/proxy.sealed';
export const LEGACY_PROXY_SEED = 'keys/proxy.seed';

/**
 * Whether this devnet's proxy keeps its seed sealed: yes unless the devnet was created before sealed seeds (a
 * plaintext keys/proxy.seed and no sealed file), whose Proxy contract names the plaintext seed's key.
 */
export const proxySeedIsSealed = (dir: string): boolean => existsSync(join(dir, PROXY_SEALED_SEED)) || !existsSync(join(dir, LEGACY_PROXY_SEED));

export interface DevnetKeyServiceOptions {
    dir: string;
    chainUrl: string;
    root: string;
    port: number;
    /** The agents' trust section (the simulated platform, the local PCCS), so the service judges peers as they do. */
    trust: Parameters<typeof trustOf>[1];
    log?: Log;
}

/** Starts the devnet's key service; stop() stops it and its clock of trust. */
export async function startDevnetKeyService(o: DevnetKeyServiceOptions): Promise<{ url: string; stop(): Promise<void> }> {
    const chain = new TonChain({ config: loadChainConfig({ endpoint: o.chainUrl, rootAddress: o.root, rps: 1000, cacheTtlMs: 1000 }, {}) });
    const clock = trustClockOf(chain, {}, o.log);
    await clock.start();
    try {
        const service = await KeyService.start({
            tee: await SimulatedTee.loadOrCreate(join(o.dir, 'tee.json')),
            quotePolicy: await trustOf(o.dir, o.trust, o.log, () => clock.date()),
            chain,
            // Whole milliseconds: the service's answers carry lease expiries as integers (the client checks).
            clock: { now: () => Math.floor(clock.now()) },
            host: '127.0.0.1',
            port: o.port,
            stateFile: join(o.dir, 'keys', 'service.json'),
            leaseMs: DEVNET_LEASE_MS,
            log: o.log,
        });
        return {
            url: service.url,
            async stop() {
                await service.stop();
                clock.stop();
            },
        };
    } catch (e) {
        clock.stop();
        throw e;
    }
}
