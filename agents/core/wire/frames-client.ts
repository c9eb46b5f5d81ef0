// Wire frames between a client and the proxy (spec/wire.md): the client's hello, vouchers, payment_status and the
// router-blind candidate query. The request and its response frames, which the proxy relays to a worker, are in
// frames-request.ts.
import { createHash } from 'crypto';
import { z } from 'zod';
import { base64, coefficient, coins, frame, hello, hex, int, keyId, MAX_ATTESTATION_BYTES, MAX_CANDIDATES, MAX_WORKER_CAPACITY, modelName, requestId, signature, versionRange } from './fields';

/** client → proxy: first frame on a client connection. */
export const HelloClientObject = frame('hello', { ...hello, role: z.literal('client') });
export const HelloClient = HelloClientObject.superRefine(versionRange);

/** client → proxy: cumulative voucher; signature = Ed25519 over voucherPayload(channel, amount, globalId).hash(). */
export const Voucher = frame('voucher', { amount: coins, signature });

/** proxy → client: the client's account as the proxy's ledger has it. */
export const PaymentStatus = frame('payment_status', {
    /** Cumulative cost of responses delivered to the client. */
    delivered: coins,
    /** Latest accepted cumulative voucher amount. */
    voucher: coins,
    /** How far `delivered` may run ahead of `voucher`. */
    creditWindow: coins,
    /** max(0, voucher + creditWindow − delivered): cost the proxy will still serve unvouched. */
    creditRemaining: coins,
});

/**
 * client → proxy: ask for workers to seal a router-blind request to. With `workerKey` (a worker's attested Ed25519
 * key, hex): only that worker, busy or not — how a plain-mode client finds the attestation of the worker whose
 * receipt it holds when the proxy picked one outside the candidates it was sent.
 */
export const GetWorkerCandidates = frame('get_worker_candidates', { id: requestId, model: modelName, maxCoefficient: coefficient, workerKey: hex(32).optional() });

export const WorkerCandidate = z
    .object({
        keyId,
        /** Raw X25519 public key, lowercase hex (32 bytes); must be the HPKE key in the attestation's claims. */
        hpkePublicKey: hex(32),
        coefficient,
        /** The worker's RA-TLS certificate (DER, base64): quote + claims binding hpkePublicKey. */
        attestation: base64(1, MAX_ATTESTATION_BYTES),
        /** Free request slots (capacity − in flight) when the proxy answered: the load /v1/models shows. */
        free: int(0, MAX_WORKER_CAPACITY).optional(),
    })
    .strict()
    .superRefine((c, ctx) => {
        if (c.keyId !== createHash('sha256').update(Buffer.from(c.hpkePublicKey, 'hex')).digest('hex')) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['keyId'], message: 'not SHA-256 of hpkePublicKey' });
        }
    });

/** proxy → client: answer to get_worker_candidates (same id); may be empty. */
export const WorkerCandidates = frame('worker_candidates', {
    id: requestId,
    model: modelName,
    candidates: z.array(WorkerCandidate).max(MAX_CANDIDATES),
});

/**
 * client → proxy: ask the proxy to co-sign an immediate withdrawal (the ClientChannel's CoopWithdraw). `amount` for a
 * partial withdrawal, or `close: true` (no amount) to take the whole balance and close the channel. The proxy redeems
 * what it holds first, then signs only what the channel holds beyond what the client owes (spec/wire.md,
 * "Cooperative withdrawal").
 */
export const CoopWithdraw = frame('coop_withdraw', { id: requestId, amount: coins.optional(), close: z.boolean() }).superRefine((f, ctx) => {
    if (f.close === (f.amount !== undefined)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['amount'], message: 'give amount for a withdrawal, or close: true without it' });
    else if (f.amount === 0n) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['amount'], message: 'must be positive' });
});

/**
 * proxy → client: the co-signature (same id): Ed25519 by the proxy's enclave key over
 * withdrawPayload(channel, amount, seqno, close, globalId).hash(); `seqno` = the channel's withdrawSeqno it is valid for.
 */
export const CoopWithdrawSigned = frame('coop_withdraw_signed', { id: requestId, amount: coins, seqno: coefficient, close: z.boolean(), signature });
