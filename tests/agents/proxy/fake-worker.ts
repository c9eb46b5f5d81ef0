// A fake worker for proxy tests: answers requests itself (no backend) with real signed receipts (meterAndSign).
// It holds a real channel on the devnet chain and connects over real RA-TLS; each behaviour a test needs is a mode,
// not a mock.
import { Address } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import { randomBytes } from 'crypto';
import type { WebSocket } from 'ws';
import { ChainWallet, TonChain } from '../../../agents/core/chain/chain';
import { deriveHpkeKeyPair, HpkeKeyPair, ResponseSealer } from '../../../agents/core/hpke';
import { connectRaTls, ed25519KeyPairFromSeed, RaTlsIdentity } from '../../../agents/core/transport';
import { encodeFrame, Frame, openRequestFrame, RequestFrame, sealChunkFrame, sealStartFrame } from '../../../agents/core/wire';
import { meterAndSign } from '../../../agents/worker/forward';
import { TokenUsage } from '../../../agents/core/pricing';
import { workerHelloPayload } from '../../../agents/core/worker-hello';
import { WorkerChannelWrapper } from '../../../wrappers/WorkerChannel';
import { modelId, signPayload } from '../../../wrappers/payloads';
import { AgentNetwork, seed, testWorkerConfig } from '../../../fixtures/agent-network';
import { FrameLog, proxyPolicy } from './frame-log';

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
    /** `workerConfig`: the attested configuration (default testWorkerConfig() at this worker's capacity; null = none, version-1 claims). */
    async setup(proxy: Address, chain: TonChain, opts: { stake?: boolean; workerConfig?: Buffer | null } = {}): Promise<this> {
        this.proxy = proxy;
        const s = seed(`worker/${this.label}`);
        this.keys = keyPairFromSeed(s);
        this.hpke = await deriveHpkeKeyPair(seed(`worker-hpke/${this.label}`));
        const workerConfig = opts.workerConfig === undefined ? testWorkerConfig({ capacity: this.capacity }) : (opts.workerConfig ?? undefined);
        this.identity = await RaTlsIdentity.create({ provider: this.net.tee, keys: await ed25519KeyPairFromSeed(s), hpkePublicKey: this.hpke.publicKey, workerConfig });
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
            clock: { now: () => Date.now() },
        });
        this.send({ type: 'response_end', v: 1, id, usage, cost: m.cost, receipt: m.receipt });
    }
}
