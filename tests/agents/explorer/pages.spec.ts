// The explorer's server-side pages (agents/explorer/web/pages.ts) rendered from hand-built views: structure, exact
// values, and chain strings chosen by an attacker coming out as text only. Each page is parsed as XML (the pages are
// polyglot markup), so a string that broke out of its element or attribute would fail the parse or show up below.
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import fc from 'fast-check';
import { formatBps, formatCountdown, formatDuration, formatTon } from '../../../agents/explorer/web/format';
import { CONTENT_SECURITY_POLICY, renderPage } from '../../../agents/explorer/web/pages';
import type { PageModel } from '../../../agents/explorer/types';
import { CHAIN_TIME, ctx, everyPage, feed, governance, HOSTILE, HOSTILE_ENDPOINTS, images, models, proposal, proxy, root } from './page-views';

function parse(markup: string): Document {
    return new DOMParser({
        onError: (level, message) => {
            if (level !== 'warning') throw new Error(`${level}: ${message}`);
        },
    }).parseFromString(markup, 'text/xml');
}

const all = (d: Document | Element): Element[] => Array.from(d.getElementsByTagName('*'));
const byId = (d: Document, id: string): Element => {
    const e = all(d).find((x) => x.getAttribute('id') === id);
    if (!e) throw new Error(`no #${id}`);
    return e;
};
const where = (d: Document | Element, name: string, value?: string) =>
    all(d).filter((e) => e.hasAttribute(name) && (value === undefined || e.getAttribute(name) === value));
/** The value element of a record's field: `[data-field=name] [data-value]`. */
const field = (d: Document | Element, name: string): Element => {
    const f = where(d, 'data-field', name)[0];
    if (!f) throw new Error(`no field ${name}`);
    return f.hasAttribute('data-value') ? f : where(f, 'data-value')[0];
};
const page = (m: PageModel) => parse(renderPage(m, ctx));
const label = (m: PageModel) => `${m.page}${m.page === 'address' ? ` (${m.view.kind})` : m.page === 'proposal' ? ` (${m.view.status})` : ''}`;

/** Where a link may go: our routes, a fragment, a wallet's ton://transfer, or an http(s)/ws(s) endpoint. */
const SAFE_HREF = /^(\/(?!\/)|#|ton:\/\/transfer\/|https?:\/\/|wss?:\/\/)/;

describe('explorer pages', () => {
    let pages: PageModel[];
    beforeAll(async () => {
        pages = await everyPage();
    });

    it('renders every page as one well-formed document: lang, one h1, the navigation, a labelled look-up form, our script only, the CSP', () => {
        expect(new Set(pages.map((m) => m.page)).size).toBe(10);
        for (const m of pages) {
            const d = page(m);
            const at = label(m);
            expect([at, d.documentElement!.getAttribute('lang')]).toEqual([at, 'en']);
            expect([at, d.getElementsByTagName('h1').length]).toEqual([at, 1]);
            expect(byId(d, 'network').getAttribute('data-value')).toBe('devnet');
            const nav = d.getElementsByTagName('nav')[0];
            expect(all(nav).filter((e) => e.tagName === 'a').map((a) => a.getAttribute('href'))).toEqual(['/', '/models', '/images', '/proxies', '/governance', '/feed']);
            const form = byId(d, 'lookup');
            expect([form.getAttribute('action'), form.getAttribute('method')]).toEqual(['/address', 'get']);
            const input = byId(d, 'q');
            expect(input.getAttribute('name')).toBe('q');
            expect(where(d, 'for', 'q').map((l) => l.tagName)).toEqual(['label']);
            for (const i of Array.from(d.getElementsByTagName('input'))) expect(where(d, 'for', i.getAttribute('id')!)).toHaveLength(1);
            expect(d.getElementsByTagName('main')[0].getAttribute('id')).toBe('main');
            const scripts = Array.from(d.getElementsByTagName('script'));
            expect(scripts.map((s) => [s.getAttribute('src'), s.textContent])).toEqual([['/assets/app.js', '']]);
            const csp = where(d, 'http-equiv', 'Content-Security-Policy')[0].getAttribute('content');
            expect(CONTENT_SECURITY_POLICY.startsWith(csp!)).toBe(true);
            expect(csp).toContain("script-src 'self'");
            for (const t of Array.from(d.getElementsByTagName('table'))) expect(t.getElementsByTagName('caption')).toHaveLength(1);
            for (const th of Array.from(d.getElementsByTagName('th'))) expect(['row', 'col']).toContain(th.getAttribute('scope'));
        }
    });

    it('marks the current section in the navigation', () => {
        const current = (m: PageModel) => where(page(m), 'aria-current', 'page').map((a) => a.getAttribute('href'));
        expect(current(pages.find((m) => m.page === 'proposal')!)).toEqual(['/governance']);
        expect(current(pages.find((m) => m.page === 'proxy')!)).toEqual(['/proxies']);
        expect(current(pages.find((m) => m.page === 'address')!)).toEqual([]);
    });

    it('attack: chain strings with markup, quotes and javascript: URLs come out as text, never as markup or links', () => {
        for (const m of pages) {
            const d = page(m);
            const at = label(m);
            for (const e of all(d)) {
                expect([at, e.tagName]).not.toEqual([at, expect.stringMatching(/^(iframe|object|embed|svg|textarea|base|frame)$/)]);
                for (const a of Array.from(e.attributes)) {
                    expect([at, a.name]).not.toEqual([at, expect.stringMatching(/^(on|style$|srcdoc$|formaction$)/i)]);
                }
                const href = e.getAttribute('href');
                if (href !== null) expect([at, href]).toEqual([at, expect.stringMatching(SAFE_HREF)]);
                if (e.tagName === 'img') expect(e.getAttribute('src')).toMatch(/^data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+$/);
            }
        }
        // …and they are shown exactly as the chain has them
        const m = page({ page: 'models', view: models });
        expect(where(m, 'data-field', 'name').map((e) => e.textContent)).toEqual(HOSTILE);
        const err = page(pages.find((p) => p.page === 'error')!);
        expect(byId(err, 'error-h').textContent).toBe(`not a TON address: ${HOSTILE[0]}`);
    });

    it('each model says whether GPU evidence is required; key-service images have their own table and count', () => {
        const m = page({ page: 'models', view: models });
        const rows = where(m, 'data-id');
        expect(rows.map((r) => [r.getAttribute('data-id'), field(r, 'requireGpu').getAttribute('data-value'), field(r, 'requireGpu').textContent])).toEqual(
            models.models.map((x) => [x.id, String(x.requireGpu), x.requireGpu ? 'yes' : 'no']),
        );
        expect(all(m).filter((e) => e.tagName === 'th').map((e) => e.textContent)).toContain('GPU evidence required');

        const i = page({ page: 'images', view: images });
        const listed = (kind: string) => where(where(i, 'data-kind', kind)[0], 'data-hash').map((r) => r.getAttribute('data-hash'));
        for (const kind of ['proxy', 'worker', 'keys']) expect([kind, listed(kind)]).toEqual([kind, images.images.filter((x) => x.kind === kind).map((x) => x.hash)]);
        expect(all(i).filter((e) => e.tagName === 'h3').map((e) => e.textContent)).toEqual(['Worker images', 'Proxy images', 'Key-service images']);

        const o = page({ page: 'overview', root, feed });
        expect(field(where(o, 'id', 'counts')[0], 'keyImages').getAttribute('data-value')).toBe(String(root.counts.keyImages));
    });

    it('attack: an endpoint is a link only when it is an http(s) or ws(s) URL', () => {
        const list = pages.find((m) => m.page === 'proxies')!;
        const d = page(list);
        const endpoints = all(d).filter((e) => e.getAttribute('class') === 'endpoint');
        expect(endpoints.map((e) => [e.tagName, e.textContent])).toEqual([
            ['a', 'https://proxy.example:8443/v1'],
            ['code', HOSTILE_ENDPOINTS[0]],
            ['code', HOSTILE_ENDPOINTS[2]],
            ['code', HOSTILE[0]],
        ]);
        expect(endpoints[0].getAttribute('href')).toBe('https://proxy.example:8443/v1');
        for (const e of HOSTILE_ENDPOINTS) {
            const one = page({ page: 'proxies', view: { ...proxy, proxies: [{ ...proxy.registration!, clientEndpoint: e }] } });
            expect(all(one).filter((x) => x.getAttribute('class') === 'endpoint').map((x) => [x.tagName, x.textContent])[0]).toEqual(['code', e]);
        }
    });

    it('attack: feed links smuggled in an event (a path for an address, a bad proposal id) are not followed', () => {
        const d = page({ page: 'feed', view: feed });
        const items = where(d, 'data-event-id');
        expect(items.map((li) => [li.getAttribute('data-event-id'), li.getAttribute('data-kind')])).toEqual(feed.events.map((e) => [e.id, e.kind]));
        const hrefs = (li: Element) => all(li).filter((e) => e.tagName === 'a').map((a) => a.getAttribute('href'));
        expect(hrefs(items[0])).toEqual(['/governance/proposals/3', `/address/${feed.events[0].links.address!.raw}`, `/address/${ctx.governance.raw}`]);
        expect(hrefs(items[1])).toEqual([]);
        expect(where(items[1], 'class', 'words')[0].textContent).toBe(HOSTILE[1]);
    });

    it('shows amounts in TON exactly, with the nanoTON in data-value and the title', () => {
        expect(['0', '1', '1500000000', '10000000000', '123456789012345678901', '-5', '999999999'].map(formatTon)).toEqual([
            '0 TON',
            '0.000000001 TON',
            '1.5 TON',
            '10 TON',
            '123,456,789,012.345678901 TON',
            '-0.000000005 TON',
            '0.999999999 TON',
        ]);
        const d = page({ page: 'overview', root, feed });
        const stake = field(byId(d, 'params'), 'minProxyStake');
        expect([stake.getAttribute('data-value'), stake.getAttribute('title'), stake.textContent]).toEqual(['10000000000', '10000000000 nanoTON', '10 TON']);
        expect(field(byId(d, 'root'), 'balance').textContent).toBe('123,456,789,012.345678901 TON');
        expect(field(byId(d, 'params'), 'reporterShareBps').textContent).toBe('66.67 %');
        expect(field(byId(d, 'params'), 'workerUnbondDelay').textContent).toBe('2 h 14 min');
        expect([formatBps(5001), formatDuration(0), formatDuration(90_061)]).toEqual(['50.01 %', '0 s', '1 d 1 h']);
    });

    it('shows hashes shortened with the full value in data-value and title, and addresses linked by their raw form', () => {
        const d = page({ page: 'overview', root, feed });
        const code = field(byId(d, 'child-code'), 'proxyCodeHash');
        expect([code.getAttribute('data-value'), code.getAttribute('title'), code.textContent]).toEqual([root.childCode.proxyCodeHash, root.childCode.proxyCodeHash, 'a1a1a1…a1a1']);
        const treasury = field(byId(d, 'root'), 'treasury');
        expect([treasury.getAttribute('href'), treasury.getAttribute('data-value')]).toEqual([`/address/${root.treasury.raw}`, root.treasury.raw]);
        const list = page(pages.find((m) => m.page === 'proxies')!);
        expect(where(byId(list, 'proxies'), 'data-address').map((r) => field(r, 'address').getAttribute('href'))).toEqual([`/proxies/${proxy.address.raw}`, `/proxies/0:${'0'.repeat(62)}20`]);
    });

    it('counts down from the view\'s chain time, not the server\'s clock', async () => {
        const p = await proposal('open');
        const d = page({ page: 'proposal', view: { ...p, chainTime: CHAIN_TIME, historyComplete: true } });
        expect(byId(d, 'main').getAttribute('data-chain-time')).toBe(String(CHAIN_TIME));
        const deadline = field(byId(d, 'proposal'), 'deadline');
        expect([deadline.tagName, deadline.getAttribute('datetime'), deadline.textContent]).toEqual(['time', '2026-12-03T20:14:00Z', 'in 2 h 14 min']);
        expect(deadline.hasAttribute('data-countdown')).toBe(true);
        expect(field(byId(d, 'proposal'), 'createdAt').textContent).toBe('10 min ago');
        expect(field(byId(d, 'proposal'), 'executableFrom').getAttribute('data-value')).toBe('');
        expect(formatCountdown(CHAIN_TIME, CHAIN_TIME)).toBe('now');
        const w = page({ page: 'proxy', view: proxy });
        const row = where(byId(w, 'workers'), 'data-address', proxy.workerChannels[0].address.raw)[0];
        expect(field(row, 'unbondAt').textContent).toBe('—');
        expect(field(row, 'pendingFault').textContent).toBe('0.5 TON');
    });

    it('governance: voters, rules and every proposal with its status, tally and actions in words', async () => {
        const g = await governance();
        const d = page({ page: 'governance', view: g });
        expect(where(byId(d, 'voters'), 'data-address').map((r) => [r.getAttribute('data-address'), field(r, 'weight').textContent])).toEqual(g.voters.map((v) => [v.address.raw, '1']));
        expect(field(byId(d, 'governance-params'), 'quorumBps').textContent).toBe('66.67 %');
        expect(field(byId(d, 'governance-params'), 'timelock').textContent).toBe('0 s');
        const rows = where(byId(d, 'proposals'), 'data-proposal-id');
        expect(rows.map((r) => [r.getAttribute('data-proposal-id'), r.getAttribute('data-status'), field(r, 'id').getAttribute('href')])).toEqual([
            ['3', 'open', '/governance/proposals/3'],
            ['2', 'executed', '/governance/proposals/2'],
            ['1', 'failed', '/governance/proposals/1'],
        ]);
        expect(where(rows[0], 'data-field', 'votes')[0].textContent).toBe('1 yes, 0 no of 3');
        expect(field(rows[1], 'deadline').textContent).toBe('closed');
    });

    it('an open proposal shows its vote links: the ton:// link, its QR code as an image, the Blueprint command', async () => {
        const p = await proposal('open');
        const d = page({ page: 'proposal', view: { ...p, chainTime: CHAIN_TIME, historyComplete: true } });
        const links = byId(d, 'vote-links');
        const yes = where(links, 'data-vote', 'yes')[0];
        expect([yes.tagName, yes.getAttribute('href')]).toEqual(['a', p.voteLinks!.yes.url]);
        const qr = all(yes.parentNode!.parentNode!.parentNode as Element).filter((e) => e.tagName === 'img')[0];
        const src = qr.getAttribute('src')!;
        expect(Buffer.from(src.slice(src.indexOf(',') + 1), 'base64').toString('utf8')).toBe(p.voteLinks!.yes.qrSvg);
        expect(qr.getAttribute('alt')).toContain('Vote yes');
        expect(all(links).filter((e) => e.tagName === 'pre' && e.getAttribute('class') === 'blueprint').map((e) => e.textContent)).toEqual([p.voteLinks!.yes.blueprint, p.voteLinks!.no.blueprint]);
        // the "no" link of the fixture is a javascript: URL: shown, never a link
        const no = where(links, 'data-vote', 'no')[0];
        expect(no.tagName).toBe('span');
        expect(where(d, 'id', 'execute-link')).toHaveLength(0);
        expect(where(byId(d, 'actions'), 'data-kind').map((li) => where(li, 'class', 'words')[0].textContent)).toEqual(p.actions.map((a) => a.words));
        expect(where(byId(d, 'votes'), 'data-address').map((r) => r.getAttribute('data-support'))).toEqual(['yes']);
    });

    it('attack: a QR image that is not an SVG document is not shown; an executable proposal shows its execute link', async () => {
        const p = await proposal('executable');
        const d = page({ page: 'proposal', view: { ...p, chainTime: CHAIN_TIME, historyComplete: true } });
        const exec = byId(d, 'execute-link');
        expect(where(exec, 'data-execute').map((a) => [a.tagName, a.getAttribute('href')])).toEqual([['a', p.executeLink!.url]]);
        expect(exec.getElementsByTagName('img')).toHaveLength(0);
        expect(where(d, 'id', 'vote-links')).toHaveLength(0);
    });

    it('the error page states the message, status and code in an alert', () => {
        const d = page({ page: 'error', status: 404, body: { error: { code: 'NOT_FOUND', message: 'no proposal 9' } } });
        const e = byId(d, 'error');
        expect(e.getAttribute('role')).toBe('alert');
        expect([field(e, 'status').textContent, field(e, 'code').textContent, byId(d, 'error-h').textContent]).toEqual(['404', 'NOT_FOUND', 'no proposal 9']);
        expect(d.getElementsByTagName('title')[0].textContent).toBe('Error 404 · Cocoon explorer · devnet');
    });

    it('says when history was cut by the index limit', () => {
        expect(renderPage({ page: 'proxy', view: proxy }, ctx)).toContain('History is indexed only back to a limit');
        expect(renderPage({ page: 'proxy', view: { ...proxy, historyComplete: true } }, ctx)).not.toContain('History is indexed only back to a limit');
    });
});

describe('explorer pages under arbitrary chain strings', () => {
    // What a page shows for a string: control characters become U+FFFD, line ends are read as \n (as browsers do),
    // everything else is kept as it is.
    const shown = (s: string) => s.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '\ufffd').replace(/\r\n?/g, '\n');

    it('attack: any string as a model name, an endpoint or feed words comes out as the same text and nothing else (fast-check)', () => {
        const chainString = fc.oneof(fc.string({ unit: 'binary-ascii' }), fc.string({ unit: 'grapheme' }), fc.constantFrom(...HOSTILE, ...HOSTILE_ENDPOINTS));
        fc.assert(
            fc.property(chainString, chainString, chainString, (name, endpointString, words) => {
                const m = page({ page: 'models', view: { ...models, models: [{ ...models.models[1], name }] } });
                expect(where(m, 'data-field', 'name').map((e) => e.textContent)).toEqual([shown(name)]);
                const p = page({ page: 'proxies', view: { ...proxy, proxies: [{ ...proxy.registration!, clientEndpoint: endpointString }] } });
                const e = all(p).filter((x) => /\bendpoint\b/.test(x.getAttribute('class') ?? ''))[0];
                expect(e.textContent).toBe(shown(endpointString));
                if (e.tagName === 'a') expect(e.getAttribute('href')).toMatch(/^(https?|wss?):\/\//);
                const f = page({ page: 'feed', view: { ...feed, events: [{ ...feed.events[0], words }] } });
                expect(where(f, 'class', 'words')[0].textContent).toBe(shown(words));
                for (const d of [m, p, f]) {
                    expect(d.getElementsByTagName('script')).toHaveLength(1);
                    for (const x of all(d)) for (const a of Array.from(x.attributes)) expect(a.name).not.toMatch(/^on/i);
                }
            }),
            { numRuns: 100 },
        );
    });
});
