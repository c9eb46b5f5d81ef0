// The explorer's browser assets: the bundle esbuild builds from agents/explorer/web/client (as `npm run build` does),
// the stylesheet, and loadAssets serving them. Nothing in them reaches outside the explorer's own origin.
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { loadAssets } from '../../../agents/explorer/web/assets';
import { buildExplorerAssets } from '../../../agents/explorer/web/build';

const REMOTE = /\b(https?|wss?):\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i;

describe('explorer assets', () => {
    let dir: string;
    beforeAll(async () => {
        dir = mkdtempSync(path.join(tmpdir(), 'explorer-assets-'));
        await buildExplorerAssets(dir);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('builds the bundle with esbuild: minified, no remote URL, no eval, no innerHTML', () => {
        const assets = loadAssets(dir);
        const js = assets.get('/assets/app.js')!.body.toString('utf8');
        expect(js).toContain('EventSource("/api/feed/stream")');
        expect(js.split('\n').length).toBeLessThanOrEqual(2);
        expect(js.length).toBeLessThan(20_000);
        expect(js).not.toMatch(REMOTE);
        expect(js).not.toMatch(/\beval\(|new Function\(|innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
        const css = assets.get('/assets/style.css')!.body.toString('utf8');
        expect(css).toContain('prefers-color-scheme');
        expect(css).not.toMatch(REMOTE);
        expect(css).not.toMatch(/@import|url\(/);
    });

    it('loadAssets maps each URL path to its bytes, content type and a content-hash ETag', () => {
        const assets = loadAssets(dir);
        expect([...assets.entries()].map(([url, a]) => [url, a.contentType])).toEqual([
            ['/assets/app.js', 'text/javascript; charset=utf-8'],
            ['/assets/style.css', 'text/css; charset=utf-8'],
            ['/assets/favicon.svg', 'image/svg+xml'],
        ]);
        const etags = [...assets.values()].map((a) => a.etag);
        expect(new Set(etags).size).toBe(3);
        for (const e of etags) expect(e).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
        expect(loadAssets(dir).get('/assets/app.js')!.etag).toBe(etags[0]);
    });

    it('loadAssets without a build fails naming npm run build', () => {
        const empty = mkdtempSync(path.join(tmpdir(), 'explorer-empty-'));
        try {
            expect(() => loadAssets(empty)).toThrow(/app\.js is missing: run `npm run build`/);
        } finally {
            rmSync(empty, { recursive: true, force: true });
        }
    });

    it('the browser code type-checks against the DOM (its own tsconfig: the node project has no DOM types)', () => {
        const root = path.join(__dirname, '..', '..', '..');
        const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
        const out = (() => {
            try {
                return execFileSync(process.execPath, [tsc, '--noEmit', '-p', path.join(root, 'agents/explorer/web/client')], { encoding: 'utf8' });
            } catch (e) {
                return String((e as { stdout?: string }).stdout ?? e);
            }
        })();
        expect(out).toBe('');
    });
});

describe('explorer stylesheet', () => {
    const css = readFileSync(path.join(__dirname, '../../../agents/explorer/web/style.css'), 'utf8');
    /** The custom properties of the first `:root { … }` block after `from`. */
    const palette = (from: number): Record<string, string> => {
        const block = css.slice(css.indexOf(':root {', from), css.indexOf('}', css.indexOf(':root {', from)));
        return Object.fromEntries([...block.matchAll(/--([\w-]+):\s*(#[0-9a-f]{6});/gi)].map((m) => [m[1], m[2]]));
    };
    const luminance = (hex: string) => {
        const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const contrast = (a: string, b: string) => {
        const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
    };

    it.each([
        ['light', 0],
        ['dark', css.indexOf('prefers-color-scheme: dark')],
    ])('%s colours meet WCAG AA: text 4.5:1, the focus ring 3:1', (_scheme, from) => {
        const c = palette(from as number);
        expect(Object.keys(c)).toHaveLength(11);
        const text: [string, string][] = [
            ['fg', 'bg'],
            ['muted', 'bg'],
            ['link', 'bg'],
            ['fg', 'panel'],
            ['muted', 'panel'],
            ['alert-fg', 'alert-bg'],
            ['ok', 'bg'],
            ['bad', 'bg'],
        ];
        expect(text.filter(([fg, bg]) => contrast(c[fg], c[bg]) < 4.5)).toEqual([]);
        for (const bg of ['bg', 'panel']) expect(contrast(c.focus, c[bg])).toBeGreaterThanOrEqual(3);
    });
});
