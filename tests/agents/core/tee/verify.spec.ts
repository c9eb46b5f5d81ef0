// The production verifier against quotes and collateral of the simulated TEE: every rejection has its own code,
// v4 and v5 (TDX 1.0 / 1.5 bodies) quotes verify, and @phala/dcap-qvl agrees on the collateral path.
import { QuoteVerifier } from '@phala/dcap-qvl';
import { generateKeyPairSync, sign } from 'crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ecPoint } from '../../../../agents/core/tee/certs';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { Collateral, INTEL_ROOT_KEY_ID, VerifyPolicy } from '../../../../agents/core/tee/types';
import { verifyQuote } from '../../../../agents/core/tee/verify';
import { chainDer, chainPem, codeOf, flipBit, offsets, withPemChain } from './util';

const REPORT_DATA = Buffer.alloc(64, 0x5a);

let tee: SimulatedTee;
let other: SimulatedTee;
let quote: Buffer;
let collateral: Collateral;

beforeAll(async () => {
    [tee, other] = await Promise.all([
        SimulatedTee.create({ notBefore: new Date(Date.now() - 90 * 86400_000) }),
        SimulatedTee.create({ organization: 'Another simulated PKI' }),
    ]);
    quote = await tee.getQuote(REPORT_DATA);
    collateral = await tee.signCollateral();
});

function policy(extra: Partial<VerifyPolicy> = {}): VerifyPolicy {
    return { trustedRootKeyIds: [tee.rootKeyId], at: new Date(), collateral, requireCollateral: true, ...extra };
}

function dcap(q: Buffer, c: Collateral, at = new Date()): string {
    try {
        return QuoteVerifier.newWithRootCa(tee.rootCertDer).verify(q, c as never, Math.floor(at.getTime() / 1000)).status;
    } catch (e) {
        return `rejected: ${(e as Error).message}`;
    }
}

describe('simulated TEE quotes through the production verifier', () => {
    it('accepts a v4 quote when the simulated root is explicitly trusted, binding REPORTDATA', () => {
        const v = verifyQuote(quote, policy());
        expect(v.rootKeyId).toBe(tee.rootKeyId);
        expect(v.tcbStatus).toBe('UpToDate');
        expect(v.debug).toBe(false);
        expect(v.quote.version).toBe(4);
        expect(v.quote.body.reportData).toEqual(REPORT_DATA);
        expect(v.quote.body.mrTd).toEqual(tee.measurements.mrTd);
        expect(v.fmspc).toBe('00c06f000000');
        expect(dcap(quote, collateral)).toBe('UpToDate');
    });

    it.each(['tdx10', 'tdx15'] as const)('accepts a v5 quote with a %s body', (bodyType) => {
        const q = tee.makeQuote(REPORT_DATA, { layout: { version: 5, bodyType } });
        expect(q.readUInt16LE(0)).toBe(5);
        expect(q.readUInt16LE(48)).toBe(bodyType === 'tdx15' ? 3 : 2);
        const v = verifyQuote(q, policy());
        expect(v.quote.version).toBe(5);
        expect(v.quote.bodyType).toBe(bodyType);
        expect(v.quote.body.reportData).toEqual(REPORT_DATA);
        expect(v.quote.body.teeTcbSvn2 !== undefined).toBe(bodyType === 'tdx15');
        expect(v.tcbStatus).toBe('UpToDate');
        expect(dcap(q, collateral)).toBe('UpToDate');
        // The image hash does not depend on the quote layout.
        expect(v.imageHash).toEqual(verifyQuote(quote, policy()).imageHash);
    });

    it('UNTRUSTED_ROOT under a production (Intel-only) policy: there is no trust-anything mode', () => {
        expect(codeOf(() => verifyQuote(quote, policy({ trustedRootKeyIds: [INTEL_ROOT_KEY_ID], collateral: undefined, requireCollateral: false })))).toBe('UNTRUSTED_ROOT');
        expect(codeOf(() => verifyQuote(quote, policy({ trustedRootKeyIds: [other.rootKeyId] })))).toBe('UNTRUSTED_ROOT');
        expect(codeOf(() => verifyQuote(quote, policy({ trustedRootKeyIds: [] })))).toBe('POLICY_INVALID');
    });

    it('DEBUG_TD when TDATTRIBUTES bit 0 is set, even if the policy lists nothing else', () => {
        const q = tee.makeQuote(REPORT_DATA, { measurements: { tdAttributes: Buffer.from('0100001000000000', 'hex') } });
        expect(codeOf(() => verifyQuote(q, policy()))).toBe('DEBUG_TD');
        expect(codeOf(() => verifyQuote(q, policy({ collateral: undefined, requireCollateral: false })))).toBe('DEBUG_TD');
        // A policy cannot allow debug TDs.
        expect(codeOf(() => verifyQuote(q, policy({ allowedTdAttributes: ['0100001000000000'] })))).toBe('POLICY_INVALID');
    });

    it('QE_REPORT_DATA when the attestation key is swapped for an attacker key (quote re-signed with it)', () => {
        const o = offsets(quote);
        const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const forged = Buffer.from(quote);
        sign('sha256', forged.subarray(0, o.signedEnd), { key: attacker.privateKey, dsaEncoding: 'ieee-p1363' }).copy(forged, o.sigStart);
        ecPoint(attacker.publicKey).subarray(1).copy(forged, o.attKey);
        expect(codeOf(() => verifyQuote(forged, policy()))).toBe('QE_REPORT_DATA');
    });

    it('QE_REPORT_DATA when the QE auth data is altered', () => {
        expect(codeOf(() => verifyQuote(flipBit(quote, offsets(quote).auth + 5), policy()))).toBe('QE_REPORT_DATA');
    });

    it('QE_REPORT_SIGNATURE when the QE report is altered or its signature is not the PCK key', () => {
        const o = offsets(quote);
        expect(codeOf(() => verifyQuote(flipBit(quote, o.qeReport + 320), policy()))).toBe('QE_REPORT_SIGNATURE');
        expect(codeOf(() => verifyQuote(flipBit(quote, o.qeReportSig + 10), policy()))).toBe('QE_REPORT_SIGNATURE');
    });

    it('QUOTE_SIGNATURE when one bit of MRTD (or the header) is flipped', () => {
        expect(codeOf(() => verifyQuote(flipBit(quote, 48 + 136, 0), policy()))).toBe('QUOTE_SIGNATURE');
        expect(codeOf(() => verifyQuote(flipBit(quote, 30, 2), policy()))).toBe('QUOTE_SIGNATURE');
        expect(codeOf(() => verifyQuote(flipBit(quote, offsets(quote).sigStart + 3), policy()))).toBe('QUOTE_SIGNATURE');
    });

    it('QUOTE_SIGNATURE when the attestation key is not a P-256 point', () => {
        const bad = Buffer.from(quote);
        bad.fill(0xff, offsets(quote).attKey, offsets(quote).attKey + 64);
        // The QE report data no longer matches either; the binding is checked first.
        expect(codeOf(() => verifyQuote(bad, policy()))).toBe('QE_REPORT_DATA');
    });

    describe('PCK_CHAIN_INVALID', () => {
        it('when the PCK certificate signature is altered', () => {
            const [leaf, ca, root] = chainDer(quote);
            const bad = Buffer.from(leaf);
            bad[bad.length - 2] ^= 0x40;
            expect(codeOf(() => verifyQuote(withPemChain(quote, chainPem([bad, ca, root])), policy()))).toBe('PCK_CHAIN_INVALID');
        });

        it('when the PCK CA comes from another PKI under the same names', () => {
            const [leaf, , root] = chainDer(quote);
            const [, otherCa] = chainDer(other.makeQuote(REPORT_DATA));
            expect(codeOf(() => verifyQuote(withPemChain(quote, chainPem([leaf, otherCa, root])), policy()))).toBe('PCK_CHAIN_INVALID');
        });

        it('when the chain is too short, too long, or out of order', () => {
            const [leaf, ca, root] = chainDer(quote);
            for (const c of [[leaf, root], [leaf, ca, root, root], [ca, leaf, root], [leaf, ca, ca]]) {
                expect(codeOf(() => verifyQuote(withPemChain(quote, chainPem(c)), policy({ collateral: undefined, requireCollateral: false })))).toMatch(/PCK_CHAIN_INVALID|UNTRUSTED_ROOT/);
            }
            expect(codeOf(() => verifyQuote(withPemChain(quote, chainPem([ca, leaf, root])), policy()))).toBe('PCK_CHAIN_INVALID');
        });

        it('when a certificate is outside its validity at policy.at', async () => {
            const old = await SimulatedTee.create({ notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
            const q = await old.getQuote(REPORT_DATA);
            const p = { trustedRootKeyIds: [old.rootKeyId], requireCollateral: false };
            expect(verifyQuote(q, { ...p, at: new Date('2020-06-01T00:00:00Z') }).rootKeyId).toBe(old.rootKeyId);
            expect(codeOf(() => verifyQuote(q, { ...p, at: new Date('2021-06-01T00:00:00Z') }))).toBe('PCK_CHAIN_INVALID');
        });

        it('when the PEM chain holds something that is not a certificate', () => {
            const junk = Buffer.from('this is not a certificate at all, just some bytes....').toString('base64');
            const pem = `-----BEGIN CERTIFICATE-----\n${junk}\n-----END CERTIFICATE-----\n`;
            expect(codeOf(() => verifyQuote(withPemChain(quote, pem + pem + pem), policy()))).toBe('PCK_CHAIN_INVALID');
        });
    });

    describe('collateral', () => {
        it('COLLATERAL_MISSING when the policy requires it and none is given', () => {
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: undefined })))).toBe('COLLATERAL_MISSING');
            expect(verifyQuote(quote, policy({ collateral: undefined, requireCollateral: false })).tcbStatus).toBeUndefined();
        });

        it('COLLATERAL_EXPIRED outside issueDate..nextUpdate (and dcap-qvl agrees)', async () => {
            const c = await tee.signCollateral({ issueDate: new Date(Date.now() - 40 * 86400_000), nextUpdate: new Date(Date.now() - 10 * 86400_000) });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: c })))).toBe('COLLATERAL_EXPIRED');
            expect(dcap(quote, c)).toMatch(/^rejected: .*expired/);
            const future = await tee.signCollateral({ issueDate: new Date(Date.now() + 86400_000) });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: future })))).toBe('COLLATERAL_EXPIRED');
            // The same collateral is fine at a time inside its window.
            expect(verifyQuote(quote, policy({ collateral: c, at: new Date(Date.now() - 20 * 86400_000) })).tcbStatus).toBe('UpToDate');
        });

        it('COLLATERAL_INVALID when TCB info or QE identity text is altered after signing', () => {
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: { ...collateral, tcb_info: collateral.tcb_info.replace('"UpToDate"', '"OutOfDate"') } })))).toBe('COLLATERAL_INVALID');
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: { ...collateral, qe_identity: collateral.qe_identity + ' ' } })))).toBe('COLLATERAL_INVALID');
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: { ...collateral, tcb_info_signature: '00'.repeat(64) } })))).toBe('COLLATERAL_INVALID');
        });

        it('COLLATERAL_INVALID when the collateral is signed under another root', async () => {
            const foreign = await other.signCollateral();
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: foreign })))).toBe('COLLATERAL_INVALID');
        });

        it('COLLATERAL_INVALID for malformed collateral or collateral for another FMSPC', async () => {
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: { ...collateral, tcb_info: '{' } })))).toBe('COLLATERAL_INVALID');
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: { ...collateral, pck_crl: 'zz' } })))).toBe('COLLATERAL_INVALID');
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: 'nonsense' as unknown as Collateral })))).toBe('COLLATERAL_INVALID');
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: { ...collateral, pck_crl: collateral.root_ca_crl } })))).toBe('COLLATERAL_INVALID');
            const c = await tee.signCollateral({ fmspc: '112233445566' });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: c })))).toBe('COLLATERAL_INVALID');
        });

        it('PCK_REVOKED when the PCK certificate or the PCK CA is on a CRL', async () => {
            const [leafRevoked, caRevoked] = await Promise.all([tee.signCollateral({ revokePck: true }), tee.signCollateral({ revokePckCa: true })]);
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: leafRevoked })))).toBe('PCK_REVOKED');
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: caRevoked })))).toBe('PCK_REVOKED');
            expect(dcap(quote, leafRevoked)).toMatch(/^rejected: .*revoked/i);
        });

        it('QE_IDENTITY when the QE does not match the QE identity', async () => {
            const c = await tee.signCollateral({ editQeIdentity: (o) => (o.mrsigner = 'AA'.repeat(32)) });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: c })))).toBe('QE_IDENTITY');
            const c2 = await tee.signCollateral({ editQeIdentity: (o) => (o.isvprodid = 1) });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: c2 })))).toBe('QE_IDENTITY');
        });

        it('TCB_STATUS when the platform status is not accepted; accepted statuses pass with advisories', async () => {
            const c = await tee.signCollateral({ tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00999'] });
            let err: unknown;
            try {
                verifyQuote(quote, policy({ collateral: c }));
            } catch (e) {
                err = e;
            }
            expect(err).toMatchObject({ code: 'TCB_STATUS', details: { tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00999'] } });
            const v = verifyQuote(quote, policy({ collateral: c, acceptedTcbStatuses: ['UpToDate', 'OutOfDate'] }));
            expect(v.tcbStatus).toBe('OutOfDate');
            expect(v.advisoryIds).toEqual(['INTEL-SA-00999']);
            expect(dcap(quote, c)).toBe('OutOfDate');
        });

        it('TCB_STATUS when no TCB level matches the platform (and dcap-qvl agrees)', async () => {
            const c = await tee.signCollateral({ requireNewerPlatform: true });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: c, acceptedTcbStatuses: ['UpToDate', 'OutOfDate'] })))).toBe('TCB_STATUS');
            expect(dcap(quote, c)).toMatch(/^rejected: No matching TCB level/);
        });

        it('TCB_STATUS from the QE identity and TDX module levels (worst status wins)', async () => {
            const qeOld = await tee.signCollateral({ qeTcbStatus: 'OutOfDate' });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: qeOld })))).toBe('TCB_STATUS');
            const modConf = await tee.signCollateral({ tdxModuleStatus: 'OutOfDate', tcbStatus: 'ConfigurationNeeded' });
            let err: unknown;
            try {
                verifyQuote(quote, policy({ collateral: modConf }));
            } catch (e) {
                err = e;
            }
            expect(err).toMatchObject({ code: 'TCB_STATUS', details: { tcbStatus: 'OutOfDateConfigurationNeeded' } });
        });

        it('Revoked TCB is never accepted', async () => {
            const c = await tee.signCollateral({ tcbStatus: 'Revoked' });
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: c })))).toBe('TCB_STATUS');
            expect(codeOf(() => verifyQuote(quote, policy({ collateral: c, acceptedTcbStatuses: ['Revoked'] })))).toBe('POLICY_INVALID');
        });
    });

    describe('TD policy and image', () => {
        it('TD_ATTRIBUTES when TDATTRIBUTES is not in the allowlist', () => {
            const q = tee.makeQuote(REPORT_DATA, { measurements: { tdAttributes: Buffer.from('0000000000000000', 'hex') } });
            expect(codeOf(() => verifyQuote(q, policy({ allowedTdAttributes: ['0000001000000000'] })))).toBe('TD_ATTRIBUTES');
            expect(verifyQuote(quote, policy({ allowedTdAttributes: ['0000001000000000'] })).rootKeyId).toBe(tee.rootKeyId);
        });

        it('XFAM when XFAM is not in the allowlist', () => {
            const q = tee.makeQuote(REPORT_DATA, { measurements: { xfam: Buffer.from('e718060000000000', 'hex') } });
            expect(codeOf(() => verifyQuote(q, policy({ allowedXfam: ['e702060000000000'] })))).toBe('XFAM');
            expect(verifyQuote(q, policy({ allowedXfam: ['e702060000000000', 'E718060000000000'] })).quote.body.xfam.toString('hex')).toBe('e718060000000000');
        });

        it('IMAGE_NOT_ALLOWED for another image (different RTMR1); the allowed image passes', () => {
            const allowed = verifyQuote(quote, policy()).imageHash.toString('hex');
            const q = tee.makeQuote(REPORT_DATA, { measurements: { rtmr1: Buffer.alloc(48, 1) } });
            expect(codeOf(() => verifyQuote(q, policy({ allowedImageHashes: [allowed] })))).toBe('IMAGE_NOT_ALLOWED');
            expect(verifyQuote(quote, policy({ allowedImageHashes: [allowed.toUpperCase()] })).imageHash.toString('hex')).toBe(allowed);
        });

        it('POLICY_INVALID names the offending key', () => {
            expect(() => verifyQuote(quote, policy({ allowedXfam: ['xyz'] }))).toThrow(/policy\.allowedXfam/);
            expect(() => verifyQuote(quote, policy({ at: new Date('nope') }))).toThrow(/policy\.at/);
            expect(() => verifyQuote(quote, policy({ trustedRootKeyIds: ['abc'] }))).toThrow(/policy\.trustedRootKeyIds/);
        });
    });

    describe('SimulatedTee state', () => {
        it('round-trips through JSON: same PKI, quotes verify with collateral signed before the reload', async () => {
            const text = JSON.stringify(tee.toState());
            const again = SimulatedTee.fromState(text);
            expect(again.rootKeyId).toBe(tee.rootKeyId);
            expect(again.pckChainPem).toBe(tee.pckChainPem);
            const q = await again.getQuote(Buffer.alloc(64, 1));
            expect(verifyQuote(q, policy()).quote.body.reportData).toEqual(Buffer.alloc(64, 1));
            const c = await again.signCollateral();
            expect(verifyQuote(quote, policy({ collateral: c })).tcbStatus).toBe('UpToDate');
        });

        it('with() keeps the PKI and changes the TD', () => {
            const v5 = tee.with({ layout: { version: 5, bodyType: 'tdx15' }, measurements: { rtmr3: Buffer.alloc(48, 3) } });
            expect(v5.rootKeyId).toBe(tee.rootKeyId);
            const v = verifyQuote(v5.makeQuote(REPORT_DATA), policy());
            expect(v.quote.bodyType).toBe('tdx15');
            expect(v.quote.body.rtmr3).toEqual(Buffer.alloc(48, 3));
        });

        it('loadOrCreate: concurrent starters share one PKI through the state file', async () => {
            const dir = mkdtempSync(join(tmpdir(), 'simtee-'));
            try {
                const file = join(dir, 'tee.json');
                const [a, b] = await Promise.all([SimulatedTee.loadOrCreate(file), SimulatedTee.loadOrCreate(file)]);
                const c = await SimulatedTee.loadOrCreate(file);
                expect(new Set([a.rootKeyId, b.rootKeyId, c.rootKeyId]).size).toBe(1);
                expect(statSync(file).mode & 0o777).toBe(0o600);
                expect(readdirSync(dir)).toEqual(['tee.json']);
                const q = await b.getQuote(REPORT_DATA);
                expect(verifyQuote(q, { trustedRootKeyIds: [a.rootKeyId], at: new Date(), requireCollateral: true, collateral: await c.signCollateral() }).tcbStatus).toBe('UpToDate');
            } finally {
                rmSync(dir, { recursive: true, force: true });
            }
        });

        it('getQuote refuses report data that is not 64 bytes', async () => {
            await expect(tee.getQuote(Buffer.alloc(32))).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
        });

        it('rejects a state of another format', () => {
            expect(() => SimulatedTee.fromState({ ...tee.toState(), format: 'x' as never })).toThrow(/format/);
        });
    });
});
