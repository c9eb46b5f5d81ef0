// The explorer's browser assets: the bundle esbuild builds from agents/explorer/web/client (as `npm run build` does),
// the stylesheet, and loadAssets serving them. Nothing in them reaches outside the explorer's own origin.
import { execFileSync } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
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
