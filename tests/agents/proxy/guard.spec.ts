// The proxy's connection guard (agents/proxy/guard.ts) in isolation: the hello-check scheduler's bounds, fairness,
// timeout and negative cache (attack 15 of issue 8), the unread-bytes check (attack 14) and the limits' validation.
// The end-to-end attacks over real sockets are in dos.spec.ts.
import { DEFAULT_LIMITS, fitsBuffer, GuardCounters, HelloGate, newGuardCounters, ProxyLimits, Refusal, resolveLimits } from '../../../agents/proxy/guard';

/** A check whose verdict the test decides. */
function deferred(): { promise: Promise<Refusal>; resolve: (r: Refusal) => void } {
    let resolve!: (r: Refusal) => void;
    const promise = new Promise<Refusal>((r) => (resolve = r));
    return { promise, resolve };
}

const tick = () => new Promise((r) => setImmediate(r));
const INVALID = { code: 'CHANNEL_INVALID' as const, message: 'no ClientChannel at that address' };

describe('HelloGate', () => {
    let now = 0;
    let counters: GuardCounters;
    const gate = (l: Partial<ProxyLimits> = {}) => new HelloGate({ ...DEFAULT_LIMITS, ...l }, { now: () => now }, counters);
    beforeEach(() => {
        now = 1_000;
        counters = newGuardCounters();
    });

    it('attack 15: runs at most helloChecks at once and helloChecksPerAddress per address; a newcomer address goes first', async () => {
        const g = gate({ helloChecks: 3, helloChecksPerAddress: 2, helloQueue: 100 });
        const started: string[] = [];
        const checks = new Map<string, ReturnType<typeof deferred>>();
        const hello = (addr: string, n: number) => {
            const name = `${addr}#${n}`;
            const d = deferred();
            checks.set(name, d);
            return g.admit(addr, name, false, () => {
                started.push(name);
                return d.promise;
            });
        };
        const flood = Array.from({ length: 20 }, (_, i) => hello('10.0.0.1', i)).concat(Array.from({ length: 20 }, (_, i) => hello('10.0.0.2', i)));
        expect(started).toEqual(['10.0.0.1#0', '10.0.0.1#1', '10.0.0.2#0']); // 2 for the first address, then the global bound
        expect(g.waiting).toBe(37);
        const honest = hello('10.0.0.3', 0);
        checks.get('10.0.0.1#0')!.resolve(INVALID);
        await tick();
        // the freed slot goes to the address with no check running, ahead of 37 older hellos
        expect(started[3]).toBe('10.0.0.3#0');
        checks.get('10.0.0.3#0')!.resolve(null);
        expect(await honest).toBeNull();
        expect(counters.helloChecks).toBe(4);
        for (const d of checks.values()) d.resolve(INVALID);
        for (let i = 0; i < 40 && g.waiting > 0; i++) {
            for (const d of checks.values()) d.resolve(INVALID);
            await tick();
        }
        expect(await Promise.all(flood)).toEqual(flood.map(() => INVALID));
        expect(g.active).toBe(0);
    });

    it('attack 15: a full queue sheds the newest hello of the busiest address, not a newcomer', async () => {
        const g = gate({ helloChecks: 1, helloChecksPerAddress: 1, helloQueue: 4 });
        const never = () => new Promise<Refusal>(() => undefined);
        void g.admit('a', 'a0', false, never); // running
        const queued = [1, 2, 3, 4].map((i) => g.admit('a', `a${i}`, false, never));
        expect(g.waiting).toBe(4);
        // the same address again: refused at once
        expect(await g.admit('a', 'a5', false, never)).toMatchObject({ code: 'RATE_LIMITED' });
        // a newcomer takes the place of a's newest waiting hello
        void g.admit('b', 'b0', false, never);
        expect(await queued[3]).toMatchObject({ code: 'RATE_LIMITED' });
        expect(g.waiting).toBe(4);
        expect(counters.helloRateLimited).toBe(2);
    });

    it('attack 15: a check that hangs answers PROXY_UNAVAILABLE after helloCheckTimeoutMs and keeps its slot until the lookup settles', async () => {
        const g = gate({ helloChecks: 1, helloCheckTimeoutMs: 20 });
        const d = deferred();
        const r = await g.admit('a', 'k', false, () => d.promise);
        expect(r).toMatchObject({ code: 'PROXY_UNAVAILABLE' });
        expect(counters.helloTimeouts).toBe(1);
        // the chain lookup is still running: the next hello waits for the slot (lookups stay bounded)
        let second: Refusal | undefined;
        void g.admit('b', 'k2', false, async () => null).then((x) => (second = x));
        await tick();
        expect(second).toBeUndefined();
        expect(g.waiting).toBe(1);
        d.resolve(null);
        await tick();
        await tick();
        expect(second).toBeNull();
    });

    it('attack 15: remembers CHANNEL_INVALID per (channel, key) for negativeCacheMs, nothing else', async () => {
        const g = gate({ negativeCacheMs: 60_000 });
        let lookups = 0;
        const check = (r: Refusal) => async () => {
            lookups++;
            return r;
        };
        for (let i = 0; i < 5; i++) expect(await g.admit('a', 'client ch key1', false, check(INVALID))).toEqual(INVALID);
        expect(lookups).toBe(1);
        expect(counters.helloCacheHits).toBe(4);
        // another key for the same channel is looked up (an attacker's verdict never blocks the owner)
        expect(await g.admit('a', 'client ch key2', false, check(null))).toBeNull();
        // other refusals are not remembered, nor verdicts without a key (worker hellos)
        await g.admit('a', 'x', false, check({ code: 'MODEL_NOT_REGISTERED', message: 'm' }));
        await g.admit('a', 'x', false, check(null));
        await g.admit('a', undefined, false, check(INVALID));
        await g.admit('a', undefined, false, check(INVALID));
        expect(lookups).toBe(6);
        now += 60_001;
        await g.admit('a', 'client ch key1', false, check(null));
        expect(lookups).toBe(7);
    });
});

describe('limits', () => {
    it('attack 14: a frame fits only while the unread backlog plus the frame stays within the bound', () => {
        expect(fitsBuffer({ bufferedAmount: 0 }, 1000, 2000)).toBe(true);
        expect(fitsBuffer({ bufferedAmount: 1000 }, 1000, 2000)).toBe(false); // + the frame header
        expect(fitsBuffer({ bufferedAmount: 990 }, 1000, 2000)).toBe(true);
    });

    it('merges partial limits over the defaults and names a bad one', () => {
        expect(resolveLimits(undefined)).toEqual(DEFAULT_LIMITS);
        expect(resolveLimits({ idleTimeoutMs: 5 })).toEqual({ ...DEFAULT_LIMITS, idleTimeoutMs: 5 });
        expect(resolveLimits({ negativeCacheMs: 0 })).toMatchObject({ negativeCacheMs: 0 });
        expect(resolveLimits({ idleTimeoutMs: 0 })).toEqual({ bad: 'idleTimeoutMs' });
        expect(resolveLimits({ nope: 1 } as never)).toEqual({ bad: 'nope' });
        expect(resolveLimits({ helloChecks: 1.5 })).toEqual({ bad: 'helloChecks' });
    });
});
