// The key service (spec/attestation.md "Sealed secrets"): a TD running a key-service image that seals secrets for
// attested proxy and worker TDs and opens them again only for a TD whose image Root allows for the blob's role. Small
// JSON requests over HTTPS with mutual RA-TLS; each request is judged on the peer certificate of its own connection.
import type { IncomingMessage, ServerResponse } from 'http';
import { Address } from '@ton/core';
import { z } from 'zod';
import { Chain } from '../core/chain/chain';
import { Clock } from '../core/clock';
import { Log, noLog } from '../core/log';
import { blobId, MAX_BLOB_BYTES, MAX_SECRET_BYTES, NAME_RE, openBlob, sealBlob, serviceIdOf } from '../core/keys/blob';
import { MAX_KEYS_BODY_BYTES } from '../core/keys/client';
import { KeysError, KeysErrorCode, SealRole } from '../core/keys/types';
import { QuoteProvider, VerifyPolicy } from '../core/tee/types';
import { PeerAttestation, PeerVerifier, RaTlsIdentity, RaTlsServer } from '../core/transport';
import { resolveMaster, simulatedForState } from './master';

export const DEFAULT_LEASE_MS = 60_000;
export const DEFAULT_MAX_LEASES = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Open connections from one source address; more are dropped before the TLS handshake (no quote verified for them). */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 32;

/** HTTP status of each code the service answers with. */
export const KEYS_HTTP_STATUS: Record<KeysErrorCode, number> = {
    KEYS_BAD_REQUEST: 400,
    KEYS_PEER_REFUSED: 403,
    KEYS_IMAGE_NOT_ALLOWED: 403,
    KEYS_WRONG_SERVICE: 422,
    KEYS_UNSEAL_FAILED: 422,
    KEYS_LEASE_HELD: 409,
    KEYS_NO_LEASE: 404,
    KEYS_STARTING: 503,
    KEYS_UNAVAILABLE: 503,
    KEYS_STATE_INVALID: 500,
};

const address = z.string().max(100).transform((s, ctx) => {
    try {
        return Address.parse(s);
    } catch {
        ctx.addIssue({ code: 'custom', message: 'not a TON address' });
        return z.NEVER;
    }
});
const base64 = (maxBytes: number) =>
    z
        .string()
        .max(Math.ceil(maxBytes / 3) * 4)
        .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64')
        .transform((s) => Buffer.from(s, 'base64'));
const who = { role: z.enum(['proxy', 'worker']), owner: address, name: z.string().regex(NAME_RE, 'name must be 1..32 bytes of [a-z0-9-]') };
const SealBody = z.object({ ...who, secret: base64(MAX_SECRET_BYTES) }).strict();
const UnsealBody = z.object({ ...who, blob: base64(MAX_BLOB_BYTES) }).strict();
const LeaseBody = z.object({ lease: z.string().regex(/^[0-9a-f]{64}$/, 'a lease id is 64 hex characters') }).strict();
const EmptyBody = z.object({}).strict();

interface Lease {
    /** hex raw Ed25519 key of the holder's RA-TLS certificate. */
    holder: string;
    role: SealRole;
    expiresAt: number;
}

export interface KeyServiceOptions {
    tee: QuoteProvider;
    /** The quote policy applied to requesters and replicas (trust roots, collateral, TCB statuses). */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    /** Root: which images may ask as proxy, worker, or replicate ('keys'). */
    chain: Pick<Chain, 'isImageAllowed' | 'getRootConfig'>;
    /** The clock of trust (TrustClock): certificate validity, leases, the start-up quiet period. */
    clock: Clock;
    host?: string;
    port?: number;
    /** Simulated TEE only: keep the master here across restarts (KEYS_STATE_INVALID with a real TEE). */
    stateFile?: string;
    /** Live replicas to fetch the master from (https URLs). */
    peers?: string[];
    /** Lease length; also the start-up quiet period. Default 60 s. */
    leaseMs?: number;
    maxLeases?: number;
    requestTimeoutMs?: number;
    maxConnectionsPerAddress?: number;
    log?: Log;
}

export class KeyService {
    private readonly leases = new Map<string, Lease>();
    private readonly leaseMs: number;
    private readonly maxLeases: number;
    private readonly log: Log;
    private readonly startedAt: number;

    private constructor(
        private readonly o: KeyServiceOptions,
        private readonly master: Buffer,
        readonly identity: RaTlsIdentity,
        readonly server: RaTlsServer,
        readonly url: string,
    ) {
        this.leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
        this.maxLeases = o.maxLeases ?? DEFAULT_MAX_LEASES;
        this.log = o.log ?? noLog;
        this.startedAt = this.now();
    }

    /** The clock of trust in whole ms (a TrustClock advances by the monotonic clock, in fractions): leases travel as integers. */
    private now(): number {
        return Math.floor(this.o.clock.now());
    }

    /** Resolves the master (state file, replica or fresh), then listens. */
    static async start(o: KeyServiceOptions): Promise<KeyService> {
        if (o.stateFile !== undefined) simulatedForState(o.tee); // before any quote is asked for
        const clock = () => new Date(o.clock.now());
        const identity = (await RaTlsIdentity.create({ provider: o.tee, clock })).start();
        try {
            const master = await resolveMaster({ ...o, identity });
            let svc: KeyService | undefined;
            const server = new RaTlsServer({
                identity,
                // Any attested TD may connect; each request is then judged against Root for the role it asks as.
                verifier: new PeerVerifier({ quote: o.quotePolicy, isImageAllowed: () => true }, { clock }),
                host: o.host,
                port: o.port,
                maxConnectionsPerAddress: o.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
                onRequest: (req, res, peer) => void svc!.handle(req, res, peer),
            });
            server.https.requestTimeout = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
            server.https.headersTimeout = Math.min(server.https.requestTimeout, 60_000);
            server.on('peerRejected', (e, info) => svc?.log('keys.peer-rejected', { code: e.code, error: e.message, remote: info.remoteAddress }));
            const { host, port } = await server.listen();
            svc = new KeyService(o, master, identity, server, `https://${host}:${port}`);
            svc.log('keys.started', { url: svc.url, serviceId: svc.serviceId, quietUntil: svc.startedAt + svc.leaseMs });
            return svc;
        } catch (e) {
            identity.stop();
            throw e;
        }
    }

    /** SHA-256("cocoon-ts/keys/id" ‖ master), hex: the id every blob of this cluster names. */
    get serviceId(): string {
        return serviceIdOf(this.master).toString('hex');
    }

    /** Leases held in memory (expired ones are dropped when a new one needs room). */
    get leaseCount(): number {
        return this.leases.size;
    }

    private stopped = false;

    async stop(): Promise<void> {
        if (this.stopped) return;
        this.stopped = true;
        this.identity.stop();
        await this.server.close();
    }

    private async handle(req: IncomingMessage, res: ServerResponse, peer: PeerAttestation): Promise<void> {
        const holder = peer.cert.publicKey.toString('hex');
        try {
            if (req.method !== 'POST') throw new KeysError('KEYS_BAD_REQUEST', 'POST only');
            const route = req.url ?? '';
            if (!['/v1/seal', '/v1/unseal', '/v1/renew', '/v1/release', '/v1/replicate'].includes(route)) throw new KeysError('KEYS_BAD_REQUEST', `no route ${route.slice(0, 64)}`);
            const body = await readJson(req);
            const out =
                route === '/v1/seal'
                    ? await this.seal(SealBody.parse(body), peer)
                    : route === '/v1/unseal'
                      ? await this.unseal(UnsealBody.parse(body), peer, holder)
                      : route === '/v1/renew'
                        ? await this.renew(LeaseBody.parse(body).lease, peer, holder)
                        : route === '/v1/release'
                          ? this.release(LeaseBody.parse(body).lease, holder)
                          : await this.replicate(EmptyBody.parse(body), peer);
            reply(res, 200, out);
        } catch (e) {
            const err =
                e instanceof KeysError
                    ? e
                    : e instanceof z.ZodError
                      ? new KeysError('KEYS_BAD_REQUEST', `${e.issues[0].path.join('.') || 'body'}: ${e.issues[0].message}`)
                      : new KeysError('KEYS_UNAVAILABLE', (e as Error)?.message ?? String(e));
            this.log('keys.refused', { route: req.url?.slice(0, 64), image: peer.imageHash, holder, code: err.code, error: err.message });
            reply(res, KEYS_HTTP_STATUS[err.code], { code: err.code, message: err.message });
        }
    }

    /** The requester's image must be on Root's allowlist for `kind`; Root is read through the chain's cache. */
    private async requireImage(kind: SealRole | 'keys', peer: PeerAttestation): Promise<void> {
        let ok: boolean;
        try {
            ok = await this.o.chain.isImageAllowed(kind, peer.imageHash);
        } catch (e) {
            throw new KeysError('KEYS_UNAVAILABLE', `Root's allowlist cannot be read: ${(e as Error).message}`);
        }
        if (!ok) throw new KeysError('KEYS_IMAGE_NOT_ALLOWED', `image ${peer.imageHash} is not on Root's ${kind} allowlist`, { imageHash: peer.imageHash, kind });
    }

    private async seal(b: z.infer<typeof SealBody>, peer: PeerAttestation) {
        await this.requireImage(b.role, peer);
        const blob = sealBlob(this.master, b, b.secret);
        this.log('keys.sealed', { role: b.role, owner: b.owner.toRawString(), name: b.name, image: peer.imageHash });
        return { blob: blob.toString('base64') };
    }

    private async unseal(b: z.infer<typeof UnsealBody>, peer: PeerAttestation, holder: string) {
        await this.requireImage(b.role, peer);
        const now = this.now();
        if (now < this.startedAt + this.leaseMs) {
            throw new KeysError('KEYS_STARTING', `the key service started less than one lease (${this.leaseMs} ms) ago`, { retryAt: this.startedAt + this.leaseMs });
        }
        const secret = openBlob(this.master, b.blob, b);
        const id = blobId(b.blob);
        const l = this.leases.get(id);
        if (l && l.holder !== holder && l.expiresAt > now) throw new KeysError('KEYS_LEASE_HELD', 'another TD holds the lease on this blob', { expiresAt: l.expiresAt });
        if (!l && this.leases.size >= this.maxLeases) {
            for (const [k, v] of this.leases) if (v.expiresAt <= now) this.leases.delete(k);
            if (this.leases.size >= this.maxLeases) throw new KeysError('KEYS_UNAVAILABLE', `${this.maxLeases} leases are live`);
        }
        const expiresAt = now + this.leaseMs;
        this.leases.set(id, { holder, role: b.role, expiresAt });
        this.log('keys.unsealed', { role: b.role, owner: b.owner.toRawString(), name: b.name, image: peer.imageHash, lease: id });
        return { secret: secret.toString('base64'), lease: id, expiresAt };
    }

    private async renew(id: string, peer: PeerAttestation, holder: string) {
        const now = this.now();
        const l = this.leases.get(id);
        if (!l) throw new KeysError('KEYS_NO_LEASE', 'no lease on this blob');
        if (l.holder !== holder) {
            if (l.expiresAt > now) throw new KeysError('KEYS_LEASE_HELD', 'another TD holds the lease on this blob', { expiresAt: l.expiresAt });
            throw new KeysError('KEYS_NO_LEASE', 'no lease of yours on this blob');
        }
        await this.requireImage(l.role, peer); // an image governance removed stops renewing
        if (this.leases.get(id) !== l) throw new KeysError('KEYS_NO_LEASE', 'the lease lapsed and was taken meanwhile');
        l.expiresAt = this.now() + this.leaseMs;
        return { lease: id, expiresAt: l.expiresAt };
    }

    private release(id: string, holder: string) {
        const l = this.leases.get(id);
        if (!l || l.holder !== holder) throw new KeysError('KEYS_NO_LEASE', 'no lease of yours on this blob');
        this.leases.delete(id);
        this.log('keys.released', { lease: id });
        return { lease: id, released: true };
    }

    private async replicate(_b: z.infer<typeof EmptyBody>, peer: PeerAttestation) {
        await this.requireImage('keys', peer);
        this.log('keys.replica-served', { image: peer.imageHash });
        return { master: this.master.toString('base64') };
    }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(status === 200 ? {} : { connection: 'close' }) });
    res.end(text);
}

/** The request body as JSON, at most MAX_KEYS_BODY_BYTES (KEYS_BAD_REQUEST beyond, without reading the rest). */
function readJson(req: IncomingMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > MAX_KEYS_BODY_BYTES) return reject(new KeysError('KEYS_BAD_REQUEST', `body larger than ${MAX_KEYS_BODY_BYTES} bytes`));
        const chunks: Buffer[] = [];
        let n = 0;
        req.on('data', (c: Buffer) => {
            n += c.length;
            if (n > MAX_KEYS_BODY_BYTES) {
                req.removeAllListeners('data');
                req.pause();
                return reject(new KeysError('KEYS_BAD_REQUEST', `body larger than ${MAX_KEYS_BODY_BYTES} bytes`));
            }
            chunks.push(c);
        });
        req.on('error', reject);
        req.on('end', () => {
            try {
                resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch {
                reject(new KeysError('KEYS_BAD_REQUEST', 'body is not JSON'));
            }
        });
    });
}
