// Fixed gas scenarios: one network, a snapshot, and each operation replayed from that snapshot.
// Gas of an operation = computePhase.gasUsed summed over every transaction its message causes,
// excluding the sending wallet's own transaction (which depends on the wallet, not on us).
// Fees = totalFees over the same transactions.
import { Blockchain, BlockchainSnapshot, SendMessageResult } from '@ton/sandbox';
import { beginCell, toNano } from '@ton/core';
import { GLOBAL_ID, deployNetwork, gasUsed, Network } from '../fixtures/network';
import { RootWrapper } from '../wrappers/Root';
import { GovernanceWrapper, DEFAULT_GOV_PARAMS } from '../wrappers/Governance';
import { commitPayload, signPayload } from '../wrappers/payloads';

export interface OpCost {
    gas: number;
    fees: number; // nanoTON
}

export type GasTable = Record<string, OpCost>;

/** Operations whose gas must stay within HOT_PATH_BUDGET (issue: <= 15,000 over the chain). */
export const HOT_PATH = ['redeem', 'claimPayout', 'topUp', 'stateCommit'] as const;
export const HOT_PATH_BUDGET = 15_000;

function cost(r: SendMessageResult): OpCost {
    const chain = r.transactions.slice(1);
    let fees = 0n;
    for (const tx of chain) fees += tx.totalFees.coins;
    return { gas: Number(gasUsed(chain)), fees: Number(fees) };
}

export async function measureGas(): Promise<GasTable> {
    const n: Network = await deployNetwork();
    const bc: Blockchain = n.bc;
    const base: BlockchainSnapshot = bc.snapshot();
    const table: GasTable = {};
    const run = async (name: string, f: () => Promise<SendMessageResult>) => {
        await bc.loadFrom(base);
        table[name] = cost(await f());
    };
    const { clientChannel, workerChannel, proxy, root } = n;

    // ---- hot path ----
    await run('topUp', () => clientChannel.sendTopUp(n.client.getSender(), toNano('1')));
    await run('redeem', () =>
        clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: clientChannel.signVoucher(toNano('1'), n.clientKeys.secretKey, GLOBAL_ID) }),
    );
    // the Proxy's share of a redeem alone (FeePayment): anyone may pay a Proxy directly
    await run('channelPayment', () =>
        proxy.send(n.stranger.getSender(), { value: toNano('1.05') }, { $$type: 'ChannelPayment', queryId: 0n, amount: toNano('1') }),
    );
    await run('claimPayout', async () => {
        await clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('2'), signature: clientChannel.signVoucher(toNano('2'), n.clientKeys.secretKey, GLOBAL_ID) });
        return workerChannel.sendClaim(n.worker.getSender(), { amount: toNano('1'), signature: workerChannel.signPayout(toNano('1'), n.proxyKeys.secretKey, GLOBAL_ID) });
    });
    // a claim on a closed channel (LatePayout: the Proxy authenticates it by address derivation), paid and refused
    const closeWorkerChannel = async () => {
        await workerChannel.sendStartUnbond(n.worker.getSender());
        bc.now = bc.now! + Number(n.params.workerUnbondDelay);
        await workerChannel.sendFinishUnbond(n.worker.getSender());
    };
    const claimOne = () =>
        workerChannel.sendClaim(n.worker.getSender(), { amount: toNano('1'), signature: workerChannel.signPayout(toNano('1'), n.proxyKeys.secretKey, GLOBAL_ID) });
    await run('claimLate', async () => {
        await clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('2'), signature: clientChannel.signVoucher(toNano('2'), n.clientKeys.secretKey, GLOBAL_ID) });
        await closeWorkerChannel();
        return claimOne();
    });
    await run('claimLateRefused', async () => {
        await closeWorkerChannel();
        return claimOne();
    });
    await run('stateCommit', () => proxy.sendCommit(n.proxyOwner.getSender(), { globalId: GLOBAL_ID, seqno: 1n, hash: 42n, secretKey: n.proxyKeys.secretKey }));

    // ---- channel lifecycle ----
    await run('coopWithdraw', () =>
        clientChannel.sendCoopWithdraw(n.client.getSender(), {
            amount: toNano('1'), seqno: 0n, close: false, signature: clientChannel.signWithdraw(toNano('1'), 0n, false, n.proxyKeys.secretKey, GLOBAL_ID),
        }),
    );
    await run('startClose', () => clientChannel.sendStartClose(n.client.getSender()));
    await run('finishClose', async () => {
        await clientChannel.sendStartClose(n.client.getSender());
        bc.now = bc.now! + Number(n.params.clientCloseDelay);
        return clientChannel.sendFinishClose(n.client.getSender());
    });
    await run('workerStakeMore', () => workerChannel.sendStake(n.worker.getSender(), toNano('1')));
    await run('reportFault', () =>
        workerChannel.sendReportFault(n.proxyOwner.getSender(), {
            seqno: 0n, amount: toNano('0.5'), reason: 1n, requestId: 7n, evidenceHash: 9n,
            signature: workerChannel.signFault({ seqno: 0n, amount: toNano('0.5'), reason: 1n, requestId: 7n, evidenceHash: 9n }, n.proxyKeys.secretKey, GLOBAL_ID),
        }),
    );
    await run('executeSlash', async () => {
        const f = { seqno: 0n, amount: toNano('0.5'), reason: 1n, requestId: 7n, evidenceHash: 9n };
        await workerChannel.sendReportFault(n.proxyOwner.getSender(), { ...f, signature: workerChannel.signFault(f, n.proxyKeys.secretKey, GLOBAL_ID) });
        bc.now = bc.now! + Number(n.params.slashChallengePeriod);
        return workerChannel.sendExecuteSlash(n.stranger.getSender());
    });
    await run('finishUnbond', async () => {
        await workerChannel.sendStartUnbond(n.worker.getSender());
        bc.now = bc.now! + Number(n.params.workerUnbondDelay);
        return workerChannel.sendFinishUnbond(n.worker.getSender());
    });

    // ---- proxy ----
    await run('withdrawCommission', async () => {
        await clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount: toNano('1'), signature: clientChannel.signVoucher(toNano('1'), n.clientKeys.secretKey, GLOBAL_ID) });
        return proxy.sendWithdrawCommission(n.proxyOwner.getSender());
    });
    await run('reportEquivocation', () => {
        const sign = (h: bigint) => signPayload(commitPayload(proxy.address, 5n, h, GLOBAL_ID), n.proxyKeys.secretKey);
        return proxy.sendReportEquivocation(n.stranger.getSender(), { seqno: 5n, hashA: 1n, sigA: sign(1n), hashB: 2n, sigB: sign(2n) });
    });
    await run('proxyReRegister', () =>
        proxy.sendRegister(n.proxyOwner.getSender(), { stake: 0n, clientEndpoint: '127.0.0.1:9901', workerEndpoint: '127.0.0.1:9902' }),
    );

    // ---- root (sent by the governance wallet) ----
    await run('rootAddImage', () => root.sendAction(n.gov.getSender(), RootWrapper.addImageBody('worker', 1n << 200n)));
    // kind 2 (key services) is the last branch AddImage tests
    await run('rootAddKeyImage', () => root.sendAction(n.gov.getSender(), RootWrapper.addImageBody('keys', 1n << 200n)));
    await run('rootRegisterModel', () =>
        root.sendAction(n.gov.getSender(), RootWrapper.registerModelBody({
            name: 'test/echo-1', weightsHash: 1n, contextLength: 4096n,
            pricePrompt: 1000n, priceCached: 100n, priceCompletion: 2000n, priceReasoning: 2000n, requireGpu: false,
        })),
    );
    await run('rootSetParams', () => root.sendAction(n.gov.getSender(), RootWrapper.setParamsBody(n.params)));

    // ---- governance (one voter, zero timelock) ----
    const voter = await bc.treasury('voter');
    const gov = bc.openContract(await GovernanceWrapper.create([{ address: voter.address, weight: 1n }], { ...DEFAULT_GOV_PARAMS, timelock: 0n }));
    await gov.sendFund(voter.getSender(), toNano('1'));
    const govBase = bc.snapshot();
    const action = [{ to: voter.address, value: toNano('0.01'), body: beginCell().storeUint(0, 32).endCell() }];
    await bc.loadFrom(govBase);
    table['govPropose'] = cost(await gov.sendPropose(voter.getSender(), action));
    table['govExecute'] = cost(await gov.sendExecute(voter.getSender(), 0n));
    return table;
}
