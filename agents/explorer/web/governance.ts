// The governance pages: parameters, voters, proposals; one proposal with its actions in words, votes, countdowns,
// outcome, and the wallet links to vote or execute.
import type { Envelope, GovernanceView, ProposalStatus, ProposalView, WalletLink } from '../types';
import { html, type Html } from './html';
import { addr, bps, copyButton, countdown, duration, fields, none, plain, proposalLink, row, section, table, ton, tx } from './parts';

const STATUS_WORDS: Record<ProposalStatus, string> = {
    open: 'open for voting',
    passed: 'passed, in its timelock',
    executable: 'passed, can be executed',
    executed: 'executed',
    failed: 'rejected',
    expired: 'expired without execution',
    'cleaned-up': 'cleaned up',
};

function status(s: ProposalStatus): Html {
    return html`<span class="status status-${s}" data-value="${s}">${STATUS_WORDS[s] ?? s}</span>`;
}

function tally(p: ProposalView): Html {
    return html`${plain(p.yes)} yes, ${plain(p.no)} no of ${plain(p.totalWeight)}`;
}

export function governanceSections(g: GovernanceView): Html {
    const now = g.chainTime;
    const params = section(
        'governance-params',
        'Rules',
        fields('How proposals pass', [
            ['address', 'Governance contract', addr(g.address, { full: true })],
            ['balance', 'Balance', ton(g.balance)],
            ['quorumBps', 'Quorum (share of all weight that must vote)', bps(g.params.quorumBps)],
            ['majorityBps', 'Majority (share of votes cast that must be yes)', bps(g.params.majorityBps)],
            ['votingPeriod', 'Voting period', duration(g.params.votingPeriod)],
            ['timelock', 'Timelock after passing', duration(g.params.timelock)],
            ['executionWindow', 'Execution window', duration(g.params.executionWindow)],
            ['totalWeight', 'Total weight', plain(g.totalWeight)],
            ['nextProposalId', 'Next proposal id', plain(g.nextProposalId)],
        ]),
    );
    const voterRows = g.voters.map(
        (v) => row({ address: v.address.raw }, [['address', addr(v.address)], ['weight', plain(v.weight)]]),
    );
    const voters = section('voters', 'Voters', table('Voters and their weights', ['Voter', 'Weight'], voterRows, 'No voters.'));
    const head = ['Proposal', 'Status', 'Votes', 'Actions', 'Voting ends', 'Executable from'];
    const rows = g.proposals.map(
        (p) =>
            row({ 'proposal-id': p.id, status: p.status }, [
                ['id', proposalLink(p.id)],
                ['status', status(p.status)],
                ['votes', tally(p)],
                ['actions', html`<ul>${p.actions.map((a) => html`<li>${a.words}</li>`)}</ul>`],
                ['deadline', countdown(p.deadline, now, closedOr(p))],
                ['executableFrom', countdown(p.executableFrom, now, '—')],
            ]),
    );
    const proposals = section('proposals', 'Proposals', table('Proposals: open ones first, then history, newest first', head, rows, 'No proposals yet.'));
    return html`${params}${voters}${proposals}`;
}

function outcome(p: ProposalView): string {
    switch (p.status) {
        case 'open':
            return 'Voting is open: any voter can vote with the links below until the deadline.';
        case 'passed':
            return 'Passed; it can be executed once its timelock ends.';
        case 'executable':
            return 'Passed; anyone can execute it within the execution window.';
        case 'executed':
            return 'Executed: its actions were sent.';
        case 'failed':
            return 'Rejected: it did not reach quorum or majority by its deadline.';
        case 'expired':
            return 'Expired: it passed but was not executed within its execution window.';
        case 'cleaned-up':
            return 'Cleaned up: its record was removed from the contract.';
        default:
            return String(p.status);
    }
}

/** A wallet link: the ton:// URL, its QR code as an image (an SVG image cannot run anything) and the Blueprint command. */
function walletLink(l: WalletLink, label: string, attr: Html): Html {
    const link = l.url.startsWith('ton://transfer/')
        ? html`<a class="wallet" href="${l.url}" ${attr}>${label}</a>`
        : html`<span class="wallet" ${attr}>${label}</span>`;
    const svg = l.qrSvg.trimStart();
    const src = `data:image/svg+xml;base64,${Buffer.from(l.qrSvg, 'utf8').toString('base64')}`;
    const qr =
        svg.startsWith('<svg') || svg.startsWith('<?xml')
            ? html`<img class="qr" src="${src}" alt="QR code of the link: ${label}" width="200" height="200"/>`
            : '';
    return html`<figure class="wallet-link">${qr}<figcaption>
<p>${link} (sends ${ton(l.amount)} to ${addr(l.to)})</p>
<p>Or with Blueprint:</p>
<pre class="blueprint"><code>${l.blueprint}</code></pre>${copyButton(l.blueprint, 'Blueprint command')}
<details><summary>Message body (base64 BOC)</summary><pre><code data-value="${l.payloadBoc}">${l.payloadBoc}</code></pre></details>
</figcaption></figure>`;
}

export function proposalSections(p: ProposalView & Envelope): Html {
    const now = p.chainTime;
    const main = section(
        'proposal',
        'Summary',
        html`<p class="outcome">${outcome(p)}</p>`,
        fields('The proposal', [
            ['id', 'Id', plain(p.id)],
            ['status', 'Status', status(p.status)],
            ['proposer', 'Proposer', p.proposer ? addr(p.proposer, { full: true }) : none()],
            ['createdAt', 'Created', countdown(p.createdAt, now)],
            ['deadline', 'Voting ends', countdown(p.deadline, now, closedOr(p))],
            ['executableFrom', 'Executable from', countdown(p.executableFrom, now, 'once it passes')],
            ['executableUntil', 'Executable until', countdown(p.executableUntil, now, 'once it passes')],
            ['yes', 'Yes', plain(p.yes)],
            ['no', 'No', plain(p.no)],
            ['totalWeight', 'Total weight', plain(p.totalWeight)],
            ['created', 'Created in', tx(p.created)],
            ['executed', 'Executed in', p.executed ? tx(p.executed) : html`<span class="none" data-value="">not executed</span>`],
        ]),
    );
    const actionItems = p.actions.map(
        (a) =>
            html`<li data-kind="${a.kind}"><span class="words">${a.words}</span> <span class="to">(to ${addr(a.to)}, with ${ton(a.value)})</span>
<details><summary>Decoded fields and body</summary>
<pre><code>${JSON.stringify(a.fields, null, 2)}</code></pre>
<pre><code data-value="${a.bodyBoc}">${a.bodyBoc}</code></pre>
</details></li>`,
    );
    const actions = section('actions', 'Actions', p.actions.length ? html`<ol>${actionItems}</ol>` : html`<p>No actions.</p>`);
    const voteRows = p.votes.map(
        (v) =>
            row({ address: v.voter.raw, support: v.support ? 'yes' : 'no' }, [
                ['voter', addr(v.voter)],
                ['support', plain(v.support ? 'yes' : 'no')],
                ['tx', tx(v.tx)],
            ]),
    );
    const votes = section('votes', 'Votes', table('Votes cast', ['Voter', 'Vote', 'Transaction'], voteRows, 'No votes yet.'));
    const vote = p.voteLinks
        ? section(
              'vote-links',
              'Vote from your wallet',
              html`<p>Open a link in a TON wallet of a voter, or scan its QR code; the Governance contract checks that the sender is a voter.</p>`,
              walletLink(p.voteLinks.yes, `Vote yes on proposal #${p.id}`, html`data-vote="yes"`),
              walletLink(p.voteLinks.no, `Vote no on proposal #${p.id}`, html`data-vote="no"`),
          )
        : '';
    const execute = p.executeLink
        ? section(
              'execute-link',
              'Execute from any wallet',
              walletLink(p.executeLink, `Execute proposal #${p.id}`, html`data-execute=""`),
          )
        : '';
    return html`${main}${actions}${votes}${vote}${execute}<p><a href="/governance">All proposals</a></p>`;
}

/** A removed proposal's deadline is not kept on chain: its voting is simply over. */
function closedOr(p: ProposalView): string | undefined {
    return p.status === 'executed' || p.status === 'cleaned-up' ? 'closed' : undefined;
}
