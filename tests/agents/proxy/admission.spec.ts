// Admission bounds of the proxy (attacks 2, 9, 13): the worst case of every request in flight is held against the
// credit window and against the deposit the client cannot take back; a lapsed withdrawal request no longer counts.
import { ClientAdmission, LAPSE_MARGIN_SEC, livePendingWithdraw } from '../../../agents/proxy/admission';
import { WithdrawWindow } from '../../../wrappers/ClientChannel';

const NOW = 1_800_000_000;
const chain = (o: Partial<{ state: bigint; balance: bigint; redeemed: bigint; pendingWithdraw: bigint; withdrawAt: bigint }> = {}) => ({
    state: 0n,
    balance: 1000n,
    redeemed: 0n,
    pendingWithdraw: 0n,
    withdrawAt: 0n,
    ...o,
});
const input = (o: Partial<Parameters<ClientAdmission['admit']>[0]> = {}) => ({
    channel: 'ch',
    amount: 100n,
    delivered: 0n,
    voucher: 0n,
    creditWindow: 300n,
    chain: chain(),
    nowSec: NOW,
    ...o,
});

describe('ClientAdmission', () => {
    it('attack 13: holds each admitted worst case against the window until released', () => {
        const a = new ClientAdmission();
        expect([a.admit(input()), a.admit(input()), a.admit(input())]).toEqual([null, null, null]);
        expect(a.admit(input())).toMatchObject({ code: 'CREDIT_WINDOW_EXCEEDED' });
        a.release('ch', 100n);
        expect(a.admit(input())).toBeNull();
        expect(a.heldBy('ch')).toBe(300n);
        expect(a.admit(input({ channel: 'other' }))).toBeNull();
        expect(a.total()).toBe(400n);
    });

    it('attack 13: unsigned deliveries count against the window; a request above the whole window is refused', () => {
        const a = new ClientAdmission();
        expect(a.admit(input({ delivered: 250n, voucher: 100n }))).toBeNull();
        expect(a.admit(input({ delivered: 250n, voucher: 100n }))).toMatchObject({ code: 'CREDIT_WINDOW_EXCEEDED' });
        expect(new ClientAdmission().admit(input({ amount: 301n }))).toMatchObject({ code: 'CREDIT_WINDOW_EXCEEDED' });
    });

    it('attack 9: only balance − pending withdrawal is usable, and nothing of a closing channel', () => {
        const a = new ClientAdmission();
        const leaving = chain({ pendingWithdraw: 950n, withdrawAt: BigInt(NOW + 3600) });
        expect(a.admit(input({ chain: leaving }))).toMatchObject({ code: 'INSUFFICIENT_DEPOSIT' });
        expect(a.admit(input({ amount: 50n, chain: leaving }))).toBeNull();
        expect(a.admit(input({ chain: chain({ state: 1n }) }))).toMatchObject({ code: 'INSUFFICIENT_DEPOSIT' });
        expect(a.admit(input({ chain: undefined }))).toMatchObject({ code: 'INSUFFICIENT_DEPOSIT' });
        // Unredeemed deliveries are owed out of the deposit too.
        expect(new ClientAdmission().admit(input({ delivered: 950n, voucher: 950n }))).toMatchObject({ code: 'INSUFFICIENT_DEPOSIT' });
    });

    it('attack 2: a withdrawal request counts until withdrawAt + WithdrawWindow + a margin, when the contract lets it lapse', () => {
        const withdrawAt = BigInt(NOW);
        const st = { pendingWithdraw: 950n, withdrawAt };
        const lapse = Number(withdrawAt + WithdrawWindow + LAPSE_MARGIN_SEC);
        expect(livePendingWithdraw(st, lapse)).toBe(950n);
        expect(livePendingWithdraw(st, lapse + 1)).toBe(0n);
        expect(new ClientAdmission().admit(input({ chain: chain(st), nowSec: lapse }))).toMatchObject({ code: 'INSUFFICIENT_DEPOSIT' });
        expect(new ClientAdmission().admit(input({ chain: chain(st), nowSec: lapse + 1 }))).toBeNull();
    });
});
