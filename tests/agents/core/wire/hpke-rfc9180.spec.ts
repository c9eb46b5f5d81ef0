// agents/core/hpke.ts implements RFC 9180 base mode for our one suite on node:crypto (spec/wire.md, "Router-blind
// mode": why not @hpke/core). These tests prove it is that suite: the RFC's own vector (A.1.1, every published
// ciphertext and exported value), and both directions against @hpke/core, which stays here as the reference.
import { inspect } from 'util';
import fc from 'fast-check';
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import {
    deriveHpkeKeyPair,
    generateHpkeKeyPair,
    HPKE_INFO,
    openRequest,
    RESPONSE_EXPORT_LABEL,
    ResponseSecret,
    sealRequest,
    setupBaseRecipient,
    setupBaseSender,
} from '../../../../agents/core/hpke';
import vector from './vectors/rfc9180-a.1.1.json';
import { codeOf } from './hpke-code';

const hex = (s: string) => Buffer.from(s, 'hex');
const reference = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

describe('RFC 9180 A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode', () => {
    it('is the vector of our suite (mode 0, kem 0x0020, kdf 0x0001, aead 0x0001)', () => {
        expect([vector.mode, vector.kem_id, vector.kdf_id, vector.aead_id]).toEqual([0, 0x20, 1, 1]);
    });

    it('DeriveKeyPair gives the published recipient and ephemeral public keys', async () => {
        expect((await deriveHpkeKeyPair(hex(vector.ikmR))).publicKey.toString('hex')).toBe(vector.pkRm);
        expect((await deriveHpkeKeyPair(hex(vector.ikmE))).publicKey.toString('hex')).toBe(vector.pkEm);
        expect(vector.enc).toBe(vector.pkEm);
    });

    it('the sender gives enc, every published ciphertext (sequence 0 … 256) and every exported value', async () => {
        const { enc, ctx } = setupBaseSender(hex(vector.pkRm), hex(vector.info), hex(vector.ikmE));
        expect(enc.toString('hex')).toBe(vector.enc);
        const bySeq = new Map(vector.encryptions.map((e) => [e.seq, e]));
        for (let seq = 0; seq <= 256; seq++) {
            const e = bySeq.get(seq);
            const ct = ctx.seal(hex(e?.pt ?? ''), hex(e?.aad ?? ''));
            if (e) expect(ct.toString('hex')).toBe(e.ct);
        }
        for (const x of vector.exports) expect(ctx.export(hex(x.exporter_context), x.L).toString('hex')).toBe(x.exported_value);
    });

    it('the recipient opens every published ciphertext in sequence and exports the same values', async () => {
        const kp = await deriveHpkeKeyPair(hex(vector.ikmR));
        const ctx = setupBaseRecipient(kp, hex(vector.enc), hex(vector.info));
        const sender = setupBaseSender(hex(vector.pkRm), hex(vector.info), hex(vector.ikmE)).ctx;
        const bySeq = new Map(vector.encryptions.map((e) => [e.seq, e]));
        for (let seq = 0; seq <= 256; seq++) {
            const e = bySeq.get(seq);
            // the sequences the RFC does not print are filled by our sender (its listed ones are checked above)
            const ct = e ? hex(e.ct) : sender.seal(Buffer.alloc(0), Buffer.alloc(0));
            if (e) sender.seal(hex(e.pt), hex(e.aad));
            const pt = ctx.open(ct, hex(e?.aad ?? ''));
            if (e) expect(pt.toString('hex')).toBe(e.pt);
        }
        for (const x of vector.exports) expect(ctx.export(hex(x.exporter_context), x.L).toString('hex')).toBe(x.exported_value);
    });

    it('a published ciphertext at the wrong sequence or with another aad does not open (HPKE_OPEN_FAILED)', async () => {
        const kp = await deriveHpkeKeyPair(hex(vector.ikmR));
        const [first, second] = vector.encryptions;
        expect(await codeOf(() => setupBaseRecipient(kp, hex(vector.enc), hex(vector.info)).open(hex(second.ct), hex(second.aad)))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(() => setupBaseRecipient(kp, hex(vector.enc), hex(vector.info)).open(hex(first.ct), hex(second.aad)))).toBe('HPKE_OPEN_FAILED');
    });
});

describe('cross-check with @hpke/core (the reference implementation), both directions', () => {
    const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });
    const info = fc.oneof(fc.constant(new Uint8Array(HPKE_INFO)), bytes(48));

    it('same key pair from a seed; ours seals → @hpke/core opens; @hpke/core seals → ours opens; same exports', async () => {
        await fc.assert(
            fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 64 }), bytes(600), bytes(64), info, bytes(40), fc.integer({ min: 1, max: 80 }), async (seed, pt, aad, inf, exp, len) => {
                const ours = await deriveHpkeKeyPair(seed);
                const ref = await reference.kem.deriveKeyPair(seed);
                expect(Buffer.from(await reference.kem.serializePublicKey(ref.publicKey)).equals(ours.publicKey)).toBe(true);

                const s = setupBaseSender(ours.publicKey, inf);
                const ct = s.ctx.seal(pt, aad);
                const r = await reference.createRecipientContext({ recipientKey: ref.privateKey, enc: s.enc, info: inf });
                expect(Buffer.from(await r.open(ct, aad)).equals(Buffer.from(pt))).toBe(true);
                expect(Buffer.from(await r.export(exp, len)).equals(s.ctx.export(exp, len))).toBe(true);
                // a second message in the same context (sequence 1) agrees too
                expect(Buffer.from(await r.open(s.ctx.seal(aad, pt), pt)).equals(Buffer.from(aad))).toBe(true);

                const rs = await reference.createSenderContext({ recipientPublicKey: ref.publicKey, info: inf });
                const rct = Buffer.from(await rs.seal(pt, aad));
                const o = setupBaseRecipient(ours, Buffer.from(rs.enc), inf);
                expect(o.open(rct, aad).equals(Buffer.from(pt))).toBe(true);
                expect(o.export(exp, len).equals(Buffer.from(await rs.export(exp, len)))).toBe(true);
            }),
            { numRuns: 25 },
        );
    });

    it('sealRequest / openRequest (what the agents call) interoperate with @hpke/core under info "cocoon-ts/request/v1"', async () => {
        const seed = Buffer.alloc(32, 9);
        const ours = await deriveHpkeKeyPair(seed);
        const ref = await reference.kem.deriveKeyPair(seed);
        const body = Buffer.from('{"model":"m","messages":[]}');
        const aad = Buffer.from('routing fields');
        const s = await sealRequest(ours.publicKey, body, aad);
        const r = await reference.createRecipientContext({ recipientKey: ref.privateKey, enc: s.enc, info: HPKE_INFO });
        expect(Buffer.from(await r.open(s.ct, aad)).equals(body)).toBe(true);
        const rs = await reference.createSenderContext({ recipientPublicKey: ref.publicKey, info: HPKE_INFO });
        const opened = await openRequest(ours, Buffer.from(rs.enc), Buffer.from(await rs.seal(body, aad)), aad);
        expect(opened.plaintext.equals(body)).toBe(true);
        // the response secret both ends derive is the reference's export("cocoon response", 32): same response key
        const salt = Buffer.alloc(32, 1);
        const refSecret = new ResponseSecret(Buffer.from(await rs.export(RESPONSE_EXPORT_LABEL, 32)));
        const chunk = opened.response.seal(Buffer.from('start'), salt).sealer.seal(Buffer.from('hello'), true);
        expect(refSecret.open(salt, Buffer.from('start')).open(chunk).toString()).toBe('hello');
    });
});

describe('bad keys stay typed errors', () => {
    // X25519 points of small order (RFC 7748 §6.1; the list libsodium and others refuse), and two with bit 255 set,
    // which X25519 ignores: each makes the shared secret all zero, so they must be refused, never used.
    const lowOrder = [
        '0000000000000000000000000000000000000000000000000000000000000000',
        '0100000000000000000000000000000000000000000000000000000000000000',
        'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
        '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
        'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
        'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
        'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
        '0000000000000000000000000000000000000000000000000000000000000080',
        'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
    ];

    it('sealing to a low-order worker key is HPKE_BAD_KEY; a low-order or mis-sized enc fails to open (HPKE_OPEN_FAILED)', async () => {
        const worker = await generateHpkeKeyPair();
        const good = await sealRequest(worker.publicKey, Buffer.from('x'), Buffer.from('a'));
        for (const p of lowOrder) {
            expect(await codeOf(sealRequest(hex(p), Buffer.from('x'), Buffer.from('a')))).toBe('HPKE_BAD_KEY');
            expect(await codeOf(() => setupBaseSender(hex(p), HPKE_INFO))).toBe('HPKE_BAD_KEY');
            expect(await codeOf(openRequest(worker, hex(p), good.ct, Buffer.from('a')))).toBe('HPKE_OPEN_FAILED');
            expect(await codeOf(() => setupBaseRecipient(worker, hex(p), HPKE_INFO))).toBe('HPKE_BAD_KEY');
        }
        for (const n of [0, 31, 33]) expect(await codeOf(openRequest(worker, Buffer.alloc(n, 7), good.ct, Buffer.from('a')))).toBe('HPKE_OPEN_FAILED');
        expect(await codeOf(openRequest({ ...worker, privateKey: 'x' as never }, good.enc, good.ct, Buffer.from('a')))).toBe('HPKE_BAD_KEY');
        expect((await openRequest(worker, good.enc, good.ct, Buffer.from('a'))).plaintext.toString()).toBe('x');
    });

    it('the private key stays a KeyObject: neither JSON nor inspect of the key pair shows it', async () => {
        const kp = await deriveHpkeKeyPair(Buffer.alloc(32, 3));
        const d = kp.privateKey.export({ format: 'jwk' }).d as string;
        const raw = Buffer.from(d, 'base64url');
        for (const shown of [JSON.stringify(kp), inspect(kp, { depth: 5, showHidden: true })]) {
            for (const enc of [d, raw.toString('hex'), raw.toString('base64')]) expect(shown.includes(enc)).toBe(false);
        }
    });
});
