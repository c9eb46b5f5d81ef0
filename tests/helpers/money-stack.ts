// One proxy, one worker on the reference backend, and SDK clients on a devnet, for the tests of money between the
// agents (tests/agents/proxy/money*.spec.ts): real RA-TLS, real SQLite ledger, real signatures, real TVM. The proxy
// settles only when told (settle, watchChannels) and can be restarted on the same ledger and ports.
import { Address, toNano } from '@ton/core';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { AgentNetwork, deployProxyForAgent, seed, startAgentNetwork, workerAgentOptions } from '../../fixtures/agent-network';
import { ProxyAgent, type ProxyAgentOptions } from '../../agents/proxy/agent';
import { WorkerAgent } from '../../agents/worker/runner';
import { CocoonClient, CocoonClientOptions } from '../../agents/client/runner';
import { ReferenceBackend } from '../../agents/backend/reference';
import { TEST_MODEL } from '../../agents/backend/test-model';
import type { Params } from '../../wrappers/Root';

export const until = async (what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
    }
};

/** Reads an event stream to its end (throws what it throws). */
export async function drain(it: AsyncGenerator<unknown>): Promise<void> {
    for (;;) if ((await it.next()).done) return;
}

/** A chat request for CocoonClient.request. */
export const ask = (max_tokens: number, stream = false, content = 'hello there') => ({
    endpoint: 'chat' as const,
    body: { model: TEST_MODEL.id, messages: [{ role: 'user', content }], max_tokens, stream },
});

export interface MoneyStack {
    net: AgentNetwork;
    dir: string;
    proxyAddress: Address;
    /** Secret keys of the Proxy's owner wallet, the proxy agent's wallet and the worker's wallet (for config files). */
    keys: { owner: Buffer; proxyWallet: Buffer; worker: Buffer };
    /** The running proxy (replaced by startProxy). */
    readonly proxy: ProxyAgent;
    backend: ReferenceBackend;
    worker: WorkerAgent;
    /** (Re)starts the proxy on the same ledger and ports. */
    startProxy(): Promise<void>;
    /** A funded SDK client (plain mode) with its channel open and connected; `extra` overrides its options. */
    sdkClient(label: string, deposit: bigint, extra?: Partial<CocoonClientOptions>): Promise<CocoonClient>;
    /** Every voucher the client signed is held by the proxy (its payment_status says so); returns the amount. */
    signedAndHeld(client: CocoonClient): Promise<bigint>;
    /** Set to crash the proxy at a point of a request's life (ProxyAgentOptions.crashHook). */
    crashAt?: (point: 'booked', id: string) => boolean;
    stop(): Promise<void>;
}

/** `proxy`: options of the proxy agent on top of the stack's (its clocks, say), given the network. */
export async function startMoneyStack(o: { params: Partial<Params>; clock?: () => number; label: string; proxy?: (net: AgentNetwork) => Partial<ProxyAgentOptions> }): Promise<MoneyStack> {
    const dir = mkdtempSync(join(tmpdir(), `cocoon-${o.label}-`));
    const net = await startAgentNetwork({ params: o.params, clock: o.clock });
    const deployed = await deployProxyForAgent(net, `${o.label}-proxy`);
    const { proxyAddress } = deployed;
    const clients: CocoonClient[] = [];
    let proxy: ProxyAgent | undefined;
    const stack: MoneyStack = {
        net,
        dir,
        proxyAddress,
        keys: { owner: deployed.ownerSecretKey, proxyWallet: deployed.walletSecretKey, worker: Buffer.alloc(0) },
        get proxy() {
            return proxy!;
        },
        backend: new ReferenceBackend({ tokenDelayMs: 30 }),
        worker: undefined as unknown as WorkerAgent,
        async startProxy() {
            proxy = new ProxyAgent({
                ...deployed.agentOptions({ chain: net.newChain(), ledgerPath: join(dir, 'ledger.sqlite') }),
                redeemThreshold: toNano('1000'), // only the watch (or settle) redeems
                payoutThreshold: toNano('1000'),
                commitIntervalMs: 0,
                settleIntervalMs: 0,
                watchIntervalMs: 0, // tests run the watch themselves
                rootPollMs: 0,
                commitGuardMs: 0,
                crashHook: (point, id) => stack.crashAt?.(point, id) ?? false,
                ...o.proxy?.(net),
            });
            await proxy.start();
        },
        async sdkClient(label, deposit, extra) {
            const { wallet } = await net.fundWallet(label, '10');
            const c = new CocoonClient({
                chain: net.newChain(),
                wallet,
                seed: seed(label),
                quotePolicy: net.quotePolicy,
                statePath: join(dir, `${label}.json`),
                proxy: proxyAddress,
                deposit,
                privacy: 'plain',
                rootPollMs: 60_000,
                reconnectMinMs: 50,
                reconnectMaxMs: 200,
                ...extra,
            });
            clients.push(c);
            await c.open();
            await c.connect();
            return c;
        },
        async signedAndHeld(client) {
            await client.vouchersSettled();
            const cumulative = (await client.balances()).cumulative;
            await until('the proxy to hold the latest voucher', async () => (await client.balances()).proxyStatus?.voucher === cumulative);
            return cumulative;
        },
        async stop() {
            for (const c of clients) await c.stop();
            await stack.worker?.stop();
            await proxy?.stop();
            await stack.backend.stop();
            await net.stop();
            rmSync(dir, { recursive: true, force: true });
        },
    };
    await stack.startProxy();
    await stack.backend.start();
    const w = await net.fundWallet(`${o.label}-worker`, '20');
    stack.keys.worker = w.secretKey;
    stack.worker = new WorkerAgent({
        ...workerAgentOptions(net, { chain: net.newChain(), wallet: w.wallet, seed: seed(`${o.label}-worker`), backendUrl: stack.backend.url, statePath: join(dir, 'worker.json'), capacity: 64 }),
        payoutThreshold: toNano('1000'),
        rootPollMs: 60_000,
        reconnect: { baseMs: 50, maxMs: 500 },
    });
    await stack.worker.start();
    await until('the worker to be routable', () => stack.proxy.stats().workers.length === 1);
    return stack;
}
