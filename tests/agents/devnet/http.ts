// Small HTTP/SSE helpers for the devnet server tests (plain node:http, no client library in between).
import { request } from 'http';

export interface HttpReply {
    status: number;
    text: string;
    json: any;
}

export function httpRequest(url: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<HttpReply> {
    return new Promise((resolve, reject) => {
        const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json: unknown;
                try {
                    json = JSON.parse(text);
                } catch {
                    json = undefined;
                }
                resolve({ status: res.statusCode ?? 0, text, json });
            });
            res.on('error', reject);
        });
        req.on('error', reject);
        req.end(opts.body);
    });
}

export function postJson(url: string, body: unknown): Promise<HttpReply> {
    return httpRequest(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

/** One JSON-RPC call; returns the whole reply. */
export function rpc(url: string, method: string, params: Record<string, unknown> = {}): Promise<HttpReply> {
    return postJson(url, { id: '7', jsonrpc: '2.0', method, params });
}

/** One JSON-RPC call that must succeed; returns `result`. */
export async function rpcOk(url: string, method: string, params: Record<string, unknown> = {}): Promise<any> {
    const r = await rpc(url, method, params);
    if (r.status !== 200 || r.json?.ok !== true) throw new Error(`${method} failed: ${r.status} ${r.text}`);
    return r.json.result;
}

export interface SseEvent {
    event: string;
    id?: string;
    data: string;
}

/** A Server-sent events client that records everything it receives. */
export class SseClient {
    readonly events: SseEvent[] = [];
    readonly comments: string[] = [];
    status = 0;
    ended = false;
    private buffer = '';
    private waiters: (() => void)[] = [];
    private req?: ReturnType<typeof request>;

    static open(url: string): Promise<SseClient> {
        const c = new SseClient();
        return new Promise((resolve, reject) => {
            c.req = request(url, { method: 'GET', headers: { accept: 'text/event-stream' } }, (res) => {
                c.status = res.statusCode ?? 0;
                res.setEncoding('utf8');
                res.on('data', (chunk: string) => c.feed(chunk));
                res.on('end', () => {
                    c.ended = true;
                    c.wake();
                });
                res.on('error', () => undefined);
                resolve(c);
            });
            c.req.on('error', reject);
            c.req.end();
        });
    }

    private feed(chunk: string) {
        this.buffer += chunk;
        let i: number;
        while ((i = this.buffer.indexOf('\n\n')) >= 0) {
            const block = this.buffer.slice(0, i);
            this.buffer = this.buffer.slice(i + 2);
            const ev: SseEvent = { event: 'message', data: '' };
            let isEvent = false;
            for (const line of block.split('\n')) {
                if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
                else if (line.startsWith('event:')) ev.event = line.slice(6).trim();
                else if (line.startsWith('id:')) ev.id = line.slice(3).trim();
                else if (line.startsWith('data:')) {
                    ev.data += (isEvent ? '\n' : '') + line.slice(5).trim();
                    isEvent = true;
                }
            }
            if (isEvent) this.events.push(ev);
        }
        this.wake();
    }

    private wake() {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    /** Resolves when `check()` holds (re-checked on every chunk); rejects after `guardMs` as a hang guard. */
    waitFor(what: string, check: () => boolean, guardMs = 15_000): Promise<void> {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`SSE: gave up waiting for ${what}`)), guardMs);
            const test = () => {
                if (check()) {
                    clearTimeout(timer);
                    resolve();
                } else if (this.ended) {
                    clearTimeout(timer);
                    reject(new Error(`SSE: stream ended before ${what}`));
                } else this.waiters.push(test);
            };
            test();
        });
    }

    /** Resolves when the server ends the stream. */
    waitEnd(guardMs = 15_000): Promise<void> {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('SSE: stream did not end')), guardMs);
            const test = () => {
                if (this.ended) {
                    clearTimeout(timer);
                    resolve();
                } else this.waiters.push(test);
            };
            test();
        });
    }

    close() {
        this.req?.destroy();
    }

    json(): any[] {
        return this.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data));
    }
}
