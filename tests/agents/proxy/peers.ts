// Raw-frame test peers for the proxy agent: a worker that answers requests itself (no backend) with real signed
// receipts (meterAndSign) and a client that signs real vouchers. Both hold real channels on the devnet chain and
// connect over real RA-TLS; each behaviour a test needs is a mode, not a mock.
import { Address, toNano } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import { randomBytes } from 'crypto';
import type { WebSocket } from 'ws';
import { ChainWallet, TonChain } from '../../../agents/core/chain/chain';
import { deriveHpkeKeyPair, HpkeKeyPair, ResponseSealer } from '../../../agents/core/hpke';
import { connectRaTls, ed25519KeyPairFromSeed, KeyIdentity, PeerPolicy, RaTlsIdentity } from '../../../agents/core/transport';
import { Direction, encodeFrame, Frame, openRequestFrame, parseFrame, RequestFrame, sealChunkFrame, sealStartFrame } from '../../../agents/core/wire';
import { meterAndSign } from '../../../agents/worker/forward';
import { TokenUsage } from '../../../agents/core/pricing';
import { workerHelloPayload } from '../../../agents/core/worker-hello';
import { ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { WorkerChannelWrapper } from '../../../wrappers/WorkerChannel';
import { modelId, signPayload, toUint256, voucherPayload } from '../../../wrappers/payloads';
import { AgentNetwork, seed } from '../../helpers/agent-network';
import { GLOBAL_ID } from '../../helpers/network';

/** Frames of one WebSocket, parsed, with waiting helpers. */
export class FrameLog {
    readonly frames: Frame[] = [];
    closed = false;
    closeCode?: number;
    private waiters: (() => void)[] = [];

    constructor(
        readonly ws: WebSocket,
        private readonly dir: Direction,
    ) {
        ws.on('message', (d) => {
            this.frames.push(parseFrame(d as Buffer, dir) as Frame);
            this.wake();
        });
        ws.on('close', (code) => {
            this.closed = true;
            this.closeCode = code;
            this.wake();
        });
    }

    private wake() {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    /** The first frame (at or after `from`) matching `pred`; rejects after `ms`. */
    async next<T extends Frame = Frame>(pred: (f: Frame) => boolean, ms = 8000, from = 0): Promise<T> {
        const deadline = Date.now() + ms;
        for (;;) {
            const f = this.frames.slice(from).find(pred);
            if (f) return f as T;
            if (this.closed) throw new Error(`connection closed while waiting; frames: ${JSON.stringify(this.types())}`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`timeout waiting for a frame; frames: ${JSON.stringify(this.types())}`);
            await new Promise<void>((r) => {
                const t = setTimeout(r, left);
                this.waiters.push(() => {
                    clearTimeout(t);
                    r();
                });
            });
        }
    }

    async waitClosed(ms = 8000): Promise<void> {
        const deadline = Date.now() + ms;
        while (!this.closed) {
            if (Date.now() > deadline) throw new Error('connection did not close');
            await new Promise((r) => setTimeout(r, 20));
        }
    }

    types(): string[] {
        return this.frames.map((f) => ('code' in f ? `${f.type}:${f.code}` : f.type));
    }

    ofId(id: string): Frame[] {
        return this.frames.filter((f) => 'id' in f && f.id === id);
    }
}

/** The proxy as a worker or client sees it: attested, any image (these tests test the proxy, not the peers). */
export function proxyPolicy(net: AgentNetwork): PeerPolicy {
    return { quote: net.quotePolicy, isImageAllowed: () => true };
}

export type WorkerMode =
    | 'ok' // start, one chunk, end with a correct receipt
    | 'retryable-error' // response_error BACKEND_UNREACHABLE, retryable, before response_start
    | 'drop' // close the connection on the request, before response_start
    | 'drop-after-start' // response_start, then close the connection
    | 'bad-receipt' // a receipt signed by another key
    | 'lying-usage' // a correctly signed receipt for LYING_USAGE: 3,000,000 completion tokens (attack 11)
    | 'short-text' // WORKER_USAGE (1000 completion tokens, within maxTokens) over a response of a few bytes (attack 11)
    | 'hold'; // answer nothing

export const WORKER_USAGE: TokenUsage = { prompt: 1000n, cached: 0n, completion: 1000n, reasoning: 0n };
/** What a lying worker signs: far beyond any request's maxTokens. */
export const LYING_USAGE: TokenUsage = { prompt: 1000n, cached: 0n, completion: 3_000_000n, reasoning: 0n };

export class TestWorker {
    mode: WorkerMode = 'ok';
    /** Requests received (id → frame). */
    readonly requests: RequestFrame[] = [];
    log!: FrameLog;
    ws!: WebSocket;
    hpke!: HpkeKeyPair;
    identity!: RaTlsIdentity;
    keys!: KeyPair;
    channel!: Address;
    wallet!: ChainWallet;
    proxy!: Address;
    private sealers = new Map<string, ResponseSealer>();

    constructor(
        readonly net: AgentNetwork,
        readonly label: string,
        readonly coefficient = 1000n,
        readonly capacity = 4,
    ) {}

    /** Funds a wallet, opens and stakes a WorkerChannel with the proxy, creates the RA-TLS identity. */
    async setup(proxy: Address, chain: TonChain, opts: { stake?: boolean } = {}): Promise<this> {
        this.proxy = proxy;
        const s = seed(`worker/${this.label}`);
        this.keys = keyPairFromSeed(s);
        this.hpke = await deriveHpkeKeyPair(seed(`worker-hpke/${this.label}`));
        this.identity = await RaTlsIdentity.create({ provider: this.net.tee, keys: await ed25519KeyPairFromSeed(s), hpkePublicKey: this.hpke.publicKey });
        ({ wallet: this.wallet } = await this.net.fundWallet(`worker/${this.label}`, '20'));
        const st = await chain.getProxyState(proxy);
        const wc = await WorkerChannelWrapper.create({ proxy, worker: this.wallet.address, proxyKey: st!.enclaveKey, root: this.net.root, terms: st!.terms! });
        this.channel = wc.address;
        if (opts.stake !== false) await chain.open(wc).sendStake(this.wallet.sender(), this.net.params.minWorkerStake);
        return this;
    }

    /** hello.auth: the owner signature (default: this worker's wallet over its own channel and key); null = none. */
    async connect(
        workerUrl: string,
        hello: Partial<{ channel: string; models: { name: string; coefficient: bigint }[]; auth: { expiresAt: number; signature: string } | null }> = {},
    ): Promise<FrameLog> {
        const c = await connectRaTls(workerUrl, this.identity, proxyPolicy(this.net));
        this.ws = c.ws;
        this.log = new FrameLog(c.ws, 'proxy_to_worker');
        this.ws.on('message', () => void this.onFrame(this.log.frames[this.log.frames.length - 1]));
        this.send({
            type: 'hello',
            v: 1,
            minV: 1,
            role: 'worker',
            channel: hello.channel ?? this.channel.toString(),
            models: hello.models ?? [{ name: this.net.model.name, coefficient: this.coefficient }],
            capacity: this.capacity,
            ...(hello.auth === null ? {} : { auth: hello.auth ?? this.ownerAuth(hello.channel ? Address.parse(hello.channel) : this.channel) }),
        });
        return this.log;
    }

    send(f: Frame): void {
        this.ws.send(encodeFrame(f, 'worker_to_proxy'));
    }

    /** What the worker agent sends: its wallet (the channel owner) signs (channel, proxy, its attested key, expiry). */
    ownerAuth(channel: Address = this.channel, wallet: ChainWallet = this.wallet, expiresAt = Math.floor(Date.now() / 1000) + 600): { expiresAt: number; signature: string } {
        return { expiresAt, signature: wallet.signPayload(workerHelloPayload(channel, this.proxy, this.keys.publicKey, expiresAt)).toString('hex') };
    }

    /** Another connection of the same worker (same keys and channel), with its own frame log. */
    clone(): TestWorker {
        const c = new TestWorker(this.net, this.label, this.coefficient, this.capacity);
        Object.assign(c, { hpke: this.hpke, identity: this.identity, keys: this.keys, channel: this.channel, wallet: this.wallet, proxy: this.proxy });
        return c;
    }

    close(): void {
        this.ws?.close();
    }

    private async onFrame(f: Frame): Promise<void> {
        if (f.type !== 'request') return;
        this.requests.push(f);
        const id = f.id;
        switch (this.mode) {
            case 'hold':
                return;
            case 'drop':
                return this.ws.close();
            case 'retryable-error':
                return this.send({ type: 'response_error', v: 1, id, code: 'BACKEND_UNREACHABLE', message: 'backend down', retryable: true });
        }
        let sealer: ResponseSealer | undefined;
        const start = { id, status: 200, headers: { 'content-type': 'application/json' } };
        if (f.sealed) {
            const s = sealStartFrame((await openRequestFrame(this.hpke, f)).response, start);
            sealer = s.sealer;
            this.send(s.frame);
        } else this.send({ type: 'response_start', v: 1, ...start });
        if (this.mode === 'drop-after-start') return this.ws.close();
        // As long as a real response with WORKER_USAGE's 1000 completion tokens would be: the proxy bounds the
        // tokens a receipt may claim by the payload bytes it relayed (attack 11).
        const data = JSON.stringify({ object: 'chat.completion', worker: this.label, text: this.mode === 'short-text' ? 'x' : 'x'.repeat(1000) });
        this.send(sealer ? sealChunkFrame(sealer, id, data, true) : { type: 'response_chunk', v: 1, id, seq: 0, data });
        const keys = this.mode === 'bad-receipt' ? keyPairFromSeed(randomBytes(32)) : this.keys;
        const usage = this.mode === 'lying-usage' ? LYING_USAGE : WORKER_USAGE;
        const m = meterAndSign({
            requestId: id,
            modelId: modelId(f.model),
            usage,
            prices: this.net.model,
            coefficient: this.coefficient,
            workerKeys: { publicKey: this.mode === 'bad-receipt' ? keys.publicKey : this.keys.publicKey, secretKey: keys.secretKey },
            now: () => Date.now() / 1000,
        });
        this.send({ type: 'response_end', v: 1, id, usage, cost: m.cost, receipt: m.receipt });
    }
}

export class TestClient {
    log!: FrameLog;
    ws!: WebSocket;
    keys!: KeyPair;
    identity!: RaTlsIdentity;
    channel!: Address;
    wallet!: ChainWallet;

    constructor(
        readonly net: AgentNetwork,
        readonly label: string,
    ) {}

    /** Funds a wallet, deploys and tops up the canonical ClientChannel; `keyLabel` lets the certificate key differ. */
    async setup(proxy: Address, chain: TonChain, opts: { deposit?: bigint; keyLabel?: string } = {}): Promise<this> {
        const channelSeed = seed(`client/${this.label}`);
        this.keys = keyPairFromSeed(channelSeed);
        this.identity = await KeyIdentity.create({ seed: seed(`client/${opts.keyLabel ?? this.label}`) });
        ({ wallet: this.wallet } = await this.net.fundWallet(`client/${this.label}`, '20'));
        const st = await chain.getProxyState(proxy);
        const cfg = await chain.getRootConfig();
        const cc = await ClientChannelWrapper.create({
            proxy,
            client: this.wallet.address,
            clientKey: toUint256(this.keys.publicKey),
            proxyKey: st!.enclaveKey,
            closeDelay: cfg.params.clientCloseDelay,
            code: cfg.childCode.clientCode,
        });
        this.channel = cc.address;
        await chain.open(cc).sendTopUp(this.wallet.sender(), opts.deposit ?? toNano('1'));
        return this;
    }

    async connect(clientUrl: string, opts: { hello?: boolean; channel?: string } = {}): Promise<FrameLog> {
        const c = await connectRaTls(clientUrl, this.identity, proxyPolicy(this.net));
        this.ws = c.ws;
        this.log = new FrameLog(c.ws, 'proxy_to_client');
        if (opts.hello !== false) this.send({ type: 'hello', v: 1, minV: 1, role: 'client', channel: opts.channel ?? this.channel.toString() });
        return this.log;
    }

    send(f: Frame): void {
        this.ws.send(encodeFrame(f, 'client_to_proxy'));
    }

    close(): void {
        this.ws?.close();
    }

    /** A plain chat request; resolves with the frame that ended it (response_end or response_error). */
    async request(opts: { id?: string; maxCoefficient?: bigint } = {}): Promise<{ id: string; end: Frame; frames: Frame[] }> {
        const id = opts.id ?? randomBytes(16).toString('hex');
        const from = this.log.frames.length;
        this.send({
            type: 'request',
            v: 1,
            id,
            model: this.net.model.name,
            endpoint: 'chat',
            stream: false,
            maxTokens: 1000, // ≥ WORKER_USAGE.completion: the proxy holds receipts to maxTokens (attack 11)
            maxCoefficient: opts.maxCoefficient ?? 2000n,
            body: { model: this.net.model.name, messages: [{ role: 'user', content: 'hello there' }] },
        });
        const end = await this.log.next((f) => 'id' in f && f.id === id && (f.type === 'response_end' || f.type === 'response_error'), 8000, from);
        return { id, end, frames: this.log.ofId(id) };
    }

    signVoucher(amount: bigint): string {
        return signPayload(voucherPayload(this.channel, amount, GLOBAL_ID), this.keys.secretKey).toString('hex');
    }

    /** Sends a voucher and waits for the payment_status (and error, if any) that answers it. */
    async voucher(amount: bigint, signature = this.signVoucher(amount)): Promise<{ status: Frame; error?: Frame }> {
        const from = this.log.frames.length;
        this.send({ type: 'voucher', v: 1, amount, signature });
        const status = await this.log.next((f) => f.type === 'payment_status', 8000, from);
        const error = this.log.frames.slice(from).find((f) => f.type === 'error');
        return { status, error };
    }
}
