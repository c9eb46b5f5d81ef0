// The explorer's static assets (owned by web12; this file is the agreed interface until it lands).

export interface Asset {
    body: Buffer;
    contentType: string;
}

/** URL path (`/assets/app.js`, …) -> asset, read once from build/explorer/ (built by `npm run build`). */
export function loadAssets(): Map<string, Asset> {
    throw new Error('loadAssets is not built yet');
}
