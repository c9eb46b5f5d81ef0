// The devnet chain server: one process owns an @ton/sandbox Blockchain and serves it over HTTP on
// 127.0.0.1, so stock clients (TonClient, Blueprint's `--custom <url> --custom-version v2`) talk to it
// as they would to toncenter.
//
// Routes
//   POST /api/v2/jsonRPC (also POST /)   toncenter v2 JSON-RPC: {id, jsonrpc:"2.0", method, params}
//                                        -> {ok:true, result, id, jsonrpc} | {ok:false, error, code, id, jsonrpc}
//   GET  /api/v2/<method>?k=v...         the same methods, params from the query string
//   POST /api/v2/<method>                the same methods, params as the JSON body
//   POST /dev/faucet  {address, amount}  dev faucet (same as the JSON-RPC method `devFaucet`)
//   GET  /v2/sse/accounts/transactions?accounts=<a>,<b>|ALL
//        Server-sent events, tonapi style: `event: message` / `data: {"account_id","lt","tx_hash"}` per
//        transaction (account_id raw "wc:hex", tx_hash hex), `: heartbeat` comments every heartbeatMs.
//   GET  /dev/status                     {ok, result: {seqno, now, faucet, statePath}}
// Methods: getAddressInformation, getAddressBalance, getAddressState, getWalletInformation, runGetMethod,
// getTransactions, sendBoc, sendBocReturnHash, estimateFee, getMasterchainInfo, getBlockHeader, shards,
// getBlockTransactions, getConfigParam, getConfigAll, tryLocateTx/ResultTx/SourceTx, devFaucet.
//
// Dev faucet: `devFaucet` {address, amount} sends `amount` nanoTON (1..faucetMaxPerRequest, default
// 1000 TON) from a sandbox treasury as a non-bounceable message, so it funds undeployed wallets too.
// Result: {address, amount, transaction_id:{lt, hash} of the recipient's transaction, balance}.
//
// Errors are toncenter style: HTTP status = body `code` (400 malformed request, 404 unknown method or
// route, 405 wrong verb, 413 body over 1 MiB, 422 invalid params, 500 message rejected by the chain,
// 503 stopping). A bad request never stops the server.
//
// Every request runs under one mutex, and sets the chain time from the clock first (never backwards).
// State: with `statePath`, a snapshot is written atomically (tmp file + rename) every
// snapshotIntervalMs when something changed, and at stop(); start() restores it when the file exists
// and fails with DevnetStateError (DEVNET_STATE_CORRUPT, naming the path) when it cannot be used.
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo, Socket } from 'net';
import { promises as fs } from 'fs';
import * as path from 'path';
import { Address, toNano } from '@ton/core';
import { Blockchain } from '@ton/sandbox';
import { DevnetChain, TxRecord } from './chain';
import { DevnetError, DevnetStateError, RpcError } from './errors';
import { Params, ToncenterApi } from './toncenter';

export const DEVNET_HOST = '127.0.0.1';
const MAX_BODY = 1 << 20;

export interface DevnetServerOptions {
    /** TCP port on 127.0.0.1; 0 (default) picks an ephemeral one. */
    port?: number;
    /** State file. Without it the chain lives in memory only. */
    statePath?: string;
    /** How often to write the state file when something changed (default 5000 ms; 0 = only at stop()). */
    snapshotIntervalMs?: number;
    /** Milliseconds since the epoch (default Date.now); the chain time follows it. */
    clock?: () => number;
    /** Cap on one faucet payment in nanoTON (default 1000 TON). */
    faucetMaxPerRequest?: bigint;
    /** SSE heartbeat period (default 5000 ms). */
    sseHeartbeatMs?: number;
    /** Log sink (default: none). */
    log?: (line: string) => void;
}

interface Subscriber {
    res: ServerResponse;
    accounts: Set<string> | 'ALL';
}

/** One promise chain: run() calls execute one at a time, in call order. */
class Mutex {
    private tail: Promise<unknown> = Promise.resolve();

    run<T>(fn: () => Promise<T>): Promise<T> {
        const result = this.tail.then(fn);
        this.tail = result.catch(() => undefined);
        return result;
    }
}

export class DevnetServer {
    readonly host = DEVNET_HOST;
    private readonly opts: Required<Omit<DevnetServerOptions, 'statePath' | 'log'>> & Pick<DevnetServerOptions, 'statePath' | 'log'>;
    private readonly mutex = new Mutex();
    private server?: Server;
    private chain?: DevnetChain;
    private api?: ToncenterApi;
    private boundPort?: number;
    private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
    private readonly subscribers = new Set<Subscriber>();
    private readonly sockets = new Set<Socket>();
    private timers: NodeJS.Timeout[] = [];
    private unsubscribe?: () => void;

    constructor(options: DevnetServerOptions = {}) {
        const port = options.port ?? 0;
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DevnetError('CONFIG_INVALID', `port: expected 0..65535, got ${port}`, { key: 'port' });
        const interval = options.snapshotIntervalMs ?? 5000;
        if (!Number.isFinite(interval) || interval < 0) throw new DevnetError('CONFIG_INVALID', `snapshotIntervalMs: expected >= 0, got ${interval}`, { key: 'snapshotIntervalMs' });
        const heartbeat = options.sseHeartbeatMs ?? 5000;
        if (!Number.isFinite(heartbeat) || heartbeat <= 0) throw new DevnetError('CONFIG_INVALID', `sseHeartbeatMs: expected > 0, got ${heartbeat}`, { key: 'sseHeartbeatMs' });
        const faucetMax = options.faucetMaxPerRequest ?? toNano('1000');
        if (typeof faucetMax !== 'bigint' || faucetMax <= 0n) throw new DevnetError('CONFIG_INVALID', 'faucetMaxPerRequest: expected a positive bigint (nanoTON)', { key: 'faucetMaxPerRequest' });
        this.opts = {
            port,
            statePath: options.statePath ? path.resolve(options.statePath) : undefined,
            snapshotIntervalMs: interval,
            clock: options.clock ?? Date.now,
            faucetMaxPerRequest: faucetMax,
            sseHeartbeatMs: heartbeat,
            log: options.log,
        };
    }

    /** Port the server listens on (after start()). */
    get port(): number {
        if (this.boundPort === undefined) throw new DevnetError('DEVNET_NOT_RUNNING', 'the devnet server is not started');
        return this.boundPort;
    }

    /** Base URL, e.g. http://127.0.0.1:8081 */
    get baseUrl(): string {
        return `http://${this.host}:${this.port}`;
    }

    /** The JSON-RPC endpoint for TonClient / Blueprint --custom. */
    get url(): string {
        return `${this.baseUrl}/api/v2/jsonRPC`;
    }

    get statePath(): string | undefined {
        return this.opts.statePath;
    }

    /** Restores (or creates) the chain and starts listening. */
    async start(): Promise<void> {
        if (this.state !== 'new') throw new DevnetError('DEVNET_ALREADY_STARTED', `start() called on a ${this.state} devnet server`);
        this.state = 'starting';
        try {
            this.chain = await this.loadChain();
            this.chain.setClock(this.opts.clock());
            this.api = new ToncenterApi(this.chain, { faucetMaxPerRequest: this.opts.faucetMaxPerRequest });
            this.unsubscribe = this.chain.onTransactions((recs) => this.publish(recs));
            const server = createServer((req, res) => {
                this.handle(req, res).catch((e) => {
                    this.log(`internal error: ${(e as Error)?.stack ?? e}`);
                    if (!res.headersSent) this.sendJson(res, 500, { ok: false, error: 'internal error', code: 500 });
                    else res.destroy();
                });
            });
            server.on('connection', (s) => {
                this.sockets.add(s);
                s.on('close', () => this.sockets.delete(s));
            });
            server.on('clientError', (_e, socket) => {
                if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
                else socket.destroy();
            });
            await new Promise<void>((resolve, reject) => {
                server.once('error', reject);
                server.listen(this.opts.port, DEVNET_HOST, () => {
                    server.off('error', reject);
                    resolve();
                });
            });
            this.server = server;
            this.boundPort = (server.address() as AddressInfo).port;
            if (this.opts.statePath && this.opts.snapshotIntervalMs > 0) {
                const t = setInterval(() => {
                    this.save().catch((e) => this.log(`snapshot failed: ${(e as Error).message}`));
                }, this.opts.snapshotIntervalMs);
                t.unref();
                this.timers.push(t);
            }
            const hb = setInterval(() => this.heartbeat(), this.opts.sseHeartbeatMs);
            hb.unref();
            this.timers.push(hb);
            this.state = 'running';
            this.log(`devnet listening on ${this.url}${this.opts.statePath ? `, state ${this.opts.statePath}` : ''}`);
        } catch (e) {
            this.state = 'stopped';
            this.unsubscribe?.();
            throw e;
        }
    }

    /** Stops listening, ends SSE streams, waits for running requests, writes the state file. */
    async stop(): Promise<void> {
        if (this.state !== 'running') {
            if (this.state === 'new' || this.state === 'stopped') return;
            throw new DevnetError('DEVNET_NOT_RUNNING', `stop() called on a ${this.state} devnet server`);
        }
        this.state = 'stopping';
        for (const t of this.timers) clearInterval(t);
        this.timers = [];
        for (const s of this.subscribers) s.res.end();
        this.subscribers.clear();
        const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
        this.server!.closeIdleConnections();
        // Requests already inside the mutex finish; then persist.
        await this.mutex.run(async () => undefined);
        try {
            await this.save();
        } finally {
            for (const s of this.sockets) s.destroy();
            await closed;
            this.unsubscribe?.();
            this.state = 'stopped';
            this.log('devnet stopped');
        }
    }

    /** Writes the state file now if anything changed since the last write (no-op without statePath). */
    async save(): Promise<void> {
        const file = this.opts.statePath;
        if (!file || !this.chain) return;
        await this.mutex.run(async () => {
            const chain = this.chain!;
            if (!chain.dirty) return;
            const json = JSON.stringify(chain.toState());
            try {
                await writeAtomically(file, json);
            } catch (e) {
                chain.dirty = true;
                throw new DevnetStateError('DEVNET_STATE_IO', file, `cannot write: ${(e as Error).message}`);
            }
        });
    }

    /**
     * In-process escape hatch for tests and local wiring: runs `fn` with the sandbox Blockchain under the
     * request mutex (chain time set from the clock), then indexes, streams and persists the transactions
     * it caused like any others. Not reachable over HTTP.
     */
    async withBlockchain<T>(fn: (bc: Blockchain) => Promise<T>): Promise<T> {
        return this.mutex.run(async () => {
            if (this.state !== 'running') throw new DevnetError('DEVNET_NOT_RUNNING', 'withBlockchain() needs a running devnet server');
            this.chain!.setClock(this.opts.clock());
            return this.chain!.mutate(fn);
        });
    }

    // ---- state ----

    private async loadChain(): Promise<DevnetChain> {
        const file = this.opts.statePath;
        const now = Math.floor(this.opts.clock() / 1000);
        if (!file) return DevnetChain.create(now);
        let text: string;
        try {
            text = await fs.readFile(file, 'utf8');
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
                this.log(`no state at ${file}: starting a fresh chain`);
                return DevnetChain.create(now);
            }
            throw new DevnetStateError('DEVNET_STATE_IO', file, `cannot read: ${(e as Error).message}`);
        }
        let parsed: unknown;
        try {
            parsed = JSON.parse(text);
        } catch (e) {
            throw new DevnetStateError('DEVNET_STATE_CORRUPT', file, `not JSON: ${(e as Error).message}`);
        }
        const chain = await DevnetChain.restore(parsed, file);
        this.log(`restored ${file}: block ${chain.latestSeqno}`);
        return chain;
    }

    // ---- HTTP ----

    private log(line: string) {
        this.opts.log?.(line);
    }

    private sendJson(res: ServerResponse, status: number, body: unknown) {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
    }

    private sendError(res: ServerResponse, e: unknown, extra: Record<string, unknown> = {}) {
        if (e instanceof RpcError) {
            this.sendJson(res, e.status, { ok: false, error: e.message, code: e.status, ...extra });
        } else {
            this.log(`internal error: ${(e as Error)?.stack ?? e}`);
            this.sendJson(res, 500, { ok: false, error: `internal error: ${(e as Error)?.message ?? e}`, code: 500, ...extra });
        }
    }

    private async readBody(req: IncomingMessage): Promise<string> {
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > MAX_BODY) throw new RpcError(413, `request body over ${MAX_BODY} bytes`);
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of req) {
            size += (chunk as Buffer).length;
            if (size > MAX_BODY) throw new RpcError(413, `request body over ${MAX_BODY} bytes`);
            chunks.push(chunk as Buffer);
        }
        return Buffer.concat(chunks).toString('utf8');
    }

    private async readJson(req: IncomingMessage): Promise<unknown> {
        const text = await this.readBody(req);
        try {
            return JSON.parse(text);
        } catch {
            throw new RpcError(400, 'request body is not JSON');
        }
    }

    /** Runs one API method under the mutex, with the chain time taken from the clock. */
    /**
     * The dev faucet for code running beside the server (the devnet launcher, tests): the same checks and effect as
     * POST /dev/faucet (`amount` nanoTON, at most faucetMaxPerRequest). Throws RpcError on a refusal.
     */
    async faucet(address: Address, amount: bigint): Promise<void> {
        await this.exec('devFaucet', { address: address.toString(), amount: amount.toString() });
    }

    private exec(method: string, params: Params): Promise<unknown> {
        return this.mutex.run(async () => {
            if (this.state !== 'running') throw new RpcError(503, 'the devnet server is stopping');
            this.chain!.setClock(this.opts.clock());
            return this.api!.call(method, params);
        });
    }

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        if (this.state !== 'running') {
            req.resume();
            return this.sendError(res, new RpcError(503, 'the devnet server is stopping'));
        }
        const url = new URL(req.url ?? '/', `http://${DEVNET_HOST}`);
        const route = url.pathname.replace(/\/+$/, '') || '/';
        const verb = req.method ?? 'GET';
        try {
            if (route === '/api/v2/jsonRPC' || route === '/') {
                if (verb !== 'POST') throw new RpcError(405, 'JSON-RPC takes POST');
                return await this.handleJsonRpc(req, res);
            }
            if (route === '/v2/sse/accounts/transactions') {
                if (verb !== 'GET') throw new RpcError(405, 'SSE takes GET');
                return this.handleSse(url, res);
            }
            if (route === '/dev/faucet') {
                if (verb !== 'POST') throw new RpcError(405, '/dev/faucet takes POST');
                const body = await this.readJson(req);
                if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RpcError(400, 'body: expected {address, amount}');
                return this.sendJson(res, 200, { ok: true, result: await this.exec('devFaucet', body as Params) });
            }
            if (route === '/dev/status') {
                if (verb !== 'GET') throw new RpcError(405, '/dev/status takes GET');
                const result = await this.mutex.run(async () => ({
                    seqno: this.chain!.latestSeqno,
                    now: this.chain!.now,
                    faucet: this.chain!.faucetAddress.toString(),
                    statePath: this.opts.statePath ?? null,
                }));
                return this.sendJson(res, 200, { ok: true, result });
            }
            const m = /^\/api\/v2\/([A-Za-z]+)$/.exec(route);
            if (m && this.api!.has(m[1])) {
                let params: Params;
                if (verb === 'GET') {
                    params = Object.fromEntries(url.searchParams.entries());
                } else if (verb === 'POST') {
                    const body = await this.readJson(req);
                    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RpcError(400, 'body: expected a JSON object of params');
                    params = body as Params;
                } else {
                    throw new RpcError(405, `${m[1]} takes GET or POST`);
                }
                return this.sendJson(res, 200, { ok: true, result: await this.exec(m[1], params) });
            }
            throw new RpcError(404, `no route ${verb} ${route.slice(0, 100)}`);
        } catch (e) {
            req.resume();
            this.sendError(res, e);
        }
    }

    private async handleJsonRpc(req: IncomingMessage, res: ServerResponse) {
        const body = await this.readJson(req);
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RpcError(400, 'JSON-RPC request must be an object');
        const call = body as { id?: unknown; method?: unknown; params?: unknown };
        const id = typeof call.id === 'string' || typeof call.id === 'number' ? call.id : null;
        const envelope = { jsonrpc: '2.0', id };
        try {
            if (typeof call.method !== 'string' || call.method.length === 0) throw new RpcError(400, 'JSON-RPC request has no method');
            const params = call.params ?? {};
            if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new RpcError(422, 'params: expected an object');
            const result = await this.exec(call.method, params as Params);
            this.sendJson(res, 200, { ok: true, result, ...envelope });
        } catch (e) {
            this.sendError(res, e, envelope);
        }
    }

    // ---- SSE ----

    private handleSse(url: URL, res: ServerResponse) {
        const list = url.searchParams.get('accounts');
        if (!list) throw new RpcError(400, 'accounts: required (comma-separated addresses or ALL)');
        let accounts: Set<string> | 'ALL';
        if (list === 'ALL') accounts = 'ALL';
        else {
            accounts = new Set();
            for (const a of list.split(',')) {
                try {
                    accounts.add(Address.parse(a.trim()).toRawString());
                } catch {
                    throw new RpcError(400, `accounts: not a TON address: ${JSON.stringify(a.slice(0, 80))}`);
                }
            }
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(': devnet transaction stream\n\n');
        const sub: Subscriber = { res, accounts };
        this.subscribers.add(sub);
        res.on('close', () => this.subscribers.delete(sub));
        res.on('error', () => this.subscribers.delete(sub));
    }

    private publish(recs: TxRecord[]) {
        for (const sub of this.subscribers) {
            if (!sub.res.writable) continue;
            for (const r of recs) {
                if (sub.accounts !== 'ALL' && !sub.accounts.has(r.accountKey)) continue;
                const data = JSON.stringify({ account_id: r.accountKey, lt: Number(r.tx.lt), tx_hash: r.hash.toString('hex') });
                sub.res.write(`event: message\nid: ${r.tx.lt}\ndata: ${data}\n\n`);
            }
        }
    }

    private heartbeat() {
        for (const sub of this.subscribers) if (sub.res.writable) sub.res.write(': heartbeat\n\n');
    }
}

/** Writes `text` to `file` via a temporary file in the same directory, fsync and rename. */
async function writeAtomically(file: string, text: string): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
    } finally {
        await fh.close();
    }
    await fs.rename(tmp, file);
}
