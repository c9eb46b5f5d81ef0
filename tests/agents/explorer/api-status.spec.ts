// The explorer's proposal status (agents/explorer/api.ts proposalStatus) agrees with what Governance itself does, in
// the sandbox: for vote patterns (passing early, failing at the deadline, certain to fail) and times around the
// deadline, timelock and execution window, the status is 'executable' exactly when Execute succeeds, 'failed' or
// 'expired' exactly when Cleanup succeeds (and Execute does not), 'open' exactly when a voter who has not voted can
// still vote, and 'passed' exactly when Execute is refused as too early.
import '@ton/test-utils';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { toNano } from '@ton/core';
import { proposalStatus } from '../../../agents/explorer/api';
import { ErrTooEarly, GovernanceWrapper, GovParams } from '../../../wrappers/Governance';
import { RootWrapper } from '../../../wrappers/Root';

const T0 = 1_800_000_000;
const PARAMS: GovParams = { $$type: 'GovParams', quorumBps: 5000n, majorityBps: 5000n, votingPeriod: 100n, timelock: 50n, executionWindow: 100n };

/** Voter weights, and the votes after the proposer's (voter 0's) yes: [voter index, support], each 10 s apart. */
const PATTERNS: Record<string, { weights: bigint[]; votes: [number, boolean][] }> = {
    'proposer alone, fails at its deadline (1 of 3)': { weights: [1n, 1n, 1n], votes: [] },
    'passes early (2 yes of 3)': { weights: [1n, 1n, 1n], votes: [[1, true]] },
    'split, fails at its deadline': { weights: [1n, 1n, 1n], votes: [[1, false]] },
    'certain to fail early (2 no of 3)': { weights: [1n, 1n, 1n], votes: [[1, false], [2, false]] },
    'passes only at its deadline (2 of 4 yes, 1 no)': { weights: [2n, 1n, 1n], votes: [[1, false]] },
};
// Around: the early pass's timelock end (60) and window end (160), the deadline (100), a deadline pass's timelock end
// (150) and window end (250).
const OFFSETS = [15, 40, 59, 60, 99, 100, 101, 149, 150, 159, 160, 199, 249, 250, 260];

describe.each(Object.entries(PATTERNS))('%s', (_name, { weights, votes }) => {
    it.each(OFFSETS)('at creation + %i s the status matches what the contract accepts', async (offset) => {
        const bc = await Blockchain.create();
        bc.now = T0;
        const voters: SandboxContract<TreasuryContract>[] = [await bc.treasury('v0'), await bc.treasury('v1'), await bc.treasury('v2')];
        const gov = bc.openContract(await GovernanceWrapper.create(voters.map((v, i) => ({ address: v.address, weight: weights[i] })), PARAMS));
        await gov.sendFund(voters[0].getSender(), toNano('10'));
        await gov.sendPropose(voters[0].getSender(), [{ to: voters[0].address, value: toNano('0.01'), body: RootWrapper.addImageBody('worker', 1n) }]);
        for (const [i, [v, support]] of votes.entries()) {
            bc.now = T0 + 10 * (i + 1);
            await gov.sendVote(voters[v].getSender(), 0n, support);
        }
        const now = T0 + offset;
        if (now > bc.now!) bc.now = now;
        const p = (await gov.getProposal(0n))!;
        const status = proposalStatus(p, PARAMS, now);

        const snap = bc.snapshot();
        const execute = await gov.sendExecute(voters[0].getSender(), 0n);
        const executed = execute.transactions.some((t) => t.description.type === 'generic' && !t.description.aborted && t.inMessage?.info.dest?.toString() === gov.address.toString());
        const tooEarly = execute.transactions.some((t) => t.description.type === 'generic' && t.description.computePhase.type === 'vm' && t.description.computePhase.exitCode === Number(ErrTooEarly));
        await bc.loadFrom(snap);
        const cleanup = await gov.sendCleanup(voters[0].getSender(), 0n);
        const cleaned = !(await gov.getProposal(0n));
        void cleanup;
        await bc.loadFrom(snap);
        const fresh = voters.find((v) => !p.votes.has(v.address));
        let canVote: boolean | null = null;
        if (fresh) {
            await gov.sendVote(fresh.getSender(), 0n, true);
            canVote = (await gov.getProposalVote(0n, fresh.address)) !== null;
            await bc.loadFrom(snap);
        }

        expect({ status, executable: executed }).toEqual({ status, executable: status === 'executable' });
        expect({ status, cleanable: cleaned }).toEqual({ status, cleanable: status === 'failed' || status === 'expired' });
        expect({ status, tooEarly }).toEqual({ status, tooEarly: status === 'passed' });
        if (canVote !== null) expect({ status, canVote }).toEqual({ status, canVote: status === 'open' });
    });
});
