// Typed errors of the client SDK and their OpenAI-shaped HTTP form (spec/client.md, "Errors").
//
// A ClientError's `code` says what went wrong from the app's point of view; when the proxy or a worker refused the
// request with a wire code (spec/wire.md), `details.wireCode` keeps that code and `details.retryable` its flag.
// `toHttpError` is the one table from either code to an HTTP status and a stable lowercase OpenAI `code`.
import { CocoonError } from '../core/errors';
import { WIRE_CODES, WireCode, WireCodeEntry } from '../core/wire';

export const ClientErrorCodes = [
    'CONFIG_INVALID', // a constructor option or request argument is malformed; details.key names it (details.param too for a request field)
    'NOT_OPEN', // open() has not completed (or stop() was called)
    'STATE_INVALID', // the state file exists but is not a valid client state (refuse to run rather than re-sign from 0)
    'NO_PROXY', // Root lists no proxy we may use (none registered, or none whose image/key checks pass)
    'PROXY_REJECTED', // the proxy's certificate failed: image not in Root's proxyImages, bad quote, or key != enclaveKey
    'PROXY_UNREACHABLE', // no connection to the proxy (connect failed, dropped, or reconnecting)
    'PROXY_REFUSED', // the proxy refused us or our request at the connection level (details.wireCode: CHANNEL_INVALID, ...)
    'PROTOCOL_ERROR', // the proxy or worker broke the protocol (bad frame, chunk order, HPKE failure, bad response body)
    'MODEL_NOT_FOUND', // the model is not registered in Root
    'NO_WORKER', // no attested worker within maxCoefficient serves the model (after up to 3 attempts)
    'WORKER_LOST', // the worker (or the proxy connection) went away after the response started
    'REQUEST_REJECTED', // the proxy or worker refused the request (details.wireCode: REQUEST_*, BACKEND_*, CREDIT_*, ...)
    'UPSTREAM_ERROR', // the backend answered an HTTP error (details.status, details.body = its OpenAI error JSON)
    'RECEIPT_INVALID', // the usage receipt failed verification: no voucher was signed, the connection was dropped
    'TIMEOUT', // no frame for the request within requestTimeoutMs
    'CANCELLED', // the caller's signal aborted the request
    'CHANNEL_CLOSED', // the channel is closing or closed: no new deposit or request (a new channel needs a new seed)
    'CHAIN_TX_FAILED', // a transaction was sent but the channel state did not change as expected (bounced / timed out)
    'TOO_EARLY', // FinishWithdraw / FinishClose before withdrawAt / closeAt (details.waitMs)
    'NOTHING_PENDING', // FinishWithdraw with no pending withdrawal, FinishClose on a channel that is not closing
    'WITHDRAW_LAPSED', // FinishWithdraw after withdrawAt + WithdrawWindow: the request lapsed; request again
    'DEADLINE_UNKNOWN', // FinishWithdraw / FinishClose while the clock of trust has no chain time (after one retry): nothing sent; retry
] as const;
export type ClientErrorCode = (typeof ClientErrorCodes)[number];

export class ClientError extends CocoonError<ClientErrorCode> {
    /** The proxy's or worker's wire code, when the refusal came from them. */
    get wireCode(): string | undefined {
        const c = this.details?.wireCode;
        return typeof c === 'string' ? c : undefined;
    }
}

/** OpenAI's error body. */
export interface OpenAIError {
    error: { message: string; type: string; param: string | null; code: string | null };
}

export interface HttpError {
    status: number;
    body: OpenAIError;
}

type Row = [status: number, type: string, code: string];

const INVALID = 'invalid_request_error';
const SERVER = 'server_error';
const QUOTA = 'insufficient_quota';

/** Wire codes → HTTP: the registry's `http` rows (agents/core/wire/codes.ts). Checked before the ClientError code table. */
const WIRE_TABLE: Readonly<Record<string, Row>> = Object.fromEntries(
    (Object.keys(WIRE_CODES) as WireCode[]).flatMap((c) => {
        const e: WireCodeEntry = WIRE_CODES[c];
        return e.http ? [[c, [...e.http] as Row]] : [];
    }),
);

/** A ClientError code named like a wire code answers that code's row. */
const sameAsWire = (c: WireCode): Row => WIRE_TABLE[c];

/** ClientError codes → HTTP, for errors without a wire code in the table above. */
const CLIENT_TABLE: Readonly<Record<ClientErrorCode, Row>> = {
    CONFIG_INVALID: [400, INVALID, 'invalid_value'],
    NOT_OPEN: [503, SERVER, 'proxy_unreachable'],
    STATE_INVALID: [500, SERVER, 'internal_error'],
    NO_PROXY: [502, SERVER, 'proxy_unreachable'],
    PROXY_REJECTED: [502, SERVER, 'proxy_rejected'],
    PROXY_UNREACHABLE: [502, SERVER, 'proxy_unreachable'],
    PROXY_REFUSED: [502, SERVER, 'proxy_refused'],
    PROTOCOL_ERROR: [502, SERVER, 'protocol_error'],
    MODEL_NOT_FOUND: [404, INVALID, 'model_not_found'],
    NO_WORKER: sameAsWire('NO_WORKER'),
    WORKER_LOST: sameAsWire('WORKER_LOST'),
    REQUEST_REJECTED: [502, SERVER, 'upstream_error'],
    UPSTREAM_ERROR: [502, SERVER, 'upstream_error'],
    RECEIPT_INVALID: sameAsWire('RECEIPT_INVALID'),
    TIMEOUT: [504, SERVER, 'timeout'],
    CANCELLED: [499, INVALID, 'cancelled'],
    CHANNEL_CLOSED: [402, QUOTA, 'channel_closed'],
    CHAIN_TX_FAILED: [502, SERVER, 'chain_error'],
    TOO_EARLY: [409, INVALID, 'too_early'],
    NOTHING_PENDING: [409, INVALID, 'nothing_pending'],
    WITHDRAW_LAPSED: [409, INVALID, 'withdraw_lapsed'],
    DEADLINE_UNKNOWN: [503, SERVER, 'deadline_unknown'],
};

/** Errors the HTTP layer raises itself (before the SDK sees the request). */
export const HTTP_ERRORS = {
    invalidJson: (): HttpError => plain(400, INVALID, 'invalid_json', 'We could not parse the JSON body of your request.'),
    bodyTooLarge: (limit: number): HttpError => plain(413, INVALID, 'body_too_large', `Request body exceeds ${limit} bytes.`),
    unsupportedMediaType: (): HttpError => plain(415, INVALID, 'unsupported_media_type', 'Content-Type must be application/json.'),
    notFound: (method: string, path: string): HttpError => plain(404, INVALID, 'unknown_url', `Unknown request URL: ${method} ${path}.`),
    methodNotAllowed: (method: string, path: string): HttpError => plain(405, INVALID, 'method_not_allowed', `Method ${method} is not allowed on ${path}.`),
    invalidBody: (): HttpError => plain(400, INVALID, 'invalid_body', 'The request body must be a JSON object.'),
    missing: (param: string): HttpError => plain(400, INVALID, 'missing_required_parameter', `Missing required parameter: '${param}'.`, param),
    invalidType: (param: string, what: string): HttpError => plain(400, INVALID, 'invalid_type', `Invalid type for '${param}': expected ${what}.`, param),
    /** A per-request header (X-Cocoon-*) with a bad value; `param` names the header. */
    invalidHeader: (header: string, why: string): HttpError => plain(400, INVALID, 'invalid_value', `Invalid value for header '${header}': ${why}.`, header),
    modelNotFound: (model: string): HttpError => plain(404, INVALID, 'model_not_found', `The model '${model}' does not exist or has no worker.`, 'model'),
    /** An unexpected exception (message hidden): the wire INTERNAL code's row. */
    internal: (): HttpError => plain(...WIRE_TABLE.INTERNAL, 'Internal error.'),
};

function plain(status: number, type: string, code: string, message: string, param: string | null = null): HttpError {
    return { status, body: { error: { message, type, param, code } } };
}

/** `'messages[0].x'` from a worker message such as "Unrecognized request argument supplied: 'messages[0].x'." */
function paramOf(message: string): string | null {
    const m = /'([^']{1,256})'/.exec(message);
    return m ? m[1] : null;
}

/** The OpenAI-shaped HTTP error for any error the SDK throws (unknown errors: 500 internal_error, message hidden). */
export function toHttpError(e: unknown): HttpError {
    if (!(e instanceof ClientError)) return HTTP_ERRORS.internal();
    if (e.code === 'UPSTREAM_ERROR') {
        const status = typeof e.details?.status === 'number' ? e.details.status : 502;
        const body = e.details?.body as OpenAIError | undefined;
        if (body && typeof body.error?.message === 'string') return { status, body };
    }
    const wire = e.wireCode;
    const row = (wire !== undefined ? WIRE_TABLE[wire] : undefined) ?? CLIENT_TABLE[e.code];
    const given = typeof e.details?.param === 'string' ? e.details.param : null;
    const param = given ?? (row[2] === 'model_not_found' ? 'model' : wire?.startsWith('REQUEST_') ? paramOf(e.message) : null);
    return { status: row[0], body: { error: { message: e.message, type: row[1], param, code: row[2] } } };
}

/** The table as documented in spec/client.md (wire code or client code → status, type, code). */
export const HTTP_ERROR_TABLE = { wire: WIRE_TABLE, client: CLIENT_TABLE };
