// The live feed: events from /api/feed/stream are prepended to the feed list (an aria-live region), built with DOM
// calls from the same parts as the server's list items (feed-item.ts), never with innerHTML.
import type { FeedEvent } from '../../types';
import { feedKindLabel, feedLinks } from '../feed-item';
import { formatTime } from '../format';

const MAX_ITEMS = 200;
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 60_000;

function isFeedEvent(v: unknown): v is FeedEvent {
    const e = v as FeedEvent;
    return typeof e === 'object' && e !== null && typeof e.id === 'string' && typeof e.kind === 'string' && typeof e.words === 'string' && typeof e.at === 'number';
}

function item(e: FeedEvent): HTMLLIElement {
    const li = document.createElement('li');
    li.dataset.eventId = e.id;
    li.dataset.kind = e.kind;
    const time = document.createElement('time');
    time.dateTime = new Date(e.at * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    time.dataset.value = String(e.at);
    time.textContent = formatTime(e.at);
    const kind = document.createElement('span');
    kind.className = 'kind';
    kind.textContent = feedKindLabel(e.kind);
    const words = document.createElement('span');
    words.className = 'words';
    words.textContent = e.words;
    const links = document.createElement('span');
    links.className = 'links';
    for (const l of feedLinks(e)) {
        const a = document.createElement('a');
        a.href = l.href;
        a.textContent = l.label;
        links.append(' ', a);
    }
    li.append(time, ' ', kind, ' ', words, links);
    return li;
}

export function startFeed(): void {
    const list = document.querySelector<HTMLOListElement>('#feed ol.feed-list');
    const status = document.getElementById('feed-status');
    if (!list || typeof EventSource === 'undefined') return;
    const seen = new Set(Array.from(list.children, (li) => (li as HTMLElement).dataset.eventId));
    const say = (text: string) => {
        if (status) status.textContent = text;
    };
    let retryMs = RETRY_MIN_MS;
    const connect = () => {
        const source = new EventSource('/api/feed/stream');
        source.addEventListener('open', () => {
            retryMs = RETRY_MIN_MS;
            say('Live: new events appear at the top as they land on chain.');
        });
        source.addEventListener('feed', (m) => {
            let e: unknown;
            try {
                e = JSON.parse((m as MessageEvent<string>).data);
            } catch {
                return;
            }
            if (!isFeedEvent(e) || seen.has(e.id)) return;
            seen.add(e.id);
            document.querySelector('#feed p.empty')?.remove();
            list.prepend(item(e));
            while (list.children.length > MAX_ITEMS) list.lastElementChild?.remove();
        });
        source.addEventListener('error', () => {
            // The browser reconnects by itself after a dropped stream; a refused one (an error status) is closed.
            if (source.readyState !== EventSource.CLOSED) {
                say('Live updates interrupted; reconnecting…');
                return;
            }
            say(`Live updates unavailable; retrying in ${Math.round(retryMs / 1000)} s.`);
            setTimeout(connect, retryMs);
            retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
        });
    };
    connect();
}
