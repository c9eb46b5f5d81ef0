// What every agent resolves from its config file (spec/operations.md): the chain and its clock of trust, the peer
// policy, the wallet (in clear, or sealed through the key service) and a TEE role's seed (sealed, ephemeral or, with
// the simulated TEE only, plaintext; spec/attestation.md "Sealed secrets", "In the agents"). The file formats and their
// schemas are agents/config.ts.
import { randomBytes } from 'crypto';
import { keyPairFromSecretKey, keyPairFromSeed } from '@ton/crypto';
import { TonChain, walletAddressOf } from './core/chain/chain';
import { TrustClock } from './core/chain/trust-clock';
import { ConfigError } from './core/chain/errors';
import { Log } from './core/log';
import { systemClock } from './core/clock';
import { QuoteProvider, VerifyPolicy } from './core/tee/types';
import { KeyLease, SealRole } from './core/keys/types';
import { createKeyServiceClient } from './core/keys/client';
import { loadOrCreateSealedSecret, SEED_BYTES } from './core/keys/sealed-file';
import {
    at,
    chainConfigOf,
    gpuTrustOf,
    KeyServiceSection,
    Loaded,
    readSeed,
    readWalletKey,
    teeOf,
    TeeSection,
    TeeWalletFile,
    TrustClockSection,
    TrustSection,
    trustOf,
} from './config';

/** What commonOf reads: every agent's chain, wallet and trust; a TEE role's TD and key service for a sealed wallet. */
export type CommonFile = {
    chain: Record<string, unknown>;
    trustClock?: TrustClockSection;
    wallet: TeeWalletFile;
    trust: TrustSection;
    tee?: TeeSection;
    keyService?: KeyServiceSection;
    worker?: unknown;
};

/** Chain, wallet and peer policy: what every agent needs (its seed: clientSeedOf, teeSeedOf). */
export async function commonOf(loaded: Loaded<CommonFile>, log?: Log) {
    const { chainConfig, chain, trustClock } = await chainOf(loaded, log);
    const quotePolicy = await trustOf(loaded.dir, loaded.config.trust, log, () => trustClock.date());
    const w = await walletKeyOf(loaded, { chain, quotePolicy, trustClock }, log);
    // A message's valid_until is judged by the wallet contract's now(): dated (and its send timed) by chain time.
    const wallet = new TonChain({ config: chainConfig }).wallet(keyPairFromSecretKey(w.secretKey), { clock: { now: () => trustClock.now(), sleep: systemClock.sleep } });
    return {
        chainConfig,
        chain,
        wallet,
        /** A sealed wallet's lease, held while the agent runs (renewed like the seed's) and released when it stops. */
        walletLease: w.lease,
        trustClock,
        quotePolicy,
        gpuTrust: await gpuTrustOf(loaded.dir, loaded.config.trust.gpu),
        path: (p: string) => at(loaded.dir, p),
    };
}

/** The chain the config names and its clock of trust, started (what commonOf and the operator commands share). */
export async function chainOf(loaded: Loaded<Pick<CommonFile, 'chain' | 'trustClock'>>, log?: Log) {
    const chainConfig = chainConfigOf(loaded);
    if (!chainConfig.rootAddress) throw new ConfigError('chain.rootAddress', 'required: the network is named by its Root contract');
    const chain = new TonChain({ config: chainConfig });
    const trustClock = trustClockOf(chain, loaded.config.trustClock, log);
    await trustClock.start(); // a chain out of reach is logged; evidence checks fail closed until it answers
    return { chainConfig, chain, trustClock };
}

/** A key-service lease the agent keeps while it runs (spec/attestation.md "In the agents"). */
export interface HeldLease {
    lease: KeyLease;
    reopen: () => Promise<KeyLease>;
    renewMs?: number;
    /** Whether this start generated the secret (first start). */
    created: boolean;
}

/**
 * The agent's wallet secret key: `wallet.secretKeyFile` in clear, or `wallet.sealedSecretKeyFile`, an Ed25519 seed
 * sealed for the proxy or worker role and owned by the wallet's own address, opened through the key service (created
 * inside the TD at first start: the operator funds the address `cocoon proxy|worker wallet-address` prints).
 */
export async function walletKeyOf(
    loaded: Loaded<CommonFile>,
    c: { chain: TonChain; quotePolicy: Omit<VerifyPolicy, 'at'>; trustClock: TrustClock },
    log?: Log,
): Promise<{ secretKey: Buffer; lease?: HeldLease }> {
    const { wallet, tee, keyService } = loaded.config;
    if (wallet.secretKeyFile !== undefined) return { secretKey: await readWalletKey(loaded.dir, wallet.secretKeyFile) };
    if (wallet.sealedSecretKeyFile === undefined || tee === undefined || keyService === undefined) {
        throw new ConfigError('wallet.sealedSecretKeyFile', 'a sealed wallet needs the TD (tee) and the key service (keyService) of a proxy or worker config');
    }
    const client = createKeyServiceClient({ url: keyService.url, tee: await teeOf(loaded.dir, tee), quotePolicy: c.quotePolicy, chain: c.chain, clock: c.trustClock });
    const s = await loadOrCreateSealedSecret({
        file: at(loaded.dir, wallet.sealedSecretKeyFile),
        client,
        role: loaded.config.worker !== undefined ? 'worker' : 'proxy',
        owner: (seed) => walletAddressOf(keyPairFromSeed(seed).publicKey),
        name: 'wallet',
        size: SEED_BYTES,
        waitStartingMs: (keyService.waitStartingSeconds ?? DEFAULT_WAIT_STARTING_SECONDS) * 1000,
        log,
    });
    const renewMs = keyService.renewSeconds === undefined ? undefined : keyService.renewSeconds * 1000;
    return { secretKey: keyPairFromSeed(s.secret).secretKey, lease: { lease: s.lease, reopen: s.reopen, renewMs, created: s.created } };
}
export type AgentCommon = Awaited<ReturnType<typeof commonOf>>;

/** A TEE role's seed, and where it came from (spec/operations.md "Seeds"). */
export interface TeeSeed {
    seed: Buffer;
    source: 'sealed' | 'ephemeral' | 'plaintext';
    /** Sealed: the key service's lease on the blob, held while the agent runs (renew every `renewMs`), and how to take it anew. */
    lease?: KeyLease;
    reopen?: () => Promise<KeyLease>;
    renewMs?: number;
    /** Sealed: whether this start generated the seed (first start). */
    created?: boolean;
}

export const DEFAULT_WAIT_STARTING_SECONDS = 120;

/**
 * The proxy's or worker's seed: sealed (`sealedSeedFile`: opened through the key service, created at first start),
 * plaintext (`seedFile`: only with the simulated TEE, which the schema enforces, and logged as a warning), else
 * ephemeral (32 random bytes at every start: the worker's default; its key is bound afresh by each hello).
 */
export async function teeSeedOf(
    loaded: Loaded<{ seedFile?: string; sealedSeedFile?: string; keyService?: KeyServiceSection }>,
    role: SealRole,
    c: Pick<AgentCommon, 'chain' | 'wallet' | 'quotePolicy' | 'trustClock'>,
    tee: QuoteProvider,
    log?: Log,
): Promise<TeeSeed> {
    const { seedFile, sealedSeedFile, keyService } = loaded.config;
    if (seedFile !== undefined) {
        log?.('keys.plaintext-seed-unchecked', { role, file: seedFile, message: 'the seed is a plaintext file the host can read: allowed only with the simulated TEE' });
        return { seed: readSeed(loaded.dir, seedFile), source: 'plaintext' };
    }
    if (sealedSeedFile === undefined || keyService === undefined) return { seed: randomBytes(SEED_BYTES), source: 'ephemeral' };
    const client = createKeyServiceClient({ url: keyService.url, tee, quotePolicy: c.quotePolicy, chain: c.chain, clock: c.trustClock });
    const s = await loadOrCreateSealedSecret({
        file: at(loaded.dir, sealedSeedFile),
        client,
        role,
        owner: c.wallet.address,
        name: 'seed',
        size: SEED_BYTES,
        waitStartingMs: (keyService.waitStartingSeconds ?? DEFAULT_WAIT_STARTING_SECONDS) * 1000,
        log,
    });
    return { seed: s.secret, source: 'sealed', lease: s.lease, reopen: s.reopen, created: s.created, renewMs: keyService.renewSeconds === undefined ? undefined : keyService.renewSeconds * 1000 };
}

/** The agent's clock of trust over its chain's block time. */
export function trustClockOf(chain: TonChain, c: TrustClockSection = {}, log?: Log): TrustClock {
    const ms = (s: number | undefined) => (s === undefined ? undefined : s * 1000);
    return new TrustClock({ chainTime: () => chain.getChainTime(), refreshMs: ms(c.refreshSeconds), maxSkewMs: ms(c.maxSkewSeconds), maxStaleMs: ms(c.maxStaleSeconds), log });
}
