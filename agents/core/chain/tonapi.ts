// tonapi adapter for public networks (and the devnet, which serves the same SSE shape): account transaction
// streams over tonapi's Server-Sent Events endpoint
//     GET <endpoint>/v2/sse/accounts/transactions?accounts=<a,b|ALL>[&operations=...]
//     event: message   data: {"account_id":"0:…","lt":123,"tx_hash":"…"}      (plus `heartbeat` events)
// and REST look-ups through tonapi-sdk-js's `Api` (e.g. the full transaction behind a stream event).
// tonapi-sdk-js has no streaming helper, so the SSE reader is here. The SDK's HTTP goes through a
// ChainTransport (throttle + retry); SSE (re)connections take a throttle slot too.
import { Address } from '@ton/core';
import { Api, HttpClient, Transaction as TonapiTransaction } from 'tonapi-sdk-js';
import { SleepClock, systemClock } from '../clock';
import { ChainError } from './errors';
import { ChainTransport, HttpRequest } from './http';
import { CHAIN_DEFAULTS } from './config';

/** One transaction announced by the stream. */
export interface TxEvent {
    /** Account as the service sent it (raw `0:<hex>` on tonapi and the devnet). */
    accountId: string;
    lt: bigint;
    /** Transaction hash, hex. */
    txHash: string;
    /** Filled when the stream was opened with `details: true`. */
    transaction?: TonapiTransaction;
}

export interface TonapiAdapterOptions {
    /** Base URL: https://tonapi.io, https://testnet.tonapi.io, or the devnet server's URL. */
    endpoint: string;
    apiKey?: string;
    /** Requests per second for REST calls and SSE (re)connections; default 1 without a key, 10 with one. */
    rps?: number;
    maxRetries?: number;
    timeoutMs?: number;
    /** Reconnect backoff of the stream. */
    reconnectBaseMs?: number;
    reconnectMaxMs?: number;
    /** Consecutive failed connection attempts before the stream gives up with STREAM_FAILED. */
    maxReconnects?: number;
    clock?: SleepClock;
    transport?: ChainTransport;
}

export interface StreamOptions {
    /** Only transactions whose in-message has one of these operation names/opcodes (tonapi filter). */
    operations?: string[];
    /** Fetch each transaction through the SDK (`blockchain.getBlockchainTransaction`) before calling onTx. */
    details?: boolean;
    /** Called on every (re)connection; transactions during a gap are not replayed, so backfill here. */
    onOpen?: () => void;
    /** Non-fatal problems (a bad event, a dropped connection) and the final STREAM_FAILED. */
    onError?: (e: unknown) => void;
}

export interface TxStream {
    close(): void;
    /** Resolves when the stream stopped (closed, or gave up: then `error` is set). */
    readonly done: Promise<void>;
    readonly error?: unknown;
}

export class TonapiAdapter {
    readonly api: Api<unknown>;
    readonly transport: ChainTransport;
    private readonly endpoint: string;
    private readonly clock: SleepClock;

    constructor(private readonly opts: TonapiAdapterOptions) {
        this.endpoint = opts.endpoint.replace(/\/+$/, '');
        this.clock = opts.clock ?? systemClock;
        this.transport =
            opts.transport ??
            new ChainTransport({
                rps: opts.rps ?? (opts.apiKey ? CHAIN_DEFAULTS.rpsWithKey : CHAIN_DEFAULTS.rpsWithoutKey),
                maxRetries: opts.maxRetries ?? CHAIN_DEFAULTS.maxRetries,
                backoffBaseMs: CHAIN_DEFAULTS.backoffBaseMs,
                backoffMaxMs: CHAIN_DEFAULTS.backoffMaxMs,
                retryAfterMaxMs: CHAIN_DEFAULTS.retryAfterMaxMs,
                timeoutMs: opts.timeoutMs ?? CHAIN_DEFAULTS.timeoutMs,
                clock: this.clock,
            });
        const customFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
            const headers: Record<string, string> = {};
            new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
            const req: HttpRequest = { method: init?.method ?? 'GET', url: input instanceof Request ? input.url : String(input), headers };
            if (typeof init?.body === 'string') req.body = init.body;
            if (init?.signal) req.signal = init.signal;
            const res = await this.transport.request(req);
            const empty = res.status === 204 || res.status === 205;
            return new Response(empty ? null : res.body, { status: res.status, statusText: res.statusText, headers: res.headers });
        };
        this.api = new Api(
            new HttpClient({
                baseUrl: this.endpoint,
                baseApiParams: { headers: this.authHeaders() },
                customFetch: customFetch as typeof fetch,
            }),
        );
    }

    /** The full transaction (tonapi's JSON, with `raw` BOC hex) by hash. */
    getTransaction(txHash: string): Promise<TonapiTransaction> {
        return this.api.blockchain.getBlockchainTransaction(txHash);
    }

    /**
     * Streams transactions of `accounts` ('ALL' for every account). Events are delivered one at a time, in
     * arrival order (the next waits for onTx's promise). Reconnects with backoff until closed.
     */
    accountTransactions(accounts: (Address | string)[] | 'ALL', onTx: (ev: TxEvent) => void | Promise<void>, opts: StreamOptions = {}): TxStream {
        const ids = accounts === 'ALL' ? 'ALL' : accounts.map((a) => (typeof a === 'string' ? a : a.toRawString())).join(',');
        if (ids === '') throw new ChainError('STREAM_FAILED', 'accountTransactions: no accounts given');
        const qs = new URLSearchParams({ accounts: ids });
        if (opts.operations?.length) qs.set('operations', opts.operations.join(','));
        const url = `${this.endpoint}/v2/sse/accounts/transactions?${qs.toString()}`;
        return this.stream(url, async (event, data) => {
            if (event !== 'message') return; // heartbeat and anything unknown
            const ev = parseTxEvent(data);
            if (opts.details) ev.transaction = await this.getTransaction(ev.txHash);
            await onTx(ev);
        }, opts);
    }

    private authHeaders(): Record<string, string> {
        return this.opts.apiKey ? { Authorization: `Bearer ${this.opts.apiKey}` } : {};
    }

    private stream(url: string, onEvent: (event: string, data: string) => Promise<void>, opts: StreamOptions): TxStream {
        const abort = new AbortController();
        const state: { error?: unknown } = {};
        const base = this.opts.reconnectBaseMs ?? 500;
        const max = this.opts.reconnectMaxMs ?? 15_000;
        const maxReconnects = this.opts.maxReconnects ?? 10;
        const report = (e: unknown) => {
            try {
                opts.onError?.(e);
            } catch {
                /* a faulty handler must not kill the stream */
            }
        };

        const run = async () => {
            let failures = 0;
            while (!abort.signal.aborted) {
                await this.transport.throttle.acquire();
                if (abort.signal.aborted) return;
                let opened = false;
                try {
                    const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...this.authHeaders() }, signal: abort.signal });
                    if (res.status !== 200 || !res.body) {
                        const body = (await res.text().catch(() => '')).slice(0, 300);
                        const fatal = res.status >= 400 && res.status < 500 && res.status !== 429;
                        const err = new ChainError('STREAM_FAILED', `SSE ${new URL(url).pathname}: HTTP ${res.status}`, { status: res.status, body });
                        if (fatal) {
                            state.error = err;
                            report(err);
                            return;
                        }
                        throw err;
                    }
                    opened = true;
                    failures = 0;
                    try {
                        opts.onOpen?.();
                    } catch (e) {
                        report(e);
                    }
                    await readSse(res.body, abort.signal, async (event, data) => {
                        try {
                            await onEvent(event, data);
                        } catch (e) {
                            report(e);
                        }
                    });
                    if (abort.signal.aborted) return;
                    report(new ChainError('STREAM_FAILED', 'SSE stream ended; reconnecting'));
                } catch (e) {
                    if (abort.signal.aborted) return;
                    report(e);
                }
                if (!opened) failures++;
                if (failures > maxReconnects) {
                    state.error = new ChainError('STREAM_FAILED', `SSE ${new URL(url).pathname}: gave up after ${failures} failed connection attempts`);
                    report(state.error);
                    return;
                }
                const step = Math.min(max, base * 2 ** Math.max(0, failures - 1));
                await this.clock.sleep(Math.round(step / 2 + Math.random() * (step / 2)));
            }
        };
        const done = run();
        return {
            close: () => abort.abort(),
            done,
            get error() {
                return state.error;
            },
        };
    }
}

/** Parses `{account_id, lt, tx_hash}`; throws STREAM_FAILED on anything else. */
export function parseTxEvent(data: string): TxEvent {
    let j: unknown;
    try {
        j = JSON.parse(data);
    } catch {
        throw new ChainError('STREAM_FAILED', 'SSE event data is not JSON', { data: data.slice(0, 200) });
    }
    const o = j as { account_id?: unknown; lt?: unknown; tx_hash?: unknown };
    const lt = typeof o.lt === 'number' || typeof o.lt === 'string' ? o.lt : undefined;
    if (typeof o.account_id !== 'string' || lt === undefined || !/^\d+$/.test(String(lt)) || typeof o.tx_hash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(o.tx_hash)) {
        throw new ChainError('STREAM_FAILED', 'SSE event is not {account_id, lt, tx_hash}', { data: data.slice(0, 200) });
    }
    return { accountId: o.account_id, lt: BigInt(lt), txHash: o.tx_hash.toLowerCase() };
}

/**
 * Reads a text/event-stream body, calling onEvent(event, data) per dispatched event (WHATWG rules:
 * `event:`/`data:` fields, multi-line data joined by \n, comments ignored, blank line dispatches).
 * Lines are bounded (1 MiB) so a hostile server cannot grow memory without limit.
 */
export async function readSse(body: ReadableStream<Uint8Array>, signal: AbortSignal, onEvent: (event: string, data: string) => Promise<void>): Promise<void> {
    const MAX_LINE = 1 << 20;
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let event = '';
    let data: string[] = [];
    const onAbort = () => void reader.cancel().catch(() => undefined);
    signal.addEventListener('abort', onAbort);
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            buf += decoder.decode(value, { stream: true });
            for (;;) {
                const m = /\r\n|\r|\n/.exec(buf);
                if (!m) break;
                // A lone \r at the end of the buffer may be the first half of \r\n: wait for more bytes.
                if (m[0] === '\r' && m.index === buf.length - 1) break;
                const line = buf.slice(0, m.index);
                buf = buf.slice(m.index + m[0].length);
                if (line === '') {
                    if (data.length > 0) await onEvent(event || 'message', data.join('\n'));
                    event = '';
                    data = [];
                    continue;
                }
                if (line.startsWith(':')) continue;
                const i = line.indexOf(':');
                const field = i < 0 ? line : line.slice(0, i);
                let val = i < 0 ? '' : line.slice(i + 1);
                if (val.startsWith(' ')) val = val.slice(1);
                if (field === 'event') event = val;
                else if (field === 'data') data.push(val);
            }
            if (buf.length > MAX_LINE || data.reduce((n, d) => n + d.length, 0) > MAX_LINE) throw new ChainError('STREAM_FAILED', 'SSE line or event exceeds 1 MiB');
        }
    } finally {
        signal.removeEventListener('abort', onAbort);
        try {
            reader.releaseLock();
        } catch {
            /* a read was still pending (cancelled stream) */
        }
    }
}
