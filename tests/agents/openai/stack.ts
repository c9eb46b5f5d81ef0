// The OpenAI surface tests' network: the money stack (devnet, Root, a real proxy and worker on the reference
// backend) with two SDK clients — one sealed (router-blind), one plain — each behind its own OpenAIServer, and the
// official `openai` package pointed at each. Every request goes client → proxy → worker → backend for real.
import OpenAI from 'openai';
import { join } from 'path';
import { toNano } from '@ton/core';
import { seed } from '../../../fixtures/agent-network';
import { CocoonClient, Privacy } from '../../../agents/client/runner';
import { OpenAIServer } from '../../../agents/client/server';
import { TEST_MODEL, TEST_MODEL_PRICES } from '../../../agents/backend/test-model';
import { cost, TokenUsage, usageFromOpenAI } from '../../../agents/core/pricing';
import { MoneyStack, startMoneyStack } from '../../helpers/money-stack';

export const MODEL = TEST_MODEL.id;

export interface Side {
    privacy: Privacy;
    client: CocoonClient;
    server: OpenAIServer;
    openai: OpenAI;
    /** POSTs raw JSON to the client's HTTP API (`path` after /v1, e.g. /chat/completions), with extra headers. */
    post(path: string, body: unknown, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response>;
}

export interface OpenAIStack {
    stack: MoneyStack;
    sides: Record<Privacy, Side>;
    /** What the proxy's ledger has booked as delivered, over every client. */
    delivered(): bigint;
    stop(): Promise<void>;
}

export async function startOpenAIStack(label: string): Promise<OpenAIStack> {
    const stack = await startMoneyStack({ params: {}, label });
    stack.backend.tokenDelayMs = 0;
    const sides = {} as Record<Privacy, Side>;
    const servers: OpenAIServer[] = [];
    const clients: CocoonClient[] = [];
    for (const privacy of ['sealed', 'plain'] as const) {
        const name = `${label}-${privacy}`;
        const { wallet } = await stack.net.fundWallet(name, '10');
        const client = new CocoonClient({
            chain: stack.net.newChain(),
            wallet,
            seed: seed(name),
            quotePolicy: stack.net.quotePolicy,
            statePath: join(stack.dir, `${name}.json`),
            proxy: stack.proxyAddress,
            deposit: toNano('2'),
            privacy,
            rootPollMs: 60_000,
            candidateTtlMs: 1, // /v1/models reads the load afresh
            reconnectMinMs: 50,
            reconnectMaxMs: 200,
        });
        clients.push(client);
        await client.open();
        await client.connect();
        const server = new OpenAIServer({ client });
        servers.push(server);
        const { url } = await server.start();
        const openai = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
        const post = (path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
            fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal });
        sides[privacy] = { privacy, client, server, openai, post };
    }
    return {
        stack,
        sides,
        delivered: () => stack.proxy.stats().ledger.delivered,
        async stop() {
            for (const s of servers) await s.stop();
            for (const c of clients) await c.stop();
            await stack.stop();
        },
    };
}

/** The cost of an OpenAI usage object at the test prices and coefficient 1.0 (the worker's). */
export function costOf(usage: unknown): { usage: TokenUsage; cost: bigint } {
    const u = usageFromOpenAI(usage);
    return { usage: u, cost: cost(u, TEST_MODEL_PRICES, 1000n) };
}

/** The error the `openai` package threw (status, code, param, message). */
export async function apiError(p: Promise<unknown>): Promise<{ status: number; code: string; param: string | null; message: string }> {
    try {
        await p;
    } catch (e) {
        if (e instanceof OpenAI.APIError) return { status: e.status as number, code: String(e.code), param: (e.param as string | null) ?? null, message: e.message };
        throw e;
    }
    throw new Error('expected an API error');
}
