// Argument parsing shared by the Blueprint scripts.
//
// Blueprint passes everything after `--` to a script's run(provider, args):
//   npx blueprint run propose --custom http://127.0.0.1:8081/jsonRPC --custom-version v2 -- --governance EQ... --action add-image ...
// Flags are `--name value` or `--name=value`; a flag given twice is an error, so is a flag without a value.
// Every error is an ArgError whose message starts with the offending flag (e.g. `--root: ...`).
import { Address, toNano } from '@ton/core';
import type { GovParams } from '../../wrappers/Governance';
import { GovMargin, MaxDelay, MaxGovLatency, MinDelay, type Params } from '../../wrappers/Root';

const MAX_DELAY = MaxDelay;
const BPS = 10_000n;

export class ArgError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'ArgError';
    }
}

/** "governance" or "--governance" → "--governance". */
function norm(name: string): string {
    return name.startsWith('--') ? name : `--${name}`;
}

/** Every occurrence of a flag: the value following it, or the part after `=`. */
function occurrences(args: string[], name: string): { value: string | undefined }[] {
    const f = norm(name);
    const out: { value: string | undefined }[] = [];
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a === f) {
            const next = args[i + 1];
            const value = next === undefined || next.startsWith('--') ? undefined : next;
            out.push({ value });
            if (value !== undefined) i++;
        } else if (a.startsWith(f + '=')) {
            out.push({ value: a.slice(f.length + 1) });
        }
    }
    return out;
}

/** The raw value of a flag, or undefined when the flag is absent. */
export function flag(args: string[], name: string): string | undefined {
    const occ = occurrences(args, name);
    if (occ.length === 0) return undefined;
    if (occ.length > 1) throw new ArgError(`${norm(name)}: given ${occ.length} times`);
    const v = occ[0].value;
    if (v === undefined || v === '') throw new ArgError(`${norm(name)}: missing value`);
    return v;
}

/** True when a switch (a flag without a value, e.g. `--force`) is present. */
export function hasFlag(args: string[], name: string): boolean {
    const f = norm(name);
    return args.some((a) => a === f || a.startsWith(f + '='));
}

export function requireFlag(args: string[], name: string): string {
    const v = flag(args, name);
    if (v === undefined) throw new ArgError(`${norm(name)}: required`);
    return v;
}

/** Throws on any `--flag` not in `allowed` (catches typos such as --goverance). */
export function rejectUnknownFlags(args: string[], allowed: string[]): void {
    const ok = new Set(allowed.map(norm));
    for (const a of args) {
        if (!a.startsWith('--')) continue;
        const f = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
        if (!ok.has(f)) throw new ArgError(`${f}: unknown flag (expected one of ${[...ok].join(', ')})`);
    }
}

// ---------- value parsers (name = the flag or field named in errors) ----------

export function parseAddress(value: string, name: string): Address {
    try {
        return Address.parse(value.trim());
    } catch {
        throw new ArgError(`${norm(name)}: not a TON address: "${value}"`);
    }
}

/** A non-negative integer (decimal or 0x-hex). */
export function parseBigint(value: string, name: string): bigint {
    const v = value.trim();
    if (!/^(\d+|0x[0-9a-fA-F]+)$/.test(v)) throw new ArgError(`${norm(name)}: not a non-negative integer: "${value}"`);
    return BigInt(v);
}

/** A TON amount ("1.5") → nanoTON. At most 9 decimals, not negative. */
export function parseTon(value: string, name: string): bigint {
    const v = value.trim();
    if (!/^\d+(\.\d{1,9})?$/.test(v) && !/^\.\d{1,9}$/.test(v)) {
        throw new ArgError(`${norm(name)}: not a TON amount (e.g. 1.5): "${value}"`);
    }
    return toNano(v);
}

/** 64 hex digits (optionally 0x-prefixed) → uint256. */
export function parseHash(value: string, name: string): bigint {
    const v = value.trim().replace(/^0x/i, '');
    if (!/^[0-9a-fA-F]{64}$/.test(v)) throw new ArgError(`${norm(name)}: expected 64 hex digits, got "${value}"`);
    return BigInt('0x' + v);
}

export function parseBool(value: string, name: string): boolean {
    const v = value.trim().toLowerCase();
    if (['yes', 'y', 'true', '1', 'for'].includes(v)) return true;
    if (['no', 'n', 'false', '0', 'against'].includes(v)) return false;
    throw new ArgError(`${norm(name)}: expected yes or no, got "${value}"`);
}

// ---------- typed flags (absent → fallback if given, else "required") ----------

function typed<T>(parse: (v: string, n: string) => T) {
    return (args: string[], name: string, fallback?: T): T => {
        const v = flag(args, name);
        if (v === undefined) {
            if (fallback !== undefined) return fallback;
            throw new ArgError(`${norm(name)}: required`);
        }
        return parse(v, name);
    };
}

export const addressFlag = typed(parseAddress);
export const bigintFlag = typed(parseBigint);
export const tonFlag = typed(parseTon);
export const hashFlag = typed(parseHash);
export const boolFlag = typed(parseBool);

/** Minimal part of Blueprint's UIProvider used for prompts (kept structural so tests can fake it). */
export interface Asker {
    input(message: string): Promise<string>;
}

/**
 * The flag's value, or (when absent) the answer to a prompt; parsed with `parse`.
 * Without `ui` (non-interactive use) an absent flag is an error.
 */
export async function flagOrAsk<T>(args: string[], name: string, ui: Asker | undefined, message: string, parse: (v: string, n: string) => T): Promise<T> {
    const v = flag(args, name);
    if (v !== undefined) return parse(v, name);
    if (!ui) throw new ArgError(`${norm(name)}: required`);
    return parse(await ui.input(message), name);
}

export const askString = (v: string, name: string): string => {
    if (v.trim() === '') throw new ArgError(`${norm(name)}: empty`);
    return v.trim();
};

// ---------- JSON parameter sets ----------

type Field = { kind: 'bps' | 'delay' | 'ton' };

const PARAMS_FIELDS: Record<Exclude<keyof Params, '$$type'>, Field> = {
    commissionBps: { kind: 'bps' },
    reporterShareBps: { kind: 'bps' },
    minProxyStake: { kind: 'ton' },
    minWorkerStake: { kind: 'ton' },
    minClientDeposit: { kind: 'ton' },
    creditWindow: { kind: 'ton' },
    proxyCloseDelay: { kind: 'delay' },
    clientCloseDelay: { kind: 'delay' },
    workerUnbondDelay: { kind: 'delay' },
    slashChallengePeriod: { kind: 'delay' },
};

const GOV_PARAMS_FIELDS: Record<Exclude<keyof GovParams, '$$type'>, Field> = {
    quorumBps: { kind: 'bps' },
    majorityBps: { kind: 'bps' },
    votingPeriod: { kind: 'delay' },
    timelock: { kind: 'delay' },
    executionWindow: { kind: 'delay' },
};

function parseJsonFields<K extends string>(
    json: string,
    flagName: string,
    fields: Record<K, Field>,
    base: Record<K, bigint> | undefined,
): Record<K, bigint> {
    let obj: unknown;
    try {
        obj = JSON.parse(json);
    } catch (e) {
        throw new ArgError(`${norm(flagName)}: invalid JSON (${(e as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new ArgError(`${norm(flagName)}: expected a JSON object`);
    const rec = obj as Record<string, unknown>;
    const names = Object.keys(fields) as K[];
    for (const k of Object.keys(rec)) {
        if (!(names as string[]).includes(k)) throw new ArgError(`${norm(flagName)}: unknown field "${k}" (fields: ${names.join(', ')})`);
    }
    const out = {} as Record<K, bigint>;
    for (const k of names) {
        const raw = rec[k];
        const where = `${norm(flagName)}.${k}`;
        if (raw === undefined) {
            if (!base) throw new ArgError(`${where}: missing`);
            out[k] = base[k];
            continue;
        }
        if (typeof raw !== 'number' && typeof raw !== 'string') throw new ArgError(`${where}: expected a number or string`);
        const s = String(raw);
        const kind = fields[k].kind;
        const v = kind === 'ton' ? parseTon(s, where) : parseBigint(s, where);
        if (kind === 'bps' && v > BPS) throw new ArgError(`${where}: at most ${BPS} basis points, got ${v}`);
        if (kind === 'delay' && v > MAX_DELAY) throw new ArgError(`${where}: at most ${MAX_DELAY} seconds, got ${v}`);
        out[k] = v;
    }
    return out;
}

/**
 * Root Params from JSON. Coin fields (minProxyStake, minWorkerStake, minClientDeposit, creditWindow) are
 * TON amounts ("10", "0.5"); bps fields are basis points; delays are seconds. With `base` (e.g. Root's
 * current params) omitted fields keep their base values; without it every field is required.
 * Checks what Root's checkParams checks, so a bad set fails here instead of on chain.
 */
export function parseParamsJson(json: string, base?: Params, flagName = 'params'): Params {
    const p = parseJsonFields(json, flagName, PARAMS_FIELDS, base);
    const f = norm(flagName);
    if (p.workerUnbondDelay < p.slashChallengePeriod) {
        throw new ArgError(`${f}: workerUnbondDelay (${p.workerUnbondDelay}) must be >= slashChallengePeriod (${p.slashChallengePeriod})`);
    }
    for (const k of ['proxyCloseDelay', 'clientCloseDelay'] as const) {
        if (p[k] < MinDelay) throw new ArgError(`${f}.${k}: at least ${MinDelay} seconds, got ${p[k]}`);
    }
    if (p.slashChallengePeriod < MaxGovLatency + GovMargin) {
        throw new ArgError(`${f}.slashChallengePeriod: at least ${MaxGovLatency + GovMargin} seconds (Governance's worst-case latency ${MaxGovLatency} + margin ${GovMargin}), got ${p.slashChallengePeriod}`);
    }
    if (p.minWorkerStake === 0n) throw new ArgError(`${f}.minWorkerStake: must be positive`);
    if (p.minProxyStake === 0n) throw new ArgError(`${f}.minProxyStake: must be positive`);
    return { $$type: 'Params', ...p };
}

/** Governance params from JSON (bps and seconds); same merge rules and on-chain checks as parseParamsJson. */
export function parseGovParamsJson(json: string, base?: GovParams, flagName = 'params'): GovParams {
    const p = parseJsonFields(json, flagName, GOV_PARAMS_FIELDS, base);
    const f = norm(flagName);
    if (p.quorumBps === 0n) throw new ArgError(`${f}.quorumBps: must be positive`);
    if (p.majorityBps < BPS / 2n || p.majorityBps >= BPS) throw new ArgError(`${f}.majorityBps: must be in [5000, 10000)`);
    if (p.votingPeriod === 0n) throw new ArgError(`${f}.votingPeriod: must be positive`);
    if (p.executionWindow === 0n) throw new ArgError(`${f}.executionWindow: must be positive`);
    if (p.votingPeriod + p.timelock > MaxGovLatency) {
        throw new ArgError(`${f}: votingPeriod + timelock (${p.votingPeriod + p.timelock}) must be at most ${MaxGovLatency} seconds, so a slash veto always executes within slashChallengePeriod`);
    }
    return { $$type: 'GovParams', ...p };
}
