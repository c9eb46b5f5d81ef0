// Wallet links for governance messages (spec/explorer.md, "Voting from any wallet"). The message is the one
// GovernanceWrapper's typed sender sends (same value, same body: the wrapper builds it against a recording provider),
// built from the proposal id alone, so no request parameter can put other bytes into a link. The link is Blueprint's
// own deep link (tonDeepLink: ton://transfer/<bounceable url-safe address>?amount=<nanoTON>&bin=<base64url BOC>, the
// Tonkeeper convention every TON wallet opens), with its QR code and the equivalent `npx blueprint run` command.
import { Address, Cell, ContractProvider, fromNano, openContract, Sender, SenderArguments } from '@ton/core';
// The deep-link helper alone: the package's index loads Blueprint's whole CLI.
import { tonDeepLink } from '@ton/blueprint/dist/utils/ton.utils';
import QRCode from 'qrcode';
import { GovernanceWrapper } from '../../wrappers/Governance';
import { toAddr } from './actions';
import type { NetworkKind, WalletLink } from './types';

export interface LinkContext {
    governance: Address;
    network: NetworkKind;
    /** The toncenter v2 endpoint the Blueprint command should name (devnet: `--custom <endpoint> --custom-version v2`). */
    endpoint: string;
}

/**
 * QR error correction: M (15 % of the code may be lost) keeps a vote or execute link (at most ~130 characters) at
 * version 7 or 8 (45 or 49 modules a side), easily read from a screen; M's capacity (2,331 bytes) is far above it.
 */
export const QR_ERROR_CORRECTION = 'M' as const;

/** A Vote message on `proposalId` (the amount and body GovernanceWrapper.sendVote sends). */
export async function voteLink(ctx: LinkContext, proposalId: number, support: boolean): Promise<WalletLink> {
    const id = checkId(proposalId);
    const m = await recorded(ctx.governance, (gov, via) => gov.sendVote(via, id, support));
    return link(ctx, m, 'vote', ['--id', String(id), '--support', support ? 'yes' : 'no']);
}

/** An Execute message on `proposalId` (the amount and body GovernanceWrapper.sendExecute sends). */
export async function executeLink(ctx: LinkContext, proposalId: number): Promise<WalletLink> {
    const id = checkId(proposalId);
    const m = await recorded(ctx.governance, (gov, via) => gov.sendExecute(via, id));
    return link(ctx, m, 'execute', ['--id', String(id)]);
}

/** Proposal ids are uint32 on chain (Vote.proposalId). */
function checkId(id: number): bigint {
    if (!Number.isSafeInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`proposal id must be an integer in 0..2^32-1, got ${id}`);
    return BigInt(id);
}

interface Message {
    to: Address;
    value: bigint;
    body: Cell;
}

/** What the wrapper's typed sender sends, recorded instead of sent (only `internal` is used by a send). */
async function recorded(governance: Address, send: (gov: ReturnType<typeof open>, via: Sender) => Promise<void>): Promise<Message> {
    let got: SenderArguments | undefined;
    const via: Sender = { send: async (args) => void (got = args) };
    await send(open(governance), via);
    if (!got?.body) throw new Error('the wrapper sent no message body');
    return { to: got.to, value: got.value, body: got.body };
}

function open(governance: Address) {
    return openContract(GovernanceWrapper.open(governance), ({ address }) => {
        const provider: Pick<ContractProvider, 'internal'> = {
            internal: (via, args) => via.send({ to: address, value: BigInt(args.value), bounce: args.bounce, sendMode: args.sendMode, body: toCell(args.body) }),
        };
        return provider as ContractProvider;
    });
}

const toCell = (b: Cell | string | null | undefined): Cell | undefined => (typeof b === 'string' ? undefined : (b ?? undefined));

async function link(ctx: LinkContext, m: Message, script: 'vote' | 'execute', flags: string[]): Promise<WalletLink> {
    const testOnly = ctx.network !== 'mainnet';
    const url = tonDeepLink(m.to, m.value, m.body, undefined, testOnly);
    const to = toAddr(m.to, testOnly);
    const qrSvg = await QRCode.toString(url, { type: 'svg', errorCorrectionLevel: QR_ERROR_CORRECTION, margin: 4 });
    const blueprint = ['npx blueprint run', script, ...network(ctx), '--', '--governance', to.friendly, ...flags, '--fee', fromNano(m.value)].join(' ');
    return { url, to, amount: m.value.toString(), payloadBoc: m.body.toBoc().toString('base64'), qrSvg, blueprint };
}

/** Blueprint's network flags: mainnet by name, the devnet and testnet through the explorer's own endpoint. */
function network(ctx: LinkContext): string[] {
    if (ctx.network === 'mainnet') return ['--mainnet'];
    return ['--custom', shellQuote(ctx.endpoint), '--custom-version', 'v2', '--custom-type', 'testnet'];
}

/** A word the shell passes through unchanged: as is when it is plain, else single-quoted. */
function shellQuote(s: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
