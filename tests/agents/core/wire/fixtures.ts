// Valid sample frames, one or more per (direction, type), shared by the wire tests.
import { createHash } from 'crypto';
import { Address } from '@ton/core';
import { Direction, DirectionFrames, Frame, PROTOCOL_VERSION } from '../../../../agents/core/wire';

export const v = PROTOCOL_VERSION;
export const CLIENT_CHANNEL = new Address(0, Buffer.alloc(32, 0x11)).toString();
export const WORKER_CHANNEL = new Address(0, Buffer.alloc(32, 0x22)).toRawString();
export const PROXY = new Address(-1, Buffer.alloc(32, 0x33)).toString({ bounceable: false });
export const ID = '0123456789abcdef0123456789abcdef';
export const MODEL = 'cocoon-test/echo-tiny';
const HPKE_PUB = Buffer.alloc(32, 7);
const SIG = 'ab'.repeat(64);

export const requestPlain: DirectionFrames['client_to_proxy'] = {
    type: 'request',
    v,
    id: ID,
    model: MODEL,
    endpoint: 'chat',
    stream: true,
    maxTokens: 256,
    maxCoefficient: 1500n,
    body: { model: MODEL, stream: true, messages: [{ role: 'user', content: 'héllo ✓' }], max_tokens: 256 },
};

export const requestSealed: DirectionFrames['client_to_proxy'] = {
    type: 'request',
    v,
    id: ID,
    model: MODEL,
    endpoint: 'completions',
    stream: false,
    maxTokens: 1,
    maxCoefficient: 0n,
    sealed: { keyId: 'cd'.repeat(32), enc: Buffer.alloc(32, 1).toString('base64'), ct: Buffer.alloc(40, 2).toString('base64') },
};

const common: Frame[] = [
    { type: 'ping', v, nonce: '0' },
    { type: 'pong', v, nonce: 'ffffffffffffffffffffffffffffffff' },
    { type: 'error', v, code: 'WIRE_BAD_FIELD', message: 'bad field v', fatal: true },
    { type: 'error', v, code: 'RATE_LIMITED', message: '', fatal: false, id: ID },
];

const responses: Frame[] = [
    { type: 'response_start', v, id: ID, status: 200, headers: { 'content-type': 'text/event-stream' } },
    { type: 'response_start', v, id: ID, status: 429, headers: { 'retry-after': '3', 'openai-processing-ms': '12' } },
    { type: 'response_chunk', v, id: ID, seq: 0, data: '{"id":"x","choices":[{"delta":{"content":"hé"}}]}' },
    { type: 'response_chunk', v, id: ID, seq: 4294967295, sealed: { ct: Buffer.alloc(17, 9).toString('base64') }, final: true },
    {
        type: 'response_end',
        v,
        id: ID,
        usage: { prompt: 12n, cached: 0n, completion: 18446744073709551615n, reasoning: 3n },
        cost: 1329227995784915872903807060280344575n, // 2^120 - 1
        receipt: Buffer.from('b5ee9c72', 'hex').toString('base64'),
    },
    { type: 'response_error', v, id: ID, code: 'BACKEND_UNAVAILABLE', message: 'backend refused the connection', retryable: true },
];

export const SAMPLES: { [D in Direction]: Frame[] } = {
    client_to_proxy: [
        { type: 'hello', v, minV: 1, role: 'client', channel: CLIENT_CHANNEL },
        { type: 'hello', v, minV: 1, role: 'client', channel: CLIENT_CHANNEL, agent: 'cocoon-ts client 0.1.0' },
        requestPlain,
        requestSealed,
        { type: 'cancel', v, id: ID },
        { type: 'voucher', v, amount: 1_000_000_000n, signature: SIG },
        { type: 'get_worker_candidates', v, id: ID, model: MODEL, maxCoefficient: 4294967295n },
        ...common,
        { type: 'coop_withdraw', v, id: ID, amount: 400_000_000n, close: false },
        { type: 'coop_withdraw', v, id: ID, close: true },
    ],
    proxy_to_client: [
        { type: 'hello_ok', v, proxy: PROXY },
        ...responses,
        { type: 'payment_status', v, delivered: 5n, voucher: 0n, creditWindow: 10n, creditRemaining: 5n },
        {
            type: 'worker_candidates',
            v,
            id: ID,
            model: MODEL,
            candidates: [
                {
                    keyId: createHash('sha256').update(HPKE_PUB).digest('hex'),
                    hpkePublicKey: HPKE_PUB.toString('hex'),
                    coefficient: 1000n,
                    attestation: Buffer.alloc(100, 0x30).toString('base64'),
                },
            ],
        },
        { type: 'worker_candidates', v, id: ID, model: MODEL, candidates: [] },
        ...common,
        { type: 'coop_withdraw_signed', v, id: ID, amount: 400_000_000n, seqno: 4294967295n, close: false, signature: SIG },
    ],
    worker_to_proxy: [
        {
            type: 'hello',
            v,
            minV: 1,
            role: 'worker',
            channel: WORKER_CHANNEL,
            models: [
                { name: MODEL, coefficient: 1000n },
                { name: 'cocoon-test/other', coefficient: 800n },
            ],
            capacity: 4,
        },
        ...responses,
        ...common,
        { type: 'offer', v, seq: 0, models: [] },
        { type: 'offer', v, seq: 4294967295, models: [{ name: MODEL, coefficient: 4294967295n }] },
    ],
    proxy_to_worker: [
        { type: 'hello_ok', v, proxy: PROXY },
        requestPlain,
        requestSealed,
        { type: 'cancel', v, id: ID },
        { type: 'payout', v, amount: 0n, signature: SIG },
        ...common,
        { type: 'offer_ok', v, seq: 7 },
    ],
};

/** JSON replacer for building wire objects by hand. */
export const wire = (f: unknown) => JSON.parse(JSON.stringify(f, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)));
