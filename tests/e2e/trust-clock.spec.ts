// The devnet's agents on the clock of trust (spec/attestation.md "Clock of trust"): the devnet chain runs six minutes
// behind this machine's clock — as if the host had set its clock forward — and the whole network still works: the
// proxy, worker and client are built from their config files (agents/run.ts), issue their certificates at chain time,
// judge each other's certificates, quotes, collateral and the worker's hello at chain time, and each warns of the skew.
// Built on the host's clock, the certificates would be "not yet valid" by chain time and no peer would connect.
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { RunningDevnet, startDevnet } from '../../agents/devnet/network';
import { demoRequest } from '../../agents/devnet/demo';
import { LogFields } from '../../agents/core/log';
import { TrustClock } from '../../agents/core/chain/trust-clock';
import { CollateralService } from '../../agents/core/tee/pccs/service';
import type { VerifyPolicy } from '../../agents/core/tee/types';
import { toNano } from '@ton/core';

jest.setTimeout(240_000);

const SKEW_MS = 6 * 60_000;

describe('the devnet with its chain six minutes behind the host clock', () => {
    let dir: string;
    let run: RunningDevnet | undefined;
    const events: { event: string; fields: LogFields }[] = [];
    let out = '';
    let stopped = false;
    const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (out += t) };

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-trust-clock-'));
        run = await startDevnet({ dir, io, demo: false, tokenDelayMs: 0, log: (event, fields) => events.push({ event, fields }), chainClock: () => Date.now() - SKEW_MS });
    });
    afterAll(async () => {
        if (!stopped) await run?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    it('every agent warns of the skew: its clock of trust reads the chain, the host clock is only compared', () => {
        const skews = events.filter((e) => e.event === 'chain-time.skew-mismatch');
        expect(skews.length).toBeGreaterThanOrEqual(3); // proxy, worker, client
        for (const s of skews) {
            // chain time trails real time by at most a block interval and the request's latency
            expect(s.fields.skewMs as number).toBeLessThan(-SKEW_MS + 60_000);
            expect(s.fields.skewMs as number).toBeGreaterThan(-SKEW_MS - 60_000);
        }
        expect(events.filter((e) => e.event === 'chain-time.stale')).toEqual([]);
        // and /readyz says so, without making the agent unready
        const skew = run!.proxy.readiness().clockSkewMs as number;
        expect(skew).toBeLessThan(-SKEW_MS + 60_000);
        expect(skew).toBeGreaterThan(-SKEW_MS - 60_000);
    });

    it('and the metrics export it: chain time available, the skew in seconds', async () => {
        const text = await (await fetch(`http://127.0.0.1:${run!.state.ports.proxyStats}/metrics`)).text();
        expect(text).toMatch(/^cocoon_chain_time_available\{role="proxy"\} 1$/m);
        const skew = Number(/^cocoon_chain_time_skew_seconds\{role="proxy"\} (-?\d+)$/m.exec(text)?.[1]);
        expect(skew).toBeLessThan(-SKEW_MS / 1000 + 60);
        expect(skew).toBeGreaterThan(-SKEW_MS / 1000 - 60);
    });

    it('the certificates are issued at chain time, and the peers accepted them by chain time', async () => {
        await run!.worker.waitReady(60_000); // RA-TLS both ways and the hello's owner signature, judged by the proxy
        const notBefore = run!.worker.identity.current.notBefore.getTime();
        // issued at chain time − 60 s: minutes before what this machine's clock would have written
        expect(notBefore).toBeLessThan(Date.now() - SKEW_MS + 60_000);
        expect(run!.worker.stats().proxies.some((p) => p.state === 'ready')).toBe(true);
    });

    it('a paid request goes through the network end to end', async () => {
        const { reply, cost } = await demoRequest(run!, io);
        expect(reply.length).toBeGreaterThan(0);
        expect(cost).toBeGreaterThan(0n);
    });

    it('the receipt of that request carries chain time, not the host clock six minutes ahead', () => {
        const r = run!.client.lastReceipt!;
        expect(r.issuedAt * 1000).toBeLessThan(Date.now() - SKEW_MS + 60_000);
        expect(r.issuedAt * 1000).toBeGreaterThan(Date.now() - SKEW_MS - 5 * 60_000);
    });

    it('money still moves: the proxy redeems the vouchers, co-signs a cooperative withdrawal, and the client spends it', async () => {
        const settled = await run!.proxy.settle({ force: true });
        expect(settled.errors).toEqual([]);
        const before = (await run!.client.balances()).onChain!;
        const w = await run!.client.coopWithdraw({ amount: toNano('0.1') });
        expect(w.amount).toBe(toNano('0.1'));
        const after = (await run!.client.balances()).onChain!;
        expect(before.balance - after.balance).toBe(toNano('0.1'));
    });

    it('a delayed withdrawal waits the close delay by chain time (by the host clock it would look six minutes shorter)', async () => {
        const wd = await run!.client.withdraw(toNano('0.1'));
        expect(wd.finished).toBe(false);
        const closeDelayMs = (await run!.client.balances()).onChain!.withdrawAt * 1000 - (Date.now() - SKEW_MS);
        expect(wd.waitMs).toBeGreaterThan(closeDelayMs - 60_000);
        await expect(run!.client.finishWithdraw()).rejects.toMatchObject({ code: 'TOO_EARLY' });
        // the proxy counts the request as live by chain time: the channel is leaving
        expect(await run!.proxy.watchChannels()).toContain(run!.client.channel.toRawString());
    });

    it("stopped agents leave no timer behind: each one's clock of trust and live collateral stop refreshing", async () => {
        type Inside = { trustClock: TrustClock; o?: { quotePolicy: VerifyPolicy }; opts?: { quotePolicy: VerifyPolicy } };
        const agents = [run!.proxy, run!.worker, run!.client].map((a) => a as unknown as Inside);
        const clocks = agents.map((a) => a.trustClock);
        const services = agents.map((a) => (a.o ?? a.opts)!.quotePolicy.collateralSource as CollateralService);
        for (const c of clocks) expect(c.running).toBe(true);
        for (const s of services) expect(s).toBeInstanceOf(CollateralService); // the devnet's local PCCS
        const closed = services.map((s) => jest.spyOn(s, 'close'));
        stopped = true;
        await run!.stop();
        for (const c of clocks) expect(c.running).toBe(false);
        for (const spy of closed) expect(spy).toHaveBeenCalled();
    });
});
