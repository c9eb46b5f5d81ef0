// Worker candidates (spec/client.md, "Identity and trust" and "Requests: sealed vs plain"): the proxy's
// get_worker_candidates answer, each candidate's attestation verified against Root's worker images with the HPKE key
// its quote binds, cached per model for candidateTtlMs; the choice of the next one, and sealing a request to it.
import { createHash, randomInt } from 'crypto';
import { CocoonError } from '../core/errors';
import { ModelPrices } from '../core/pricing';
import { PeerAttestation, PeerVerifier, WorkerConfigPolicy, workerConfigPolicyFor, workerConfigRefusal } from '../core/transport';
import { ResponseSecret } from '../core/hpke';
import { RequestFrame, RoutingFields, sealRequestFrame, WorkerCandidateInfo } from '../core/wire';
import { RootConfig } from '../core/chain';
import type { Log } from '../core/log';
import type { Clock } from '../core/clock';
import { ClientError } from './errors';
import { GpuEvidenceChecker, gpuRefusal } from '../core/tee/gpu/check';
import type { InFrame, ProxyConnection } from './proxy-connection';
import { DONE, Queue } from './queue';
import { errMsg, newId } from './util';

export interface ModelInfo {
    /** Root's canonical model name (the OpenAI `model`). */
    id: string;
    /** sha256(name), hex. */
    modelId: string;
    contextLength: number;
    /** nanoTON per 1M tokens (Root's prices at coefficient 1.0). */
    prices: ModelPrices;
    /** Attested workers within maxCoefficient that have a free slot (the proxy offers no busy worker). */
    workers: number;
    minCoefficient: bigint;
    /** Free request slots of those workers, as the proxy reported them (at most candidateTtlMs old). */
    freeCapacity: number;
}

/** A worker candidate whose attestation verified (Root's worker images, HPKE key bound in the claims). */
export interface VerifiedCandidate {
    keyId: string;
    hpkePublicKey: Buffer;
    coefficient: bigint;
    /** The worker's attested certificate key = its receipt key. */
    workerKey: Buffer;
    imageHash: string;
    /** Free request slots when the proxy listed it (load, for /v1/models). */
    free?: number;
}

export interface CandidatesOptions {
    /** The connection after hello (connecting if needed). */
    connect: () => Promise<ProxyConnection>;
    /** Verifies worker certificates (Root's workerImages, requireHpkeKey). */
    verifier: PeerVerifier;
    /** The weightsHash Root registers for a model (undefined: not registered). */
    registeredWeights: (model: string) => bigint | undefined;
    /** What a worker's attested configuration may say beyond Root's weights; default by its quote root. */
    workerConfigPolicy?: WorkerConfigPolicy;
    /** Whether Root's record of a model requires GPU evidence. */
    requiresGpu: (model: string) => boolean;
    /** Verifies (and caches) workers' GPU evidence with the client's GPU trust at the clock of trust. */
    gpu: GpuEvidenceChecker;
    maxCoefficient: bigint;
    candidateTtlMs: number;
    connectTimeoutMs: number;
    clock: Clock;
    /** A verified candidate is reused until its certificate's notAfter by this clock (the clock of trust); default `clock`. */
    trustClock?: Clock;
    log: Log;
}

export function cheapestUntried(list: VerifiedCandidate[], tried: Set<string>): VerifiedCandidate | undefined {
    const untried = list.filter((c) => !tried.has(c.keyId));
    if (untried.length === 0) return undefined;
    const min = untried.reduce((m, c) => (c.coefficient < m ? c.coefficient : m), untried[0].coefficient);
    const cheapest = untried.filter((c) => c.coefficient === min);
    return cheapest[randomInt(cheapest.length)];
}

export class Candidates {
    private readonly candidates = new Map<string, { at: number; list: VerifiedCandidate[] }>();
    private readonly verified = new Map<string, { until: number; c: VerifiedCandidate }>();

    constructor(private readonly o: CandidatesOptions) {}

    /** Root changed: the caches are dropped. */
    clear(): void {
        this.candidates.clear();
        this.verified.clear();
    }

    /** Root's registered models that have at least one attested worker at or below maxCoefficient right now. */
    async models(cfg: RootConfig): Promise<ModelInfo[]> {
        const out: ModelInfo[] = [];
        const models = [...cfg.models.entries()].sort(([, a], [, b]) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const [idHex, m] of models) {
            let list: VerifiedCandidate[];
            try {
                list = await this.list(m.name, false);
            } catch (e) {
                if (e instanceof ClientError && (e.code === 'PROXY_UNREACHABLE' || e.code === 'PROXY_REJECTED' || e.code === 'NOT_OPEN')) throw e;
                list = [];
            }
            if (list.length === 0) continue;
            out.push({
                id: m.name,
                modelId: idHex,
                contextLength: Number(m.contextLength),
                prices: { pricePrompt: m.pricePrompt, priceCached: m.priceCached, priceCompletion: m.priceCompletion, priceReasoning: m.priceReasoning },
                workers: list.length,
                minCoefficient: list.reduce((a, c) => (c.coefficient < a ? c.coefficient : a), list[0].coefficient),
                freeCapacity: list.reduce((a, c) => a + (c.free ?? 0), 0),
            });
        }
        return out;
    }

    /** Verified candidates for a model (cached candidateTtlMs unless `fresh`). */
    async list(model: string, fresh: boolean): Promise<VerifiedCandidate[]> {
        const cached = this.candidates.get(model);
        if (cached && !fresh && this.o.clock.now() - cached.at < this.o.candidateTtlMs) return cached.list;
        return this.cache(model, await this.query(model));
    }

    /**
     * The verified candidate whose attested key is `workerKey`: from the cached list, else asked of the proxy by that
     * key (plain mode: the proxy may have picked a worker outside the candidates it listed). Not cached as the list.
     */
    async byWorkerKey(model: string, workerKey: Buffer): Promise<VerifiedCandidate | undefined> {
        const known = (await this.list(model, false)).find((c) => c.workerKey.equals(workerKey));
        return known ?? (await this.query(model, workerKey)).find((c) => c.workerKey.equals(workerKey));
    }

    private async query(model: string, workerKey?: Buffer): Promise<VerifiedCandidate[]> {
        const conn = await this.o.connect();
        const id = newId();
        const q = new Queue<InFrame>();
        conn.queries.set(id, q);
        let f: InFrame | typeof DONE;
        try {
            conn.send({ type: 'get_worker_candidates', v: conn.version!, id, model, maxCoefficient: this.o.maxCoefficient, ...(workerKey ? { workerKey: workerKey.toString('hex') } : {}) });
            f = await q.next(this.o.connectTimeoutMs, () => new ClientError('TIMEOUT', `no worker_candidates within ${this.o.connectTimeoutMs} ms`));
        } finally {
            conn.queries.delete(id);
        }
        if (f === DONE) throw new ClientError('PROTOCOL_ERROR', 'candidate query ended');
        if (f.type === 'error' || f.type === 'response_error') {
            if (f.code === 'MODEL_NOT_REGISTERED' || f.code === 'NO_WORKER') return [];
            throw new ClientError('PROXY_REFUSED', `proxy refused get_worker_candidates: ${f.code}: ${f.message}`, { wireCode: f.code });
        }
        if (f.type !== 'worker_candidates' || f.model !== model) throw new ClientError('PROTOCOL_ERROR', `unexpected answer to get_worker_candidates: ${f.type}`);
        const list: VerifiedCandidate[] = [];
        for (const c of f.candidates) {
            if (c.coefficient > this.o.maxCoefficient) continue; // the proxy should not offer these; we do not use them
            const v = this.verify(c, model);
            if (v) list.push(c.free !== undefined ? { ...v, free: c.free } : v);
        }
        return list;
    }

    /**
     * A verified candidate not yet tried (refreshing the list once when all cached ones were tried): the cheapest
     * coefficient, and among candidates at that coefficient one at random — every client caches the same list for
     * candidateTtlMs, and taking its first entry would send them all to the same worker until its slots are full.
     */
    async pick(model: string, tried: Set<string>): Promise<VerifiedCandidate> {
        let next = cheapestUntried(await this.list(model, false), tried);
        if (!next) next = cheapestUntried(await this.list(model, true), tried);
        if (!next) throw new ClientError('NO_WORKER', `no attested worker for '${model}' within coefficient ${this.o.maxCoefficient}`, { wireCode: 'NO_WORKER' });
        return next;
    }

    /**
     * Sealed mode: the request sealed to the first untried candidate (the AAD binds id, model, endpoint, stream,
     * maxTokens, maxCoefficient); the response key and the candidate come back with it.
     */
    async seal(tried: Set<string>, fields: RoutingFields, body: Record<string, unknown>, version: number | undefined): Promise<{ frame: RequestFrame; secret: ResponseSecret; target: VerifiedCandidate }> {
        const target = await this.pick(fields.model, tried);
        // pick() gives the cheapest: above this request's own cap (X-Cocoon-Max-Coefficient), none fits.
        if (target.coefficient > fields.maxCoefficient) throw new ClientError('NO_WORKER', `no attested worker for '${fields.model}' within coefficient ${fields.maxCoefficient}`, { wireCode: 'NO_WORKER' });
        const sealed = await sealRequestFrame({ hpkePublicKey: target.hpkePublicKey }, fields, body, version);
        return { frame: sealed.frame, secret: sealed.response, target };
    }

    private cache(model: string, list: VerifiedCandidate[]): VerifiedCandidate[] {
        this.candidates.set(model, { at: this.o.clock.now(), list });
        return list;
    }

    /** The clock of trust's time; +Infinity when it has none, so no cached verdict is reused and verify() refuses, typed. */
    private trustNow(): number {
        try {
            return (this.o.trustClock ?? this.o.clock).now();
        } catch {
            return Infinity;
        }
    }

    /**
     * Attestation of a candidate: Root's worker images, the HPKE key it offers is the one its quote binds, and its
     * attested configuration serves `model` with the weights Root registers (spec/attestation.md, "Measured worker
     * configuration"), and, when Root's model requires it, GPU evidence that verifies for the certificate's key
     * ("GPU evidence in the chain of evidence").
     */
    private verify(c: WorkerCandidateInfo, model: string): VerifiedCandidate | null {
        const registered = this.o.registeredWeights(model);
        const requireGpu = this.o.requiresGpu(model);
        const cacheKey = `${model}:${registered}:${requireGpu}:${c.keyId}:${c.coefficient}:${createHash('sha256').update(c.attestation).digest('hex')}`;
        const hit = this.verified.get(cacheKey);
        if (hit && hit.until > this.trustNow()) return hit.c;
        let peer: PeerAttestation;
        try {
            peer = this.o.verifier.verify(Buffer.from(c.attestation, 'base64'));
        } catch (e) {
            this.o.log('client.candidate-refused', { keyId: c.keyId, code: (e as CocoonError).code, message: errMsg(e) });
            return null;
        }
        const hpke = Buffer.from(c.hpkePublicKey, 'hex');
        if (!peer.claims.hpkePublicKey || !peer.claims.hpkePublicKey.equals(hpke)) {
            this.o.log('client.candidate-refused', { keyId: c.keyId, code: 'HPKE_KEY_NOT_ATTESTED' });
            return null;
        }
        const mismatch = workerConfigRefusal(peer.workerConfig, model, registered ?? 0n, this.o.workerConfigPolicy ?? workerConfigPolicyFor(peer.rootKeyId));
        if (mismatch) {
            this.o.log('client.candidate-refused', { keyId: c.keyId, code: 'WORKER_CONFIG_MISMATCH', message: mismatch });
            return null;
        }
        const gpu = gpuRefusal(peer, requireGpu, this.o.gpu);
        if (gpu) {
            this.o.log('client.candidate-refused', { keyId: c.keyId, code: 'WORKER_GPU_EVIDENCE_REQUIRED', ...(gpu.gpuCode ? { gpuCode: gpu.gpuCode } : {}), message: gpu.message });
            return null;
        }
        const v: VerifiedCandidate = { keyId: c.keyId, hpkePublicKey: hpke, coefficient: c.coefficient, workerKey: peer.cert.publicKey, imageHash: peer.imageHash };
        this.verified.set(cacheKey, { until: peer.cert.notAfter.getTime(), c: v });
        return v;
    }
}
