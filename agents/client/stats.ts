// What the client reports about its proxy and its payments (spec/client.md, `balances()` and `lastReceipt`): the
// proxy's last payment_status, the last voucher it refused, the last receipt verified and paid. Owned here; the
// runner feeds it the events and reads the snapshot; clientMetrics() reads it for /metrics and observeRequests()
// counts each request's end (by model and code, with its tokens and latency over the proxy hop).
import { PaymentStatusFrame } from '../core/wire';
import { Receipt } from '../core/receipt';
import { AgentMetrics, perScrape, since } from '../core/metrics';
import type { Readiness } from '../core/ops-server';
import type { ClientEvent } from './running-request';
import type { Balances } from './channel';
import type { Clock } from '../core/clock';

export interface PaymentStatus {
    delivered: bigint;
    voucher: bigint;
    creditWindow: bigint;
    creditRemaining: bigint;
}

export interface StatsSnapshot {
    /** The proxy's last payment_status (null before the first). */
    proxyStatus: PaymentStatus | null;
    /** The last voucher the proxy refused (error frame), if any. */
    lastVoucherError: { code: string; message: string } | null;
}

export class ClientStats {
    private lastStatus: PaymentStatus | null = null;
    private lastVoucherError: { code: string; message: string } | null = null;
    private last?: Receipt;
    /** Requests in flight (observeRequests). */
    inFlight = 0;

    /** A payment_status: a voucher at or above ours clears the last refusal. */
    paymentStatus(f: PaymentStatusFrame, cumulative: bigint): void {
        this.lastStatus = { delivered: f.delivered, voucher: f.voucher, creditWindow: f.creditWindow, creditRemaining: f.creditRemaining };
        if (f.voucher >= cumulative) this.lastVoucherError = null;
    }

    voucherRefused(code: string, message: string): void {
        this.lastVoucherError = { code, message };
    }

    receiptPaid(r: Receipt): void {
        this.last = r;
    }

    /** The last receipt that verified and was paid (for displays; the state file holds what counts). */
    get lastReceipt(): Receipt | undefined {
        return this.last;
    }

    snapshot(): StatsSnapshot {
        return { proxyStatus: this.lastStatus ? { ...this.lastStatus } : null, lastVoucherError: this.lastVoucherError };
    }
}

/**
 * Counts one request's end in `m` (served with its usage, or failed with its error code; CANCELLED when the caller
 * left before the end) and keeps `stats.inFlight`. First byte = the `start` event (the proxy relayed response_start).
 */
export async function* observeRequests(m: AgentMetrics, stats: ClientStats, model: unknown, events: AsyncGenerator<ClientEvent, void, undefined>): AsyncGenerator<ClientEvent, void, undefined> {
    const t0 = performance.now();
    let firstByteMs: number | undefined;
    let end: Extract<ClientEvent, { type: 'end' }> | undefined;
    let code: string | undefined;
    stats.inFlight++;
    try {
        for await (const ev of events) {
            if (ev.type === 'start') firstByteMs = since(t0);
            else if (ev.type === 'end') end = ev;
            yield ev;
        }
    } catch (e) {
        code = (e as { code?: unknown }).code === undefined ? 'INTERNAL' : String((e as { code?: unknown }).code);
        throw e;
    } finally {
        stats.inFlight--;
        const name = typeof model === 'string' ? model : '';
        if (end) m.requestDone({ model: name, usage: end.usage, firstByteMs, totalMs: since(t0) });
        else m.requestDone({ model: name, code: code ?? 'CANCELLED', firstByteMs });
    }
}

/** The client's scrape-time metrics (spec/operations.md, "Metrics"). */
export function clientMetrics(m: AgentMetrics, o: { stats: ClientStats; connected: () => boolean; cumulative: () => bigint; ready: () => Promise<Readiness> }): void {
    const s = perScrape(() => o.stats.snapshot());
    m.gauge('cocoon_ready', 'Whether /readyz answers 200 (1) or 503 (0)', [], async () => ((await o.ready()).ready ? 1 : 0));
    m.gauge('cocoon_requests_in_flight', 'Requests in flight', [], () => o.stats.inFlight);
    m.gauge('cocoon_connections', 'Peer connections by peer kind and state', ['peer', 'state'], () => [[{ peer: 'proxy', state: 'ready' }, o.connected() ? 1 : 0]]);
    m.gauge('cocoon_ledger_nanoton', "The client's totals with its proxy (nanoTON): delivered (the proxy's last payment_status), vouchers (signed)", ['kind'], () => [
        [{ kind: 'delivered' }, s().proxyStatus?.delivered ?? 0n],
        [{ kind: 'vouchers' }, o.cumulative()],
    ]);
    m.gauge('cocoon_credit_exposure_nanoton', "Credit (nanoTON): unsigned = delivered − the proxy's accepted voucher; remaining = the proxy's creditRemaining", ['kind'], () => {
        const p = s().proxyStatus;
        return [
            [{ kind: 'unsigned' }, p ? (p.delivered > p.voucher ? p.delivered - p.voucher : 0n) : 0n],
            [{ kind: 'remaining' }, p?.creditRemaining ?? 0n],
        ];
    });
}

/**
 * Readiness (`GET /readyz`): open, connected to its attested proxy, not blocked by Root, and funded: its channel
 * open with money left, read from the chain at most every 5 s (a failed read says nothing either way).
 */
export class FundingCheck {
    private at = -Infinity;
    private funded?: Promise<boolean | null>;

    constructor(
        private readonly balances: () => Promise<Balances>,
        private readonly clock: Clock,
        private readonly ttlMs = 5000,
    ) {}

    async readiness(o: { opened: boolean; connected: boolean; blocked: string | undefined }): Promise<Readiness> {
        const reasons: string[] = [];
        if (!o.opened) reasons.push('not_open');
        if (o.blocked) reasons.push('proxy_blocked');
        if (o.opened && !o.connected) reasons.push('not_connected');
        if (o.opened && (await this.check()) === false) reasons.push('not_funded');
        return { ready: reasons.length === 0, reasons, ...(o.blocked ? { blocked: o.blocked } : {}) };
    }

    private check(): Promise<boolean | null> {
        const now = this.clock.now();
        if (!this.funded || now - this.at >= this.ttlMs) {
            this.at = now;
            this.funded = this.balances().then(
                (b) => b.onChain?.state === 'open' && b.available > 0n,
                () => null,
            );
        }
        return this.funded;
    }
}
