// The client SDK's options (spec/client.md, "SDK") and their validation: every malformed option is CONFIG_INVALID
// naming its key.
import type { Address } from '@ton/core';
import type { ChainWallet, TonChain } from '../core/chain';
import type { Clock, SleepClock } from '../core/clock';
import type { Log } from '../core/log';
import type { VerifyPolicy } from '../core/tee/types';
import type { WorkerConfigPolicy } from '../core/transport/worker-config';
import type { GpuTrust } from '../core/tee/gpu/check';
import { ClientError } from './errors';
import type { AutoTopUpConfig } from './top-up';

export type Privacy = 'sealed' | 'plain';

export interface CocoonClientOptions {
    chain: TonChain;
    /** Pays deposits and gas, receives refunds; the ClientChannel's `client`. */
    wallet: ChainWallet;
    /** 32 bytes: TLS key = channel clientKey = voucher key. Use a fresh seed for every new channel. */
    seed: Buffer;
    /** Quote policy for proxies and workers (trusted roots, collateral, TCB statuses). Images come from Root. */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    /**
     * What a worker's attested configuration may say beyond serving the model with Root's weights (unchecked weights,
     * a backend outside its TD); default by the worker's quote root: production for Intel's, lenient for a simulated one.
     */
    workerConfigPolicy?: WorkerConfigPolicy;
    /** What the client trusts of workers' GPU evidence for models whose Root record requires it; default NVIDIA's roots and no RIMs. */
    gpuTrust?: GpuTrust;
    /** JSON state file (vouchers); written atomically. */
    statePath: string;
    /** Pin a proxy. Default: among Root's proxies, ones we already have a channel with first, then earliest registeredAt. */
    proxy?: Address;
    /** Default 'sealed' (router-blind). */
    privacy?: Privacy;
    /** Price cap; 1000 = 1.0× Root's prices. Default 1500n. */
    maxCoefficient?: bigint;
    /**
     * Most a single request may cost (nanoTON): a receipt above it is refused and never paid. The cap always applied
     * is the request's worst case, Root's prices × (maxTokens of output + a full context of prompt) × maxCoefficient;
     * this option lowers it.
     */
    maxRequestCost?: bigint;
    /** Channel balance open() tops up to. Default max(Root's minClientDeposit, 1 TON). */
    deposit?: bigint;
    /** How often Root's version is checked (default 5000 ms). */
    rootPollMs?: number;
    /** Longest wait for the next frame of a request (default 120 s). */
    requestTimeoutMs?: number;
    /** RA-TLS handshake + hello deadline (default 10 s). */
    connectTimeoutMs?: number;
    /** Reconnect backoff (default 250 ms doubling to 10 s). */
    reconnectMinMs?: number;
    reconnectMaxMs?: number;
    /** How long worker candidates are cached per model (default 3000 ms). */
    candidateTtlMs?: number;
    /** How long a sent transaction may take to show in the channel's state (default 60 s). */
    txTimeoutMs?: number;
    /** Automatic top-up (spec/client.md, "Automatic top-up"); off when absent. */
    autoTopUp?: AutoTopUpConfig;
    /** Failover (spec/client.md, "Failover"): after the proxy has been unreachable this long, move to another. Off when absent. */
    failoverAfterMs?: number;
    clock?: SleepClock;
    /**
     * The clock of trust (spec/attestation.md "Clock of trust"): the time peers' certificates, quotes, collateral and
     * signed expiries are judged at. run.ts passes chain time; default `clock`.
     */
    trustClock?: Clock;
    log?: Log;
    /** Port of the ops server (/metrics, /healthz, /readyz, /stats; 0 = a free one), started by open(); none when absent. */
    metricsPort?: number;
    /** Its bind address; default 127.0.0.1. */
    metricsHost?: string;
}

export function optNumber(v: number | undefined, name: string, dflt: number): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ClientError('CONFIG_INVALID', `${name} must be a positive number`, { key: name });
    return v;
}

/** Checks the options the constructor reads first; returns the defaults it applies. */
export function checkOptions(opts: CocoonClientOptions): { privacy: Privacy; maxCoefficient: bigint } {
    if (!Buffer.isBuffer(opts.seed) || opts.seed.length !== 32) throw new ClientError('CONFIG_INVALID', 'seed must be a 32-byte Buffer', { key: 'seed' });
    if (typeof opts.statePath !== 'string' || opts.statePath.length === 0) throw new ClientError('CONFIG_INVALID', 'statePath must be a file path', { key: 'statePath' });
    if (!opts.chain || !opts.wallet) throw new ClientError('CONFIG_INVALID', 'chain and wallet are required', { key: opts.chain ? 'wallet' : 'chain' });
    if (!opts.quotePolicy || typeof opts.quotePolicy !== 'object') throw new ClientError('CONFIG_INVALID', 'quotePolicy is required', { key: 'quotePolicy' });
    const privacy = opts.privacy ?? 'sealed';
    if (privacy !== 'sealed' && privacy !== 'plain') throw new ClientError('CONFIG_INVALID', "privacy must be 'sealed' or 'plain'", { key: 'privacy' });
    const maxCoefficient = opts.maxCoefficient ?? 1500n;
    if (typeof maxCoefficient !== 'bigint' || maxCoefficient < 0n || maxCoefficient > 0xffff_ffffn)
        throw new ClientError('CONFIG_INVALID', 'maxCoefficient must be a bigint in 0..2^32-1 (1000 = 1.0x)', { key: 'maxCoefficient' });
    if (opts.deposit !== undefined && (typeof opts.deposit !== 'bigint' || opts.deposit <= 0n))
        throw new ClientError('CONFIG_INVALID', 'deposit must be a positive bigint (nanoTON)', { key: 'deposit' });
    if (opts.metricsPort !== undefined && !(Number.isInteger(opts.metricsPort) && opts.metricsPort >= 0 && opts.metricsPort <= 65535))
        throw new ClientError('CONFIG_INVALID', 'metricsPort must be a port number 0..65535', { key: 'metricsPort' });
    if (opts.maxRequestCost !== undefined && (typeof opts.maxRequestCost !== 'bigint' || opts.maxRequestCost < 0n))
        throw new ClientError('CONFIG_INVALID', 'maxRequestCost must be a non-negative bigint (nanoTON)', { key: 'maxRequestCost' });
    return { privacy, maxCoefficient };
}
