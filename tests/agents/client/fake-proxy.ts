// A raw-frame proxy for client tests: a real RaTlsServer (client endpoint, ClientKeyVerifier) registered in Root,
// that plays proxy AND worker itself — it opens sealed requests with a fake worker's real HPKE key, runs them on the
// ReferenceBackend through the worker's own validate/forward/meter code, seals the chunks and signs real receipts.
// Knobs let a test break exactly one thing (a receipt's cost, the signing key, the coefficient, a retryable refusal)
// and observe what the client does (vouchers, cancels, the state file at the moment a voucher arrives).
import { createHash } from 'crypto';
import { readFileSync } from 'fs';
import { Address } from '@ton/core';
import { keyPairFromSeed, KeyPair, signVerify } from '@ton/crypto';
import type { WebSocket } from 'ws';
import { AgentNetwork, testWorkerConfig } from '../../../fixtures/agent-network';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { deriveHpkeKeyPair, HpkeKeyPair, ResponseSealer, ResponseSecret } from '../../../agents/core/hpke';
import { encodeReceipt, signReceipt } from '../../../agents/core/receipt';
import { QuoteProvider } from '../../../agents/core/tee/types';
import { ClientKeyVerifier, ed25519KeyPairFromSeed, KeyPeer, RaTlsIdentity, RaTlsServer } from '../../../agents/core/transport';
import {
    DirectionFrames,
    encodeFrame,
    Frame,
    MAX_FRAME_BYTES,
    openRequestFrame,
    parseFrame,
    RequestFrame,
    sealChunkFrame,
    sealStartFrame,
    WireError,
} from '../../../agents/core/wire';
import { forwardToBackend, ForwardError, meterAndSign } from '../../../agents/worker/forward';
import { validateOpenAIRequest, WorkerRequestError } from '../../../agents/worker/openai-request';
import { modelId, voucherPayload } from '../../../wrappers/payloads';
import { GLOBAL_ID } from '../../../fixtures/network';

export interface FakeWorker {
    label: string;
    keys: KeyPair;
    hpke: HpkeKeyPair;
    identity: RaTlsIdentity;
    coefficient: bigint;
}

/**
 * A worker identity on the simulated platform: seed → Ed25519 (cert = receipt key), HPKE key bound in the claims,
 * `config` the attested worker configuration (default testWorkerConfig(); null = none, version-1 claims).
 */
export async function fakeWorker(provider: QuoteProvider, label: string, coefficient = 1000n, hpkeFor?: string, config: Buffer | null = testWorkerConfig()): Promise<FakeWorker> {
    const seed = createHash('sha256').update(`fake-worker/${label}`).digest();
    const hpke = await deriveHpkeKeyPair(createHash('sha256').update(`fake-worker-hpke/${hpkeFor ?? label}`).digest());
    const identity = await RaTlsIdentity.create({ provider, keys: await ed25519KeyPairFromSeed(seed), hpkePublicKey: hpke.publicKey, workerConfig: config ?? undefined });
    return { label, keys: keyPairFromSeed(seed), hpke, identity, coefficient };
}

export interface VoucherSeen {
    amount: bigint;
    signature: string;
    valid: boolean;
    /** The client's state file, read the moment the voucher arrived. */
    stateFile: string | undefined;
}

/** What a test may break. All fields are read per request. */
export interface Behaviour {
    /** Refuse the next `count` requests before response_start with this code. */
    failBefore?: { code: string; retryable: boolean; count: number };
    /** Break the receipt: a cost off by one (re-signed), a foreign signing key, a coefficient above the announced one. */
    tamper?: 'cost' | 'key' | 'coefficient' | 'frameCost';
    /** Coefficient written in receipts (default: the worker's announced one). */
    receiptCoefficient?: bigint;
    /** Refuse hello with this error. */
    helloError?: string;
    /** Sealed responses: leave out the final chunk (a truncated response). */
    noFinal?: boolean;
    /** The router rewrites response_start's status to this (attack 19). */
    rewriteStatus?: number;
    /** Streams: the worker part sends this many SSE events per chunk frame, joined by '\n' (spec/wire.md, "Coalesced chunks"). */
    coalesce?: number;
    /**
     * Plain requests go to a worker left out of the candidate list (as a proxy with more than 16 workers may pick);
     * a get_worker_candidates naming its key still finds it.
     */
    unlistPlainWorker?: boolean;
}

type Conn = { ws: WebSocket; peer: KeyPeer; channel?: Address; version: number; aborts: Map<string, AbortController> };

export class TestProxy {
    readonly server: RaTlsServer<KeyPeer>;
    address!: Address;
    owner!: Address;
    url!: string;
    behaviour: Behaviour = {};
    readonly vouchers: VoucherSeen[] = [];
    readonly requests: RequestFrame[] = [];
    /** Every get_worker_candidates: its `workerKey`, if it named one. */
    readonly candidateQueries: { workerKey?: string }[] = [];
    readonly cancels: string[] = [];
    readonly hellos: { channel: string; key: string }[] = [];
    readonly conns = new Set<Conn>();
    delivered = 0n;
    voucher = 0n;
    statePath?: string;
    private readonly foreign = keyPairFromSeed(Buffer.alloc(32, 7));

    private constructor(
        private readonly net: AgentNetwork,
        identity: RaTlsIdentity,
        readonly workers: FakeWorker[],
        readonly backend: ReferenceBackend,
    ) {
        this.server = new RaTlsServer<KeyPeer>({ identity, verifier: new ClientKeyVerifier(), ws: { maxPayload: MAX_FRAME_BYTES } });
        this.server.on('connection', (ws, peer) => this.onConnection(ws, peer));
    }

    /**
     * Listens, then deploys and registers the Proxy contract of `seed` with this endpoint. `tlsSeed` (default `seed`)
     * lets the TLS key differ from the registered enclave key; `provider` (default the network's TEE) picks the image.
     */
    static async start(o: { net: AgentNetwork; seed: Buffer; tlsSeed?: Buffer; provider?: QuoteProvider; workers: FakeWorker[]; backend: ReferenceBackend }): Promise<TestProxy> {
        const identity = await RaTlsIdentity.create({ provider: o.provider ?? o.net.tee, keys: await ed25519KeyPairFromSeed(o.tlsSeed ?? o.seed) });
        const p = new TestProxy(o.net, identity, o.workers, o.backend);
        p.url = (await p.server.listen()).url;
        const { address, owner } = await o.net.deployProxy({ seed: o.seed, clientEndpoint: p.url, workerEndpoint: 'wss://127.0.0.1:9/' });
        p.address = address;
        p.owner = owner.address;
        return p;
    }

    /** Drops every client connection (the client should reconnect). */
    dropAll(): void {
        for (const c of this.conns) c.ws.terminate();
    }

    async stop(): Promise<void> {
        await this.server.close();
    }

    private send(c: Conn, f: Frame): void {
        if (c.ws.readyState === c.ws.OPEN) c.ws.send(encodeFrame(f, 'proxy_to_client'));
    }

    private status(c: Conn): void {
        const window = this.net.params.creditWindow;
        const rem = this.voucher + window - this.delivered;
        this.send(c, { type: 'payment_status', v: c.version, delivered: this.delivered, voucher: this.voucher, creditWindow: window, creditRemaining: rem > 0n ? rem : 0n });
    }

    private onConnection(ws: WebSocket, peer: KeyPeer): void {
        const c: Conn = { ws, peer, version: 1, aborts: new Map() };
        this.conns.add(c);
        ws.on('close', () => {
            this.conns.delete(c);
            for (const a of c.aborts.values()) a.abort();
        });
        ws.on('message', (data) => {
            let f: DirectionFrames['client_to_proxy'];
            try {
                f = parseFrame(data as Buffer, 'client_to_proxy', c.channel ? { version: c.version } : {});
            } catch (e) {
                this.send(c, { type: 'error', v: 1, code: (e as WireError).code ?? 'WIRE_MALFORMED', message: String((e as Error).message).slice(0, 500), fatal: true });
                return ws.close();
            }
            void this.onFrame(c, f);
        });
    }

    private async onFrame(c: Conn, f: DirectionFrames['client_to_proxy']): Promise<void> {
        switch (f.type) {
            case 'hello': {
                this.hellos.push({ channel: f.channel, key: c.peer.publicKey.toString('hex') });
                if (this.behaviour.helloError) {
                    this.send(c, { type: 'error', v: 1, code: this.behaviour.helloError, message: 'refused by the test proxy', fatal: true });
                    return c.ws.close();
                }
                // The real check: the channel's clientKey is the certificate key, and it is our channel.
                const st = await this.net.newChain().getClientChannelState(Address.parse(f.channel));
                const key = BigInt('0x' + c.peer.publicKey.toString('hex'));
                if (!st || st.clientKey !== key || !st.proxy.equals(this.address) || st.state !== 0n) {
                    this.send(c, { type: 'error', v: 1, code: 'CHANNEL_INVALID', message: 'not our channel', fatal: true });
                    return c.ws.close();
                }
                c.channel = Address.parse(f.channel);
                this.send(c, { type: 'hello_ok', v: 1, proxy: this.address.toString() });
                return this.status(c);
            }
            case 'get_worker_candidates':
                this.candidateQueries.push({ workerKey: f.workerKey });
                return this.send(c, {
                    type: 'worker_candidates',
                    v: c.version,
                    id: f.id,
                    model: f.model,
                    candidates: this.workers
                        .filter((w) => w.coefficient <= f.maxCoefficient)
                        .filter((w) => (f.workerKey !== undefined ? w.keys.publicKey.toString('hex') === f.workerKey : !(this.behaviour.unlistPlainWorker && w === this.workers[0])))
                        .map((w) => ({
                            keyId: w.hpke.keyId,
                            hpkePublicKey: w.hpke.publicKey.toString('hex'),
                            coefficient: w.coefficient,
                            attestation: w.identity.current.der.toString('base64'),
                        })),
                });
            case 'request':
                this.requests.push(f);
                return this.serve(c, f);
            case 'cancel':
                this.cancels.push(f.id);
                c.aborts.get(f.id)?.abort();
                return;
            case 'voucher': {
                const channel = c.channel!;
                const valid = signVerify(voucherPayload(channel, f.amount, GLOBAL_ID).hash(), Buffer.from(f.signature, 'hex'), c.peer.publicKey);
                let stateFile: string | undefined;
                try {
                    stateFile = this.statePath ? readFileSync(this.statePath, 'utf8') : undefined;
                } catch {
                    stateFile = undefined;
                }
                this.vouchers.push({ amount: f.amount, signature: f.signature, valid, stateFile });
                if (valid && f.amount > this.voucher) this.voucher = f.amount;
                return this.status(c);
            }
            default:
                return;
        }
    }

    /** Worker part: open / validate / forward / meter / sign, as the real worker does, then the knobs. */
    private async serve(c: Conn, f: RequestFrame): Promise<void> {
        const fb = this.behaviour.failBefore;
        if (fb && fb.count > 0) {
            fb.count--;
            return this.send(c, { type: 'response_error', v: c.version, id: f.id, code: fb.code, message: 'injected refusal', retryable: fb.retryable });
        }
        const w = f.sealed ? this.workers.find((x) => x.hpke.keyId === f.sealed!.keyId) : this.workers[0];
        if (!w) return this.send(c, { type: 'response_error', v: c.version, id: f.id, code: 'NO_WORKER', message: 'no such worker', retryable: true });
        let body: Record<string, unknown>;
        let sealer: ResponseSealer | undefined;
        let secret: ResponseSecret | undefined;
        if (f.sealed) {
            const opened = await openRequestFrame(w.hpke, f);
            body = opened.body;
            secret = opened.response;
        } else body = f.body!;
        let validated;
        try {
            validated = validateOpenAIRequest(f.endpoint, body, { model: f.model, contextLength: Number(this.net.model.contextLength) });
        } catch (e) {
            const we = e as WorkerRequestError;
            return this.send(c, { type: 'response_error', v: c.version, id: f.id, code: we.code, message: we.message, retryable: false });
        }
        const chunk = (data: string, final = false) =>
            this.send(c, sealer ? sealChunkFrame(sealer, f.id, data, final, c.version) : { type: 'response_chunk', v: c.version, id: f.id, seq: seq++, data, ...(final ? { final: true } : {}) });
        let seq = 0;
        const abort = new AbortController();
        c.aborts.set(f.id, abort);
        let started = false;
        const start = (status = 200, contentType = validated.stream ? 'text/event-stream' : 'application/json') => {
            if (started) return;
            started = true;
            const s = { id: f.id, status, headers: { 'content-type': contentType } };
            // The router's knob acts on the frame the worker part produced, as a proxy relaying it would.
            const relay = (fr: Frame & { type: 'response_start' }) => this.send(c, this.behaviour.rewriteStatus ? { ...fr, status: this.behaviour.rewriteStatus } : fr);
            if (secret) {
                const sealed = sealStartFrame(secret, s, c.version);
                sealer = sealed.sealer;
                relay(sealed.frame);
            } else relay({ type: 'response_start', v: c.version, ...s });
        };
        let usage;
        const batch: string[] = [];
        const flush = () => batch.length > 0 && chunk(batch.splice(0).join('\n'));
        try {
            const r = await forwardToBackend({
                backendUrl: this.backend.url,
                endpoint: f.endpoint,
                body: validated.body,
                signal: abort.signal,
                onChunk: (data) => {
                    start();
                    if (!this.behaviour.coalesce) return chunk(data);
                    batch.push(data);
                    if (batch.length >= this.behaviour.coalesce) flush();
                },
            });
            flush();
            start();
            if (r.json) {
                // A non-streamed body travels as slices; the client joins them.
                const text = JSON.stringify(r.json);
                const mid = Math.floor(text.length / 2);
                chunk(text.slice(0, mid));
                chunk(text.slice(mid));
            }
            usage = r.usage;
        } catch (e) {
            flush();
            const fe = e as ForwardError;
            if (fe.code === 'BACKEND_ERROR' && fe.status && !started) {
                start(fe.status, 'application/json');
                chunk(JSON.stringify(fe.body ?? {}));
            }
            if (!fe.usage) {
                c.aborts.delete(f.id);
                return this.send(c, { type: 'response_error', v: c.version, id: f.id, code: fe.code ?? 'BACKEND_ERROR', message: fe.message ?? 'failed', retryable: false });
            }
            usage = fe.usage;
            start();
        }
        c.aborts.delete(f.id);
        if (sealer && !this.behaviour.noFinal) chunk('', true);
        const end = this.receipt(f, w, usage);
        this.delivered += end.cost;
        this.send(c, { type: 'response_end', v: c.version, id: f.id, usage, cost: end.frameCost, receipt: end.receipt });
    }

    private receipt(f: RequestFrame, w: FakeWorker, usage: { prompt: bigint; cached: bigint; completion: bigint; reasoning: bigint }) {
        const t = this.behaviour.tamper;
        const coefficient = this.behaviour.receiptCoefficient ?? (t === 'coefficient' ? f.maxCoefficient + 1n : w.coefficient);
        const keys = t === 'key' ? this.foreign : w.keys;
        const m = meterAndSign({ requestId: f.id, modelId: modelId(f.model), usage, prices: this.net.model, coefficient, workerKeys: keys, clock: { now: () => Date.now() } });
        if (t === 'cost') {
            const r = { ...m.signed, cost: m.signed.cost + 1n };
            return { cost: r.cost, frameCost: r.cost, receipt: encodeReceipt(signReceipt(r, w.keys.secretKey)) };
        }
        if (t === 'frameCost') return { cost: m.cost, frameCost: m.cost + 1n, receipt: m.receipt };
        return { cost: m.cost, frameCost: m.cost, receipt: m.receipt };
    }
}

