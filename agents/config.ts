// Operator configuration of the proxy, worker and client agents: one JSON file per agent (spec/operations.md).
// Paths inside a file are relative to the file's directory. Secrets live in their own files (0600), named by
// the config: the agent's 32-byte Ed25519 seed (spec/operations.md "Seeds": the proxy's sealed through the key service
// in `sealedSeedFile`, the worker's ephemeral, the client's `seedFile` in hex) and `wallet.secretKeyFile` (a TON
// wallet's 64-byte secret key in hex, or its 24-word mnemonic). Every problem is a ConfigError naming the key.
import { readFileSync, statSync } from 'fs';
import { dirname, isAbsolute, resolve } from 'path';
import { Address } from '@ton/core';
import { keyPairFromSecretKey, mnemonicToPrivateKey, mnemonicValidate } from '@ton/crypto';
import { z } from 'zod';
import { ChainConfig, loadChainConfig } from './core/chain/config';
import { ConfigError } from './core/chain/errors';
import { parseCollateral, TCB_STATUSES } from './core/tee/collateral';
import { TdxProvider } from './core/tee/configfs';
import { SimulatedTee } from './core/tee/simulated';
import { PccsClient } from './core/tee/pccs/client';
import { CollateralService } from './core/tee/pccs/service';
import { Log } from './core/log';
import { Collateral, INTEL_ROOT_KEY_ID, QuoteProvider, TcbStatus, VerifyPolicy } from './core/tee/types';
import { DEFAULT_LIMITS, ProxyLimits } from './proxy/guard';
import { DEFAULT_GPU_TRUST, GpuTrust } from './core/tee/gpu/check';
import { readRims } from './core/tee/gpu/cli';
import { SimulatedGpu } from './core/tee/gpu/simulated';
import { CommandGpuSource, GpuEvidenceSource, SimulatedGpuSource } from './core/tee/gpu/source';
import { MAX_GPUS } from './core/tee/gpu/bundle';

const MAX_CONFIG_BYTES = 256 * 1024;

const tonAmount = z.string().regex(/^\d{1,12}(\.\d{1,9})?$/, 'expected an amount of TON as a decimal string, e.g. "1.5"');
const address = z.string().refine((s) => {
    try {
        Address.parse(s);
        return true;
    } catch {
        return false;
    }
}, 'not a TON address');
const port = z.number().int().min(0).max(65535);
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `expected ${bytes} bytes of hex`);

const Tee = z.discriminatedUnion('provider', [
    z.object({ provider: z.literal('simulated'), stateFile: z.string().min(1) }).strict(),
    z.object({ provider: z.literal('tdx'), configfsDir: z.string().min(1).optional() }).strict(),
]);

/**
 * What this agent trusts of workers' GPU evidence (spec/attestation.md "GPU evidence in the chain of evidence"):
 * NVIDIA's device and RIM roots unless files name others, the signed RIMs of a directory, revoked serials (one hex
 * serial a line; absent = revocation not checked), or a simulated GPU's state file (its roots and RIMs: devnet only).
 */
const GpuTrustSchema = z
    .object({
        deviceRootFile: z.string().min(1).optional(),
        rimRootFile: z.string().min(1).optional(),
        rimDir: z.string().min(1).optional(),
        revokedFile: z.string().min(1).optional(),
        simulatedGpuFile: z.string().min(1).optional(),
    })
    .strict()
    .refine((g) => g.simulatedGpuFile === undefined || (g.deviceRootFile === undefined && g.rimRootFile === undefined), 'simulatedGpuFile names both roots: it excludes deviceRootFile and rimRootFile');

/** Where a worker's GPU evidence comes from (spec/worker.md "GPU evidence"). */
const GpuSchema = z.discriminatedUnion('evidence', [
    z.object({ evidence: z.literal('simulated'), stateFile: z.string().min(1), count: z.number().int().min(1).max(MAX_GPUS).optional() }).strict(),
    z
        .object({
            evidence: z.literal('command'),
            command: z.array(z.string().min(1)).min(1).max(64),
            count: z.number().int().min(1).max(MAX_GPUS).optional(),
            timeoutMs: z.number().int().min(100).max(600_000).optional(),
        })
        .strict(),
]);

/** Whose quotes this agent accepts from its peers. */
const Trust = z
    .object({
        /** What GPU evidence of workers this agent accepts (models whose Root record requires it). */
        gpu: GpuTrustSchema.optional(),
        /** Trusted root key ids (SHA-384 of the root public key). Default: Intel's. */
        rootKeyIds: z.array(hex(48)).min(1).optional(),
        /** DCAP collateral (dcap-qvl JSON field names) used to evaluate TCB status, QE identity and CRLs. */
        collateralFile: z.string().min(1).optional(),
        /** A simulated platform's state file: trust its root and its collateral (devnet and tests only). */
        simulatedTeeFile: z.string().min(1).optional(),
        acceptTcbStatuses: z.array(z.string()).min(1).optional(),
        /** A PCCS (Intel PCS v4 API) to fetch collateral per platform from, verified and refreshed before nextUpdate. */
        pccsUrl: z.string().url().regex(/^https?:\/\//, 'expected an http(s) URL').optional(),
        /** Where fetched collateral is kept across restarts (one verified file per platform). */
        collateralCacheDir: z.string().min(1).optional(),
        /** How long past nextUpdate collateral from the PCCS may still be used, with a warning (default 24). */
        collateralGraceHours: z.number().min(0).max(24 * 30).optional(),
    })
    .strict()
    .refine((t) => t.collateralFile !== undefined || t.simulatedTeeFile !== undefined || t.pccsUrl !== undefined, 'name collateralFile (DCAP collateral), pccsUrl or simulatedTeeFile')
    .refine((t) => t.collateralFile === undefined || t.pccsUrl === undefined, 'collateralFile and pccsUrl exclude each other: name one')
    .refine((t) => t.pccsUrl !== undefined || (t.collateralCacheDir === undefined && t.collateralGraceHours === undefined), 'collateralCacheDir and collateralGraceHours need pccsUrl');

/** The proxy's connection guard (spec/proxy.md, "Limits"): any subset of its keys, integers. */
const ProxyLimitsSchema = z
    .object(Object.fromEntries(Object.keys(DEFAULT_LIMITS).map((k) => [k, z.number().int().min(0).max(2 ** 31 - 1).optional()])))
    .strict() as unknown as z.ZodType<Partial<ProxyLimits>>;

/** The clock of trust (spec/attestation.md "Clock of trust"): chain time, with its refresh and bounds in seconds. */
const TrustClockSchema = z
    .object({
        refreshSeconds: z.number().int().min(1).max(3600).optional(),
        maxSkewSeconds: z.number().int().min(1).max(30 * 24 * 3600).optional(),
        // The host writes this file: the cap bounds how long it can keep stale chain time (spec/attestation.md).
        maxStaleSeconds: z.number().int().min(1).max(3600).optional(),
    })
    .strict();

/** The key service the proxy seals its seed through (spec/attestation.md "Sealed secrets"). */
const KeyServiceSchema = z
    .object({
        url: z.string().url().regex(/^https:\/\//, 'expected an https URL (the key service speaks mutual RA-TLS)'),
        /** How often the seed's lease is renewed (default 20). */
        renewSeconds: z.number().int().min(1).max(3600).optional(),
        /** How long a start waits while the key service is in its start-up quiet period (KEYS_STARTING; default 120). */
        waitStartingSeconds: z.number().int().min(0).max(3600).optional(),
    })
    .strict();

const Common = {
    chain: z.record(z.string(), z.unknown()),
    trustClock: TrustClockSchema.optional(),
    /** A plaintext seed file: the client's; the proxy's and worker's only with the simulated TEE (refined below). */
    seedFile: z.string().min(1).optional(),
    wallet: z.object({ secretKeyFile: z.string().min(1) }).strict(),
    trust: Trust,
};

/**
 * A TEE role's wallet: `secretKeyFile` in clear, or `sealedSecretKeyFile`, a key-service blob of its Ed25519 seed
 * created inside the TD at first start (spec/operations.md "Seeds"); exactly one.
 */
const TeeWallet = z
    .object({ secretKeyFile: z.string().min(1).optional(), sealedSecretKeyFile: z.string().min(1).optional() })
    .strict()
    .refine((w) => (w.secretKeyFile === undefined) !== (w.sealedSecretKeyFile === undefined), { message: 'name exactly one of secretKeyFile and sealedSecretKeyFile', path: ['sealedSecretKeyFile'] });
export type TeeWalletFile = z.infer<typeof TeeWallet>;

/** A real TD never reads its seed from a host file: the host could read it too (spec/operations.md "Seeds"). */
function noPlaintextSeedInTd(c: { seedFile?: string; tee: { provider: string } }): boolean {
    return c.seedFile === undefined || c.tee.provider !== 'tdx';
}
const PLAINTEXT_SEED_REFUSED = {
    message: "a plaintext seed file is refused with tee.provider 'tdx' (the host can read it): the proxy seals its seed (sealedSeedFile + keyService), the worker's is ephemeral (omit seedFile)",
    path: ['seedFile'],
};
/** Nor its wallet key, by the same rule: the host could spend the stake and the earnings. */
function noPlaintextWalletInTd(c: { wallet: TeeWalletFile; tee: { provider: string } }): boolean {
    return c.wallet.secretKeyFile === undefined || c.tee.provider !== 'tdx';
}
const PLAINTEXT_WALLET_REFUSED = {
    message: "a plaintext wallet.secretKeyFile is refused with tee.provider 'tdx' (the host can read it): seal it (wallet.sealedSecretKeyFile + keyService)",
    path: ['wallet', 'secretKeyFile'],
};
/** The key service is named exactly when something is sealed through it. */
function keyServiceIffSealed(c: { sealedSeedFile?: string; wallet: TeeWalletFile; keyService?: unknown }): boolean {
    return (c.sealedSeedFile !== undefined || c.wallet.sealedSecretKeyFile !== undefined) === (c.keyService !== undefined);
}
const KEY_SERVICE_IFF_SEALED = { message: 'keyService goes with sealedSeedFile or wallet.sealedSecretKeyFile, and only with them', path: ['keyService'] };

export const ProxyConfigSchema = z
    .object({
        ...Common,
        wallet: TeeWallet,
        tee: Tee,
        /** The enclave seed as a key-service blob (created at first start); excludes seedFile. */
        sealedSeedFile: z.string().min(1).optional(),
        keyService: KeyServiceSchema.optional(),
        proxy: z
            .object({
                /** The Proxy contract; required to run, absent while the operator learns the enclave key to deploy it. */
                address: address.optional(),
                ledgerFile: z.string().min(1),
                host: z.string().min(1).optional(),
                clientPort: port.optional(),
                workerPort: port.optional(),
                statsPort: port.optional(),
                redeemThresholdTon: tonAmount.optional(),
                payoutThresholdTon: tonAmount.optional(),
                commitValueTon: tonAmount.optional(),
                commitIntervalMs: z.number().int().min(0).optional(),
                settleIntervalMs: z.number().int().min(0).optional(),
                rootPollMs: z.number().int().min(0).optional(),
                watchIntervalMs: z.number().int().min(0).optional(),
                channelCheckMs: z.number().int().min(0).optional(),
                limits: ProxyLimitsSchema.optional(),
                metricsPort: port.optional(),
                metricsHost: z.string().min(1).optional(),
                /** The Proxy owner's wallet, for `cocoon proxy withdraw-commission|add-stake|close|finish-close|evict`; the agent never reads it. */
                ownerWallet: z.object({ secretKeyFile: z.string().min(1) }).strict().optional(),
            })
            .strict(),
    })
    .strict()
    .refine((c) => (c.seedFile === undefined) !== (c.sealedSeedFile === undefined), { message: 'name exactly one of seedFile and sealedSeedFile', path: ['sealedSeedFile'] })
    .refine(keyServiceIffSealed, KEY_SERVICE_IFF_SEALED)
    .refine(noPlaintextSeedInTd, PLAINTEXT_SEED_REFUSED)
    .refine(noPlaintextWalletInTd, PLAINTEXT_WALLET_REFUSED);

export const WorkerConfigSchema = z
    .object({
        ...Common,
        wallet: TeeWallet,
        tee: Tee,
        /** The key service the worker's sealed wallet is opened through (with wallet.sealedSecretKeyFile only). */
        keyService: KeyServiceSchema.optional(),
        gpu: GpuSchema.optional(),
        worker: z
            .object({
                models: z.array(z.object({ name: z.string().min(1).max(128), coefficient: z.number().int().min(0).max(0xffffffff), weightsDir: z.string().min(1).optional() }).strict()).min(1).max(32),
                backendUrl: z.string().url(),
                capacity: z.number().int().min(1).max(100_000),
                proxies: z.array(address).optional(),
                stakeTon: tonAmount.optional(),
                payoutThresholdTon: tonAmount.optional(),
                stateFile: z.string().min(1),
                rootPollMs: z.number().int().min(0).optional(),
                replayCacheSize: z.number().int().min(0).max(1 << 24).optional(),
                metricsPort: port.optional(),
                metricsHost: z.string().min(1).optional(),
            })
            .strict(),
    })
    .strict()
    .refine(keyServiceIffSealed, KEY_SERVICE_IFF_SEALED)
    .refine(noPlaintextSeedInTd, PLAINTEXT_SEED_REFUSED)
    .refine(noPlaintextWalletInTd, PLAINTEXT_WALLET_REFUSED);

export const ClientConfigSchema = z
    .object({
        ...Common,
        client: z
            .object({
                proxy: address.optional(),
                stateFile: z.string().min(1),
                privacy: z.enum(['sealed', 'plain']).optional(),
                maxCoefficient: z.number().int().min(0).max(0xffffffff).optional(),
                depositTon: tonAmount.optional(),
                maxRequestCostTon: tonAmount.optional(),
                host: z.string().min(1).optional(),
                port: port.optional(),
                rootPollMs: z.number().int().min(0).optional(),
                metricsPort: port.optional(),
                metricsHost: z.string().min(1).optional(),
                autoTopUp: z.object({ thresholdTon: tonAmount, amountTon: tonAmount, budgetTon: tonAmount }).strict().optional(),
                failoverAfterMs: z.number().int().min(1).optional(),
            })
            .strict(),
    })
    .strict()
    .refine((c) => c.seedFile !== undefined, { message: 'required: the client signs with this seed', path: ['seedFile'] });

export type ProxyConfigFile = z.infer<typeof ProxyConfigSchema>;
export type WorkerConfigFile = z.infer<typeof WorkerConfigSchema>;
export type ClientConfigFile = z.infer<typeof ClientConfigSchema>;

/** A parsed config file with its directory (relative paths resolve against it). */
export interface Loaded<T> {
    path: string;
    dir: string;
    config: T;
}

/** Reads and validates an agent config file; ConfigError names the first bad key. */
export function loadConfigFile<T>(path: string, schema: z.ZodType<T>): Loaded<T> {
    let text: string;
    try {
        text = readFileSync(path, 'utf8');
    } catch (e) {
        throw new ConfigError('config', `cannot read ${path}: ${(e as Error).message}`);
    }
    if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new ConfigError('config', `${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
    let raw: unknown;
    try {
        raw = JSON.parse(text);
    } catch (e) {
        throw new ConfigError('config', `${path} is not valid JSON: ${(e as Error).message}`);
    }
    return { path, dir: dirname(resolve(path)), config: parseConfig(raw, schema) };
}

export function parseConfig<T>(raw: unknown, schema: z.ZodType<T>): T {
    const r = schema.safeParse(raw);
    if (!r.success) {
        const issue = r.error.issues[0];
        const key = issue.path.length > 0 ? issue.path.join('.') : 'config';
        throw new ConfigError(key, issue.message);
    }
    return r.data;
}

/** A path of a config file, resolved against the file's directory. */
export const at = (dir: string, p: string) => (isAbsolute(p) ? p : resolve(dir, p));

function readSecret(dir: string, file: string, key: string): string {
    try {
        return readFileSync(at(dir, file), 'utf8').trim();
    } catch (e) {
        throw new ConfigError(key, `cannot read ${file}: ${(e as Error).message}`);
    }
}

/** The agent's 32-byte seed from `seedFile` (64 hex characters). */
export function readSeed(dir: string, file: string): Buffer {
    const text = readSecret(dir, file, 'seedFile');
    if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new ConfigError('seedFile', `${file} must hold 64 hex characters (a 32-byte seed)`);
    return Buffer.from(text, 'hex');
}

/** The wallet's secret key from its file: 128 hex characters or a 24-word mnemonic. */
export async function readWalletKey(dir: string, file: string): Promise<Buffer> {
    const text = readSecret(dir, file, 'wallet.secretKeyFile');
    if (/^[0-9a-fA-F]{128}$/.test(text)) return keyPairFromSecretKey(Buffer.from(text, 'hex')).secretKey;
    const words = text.split(/\s+/);
    if (words.length === 24 && (await mnemonicValidate(words))) return (await mnemonicToPrivateKey(words)).secretKey;
    throw new ConfigError('wallet.secretKeyFile', `${file} holds neither a 64-byte secret key in hex nor a valid 24-word mnemonic`);
}

export function chainConfigOf(loaded: Loaded<{ chain: Record<string, unknown> }>): ChainConfig {
    return loadChainConfig(loaded.config.chain, process.env);
}

export async function teeOf(dir: string, tee: z.infer<typeof Tee>): Promise<QuoteProvider> {
    if (tee.provider === 'tdx') return new TdxProvider(tee.configfsDir ? { baseDir: tee.configfsDir } : {});
    return SimulatedTee.loadOrCreate(at(dir, tee.stateFile));
}

/** The worker's GPU evidence source of its `gpu` section (undefined: no GPU evidence). */
export async function gpuSourceOf(dir: string, gpu: z.infer<typeof GpuSchema> | undefined): Promise<GpuEvidenceSource | undefined> {
    if (!gpu) return undefined;
    if (gpu.evidence === 'command') return new CommandGpuSource({ command: gpu.command, count: gpu.count, timeoutMs: gpu.timeoutMs });
    try {
        return new SimulatedGpuSource(await SimulatedGpu.loadOrCreate(at(dir, gpu.stateFile)), gpu.count);
    } catch (e) {
        throw new ConfigError('gpu.stateFile', `${gpu.stateFile}: ${(e as Error).message}`);
    }
}

const MAX_REVOKED_FILE_BYTES = 1024 * 1024;

/** The GPU trust of `trust.gpu`; without it NVIDIA's roots and no RIMs (real evidence is then GPU_RIM_MISSING). */
export async function gpuTrustOf(dir: string, g: z.infer<typeof GpuTrustSchema> | undefined): Promise<GpuTrust> {
    if (!g) return DEFAULT_GPU_TRUST;
    const file = (p: string, key: string) => {
        try {
            return readFileSync(at(dir, p), 'latin1');
        } catch (e) {
            throw new ConfigError(key, `cannot read ${p}: ${(e as Error).message}`);
        }
    };
    const trust: GpuTrust = { ...DEFAULT_GPU_TRUST, rims: [] };
    if (g.simulatedGpuFile !== undefined) {
        try {
            const sim = await SimulatedGpu.loadOrCreate(at(dir, g.simulatedGpuFile));
            Object.assign(trust, { deviceRootPem: sim.deviceRootPem, rimRootPem: sim.rimRootPem, rims: sim.rims() });
        } catch (e) {
            throw new ConfigError('trust.gpu.simulatedGpuFile', `${g.simulatedGpuFile}: ${(e as Error).message}`);
        }
    }
    if (g.deviceRootFile !== undefined) trust.deviceRootPem = file(g.deviceRootFile, 'trust.gpu.deviceRootFile');
    if (g.rimRootFile !== undefined) trust.rimRootPem = file(g.rimRootFile, 'trust.gpu.rimRootFile');
    if (g.rimDir !== undefined) {
        try {
            trust.rims = [...trust.rims, ...readRims(at(dir, g.rimDir))];
        } catch (e) {
            throw new ConfigError('trust.gpu.rimDir', (e as Error).message);
        }
    }
    if (g.revokedFile !== undefined) {
        let size = 0;
        try {
            size = statSync(at(dir, g.revokedFile)).size;
        } catch {
            // file() names the error
        }
        if (size > MAX_REVOKED_FILE_BYTES) throw new ConfigError('trust.gpu.revokedFile', `${g.revokedFile} is larger than ${MAX_REVOKED_FILE_BYTES} bytes`);
        const text = file(g.revokedFile, 'trust.gpu.revokedFile');
        const serials = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l.length > 0);
        const badSerial = serials.find((s) => !/^[0-9a-fA-F]{1,64}$/.test(s));
        if (badSerial !== undefined) throw new ConfigError('trust.gpu.revokedFile', `${g.revokedFile}: not a hex serial: ${badSerial.slice(0, 80)}`);
        trust.revoked = { serials };
    }
    return trust;
}

export const DEFAULT_COLLATERAL_GRACE_HOURS = 24;

/** The quote policy an agent applies to its peers. */
export async function trustOf(dir: string, trust: z.infer<typeof Trust>, log?: Log, clock?: () => Date): Promise<Omit<VerifyPolicy, 'at'>> {
    let rootKeyIds = trust.rootKeyIds?.map((h) => h.toLowerCase());
    let collateral: Collateral | undefined;
    let simulated: SimulatedTee | undefined;
    if (trust.simulatedTeeFile !== undefined) {
        simulated = await SimulatedTee.loadOrCreate(at(dir, trust.simulatedTeeFile));
        rootKeyIds = [...(rootKeyIds ?? []), simulated.rootKeyId];
        if (trust.pccsUrl === undefined) collateral = await simulated.signCollateral();
    }
    if (trust.pccsUrl !== undefined) {
        // Live collateral (spec/attestation.md "Live collateral"); the simulated platform's is fetched before the first peer.
        const roots = rootKeyIds ?? [INTEL_ROOT_KEY_ID];
        const service = new CollateralService({
            client: new PccsClient({ baseUrl: trust.pccsUrl }),
            trustedRootKeyIds: roots,
            graceMs: (trust.collateralGraceHours ?? DEFAULT_COLLATERAL_GRACE_HOURS) * 3600_000,
            cacheDir: trust.collateralCacheDir === undefined ? undefined : at(dir, trust.collateralCacheDir),
            clock,
            log,
        });
        await service.start(simulated ? [{ fmspc: simulated.toState().platform.fmspc.toUpperCase(), ca: 'platform' }] : []);
        const statuses = checkedStatuses(trust.acceptTcbStatuses);
        return { trustedRootKeyIds: roots, requireCollateral: true, collateralSource: service, ...(statuses ? { acceptedTcbStatuses: statuses } : {}) };
    }
    if (trust.collateralFile !== undefined) {
        const text = readSecret(dir, trust.collateralFile, 'trust.collateralFile');
        try {
            collateral = JSON.parse(text) as Collateral;
            parseCollateral(collateral);
        } catch (e) {
            throw new ConfigError('trust.collateralFile', `${trust.collateralFile}: ${(e as Error).message}`);
        }
    }
    const statuses = checkedStatuses(trust.acceptTcbStatuses);
    return {
        trustedRootKeyIds: rootKeyIds ?? [INTEL_ROOT_KEY_ID],
        requireCollateral: true,
        collateral,
        ...(statuses ? { acceptedTcbStatuses: statuses } : {}),
    };
}

function checkedStatuses(statuses: string[] | undefined): TcbStatus[] | undefined {
    for (const s of statuses ?? []) if (!(TCB_STATUSES as readonly string[]).includes(s)) throw new ConfigError('trust.acceptTcbStatuses', `unknown TCB status ${s}`);
    return statuses as TcbStatus[] | undefined;
}

/** The client's seed: `seedFile` (the client is not a TEE role; its schema requires the file). */
export function clientSeedOf(loaded: Loaded<ClientConfigFile>): Buffer {
    return readSeed(loaded.dir, loaded.config.seedFile!);
}

/** The Proxy contract the proxy config names; required to run it and for its operator commands. */
export function proxyAddressOf(loaded: Loaded<ProxyConfigFile>): Address {
    const a = loaded.config.proxy.address;
    if (a === undefined) throw new ConfigError('proxy.address', 'required: deploy the Proxy contract for the key `cocoon proxy enclave-key` prints, then name it here');
    return Address.parse(a);
}

/** `cocoon keys serve` (spec/attestation.md "Sealed secrets"): a key service holds no wallet and no seed of its own. */
export const KeysConfigSchema = z
    .object({
        chain: z.record(z.string(), z.unknown()),
        trustClock: TrustClockSchema.optional(),
        trust: Trust,
        tee: Tee,
        keys: z
            .object({
                host: z.string().min(1).optional(),
                port: port.optional(),
                /** Simulated TEE only: the master kept across restarts, encrypted under the simulated platform's key. */
                stateFile: z.string().min(1).optional(),
                /** Live replicas to fetch the master from. */
                peers: z.array(z.string().url().regex(/^https:\/\//, 'expected an https URL')).max(16).optional(),
                leaseSeconds: z.number().int().min(5).max(3600).optional(),
                maxLeases: z.number().int().min(1).max(1_000_000).optional(),
            })
            .strict(),
    })
    .strict();
export type KeysConfigFile = z.infer<typeof KeysConfigSchema>;
export type TeeSection = z.infer<typeof Tee>;
export type TrustSection = z.infer<typeof Trust>;
export type TrustClockSection = z.infer<typeof TrustClockSchema>;
export type KeyServiceSection = z.infer<typeof KeyServiceSchema>;
