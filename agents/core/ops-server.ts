// Every agent's operations endpoint (spec/operations.md, "Observability"): AgentOps (below) bundles an agent's
// metrics registry, what it watches and this server. OpsServer: one small HTTP server on loopback by
// default serving GET /metrics (Prometheus text, prom-client), /healthz (live), /readyz (ready, or 503 with the
// reasons) and /stats (the role's stats snapshot as JSON, money as decimal strings). Other paths get 404, other
// methods on these paths 405; request bodies are never read. Concurrent scrapes share one rendering.
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import type { AddressInfo } from 'net';
import { AgentMetrics, Role } from './metrics';
import type { ChainWallet, TonChain } from './chain/chain';

/** /readyz: ready, or the reasons it is not (stable snake_case words), with any details. */
export interface Readiness {
    ready: boolean;
    reasons: string[];
    [detail: string]: unknown;
}

export interface OpsSource {
    metrics: AgentMetrics;
    /** /healthz: live (the process serves its loops); `ok: false` answers 503. */
    health(): { ok: boolean; [detail: string]: unknown };
    ready(): Readiness | Promise<Readiness>;
    stats(): unknown;
}

export interface OpsServerOptions {
    /** Bind address; default 127.0.0.1 (the endpoint tells an agent's state to whoever reaches it). */
    host?: string;
    /** Default 0: a free port. */
    port?: number;
}

export const OPS_PATHS = ['/metrics', '/healthz', '/readyz', '/stats'] as const;

const bigintJson = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

export class OpsServer {
    private server?: Server;
    private rendering?: Promise<{ contentType: string; text: string }>;
    private base?: string;

    constructor(
        private readonly source: OpsSource,
        private readonly opts: OpsServerOptions = {},
    ) {}

    /** The base URL once listening (`http://127.0.0.1:port`). */
    get url(): string | undefined {
        return this.base;
    }

    listen(): Promise<string> {
        if (this.base) return Promise.resolve(this.base);
        const host = this.opts.host ?? '127.0.0.1';
        const server = createServer((req, res) => {
            this.onRequest(req, res).catch((e: unknown) => {
                if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ code: 'INTERNAL', message: (e as Error)?.message ?? String(e) }));
            });
        });
        this.server = server;
        return new Promise<string>((resolve, reject) => {
            server.once('error', reject);
            server.listen(this.opts.port ?? 0, host, () => {
                server.off('error', reject);
                const a = server.address() as AddressInfo;
                this.base = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
                resolve(this.base);
            });
        });
    }

    /** The bound address (for checks that it is loopback). */
    address(): AddressInfo | undefined {
        return (this.server?.address() as AddressInfo | null) ?? undefined;
    }

    private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
            res.writeHead(status, { 'content-type': 'application/json', ...headers });
            res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body, bigintJson));
        };
        const path = (req.url ?? '/').split('?')[0];
        if (!(OPS_PATHS as readonly string[]).includes(path)) return json(404, { code: 'NOT_FOUND', message: `no ${path.slice(0, 200)}; try ${OPS_PATHS.join(', ')}` });
        if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { code: 'METHOD_NOT_ALLOWED', message: `${path} answers GET and HEAD` }, { allow: 'GET, HEAD' });
        switch (path) {
            case '/metrics': {
                this.rendering ??= this.source.metrics.exposition().finally(() => (this.rendering = undefined));
                const m = await this.rendering;
                res.writeHead(200, { 'content-type': m.contentType });
                return void res.end(req.method === 'HEAD' ? undefined : m.text);
            }
            case '/healthz': {
                const h = this.source.health();
                return json(h.ok ? 200 : 503, h);
            }
            case '/readyz': {
                const r = await this.source.ready();
                return json(r.ready ? 200 : 503, r);
            }
            default:
                return json(200, this.source.stats());
        }
    }

    close(): Promise<void> {
        const s = this.server;
        this.server = undefined;
        this.base = undefined;
        if (!s) return Promise.resolve();
        s.closeAllConnections();
        return new Promise((resolve) => s.close(() => resolve()));
    }
}

/**
 * An agent's observability in one piece: its metrics registry, the chain and wallet it watches, and its ops server
 * (when it has a port). The runner starts it with the agent and stops it after.
 */
export class AgentOps {
    readonly metrics: AgentMetrics;
    private readonly server?: OpsServer;

    constructor(
        private readonly o: Omit<OpsSource, 'metrics'> & {
            role: Role;
            /** Models labelled by name (others count as `other`). */
            knownModel: (name: string) => boolean;
            /** The role's own request error codes, besides the wire codes (others count as `other`). */
            codes?: readonly string[];
            chain: TonChain;
            wallet: ChainWallet;
            /** The ops server's port (0 = a free one); no server when undefined. */
            port?: number;
            host?: string;
        },
    ) {
        this.metrics = new AgentMetrics(o.role, o.knownModel, new Set(o.codes ?? []));
        if (o.port !== undefined) this.server = new OpsServer({ ...o, metrics: this.metrics }, { host: o.host, port: o.port });
    }

    /** The ops server's base URL once started. */
    get url(): string | undefined {
        return this.server?.url;
    }

    /** Watches the chain and the wallet; listens; returns the base URL (undefined without a port). */
    async start(): Promise<string | undefined> {
        this.metrics.watchChain(this.o.chain);
        this.metrics.watchWallet(this.o.wallet, this.o.chain);
        return this.server?.listen();
    }

    async stop(): Promise<void> {
        await this.server?.close();
        await this.metrics.close();
    }
}
