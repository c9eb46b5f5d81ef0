// The deploy / register / channel scripts, run as `npx blueprint run` would run them, against a sandbox.
import '@ton/test-utils';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import { sandboxProvider, ScriptedUI } from '../../fixtures/sandbox-provider';
import { GLOBAL_ID, keys } from '../../fixtures/network';
import { ArgError } from '../../scripts/lib/args';
import { run as deployNetwork, parseVoters } from '../../scripts/deployNetwork';
import { run as addImage } from '../../scripts/addImage';
import { run as registerModel } from '../../scripts/registerModel';
import { run as execute } from '../../scripts/execute';
import { run as registerProxy } from '../../scripts/registerProxy';
import { run as openChannel } from '../../scripts/openChannel';
import { run as topUp } from '../../scripts/topUp';
import { run as withdraw } from '../../scripts/withdraw';
import { run as close } from '../../scripts/close';
import { run as stakeWorker } from '../../scripts/stakeWorker';
import { RootWrapper, DEFAULT_PARAMS } from '../../wrappers/Root';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { modelId } from '../../wrappers/payloads';

function lastJson(ui: ScriptedUI): Record<string, any> {
    return JSON.parse(ui.output[ui.output.length - 1]);
}

describe('deploy, register and channel scripts', () => {
    let bc: Blockchain;
    let admin: SandboxContract<TreasuryContract>;
    let proxyOwner: SandboxContract<TreasuryContract>;
    let client: SandboxContract<TreasuryContract>;
    let worker: SandboxContract<TreasuryContract>;
    const enclave = keys('script-proxy');
    const clientKey = keys('script-client');
    const hex = (b: Buffer) => b.toString('hex');

    async function script(wallet: SandboxContract<TreasuryContract>, f: (p: any, a: string[]) => Promise<void>, args: string[]) {
        const ui = new ScriptedUI();
        await f(sandboxProvider(bc, wallet, ui), args);
        return lastJson(ui);
    }

    beforeAll(async () => {
        bc = await Blockchain.create();
        bc.now = 1_800_000_000;
        admin = await bc.treasury('admin');
        proxyOwner = await bc.treasury('proxy-owner');
        client = await bc.treasury('client');
        worker = await bc.treasury('worker');
    });

    it('runs a network from deployment to a closed client channel', async () => {
        // Governance with the admin as only voter and no timelock, and its Root.
        const net = await script(admin, deployNetwork, ['--gov-params', '{"timelock":0}', '--fund', '2']);
        const root = bc.openContract(RootWrapper.open(Address.parse(net.root)));
        expect((await root.getGovernance()).toString()).toBe(net.governance);
        expect(await root.getVersion()).toBe(0n);

        // Allowlist a worker image and register a model through proposals.
        const hash = 'ab'.repeat(32);
        const p0 = await script(admin, addImage, ['--governance', net.governance, '--root', net.root, '--kind', 'worker', '--hash', hash]);
        await script(admin, execute, ['--governance', net.governance, '--id', String(p0.proposalId)]);
        expect(await root.getIsWorkerImageAllowed(BigInt('0x' + hash))).toBe(true);
        const p1 = await script(admin, registerModel, [
            '--governance', net.governance, '--root', net.root, '--name', 'test/echo-1', '--weights-hash', 'cd'.repeat(32),
            '--context', '4096', '--price-prompt', '0.1', '--price-cached', '0.01', '--price-completion', '0.3', '--price-reasoning', '0.3', '--require-gpu', 'yes',
        ]);
        await script(admin, execute, ['--governance', net.governance, '--id', String(p1.proposalId)]);
        expect(await root.getModel(modelId('test/echo-1'))).toMatchObject({ contextLength: 4096n, requireGpu: true });

        // A proxy registers; a client opens a channel, tops up, withdraws and closes; a worker stakes.
        const reg = await script(proxyOwner, registerProxy, [
            '--root', net.root, '--enclave-key', hex(enclave.publicKey), '--stake', '10',
            '--client-endpoint', '127.0.0.1:8801', '--worker-endpoint', '127.0.0.1:8802',
        ]);
        const proxy = bc.openContract(ProxyWrapper.open(Address.parse(reg.proxy)));
        expect((await root.getProxy(proxy.address))?.clientEndpoint).toBe('127.0.0.1:8801');

        const opened = await script(client, openChannel, ['--proxy', reg.proxy, '--client-key', hex(clientKey.publicKey), '--deposit', '2']);
        const channel = bc.openContract(ClientChannelWrapper.open(Address.parse(opened.channel)));
        expect((await channel.getChannelState()).balance).toBe(toNano('2'));
        await script(client, topUp, ['--channel', opened.channel, '--amount', '1']);
        expect((await channel.getChannelState()).balance).toBe(toNano('3'));

        await script(client, withdraw, ['--channel', opened.channel, '--amount', '0.5', '--request']);
        bc.now = bc.now! + Number(DEFAULT_PARAMS.clientCloseDelay);
        await script(client, withdraw, ['--channel', opened.channel, '--finish']);
        expect((await channel.getChannelState()).balance).toBe(toNano('2.5'));

        const seqno = (await channel.getChannelState()).withdrawSeqno;
        const sig = channel.signWithdraw(toNano('0.5'), seqno, false, enclave.secretKey, GLOBAL_ID);
        await script(client, withdraw, ['--channel', opened.channel, '--amount', '0.5', '--seqno', String(seqno), '--proxy-signature', hex(sig)]);
        expect((await channel.getChannelState()).balance).toBe(toNano('2'));

        await script(client, close, ['--channel', opened.channel]);
        expect((await channel.getChannelState()).state).toBe(1n);
        bc.now = bc.now! + Number(DEFAULT_PARAMS.clientCloseDelay);
        const before = (await bc.getContract(client.address)).balance;
        await script(client, close, ['--channel', opened.channel, '--finish']);
        expect((await channel.getChannelState()).state).toBe(2n);
        expect((await bc.getContract(client.address)).balance - before).toBeGreaterThan(toNano('1.9'));

        const staked = await script(worker, stakeWorker, ['--proxy', reg.proxy, '--amount', '1']);
        const wchannel = bc.openContract(WorkerChannelWrapper.open(Address.parse(staked.channel)));
        expect((await wchannel.getChannelState()).state).toBe(1n);
        expect((await proxy.getProxyState()).workerChannels).toBe(1n);
    });

    it('refuses bad arguments with errors naming the flag, before sending anything', async () => {
        const lt = (await bc.getContract(admin.address)).lastTransactionLt;
        await expect(script(admin, deployNetwork, ['--gov-params', '{"timelock":999999}'])).rejects.toThrow(/slashChallengePeriod/);
        await expect(script(admin, deployNetwork, ['--voters', 'nonsense'])).rejects.toThrow(ArgError);
        await expect(script(admin, deployNetwork, ['--unknown', '1'])).rejects.toThrow(/--unknown: unknown flag/);
        await expect(script(client, topUp, ['--channel', admin.address.toString()])).rejects.toThrow(/--amount: required/);
        await expect(script(client, withdraw, ['--channel', admin.address.toString(), '--amount', '1', '--seqno', '0', '--proxy-signature', 'zz'])).rejects.toThrow(
            /--proxy-signature/,
        );
        expect((await bc.getContract(admin.address)).lastTransactionLt).toBe(lt);
    });

    it('parses weighted voter lists', () => {
        const a = new Address(0, Buffer.alloc(32, 1));
        const b = new Address(0, Buffer.alloc(32, 2));
        expect(parseVoters(`${a}:3,${b}:1`).map((v) => [v.address.toString(), v.weight])).toEqual([
            [a.toString(), 3n],
            [b.toString(), 1n],
        ]);
        expect(() => parseVoters(`${a}:0`)).toThrow(/weight must be positive/);
        expect(() => parseVoters(`${a}:1,${a}:2`)).toThrow(/appears twice/);
    });
});
