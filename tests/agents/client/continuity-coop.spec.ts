// Client continuity, cooperative withdrawal (spec/client.md and spec/wire.md, "Cooperative withdrawal"): the proxy
// redeems what it holds, co-signs CoopWithdraw, and the client's wallet is paid in one step, without the close delay.
// The attacks: asking more than is unowed, replaying a co-signature, and a client whose deliveries are unsigned.
// Real proxy, worker, reference backend, SDK clients and a raw-frame client on the devnet.
import { Address, toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { clientCommand } from '../../../agents/run';
import { WebSocket } from 'ws';
import { seed } from '../../../fixtures/agent-network';
import { ask, drain, MoneyStack, startMoneyStack, until } from '../../helpers/money-stack';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { TonChain } from '../../../agents/core/chain/chain';
import { connectRaTls, KeyIdentity, PeerVerifier } from '../../../agents/core/transport';
import { encodeFrame, Frame, parseFrame, PROTOCOL_VERSION } from '../../../agents/core/wire';
import { ClientError } from '../../../agents/client/errors';
import { ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { toUint256 } from '../../../wrappers/payloads';

jest.setTimeout(180_000);

const CLOSE_DELAY = 3600n; // an hour: the delayed path would make these tests wait

type In = ReturnType<typeof parseFrame<'proxy_to_client'>>;

describe('client continuity: cooperative withdrawal', () => {
    let stack: MoneyStack;
    let chain: TonChain;

    beforeAll(async () => {
        stack = await startMoneyStack({ label: 'coop', params: { clientCloseDelay: CLOSE_DELAY } });
        chain = stack.net.newChain();
    });

    afterAll(async () => {
        await stack?.stop();
    });

    const state = async (a: Address) => (await chain.getClientChannelState(a))!;

    /** A bare client speaking frames (it never signs a voucher), with its own channel (`deposit` added, 0: none). */
    async function rawClient(label: string, deposit: bigint) {
        const s = seed(label);
        const { wallet } = await stack.net.fundWallet(label, '10');
        const cfg = await chain.getRootConfig();
        const info = cfg.proxies.get(stack.proxyAddress.toRawString())!;
        const ch = await ClientChannelWrapper.create({ proxy: stack.proxyAddress, client: wallet.address, clientKey: toUint256(keyPairFromSeed(s).publicKey), proxyKey: info.enclaveKey, closeDelay: cfg.params.clientCloseDelay, code: cfg.childCode.clientCode });
        if (deposit > 0n) {
            await chain.open(ch).sendTopUp(wallet.sender(), deposit);
            await until('the deposit', async () => (await chain.getClientChannelState(ch.address))?.balance === deposit);
        }
        const conn = await connectRaTls(info.clientEndpoint, await KeyIdentity.create({ seed: s }), new PeerVerifier({ quote: stack.net.quotePolicy, isImageAllowed: (h) => cfg.proxyImages.has(h) }));
        const inbox: In[] = [];
        conn.ws.on('message', (m) => inbox.push(parseFrame(m.toString(), 'proxy_to_client')));
        const send = (f: Frame) => conn.ws.send(encodeFrame(f, 'client_to_proxy'));
        send({ type: 'hello', v: PROTOCOL_VERSION, minV: PROTOCOL_VERSION, role: 'client', channel: ch.address.toString() });
        await until('payment_status', () => inbox.some((f) => f.type === 'payment_status'));
        /** Sends one request and waits for its end; returns the frame. */
        const request = async () => {
            const id = randomBytes(16).toString('hex');
            send({ type: 'request', v: PROTOCOL_VERSION, id, model: TEST_MODEL.id, endpoint: 'chat', stream: false, maxTokens: 20, maxCoefficient: 1000n, body: { model: TEST_MODEL.id, messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 } });
            await until('the answer', () => inbox.some((f) => (f.type === 'response_end' || f.type === 'response_error') && f.id === id));
            return inbox.find((f) => (f.type === 'response_end' || f.type === 'response_error') && f.id === id)!;
        };
        /** Asks for a co-signature; returns the answer (coop_withdraw_signed or error). */
        const coop = async (req: { amount?: bigint; close: boolean }) => {
            const id = randomBytes(16).toString('hex');
            send({ type: 'coop_withdraw', v: PROTOCOL_VERSION, id, close: req.close, ...(req.amount !== undefined ? { amount: req.amount } : {}) });
            await until('the co-signature answer', () => inbox.some((f) => (f.type === 'coop_withdraw_signed' || f.type === 'error') && 'id' in f && f.id === id));
            return inbox.find((f) => (f.type === 'coop_withdraw_signed' || f.type === 'error') && 'id' in f && f.id === id)!;
        };
        const sendCoop = (f: { amount: bigint; seqno: bigint; close: boolean; signature: string }) =>
            chain.open(ClientChannelWrapper.open(ch.address)).sendCoopWithdraw(wallet.sender(), { amount: f.amount, seqno: f.seqno, close: f.close, signature: Buffer.from(f.signature, 'hex') });
        return { ws: conn.ws as WebSocket, wallet, channel: ch.address, inbox, send, request, coop, sendCoop };
    }

    it('a cooperative withdrawal lands in one step: the proxy co-signs what is unowed, the wallet is paid at once, no redeem is forced', async () => {
        const c = await stack.sdkClient('coop-sdk', toNano('1'));
        for (let i = 0; i < 3; i++) await drain(c.request(ask(20)));
        const cumulative = await stack.signedAndHeld(c);
        expect(cumulative).toBeGreaterThan(0n);
        const before = await state(c.channel);
        expect(before.redeemed).toBe(0n); // the proxy's redeem threshold is far away: nothing redeemed yet
        const walletBefore = await stack.net.newChain().wallet(keyPairFromSeed(seed('wallet/coop-sdk'))).getBalance();
        const r = await c.coopWithdraw({ amount: toNano('0.4') });
        expect(r).toMatchObject({ amount: toNano('0.4'), close: false, seqno: 0n });
        const after = await state(c.channel);
        // Attack (greedy client): a co-signature does not make the proxy pay for a Redeem; what is owed stays in the
        // channel, and the proxy redeems it later in one transaction.
        expect(after.redeemed).toBe(0n);
        expect(after.balance).toBe(before.balance - toNano('0.4'));
        expect(after.balance).toBeGreaterThanOrEqual(cumulative);
        expect(after.withdrawSeqno).toBe(1n);
        expect(after.pendingWithdraw).toBe(0n);
        const walletAfter = await stack.net.newChain().wallet(keyPairFromSeed(seed('wallet/coop-sdk'))).getBalance();
        expect(walletAfter - walletBefore).toBeGreaterThan(toNano('0.4') - toNano('0.05')); // minus the gas of one message
        // The channel keeps serving, against the lower balance.
        await drain(c.request(ask(20)));
        // More than is withdrawable is refused before any frame leaves (the proxy would refuse it too).
        await expect(c.coopWithdraw({ amount: after.balance + 1n })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    });

    it('attack: a client asking more than is unowed gets COOP_WITHDRAW_TOO_LARGE and nothing is signed; the proxy never signs away its unsigned deliveries', async () => {
        const deposit = toNano('0.5');
        const c = await rawClient('coop-raw-greedy', deposit);
        let delivered = 0n;
        for (let i = 0; i < 3; i++) {
            const f = await c.request();
            expect(f.type).toBe('response_end');
            delivered += (f as { cost: bigint }).cost;
        }
        expect(delivered).toBeGreaterThan(0n);
        // Nothing signed: the whole balance, and one nanoTON past balance − delivered, are refused.
        for (const amount of [deposit, deposit - delivered + 1n]) {
            const a = await c.coop({ amount, close: false });
            expect(a).toMatchObject({ type: 'error', code: 'COOP_WITHDRAW_TOO_LARGE', fatal: false });
        }
        expect(await c.coop({ close: true })).toMatchObject({ type: 'error', code: 'COOP_WITHDRAW_TOO_LARGE' });
        expect(c.inbox.some((f) => f.type === 'coop_withdraw_signed')).toBe(false);
        expect((await state(c.channel)).withdrawSeqno).toBe(0n);
        // Exactly what is unowed is signed; once signed (and unused), the proxy keeps it aside: no more service on it.
        const ok = await c.coop({ amount: deposit - delivered, close: false });
        expect(ok).toMatchObject({ type: 'coop_withdraw_signed', amount: deposit - delivered, seqno: 0n, close: false });
        expect(await c.request()).toMatchObject({ type: 'response_error', code: 'INSUFFICIENT_DEPOSIT' });
        // A restarted proxy still keeps it aside (the co-signature is in its ledger).
        c.ws.close();
        await stack.proxy.stop();
        await stack.startProxy();
        await until('the worker back on the proxy', () => stack.proxy.stats().workers.length === 1);
        const again = await rawClient('coop-raw-greedy', 0n);
        expect(await again.request()).toMatchObject({ type: 'response_error', code: 'INSUFFICIENT_DEPOSIT' });
        again.ws.close();
    });

    it('attack: a replayed co-signature cannot be used twice (the contract checks withdrawSeqno)', async () => {
        const c = await rawClient('coop-raw-replay', toNano('0.5'));
        const signed = await c.coop({ amount: toNano('0.1'), close: false });
        expect(signed.type).toBe('coop_withdraw_signed');
        const f = signed as { amount: bigint; seqno: bigint; close: boolean; signature: string };
        await c.sendCoop(f);
        await until('the withdrawal', async () => (await state(c.channel)).withdrawSeqno === 1n);
        const once = await state(c.channel);
        expect(once.balance).toBe(toNano('0.4'));
        await c.sendCoop(f); // the same signed payload again
        await new Promise((r) => setTimeout(r, 500));
        const twice = await state(c.channel);
        expect(twice.balance).toBe(once.balance);
        expect(twice.withdrawSeqno).toBe(1n);
        // The next co-signature is for the next seqno, and admission no longer keeps the used one aside.
        expect(await c.coop({ amount: toNano('0.1'), close: false })).toMatchObject({ type: 'coop_withdraw_signed', seqno: 1n });
        c.ws.close();
    });

    it('attack: 10 coop_withdraw frames at once get one co-signature; the rest COOP_WITHDRAW_UNAVAILABLE, and the channel pays once', async () => {
        const c = await rawClient('coop-raw-flood', toNano('0.5'));
        const ids = Array.from({ length: 10 }, () => randomBytes(16).toString('hex'));
        for (const id of ids) c.send({ type: 'coop_withdraw', v: PROTOCOL_VERSION, id, amount: toNano('0.3'), close: false });
        const answers = () => c.inbox.filter((f) => (f.type === 'coop_withdraw_signed' || f.type === 'error') && 'id' in f && ids.includes(f.id!));
        await until('10 answers', () => answers().length === 10);
        const signed = answers().filter((f) => f.type === 'coop_withdraw_signed') as { amount: bigint; seqno: bigint; close: boolean; signature: string }[];
        expect(signed).toHaveLength(1);
        for (const f of answers()) if (f.type === 'error') expect(f).toMatchObject({ code: 'COOP_WITHDRAW_UNAVAILABLE', fatal: false });
        // Asking again for another amount while the first is unused is refused too: two usable signatures never exist.
        expect(await c.coop({ amount: toNano('0.2'), close: false })).toMatchObject({ type: 'error', code: 'COOP_WITHDRAW_UNAVAILABLE' });
        await c.sendCoop(signed[0]);
        await until('the withdrawal', async () => (await state(c.channel)).withdrawSeqno === 1n);
        expect((await state(c.channel)).balance).toBe(toNano('0.2'));
        c.ws.close();
    });

    it('a cooperative close pays the whole balance and closes the channel in one step, after everything delivered was signed and redeemed', async () => {
        const c = await stack.sdkClient('coop-sdk-close', toNano('1'));
        await drain(c.request(ask(20)));
        // No wait for the proxy to hold the voucher: the proxy books the voucher sent just before the request first.
        const r = await c.coopWithdraw({ close: true });
        const cumulative = (await c.balances()).cumulative;
        expect(cumulative).toBeGreaterThan(0n);
        expect(r.close).toBe(true);
        expect(r.amount).toBe(toNano('1') - cumulative);
        const after = await state(c.channel);
        expect(after.state).toBe(2n);
        expect(after.redeemed).toBe(cumulative);
        expect(after.balance).toBe(0n);
    });

    it('an unreachable proxy: coopWithdraw is a typed ClientError and nothing leaves the wallet', async () => {
        const c = await stack.sdkClient('coop-sdk-refused', toNano('0.2'));
        await stack.proxy.stop();
        try {
            const before = await state(c.channel);
            const e = await c.coopWithdraw({ amount: toNano('0.1') }).catch((x: unknown) => x);
            expect(e).toBeInstanceOf(ClientError);
            expect(['PROXY_UNREACHABLE', 'PROXY_REFUSED']).toContain((e as ClientError).code);
            const after = await state(c.channel);
            expect([after.balance, after.withdrawSeqno, after.state]).toEqual([before.balance, before.withdrawSeqno, before.state]);
        } finally {
            await stack.startProxy();
            await until('the worker back on the proxy', () => stack.proxy.stats().workers.length === 1);
        }
    });

    /** A client config file for `label`'s SDK channel on this stack (its state file, seed and wallet). */
    async function cliConfig(label: string): Promise<string> {
        const dir = join(stack.dir, `${label}-cli`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'tee.json'), JSON.stringify(stack.net.tee.toState()));
        writeFileSync(join(dir, 'client.seed'), seed(label).toString('hex'));
        const { secretKey } = await stack.net.fundWallet(label, '1');
        writeFileSync(join(dir, 'client.wallet'), secretKey.toString('hex'));
        const chainSection = { endpoint: stack.net.devnet.url, rootAddress: stack.net.root.toString(), rps: 10_000, maxRetries: 2, cacheTtlMs: 0, sendPollMs: 20, sendTimeoutMs: 30_000 };
        const file = join(dir, 'client.json');
        writeFileSync(file, JSON.stringify({ chain: chainSection, seedFile: 'client.seed', wallet: { secretKeyFile: 'client.wallet' }, trust: { simulatedTeeFile: 'tee.json' }, client: { proxy: stack.proxyAddress.toString(), stateFile: `../${label}.json`, privacy: 'plain' } }));
        return file;
    }

    const run = async (argv: string[]) => {
        const out = { stdout: '', stderr: '' };
        const code = await clientCommand(argv, { stdout: (t) => void (out.stdout += t), stderr: (t) => void (out.stderr += t) });
        return { code, ...out };
    };

    it('cocoon client withdraw --coop is paid in one step; with the proxy down it falls back to the delayed withdrawal and says so', async () => {
        const c = await stack.sdkClient('coop-cli', toNano('1'));
        await drain(c.request(ask(20)));
        const cumulative = await stack.signedAndHeld(c);
        const channel = c.channel;
        await c.stop();
        const config = await cliConfig('coop-cli');
        const ok = await run(['withdraw', '--amount', '0.3', '--coop', '--config', config]);
        expect([ok.code, ok.stderr]).toEqual([0, expect.stringContaining('withdrew 0.3 TON at once')]);
        const once = await state(channel);
        expect([once.withdrawSeqno, once.balance, once.redeemed]).toEqual([1n, toNano('1') - toNano('0.3'), 0n]);
        expect(once.balance).toBeGreaterThanOrEqual(cumulative); // what is owed stays for the proxy's redeem
        await stack.proxy.stop();
        try {
            const fb = await run(['withdraw', '--amount', '0.1', '--coop', '--config', config]);
            expect(fb.code).toBe(0);
            expect(fb.stderr).toContain('falling back to the delayed withdrawal');
            const after = await state(channel);
            expect([after.withdrawSeqno, after.pendingWithdraw]).toEqual([1n, toNano('0.1')]);
            expect(Number(after.withdrawAt)).toBeGreaterThan(Math.floor(Date.now() / 1000) + 3000); // the close delay
        } finally {
            await stack.startProxy();
        }
    });
});
