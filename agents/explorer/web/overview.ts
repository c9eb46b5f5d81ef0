// The Root's pages: the overview (Root, parameters, child code, counts, latest events), models, images, and the feed
// list that the overview and /feed share.
import type { FeedEvent, FeedView, ImageKind, ImagesView, ModelsView, RootView } from '../types';
import { feedKindLabel, feedLinks } from './feed-item';
import { html, type Html } from './html';
import { addr, bps, duration, fields, hash, plain, provenance, section, table, time, ton } from './parts';

export function rootSections(root: RootView): Html {
    const p = root.params;
    const c = root.childCode;
    return html`${section(
        'root',
        'Root',
        fields('The Root contract', [
            ['address', 'Address', addr(root.address, { full: true })],
            ['version', 'Version', plain(root.version)],
            ['governance', 'Governance', addr(root.governance, { full: true })],
            ['treasury', 'Treasury', addr(root.treasury, { full: true })],
            ['balance', 'Balance', ton(root.balance)],
        ]),
    )}${section(
        'params',
        'Parameters',
        fields('Network parameters (set by Governance)', [
            ['commissionBps', 'Proxy commission', bps(p.commissionBps)],
            ['reporterShareBps', 'Reporter share of a slash', bps(p.reporterShareBps)],
            ['minProxyStake', 'Minimum proxy stake', ton(p.minProxyStake)],
            ['minWorkerStake', 'Minimum worker stake', ton(p.minWorkerStake)],
            ['minClientDeposit', 'Minimum client deposit', ton(p.minClientDeposit)],
            ['creditWindow', 'Credit window', ton(p.creditWindow)],
            ['proxyCloseDelay', 'Proxy close delay', duration(p.proxyCloseDelay)],
            ['clientCloseDelay', 'Client close delay', duration(p.clientCloseDelay)],
            ['workerUnbondDelay', 'Worker unbond delay', duration(p.workerUnbondDelay)],
            ['slashChallengePeriod', 'Slash challenge period', duration(p.slashChallengePeriod)],
        ]),
    )}${section(
        'child-code',
        'Child contract code',
        fields('Code hashes of the contracts the Root deploys', [
            ['codeVersion', 'Code version', plain(c.codeVersion)],
            ['proxyCodeHash', 'Proxy', hash(c.proxyCodeHash, 'Proxy code hash')],
            ['clientCodeHash', 'Client channel', hash(c.clientCodeHash, 'client channel code hash')],
            ['workerCodeHash', 'Worker channel', hash(c.workerCodeHash, 'worker channel code hash')],
        ]),
    )}${section(
        'counts',
        'Counts',
        fields('What the Root lists', [
            ['proxyImages', 'Proxy images', html`<a href="/images">${plain(root.counts.proxyImages)}</a>`],
            ['workerImages', 'Worker images', html`<a href="/images">${plain(root.counts.workerImages)}</a>`],
            ['models', 'Models', html`<a href="/models">${plain(root.counts.models)}</a>`],
            ['proxies', 'Proxies', html`<a href="/proxies">${plain(root.counts.proxies)}</a>`],
        ]),
    )}`;
}

export function modelsSection(view: ModelsView): Html {
    const head = ['Name', 'Id', 'Prompt', 'Cached', 'Completion', 'Reasoning', 'Context', 'Weights hash', 'Registered'];
    const rows = view.models.map(
        (m) =>
            html`<tr data-id="${m.id}"><th scope="row" data-field="name"><span data-value="${m.name}">${m.name}</span></th><td data-field="id">${hash(m.id, 'model id')}</td><td data-field="prices.prompt">${ton(m.prices.prompt)}</td><td data-field="prices.cached">${ton(m.prices.cached)}</td><td data-field="prices.completion">${ton(m.prices.completion)}</td><td data-field="prices.reasoning">${ton(m.prices.reasoning)}</td><td data-field="contextLength">${plain(m.contextLength)}</td><td data-field="weightsHash">${hash(m.weightsHash, 'weights hash')}</td><td data-field="registered">${provenance(m.registered)}</td></tr>`,
    );
    return section('models', 'Models', table('Registered models (prices per 1M tokens of each class)', head, rows, 'No models registered.'));
}

const ROLE_WORDS: Record<ImageKind, string> = { worker: 'Worker images', proxy: 'Proxy images' };

export function imagesSection(view: ImagesView): Html {
    const tables = (['worker', 'proxy'] as const).map((kind) => {
        const rows = view.images
            .filter((i) => i.kind === kind)
            .map((i) => html`<tr data-hash="${i.hash}"><td data-field="hash">${hash(i.hash, 'image hash')}</td><td data-field="added">${provenance(i.added)}</td></tr>`);
        return html`<h3>${ROLE_WORDS[kind]}</h3>${table(`${ROLE_WORDS[kind]} allowlisted`, ['Image hash', 'Added'], rows, 'None allowlisted.', kind)}`;
    });
    return section('images', 'TEE images', tables);
}

/** One feed list item (the browser bundle builds the same structure for live events: client/feed.ts). */
export function feedItem(e: FeedEvent): Html {
    const links = feedLinks(e).map((l) => html` <a href="${l.href}">${l.label}</a>`);
    return html`<li data-event-id="${e.id}" data-kind="${e.kind}">${time(e.at)} <span class="kind">${feedKindLabel(e.kind)}</span> <span class="words">${e.words}</span><span class="links">${links}</span></li>`;
}

export function feedSection(view: FeedView, title: string): Html {
    const empty = view.events.length ? '' : html`<p class="empty">No events indexed yet.</p>`;
    return section(
        'feed',
        title,
        html`<p id="feed-status" role="status">Newest first, as of ${time(view.chainTime)}. Reload for newer events.</p>${empty}<ol class="feed-list" aria-live="polite" aria-relevant="additions">${view.events.map(feedItem)}</ol>`,
    );
}
