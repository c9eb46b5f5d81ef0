// The one registry of wire error codes (spec/wire.md, "Error codes"): every code an agent may put in an `error` or
// `response_error` frame, who raises it, its `retryable` flag, whether it counts against the worker's health in the
// proxy's router, and the OpenAI-shaped HTTP error the client answers with. The proxy's and worker's code lists,
// the proxy's worker-blame test and the client's HTTP table are derived from it; spec/wire.md's table documents it
// row by row (tests/agents/core/wire/codes.spec.ts checks both).

/** `parser`: parseFrame / encodeFrame (WireError), sent by every role (the proxy also for a worker breaking the
 *  response order); `proxy` / `worker`: that agent sends it. */
export type Raiser = 'parser' | 'proxy' | 'worker';
/** true / false: always that flag; 'before_start': true only before response_start went out. */
export type Retryable = boolean | 'before_start';
/** The client's HTTP answer for a refusal with this code: status, OpenAI error `type`, OpenAI error `code`. */
export type HttpRow = readonly [status: number, type: string, code: string];
/** The ClientError codes (agents/client/errors.ts) a refusal may become besides REQUEST_REJECTED, the default. */
export type ClientRefusal = 'NO_WORKER' | 'WORKER_LOST' | 'MODEL_NOT_FOUND' | 'RECEIPT_INVALID' | 'PROTOCOL_ERROR';

export interface WireCodeEntry {
    readonly raisedBy: readonly Raiser[];
    readonly retryable: Retryable;
    /** The proxy's router counts this code from a worker as a failure of that worker (else neutral: the request was bad or cancelled). */
    readonly blamesWorker: boolean;
    /** Absent: the client maps the refusal by its ClientError code (spec/client.md). */
    readonly http?: HttpRow;
    /** The ClientError code of a refusal with this code (absent: REQUEST_REJECTED); `afterStart`: only once response_start arrived. */
    readonly client?: ClientRefusal;
    readonly afterStart?: true;
    readonly meaning: string;
}

const INVALID = 'invalid_request_error';
const SERVER = 'server_error';
const QUOTA = 'insufficient_quota';

export const WIRE_CODES = {
    // Frames that do not parse (WireError, agents/core/wire/errors.ts); details.path names the field for WIRE_BAD_FIELD.
    WIRE_MALFORMED: { raisedBy: ['parser'], retryable: false, blamesWorker: true, client: 'PROTOCOL_ERROR', meaning: 'not UTF-8, not JSON, not a JSON object, nested deeper than 64, or no string `type`' },
    WIRE_TOO_LARGE: { raisedBy: ['parser'], retryable: false, blamesWorker: true, client: 'PROTOCOL_ERROR', meaning: 'more than `MAX_FRAME_BYTES` UTF-8 bytes (or a sealed body / chunk over its limit at the sender)' },
    WIRE_UNKNOWN_TYPE: { raisedBy: ['parser'], retryable: false, blamesWorker: true, client: 'PROTOCOL_ERROR', meaning: '`type` names no frame of the protocol' },
    WIRE_DIRECTION: { raisedBy: ['parser'], retryable: false, blamesWorker: true, client: 'PROTOCOL_ERROR', meaning: 'a known frame this sender may not send (e.g. a worker sending `request`, a client sending `payout`)' },
    WIRE_BAD_FIELD: { raisedBy: ['parser'], retryable: false, blamesWorker: true, client: 'PROTOCOL_ERROR', meaning: 'a field missing, of the wrong type, out of bounds, not canonical, inconsistent (`body.model` ≠ `model`, `body.stream` ≠ `stream`, both/neither of `body`/`sealed`, key id ≠ SHA-256 of the key, duplicate model), or an unknown key; the proxy also sends it for a worker breaking the response order' },
    WIRE_VERSION: { raisedBy: ['parser'], retryable: false, blamesWorker: true, client: 'PROTOCOL_ERROR', meaning: '`v` is not the negotiated / a supported version, or a hello\'s range does not overlap ours' },
    // HpkeError (agents/core/hpke.ts), sent by the worker for a sealed request it cannot open.
    HPKE_BAD_KEY: { raisedBy: ['worker'], retryable: false, blamesWorker: false, client: 'PROTOCOL_ERROR', meaning: 'a public key or seed is not a valid 32-byte X25519 key' },
    HPKE_OPEN_FAILED: { raisedBy: ['worker'], retryable: false, blamesWorker: false, client: 'PROTOCOL_ERROR', meaning: 'authentication failed: wrong key, or enc / ct / the routing fields (AAD) / a chunk / its final flag altered' },
    HPKE_CHUNK_ORDER: { raisedBy: ['worker'], retryable: false, blamesWorker: false, client: 'PROTOCOL_ERROR', meaning: 'a response chunk out of sequence: reordered, replayed, skipped, or after the final chunk' },
    HPKE_TRUNCATED: { raisedBy: ['worker'], retryable: false, blamesWorker: false, client: 'PROTOCOL_ERROR', meaning: '`response_end` arrived before the final sealed chunk' },
    HPKE_KEY_MISMATCH: { raisedBy: ['worker'], retryable: true, blamesWorker: false, client: 'PROTOCOL_ERROR', meaning: 'a worker got a request sealed to another key id' },
    HPKE_REPLAYED: { raisedBy: ['worker'], retryable: false, blamesWorker: false, client: 'PROTOCOL_ERROR', meaning: 'a worker got a sealed request whose encapsulated key it already opened (a replay)' },
    // The proxy (spec/proxy.md, "Codes").
    HELLO_REQUIRED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [500, SERVER, 'internal_error'], meaning: 'a frame other than hello before hello_ok, or no hello in time (fatal)' },
    HELLO_REPEATED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'a second hello on a connection already past hello (not fatal, ignored)' },
    CHANNEL_INVALID: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [402, QUOTA, 'channel_invalid'], meaning: 'the hello\'s channel is not ours / wrong key / not canonical / not open or active (fatal)' },
    CHANNEL_NOT_OWNED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'a worker\'s hello lacks a valid signature by the channel owner\'s wallet over its attested key (fatal)' },
    CHANNEL_UNDERSTAKED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'the WorkerChannel\'s stake is below its minStake, at hello or on a later check (fatal)' },
    MODEL_NOT_REGISTERED: { raisedBy: ['proxy', 'worker'], retryable: false, blamesWorker: true, http: [404, INVALID, 'model_not_found'], client: 'MODEL_NOT_FOUND', meaning: 'a request or a worker\'s hello names a model Root does not list' },
    NO_WORKER: { raisedBy: ['proxy'], retryable: true, blamesWorker: true, http: [503, SERVER, 'no_worker_available'], client: 'NO_WORKER', meaning: 'no connected worker serves the model within the price cap (or holds the sealed key id); also the client\'s own ClientError when no attested candidate is left (after up to 3 attempts)' },
    WORKER_CONFIG_MISMATCH: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'the worker\'s attested configuration (certificate extension 1.3.6.1.4.1.12345.3) does not serve an announced model with the weightsHash Root registers, names no configuration, or attests what the proxy\'s policy refuses (unchecked weights, a backend outside the TD); fatal at hello, not at an offer' },
    WORKER_GPU_EVIDENCE_REQUIRED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'Root\'s record of an announced model says requireGpu and the worker\'s certificate carries no GPU evidence (extension 1.3.6.1.4.1.12345.4), or evidence that fails the proxy\'s GPU trust (the message starts with the GPU_* code); fatal at hello, not at an offer' },
    WORKER_BUSY: { raisedBy: ['proxy', 'worker'], retryable: true, blamesWorker: true, http: [503, SERVER, 'no_worker_available'], client: 'NO_WORKER', meaning: 'workers exist but all are at capacity' },
    WORKER_LOST: { raisedBy: ['proxy'], retryable: 'before_start', blamesWorker: true, http: [502, SERVER, 'worker_lost'], client: 'WORKER_LOST', meaning: 'the worker disconnected; also the client\'s own ClientError when the worker or the connection went away after `response_start`' },
    WORKER_TIMEOUT: { raisedBy: ['proxy'], retryable: 'before_start', blamesWorker: true, http: [504, SERVER, 'worker_timeout'], meaning: 'the worker missed a deadline (first byte, idle, cancel grace)' },
    DUPLICATE_REQUEST: { raisedBy: ['proxy', 'worker'], retryable: false, blamesWorker: true, http: [500, SERVER, 'internal_error'], meaning: 'the request id is in flight or already in the ledger' },
    CREDIT_WINDOW_EXCEEDED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [402, QUOTA, 'credit_window_exceeded'], meaning: 'delivered − voucher ≥ Root\'s creditWindow' },
    INSUFFICIENT_DEPOSIT: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [402, QUOTA, 'insufficient_deposit'], meaning: 'delivered − redeemed ≥ the ClientChannel\'s balance' },
    VOUCHER_INVALID: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'the voucher signature does not verify under the channel\'s clientKey' },
    VOUCHER_REFUSED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'the ledger refused the voucher (not increasing, above delivered); the message names why' },
    RECEIPT_INVALID: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [502, SERVER, 'receipt_invalid'], client: 'RECEIPT_INVALID', meaning: 'the worker\'s receipt did not verify: the proxy books nothing and disconnects the worker; the client (its own ClientError, `details.reason` = the receipt code) signs no voucher and drops the connection' },
    IMAGE_NOT_ALLOWED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [502, SERVER, 'proxy_rejected'], meaning: 'the image hash is not in the allowlist (AttestationError: the policy\'s or Root\'s image list, verification step 10, `checkImageAllowed`); the proxy sends it when a worker\'s image left Root\'s allowlist (fatal)' },
    PROXY_UNAVAILABLE: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [503, SERVER, 'proxy_unavailable'], meaning: 'the proxy is stopping or halted, or a chain read it needed failed' },
    RATE_LIMITED: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, http: [429, 'rate_limit_error', 'rate_limit_exceeded'], meaning: 'too many frames/bytes before hello, too many hellos being checked, or too many requests in flight on a connection' },
    // The worker (spec/worker.md, "Request handling"; request validation and backend forwarding below).
    REQUEST_INVALID_BODY: { raisedBy: ['worker'], retryable: false, blamesWorker: false, http: [400, INVALID, 'invalid_body'], meaning: 'not a JSON object (or a sealed body that is not a request)' },
    REQUEST_UNKNOWN_FIELD: { raisedBy: ['worker'], retryable: false, blamesWorker: false, http: [400, INVALID, 'unknown_field'], meaning: 'a field the worker does not accept (`param` names it, e.g. `best_of`; spec/openai.md)' },
    REQUEST_INVALID_FIELD: { raisedBy: ['worker'], retryable: false, blamesWorker: false, http: [400, INVALID, 'invalid_value'], meaning: 'a known field with a bad value (n outside 1..128, an image over its bound or not a data: URL, tool_choice without tools, stream_options without stream, both token limits, …)' },
    REQUEST_MISSING_FIELD: { raisedBy: ['worker'], retryable: false, blamesWorker: false, http: [400, INVALID, 'missing_required_parameter'], meaning: '`model`, `messages` or `prompt` missing' },
    REQUEST_MAX_TOKENS: { raisedBy: ['worker'], retryable: false, blamesWorker: false, http: [400, INVALID, 'invalid_max_tokens'], meaning: '`max_tokens` outside 1..contextLength, or n × `max_tokens` above the frame\'s maxTokens' },
    REQUEST_MODEL_MISMATCH: { raisedBy: ['worker'], retryable: true, blamesWorker: false, http: [404, INVALID, 'model_not_found'], meaning: 'the frame or body names a model this worker does not serve' },
    REQUEST_PRICE_CAP: { raisedBy: ['worker'], retryable: true, blamesWorker: false, meaning: 'the worker\'s coefficient exceeds the request\'s maxCoefficient' },
    BACKEND_UNREACHABLE: { raisedBy: ['worker'], retryable: 'before_start', blamesWorker: true, http: [502, SERVER, 'backend_unreachable'], meaning: 'the backend did not answer (connection refused, reset before headers)' },
    BACKEND_ERROR: { raisedBy: ['worker'], retryable: false, blamesWorker: false, http: [502, SERVER, 'backend_error'], meaning: 'the backend answered an error (status and its OpenAI error body passed through), also mid-stream' },
    BACKEND_BAD_RESPONSE: { raisedBy: ['worker'], retryable: false, blamesWorker: true, http: [502, SERVER, 'backend_bad_response'], meaning: 'unparsable response, an event over 256 KiB, or no/invalid `usage`' },
    BACKEND_STREAM_BROKEN: { raisedBy: ['worker'], retryable: false, blamesWorker: true, http: [502, SERVER, 'worker_lost'], client: 'WORKER_LOST', afterStart: true, meaning: 'the stream ended before `[DONE]`; carries the usage known so far (possibly none)' },
    BACKEND_ABORTED: { raisedBy: ['worker', 'proxy'], retryable: false, blamesWorker: false, http: [499, INVALID, 'cancelled'], meaning: 'the request was cancelled (the proxy sends it for a request cancelled before it was routed)' },
    PRICING_INVALID_USAGE: { raisedBy: ['worker'], retryable: false, blamesWorker: true, meaning: 'a token count is missing, negative, not an integer, above 2^64 − 1, or inconsistent (cached > prompt, reasoning > completion, wrong `total_tokens`) (PricingError, agents/core/pricing.ts); from a worker: it could not meter the response' },
    PRICING_INVALID_PRICE: { raisedBy: ['worker'], retryable: false, blamesWorker: true, meaning: 'a price is not a bigint in 0 .. 2^120 − 1 (PricingError); from a worker: it could not meter the response' },
    PRICING_INVALID_COEFFICIENT: { raisedBy: ['worker'], retryable: false, blamesWorker: true, meaning: 'the coefficient is not a bigint in 0 .. 2^32 − 1 (PricingError); from a worker: it could not meter the response' },
    PRICING_OVERFLOW: { raisedBy: ['worker'], retryable: false, blamesWorker: true, meaning: 'the cost exceeds 2^120 − 1 nanoTON (PricingError); from a worker: it could not meter the response' },
    RECEIPT_MALFORMED: { raisedBy: ['worker'], retryable: false, blamesWorker: true, meaning: 'the wire form is not exactly one canonical signed receipt, or a field is out of range when building/signing, including a secret key whose public half does not match its seed (ReceiptError, agents/core/receipt.ts); from a worker: it could not build the receipt' },
    // Payout frames the worker refuses (PayoutError, agents/worker/payouts.ts): a non-fatal `error` frame, no request id.
    PAYOUT_INVALID: { raisedBy: ['worker'], retryable: false, blamesWorker: true, meaning: 'a payout\'s signature does not verify under the proxy\'s enclave key over payoutPayload(channel, amount, globalId)' },
    PAYOUT_STALE: { raisedBy: ['worker'], retryable: false, blamesWorker: true, meaning: 'a payout\'s amount is below the payout already stored for the channel' },
    // Every role's unknown failure. A worker's blames it in the proxy's router (as any worker failure); the proxy's
    // own never reaches the router (it goes to the client, or to the worker on a worker connection).
    INTERNAL: { raisedBy: ['proxy', 'worker'], retryable: 'before_start', blamesWorker: true, http: [500, SERVER, 'internal_error'], meaning: 'the sender failed internally (the one code for a bug or an unknown failure); the proxy sends it, not retryable, when its handler throws or its ledger refuses a delivery' },
    // Cooperative withdrawal (spec/wire.md, "Cooperative withdrawal"): the proxy's refusals of coop_withdraw (error frame with the query id); nothing is signed.
    COOP_WITHDRAW_TOO_LARGE: { raisedBy: ['proxy'], retryable: false, blamesWorker: true, meaning: 'a `coop_withdraw` asks more than the channel holds beyond what the client owes (delivered − redeemed), its requests in flight and a pending withdrawal; a close while anything is owed or in flight' },
    COOP_WITHDRAW_UNAVAILABLE: { raisedBy: ['proxy'], retryable: true, blamesWorker: true, meaning: 'the proxy cannot co-sign now: the channel is not open, redeeming first or reading the chain failed, another co-signature for the channel is under way, or an unused one at the same seqno differs' },
    // Live admin (spec/operations.md, "Live admin").
    WORKER_DRAINING: { raisedBy: ['worker'], retryable: true, blamesWorker: false, http: [503, SERVER, 'no_worker_available'], client: 'NO_WORKER', meaning: 'the worker is draining or disabled, or disabled this model (`cocoon admin drain` or `disable`): the proxy routes the request to another worker' },
    PROXY_NOT_ACCEPTING: { raisedBy: ['proxy'], retryable: true, blamesWorker: true, http: [503, SERVER, 'proxy_unavailable'], meaning: 'the proxy\'s operator stopped it accepting new client sessions and requests (`cocoon admin stop-accepting`); requests in flight finish' },
    // The clock of trust (spec/attestation.md "Chain time for money and receipts").
    WORKER_NO_CHAIN_TIME: { raisedBy: ['worker'], retryable: 'before_start', blamesWorker: true, http: [503, SERVER, 'no_worker_available'], meaning: 'the worker\'s clock of trust has no chain time, and a receipt\'s issuedAt is chain time: it refuses the request before the backend runs (the proxy routes it to another worker), or ends it unbilled when chain time was lost while it ran' },
} as const satisfies Readonly<Record<string, WireCodeEntry>>;

export type WireCode = keyof typeof WIRE_CODES;
/** Codes with `r` among their raisers. */
export type WireCodeOf<R extends Raiser> = { [C in WireCode]: R extends (typeof WIRE_CODES)[C]['raisedBy'][number] ? C : never }[WireCode];

const ALL = Object.keys(WIRE_CODES) as WireCode[];

export function isWireCode(code: string): code is WireCode {
    return Object.prototype.hasOwnProperty.call(WIRE_CODES, code);
}

/** The registered codes `r` raises, in registry order. */
export function wireCodesOf<R extends Raiser>(r: R): readonly WireCodeOf<R>[] {
    return ALL.filter((c) => (WIRE_CODES[c].raisedBy as readonly Raiser[]).includes(r)) as WireCodeOf<R>[];
}

/** The ClientError code a refusal with `code` becomes (unregistered codes: REQUEST_REJECTED). */
export function clientRefusal(code: string, started: boolean): ClientRefusal | 'REQUEST_REJECTED' {
    const e: WireCodeEntry | undefined = isWireCode(code) ? WIRE_CODES[code] : undefined;
    return e?.client && (started || !e.afterStart) ? e.client : 'REQUEST_REJECTED';
}

/** Whether a worker's `response_error` with `code` counts against its health (unregistered codes do). */
export function blamesWorker(code: string): boolean {
    return isWireCode(code) ? WIRE_CODES[code].blamesWorker : true;
}

/** A code received from a peer and passed on unchanged (the proxy relaying a worker's refusal); not ours to register. */
export type RelayedCode = string & { readonly __relayed: true };
export const relayed = (code: string): RelayedCode => code as RelayedCode;

/** spec/wire.md's code table, row for row, as the registry says (the spec test compares the two). */
export function wireCodeTable(): string {
    const head = '| code | HTTP | type | OpenAI code | ClientError | raised by | retryable | blames worker | meaning |\n|---|---|---|---|---|---|---|---|---|';
    const rows = ALL.map((c) => {
        const e: WireCodeEntry = WIRE_CODES[c];
        const http = e.http ? `${e.http[0]} | ${e.http[1]} | \`${e.http[2]}\`` : '— | — | —';
        const retry = e.retryable === 'before_start' ? 'before `response_start`' : e.retryable ? 'yes' : 'no';
        const client = `\`${e.client ?? 'REQUEST_REJECTED'}\`${e.afterStart ? ' after `response_start`, else `REQUEST_REJECTED`' : ''}`;
        return `| \`${c}\` | ${http} | ${client} | ${e.raisedBy.join(', ')} | ${retry} | ${e.blamesWorker ? 'yes' : 'no'} | ${e.meaning} |`;
    });
    return [head, ...rows].join('\n');
}
