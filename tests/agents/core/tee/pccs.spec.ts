// Live DCAP collateral (spec/attestation.md "Live collateral"): the PCCS client against the local PCCS serving the
// real Intel vectors and the simulated platform, verification through the collateral service, refresh before
// nextUpdate, stale within the grace, COLLATERAL_EXPIRED after it, and a PCCS that comes back. Clocks are injected;
// nothing asserts wall-clock timings.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { TDX_VECTORS } from '../../../../fixtures/vectors';
import { PccsClient } from '../../../../agents/core/tee/pccs/client';
import { CollateralService, MAX_PLATFORMS } from '../../../../agents/core/tee/pccs/service';
import { LocalPccs, simulatedCollaterals, vectorCollaterals } from '../../../../agents/core/tee/pccs/server';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { Collateral, INTEL_ROOT_KEY_ID, VerifyPolicy } from '../../../../agents/core/tee/types';
import { verifyQuote, VerificationCache } from '../../../../agents/core/tee/verify';
import { ClientConfigSchema, loadConfigFile, trustOf } from '../../../../agents/config';
import { PeerVerifier, RaTlsIdentity } from '../../../../agents/core/transport';
import { attestVerifyCommand } from '../../../../agents/core/tee/cli';
import { codeOf, T_GOOD, T_OUTDATED, vector, vectorCollateral } from './util';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

let tee: SimulatedTee;
let quote: Buffer;
let now: number;
const clock = () => new Date(now);
let pccs: LocalPccs;
let up = true;
const dirs: string[] = [];

beforeAll(async () => {
    tee = await SimulatedTee.create();
    quote = await tee.getQuote(Buffer.alloc(64, 7));
    now = Date.now();
    const sim = simulatedCollaterals(tee, clock);
    pccs = new LocalPccs({
        mounts: {
            intel: vectorCollaterals(TDX_VECTORS),
            simulated: sim,
            // the same, switchable off (an unreachable PCCS answers 503 like a proxy in front of a dead one)
            flaky: () => {
                if (!up) throw new Error('down');
                return sim();
            },
        },
        clock,
    });
    await pccs.start();
});

afterAll(async () => {
    await pccs.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'pccs-'));
    dirs.push(d);
    return d;
}

function service(mount: string, extra: Partial<ConstructorParameters<typeof CollateralService>[0]> = {}, roots = [tee.rootKeyId]) {
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    const svc = new CollateralService({
        client: new PccsClient({ baseUrl: pccs.baseUrl(mount) }),
        trustedRootKeyIds: roots,
        graceMs: DAY,
        clock,
        tickMs: 0,
        log: (event, fields) => events.push({ event, fields }),
        ...extra,
    });
    return { svc, events };
}

const simPlatform = () => ({ fmspc: tee.toState().platform.fmspc.toUpperCase(), ca: 'platform' as const });
const simPolicy = (svc: CollateralService, at = clock()): VerifyPolicy => ({ trustedRootKeyIds: [tee.rootKeyId], at, requireCollateral: true, collateralSource: svc });

describe('PCCS client against the local PCCS', () => {
    test('the real Intel vector: fetched collateral is the vector collateral and verifies tdx_quote at its valid time', async () => {
        const client = new PccsClient({ baseUrl: pccs.baseUrl('intel') });
        const saved = now;
        now = T_GOOD.getTime();
        try {
            const { collateral } = await client.fetchCollateral({ fmspc: 'B0C06F000000', ca: 'platform' }, [INTEL_ROOT_KEY_ID], T_GOOD);
            const file = vectorCollateral('tdx_quote_collateral.json');
            expect(collateral.tcb_info).toBe(file.tcb_info);
            expect(collateral.qe_identity).toBe(file.qe_identity);
            expect(collateral.pck_crl.toLowerCase()).toBe(file.pck_crl.toLowerCase());
            expect(collateral.root_ca_crl.toLowerCase()).toBe(file.root_ca_crl.toLowerCase());

            const { svc } = service('intel', {}, [INTEL_ROOT_KEY_ID]);
            await svc.refresh({ fmspc: 'B0C06F000000', ca: 'platform' });
            const v = verifyQuote(vector('tdx_quote'), { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], at: T_GOOD, requireCollateral: true, collateralSource: svc });
            expect(v.tcbStatus).toBe('UpToDate');
            expect(v.fmspc).toBe('b0c06f000000');
            expect(v.collateralStale).toBeUndefined();
            // after nextUpdate, with no grace, the same collateral is refused
            const strict = service('intel', { graceMs: 0 }, [INTEL_ROOT_KEY_ID]).svc;
            await strict.refresh({ fmspc: 'B0C06F000000', ca: 'platform' });
            expect(codeOf(() => verifyQuote(vector('tdx_quote'), { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], at: new Date('2025-07-19T10:16:04Z'), requireCollateral: true, collateralSource: strict }))).toBe('COLLATERAL_EXPIRED');
        } finally {
            now = saved;
        }
    });

    test('the second FMSPC (90C06F000000) is served too, with the verdict the vector README gives', async () => {
        const saved = now;
        now = T_OUTDATED.getTime();
        try {
            const { svc } = service('intel', {}, [INTEL_ROOT_KEY_ID]);
            await svc.refresh({ fmspc: '90C06F000000', ca: 'platform' });
            expect(svc.status()[0]).toMatchObject({ fmspc: '90C06F000000', nextUpdate: expect.stringMatching(/^2026-03/), lastError: null });
            expect(codeOf(() => verifyQuote(vector('tdx_quote_outdated'), { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], at: T_OUTDATED, requireCollateral: true, collateralSource: svc }))).toBe('TCB_STATUS');
        } finally {
            now = saved;
        }
    });

    test('collateral signed under a root the policy does not trust is refused and nothing is kept', async () => {
        const dir = tempDir();
        const { svc } = service('simulated', { cacheDir: dir }, [INTEL_ROOT_KEY_ID]);
        await expect(svc.refresh(simPlatform())).rejects.toMatchObject({ code: 'COLLATERAL_INVALID' });
        expect(svc.generation).toBe(0);
        expect(readdirSync(dir)).toEqual([]);
        expect(codeOf(() => svc.collateralFor(simPlatform().fmspc, 'platform', clock()))).toBe('COLLATERAL_UNAVAILABLE');
    });

    test('an unknown platform is fetched in the background: the first verification is COLLATERAL_UNAVAILABLE, a later one passes', async () => {
        const { svc } = service('simulated');
        expect(codeOf(() => verifyQuote(quote, simPolicy(svc)))).toBe('COLLATERAL_UNAVAILABLE');
        await svc.refresh(simPlatform()); // joins the background fetch the lookup started
        expect(verifyQuote(quote, simPolicy(svc)).tcbStatus).toBe('UpToDate');
    });
});

describe('refresh, grace and expiry (injected clock)', () => {
    test('refreshes before nextUpdate; stale within the grace with a warning; COLLATERAL_EXPIRED after; a PCCS that comes back is used', async () => {
        const start = now;
        try {
            up = true;
            const dir = tempDir();
            const { svc, events } = service('flaky', { cacheDir: dir, retryMinMs: 60_000 });
            await svc.refresh(simPlatform());
            expect(readdirSync(dir)).toEqual([`${simPlatform().fmspc.toUpperCase()}-platform.json`]);
            const first = svc.status()[0];
            const nextUpdate = Date.parse(first.nextUpdate!);
            const refreshAt = Date.parse(first.refreshAt!);
            expect(refreshAt).toBeLessThan(nextUpdate);

            // before refreshAt nothing is fetched
            now = refreshAt - 1;
            const g0 = svc.generation;
            await svc.tick();
            expect(svc.generation).toBe(g0);
            // at refreshAt the PCCS (which has issued newer collateral by then) is asked, before nextUpdate
            now = refreshAt;
            await svc.tick();
            expect(svc.generation).toBe(g0 + 1);
            const second = svc.status()[0];
            expect(Date.parse(second.nextUpdate!)).toBeGreaterThan(nextUpdate);
            // so at the old nextUpdate nothing is stale: no cliff while the PCCS is reachable
            now = nextUpdate + 1;
            const v = verifyQuote(quote, simPolicy(svc));
            expect(v.collateralStale).toBeUndefined();

            // the PCCS goes away; past the new nextUpdate the collateral is served stale within the grace, with a warning
            up = false;
            const next2 = Date.parse(second.nextUpdate!);
            now = Date.parse(second.refreshAt!);
            await svc.tick();
            expect(svc.status()[0].failures).toBe(1);
            expect(events.some((e) => e.event === 'collateral.refresh-failed' && e.fields.code === 'COLLATERAL_UNAVAILABLE')).toBe(true);
            now = next2 + HOUR;
            expect(verifyQuote(quote, simPolicy(svc)).collateralStale).toBe(true);
            expect(verifyQuote(quote, simPolicy(svc)).collateralStale).toBe(true);
            expect(events.filter((e) => e.event === 'collateral.stale')).toHaveLength(1);
            await svc.refresh(simPlatform()).catch(() => undefined); // the retry the stale lookup started

            // mid-grace the PCCS comes back: the next due retry fetches, and verdicts are fresh again
            up = true;
            now = next2 + 6 * HOUR;
            await svc.tick();
            expect(svc.status()[0]).toMatchObject({ failures: 0, lastError: null });
            expect(verifyQuote(quote, simPolicy(svc)).collateralStale).toBeUndefined();

            // down for good: stale within the grace, then COLLATERAL_EXPIRED, also for a cached verdict
            up = false;
            const next3 = Date.parse(svc.status()[0].nextUpdate!);
            now = next3 + HOUR;
            const cache = new VerificationCache({ ttlMs: 10 * DAY, now: () => now });
            expect(cache.verify(quote, simPolicy(svc)).collateralStale).toBe(true);
            await svc.refresh(simPlatform()).catch(() => undefined);
            now = next3 + DAY + 1;
            expect(codeOf(() => cache.verify(quote, simPolicy(svc)))).toBe('COLLATERAL_EXPIRED');
            expect(codeOf(() => verifyQuote(quote, simPolicy(svc)))).toBe('COLLATERAL_EXPIRED');
            expect(events.filter((e) => e.event === 'collateral.expired-refused')).toHaveLength(1); // once, not per peer
            await svc.refresh(simPlatform()).catch(() => undefined);
        } finally {
            now = start;
            up = true;
        }
    });

    test('the cache directory survives a restart with the PCCS down; a tampered cache file is ignored', async () => {
        const dir = tempDir();
        const { svc } = service('simulated', { cacheDir: dir });
        await svc.refresh(simPlatform());
        const offline = service('nowhere', { cacheDir: dir }).svc; // a mount that does not exist: every fetch is 404
        await offline.start();
        expect(verifyQuote(quote, simPolicy(offline)).tcbStatus).toBe('UpToDate');

        const file = join(dir, readdirSync(dir)[0]);
        const json = JSON.parse(require('fs').readFileSync(file, 'utf8')) as { collateral: Collateral };
        json.collateral.tcb_info = json.collateral.tcb_info.replace('"UpToDate"', '"OutOfDate"');
        writeFileSync(file, JSON.stringify(json));
        const tampered = service('nowhere', { cacheDir: dir });
        await tampered.svc.start();
        expect(tampered.events.find((e) => e.event === 'collateral.cache-skipped')?.fields.code).toBe('COLLATERAL_INVALID');
        expect(codeOf(() => verifyQuote(quote, simPolicy(tampered.svc)))).toBe('COLLATERAL_UNAVAILABLE');
    });

    test('a cache directory that cannot be written costs the restart cache, not the verified collateral', async () => {
        const file = join(tempDir(), 'not-a-dir');
        writeFileSync(file, 'x');
        const { svc, events } = service('simulated', { cacheDir: join(file, 'collateral') });
        await svc.refresh(simPlatform());
        expect(svc.generation).toBe(1);
        expect(events.map((e) => e.event)).toEqual(['collateral.refreshed', 'collateral.cache-write-failed']);
        expect(verifyQuote(quote, simPolicy(svc)).tcbStatus).toBe('UpToDate');
    });

    test('the platforms held are bounded: past MAX_PLATFORMS a new FMSPC is COLLATERAL_UNAVAILABLE and nothing is fetched', async () => {
        const svc = new CollateralService({ client: new PccsClient({ baseUrl: 'http://127.0.0.1:1' }), trustedRootKeyIds: [tee.rootKeyId], graceMs: 0, clock, tickMs: 0 });
        const fmspc = (i: number) => i.toString(16).toUpperCase().padStart(12, '0');
        for (let i = 0; i < MAX_PLATFORMS; i++) expect(codeOf(() => svc.collateralFor(fmspc(i), 'platform', clock()))).toBe('COLLATERAL_UNAVAILABLE');
        await Promise.all(svc.status().map((s) => svc.refresh(s).catch(() => undefined)));
        expect(() => svc.collateralFor(fmspc(MAX_PLATFORMS), 'platform', clock())).toThrow(/held for 256 platforms/);
        await expect(svc.refresh({ fmspc: fmspc(MAX_PLATFORMS + 1), ca: 'platform' })).rejects.toMatchObject({ code: 'COLLATERAL_UNAVAILABLE' });
        expect(svc.status()).toHaveLength(MAX_PLATFORMS);
    });

    test('a PCCS that serves older collateral than the one held (rollback) is refused', async () => {
        const t = Math.floor(now / 1000) * 1000;
        const old = await tee.signCollateral({ issueDate: new Date(t - 2 * DAY), nextUpdate: new Date(t + 20 * DAY) });
        const newer = await tee.signCollateral({ issueDate: new Date(t - DAY), nextUpdate: new Date(t + 29 * DAY) });
        let serve = newer;
        const server = new LocalPccs({ mounts: { '': () => [serve] }, clock });
        await server.start();
        try {
            const svc = new CollateralService({ client: new PccsClient({ baseUrl: server.url }), trustedRootKeyIds: [tee.rootKeyId], graceMs: 0, clock, tickMs: 0 });
            await svc.refresh(simPlatform());
            serve = old;
            await expect(svc.refresh(simPlatform())).rejects.toMatchObject({ code: 'COLLATERAL_INVALID', message: expect.stringMatching(/rollback/) });
            expect(svc.status()[0].nextUpdate).toBe(new Date(t + 29 * DAY).toISOString());
        } finally {
            await server.stop();
        }
    });
});

describe('through RA-TLS peer verification', () => {
    test('a peer verified on stale collateral carries collateralStale; after the grace it is refused with COLLATERAL_EXPIRED', async () => {
        const t = Math.floor(now / 1000) * 1000;
        const c = await tee.signCollateral({ issueDate: new Date(t - HOUR), nextUpdate: new Date(t + DAY) });
        const server = new LocalPccs({ mounts: { '': () => [c] }, clock });
        await server.start();
        const svc = new CollateralService({ client: new PccsClient({ baseUrl: server.url }), trustedRootKeyIds: [tee.rootKeyId], graceMs: 6 * HOUR, clock, tickMs: 0 });
        await svc.refresh(simPlatform());
        await server.stop(); // unreachable from now on

        let at = new Date(t + HOUR);
        const verifier = new PeerVerifier({ quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateralSource: svc }, isImageAllowed: () => true }, { clock: () => at });
        const peer = async () => (await RaTlsIdentity.create({ provider: tee, clock: () => at })).current.der;
        expect(verifier.verify(await peer()).collateralStale).toBeUndefined();
        at = new Date(t + DAY + HOUR);
        expect(verifier.verify(await peer())).toMatchObject({ collateralStale: true, tcbStatus: 'UpToDate' });
        at = new Date(t + DAY + 7 * HOUR);
        const late = await peer();
        expect(codeOf(() => verifier.verify(late))).toBe('COLLATERAL_EXPIRED');
        await svc.refresh(simPlatform()).catch(() => undefined);
    });
});

describe('agent config: trust.pccsUrl, collateralCacheDir, collateralGraceHours', () => {
    const base = {
        chain: { endpoint: 'http://127.0.0.1:1/api/v2/jsonRPC', rootAddress: 'EQCUVxGwPC8G-XTYgb1qRPYdVMhbkySUERhSTHVvZOBmbeoO' },
        seedFile: 'seed',
        wallet: { secretKeyFile: 'wallet' },
        client: { stateFile: 's.json' },
    };
    const load = (dir: string, trust: Record<string, unknown>) => {
        const p = join(dir, `c-${Math.random()}.json`);
        writeFileSync(p, JSON.stringify({ ...base, trust }));
        return loadConfigFile(p, ClientConfigSchema);
    };
    const keyOf = (fn: () => unknown) => {
        try {
            fn();
        } catch (e) {
            return { code: (e as { code: string }).code, key: (e as { details?: { key?: string } }).details?.key };
        }
        return undefined;
    };

    test('a simulated platform behind a PCCS: the policy carries a collateral source that verifies its quotes, cached on disk', async () => {
        const dir = tempDir();
        const own = await SimulatedTee.loadOrCreate(join(dir, 'tee.json'));
        const server = new LocalPccs({ mounts: { simulated: simulatedCollaterals(own) } });
        await server.start();
        try {
            const events: string[] = [];
            const loaded = load(dir, { simulatedTeeFile: 'tee.json', pccsUrl: server.baseUrl('simulated'), collateralCacheDir: 'collateral', collateralGraceHours: 6 });
            const policy = await trustOf(loaded.dir, loaded.config.trust, (e) => events.push(e));
            expect(policy.collateral).toBeUndefined();
            const v = verifyQuote(await own.getQuote(Buffer.alloc(64, 1)), { ...policy, at: new Date() });
            expect(v.tcbStatus).toBe('UpToDate');
            expect(readdirSync(join(dir, 'collateral'))).toHaveLength(1);
            expect(events).toContain('collateral.refreshed');
            (policy.collateralSource as CollateralService).close();
        } finally {
            await server.stop();
        }
    });

    test.each([
        ['collateralFile with pccsUrl', { collateralFile: 'c.json', pccsUrl: 'http://127.0.0.1:1' }],
        ['a PCCS URL that is not http(s)', { pccsUrl: 'ftp://127.0.0.1/' }],
        ['a negative grace', { pccsUrl: 'http://127.0.0.1:1', collateralGraceHours: -1 }],
        ['a grace without a PCCS', { simulatedTeeFile: 'tee.json', collateralGraceHours: 1 }],
    ])('refuses %s with CONFIG_INVALID naming trust', (_n, trust) => {
        expect(keyOf(() => load(tempDir(), trust))).toEqual({ code: 'CONFIG_INVALID', key: expect.stringMatching(/^trust/) });
    });
});

describe('cocoon attest verify --pccs', () => {
    const run = async (argv: string[]) => {
        let out = '';
        let err = '';
        const status = await attestVerifyCommand(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
        return { status, out, err, json: () => JSON.parse(out) as Record<string, unknown> };
    };
    const quoteFile = join(TDX_VECTORS, 'tdx_quote');

    test('fetches the quote platform collateral, verifies it, and prints the verdict', async () => {
        const saved = now;
        now = T_GOOD.getTime();
        try {
            const r = await run([quoteFile, '--pccs', pccs.baseUrl('intel'), '--at', '2025-06-19T11:16:03Z']);
            expect(r.status).toBe(0);
            expect(r.json()).toMatchObject({ verdict: 'accepted', tcbStatus: 'UpToDate', fmspc: 'b0c06f000000', policy: { collateral: pccs.baseUrl('intel') } });
            // the same PCCS past the collateral's nextUpdate: a typed rejection
            const late = await run([quoteFile, '--pccs', pccs.baseUrl('intel'), '--at', '2025-07-19T10:16:04Z']);
            expect([late.status, (late.json().error as { code: string }).code]).toEqual([1, 'COLLATERAL_EXPIRED']);
        } finally {
            now = saved;
        }
    });

    test('an unreachable PCCS is COLLATERAL_UNAVAILABLE (status 1); bad flags are usage errors (status 2)', async () => {
        const down = await run([quoteFile, '--pccs', 'http://127.0.0.1:1', '--at', '2025-06-19T11:16:03Z']);
        expect([down.status, (down.json().error as { code: string }).code]).toEqual([1, 'COLLATERAL_UNAVAILABLE']);
        expect((await run([quoteFile, '--pccs', pccs.baseUrl('intel'), '--offline'])).status).toBe(2);
        expect((await run([quoteFile, '--pccs', 'file:///etc/passwd'])).status).toBe(2);
    });
});
