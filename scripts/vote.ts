// A voter votes on an open proposal.
//   npx blueprint run vote <network flags> -- --governance <addr> --id <n> [--support yes|no] [--fee <TON>]
import { NetworkProvider } from '@ton/blueprint';
import { toNano } from '@ton/core';
import { GovernanceWrapper } from '../wrappers/Governance';
import { flag, flagOrAsk, parseAddress, parseBigint, parseBool, rejectUnknownFlags, tonFlag } from './lib/args';
import { open, report, senderAddress, waitUntil } from './lib/common';
import { isoTime } from './lib/proposals';

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['governance', 'id', 'support', 'fee']);
    const ui = provider.ui();
    const me = senderAddress(provider);
    const governance = await flagOrAsk(args, 'governance', ui, 'Governance address:', parseAddress);
    const id = await flagOrAsk(args, 'id', ui, 'Proposal id:', parseBigint);
    const fee = tonFlag(args, 'fee', toNano('0.05'));
    const gov = open(provider, GovernanceWrapper.open(governance));

    const p = await gov.getProposal(id);
    if (!p) throw new Error(`no open proposal ${id} in ${governance}`);
    if (!(await gov.getVoters()).has(me)) throw new Error(`${me} is not a voter of ${governance}`);
    if ((await gov.getProposalVote(id, me)) !== null) throw new Error(`${me} already voted on proposal ${id}`);
    if (p.passedAt !== 0n) throw new Error(`proposal ${id} already passed; voting is closed`);
    // The chain's clock decides (a devnet may run shifted); the local one only warns.
    if (BigInt(Math.floor(Date.now() / 1000)) >= p.deadline) ui.write(`warning: by the local clock voting closed at ${isoTime(p.deadline)}`);
    const supportFlag = flag(args, 'support');
    const support = supportFlag !== undefined
        ? parseBool(supportFlag, 'support')
        : await ui.choose(`Proposal ${id} (yes ${p.yes}, no ${p.no} of ${p.totalWeight}):`, [true, false], (v) => (v ? 'yes' : 'no'));

    await gov.sendVote(provider.sender(), id, support, fee);
    await waitUntil(`the vote on proposal ${id}`, async () => (await gov.getProposalVote(id, me)) !== null);
    const after = (await gov.getProposal(id))!;
    const opensAt = await gov.getProposalOpensAt(id);
    report(provider, {
        proposalId: id,
        support,
        yes: after.yes,
        no: after.no,
        totalWeight: after.totalWeight,
        passed: after.passedAt !== 0n,
        executableFrom: opensAt !== 0n ? isoTime(opensAt) : null,
        deadline: isoTime(after.deadline),
    });
}
