// Client continuity, automatic top-up (spec/client.md, "Automatic top-up"): a channel that runs low under load is
// topped up before the proxy refuses a request, never beyond the budget, and the budget spent survives a restart.
// Real proxy, worker, reference backend and SDK clients on the devnet (tests/helpers/money-stack.ts).
import { toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { ask, drain, MoneyStack, startMoneyStack } from '../../helpers/money-stack';
import { CocoonClient } from '../../../agents/client/runner';
import { ClientError } from '../../../agents/client/errors';
import { ClientStateStore } from '../../../agents/client/state';
import { ClientConfigSchema } from '../../../agents/config';
import { requestBound } from '../../../agents/proxy/admission';
import { seed } from '../../../fixtures/agent-network';

jest.setTimeout(180_000);

const MAX_TOKENS = 20;
const CONCURRENT = 8;
const DEPOSIT = toNano('0.003');
const AUTO = { threshold: toNano('0.0025'), amount: toNano('0.004'), budget: toNano('0.012') };

/** Runs `n` requests at once; returns the refusals (wire codes), an empty list when all were served and paid. */
async function wave(c: CocoonClient, n: number): Promise<string[]> {
    const r = await Promise.allSettled(Array.from({ length: n }, () => drain(c.request(ask(MAX_TOKENS, true)))));
    return r.flatMap((x) => (x.status === 'rejected' ? [(x.reason as ClientError).wireCode ?? (x.reason as ClientError).code] : []));
}

/** What the wallet has put into the channel: balance + redeemed (withdrawals none here). */
async function deposited(c: CocoonClient): Promise<bigint> {
    const b = await c.balances();
    return b.onChain!.balance + b.onChain!.redeemed;
}

describe('client continuity: automatic top-up', () => {
    let stack: MoneyStack;

    beforeAll(async () => {
        stack = await startMoneyStack({ label: 'topup', params: {} });
    });

    afterAll(async () => {
        await stack?.stop();
    });

    it('the load is real: 8 concurrent requests hold more than the deposit', () => {
        const hold = requestBound({ maxTokens: MAX_TOKENS, contextLength: stack.net.model.contextLength, prices: stack.net.model, coefficient: 1500n });
        expect(hold * BigInt(CONCURRENT)).toBeGreaterThan(DEPOSIT);
    });

    it('without autoTopUp the same load is refused INSUFFICIENT_DEPOSIT (402): the test below can fail', async () => {
        const c = await stack.sdkClient('topup-off', DEPOSIT);
        const refused = await wave(c, CONCURRENT);
        expect(refused.length).toBeGreaterThan(0);
        expect(new Set(refused)).toEqual(new Set(['INSUFFICIENT_DEPOSIT']));
        expect(await deposited(c)).toBe(DEPOSIT);
        await c.stop();
    });

    it('a channel that runs low under load is topped up and no request fails; one top-up at a time, within the budget', async () => {
        const events: string[] = [];
        const c = await stack.sdkClient('topup-on', DEPOSIT, { autoTopUp: AUTO, log: (e) => void (e === 'client.top-up' || e === 'client.auto-top-up' ? events.push(e) : undefined) });
        expect(await deposited(c)).toBe(DEPOSIT); // open() deposits, the automatic top-up waits for the load
        for (let i = 0; i < 4; i++) expect(await wave(c, CONCURRENT)).toEqual([]);
        await stack.signedAndHeld(c);
        const b = await c.balances();
        const spent = b.autoTopUp!.spent;
        expect(spent).toBeGreaterThan(0n);
        expect(spent).toBeLessThanOrEqual(AUTO.budget);
        expect(spent % AUTO.amount === 0n || spent === AUTO.budget).toBe(true);
        // One top-up at a time: after open()'s deposit, each automatic transfer (client.top-up) lands
        // (client.auto-top-up) before the next is sent.
        const auto = events.slice(1);
        expect(events[0]).toBe('client.top-up');
        expect(auto.length).toBe(Number(2n * (spent / AUTO.amount)));
        expect(auto).toEqual(auto.map((_, i) => (i % 2 === 0 ? 'client.top-up' : 'client.auto-top-up')));
        // Every nanoTON the budget counted reached the channel, and nothing else did.
        expect(await deposited(c)).toBe(DEPOSIT + spent);
        // Persisted before the transfers: the state file holds the same figure.
        const file = JSON.parse(readFileSync(join(stack.dir, 'topup-on.json'), 'utf8'));
        expect(BigInt(file.topUpSpent)).toBe(spent);
        await c.stop();
    });

    it('the budget spent survives a restart: a client restarted with budget = spent tops up nothing, even when its load is refused', async () => {
        const path = join(stack.dir, 'topup-on.json');
        const spent = ClientStateStore.load(path, keyPairFromSeed(seed('topup-on')).publicKey.toString('hex')).topUpSpent;
        expect(spent).toBeGreaterThan(0n);
        const c = await stack.sdkClient('topup-on', DEPOSIT, { autoTopUp: { ...AUTO, budget: spent } });
        const before = await deposited(c);
        // Drain the balance with holds far above it: a fresh budget would top up here.
        const refused: string[] = [];
        for (let i = 0; i < 3; i++) refused.push(...(await wave(c, 3 * CONCURRENT)));
        expect(refused).toContain('INSUFFICIENT_DEPOSIT');
        expect(await deposited(c)).toBe(before);
        expect((await c.balances()).autoTopUp!.spent).toBe(spent);
        await c.stop();
    });

    it('a state file whose topUpSpent is not a decimal nanoTON amount is STATE_INVALID (never read as 0)', () => {
        const key = keyPairFromSeed(seed('topup-on')).publicKey.toString('hex');
        const good = JSON.parse(readFileSync(join(stack.dir, 'topup-on.json'), 'utf8'));
        for (const bad of ['-1', '1.5', '', 'abc', 7]) {
            const path = join(stack.dir, `bad-spent-${String(bad) || 'empty'}.json`);
            writeFileSync(path, JSON.stringify({ ...good, topUpSpent: bad }));
            expect(() => ClientStateStore.load(path, key)).toThrow(expect.objectContaining({ code: 'STATE_INVALID' }));
        }
    });

    it('bad autoTopUp settings are CONFIG_INVALID naming the key, in the SDK and in the config file', async () => {
        const { wallet } = await stack.net.fundWallet('topup-bad', '1');
        const base = { chain: stack.net.newChain(), wallet, seed: seed('topup-bad'), quotePolicy: stack.net.quotePolicy, statePath: join(stack.dir, 'bad.json') };
        for (const [auto, key] of [
            [{ ...AUTO, amount: 0n }, 'autoTopUp.amount'],
            [{ ...AUTO, budget: -1n }, 'autoTopUp.budget'],
            [{ ...AUTO, threshold: 5 as unknown as bigint }, 'autoTopUp.threshold'],
        ] as const) {
            let err: unknown;
            try {
                new CocoonClient({ ...base, autoTopUp: auto });
            } catch (e) {
                err = e;
            }
            expect(err).toBeInstanceOf(ClientError);
            expect((err as ClientError).code).toBe('CONFIG_INVALID');
            expect((err as ClientError).details?.key).toBe(key);
        }
        const file = (autoTopUp: unknown) => ({ chain: {}, seedFile: 's', wallet: { secretKeyFile: 'w' }, trust: { simulatedTeeFile: 't' }, client: { stateFile: 'x.json', autoTopUp } });
        expect(ClientConfigSchema.safeParse(file({ thresholdTon: '0.5', amountTon: '1', budgetTon: '10' })).success).toBe(true);
        for (const bad of [{ thresholdTon: '0.5', amountTon: '1' }, { thresholdTon: '-1', amountTon: '1', budgetTon: '10' }, { thresholdTon: '0.5', amountTon: '1', budgetTon: '10', extra: 1 }]) {
            const r = ClientConfigSchema.safeParse(file(bad));
            expect(r.success).toBe(false);
            expect(r.error!.issues[0].path.slice(0, 2)).toEqual(['client', 'autoTopUp']);
        }
    });
});
