// The attested worker configuration (spec/attestation.md, "Measured worker configuration"): what a worker serves —
// its models, each with the weights hash it checked at start (or null: not checked), its backend kind and its
// capacity — as one canonical document carried in certificate extension 1.3.6.1.4.1.12345.3 and bound by its
// SHA-256 in the version-2 claims (so REPORTDATA = SHA-512(claims) covers it).
//
// Canonical form: UTF-8 JSON without whitespace, keys in lexicographic order, models sorted by name:
//   {"backend":"loopback","capacity":4,"models":[{"name":"m","weightsHash":"<64 hex>"|null}],"version":1}
// Version 2 adds "gpuEvidence": the SHA-256 (hex) of the GPU evidence extension 1.3.6.1.4.1.12345.4 the certificate
// carries (tee/gpu/bundle.ts), so the quote covers the GPU evidence too; a worker without GPU evidence writes version 1.
// The decoder re-encodes what it parsed and refuses any byte difference, so each configuration has one encoding
// and one hash.
import { createHash } from 'crypto';
import { AttestationError, INTEL_ROOT_KEY_ID } from '../tee/types';
import { hex256 } from '../hex';
import { MAX_MODELS, MAX_WORKER_CAPACITY } from '../wire/fields';

export const WORKER_CONFIG_VERSION = 1;
/** The version that names a GPU evidence bundle. */
export const WORKER_CONFIG_VERSION_GPU = 2;
/** Largest document accepted (32 models with the longest names need about 6.5 KiB). */
export const MAX_WORKER_CONFIG_BYTES = 16 * 1024;

/** Where the inference backend runs: loopback HTTP (127.0.0.1 / ::1) or a Unix socket are inside the TD. */
export type BackendKind = 'loopback' | 'unix' | 'remote';
const BACKEND_KINDS: readonly string[] = ['loopback', 'unix', 'remote'];
const MODEL_NAME = /^[\x21-\x7e]{1,128}$/;
const HASH = /^[0-9a-f]{64}$/;

export interface WorkerConfigModel {
    name: string;
    /** The weights hash the worker checked at start (hex), or null: the model has no weightsDir (not checked). */
    weightsHash: string | null;
}

export interface WorkerConfigDoc {
    version: 1 | 2;
    backend: BackendKind;
    capacity: number;
    models: WorkerConfigModel[];
    /** Version 2 only: SHA-256 hex of the GPU evidence extension. */
    gpuEvidence?: string;
}

const bad = (why: string) => new AttestationError('CERT_INVALID', `worker configuration: ${why}`);

function check(d: WorkerConfigDoc): void {
    if (d.version !== WORKER_CONFIG_VERSION && d.version !== WORKER_CONFIG_VERSION_GPU) throw bad(`unsupported version ${String(d.version)}`);
    if (d.version === WORKER_CONFIG_VERSION_GPU ? typeof d.gpuEvidence !== 'string' || !HASH.test(d.gpuEvidence) : d.gpuEvidence !== undefined) {
        throw bad('gpuEvidence must be 64 lowercase hex digits in version 2 and absent in version 1');
    }
    if (!BACKEND_KINDS.includes(d.backend)) throw bad('backend must be loopback, unix or remote');
    if (!Number.isInteger(d.capacity) || d.capacity < 1 || d.capacity > MAX_WORKER_CAPACITY) throw bad(`capacity must be an integer in 1..${MAX_WORKER_CAPACITY}`);
    if (!Array.isArray(d.models) || d.models.length < 1 || d.models.length > MAX_MODELS) throw bad(`expected 1..${MAX_MODELS} models`);
    for (const m of d.models) {
        if (typeof m?.name !== 'string' || !MODEL_NAME.test(m.name)) throw bad('a model name is not 1..128 printable ASCII characters');
        if (m.weightsHash !== null && (typeof m.weightsHash !== 'string' || !HASH.test(m.weightsHash))) throw bad(`model ${m.name}: weightsHash must be 64 lowercase hex digits or null`);
    }
}

/** The canonical bytes of a configuration; throws CERT_INVALID when it is out of bounds (e.g. duplicate models). */
export function encodeWorkerConfig(d: WorkerConfigDoc): Buffer {
    check(d);
    const models = [...d.models].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (let i = 1; i < models.length; i++) if (models[i].name === models[i - 1].name) throw bad(`duplicate model ${models[i].name}`);
    const json = JSON.stringify({
        backend: d.backend,
        capacity: d.capacity,
        ...(d.version === WORKER_CONFIG_VERSION_GPU ? { gpuEvidence: d.gpuEvidence } : {}),
        models: models.map((m) => ({ name: m.name, weightsHash: m.weightsHash })),
        version: d.version,
    });
    const out = Buffer.from(json, 'utf8');
    if (out.length > MAX_WORKER_CONFIG_BYTES) throw bad(`${out.length} bytes, limit ${MAX_WORKER_CONFIG_BYTES}`);
    return out;
}

function exactKeys(o: unknown, keys: string[], what: string): Record<string, unknown> {
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad(`${what} is not an object`);
    const got = Object.keys(o).sort();
    if (got.length !== keys.length || got.some((k, i) => k !== keys[i])) throw bad(`${what} must have exactly the keys ${keys.join(', ')}`);
    return o as Record<string, unknown>;
}

/** Strict decoder: bounded, canonical, every field checked. Throws AttestationError('CERT_INVALID'). */
export function decodeWorkerConfig(b: Buffer): WorkerConfigDoc {
    if (b.length === 0 || b.length > MAX_WORKER_CONFIG_BYTES) throw bad(`${b.length} bytes, expected 1..${MAX_WORKER_CONFIG_BYTES}`);
    let parsed: unknown;
    try {
        parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b));
    } catch {
        throw bad('not UTF-8 JSON');
    }
    const gpu = typeof parsed === 'object' && parsed !== null && (parsed as { version?: unknown }).version === WORKER_CONFIG_VERSION_GPU;
    const o = exactKeys(parsed, gpu ? ['backend', 'capacity', 'gpuEvidence', 'models', 'version'] : ['backend', 'capacity', 'models', 'version'], 'the document');
    if (!Array.isArray(o.models) || o.models.length > MAX_MODELS) throw bad(`expected 1..${MAX_MODELS} models`);
    const doc = {
        version: o.version,
        backend: o.backend,
        capacity: o.capacity,
        ...(gpu ? { gpuEvidence: o.gpuEvidence } : {}),
        models: o.models.map((m, i) => {
            const e = exactKeys(m, ['name', 'weightsHash'], `models[${i}]`);
            return { name: e.name, weightsHash: e.weightsHash };
        }),
    } as WorkerConfigDoc;
    if (!encodeWorkerConfig(doc).equals(b)) throw bad('not in canonical form');
    return doc;
}

/** SHA-256 of the document bytes: what the version-2 claims carry. */
export function workerConfigHash(doc: Buffer): Buffer {
    return createHash('sha256').update(doc).digest();
}

/**
 * The kind of a worker's backendUrl: `http+unix://<percent-encoded socket path>` is a Unix socket; http(s) on
 * 127.0.0.1 or ::1 is loopback; any other host is remote.
 */
export function backendKindOf(backendUrl: string): BackendKind {
    const url = new URL(backendUrl);
    if (url.protocol === 'http+unix:') return 'unix';
    return url.hostname === '127.0.0.1' || url.hostname === '[::1]' ? 'loopback' : 'remote';
}

/** What a verifier accepts of a worker's configuration beyond "serves the model with Root's weights". */
export interface WorkerConfigPolicy {
    /** Accept a model whose weights the worker did not check (weightsHash null). */
    allowUncheckedWeights: boolean;
    /** Accept a backend outside the TD. */
    allowRemoteBackend: boolean;
}

export const PRODUCTION_WORKER_CONFIG_POLICY: WorkerConfigPolicy = { allowUncheckedWeights: false, allowRemoteBackend: false };
export const SIMULATED_WORKER_CONFIG_POLICY: WorkerConfigPolicy = { allowUncheckedWeights: true, allowRemoteBackend: true };

/**
 * The default policy for a worker whose quote chains to `rootKeyId`: production for Intel's root (a real TD),
 * lenient for any other root a verifier trusts (the simulated TEE of the devnet and the tests).
 */
export function workerConfigPolicyFor(rootKeyId: string): WorkerConfigPolicy {
    return rootKeyId === INTEL_ROOT_KEY_ID ? PRODUCTION_WORKER_CONFIG_POLICY : SIMULATED_WORKER_CONFIG_POLICY;
}

/**
 * Why a worker's attested configuration does not let it serve `model` with the weights Root registers, or null
 * when it does. `doc` undefined = the certificate carries no configuration (version-1 claims): refused.
 */
export function workerConfigRefusal(doc: WorkerConfigDoc | undefined, model: string, registeredWeightsHash: bigint, policy: WorkerConfigPolicy): string | null {
    if (!doc) return 'the worker certificate carries no attested configuration';
    if (doc.backend === 'remote' && !policy.allowRemoteBackend) return 'the worker attests a backend outside its TD';
    const m = doc.models.find((x) => x.name === model);
    if (!m) return `the worker's attested configuration does not serve ${model}`;
    if (m.weightsHash === null) return policy.allowUncheckedWeights ? null : `the worker did not check the weights of ${model}`;
    if (m.weightsHash !== hex256(registeredWeightsHash)) return `the worker attests weights ${m.weightsHash} for ${model}, Root registers ${hex256(registeredWeightsHash)}`;
    return null;
}
