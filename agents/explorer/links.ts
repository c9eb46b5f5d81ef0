// Wallet links for governance messages (owned by gov12; this file is the agreed interface until it lands).
import type { Address } from '@ton/core';
import type { NetworkKind, WalletLink } from './types';

export interface LinkContext {
    governance: Address;
    network: NetworkKind;
    /** The toncenter v2 endpoint the Blueprint command should name (devnet: `--custom <endpoint> --custom-version v2`). */
    endpoint: string;
}

/** A Vote message on `proposalId` (the amount and body GovernanceWrapper.sendVote sends). */
export async function voteLink(ctx: LinkContext, proposalId: number, support: boolean): Promise<WalletLink> {
    throw new Error(`voteLink is not built yet (${ctx.governance}, ${proposalId}, ${support})`);
}

/** An Execute message on `proposalId` (the amount and body GovernanceWrapper.sendExecute sends). */
export async function executeLink(ctx: LinkContext, proposalId: number): Promise<WalletLink> {
    throw new Error(`executeLink is not built yet (${ctx.governance}, ${proposalId})`);
}
