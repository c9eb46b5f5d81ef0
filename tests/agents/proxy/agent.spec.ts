// The proxy agent end to end over real sockets and the devnet chain: RA-TLS endpoints, hello checks against real
// channels, routing and failover, receipts booked before response_end, vouchers, the credit window, Root changes,
// settlement that moves real TON, state commits, restart and rollback refusal.
import { Address, toNano } from '@ton/core';
import { keyPairFromSeed, signVerify } from '@ton/crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { TonChain } from '../../../agents/core/chain/chain';
import { PeerVerifier } from '../../../agents/core/transport';
import { Frame, openChunkFrame, openStartFrame, ResponseEndFrame, sealRequestFrame, WorkerCandidatesFrame } from '../../../agents/core/wire';
import { cost } from '../../../agents/core/pricing';
import { Ledger } from '../../../agents/proxy/ledger';
import { requestBound } from '../../../agents/proxy/admission';
import { ProxyAgent, ProxyAgentOptions, ProxyUrls } from '../../../agents/proxy/agent';
import { ProxyAgentCodes, ProxyError, ProxyWireCodes } from '../../../agents/proxy/errors';
import { KeysError } from '../../../agents/core/keys/types';
import { readFileSync } from 'fs';
import { RootWrapper } from '../../../wrappers/Root';
import { WorkerChannelWrapper } from '../../../wrappers/WorkerChannel';
import { payoutPayload } from '../../../wrappers/payloads';
import { AgentNetwork, seed, startAgentNetwork } from '../../../fixtures/agent-network';
import { slashToZero } from '../../helpers/slash';
import { TestClient } from './fake-client';
import { TestWorker, WORKER_USAGE } from './fake-worker';
import { GLOBAL_ID } from '../../../fixtures/network';

// 0.01 TON. Admission holds each request's worst case (a full context and maxTokens 1000: 709 600 at 1.0x, twice that at
// the default cap 2.0x) against it; a delivery of WORKER_USAGE costs 400 000 at 1.0x.
const CREDIT_WINDOW = 10_000_000n;

describe('ProxyAgent over the devnet', () => {
    let net: AgentNetwork;
    let chain: TonChain;
    let dir: string;
    let ledgerPath: string;
    let proxyAddress: Address;
    let agent: ProxyAgent;
    let urls: ProxyUrls;
    let opts: ProxyAgentOptions;
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    let w1: TestWorker;
    let w2: TestWorker;
    let client: TestClient;
    const PROXY_SEED = seed('proxy-under-test');
    /** The proxy's clock of trust runs this far from the host's (as chain time may); 0 but in the clock test. */
    let trustOffsetMs = 0;
    const costAt = (c: bigint) => cost(WORKER_USAGE, net.model, c);

    beforeAll(async () => {
        // A 1 s challenge period lets the attack-3 test execute a slash on the wall-clock devnet.
        net = await startAgentNetwork({ params: { creditWindow: CREDIT_WINDOW, slashChallengePeriod: 1n } });
        chain = net.newChain();
        dir = mkdtempSync(join(tmpdir(), 'proxy-agent-'));
        ledgerPath = join(dir, 'ledger.sqlite');
        ({ address: proxyAddress } = await net.deployProxy({ seed: PROXY_SEED, clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: 'wss://127.0.0.1:2/' }));
        const { wallet } = await net.fundWallet('proxy-ops', '50');
        opts = {
            chain: net.newChain(),
            wallet,
            proxyAddress,
            seed: PROXY_SEED,
            tee: net.tee,
            quotePolicy: net.quotePolicy,
            ledgerPath,
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            rootPollMs: 100,
            commitGuardMs: 0,
            trustClock: { now: () => Date.now() + trustOffsetMs },
            log: (event, fields) => events.push({ event, fields }),
        };
        agent = new ProxyAgent(opts);
        urls = await agent.start();
        w1 = await new TestWorker(net, 'w1', 1000n).setup(proxyAddress, chain);
        w2 = await new TestWorker(net, 'w2', 1200n).setup(proxyAddress, chain);
        client = await new TestClient(net, 'c1').setup(proxyAddress, chain);
    });

    afterAll(async () => {
        for (const p of [w1, w2, client]) p?.close();
        await agent?.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const ledgerView = () => {
        // A second read-only look at the same file (WAL allows it) to assert what is durable.
        const l = Ledger.open(ledgerPath, { commissionBps: Number(net.params.commissionBps) });
        try {
            return { client: l.client(client.channel), w1: l.worker(w1.channel), w2: l.worker(w2.channel), hash: l.stateHash() };
        } finally {
            l.close();
        }
    };

    describe('hello', () => {
        it('admits channels that are ours: hello_ok, then payment_status / the latest payout', async () => {
            const log = await client.connect(urls.clientUrl);
            const ok = await log.next((f) => f.type === 'hello_ok');
            expect(ok).toMatchObject({ type: 'hello_ok', v: 1 });
            expect(Address.parse((ok as { proxy: string }).proxy).equals(proxyAddress)).toBe(true);
            const st = await log.next((f) => f.type === 'payment_status');
            expect(st).toMatchObject({ delivered: 0n, voucher: 0n, creditWindow: CREDIT_WINDOW, creditRemaining: CREDIT_WINDOW });
            for (const w of [w1, w2]) {
                const wl = await w.connect(urls.workerUrl);
                await wl.next((f) => f.type === 'hello_ok');
            }
            expect(agent.stats().workers.length).toBe(2);
        });

        it('refuses a client whose certificate key is not the channel key (CHANNEL_INVALID, fatal)', async () => {
            const impostor = await new TestClient(net, 'c-wrong-key').setup(proxyAddress, chain, { keyLabel: 'someone-else' });
            const log = await impostor.connect(urls.clientUrl);
            const err = await log.next((f) => f.type === 'error');
            expect(err).toMatchObject({ code: 'CHANNEL_INVALID', fatal: true });
            await log.waitClosed();
            expect(log.frames.some((f) => f.type === 'hello_ok')).toBe(false);
        });

        it('refuses a channel that is not a ClientChannel of this proxy, and a frame before hello', async () => {
            const c = new TestClient(net, 'c1'); // same keys as the admitted client
            Object.assign(c, { keys: client.keys, identity: client.identity, channel: client.channel, wallet: client.wallet });
            const log = await c.connect(urls.clientUrl, { channel: w1.channel.toString() });
            expect(await log.next((f) => f.type === 'error')).toMatchObject({ code: 'CHANNEL_INVALID', fatal: true });
            await log.waitClosed();

            const log2 = await c.connect(urls.clientUrl, { hello: false });
            c.send({ type: 'ping', v: 1, nonce: 'ab' });
            expect(await log2.next((f) => f.type === 'error')).toMatchObject({ code: 'HELLO_REQUIRED', fatal: true });
            await log2.waitClosed();
        });

        it('refuses a worker whose channel is not staked (CHANNEL_INVALID) and an unregistered model', async () => {
            const lazy = await new TestWorker(net, 'w-unstaked').setup(proxyAddress, chain, { stake: false });
            const log = await lazy.connect(urls.workerUrl);
            expect(await log.next((f) => f.type === 'error')).toMatchObject({ code: 'CHANNEL_INVALID', fatal: true });
            await log.waitClosed();
            const log2 = await w1.clone().connect(urls.workerUrl, { models: [{ name: 'no/such-model', coefficient: 1000n }] });
            expect(await log2.next((f) => f.type === 'error')).toMatchObject({ code: 'MODEL_NOT_REGISTERED', fatal: true });
            expect(agent.stats().workers.length).toBe(2);
        });

        it("attack 18: a worker presenting another worker's WorkerChannel is refused (CHANNEL_NOT_OWNED, fatal); that channel earns nothing for it", async () => {
            const intruder = await new TestWorker(net, 'w-intruder', 900n).setup(proxyAddress, chain, { stake: false });
            const before = ledgerView();
            const routedBefore = agent.stats().workers.map((w) => w.id);
            const refused = async (log: Promise<import('./frame-log').FrameLog>) => {
                const l = await log;
                expect(await l.next((f) => f.type === 'error')).toMatchObject({ code: 'CHANNEL_NOT_OWNED', fatal: true });
                await l.waitClosed();
                expect(l.frames.some((f) => f.type === 'hello_ok')).toBe(false);
            };
            const a = w1.channel.toString();
            // Its own wallet signs w1's channel: not the owner.
            await refused(intruder.connect(urls.workerUrl, { channel: a, auth: intruder.ownerAuth(w1.channel) }));
            // w1's genuine owner signature, replayed: it names w1's attested key, not the intruder's.
            await refused(intruder.connect(urls.workerUrl, { channel: a, auth: w1.ownerAuth() }));
            // No signature at all.
            await refused(intruder.connect(urls.workerUrl, { channel: a, auth: null }));
            // w1 itself with an expired signature.
            await refused(w1.clone().connect(urls.workerUrl, { auth: w1.ownerAuth(w1.channel, w1.wallet, Math.floor(Date.now() / 1000) - 1) }));
            expect(intruder.requests).toHaveLength(0);
            expect(agent.stats().workers.map((w) => w.id)).toEqual(routedBefore);
            expect(ledgerView().hash).toBe(before.hash);
        });

        it("the hello's owner signature expires by the proxy's clock of trust, not by the host's clock", async () => {
            const routedBefore = agent.stats().workers.map((w) => w.id);
            // Signed for the next 10 minutes of the host's clock, presented when chain time is 20 minutes on.
            trustOffsetMs = 20 * 60_000;
            try {
                const log = await w1.clone().connect(urls.workerUrl, { auth: w1.ownerAuth() });
                expect(await log.next((f) => f.type === 'error')).toMatchObject({ code: 'CHANNEL_NOT_OWNED', fatal: true, message: expect.stringMatching(/expired/) });
                await log.waitClosed();
                expect(log.frames.some((f) => f.type === 'hello_ok')).toBe(false);
            } finally {
                trustOffsetMs = 0;
            }
            expect(agent.stats().workers.map((w) => w.id)).toEqual(routedBefore);
        });
    });

    describe('routing', () => {
        it('routes a plain request to the best worker, books the receipt, then forwards response_end', async () => {
            const { id, end, frames } = await client.request();
            expect(frames.map((f) => f.type)).toEqual(['response_start', 'response_chunk', 'response_end']);
            // w1 is cheaper (1.0x vs 1.2x) and both are idle and unmeasured: the tie-break picks w1
            expect(w1.requests.map((r) => r.id)).toContain(id);
            const e = end as ResponseEndFrame;
            expect(e.cost).toBe(costAt(1000n));
            const l = ledgerView();
            expect(l.client.deliveredCost).toBe(costAt(1000n));
            expect(l.w1.earned).toBe((costAt(1000n) * (10_000n - net.params.commissionBps)) / 10_000n);
        });

        it('refuses a duplicate request id and a cap below every worker', async () => {
            const first = await client.request();
            const dup = await client.request({ id: first.id });
            expect(dup.end).toMatchObject({ type: 'response_error', code: 'DUPLICATE_REQUEST', retryable: false });
            const cheap = await client.request({ maxCoefficient: 999n });
            expect(cheap.end).toMatchObject({ type: 'response_error', code: 'NO_WORKER', retryable: true });
            await client.voucher(ledgerView().client.deliveredCost);
        });

        it('fails over to the next worker on a retryable error and on a worker lost before response_start', async () => {
            const before = agent.stats().requests;
            const workers = [w1, w2];
            // The router is deterministic: make whichever worker it would pick first misbehave.
            const first = () => workers.find((w) => w.channel.toRawString() === agent.router.pick(net.model.name, 2000n)!.channel)!;
            const bad1 = first();
            const good1 = workers.find((w) => w !== bad1)!;
            bad1.mode = 'retryable-error';
            const a = await client.request();
            expect(a.end.type).toBe('response_end');
            expect(bad1.requests.map((r) => r.id)).toContain(a.id);
            expect(good1.requests.map((r) => r.id)).toContain(a.id);
            bad1.mode = 'ok';
            const bad2 = first();
            const good2 = workers.find((w) => w !== bad2)!;
            bad2.mode = 'drop';
            const b = await client.request();
            expect(b.end.type).toBe('response_end');
            expect(bad2.requests.map((r) => r.id)).toContain(b.id);
            expect(good2.requests.map((r) => r.id)).toContain(b.id);
            expect(agent.stats().requests.failovers).toBe(before.failovers + 2);
            await bad2.log.waitClosed();
            bad2.mode = 'ok';
            await (await bad2.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
            await client.voucher(ledgerView().client.deliveredCost);
        });

        it('reports WORKER_LOST (not retryable) when the worker drops after response_start, and charges nothing', async () => {
            w1.mode = 'drop-after-start';
            const delivered = ledgerView().client.deliveredCost;
            const r = await client.request({ maxCoefficient: 1000n }); // only w1 is within the cap
            expect(r.frames.map((f) => f.type)).toEqual(['response_start', 'response_error']);
            expect(r.end).toMatchObject({ code: 'WORKER_LOST', retryable: false });
            expect(ledgerView().client.deliveredCost).toBe(delivered);
            await w1.log.waitClosed();
            w1.mode = 'ok';
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        });

        it('forwards cancel to the worker and its answer to the client; answers ping with pong', async () => {
            w1.mode = 'hold';
            const id = '12'.repeat(16);
            const from = client.log.frames.length;
            client.send({ type: 'request', v: 1, id, model: net.model.name, endpoint: 'chat', stream: true, maxTokens: 10, maxCoefficient: 1000n, body: { model: net.model.name, stream: true, messages: [{ role: 'user', content: 'x' }] } });
            await w1.log.next((f) => f.type === 'request' && f.id === id);
            client.send({ type: 'cancel', v: 1, id });
            await w1.log.next((f) => f.type === 'cancel' && f.id === id);
            w1.send({ type: 'response_error', v: 1, id, code: 'BACKEND_ABORTED', message: 'cancelled', retryable: false });
            expect(await client.log.next((f) => f.type === 'response_error' && f.id === id, 8000, from)).toMatchObject({ code: 'BACKEND_ABORTED', retryable: false });
            expect(agent.stats().requests.inFlight).toBe(0);
            client.send({ type: 'ping', v: 1, nonce: 'beef' });
            expect(await client.log.next((f) => f.type === 'pong', 8000, from)).toMatchObject({ nonce: 'beef' });
            w1.mode = 'ok';
        });

        it('refuses a bad receipt: RECEIPT_INVALID to the client, nothing booked, the worker disconnected', async () => {
            w1.mode = 'bad-receipt';
            const before = ledgerView();
            const r = await client.request({ maxCoefficient: 1000n });
            expect(r.end).toMatchObject({ type: 'response_error', code: 'RECEIPT_INVALID', retryable: false });
            expect(await w1.log.next((f) => f.type === 'error')).toMatchObject({ code: 'RECEIPT_INVALID', fatal: true });
            await w1.log.waitClosed();
            const after = ledgerView();
            expect(after.client.deliveredCost).toBe(before.client.deliveredCost);
            expect(after.w1.earned).toBe(before.w1.earned);
            expect(after.hash).toBe(before.hash);
            w1.mode = 'ok';
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        });

        it('attack 11: a worker that signs 3,000,000 completion tokens for maxTokens 1000, or 1000 tokens over a few bytes, is refused (RECEIPT_INVALID), nothing booked, disconnected', async () => {
            w1.mode = 'lying-usage';
            const before = ledgerView();
            const r = await client.request({ maxCoefficient: 1000n });
            expect(r.end).toMatchObject({ type: 'response_error', code: 'RECEIPT_INVALID', retryable: false });
            expect(r.frames.some((f) => f.type === 'response_end')).toBe(false);
            expect(await w1.log.next((f) => f.type === 'error' && f.code === 'RECEIPT_INVALID')).toMatchObject({ fatal: true, message: expect.stringContaining('RECEIPT_USAGE_BOUND') });
            await w1.log.waitClosed();
            const after = ledgerView();
            expect(after.client.deliveredCost).toBe(before.client.deliveredCost);
            expect(after.w1.earned).toBe(before.w1.earned);
            expect(after.hash).toBe(before.hash);
            // Within maxTokens, but 1000 tokens cannot fit in the ~60 bytes relayed.
            w1.mode = 'short-text';
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
            const r2 = await client.request({ maxCoefficient: 1000n });
            expect(r2.end).toMatchObject({ type: 'response_error', code: 'RECEIPT_INVALID', retryable: false });
            expect(await w1.log.next((f) => f.type === 'error' && f.code === 'RECEIPT_INVALID')).toMatchObject({ message: expect.stringContaining('bytes streamed') });
            await w1.log.waitClosed();
            expect(ledgerView().hash).toBe(before.hash);
            w1.mode = 'ok';
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        });

        it('routes a sealed request by key id; the client opens the worker’s sealed chunks', async () => {
            const qid = 'ab'.repeat(16);
            client.send({ type: 'get_worker_candidates', v: 1, id: qid, model: net.model.name, maxCoefficient: 2000n });
            const cands = await client.log.next<WorkerCandidatesFrame>((f) => f.type === 'worker_candidates' && f.id === qid);
            expect(cands.candidates.map((c) => c.keyId).sort()).toEqual([w1.hpke.keyId, w2.hpke.keyId].sort());
            const c2 = cands.candidates.find((c) => c.keyId === w2.hpke.keyId)!;
            expect(c2.coefficient).toBe(1200n);
            // the client's check of the candidate: attested, worker image allowed, HPKE key bound in the claims
            const peer = new PeerVerifier({ quote: net.quotePolicy, isImageAllowed: (h) => h === net.imageHashHex, requireHpkeKey: true }).verify(Buffer.from(c2.attestation, 'base64'));
            expect(peer.claims.hpkePublicKey!.toString('hex')).toBe(c2.hpkePublicKey);
            // Asked by a worker's attested key (a plain client holding its receipt): only that worker; a stranger: none.
            const byKey = async (q: string, workerKey: string) => {
                client.send({ type: 'get_worker_candidates', v: 1, id: q, model: net.model.name, maxCoefficient: 2000n, workerKey });
                return (await client.log.next<WorkerCandidatesFrame>((f) => f.type === 'worker_candidates' && f.id === q)).candidates.map((c) => c.keyId);
            };
            expect(await byKey('ac'.repeat(16), w2.keys.publicKey.toString('hex'))).toEqual([w2.hpke.keyId]);
            expect(await byKey('ad'.repeat(16), '07'.repeat(32))).toEqual([]);
            const id = 'cd'.repeat(16);
            const body = { model: net.model.name, messages: [{ role: 'user', content: 'secret' }] };
            const { frame, response } = await sealRequestFrame({ hpkePublicKey: Buffer.from(c2.hpkePublicKey, 'hex') }, { id, model: net.model.name, endpoint: 'chat', stream: false, maxTokens: 1000, maxCoefficient: 2000n }, body);
            const from = client.log.frames.length;
            client.send(frame);
            await client.log.next((f) => f.type === 'response_end' && f.id === id, 8000, from);
            const start = client.log.ofId(id).find((f) => f.type === 'response_start')!;
            const chunk = client.log.ofId(id).find((f) => f.type === 'response_chunk')!;
            expect(JSON.parse(openChunkFrame(openStartFrame(response, start as never), chunk as never))).toMatchObject({ worker: 'w2' });
            expect(w2.requests.find((r) => r.id === id)?.sealed?.keyId).toBe(w2.hpke.keyId);
            // sealed to a key nobody holds: NO_WORKER, retryable (the client re-seals to another candidate)
            const other = await sealRequestFrame({ hpkePublicKey: Buffer.alloc(32, 9) }, { id: 'ef'.repeat(16), model: net.model.name, endpoint: 'chat', stream: false, maxTokens: 50, maxCoefficient: 2000n }, body).catch(() => null);
            if (other) {
                client.send(other.frame);
                expect(await client.log.next((f) => f.type === 'response_error' && f.id === 'ef'.repeat(16))).toMatchObject({ code: 'NO_WORKER', retryable: true });
            }
            await client.voucher(ledgerView().client.deliveredCost);
        });
    });

    describe('vouchers and the credit window', () => {
        it('refuses a voucher with a bad signature (VOUCHER_INVALID) and one above delivered (VOUCHER_REFUSED); the ledger is unchanged', async () => {
            const before = ledgerView();
            const delivered = before.client.deliveredCost;
            const badSig = client.signVoucher(delivered + 1n); // signed for another amount
            const a = await client.voucher(delivered, badSig);
            expect(a.error).toMatchObject({ type: 'error', code: 'VOUCHER_INVALID', fatal: false });
            const b = await client.voucher(delivered + 1n);
            expect(b.error).toMatchObject({ code: 'VOUCHER_REFUSED', fatal: false });
            expect((b.error as { message: string }).message).toMatch(/LEDGER_VOUCHER_ABOVE_DELIVERED/);
            const after = ledgerView();
            expect(after.client.latestVoucher).toEqual(before.client.latestVoucher);
            expect(after.hash).toBe(before.hash);
            expect(b.status).toMatchObject({ voucher: before.client.latestVoucher!.amount, delivered });
        });

        it('refuses new requests once the unsigned cost reaches the credit window, serves again after a voucher', async () => {
            const served: string[] = [];
            let refused: Frame | undefined;
            const unsignedBefore = ledgerView().client.deliveredCost - (ledgerView().client.latestVoucher?.amount ?? 0n);
            const bound = requestBound({ maxTokens: 1000, contextLength: net.model.contextLength, prices: net.model, coefficient: 1000n });
            for (let i = 0; i < 40 && !refused; i++) {
                const r = await client.request({ maxCoefficient: 1000n });
                if (r.end.type === 'response_end') served.push(r.id);
                else refused = r.end;
            }
            expect(refused).toMatchObject({ code: 'CREDIT_WINDOW_EXCEEDED', retryable: false });
            // 400 000 per delivery: served while the unsigned cost plus the next request's bound fits in the window.
            expect(BigInt(served.length)).toBe((CREDIT_WINDOW - bound - unsignedBefore) / 400_000n + 1n);
            const { status } = await client.voucher(ledgerView().client.deliveredCost);
            expect(status).toMatchObject({ creditRemaining: CREDIT_WINDOW });
            expect((await client.request({ maxCoefficient: 1000n })).end.type).toBe('response_end');
            await client.voucher(ledgerView().client.deliveredCost);
        });
    });

    describe('settlement and commits', () => {
        it('redeems the voucher on the ClientChannel, funds the Proxy pool and signs a payout the worker claims', async () => {
            const l = ledgerView();
            const voucher = l.client.latestVoucher!.amount;
            expect(voucher).toBe(l.client.deliveredCost);
            const poolBefore = (await chain.getProxyState(proxyAddress))!.pool;
            const res = await agent.settle({ force: true });
            expect(res.errors).toEqual([]);
            expect(res.redeemed).toEqual([{ client: client.channel.toRawString(), voucher, redeemed: voucher, previous: 0n }]);
            expect((await chain.getClientChannelState(client.channel))!.redeemed).toBe(voucher);
            const fee = (voucher * net.params.commissionBps) / 10_000n;
            expect((await chain.getProxyState(proxyAddress))!.pool).toBe(poolBefore + voucher - fee);
            expect(ledgerView().client.redeemedOnChain).toBe(voucher);

            const p1 = res.payouts.find((p) => p.worker === w1.channel.toRawString())!;
            expect(p1.amount).toBe(l.w1.earned);
            const frame = await w1.log.next((f) => f.type === 'payout' && f.amount === p1.amount);
            const sig = Buffer.from((frame as { signature: string }).signature, 'hex');
            expect(signVerify(payoutPayload(w1.channel, p1.amount, GLOBAL_ID).hash(), sig, agent.publicKey)).toBe(true);
            // the worker claims it on chain
            const balanceBefore = await w1.wallet.getBalance();
            await chain.open(WorkerChannelWrapper.open(w1.channel)).sendClaim(w1.wallet.sender(), { amount: p1.amount, signature: sig });
            expect((await chain.getWorkerChannelState(w1.channel))!.paid).toBe(p1.amount);
            expect(await w1.wallet.getBalance()).toBeGreaterThan(balanceBefore + p1.amount - toNano('0.05'));
            // a reconnecting worker gets its latest payout again
            w1.close();
            await w1.log.waitClosed();
            const again = await w1.connect(urls.workerUrl);
            await again.next((f) => f.type === 'payout' && f.amount === p1.amount);
            // nothing left to settle
            expect(await agent.settle({ force: true })).toEqual({ redeemed: [], payouts: [], errors: [] });
        });

        it('commits the ledger state hash to the Proxy contract', async () => {
            const c = await agent.commitNow();
            const st = (await chain.getProxyState(proxyAddress))!;
            expect(st.commitSeqno).toBe(c.seqno);
            expect(st.commitHash).toBe(ledgerView().hash);
            expect(c.onChain).toBe(true);
            expect(agent.stats().lastCommit).toMatchObject({ seqno: c.seqno, onChain: true });
            expect(agent.stats().ledger.delivered).toBe(ledgerView().client.deliveredCost);
        });

        it('serves /stats and /healthz on 127.0.0.1 and 404s anything else', async () => {
            const s = (await (await fetch(`${urls.statsUrl}/stats`)).json()) as Record<string, any>;
            expect(s.status).toBe('serving');
            expect(s.connections.workers.ready).toBe(2);
            expect(s.workers[0]).toMatchObject({ capacity: 4, models: [{ name: net.model.name }] });
            expect(Number(s.requests.served)).toBeGreaterThanOrEqual(8);
            expect(s.ledger.delivered).toBe(ledgerView().client.deliveredCost.toString());
            expect(s.lastCommit.seqno).toBe('1');
            expect((await fetch(`${urls.statsUrl}/healthz`)).status).toBe(200);
            const nf = await fetch(`${urls.statsUrl}/nope`);
            expect(nf.status).toBe(404);
            expect(await nf.json()).toMatchObject({ code: 'NOT_FOUND' });
        });
    });

    describe('Root changes', () => {
        it("drops a worker whose image Root removes (IMAGE_NOT_ALLOWED, fatal); the model's requests then find NO_WORKER", async () => {
            const image = BigInt('0x' + net.imageHashHex);
            await net.govern(RootWrapper.removeImageBody('worker', image));
            try {
                for (const w of [w1, w2]) {
                    expect(await w.log.next((f) => f.type === 'error', 8000)).toMatchObject({ code: 'IMAGE_NOT_ALLOWED', fatal: true });
                    await w.log.waitClosed();
                }
                expect(agent.router.size).toBe(0);
                expect((await client.request()).end).toMatchObject({ code: 'NO_WORKER', retryable: true });
            } finally {
                await net.govern(RootWrapper.addImageBody('worker', image));
            }
            // wait until the proxy has seen the image again, then reconnect
            for (let i = 0; i < 100 && !opts.chain.cachedRootConfig?.workerImages.has(net.imageHashHex); i++) await new Promise((r) => setTimeout(r, 50));
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        });
    });

    describe('worker channel re-check', () => {
        it('attack 3: a worker whose channel is slashed to zero loses its connection and routing (CHANNEL_UNDERSTAKED), and cannot come back', async () => {
            const w3 = await new TestWorker(net, 'w-slashed', 800n).setup(proxyAddress, chain);
            await (await w3.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
            const listed = () => agent.stats().workers.some((w) => w.channel === w3.channel.toRawString());
            expect(listed()).toBe(true);
            // The proxy reports a fault for the whole stake; anyone executes the slash after the challenge period.
            await slashToZero(net, w3.channel, keyPairFromSeed(PROXY_SEED).secretKey);
            expect((await chain.getWorkerChannelState(w3.channel))?.stake).toBe(0n);
            await agent.checkWorkerChannels();
            expect(await w3.log.next((f) => f.type === 'error')).toMatchObject({ code: 'CHANNEL_UNDERSTAKED', fatal: true });
            await w3.log.waitClosed();
            expect(listed()).toBe(false);
            const qid = '5a'.repeat(16);
            const from = client.log.frames.length;
            client.send({ type: 'get_worker_candidates', v: 1, id: qid, model: net.model.name, maxCoefficient: 2000n });
            const cands = await client.log.next<WorkerCandidatesFrame>((f) => f.type === 'worker_candidates' && f.id === qid, 8000, from);
            expect(cands.candidates.map((c) => c.keyId)).not.toContain(w3.hpke.keyId);
            // Coming back without a top-up is refused at hello (below minStake, or no longer Active).
            const again = await w3.connect(urls.workerUrl);
            expect((await again.next((f) => f.type === 'error')) as unknown).toMatchObject({ code: expect.stringMatching(/^CHANNEL_(UNDERSTAKED|INVALID)$/), fatal: true });
            expect(w3.requests).toHaveLength(0);
        });
    });

    describe('sealed seed lease', () => {
        it('halts (PROXY_HALTED, seed-lease-lost) when the key service says another TD holds its seed; releases the lease at stop', async () => {
            client.close();
            w1.close();
            await agent.stop();
            const calls: string[] = [];
            // The key service's lease as its client returns it (agents/core/keys/client.ts): an external party here.
            const lease = {
                id: 'ab'.repeat(32),
                expiresAt: 0,
                renew: async () => {
                    calls.push('renew');
                    throw new KeysError('KEYS_LEASE_HELD', 'another TD holds the lease on this blob');
                },
                release: async () => void calls.push('release'),
            };
            agent = new ProxyAgent({ ...opts, chain: net.newChain(), seedLease: { lease, reopen: async () => lease, renewMs: 20 } });
            urls = await agent.start();
            for (let i = 0; i < 200 && agent.stats().status !== 'halted'; i++) await new Promise((r) => setTimeout(r, 10));
            expect(agent.stats().status).toBe('halted');
            expect(events.filter((e) => e.event === 'proxy.halted').pop()?.fields).toMatchObject({ code: 'PROXY_HALTED', message: expect.stringMatching(/another TD holds the sealed seed's lease/) });
            expect(events.some((e) => e.event === 'keys.lease-refused')).toBe(true);
            expect(calls).toEqual(['renew']); // renewals end once the lease is lost
            await agent.stop();
            expect(calls).toEqual(['renew', 'release']);
            // back to the agent the next tests use
            agent = new ProxyAgent({ ...opts, chain: net.newChain() });
            urls = await agent.start();
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
            await client.connect(urls.clientUrl);
        });

        it("keeps a sealed wallet's lease by the same rules: lost to another TD, halts (wallet-lease-lost); releases it at stop", async () => {
            client.close();
            w1.close();
            await agent.stop();
            const calls: string[] = [];
            const lease = {
                id: 'cd'.repeat(32),
                expiresAt: 0,
                renew: async () => {
                    calls.push('renew');
                    throw new KeysError('KEYS_LEASE_HELD', 'another TD holds the lease on this blob');
                },
                release: async () => void calls.push('release'),
            };
            agent = new ProxyAgent({ ...opts, chain: net.newChain(), walletLease: { lease, reopen: async () => lease, renewMs: 20 } });
            urls = await agent.start();
            for (let i = 0; i < 200 && agent.stats().status !== 'halted'; i++) await new Promise((r) => setTimeout(r, 10));
            expect(agent.stats().status).toBe('halted');
            expect(events.filter((e) => e.event === 'proxy.halted').pop()?.fields).toMatchObject({ code: 'PROXY_HALTED', message: expect.stringMatching(/another TD holds the sealed wallet's lease/) });
            expect(calls).toEqual(['renew']);
            await agent.stop();
            expect(calls).toEqual(['renew', 'release']);
            agent = new ProxyAgent({ ...opts, chain: net.newChain() });
            urls = await agent.start();
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
            await client.connect(urls.clientUrl);
        });
    });

    describe('restart and rollback', () => {
        it('resumes from the same ledger after a restart (no double count; old ids stay refused)', async () => {
            const r = await client.request();
            expect(r.end.type).toBe('response_end');
            const before = ledgerView();
            client.close();
            await agent.stop();
            agent = new ProxyAgent({ ...opts, chain: net.newChain() });
            urls = await agent.start();
            expect(ledgerView()).toEqual(before);
            await (await w1.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
            const log = await client.connect(urls.clientUrl);
            expect(await log.next((f) => f.type === 'payment_status')).toMatchObject({ delivered: before.client.deliveredCost, voucher: before.client.latestVoucher!.amount });
            expect((await client.request({ id: r.id })).end).toMatchObject({ code: 'DUPLICATE_REQUEST' });
            const again = await client.request();
            expect(again.end.type).toBe('response_end');
            expect(ledgerView().client.deliveredCost).toBe(before.client.deliveredCost + costAt(1000n));
        });

        it('refuses to start on a ledger restored from before the last on-chain commit (PROXY_ROLLBACK, nothing listens)', async () => {
            client.close();
            w1.close();
            await agent.stop();
            const backup = join(dir, 'backup.sqlite');
            copyFileSync(ledgerPath, backup); // stop() closed the ledger: the WAL is checkpointed into the file
            agent = new ProxyAgent({ ...opts, chain: net.newChain() });
            await agent.start();
            const c = await agent.commitNow();
            await agent.stop();
            copyFileSync(backup, ledgerPath);
            rmSync(`${ledgerPath}-wal`, { force: true });
            rmSync(`${ledgerPath}-shm`, { force: true });
            agent = new ProxyAgent({ ...opts, chain: net.newChain() });
            const err = await agent.start().catch((e) => e);
            expect(err).toBeInstanceOf(ProxyError);
            expect(err).toMatchObject({ code: 'PROXY_ROLLBACK', details: { reason: 'unknown-seqno' } });
            expect((await chain.getProxyState(proxyAddress))!.commitSeqno).toBe(c.seqno);
            expect(agent.stats()).toMatchObject({ status: 'stopped' });
        });
    });
});

describe('spec/proxy.md', () => {
    const spec = readFileSync(join(__dirname, '../../../spec/proxy.md'), 'utf8');
    it.each([...ProxyWireCodes, ...ProxyAgentCodes])('documents %s', (code) => {
        expect(spec).toContain(`\`${code}\``);
    });

    it('refuses bad options with CONFIG_INVALID naming the key', () => {
        expect(() => new ProxyAgent({ seed: Buffer.alloc(31) } as unknown as ProxyAgentOptions)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
});
