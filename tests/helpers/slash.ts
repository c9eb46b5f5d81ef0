// Slashing a WorkerChannel on the devnet through the wrappers: the proxy's signed fault report for the whole stake,
// then ExecuteSlash once the challenge period passed. Networks that use it set a short slashChallengePeriod (the
// devnet's clock is the wall clock; its accounts cannot be moved back in time once one is moved forward).
import { Address } from '@ton/core';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { globalIdFromConfig } from '../../wrappers/payloads';
import { AgentNetwork } from '../../fixtures/agent-network';

export async function slashToZero(net: AgentNetwork, channel: Address, proxySecretKey: Buffer): Promise<void> {
    const executeAt = await net.devnet.withBlockchain(async (bc) => {
        const wc = bc.openContract(WorkerChannelWrapper.open(channel));
        const st = await wc.getChannelState();
        const f = { seqno: st.faultSeqno, amount: st.stake, reason: 1n, requestId: 0n, evidenceHash: 0n };
        await wc.sendReportFault((await bc.treasury('slash-reporter')).getSender(), { ...f, signature: wc.signFault(f, proxySecretKey, globalIdFromConfig(bc.configBase64)) });
        const after = await wc.getChannelState();
        if (!after.slash) throw new Error('the fault report did not open a slash');
        return Number(after.slash.executeAt);
    });
    while (Math.floor(Date.now() / 1000) < executeAt) await new Promise((r) => setTimeout(r, 100));
    await net.devnet.withBlockchain(async (bc) => {
        const wc = bc.openContract(WorkerChannelWrapper.open(channel));
        await wc.sendExecuteSlash((await bc.treasury('slash-reporter')).getSender());
    });
}
