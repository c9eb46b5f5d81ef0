// The Root's pages: the overview (Root, parameters, child code, counts, latest events), models, images, and the feed
// list that the overview and /feed share.
import type { FeedEvent, FeedView, ImageKind, ImagesView, ModelsView, RootView } from '../types';
import { feedKindLabel, feedLinks } from './feed-item';
import { html, type Html } from './html';
import { addr, bps, duration, fields, hash, plain, provenance, row, section, table, time, ton } from './parts';

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
            ['keyImages', 'Key-service images', html`<a href="/images">${plain(root.counts.keyImages)}</a>`],
            ['models', 'Models', html`<a href="/models">${plain(root.counts.models)}</a>`],
            ['proxies', 'Proxies', html`<a href="/proxies">${plain(root.counts.proxies)}</a>`],
        ]),
    )}`;
}

export function modelsSection(view: ModelsView): Html {
    const head = ['Name', 'Id', 'Prompt', 'Cached', 'Completion', 'Reasoning', 'Context', 'Weights hash', 'GPU evidence required', 'Registered'];
    const rows = view.models.map(
        (m) =>
            row({ id: m.id }, [
                ['name', plain(m.name)],
                ['id', hash(m.id, 'model id')],
                ['prices.prompt', ton(m.prices.prompt)],
                ['prices.cached', ton(m.prices.cached)],
                ['prices.completion', ton(m.prices.completion)],
                ['prices.reasoning', ton(m.prices.reasoning)],
                ['contextLength', plain(m.contextLength)],
                ['weightsHash', hash(m.weightsHash, 'weights hash')],
                ['requireGpu', plain(m.requireGpu)],
                ['registered', provenance(m.registered)],
            ]),
    );
    return section('models', 'Models', table('Registered models (prices per 1M tokens of each class)', head, rows, 'No models registered.'));
}

const ROLE_WORDS: Record<ImageKind, string> = { worker: 'Worker images', proxy: 'Proxy images', keys: 'Key-service images' };

export function imagesSection(view: ImagesView): Html {
    const tables = (['worker', 'proxy', 'keys'] as const).map((kind) => {
        const rows = view.images
            .filter((i) => i.kind === kind)
            .map((i) => row({ hash: i.hash }, [['hash', hash(i.hash, 'image hash')], ['added', provenance(i.added)]]));
        const t = table(`${ROLE_WORDS[kind]} allowlisted`, ['Image hash', 'Added'], rows, 'None allowlisted.', kind);
        return html`<h3>${ROLE_WORDS[kind]}</h3>${t}`;
    });
    return section('images', 'TEE images', tables);
}

/** One feed list item (the browser bundle builds the same structure for live events: client/feed.ts). */
export function feedItem(e: FeedEvent): Html {
    const links = feedLinks(e).map((l) => html` <a href="${l.href}">${l.label}</a>`);
    const kind = html`<span class="kind">${feedKindLabel(e.kind)}</span>`;
    return html`<li data-event-id="${e.id}" data-kind="${e.kind}">${time(e.at)} ${kind} <span class="words">${e.words}</span><span class="links">${links}</span></li>`;
}

export function feedSection(view: FeedView, title: string): Html {
    const empty = view.events.length ? '' : html`<p class="empty">No events indexed yet.</p>`;
    return section(
        'feed',
        title,
        html`<p id="feed-status" role="status">Newest first, as of ${time(view.chainTime)}. Reload for newer events.</p>${empty}
<ol class="feed-list" aria-live="polite" aria-relevant="additions">${view.events.map(feedItem)}</ol>`,
    );
}
