// Stock clients from other processes against the devnet chain server: TonClient + WalletContractV4
// (fixtures/wallet-flow.ts) and an unmodified `npx blueprint run deployNetwork --custom <url> ...`.
import { ChildProcess, spawn } from 'child_process';
import { ToncenterClient } from '../../../agents/core/chain/toncenter';
import * as path from 'path';
import { Address, toNano } from '@ton/core';
import { mnemonicNew, mnemonicToPrivateKey } from '@ton/crypto';
import { TonClient, WalletContractV4 } from '@ton/ton';
import { DevnetServer } from '../../../agents/devnet/server';
import { DEFAULT_PARAMS, RootWrapper } from '../../../wrappers/Root';
import { GovernanceWrapper } from '../../../wrappers/Governance';
import { rpcOk } from './http';

const REPO = path.resolve(__dirname, '../../..');
const children = new Set<ChildProcess>();

interface RunResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Spawns a command in its own process group; kills the group if it outlives `guardMs` (a hang guard). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, guardMs: number): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        children.add(child);
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (c) => (stdout += c));
        child.stderr!.on('data', (c) => (stderr += c));
        const timer = setTimeout(() => {
            killGroup(child);
            reject(new Error(`${cmd} ${args.join(' ')} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, guardMs);
        child.on('error', (e) => {
            clearTimeout(timer);
            children.delete(child);
            reject(e);
        });
        child.on('close', (code) => {
            clearTimeout(timer);
            children.delete(child);
            resolve({ code, stdout, stderr });
        });
    });
}

function killGroup(child: ChildProcess) {
    if (child.pid === undefined || child.exitCode !== null) return;
    try {
        process.kill(-child.pid, 'SIGKILL');
    } catch {
        child.kill('SIGKILL');
    }
}

describe('devnet chain server with stock clients in other processes', () => {
    let server: DevnetServer;
    let client: TonClient;

    beforeAll(async () => {
        server = new DevnetServer({ port: 0 });
        await server.start();
        client = new TonClient({ endpoint: server.url });
    });

    afterAll(async () => {
        for (const c of children) killGroup(c);
        await server.stop();
    });

    it('serves TonClient + WalletContractV4: faucet, deploy by first transfer, balances, transactions, fees', async () => {
        const fixture = path.join(__dirname, 'fixtures', 'wallet-flow.ts');
        const r = await run(process.execPath, ['-r', 'ts-node/register/transpile-only', fixture, server.url], { ...process.env }, 40_000);
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
        const out = JSON.parse(r.stdout.trim().split('\n').pop()!);

        // Funded while undeployed, deployed by the first (seqno 0) transfer carrying the StateInit.
        expect(out.funded).toBe(toNano('5').toString());
        expect(out.deployedBefore).toBe(false);
        expect(out.seqnoBefore).toBe(0);
        expect(out.seqnoAfter).toBe(1);
        expect(out.deployedAfter).toBe(true);
        expect(out.publicKeyMatches).toBe(true);

        // The recipient got exactly 1 TON with the comment; the wallet paid 1 TON plus fees.
        expect(out.destBalance).toBe(toNano('1').toString());
        expect(out.destValue).toBe(toNano('1').toString());
        expect(out.destComment).toBe('hello devnet');
        const spent = toNano('5') - BigInt(out.walletBalance);
        expect(spent > toNano('1')).toBe(true);
        expect(spent < toNano('1.1')).toBe(true);

        // Transactions newest first: the external (deploy + transfer), then the faucet's internal.
        expect(out.txs.map((t: any) => t.in)).toEqual(['external-in', 'internal']);
        expect(out.txs[1].lt).toBe(out.faucetTx.lt);
        expect(out.txs[1].hash).toBe(out.faucetTx.hash);
        expect(BigInt(out.txs[0].lt) > BigInt(out.txs[1].lt)).toBe(true);
        // Paging from (lt, hash) exclusive, as TonClient asks for it, returns the older one.
        expect(out.paged).toEqual([out.txs[1].lt]);

        // Fee estimate of the deploying transfer: gas and import fees are charged, one message forwarded.
        expect(out.fee.gas_fee).toBeGreaterThan(0);
        expect(out.fee.in_fwd_fee).toBeGreaterThan(0);
        expect(out.fee.fwd_fee).toBeGreaterThan(0);
        expect(out.masterchain.workchain).toBe(-1);
        expect(out.masterchain.latestSeqno).toBeGreaterThanOrEqual(3);

        // The server agrees, read in this process.
        const wallet = Address.parseRaw(out.wallet);
        expect(await client.getBalance(wallet)).toBe(BigInt(out.walletBalance));
        const info = await rpcOk(server.url, 'getWalletInformation', { address: wallet.toString() });
        expect(info).toMatchObject({ wallet: true, wallet_type: 'wallet v4 r2', seqno: 1, wallet_id: 698983191, account_state: 'active' });
    });

    it('runs an unmodified `blueprint run deployNetwork --custom <url> --custom-version v2` against it', async () => {
        const mnemonic = await mnemonicNew(24);
        const keys = await mnemonicToPrivateKey(mnemonic);
        // Blueprint's v4 wallet for this mnemonic; the faucet funds it, its first send deploys it.
        const deployer = WalletContractV4.create({ workchain: 0, publicKey: keys.publicKey });
        await rpcOk(server.url, 'devFaucet', { address: deployer.address.toString(), amount: toNano('20').toString() });

        // TS_NODE_TRANSPILE_ONLY only skips ts-node's type check of the scripts (tsc covers that); it halves the run.
        const env = { ...process.env, WALLET_MNEMONIC: mnemonic.join(' '), WALLET_VERSION: 'v4', TS_NODE_TRANSPILE_ONLY: 'true' };
        const args = ['blueprint', 'run', 'deployNetwork', '--custom', server.url, '--custom-version', 'v2', '--custom-type', 'testnet', '--mnemonic', '--', '--gov-params', '{"timelock":0}'];
        const r = await run('npx', args, env, 50_000);
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
        const json = /\{\s*"governance"[\s\S]*\}/.exec(r.stdout);
        expect(json).not.toBeNull();
        const out = JSON.parse(json![0]);

        const govAddr = Address.parse(out.governance);
        const rootAddr = Address.parse(out.root);
        expect(await client.isContractDeployed(govAddr)).toBe(true);
        expect(await client.isContractDeployed(rootAddr)).toBe(true);

        const root = client.open(RootWrapper.open(rootAddr));
        expect((await root.getGovernance()).equals(govAddr)).toBe(true);
        expect(await root.getVersion()).toBe(0n);
        expect(await root.getParams()).toEqual(DEFAULT_PARAMS);
        expect(await root.getAllModels()).toEqual(new Map());
        expect(await root.getModel(1n)).toBeNull();

        const gov = client.open(GovernanceWrapper.open(govAddr));
        expect((await gov.getGovParams()).timelock).toBe(0n);
        expect(await gov.getTotalWeight()).toBe(1n);
        const voters = await gov.getVoters();
        expect(voters.get(deployer.address)).toBe(1);
        // The deployer's wallet was deployed by its first send and made two (seqno 0 and 1).
        expect((await client.runMethod(deployer.address, 'seqno')).stack.readNumber()).toBe(2);

        // A script that reads getters returning optional/nested structs (Root.proxy, Proxy.proxyState), which
        // stock TonClient 16.3 cannot decode: the scripts read through ToncenterClient (scripts/lib/common.ts).
        const enclave = Buffer.alloc(32, 7).toString('hex');
        const reg = await run(
            'npx',
            ['blueprint', 'run', 'registerProxy', '--custom', server.url, '--custom-version', 'v2', '--custom-type', 'testnet', '--mnemonic', '--',
                '--root', rootAddr.toString(), '--enclave-key', enclave, '--stake', '10', '--client-endpoint', '127.0.0.1:8801', '--worker-endpoint', '127.0.0.1:8802'],
            env,
            50_000,
        );
        expect({ code: reg.code, stderr: reg.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
        const proxyJson = JSON.parse(/\{\s*"proxy"[\s\S]*\}/.exec(reg.stdout)![0]);
        const reader = new ToncenterClient(client.parameters);
        const listed = await reader.open(RootWrapper.open(rootAddr)).getProxy(Address.parse(proxyJson.proxy));
        expect(listed?.clientEndpoint).toBe('127.0.0.1:8801');
        expect(listed?.stake).toBe(toNano('10'));
    });
});
