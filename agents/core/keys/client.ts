// The key service's client (spec/attestation.md "Sealed secrets"): small JSON requests over HTTPS with mutual RA-TLS.
// The service's certificate is verified (quote, trust policy, image on Root's 'keys' allowlist) on 'secureConnect',
// before the HTTP request exists, so no byte of a secret or blob leaves for a service that is not an attested,
// allowlisted key-service TD. Our own certificate comes from a transient RA-TLS identity (a fresh key per client):
// the service judges each request by it, and binds leases to it.
import { Address } from '@ton/core';
import { request as httpRequest } from 'http';
import { isIP } from 'net';
import { connect as tlsConnect, TLSSocket } from 'tls';
import { Chain } from '../chain/chain';
import { Clock, systemClock } from '../clock';
import { CocoonError } from '../errors';
import { QuoteProvider, VerifyPolicy } from '../tee/types';
import { PeerVerifier, RaTlsCredentials, RaTlsIdentity, RATLS_TLS_OPTIONS, takePeerCertDer } from '../transport';
import { KeyLease, KeysError, KeysErrorCode, KeysErrorCodes, KeyServiceClient, SealRequest, SealRole } from './types';

/** Largest JSON body either side reads (requests and answers are a few hundred bytes). */
export const MAX_KEYS_BODY_BYTES = 16 * 1024;
export const DEFAULT_KEYS_TIMEOUT_MS = 10_000;

export interface KeysCall {
    /** https://host:port of the key service. */
    url: string;
    /** Our certificate (a transient RA-TLS identity, or a key service's own identity when it replicates). */
    identity: RaTlsCredentials;
    /** Verifies the key service's certificate, image included (Root's 'keys' allowlist). */
    verifier: PeerVerifier;
    timeoutMs?: number;
}

/**
 * POSTs `body` as JSON to `path` and returns the parsed answer. Errors: the service's own KeysError (its code from the
 * body), KEYS_PEER_REFUSED (the service's certificate did not verify: nothing was sent), KEYS_UNAVAILABLE (network,
 * timeout, or an answer out of protocol).
 */
export function postKeys(call: KeysCall, path: string, body: unknown): Promise<Record<string, unknown>> {
    let u: URL;
    try {
        u = new URL(call.url);
    } catch {
        return Promise.reject(new KeysError('KEYS_UNAVAILABLE', `bad key-service URL ${call.url}`));
    }
    if (u.protocol !== 'https:') return Promise.reject(new KeysError('KEYS_UNAVAILABLE', `a key service is reached over https:, got ${u.protocol}`));
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(u.port || 443);
    const timeoutMs = call.timeoutMs ?? DEFAULT_KEYS_TIMEOUT_MS;
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
        let settled = false;
        const sock: TLSSocket = tlsConnect({
            host,
            port,
            servername: isIP(host) ? undefined : host,
            ...RATLS_TLS_OPTIONS,
            ...call.identity.tlsCredentials(),
            // OpenSSL cannot judge an RA-TLS certificate: the verifier does, on 'secureConnect', before any request byte.
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
        });
        const timer = setTimeout(() => done(new KeysError('KEYS_UNAVAILABLE', `no answer from ${u.host} within ${timeoutMs} ms`)), timeoutMs);
        const done = (e: Error | null, v?: Record<string, unknown>) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            sock.destroy();
            if (e) reject(e);
            else resolve(v!);
        };
        sock.on('error', (e) => done(new KeysError('KEYS_UNAVAILABLE', `key service ${u.host}: ${e.message}`)));
        sock.once('close', () => done(new KeysError('KEYS_UNAVAILABLE', `key service ${u.host} closed the connection without an answer (it may have refused our attestation)`)));
        sock.once('secureConnect', () => {
            try {
                call.verifier.verify(takePeerCertDer(sock));
            } catch (e) {
                return done(new KeysError('KEYS_PEER_REFUSED', `key service ${u.host} is not accepted: ${(e as Error).message}`, { cause: (e as CocoonError).code }));
            }
            const req = httpRequest(
                {
                    createConnection: () => sock,
                    method: 'POST',
                    path,
                    headers: { host: u.host, 'content-type': 'application/json', 'content-length': payload.length },
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    let n = 0;
                    res.on('data', (c: Buffer) => {
                        n += c.length;
                        if (n > MAX_KEYS_BODY_BYTES) return done(new KeysError('KEYS_UNAVAILABLE', `answer larger than ${MAX_KEYS_BODY_BYTES} bytes`));
                        chunks.push(c);
                    });
                    res.on('error', (e) => done(new KeysError('KEYS_UNAVAILABLE', e.message)));
                    res.on('end', () => {
                        let o: unknown;
                        try {
                            o = JSON.parse(Buffer.concat(chunks).toString('utf8'));
                        } catch {
                            return done(new KeysError('KEYS_UNAVAILABLE', `HTTP ${res.statusCode}: the answer is not JSON`));
                        }
                        if (!o || typeof o !== 'object' || Array.isArray(o)) return done(new KeysError('KEYS_UNAVAILABLE', `HTTP ${res.statusCode}: the answer is not an object`));
                        const rec = o as Record<string, unknown>;
                        if (res.statusCode === 200) return done(null, rec);
                        const code = (KeysErrorCodes as readonly unknown[]).includes(rec.code) ? (rec.code as KeysErrorCode) : 'KEYS_UNAVAILABLE';
                        done(new KeysError(code, typeof rec.message === 'string' ? rec.message.slice(0, 500) : `HTTP ${res.statusCode}`, { status: res.statusCode }));
                    });
                },
            );
            req.on('error', (e) => done(new KeysError('KEYS_UNAVAILABLE', `key service ${u.host}: ${e.message}`)));
            req.end(payload);
        });
    });
}

/** A verifier of key-service certificates: the quote policy, and the image on this snapshot of Root's 'keys' list. */
export function keyServiceVerifier(quote: Omit<VerifyPolicy, 'at'>, keyImages: ReadonlySet<string>, clock: Clock): PeerVerifier {
    return new PeerVerifier({ quote, isImageAllowed: (h) => keyImages.has(h) }, { clock: () => new Date(clock.now()) });
}

export interface KeyServiceClientOptions {
    /** https://host:port of the key service. */
    url: string;
    /** This TD's quote source: the client's transient RA-TLS identity is attested by it. */
    tee: QuoteProvider;
    /** The quote policy applied to the key service (the agent's `trust`). */
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    /** Root's 'keys' allowlist is read from here before each request. */
    chain: Pick<Chain, 'getRootConfig'>;
    /** The clock of trust (certificate validity; usually the agent's TrustClock). */
    clock?: Clock;
    timeoutMs?: number;
}

const b64 = (v: unknown, what: string): Buffer => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new KeysError('KEYS_UNAVAILABLE', `the answer's ${what} is not base64`);
    return Buffer.from(v, 'base64');
};
const num = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new KeysError('KEYS_UNAVAILABLE', `the answer's ${what} is not an integer`);
    return v;
};

/** The client an agent seals and unseals its long-lived secret with (agents/core/keys/sealed-file.ts). */
export function createKeyServiceClient(opts: KeyServiceClientOptions): KeyServiceClient {
    const clock = opts.clock ?? systemClock;
    let identity: Promise<RaTlsIdentity> | undefined;
    const call = async (path: string, body: unknown) => {
        identity ??= RaTlsIdentity.create({ provider: opts.tee, clock: () => new Date(clock.now()) });
        const id = await identity;
        await id.rotateIfDue();
        const cfg = await opts.chain.getRootConfig();
        return postKeys({ url: opts.url, identity: id, verifier: keyServiceVerifier(opts.quotePolicy, cfg.keyImages, clock), timeoutMs: opts.timeoutMs }, path, body);
    };
    const who = (e: { role: SealRole; owner: Address; name: string }) => ({ role: e.role, owner: e.owner.toRawString(), name: e.name });
    return {
        async seal(req: SealRequest): Promise<Buffer> {
            const r = await call('/v1/seal', { ...who(req), secret: req.secret.toString('base64') });
            return b64(r.blob, 'blob');
        },
        async unseal(blob, expect) {
            const r = await call('/v1/unseal', { ...who(expect), blob: blob.toString('base64') });
            const secret = b64(r.secret, 'secret');
            if (typeof r.lease !== 'string' || !/^[0-9a-f]{64}$/.test(r.lease)) throw new KeysError('KEYS_UNAVAILABLE', "the answer's lease is not a blob id");
            const leaseId = r.lease;
            let expiresAt = num(r.expiresAt, 'expiresAt');
            const lease: KeyLease = {
                id: leaseId,
                get expiresAt() {
                    return expiresAt;
                },
                async renew() {
                    expiresAt = num((await call('/v1/renew', { lease: leaseId })).expiresAt, 'expiresAt');
                },
                async release() {
                    await call('/v1/release', { lease: leaseId });
                },
            };
            return { secret, lease };
        },
    };
}
