// Test doubles for external services only: a scripted HTTP stub (toncenter / tonapi behaviour such as 429s)
// and a virtual clock whose sleep returns at once and advances time, so retry delays cost no real waiting.
import http from 'http';
import { AddressInfo } from 'net';
import { SleepClock as Clock } from '../../../../agents/core/clock';

export class VirtualClock implements Clock {
    t = 1_000_000;
    readonly sleeps: number[] = [];
    now() {
        return this.t;
    }
    async sleep(ms: number) {
        this.sleeps.push(ms);
        await new Promise((r) => setImmediate(r));
        this.t += ms;
    }
}

export interface StubRequest {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: string;
}

export type StubHandler = (req: StubRequest, res: http.ServerResponse, raw: http.IncomingMessage) => void | Promise<void>;

/** An HTTP server on 127.0.0.1:0 whose behaviour is one handler; records every request. */
export class StubServer {
    readonly requests: StubRequest[] = [];
    private server: http.Server;
    private sockets = new Set<import('net').Socket>();
    url = '';

    constructor(public handler: StubHandler) {
        this.server = http.createServer((raw, res) => {
            const chunks: Buffer[] = [];
            raw.on('data', (c: Buffer) => chunks.push(c));
            raw.on('end', () => {
                const req = { method: raw.method ?? '', url: raw.url ?? '', headers: raw.headers, body: Buffer.concat(chunks).toString() };
                this.requests.push(req);
                Promise.resolve(this.handler(req, res, raw)).catch((e) => {
                    res.statusCode = 599;
                    res.end(String(e));
                });
            });
        });
        this.server.on('connection', (s) => {
            this.sockets.add(s);
            s.on('close', () => this.sockets.delete(s));
        });
    }

    async start(): Promise<this> {
        await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        return this;
    }

    async stop() {
        for (const s of this.sockets) s.destroy();
        await new Promise<void>((r) => this.server.close(() => r()));
    }
}

/** Replies with the scripted responses in order; the last one repeats. */
export function scripted(steps: ({ status: number; headers?: Record<string, string>; body?: string } | 'drop')[]): StubHandler {
    let i = 0;
    return (_req, res, raw) => {
        const step = steps[Math.min(i++, steps.length - 1)];
        if (step === 'drop') {
            raw.socket.destroy();
            return;
        }
        res.writeHead(step.status, { 'content-type': 'application/json', ...(step.headers ?? {}) });
        res.end(step.body ?? JSON.stringify(step.status === 200 ? { ok: true, result: 'fine' } : { ok: false, error: `status ${step.status}`, code: step.status }));
    };
}

/** Largest number of `times` inside any half-open window [t, t + windowMs). */
export function maxPerWindow(times: number[], windowMs: number): number {
    const s = [...times].sort((a, b) => a - b);
    let best = 0;
    let j = 0;
    for (let i = 0; i < s.length; i++) {
        while (s[i] - s[j] >= windowMs) j++;
        best = Math.max(best, i - j + 1);
    }
    return best;
}
