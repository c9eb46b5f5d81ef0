// Proposal actions decoded into words (owned by gov12; this file is the agreed interface until it lands).
import type { Address, Cell } from '@ton/core';
import type { ActionView } from './types';

export interface ActionContext {
    root: Address;
    governance: Address;
    testOnly: boolean;
}

/** Every action of a proposal's action list (Propose.actions / Proposal.actions), in order, in words. */
export function describeActions(actions: Cell, ctx: ActionContext): ActionView[] {
    throw new Error(`describeActions is not built yet (${actions.hash().toString('hex')}, ${ctx.root})`);
}
