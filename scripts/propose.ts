// A voter proposes one action; its own vote counts as yes.
//   npx blueprint run propose <network flags> -- --governance <addr> --action <kind> [kind flags] [--value <TON>] [--fee <TON>]
// Kinds and their flags (absent ones are prompted for):
//   add-image | remove-image   --root <addr> --kind proxy|worker|keys --hash <64 hex>   (keys: key-service images)
//   register-model             --root <addr> --name <name> --weights-hash <64 hex> --context <tokens>
//                              --price-prompt --price-cached --price-completion --price-reasoning <TON per 1M tokens>
//                              [--require-gpu yes|no]   (workers must attach verified GPU evidence; default no)
//   remove-model               --root <addr> (--name <name> | --model-id <64 hex>)
//   set-params                 --root <addr> --params '<json>'   (fields to change; coin fields in TON, delays in seconds)
//   set-child-code             --root <addr>                      (the child codes compiled in this checkout)
//   upgrade-root               --root <addr>                      (the Root code compiled in this checkout)
//   delist-proxy               --root <addr> --proxy <addr>
//   set-treasury               --root <addr> --treasury <addr>
//   set-governance             --root <addr> --new-governance <addr>
//   veto-slash                 --root <addr> --channel <addr> --fault-seqno <n>   (the pending slash's seqno)
//   set-voter                  --voter <addr> --weight <n>        (0 removes the voter)
//   set-gov-params             --params '<json>'                  (quorumBps, majorityBps, votingPeriod, timelock, executionWindow)
// --value: TON the action carries, paid from Governance's balance when executed (default 0.05);
// --fee: TON attached to the Propose message (default 0.05, at least 0.02).
import { NetworkProvider } from '@ton/blueprint';
import { toNano } from '@ton/core';
import { GovernanceWrapper } from '../wrappers/Governance';
import { RootWrapper } from '../wrappers/Root';
import { ArgError, flag, flagOrAsk, parseAddress, tonFlag } from './lib/args';
import { open, report, senderAddress, waitUntil } from './lib/common';
import { ACTION_KINDS, buildAction, isoTime, parseActionKind } from './lib/proposals';

export async function run(provider: NetworkProvider, args: string[]) {
    const ui = provider.ui();
    const me = senderAddress(provider);
    const governance = await flagOrAsk(args, 'governance', ui, 'Governance address:', parseAddress);
    const kindFlag = flag(args, 'action');
    const kind = kindFlag !== undefined ? parseActionKind(kindFlag) : await ui.choose('Action:', [...ACTION_KINDS], (k) => k);
    const fee = tonFlag(args, 'fee', toNano('0.05'));
    if (fee < toNano('0.02')) throw new ArgError('--fee: at least 0.02 TON');

    const gov = open(provider, GovernanceWrapper.open(governance));
    if (!(await gov.getVoters()).has(me)) throw new Error(`${me} is not a voter of ${governance}`);
    const { action, description } = await buildAction(kind, args, {
        governance,
        ui,
        rootParams: (root) => open(provider, RootWrapper.open(root)).getParams(),
        govParams: () => gov.getGovParams(),
    });
    const id = await gov.getNextProposalId();
    await gov.sendPropose(provider.sender(), [action], { value: fee });
    await waitUntil(`proposal ${id}`, async () => (await gov.getProposal(id))?.proposer.equals(me) ?? false);
    const p = (await gov.getProposal(id))!;
    report(provider, {
        proposalId: id,
        ...description,
        yes: p.yes,
        totalWeight: p.totalWeight,
        deadline: isoTime(p.deadline),
        passed: p.passedAt !== 0n,
    });
}
