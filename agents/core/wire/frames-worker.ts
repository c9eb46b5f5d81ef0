// Wire frames between the proxy and a worker (spec/wire.md): the worker's hello (its models, capacity and the
// channel owner's authorization) and the proxy's payouts. The request and response frames it serves are in
// frames-request.ts.
import { z } from 'zod';
import { coefficient, coins, frame, hello, int, MAX_MODELS, MAX_WORKER_CAPACITY, modelName, signature, versionRange } from './fields';

export const ModelOffer = z.object({ name: modelName, coefficient }).strict();

/** worker → proxy: first frame on a worker connection. */
export const HelloWorkerObject = frame('hello', {
    ...hello,
    role: z.literal('worker'),
    models: z
        .array(ModelOffer)
        .min(1)
        .max(MAX_MODELS)
        .superRefine((ms, ctx) => {
            const seen = new Set<string>();
            ms.forEach((m, i) => {
                if (seen.has(m.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'name'], message: 'duplicate model' });
                seen.add(m.name);
            });
        }),
    /** Concurrent requests the worker accepts. */
    capacity: int(1, MAX_WORKER_CAPACITY),
    /**
     * The channel owner's authorization (agents/core/worker-hello.ts): Ed25519 by the owner wallet's key over
     * worker_hello(channel, proxy, the worker's attested TLS key, expiresAt). The proxy refuses a hello without it.
     */
    auth: z.object({ expiresAt: int(1, 0xffff_ffff), signature }).strict().optional(),
});
export const HelloWorker = HelloWorkerObject.superRefine(versionRange);

/** proxy → worker: cumulative payout; signature = Ed25519 (proxy enclave key) over payoutPayload(channel, amount, globalId).hash(). */
export const Payout = frame('payout', { amount: coins, signature });

/** The distinct models of an offer (hello's rule): the same name twice is a bad field. */
const distinctModels = (ms: { name: string }[], ctx: z.RefinementCtx) => {
    const seen = new Set<string>();
    ms.forEach((m, i) => {
        if (seen.has(m.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['models', i, 'name'], message: 'duplicate model' });
        seen.add(m.name);
    });
};

/**
 * worker → proxy, after hello_ok: what the worker serves from now on (live admin, spec/wire.md "Offers"): every model
 * it serves at its coefficient, none while it is disabled or draining. It replaces the hello's models (and any
 * earlier offer); the proxy checks it like the hello and answers offer_ok with the same seq once it routes by it.
 */
export const Offer = frame('offer', { seq: int(0, 0xffff_ffff), models: z.array(ModelOffer).max(MAX_MODELS) }).superRefine((f, ctx) => distinctModels(f.models, ctx));

/** proxy → worker: the offer with this seq is what requests routed from now on were priced at. */
export const OfferOk = frame('offer_ok', { seq: int(0, 0xffff_ffff) });
