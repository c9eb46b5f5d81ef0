// Real Intel-signed TDX quotes (fixtures/vectors/tdx, README lists the expected verdicts): our verifier must
// reach the same verdicts as @phala/dcap-qvl 0.3.9, with our stable error codes.
import { verify as dcapVerify } from '@phala/dcap-qvl';
import { parseQuote } from '../../../../agents/core/tee/quote';
import { verifyQuote } from '../../../../agents/core/tee/verify';
import { imageHash } from '../../../../agents/core/tee/image';
import { INTEL_ROOT_KEY_ID, Collateral } from '../../../../agents/core/tee/types';
import { chainDer, chainPem, codeOf, flipBit, intelPolicy, offsets, T_AFTER_EXPIRY, T_GOOD, T_OUTDATED, vector, vectorCollateral, withPemChain } from './util';

function dcapVerdict(quote: Buffer, collateral: Collateral, at: Date): string {
    try {
        return dcapVerify(quote, collateral as never, Math.floor(at.getTime() / 1000)).status;
    } catch (e) {
        return `rejected: ${(e as Error).message}`;
    }
}

describe('real Intel TDX vectors (README verdicts)', () => {
    const good = vector('tdx_quote');
    const outdated = vector('tdx_quote_outdated');
    const goodCol = vectorCollateral('tdx_quote_collateral.json');
    const outdatedCol = vectorCollateral('tdx_quote_outdated_collateral.json');

    it('tdx_quote + its collateral at 2025-06-19T11:16:03Z: UpToDate, no advisories, Intel root', () => {
        const v = verifyQuote(good, intelPolicy(T_GOOD, goodCol));
        expect(v.tcbStatus).toBe('UpToDate');
        expect(v.advisoryIds).toEqual([]);
        expect(v.rootKeyId).toBe(INTEL_ROOT_KEY_ID);
        expect(v.fmspc).toBe('b0c06f000000');
        expect(v.debug).toBe(false);
        expect(v.quote.version).toBe(4);
        expect(v.imageHash.toString('hex')).toBe(imageHash(v.quote.body).toString('hex'));
        expect(dcapVerdict(good, goodCol, T_GOOD)).toBe('UpToDate');
    });

    it.each([T_AFTER_EXPIRY, new Date('2026-01-01T00:00:00Z'), new Date('2031-01-01T00:00:00Z')])('tdx_quote + its collateral at %s: COLLATERAL_EXPIRED', (at) => {
        expect(codeOf(() => verifyQuote(good, intelPolicy(at, goodCol)))).toBe('COLLATERAL_EXPIRED');
        expect(dcapVerdict(good, goodCol, at)).toMatch(/^rejected: .*expired/);
    });

    it('tdx_quote_outdated + its collateral at 2026-02-18T11:58:51Z: TCB_STATUS (no matching TCB level)', () => {
        let err: unknown;
        try {
            verifyQuote(outdated, intelPolicy(T_OUTDATED, outdatedCol, { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'] }));
        } catch (e) {
            err = e;
        }
        expect(err).toMatchObject({ code: 'TCB_STATUS', message: expect.stringMatching(/no TCB level/) });
        expect(dcapVerdict(outdated, outdatedCol, T_OUTDATED)).toMatch(/^rejected: No matching TCB level/);
    });

    it('tdx_quote_outdated + tdx_quote collateral at 2025-06-19T11:16:03Z: PCK_CHAIN_INVALID (PCK cert not yet valid)', () => {
        let err: unknown;
        try {
            verifyQuote(outdated, intelPolicy(T_GOOD, goodCol));
        } catch (e) {
            err = e;
        }
        expect(err).toMatchObject({ code: 'PCK_CHAIN_INVALID', message: expect.stringMatching(/not valid at/) });
        expect(dcapVerdict(outdated, goodCol, T_GOOD)).toMatch(/^rejected: Certificate is expired or not yet valid/);
    });

    it('tdx_quote_outdated is a v5 quote with a TDX 1.5 body', () => {
        const q = parseQuote(outdated);
        expect(q.version).toBe(5);
        expect(q.bodyType).toBe('tdx15');
        expect(q.body.teeTcbSvn2?.length).toBe(16);
        expect(q.body.mrServiceTd?.equals(Buffer.alloc(48))).toBe(true);
    });

    it('ignores the zero padding after sig_data_len (real quotes carry 70 bytes of it)', () => {
        const o = offsets(good);
        expect(good.length - o.sigEnd).toBe(70);
        const trimmed = good.subarray(0, o.sigEnd);
        expect(verifyQuote(trimmed, intelPolicy(T_GOOD, goodCol)).tcbStatus).toBe('UpToDate');
        const padded = Buffer.concat([good, Buffer.alloc(100, 0xab)]);
        expect(verifyQuote(padded, intelPolicy(T_GOOD, goodCol)).tcbStatus).toBe('UpToDate');
    });

    it('verifies offline (no collateral) only when the policy says so', () => {
        expect(codeOf(() => verifyQuote(good, intelPolicy(T_GOOD, undefined, { requireCollateral: true })))).toBe('COLLATERAL_MISSING');
        const v = verifyQuote(good, intelPolicy(T_GOOD));
        expect(v.tcbStatus).toBeUndefined();
        expect(v.rootKeyId).toBe(INTEL_ROOT_KEY_ID);
    });

    describe('negative cases on the real quote', () => {
        const policy = intelPolicy(T_GOOD, goodCol);

        it('UNTRUSTED_ROOT when Intel is not in trustedRootKeyIds', () => {
            expect(codeOf(() => verifyQuote(good, { ...policy, trustedRootKeyIds: ['00'.repeat(48)] }))).toBe('UNTRUSTED_ROOT');
        });

        it('QUOTE_SIGNATURE when one bit of MRTD is flipped', () => {
            expect(codeOf(() => verifyQuote(flipBit(good, 184, 3), policy))).toBe('QUOTE_SIGNATURE');
        });

        it('QUOTE_SIGNATURE when one bit of REPORTDATA is flipped', () => {
            expect(codeOf(() => verifyQuote(flipBit(good, 568 + 63, 7), policy))).toBe('QUOTE_SIGNATURE');
        });

        it('QE_REPORT_SIGNATURE when the QE report is altered', () => {
            expect(codeOf(() => verifyQuote(flipBit(good, offsets(good).qeReport + 258), policy))).toBe('QE_REPORT_SIGNATURE');
        });

        it('QE_REPORT_DATA when the QE auth data is altered (attestation key no longer bound)', () => {
            expect(codeOf(() => verifyQuote(flipBit(good, offsets(good).auth), policy))).toBe('QE_REPORT_DATA');
        });

        it('PCK_CHAIN_INVALID when the PCK certificate signature is altered', () => {
            const [leaf, ca, root] = chainDer(good);
            const bad = Buffer.from(leaf);
            bad[bad.length - 1] ^= 1;
            expect(codeOf(() => verifyQuote(withPemChain(good, chainPem([bad, ca, root])), policy))).toBe('PCK_CHAIN_INVALID');
        });

        it('PCK_CHAIN_INVALID when the chain is out of order or incomplete', () => {
            const [leaf, ca, root] = chainDer(good);
            expect(codeOf(() => verifyQuote(withPemChain(good, chainPem([ca, leaf, root])), policy))).toBe('PCK_CHAIN_INVALID');
            expect(codeOf(() => verifyQuote(withPemChain(good, chainPem([leaf, root])), policy))).toBe('PCK_CHAIN_INVALID');
        });

        it('COLLATERAL_INVALID when TCB info text is altered (signature no longer matches)', () => {
            const tampered = { ...goodCol, tcb_info: goodCol.tcb_info.replace('"UpToDate"', '"UpToDate" ') };
            expect(codeOf(() => verifyQuote(good, intelPolicy(T_GOOD, tampered)))).toBe('COLLATERAL_INVALID');
        });

        it('COLLATERAL_INVALID when the collateral is for another FMSPC', () => {
            expect(codeOf(() => verifyQuote(good, intelPolicy(T_OUTDATED, outdatedCol)))).toBe('COLLATERAL_INVALID');
        });

        it('IMAGE_NOT_ALLOWED unless the image hash is listed', () => {
            const v = verifyQuote(good, policy);
            expect(codeOf(() => verifyQuote(good, { ...policy, allowedImageHashes: ['11'.repeat(32)] }))).toBe('IMAGE_NOT_ALLOWED');
            expect(verifyQuote(good, { ...policy, allowedImageHashes: [v.imageHash.toString('hex')] }).imageHash).toEqual(v.imageHash);
        });

        it('TD_ATTRIBUTES / XFAM by policy', () => {
            expect(codeOf(() => verifyQuote(good, { ...policy, allowedTdAttributes: ['0000000000000000'] }))).toBe('TD_ATTRIBUTES');
            expect(codeOf(() => verifyQuote(good, { ...policy, allowedXfam: ['e700060000000000'] }))).toBe('XFAM');
            expect(verifyQuote(good, { ...policy, allowedTdAttributes: ['0000001000000000'], allowedXfam: ['E702060000000000'] }).tcbStatus).toBe('UpToDate');
        });
    });
});
