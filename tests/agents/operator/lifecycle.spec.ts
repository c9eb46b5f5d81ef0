// The operator commands on a devnet with a running proxy, worker and client (tests/helpers/money-stack.ts), run
// in-process as `cocoon proxy …` / `cocoon worker …` over config files in the agents' own format. The tests run in
// order, as an operator's life would: look, withdraw, add stake, claim, evict, close, wait, take everything back.
// Every command that sends moves real coins on the devnet (asserted on the contracts' getters and balances); every dry
// run and every refusal moves nothing (the sending wallet's seqno and balance are unchanged).
import { Address, toNano } from '@ton/core';
import { keyPairFromSecretKey, keyPairFromSeed } from '@ton/crypto';
import { AgentNetwork, seed } from '../../../fixtures/agent-network';
import { WorkerChannelWrapper } from '../../../wrappers/WorkerChannel';
import { PayoutBook } from '../../../agents/worker/payouts';
import { systemClock } from '../../../agents/core/clock';
import { noLog } from '../../../agents/core/log';
import { join } from 'path';
import { ChainWallet, TonChain } from '../../../agents/core/chain';
import { FeeClaim, FeeFinish, FeePayment, FeeSimple, MinStorage, ProxyWrapper } from '../../../wrappers/Proxy';
import { ask, drain, MoneyStack, startMoneyStack, until } from '../../helpers/money-stack';
import { outcomeOf, plain } from '../../../agents/operator/send';
import { CocoonClient } from '../../../agents/client/runner';
import { cocoon, proxyConfig, secret, workerConfig } from './config-files';

jest.setTimeout(120_000);

const DAY = 24 * 3600 * 1000;

describe('cocoon proxy | worker operator commands on the devnet', () => {
    let offset = 0;
    const chainNow = () => Date.now() + offset;
    let stack: MoneyStack;
    let net: AgentNetwork;
    let ownerCfg: string;
    let strangerCfg: string;
    let workerCfg: string;
    let worker2Cfg: string;
    let stranger: ChainWallet;
    let worker2: ChainWallet;
    let client: CocoonClient;
    let patron: ChainWallet;
    const proxyState = async () => (await net.newChain().getProxyState(stack.proxyAddress))!;
    const proxySnapshot = async () => JSON.stringify(plain(await proxyState()));
    const balance = (a: Address) => net.newChain().getBalance(a);
    const ownerAddress = async () => (await proxyState()).owner;
    const workerChannel = async (worker: Address) => net.newChain().open(ProxyWrapper.open(stack.proxyAddress)).getWorkerChannelAddress(worker);
    const channelState = async (worker: Address) => (await net.newChain().getWorkerChannelState(await workerChannel(worker)))!;
    /** Runs `f` and asserts that `wallet` sent nothing meanwhile (same seqno, same balance). */
    const sendsNothing = async <T>(wallet: Address, f: () => Promise<T>): Promise<T> => {
        const chain = net.newChain();
        const before = { balance: await chain.getBalance(wallet), txs: (await chain.getTransactions(wallet, { limit: 1 }))[0]?.lt ?? 0n };
        const r = await f();
        expect(await chain.getBalance(wallet)).toBe(before.balance);
        expect((await chain.getTransactions(wallet, { limit: 1 }))[0]?.lt ?? 0n).toBe(before.txs);
        return r;
    };

    beforeAll(async () => {
        stack = await startMoneyStack({ label: 'operator', params: {}, clock: chainNow });
        net = stack.net;
        // Real traffic: the client pays the proxy, the proxy redeems and signs the worker's payout.
        client = await stack.sdkClient('operator-client', toNano('1'));
        for (let i = 0; i < 3; i++) await drain(client.request(ask(20)));
        await stack.signedAndHeld(client);
        // A patron's payment makes the commission and pool large enough to see in balances (ChannelPayment is open to anyone).
        const p = await net.fundWallet('operator-patron', '20');
        // On the chain's clock, which the last test moves forward (a transfer expires by chain time).
        patron = new TonChain({ config: net.chainConfig, clock: { now: chainNow, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) } }).wallet(keyPairFromSecretKey(p.secretKey));
        await net.newChain().open(ProxyWrapper.open(stack.proxyAddress)).send(patron.sender(), { value: toNano('5') + FeePayment }, { $$type: 'ChannelPayment', queryId: 0n, amount: toNano('5') });
        await stack.proxy.settle({ force: true });
        const s = await net.fundWallet('operator-stranger', '20');
        stranger = s.wallet;
        const w2 = await net.fundWallet('operator-worker-2', '20');
        worker2 = w2.wallet;
        ownerCfg = proxyConfig(stack, 'op-proxy.json', { walletKey: stack.keys.proxyWallet, ownerKey: stack.keys.owner });
        strangerCfg = proxyConfig(stack, 'op-stranger.json', { walletKey: s.secretKey });
        workerCfg = workerConfig(stack, 'op-worker.json', { walletKey: stack.keys.worker, stateFile: 'worker.json' });
        worker2Cfg = workerConfig(stack, 'op-worker2.json', { walletKey: w2.secretKey, stateFile: 'worker2-payouts.json' });
        await until('the worker to hold a signed payout', async () => BigInt((await cocoon('worker', 'status', '--config', workerCfg, '--json')).json?.channels?.[0]?.earned ?? 0) > 0n);
    });
    afterAll(async () => {
        await stack?.stop();
    });

    it('proxy status shows stake, state, commission, pool, withdrawable surplus and the owner check, in JSON and text', async () => {
        const st = await proxyState();
        const r = await cocoon('proxy', 'status', '--config', ownerCfg, '--json');
        expect(r.status).toBe(0);
        expect(r.json).toMatchObject({
            state: 'active',
            stake: st.stake.toString(),
            commission: st.commission.toString(),
            pool: st.pool.toString(),
            workerChannels: 1,
            walletIsOwner: true,
            owner: st.owner.toRawString(),
        });
        expect(st.commission).toBeGreaterThanOrEqual(toNano('0.5'));
        const text = await cocoon('proxy', 'status', '--config', ownerCfg);
        expect(text.out).toContain('stake: 10 TON');
        expect(text.out).toContain('state: active');
        // Another wallet sees it is not the owner; --wallet names the owner's key file instead.
        expect((await cocoon('proxy', 'status', '--config', strangerCfg, '--json')).json?.walletIsOwner).toBe(false);
        const ownerFile = `${stack.dir}/${secret(stack, 'owner-key', stack.keys.owner)}`;
        expect((await cocoon('proxy', 'status', '--config', strangerCfg, '--wallet', ownerFile, '--json')).json?.walletIsOwner).toBe(true);
    });

    it.each([
        [['proxy', 'add-stake'], /--amount <TON> is required/],
        [['proxy', 'add-stake', '--amount', '0'], /--amount must be above 0/],
        [['proxy', 'add-stake', '--amount', '1.0000000001'], /--amount: expected TON/],
        [['proxy', 'add-stake', '--amount', '-1'], /--amount/],
        [['proxy', 'evict'], /--worker <address> is required/],
        [['proxy', 'evict', '--worker', 'nobody'], /--worker: not a TON address/],
        [['proxy', 'withdraw-commission', '--amount', '1'], /unknown flag --amount/],
        [['proxy', 'status', '--bogus'], /unknown flag --bogus/],
        [['worker', 'claim', '--proxy', 'nowhere'], /--proxy: not a TON address/],
        [['worker', 'add-stake', '--amount', 'lots'], /--amount: expected TON/],
    ])('%j is a usage error: status 2, nothing sent', async (argv, message) => {
        const [group, sub, ...rest] = argv;
        const cfg = group === 'proxy' ? ownerCfg : workerCfg;
        const r = await sendsNothing(await ownerAddress(), () => cocoon(group, sub, '--config', cfg, ...rest));
        expect(r.err).toMatch(message);
        expect(r.err).toContain(`usage: cocoon ${group} ${sub}`);
        expect(r.status).toBe(2);
    });

    it('each command answers --help with its usage; without --config it is a usage error', async () => {
        expect(await cocoon('proxy', 'status')).toMatchObject({ status: 2, err: expect.stringMatching(/^--config <file> is required/) });
        expect(await cocoon('worker', 'claim', '--json')).toMatchObject({ status: 2, err: expect.stringMatching(/^--config <file> is required/) });
        for (const sub of ['status', 'withdraw-commission', 'add-stake', 'close', 'finish-close', 'evict']) {
            const r = await cocoon('proxy', sub, '--help');
            expect([r.status, r.out]).toEqual([0, expect.stringContaining(`usage: cocoon proxy ${sub}`)]);
        }
        for (const sub of ['status', 'add-stake', 'unbond', 'finish-unbond', 'claim', 'close']) {
            const r = await cocoon('worker', sub, '--help');
            expect([r.status, r.out]).toEqual([0, expect.stringContaining(`usage: cocoon worker ${sub}`)]);
        }
    });

    it('a dry run shows destination, value, opcode, decoded fields and the fee, and changes nothing', async () => {
        const before = await proxySnapshot();
        const r = await sendsNothing(await ownerAddress(), () => cocoon('proxy', 'add-stake', '--config', ownerCfg, '--amount', '2.5', '--dry-run', '--json'));
        expect(r.status).toBe(0);
        expect(r.json).toMatchObject({
            dryRun: true,
            to: stack.proxyAddress.toRawString(),
            value: (toNano('2.5') + FeeSimple).toString(),
            message: { opcode: '0xc0c00302', name: 'AddStake', fields: { queryId: '0', amount: toNano('2.5').toString() } },
            fees: { contract: FeeSimple.toString() },
        });
        expect(BigInt(r.json!.fees.wallet)).toBeGreaterThan(0n);
        const w = await sendsNothing(await ownerAddress(), () => cocoon('proxy', 'withdraw-commission', '--config', ownerCfg, '--dry-run'));
        expect(w.status).toBe(0);
        expect(w.out).toMatch(/dry run: nothing sent/);
        expect(w.out).toMatch(/name: WithdrawCommission/);
        expect(await proxySnapshot()).toEqual(before);
    });

    it('attack: a stranger (not the owner) is refused NOT_OWNER before sending, for every owner command', async () => {
        const before = await proxySnapshot();
        for (const argv of [['withdraw-commission'], ['add-stake', '--amount', '1'], ['close'], ['finish-close'], ['evict', '--worker', stranger.address.toString()]]) {
            const r = await sendsNothing(stranger.address, () => cocoon('proxy', argv[0], '--config', strangerCfg, ...argv.slice(1)));
            expect(r.status).toBe(1);
            expect(r.err).toMatch(/^NOT_OWNER: wallet .* is not the owner/);
        }
        expect(await proxySnapshot()).toEqual(before);
        // What the check spares the stranger: sent anyway, the contract refuses it (ErrAccessDenied), which a command
        // that raced a state change would report as TX_FAILED with this exit code's name.
        const chain = net.newChain();
        await chain.open(ProxyWrapper.open(stack.proxyAddress)).sendWithdrawCommission(stranger.sender());
        const [tx] = await chain.getTransactions(stack.proxyAddress, { limit: 1 });
        expect(outcomeOf(tx)).toMatchObject({ success: false, exitCode: 256, error: 'ErrAccessDenied' });
        expect(await proxySnapshot()).toEqual(before);
    });

    it('a chain that cannot be reached is a typed error (status 1)', async () => {
        const dead = proxyConfig(stack, 'op-dead.json', { walletKey: stack.keys.owner, endpoint: 'http://127.0.0.1:1/api/v2/jsonRPC' });
        const r = await cocoon('proxy', 'status', '--config', dead);
        expect(r.status).toBe(1);
        expect(r.err).toMatch(/^CHAIN_UNAVAILABLE: /);
    });

    it('withdraw-commission sends the commission and surplus to the owner; stake, pool and the floor stay', async () => {
        const owner = await ownerAddress();
        const st = await proxyState();
        const proxyBalance = await balance(stack.proxyAddress);
        const withdrawable = proxyBalance - (st.stake + st.pool + MinStorage);
        const ownerBefore = await balance(owner);
        const r = await cocoon('proxy', 'withdraw-commission', '--config', ownerCfg, '--json');
        expect([r.status, r.err]).toEqual([0, '']);
        expect(r.json).toMatchObject({ dryRun: false, outcome: { exitCode: 0, success: true }, state: { commission: '0' } });
        const after = await proxyState();
        expect(after.commission).toBe(0n);
        expect([after.stake, after.pool]).toEqual([st.stake, st.pool]);
        expect(await balance(stack.proxyAddress)).toBe(st.stake + st.pool + MinStorage);
        const gained = (await balance(owner)) - ownerBefore;
        expect(gained).toBeLessThan(withdrawable);
        expect(gained).toBeGreaterThan(withdrawable - toNano('0.03'));
        // Nothing left: the second one is refused before sending.
        const again = await sendsNothing(owner, () => cocoon('proxy', 'withdraw-commission', '--config', ownerCfg));
        expect([again.status, again.err]).toEqual([1, expect.stringMatching(/^NOTHING_TO_DO: /)]);
    });

    it('add-stake adds exactly the amount to the stake', async () => {
        const owner = await ownerAddress();
        const before = await proxyState();
        const ownerBefore = await balance(owner);
        const r = await cocoon('proxy', 'add-stake', '--config', ownerCfg, '--amount', '2', '--json');
        expect([r.status, r.err]).toEqual([0, '']);
        expect((await proxyState()).stake).toBe(before.stake + toNano('2'));
        const spent = ownerBefore - (await balance(owner));
        expect(spent).toBeGreaterThan(toNano('2'));
        expect(spent).toBeLessThan(toNano('2') + FeeSimple + toNano('0.01'));
    });

    it('worker status shows the channel, the signed payout and what is claimable; claim pays exactly that from the pool', async () => {
        const workerAddr = stack.worker.wallet.address;
        const s = await cocoon('worker', 'status', '--config', workerCfg, '--json');
        expect(s.status).toBe(0);
        const ch = s.json!.channels[0];
        expect(ch).toMatchObject({ proxy: stack.proxyAddress.toRawString(), state: 'active', stake: toNano('1').toString() });
        const earned = BigInt(ch.earned);
        const paid = BigInt(ch.paid);
        expect(BigInt(ch.claimable)).toBe(earned - paid);
        // The dry run changes nothing; the claim moves `earned − paid` from the pool to the worker.
        const dry = await sendsNothing(workerAddr, () => cocoon('worker', 'claim', '--config', workerCfg, '--dry-run', '--json'));
        expect(dry.json).toMatchObject({ message: { name: 'ClaimPayout', fields: { amount: earned.toString() } }, value: FeeClaim.toString() });
        const pool = (await proxyState()).pool;
        const r = await cocoon('worker', 'claim', '--config', workerCfg, '--json');
        expect([r.status, r.err]).toEqual([0, '']);
        expect((await channelState(workerAddr)).paid).toBe(earned);
        expect((await proxyState()).pool).toBe(pool - (earned - paid));
        const again = await sendsNothing(workerAddr, () => cocoon('worker', 'claim', '--config', workerCfg));
        expect([again.status, again.err]).toEqual([1, expect.stringMatching(/^NOTHING_TO_DO: nothing to claim/)]);
    });

    it('worker add-stake tops up an open channel and opens a new one (deploying it)', async () => {
        const workerAddr = stack.worker.wallet.address;
        const before = (await channelState(workerAddr)).stake;
        const r = await cocoon('worker', 'add-stake', '--config', workerCfg, '--amount', '0.5', '--json');
        expect([r.status, r.err]).toEqual([0, '']);
        expect((await channelState(workerAddr)).stake).toBe(before + toNano('0.5'));
        // A second worker with no channel yet: the first stake deploys it and, at the minimum, opens it at the proxy.
        const dry = await cocoon('worker', 'add-stake', '--config', worker2Cfg, '--amount', '1', '--dry-run', '--json');
        expect(dry.json).toMatchObject({ deploys: true, message: { name: 'WorkerStake' } });
        const channels = (await proxyState()).workerChannels;
        const w2 = await cocoon('worker', 'add-stake', '--config', worker2Cfg, '--amount', '1', '--json');
        expect([w2.status, w2.err]).toEqual([0, '']);
        expect(await channelState(worker2.address)).toMatchObject({ state: 1n, stake: toNano('1') });
        expect((await proxyState()).workerChannels).toBe(channels + 1n);
    });

    it('wrong states are typed errors before sending, as are a payout above the pool (POOL_SHORT) and a wallet that cannot pay', async () => {
        const owner = await ownerAddress();
        const fc = await sendsNothing(owner, () => cocoon('proxy', 'finish-close', '--config', ownerCfg));
        expect([fc.status, fc.err]).toEqual([1, expect.stringMatching(/^WRONG_STATE: Proxy .* is active: run close first/)]);
        const fu = await sendsNothing(worker2.address, () => cocoon('worker', 'finish-unbond', '--config', worker2Cfg));
        expect([fu.status, fu.err]).toEqual([1, expect.stringMatching(/^WRONG_STATE: .* is active: run unbond first/)]);
        const ev = await sendsNothing(owner, () => cocoon('proxy', 'evict', '--config', ownerCfg, '--worker', stranger.address.toString()));
        expect([ev.status, ev.err]).toEqual([1, expect.stringMatching(/^NOT_DEPLOYED: worker .* has no channel/)]);
        // A payout the proxy signed above what its pool holds would bounce after the worker paid the claim's gas.
        const ch2 = net.newChain().open(WorkerChannelWrapper.open(await workerChannel(worker2.address)));
        const globalId = await net.newChain().getGlobalId();
        const ps = await proxyState();
        const amount = ps.pool + toNano('1');
        const book = new PayoutBook({ path: join(stack.dir, 'worker2-payouts.json'), chain: net.newChain(), wallet: worker2, threshold: 0n, globalId, clock: systemClock, log: noLog });
        book.load();
        book.accept({ channel: ch2.address, proxy: stack.proxyAddress, enclaveKey: ps.enclaveKey, amount, signature: ch2.signPayout(amount, keyPairFromSeed(seed('operator-proxy')).secretKey, globalId) });
        const short = await sendsNothing(worker2.address, () => cocoon('worker', 'claim', '--config', worker2Cfg));
        expect([short.status, short.err]).toEqual([1, expect.stringMatching(/^POOL_SHORT: the proxy's pool holds .* TON, the claim needs/)]);
        const poor = await sendsNothing(worker2.address, () => cocoon('worker', 'add-stake', '--config', worker2Cfg, '--amount', '1000'));
        expect([poor.status, poor.err]).toEqual([1, expect.stringMatching(/^INSUFFICIENT_BALANCE: wallet .* holds /)]);
    });

    it('evict forces a worker into unbonding; close starts the close delay', async () => {
        const r = await cocoon('proxy', 'evict', '--config', ownerCfg, '--worker', worker2.address.toString(), '--json');
        expect([r.status, r.err]).toEqual([0, '']);
        expect(r.json).toMatchObject({ message: { name: 'EvictWorker', fields: { worker: worker2.address.toRawString() } }, state: { state: 'unbonding' } });
        expect((await channelState(worker2.address)).state).toBe(2n);
        const again = await cocoon('worker', 'unbond', '--config', worker2Cfg);
        expect([again.status, again.err]).toEqual([1, expect.stringMatching(/^WRONG_STATE: .* is unbonding: nothing to unbond/)]);
        // The proxy reports a fault of the unbonding worker: a slash of 0.25 TON is pending (it blocks finish-unbond).
        const ch2 = net.newChain().open(WorkerChannelWrapper.open(await workerChannel(worker2.address)));
        const fault = { seqno: 0n, amount: toNano('0.25'), reason: 1n, requestId: 1n, evidenceHash: 2n };
        const proxyKey = keyPairFromSeed(seed('operator-proxy')).secretKey;
        await ch2.sendReportFault(patron.sender(), { ...fault, signature: ch2.signFault(fault, proxyKey, await net.newChain().getGlobalId()) });
        expect((await channelState(worker2.address)).slash?.amount).toBe(toNano('0.25'));
        // The worker leaves by itself after more traffic: close claims the new payout and starts unbonding.
        const workerAddr = stack.worker.wallet.address;
        const paid = (await channelState(workerAddr)).paid;
        await drain(client.request(ask(20)));
        await stack.signedAndHeld(client);
        await stack.proxy.settle({ force: true });
        await until('a new signed payout', async () => BigInt((await cocoon('worker', 'status', '--config', workerCfg, '--json')).json?.channels?.[0]?.earned ?? 0) > paid);
        const leave = await cocoon('worker', 'close', '--config', workerCfg, '--json');
        expect([leave.status, leave.err]).toEqual([0, '']);
        expect(Object.keys(leave.json!.steps)).toEqual(['claim', 'unbond']);
        expect((await channelState(workerAddr)).paid).toBe(BigInt(leave.json!.steps.claim.message.fields.amount));
        expect(leave.json!.next).toMatch(/run close again/);
        expect((await channelState(stack.worker.wallet.address)).state).toBe(2n);

        const c = await cocoon('proxy', 'close', '--config', ownerCfg, '--json');
        expect([c.status, c.err]).toEqual([0, '']);
        const st = await proxyState();
        expect(st.state).toBe(1n);
        expect(c.json!.state).toMatchObject({ state: 'closing', closeInS: expect.any(Number) });
        const early = await sendsNothing(await ownerAddress(), () => cocoon('proxy', 'finish-close', '--config', ownerCfg));
        expect([early.status, early.err]).toEqual([1, expect.stringMatching(/^TOO_EARLY: the close delay ends at /)]);
        const earlyW = await sendsNothing(worker2.address, () => cocoon('worker', 'finish-unbond', '--config', worker2Cfg));
        expect([earlyW.status, earlyW.err]).toEqual([1, expect.stringMatching(/^TOO_EARLY: the unbonding ends at /)]);
        const stake = await sendsNothing(await ownerAddress(), () => cocoon('proxy', 'add-stake', '--config', ownerCfg, '--amount', '1'));
        expect([stake.status, stake.err]).toEqual([1, expect.stringMatching(/^WRONG_STATE: .* is closing/)]);
    });

    it('after the delays: finish-close waits for the channels, a pending slash waits for its execution, workers take their stake back, the owner takes the rest', async () => {
        offset += 6 * DAY; // past the workers' unbonding delay and the proxy's close delay (devnet chain time)
        const owner = await ownerAddress();
        const open = await sendsNothing(owner, () => cocoon('proxy', 'finish-close', '--config', ownerCfg));
        expect([open.status, open.err]).toEqual([1, expect.stringMatching(/^CHANNELS_OPEN: 2 worker channels are still open/)]);

        // The pending slash blocks finish-unbond until it executes (or Governance vetoes it); then the rest comes back.
        const slashed = await sendsNothing(worker2.address, () => cocoon('worker', 'close', '--config', worker2Cfg));
        expect([slashed.status, slashed.err]).toEqual([1, expect.stringMatching(/^SLASH_PENDING: a slash of 0.25 TON is pending/)]);
        await net.newChain().open(WorkerChannelWrapper.open(await workerChannel(worker2.address))).sendExecuteSlash(patron.sender());
        expect((await channelState(worker2.address)).stake).toBe(toNano('0.75'));
        const w2Before = await balance(worker2.address);
        const fu = await cocoon('worker', 'finish-unbond', '--config', worker2Cfg, '--json');
        expect([fu.status, fu.err]).toEqual([0, '']);
        expect((await channelState(worker2.address)).state).toBe(3n);
        const w2Gained = (await balance(worker2.address)) - w2Before;
        expect(w2Gained).toBeGreaterThan(toNano('0.75') - toNano('0.03'));
        // Above 0.75 by at most what the reporter and the executor left in the channel beyond their gas.
        expect(w2Gained).toBeLessThan(toNano('0.75') + FeeSimple + FeeFinish);

        const wBefore = await balance(stack.worker.wallet.address);
        const leave = await cocoon('worker', 'close', '--config', workerCfg, '--json');
        expect([leave.status, leave.err]).toEqual([0, '']);
        expect(Object.keys(leave.json!.steps)).toEqual(['finish-unbond']);
        expect((await channelState(stack.worker.wallet.address)).state).toBe(3n);
        expect((await balance(stack.worker.wallet.address)) - wBefore).toBeGreaterThan(toNano('1.5') - toNano('0.03'));
        const done = await cocoon('worker', 'close', '--config', workerCfg);
        expect([done.status, done.err]).toEqual([1, expect.stringMatching(/^NOTHING_TO_DO: the channel is closed/)]);

        const st = await proxyState();
        expect(st.workerChannels).toBe(0n);
        const ownerBefore = await balance(owner);
        const r = await cocoon('proxy', 'finish-close', '--config', ownerCfg, '--json');
        expect([r.status, r.err]).toEqual([0, '']);
        const after = await proxyState();
        expect([after.state, after.stake, after.commission, after.pool]).toEqual([2n, 0n, 0n, st.pool]);
        expect((await balance(owner)) - ownerBefore).toBeGreaterThan(st.stake - FeeFinish);
        // The workers' pool stays for the claim window; a second finish-close before its end is refused.
        const early = await sendsNothing(owner, () => cocoon('proxy', 'finish-close', '--config', ownerCfg));
        expect([early.status, early.err]).toEqual([1, expect.stringMatching(/^TOO_EARLY: the workers' claim window ends/)]);
    });
});
