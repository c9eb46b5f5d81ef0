// The sealed-blob format (spec/attestation.md "Blob format"): exact lengths, one encoding, and a total parser.
import { randomBytes } from 'crypto';
import fc from 'fast-check';
import { Address } from '@ton/core';
import { KeysError } from '../../../agents/core/keys/types';
import { MAX_BLOB_BYTES, MIN_BLOB_BYTES, openBlob, parseBlob, sealBlob, serviceIdOf } from '../../../agents/core/keys/blob';

const master = randomBytes(32);
const owner = Address.parse('-1:' + 'ab'.repeat(32));

describe('sealed blobs', () => {
    it('round-trips every secret length and name shape, with the documented length 96 + name + secret', () => {
        fc.assert(
            fc.property(fc.uint8Array({ minLength: 1, maxLength: 128 }), fc.stringMatching(/^[a-z0-9-]{1,32}$/), fc.constantFrom('proxy' as const, 'worker' as const), (secret, name, role) => {
                const blob = sealBlob(master, { role, owner, name }, Buffer.from(secret));
                expect(blob.length).toBe(96 + name.length + secret.length);
                expect(parseBlob(blob)).toMatchObject({ role, name, serviceId: serviceIdOf(master) });
                expect(parseBlob(blob).owner.equals(owner)).toBe(true);
                expect(openBlob(master, blob, { role, owner, name }).equals(Buffer.from(secret))).toBe(true);
            }),
            { numRuns: 300 },
        );
        expect([MIN_BLOB_BYTES, MAX_BLOB_BYTES]).toEqual([98, 256]);
    });

    it('refuses to seal what the format cannot carry', () => {
        for (const [name, secret] of [['', 1], ['UPPER', 1], ['a'.repeat(33), 1], ['seed', 0], ['seed', 129]] as const) {
            expect(() => sealBlob(master, { role: 'proxy', owner, name }, randomBytes(secret))).toThrow(expect.objectContaining({ code: 'KEYS_BAD_REQUEST' }));
        }
    });

    it('parser fuzz: 10,000 random and mutated inputs end in a KeysError or a valid parse, never anything else', () => {
        const good = sealBlob(master, { role: 'worker', owner, name: 'seed' }, randomBytes(32));
        const mutated = fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const b = Buffer.from(good);
            b[i] ^= x;
            return b;
        });
        const sliced = fc.nat(good.length + 4).map((n) => Buffer.concat([good, randomBytes(4)]).subarray(0, n));
        const random = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
        let opened = 0;
        let intact = 0;
        fc.assert(
            fc.property(fc.oneof(mutated, sliced, random), (b) => {
                if (b.equals(good)) intact++;
                try {
                    openBlob(master, b, { role: 'worker', owner, name: 'seed' });
                    opened++;
                } catch (e) {
                    expect(e).toBeInstanceOf(KeysError);
                    expect(['KEYS_BAD_REQUEST', 'KEYS_WRONG_SERVICE', 'KEYS_UNSEAL_FAILED']).toContain((e as KeysError).code);
                }
            }),
            { numRuns: 10_000 },
        );
        expect(opened).toBe(intact); // only the blob itself opens: no change of a byte, length or tail does
    });
});
