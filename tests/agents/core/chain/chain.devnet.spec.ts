// TonChain end to end against the devnet chain server (agents/devnet/server.ts) over real HTTP: a ChainWallet
// deploys Governance + Root through the wrappers, a governance proposal allowlists a worker image, and
// getRootConfig() picks it up once Root's version moved — and does not refetch while it has not (counted
// through the transport under TonClient). Also channel/proxy states, balances, transactions, and the tonapi
// adapter's SSE stream served by the devnet.
import { createHash } from 'crypto';
import { Address, OpenedContract, toNano } from '@ton/core';
import { keyPairFromSeed, mnemonicNew, mnemonicToPrivateKey } from '@ton/crypto';
import { WalletContractV4 } from '@ton/ton';
import { ChainWallet, hex256, TonChain } from '../../../../agents/core/chain/chain';
import { ChainConfig, loadChainConfig } from '../../../../agents/core/chain/config';
import { ChainError } from '../../../../agents/core/chain/errors';
import { TonapiAdapter, TxEvent } from '../../../../agents/core/chain/tonapi';
import { DEFAULT_GOV_PARAMS, GovernanceWrapper } from '../../../../wrappers/Governance';
import { DEFAULT_PARAMS, RootWrapper } from '../../../../wrappers/Root';
import { ProxyWrapper } from '../../../../wrappers/Proxy';
import { ClientChannelWrapper } from '../../../../wrappers/ClientChannel';
import { WorkerChannelWrapper } from '../../../../wrappers/WorkerChannel';
import { toUint256 } from '../../../../wrappers/payloads';
import { DevnetServer } from '../../../../agents/devnet/server';
import { GLOBAL_ID } from '../../../../fixtures/network';

type Devnet = DevnetServer;

const seed = (label: string) => createHash('sha256').update(label).digest();

async function faucet(devnet: Devnet, address: Address, amount: bigint) {
    const res = await fetch(`${devnet.baseUrl}/dev/faucet`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ address: address.toString(), amount: amount.toString() }),
    });
    expect(res.status).toBe(200);
}

/** Transport attempts by toncenter method since `before`. */
function delta(chain: TonChain, before: Record<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(chain.transport.stats.byMethod)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
    return out;
}

describe('TonChain against the devnet server', () => {
    let devnet: Devnet;
    let cfg: ChainConfig;
    let chain: TonChain;
    let wallet: ChainWallet;
    let gov: OpenedContract<GovernanceWrapper>;
    let root: RootWrapper;

    beforeAll(async () => {
        devnet = new DevnetServer({ port: 0, sseHeartbeatMs: 1000 });
        await devnet.start();
        cfg = loadChainConfig({ endpoint: devnet.url, rps: 1000, maxRetries: 2, backoffBaseMs: 10, backoffMaxMs: 50, sendPollMs: 20, sendTimeoutMs: 20_000 }, {});
        chain = new TonChain({ config: cfg });
        wallet = chain.wallet(keyPairFromSeed(seed('chain-spec-deployer')));
        await faucet(devnet, wallet.address, toNano('100'));
    });
    afterAll(async () => {
        await devnet?.stop();
    });

    it('a ChainWallet deploys itself, Governance and Root through the wrappers; send() returns once the seqno moved', async () => {
        expect(await chain.isDeployed(wallet.address)).toBe(false);
        expect(await wallet.getSeqno()).toBe(0);
        gov = chain.open(await GovernanceWrapper.create([{ address: wallet.address, weight: 1n }], { ...DEFAULT_GOV_PARAMS, timelock: 0n }));
        await gov.sendFund(wallet.sender(), toNano('2'));
        expect(await wallet.getSeqno()).toBe(1);
        expect(await chain.isDeployed(wallet.address)).toBe(true);
        expect(await chain.isDeployed(gov.address)).toBe(true);

        root = await RootWrapper.create({ governance: gov.address, treasury: wallet.address });
        await chain.open(root).sendDeploy(wallet.sender());
        expect(await wallet.getSeqno()).toBe(2);
        expect(await chain.isDeployed(root.address)).toBe(true);

        // Several messages in one transfer; concurrent sends are serialised (distinct seqnos).
        const sinks = [1, 2, 3].map((i) => new Address(0, Buffer.alloc(32, 0x40 + i)));
        const [a, b] = await Promise.all([
            wallet.send(sinks.map((to) => ({ to, value: toNano('0.01'), bounce: false }))),
            wallet.send([{ to: sinks[0], value: toNano('0.01'), bounce: false }]),
        ]);
        expect([a.seqno, b.seqno]).toEqual([2, 3]);
        expect(await chain.getBalance(sinks[0])).toBeGreaterThan(toNano('0.015'));
        await expect(wallet.send([])).rejects.toMatchObject({ code: 'CHAIN_SEND_INVALID' });
        await expect(wallet.send(Array(5).fill({ to: sinks[0], value: 1n }))).rejects.toMatchObject({ code: 'CHAIN_SEND_INVALID' });
    });

    it('getRootConfig reads Root; refreshIfChanged costs one getter call while the version is unchanged', async () => {
        const rchain = new TonChain({ config: { ...cfg, rootAddress: root.address, cacheTtlMs: 3_600_000 } });
        const c0 = await rchain.getRootConfig();
        expect(c0.root.equals(root.address)).toBe(true);
        expect(c0.params).toEqual(DEFAULT_PARAMS);
        expect(c0.terms.treasury.equals(wallet.address)).toBe(true);
        expect(c0.childCode.clientCode).toBeDefined();
        expect(c0.workerImages.size + c0.proxyImages.size + c0.models.size + c0.proxies.size).toBe(0);
        expect(rchain.transport.stats.byMethod['runGetMethod:version']).toBe(2); // before and after the fetch

        // Within the TTL: served from the cache, no request at all.
        let before = { ...rchain.transport.stats.byMethod };
        expect(await rchain.getRootConfig()).toBe(c0);
        expect(delta(rchain, before)).toEqual({});
        // An explicit check: exactly one `version` getter call, nothing refetched.
        before = { ...rchain.transport.stats.byMethod };
        expect(await rchain.refreshIfChanged()).toBe(false);
        expect(delta(rchain, before)).toEqual({ 'runGetMethod:version': 1 });
        expect(await rchain.getRootConfig()).toBe(c0);
        // Concurrent checks share one call.
        before = { ...rchain.transport.stats.byMethod };
        await Promise.all([rchain.refreshIfChanged(), rchain.refreshIfChanged(), rchain.refreshIfChanged()]);
        expect(delta(rchain, before)).toEqual({ 'runGetMethod:version': 1 });

        // Governance allowlists a worker image (one voter, timelock 0: propose, then execute).
        const image = createHash('sha256').update('chain-spec-worker-image').digest();
        const imageHex = image.toString('hex');
        const id = await gov.getNextProposalId();
        await gov.sendPropose(wallet.sender(), [{ to: root.address, value: toNano('0.05'), body: RootWrapper.addImageBody('worker', toUint256(image)) }]);
        await gov.sendExecute(wallet.sender(), id);

        // The cache is stale by design until the version is checked.
        expect(await rchain.isImageAllowed('worker', imageHex)).toBe(false);
        before = { ...rchain.transport.stats.byMethod };
        expect(await rchain.refreshIfChanged()).toBe(true);
        const refetched = delta(rchain, before);
        expect(refetched['runGetMethod:version']).toBe(2);
        for (const g of ['params', 'terms', 'childCode', 'proxyImagesPage', 'workerImagesPage', 'modelsPage', 'proxiesPage']) expect(refetched[`runGetMethod:${g}`]).toBe(1);
        const c1 = await rchain.getRootConfig();
        expect(c1).not.toBe(c0);
        expect(c1.version).toBeGreaterThan(c0.version);
        expect([...c1.workerImages]).toEqual([imageHex]);
        expect(c1.proxyImages.size).toBe(0);
        expect(await rchain.isImageAllowed('worker', imageHex)).toBe(true);
        expect(await rchain.isImageAllowed('worker', '0x' + imageHex.toUpperCase())).toBe(true);
        expect(await rchain.isImageAllowed('proxy', imageHex)).toBe(false);
        expect(await rchain.isImageAllowed('worker', 'not hex')).toBe(false);
        // And unchanged again afterwards.
        before = { ...rchain.transport.stats.byMethod };
        expect(await rchain.refreshIfChanged()).toBe(false);
        expect(delta(rchain, before)).toEqual({ 'runGetMethod:version': 1 });

        // With cacheTtlMs 0, every getRootConfig() checks the version and picks changes up by itself.
        const eager = new TonChain({ config: { ...cfg, rootAddress: root.address, cacheTtlMs: 0 } });
        expect((await eager.getRootConfig()).workerImages.has(imageHex)).toBe(true);
        before = { ...eager.transport.stats.byMethod };
        await eager.getRootConfig();
        expect(delta(eager, before)).toEqual({ 'runGetMethod:version': 1 });
    });

    it('reads proxy, client-channel and worker-channel states (null before deployment)', async () => {
        const rchain = new TonChain({ config: { ...cfg, rootAddress: root.address, cacheTtlMs: 0 } });
        const { childCode, terms, params } = await rchain.getRootConfig();
        const enclave = keyPairFromSeed(seed('chain-spec-proxy-enclave'));
        const proxy = await ProxyWrapper.create({ root: root.address, owner: wallet.address, enclaveKey: toUint256(enclave.publicKey), workerCode: childCode.workerCode, proxyCode: childCode.proxyCode });
        expect(await rchain.getProxyState(proxy.address)).toBeNull();
        await rchain.open(proxy).sendRegister(wallet.sender(), { stake: toNano('10'), clientEndpoint: '127.0.0.1:1', workerEndpoint: '127.0.0.1:2' });
        const ps = await rchain.getProxyState(proxy.address);
        expect(ps?.registered).toBe(true);
        expect(ps?.stake).toBe(toNano('10'));
        const cfgWithProxy = await rchain.getRootConfig();
        expect([...cfgWithProxy.proxies.keys()]).toEqual([proxy.address.toRawString()]);

        const client = keyPairFromSeed(seed('chain-spec-client'));
        const channel = await ClientChannelWrapper.create({
            proxy: proxy.address,
            client: wallet.address,
            clientKey: toUint256(client.publicKey),
            proxyKey: toUint256(enclave.publicKey),
            closeDelay: params.clientCloseDelay,
            code: childCode.clientCode,
        });
        expect(await rchain.getClientChannelState(channel.address)).toBeNull();
        await rchain.open(channel).sendTopUp(wallet.sender(), toNano('3'));
        const cs = await rchain.getClientChannelState(channel.address);
        expect(cs?.balance).toBe(toNano('3'));
        expect(cs?.client.equals(wallet.address)).toBe(true);

        const wch = await WorkerChannelWrapper.create({ proxy: proxy.address, worker: wallet.address, proxyKey: toUint256(enclave.publicKey), root: root.address, terms, code: childCode.workerCode });
        expect(await rchain.getWorkerChannelState(wch.address)).toBeNull();
        await rchain.open(wch).sendStake(wallet.sender(), toNano('1'));
        const ws = await rchain.getWorkerChannelState(wch.address);
        expect(ws?.stake).toBe(toNano('1'));

        // A getter that does not exist on a deployed contract is a typed failure, not null.
        await expect(rchain.getClientChannelState(root.address)).rejects.toMatchObject({ code: 'CHAIN_GETTER_FAILED' });
    });

    it('balances and transactions (newest first, paged by lt/hash)', async () => {
        const balance = await chain.getBalance(wallet.address);
        expect(balance).toBeGreaterThan(0n);
        expect(balance).toBeLessThan(toNano('100'));
        expect(await wallet.getBalance()).toBe(balance);
        const txs = await chain.getTransactions(wallet.address, { limit: 50 });
        expect(txs.length).toBeGreaterThanOrEqual(6); // faucet + the transfers above
        for (let i = 1; i < txs.length; i++) expect(txs[i].lt).toBeLessThan(txs[i - 1].lt);
        // The oldest is the faucet's incoming transfer.
        expect(txs[txs.length - 1].inMessage?.info.type).toBe('internal');
        const page = await chain.getTransactions(wallet.address, { limit: 2, lt: txs[1].lt, hash: txs[1].hash().toString('base64') });
        expect(page.map((t) => t.lt)).toEqual([txs[2].lt, txs[3].lt]);
        expect(await chain.getTransactions(new Address(0, Buffer.alloc(32, 0x99)))).toEqual([]);
        const unknown = await chain.getBalance(new Address(0, Buffer.alloc(32, 0x98)));
        expect(unknown).toBe(0n);
    });

    it('the tonapi adapter streams the devnet SSE transactions of an account', async () => {
        const adapter = new TonapiAdapter({ endpoint: devnet.baseUrl, rps: 1000 });
        const events: TxEvent[] = [];
        let opened = false;
        const stream = adapter.accountTransactions([wallet.address], (ev) => void events.push(ev), { onOpen: () => (opened = true) });
        const t0 = Date.now();
        while (!opened && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
        const sink = new Address(0, Buffer.alloc(32, 0x77));
        await wallet.send([{ to: sink, value: toNano('0.01'), bounce: false }]);
        while (events.length === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
        stream.close();
        await stream.done;
        const [latest] = await chain.getTransactions(wallet.address, { limit: 1 });
        expect(events).toHaveLength(1);
        expect(events[0].accountId).toBe(wallet.address.toRawString());
        expect(events[0].lt).toBe(latest.lt);
        expect(events[0].txHash).toBe(latest.hash().toString('hex'));
    });

    it("reads the network's global id (config param 19) once and caches it: what every signed payload carries", async () => {
        const before = { ...chain.transport.stats.byMethod };
        expect(await chain.getGlobalId()).toBe(GLOBAL_ID);
        expect(await chain.getGlobalId()).toBe(GLOBAL_ID);
        expect(delta(chain, before)).toEqual({ getConfigParam: 1 });
    });

    it('wallets from a mnemonic or a secret key', async () => {
        const words = await mnemonicNew();
        const w = await ChainWallet.fromMnemonic(chain, words.join(' '));
        const keys = await mnemonicToPrivateKey(words);
        expect(w.address.equals(WalletContractV4.create({ workchain: 0, publicKey: keys.publicKey }).address)).toBe(true);
        expect(ChainWallet.fromSecretKey(chain, keys.secretKey).address.equals(w.address)).toBe(true);
        await expect(ChainWallet.fromMnemonic(chain, 'not a mnemonic')).rejects.toBeInstanceOf(ChainError);
        expect(() => ChainWallet.fromSecretKey(chain, Buffer.alloc(32))).toThrow(ChainError);
        // A fresh wallet funded by the faucet deploys itself on its first transfer.
        await faucet(devnet, w.address, toNano('1'));
        await w.send([{ to: wallet.address, value: toNano('0.1') }]);
        expect(await w.getSeqno()).toBe(1);
        expect(hex256(1n)).toBe('0'.repeat(63) + '1');
    });

    it('Root reads without a configured Root fail with CHAIN_NOT_CONFIGURED', async () => {
        await expect(chain.getRootConfig()).rejects.toMatchObject({ code: 'CHAIN_NOT_CONFIGURED' });
    });
});
