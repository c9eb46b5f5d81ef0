// `cocoon status` against a real devnet chain server: Root (governed by a sandbox treasury) with two models (one
// requiring GPU evidence), one image per kind (proxy, worker, key service), and deployNetwork's registered Proxy,
// funded ClientChannel and staked WorkerChannel, set up inside withBlockchain; the command runs in-process over HTTP
// and its JSON and human output are checked value by value.
import { createHash } from 'crypto';
import { Address, toNano } from '@ton/core';
import { DevnetServer } from '../../agents/devnet/server';
import { statusCommand, StatusReport } from '../../agents/status';
import { main } from '../../agents/cli';
import { RootWrapper } from '../../wrappers/Root';
import { modelId } from '../../wrappers/payloads';
import { deployNetwork, Network } from '../../fixtures/network';

const sha = (label: string) => createHash('sha256').update(label).digest();
const hex = (label: string) => sha(label).toString('hex');
const MODEL = {
    name: 'test/tiny-echo-model',
    weightsHash: BigInt('0x' + hex('weights')),
    contextLength: 8192n,
    pricePrompt: toNano('0.5'),
    priceCached: toNano('0.05'),
    priceCompletion: toNano('1.5'),
    priceReasoning: toNano('2'),
    requireGpu: false,
};
const GPU_MODEL = { ...MODEL, name: 'test/gpu-model', requireGpu: true };

function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

describe('cocoon status', () => {
    let devnet: DevnetServer;
    let env: Record<string, string>;
    let root: Address;
    let proxy: Address;
    let proxyOwner: Address;
    let treasury: Address;
    let proxyEnclaveKey: Buffer;
    let clientChannel: Address;
    let workerChannel: Address;
    const undeployed = new Address(0, Buffer.alloc(32, 0x5a));
    let net: Network;

    beforeAll(async () => {
        devnet = new DevnetServer({ port: 0 });
        await devnet.start();
        await devnet.withBlockchain(async (bc) => {
            const n = await deployNetwork({ bc });
            net = n;
            await n.root.sendAction(n.gov.getSender(), RootWrapper.registerModelBody(MODEL));
            await n.root.sendAction(n.gov.getSender(), RootWrapper.registerModelBody(GPU_MODEL));
            await n.root.sendAction(n.gov.getSender(), RootWrapper.addImageBody('keys', BigInt('0x' + hex('key-service-image'))));
            await n.root.sendAction(n.gov.getSender(), RootWrapper.addImageBody('proxy', BigInt('0x' + hex('proxy-image'))));
            await n.root.sendAction(n.gov.getSender(), RootWrapper.addImageBody('worker', BigInt('0x' + hex('worker-image'))));
            root = n.root.address;
            proxy = n.proxy.address;
            proxyOwner = n.proxyOwner.address;
            proxyEnclaveKey = n.proxyKeys.publicKey;
            treasury = n.treasury.address;
            clientChannel = n.clientChannel.address;
            workerChannel = n.workerChannel.address;
        });
        env = { TONCENTER_ENDPOINT: devnet.url, COCOON_ROOT: root.toString(), TONCENTER_RPS: '1000', TONCENTER_MAX_RETRIES: '1' };
    });
    afterAll(async () => {
        await devnet?.stop();
    });

    it('--json prints Root, the model, images, the proxy and each channel with exact values', async () => {
        const c = capture();
        const argv = ['--json', '--channel', clientChannel.toString(), '--channel', workerChannel.toRawString(), '--channel', proxy.toString()];
        expect(await statusCommand(argv, c.io, env)).toBe(0);
        expect(c.err()).toBe('');
        const r = JSON.parse(c.out()) as StatusReport;
        expect(r.root.address).toBe(root.toRawString());
        expect(r.root.version).toBeGreaterThan(0);
        expect(r.root.codeVersion).toBe('0');
        expect(r.root.treasury).toBe(treasury.toRawString());
        expect(r.root.params).toEqual({
            commissionBps: '1000',
            reporterShareBps: '2000',
            minProxyStake: '10000000000',
            minWorkerStake: '1000000000',
            minClientDeposit: '500000000',
            creditWindow: '100000000',
            proxyCloseDelay: '3600',
            clientCloseDelay: '3600',
            workerUnbondDelay: String(5 * 24 * 3600),
            slashChallengePeriod: String(4 * 24 * 3600 + 3600),
        });
        const modelReport = (m: typeof MODEL) => ({
            id: modelId(m.name).toString(16).padStart(64, '0'),
            name: m.name,
            weightsHash: hex('weights'),
            contextLength: '8192',
            prices: { prompt: '500000000', cached: '50000000', completion: '1500000000', reasoning: '2000000000' },
            requireGpu: m.requireGpu,
        });
        // sorted by name
        expect(r.root.models).toEqual([modelReport(GPU_MODEL), modelReport(MODEL)]);
        expect(r.root.images).toEqual({ proxy: [hex('proxy-image')], worker: [hex('worker-image')], keys: [hex('key-service-image')] });
        expect(r.root.proxies).toHaveLength(1);
        expect(r.root.proxies[0]).toMatchObject({
            address: proxy.toRawString(),
            owner: proxyOwner.toRawString(),
            enclaveKey: proxyEnclaveKey.toString('hex'),
            stake: '10000000000',
            clientEndpoint: '127.0.0.1:8801',
            workerEndpoint: '127.0.0.1:8802',
        });
        expect(r.channels).toEqual([
            expect.objectContaining({ address: clientChannel.toRawString(), kind: 'client', state: 'open', balance: '5000000000', redeemed: '0', pendingWithdraw: '0' }),
            expect.objectContaining({ address: workerChannel.toRawString(), kind: 'worker', state: 'active', stake: '1000000000', paid: '0', pendingSlash: null }),
            expect.objectContaining({ address: proxy.toRawString(), kind: 'proxy', state: 'active', registered: true, banned: false, stake: '10000000000', pool: '0', commission: '0', workerChannels: '1' }),
        ]);
    });

    it('human output mentions the model, prices, images, the proxy and the channels; `cocoon status` dispatches to it', async () => {
        const c = capture();
        expect(await statusCommand(['--channel', clientChannel.toString(), '--channel', workerChannel.toString()], c.io, env)).toBe(0);
        const out = c.out();
        expect(out).toContain(`Root ${root.toString()}`);
        expect(out).toMatch(/min proxy stake\s+10 TON/);
        expect(out).toMatch(/commission\s+10\.00% \(1000 bps\)/);
        expect(out).toContain(MODEL.name);
        expect(out).toContain(`${GPU_MODEL.name}\n    id ${modelId(GPU_MODEL.name).toString(16).padStart(64, '0')}  context 8192  GPU evidence required\n`);
        expect(out).toContain(`${MODEL.name}\n    id ${modelId(MODEL.name).toString(16).padStart(64, '0')}  context 8192  no GPU evidence required\n`);
        expect(out).toContain('prompt 0.5 TON  cached 0.05 TON  completion 1.5 TON  reasoning 2 TON');
        expect(out).toContain(hex('proxy-image'));
        expect(out).toContain(hex('worker-image'));
        expect(out).toContain(`Proxy images (1)\n  ${hex('proxy-image')}\nWorker images (1)\n  ${hex('worker-image')}\nKey-service images (1)\n  ${hex('key-service-image')}\n`);
        expect(out).toContain(`${proxy.toString()}  stake 10 TON`);
        expect(out).toContain('clients 127.0.0.1:8801  workers 127.0.0.1:8802');
        expect(out).toContain(`${clientChannel.toString()}  ClientChannel  open  balance 5 TON  redeemed 0 TON`);
        expect(out).toContain(`${workerChannel.toString()}  WorkerChannel  active  stake 1 TON  paid 0 TON  no pending slash`);

        // Through the dispatcher (flags instead of the environment for the endpoint and Root).
        const saved = { ...process.env };
        try {
            process.env.TONCENTER_RPS = '1000';
            delete process.env.TONCENTER_ENDPOINT;
            delete process.env.COCOON_ROOT;
            const d = capture();
            expect(await main(['status', '--endpoint', devnet.url, '--root', root.toRawString(), '--json'], d.io)).toBe(0);
            expect(JSON.parse(d.out()).root.address).toBe(root.toRawString());
        } finally {
            process.env = saved;
        }
    });

    it('an undeployed or non-channel address is reported with its code and exit status 1', async () => {
        const c = capture();
        expect(await statusCommand(['--json', '--channel', undeployed.toString(), '--channel', root.toString(), '--channel', clientChannel.toString()], c.io, env)).toBe(1);
        const r = JSON.parse(c.out()) as StatusReport;
        expect(r.channels[0]).toEqual({ address: undeployed.toRawString(), error: { code: 'CHANNEL_NOT_DEPLOYED', message: expect.any(String) } });
        expect(r.channels[1]).toEqual({ address: root.toRawString(), error: { code: 'CHANNEL_UNKNOWN_KIND', message: expect.any(String) } });
        expect(r.channels[2]).toMatchObject({ kind: 'client', balance: '5000000000' });
        expect(c.err()).toContain('CHANNEL_NOT_DEPLOYED');
        const h = capture();
        expect(await statusCommand(['--channel', undeployed.toString()], h.io, env)).toBe(1);
        expect(h.out()).toContain(`${undeployed.toString()}  CHANNEL_NOT_DEPLOYED`);
    });

    it('--help prints usage and exits 0; --help lists `status`', async () => {
        const c = capture();
        expect(await statusCommand(['--help'], c.io, {})).toBe(0);
        expect(c.out()).toMatch(/usage: cocoon status/);
        expect(c.out()).toContain('--channel <address>');
        const m = capture();
        expect(await main(['--help'], m.io)).toBe(0);
        expect(m.out()).toMatch(/\n {2}status {2,}show Root/);
    });

    it('bad flags and config exit 2 naming the flag or variable; chain errors exit 1 with their code', async () => {
        const cases: [string[], Record<string, string>, RegExp][] = [
            [['--bogus'], env, /unknown flag --bogus/],
            [['--channel'], env, /--channel needs a value/],
            [['--channel', 'nope'], env, /--channel: not a TON address/],
            [['stray'], env, /unexpected argument stray/],
            [[], { COCOON_ROOT: root.toString() }, /CONFIG_INVALID: --endpoint: required \(or set TONCENTER_ENDPOINT\)/],
            [['--endpoint', 'ftp://x'], { COCOON_ROOT: root.toString() }, /--endpoint: must be an http\(s\) URL/],
            [['--endpoint', devnet.url], {}, /--root: required \(or set COCOON_ROOT\)/],
            [['--root', 'xyz'], { TONCENTER_ENDPOINT: devnet.url }, /--root: must be a TON address/],
            [[], { ...env, COCOON_ROOT: 'xyz' }, /COCOON_ROOT: must be a TON address/],
            [[], { ...env, TONCENTER_RPS: 'fast' }, /TONCENTER_RPS: must be a number/],
        ];
        for (const [argv, e, msg] of cases) {
            const c = capture();
            expect({ argv, status: await statusCommand(argv, c.io, e) }).toEqual({ argv, status: 2 });
            expect(c.err()).toMatch(msg);
            expect(c.out()).toBe('');
        }
        // Root that is not deployed: its getter fails -> CHAIN_GETTER_FAILED, exit 1 (JSON error with --json).
        const c = capture();
        expect(await statusCommand(['--json', '--root', undeployed.toString()], c.io, env)).toBe(1);
        expect(c.err()).toMatch(/CHAIN_GETTER_FAILED/);
        expect(JSON.parse(c.out())).toEqual({ error: { code: 'CHAIN_GETTER_FAILED', message: expect.any(String) } });
    });

    it('attack: a model name or a proxy endpoint carrying terminal escapes, bidi overrides or a newline prints as inert text', async () => {
        // Endpoints need no vote: any registered proxy writes its own. Model names come through governance.
        const evil = '\u001b[2J\u001b[31mPAID\u001b]0;x\u0007\u202e\nRoot fake';
        await devnet.withBlockchain(async () => {
            await net.root.sendAction(net.gov.getSender(), RootWrapper.registerModelBody({ ...MODEL, name: `m${evil}` }));
            await net.proxy.sendRegister(net.proxyOwner.getSender(), { stake: 0n, clientEndpoint: `c${evil}`, workerEndpoint: `w${evil}` });
        });
        const c = capture();
        expect(await statusCommand([], c.io, env)).toBe(0);
        const out = c.out();
        expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202e]/);
        const shown = '\\u001b[2J\\u001b[31mPAID\\u001b]0;x\\u0007\\u202e\\u000aRoot fake';
        expect(out).toContain(`\n  m${shown}\n`);
        expect(out).toContain(`clients c${shown}  workers w${shown}  owner`);
        expect(out.split('\n').filter((l) => l.startsWith('Root '))).toHaveLength(1);
        // --json keeps the exact chain strings (JSON escapes them itself)
        const j = capture();
        expect(await statusCommand(['--json'], j.io, env)).toBe(0);
        const r = JSON.parse(j.out()) as StatusReport;
        expect(r.root.models.map((m) => m.name)).toContain(`m${evil}`);
        expect(r.root.proxies[0].clientEndpoint).toBe(`c${evil}`);
    });
});
