// A fake client for proxy tests: signs real vouchers over a real ClientChannel on the devnet chain and connects
// over real RA-TLS, sending raw frames.
import { Address, toNano } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import { randomBytes } from 'crypto';
import type { WebSocket } from 'ws';
import { ChainWallet, TonChain } from '../../../agents/core/chain/chain';
import { connectRaTls, KeyIdentity, RaTlsIdentity } from '../../../agents/core/transport';
import { encodeFrame, Frame } from '../../../agents/core/wire';
import { ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { signPayload, toUint256, voucherPayload } from '../../../wrappers/payloads';
import { AgentNetwork, seed } from '../../../fixtures/agent-network';
import { GLOBAL_ID } from '../../../fixtures/network';
import { FrameLog, proxyPolicy } from './frame-log';

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
