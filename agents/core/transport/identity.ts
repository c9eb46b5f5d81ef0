// An RA-TLS identity: one Ed25519 key for the life of the process and a short-lived certificate over it that is
// re-issued with a fresh quote before it expires. Servers listen for 'rotated' and swap their secure context.
import { EventEmitter } from 'events';
import { QuoteProvider } from '../tee/types';
import { DEFAULT_CERT_VALIDITY_MS, Ed25519KeyPair, ed25519KeyPairFromSeed, generateEd25519KeyPair, issueRaTlsCert, RaTlsCert } from './cert';

export interface RaTlsIdentityOptions {
    /** Quote source; `null` = a plain key certificate without attestation (clients, see KeyIdentity). */
    provider: QuoteProvider | null;
    /** HPKE X25519 public key to bind into the claims (workers). */
    hpkePublicKey?: Buffer;
    /** A worker's configuration document, bound into every certificate (workers). */
    workerConfig?: Buffer;
    /**
     * Asked before every issuance (the first and each renewal): a worker's configuration and GPU evidence bundle,
     * obtained afresh (e.g. GPU reports for the certificate's key). Overrides `workerConfig`.
     */
    workerEvidence?: () => Promise<{ workerConfig: Buffer; gpuEvidence?: Buffer }>;
    /** Certificate validity, default 1 day. */
    validityMs?: number;
    /** Re-issue this long before notAfter; default a quarter of the validity. Must be < validityMs. */
    rotateBeforeMs?: number;
    /** How often the background timer checks whether rotation is due; default min(60 s, rotateBeforeMs / 4). */
    checkIntervalMs?: number;
    clock?: () => Date;
    /** Reuse a key (e.g. one the agent also signs receipts with); default a fresh one. */
    keys?: Ed25519KeyPair;
    commonName?: string;
    sanDns?: string[];
    sanIp?: string[];
}

/** What a TLS endpoint presents: an RA-TLS certificate and its key (PEM). RaTlsIdentity is the usual one. */
export interface RaTlsCredentials {
    tlsCredentials(): { key: string; cert: string };
}

export interface RaTlsIdentityEvents {
    rotated: [cert: RaTlsCert, previous: RaTlsCert];
    error: [err: Error];
}

export class RaTlsIdentity extends EventEmitter<RaTlsIdentityEvents> implements RaTlsCredentials {
    private cert: RaTlsCert;
    private timer?: NodeJS.Timeout;
    private inflight?: Promise<RaTlsCert>;
    readonly validityMs: number;
    readonly rotateBeforeMs: number;
    private readonly clock: () => Date;

    private constructor(
        readonly keys: Ed25519KeyPair,
        private readonly opts: RaTlsIdentityOptions,
        first: RaTlsCert,
    ) {
        super();
        this.cert = first;
        this.clock = opts.clock ?? (() => new Date());
        this.validityMs = opts.validityMs ?? DEFAULT_CERT_VALIDITY_MS;
        this.rotateBeforeMs = opts.rotateBeforeMs ?? Math.floor(this.validityMs / 4);
    }

    /** Generates (or takes) the key and issues the first certificate. */
    static async create(opts: RaTlsIdentityOptions): Promise<RaTlsIdentity> {
        const validityMs = opts.validityMs ?? DEFAULT_CERT_VALIDITY_MS;
        if (!(validityMs >= 2000)) throw new RangeError('validityMs must be at least 2000');
        const before = opts.rotateBeforeMs ?? Math.floor(validityMs / 4);
        if (!(before > 0 && before < validityMs)) throw new RangeError('rotateBeforeMs must be in (0, validityMs)');
        const keys = opts.keys ?? (await generateEd25519KeyPair());
        const first = await RaTlsIdentity.issue(keys, opts);
        return new RaTlsIdentity(keys, opts, first);
    }

    private static async issue(keys: Ed25519KeyPair, o: RaTlsIdentityOptions): Promise<RaTlsCert> {
        const worker = o.workerEvidence ? await o.workerEvidence() : { workerConfig: o.workerConfig };
        return issueRaTlsCert({
            keys,
            provider: o.provider,
            hpkePublicKey: o.hpkePublicKey,
            ...worker,
            validityMs: o.validityMs,
            now: (o.clock ?? (() => new Date()))(),
            commonName: o.commonName,
            sanDns: o.sanDns,
            sanIp: o.sanIp,
        });
    }

    /** The certificate to present now. */
    get current(): RaTlsCert {
        return this.cert;
    }

    /** key/cert for node:tls. */
    tlsCredentials(): { key: string; cert: string } {
        return { key: this.keys.privateKeyPem, cert: this.cert.pem };
    }

    /** True when now >= notAfter - rotateBeforeMs. */
    isRotationDue(): boolean {
        return this.clock().getTime() >= this.cert.notAfter.getTime() - this.rotateBeforeMs;
    }

    /** Issues a new certificate (new quote) and emits 'rotated'. Concurrent calls share one issuance. */
    rotate(): Promise<RaTlsCert> {
        if (!this.inflight) {
            this.inflight = RaTlsIdentity.issue(this.keys, this.opts)
                .then((next) => {
                    const prev = this.cert;
                    this.cert = next;
                    this.emit('rotated', next, prev);
                    return next;
                })
                .finally(() => {
                    this.inflight = undefined;
                });
        }
        return this.inflight;
    }

    /** Rotates when due; returns whether it did. */
    async rotateIfDue(): Promise<boolean> {
        if (!this.isRotationDue()) return false;
        await this.rotate();
        return true;
    }

    /** Starts the background check; failures are emitted as 'error' and retried at the next tick. */
    start(): this {
        if (this.timer) return this;
        const every = this.opts.checkIntervalMs ?? Math.max(100, Math.min(60_000, Math.floor(this.rotateBeforeMs / 4)));
        this.timer = setInterval(() => {
            this.rotateIfDue().catch((e: Error) => {
                if (this.listenerCount('error') > 0) this.emit('error', e);
            });
        }, every);
        this.timer.unref();
        return this;
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }
}

/**
 * A client's identity: a 32-byte Ed25519 seed (the same key signs its vouchers) and a short-lived plain key
 * certificate, re-issued like an RA-TLS one (call `start()` for background rotation).
 */
export const KeyIdentity = {
    async create(opts: { seed: Buffer } & Omit<RaTlsIdentityOptions, 'provider' | 'keys' | 'hpkePublicKey' | 'workerConfig' | 'workerEvidence'>): Promise<RaTlsIdentity> {
        const { seed, ...rest } = opts;
        return RaTlsIdentity.create({ ...rest, provider: null, keys: await ed25519KeyPairFromSeed(seed) });
    },
};
