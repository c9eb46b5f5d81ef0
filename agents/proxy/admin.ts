// The proxy's live admin commands (spec/operations.md, "Live admin"), served on its admin socket by
// agents/core/admin/server.ts: stop taking new clients and requests (those in flight finish) and resume, redeem and
// sign payouts now, commit the ledger's state now, re-read Root now, and a status.
import type { AdminHandlers } from '../core/admin/server';
import type { ProxyAgent } from './runner';

function status(p: ProxyAgent) {
    const s = p.stats();
    return {
        role: 'proxy',
        proxy: s.proxy,
        status: s.status,
        accepting: p.accepting,
        uptimeMs: s.uptimeMs,
        rootVersion: s.rootVersion,
        connections: s.connections,
        requests: s.requests,
        workers: s.workers.map((w) => ({ id: w.id, channel: w.channel, models: w.models, capacity: w.capacity, inFlight: w.inFlight })),
        ledger: s.ledger,
    };
}

export function proxyAdminHandlers(p: ProxyAgent): AdminHandlers {
    return {
        status: { summary: 'state, connections, requests, workers and ledger totals', run: async () => status(p) },
        'stop-accepting': {
            summary: 'refuse new client sessions and requests (PROXY_NOT_ACCEPTING); requests in flight finish',
            run: async () => {
                p.accepting = false;
                return status(p);
            },
        },
        resume: {
            summary: 'accept new client sessions and requests again',
            run: async () => {
                p.accepting = true;
                return status(p);
            },
        },
        'settle-now': { summary: 'redeem every voucher above what was redeemed and sign every payout owed, regardless of thresholds', run: () => p.settle({ force: true }) },
        'commit-now': { summary: "sign and send the ledger's state commit now (after the start-up commit guard)", run: () => p.commitNow() },
        reload: {
            summary: "re-read Root now: its allowlists and models apply at once",
            run: async () => {
                const cfg = await p.reloadRoot();
                return { version: cfg.version, models: [...cfg.models.values()].map((m) => m.name), workerImages: [...cfg.workerImages], proxyImages: [...cfg.proxyImages], proxies: cfg.proxies.size };
            },
        },
    };
}
