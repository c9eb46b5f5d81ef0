// The worker agent end to end over real sockets: the devnet chain server (Root, Proxy contracts, WorkerChannels,
// wallets over toncenter HTTP), the reference OpenAI-compatible backend, and a raw-frame proxy (an RaTlsServer
// registered in Root) that drives the worker frame by frame.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { randomBytes } from 'crypto';
import { Address, toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { AgentNetwork, seed, startAgentNetwork } from '../../../fixtures/agent-network';
import { slashToZero } from '../../helpers/slash';
import { ReferenceBackend } from '../../../agents/backend';
import { ChainWallet, TonChain } from '../../../agents/core/chain';
import { generateHpkeKeyPair, ReplayCache } from '../../../agents/core/hpke';
import { cost } from '../../../agents/core/pricing';
import { workerHelloRefusal } from '../../../agents/core/worker-hello';
import { encodeWorkerConfig, PeerVerifier } from '../../../agents/core/transport';
import { hashModelDir } from '../../../agents/core/model-hash';
import { levelOf } from '../../../agents/core/log';
import { verifyReceipt } from '../../../agents/core/receipt';
import { AttestationError } from '../../../agents/core/tee/types';
import { Frame, openChunkFrame, openStartFrame, RequestFrame, ResponseChunkFrame, ResponseStartFrame, sealRequestFrame } from '../../../agents/core/wire';
import {
    PayoutErrorCodes,
    splitUtf8,
    WorkerAgent,
    WorkerAgentOptions,
    WorkerConfigError,
    WorkerConfigErrorCodes,
    WorkerLinkErrorCodes,
} from '../../../agents/worker';
import { ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { RootWrapper } from '../../../wrappers/Root';
import { WorkerChannelWrapper } from '../../../wrappers/WorkerChannel';
import { modelId, toUint256 } from '../../../wrappers/payloads';
import { FakeConn, FakeProxy } from './fake-proxy';
import { GLOBAL_ID } from '../../../fixtures/network';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { KeysError } from '../../../agents/core/keys/types';

const COEFFICIENT = 1200n;
const THRESHOLD = toNano('0.05');

const newId = () => randomBytes(16).toString('hex');
const of = <T extends Frame['type']>(frames: Frame[], type: T) => frames.filter((f) => f.type === type) as Extract<Frame, { type: T }>[];
/** A stream's SSE events: each chunk frame carries the events of one batch joined by '\n' (spec/wire.md, "Coalesced chunks"). */
const eventsOf = (frames: Frame[]): string[] => of(frames, 'response_chunk').flatMap((c) => c.data!.split('\n'));
const last = (frames: Frame[]) => frames[frames.length - 1];

async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await probe();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
    }
}

describe('worker helpers', () => {
    it('splitUtf8 cuts at most maxBytes of UTF-8 per piece without splitting a character', () => {
        const text = 'aé€😀'.repeat(1000); // 1 + 2 + 3 + 4 bytes (the emoji is a surrogate pair)
        const pieces = splitUtf8(text, 1001);
        expect(pieces.join('')).toBe(text);
        for (const p of pieces) {
            expect(Buffer.byteLength(p, 'utf8')).toBeLessThanOrEqual(1001);
            expect(Buffer.from(p, 'utf8').toString('utf8')).toBe(p); // no lone surrogate
        }
        expect(pieces.length).toBeGreaterThanOrEqual(10); // 10 000 bytes in pieces of at most 1001
        expect(splitUtf8('')).toEqual(['']);
    });

    it('spec/worker.md documents every worker error code', () => {
        const spec = readFileSync(join(__dirname, '../../../spec/worker.md'), 'utf8');
        for (const code of [...WorkerConfigErrorCodes, ...WorkerLinkErrorCodes, ...PayoutErrorCodes]) expect(spec).toContain(`\`${code}\``);
    });
});

describe('WorkerAgent', () => {
    let net: AgentNetwork;
    let chain: TonChain;
    let backend: ReferenceBackend;
    let backendPort: number;
    let proxy: FakeProxy;
    let wallet: ChainWallet;
    let agent: WorkerAgent;
    let conn: FakeConn;
    let channel: Address;
    let statePath: string;
    let dir: string;
    const logs: { event: string; [k: string]: unknown }[] = [];
    const workerKey = keyPairFromSeed(seed('worker')).publicKey;
    /** The main agent's clock of trust: the wall clock while the chain answers, CHAIN_TIME_UNAVAILABLE while it does not. */
    let chainDown = false;
    const trustClock = {
        now: () => {
            if (chainDown) throw new AttestationError('CHAIN_TIME_UNAVAILABLE', 'the chain has not answered (test)');
            return Date.now();
        },
    };
    const others: { close(): Promise<void> }[] = [];

    const options = (over: Partial<WorkerAgentOptions> = {}): WorkerAgentOptions => ({
        chain: net.newChain(),
        wallet,
        seed: seed('worker'),
        tee: net.tee,
        quotePolicy: net.quotePolicy,
        models: [{ name: net.model.name, coefficient: COEFFICIENT }],
        backendUrl: backend.url,
        capacity: 2,
        statePath,
        payoutThreshold: THRESHOLD,
        reconnect: { baseMs: 50, maxMs: 300 },
        rootPollMs: 150,
        keepaliveMs: 0,
        log: (event, fields) => void logs.push({ event, ...fields }),
        ...over,
    });

    const chat = (over: Partial<RequestFrame> = {}, body: Record<string, unknown> = {}): RequestFrame => {
        const stream = over.stream ?? true;
        return {
            type: 'request',
            v: 1,
            id: newId(),
            model: net.model.name,
            endpoint: 'chat',
            stream,
            maxTokens: 64,
            maxCoefficient: 2000n,
            body: { model: net.model.name, messages: [{ role: 'user', content: 'hello brave new world' }], stream, max_tokens: 8, ...body },
            ...over,
        };
    };

    /** Checks response_end's receipt: signed by the worker's key, for this request, with the cost pricing gives. */
    const checkEnd = (frames: Frame[], id: string) => {
        const end = last(frames);
        expect(end.type).toBe('response_end');
        if (end.type !== 'response_end') throw new Error('no response_end');
        const expected = cost(end.usage, net.model, COEFFICIENT);
        expect(end.cost).toBe(expected);
        const r = verifyReceipt(end.receipt, {
            workerPublicKey: workerKey,
            prices: net.model,
            maxCoefficient: 2000n,
            requestId: BigInt('0x' + id),
            modelId: modelId(net.model.name),
            usage: end.usage,
        });
        expect(r.cost).toBe(expected);
        expect(r.coefficient).toBe(COEFFICIENT);
        return end;
    };

    beforeAll(async () => {
        net = await startAgentNetwork({ params: { slashChallengePeriod: 1n } }); // the attack-3 test executes a slash
        chain = net.newChain();
        backend = new ReferenceBackend();
        await backend.start();
        backendPort = Number(new URL(backend.url).port);
        proxy = await FakeProxy.start({ tee: net.tee, quotePolicy: net.quotePolicy, seed: seed('proxy-a') });
        proxy.address = (await net.deployProxy({ seed: seed('proxy-a'), clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: proxy.url })).address;
        ({ wallet } = await net.fundWallet('worker'));
        dir = mkdtempSync(join(tmpdir(), 'worker-agent-'));
        statePath = join(dir, 'worker-state.json');
        agent = new WorkerAgent(options({ trustClock }));
        await agent.start();
        await agent.waitReady();
        conn = await proxy.nextConnection();
        await conn.whenHello();
        channel = agent.channelOf(proxy.address)!;
    });

    afterAll(async () => {
        await agent?.stop();
        for (const o of others) await o.close();
        await proxy?.close();
        await backend?.stop();
        await net?.stop();
    });

    describe('config', () => {
        it.each([
            ['capacity 0', { capacity: 0 }, 'capacity'],
            ['capacity above 100000', { capacity: 100_001 }, 'capacity'],
            ['a coefficient of 2^32', { models: [{ name: TEST_MODEL.id, coefficient: 1n << 32n }] }, 'models[0].coefficient'],
            ['an ftp backend', { backendUrl: 'ftp://127.0.0.1/' }, 'backendUrl'],
            ['an http+unix backend without an absolute socket path', { backendUrl: 'http+unix://run.sock' }, 'backendUrl'],
            ['a 16-byte seed', { seed: Buffer.alloc(16) }, 'seed'],
            ['maxMs below baseMs', { reconnect: { baseMs: 100, maxMs: 10 } }, 'reconnect.maxMs'],
        ] as [string, Partial<WorkerAgentOptions>, string][])('refuses %s, naming the key', async (_what, over, key) => {
            const w = new WorkerAgent(options(over));
            const e = await w.start().then(() => null, (x: unknown) => x);
            expect(e).toBeInstanceOf(WorkerConfigError);
            expect((e as WorkerConfigError).code).toBe('CONFIG_INVALID');
            expect((e as WorkerConfigError).key).toBe(key);
        });

        it('refuses a model Root does not list, and a corrupt state file', async () => {
            const w = new WorkerAgent(options({ models: [{ name: 'nobody/none', coefficient: 1000n }] }));
            await expect(w.start()).rejects.toMatchObject({ code: 'WORKER_MODEL_NOT_REGISTERED' });
            const bad = join(dir, 'corrupt.json');
            writeFileSync(bad, '{"format": "cocoon-worker-state/1", "payouts": {"x": 1}}');
            await expect(new WorkerAgent(options({ statePath: bad })).start()).rejects.toMatchObject({ code: 'WORKER_STATE_INVALID' });
        });

        it("refuses to start when a model's weights do not hash to what Root registers", async () => {
            const weights = join(dir, 'weights');
            mkdirSync(weights, { recursive: true });
            writeFileSync(join(weights, 'model.safetensors'), 'not the registered weights');
            const w = new WorkerAgent(options({ models: [{ name: net.model.name, coefficient: COEFFICIENT, weightsDir: weights }] }));
            await expect(w.start()).rejects.toMatchObject({ code: 'WORKER_WEIGHTS_MISMATCH', details: { model: net.model.name, expected: '0'.repeat(64) } });
        });
    });

    describe('attested configuration (spec/attestation.md, "Measured worker configuration")', () => {
        it('its certificate carries the configuration it started with: models, unchecked weights as null, loopback backend, capacity', () => {
            const verifier = new PeerVerifier({ quote: net.quotePolicy, isImageAllowed: () => true });
            const a = verifier.verify(agent.identity.current.der);
            expect(a.claims.version).toBe(2);
            expect(a.workerConfig).toEqual({ version: 1, backend: 'loopback', capacity: 2, models: [{ name: net.model.name, weightsHash: null }] });
            expect(agent.workerConfig.equals(encodeWorkerConfig(a.workerConfig!))).toBe(true);
        });

        it('a model whose weightsDir hashes to the weights Root registers is attested with that hash', async () => {
            const weights = join(dir, 'tiny-weights');
            mkdirSync(weights, { recursive: true });
            writeFileSync(join(weights, 'model.safetensors'), 'tiny but registered');
            const hash = (await hashModelDir(weights)).weightsHash;
            await net.govern(RootWrapper.registerModelBody({ ...net.model, name: 'mcfg/tiny', weightsHash: BigInt('0x' + hash) }));
            await until(async () => (await net.newChain().getRootConfig()).models.has(modelId('mcfg/tiny').toString(16).padStart(64, '0')), 'the model to be registered');
            const { wallet: w2 } = await net.fundWallet('worker-mcfg-tiny', '1');
            // Serves an address Root does not list: started, attested, never staked nor dialled.
            const w = new WorkerAgent(options({ wallet: w2, seed: seed('worker-mcfg-tiny'), statePath: join(dir, 'tiny.json'), proxies: [w2.address], models: [{ name: 'mcfg/tiny', coefficient: 1000n, weightsDir: weights }] }));
            await w.start();
            try {
                const a = new PeerVerifier({ quote: net.quotePolicy, isImageAllowed: () => true }).verify(w.identity.current.der);
                expect(a.workerConfig?.models).toEqual([{ name: 'mcfg/tiny', weightsHash: hash }]);
            } finally {
                await w.stop();
            }
        });

        it('a real TDX worker refuses a backend outside its TD before anything else (WORKER_BACKEND_OUTSIDE_TD)', async () => {
            const tdx = { kind: 'tdx' as const, getQuote: (rd: Buffer) => net.tee.getQuote(rd) };
            for (const backendUrl of ['http://10.1.2.3:8000', 'https://inference.example.com', 'http://localhost:8000']) {
                const w = new WorkerAgent(options({ tee: tdx, backendUrl }));
                await expect(w.start()).rejects.toMatchObject({ code: 'WORKER_BACKEND_OUTSIDE_TD', details: { key: 'backendUrl' } });
            }
            // Loopback and a Unix socket pass that check (this start then stops at the unregistered model: nothing staked).
            for (const backendUrl of ['http://127.0.0.1:8000', 'http://[::1]:8000', 'http+unix://%2Frun%2Fvllm.sock']) {
                const w = new WorkerAgent(options({ tee: tdx, backendUrl, models: [{ name: 'nobody/none', coefficient: 1000n }] }));
                await expect(w.start()).rejects.toMatchObject({ code: 'WORKER_MODEL_NOT_REGISTERED' });
            }
        });

        it("keeps a sealed wallet's lease while running: lost to another TD, the worker stops (worker.wallet-lease-lost) and releases it", async () => {
            const { wallet: w2 } = await net.fundWallet('worker-wallet-lease', '1');
            const calls: string[] = [];
            // The key service's lease as its client returns it (agents/core/keys/client.ts): an external party here.
            const lease = {
                id: 'ef'.repeat(32),
                expiresAt: 0,
                renew: async () => {
                    calls.push('renew');
                    throw new KeysError('KEYS_LEASE_HELD', 'another TD holds the lease on this blob');
                },
                release: async () => void calls.push('release'),
            };
            // Serves an address Root does not list: started, never staked nor dialled.
            const w = new WorkerAgent(options({ wallet: w2, seed: seed('worker-wallet-lease'), statePath: join(dir, 'lease.json'), proxies: [w2.address], walletLease: { lease, reopen: async () => lease, renewMs: 20 } }));
            await w.start();
            await until(() => calls.includes('release'), 'the worker to stop and release the lease');
            expect(calls).toEqual(['renew', 'release']);
            expect(logs).toContainEqual(expect.objectContaining({ event: 'worker.wallet-lease-lost' }));
            await w.stop(); // already stopped: nothing more
            expect(calls).toEqual(['renew', 'release']);
        });

        it('the simulated TEE allows a remote backend and says so at start with a warning (worker.backend-outside-td)', async () => {
            logs.length = 0;
            // An unregistered model stops this start right after the backend check: nothing staked.
            const w = new WorkerAgent(options({ backendUrl: 'http://10.1.2.3:8000', models: [{ name: 'nobody/none', coefficient: 1000n }] }));
            await expect(w.start()).rejects.toMatchObject({ code: 'WORKER_MODEL_NOT_REGISTERED' });
            expect(logs).toContainEqual(expect.objectContaining({ event: 'worker.backend-outside-td', backendUrl: 'http://10.1.2.3:8000' }));
            expect(levelOf('worker.backend-outside-td')).toBe('warn');
        });
    });

    describe('connection', () => {
        it('stakes its WorkerChannel, then connects and sends hello with its channel, models and capacity', async () => {
            const ps = await chain.getProxyState(proxy.address!);
            const expected = await WorkerChannelWrapper.create({ proxy: proxy.address!, worker: wallet.address, proxyKey: toUint256(proxy.keys.publicKey), root: net.root, terms: ps!.terms! });
            expect(channel.equals(expected.address)).toBe(true);
            const st = await chain.getWorkerChannelState(channel);
            expect(st?.state).toBe(1n);
            expect(st?.stake).toBe(net.params.minWorkerStake);

            const hello = conn.hello!;
            expect(hello).toMatchObject({ type: 'hello', v: 1, minV: 1, role: 'worker', capacity: 2, models: [{ name: net.model.name, coefficient: COEFFICIENT }] });
            expect(Address.parse(hello.channel).equals(channel)).toBe(true);
            // The channel owner (the wallet) signs (channel, proxy, the attested key, expiry) for the proxy (attack 18).
            const auth = hello.auth!;
            const args = { channel, proxy: proxy.address!, tlsKey: workerKey, expiresAt: auth.expiresAt, signature: Buffer.from(auth.signature, 'hex') };
            expect(workerHelloRefusal({ ...args, ownerKey: wallet.publicKey }, Math.floor(Date.now() / 1000))).toBeNull();
            expect(workerHelloRefusal({ ...args, ownerKey: keyPairFromSeed(seed('someone')).publicKey }, Math.floor(Date.now() / 1000))).toMatch(/not signed/);
            // The attested certificate key is the receipt key; the claims carry the HPKE key.
            expect(conn.peer.cert.publicKey.equals(workerKey)).toBe(true);
            expect(conn.peer.claims.hpkePublicKey?.equals(agent.hpkePublicKey)).toBe(true);
            await until(() => agent.stats().proxies[0]?.state === 'ready', 'ready');
            expect(agent.stats().proxies).toEqual([expect.objectContaining({ proxy: proxy.address!.toRawString(), channel: channel.toRawString(), state: 'ready', connections: 1 })]);
        });

        it('answers ping with pong', async () => {
            conn.send({ type: 'ping', v: 1, nonce: 'abc123' });
            expect(await conn.next('pong')).toMatchObject({ nonce: 'abc123' });
        });
    });

    describe('requests', () => {
        it('streams: response_start, chunks carrying every SSE event in order (coalesced per turn), response_end with a valid receipt', async () => {
            const f = chat();
            conn.send(f);
            const frames = await conn.response(f.id);
            expect(frames[0]).toMatchObject({ type: 'response_start', status: 200, headers: { 'content-type': 'text/event-stream' } });
            const chunks = of(frames, 'response_chunk');
            expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
            // The reference backend writes all 11 events at once (no token delay): fewer frames than events.
            expect(chunks.length).toBeLessThan(11);
            const events = eventsOf(frames).map((d) => JSON.parse(d));
            expect(events).toHaveLength(11);
            const text = events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
            expect(text).toBe('hello brave new world this is a deterministic');
            expect(events[events.length - 1].usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 8 });
            const end = checkEnd(frames, f.id);
            expect(end.usage).toEqual({ prompt: 4n, cached: 0n, completion: 8n, reasoning: 0n });
            // The backend was asked for the usage chunk.
            expect(backend.received[backend.received.length - 1].body).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_tokens: 8 });
        });

        it('an event spread over several SSE data lines travels as one line of its batch, and parses to the same object', async () => {
            backend.faults = { multilineEvents: true };
            try {
                const f = chat();
                conn.send(f);
                const frames = await conn.response(f.id);
                const events = eventsOf(frames);
                expect(events).toHaveLength(11);
                expect(events.every((e) => !e.includes('\r'))).toBe(true);
                const objs = events.map((e) => JSON.parse(e));
                expect(objs.map((e) => e.choices?.[0]?.delta?.content ?? '').join('')).toBe('hello brave new world this is a deterministic');
                expect(checkEnd(frames, f.id).usage).toEqual({ prompt: 4n, cached: 0n, completion: 8n, reasoning: 0n });
            } finally {
                backend.faults = {};
            }
        });

        it('non-streaming: the body as chunks (last one final) and a receipt', async () => {
            const f = chat({ stream: false });
            conn.send(f);
            const frames = await conn.response(f.id);
            expect(frames[0]).toMatchObject({ type: 'response_start', status: 200, headers: { 'content-type': 'application/json' } });
            const chunks = of(frames, 'response_chunk');
            expect(chunks[chunks.length - 1].final).toBe(true);
            const json = JSON.parse(chunks.map((c) => c.data).join(''));
            expect(json.choices[0].message.content).toBe('hello brave new world this is a deterministic');
            const end = checkEnd(frames, f.id);
            expect(end.usage).toEqual({ prompt: 4n, cached: 0n, completion: 8n, reasoning: 0n });
        });

        it("caps the backend's max_tokens at the frame's maxTokens when the body sets none", async () => {
            const f = chat({ stream: false, maxTokens: 3 }, { max_tokens: undefined });
            delete f.body!.max_tokens;
            conn.send(f);
            const end = checkEnd(await conn.response(f.id), f.id);
            expect(end.usage.completion).toBe(3n);
            expect(backend.received[backend.received.length - 1].body).toMatchObject({ max_tokens: 3 });
        });

        it('n choices share the frame\'s maxTokens: without max_tokens each gets floor(maxTokens / n); the bill covers all of them', async () => {
            const f = chat({ stream: false, maxTokens: 7 }, { n: 2 });
            delete f.body!.max_tokens;
            conn.send(f);
            const end = checkEnd(await conn.response(f.id), f.id);
            expect(backend.received[backend.received.length - 1].body).toMatchObject({ n: 2, max_tokens: 3 });
            expect(end.usage.completion).toBe(6n);
        });

        it('sealed: opens the request with its HPKE key and seals every chunk, the last one final', async () => {
            const f = chat();
            const { frame, response } = await sealRequestFrame({ hpkePublicKey: conn.peer.claims.hpkePublicKey! }, f, f.body!);
            conn.send(frame);
            const frames = await conn.response(f.id);
            const chunks = of(frames, 'response_chunk') as ResponseChunkFrame[];
            expect(chunks.every((c) => c.data === undefined && c.sealed !== undefined)).toBe(true);
            const opener = openStartFrame(response, of(frames, 'response_start')[0] as ResponseStartFrame);
            const texts = chunks.map((c) => openChunkFrame(opener, c));
            expect(chunks[chunks.length - 1].final).toBe(true);
            expect(() => opener.finish()).not.toThrow();
            const events = texts.filter((t) => t !== '').flatMap((t) => t.split('\n').map((e) => JSON.parse(e)));
            expect(events).toHaveLength(11);
            expect(events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('')).toBe('hello brave new world this is a deterministic');
            checkEnd(frames, f.id);
        });

        it('attack 12: a router replaying a captured sealed request is refused (HPKE_REPLAYED); with the replay cache off the replay gets a fresh response key', async () => {
            const f = chat();
            const { frame, response } = await sealRequestFrame({ hpkePublicKey: conn.peer.claims.hpkePublicKey! }, f, f.body!);
            // Each run of the same id: the frames from `from` on, until it ended.
            const run = async () => {
                const from = conn.frames.length;
                conn.send(frame);
                return until(() => {
                    const fr = conn.frames.slice(from).filter((x) => 'id' in x && x.id === f.id && x.type !== 'error');
                    return fr.some((x) => x.type === 'response_end' || x.type === 'response_error') ? fr : undefined;
                }, 'the end of the run');
            };
            const first = await run();
            checkEnd(first, f.id);
            // The router keeps the frame and sends it again once the first run is over.
            const calls = backend.received.length;
            expect(await run()).toEqual([expect.objectContaining({ type: 'response_error', code: 'HPKE_REPLAYED', retryable: false })]);
            expect(backend.received.length).toBe(calls); // refused before the backend

            // Even when the encapsulation was forgotten (cache evicted or disabled), the worker's fresh salt gives the
            // replay another key: no keystream is reused, so XOR of the ciphertexts is not XOR of the plaintexts.
            const kept = agent.replays;
            agent.replays = new ReplayCache(0);
            try {
                const second = await run();
                checkEnd(second, f.id);
                const [s1, s2] = [first, second].map((fr) => of(fr, 'response_start')[0] as ResponseStartFrame);
                expect(s1.salt).toBeDefined();
                expect(s2.salt).not.toBe(s1.salt);
                const [c1, c2] = [first, second].map((fr) => of(fr, 'response_chunk') as ResponseChunkFrame[]);
                const [o1, o2] = [openStartFrame(response, s1), openStartFrame(response, s2)];
                const ct = (c: ResponseChunkFrame) => Buffer.from(c.sealed!.ct, 'base64');
                const keystream = (c: ResponseChunkFrame, pt: string) => {
                    const bytes = Buffer.from(pt, 'utf8');
                    return Buffer.from(bytes.map((b, i) => b ^ ct(c)[i]));
                };
                const p1 = openChunkFrame(o1, c1[0]);
                const p2 = openChunkFrame(o2, c2[0]);
                const n = Math.min(p1.length, p2.length);
                expect(keystream(c1[0], p1.slice(0, n)).equals(keystream(c2[0], p2.slice(0, n)))).toBe(false);
                // The same plaintext (the empty final chunk) seals to different bytes; one response's key opens nothing of the other.
                expect(ct(c1[c1.length - 1]).equals(ct(c2[c2.length - 1]))).toBe(false);
                expect(() => openChunkFrame(openStartFrame(response, s1), c2[0])).toThrow(expect.objectContaining({ code: 'HPKE_OPEN_FAILED' }));
            } finally {
                agent.replays = kept;
            }
        });

        it('attack 11: a backend claiming 3,000,000 completion tokens for max_tokens 3 gets a receipt for at most what was streamed', async () => {
            backend.faults = { lyingUsage: { completionTokens: 3_000_000, promptTokens: 10_000_000 } };
            try {
                // maxTokens bounds it: 3 words were generated, the receipt says 3 (the lie would cost ~1.08 TON).
                const f = chat({ maxTokens: 3 }, { max_tokens: 3 });
                conn.send(f);
                const frames = await conn.response(f.id);
                const end = checkEnd(frames, f.id);
                expect(end.usage).toEqual({ prompt: net.model.contextLength, cached: 0n, completion: 3n, reasoning: 0n });
                // The usage chunk the client reads agrees with the receipt.
                const events = eventsOf(frames).map((d) => JSON.parse(d));
                expect(events[events.length - 1].usage).toMatchObject({ completion_tokens: 3, prompt_tokens: Number(net.model.contextLength) });
                expect(logs.some((l) => l.event === 'usage.clamped' && l.id === f.id)).toBe(true);

                // The text bounds it: 8 words (45 bytes) under maxTokens 64 are billed at most 45 + 1 tokens, non-streamed too.
                const g = chat({ maxTokens: 64, stream: false });
                conn.send(g);
                const gFrames = await conn.response(g.id);
                const body = JSON.parse(of(gFrames, 'response_chunk').map((c) => c.data).join(''));
                const bytes = Buffer.byteLength(body.choices[0].message.content, 'utf8');
                expect(checkEnd(gFrames, g.id).usage.completion).toBe(BigInt(bytes + 1));
                expect(body.usage.completion_tokens).toBe(bytes + 1);
            } finally {
                backend.faults = {};
            }
        });

        it('refuses invalid requests with response_error and never calls the backend', async () => {
            const before = backend.received.length;
            const cases: [RequestFrame, string, boolean][] = [
                [chat({}, { best_of: 2 }), 'REQUEST_UNKNOWN_FIELD', false],
                [chat({ maxTokens: 10 }, { max_tokens: 4, n: 3 }), 'REQUEST_MAX_TOKENS', false],
                [chat({ maxTokens: 10_000 }, { max_tokens: 5000 }), 'REQUEST_MAX_TOKENS', false],
                [chat({ maxTokens: 10 }, { max_tokens: 100 }), 'REQUEST_MAX_TOKENS', false],
                [chat({ model: 'other/model' }, { model: 'other/model' }), 'REQUEST_MODEL_MISMATCH', true],
                [chat({ maxCoefficient: 1000n }), 'REQUEST_PRICE_CAP', true],
            ];
            for (const [f, code, retryable] of cases) {
                conn.send(f);
                const frames = await conn.response(f.id);
                expect(frames).toEqual([expect.objectContaining({ type: 'response_error', code, retryable })]);
            }
            // Sealed to another worker's key, and a re-labelled sealed request (maxTokens changed by the router).
            const other = await generateHpkeKeyPair();
            const f1 = chat();
            const s1 = await sealRequestFrame({ hpkePublicKey: other.publicKey }, f1, f1.body!);
            conn.send(s1.frame);
            expect(await conn.response(f1.id)).toEqual([expect.objectContaining({ type: 'response_error', code: 'HPKE_KEY_MISMATCH', retryable: true })]);
            const f2 = chat();
            const s2 = await sealRequestFrame({ hpkePublicKey: conn.peer.claims.hpkePublicKey! }, f2, f2.body!);
            conn.send({ ...s2.frame, maxTokens: 63 });
            expect(await conn.response(f2.id)).toEqual([expect.objectContaining({ type: 'response_error', code: 'HPKE_OPEN_FAILED', retryable: false })]);
            // A request frame with a bad field: that request fails, the connection stays.
            const f3 = chat();
            conn.sendRaw(JSON.stringify({ ...f3, maxCoefficient: '2000', maxTokens: 0 }));
            expect(await conn.response(f3.id)).toEqual([expect.objectContaining({ type: 'response_error', code: 'WIRE_BAD_FIELD', retryable: false })]);
            expect(backend.received.length).toBe(before);
            expect(conn.closed).toBe(false);
        });

        it('without chain time it refuses a request before the backend runs (WORKER_NO_CHAIN_TIME, retryable): a receipt carries chain time', async () => {
            const before = backend.received.length;
            chainDown = true;
            try {
                const f = chat();
                conn.send(f);
                expect(await conn.response(f.id)).toEqual([expect.objectContaining({ type: 'response_error', code: 'WORKER_NO_CHAIN_TIME', retryable: true })]);
                expect(backend.received.length).toBe(before);
            } finally {
                chainDown = false;
            }
            const g = chat({ stream: false });
            conn.send(g);
            const end = checkEnd(await conn.response(g.id), g.id);
            expect(end.type).toBe('response_end');
        });

        it('refuses a request over capacity with WORKER_BUSY (retryable) while the others complete', async () => {
            backend.tokenDelayMs = 20;
            try {
                const fs = [chat(), chat(), chat()];
                for (const f of fs) conn.send(f);
                const [a, b, c] = await Promise.all(fs.map((f) => conn.response(f.id)));
                expect(c).toEqual([expect.objectContaining({ type: 'response_error', code: 'WORKER_BUSY', retryable: true })]);
                checkEnd(a, fs[0].id);
                checkEnd(b, fs[1].id);
                expect(agent.stats().busy).toBe(1);
            } finally {
                backend.tokenDelayMs = 0;
            }
        });

        it('attack 10: a cancel mid-stream aborts the backend and ends with a partial receipt for the prompt and the tokens streamed', async () => {
            backend.tokenDelayMs = 40;
            try {
                const f = chat({}, { max_tokens: 60 });
                conn.send(f);
                await conn.waitUntil(() => conn.frames.filter((x) => x.type === 'response_chunk' && x.id === f.id).length >= 3 || undefined, 'a few chunks');
                conn.send({ type: 'cancel', v: 1, id: f.id });
                const frames = await conn.response(f.id);
                const end = checkEnd(frames, f.id);
                expect(end).toMatchObject({ partial: true });
                // The role chunk carries no text; every other relayed chunk carried one generated word.
                const streamed = eventsOf(frames).length - 1;
                expect(streamed).toBeLessThan(30);
                expect(end.usage).toEqual({ prompt: 4n, cached: 0n, completion: BigInt(streamed), reasoning: 0n });
                expect(end.cost).toBeGreaterThan(0n);
                await until(() => agent.stats().inFlight === 0, 'no request in flight');
            } finally {
                backend.tokenDelayMs = 0;
            }
        });

        it('attack 10: a backend that dies mid-stream ends with a partial receipt for the chunks it sent', async () => {
            backend.faults = { dropAfterChunks: 3 };
            try {
                const f = chat();
                conn.send(f);
                const frames = await conn.response(f.id);
                expect(frames[0].type).toBe('response_start');
                expect(eventsOf(frames)).toHaveLength(3);
                const end = checkEnd(frames, f.id);
                expect(end).toMatchObject({ partial: true, usage: { prompt: 4n, cached: 0n, completion: 2n, reasoning: 0n } });
            } finally {
                backend.faults = {};
            }
        });

        it('a stream that breaks after its usage chunk (only [DONE] missing) is billed with that usage', async () => {
            // role chunk + 8 words + finish chunk + usage chunk = 11 events, then the socket dies before [DONE].
            backend.faults = { dropAfterChunks: 11 };
            try {
                const f = chat();
                conn.send(f);
                const frames = await conn.response(f.id);
                expect(eventsOf(frames)).toHaveLength(11);
                const end = checkEnd(frames, f.id);
                expect(end.usage).toEqual({ prompt: 4n, cached: 0n, completion: 8n, reasoning: 0n });
            } finally {
                backend.faults = {};
            }
        });

        it('a backend error is BACKEND_ERROR (not retryable); an unreachable backend is BACKEND_UNREACHABLE (retryable)', async () => {
            backend.faults = { failWith: { status: 503, code: 'overloaded' } };
            const f = chat();
            conn.send(f);
            const frames = await conn.response(f.id);
            backend.faults = {};
            expect(frames).toEqual([expect.objectContaining({ type: 'response_error', code: 'BACKEND_ERROR', retryable: false })]);
            expect((frames[0] as { message: string }).message).toContain('HTTP 503');

            await backend.stop();
            try {
                const g = chat();
                conn.send(g);
                expect(await conn.response(g.id)).toEqual([expect.objectContaining({ type: 'response_error', code: 'BACKEND_UNREACHABLE', retryable: true })]);
            } finally {
                backend = new ReferenceBackend({ port: backendPort });
                await backend.start();
            }
            const h = chat();
            conn.send(h);
            checkEnd(await conn.response(h.id), h.id);
        });
    });

    describe('payouts', () => {
        let owner: ChainWallet;
        let cc: ClientChannelWrapper;
        const clientKeys = keyPairFromSeed(seed('client'));
        beforeAll(async () => {
            // Fill the Proxy's pool the way clients do: a funded ClientChannel and a redeemed voucher.
            const client = await net.fundWallet('client');
            owner = client.wallet;
            const root = await chain.getRootConfig();
            cc = await ClientChannelWrapper.create({
                proxy: proxy.address!,
                client: owner.address,
                clientKey: toUint256(clientKeys.publicKey),
                proxyKey: toUint256(proxy.keys.publicKey),
                closeDelay: net.params.clientCloseDelay,
                code: root.childCode.clientCode,
            });
            await chain.open(cc).sendTopUp(owner.sender(), toNano('2'));
            await chain.open(cc).sendRedeem(owner.sender(), { amount: toNano('1'), signature: cc.signVoucher(toNano('1'), clientKeys.secretKey, GLOBAL_ID) });
            expect((await chain.getProxyState(proxy.address!))!.pool).toBe(toNano('0.9'));
        });

        const stored = () => (existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')).payouts[channel.toRawString()] : undefined);

        it('persists a verified payout; claims it once latest − paid reaches the threshold (paid moves, the wallet is paid)', async () => {
            conn.send(proxy.payout(channel, toNano('0.01')));
            await until(() => stored()?.amount === toNano('0.01').toString() || undefined, 'the first payout on disk');
            expect(await agent.payouts.claim(channel)).toBeNull(); // below the threshold: nothing sent
            expect((await chain.getWorkerChannelState(channel))!.paid).toBe(0n);

            const before = await wallet.getBalance();
            const claimed = new Promise((r) => agent.once('claim', r));
            conn.send(proxy.payout(channel, toNano('0.1')));
            expect(await claimed).toMatchObject({ ok: true, amount: toNano('0.1'), paid: toNano('0.1') });
            expect(stored()).toMatchObject({ amount: toNano('0.1').toString(), proxy: proxy.address!.toRawString() });
            expect((await chain.getWorkerChannelState(channel))!.paid).toBe(toNano('0.1'));
            const gained = (await wallet.getBalance()) - before;
            expect(gained).toBeGreaterThan(toNano('0.07'));
            expect(gained).toBeLessThanOrEqual(toNano('0.1'));
            expect(agent.stats().earned[channel.toRawString()]).toBe(toNano('0.1'));
            expect(agent.stats().claimed[channel.toRawString()]).toBe(toNano('0.1'));
        });

        it('claimNow() claims a stored payout below the threshold', async () => {
            conn.send(proxy.payout(channel, toNano('0.12')));
            await until(() => stored()?.amount === toNano('0.12').toString() || undefined, 'the payout on disk');
            expect((await chain.getWorkerChannelState(channel))!.paid).toBe(toNano('0.1'));
            expect(await agent.claimNow()).toEqual([expect.objectContaining({ ok: true, amount: toNano('0.12'), paid: toNano('0.12') })]);
            expect((await chain.getWorkerChannelState(channel))!.paid).toBe(toNano('0.12'));
        });

        it('refuses a forged or an older payout with a non-fatal error and stores nothing', async () => {
            conn.send(proxy.payout(channel, toNano('0.5'), keyPairFromSeed(seed('mallory'))));
            expect(await conn.next('error')).toMatchObject({ code: 'PAYOUT_INVALID', fatal: false });
            conn.send(proxy.payout(channel, toNano('0.11')));
            expect(await conn.next('error')).toMatchObject({ code: 'PAYOUT_STALE', fatal: false });
            expect(stored().amount).toBe(toNano('0.12').toString());
            expect(agent.stats().earned[channel.toRawString()]).toBe(toNano('0.12'));
            // The connection still serves.
            const f = chat();
            conn.send(f);
            checkEnd(await conn.response(f.id), f.id);
        });

        it("does not pay gas for a claim the Proxy's pool cannot cover; claims once the pool has it", async () => {
            // The proxy signed 1 TON while its pool holds 0.78 (a voucher still in transit, or below its redeem threshold).
            const pool = (await chain.getProxyState(proxy.address!))!.pool;
            expect(pool).toBe(toNano('0.78'));
            const before = await wallet.getBalance();
            conn.send(proxy.payout(channel, toNano('1')));
            await until(() => logs.some((l) => l.event === 'claim.deferred' && l.channel === channel.toRawString()) || undefined, 'the deferred claim');
            expect(await agent.claimNow()).toEqual([]);
            expect(stored().amount).toBe(toNano('1').toString());
            expect((await chain.getWorkerChannelState(channel))!.paid).toBe(toNano('0.12'));
            expect(await wallet.getBalance()).toBe(before); // no claim transaction, no gas
            // The proxy redeems the client's next voucher: the pool covers the payout and the claim goes through.
            await chain.open(cc).sendRedeem(owner.sender(), { amount: toNano('2'), signature: cc.signVoucher(toNano('2'), clientKeys.secretKey, GLOBAL_ID) });
            expect((await chain.getProxyState(proxy.address!))!.pool).toBe(toNano('1.68'));
            expect(await agent.claimNow()).toEqual([expect.objectContaining({ ok: true, amount: toNano('1'), paid: toNano('1') })]);
            expect((await chain.getProxyState(proxy.address!))!.pool).toBe(toNano('0.8'));
        });
    });

    describe('resilience', () => {
        it('reconnects after the proxy restarts and serves on the new connection', async () => {
            // Like a real proxy, it sends its latest payout right behind hello_ok.
            proxy.afterHelloOk = (c) => c.send(proxy.payout(channel, toNano('1.01')));
            await proxy.restart();
            conn = await proxy.nextConnection();
            expect(Address.parse((await conn.whenHello()).channel).equals(channel)).toBe(true);
            proxy.afterHelloOk = undefined;
            await until(() => agent.stats().earned[channel.toRawString()] === toNano('1.01'), 'the payout sent with hello_ok');
            await until(() => agent.stats().proxies[0].state === 'ready' && agent.stats().proxies[0].connections === 2, 'the second connection');
            const f = chat();
            conn.send(f);
            checkEnd(await conn.response(f.id), f.id);
            // No second stake: the channel was already active.
            expect((await chain.getWorkerChannelState(channel))!.stake).toBe(net.params.minWorkerStake);
        });

        it('attack 3: after its channel is slashed to zero it tops the stake back up to the minimum before it connects again', async () => {
            await slashToZero(net, channel, proxy.keys.secretKey);
            expect((await chain.getWorkerChannelState(channel))!.stake).toBe(0n);
            const sent = logs.filter((l) => l.event === 'stake.sent').length;
            await proxy.restart(); // a real proxy's re-check drops an under-staked channel; here the restart drops it
            conn = await proxy.nextConnection();
            await conn.whenHello();
            expect((await chain.getWorkerChannelState(channel))!.stake).toBe(net.params.minWorkerStake);
            expect(logs.filter((l) => l.event === 'stake.sent').length).toBe(sent + 1);
            const f = chat();
            conn.send(f);
            checkEnd(await conn.response(f.id), f.id);
        });

        it("leaves a proxy whose image leaves Root's allowlist and returns when it is back", async () => {
            const image = BigInt('0x' + net.imageHashHex);
            await net.govern(RootWrapper.removeImageBody('proxy', image));
            await conn.whenClosed;
            await until(() => agent.stats().proxies[0].excluded === 'image_removed', 'excluded');
            const count = proxy.conns.length;
            await new Promise((r) => setTimeout(r, 800)); // several backoff windows (≤ 300 ms each)
            expect(proxy.conns.length).toBe(count);
            await net.govern(RootWrapper.addImageBody('proxy', image));
            conn = await proxy.nextConnection();
            await conn.whenHello();
            await until(() => agent.stats().proxies[0].state === 'ready', 'ready again');
        });

        it('connects to a proxy newly listed in Root, and refuses it when its certificate key is not its enclave key', async () => {
            const impostor = await FakeProxy.start({ tee: net.tee, quotePolicy: net.quotePolicy, seed: seed('proxy-b'), certSeed: seed('proxy-b-impostor') });
            others.push(impostor);
            impostor.address = (await net.deployProxy({ seed: seed('proxy-b'), clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: impostor.url })).address;
            const raw = impostor.address.toRawString();
            const link = await until(() => agent.stats().proxies.find((p) => p.proxy === raw && p.lastError?.code === 'PROXY_KEY_MISMATCH'), 'PROXY_KEY_MISMATCH', 20_000);
            expect(link.state).not.toBe('ready');
            // It staked a channel with the new proxy, connected, and closed without sending a single frame.
            expect((await chain.getWorkerChannelState(Address.parse(link.channel!)))!.state).toBe(1n);
            expect(impostor.conns.length).toBeGreaterThan(0);
            expect(impostor.conns.every((c) => c.frames.length === 0)).toBe(true);
            expect(logs.some((l) => l.event === 'link.error' && l.code === 'PROXY_KEY_MISMATCH' && l.peer === raw)).toBe(true);
        });

        it('stop() aborts in-flight requests and closes; a restarted worker resumes from its state file', async () => {
            backend.tokenDelayMs = 50;
            const f = chat({}, { max_tokens: 60 });
            conn.send(f);
            await conn.waitUntil(() => conn.frames.find((x) => x.type === 'response_start' && x.id === f.id), 'response_start');
            await agent.stop();
            backend.tokenDelayMs = 0;
            await conn.whenClosed;
            expect(agent.stats().inFlight).toBe(0);
            expect(agent.stats().proxies.every((p) => p.state === 'stopped')).toBe(true);
            expect(of(conn.frames, 'response_end').some((e) => e.id === f.id)).toBe(false);

            agent = new WorkerAgent(options({ proxies: [proxy.address!] }));
            await agent.start();
            expect(agent.stats().earned[channel.toRawString()]).toBe(toNano('1.01'));
            conn = await proxy.nextConnection();
            await conn.whenHello();
            const g = chat();
            conn.send(g);
            checkEnd(await conn.response(g.id), g.id);
            expect(agent.stats().proxies).toHaveLength(1);
        });
    });
});
