// Money on the clock of trust (spec/attestation.md "Chain time for money and receipts"): the contracts judge withdrawal deadlines by their
// now(), a block time, so the agents predict them by chain time, never by the host clock a TD's host sets at will.
// Every clock is injected: the host clock is moved an hour ahead or behind while the chain's time stays put, and each
// decision is shown to follow the chain. Without chain time a decision that would release value or accept a late
// action takes the safe side (a pending withdrawal still counts), and a receipt is not signed.
import { Address, toNano } from '@ton/core';
import { chainNowRetried, chainSeconds, resumeTrustClock, stopTrustTimers, TrustClock } from '../../../../agents/core/chain/trust-clock';
import { AttestationError } from '../../../../agents/core/tee/types';
import { isLeaving, Settlement, SettlementHost } from '../../../../agents/proxy/settlement';
import { LAPSE_MARGIN_SEC, livePendingWithdraw } from '../../../../agents/proxy/admission';
import { CoopHost, CoopWithdrawals } from '../../../../agents/proxy/coop-withdraw';
import { ClientChannelState, WithdrawWindow } from '../../../../wrappers/ClientChannel';
import { meterAndSign } from '../../../../agents/worker/forward';
import { AutoTopUp } from '../../../../agents/client/top-up';
import type { ClientStateStore } from '../../../../agents/client/state';
import { decodeReceipt } from '../../../../agents/core/receipt';
import { keyPairFromSeed } from '@ton/crypto';
import { TEST_MODEL_PRICES } from '../../../../agents/backend/test-model';
import { noLog } from '../../../../agents/core/log';
import { DevnetServer } from '../../../../agents/devnet/server';
import { KeysConfigSchema, loadConfigFile } from '../../../../agents/config';
import { commonOf } from '../../../../agents/common';
import { keyServiceFromConfig } from '../../../../agents/keys/command';
import { keysNetwork } from '../../../helpers/keys';
import { LocalPccs, simulatedCollaterals } from '../../../../agents/core/tee/pccs/server';
import { CollateralService } from '../../../../agents/core/tee/pccs/service';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const HOUR = 3600_000;
/** The chain's time in the tests (ms, a whole second). */
const CHAIN = 1_800_000_000_000;
const CHAIN_S = CHAIN / 1000;

/** A clock of trust whose chain answers `chainMs` (or fails); the monotonic clock stands still. */
async function trustAt(chainMs: number | Error): Promise<TrustClock> {
    const c = new TrustClock({
        chainTime: async () => {
            if (chainMs instanceof Error) throw chainMs;
            return Math.floor(chainMs / 1000);
        },
        monotonic: () => 0,
        refreshMs: 0,
    });
    await c.refresh();
    return c;
}
const hostClock = (offsetMs: number) => ({ now: () => CHAIN + offsetMs });

const ADDR = Address.parse('0:' + '11'.repeat(32));
function channel(o: Partial<ClientChannelState>): ClientChannelState {
    return { $$type: 'ClientChannelState', proxy: ADDR, client: ADDR, clientKey: 1n, proxyKey: 2n, closeDelay: 3600n, state: 0n, balance: toNano('1'), redeemed: 0n, withdrawSeqno: 0n, pendingWithdraw: 0n, withdrawAt: 0n, closeAt: 0n, ...o };
}
/** A withdrawal the client can still finish for another minute by chain time (lapsing counts the proxy's margin too). */
const LIVE = channel({ pendingWithdraw: toNano('0.3'), withdrawAt: BigInt(CHAIN_S) - WithdrawWindow - LAPSE_MARGIN_SEC + 60n });
/** A withdrawal that lapsed (margin included) a minute ago by chain time. */
const LAPSED = channel({ pendingWithdraw: toNano('0.3'), withdrawAt: BigInt(CHAIN_S) - WithdrawWindow - LAPSE_MARGIN_SEC - 60n });

function settlement(host: { now(): number }, trust: { now(): number }): Settlement {
    const h = { clock: host, trustClock: trust, log: noLog } as unknown as SettlementHost;
    return new Settlement(h);
}

describe("the proxy's settlement judges a pending withdrawal by chain time", () => {
    it('the host clock an hour ahead does not make a live withdrawal look lapsed: the channel is leaving, its voucher is redeemed', async () => {
        expect(isLeaving(LIVE, Math.floor(hostClock(HOUR).now() / 1000))).toBe(false); // what the host clock would say
        const s = settlement(hostClock(HOUR), await trustAt(CHAIN));
        s.remember('ch', LIVE);
        expect(s.cachedLeaving('ch')).toBe(true);
    });

    it('the host clock an hour behind does not keep a lapsed withdrawal alive', async () => {
        expect(isLeaving(LAPSED, Math.floor(hostClock(-HOUR).now() / 1000))).toBe(true); // what the host clock would say
        const s = settlement(hostClock(-HOUR), await trustAt(CHAIN));
        s.remember('ch', LAPSED);
        expect(s.cachedLeaving('ch')).toBe(false);
    });

    it('without chain time a pending withdrawal counts as live: the channel is leaving and admission keeps it aside', async () => {
        const none = await trustAt(new Error('chain down'));
        expect(chainSeconds(none)).toBeNull();
        const s = settlement(hostClock(HOUR), none);
        s.remember('ch', LAPSED);
        expect(s.cachedLeaving('ch')).toBe(true);
        expect(livePendingWithdraw(LAPSED, null)).toBe(toNano('0.3'));
        expect(livePendingWithdraw(LAPSED, CHAIN_S)).toBe(0n);
    });
});

describe("the proxy's cooperative withdrawal counts a pending withdrawal by chain time", () => {
    const key = keyPairFromSeed(Buffer.alloc(32, 7));
    function coop(trust: { now(): number }, st: ClientChannelState) {
        const records: unknown[] = [];
        const h: CoopHost = {
            ledger: () => ({
                client: () => ({ client: 'ch', deliveredCost: 0n, latestVoucher: null, redeemedOnChain: 0n }),
                coopWithdrawal: () => null,
                recordCoopWithdrawal: (_c: string, w: unknown) => void records.push(w),
                flush: async () => undefined,
            }),
            settlement: { settle: async () => ({ redeemed: [], payouts: [], errors: [] }), refreshChannel: async () => st },
            heldBy: () => 0n,
            secretKey: key.secretKey,
            globalId: () => -239,
            trustClock: trust,
            log: noLog,
        };
        return { c: new CoopWithdrawals(h), records };
    }

    it('a live withdrawal by chain time is not freed for a co-signature, whatever the host clock says (the client would take it twice)', async () => {
        expect(livePendingWithdraw(LIVE, Math.floor(hostClock(HOUR).now() / 1000))).toBe(0n); // the host clock an hour ahead would free it
        const { c, records } = coop(await trustAt(CHAIN), LIVE);
        await expect(c.sign(ADDR, { amount: toNano('0.8'), close: false })).rejects.toMatchObject({ code: 'COOP_WITHDRAW_TOO_LARGE' });
        expect(records).toEqual([]);
        expect((await c.sign(ADDR, { amount: toNano('0.7'), close: false })).amount).toBe(toNano('0.7'));
    });

    it('without chain time the pending withdrawal still counts: nothing beyond balance − pending is signed', async () => {
        const { c, records } = coop(await trustAt(new Error('chain down')), LAPSED);
        await expect(c.sign(ADDR, { amount: toNano('0.8'), close: false })).rejects.toMatchObject({ code: 'COOP_WITHDRAW_TOO_LARGE' });
        expect(records).toEqual([]);
    });
});

describe("the client's automatic top-up counts its pending withdrawal by chain time", () => {
    const topUp = (trust: { now(): number }) =>
        new AutoTopUp({
            config: { threshold: 0n, amount: toNano('1'), budget: toNano('1') },
            maxCoefficient: 1000n,
            read: async () => LIVE,
            topUp: async () => LIVE,
            store: () => ({ topUpSpent: 0n }) as unknown as ClientStateStore,
            committed: () => 0n,
            stopped: () => false,
            clock: hostClock(HOUR), // by it the withdrawal lapsed: the whole balance would look spendable
            trustClock: trust,
            log: noLog,
        });

    it('a withdrawal live by chain time is not spendable, whatever the host clock says; without chain time it still counts', async () => {
        for (const trust of [await trustAt(CHAIN), await trustAt(new Error('chain down'))]) {
            const t = topUp(trust);
            await t.start();
            expect(t.status()!.spendable).toBe(LIVE.balance - LIVE.pendingWithdraw);
        }
    });
});

describe("the worker's receipts carry chain time", () => {
    const keys = keyPairFromSeed(Buffer.alloc(32, 9));
    const meter = (clock: { now(): number }) =>
        meterAndSign({ requestId: '0'.repeat(31) + '1', modelId: 1n, usage: { prompt: 3n, cached: 0n, completion: 5n, reasoning: 0n }, prices: TEST_MODEL_PRICES, coefficient: 1000n, workerKeys: keys, clock });

    it('issuedAt is the clock of trust in seconds, not the host clock an hour ahead', async () => {
        const m = meter(await trustAt(CHAIN));
        expect(m.signed.issuedAt).toBe(CHAIN_S);
        expect(decodeReceipt(m.receipt).receipt.issuedAt).toBe(CHAIN_S);
    });

    it('without chain time no receipt is signed (CHAIN_TIME_UNAVAILABLE)', async () => {
        let err: unknown;
        try {
            meter(await trustAt(new Error('chain down')));
        } catch (e) {
            err = e;
        }
        expect(err).toBeInstanceOf(AttestationError);
        expect(err).toMatchObject({ code: 'CHAIN_TIME_UNAVAILABLE' });
    });
});

describe('chain time for a wait that only delays, and the timers of a stopped agent', () => {
    it('chainNowRetried looks at the chain once more when the clock has no chain time, and answers null if it still has none', async () => {
        let answer: number | Error = new Error('chain down');
        let fetches = 0;
        const c = new TrustClock({
            chainTime: async () => {
                fetches++;
                if (answer instanceof Error) throw answer;
                return answer;
            },
            monotonic: () => 0,
            refreshMs: 0,
        });
        expect(await chainNowRetried(c)).toBeNull();
        expect(fetches).toBe(1);
        answer = CHAIN_S;
        expect(await chainNowRetried(c)).toBe(CHAIN);
        expect(fetches).toBe(2);
        expect(await chainNowRetried(hostClock(0))).toBe(CHAIN); // another clock answers as it is
    });

    it('stopTrustTimers ends the clock of trust and the live collateral refresh; resumeTrustClock starts the clock again', async () => {
        const c = new TrustClock({ chainTime: async () => CHAIN_S, refreshMs: 60_000 });
        await c.start();
        expect(c.running).toBe(true);
        const closed: string[] = [];
        stopTrustTimers(c, { collateralSource: { generation: 0, collateralFor: () => { throw new Error('unused'); }, close: () => void closed.push('collateral') } });
        expect(c.running).toBe(false);
        expect(closed).toEqual(['collateral']);
        await resumeTrustClock(c);
        expect(c.running).toBe(true);
        stopTrustTimers(c);
        expect(c.running).toBe(false);
    });
});

describe("an agent's wallet dates its messages by chain time", () => {
    const MIN = 60_000;
    let devnet: DevnetServer;
    let dir: string;
    beforeAll(async () => {
        devnet = new DevnetServer({ port: 0, clock: () => Date.now() + 10 * MIN }); // the host clock ten minutes behind the chain
        await devnet.start();
        dir = mkdtempSync(join(tmpdir(), 'cocoon-money-clock-'));
    });
    afterAll(async () => {
        await devnet?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    it("attack: a host clock set ten minutes back does not make the wallet's messages expire on arrival (valid_until by chain time)", async () => {
        const kp = keyPairFromSeed(Buffer.alloc(32, 11));
        writeFileSync(join(dir, 'wallet.key'), kp.secretKey.toString('hex'));
        const chain = { endpoint: devnet.url, rootAddress: ADDR.toString(), rps: 10_000, maxRetries: 0, sendTimeoutMs: 3000, sendPollMs: 20 };
        const c = await commonOf({ path: join(dir, 'agent.json'), dir, config: { chain, wallet: { secretKeyFile: 'wallet.key' }, trust: {} } });
        try {
            await devnet.faucet(c.wallet.address, toNano('5'));
            await c.wallet.send([{ to: ADDR, value: toNano('1'), bounce: false }]);
            expect(await c.wallet.getSeqno()).toBe(1);
            // valid_until (after the signature and the wallet id) is chain time + the send timeout, whatever the host
            // clock says: set forward, it could not keep a message alive past the proxy's restart commit guard either
            const body = c.wallet.buildTransfer(1, [{ to: ADDR, value: 1n }]).beginParse();
            body.skip(512 + 32);
            const validUntilMs = body.loadUint(32) * 1000;
            expect(validUntilMs).toBeGreaterThan(Date.now() + 10 * MIN - 60_000); // by the host clock: about now + 3 s
            expect(validUntilMs).toBeLessThan(Date.now() + 10 * MIN + 60_000);
            // The same wallet dating by the host clock: valid_until is minutes in the chain's past, the contract refuses it.
            const host = c.chain.wallet(kp, { sendTimeoutMs: 3000, sendPollMs: 20 });
            // (the devnet answers sendBoc with an error: the external message was not accepted)
            await expect(host.send([{ to: ADDR, value: toNano('1'), bounce: false }])).rejects.toMatchObject({ code: 'CHAIN_UNAVAILABLE' });
            expect(await c.wallet.getSeqno()).toBe(1);
        } finally {
            c.trustClock.stop();
        }
    });
});

describe('a stopped key service leaves no timer (cocoon keys serve from its config)', () => {
    it('stop() ends its clock of trust and its live collateral refresh', async () => {
        const net = await keysNetwork();
        const pccs = new LocalPccs({ mounts: { simulated: simulatedCollaterals(net.tds.keys) } });
        await pccs.start();
        const dir = mkdtempSync(join(tmpdir(), 'cocoon-keys-timers-'));
        const closes = jest.spyOn(CollateralService.prototype, 'close');
        const stops = jest.spyOn(TrustClock.prototype, 'stop');
        try {
            writeFileSync(join(dir, 'td.json'), JSON.stringify(net.tds.keys.toState()));
            const file = join(dir, 'keys.json');
            const chain = { endpoint: net.devnet.url, rootAddress: net.root.toString(), rps: 1000 };
            writeFileSync(file, JSON.stringify({ chain, trust: { simulatedTeeFile: 'td.json', pccsUrl: pccs.baseUrl('simulated') }, tee: { provider: 'simulated', stateFile: 'td.json' }, keys: { port: 0 } }));
            const k = await keyServiceFromConfig(loadConfigFile(file, KeysConfigSchema), { stateFile: join(dir, 'master.json') });
            expect(closes).not.toHaveBeenCalled();
            expect(stops).not.toHaveBeenCalled();
            await k.stop();
            expect(closes).toHaveBeenCalledTimes(1);
            expect(stops).toHaveBeenCalledTimes(1);
        } finally {
            closes.mockRestore();
            stops.mockRestore();
            await pccs.stop();
            await net.stop();
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
