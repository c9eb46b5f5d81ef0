// A worker's connection to the proxy (spec/proxy.md): its hello (an attested worker with an Active, staked
// WorkerChannel that the Proxy contract lists), its place in the router, and the response frames it sends for the
// requests routed to it.
import { Address } from '@ton/core';
import type { WebSocket } from 'ws';
import { RootConfig, TonChain } from '../core/chain/chain';
import { hpkeKeyId } from '../core/hpke';
import { PeerAttestation, WorkerConfigPolicy, workerConfigPolicyFor, workerConfigRefusal } from '../core/transport';
import { GpuEvidenceChecker, gpuRefusal } from '../core/tee/gpu/check';
import { Direction, Frame, HelloWorkerFrame, OfferFrame, WireError } from '../core/wire';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { Connection, ConnectionHost } from './connection';
import { Refusal } from './guard';
import { Router } from './router';
import { WorkerAdmission } from './worker-admission';

/** What a worker connection needs of its runner. */
export interface WorkerHost extends ConnectionHost {
    readonly router: Router;
    readonly chain: TonChain;
    readonly admission: Pick<WorkerAdmission, 'checkHello'>;
    /** Reads Root's config and refreshes the registered models from it. */
    loadModels(): Promise<void>;
    isRegistered(model: string): boolean;
    /** The weightsHash Root registers for a model (undefined: not registered). */
    registeredWeights(model: string): bigint | undefined;
    /** The proxy's workerConfigPolicy option (default: by the worker's quote root). */
    readonly workerConfigPolicy?: WorkerConfigPolicy;
    /** Whether Root's record of a model requires GPU evidence. */
    requiresGpu(model: string): boolean;
    /** Verifies (and caches) workers' GPU evidence with the proxy's GPU trust at the clock of trust. */
    readonly gpu: GpuEvidenceChecker;
    /** The announced models that Root registers (name → coefficient). */
    routableModels(announced: Map<string, bigint>): Map<string, bigint>;
    /** The latest payout signed for that WorkerChannel, if any. */
    latestPayout(channelRaw: string): { amount: bigint; signature: string } | null | undefined;
    /** The connection closed: forget it. */
    workerClosed(conn: WorkerConnection): void;
}

export class WorkerConnection extends Connection {
    readonly kind = 'worker';
    protected readonly inDir: Direction = 'worker_to_proxy';
    protected readonly outDir: Direction = 'proxy_to_worker';
    /** Models as announced in hello (name → coefficient); the router holds the routable subset. */
    private announced = new Map<string, bigint>();
    private capacity = 1;

    constructor(
        ws: WebSocket,
        address: string,
        readonly peer: PeerAttestation,
        /** The worker's certificate (DER), handed to clients as the candidate's attestation. */
        private readonly certDer: Buffer,
        protected readonly host: WorkerHost,
    ) {
        super(ws, address, host);
    }

    /** The attested key that signs this worker's receipts. */
    get workerKey(): Buffer {
        return this.peer.cert.publicKey;
    }

    /** Worker verdicts are not cached (see the runner's hello gate note): no key. */
    protected gatedCheck(_channel: string, run: () => Promise<Refusal>): Promise<Refusal> {
        return this.host.gate(this.address, undefined, false, run);
    }

    /**
     * WorkerChannel on chain: ours, our key, Active with stake ≥ minStake, known to the Proxy contract, its owner's
     * wallet signed this worker's attested key into the hello; every model registered.
     */
    protected async checkHello(frame: HelloWorkerFrame): Promise<Refusal> {
        const hello = frame;
        const channel = Address.parse(hello.channel);
        await this.host.loadModels();
        for (const m of hello.models) {
            if (!this.host.isRegistered(m.name)) return { code: 'MODEL_NOT_REGISTERED', message: `model ${m.name} is not registered in Root` };
        }
        // The attested configuration serves every announced model with Root's weights, at no more than its capacity.
        // …and carries GPU evidence that verifies for every announced model whose Root record requires it.
        const doc = this.peer.workerConfig;
        const mismatch = doc ? this.configRefusal(hello.models.map((m) => m.name)) : { code: 'WORKER_CONFIG_MISMATCH' as const, message: 'the worker certificate carries no attested configuration' };
        if (mismatch) return mismatch;
        if (hello.capacity > doc!.capacity) return { code: 'WORKER_CONFIG_MISMATCH', message: `hello capacity ${hello.capacity} is above the attested ${doc!.capacity}` };
        // Active, staked ≥ minStake, and its owner signed this worker's attested key for us (attacks 3, 18).
        const refusal = await this.host.admission.checkHello(channel, hello, this.peer.cert.publicKey);
        if (refusal) return refusal;
        const known = await this.host.chain.open(ProxyWrapper.open(this.host.proxyAddress)).getIsWorkerChannel(channel);
        if (!known) return { code: 'CHANNEL_INVALID', message: 'the Proxy contract does not list this WorkerChannel' };
        this.channel = channel;
        this.channelRaw = channel.toRawString();
        this.announced = new Map(hello.models.map((m) => [m.name, m.coefficient]));
        this.capacity = hello.capacity;
        return null;
    }

    protected onReady(): void {
        const routable = this.routable();
        const hpke = this.peer.claims.hpkePublicKey;
        this.host.router.add({
            id: this.id,
            channel: this.channelRaw!,
            workerKey: this.peer.cert.publicKey,
            hpkePublicKey: hpke,
            keyId: hpke ? hpkeKeyId(hpke) : undefined,
            certDer: this.certDer,
            imageHash: this.peer.imageHash,
            models: routable,
            capacity: this.capacity,
        });
        const latest = this.host.latestPayout(this.channelRaw!);
        if (latest) this.send({ type: 'payout', v: this.version, amount: latest.amount, signature: latest.signature });
    }

    /** Root changed: a worker whose image left the allowlist is dropped; the others' routable models re-filtered. */
    rootChanged(cfg: RootConfig): void {
        if (this.state !== 'ready') return;
        if (!cfg.workerImages.has(this.peer.imageHash)) {
            this.log('worker.image-removed', { imageHash: this.peer.imageHash });
            this.sendError('IMAGE_NOT_ALLOWED', `image ${this.peer.imageHash} is no longer allowed by Root`, true);
            return;
        }
        this.host.router.setModels(this.id, this.routable());
    }

    /**
     * Why the worker's attested configuration (spec/attestation.md, "Measured worker configuration") does not serve
     * one of these models with the weights Root registers for it (WORKER_CONFIG_MISMATCH), or its GPU evidence does
     * not verify for a model that requires it ("GPU evidence in the chain of evidence", WORKER_GPU_EVIDENCE_REQUIRED),
     * or null when it serves them all.
     */
    private configRefusal(models: string[]): NonNullable<Refusal> | null {
        const policy = this.host.workerConfigPolicy ?? workerConfigPolicyFor(this.peer.rootKeyId);
        for (const name of models) {
            const why = workerConfigRefusal(this.peer.workerConfig, name, this.host.registeredWeights(name) ?? 0n, policy);
            if (why) return { code: 'WORKER_CONFIG_MISMATCH', message: why };
            const gpu = gpuRefusal(this.peer, this.host.requiresGpu(name), this.host.gpu);
            if (gpu) return { code: 'WORKER_GPU_EVIDENCE_REQUIRED', message: `model ${name}: ${gpu.message}` };
        }
        return null;
    }

    /** The announced models that Root registers and whose weights the attested configuration still matches. */
    private routable(): Map<string, bigint> {
        const out = this.host.routableModels(this.announced);
        for (const name of [...out.keys()]) if (this.configRefusal([name])) out.delete(name);
        return out;
    }

    /**
     * An offer (live admin, spec/wire.md "Offers"): checked like the hello's models (the schema bounds count, names and
     * coefficients; every model registered in Root), then routed by. offer_ok goes out behind the requests routed at
     * the previous offer, so the worker prices each request at the offer it was routed at; a request in flight keeps
     * the coefficient it was routed at (running-request.ts checks its receipt against it).
     */
    private onOffer(f: OfferFrame): void {
        const unregistered = f.models.find((m) => !this.host.isRegistered(m.name));
        if (unregistered) return this.sendError('MODEL_NOT_REGISTERED', `offer ${f.seq}: model ${unregistered.name} is not registered in Root`, false);
        const mismatch = this.configRefusal(f.models.map((m) => m.name));
        if (mismatch) return this.sendError(mismatch.code, `offer ${f.seq}: ${mismatch.message}`, false);
        this.announced = new Map(f.models.map((m) => [m.name, m.coefficient]));
        this.host.router.setModels(this.id, this.routable());
        this.send({ type: 'offer_ok', v: this.version, seq: f.seq });
        this.log('worker.offer', { seq: f.seq, models: f.models.map((m) => `${m.name}@${m.coefficient}`) });
    }

    protected onFrame(frame: Frame, buf: Buffer): void {
        if (frame.type === 'offer') return this.onOffer(frame);
        if (frame.type !== 'response_start' && frame.type !== 'response_chunk' && frame.type !== 'response_end' && frame.type !== 'response_error') {
            return this.log('worker.unexpected-frame', { type: frame.type });
        }
        const req = this.requests.get(frame.id);
        if (!req) return this.log('worker.unknown-id', { id: frame.id, type: frame.type });
        req.onWorkerFrame(frame, () => buf.toString('utf8'));
    }

    protected onBadFrame(_type: unknown, id: string | undefined, err: WireError): boolean {
        const req = id ? this.requests.get(id) : undefined;
        req?.onBadFrame(err.code, err.message);
        return false;
    }

    protected onClosed(): void {
        this.host.workerClosed(this);
        for (const req of [...this.requests.values()]) req.onWorkerLost();
    }
}
