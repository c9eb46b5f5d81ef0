// `npm start` (until the devnet chain server lands): a whole network in one in-process TON sandbox.
// Governance (one voter, no timelock) allowlists images and registers a model through a proposal;
// a Proxy registers with its stake; a client deposits and signs a voucher; the proxy redeems it and
// signs a worker payout; the worker claims it. Balances are printed before and after.
import { Blockchain } from '@ton/sandbox';
import { Address, fromNano, toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { createHash } from 'crypto';
import { GovernanceWrapper, DEFAULT_GOV_PARAMS } from '../../wrappers/Governance';
import { RootWrapper } from '../../wrappers/Root';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { modelId, toUint256 } from '../../wrappers/payloads';

const MODEL = 'test/echo-1 (reference test model)';

function step(text: string) {
    process.stdout.write(`• ${text}\n`);
}

async function main() {
    const bc = await Blockchain.create();
    const keys = (label: string) => keyPairFromSeed(createHash('sha256').update(label).digest());
    const [voter, treasury, proxyOwner, client, worker] = await Promise.all(
        ['voter', 'treasury', 'proxy-owner', 'client', 'worker'].map((n) => bc.treasury(n)),
    );
    const proxyKeys = keys('demo-proxy-enclave');
    const clientKeys = keys('demo-client-voucher');

    step('deploying Governance (one voter, zero timelock) and Root');
    const gov = bc.openContract(await GovernanceWrapper.create([{ address: voter.address, weight: 1n }], { ...DEFAULT_GOV_PARAMS, timelock: 0n }));
    await gov.sendFund(voter.getSender(), toNano('2'));
    const root = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: treasury.address }));
    await root.sendDeploy(voter.getSender());

    step('proposal: allowlist the simulated proxy and worker images, register the test model');
    const imageHash = toUint256(createHash('sha256').update('simulated-image').digest());
    await gov.sendPropose(voter.getSender(), [
        { to: root.address, value: toNano('0.05'), body: RootWrapper.addImageBody('proxy', imageHash) },
        { to: root.address, value: toNano('0.05'), body: RootWrapper.addImageBody('worker', imageHash) },
        {
            to: root.address,
            value: toNano('0.05'),
            body: RootWrapper.registerModelBody({
                name: MODEL, weightsHash: 0n, contextLength: 4096n,
                pricePrompt: toNano('0.1'), priceCached: toNano('0.01'), priceCompletion: toNano('0.3'), priceReasoning: toNano('0.3'),
            }),
        },
    ]);
    await gov.sendExecute(voter.getSender(), 0n);
    step(`Root version ${await root.getVersion()}, model id ${modelId(MODEL).toString(16).slice(0, 16)}…, worker image allowed: ${await root.getIsWorkerImageAllowed(imageHash)}`);

    const codes = await root.getChildCode();
    const terms = await root.getTerms();
    const params = await root.getParams();
    const proxy = bc.openContract(await ProxyWrapper.create({
        root: root.address, owner: proxyOwner.address, enclaveKey: toUint256(proxyKeys.publicKey), workerCode: codes.workerCode, proxyCode: codes.proxyCode,
    }));
    step('proxy registers with a 10 TON stake');
    await proxy.sendRegister(proxyOwner.getSender(), { stake: toNano('10'), clientEndpoint: '127.0.0.1:8801', workerEndpoint: '127.0.0.1:8802' });

    const channel = bc.openContract(await ClientChannelWrapper.create({
        proxy: proxy.address, client: client.address, clientKey: toUint256(clientKeys.publicKey),
        proxyKey: toUint256(proxyKeys.publicKey), closeDelay: params.clientCloseDelay, code: codes.clientCode,
    }));
    const wchannel = bc.openContract(await WorkerChannelWrapper.create({
        proxy: proxy.address, worker: worker.address, proxyKey: toUint256(proxyKeys.publicKey), root: root.address, terms, code: codes.workerCode,
    }));
    step('client deposits 5 TON; worker stakes 1 TON');
    await channel.sendTopUp(client.getSender(), toNano('5'));
    await wchannel.sendStake(worker.getSender(), toNano('1'));

    const show = async (title: string) => {
        const c = await channel.getChannelState();
        const p = await proxy.getProxyState();
        const w = await wchannel.getChannelState();
        const rows: [string, Address, string][] = [
            ['client channel', channel.address, `deposit ${fromNano(c.balance)}, redeemed ${fromNano(c.redeemed)}`],
            ['proxy', proxy.address, `stake ${fromNano(p.stake)}, pool ${fromNano(p.pool)}, commission ${fromNano(p.commission)}`],
            ['worker channel', wchannel.address, `stake ${fromNano(w.stake)}, paid ${fromNano(w.paid)}`],
            ['worker wallet', worker.address, `balance ${fromNano((await bc.getContract(worker.address)).balance)}`],
        ];
        process.stdout.write(`\n${title}\n`);
        for (const [name, addr, text] of rows) process.stdout.write(`  ${name.padEnd(15)} ${addr.toString().slice(0, 12)}…  ${text}\n`);
        process.stdout.write('\n');
    };
    await show('balances before (TON)');

    const cost = toNano('0.25');
    step(`client signs a cumulative voucher for ${fromNano(cost)} TON; the proxy redeems it`);
    await channel.sendRedeem(proxyOwner.getSender(), { amount: cost, signature: channel.signVoucher(cost, clientKeys.secretKey) });
    const payout = (cost * (10000n - terms.commissionBps)) / 10000n;
    step(`proxy signs a cumulative payout of ${fromNano(payout)} TON; the worker claims it`);
    await wchannel.sendClaim(worker.getSender(), { amount: payout, signature: wchannel.signPayout(payout, proxyKeys.secretKey) });
    await show('balances after (TON)');
    step('done. Run `npm test` for the full suite; see README.md for scripts against a real endpoint.');
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
