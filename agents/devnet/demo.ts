// The devnet's demo (`cocoon devnet`, spec/operations.md): one streaming chat completion through the client's
// OpenAI endpoint, printed as it arrives with its usage and signed receipt, then the voucher settled on chain.
import { fromNano } from '@ton/core';
import { hex256 } from '../core/hex';
import { CommandIo } from '../core/cli-io';
import { TEST_MODEL } from '../backend/test-model';
import type { CocoonClient } from '../client/runner';
import { DevnetError } from './errors';
import type { RunningDevnet } from './network';

interface Balances {
    channel: bigint;
    redeemed: bigint;
    voucher: bigint;
}

async function channelBalances(client: CocoonClient): Promise<Balances> {
    const b = await client.balances();
    return { channel: b.onChain?.balance ?? 0n, redeemed: b.onChain?.redeemed ?? 0n, voucher: b.cumulative };
}

/** The demo: one streaming chat completion through the OpenAI endpoint, then settlement on chain. */
export async function demoRequest(run: RunningDevnet, io: CommandIo): Promise<{ reply: string; cost: bigint }> {
    const say = (s: string) => io.stdout(`${s}\n`);
    await waitForModel(run.client);
    const before = await channelBalances(run.client);
    say(`balances before: channel ${fromNano(before.channel)} TON deposited, ${fromNano(before.redeemed)} redeemed by the proxy, vouchers signed ${fromNano(before.voucher)} TON`);
    const prompt = 'Hello from the cocoon devnet';
    say(`\n> POST ${run.endpoint}/chat/completions  (stream: true, model ${TEST_MODEL.id})\n> ${prompt}`);
    const res = await fetch(`${run.endpoint}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: TEST_MODEL.id, stream: true, stream_options: { include_usage: true }, max_tokens: 32, messages: [{ role: 'user', content: prompt }] }),
    });
    if (!res.ok || !res.body) throw new DevnetError('DEVNET_DEMO', `the demo request failed: HTTP ${res.status} ${await res.text()}`);
    let reply = '';
    let usage: { prompt_tokens: number; completion_tokens: number; cost_nanoton?: string } | undefined;
    io.stdout('< ');
    const decoder = new TextDecoder();
    let buf = '';
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(part, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n\n')) >= 0) {
            const event = buf.slice(0, nl);
            buf = buf.slice(nl + 2);
            const data = event.replace(/^data: /, '');
            if (data === '[DONE]') continue;
            const chunk = JSON.parse(data);
            if (chunk.error) throw new DevnetError('DEVNET_DEMO', `stream error: ${chunk.error.code}: ${chunk.error.message}`);
            const text = chunk.choices?.[0]?.delta?.content ?? '';
            reply += text;
            io.stdout(text);
            if (chunk.usage) usage = chunk.usage;
        }
    }
    io.stdout('\n\n');
    const receipt = run.client.lastReceipt;
    if (usage) say(`usage: ${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens, cost ${usage.cost_nanoton} nanoTON`);
    if (receipt) {
        say(`receipt: request ${receipt.requestId.toString(16).padStart(32, '0')}, worker key ${hex256(receipt.worker).slice(0, 16)}…, coefficient ${receipt.coefficient}, cost ${receipt.cost} nanoTON, signed ${new Date(receipt.issuedAt * 1000).toISOString()}`);
        say('         (checked by the client against Root\'s prices and the worker\'s attested key before it signed its voucher)');
    }
    say('settling: the proxy redeems the client\'s voucher on chain and signs the worker\'s payout');
    await run.client.vouchersSettled();
    const signed = (await run.client.balances()).cumulative;
    const deadline = Date.now() + 10_000;
    while (run.proxy.stats().ledger.vouchers < signed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await run.proxy.settle({ force: true });
    const after = await channelBalances(run.client);
    say(`balances after:  channel ${fromNano(after.channel)} TON deposited, ${fromNano(after.redeemed)} redeemed by the proxy, vouchers signed ${fromNano(after.voucher)} TON`);
    return { reply, cost: after.voucher - before.voucher };
}

async function waitForModel(client: CocoonClient, timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
        const models = await client.listModels().catch(() => []);
        if (models.some((m) => m.id === TEST_MODEL.id)) return;
        if (Date.now() > until) throw new DevnetError('DEVNET_DEMO', `no worker serves ${TEST_MODEL.id} after ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 250));
    }
}
