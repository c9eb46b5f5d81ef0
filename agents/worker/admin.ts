// The worker's live admin commands (spec/operations.md, "Live admin"), served on its admin socket by
// agents/core/admin/server.ts. Each change goes to the offer book (offers.ts) and is announced to every connected
// proxy (an `offer` frame); the answer says how each proxy acknowledged it.
import { AdminArgs, AdminError, AdminHandlers, stringArg, uintArg } from '../core/admin/server';
import type { WorkerAgent } from './runner';

const MAX_COEFFICIENT = (1n << 32n) - 1n;
/** How long `drain` waits for the requests in flight by default, and at most. */
export const DEFAULT_DRAIN_MS = 300_000;
const MAX_DRAIN_MS = 24 * 3600_000;

function status(w: WorkerAgent) {
    const offers = w.offerBook.snapshot();
    const acked = w.ackedOffers();
    return {
        role: 'worker',
        ...offers,
        inFlight: w.inFlight,
        drained: offers.state === 'draining' && w.inFlight === 0,
        // `offer`: what that proxy routes by (the hello's models, or the last offer it acknowledged).
        proxies: w.stats().proxies.map((p) => ({ proxy: p.proxy, state: p.state, inFlight: p.inFlight, offer: acked[p.proxy] ?? [] })),
    };
}

/** Resolves true once no request is in flight, false after `ms`. */
async function idle(w: WorkerAgent, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (w.inFlight > 0) {
        if (Date.now() >= end) return false;
        await new Promise((r) => setTimeout(r, 20));
    }
    return true;
}

export function workerAdminHandlers(w: WorkerAgent): AdminHandlers {
    const model = (args: AdminArgs): string | undefined => {
        const m = stringArg(args, 'model');
        if (m !== undefined && !w.offerBook.has(m)) throw new AdminError('ADMIN_CONFLICT', `this worker does not offer ${m}`, { model: m });
        return m;
    };
    const changed = async () => ({ ...status(w), announced: await w.announce() });
    return {
        status: { summary: 'offers, state (serving, disabled, draining), requests in flight, proxies', run: async () => status(w) },
        disable: {
            args: ['model'],
            summary: 'stop taking new requests (for one model with --model); requests in flight finish',
            run: async (a) => {
                w.offerBook.disable(model(a));
                return changed();
            },
        },
        enable: {
            args: ['model'],
            summary: 'take new requests again (the whole worker after disable or drain, or one model with --model)',
            run: async (a) => {
                w.offerBook.enable(model(a));
                return changed();
            },
        },
        drain: {
            args: ['timeoutMs'],
            summary: 'refuse new requests (WORKER_DRAINING: proxies route them elsewhere), wait for those in flight, report drained',
            run: async (a) => {
                const ms = Number(uintArg(a, 'timeoutMs', BigInt(MAX_DRAIN_MS)) ?? DEFAULT_DRAIN_MS);
                w.offerBook.disable(undefined, true);
                const announced = await w.announce();
                await idle(w, ms);
                return { ...status(w), announced };
            },
        },
        coefficient: {
            args: ['model', 'value'],
            summary: "change a model's price coefficient and announce it to every proxy (requests already routed keep theirs)",
            run: async (a) => {
                const m = model(a);
                const value = uintArg(a, 'value', MAX_COEFFICIENT);
                if (m === undefined || value === undefined) throw new AdminError('ADMIN_BAD_REQUEST', 'coefficient needs model and value', { arg: m === undefined ? 'model' : 'value' });
                const from = w.offerBook.all().find((o) => o.name === m)!.coefficient;
                w.offerBook.setCoefficient(m, value);
                return { model: m, from, to: value, ...(await changed()) };
            },
        },
    };
}
