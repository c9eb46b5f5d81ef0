// Server-side HTML of every explorer page (spec/explorer.md "Pages"): complete without JavaScript; the bundle at
// /assets/app.js only enhances (live feed, ticking countdowns, copy buttons). Every chain string goes through `html`.
import type { PageContext, PageModel } from '../types';
import { governanceSections, proposalSections } from './governance';
import { html, type Html } from './html';
import { feedSection, imagesSection, modelsSection, rootSections } from './overview';
import { addr, time } from './parts';
import { addressSections, proxiesSection, proxySections } from './proxies';

/** The pages' Content-Security-Policy: each page carries it in a <meta> (minus frame-ancestors, which only a header can
 * carry); a server may send it as its header. */
export const CONTENT_SECURITY_POLICY =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** A <meta> policy may not carry frame-ancestors (browsers ignore it there and log an error). */
const META_POLICY = CONTENT_SECURITY_POLICY.replace(/; frame-ancestors [^;]*/, '');

const NAV: { page: PageModel['page']; href: string; label: string }[] = [
    { page: 'overview', href: '/', label: 'Overview' },
    { page: 'models', href: '/models', label: 'Models' },
    { page: 'images', href: '/images', label: 'Images' },
    { page: 'proxies', href: '/proxies', label: 'Proxies' },
    { page: 'governance', href: '/governance', label: 'Governance' },
    { page: 'feed', href: '/feed', label: 'Feed' },
];

/** Which navigation entry a page belongs to. */
const SECTION_OF: Partial<Record<PageModel['page'], PageModel['page']>> = { proxy: 'proxies', proposal: 'governance' };

interface Body {
    title: string;
    content: Html;
    chainTime: number | null;
    historyComplete: boolean;
}

function body(model: PageModel): Body {
    switch (model.page) {
        case 'overview':
            return {
                title: 'Overview',
                content: html`${rootSections(model.root)}${feedSection(model.feed, 'Latest events')}`,
                chainTime: model.root.chainTime,
                historyComplete: model.root.historyComplete && model.feed.historyComplete,
            };
        case 'models':
            return { title: 'Models', content: modelsSection(model.view), ...envelope(model.view) };
        case 'images':
            return { title: 'TEE images', content: imagesSection(model.view), ...envelope(model.view) };
        case 'proxies':
            return { title: 'Proxies', content: proxiesSection(model.view), ...envelope(model.view) };
        case 'proxy':
            return { title: 'Proxy', content: proxySections(model.view), ...envelope(model.view) };
        case 'address':
            return { title: 'Address', content: addressSections(model.view), ...envelope(model.view) };
        case 'governance':
            return { title: 'Governance', content: governanceSections(model.view), ...envelope(model.view) };
        case 'proposal':
            return { title: `Proposal #${model.view.id}`, content: proposalSections(model.view), ...envelope(model.view) };
        case 'feed':
            return { title: 'Live feed', content: feedSection(model.view, 'Events'), ...envelope(model.view) };
        case 'error': {
            const e = model.body.error;
            const details = e.details
                ? html`<details><summary>Details</summary><pre><code>${JSON.stringify(e.details, null, 2)}</code></pre></details>`
                : '';
            const status = html`<span data-field="status" data-value="${model.status}">${model.status}</span>`;
            const code = html`<code data-field="code" data-value="${e.code}">${e.code}</code>`;
            return {
                title: `Error ${model.status}`,
                content: html`<section id="error" role="alert" aria-labelledby="error-h"><h2 id="error-h">${e.message}</h2>
<p>HTTP status ${status}, code ${code}.</p>${details}
<p><a href="/">Back to the overview</a></p></section>`,
                chainTime: null,
                historyComplete: true,
            };
        }
    }
}

function envelope(v: { chainTime: number; historyComplete: boolean }): Pick<Body, 'chainTime' | 'historyComplete'> {
    return { chainTime: v.chainTime, historyComplete: v.historyComplete };
}

/** The whole HTML document of one page; every chain string is escaped. */
export function renderPage(model: PageModel, ctx: PageContext): string {
    const b = body(model);
    const current = SECTION_OF[model.page] ?? model.page;
    const nav = NAV.map(
        (n) => html`<li><a href="${n.href}"${n.page === current ? html` aria-current="page"` : ''}>${n.label}</a></li>`,
    );
    const clock = b.chainTime !== null ? html` data-chain-time="${b.chainTime}"` : '';
    const incomplete = b.historyComplete
        ? ''
        : html`<p class="notice" role="note">History is indexed only back to a limit: older facts (who registered what, older events) may be missing.</p>`;
    const asOf = b.chainTime !== null ? html`<p>Chain time ${time(b.chainTime)}.</p>` : '';
    const doc = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<meta http-equiv="Content-Security-Policy" content="${META_POLICY}"/>
<meta name="referrer" content="no-referrer"/>
<title>${b.title} · Cocoon explorer · ${ctx.network}</title>
<link rel="stylesheet" href="/assets/style.css"/>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml"/>
<script src="/assets/app.js" defer="defer"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<p class="site"><a href="/">Cocoon explorer</a> <span id="network" class="network network-${ctx.network}" data-value="${ctx.network}">${ctx.network}</span></p>
<nav aria-label="Main"><ul>${nav}</ul></nav>
<form id="lookup" action="/address" method="get" role="search"><label for="q">Look up an address</label> <input id="q" name="q" type="text" required="required" autocomplete="off" spellcheck="false" placeholder="EQ… or 0:…"/> <button type="submit">Look up</button></form>
</header>
<main id="main"${clock}>
<h1>${b.title}</h1>
${incomplete}${b.content}
</main>
<footer>
<p>Root ${addr(ctx.root)} · Governance ${addr(ctx.governance)}</p>
${asOf}<p>Everything here is read from the chain. <a href="/api/root">JSON API</a></p>
<div id="announce" class="sr-only" aria-live="polite"></div>
</footer>
</body>
</html>
`;
    return doc.markup;
}
