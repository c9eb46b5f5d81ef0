// Property suite over the agents' money (issue 8, "Also"): random interleavings of requests, cancels, dropped
// connections, top-ups, withdrawal requests, proxy restarts and crashes, watch passes and settlements on the devnet, with a real
// proxy, worker and SDK client. After each run every nanoTON is accounted for:
//   - on chain, the client's deposits = redeemed + balance (what is still refundable);
//   - the proxy was paid everything the client signed, and the client signed everything it was delivered (late and
//     partial receipts included), never more;
//   - Σ worker payouts ≤ Σ redeemed × (1 − commission), and no client was ever served past one credit window.
// Few runs, so it stays under a minute.
import fc from 'fast-check';
import { toNano } from '@ton/core';
import { WebSocket } from 'ws';
import { ask, drain, MoneyStack, startMoneyStack, until } from '../../helpers/money-stack';
import { CocoonClient } from '../../../agents/client/runner';
import { ClientError } from '../../../agents/client/errors';
import { BPS_DENOMINATOR } from '../../../agents/proxy/ledger';

jest.setTimeout(180_000);

const WINDOW = 2_000_000n; // 0.002 TON
const NUM_RUNS = 8;
const SEED = 0x5e771e;

type Op =
    | { t: 'request'; maxTokens: number; stream: boolean }
    | { t: 'cancel'; after: number }
    | { t: 'drop'; after: number }
    | { t: 'topUp'; amount: bigint }
    | { t: 'withdraw'; amount: bigint }
    | { t: 'restart' }
    | { t: 'crash' }
    | { t: 'settle' }
    | { t: 'watch' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ t: fc.constant('request' as const), maxTokens: fc.integer({ min: 1, max: 20 }), stream: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('cancel' as const), after: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('drop' as const), after: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('topUp' as const), amount: fc.bigInt({ min: toNano('0.001'), max: toNano('0.01') }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('withdraw' as const), amount: fc.bigInt({ min: toNano('0.001'), max: toNano('0.01') }) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'settle' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'watch' as const }) },
);

describe('property: every nanoTON between client, proxy and worker is accounted for (attacks 9, 10, 13, 20)', () => {
    let stack: MoneyStack;
    let run = 0;

    beforeAll(async () => {
        stack = await startMoneyStack({ label: 'money-prop', params: { creditWindow: WINDOW } });
        stack.backend.tokenDelayMs = 5;
    });

    afterAll(async () => {
        await stack?.stop();
    });

    /** A stream read for `after` chunks, then abandoned by `leave`. */
    async function streamThen(client: CocoonClient, after: number, leave: (ctrl: AbortController) => void): Promise<void> {
        const ctrl = new AbortController();
        const it = client.request({ ...ask(20, true), signal: ctrl.signal });
        let chunks = 0;
        for (;;) {
            const r = await it.next();
            if (r.done) return;
            if ((r.value as { type: string }).type === 'chunk' && ++chunks >= after) break;
        }
        leave(ctrl);
        await drain(it).catch(() => undefined);
    }

    async function apply(client: CocoonClient, op: Op, deposited: { total: bigint }): Promise<void> {
        switch (op.t) {
            case 'request':
                return drain(client.request(ask(op.maxTokens, op.stream)));
            case 'cancel':
                return streamThen(client, op.after, (ctrl) => ctrl.abort());
            case 'drop':
                await streamThen(client, op.after, () => (client as unknown as { link?: { ws: WebSocket } }).link?.ws.terminate());
                return until('the client to reconnect', () => client.connected);
            case 'topUp':
                await client.topUp(op.amount);
                deposited.total += op.amount;
                return;
            case 'withdraw':
                await client.withdraw(op.amount);
                return;
            case 'restart':
                await stack.proxy.stop();
                await stack.startProxy();
                await until('the worker to come back', () => stack.proxy.stats().workers.length === 1);
                return until('the client to reconnect', () => client.connected);
            case 'crash': {
                // The proxy dies right after booking the next delivery, before its response_end leaves (attack 20).
                let crashed = false;
                stack.crashAt = () => !crashed && (crashed = true);
                await drain(client.request(ask(5))).catch(() => undefined);
                stack.crashAt = undefined;
                await until('the crashed proxy to stop', () => crashed && stack.proxy.stats().status === 'stopped');
                await stack.startProxy();
                await until('the worker to come back', () => stack.proxy.stats().workers.length === 1);
                return until('the client to reconnect', () => client.connected);
            }
            case 'settle':
                await stack.proxy.settle({ force: true });
                return;
            case 'watch':
                await stack.proxy.watchChannels();
                return;
        }
    }

    it('conserves money over random interleavings', async () => {
        await fc.assert(
            fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 10 }), async (ops) => {
                const label = `money-prop-${run++}`;
                const deposit = toNano('0.02');
                const client = await stack.sdkClient(label, deposit);
                const deposited = { total: deposit };
                try {
                    for (const op of ops) {
                        try {
                            await apply(client, op, deposited);
                        } catch (e) {
                            // Refusals are outcomes (no worker yet, deposit or window exhausted, withdrawal too large).
                            if (!(e instanceof ClientError)) throw e;
                        }
                    }
                    // Everything delivered to this channel gets signed: in the exchange, after a cancel, or re-sent
                    // after a reconnect.
                    await until('the client connected', () => client.connected);
                    await until('no request in flight at the proxy', () => stack.proxy.stats().requests.inFlight === 0);
                    await until('every delivery signed', async () => {
                        await client.vouchersSettled();
                        const b = await client.balances();
                        return b.proxyStatus !== null && b.proxyStatus.voucher === b.cumulative && b.proxyStatus.delivered === b.cumulative;
                    });
                    const signed = (await client.balances()).cumulative;
                    await stack.proxy.settle({ force: true });
                    const chain = stack.net.newChain();
                    const st = (await chain.getClientChannelState(client.channel))!;
                    // The client's deposits = redeemed by the proxy + still in the channel (no withdrawal was finished).
                    expect(st.balance + st.redeemed).toBe(deposited.total);
                    // The proxy got exactly what the client signed.
                    expect(st.redeemed).toBe(signed);
                    const t = stack.proxy.stats();
                    expect(t.admission.peakExposure).toBeLessThanOrEqual(WINDOW);
                    expect(t.admission.held).toBe(0n);
                    // Over all runs so far: everything delivered was signed and redeemed, and workers were promised
                    // no more than their share of it.
                    expect(t.ledger.delivered).toBe(t.ledger.vouchers);
                    expect(t.ledger.redeemed).toBe(t.ledger.vouchers);
                    const bps = BigInt(stack.net.params.commissionBps);
                    expect(t.ledger.payouts).toBeLessThanOrEqual((t.ledger.redeemed * (BPS_DENOMINATOR - bps)) / BPS_DENOMINATOR);
                } finally {
                    await client.stop();
                }
            }),
            { numRuns: NUM_RUNS, seed: SEED },
        );
    });
});
