// `cocoon attest verify` run in-process with captured output: JSON report fields and exit status.
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { main } from '../../../../agents/cli';
import { attestVerifyCommand } from '../../../../agents/core/tee/cli';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { INTEL_ROOT_KEY_ID } from '../../../../agents/core/tee/types';
import { VECTORS } from './util';
import { capture } from '../../../helpers/io';


describe('attest verify on the real Intel vector', () => {
    const quote = join(VECTORS, 'tdx_quote');
    const collateral = join(VECTORS, 'tdx_quote_collateral.json');

    it('accepts tdx_quote with its collateral at the README time: exit 0 and the full JSON report', async () => {
        const io = capture();
        const code = await attestVerifyCommand([quote, '--collateral', collateral, '--at', '2025-06-19T11:16:03Z'], io);
        expect(code).toBe(0);
        const r = io.json();
        expect(r).toMatchObject({
            verdict: 'accepted',
            error: null,
            version: 4,
            bodyType: 'tdx10',
            debug: false,
            rootKeyId: INTEL_ROOT_KEY_ID,
            rootTrusted: true,
            tcbStatus: 'UpToDate',
            advisoryIds: [],
            fmspc: 'b0c06f000000',
            at: '2025-06-19T11:16:03.000Z',
        });
        expect(r.imageHash).toMatch(/^[0-9a-f]{64}$/);
        for (const k of ['mrTd', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'reportData', 'tdAttributes', 'xfam']) {
            expect(r.measurements[k]).toMatch(/^[0-9a-f]+$/);
        }
        expect(r.measurements.mrTd).toHaveLength(96);
        expect(io.err).toBe('');
    });

    it('rejects the same pair after the collateral expired: exit 1 with COLLATERAL_EXPIRED, measurements still shown', async () => {
        const io = capture();
        const code = await attestVerifyCommand([quote, '--collateral', collateral, '--at', '2025-08-01T00:00:00Z'], io);
        expect(code).toBe(1);
        const r = io.json();
        expect(r.verdict).toBe('rejected');
        expect(r.error.code).toBe('COLLATERAL_EXPIRED');
        expect(r.measurements.mrTd).toHaveLength(96);
        expect(r.rootKeyId).toBe(INTEL_ROOT_KEY_ID);
        expect(r.tcbStatus).toBeNull();
    });

    it('rejects with UNTRUSTED_ROOT when --root-key-id names another root', async () => {
        const io = capture();
        const code = await attestVerifyCommand([quote, '--collateral', collateral, '--at', '2025-06-19T11:16:03Z', '--root-key-id', 'ab'.repeat(48)], io);
        expect(code).toBe(1);
        expect(io.json()).toMatchObject({ verdict: 'rejected', error: { code: 'UNTRUSTED_ROOT' }, rootKeyId: INTEL_ROOT_KEY_ID, rootTrusted: false });
    });
});

describe('attest verify on simulated quotes', () => {
    let dir: string;
    let tee: SimulatedTee;
    let quoteFile: string;

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'attest-cli-'));
        tee = await SimulatedTee.create();
        quoteFile = join(dir, 'quote.bin');
        writeFileSync(quoteFile, await tee.getQuote(Buffer.alloc(64, 3)));
        writeFileSync(join(dir, 'collateral.json'), JSON.stringify(await tee.signCollateral()));
        writeFileSync(join(dir, 'quote.hex'), (await tee.getQuote(Buffer.alloc(64, 4))).toString('hex') + '\n');
        writeFileSync(join(dir, 'garbage.bin'), Buffer.from('definitely not a quote'));
        writeFileSync(join(dir, 'bad.json'), '{ not json');
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('accepts with the simulated root and its collateral; the default (Intel) root rejects it', async () => {
        let io = capture();
        expect(await attestVerifyCommand([quoteFile, '--collateral', join(dir, 'collateral.json'), '--root-key-id', tee.rootKeyId], io)).toBe(0);
        expect(io.json()).toMatchObject({ verdict: 'accepted', rootKeyId: tee.rootKeyId, tcbStatus: 'UpToDate' });
        io = capture();
        expect(await attestVerifyCommand([quoteFile, '--collateral', join(dir, 'collateral.json')], io)).toBe(1);
        expect(io.json()).toMatchObject({ error: { code: 'UNTRUSTED_ROOT' }, rootTrusted: false });
    });

    it('needs --collateral or an explicit --offline', async () => {
        let io = capture();
        expect(await attestVerifyCommand([quoteFile, '--root-key-id', tee.rootKeyId], io)).toBe(1);
        expect(io.json().error.code).toBe('COLLATERAL_MISSING');
        io = capture();
        expect(await attestVerifyCommand([quoteFile, '--offline', '--root-key-id', tee.rootKeyId], io)).toBe(0);
        expect(io.json()).toMatchObject({ verdict: 'accepted', tcbStatus: null, policy: { requireCollateral: false } });
    });

    it('reads hex quote files and applies image / TCB options', async () => {
        let io = capture();
        expect(await attestVerifyCommand([join(dir, 'quote.hex'), '--offline', '--root-key-id', tee.rootKeyId, '--allow-image', '00'.repeat(32)], io)).toBe(1);
        const r = io.json();
        expect(r.error.code).toBe('IMAGE_NOT_ALLOWED');
        expect(r.measurements.reportData).toBe('04'.repeat(64));
        io = capture();
        expect(await attestVerifyCommand([join(dir, 'quote.hex'), '--offline', '--root-key-id', tee.rootKeyId, '--allow-image', r.imageHash], io)).toBe(0);
    });

    it('reports QUOTE_MALFORMED for garbage and COLLATERAL_INVALID for unparsable collateral', async () => {
        let io = capture();
        expect(await attestVerifyCommand([join(dir, 'garbage.bin'), '--offline'], io)).toBe(1);
        expect(io.json()).toMatchObject({ error: { code: 'QUOTE_MALFORMED' }, measurements: null });
        io = capture();
        expect(await attestVerifyCommand([quoteFile, '--collateral', join(dir, 'bad.json'), '--root-key-id', tee.rootKeyId], io)).toBe(1);
        expect(io.json().error.code).toBe('COLLATERAL_INVALID');
    });

    it.each([
        [[] as string[]],
        [['a', 'b']],
        [['--bogus', 'x']],
        [['q', '--at', 'yesterday']],
        [['q', '--at', '2025-06-19T11:16:03']],
        [['q', '--collateral']],
        [['/nonexistent/quote']],
        [['q', '--offline', '--collateral', 'c.json']],
    ])('usage or I/O error -> exit 2 (%j)', async (argv) => {
        const io = capture();
        expect(await attestVerifyCommand(argv, io)).toBe(2);
        expect(io.err).toMatch(/usage: cocoon attest verify/);
        expect(io.out).toBe('');
    });

    it('exit 2 with the JSON report for an invalid policy (bad --root-key-id)', async () => {
        const io = capture();
        expect(await attestVerifyCommand([quoteFile, '--offline', '--root-key-id', 'xyz'], io)).toBe(2);
        expect(io.json().error.code).toBe('POLICY_INVALID');
    });

    it('agents/cli.ts dispatches `attest verify` and refuses unknown commands', async () => {
        let io = capture();
        expect(await main(['attest', 'verify', quoteFile, '--offline', '--root-key-id', tee.rootKeyId], io)).toBe(0);
        expect(io.json().verdict).toBe('accepted');
        io = capture();
        expect(await main(['attest', 'nope'], io)).toBe(2);
        expect(io.err).toMatch(/unknown command/);
        io = capture();
        expect(await main([], io)).toBe(0);
        expect(io.out).toMatch(/attest verify/);
    });
});
