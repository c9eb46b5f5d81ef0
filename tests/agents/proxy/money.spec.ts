// The proxy's money defences over real sockets on the devnet (issue 8, attacks 9 and 13): admission holds each
// request's worst-case cost against the credit window and the deposit, and the channel watch redeems at once when a
// client starts a withdrawal or a close while it is being served. Real proxy, worker, reference backend, SDK clients
// and a raw-frame client; nothing of ours is mocked.
import { toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { copyFileSync, existsSync, rmSync } from 'fs';
import { join } from 'path';
import { WebSocket } from 'ws';
import OpenAI from 'openai';
import { seed } from '../../../fixtures/agent-network';
import { ask, drain, MoneyStack, startMoneyStack, until } from '../../helpers/money-stack';
import { requestBound } from '../../../agents/proxy/admission';
import { CocoonClient } from '../../../agents/client/runner';
import { OpenAIServer } from '../../../agents/client/server';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { TonChain } from '../../../agents/core/chain/chain';
import { cost } from '../../../agents/core/pricing';
import type { Receipt } from '../../../agents/core/receipt';
import { connectRaTls, KeyIdentity, PeerVerifier } from '../../../agents/core/transport';
import { encodeFrame, parseFrame, PROTOCOL_VERSION, RequestFrame } from '../../../agents/core/wire';
import { ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { toUint256 } from '../../../wrappers/payloads';

jest.setTimeout(120_000);

const WINDOW = 1_000_000n; // 0.001 TON
const CLOSE_DELAY = 3600n;

describe('proxy money: admission, the channel watch and late receipts (attacks 9, 10, 13, 20)', () => {
    /** Chain time = wall clock + offset: the last test moves past the clients' delays. */
    let offset = 0;
    const chainNow = () => Date.now() + offset;
    let stack: MoneyStack;
    /** Left by the withdrawal and close tests for the last one. */
    let withdrawing: { client: CocoonClient; kp: ReturnType<typeof keyPairFromSeed>; paid: bigint } | undefined;
    let closing: typeof withdrawing;

    beforeAll(async () => {
        stack = await startMoneyStack({ label: 'money', params: { creditWindow: WINDOW, clientCloseDelay: CLOSE_DELAY }, clock: chainNow });
    });

    afterAll(async () => {
        await stack?.stop();
    });

    /** A bare client speaking frames (it never signs), with its own funded channel. */
    async function rawClient(label: string) {
        const s = seed(label);
        const { wallet } = await stack.net.fundWallet(label, '10');
        const chain = stack.net.newChain();
        const cfg = await chain.getRootConfig();
        const info = cfg.proxies.get(stack.proxyAddress.toRawString())!;
        const ch = await ClientChannelWrapper.create({ proxy: stack.proxyAddress, client: wallet.address, clientKey: toUint256(keyPairFromSeed(s).publicKey), proxyKey: info.enclaveKey, closeDelay: cfg.params.clientCloseDelay, code: cfg.childCode.clientCode });
        await chain.open(ch).sendTopUp(wallet.sender(), toNano('1'));
        const open = async () => {
            const conn = await connectRaTls(info.clientEndpoint, await KeyIdentity.create({ seed: s }), new PeerVerifier({ quote: stack.net.quotePolicy, isImageAllowed: (h) => cfg.proxyImages.has(h) }));
            const inbox: ReturnType<typeof parseFrame<'proxy_to_client'>>[] = [];
            conn.ws.on('message', (m) => inbox.push(parseFrame(m.toString(), 'proxy_to_client')));
            const send = (f: Parameters<typeof encodeFrame>[0]) => conn.ws.send(encodeFrame(f, 'client_to_proxy'));
            send({ type: 'hello', v: PROTOCOL_VERSION, minV: PROTOCOL_VERSION, role: 'client', channel: ch.address.toString() });
            await until('hello_ok or error', () => inbox.some((f) => f.type === 'hello_ok' || f.type === 'error'));
            return { ws: conn.ws as WebSocket, send, inbox, channel: ch.address, open };
        };
        return open();
    }

    it('attack 13: 40 parallel unsigned requests never take the exposure past one credit window; the rest get CREDIT_WINDOW_EXCEEDED', async () => {
        const c = await rawClient('money-raw-40');
        const frames: RequestFrame[] = [];
        for (let i = 0; i < 40; i++) {
            frames.push({
                type: 'request',
                v: PROTOCOL_VERSION,
                id: randomBytes(16).toString('hex'),
                model: TEST_MODEL.id,
                endpoint: 'chat',
                stream: false,
                maxTokens: 200,
                maxCoefficient: 1000n,
                body: { model: TEST_MODEL.id, messages: [{ role: 'user', content: 'x '.repeat(100) }], max_tokens: 200 },
            });
        }
        const bound = requestBound({ maxTokens: 200, contextLength: stack.net.model.contextLength, prices: stack.net.model, coefficient: 1000n });
        expect(bound * 40n).toBeGreaterThan(WINDOW * 4n); // the attack asks for far more than one window
        stack.backend.tokenDelayMs = 2;
        for (const f of frames) c.send(f);
        const ids = new Set(frames.map((f) => f.id));
        const done = () => c.inbox.filter((f) => (f.type === 'response_end' || f.type === 'response_error') && ids.has(f.id));
        await until('all 40 answers', () => done().length === 40);
        stack.backend.tokenDelayMs = 30;
        const served = done().filter((f) => f.type === 'response_end') as { cost: bigint }[];
        const refused = done().filter((f) => f.type === 'response_error');
        expect(served.length).toBeGreaterThan(0);
        expect(BigInt(served.length)).toBeLessThanOrEqual(WINDOW / bound);
        for (const r of refused) expect(r).toMatchObject({ code: 'CREDIT_WINDOW_EXCEEDED', retryable: false });
        const delivered = served.reduce((a, f) => a + f.cost, 0n);
        expect(delivered).toBeLessThanOrEqual(WINDOW);
        const st = stack.proxy.stats();
        expect(st.ledger.delivered).toBe(delivered); // the only client so far, and nothing signed
        expect(st.admission.peakExposure).toBeLessThanOrEqual(WINDOW);
        expect(st.admission.held).toBe(0n);
        c.ws.close();
    });

    /** What the proxy's ledger holds unsigned: delivered − vouchers, over every client so far. */
    const unsigned = () => stack.proxy.stats().ledger.delivered - stack.proxy.stats().ledger.vouchers;

    it('attack 13: a channel gets at most 4 connections; a fifth hello is refused with RATE_LIMITED', async () => {
        const first = await rawClient('money-raw-conns');
        const more = [first];
        for (let i = 0; i < 4; i++) more.push(await first.open());
        expect(more.slice(0, 4).every((c) => c.inbox.some((f) => f.type === 'hello_ok'))).toBe(true);
        expect(more[4].inbox.find((f) => f.type === 'error')).toMatchObject({ code: 'RATE_LIMITED', fatal: true });
        expect(more[4].inbox.some((f) => f.type === 'hello_ok')).toBe(false);
        for (const c of more) c.ws.close();
    });

    it('attack 10: an app that cancels a stream mid-way (official openai package) pays for the prompt and the tokens streamed on its next voucher', async () => {
        const client = await stack.sdkClient('money-cancel', toNano('0.05'));
        const api = new OpenAIServer({ client });
        const { url } = await api.start();
        try {
            const openai = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
            stack.backend.tokenDelayMs = 30;
            const unsignedBefore = unsigned();
            const stream = await openai.chat.completions.create({ model: TEST_MODEL.id, messages: [{ role: 'user', content: 'count to forty please' }], max_tokens: 40, stream: true });
            let seen = 0;
            for await (const chunk of stream) {
                if (chunk.choices[0]?.delta?.content) seen++;
                if (seen === 3) break; // the app leaves: the openai package aborts the HTTP request
            }
            await until('the partial receipt paid', async () => (await client.balances()).cumulative > 0n);
            await client.vouchersSettled();
            const r = (client as unknown as { last?: Receipt }).last!;
            expect(r.usage.prompt).toBe(4n); // "count to forty please"
            expect(r.usage.completion).toBeGreaterThanOrEqual(3n);
            expect(r.usage.completion).toBeLessThan(40n);
            expect((await client.balances()).cumulative).toBe(cost(r.usage, stack.net.model, 1000n));
            await until('the proxy to hold the voucher', () => unsigned() === unsignedBefore);
        } finally {
            stack.backend.tokenDelayMs = 30;
            await api.stop();
        }
    });

    it('attack 10: a client whose connection drops mid-stream is billed the partial receipt when it reconnects, and pays it', async () => {
        const client = await stack.sdkClient('money-drop', toNano('0.05'));
        stack.backend.tokenDelayMs = 30;
        try {
            const unsignedBefore = unsigned();
            const goneBefore = stack.proxy.stats().requests.bookedClientGone;
            const stream = client.request(ask(40, true));
            expect((await stream.next()).value).toMatchObject({ type: 'start' });
            for (let i = 0; i < 3; i++) await stream.next(); // the role chunk, then two words
            // The network drops under the client (its socket to the proxy is cut).
            (client as unknown as { link: { ws: WebSocket } }).link.ws.terminate();
            await expect(drain(stream)).rejects.toMatchObject({ code: 'WORKER_LOST' });
            await until('the partial delivery booked', () => stack.proxy.stats().requests.bookedClientGone === goneBefore + 1);
            await until('the client reconnected and paid it', async () => (await client.balances()).cumulative > 0n);
            await client.vouchersSettled();
            const r = (client as unknown as { last?: Receipt }).last!;
            expect(r.usage.completion).toBeGreaterThanOrEqual(2n);
            expect(r.usage.completion).toBeLessThan(40n);
            expect((await client.balances()).cumulative).toBe(r.cost);
            await until('the window restored', () => unsigned() === unsignedBefore);
        } finally {
            stack.backend.tokenDelayMs = 30;
        }
    });

    it('attack 10: a client that never comes back after a drop stays bounded by its credit window', async () => {
        const client = await stack.sdkClient('money-gone', toNano('0.05'));
        stack.backend.tokenDelayMs = 30;
        try {
            const unsignedBefore = unsigned();
            const goneBefore = stack.proxy.stats().requests.bookedClientGone;
            const stream = client.request(ask(40, true));
            await stream.next();
            await stream.next();
            await client.stop();
            await drain(stream).catch(() => undefined);
            await until('the partial delivery booked', () => stack.proxy.stats().requests.bookedClientGone === goneBefore + 1);
            const owed = unsigned() - unsignedBefore;
            expect(owed).toBeGreaterThan(0n);
            expect(owed).toBeLessThanOrEqual(WINDOW);
            expect(stack.proxy.stats().admission.peakExposure).toBeLessThanOrEqual(WINDOW);
        } finally {
            stack.backend.tokenDelayMs = 30;
        }
    });

    it('attack 20: the proxy crashes between booking a delivery and sending it; after the restart the client gets the receipt again and settles it', async () => {
        const client = await stack.sdkClient('money-crash', toNano('0.05'));
        await drain(client.request(ask(5)));
        const paidBefore = await stack.signedAndHeld(client);
        let crashedOn: string | undefined;
        stack.crashAt = (point, id) => {
            if (crashedOn) return false;
            crashedOn = id;
            return true;
        };
        await expect(drain(client.request(ask(8)))).rejects.toBeDefined(); // its response_end never left the proxy
        stack.crashAt = undefined;
        expect(crashedOn).toBeDefined();
        await stack.startProxy(); // same ledger, same ports: the booked delivery is there, unsettled
        const st = stack.proxy.stats().ledger;
        expect(st.delivered - st.vouchers).toBeGreaterThan(0n);
        await until('the client to reconnect and sign the re-sent receipt', async () => (await client.balances()).cumulative > paidBefore);
        const cumulative = await stack.signedAndHeld(client);
        const after = stack.proxy.stats().ledger;
        expect(after.delivered - after.vouchers).toBe(st.delivered - st.vouchers - (cumulative - paidBefore));
        // This channel's window is whole again: everything delivered to it is signed.
        expect((await client.balances()).proxyStatus).toMatchObject({ voucher: cumulative, delivered: cumulative, creditRemaining: WINDOW });
    });

    it('attack 9: a client that requests a withdrawal mid-stream is redeemed at once, refused beyond balance − pending, and paid for what it received', async () => {
        const client = await stack.sdkClient('money-withdraw', toNano('0.01'));
        for (let i = 0; i < 2; i++) await drain(client.request(ask(10)));
        const signed = await stack.signedAndHeld(client);
        const stream = client.request(ask(30, true));
        expect((await stream.next()).value).toMatchObject({ type: 'start' });
        // The attack: the whole balance, announced while a response streams.
        const chain = stack.net.newChain();
        const before = (await chain.getClientChannelState(client.channel))!;
        await chain.open(ClientChannelWrapper.open(client.channel)).sendRequestWithdraw(chain.wallet(keyPairFromSeed(seed('wallet/money-withdraw'))).sender(), before.balance);
        await until('the withdrawal on chain', async () => (await chain.getClientChannelState(client.channel))!.pendingWithdraw > 0n);
        expect(await stack.proxy.watchChannels()).toContain(client.channel.toRawString());
        const redeemedNow = (await chain.getClientChannelState(client.channel))!;
        expect(redeemedNow.redeemed).toBeGreaterThanOrEqual(signed); // every voucher signed so far, far below the 1 TON threshold
        expect(signed).toBeGreaterThan(0n);
        expect(chainNow()).toBeLessThan(Number(redeemedNow.withdrawAt) * 1000); // long before the delay ends
        // The streamed response finishes and its voucher is redeemed as soon as it arrives.
        await drain(stream);
        await client.vouchersSettled();
        const cumulative = (await client.balances()).cumulative;
        await until('the last voucher redeemed', async () => (await chain.getClientChannelState(client.channel))!.redeemed === cumulative);
        // Nothing more is served: balance − pending covers nothing.
        await expect(drain(client.request(ask(10)))).rejects.toMatchObject({ wireCode: 'INSUFFICIENT_DEPOSIT' });
        withdrawing = { client, kp: keyPairFromSeed(seed('wallet/money-withdraw')), paid: cumulative };
    });

    it('attack 9: a client that starts a close mid-stream is redeemed at once and refused from then on', async () => {
        const client = await stack.sdkClient('money-close', toNano('0.01'));
        await drain(client.request(ask(10)));
        await client.vouchersSettled();
        const stream = client.request(ask(30, true));
        expect((await stream.next()).value).toMatchObject({ type: 'start' });
        const chain = stack.net.newChain();
        await chain.open(ClientChannelWrapper.open(client.channel)).sendStartClose(chain.wallet(keyPairFromSeed(seed('wallet/money-close'))).sender());
        await until('the close on chain', async () => (await chain.getClientChannelState(client.channel))!.state === 1n);
        expect(await stack.proxy.watchChannels()).toContain(client.channel.toRawString());
        await drain(stream);
        await client.vouchersSettled();
        const cumulative = (await client.balances()).cumulative;
        await until('every voucher redeemed', async () => (await chain.getClientChannelState(client.channel))!.redeemed === cumulative);
        await expect(drain(client.request(ask(10)))).rejects.toMatchObject({ wireCode: 'INSUFFICIENT_DEPOSIT' });
        closing = { client, kp: keyPairFromSeed(seed('wallet/money-close')), paid: cumulative };
    });

    it('attack 9: after the delay the clients take the rest, and the proxy kept payment for everything it delivered', async () => {
        expect(withdrawing && closing).toBeTruthy();
        offset += Number(CLOSE_DELAY + 5n) * 1000;
        // The clients' own wallets, on a clock that agrees with the chain's.
        const later = new TonChain({ config: stack.net.chainConfig, clock: { now: chainNow, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) } });
        const w = withdrawing!;
        await later.open(ClientChannelWrapper.open(w.client.channel)).sendFinishWithdraw(later.wallet(w.kp).sender());
        const afterWithdraw = (await later.getClientChannelState(w.client.channel))!;
        expect(afterWithdraw.pendingWithdraw).toBe(0n);
        expect(afterWithdraw.redeemed).toBe(w.paid);
        const c = closing!;
        await later.open(ClientChannelWrapper.open(c.client.channel)).sendFinishClose(later.wallet(c.kp).sender());
        const afterClose = (await later.getClientChannelState(c.client.channel))!;
        expect(afterClose.state).toBe(2n);
        expect(afterClose.redeemed).toBe(c.paid);
        // The ledger: the proxy delivered nothing beyond what these clients signed and the channels paid.
        const st = stack.proxy.stats().ledger;
        expect(st.redeemed).toBe(w.paid + c.paid);
    });
});

describe('proxy money across a power loss (spec/ledger.md, "Power loss")', () => {
    let ps: MoneyStack;

    beforeAll(async () => {
        ps = await startMoneyStack({ label: 'money-power', params: { creditWindow: WINDOW, clientCloseDelay: CLOSE_DELAY } });
    });

    afterAll(async () => {
        await ps?.stop();
    });

    it('power loss: the proxy disk loses a booking and its voucher after the client got the response; after the unclean restart the re-sent voucher is accepted as recovered cost, redeemed once, and no worker is credited for it', async () => {
        const client = await ps.sdkClient('money-power', toNano('0.05'));
        await drain(client.request(ask(5)));
        const paidBefore = await ps.signedAndHeld(client);
        // What the disk holds when the power goes: the ledger as of now (its run marker says 'open').
        const ledgerPath = join(ps.dir, 'ledger.sqlite');
        const disk = join(ps.dir, 'power-loss.sqlite');
        copyFileSync(ledgerPath, disk);
        if (existsSync(`${ledgerPath}-wal`)) copyFileSync(`${ledgerPath}-wal`, `${disk}-wal`);
        const before = ps.proxy.stats().ledger;
        // Booked, response_end sent, voucher accepted and acknowledged: all of it after the last sync that reached the disk.
        await drain(client.request(ask(8)));
        const cumulative = await ps.signedAndHeld(client);
        const lost = cumulative - paidBefore;
        expect(lost).toBeGreaterThan(0n);
        await ps.proxy.stop();
        for (const sfx of ['', '-wal', '-shm']) rmSync(`${ledgerPath}${sfx}`, { force: true });
        copyFileSync(disk, ledgerPath);
        if (existsSync(`${disk}-wal`)) copyFileSync(`${disk}-wal`, `${ledgerPath}-wal`);
        await ps.startProxy();
        expect(ps.proxy.stats().ledger).toMatchObject({ delivered: before.delivered, vouchers: before.vouchers, earned: before.earned });
        // The client reconnects, sees the proxy hold less than it signed, and re-sends its voucher: accepted.
        await until('the re-sent voucher to be held', () => ps.proxy.stats().ledger.vouchers > before.vouchers);
        await client.vouchersSettled();
        const after = ps.proxy.stats().ledger;
        expect(after.delivered).toBe(before.delivered + lost);
        expect(after.vouchers).toBe(before.vouchers + lost);
        expect(after.earned).toBe(before.earned); // the worker's share of the lost booking is what the power loss cost
        // Its acknowledgement (after the flush) tells the client the channel's window is whole again.
        await until('the acknowledgement', async () => (await client.balances()).proxyStatus?.delivered === cumulative);
        expect((await client.balances()).proxyStatus).toMatchObject({ voucher: cumulative, delivered: cumulative, creditRemaining: WINDOW });
        expect((await client.balances()).lastVoucherError).toBeNull();
        // Paid once: the redeem takes exactly the cumulative voucher from the channel.
        const r = await ps.proxy.settle({ channel: client.channel.toRawString() });
        expect(r.errors).toEqual([]);
        const b = await client.balances();
        expect(b.onChain?.redeemed).toBe(cumulative);
        expect(b.owed).toBe(0n);
    });
});
