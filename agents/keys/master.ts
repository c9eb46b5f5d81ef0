// Where a key service's master comes from (spec/attestation.md "Sealed secrets", "Replication"): a live replica over
// mutual RA-TLS (`--peer`), or — with the simulated TEE only — a state file encrypted under a key derived from the
// simulated platform's secret (`--state`), or, for the first replica of a cluster, fresh randomness.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'crypto';
import { existsSync } from 'fs';
import { postKeys, keyServiceVerifier } from '../core/keys/client';
import { MASTER_BYTES } from '../core/keys/blob';
import { KeysError } from '../core/keys/types';
import { Chain } from '../core/chain/chain';
import { Clock } from '../core/clock';
import { Log, noLog } from '../core/log';
import { readJsonFile, StateFileError, writeJsonAtomic } from '../core/state-file';
import { imageHash } from '../core/tee/image';
import { SimulatedTee } from '../core/tee/simulated';
import { QuoteProvider, VerifyPolicy } from '../core/tee/types';
import { RaTlsCredentials } from '../core/transport';

export const KEYS_STATE_FORMAT = 'cocoon-keys-state/1';

/**
 * The simulated stand-in for sealing: AES-256-GCM under HKDF(the simulated root key, image hash). Anyone holding the
 * simulated TEE's state file (the host, in the devnet) can derive it: it protects nothing against the host.
 */
function stateKey(tee: SimulatedTee): Buffer {
    const secret = Buffer.from(tee.toState().keys.root, 'utf8');
    return Buffer.from(hkdfSync('sha256', secret, 'cocoon-ts/keys/state/v1', imageHash(tee.measurements), 32));
}

function invalid(file: string, why: string): KeysError {
    return new KeysError('KEYS_STATE_INVALID', `${file}: ${why}`);
}

export function readStateFile(file: string, tee: SimulatedTee): Buffer | undefined {
    let raw: unknown;
    try {
        raw = readJsonFile(file);
    } catch (e) {
        throw invalid(file, e instanceof StateFileError ? e.message : String(e));
    }
    if (raw === undefined) return undefined;
    const o = raw as { format?: unknown; nonce?: unknown; ciphertext?: unknown; tag?: unknown };
    const hex = (v: unknown, n: number) => typeof v === 'string' && v.length === n * 2 && /^[0-9a-f]*$/.test(v);
    if (!o || o.format !== KEYS_STATE_FORMAT || !hex(o.nonce, 12) || !hex(o.ciphertext, MASTER_BYTES) || !hex(o.tag, 16)) throw invalid(file, `not a ${KEYS_STATE_FORMAT} file`);
    try {
        const d = createDecipheriv('aes-256-gcm', stateKey(tee), Buffer.from(o.nonce as string, 'hex'));
        d.setAuthTag(Buffer.from(o.tag as string, 'hex'));
        return Buffer.concat([d.update(Buffer.from(o.ciphertext as string, 'hex')), d.final()]);
    } catch {
        throw invalid(file, 'does not decrypt under this simulated TD (another platform or image)');
    }
}

export function writeStateFile(file: string, tee: SimulatedTee, master: Buffer): void {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', stateKey(tee), nonce);
    const ciphertext = Buffer.concat([c.update(master), c.final()]);
    writeJsonAtomic(file, { format: KEYS_STATE_FORMAT, nonce: nonce.toString('hex'), ciphertext: ciphertext.toString('hex'), tag: c.getAuthTag().toString('hex') });
}

/** The simulated TEE a state file needs; KEYS_STATE_INVALID for a real one (TDX has no sealing key). */
export function simulatedForState(tee: QuoteProvider): SimulatedTee {
    if (!(tee instanceof SimulatedTee)) throw new KeysError('KEYS_STATE_INVALID', 'a key-service state file is refused with a real TEE: TDX has no sealing key; run replicas with --peer');
    return tee;
}

export interface MasterSource {
    tee: QuoteProvider;
    /** Simulated TEE only: keep the master here across restarts. */
    stateFile?: string;
    /** Replicas to fetch the master from (https URLs), tried in order. */
    peers?: string[];
    /** For replication: our certificate, the quote policy and Root's 'keys' allowlist the peer must be on. */
    identity: RaTlsCredentials;
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    chain: Pick<Chain, 'getRootConfig'>;
    clock: Clock;
    timeoutMs?: number;
    log?: Log;
}

/** Fetches the master from the first peer that hands it over (the peer checks that our image is a key-service image). */
export async function fetchMaster(s: MasterSource, peers: string[]): Promise<Buffer> {
    const log = s.log ?? noLog;
    let last: unknown;
    for (const url of peers) {
        try {
            const cfg = await s.chain.getRootConfig();
            const r = await postKeys({ url, identity: s.identity, verifier: keyServiceVerifier(s.quotePolicy, cfg.keyImages, s.clock), timeoutMs: s.timeoutMs }, '/v1/replicate', {});
            const m = typeof r.master === 'string' ? Buffer.from(r.master, 'base64') : Buffer.alloc(0);
            if (m.length !== MASTER_BYTES) throw new KeysError('KEYS_UNAVAILABLE', `${url} answered no ${MASTER_BYTES}-byte master`);
            log('keys.replicated', { peer: url });
            return m;
        } catch (e) {
            last = e;
            log('keys.replicate-failed', { peer: url, code: (e as KeysError).code, error: (e as Error).message });
        }
    }
    if (last instanceof KeysError) throw last;
    throw new KeysError('KEYS_UNAVAILABLE', `no replica answered: ${String(last)}`);
}

/**
 * The master: from the state file when it exists (simulated TEE only; KEYS_STATE_INVALID under a real TEE), else from
 * a peer, else fresh; a state file is then written. With peers named and none answering it fails rather than start a
 * second cluster whose blobs the first cannot open.
 */
export async function resolveMaster(s: MasterSource): Promise<Buffer> {
    let sim: SimulatedTee | undefined;
    if (s.stateFile !== undefined) {
        sim = simulatedForState(s.tee);
        const kept = existsSync(s.stateFile) ? readStateFile(s.stateFile, sim) : undefined;
        if (kept) return kept;
    }
    const master = s.peers && s.peers.length > 0 ? await fetchMaster(s, s.peers) : randomBytes(MASTER_BYTES);
    if (sim && s.stateFile !== undefined) writeStateFile(s.stateFile, sim, master);
    return master;
}
