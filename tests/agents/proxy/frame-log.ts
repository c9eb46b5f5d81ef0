// Raw-frame plumbing shared by the proxy tests' fake peers (fake-worker.ts, fake-client.ts): one WebSocket's
// frames parsed with waiting helpers, and the policy a peer uses to accept the proxy.
import type { WebSocket } from 'ws';
import { PeerPolicy } from '../../../agents/core/transport';
import { Direction, Frame, parseFrame } from '../../../agents/core/wire';
import { AgentNetwork } from '../../../fixtures/agent-network';

/** Frames of one WebSocket, parsed, with waiting helpers. */
export class FrameLog {
    readonly frames: Frame[] = [];
    closed = false;
    closeCode?: number;
    private waiters: (() => void)[] = [];

    constructor(
        readonly ws: WebSocket,
        private readonly dir: Direction,
    ) {
        ws.on('message', (d) => {
            this.frames.push(parseFrame(d as Buffer, dir) as Frame);
            this.wake();
        });
        ws.on('close', (code) => {
            this.closed = true;
            this.closeCode = code;
            this.wake();
        });
    }

    private wake() {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    /** The first frame (at or after `from`) matching `pred`; rejects after `ms`. */
    async next<T extends Frame = Frame>(pred: (f: Frame) => boolean, ms = 8000, from = 0): Promise<T> {
        const deadline = Date.now() + ms;
        for (;;) {
            const f = this.frames.slice(from).find(pred);
            if (f) return f as T;
            if (this.closed) throw new Error(`connection closed while waiting; frames: ${JSON.stringify(this.types())}`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`timeout waiting for a frame; frames: ${JSON.stringify(this.types())}`);
            await new Promise<void>((r) => {
                const t = setTimeout(r, left);
                this.waiters.push(() => {
                    clearTimeout(t);
                    r();
                });
            });
        }
    }

    async waitClosed(ms = 8000): Promise<void> {
        const deadline = Date.now() + ms;
        while (!this.closed) {
            if (Date.now() > deadline) throw new Error('connection did not close');
            await new Promise((r) => setTimeout(r, 20));
        }
    }

    types(): string[] {
        return this.frames.map((f) => ('code' in f ? `${f.type}:${f.code}` : f.type));
    }

    ofId(id: string): Frame[] {
        return this.frames.filter((f) => 'id' in f && f.id === id);
    }
}

/** The proxy as a worker or client sees it: attested, any image (these tests test the proxy, not the peers). */
export function proxyPolicy(net: AgentNetwork): PeerPolicy {
    return { quote: net.quotePolicy, isImageAllowed: () => true };
}
