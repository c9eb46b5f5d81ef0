// `cocoon explorer`'s HTTP server: the JSON API and the HTML pages of spec/explorer.md over one set of views
// (agents/explorer/api.ts), the live feed as Server-Sent Events, and the front end's static assets. GET and HEAD only;
// every response carries a strict Content-Security-Policy (no inline script), nosniff and no-referrer; every bad
// request gets a typed ErrorBody; a chain failure is a 502 CHAIN_UNAVAILABLE, never a crash.
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo, Socket } from 'net';
import { Address } from '@ton/core';
import { ChainConfig, ChainError, TonChain } from '../core/chain';
import type { Log } from '../core/log';
import { RootWrapper } from '../../wrappers/Root';
import { ExplorerViews } from './api';
import { EXPLORER_HTTP_STATUS, ExplorerError } from './errors';
import { LiveFeed } from './feed';
import { History } from './history';
import { CONTENT_SECURITY_POLICY, renderPage } from './web/pages';
import { Asset, loadAssets } from './web/assets';
import type { ErrorBody, FeedEvent, FeedView, NetworkKind, PageContext, PageModel, RootView } from './types';

export interface ExplorerOptions {
    /** toncenter v2 endpoint and Root address (rootAddress is required). */
    chain: ChainConfig;
    /** tonapi-compatible SSE base URL; default: chain.tonapi's endpoint (with its key), else the chain endpoint's origin (the devnet). */
    streamEndpoint?: string;
    /** Default 127.0.0.1. */
    host?: string;
    /** 0 (default) = a free port. */
    port?: number;
    network: NetworkKind;
    /** Transactions indexed per account at start (default 2000). */
    historyLimit?: number;
    log?: Log;
    /** Live-feed subscribers at once (default 64); one more gets 503 TOO_MANY_STREAMS. */
    maxStreams?: number;
    /** SSE heartbeat period (default 15000 ms). */
    heartbeatMs?: number;
    /** A subscriber with more than this many bytes unsent is dropped (default 256 KiB). */
    maxStreamBuffer?: number;
    /** How long a view is served again without reading the chain (default 1000 ms; every feed event clears it). */
    viewCacheMs?: number;
}

/** Longest request target served (bytes); anything longer is 400 BAD_REQUEST before any parsing. */
export const MAX_URL = 2048;

/** On every response, JSON and errors included: the pages' policy (no inline script; frame-ancestors only works as a header). */
export const SECURITY_HEADERS: Record<string, string> = {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
};

function parseAddress(s: string): Address {
    let text: string;
    try {
        text = decodeURIComponent(s);
    } catch {
        throw new ExplorerError('BAD_ADDRESS', 'not a TON address (bad percent-encoding)');
    }
    if (text.length > 80) throw new ExplorerError('BAD_ADDRESS', 'not a TON address (too long)');
    try {
        return Address.parse(text.trim());
    } catch {
        throw new ExplorerError('BAD_ADDRESS', 'not a TON address (raw 0:<64 hex> or user-friendly base64)');
    }
}

function parseProposalId(s: string): number {
    if (!/^\d{1,10}$/.test(s) || Number(s) > 0xffffffff) throw new ExplorerError('BAD_REQUEST', 'a proposal id is an integer 0..4294967295');
    return Number(s);
}

function parseLimit(v: string | null): number {
    if (v === null) return 50;
    if (!/^\d{1,3}$/.test(v) || Number(v) < 1 || Number(v) > 200) throw new ExplorerError('BAD_REQUEST', 'limit is an integer 1..200');
    return Number(v);
}

/** The page that shows the view at these path parts (the same parts as its API route). */
function pageOf(p: string[]): Exclude<PageModel['page'], 'overview' | 'error'> | null {
    switch (p[0]) {
        case 'models':
        case 'images':
        case 'feed':
            return p.length === 1 ? p[0] : null;
        case 'proxies':
            return p.length === 1 ? 'proxies' : 'proxy';
        case 'address':
            return 'address';
        case 'governance':
            return p.length === 1 ? 'governance' : 'proposal';
        default:
            return null;
    }
}

export class ExplorerServer {
    private server: Server | null = null;
    private readonly sockets = new Set<Socket>();
    private readonly streams = new Set<ServerResponse>();
    private views: ExplorerViews | null = null;
    private feed: LiveFeed | null = null;
    private ctx: PageContext | null = null;
    private assets: Map<string, Asset> | null = null;
    private heartbeat: NodeJS.Timeout | null = null;
    private readonly viewCache = new Map<string, { at: number; value: Promise<unknown> }>();

    constructor(private readonly o: ExplorerOptions) {}

    /** Reads Root (its governance), indexes the history, follows the stream and listens. Throws ChainError if Root cannot be read. */
    async start(): Promise<{ url: string }> {
        const root = this.o.chain.rootAddress;
        if (!root) throw new ChainError('CHAIN_NOT_CONFIGURED', 'the explorer needs the Root address');
        const chain = new TonChain({ config: this.o.chain });
        const governance = await chain.open(RootWrapper.open(root)).getGovernance();
        const history = new History({ root, governance, testOnly: this.o.network !== 'mainnet', limit: this.o.historyLimit });
        this.views = new ExplorerViews({ chain, history, network: this.o.network, log: this.o.log });
        this.ctx = { network: this.o.network, root: history.addr(root), governance: history.addr(governance) };
        const tonapi = this.o.chain.tonapi;
        this.feed = new LiveFeed({
            chain,
            history,
            streamEndpoint: this.o.streamEndpoint ?? tonapi?.endpoint ?? new URL(this.o.chain.endpoint).origin,
            ...(tonapi?.apiKey && !this.o.streamEndpoint ? { streamApiKey: tonapi.apiKey } : {}),
            log: this.o.log,
        });
        await this.feed.start();
        history.subscribe((e) => {
            this.viewCache.clear();
            this.broadcast(e);
        });

        const server = createServer((req, res) => void this.handle(req, res));
        server.on('connection', (s) => {
            this.sockets.add(s);
            s.on('close', () => this.sockets.delete(s));
        });
        server.headersTimeout = 10_000;
        server.requestTimeout = 30_000;
        // Sockets beyond the streams and a margin of ordinary requests are refused by Node at accept.
        server.maxConnections = (this.o.maxStreams ?? 64) + 256;
        await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => resolve());
        });
        this.server = server;
        this.heartbeat = setInterval(() => {
            for (const s of this.streams) this.write(s, ': heartbeat\n\n');
        }, this.o.heartbeatMs ?? 15_000);
        const a = server.address() as AddressInfo;
        const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        return { url: `http://${host}:${a.port}` };
    }

    async stop(): Promise<void> {
        this.feed?.stop();
        if (this.heartbeat) clearInterval(this.heartbeat);
        for (const s of this.streams) s.end();
        this.streams.clear();
        const server = this.server;
        this.server = null;
        if (!server) return;
        await new Promise<void>((resolve) => {
            server.close(() => resolve());
            for (const s of this.sockets) s.destroy();
        });
    }

    // ---------- requests ----------

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const rawUrl = req.url ?? '/';
        let html = !rawUrl.startsWith('/api/');
        try {
            if (req.method !== 'GET' && req.method !== 'HEAD') {
                res.setHeader('Allow', 'GET, HEAD');
                throw new ExplorerError('METHOD_NOT_ALLOWED', `${String(req.method).slice(0, 16)} is not allowed: the explorer only reads (GET, HEAD)`);
            }
            if (rawUrl.length > MAX_URL) throw new ExplorerError('BAD_REQUEST', `the request target is longer than ${MAX_URL} bytes`);
            let url: URL;
            try {
                url = new URL(rawUrl, 'http://explorer.invalid');
            } catch {
                throw new ExplorerError('BAD_REQUEST', 'not a valid request target');
            }
            const parts = url.pathname.split('/').slice(1);
            html = parts[0] !== 'api';
            if (html) await this.page(req, res, url, parts);
            else await this.api(req, res, url, parts.slice(1));
        } catch (e) {
            this.fail(req, res, e, html);
        }
    }

    /**
     * The view at a path (the API's, after `/api/`, and the page's at the same path), shared by concurrent requests
     * and kept for viewCacheMs (cleared by every new feed event), so a stranger repeating a request costs the chain
     * at most one read of it per interval. Null when there is no such route.
     */
    private view(p: string[], feedLimit: number): Promise<unknown> | null {
        const v = this.views!;
        const route = p.join('/');
        let read: (() => Promise<unknown>) | null = null;
        if (route === 'root') read = () => v.root();
        else if (route === 'models') read = () => v.models();
        else if (route === 'images') read = () => v.images();
        else if (route === 'proxies') read = () => v.proxies();
        else if (p[0] === 'proxies' && p.length === 2) read = ((a) => () => v.proxy(a))(parseAddress(p[1]));
        else if (p[0] === 'address' && p.length === 2) read = ((a) => () => v.address(a))(parseAddress(p[1]));
        else if (route === 'governance') read = () => v.governance();
        else if (p[0] === 'governance' && p[1] === 'proposals' && p.length === 3) read = ((id) => () => v.proposal(id))(parseProposalId(p[2]));
        else if (route === 'feed') read = () => v.feed(feedLimit);
        if (read === null) return null;
        // Addresses in any spelling share one entry.
        const key = (p[0] === 'proxies' || p[0] === 'address') && p.length === 2 ? `${p[0]}/${parseAddress(p[1]).toRawString()}` : route === 'feed' ? `feed?${feedLimit}` : route;
        return this.cached(key, read);
    }

    private cached(key: string, read: () => Promise<unknown>): Promise<unknown> {
        const now = Date.now();
        const hit = this.viewCache.get(key);
        if (hit && now - hit.at < (this.o.viewCacheMs ?? 1000)) return hit.value;
        const value = read();
        this.viewCache.delete(key);
        this.viewCache.set(key, { at: now, value });
        // A failed read is not kept; the map holds at most 512 entries (oldest first out).
        value.catch(() => this.viewCache.get(key)?.value === value && this.viewCache.delete(key));
        if (this.viewCache.size > 512) this.viewCache.delete(this.viewCache.keys().next().value!);
        return value;
    }

    private async api(req: IncomingMessage, res: ServerResponse, url: URL, p: string[]): Promise<void> {
        if (p.join('/') === 'feed/stream') return this.subscribe(req, res);
        const view = this.view(p, p[0] === 'feed' ? parseLimit(url.searchParams.get('limit')) : 0);
        if (view === null) throw new ExplorerError('NOT_FOUND', 'no such API route (see spec/explorer.md)');
        this.send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(await view));
    }

    private async page(req: IncomingMessage, res: ServerResponse, url: URL, p: string[]): Promise<void> {
        const route = p.join('/');
        if (p[0] === 'assets') return this.asset(req, res, url.pathname);
        if (route === 'address' && url.searchParams.has('q')) {
            const a = parseAddress(url.searchParams.get('q') ?? '');
            res.setHeader('Location', `/address/${a.toRawString()}`);
            return this.send(req, res, 303, 'text/plain; charset=utf-8', 'See Other\n');
        }
        let model: PageModel;
        if (route === '') {
            model = { page: 'overview', root: (await this.view(['root'], 0)) as RootView, feed: (await this.view(['feed'], 20)) as FeedView };
        } else {
            const page = pageOf(p);
            const view = page === null ? null : this.view(p, 200);
            if (page === null || view === null) throw new ExplorerError('NOT_FOUND', 'no such page');
            model = { page, view: await view } as PageModel;
        }
        this.send(req, res, 200, 'text/html; charset=utf-8', renderPage(model, this.ctx!));
    }

    private asset(req: IncomingMessage, res: ServerResponse, path: string): void {
        if (this.assets === null) {
            try {
                this.assets = loadAssets();
            } catch (e) {
                this.o.log?.('explorer.assets-missing', { code: 'NOT_FOUND', error: (e as Error).message });
                this.assets = new Map();
            }
        }
        const a = this.assets.get(path);
        if (!a) throw new ExplorerError('NOT_FOUND', 'no such asset');
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.setHeader('ETag', a.etag);
        if (req.headers['if-none-match'] === a.etag) {
            res.writeHead(304, SECURITY_HEADERS);
            return void res.end();
        }
        this.send(req, res, 200, a.contentType, a.body);
    }

    // ---------- the live feed ----------

    private subscribe(req: IncomingMessage, res: ServerResponse): void {
        if (this.streams.size >= (this.o.maxStreams ?? 64)) throw new ExplorerError('TOO_MANY_STREAMS', 'the live feed is at its subscriber limit; try again later');
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
        if (req.method === 'HEAD') return void res.end();
        res.write(': feed\n\n');
        this.streams.add(res);
        const drop = () => this.streams.delete(res);
        res.on('close', drop);
        req.on('close', drop);
    }

    private broadcast(e: FeedEvent): void {
        const frame = `id: ${e.id}\nevent: feed\ndata: ${JSON.stringify(e)}\n\n`;
        for (const s of this.streams) this.write(s, frame);
    }

    /** Writes to a subscriber, or drops it when it is not reading (its unsent bytes are bounded). */
    private write(s: ServerResponse, frame: string): void {
        if (s.writableLength > (this.o.maxStreamBuffer ?? 256 * 1024)) {
            this.streams.delete(s);
            this.o.log?.('explorer.stream-dropped', { reason: 'slow subscriber', unsent: s.writableLength });
            s.destroy();
            return;
        }
        s.write(frame);
    }

    // ---------- responses ----------

    private send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer): void {
        const bytes = typeof body === 'string' ? Buffer.from(body) : body;
        res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': bytes.length });
        res.end(req.method === 'HEAD' ? undefined : bytes);
    }

    private fail(req: IncomingMessage, res: ServerResponse, e: unknown, html: boolean): void {
        let err: ExplorerError;
        if (e instanceof ExplorerError) err = e;
        else if (e instanceof ChainError) err = new ExplorerError('CHAIN_UNAVAILABLE', `the chain endpoint failed: ${e.message}`, { code: e.code });
        else {
            // A getter answer that does not decode as the contract's type is the chain's answer too.
            this.o.log?.('explorer.request-failed', { code: 'CHAIN_BAD_RESPONSE', error: e instanceof Error ? e.message : String(e) });
            err = new ExplorerError('CHAIN_UNAVAILABLE', 'the chain answered something the explorer cannot read', { code: 'CHAIN_BAD_RESPONSE' });
        }
        if (res.headersSent) return void res.destroy();
        const status = EXPLORER_HTTP_STATUS[err.code];
        const body: ErrorBody = { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
        if (!html) return this.send(req, res, status, 'application/json; charset=utf-8', JSON.stringify(body));
        let page: string;
        try {
            page = renderPage({ page: 'error', status, body }, this.ctx!);
        } catch {
            return this.send(req, res, status, 'text/plain; charset=utf-8', `${err.code}: ${err.message}\n`);
        }
        this.send(req, res, status, 'text/html; charset=utf-8', page);
    }
}
