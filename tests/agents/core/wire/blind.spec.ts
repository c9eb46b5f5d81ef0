// Router-blind mode end to end at the frame level: the proxy advertises an attested worker key, the client verifies
// the attestation and seals its request, the proxy validates and forwards frames it cannot read, the worker opens the
// request and streams a sealed response back through the proxy.
import 'reflect-metadata';
import { generateHpkeKeyPair, HpkeError, HpkeKeyPair, sealRequest } from '../../../../agents/core/hpke';
import { imageHash } from '../../../../agents/core/tee/image';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { generateEd25519KeyPair, issueRaTlsCert, PeerVerifier } from '../../../../agents/core/transport';
import {
    encodeFrame,
    openChunkFrame,
    openRequestFrame,
    parseFrame,
    requestAad,
    RequestFrame,
    ResponseChunkFrame,
    RoutingFields,
    sealChunkFrame,
    sealStartFrame,
    openStartFrame,
    ResponseStartFrame,
    sealRequestFrame,
    WireError,
    WorkerCandidatesFrame,
} from '../../../../agents/core/wire';
import { ID, MODEL } from './fixtures';

let worker: HpkeKeyPair;
let intruder: HpkeKeyPair;
let candidates: WorkerCandidatesFrame;
let verifier: PeerVerifier;

const fields: RoutingFields = { id: ID, model: MODEL, endpoint: 'chat', stream: true, maxTokens: 64, maxCoefficient: 1200n };
const body = { model: MODEL, stream: true, max_tokens: 64, messages: [{ role: 'user', content: 'my password is hunter2' }] };

/** What a proxy does with a frame: validate it from one side, re-encode it to the other. */
const relay = <F extends Parameters<typeof encodeFrame>[0]>(text: string, from: 'client_to_proxy' | 'worker_to_proxy', to: 'proxy_to_worker' | 'proxy_to_client') =>
    encodeFrame(parseFrame(text, from) as F, to);

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
    try {
        await (typeof p === 'function' ? p() : p);
    } catch (e) {
        if (e instanceof HpkeError || e instanceof WireError) return e.code;
        throw e;
    }
    return 'OK';
}

beforeAll(async () => {
    const tee = await SimulatedTee.create();
    const allowed = imageHash(tee.measurements).toString('hex');
    verifier = new PeerVerifier({ quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (x) => x === allowed, requireHpkeKey: true });
    worker = await generateHpkeKeyPair();
    intruder = await generateHpkeKeyPair();
    const cert = await issueRaTlsCert({ keys: await generateEd25519KeyPair(), provider: tee, hpkePublicKey: worker.publicKey });
    // proxy → client: the candidate list, as it travels
    const text = encodeFrame(
        {
            type: 'worker_candidates',
            v: 1,
            id: 'ff'.repeat(16),
            model: MODEL,
            candidates: [{ keyId: worker.keyId, hpkePublicKey: worker.publicKey.toString('hex'), coefficient: 1000n, attestation: cert.der.toString('base64') }],
        },
        'proxy_to_client',
    );
    candidates = parseFrame(text, 'proxy_to_client') as WorkerCandidatesFrame;
});

/** Client: verify a candidate's attestation and that it binds the advertised HPKE key. */
function verifiedKey(c: WorkerCandidatesFrame['candidates'][number]): Buffer {
    const att = verifier.verify(Buffer.from(c.attestation, 'base64'));
    const key = Buffer.from(c.hpkePublicKey, 'hex');
    if (!att.claims.hpkePublicKey?.equals(key)) throw new Error('attestation does not bind this key');
    return key;
}

describe('router-blind request', () => {
    it('validates at the proxy, opens at the worker, and streams back a sealed response', async () => {
        const key = verifiedKey(candidates.candidates[0]);
        const { frame, response: secret } = await sealRequestFrame({ hpkePublicKey: key }, fields, body);
        const clientText = encodeFrame(frame, 'client_to_proxy');
        expect(clientText).not.toContain('hunter2');

        // proxy: sees routing fields only
        const atProxy = parseFrame(clientText, 'client_to_proxy') as RequestFrame;
        expect(atProxy).toMatchObject({ model: MODEL, stream: true, maxTokens: 64, maxCoefficient: 1200n, sealed: { keyId: worker.keyId } });
        expect(atProxy.body).toBeUndefined();
        const toWorker = encodeFrame(atProxy, 'proxy_to_worker');

        // worker
        const req = parseFrame(toWorker, 'proxy_to_worker') as RequestFrame;
        const opened = await openRequestFrame(worker, req);
        expect(opened.body).toEqual(body);

        const pieces = ['{"choices":[{"delta":{"content":"hi"}}]}', '{"choices":[{"delta":{"content":" there"}}]}', ''];
        const start = sealStartFrame(opened.response, { id: ID, status: 200, headers: { 'content-type': 'text/event-stream' } });
        const startText = encodeFrame(start.frame, 'worker_to_proxy');
        const chunkTexts = pieces.map((p, i) => encodeFrame(sealChunkFrame(start.sealer, ID, p, i === pieces.length - 1), 'worker_to_proxy'));
        for (const t of chunkTexts) expect(t).not.toContain('there');

        // proxy relays, client opens
        const opener = openStartFrame(secret, parseFrame(relay(startText, 'worker_to_proxy', 'proxy_to_client'), 'proxy_to_client') as ResponseStartFrame);
        const got = chunkTexts.map((t) => openChunkFrame(opener, parseFrame(relay(t, 'worker_to_proxy', 'proxy_to_client'), 'proxy_to_client') as ResponseChunkFrame));
        expect(got).toEqual(pieces);
        expect(() => opener.finish()).not.toThrow();
    });

    it('the proxy cannot open the request, even relabelling the key id to its own', async () => {
        const { frame } = await sealRequestFrame({ hpkePublicKey: worker.publicKey }, fields, body);
        // a proxy with its own key, even relabelling the key id to its own
        expect(await codeOf(openRequestFrame(intruder, frame))).toBe('HPKE_KEY_MISMATCH');
        expect(await codeOf(openRequestFrame(intruder, { ...frame, sealed: { ...frame.sealed!, keyId: intruder.keyId } }))).toBe('HPKE_OPEN_FAILED');
    });

    it.each<[string, Partial<RequestFrame>]>([
        ['another request id', { id: 'ab'.repeat(16) }],
        ['another model', { model: 'cocoon-test/other' }],
        ['another endpoint', { endpoint: 'completions' }],
        ['another stream flag', { stream: false }],
        ['a larger token cap', { maxTokens: 65 }],
        ['a higher price cap', { maxCoefficient: 5000n }],
    ])('the worker refuses a request the proxy relabelled with %s', async (_n, change) => {
        const { frame } = await sealRequestFrame({ hpkePublicKey: worker.publicKey }, fields, body);
        const relabelled = parseFrame(encodeFrame({ ...frame, ...change }, 'proxy_to_worker'), 'proxy_to_worker') as RequestFrame;
        expect(await codeOf(openRequestFrame(worker, relabelled))).toBe('HPKE_OPEN_FAILED');
    });

    it('the client detects a response the proxy truncated, reordered or unsealed', async () => {
        const run = async () => {
            const s = await sealRequestFrame({ hpkePublicKey: worker.publicKey }, fields, body);
            const o = await openRequestFrame(worker, s.frame);
            const start = sealStartFrame(o.response, { id: ID, status: 200, headers: {} });
            const chunks = ['a', 'b', 'c'].map((p, i) => sealChunkFrame(start.sealer, ID, p, i === 2));
            return { opener: openStartFrame(s.response, start.frame), chunks };
        };
        const t = await run();
        openChunkFrame(t.opener, t.chunks[0]);
        openChunkFrame(t.opener, t.chunks[1]);
        expect(await codeOf(() => t.opener.finish())).toBe('HPKE_TRUNCATED'); // response_end arrived, final chunk dropped

        const r = await run();
        expect(await codeOf(() => openChunkFrame(r.opener, r.chunks[1]))).toBe('HPKE_CHUNK_ORDER');

        const u = await run();
        expect(await codeOf(() => openChunkFrame(u.opener, { type: 'response_chunk', v: 1, id: ID, seq: 0, data: 'injected' }))).toBe('WIRE_BAD_FIELD');
    });

    it('attack 19: a router that rewrites response_start (status 200→500, a header, the salt) makes the first chunk fail authentication', async () => {
        const s = await sealRequestFrame({ hpkePublicKey: worker.publicKey }, fields, body);
        const o = await openRequestFrame(worker, s.frame);
        const start = sealStartFrame(o.response, { id: ID, status: 200, headers: { 'content-type': 'text/event-stream' } });
        const chunk = sealChunkFrame(start.sealer, ID, '{"choices":[]}', true);
        const otherSalt = Buffer.alloc(32, 1).toString('base64');
        for (const forged of [
            { ...start.frame, status: 500 },
            { ...start.frame, headers: { 'content-type': 'application/json' } },
            { ...start.frame, headers: { ...start.frame.headers, 'retry-after': '1' } },
            { ...start.frame, salt: otherSalt },
        ]) {
            expect(await codeOf(() => openChunkFrame(openStartFrame(s.response, forged), chunk))).toBe('HPKE_OPEN_FAILED');
        }
        expect(await codeOf(() => openStartFrame(s.response, { ...start.frame, salt: undefined }))).toBe('WIRE_BAD_FIELD');
        expect(openChunkFrame(openStartFrame(s.response, start.frame), chunk)).toBe('{"choices":[]}');
    });

    it('a client cannot seal a body that disagrees with its routing fields', async () => {
        expect(await codeOf(sealRequestFrame({ hpkePublicKey: worker.publicKey }, fields, { ...body, model: 'other' }))).toBe('WIRE_BAD_FIELD');
        expect(await codeOf(sealRequestFrame({ hpkePublicKey: worker.publicKey }, fields, { ...body, stream: false }))).toBe('WIRE_BAD_FIELD');
    });

    it('the worker refuses a sealed plaintext that is not a JSON object, and a plain request', async () => {
        const s = await sealRequest(worker.publicKey, Buffer.from('[1,2,3]'), requestAad(fields, worker.keyId));
        const frame: RequestFrame = { type: 'request', v: 1, ...fields, sealed: { keyId: worker.keyId, enc: s.enc.toString('base64'), ct: s.ct.toString('base64') } };
        expect(await codeOf(openRequestFrame(worker, parseFrame(encodeFrame(frame), 'proxy_to_worker') as RequestFrame))).toBe('WIRE_BAD_FIELD');
        expect(await codeOf(openRequestFrame(worker, { type: 'request', v: 1, ...fields, body }))).toBe('WIRE_BAD_FIELD');
    });
});

describe('sealing input checks', () => {
    it('refuses routing fields that cannot be bound or would not validate', async () => {
        const seal = (f: Partial<RoutingFields>) => sealRequestFrame({ hpkePublicKey: worker.publicKey }, { ...fields, ...f }, { ...body, ...(f.model ? { model: f.model } : {}) });
        expect(await codeOf(seal({ maxCoefficient: 1n << 32n }))).toBe('WIRE_BAD_FIELD');
        expect(await codeOf(seal({ maxTokens: -1 }))).toBe('WIRE_BAD_FIELD');
        expect(await codeOf(seal({ id: 'xyz' }))).toBe('WIRE_BAD_FIELD');
        expect(await codeOf(seal({ model: 'm'.repeat(300) }))).toBe('WIRE_BAD_FIELD');
        expect(() => requestAad({ ...fields, maxCoefficient: -1n }, worker.keyId)).toThrow(expect.objectContaining({ code: 'WIRE_BAD_FIELD' }));
        expect(() => requestAad(fields, 'nothex')).toThrow(expect.objectContaining({ code: 'WIRE_BAD_FIELD' }));
    });
});
