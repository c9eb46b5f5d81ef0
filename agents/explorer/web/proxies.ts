// The proxies' pages: the list, one proxy (with its worker channels and slashing history), and any address.
import type { AddressView, ClientChannelView, ProxiesView, ProxyView, SlashView, WorkerChannelView } from '../types';
import { html, type Html } from './html';
import { addr, countdown, endpoint, fields, hash, none, plain, row, section, table, time, ton, tx } from './parts';

export function proxiesSection(view: ProxiesView): Html {
    const head = ['Proxy', 'Owner', 'Stake', 'Client endpoint', 'Worker endpoint', 'Registered'];
    const rows = view.proxies.map(
        (p) =>
            row({ address: p.address.raw }, [
                ['address', addr(p.address, { proxy: true })],
                ['owner', addr(p.owner)],
                ['stake', ton(p.stake)],
                ['clientEndpoint', endpoint(p.clientEndpoint)],
                ['workerEndpoint', endpoint(p.workerEndpoint)],
                ['registeredAt', time(p.registeredAt)],
            ]),
    );
    return section('proxies', 'Proxies', table('Proxies registered with the Root', head, rows, 'No proxies registered.'));
}

const SLASH_WORDS: Record<SlashView['kind'], string> = {
    equivocation: 'equivocation reported',
    'fault-reported': 'worker fault reported',
    'slash-executed': 'slash executed',
    'slash-vetoed': 'slash vetoed',
};

export function proxySections(p: ProxyView): Html {
    const now = p.chainTime;
    const reg = p.registration;
    const commit = p.lastCommit;
    const commitCell = commit
        ? html`seqno ${plain(commit.seqno)}, ${hash(commit.hash, 'commit hash')}${commit.ageSeconds !== null ? html`, ${countdown(now - commit.ageSeconds, now)}` : ''}`
        : html`<span class="none" data-value="">none yet</span>`;
    const proxy = section(
        'proxy',
        'Proxy',
        fields('The Proxy contract', [
            ['address', 'Address', addr(p.address, { full: true })],
            ['owner', 'Owner', addr(p.owner, { full: true })],
            ['state', 'State', plain(p.state)],
            ['registered', 'Registered with the Root', plain(p.registered)],
            ['banned', 'Banned', plain(p.banned)],
            ['stake', 'Stake', ton(p.stake)],
            ['commission', 'Commission earned', ton(p.commission)],
            ['pool', 'Commission pool', ton(p.pool)],
            ['closeAt', 'Closes', countdown(p.closeAt, now)],
            ['enclaveKey', 'Enclave key', hash(p.enclaveKey, 'enclave key')],
            ['lastCommit', 'Last state commit', commitCell],
            ['clientEndpoint', 'Client endpoint', reg ? endpoint(reg.clientEndpoint) : none()],
            ['workerEndpoint', 'Worker endpoint', reg ? endpoint(reg.workerEndpoint) : none()],
            ['registeredAt', 'Registered', reg ? time(reg.registeredAt) : none()],
        ]),
    );
    const head = ['Channel', 'Worker', 'State', 'Stake', 'Paid', 'Unbonds', 'Pending fault', 'Opened'];
    const rows = p.workerChannels.map(
        (w) =>
            row({ address: w.address.raw }, [
                ['address', addr(w.address)],
                ['worker', addr(w.worker)],
                ['state', plain(w.state)],
                ['stake', ton(w.stake)],
                ['paid', ton(w.paid)],
                ['unbondAt', countdown(w.unbondAt, now)],
                ['pendingFault', fault(w, now)],
                ['opened', tx(w.opened)],
            ]),
    );
    const workers = section('workers', 'Workers', table('Worker channels of this proxy', head, rows, 'No worker channels.'));
    const slashRows = p.slashes.map(
        (s) =>
            row({ tx: `${s.tx.lt}:${s.tx.hash}` }, [
                ['kind', html`<span data-value="${s.kind}">${SLASH_WORDS[s.kind] ?? s.kind}</span>`],
                ['target', addr(s.target)],
                ['amount', s.amount === null ? none() : ton(s.amount)],
                ['tx', tx(s.tx)],
            ]),
    );
    const slashes = section('slashes', 'Slashing history', table('Slashes of this proxy and its workers', ['What', 'Slashed contract', 'Amount', 'Transaction'], slashRows, 'No slashes.'));
    return html`${proxy}${workers}${slashes}`;
}

function fault(w: WorkerChannelView, now: number): Html {
    const f = w.pendingFault;
    if (!f) return html`<span class="none" data-value="">none</span>`;
    return html`${ton(f.amount)} (reason ${plain(f.reason)}, request ${hash(f.requestId, 'request id')}), executable ${countdown(f.executeAt, now)}`;
}

function workerChannel(w: WorkerChannelView, now: number): Html {
    return section(
        'channel',
        'Worker channel',
        fields('The WorkerChannel contract', [
            ['address', 'Address', addr(w.address, { full: true })],
            ['proxy', 'Proxy', addr(w.proxy, { proxy: true, full: true })],
            ['worker', 'Worker', addr(w.worker, { full: true })],
            ['state', 'State', plain(w.state)],
            ['stake', 'Stake', ton(w.stake)],
            ['paid', 'Paid', ton(w.paid)],
            ['unbondAt', 'Unbonds', countdown(w.unbondAt, now)],
            ['pendingFault', 'Pending fault', fault(w, now)],
            ['opened', 'Opened', tx(w.opened)],
        ]),
    );
}

function clientChannel(c: ClientChannelView, now: number): Html {
    return section(
        'channel',
        'Client channel',
        fields('The ClientChannel contract', [
            ['address', 'Address', addr(c.address, { full: true })],
            ['proxy', 'Proxy', addr(c.proxy, { proxy: true, full: true })],
            ['client', 'Client', addr(c.client, { full: true })],
            ['state', 'State', plain(c.state)],
            ['balance', 'Balance', ton(c.balance)],
            ['redeemed', 'Redeemed by the proxy', ton(c.redeemed)],
            ['pendingWithdraw', 'Pending withdrawal', ton(c.pendingWithdraw)],
            ['withdrawAt', 'Withdrawal possible', countdown(c.withdrawAt, now)],
            ['closeAt', 'Closes', countdown(c.closeAt, now)],
        ]),
    );
}

const KIND_WORDS: Record<AddressView['kind'], string> = {
    root: 'the Root contract',
    governance: 'the Governance contract',
    proxy: 'a Proxy',
    'worker-channel': 'a worker channel',
    'client-channel': 'a client channel',
    other: 'deployed, but not a contract of this network (a wallet or another contract)',
    'not-deployed': 'nothing deployed here',
};

export function addressSections(v: AddressView): Html {
    const more =
        v.kind === 'root' ? html` <a href="/">See the overview.</a>` : v.kind === 'governance' ? html` <a href="/governance">See governance.</a>` : '';
    const head = section(
        'address',
        'Address',
        fields('What lives at this address', [
            ['address', 'Address', addr(v.address, { full: true })],
            ['kind', 'Kind', html`<span data-value="${v.kind}">${KIND_WORDS[v.kind] ?? v.kind}</span>${more}`],
            ['balance', 'Balance', ton(v.balance)],
        ]),
    );
    switch (v.kind) {
        case 'proxy':
            return html`${head}${proxySections(v.proxy)}`;
        case 'worker-channel':
            return html`${head}${workerChannel(v.channel, v.chainTime)}`;
        case 'client-channel':
            return html`${head}${clientChannel(v.channel, v.chainTime)}`;
        default:
            return head;
    }
}
