import { Address, beginCell, Builder, Cell, ContractProvider, Dictionary, Sender } from '@ton/core';
import {
    Governance,
    GovParams,
    loadAction,
    MaxActions,
    MaxProposalCells,
    Proposal,
    storeSetGovParams,
    storeSetVoter,
} from '../build/Governance/Governance_Governance';
import { FeeSimple } from './fees';

export * from '../build/Governance/Governance_Governance';
export * from './fees';

/** One message a proposal sends when executed. */
export interface ProposalAction {
    to: Address;
    value: bigint;
    body: Cell;
}

export interface VoterWeight {
    address: Address;
    weight: bigint;
}

/** action$_ to:MsgAddress value:Coins body:^Cell next:(Maybe ^Action) — built back to front. */
export function packActions(actions: ProposalAction[]): Cell {
    if (actions.length === 0) throw new Error('a proposal needs at least one action');
    let next: Cell | null = null;
    for (let i = actions.length - 1; i >= 0; i--) {
        const a = actions[i];
        const b: Builder = beginCell().storeAddress(a.to).storeCoins(a.value).storeRef(a.body);
        b.storeMaybeRef(next);
        next = b.endCell();
    }
    return next!;
}

/** Why an action list does not parse (ActionListError.reason); Governance refuses such a list with ErrBadActions. */
export type ActionListProblem = 'too-many-cells' | 'too-many-actions' | 'malformed';

/** An action list that Governance's checkActions would refuse. */
export class ActionListError extends Error {
    constructor(
        readonly reason: ActionListProblem,
        message: string,
    ) {
        super(message);
        this.name = 'ActionListError';
    }
}

/**
 * The actions of a packed list (packActions' inverse), parsed as Governance's checkActions does: at most MaxActions
 * actions and MaxProposalCells distinct cells in all (bodies included), each action exactly `to value body next`
 * with a standard address (no anycast). Anything else is an ActionListError; the walk is bounded by the cell limit,
 * so a hostile list costs at most MaxProposalCells cell visits.
 */
export function unpackActions(list: Cell): ProposalAction[] {
    const seen = new Set<string>();
    const todo: Cell[] = [list];
    while (todo.length > 0) {
        const c = todo.pop()!;
        const h = c.hash().toString('hex');
        if (seen.has(h)) continue;
        seen.add(h);
        if (seen.size > Number(MaxProposalCells)) throw new ActionListError('too-many-cells', `more than ${MaxProposalCells} distinct cells`);
        todo.push(...c.refs);
    }
    const out: ProposalAction[] = [];
    let next: Cell | null = list;
    while (next !== null) {
        if (out.length === Number(MaxActions)) throw new ActionListError('too-many-actions', `more than ${MaxActions} actions`);
        try {
            const s = next.beginParse();
            // addr_std$10 without anycast: Governance refuses anycast (and addr_var), which @ton/core would accept.
            if (s.preloadUint(3) !== 0b100) throw new Error('the destination is not a standard address without anycast');
            const a = loadAction(s);
            s.endParse();
            out.push({ to: a.to, value: a.value, body: a.body });
            next = a.next;
        } catch (e) {
            throw new ActionListError('malformed', `action ${out.length}: ${(e as Error).message}`);
        }
    }
    return out;
}

export const DEFAULT_GOV_PARAMS: GovParams = {
    $$type: 'GovParams',
    quorumBps: 5000n,
    majorityBps: 5000n,
    votingPeriod: 3n * 24n * 3600n,
    timelock: 24n * 3600n,
    executionWindow: 7n * 24n * 3600n,
};

/** Governance with typed senders and getters. */
export class GovernanceWrapper extends Governance {
    static async create(voters: VoterWeight[], params: GovParams = DEFAULT_GOV_PARAMS): Promise<GovernanceWrapper> {
        const dict = Dictionary.empty(Dictionary.Keys.Address(), Dictionary.Values.Uint(32));
        let total = 0n;
        for (const v of voters) {
            dict.set(v.address, Number(v.weight));
            total += v.weight;
        }
        const base = await Governance.fromInit(dict, BigInt(voters.length), total, params, 0n, 0n, Dictionary.empty(), Dictionary.empty());
        return new GovernanceWrapper(base.address, base.init);
    }

    static open(address: Address): GovernanceWrapper {
        return new GovernanceWrapper(address);
    }

    /** Deploys (or tops up) the contract; Governance pays executed actions from its balance. */
    async sendFund(provider: ContractProvider, via: Sender, value: bigint) {
        await this.send(provider, via, { value }, null);
    }

    /** A voter proposes actions (its own vote counts as yes). */
    async sendPropose(provider: ContractProvider, via: Sender, actions: ProposalAction[], opts: { value?: bigint; queryId?: bigint } = {}) {
        await this.send(provider, via, { value: opts.value ?? FeeSimple }, {
            $$type: 'Propose',
            queryId: opts.queryId ?? 0n,
            actions: packActions(actions),
        });
    }

    async sendVote(provider: ContractProvider, via: Sender, proposalId: bigint, support: boolean, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'Vote', queryId: 0n, proposalId, support });
    }

    /** Anyone executes a passed proposal after its timelock. */
    async sendExecute(provider: ContractProvider, via: Sender, proposalId: bigint, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'Execute', queryId: 0n, proposalId });
    }

    async sendCleanup(provider: ContractProvider, via: Sender, proposalId: bigint, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'Cleanup', queryId: 0n, proposalId });
    }

    /** Body of a SetVoter action (a proposal addressed to Governance itself). */
    static setVoterBody(voter: Address, weight: bigint): Cell {
        return beginCell().store(storeSetVoter({ $$type: 'SetVoter', queryId: 0n, voter, weight })).endCell();
    }

    /** Body of a SetGovParams action (a proposal addressed to Governance itself). */
    static setGovParamsBody(params: GovParams): Cell {
        return beginCell().store(storeSetGovParams({ $$type: 'SetGovParams', queryId: 0n, params })).endCell();
    }

    async getProposalOrNull(provider: ContractProvider, id: bigint): Promise<Proposal | null> {
        return this.getProposal(provider, id);
    }
}
