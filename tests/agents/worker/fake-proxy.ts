// A raw-frame proxy for worker tests: a real RaTlsServer (mutual attestation with the simulated TEE) that records
// every frame a worker sends and lets the test send any frame back. It answers hello with hello_ok by itself and
// does nothing else on its own, so each test drives the worker frame by frame.
import { Address } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import type { WebSocket } from 'ws';
import { encodeFrame, Frame, HelloWorkerFrame, MAX_FRAME_BYTES, parseFrame } from '../../../agents/core/wire';
import { ed25519KeyPairFromSeed, PeerAttestation, PeerVerifier, RaTlsIdentity, RaTlsServer } from '../../../agents/core/transport';
import { QuoteProvider, VerifyPolicy } from '../../../agents/core/tee/types';
import { payoutPayload, signPayload } from '../../../wrappers/payloads';
import { GLOBAL_ID } from '../../../fixtures/network';

export interface FakeProxyOptions {
    tee: QuoteProvider;
    quotePolicy: Omit<VerifyPolicy, 'at'>;
    /** The enclave key seed (signs payouts; Root lists its public key). */
    seed: Buffer;
    /** The key its TLS certificate carries; default `seed` (an impostor uses another). */
    certSeed?: Buffer;
    port?: number;
}

type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>;

/** One worker connection as the proxy sees it. */
export class FakeConn {
    readonly frames: Frame[] = [];
    /** Texts that did not parse as worker → proxy frames. */
    readonly bad: string[] = [];
    hello?: HelloWorkerFrame;
    closed = false;
    readonly whenClosed: Promise<void>;
    private readonly waiters = new Set<() => void>();
    private cursor = 0;

    constructor(
        readonly ws: WebSocket,
        readonly peer: PeerAttestation,
        private readonly proxy: FakeProxy,
    ) {
        this.whenClosed = new Promise((resolve) => ws.once('close', () => resolve()));
        void this.whenClosed.then(() => {
            this.closed = true;
            this.notify();
        });
        ws.on('message', (data) => {
            const text = data.toString();
            try {
                const f = parseFrame(text, 'worker_to_proxy');
                if (f.type === 'hello' && f.role === 'worker' && !this.hello) {
                    this.hello = f;
                    if (this.proxy.address) this.send({ type: 'hello_ok', v: 1, proxy: this.proxy.address.toString() });
                    this.proxy.afterHelloOk?.(this);
                }
                this.frames.push(f);
            } catch {
                this.bad.push(text);
            }
            this.notify();
        });
    }

    private notify(): void {
        for (const w of [...this.waiters]) w();
    }

    send(f: Frame): void {
        this.ws.send(encodeFrame(f, 'proxy_to_worker'));
    }

    sendRaw(text: string): void {
        this.ws.send(text);
    }

    /** Waits until `pred()` returns a value (re-checked on every frame and on close). */
    waitUntil<T>(pred: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
        return new Promise<T>((resolve, reject) => {
            const check = () => {
                const v = pred();
                if (v !== undefined) {
                    done();
                    resolve(v);
                }
            };
            const timer = setTimeout(() => {
                done();
                reject(new Error(`timed out waiting for ${what}; frames: ${this.frames.map((f) => f.type).join(', ')}`));
            }, timeoutMs);
            const done = () => {
                clearTimeout(timer);
                this.waiters.delete(check);
            };
            this.waiters.add(check);
            check();
        });
    }

    /** The next frame of `type` after the previous one taken by next(). */
    next<T extends Frame['type']>(type: T, timeoutMs?: number): Promise<FrameOf<T>> {
        return this.waitUntil(
            () => {
                for (let i = this.cursor; i < this.frames.length; i++) {
                    if (this.frames[i].type === type) {
                        this.cursor = i + 1;
                        return this.frames[i] as FrameOf<T>;
                    }
                }
                return undefined;
            },
            type,
            timeoutMs,
        );
    }

    /** Every frame about request `id`, once it ended (response_end or response_error). */
    async response(id: string, timeoutMs?: number): Promise<Frame[]> {
        const of = () => this.frames.filter((f) => 'id' in f && f.id === id && f.type !== 'error');
        return this.waitUntil(() => (of().some((f) => f.type === 'response_end' || f.type === 'response_error') ? of() : undefined), `the end of ${id}`, timeoutMs);
    }

    whenHello(): Promise<HelloWorkerFrame> {
        return this.waitUntil(() => this.hello, 'hello');
    }
}

export class FakeProxy {
    /** The Proxy contract address (set once deployed); hello_ok names it. */
    address?: Address;
    readonly keys: KeyPair;
    readonly conns: FakeConn[] = [];
    /** Runs right after hello_ok is sent, in the same tick (e.g. to send the latest payout back to back). */
    afterHelloOk?: (conn: FakeConn) => void;
    private server!: RaTlsServer;
    private identity!: RaTlsIdentity;
    private port = 0;
    private taken = 0;
    private readonly waiters = new Set<() => void>();

    private constructor(private readonly o: FakeProxyOptions) {
        this.keys = keyPairFromSeed(o.seed);
    }

    static async start(o: FakeProxyOptions): Promise<FakeProxy> {
        const p = new FakeProxy(o);
        p.identity = await RaTlsIdentity.create({ provider: o.tee, keys: await ed25519KeyPairFromSeed(o.certSeed ?? o.seed) });
        p.port = o.port ?? 0;
        await p.listen();
        return p;
    }

    private async listen(): Promise<void> {
        // Workers must be attested and carry an HPKE key; the image itself is not under test here.
        const verifier = new PeerVerifier({ quote: this.o.quotePolicy, isImageAllowed: () => true, requireHpkeKey: true });
        this.server = new RaTlsServer({ identity: this.identity, verifier, port: this.port, ws: { maxPayload: MAX_FRAME_BYTES } });
        this.server.on('connection', (ws, peer) => {
            this.conns.push(new FakeConn(ws, peer, this));
            for (const w of [...this.waiters]) w();
        });
        const { port } = await this.server.listen();
        this.port = port;
    }

    get url(): string {
        return `wss://127.0.0.1:${this.port}/`;
    }

    /** The next connection not yet returned by this method. */
    nextConnection(timeoutMs = 15_000): Promise<FakeConn> {
        return new Promise((resolve, reject) => {
            const check = () => {
                if (this.conns.length > this.taken) {
                    done();
                    resolve(this.conns[this.taken++]);
                }
            };
            const timer = setTimeout(() => {
                done();
                reject(new Error('timed out waiting for a worker connection'));
            }, timeoutMs);
            const done = () => {
                clearTimeout(timer);
                this.waiters.delete(check);
            };
            this.waiters.add(check);
            check();
        });
    }

    /** Signed payout frame fields for `channel` (cumulative `amount`), by the enclave key or by `key`. */
    payout(channel: Address, amount: bigint, key: KeyPair = this.keys): Frame {
        return { type: 'payout', v: 1, amount, signature: signPayload(payoutPayload(channel, amount, GLOBAL_ID), key.secretKey).toString('hex') };
    }

    /** Closes the server (dropping every worker) and listens again on the same port. */
    async restart(): Promise<void> {
        await this.server.close();
        await this.listen();
    }

    async close(): Promise<void> {
        await this.server?.close();
        this.identity?.stop();
    }
}
