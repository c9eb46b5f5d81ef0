// The worker's options (spec/worker.md, "Config"): WorkerAgentOptions, their defaults and their validation, which
// throws CONFIG_INVALID naming the offending key before anything touches the chain. Kept apart from runner.ts (the
// agent's lifecycle), like the proxy's options.ts: connections and requests read ResolvedConfig and WorkerModelOffer
// without importing the agent. runner.ts re-exports all of it.
import { createHash } from 'crypto';
import { Address } from '@ton/core';
import { ChainWallet, TonChain } from '../core/chain';
import { Clock, SleepClock } from '../core/clock';
import { Log } from '../core/log';
import type { LeaseToKeep } from '../core/keys/sealed-file';
import { QuoteProvider, VerifyPolicy } from '../core/tee/types';
import type { GpuEvidenceSource } from '../core/tee/gpu/source';
import { MAX_MODELS, MAX_WORKER_CAPACITY } from '../core/wire';
import { WorkerConfigError } from './errors';
import { hashModelDir } from '../core/model-hash';
import { describeError } from '../core/cli-io';
import { hex256 } from '../core/hex';

export interface WorkerModelOffer {
    /** Root's canonical model name. */
    name: string;
    /** Price coefficient (1000 = 1.0× Root's prices), 0..2^32 − 1. */
    coefficient: bigint;
    /**
     * The model's files: hashed at start by the rule of spec/worker.md "Weights hash" and compared with the
     * weightsHash Root registers for the model; a mismatch refuses to start (WORKER_WEIGHTS_MISMATCH).
     */
    weightsDir?: string;
}

export interface WorkerAgentOptions {
    chain: TonChain;
    /** The worker's wallet: stakes, receives payouts, pays claim gas. */
    wallet: ChainWallet;
    /** 32-byte Ed25519 seed: the RA-TLS key = the receipt key. */
    seed: Buffer;
    /**
     * The key service's lease on a sealed wallet key (agents/core/keys/sealed-file.ts): renewed every `renewMs` while
     * running (taken anew by `reopen` when the service forgot it), released by stop(); lost to another TD, the worker stops.
     */
    walletLease?: LeaseToKeep;
    /** ≥ 32-byte seed of the HPKE key; default SHA-256("cocoon-ts/worker/hpke-seed/v1" ‖ seed). */
    hpkeSeed?: Buffer;
    tee: QuoteProvider;
    /**
     * Where the worker's GPU evidence comes from (spec/worker.md "GPU evidence"): asked at start and at every
     * certificate renewal for reports answering gpuNonceFor(its RA-TLS key). Default none: no GPU evidence, and peers
     * refuse the worker for a model whose Root record requires it.
     */
    gpu?: GpuEvidenceSource;
    /** Quote policy for proxies (trusted roots, collateral, …); the image allowlist is Root's proxyImages. */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    models: WorkerModelOffer[];
    /**
     * OpenAI-compatible backend base URL without /v1: http(s), or `http+unix://<percent-encoded socket path>` for
     * HTTP over a Unix socket (e.g. `http+unix://%2Frun%2Fvllm.sock`).
     */
    backendUrl: string;
    /** Concurrent requests across all proxies, 1..100000. */
    capacity: number;
    /** Proxies to serve; default every proxy listed in Root (following Root as it changes). */
    proxies?: Address[];
    /** Stake per WorkerChannel; default (and minimum) the proxy terms' minWorkerStake. */
    stake?: bigint;
    /** Claim automatically when `latest payout − paid ≥ payoutThreshold`; default 1 TON. */
    payoutThreshold?: bigint;
    /** JSON state file: the latest verified payout per channel. */
    statePath: string;
    reconnect?: {
        /** First backoff cap; default 500 ms. */
        baseMs?: number;
        /** Largest backoff cap; default 30 000 ms. */
        maxMs?: number;
        /** A connection ready this long resets the backoff; default 10 000 ms. */
        stableMs?: number;
    };
    /** Root polling period; default 5000 ms. */
    rootPollMs?: number;
    clock?: SleepClock;
    /**
     * The clock of trust (spec/attestation.md "Clock of trust"): the time peers' certificates, quotes, collateral and
     * signed expiries are judged at. run.ts passes chain time; default `clock`.
     */
    trustClock?: Clock;
    log?: Log;
    /** RA-TLS handshake + WebSocket open deadline; default 10 000 ms. */
    connectTimeoutMs?: number;
    /** hello → hello_ok deadline; default 10 000 ms. */
    helloTimeoutMs?: number;
    /** How long to wait for a staked channel to become active; default 60 000 ms. */
    activationTimeoutMs?: number;
    /** WebSocket ping period (a peer silent for two periods is dropped); default 15 000 ms, 0 = off. */
    keepaliveMs?: number;
    /** How long a claim waits for the channel's `paid` to move; default 60 000 ms. */
    claimConfirmMs?: number;
    /**
     * Encapsulated keys of sealed requests remembered to refuse replays (HPKE_REPLAYED); default 65 536 (≈ 8 MB),
     * 0 = no replay cache (a replay is then served under a fresh response key; spec/wire.md, "Router-blind mode").
     */
    replayCacheSize?: number;
    /** Port of the ops server (/metrics, /healthz, /readyz, /stats; 0 = a free one); none when absent. */
    metricsPort?: number;
    /** Its bind address; default 127.0.0.1. */
    metricsHost?: string;
}

/** The payout claim threshold's default (bench/settlement.ts measures its chain cost). */
export const DEFAULT_PAYOUT_THRESHOLD = 1_000_000_000n;
const MAX_UINT32 = (1n << 32n) - 1n;
const MODEL_NAME = /^[\x21-\x7e]{1,128}$/;

export interface ResolvedConfig {
    stake?: bigint;
    payoutThreshold: bigint;
    baseMs: number;
    maxMs: number;
    stableMs: number;
    rootPollMs: number;
    connectTimeoutMs: number;
    helloTimeoutMs: number;
    activationTimeoutMs: number;
    keepaliveMs: number;
    replayCacheSize: number;
}

const bad = (key: string, message: string) => new WorkerConfigError('CONFIG_INVALID', `${key}: ${message}`, { key });

function positiveMs(key: string, v: number | undefined, dflt: number, allowZero = false): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw bad(key, `expected a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds`);
    return v;
}

/** Checks everything that does not need the chain; names the offending key. */
export function validateWorkerOptions(o: WorkerAgentOptions): ResolvedConfig {
    if (!Buffer.isBuffer(o.seed) || o.seed.length !== 32) throw bad('seed', 'expected 32 bytes');
    if (o.hpkeSeed !== undefined && (!Buffer.isBuffer(o.hpkeSeed) || o.hpkeSeed.length < 32)) throw bad('hpkeSeed', 'expected at least 32 bytes');
    if (!Array.isArray(o.models) || o.models.length < 1 || o.models.length > MAX_MODELS) throw bad('models', `expected 1..${MAX_MODELS} models`);
    const names = new Set<string>();
    o.models.forEach((m, i) => {
        if (typeof m?.name !== 'string' || !MODEL_NAME.test(m.name)) throw bad(`models[${i}].name`, 'expected 1..128 printable ASCII characters without spaces');
        if (names.has(m.name)) throw bad(`models[${i}].name`, `duplicate model ${m.name}`);
        names.add(m.name);
        if (typeof m.coefficient !== 'bigint' || m.coefficient < 0n || m.coefficient > MAX_UINT32) throw bad(`models[${i}].coefficient`, 'expected a bigint in 0..2^32 − 1');
        if (m.weightsDir !== undefined && (typeof m.weightsDir !== 'string' || m.weightsDir.length === 0)) throw bad(`models[${i}].weightsDir`, 'expected a directory path');
    });
    if (!Number.isInteger(o.capacity) || o.capacity < 1 || o.capacity > MAX_WORKER_CAPACITY) throw bad('capacity', `expected an integer in 1..${MAX_WORKER_CAPACITY}`);
    let url: URL;
    try {
        url = new URL(o.backendUrl);
    } catch {
        throw bad('backendUrl', 'not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'http+unix:') throw bad('backendUrl', `expected http(s) or http+unix, got ${url.protocol}`);
    if (url.protocol === 'http+unix:' && !/^%2F/i.test(url.hostname)) throw bad('backendUrl', 'http+unix: the host must be the percent-encoded absolute socket path');
    if (o.proxies !== undefined) {
        if (!Array.isArray(o.proxies) || o.proxies.length === 0) throw bad('proxies', 'expected a non-empty list of addresses (omit it to serve every proxy in Root)');
        o.proxies.forEach((p, i) => {
            if (!Address.isAddress(p)) throw bad(`proxies[${i}]`, 'not an Address');
        });
    }
    if (o.stake !== undefined && (typeof o.stake !== 'bigint' || o.stake <= 0n)) throw bad('stake', 'expected a positive bigint (nanoTON)');
    if (o.payoutThreshold !== undefined && (typeof o.payoutThreshold !== 'bigint' || o.payoutThreshold < 0n)) throw bad('payoutThreshold', 'expected a non-negative bigint (nanoTON)');
    if (typeof o.statePath !== 'string' || o.statePath.length === 0) throw bad('statePath', 'expected a file path');
    if (o.metricsPort !== undefined && !(Number.isInteger(o.metricsPort) && o.metricsPort >= 0 && o.metricsPort <= 65535)) throw bad('metricsPort', 'expected a port number 0..65535');
    const baseMs = positiveMs('reconnect.baseMs', o.reconnect?.baseMs, 500);
    const maxMs = positiveMs('reconnect.maxMs', o.reconnect?.maxMs, 30_000);
    if (maxMs < baseMs) throw bad('reconnect.maxMs', 'must be at least reconnect.baseMs');
    return {
        stake: o.stake,
        payoutThreshold: o.payoutThreshold ?? DEFAULT_PAYOUT_THRESHOLD,
        baseMs,
        maxMs,
        stableMs: positiveMs('reconnect.stableMs', o.reconnect?.stableMs, 10_000),
        rootPollMs: positiveMs('rootPollMs', o.rootPollMs, 5000),
        connectTimeoutMs: positiveMs('connectTimeoutMs', o.connectTimeoutMs, 10_000),
        helloTimeoutMs: positiveMs('helloTimeoutMs', o.helloTimeoutMs, 10_000),
        activationTimeoutMs: positiveMs('activationTimeoutMs', o.activationTimeoutMs, 60_000),
        keepaliveMs: positiveMs('keepaliveMs', o.keepaliveMs, 15_000, true),
        replayCacheSize: replayCacheSize(o.replayCacheSize),
    };
}

function replayCacheSize(v: number | undefined): number {
    if (v === undefined) return 1 << 16;
    if (!Number.isInteger(v) || v < 0 || v > 1 << 24) throw bad('replayCacheSize', 'expected an integer in 0..16777216');
    return v;
}

/** The default HPKE seed: domain-separated from the Ed25519 use of the same seed. */
export function defaultHpkeSeed(seed: Buffer): Buffer {
    return createHash('sha256').update('cocoon-ts/worker/hpke-seed/v1').update(seed).digest();
}

/**
 * Hashes a model's files (spec/worker.md "Weights hash") and compares them with the weightsHash Root registers:
 * a worker never serves a model under a name whose registered weights it does not hold.
 */
export async function checkWeights(model: string, dir: string, registered: bigint): Promise<void> {
    let actual: string;
    try {
        actual = (await hashModelDir(dir)).weightsHash;
    } catch (e) {
        throw new WorkerConfigError('WORKER_WEIGHTS_MISMATCH', `model ${model}: ${describeError(e)}`, { model, key: 'models', path: dir, expected: hex256(registered), actual: null });
    }
    if (actual !== hex256(registered)) {
        throw new WorkerConfigError('WORKER_WEIGHTS_MISMATCH', `model ${model}: ${dir} hashes to ${actual}, Root registers ${hex256(registered)}`, { model, key: 'models', path: dir, expected: hex256(registered), actual });
    }
}
