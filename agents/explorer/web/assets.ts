// The explorer's static assets: URL path -> bytes, read once from build/explorer/ (built by `npm run build`).
import { createHash } from 'crypto';
import { readFileSync } from 'fs';
import path from 'path';

export interface Asset {
    body: Buffer;
    contentType: string;
    /** A strong ETag of the body (its sha256), for If-None-Match. */
    etag: string;
}

const ASSETS: { url: string; file: string; contentType: string }[] = [
    { url: '/assets/app.js', file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
    { url: '/assets/style.css', file: 'style.css', contentType: 'text/css; charset=utf-8' },
    { url: '/assets/favicon.svg', file: 'favicon.svg', contentType: 'image/svg+xml' },
];

export const ASSETS_DIR = path.join(__dirname, '..', '..', '..', 'build', 'explorer');

/** URL path (`/assets/app.js`, …) -> asset; throws naming `npm run build` when the bundle is missing. */
export function loadAssets(dir = ASSETS_DIR): Map<string, Asset> {
    const out = new Map<string, Asset>();
    for (const a of ASSETS) {
        const file = path.join(dir, a.file);
        let body: Buffer;
        try {
            body = readFileSync(file);
        } catch {
            throw new Error(`explorer asset ${file} is missing: run \`npm run build\` to build the explorer's browser bundle`);
        }
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
        out.set(a.url, { body, contentType: a.contentType, etag });
    }
    return out;
}
