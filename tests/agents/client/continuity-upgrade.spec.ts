// Client continuity, channels under an older child code (spec/client.md, "Proxy selection"; spec/proxy.md, the hello
// check): after governance changes Root's ClientChannel code, a client's channel created under the old code is still
// found (the state file's address, not the address today's code gives), still served by its proxy (which remembers
// every client code Root listed while it watched, across restarts), and can be closed in one step.
import { toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { seed } from '../../../fixtures/agent-network';
import { ask, drain, MoneyStack, startMoneyStack, until } from '../../helpers/money-stack';
import { connectRaTls, KeyIdentity, PeerVerifier } from '../../../agents/core/transport';
import { encodeFrame, parseFrame, PROTOCOL_VERSION } from '../../../agents/core/wire';
import { ClientChannelWrapper } from '../../../wrappers/ClientChannel';
import { compiledChildCodes, RootWrapper } from '../../../wrappers/Root';
import { toUint256 } from '../../../wrappers/payloads';
import { CocoonClient } from '../../../agents/client/runner';
import { join } from 'path';

jest.setTimeout(180_000);

describe('client continuity: a channel under an older child code', () => {
    let stack: MoneyStack;

    beforeAll(async () => {
        stack = await startMoneyStack({ label: 'upgrade', params: {} });
    });

    afterAll(async () => {
        await stack?.stop();
    });

    it("after Root's SetChildCode (a governance action) the old channel is found, served by a restarted proxy, withdrawn from in one step and closable", async () => {
        const chain = stack.net.newChain();
        const before = await stack.sdkClient('upgrade-client', toNano('1'));
        await drain(before.request(ask(20)));
        const paidBefore = await stack.signedAndHeld(before);
        const old = before.channel;
        await before.stop();

        // Governance replaces the client code (any other code will do: the old channel must not depend on it).
        const codes = await compiledChildCodes();
        await stack.net.govern(RootWrapper.setChildCodeBody({ ...codes, clientCode: codes.workerCode }));
        const cfg = await chain.getRootConfig();
        expect(cfg.childCode.clientCode.equals(codes.workerCode)).toBe(true);
        const info = cfg.proxies.get(stack.proxyAddress.toRawString())!;
        const wallet = (await stack.net.fundWallet('upgrade-client', '1')).wallet;
        const today = await ClientChannelWrapper.create({ proxy: stack.proxyAddress, client: wallet.address, clientKey: toUint256(keyPairFromSeed(seed('upgrade-client')).publicKey), proxyKey: info.enclaveKey, closeDelay: cfg.params.clientCloseDelay, code: cfg.childCode.clientCode });
        expect(today.address.equals(old)).toBe(false); // recomputing the address would strand the channel

        // The proxy restarts after the upgrade: what it remembers of the old code is in its ledger.
        await stack.proxy.stop();
        await stack.startProxy();
        await until('the worker back on the proxy', () => stack.proxy.stats().workers.length === 1);

        const after = await stack.sdkClient('upgrade-client', toNano('0.5'));
        expect(after.channel.equals(old)).toBe(true);
        expect(await chain.getClientChannelState(today.address)).toBeNull(); // nothing was deployed at the new address
        await drain(after.request(ask(20)));
        const paid = await stack.signedAndHeld(after);
        expect(paid).toBeGreaterThan(paidBefore); // the old channel's vouchers continue

        // Withdrawable in one step, and closable: `cocoon client` commands (attach) find it, closing or not.
        expect(await after.coopWithdraw({ amount: toNano('0.1') })).toMatchObject({ amount: toNano('0.1'), close: false });
        await after.close();
        // The co-signature left what is owed in the channel; the proxy's watch redeems it during the close delay.
        expect(await stack.proxy.watchChannels()).toContain(old.toRawString());
        await after.stop();
        const cli = new CocoonClient({ chain: stack.net.newChain(), wallet, seed: seed('upgrade-client'), quotePolicy: stack.net.quotePolicy, statePath: join(stack.dir, 'upgrade-client.json'), proxy: stack.proxyAddress });
        await cli.attach();
        expect(cli.channel.equals(old)).toBe(true);
        await expect(cli.finishClose()).rejects.toMatchObject({ code: 'TOO_EARLY' }); // its close delay runs
        await cli.stop();
        const st = (await chain.getClientChannelState(old))!;
        expect([st.state, st.redeemed, st.withdrawSeqno]).toEqual([1n, paid, 1n]);
    });

    it("attack: a channel deployed with a close delay below Root's (to leave before the proxy can redeem) is refused CHANNEL_INVALID", async () => {
        const chain = stack.net.newChain();
        const cfg = await chain.getRootConfig();
        const info = cfg.proxies.get(stack.proxyAddress.toRawString())!;
        const s = seed('upgrade-short-delay');
        const { wallet } = await stack.net.fundWallet('upgrade-short-delay', '2');
        const codes = await compiledChildCodes();
        expect(cfg.params.clientCloseDelay).toBeGreaterThan(60n);
        // Under a code the proxy knows (the one before the upgrade above), but with a one-minute close delay.
        const ch = await ClientChannelWrapper.create({ proxy: stack.proxyAddress, client: wallet.address, clientKey: toUint256(keyPairFromSeed(s).publicKey), proxyKey: info.enclaveKey, closeDelay: 60n, code: codes.clientCode });
        await chain.open(ch).sendTopUp(wallet.sender(), toNano('1'));
        await until('the channel', async () => (await chain.getClientChannelState(ch.address)) !== null);
        const conn = await connectRaTls(info.clientEndpoint, await KeyIdentity.create({ seed: s }), new PeerVerifier({ quote: stack.net.quotePolicy, isImageAllowed: (h) => cfg.proxyImages.has(h) }));
        const inbox: ReturnType<typeof parseFrame<'proxy_to_client'>>[] = [];
        conn.ws.on('message', (m) => inbox.push(parseFrame(m.toString(), 'proxy_to_client')));
        conn.ws.send(encodeFrame({ type: 'hello', v: PROTOCOL_VERSION, minV: PROTOCOL_VERSION, role: 'client', channel: ch.address.toString() }, 'client_to_proxy'));
        await until('the refusal', () => inbox.some((f) => f.type === 'error' || f.type === 'hello_ok'));
        expect(inbox[0]).toMatchObject({ type: 'error', code: 'CHANNEL_INVALID', fatal: true });
        conn.ws.close();
    });
});
