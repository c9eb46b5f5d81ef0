// What the client reports about its proxy and its payments (spec/client.md, `balances()` and `lastReceipt`): the
// proxy's last payment_status, the last voucher it refused, the last receipt verified and paid. Owned here; the
// runner feeds it the events and reads the snapshot.
import { PaymentStatusFrame } from '../core/wire';
import { Receipt } from '../core/receipt';

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
