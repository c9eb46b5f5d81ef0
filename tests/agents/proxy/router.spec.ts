// The proxy's routing state: admissibility and best-score choice as fast-check properties over random worker
// sets and random request/response sequences, plus a few fixed cases that pin the scoring formula.
import fc from 'fast-check';
import { Outcome, RoutedWorker, Router, WorkerEntry } from '../../../agents/proxy/router';

const MODELS = ['m/a', 'm/b', 'm/c'];

function entry(id: string, models: [string, bigint][], capacity: number, keyId?: string): WorkerEntry {
    return {
        id,
        channel: `0:${id.padStart(64, '0')}`,
        workerKey: Buffer.alloc(32, 1),
        hpkePublicKey: keyId ? Buffer.alloc(32, 2) : undefined,
        keyId,
        certDer: Buffer.from([0x30, 0]),
        imageHash: 'aa'.repeat(32),
        models: new Map(models),
        capacity,
    };
}

const arbWorker = (i: number) =>
    fc.record({
        models: fc.uniqueArray(fc.tuple(fc.constantFrom(...MODELS), fc.bigInt({ min: 0n, max: 3000n })), { selector: (t) => t[0], maxLength: 3 }),
        capacity: fc.integer({ min: 1, max: 4 }),
        keyId: fc.option(fc.constantFrom('k1', 'k2', 'k3', `k-${i}`), { nil: undefined }),
    });

const arbOutcome: fc.Arbitrary<Outcome> = fc.oneof(
    fc.record({ kind: fc.constant('success' as const), ttfbMs: fc.integer({ min: 0, max: 500 }), totalMs: fc.integer({ min: 0, max: 5000 }) }),
    fc.constant({ kind: 'failure' as const }),
    fc.record({ kind: fc.constant('neutral' as const) }),
);

/** One step: route a request (model, cap) or finish a running one (by index) with an outcome. */
const arbStep = fc.oneof(
    fc.record({ op: fc.constant('route' as const), model: fc.constantFrom(...MODELS, 'm/unregistered'), cap: fc.bigInt({ min: 0n, max: 3000n }) }),
    fc.record({ op: fc.constant('end' as const), index: fc.nat(), outcome: arbOutcome }),
);

function build(workers: { models: [string, bigint][]; capacity: number; keyId?: string }[]): Router {
    const r = new Router();
    workers.forEach((w, i) => r.add(entry(`w${i}`, w.models, w.capacity, w.keyId)));
    return r;
}

describe('Router properties', () => {
    it('never routes over capacity, above the cap, to a worker without the model, or past a better worker', () => {
        fc.assert(
            fc.property(
                fc.integer({ min: 0, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbWorker(i)))),
                fc.array(arbStep, { maxLength: 60 }),
                (workers, steps) => {
                    const r = build(workers);
                    const running: string[] = [];
                    for (const s of steps) {
                        if (s.op === 'end') {
                            if (running.length === 0) continue;
                            const [id] = running.splice(s.index % running.length, 1);
                            r.end(id, s.outcome);
                            continue;
                        }
                        const w = r.pick(s.model, s.cap);
                        const admissible = r.list().filter((x) => x.models.has(s.model) && x.models.get(s.model)! <= s.cap && x.inFlight < x.capacity);
                        if (!w) {
                            expect(admissible).toEqual([]);
                            const why = r.whyNone(s.model, s.cap);
                            const serving = r.list().some((x) => x.models.has(s.model) && x.models.get(s.model)! <= s.cap);
                            expect(why).toBe(serving ? 'WORKER_BUSY' : 'NO_WORKER');
                            continue;
                        }
                        expect(w.models.has(s.model)).toBe(true);
                        expect(w.models.get(s.model)! <= s.cap).toBe(true);
                        expect(w.inFlight).toBeLessThan(w.capacity);
                        // best score among the admissible ones
                        for (const x of admissible) expect(r.score(w)).toBeLessThanOrEqual(r.score(x));
                        r.begin(w.id);
                        running.push(w.id);
                        for (const x of r.list()) expect(x.inFlight).toBeLessThanOrEqual(x.capacity);
                    }
                    // load accounting: inFlight equals the number of running requests per worker
                    for (const x of r.list()) expect(x.inFlight).toBe(running.filter((id) => id === x.id).length);
                },
            ),
            { numRuns: 300 },
        );
    });

    it('candidates are admissible, carry a key, are unique by key id, ordered like pick, at most the limit', () => {
        fc.assert(
            fc.property(
                fc.integer({ min: 0, max: 20 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbWorker(i)))),
                fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 30 }),
                fc.constantFrom(...MODELS),
                fc.bigInt({ min: 0n, max: 3000n }),
                fc.integer({ min: 1, max: 16 }),
                (workers, loads, model, cap, limit) => {
                    const r = build(workers);
                    // random load and history
                    for (const [a, b] of loads) {
                        const all = r.list();
                        if (all.length === 0) break;
                        const w = all[a % all.length];
                        if (w.inFlight < w.capacity) r.begin(w.id);
                        if (b % 3 === 0) r.end(w.id, { kind: 'failure' });
                        else if (b % 3 === 1) r.end(w.id, { kind: 'success', totalMs: b % 1000 });
                    }
                    const c = r.candidates(model, cap, limit);
                    expect(c.length).toBeLessThanOrEqual(limit);
                    expect(new Set(c.map((w) => w.keyId)).size).toBe(c.length);
                    for (const w of c) {
                        expect(w.keyId).toBeDefined();
                        expect(w.models.get(model)! <= cap).toBe(true);
                        expect(w.inFlight).toBeLessThan(w.capacity);
                    }
                    for (let i = 1; i < c.length; i++) expect(r.score(c[i - 1])).toBeLessThanOrEqual(r.score(c[i]));
                    const keyed = r.list().filter((w) => w.keyId !== undefined && r.admissible(w, model, cap));
                    if (keyed.length > 0) {
                        expect(c.length).toBe(Math.min(limit, new Set(keyed.map((w) => w.keyId)).size));
                        // the first candidate scores as well as the best keyed admissible worker
                        expect(r.score(c[0])).toBe(Math.min(...keyed.map((w) => r.score(w))));
                    } else expect(c).toEqual([]);
                },
            ),
            { numRuns: 300 },
        );
    });

    it('priorLatency stays the median of the connected workers measured latencies through adds, re-adds, removes and outcomes', () => {
        const median = (r: Router) => {
            const xs = r.list().flatMap((w) => (w.latencyMs === undefined ? [] : [w.latencyMs])).sort((a, b) => a - b);
            if (xs.length === 0) return 1000;
            const mid = xs.length >> 1;
            return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
        };
        const arbOp = fc.oneof(
            fc.record({ op: fc.constant('add' as const), id: fc.nat(7), channel: fc.nat(4) }),
            fc.record({ op: fc.constant('remove' as const), id: fc.nat(7) }),
            fc.record({ op: fc.constant('end' as const), id: fc.nat(7), outcome: arbOutcome }),
        );
        fc.assert(
            fc.property(fc.array(arbOp, { maxLength: 80 }), (ops) => {
                const r = new Router();
                for (const o of ops) {
                    const id = `w${o.id}`;
                    if (o.op === 'add') r.add({ ...entry(id, [['m/a', 1000n]], 4), channel: `0:${String(o.channel).padStart(64, '0')}` });
                    else if (o.op === 'remove') r.remove(id);
                    else if (r.get(id)) {
                        if (r.get(id)!.inFlight < 4) r.begin(id);
                        r.end(id, o.outcome);
                    }
                    expect(r.priorLatency()).toBe(median(r));
                    const best = r.pick('m/a', 1000n);
                    const admissible = r.list().filter((w) => w.inFlight < w.capacity);
                    if (best) for (const w of admissible) expect(r.score(best)).toBeLessThanOrEqual(r.score(w));
                    else expect(admissible).toEqual([]);
                }
            }),
            { numRuns: 300 },
        );
    });

    it('respects exclusions (failover never returns a worker already tried)', () => {
        fc.assert(
            fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 6 }), (n, k) => {
                const r = build(Array.from({ length: n }, () => ({ models: [['m/a', 1000n]] as [string, bigint][], capacity: 2 })));
                const tried = new Set<string>();
                for (let i = 0; i < k; i++) {
                    const w = r.pick('m/a', 1000n, tried);
                    if (i < n) {
                        expect(w).toBeDefined();
                        expect(tried.has(w!.id)).toBe(false);
                        tried.add(w!.id);
                    } else expect(w).toBeUndefined();
                }
            }),
        );
    });
});

describe('Router scoring', () => {
    it('prefers the idle worker, then the faster one, then the more reliable one; tries a new worker under load', () => {
        const r = new Router({ defaultLatencyMs: 100 });
        r.add(entry('a', [['m', 1000n]], 4));
        r.add(entry('b', [['m', 1000n]], 4));
        // equal state: deterministic tie-break by id
        expect(r.pick('m', 1000n)!.id).toBe('a');
        r.begin('a');
        expect(r.pick('m', 1000n)!.id).toBe('b'); // a has one in flight: 2 × 100 > 1 × 100
        r.end('a', { kind: 'success', totalMs: 10, ttfbMs: 5 });
        expect(r.get('a')).toMatchObject({ inFlight: 0, successes: 1, latencyMs: 10, ttfbMs: 5 });
        // b is unmeasured: prior = the median measured latency, 10 ms → 10 / (1/2) = 20 > a's 10 / (2/3) = 15
        expect(r.score(r.get('b')!)).toBeCloseTo(20);
        expect(r.pick('m', 1000n)!.id).toBe('a');
        r.begin('a');
        expect(r.pick('m', 1000n)!.id).toBe('b'); // a busy: 2 × 10 / (2/3) = 30 > 20
        r.begin('b');
        r.end('b', { kind: 'success', totalMs: 40 });
        r.end('a', { kind: 'success', totalMs: 10 });
        expect(r.pick('m', 1000n)!.id).toBe('a'); // a: 10 / (3/4) = 13.3, b: 40 / (2/3) = 60
        // failures make a worse: a: 10 / ((2+1)/(2+f+2)); at 14 failures 10 / (3/18) = 60 = b → tie by id; 15 → b
        for (let i = 0; i < 14; i++) {
            r.begin('a');
            r.end('a', { kind: 'failure' });
        }
        expect(r.score(r.get('a')!)).toBeCloseTo(60);
        expect(r.pick('m', 1000n)!.id).toBe('a');
        r.begin('a');
        r.end('a', { kind: 'failure' });
        expect(r.pick('m', 1000n)!.id).toBe('b');
    });

    it('attack 16: an unmeasured worker is not preferred over measured ones, and a silent one cannot reset its record by reconnecting', () => {
        const r = new Router();
        const honest = ['h1', 'h2', 'h3'];
        for (const id of honest) r.add(entry(id, [['m', 1000n]], 2));
        for (const [id, ms] of [['h1', 80], ['h2', 100], ['h3', 400]] as const) {
            r.begin(id);
            r.end(id, { kind: 'success', totalMs: ms });
        }
        // a new connection (cheaper, idle) arrives: it does not jump the queue of idle measured workers
        r.add({ ...entry('evil', [['m', 500n]], 8), channel: '0:' + 'e'.repeat(64) });
        expect(r.priorLatency()).toBe(100); // the median, not half the best (40)
        const firstPicks: string[] = [];
        for (let i = 0; i < 3; i++) {
            const w = r.pick('m', 1000n)!;
            firstPicks.push(w.id);
            r.begin(w.id);
        }
        expect(firstPicks).toEqual(['h1', 'h2', 'evil']); // evil only once the fast measured workers are busy
        // evil goes silent: the proxy's deadline ends its request as a failure
        r.end('evil', { kind: 'failure' });
        for (const id of ['h1', 'h2']) r.end(id, { kind: 'success', totalMs: 90 });
        // reconnecting (a new connection id on the same WorkerChannel) keeps the record
        r.remove('evil');
        r.add({ ...entry('evil-again', [['m', 500n]], 8), channel: '0:' + 'e'.repeat(64) });
        expect(r.get('evil-again')).toMatchObject({ successes: 0, failures: 1 });
        expect(r.reputation('0:' + 'e'.repeat(64))).toMatchObject({ failures: 1 });
        // with every honest worker holding one request, the silent worker still ranks behind the two fast ones
        for (const id of honest) r.begin(id);
        const evil = r.score(r.get('evil-again')!);
        for (const id of ['h1', 'h2']) expect(evil).toBeGreaterThan(r.score(r.get(id)!));
        expect(r.pick('m', 1000n)!.id).toBe('h1');
    });

    it('breaks score ties by the lower coefficient', () => {
        const r = new Router();
        r.add(entry('a', [['m', 1500n]], 1));
        r.add(entry('b', [['m', 900n]], 1));
        expect(r.pick('m', 2000n)!.id).toBe('b');
        expect(r.pick('m', 1000n)!.id).toBe('b');
        expect(r.pick('m', 800n)).toBeUndefined();
        expect(r.whyNone('m', 800n)).toBe('NO_WORKER');
    });

    it('finds workers by key id and forgets removed ones', () => {
        const r = new Router();
        r.add(entry('a', [['m', 1000n]], 1, 'k'));
        r.add(entry('b', [['m', 1000n]], 1, 'k'));
        r.add(entry('c', [['m', 1000n]], 1));
        expect(r.byKeyId('k').map((w: RoutedWorker) => w.id).sort()).toEqual(['a', 'b']);
        expect(r.candidates('m', 1000n).map((w) => w.id)).toEqual(['a']);
        r.remove('a');
        expect(r.byKeyId('k').map((w) => w.id)).toEqual(['b']);
        r.end('a', { kind: 'failure' }); // ignored
        r.setModels('b', new Map());
        expect(r.pick('m', 1000n)!.id).toBe('c');
        expect(() => {
            r.begin('c');
            r.begin('c');
        }).toThrow(RangeError);
    });
});
