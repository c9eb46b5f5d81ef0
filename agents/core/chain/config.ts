// Chain-access configuration: one typed object, loaded in one place from (lowest to highest precedence)
// defaults < a config object (e.g. the `chain` section of a config file) < environment < overrides (e.g. flags).
// Every validation error is a ConfigError naming the offending key: the object path (`chain.rps`) or the
// environment variable (`TONCENTER_RPS`) the bad value came from.
import { Address } from '@ton/core';
import { ConfigError } from './errors';

export interface TonapiConfig {
    /** Base URL of a tonapi-compatible REST + SSE service (tonapi.io, or the devnet server). */
    endpoint: string;
    apiKey?: string;
}

export interface ChainConfig {
    /** toncenter v2 JSON-RPC endpoint, e.g. https://testnet.toncenter.com/api/v2/jsonRPC or the devnet's. */
    endpoint: string;
    apiKey?: string;
    /** Client-side request rate limit (request starts per second). Default 1 without a key, 10 with one. */
    rps: number;
    /** Retries after the first attempt on 429, 5xx, timeouts and network errors. */
    maxRetries: number;
    /** Exponential backoff: attempt n waits about min(backoffMaxMs, backoffBaseMs * 2^n), with jitter. */
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** A Retry-After longer than this is not waited for: the request fails with CHAIN_RATE_LIMITED. */
    retryAfterMaxMs: number;
    /** Per-attempt HTTP timeout. */
    timeoutMs: number;
    /** Root contract; required for Root reads (getRootConfig, isImageAllowed). */
    rootAddress?: Address;
    /** How long getRootConfig serves its cache before checking Root's version again (one getter call). */
    cacheTtlMs: number;
    /** A wallet transfer fails with CHAIN_SEND_TIMEOUT if its seqno has not advanced after this long. */
    sendTimeoutMs: number;
    /** Interval between seqno polls while waiting for a transfer. */
    sendPollMs: number;
    /** Optional tonapi-compatible service for transaction streams. */
    tonapi?: TonapiConfig;
}

/** What callers may pass: numbers may be numeric strings, the Root address a string. */
export type ChainConfigInput = {
    [K in keyof ChainConfig]?: K extends 'rootAddress' ? Address | string : K extends 'tonapi' ? Partial<TonapiConfig> : ChainConfig[K] | string;
};

export const CHAIN_DEFAULTS = {
    rpsWithoutKey: 1,
    rpsWithKey: 10,
    maxRetries: 5,
    backoffBaseMs: 500,
    backoffMaxMs: 15_000,
    retryAfterMaxMs: 60_000,
    timeoutMs: 20_000,
    cacheTtlMs: 30_000,
    sendTimeoutMs: 90_000,
    sendPollMs: 1_500,
} as const;

/** Environment variables read by loadChainConfig, by config key. */
export const CHAIN_ENV: Partial<Record<keyof ChainConfig | 'tonapi.endpoint' | 'tonapi.apiKey', string>> = {
    endpoint: 'TONCENTER_ENDPOINT',
    apiKey: 'TONCENTER_API_KEY',
    rps: 'TONCENTER_RPS',
    maxRetries: 'TONCENTER_MAX_RETRIES',
    timeoutMs: 'TONCENTER_TIMEOUT_MS',
    rootAddress: 'COCOON_ROOT',
    cacheTtlMs: 'COCOON_ROOT_CACHE_TTL_MS',
    'tonapi.endpoint': 'TONAPI_ENDPOINT',
    'tonapi.apiKey': 'TONAPI_KEY',
};

const KEYS: (keyof ChainConfig)[] = [
    'endpoint',
    'apiKey',
    'rps',
    'maxRetries',
    'backoffBaseMs',
    'backoffMaxMs',
    'retryAfterMaxMs',
    'timeoutMs',
    'rootAddress',
    'cacheTtlMs',
    'sendTimeoutMs',
    'sendPollMs',
    'tonapi',
];

interface Sourced {
    value: unknown;
    /** The key as the user wrote it: `chain.rps` or `TONCENTER_RPS`. */
    name: string;
}

/**
 * Builds a validated ChainConfig.
 * @param input  config object (file section); unknown keys are rejected
 * @param env    environment (defaults to process.env); empty variables count as unset
 * @param overrides highest precedence (e.g. command-line flags)
 * @param prefix how object keys are named in errors (default `chain`)
 */
export function loadChainConfig(
    input: unknown = {},
    env: Record<string, string | undefined> = process.env,
    overrides: ChainConfigInput = {},
    prefix = 'chain',
): ChainConfig {
    const layers: { obj: Record<string, unknown>; name: string }[] = [];
    for (const [obj, name] of [
        [input, prefix],
        [overrides, prefix],
    ] as const) {
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new ConfigError(name, 'must be an object');
        for (const k of Object.keys(obj)) {
            if (!(KEYS as string[]).includes(k)) throw new ConfigError(`${name}.${k}`, `unknown key (known: ${KEYS.join(', ')})`);
        }
        const tonapi = (obj as Record<string, unknown>).tonapi;
        if (tonapi !== undefined) {
            if (tonapi === null || typeof tonapi !== 'object' || Array.isArray(tonapi)) throw new ConfigError(`${name}.tonapi`, 'must be an object');
            for (const k of Object.keys(tonapi)) {
                if (k !== 'endpoint' && k !== 'apiKey') throw new ConfigError(`${name}.tonapi.${k}`, 'unknown key (known: endpoint, apiKey)');
            }
        }
        layers.push({ obj: obj as Record<string, unknown>, name });
    }

    const pick = (key: string): Sourced | undefined => {
        let found: Sourced | undefined;
        const path = key.split('.');
        const fromObj = (obj: Record<string, unknown>): unknown => {
            let v: unknown = obj;
            for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
            return v;
        };
        const v0 = fromObj(layers[0].obj);
        if (v0 !== undefined) found = { value: v0, name: `${prefix}.${key}` };
        const envName = CHAIN_ENV[key as keyof typeof CHAIN_ENV];
        if (envName !== undefined) {
            const e = env[envName];
            if (e !== undefined && e !== '') found = { value: e, name: envName };
        }
        const v1 = fromObj(layers[1].obj);
        if (v1 !== undefined) found = { value: v1, name: `${prefix}.${key}` };
        return found;
    };

    const endpoint = url(pick('endpoint'), `${prefix}.endpoint`, CHAIN_ENV.endpoint!);
    const apiKeyS = pick('apiKey');
    const apiKey = apiKeyS === undefined ? undefined : nonEmptyString(apiKeyS);
    const rps = num(pick('rps'), apiKey ? CHAIN_DEFAULTS.rpsWithKey : CHAIN_DEFAULTS.rpsWithoutKey, { min: 0.001, max: 10_000 });
    const maxRetries = num(pick('maxRetries'), CHAIN_DEFAULTS.maxRetries, { min: 0, max: 50, integer: true });
    const backoffBase = pick('backoffBaseMs');
    const backoffBaseMs = num(backoffBase, CHAIN_DEFAULTS.backoffBaseMs, { min: 0, max: 3_600_000, integer: true });
    const backoffMaxMs = num(pick('backoffMaxMs'), Math.max(CHAIN_DEFAULTS.backoffMaxMs, backoffBaseMs), { min: 0, max: 3_600_000, integer: true });
    if (backoffMaxMs < backoffBaseMs) {
        throw new ConfigError(backoffBase?.name ?? `${prefix}.backoffBaseMs`, `must not exceed backoffMaxMs (${backoffMaxMs}), got ${backoffBaseMs}`);
    }
    const retryAfterMaxMs = num(pick('retryAfterMaxMs'), CHAIN_DEFAULTS.retryAfterMaxMs, { min: 0, max: 86_400_000, integer: true });
    const timeoutMs = num(pick('timeoutMs'), CHAIN_DEFAULTS.timeoutMs, { min: 1, max: 600_000, integer: true });
    const cacheTtlMs = num(pick('cacheTtlMs'), CHAIN_DEFAULTS.cacheTtlMs, { min: 0, max: 86_400_000, integer: true });
    const sendTimeoutMs = num(pick('sendTimeoutMs'), CHAIN_DEFAULTS.sendTimeoutMs, { min: 1, max: 3_600_000, integer: true });
    const sendPollMs = num(pick('sendPollMs'), CHAIN_DEFAULTS.sendPollMs, { min: 1, max: 600_000, integer: true });
    const rootS = pick('rootAddress');
    const rootAddress = rootS === undefined ? undefined : address(rootS);

    let tonapi: TonapiConfig | undefined;
    const tonapiEndpoint = pick('tonapi.endpoint');
    const tonapiKey = pick('tonapi.apiKey');
    if (tonapiEndpoint !== undefined) {
        tonapi = { endpoint: url(tonapiEndpoint, `${prefix}.tonapi.endpoint`, CHAIN_ENV['tonapi.endpoint']!) };
        if (tonapiKey !== undefined) tonapi.apiKey = nonEmptyString(tonapiKey);
    } else if (tonapiKey !== undefined) {
        throw new ConfigError(tonapiKey.name, `is set but tonapi.endpoint (${CHAIN_ENV['tonapi.endpoint']}) is not`);
    }

    const cfg: ChainConfig = { endpoint, rps, maxRetries, backoffBaseMs, backoffMaxMs, retryAfterMaxMs, timeoutMs, cacheTtlMs, sendTimeoutMs, sendPollMs };
    if (apiKey !== undefined) cfg.apiKey = apiKey;
    if (rootAddress !== undefined) cfg.rootAddress = rootAddress;
    if (tonapi !== undefined) cfg.tonapi = tonapi;
    return cfg;
}

function url(s: Sourced | undefined, objName: string, envName: string): string {
    if (s === undefined) throw new ConfigError(objName, `required (or set ${envName})`);
    if (typeof s.value !== 'string') throw new ConfigError(s.name, `must be a string URL, got ${typeof s.value}`);
    let u: URL;
    try {
        u = new URL(s.value);
    } catch {
        throw new ConfigError(s.name, `must be an http(s) URL, got "${s.value}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(s.name, `must be an http(s) URL, got "${s.value}"`);
    if (u.username || u.password) throw new ConfigError(s.name, 'must not carry credentials; use the apiKey setting');
    return s.value;
}

function nonEmptyString(s: Sourced): string {
    if (typeof s.value !== 'string' || s.value.trim() === '') throw new ConfigError(s.name, 'must be a non-empty string');
    if (/[\r\n]/.test(s.value)) throw new ConfigError(s.name, 'must not contain line breaks');
    return s.value.trim();
}

function num(s: Sourced | undefined, dflt: number, o: { min: number; max: number; integer?: boolean }): number {
    if (s === undefined) return dflt;
    let v: number;
    if (typeof s.value === 'number') v = s.value;
    else if (typeof s.value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(s.value)) v = Number(s.value);
    else throw new ConfigError(s.name, `must be a number, got ${JSON.stringify(s.value)}`);
    if (!Number.isFinite(v)) throw new ConfigError(s.name, `must be a finite number, got ${v}`);
    if (o.integer && !Number.isInteger(v)) throw new ConfigError(s.name, `must be an integer, got ${v}`);
    if (v < o.min || v > o.max) throw new ConfigError(s.name, `must be between ${o.min} and ${o.max}, got ${v}`);
    return v;
}

function address(s: Sourced): Address {
    if (Address.isAddress(s.value)) return s.value;
    if (typeof s.value !== 'string') throw new ConfigError(s.name, `must be a TON address, got ${typeof s.value}`);
    try {
        return Address.parse(s.value.trim());
    } catch {
        throw new ConfigError(s.name, `must be a TON address (raw 0:<hex> or user-friendly), got "${s.value}"`);
    }
}
