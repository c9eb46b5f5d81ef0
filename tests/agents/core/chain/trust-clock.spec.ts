// The clock of trust (spec/attestation.md "Clock of trust"): chain time advanced by the monotonic clock, the host's
// wall clock only compared. Every clock is injected — the chain's answer, the monotonic clock and the host's clock —
// so a hostile host is simulated by moving its clock, and nothing waits. The verifiers are the real ones (a simulated
// TEE's quote, real certificates, a real PCCS over HTTP); each attack is shown to work against a host-clock verifier
// and to fail against the same verifier on the clock of trust.
import { AttestationError, VerifyPolicy } from '../../../../agents/core/tee/types';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { imageHash } from '../../../../agents/core/tee/image';
import { PccsClient } from '../../../../agents/core/tee/pccs/client';
import { CollateralService } from '../../../../agents/core/tee/pccs/service';
import { LocalPccs, simulatedCollaterals } from '../../../../agents/core/tee/pccs/server';
import { PeerPolicy, PeerVerifier, RaTlsIdentity } from '../../../../agents/core/transport';
import { TrustClock, withTrustClock } from '../../../../agents/core/chain/trust-clock';
import { LogFields } from '../../../../agents/core/log';
import { ClientConfigSchema, parseConfig } from '../../../../agents/config';
import { trustClockOf } from '../../../../agents/common';
import { ConfigError, TonChain } from '../../../../agents/core/chain';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** A world whose three clocks the test sets: the chain's answer (ms, or an Error), the monotonic clock and the host's. */
function world(start: number) {
    const w = {
        chain: start as number | Error,
        /** When set, the endpoint's answer as it is (garbage). */
        answer: undefined as unknown,
        mono: 1_000_000,
        host: start,
        fetches: 0,
        events: [] as { event: string; fields: LogFields }[],
        clock: undefined as unknown as TrustClock,
        /** Time passes for everyone: the chain's blocks, the monotonic clock and the host's clock. */
        pass(ms: number) {
            w.mono += ms;
            w.host += ms;
            if (typeof w.chain === 'number') w.chain += ms;
        },
    };
    w.clock = new TrustClock({
        chainTime: async () => {
            w.fetches++;
            if (w.answer !== undefined) return w.answer as number;
            if (w.chain instanceof Error) throw w.chain;
            return Math.floor(w.chain / 1000);
        },
        monotonic: () => w.mono,
        host: () => w.host,
        refreshMs: 0,
        maxSkewMs: 5 * MIN,
        maxStaleMs: 10 * MIN,
        log: (event, fields) => w.events.push({ event, fields }),
    });
    return w;
}

const codeOf = (f: () => unknown): string | undefined => {
    try {
        f();
    } catch (e) {
        return (e as AttestationError).code;
    }
    return undefined;
};

const T0 = Math.floor(Date.now() / 1000) * 1000;

describe('the trust clock', () => {
    it("reads the chain's block time and advances it by the monotonic clock between fetches, whatever the host's clock says", async () => {
        const w = world(T0);
        await w.clock.refresh();
        expect(w.clock.now()).toBe(T0);
        w.mono += 7_000;
        w.host -= 3 * DAY; // the host sets its clock back
        expect(w.clock.now()).toBe(T0 + 7_000);
        w.host += 30 * DAY; // and far forward
        expect(w.clock.now()).toBe(T0 + 7_000);
        expect(w.clock.date().getTime()).toBe(T0 + 7_000);
    });

    it('never goes backwards: an older block (a lagging replica) is ignored, a newer one is taken', async () => {
        const w = world(T0);
        await w.clock.refresh();
        w.mono += 10 * MIN;
        w.chain = T0 - HOUR; // the endpoint now answers a block an hour old
        await w.clock.refresh();
        expect(w.clock.now()).toBe(T0 + 10 * MIN);
        w.chain = T0 + 20 * MIN; // a block newer than the monotonic estimate
        await w.clock.refresh();
        expect(w.clock.now()).toBe(T0 + 20 * MIN);
        expect(w.clock.status()).toMatchObject({ available: true, lastError: null });
    });

    it('without an answer from the chain yet, and after maxStaleMs without one, fails closed with CHAIN_TIME_UNAVAILABLE', async () => {
        const w = world(T0);
        expect(codeOf(() => w.clock.now())).toBe('CHAIN_TIME_UNAVAILABLE');
        await w.clock.refresh();
        w.chain = new Error('connect ECONNREFUSED');
        w.pass(9 * MIN);
        await w.clock.refresh();
        expect(w.clock.now()).toBe(T0 + 9 * MIN); // within the bound: the monotonic estimate
        w.pass(2 * MIN);
        await w.clock.refresh();
        let err: AttestationError | undefined;
        try {
            w.clock.now();
        } catch (e) {
            err = e as AttestationError;
        }
        expect(err).toBeInstanceOf(AttestationError);
        expect(err!.code).toBe('CHAIN_TIME_UNAVAILABLE');
        expect(err!.details).toMatchObject({ maxStaleMs: 10 * MIN, lastError: expect.stringContaining('ECONNREFUSED') });
        expect(w.clock.status()).toMatchObject({ available: false, now: null, lastError: expect.stringContaining('ECONNREFUSED') });
        expect(codeOf(() => w.clock.now())).toBe('CHAIN_TIME_UNAVAILABLE');
        // logged once per outage: before the first answer, and this one (however often it is asked)
        expect(w.events.filter((e) => e.event === 'chain-time.stale')).toHaveLength(2);
        // the chain answers again
        w.chain = T0 + 11 * MIN;
        await w.clock.refresh();
        expect(w.clock.now()).toBe(T0 + 11 * MIN);
    });

    it('attack: an endpoint answering garbage (NaN, 0, negative, fractional, a string, past uint32) moves nothing', async () => {
        const w = world(T0);
        await w.clock.refresh();
        for (const bad of [NaN, 0, -5, 1.5, '1900000000', 2 ** 32, Infinity, null]) {
            w.answer = bad;
            await w.clock.refresh();
            expect(w.clock.now()).toBe(T0);
            expect(w.clock.status().lastError).toMatch(/not a unix time/);
        }
        expect(w.events.filter((e) => e.event === 'chain-time.refresh-failed')).toHaveLength(8);
    });

    it('warns loudly when the host clock is more than maxSkewMs from chain time, and reports it', async () => {
        const w = world(T0);
        w.host = T0 - 7 * MIN;
        await w.clock.refresh();
        expect(w.clock.status()).toMatchObject({ skewed: true, skewMs: 7 * MIN });
        expect(w.events.at(-1)).toEqual({ event: 'chain-time.skew-mismatch', fields: expect.objectContaining({ skewMs: 7 * MIN, maxSkewMs: 5 * MIN }) });
        w.host = T0 + 2 * MIN;
        await w.clock.refresh();
        expect(w.clock.status()).toMatchObject({ skewed: false, skewMs: -2 * MIN });
        expect(w.events.at(-1)?.event).toBe('chain-time.skew-cleared');
        expect(w.clock.now()).toBe(T0); // the skew changed nothing
    });

    it('/readyz: chain_time_unavailable while the clock has no chain time, the skew as a detail; other clocks change nothing', async () => {
        const ok = { ready: true, reasons: [] as string[] };
        const w = world(T0);
        expect(withTrustClock(ok, w.clock)).toEqual({ ready: false, reasons: ['chain_time_unavailable'] });
        w.host = T0 + 6 * MIN;
        await w.clock.refresh();
        expect(withTrustClock(ok, w.clock)).toEqual({ ready: true, reasons: [], clockSkewMs: -6 * MIN });
        w.host = T0;
        await w.clock.refresh();
        expect(withTrustClock(ok, w.clock)).toEqual(ok);
        expect(withTrustClock(ok, { now: () => 0 })).toBe(ok);
    });

    it('concurrent refreshes share one fetch; start() fetches once and a chain out of reach at start is not thrown', async () => {
        const w = world(T0);
        await Promise.all([w.clock.refresh(), w.clock.refresh(), w.clock.refresh()]);
        expect(w.fetches).toBe(1);
        const down = world(T0);
        down.chain = new Error('down');
        await expect(down.clock.start()).resolves.toBeUndefined();
        expect(codeOf(() => down.clock.now())).toBe('CHAIN_TIME_UNAVAILABLE');
        down.clock.stop();
    });
});

describe('the trust clock in an agent config', () => {
    const base = { chain: {}, seedFile: 's', wallet: { secretKeyFile: 'w' }, trust: { simulatedTeeFile: 't' }, client: { stateFile: 'c' } };

    it('attack: bad trustClock values (or a stale bound past an hour) are a ConfigError naming the key, before anything runs', () => {
        for (const [bad, key] of [
            [{ maxStaleSeconds: 0 }, 'trustClock.maxStaleSeconds'],
            [{ maxSkewSeconds: -1 }, 'trustClock.maxSkewSeconds'],
            [{ refreshSeconds: 1.5 }, 'trustClock.refreshSeconds'],
            [{ maxStaleSeconds: 3601 }, 'trustClock.maxStaleSeconds'], // a host stretching the stale bound past an hour
            [{ useHostClock: true }, 'trustClock'],
            ['30', 'trustClock'],
        ] as const) {
            let err: unknown;
            try {
                parseConfig({ ...base, trustClock: bad }, ClientConfigSchema);
            } catch (e) {
                err = e;
            }
            expect(err).toBeInstanceOf(ConfigError);
            expect((err as ConfigError).key).toBe(key);
        }
        expect(parseConfig({ ...base, trustClock: { maxStaleSeconds: 60 } }, ClientConfigSchema).trustClock).toEqual({ maxStaleSeconds: 60 });
    });

    it("trustClockOf reads the agent's chain time and applies the configured bounds (seconds)", async () => {
        let answer = 1_900_000_000;
        const chain = { getChainTime: async () => answer } as unknown as TonChain;
        const clock = trustClockOf(chain, { maxSkewSeconds: 1 });
        await clock.refresh();
        expect(clock.now()).toBeGreaterThanOrEqual(1_900_000_000_000);
        expect(clock.status().skewed).toBe(true); // 2030 against this machine's clock, beyond 1 s
        answer = 1;
        await clock.refresh();
        expect(clock.now()).toBeGreaterThanOrEqual(1_900_000_000_000);
    });
});

describe('evidence judged by the trust clock', () => {
    let tee: SimulatedTee;
    let der: Buffer;
    let policy: PeerPolicy;
    let pccs: LocalPccs;

    beforeAll(async () => {
        tee = await SimulatedTee.create();
        const image = imageHash(tee.measurements).toString('hex');
        // A certificate valid T0 − 1 min .. T0 + 1 h; collateral valid until T0 + 30 min.
        const identity = await RaTlsIdentity.create({ provider: tee, validityMs: HOUR, clock: () => new Date(T0) });
        der = Buffer.from(identity.current.der);
        const collateral = await tee.signCollateral({ issueDate: new Date(T0 - HOUR), nextUpdate: new Date(T0 + 30 * MIN) });
        policy = { quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral }, isImageAllowed: (h) => h === image };
        pccs = new LocalPccs({ mounts: { simulated: simulatedCollaterals(tee, () => new Date(T0), 40 * MIN) } });
        await pccs.start();
    });
    afterAll(() => pccs.stop());

    const hostVerifier = (w: ReturnType<typeof world>, p = policy) => new PeerVerifier(p, { clock: () => new Date(w.host) });
    const trustVerifier = (w: ReturnType<typeof world>, p = policy) => new PeerVerifier(p, { clock: () => w.clock.date() });

    it('attack: the host sets its clock back to revive an expired certificate — the trust clock still says CERT_EXPIRED', async () => {
        const w = world(T0 + 90 * MIN);
        await w.clock.refresh();
        w.host = T0; // the certificate's window by the host's clock
        expect(hostVerifier(w).verify(der).imageHash).toBe(imageHash(tee.measurements).toString('hex')); // the attack works on the host's clock
        expect(codeOf(() => trustVerifier(w).verify(der))).toBe('CERT_EXPIRED');
    });

    it('attack: the host sets its clock back to revive expired collateral — the trust clock still says COLLATERAL_EXPIRED', async () => {
        const w = world(T0 + 45 * MIN);
        await w.clock.refresh();
        w.host = T0 + 10 * MIN;
        expect(codeOf(() => hostVerifier(w).verify(der))).toBeUndefined();
        expect(codeOf(() => trustVerifier(w).verify(der))).toBe('COLLATERAL_EXPIRED');
    });

    it('a forward jump of the host clock does not expire valid evidence', async () => {
        const w = world(T0 + 5 * MIN);
        await w.clock.refresh();
        w.host = T0 + 10 * DAY;
        expect(codeOf(() => hostVerifier(w).verify(der))).toBe('CERT_EXPIRED');
        expect(codeOf(() => trustVerifier(w).verify(der))).toBeUndefined();
    });

    it('a chain answering an old block does not turn time back to before the expiry', async () => {
        const w = world(T0 + 50 * MIN);
        await w.clock.refresh();
        expect(codeOf(() => trustVerifier(w).verify(der))).toBe('COLLATERAL_EXPIRED');
        w.chain = T0; // a lagging replica
        await w.clock.refresh();
        expect(codeOf(() => trustVerifier(w).verify(der))).toBe('COLLATERAL_EXPIRED');
    });

    it('an unreachable chain past the bound refuses every peer with CHAIN_TIME_UNAVAILABLE (told to the metrics), not by the host clock', async () => {
        const w = world(T0 + 5 * MIN);
        await w.clock.refresh();
        const seen: (string | null)[] = [];
        const v = new PeerVerifier(policy, { clock: () => w.clock.date(), observe: (c) => seen.push(c) });
        v.verify(der);
        w.chain = new Error('unreachable');
        w.mono += 11 * MIN; // the host's clock stays inside the certificate's window
        expect(codeOf(() => v.verify(der))).toBe('CHAIN_TIME_UNAVAILABLE');
        expect(seen).toEqual([null, 'CHAIN_TIME_UNAVAILABLE']);
    });

    it('live collateral from a PCCS is kept and judged by the trust clock: the host cannot revive it past nextUpdate', async () => {
        const w = world(T0 + MIN);
        await w.clock.refresh();
        const service = new CollateralService({ client: new PccsClient({ baseUrl: pccs.baseUrl('simulated') }), trustedRootKeyIds: [tee.rootKeyId], graceMs: 0, clock: () => w.clock.date(), tickMs: 0 });
        await service.start([{ fmspc: tee.toState().platform.fmspc.toUpperCase(), ca: 'platform' }]);
        const live: PeerPolicy = { ...policy, quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateralSource: service } as Omit<VerifyPolicy, 'at'> };
        expect(codeOf(() => trustVerifier(w, live).verify(der))).toBeUndefined();
        // Past the collateral's nextUpdate (T0 + 39 min) by chain time; the host's clock is set back to inside its window.
        w.chain = T0 + 45 * MIN;
        await w.clock.refresh();
        w.host = T0 + 5 * MIN;
        expect(codeOf(() => hostVerifier(w, live).verify(der))).toBeUndefined();
        expect(codeOf(() => trustVerifier(w, live).verify(der))).toBe('COLLATERAL_EXPIRED');
        // The service's own clock is the trust clock: a refresh while the chain is out of reach fails typed, held collateral untouched.
        w.chain = new Error('down');
        w.mono += 11 * MIN;
        await expect(service.tick()).rejects.toMatchObject({ code: 'CHAIN_TIME_UNAVAILABLE' });
        service.close();
    });
});
