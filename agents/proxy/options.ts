// The proxy agent's options (spec/proxy.md, "Configuration") and their validation: a bad option throws CONFIG_INVALID
// naming the key.
import { Address } from '@ton/core';
import { ChainWallet, TonChain } from '../core/chain/chain';
import { QuoteProvider, VerifyPolicy } from '../core/tee/types';
import type { WorkerConfigPolicy } from '../core/transport/worker-config';
import type { GpuTrust } from '../core/tee/gpu/check';
import type { Log } from '../core/log';
import type { Clock } from '../core/clock';
import type { LeaseToKeep } from '../core/keys/sealed-file';
import { ProxyError } from './errors';
import { ProxyLimits, resolveLimits } from './guard';

export interface ProxyAgentOptions {
    chain: TonChain;
    /** Pays for redeems and commits (any funded wallet; StateCommit and Redeem may come from anyone). */
    wallet: ChainWallet;
    /** This proxy's Proxy contract (its enclaveKey must be the key of `seed`). */
    proxyAddress: Address;
    /** 32-byte enclave seed: RA-TLS key = Proxy enclaveKey = signer of commits and payouts. */
    seed: Buffer;
    /**
     * The key service's lease on a sealed seed (agents/core/keys/sealed-file.ts): renewed while running (taken anew by
     * `reopen` when the service forgot it), released by stop(); lost to another TD, the proxy halts.
     */
    seedLease?: LeaseToKeep;
    /** The lease on a sealed wallet key, kept by the same rules as seedLease (both renewed every `renewMs`, default 20 000). */
    walletLease?: LeaseToKeep;
    tee: QuoteProvider;
    /** Quote policy for workers' attestations (trusted roots, collateral, TCB statuses). */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    /**
     * What a worker's attested configuration may say beyond serving the model with Root's weights (unchecked weights,
     * a backend outside its TD); default by the worker's quote root: production for Intel's, lenient for a simulated one.
     */
    workerConfigPolicy?: WorkerConfigPolicy;
    /** What the proxy trusts of workers' GPU evidence for models whose Root record requires it; default NVIDIA's roots and no RIMs. */
    gpuTrust?: GpuTrust;
    ledgerPath: string;
    /** Bind address of both endpoints; default 127.0.0.1. (The ops server binds metricsHost, default 127.0.0.1.) */
    host?: string;
    clientPort?: number;
    workerPort?: number;
    /** Port of the ops server (/metrics, /healthz, /readyz, /stats); `metricsPort` is its name in every role. */
    statsPort?: number;
    /** Port of the ops server (default statsPort, else a free one). */
    metricsPort?: number;
    /** Bind address of the ops server; default 127.0.0.1. */
    metricsHost?: string;
    /** Redeem a client's voucher when voucher − redeemed ≥ this (nanoTON); default 1 TON. */
    redeemThreshold?: bigint;
    /** Sign a worker payout when earned − payout ≥ this (nanoTON); default 1 TON. */
    payoutThreshold?: bigint;
    /** The longest a ledger change stays uncommitted; default 600 000 ms; 0 = never (commitNow() only). */
    commitIntervalMs?: number;
    /** Commit sooner, once the ledger's money counters moved this much since the last commit (nanoTON); default 1 TON. */
    commitValueThreshold?: bigint;
    /** Root version poll period; default 5000 ms; 0 = never. */
    rootPollMs?: number;
    /** Redeem/payout period; default 30 000 ms; 0 = never (settle() only). */
    settleIntervalMs?: number;
    /** Extra workers tried for a plain request that failed before response_start; default 2. */
    maxFailover?: number;
    /**
     * How long after start no commit is signed, so that a commit sent by an earlier run (possibly unknown to a
     * restored ledger) can no longer land; then the rollback check runs again. Default: the chain config's
     * sendTimeoutMs (= the wallet's valid_until horizon) + 5 s. Tests may shorten it.
     */
    commitGuardMs?: number;
    /**
     * Channel watch period (spec/proxy.md, "Channel watch"): every connected or unredeemed ClientChannel is re-read and
     * redeemed at once when its client starts a withdrawal or a close. Default 5000 ms; 0 = never (watchChannels()
     * only). Must stay well below Root's clientCloseDelay.
     */
    watchIntervalMs?: number;
    /**
     * Test hook: called at named points of a request's life; returning true makes the proxy crash right there (every
     * socket cut, nothing more sent, the ledger closed as a killed process leaves it). 'booked': the delivery is
     * durable, its response_end not yet sent.
     */
    crashHook?: (point: 'booked', requestId: string) => boolean;
    /** WebSocket ping period; a peer that did not answer the previous ping is dropped. Default 20 000 ms. */
    pingIntervalMs?: number;
    /** A peer must send hello within this; default 10 000 ms. */
    helloTimeoutMs?: number;
    /**
     * Period of the re-check of every connected worker's WorkerChannel (Active, stake ≥ minStake); a channel that
     * fails it loses its connections and routing. Default 30 000 ms; 0 = never (checkWorkerChannels() only).
     */
    channelCheckMs?: number;
    /** Bounds on what one peer may take (memory, chain lookups, slots, time); defaults in guard.ts DEFAULT_LIMITS. */
    limits?: Partial<ProxyLimits>;
    clock?: Clock;
    /**
     * The clock of trust (spec/attestation.md "Clock of trust"): the time peers' certificates, quotes, collateral and
     * signed expiries are judged at. run.ts passes chain time; default `clock`.
     */
    trustClock?: Clock;
    log?: Log;
}

export interface ProxyUrls {
    clientUrl: string;
    workerUrl: string;
    /** The ops server's base URL (/stats, /healthz, /readyz, /metrics). */
    statsUrl: string;
    /** Its /metrics URL. */
    metricsUrl: string;
}

function ensure(cond: boolean, key: string, why: string): void {
    if (!cond) throw new ProxyError('CONFIG_INVALID', `${key}: ${why}`, { key });
}

/** The settlement defaults (the options above say the same; bench/settlement.ts measures their chain cost). */
export const SETTLEMENT_DEFAULTS = {
    redeemThreshold: 1_000_000_000n,
    payoutThreshold: 1_000_000_000n,
    settleIntervalMs: 30_000,
    commitIntervalMs: 600_000,
    commitValueThreshold: 1_000_000_000n,
} as const;

/** How often the commit loop checks its triggers: every commit interval, at least every 30 s. */
export const commitCheckMs = (intervalMs: number): number => Math.min(intervalMs, 30_000);

export function validateOptions(o: ProxyAgentOptions): void {
    ensure(typeof o === 'object' && o !== null, 'options', 'required');
    ensure(o.chain instanceof TonChain, 'chain', 'must be a TonChain');
    ensure(o.wallet instanceof ChainWallet, 'wallet', 'must be a ChainWallet');
    ensure(o.proxyAddress instanceof Address, 'proxyAddress', 'must be an Address');
    ensure(Buffer.isBuffer(o.seed) && o.seed.length === 32, 'seed', 'must be a 32-byte Buffer');
    ensure(typeof o.tee?.getQuote === 'function', 'tee', 'must be a QuoteProvider');
    ensure(typeof o.quotePolicy === 'object' && o.quotePolicy !== null, 'quotePolicy', 'required');
    ensure(typeof o.ledgerPath === 'string' && o.ledgerPath.length > 0, 'ledgerPath', 'must be a non-empty path');
    for (const k of ['clientPort', 'workerPort', 'statsPort', 'metricsPort'] as const) {
        const v = o[k];
        ensure(v === undefined || (Number.isInteger(v) && v >= 0 && v <= 65535), k, 'must be a port number 0..65535');
    }
    for (const k of ['redeemThreshold', 'payoutThreshold', 'commitValueThreshold'] as const) {
        const v = o[k];
        ensure(v === undefined || (typeof v === 'bigint' && v >= 1n), k, 'must be a bigint ≥ 1 (nanoTON)');
    }
    for (const k of ['commitIntervalMs', 'rootPollMs', 'settleIntervalMs', 'commitGuardMs', 'watchIntervalMs', 'pingIntervalMs', 'helloTimeoutMs', 'maxFailover', 'channelCheckMs'] as const) {
        const v = o[k];
        ensure(v === undefined || (Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1), k, 'must be a non-negative integer');
    }
    for (const k of ['seedLease', 'walletLease'] as const) {
        const ms = o[k]?.renewMs;
        ensure(ms === undefined || (Number.isInteger(ms) && ms >= 1 && ms <= 2 ** 31 - 1), `${k}.renewMs`, 'must be a positive integer');
    }
    ensure(o.host === undefined || (typeof o.host === 'string' && o.host.length > 0), 'host', 'must be a non-empty string');
    ensure(o.metricsHost === undefined || (typeof o.metricsHost === 'string' && o.metricsHost.length > 0), 'metricsHost', 'must be a non-empty string');
    ensure(o.limits === undefined || (typeof o.limits === 'object' && o.limits !== null), 'limits', 'must be an object');
    const l = resolveLimits(o.limits);
    if ('bad' in l) ensure(false, `limits.${l.bad}`, 'unknown, or not an integer in range');
}
