// Attacks 14, 15 and 16 of issue 8 against the proxy, performed over real sockets on the devnet: a real worker agent
// over the reference backend (its fault knob makes it go silent), raw-frame workers and clients (fake-worker.ts,
// fake-client.ts), bogus clients dialling from other loopback addresses. The proxy reads the chain through a throttled TonChain (20
// requests/s), as a proxy on a public API would, so hello checks cost what they cost in production. Assertions are
// on outcomes and on the proxy's counters (stats().limits), never on elapsed time.
import { Address, toNano } from '@ton/core';
import { randomBytes } from 'crypto';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import type { WebSocket } from 'ws';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { TonChain } from '../../../agents/core/chain/chain';
import { freePort } from '../../../agents/core/net';
import { connectRaTls, KeyIdentity, PeerVerifier, RaTlsConnection } from '../../../agents/core/transport';
import { encodeFrame, Frame, MAX_CHUNK_BYTES } from '../../../agents/core/wire';
import { ProxyAgent, ProxyUrls } from '../../../agents/proxy/agent';
import { ProxyLimits } from '../../../agents/proxy/guard';
import { WorkerAgent } from '../../../agents/worker/runner';
import { AgentNetwork, seed, startAgentNetwork } from '../../../fixtures/agent-network';
import { TestClient } from './fake-client';
import { FrameLog, proxyPolicy } from './frame-log';
import { TestWorker } from './fake-worker';

jest.setTimeout(120_000);

const LIMITS: Partial<ProxyLimits> = {
    maxBufferedBytes: 1024 * 1024,
    firstByteTimeoutMs: 5000,
    idleTimeoutMs: 2000,
    cancelGraceMs: 300,
    maxConnectionsPerAddress: 32,
    helloChecks: 16,
    helloChecksPerAddress: 4,
};

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
    }
}

const body = (stream: boolean) => ({ model: TEST_MODEL.id, stream, messages: [{ role: 'user', content: 'say something' }] });
const requestFrame = (id: string, maxCoefficient: bigint, stream = false): Frame => ({
    type: 'request',
    v: 1,
    id,
    model: TEST_MODEL.id,
    endpoint: 'chat',
    stream,
    maxTokens: 16,
    maxCoefficient,
    body: body(stream),
});
const newId = () => randomBytes(16).toString('hex');
const endOf = (log: FrameLog, id: string, from = 0) => log.next((f) => 'id' in f && f.id === id && (f.type === 'response_end' || f.type === 'response_error'), 15_000, from);

describe('attacks 14-16: memory, time and slots at the proxy', () => {
    let net: AgentNetwork;
    let chain: TonChain;
    let dir: string;
    let proxyAddress: Address;
    let proxy: ProxyAgent;
    let urls: ProxyUrls;
    let backend: ReferenceBackend;
    let worker: WorkerAgent;
    let c1: TestClient;
    const peers: { close(): void }[] = [];

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'proxy-dos-'));
        net = await startAgentNetwork({ params: { creditWindow: toNano('10') } });
        chain = net.newChain();
        const ports = { client: await freePort(), worker: await freePort() };
        const deployed = await net.deployProxy({ seed: seed('dos-proxy'), clientEndpoint: `wss://127.0.0.1:${ports.client}/`, workerEndpoint: `wss://127.0.0.1:${ports.worker}/` });
        proxyAddress = deployed.address;
        const { wallet } = await net.fundWallet('dos-proxy-ops', '20');
        proxy = new ProxyAgent({
            chain: new TonChain({ config: { ...net.chainConfig, rps: 20 } }),
            wallet,
            proxyAddress,
            seed: seed('dos-proxy'),
            tee: net.tee,
            quotePolicy: net.quotePolicy,
            ledgerPath: join(dir, 'ledger.sqlite'),
            clientPort: ports.client,
            workerPort: ports.worker,
            commitIntervalMs: 0,
            settleIntervalMs: 0,
            rootPollMs: 0,
            commitGuardMs: 0,
            limits: LIMITS,
        });
        urls = await proxy.start();
        backend = new ReferenceBackend();
        await backend.start();
        const { wallet: ww } = await net.fundWallet('dos-worker', '20');
        worker = new WorkerAgent({
            chain: net.newChain(),
            wallet: ww,
            seed: seed('dos-worker'),
            tee: net.tee,
            quotePolicy: net.quotePolicy,
            models: [{ name: TEST_MODEL.id, coefficient: 1000n }],
            backendUrl: backend.url,
            capacity: 8,
            payoutThreshold: toNano('1000'),
            statePath: join(dir, 'worker.json'),
            rootPollMs: 5000,
            reconnect: { baseMs: 50, maxMs: 500 },
        });
        await worker.start();
        await until('the worker agent to be routable', () => proxy.stats().workers.length === 1);
        c1 = await new TestClient(net, 'dos-c1').setup(proxyAddress, chain, { deposit: toNano('3') });
        await (await c1.connect(urls.clientUrl)).next((f) => f.type === 'payment_status');
        peers.push(c1);
    });

    afterAll(async () => {
        for (const p of peers) p.close();
        await worker?.stop();
        await proxy?.stop();
        await backend?.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const realWorker = () => proxy.stats().workers.find((w) => w.channel !== undefined && w.capacity === 8)!;

    it('attack 16: a real worker whose backend goes silent mid-stream holds no slot after the idle deadline; the client gets WORKER_TIMEOUT', async () => {
        const warm = await c1.request({ maxCoefficient: 1000n });
        expect(warm.end.type).toBe('response_end');
        const before = proxy.stats();

        backend.faults.stallAfterChunks = 3; // role, two tokens, then silence with the connection open
        const id = newId();
        const from = c1.log.frames.length;
        c1.send(requestFrame(id, 1000n, true));
        const end = await endOf(c1.log, id, from);
        const frames = c1.log.ofId(id);
        expect(frames[0].type).toBe('response_start');
        expect(frames.filter((f) => f.type === 'response_chunk').length).toBeGreaterThanOrEqual(1);
        expect(end).toMatchObject({ type: 'response_error', code: 'WORKER_TIMEOUT', retryable: false });

        // silent before the first byte: retryable (no other worker to fail over to here)
        backend.faults.stallAfterChunks = 0;
        const id2 = newId();
        const from2 = c1.log.frames.length;
        c1.send(requestFrame(id2, 1000n, true));
        expect(await endOf(c1.log, id2, from2)).toMatchObject({ type: 'response_error', code: 'WORKER_TIMEOUT', retryable: true });
        expect(c1.log.ofId(id2).map((f) => f.type)).toEqual(['response_error']);

        const after = proxy.stats();
        expect(after.limits.requestTimeouts - before.limits.requestTimeouts).toBe(2);
        expect(after.requests.inFlight).toBe(0);
        expect(realWorker().inFlight).toBe(0);
        expect(realWorker().success.failures - before.workers[0].success.failures).toBe(2);

        // the backend recovers: the same worker serves again (its agent ended the stalled requests on cancel)
        backend.faults = {};
        expect((await c1.request({ maxCoefficient: 1000n })).end.type).toBe('response_end');
    });

    it('attack 16: 256 requests cancelled on a worker that ignores cancels do not lock the client connection', async () => {
        const holder = await new TestWorker(net, 'dos-holder', 900n, 256).setup(proxyAddress, chain);
        peers.push(holder);
        holder.mode = 'hold';
        await (await holder.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        const before = proxy.stats();
        const ids = Array.from({ length: 256 }, newId);
        const from = c1.log.frames.length;
        for (const id of ids) c1.send(requestFrame(id, 900n)); // only the holder is within 900
        await until('the holder to receive 256 requests', () => holder.requests.length === 256);
        // the connection is full: one more is refused
        const extra = newId();
        c1.send(requestFrame(extra, 1000n));
        expect(await endOf(c1.log, extra, from)).toMatchObject({ code: 'RATE_LIMITED' });
        for (const id of ids) c1.send({ type: 'cancel', v: 1, id });
        const idSet = new Set(ids);
        const ended = () => c1.log.frames.slice(from).filter((f) => f.type === 'response_error' && idSet.has(f.id));
        await until('256 requests to end', () => ended().length === 256);
        expect(new Set(ended().map((f) => (f as { code: string }).code))).toEqual(new Set(['WORKER_TIMEOUT']));

        const after = proxy.stats();
        expect(after.requests.inFlight).toBe(0);
        expect(after.limits.requestTimeouts - before.limits.requestTimeouts).toBe(256);
        const h = after.workers.find((w) => w.capacity === 256)!;
        expect(h).toMatchObject({ inFlight: 0, success: { failures: 256 } });
        // the client connection serves again, and not through the worker that kept 256 slots
        const r = await c1.request({ maxCoefficient: 1000n });
        expect(r.end.type).toBe('response_end');
        expect(holder.requests.map((q) => q.id)).not.toContain(r.id);
        holder.close();
        await holder.log.waitClosed();
    });

    it('attack 14: a client that stops reading is dropped at maxBufferedBytes while a long stream flows; other clients are served', async () => {
        const flood = await new TestWorker(net, 'dos-flood', 800n, 1).setup(proxyAddress, chain);
        peers.push(flood);
        flood.mode = 'hold';
        await (await flood.connect(urls.workerUrl)).next((f) => f.type === 'hello_ok');
        const slow = await new TestClient(net, 'dos-slow').setup(proxyAddress, chain, { deposit: toNano('1') });
        peers.push({ close: () => slow.ws?.terminate() }); // it reads nothing: a close handshake would wait 30 s
        await (await slow.connect(urls.clientUrl)).next((f) => f.type === 'payment_status');
        const before = proxy.stats();

        // the worker streams until it is told to stop: 256 KiB chunks, up to 64 MiB
        let cancelled = false;
        let sent = 0;
        const piece = 'x'.repeat(MAX_CHUNK_BYTES - 64);
        flood.ws.on('message', async () => {
            const f = flood.log.frames[flood.log.frames.length - 1];
            if (f.type === 'cancel') {
                cancelled = true;
                flood.send({ type: 'response_error', v: 1, id: f.id, code: 'BACKEND_ABORTED', message: 'cancelled', retryable: false });
                return;
            }
            if (f.type !== 'request') return;
            flood.send({ type: 'response_start', v: 1, id: f.id, status: 200, headers: { 'content-type': 'text/event-stream' } });
            for (let seq = 0; seq < 256 && !cancelled && flood.ws.readyState === 1; seq++) {
                flood.ws.send(encodeFrame({ type: 'response_chunk', v: 1, id: f.id, seq, data: piece }, 'worker_to_proxy'));
                sent += piece.length;
                while (flood.ws.bufferedAmount > 4 * 1024 * 1024 && !cancelled) await new Promise((r) => setTimeout(r, 5));
            }
        });

        const id = newId();
        slow.send(requestFrame(id, 800n, true));
        (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading; the kernel buffers fill
        await flood.log.next((f) => f.type === 'request' && f.id === id);

        // another client is served meanwhile (the flood worker is at capacity, the real one takes it)
        expect((await c1.request({ maxCoefficient: 1000n })).end.type).toBe('response_end');

        // the proxy drops the slow reader and cancels its request at the worker
        await flood.log.next((f) => f.type === 'cancel' && f.id === id, 60_000);
        const after = proxy.stats();
        expect(after.limits.slowPeersDropped - before.limits.slowPeersDropped).toBe(1);
        expect(after.limits.peakBufferedBytes).toBeGreaterThan(0);
        expect(after.limits.peakBufferedBytes).toBeLessThanOrEqual(LIMITS.maxBufferedBytes!);
        // more was streamed than the bound (what the kernel buffers took, then the bound): the rest was never queued
        expect(sent).toBeGreaterThan(2 * LIMITS.maxBufferedBytes!);
        expect(after.connections.clients.ready).toBe(before.connections.clients.ready - 1);
        await until('the flood request to end', () => proxy.stats().requests.inFlight === 0);
        expect((await c1.request({ maxCoefficient: 1000n })).end.type).toBe('response_end');
        flood.close();
    });

    it('attack 15: 200 channel-less hellos from 8 addresses; a funded client is admitted after a bounded number of lookups and served', async () => {
        const funded = await new TestClient(net, 'dos-funded').setup(proxyAddress, chain, { deposit: toNano('1') });
        peers.push(funded);
        const identity = await KeyIdentity.create({ seed: seed('dos-bogus') });
        const verifier = new PeerVerifier(proxyPolicy(net));
        const dial = (localAddress: string) => connectRaTls(urls.clientUrl, identity, verifier, { localAddress });
        const hello = (c: RaTlsConnection, channel: string) =>
            c.ws.send(encodeFrame({ type: 'hello', v: 1, minV: 1, role: 'client', channel }, 'client_to_proxy'));
        const randomChannel = () => new Address(0, randomBytes(32)).toString();
        const open: WebSocket[] = [];
        const before = proxy.stats().limits;

        const bogus = await Promise.all(Array.from({ length: 200 }, (_, i) => dial(`127.0.0.${2 + (i % 8)}`)));
        for (const c of bogus) hello(c, randomChannel());
        const log = await funded.connect(urls.clientUrl);
        await log.next((f) => f.type === 'hello_ok', 60_000);
        const atAdmission = proxy.stats().limits;
        // without the gate all 200 lookups ran ahead of it (FIFO through the throttled chain API)
        expect(atAdmission.helloChecks - before.helloChecks).toBeLessThan(100);
        expect(atAdmission.helloChecksRunning).toBeLessThanOrEqual(LIMITS.helloChecks!);
        await log.next((f) => f.type === 'payment_status');
        funded.send(requestFrame('5e'.repeat(16), 1000n));
        expect(await endOf(log, '5e'.repeat(16))).toMatchObject({ type: 'response_end' });
        for (const c of bogus) c.ws.terminate(); // their queued checks are skipped

        // a hello repeated with the same (channel, key) is answered from the negative cache
        const channel = randomChannel();
        const refusals: unknown[] = [];
        for (let i = 0; i < 4; i++) {
            const c = await dial('127.0.0.20');
            const l = new FrameLog(c.ws, 'proxy_to_client');
            hello(c, channel);
            refusals.push(await l.next((f) => f.type === 'error', 60_000));
            await l.waitClosed();
        }
        expect(refusals).toEqual(refusals.map(() => expect.objectContaining({ code: 'CHANNEL_INVALID', fatal: true })));
        expect(proxy.stats().limits.helloCacheHits - before.helloCacheHits).toBe(3);

        // frames piled up behind a hello being checked are bounded in bytes
        const piler = await dial('127.0.0.21');
        const pl = new FrameLog(piler.ws, 'proxy_to_client');
        hello(piler, randomChannel());
        for (let i = 0; i < 3; i++) piler.ws.send('x'.repeat(3 * 1024 * 1024));
        expect(await pl.next((f) => f.type === 'error', 60_000)).toMatchObject({ code: 'RATE_LIMITED', fatal: true });

        // one source address holds at most maxConnectionsPerAddress connections; more are closed before TLS
        const attempts = await Promise.allSettled(Array.from({ length: 40 }, () => dial('127.0.0.30')));
        const held = attempts.filter((a) => a.status === 'fulfilled') as PromiseFulfilledResult<RaTlsConnection>[];
        for (const a of held) open.push(a.value.ws);
        expect(held.length).toBe(LIMITS.maxConnectionsPerAddress);
        expect(proxy.stats().limits.connectionsRefused - before.connectionsRefused).toBe(40 - LIMITS.maxConnectionsPerAddress!);

        for (const ws of open) ws.terminate();
        piler.ws.terminate();
        // checks of closed connections are skipped; the running ones finish their lookups
        await until('the hello gate to drain', () => proxy.stats().limits.helloChecksRunning + proxy.stats().limits.helloChecksWaiting === 0);
    });
});
