// Anyone executes a passed proposal once its timelock has elapsed (Governance pays the actions' values).
//   npx blueprint run execute <network flags> -- --governance <addr> --id <n> [--fee <TON>] [--force]
// Without --force the script refuses a proposal the getters say has not passed.
import { NetworkProvider } from '@ton/blueprint';
import { toNano } from '@ton/core';
import { GovernanceWrapper } from '../wrappers/Governance';
import { flagOrAsk, hasFlag, parseAddress, parseBigint, rejectUnknownFlags, tonFlag } from './lib/args';
import { open, report, waitUntil } from './lib/common';
import { isoTime } from './lib/proposals';

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['governance', 'id', 'fee', 'force']);
    const ui = provider.ui();
    const governance = await flagOrAsk(args, 'governance', ui, 'Governance address:', parseAddress);
    const id = await flagOrAsk(args, 'id', ui, 'Proposal id:', parseBigint);
    const fee = tonFlag(args, 'fee', toNano('0.05'));
    const gov = open(provider, GovernanceWrapper.open(governance));

    const p = await gov.getProposal(id);
    if (!p) throw new Error(`no open proposal ${id} in ${governance} (already executed or cleaned up?)`);
    const opensAt = await gov.getProposalOpensAt(id);
    const { executionWindow } = await gov.getGovParams();
    const now = BigInt(Math.floor(Date.now() / 1000));
    // proposalOpensAt runs with the chain's clock; the timelock/window checks below use the local clock
    // (a devnet may run shifted), so they only warn.
    if (opensAt === 0n && !hasFlag(args, 'force')) {
        throw new Error(`proposal ${id} has not passed (yes ${p.yes}, no ${p.no} of ${p.totalWeight}; voting ends ${isoTime(p.deadline)}); --force sends anyway`);
    }
    if (opensAt !== 0n && now < opensAt) ui.write(`warning: by the local clock proposal ${id} is in its timelock until ${isoTime(opensAt)}`);
    if (opensAt !== 0n && now >= opensAt + executionWindow) ui.write(`warning: by the local clock the execution window closed at ${isoTime(opensAt + executionWindow)}`);

    await gov.sendExecute(provider.sender(), id, fee);
    await waitUntil(`proposal ${id} to be executed`, async () => (await gov.getProposal(id)) === null);
    report(provider, { proposalId: id, executed: true, openProposals: await gov.getOpenProposals() });
}
