// The value elements every page is made of (spec/explorer.md "Pages"): each shows a value for people and carries its
// exact raw value in data-value for machines. Everything goes through `html`, so chain strings are escaped.
import type { Addr, Provenance, TxRef } from '../types';
import { formatBps, formatCountdown, formatDuration, formatTime, formatTon, RAW_ADDRESS } from './format';
import { html, Html, type Interpolation } from './html';

/** nanoTON as "1.5 TON", the nanoTON in data-value and the title. */
export function ton(nano: string): Html {
    return html`<span class="ton" data-value="${nano}" title="${nano} nanoTON">${formatTon(nano)}</span>`;
}

/** A copy button, hidden until the script can copy. */
export function copyButton(value: string, what: string): Html {
    return html`<button type="button" class="copy" data-copy="${value}" aria-label="Copy ${what}" hidden="hidden">Copy</button>`;
}

/** A hash, key or id: shortened, the full value in the title and data-value, copyable. */
export function hash(hex: string, what = 'hash'): Html {
    const short = hex.length > 16 ? `${hex.slice(0, 6)}…${hex.slice(-4)}` : hex;
    return html`<code class="hash" data-value="${hex}" title="${hex}">${short}</code>${copyButton(hex, what)}`;
}

/** An address linked to its page (`/address/<raw>`, or `/proxies/<raw>` for a proxy); shown user-friendly. */
export function addr(a: Addr, opts: { proxy?: boolean; full?: boolean } = {}): Html {
    const short = !opts.full && a.friendly.length > 16;
    const shown = short ? `${a.friendly.slice(0, 6)}…${a.friendly.slice(-6)}` : a.friendly;
    const cls = short ? 'addr short' : 'addr';
    if (!RAW_ADDRESS.test(a.raw)) return html`<span class="${cls}" data-value="${a.raw}" title="${a.friendly}">${shown}</span>`;
    const href = `${opts.proxy ? '/proxies/' : '/address/'}${a.raw}`;
    const copy = opts.full ? copyButton(a.friendly, 'address') : '';
    return html`<a class="${cls}" href="${href}" data-value="${a.raw}" title="${a.friendly}">${shown}</a>${copy}`;
}

/** A link to a proposal's page. */
export function proposalLink(id: number): Html {
    return Number.isSafeInteger(id) && id >= 0 ? html`<a href="/governance/proposals/${id}" data-value="${id}">#${id}</a>` : html`<span data-value="${id}">#${id}</span>`;
}

function isoOf(at: number): string | null {
    const d = new Date(at * 1000);
    return Number.isFinite(d.getTime()) ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
}

/** A moment of chain time; 0 means "not set". */
export function time(at: number): Html {
    const iso = at > 0 ? isoOf(at) : null;
    if (!iso) return html`<span class="none" data-value="${at}">—</span>`;
    return html`<time datetime="${iso}" data-value="${at}">${formatTime(at)}</time>`;
}

/** A moment as a countdown from the view's chain time ("in 2 h 14 min", "3 min ago"); the script keeps it ticking. */
export function countdown(at: number | null, now: number, ifNull?: string): Html {
    if (at === null) return ifNull ? html`<span class="none" data-value="">${ifNull}</span>` : none();
    const iso = at > 0 ? isoOf(at) : null;
    if (!iso) return html`<span class="none" data-value="${at}">—</span>`;
    return html`<time datetime="${iso}" data-value="${at}" data-countdown="" title="${formatTime(at)}">${formatCountdown(at, now)}</time>`;
}

export function duration(seconds: number): Html {
    return html`<span data-value="${seconds}">${formatDuration(seconds)}</span>`;
}

export function bps(value: number): Html {
    return html`<span data-value="${value}" title="${value} bps">${formatBps(value)}</span>`;
}

/** A plain number, word or flag (shown as yes/no), with its value in data-value. */
export function plain(value: string | number | boolean): Html {
    const shown = typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);
    return html`<span data-value="${String(value)}">${shown}</span>`;
}

/** "not known from the chain". */
export function none(): Html {
    return html`<span class="none" data-value="">unknown</span>`;
}

/** A transaction: its time and hash. */
export function tx(t: TxRef | null): Html {
    return t ? html`${time(t.at)} ${hash(t.hash, 'transaction hash')}` : none();
}

/** When a value was set and by which proposal. */
export function provenance(p: Provenance | null): Html {
    if (!p) return none();
    const by = p.proposalId !== null ? html` by proposal ${proposalLink(p.proposalId)}` : '';
    const proposer = p.proposer ? html` (proposed by ${addr(p.proposer)})` : '';
    return html`${time(p.tx.at)}${by}${proposer}`;
}

/** An endpoint (chain string): text, and a link only when it is an http(s) or ws(s) URL. */
export function endpoint(value: string): Html {
    let url: URL | null = null;
    try {
        url = new URL(value);
    } catch {
        url = null;
    }
    if (url && ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
        return html`<a class="endpoint" href="${url.href}" rel="nofollow noopener noreferrer" data-value="${value}">${value}</a>`;
    }
    return html`<code class="endpoint" data-value="${value}">${value}</code>`;
}

/** A key/value table of one record: rows `tr[data-field]`. */
export function fields(caption: string, rows: [field: string, label: string, value: Interpolation][]): Html {
    return table(
        caption,
        null,
        rows.map(([field, label, value]) => html`<tr data-field="${field}"><th scope="row">${label}</th><td>${value}</td></tr>`),
    );
}

/** A row of a list: its key in `data-*` attributes (names are ours), the first cell its row header, every cell
 * `[data-field]`. */
export function row(keys: Record<string, string | number>, cells: [field: string, value: Interpolation][]): Html {
    const attrs = Object.entries(keys).map(([name, value]) => html` data-${name}="${value}"`);
    const tds = cells.map(([field, value], i) =>
        i === 0 ? html`<th scope="row" data-field="${field}">${value}</th>` : html`<td data-field="${field}">${value}</td>`,
    );
    return html`<tr${attrs}>${tds}</tr>`;
}

/** A table in its own scrolling container (the page itself never scrolls sideways). */
export function table(caption: string, head: string[] | null, rows: Html[], empty = 'None.', kind?: string): Html {
    const thead = head ? html`<thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>` : '';
    const body = rows.length ? rows : [html`<tr><td colspan="${head ? head.length : 2}">${empty}</td></tr>`];
    return html`<div class="scroll" tabindex="0" role="region" aria-label="${caption}"><table${kind ? html` data-kind="${kind}"` : ''}><caption>${caption}</caption>${thead}<tbody>${body}</tbody></table></div>`;
}

/** A page section with its id and heading. */
export function section(id: string, title: string, ...content: Interpolation[]): Html {
    return html`<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${title}</h2>${content}</section>`;
}
