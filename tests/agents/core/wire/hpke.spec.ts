// Router-blind sealing primitives (agents/core/hpke.ts): request sealing, the exported response key, and the
// chunk sequence rules that make reordering, replay and truncation visible.
import { createHash } from 'crypto';
import {
    deriveHpkeKeyPair,
    generateHpkeKeyPair,
    HpkeKeyPair,
    hpkeKeyId,
    openRequest,
    ReplayCache,
    ResponseOpener,
    ResponseSealer,
    SealedChunk,
    sealRequest,
} from '../../../../agents/core/hpke';
import { codeOf } from './hpke-code';

const flip = (b: Buffer, i: number) => {
    const c = Buffer.from(b);
    c[i % c.length] ^= 0x01;
    return c;
};

let worker: HpkeKeyPair;
let other: HpkeKeyPair;
const aad = Buffer.from('request 0123 / cocoon-test/echo-tiny');
const body = Buffer.from(JSON.stringify({ model: 'cocoon-test/echo-tiny', messages: [{ role: 'user', content: 'the secret is 42' }] }));

beforeAll(async () => {
    worker = await generateHpkeKeyPair();
    other = await generateHpkeKeyPair();
});

describe('keys', () => {
    it('are 32-byte X25519 keys named by the SHA-256 of the public key', async () => {
        expect(worker.publicKey).toHaveLength(32);
        expect(worker.keyId).toBe(createHash('sha256').update(worker.publicKey).digest('hex'));
        expect(hpkeKeyId(worker.publicKey)).toBe(worker.keyId);
        expect(worker.keyId).not.toBe(other.keyId);
    });

    it('derive deterministically from a seed', async () => {
        const seed = Buffer.alloc(32, 5);
        const a = await deriveHpkeKeyPair(seed);
        const b = await deriveHpkeKeyPair(seed);
        expect(a.publicKey.equals(b.publicKey)).toBe(true);
        expect(await codeOf(deriveHpkeKeyPair(Buffer.alloc(31)))).toBe('HPKE_BAD_KEY');
    });

    it('refuses a public key of the wrong size with HPKE_BAD_KEY', async () => {
        expect(await codeOf(sealRequest(Buffer.alloc(31, 1), body, aad))).toBe('HPKE_BAD_KEY');
        expect(await codeOf(sealRequest(Buffer.alloc(33, 1), body, aad))).toBe('HPKE_BAD_KEY');
        expect(await codeOf(sealRequest('x' as never, body, aad))).toBe('HPKE_BAD_KEY');
    });
});

describe('requests', () => {
    it('round-trip, and the ciphertext does not contain the plaintext', async () => {
        const s = await sealRequest(worker.publicKey, body, aad);
        expect(s.enc).toHaveLength(32);
        expect(s.ct).toHaveLength(body.length + 16);
        expect(s.keyId).toBe(worker.keyId);
        expect(s.ct.includes(Buffer.from('secret'))).toBe(false);
        const o = await openRequest(worker, s.enc, s.ct, aad);
        expect(o.plaintext.equals(body)).toBe(true);
    });

    it('sealing twice gives different ciphertexts (fresh ephemeral key)', async () => {
        const a = await sealRequest(worker.publicKey, body, aad);
        const b = await sealRequest(worker.publicKey, body, aad);
        expect(a.enc.equals(b.enc)).toBe(false);
        expect(a.ct.equals(b.ct)).toBe(false);
    });

    it('fail to open with another key (the proxy holds none of the worker keys): HPKE_OPEN_FAILED', async () => {
        const s = await sealRequest(worker.publicKey, body, aad);
        expect(await codeOf(openRequest(other, s.enc, s.ct, aad))).toBe('HPKE_OPEN_FAILED');
    });

    it('fail to open when ct, enc or aad is altered', async () => {
        const s = await sealRequest(worker.publicKey, body, aad);
        for (const i of [0, 17, s.ct.length - 1]) expect(await codeOf(openRequest(worker, s.enc, flip(s.ct, i), aad))).toBe('HPKE_OPEN_FAILED');
        for (const i of [0, 31]) expect(await codeOf(openRequest(worker, flip(s.enc, i), s.ct, aad))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(openRequest(worker, s.enc, s.ct, flip(aad, 8)))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(openRequest(worker, s.enc, s.ct, Buffer.alloc(0)))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(openRequest(worker, s.enc, s.ct.subarray(0, s.ct.length - 1), aad))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(openRequest(worker, s.enc.subarray(0, 31), s.ct, aad))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(openRequest(worker, Buffer.alloc(32), s.ct, aad))).toBe('HPKE_OPEN_FAILED');
    });
});

describe('streamed responses', () => {
    async function pair(): Promise<{ sealer: ResponseSealer; opener: ResponseOpener }> {
        const s = await sealRequest(worker.publicKey, body, aad);
        const o = await openRequest(worker, s.enc, s.ct, aad);
        const { salt, sealer } = o.response.seal(Buffer.from('start'));
        return { sealer, opener: s.response.open(salt, Buffer.from('start')) };
    }
    const texts = ['{"delta":"The"}', '{"delta":" answer"}', '', '{"delta":" is 42"}'];
    function sealAll(sealer: ResponseSealer): SealedChunk[] {
        return texts.map((t, i) => sealer.seal(Buffer.from(t), i === texts.length - 1));
    }

    it('round-trip in order, ending with the final chunk', async () => {
        const { sealer, opener } = await pair();
        const chunks = sealAll(sealer);
        expect(chunks.map((c) => c.seq)).toEqual([0, 1, 2, 3]);
        expect(chunks.map((c) => c.final)).toEqual([false, false, false, true]);
        expect(chunks.map((c) => opener.open(c).toString())).toEqual(texts);
        expect(opener.finished).toBe(true);
        expect(() => opener.finish()).not.toThrow();
        expect(sealer.finished).toBe(true);
        expect(await codeOf(() => sealer.seal(Buffer.from('more')))).toBe('HPKE_CHUNK_ORDER');
    });

    it('detect reordered chunks', async () => {
        const { sealer, opener } = await pair();
        const c = sealAll(sealer);
        opener.open(c[0]);
        expect(await codeOf(() => opener.open(c[2]))).toBe('HPKE_CHUNK_ORDER');
        // relabelling the chunk with the expected seq does not help: the nonce and AAD disagree
        expect(await codeOf(() => opener.open({ ...c[2], seq: 1 }))).toBe('HPKE_OPEN_FAILED');
        expect(opener.open(c[1]).toString()).toBe(texts[1]); // the genuine one still opens
    });

    it('detect a replayed chunk', async () => {
        const { sealer, opener } = await pair();
        const c = sealAll(sealer);
        opener.open(c[0]);
        opener.open(c[1]);
        expect(await codeOf(() => opener.open(c[1]))).toBe('HPKE_CHUNK_ORDER');
        expect(await codeOf(() => opener.open(c[0]))).toBe('HPKE_CHUNK_ORDER');
    });

    it('detect truncation: a response that ends before its final chunk', async () => {
        const { sealer, opener } = await pair();
        const c = sealAll(sealer);
        opener.open(c[0]);
        opener.open(c[1]);
        expect(await codeOf(() => opener.finish())).toBe('HPKE_TRUNCATED');
        // claiming an earlier chunk was the final one fails authentication
        const { sealer: s2, opener: o2 } = await pair();
        const d = sealAll(s2);
        o2.open(d[0]);
        expect(await codeOf(() => o2.open({ ...d[1], final: true }))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(() => o2.finish())).toBe('HPKE_TRUNCATED');
    });

    it('detect a chunk appended after the final one, and an unmarked final chunk', async () => {
        const { sealer, opener } = await pair();
        const c = sealAll(sealer);
        c.forEach((x) => opener.open(x));
        expect(await codeOf(() => opener.open({ ...c[3], seq: 4 }))).toBe('HPKE_CHUNK_ORDER');
        const { sealer: s2, opener: o2 } = await pair();
        const d = sealAll(s2);
        [0, 1, 2].forEach((i) => o2.open(d[i]));
        expect(await codeOf(() => o2.open({ ...d[3], final: false }))).toBe('HPKE_OPEN_FAILED');
    });

    it('detect tampered chunks and chunks of another request', async () => {
        const a = await pair();
        const b = await pair();
        const ca = sealAll(a.sealer);
        const cb = sealAll(b.sealer);
        expect(await codeOf(() => a.opener.open({ ...ca[0], ct: flip(ca[0].ct, 3) }))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(() => a.opener.open({ ...ca[0], ct: ca[0].ct.subarray(0, 15) }))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(() => a.opener.open(cb[0]))).toBe('HPKE_OPEN_FAILED');
        expect(a.opener.open(ca[0]).toString()).toBe(texts[0]); // a failed chunk does not advance the sequence
    });
});

describe('replay cache (attack 12)', () => {
    it('refuses a repeated encapsulation, forgets the oldest past its capacity, and remembers nothing at capacity 0', () => {
        const enc = (i: number) => Buffer.alloc(32, i);
        const c = new ReplayCache(2);
        expect(c.add(enc(1))).toBe(true);
        expect(c.add(enc(1))).toBe(false);
        expect(c.add(enc(2))).toBe(true);
        expect(c.add(enc(3))).toBe(true); // evicts enc(1)
        expect(c.size).toBe(2);
        expect(c.add(enc(3))).toBe(false);
        expect(c.add(enc(1))).toBe(true); // forgotten: served again, under a fresh response key (ResponseSecret)
        const off = new ReplayCache(0);
        expect(off.add(enc(1)) && off.add(enc(1))).toBe(true);
        expect(() => new ReplayCache(-1)).toThrow(RangeError);
    });

    it('the same request opened twice yields two unrelated response keys (fresh salt each time)', async () => {
        const s = await sealRequest(worker.publicKey, body, aad);
        const [a, b] = [await openRequest(worker, s.enc, s.ct, aad), await openRequest(worker, s.enc, s.ct, aad)].map((o) => o.response.seal(Buffer.from('start')));
        expect(a.salt.equals(b.salt)).toBe(false);
        const pt = Buffer.from('the same plaintext');
        const [ca, cb] = [a.sealer.seal(pt, true), b.sealer.seal(pt, true)];
        expect(ca.ct.equals(cb.ct)).toBe(false);
        expect(s.response.open(a.salt, Buffer.from('start')).open(ca).equals(pt)).toBe(true);
        expect(await codeOf(() => s.response.open(a.salt, Buffer.from('start')).open(cb))).toBe('HPKE_OPEN_FAILED');
    });
});
