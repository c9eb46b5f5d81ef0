// The client's one connection to its proxy, kept up (spec/client.md): connect on demand (concurrent callers share
// one attempt), reconnect with backoff when it fails or drops, tell Failover when it is up or down, and the Root
// poll's check that keeps us off a proxy whose image or registration Root no longer lists. It is separate from the
// runner (runner.ts) so the runner holds the client's life (open, stop, the channel) and this file the link's;
// ProxyConnection (proxy-connection.ts) is the connection itself once dialed.
import type { Address } from '@ton/core';
import type { RootConfig, TonChain } from '../core/chain';
import type { Clock, SleepClock } from '../core/clock';
import type { CocoonError } from '../core/errors';
import { Log, withFields } from '../core/log';
import type { VerifyPolicy } from '../core/tee/types';
import type { VerificationCache } from '../core/tee/verify';
import type { RaTlsConnection, RaTlsIdentity } from '../core/transport';
import type { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import type { ProxyInfo } from '../../wrappers/Root';
import type { Candidates } from './candidates';
import { ClientError } from './errors';
import type { Failover } from './failover';
import type { Payments } from './payments';
import { dialProxy, ProxyConnection } from './proxy-connection';
import type { ClientStats } from './stats';
import { errMsg } from './util';

export interface ProxyLinkHost {
    readonly chain: TonChain;
    readonly clock: SleepClock;
    /** The clock of trust: the proxy's certificate and quote are judged by it. */
    readonly trustClock: Clock;
    readonly log: Log;
    readonly quotePolicy: Omit<VerifyPolicy, 'at'>;
    readonly quoteCache: VerificationCache;
    readonly connectTimeoutMs: number;
    readonly reconnectMinMs: number;
    readonly reconnectMaxMs: number;
    readonly stats: ClientStats;
    readonly payments: Payments;
    readonly candidates: Candidates;
    failover(): Failover | undefined;
    /** The proxy's attestation outcome, for /metrics. */
    observe(code: string | null): void;
    identity(): RaTlsIdentity | undefined;
    opened(): boolean;
    stopped(): boolean;
    /** The channel in use (NOT_OPEN before open()). */
    current(): { proxy: Address; proxyKey: bigint; wrapper: ClientChannelWrapper };
}

export class ProxyLink {
    /** The connection, once its handshake has begun (undefined when none). */
    link?: ProxyConnection;
    private connecting?: Promise<ProxyConnection>;
    private reconnectTimer?: NodeJS.Timeout;
    private failures = 0;
    /** Why we do not (re)connect: the proxy's image or registration no longer passes Root's checks. */
    blocked?: string;
    private lastImageHash?: string;

    constructor(private readonly h: ProxyLinkHost) {}

    get connected(): boolean {
        return this.link !== undefined && this.link.ready;
    }

    /** Another channel became the client's: nothing blocks it yet, and its proxy's image is not known. */
    reset(): void {
        this.blocked = undefined;
        this.lastImageHash = undefined;
    }

    /** After a failover (done or failed): a new proxy (or the old one again) starts with the shortest backoff. */
    reconnectNow(): void {
        this.failures = 0;
        this.scheduleReconnect();
    }

    /** stop(): no more reconnects; the connection is dropped with NOT_OPEN and a pending attempt awaited. */
    async stop(): Promise<void> {
        if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
        this.reconnectTimer = undefined;
        const link = this.link;
        this.link = undefined;
        if (link) link.drop(new ClientError('NOT_OPEN', 'the client was stopped'));
        await this.connecting?.catch(() => undefined);
    }

    /** An attested connection closed right away: proves the proxy's image and key before any money moves. */
    async probe(info: ProxyInfo): Promise<void> {
        const c = await this.dial(info);
        c.ws.terminate();
    }

    private dial(info: ProxyInfo): Promise<RaTlsConnection> {
        const identity = this.h.identity();
        if (!identity) throw new ClientError('NOT_OPEN', 'call open() first');
        return dialProxy(info, {
            identity,
            quotePolicy: this.h.quotePolicy,
            isImageAllowed: (h) => this.h.chain.cachedRootConfig?.proxyImages.has(h) ?? false,
            cache: this.h.quoteCache,
            clock: this.h.trustClock,
            connectTimeoutMs: this.h.connectTimeoutMs,
            observe: (code) => this.h.observe(code),
        });
    }

    /** Connects (RA-TLS + hello) unless connected; concurrent callers share one attempt. */
    connect(): Promise<ProxyConnection> {
        if (this.link && this.link.ready) return Promise.resolve(this.link);
        if (this.h.stopped()) return Promise.reject(new ClientError('NOT_OPEN', 'the client was stopped'));
        if (!this.h.opened()) return Promise.reject(new ClientError('NOT_OPEN', 'call open() first'));
        const switching = this.h.failover()?.switching;
        if (switching) return switching.then(() => this.connect());
        if (this.blocked) return Promise.reject(new ClientError('PROXY_REJECTED', this.blocked, { reason: 'ROOT' }));
        if (!this.connecting) {
            if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
            this.reconnectTimer = undefined;
            this.connecting = this.doConnect()
                .then((l) => {
                    this.failures = 0;
                    this.h.failover()?.up();
                    return l;
                })
                .catch((e: unknown) => {
                    this.failures++;
                    if (e instanceof ClientError && e.code === 'PROXY_UNREACHABLE') this.h.failover()?.unreachable();
                    else this.h.failover()?.down();
                    this.h.log('client.connect-failed', { code: (e as CocoonError).code, message: errMsg(e) });
                    // Clear the in-flight marker first: scheduleReconnect does nothing while a connect is pending.
                    this.connecting = undefined;
                    this.scheduleReconnect();
                    throw e;
                })
                .finally(() => (this.connecting = undefined));
        }
        return this.connecting;
    }

    private async doConnect(): Promise<ProxyConnection> {
        const { proxy, proxyKey, wrapper } = this.h.current();
        const cfg = await this.h.chain.getRootConfig();
        const info = cfg.proxies.get(proxy.toRawString());
        if (!info) throw new ClientError('PROXY_REJECTED', `proxy ${proxy.toString()} is no longer registered in Root`, { reason: 'NOT_REGISTERED' });
        if (info.enclaveKey !== proxyKey) throw new ClientError('PROXY_REJECTED', 'the proxy re-registered with another enclave key; this channel is not its channel', { reason: 'KEY_CHANGED' });
        const conn = await this.dial(info);
        if (this.h.stopped()) {
            conn.ws.terminate();
            throw new ClientError('NOT_OPEN', 'the client was stopped');
        }
        this.lastImageHash = conn.peer.imageHash;
        const { stats, payments } = this.h;
        const link = new ProxyConnection(conn.ws, conn.peer, {
            // Every line of the connection names the proxy as its peer.
            log: withFields(this.h.log, { peer: proxy.toString() }),
            onPaymentStatus: (f) => stats.paymentStatus(f, payments.cumulative),
            onLateReceipt: (c, f) => payments.onLateReceipt(c, f),
            onVoucherError: (code, message) => stats.voucherRefused(code, message),
            onGone: (c, closedByPeer) => this.onGone(c, closedByPeer),
        });
        this.link = link;
        try {
            // hello → hello_ok → payment_status; then resend our latest voucher if the proxy lacks it.
            const { version, status } = await link.handshake(wrapper.address, proxy, this.h.connectTimeoutMs);
            payments.onConnected(link, status.voucher);
            this.h.log('client.connected', { peer: proxy.toString(), version });
        } catch (e) {
            link.drop(e instanceof ClientError ? e : new ClientError('PROTOCOL_ERROR', errMsg(e)));
            throw e;
        }
        return link;
    }

    /** Our connection dropped or closed: reconnect with backoff. */
    private onGone(link: ProxyConnection, closedByPeer: boolean): void {
        if (this.link !== link) return;
        this.link = undefined;
        this.h.failover()?.down();
        if (closedByPeer) this.h.log('client.disconnected', {});
        this.scheduleReconnect();
    }

    private scheduleReconnect(): void {
        if (this.h.stopped() || !this.h.opened() || this.blocked || this.reconnectTimer || this.connecting || this.link) return;
        const delay = Math.min(this.h.reconnectMaxMs, this.h.reconnectMinMs * 2 ** Math.min(this.failures, 16));
        this.reconnectTimer = setTimeout(() => {
            this.reconnectTimer = undefined;
            this.connect().catch(() => undefined); // failures reschedule themselves
        }, delay);
        this.reconnectTimer.unref?.();
    }

    /** Root poll: a removed proxy image or registration disconnects us and keeps us off until it is back. */
    async pollRoot(): Promise<void> {
        let changed: boolean;
        try {
            changed = await this.h.chain.refreshIfChanged();
        } catch (e) {
            this.h.log('client.root-poll-failed', { message: errMsg(e) });
            return;
        }
        if (!changed || this.h.stopped()) return;
        const cfg = this.h.chain.cachedRootConfig!;
        this.h.candidates.clear();
        const why = this.proxyRefusal(cfg);
        if (why) {
            if (!this.blocked) this.h.log('client.proxy-blocked', { reason: why });
            this.blocked = why;
            if (this.link) this.link.drop(new ClientError('PROXY_REJECTED', why, { reason: 'ROOT' }));
        } else if (this.blocked) {
            this.h.log('client.proxy-unblocked', {});
            this.blocked = undefined;
            this.scheduleReconnect();
        }
    }

    private proxyRefusal(cfg: RootConfig): string | undefined {
        const { proxy, proxyKey } = this.h.current();
        const info = cfg.proxies.get(proxy.toRawString());
        if (!info) return `proxy ${proxy.toString()} is no longer registered in Root`;
        if (info.enclaveKey !== proxyKey) return 'the proxy re-registered with another enclave key';
        if (this.lastImageHash && !cfg.proxyImages.has(this.lastImageHash)) return `proxy image ${this.lastImageHash} was removed from Root's proxyImages`;
        return undefined;
    }
}
