// Attack 14 of issue 8 from the client's side: a proxy that stops reading must not make the client queue without
// bound. The raw-frame test proxy (real RA-TLS server, registered in Root on the devnet) pauses its socket; the SDK
// keeps sending 900 KB requests until it refuses with PROXY_UNREACHABLE, reason BACKPRESSURE.
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { toNano } from '@ton/core';
import { AgentNetwork, seed, startAgentNetwork } from '../../../fixtures/agent-network';
import { ReferenceBackend } from '../../../agents/backend/reference';
import { ClientError, CocoonClient } from '../../../agents/client';
import { MAX_FRAME_BYTES } from '../../../agents/core/wire';
import { fakeWorker, TestProxy } from './fake-proxy';
import { TEST_MODEL } from '../../../agents/backend/test-model';

jest.setTimeout(60_000);

const MODEL = TEST_MODEL.id;

describe('attack 14: the client SDK bounds what it queues for a proxy that does not read', () => {
    let net: AgentNetwork;
    let backend: ReferenceBackend;
    let proxy: TestProxy;
    let client: CocoonClient;
    let dir: string;

    beforeAll(async () => {
        net = await startAgentNetwork();
        backend = new ReferenceBackend();
        await backend.start();
        proxy = await TestProxy.start({ net, seed: seed('backpressure/proxy'), workers: [await fakeWorker(net.tee, 'bp-w1')], backend });
        dir = mkdtempSync(join(tmpdir(), 'cocoon-bp-'));
        const { wallet } = await net.fundWallet('backpressure/app');
        client = new CocoonClient({
            chain: net.newChain(),
            quotePolicy: net.quotePolicy,
            proxy: proxy.address,
            wallet,
            seed: seed('backpressure/app'),
            statePath: join(dir, 'client.json'),
            deposit: toNano('2'),
            candidateTtlMs: 600_000,
            requestTimeoutMs: 60_000,
        });
        await client.open();
    });

    afterAll(async () => {
        await client?.stop();
        await proxy?.stop();
        await backend?.stop();
        await net?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Runs one request to its end; resolves with the error it ended with, if any. */
    const run = async (content: string): Promise<unknown> => {
        try {
            for await (const ev of client.request({ endpoint: 'chat', body: { model: MODEL, messages: [{ role: 'user', content }] } })) void ev;
        } catch (e) {
            return e;
        }
        return undefined;
    };

    it('attack 14: refuses with PROXY_UNREACHABLE (BACKPRESSURE) once 2 × MAX_FRAME_BYTES are unread, instead of queueing every request', async () => {
        expect(await run('warm up: candidates and connection')).toBeUndefined();
        for (const c of proxy.conns) (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
        const before = proxy.requests.length;
        const big = 'x'.repeat(900_000);
        const outcomes: Promise<unknown>[] = [];
        let refused: ClientError | undefined;
        // about 1.2 MB of frame each: the kernel's socket buffers take some, then the SDK's bound
        for (let i = 0; i < 60 && !refused; i++) {
            const p = run(big);
            outcomes.push(p);
            void p.then((e) => {
                if (e instanceof ClientError && e.details?.reason === 'BACKPRESSURE') refused ??= e;
            });
            await new Promise((r) => setTimeout(r, 20));
        }
        expect(refused).toBeInstanceOf(ClientError);
        expect(refused).toMatchObject({ code: 'PROXY_UNREACHABLE', details: { reason: 'BACKPRESSURE' } });
        // the bound (plus what the kernel buffers took) let several requests through, then refused
        expect(outcomes.length).toBeGreaterThanOrEqual((2 * MAX_FRAME_BYTES) / 1_300_000);
        expect(outcomes.length).toBeLessThan(60);
        expect(proxy.requests.length).toBe(before); // the proxy read none of them (paused)
    });
});
