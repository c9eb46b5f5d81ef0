// Client continuity, failover (spec/client.md, "Failover"), end to end on the devnet: two proxies registered in Root,
// one worker serving both, a client under load on proxy A. Proxy A is killed mid-load; once it has been unreachable
// for failoverAfterMs the client opens a channel with proxy B within its budget and keeps serving; the channel with A
// stays in the state file for a later close. Nothing of ours is mocked.
import { Address, toNano } from '@ton/core';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { AgentNetwork, deployProxyForAgent, seed, startAgentNetwork, workerAgentOptions } from '../../fixtures/agent-network';
import { ProxyAgent } from '../../agents/proxy/agent';
import { WorkerAgent } from '../../agents/worker/runner';
import { CocoonClient } from '../../agents/client/runner';
import { ReferenceBackend } from '../../agents/backend/reference';
import { ask, drain, until } from '../helpers/money-stack';

jest.setTimeout(180_000);

describe('end to end: client failover to a second proxy', () => {
    let net: AgentNetwork;
    let dir: string;
    const proxies: ProxyAgent[] = [];
    let backend: ReferenceBackend;
    let worker: WorkerAgent;
    let client: CocoonClient;
    let addrs: Address[];

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'cocoon-failover-'));
        net = await startAgentNetwork();
        addrs = [];
        for (const label of ['failover-a', 'failover-b']) {
            const d = await deployProxyForAgent(net, label);
            const p = new ProxyAgent({ ...d.agentOptions({ chain: net.newChain(), ledgerPath: join(dir, `${label}.sqlite`) }), commitIntervalMs: 0, settleIntervalMs: 0, watchIntervalMs: 0, rootPollMs: 0, commitGuardMs: 0 });
            await p.start();
            proxies.push(p);
            addrs.push(d.proxyAddress);
        }
        backend = new ReferenceBackend({ tokenDelayMs: 10 });
        await backend.start();
        const w = await net.fundWallet('failover-worker', '20');
        worker = new WorkerAgent({ ...workerAgentOptions(net, { chain: net.newChain(), wallet: w.wallet, seed: seed('failover-worker'), backendUrl: backend.url, statePath: join(dir, 'worker.json'), capacity: 64 }), rootPollMs: 60_000, reconnect: { baseMs: 50, maxMs: 500 } });
        await worker.start();
        await until('the worker on both proxies', () => proxies.every((p) => p.stats().workers.length === 1), 60_000);
        const { wallet } = await net.fundWallet('failover-client', '10');
        client = new CocoonClient({
            chain: net.newChain(),
            wallet,
            seed: seed('failover-client'),
            quotePolicy: net.quotePolicy,
            statePath: join(dir, 'client.json'),
            proxy: addrs[0],
            deposit: toNano('0.5'),
            privacy: 'plain',
            rootPollMs: 60_000,
            reconnectMinMs: 50,
            reconnectMaxMs: 200,
            failoverAfterMs: 500,
            // The budget (0.3 TON) is below the deposit (0.5 TON): the channel with B gets only what the budget allows.
            autoTopUp: { threshold: 0n, amount: toNano('0.1'), budget: toNano('0.3') },
        });
        await client.open();
        await client.connect();
    });

    afterAll(async () => {
        await client?.stop();
        await worker?.stop();
        for (const p of proxies) await p.stop();
        await backend?.stop();
        await net?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    it('proxy A is killed mid-load: the client moves to proxy B within its budget and requests succeed again', async () => {
        expect(client.proxy.equals(addrs[0])).toBe(true);
        const oldChannel = client.channel;
        const outcomes: { at: number; ok: boolean; proxy: string }[] = [];
        let running = true;
        const loop = async () => {
            while (running) {
                try {
                    await drain(client.request(ask(8, true)));
                    outcomes.push({ at: Date.now(), ok: true, proxy: client.proxy.toRawString() });
                } catch {
                    outcomes.push({ at: Date.now(), ok: false, proxy: client.proxy.toRawString() });
                    await new Promise((r) => setTimeout(r, 50));
                }
            }
        };
        const loops = [loop(), loop(), loop()];
        await until('load on proxy A', () => outcomes.filter((o) => o.ok).length >= 6);
        await proxies[0].stop(); // killed mid-load
        await until('the client on proxy B', () => client.proxy.equals(addrs[1]), 60_000);
        const switched = Date.now();
        await until('requests served by proxy B', () => Date.now() > switched + 1500 && outcomes.filter((o) => o.ok && o.at > switched + 1000 && o.proxy === addrs[1].toRawString()).length >= 9, 60_000);
        running = false;
        await Promise.all(loops);
        // Once on B, requests succeed (the requests cut when A died are the only failures).
        const afterSwitch = outcomes.filter((o) => o.at > switched + 1000);
        expect(afterSwitch.length).toBeGreaterThan(0);
        expect(afterSwitch.every((o) => o.ok)).toBe(true);
        // A new channel with B, funded within the budget; the channel with A is kept for a later close.
        expect(client.channel.equals(oldChannel)).toBe(false);
        const b = await client.balances();
        expect(b.autoTopUp!.spent).toBe(toNano('0.3'));
        expect(b.onChain!.balance + b.onChain!.redeemed).toBe(toNano('0.3'));
        const file = JSON.parse(readFileSync(join(dir, 'client.json'), 'utf8'));
        expect(Object.keys(file.channels).sort()).toEqual([oldChannel.toRawString(), client.channel.toRawString()].sort());
        expect(file.channels[oldChannel.toRawString()].proxy).toBe(addrs[0].toRawString());
        expect(BigInt(file.channels[oldChannel.toRawString()].cumulative)).toBeGreaterThan(0n);
    });

    it('restarted while its pinned proxy A is still down, the client opens on its channel with B and serves', async () => {
        const onB = client.channel;
        await client.stop();
        const { wallet } = await net.fundWallet('failover-client', '1');
        client = new CocoonClient({ chain: net.newChain(), wallet, seed: seed('failover-client'), quotePolicy: net.quotePolicy, statePath: join(dir, 'client.json'), proxy: addrs[0], deposit: toNano('0.3'), privacy: 'plain', rootPollMs: 60_000, failoverAfterMs: 500 });
        await client.open();
        expect(client.proxy.equals(addrs[1])).toBe(true);
        expect(client.channel.equals(onB)).toBe(true);
        await drain(client.request(ask(8)));
    });
});
