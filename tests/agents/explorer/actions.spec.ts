// Proposal actions in words (agents/explorer/actions.ts) and the action list's parser (wrappers/Governance.ts
// unpackActions): every action kind the propose script builds comes back with its kind, fields and words; hostile
// lists are a typed error and hostile bodies 'unknown', never a crash.
import { Address, beginCell, Builder, Cell, toNano } from '@ton/core';
import { Blockchain } from '@ton/sandbox';
import fc from 'fast-check';
import { describeActions, duration, shortHash } from '../../../agents/explorer/actions';
import { ACTION_KINDS, ActionKind, buildAction, compiledRootCode, ProposalEnv } from '../../../scripts/lib/proposals';
import { ActionListError, DEFAULT_GOV_PARAMS, GovernanceWrapper, packActions, ProposalAction, unpackActions } from '../../../wrappers/Governance';
import { compiledChildCodes, DEFAULT_PARAMS, RootWrapper, storeAddImage } from '../../../wrappers/Root';
import { modelId } from '../../../wrappers/payloads';

const GOV = new Address(0, Buffer.alloc(32, 0x60));
const ROOT = new Address(0, Buffer.alloc(32, 0x70));
const OTHER = new Address(0, Buffer.alloc(32, 7));
const HASH = '04b3c2d1'.padEnd(56, '0') + '77ee9a1c';
const ctx = { root: ROOT, governance: GOV, testOnly: true };
const friendly = (a: Address) => a.toString({ urlSafe: true, bounceable: true, testOnly: true });

const env: ProposalEnv = { governance: GOV, rootParams: async () => DEFAULT_PARAMS, govParams: async () => DEFAULT_GOV_PARAMS };

/** The one action `propose --action <kind> <args>` builds, described. */
async function described(kind: ActionKind, args: string[]) {
    const { action } = await buildAction(kind, args, env);
    const views = describeActions(packActions([action]), ctx);
    expect(views).toHaveLength(1);
    const v = views[0];
    expect(v.to).toEqual({ raw: action.to.toRawString(), friendly: friendly(action.to) });
    expect(v.value).toBe(action.value.toString());
    expect(Cell.fromBase64(v.bodyBoc).equals(action.body)).toBe(true);
    return v;
}

describe('describeActions: every action kind of the propose script', () => {
    const r = ['--root', ROOT.toString()];
    const q = { queryId: '0' };

    it('image actions name the role and a shortened hash', async () => {
        expect(shortHash(BigInt('0x' + HASH))).toBe('04b3c2d1…77ee9a1c');
        expect(await described('add-image', [...r, '--kind', 'worker', '--hash', HASH])).toMatchObject({
            kind: 'AddImage',
            words: 'allowlist worker image 04b3c2d1…77ee9a1c',
            fields: { ...q, kind: 'worker', hash: HASH },
        });
        expect(await described('remove-image', [...r, '--kind', 'proxy', '--hash', HASH])).toMatchObject({
            kind: 'RemoveImage',
            words: 'remove proxy image 04b3c2d1…77ee9a1c',
            fields: { ...q, kind: 'proxy', hash: HASH },
        });
        expect(await described('add-image', [...r, '--kind', 'keys', '--hash', HASH])).toMatchObject({
            kind: 'AddImage',
            words: 'allowlist key-service image 04b3c2d1…77ee9a1c',
            fields: { ...q, kind: 'keys', hash: HASH },
        });
        expect(await described('remove-image', [...r, '--kind', 'keys', '--hash', HASH])).toMatchObject({
            kind: 'RemoveImage',
            words: 'remove key-service image 04b3c2d1…77ee9a1c',
            fields: { ...q, kind: 'keys', hash: HASH },
        });
    });

    it('register-model states context, exact prices per 1M tokens and the weights; remove-model names the model when known', async () => {
        const args = [...r, '--name', 'llama-3', '--weights-hash', HASH, '--context', '8192',
            '--price-prompt', '0.1', '--price-cached', '0.000000001', '--price-completion', '1234567.123456789', '--price-reasoning', '0'];
        expect(await described('register-model', args)).toEqual(expect.objectContaining({
            kind: 'RegisterModel',
            words: 'register model "llama-3" (context 8192 tokens; per 1M tokens: prompt 0.1 TON, cached 0.000000001 TON, completion 1234567.123456789 TON, reasoning 0 TON; weights 04b3c2d1…77ee9a1c; no GPU evidence required)',
            fields: {
                ...q, name: 'llama-3', weightsHash: HASH, contextLength: '8192',
                prices: { prompt: '100000000', cached: '1', completion: '1234567123456789', reasoning: '0' },
                requireGpu: false,
            },
        }));
        const gpu = await described('register-model', [...args, '--require-gpu', 'yes']);
        expect(gpu.words).toMatch(/; weights 04b3c2d1…77ee9a1c; GPU evidence required\)$/);
        expect(gpu.fields.requireGpu).toBe(true);
        const id = modelId('llama-3');
        const idHex = id.toString(16).padStart(64, '0');
        const removed = await described('remove-model', [...r, '--name', 'llama-3']);
        expect(removed).toMatchObject({ kind: 'RemoveModel', words: `remove model ${shortHash(id)}`, fields: { ...q, modelId: idHex } });
        const named = describeActions(packActions([{ to: ROOT, value: 1n, body: RootWrapper.removeModelBody(id) }]), { ...ctx, modelNames: new Map([[idHex, 'llama-3']]) });
        expect(named[0].words).toBe(`remove model "llama-3" (${shortHash(id)})`);
    });

    it('set-params names every parameter without the current ones, and only the changed ones with them', async () => {
        const all = await described('set-params', [...r, '--params', '{"minProxyStake":"12.5"}']);
        expect(all.kind).toBe('SetParams');
        expect(all.words).toBe(
            'set commission to 10 %, reporter share to 20 %, min proxy stake to 12.5 TON, min worker stake to 1 TON, min client deposit to 0.5 TON, ' +
                'credit window to 0.1 TON, proxy close delay to 1 h, client close delay to 1 h, worker unbond delay to 5 d, slash challenge period to 4 d 1 h',
        );
        expect(all.fields).toEqual({ ...q, params: { ...stringsOf(DEFAULT_PARAMS), minProxyStake: '12500000000' } });
        const { action } = await buildAction('set-params', [...r, '--params', '{"minProxyStake":"10.000000001","commissionBps":125}'], env);
        const current = { ...stringsOf(DEFAULT_PARAMS), minProxyStake: '9000000000' };
        expect(describeActions(packActions([action]), { ...ctx, currentParams: current })[0].words).toBe('set commission to 1.25 %, min proxy stake to 10.000000001 TON');
        expect(describeActions(packActions([action]), { ...ctx, currentParams: { ...DEFAULT_PARAMS, commissionBps: 125n, minProxyStake: 10_000_000_001n } })[0].words).toBe('set params (no change)');
    });

    it('code actions name the code hashes', async () => {
        const codes = await compiledChildCodes();
        const h = (c: Cell) => c.hash().toString('hex');
        const short = (c: Cell) => `${h(c).slice(0, 8)}…${h(c).slice(-8)}`;
        expect(await described('set-child-code', r)).toMatchObject({
            kind: 'SetChildCode',
            words: `set child code (proxy ${short(codes.proxyCode)}, client ${short(codes.clientCode)}, worker ${short(codes.workerCode)})`,
            fields: { ...q, proxyCodeHash: h(codes.proxyCode), clientCodeHash: h(codes.clientCode), workerCodeHash: h(codes.workerCode) },
        });
        const rootCode = await compiledRootCode();
        expect(await described('upgrade-root', r)).toMatchObject({ kind: 'UpgradeRoot', words: `upgrade Root code to ${short(rootCode)}`, fields: { ...q, codeHash: h(rootCode) } });
    });

    it('address actions name the address (user-friendly), fields keep it raw', async () => {
        const o = OTHER.toString();
        expect(await described('delist-proxy', [...r, '--proxy', o])).toMatchObject({ kind: 'DelistProxy', words: `delist proxy ${friendly(OTHER)}`, fields: { ...q, proxy: OTHER.toRawString() } });
        expect(await described('set-treasury', [...r, '--treasury', o])).toMatchObject({ kind: 'SetTreasury', words: `set treasury to ${friendly(OTHER)}`, fields: { ...q, treasury: OTHER.toRawString() } });
        expect(await described('set-governance', [...r, '--new-governance', o])).toMatchObject({
            kind: 'SetGovernance',
            words: `hand governance to ${friendly(OTHER)}`,
            fields: { ...q, governance: OTHER.toRawString() },
        });
        const veto = await described('veto-slash', [...r, '--channel', o, '--fault-seqno', '3', '--value', '0.2']);
        expect(veto).toMatchObject({ kind: 'VetoSlash', value: toNano('0.2').toString(), words: `veto slash #3 on ${friendly(OTHER)}`, fields: { ...q, channel: OTHER.toRawString(), faultSeqno: '3' } });
    });

    it("Governance's own actions: voters and governance params", async () => {
        const o = OTHER.toString();
        expect(await described('set-voter', ['--voter', o, '--weight', '2'])).toMatchObject({
            kind: 'SetVoter',
            words: `set voter ${friendly(OTHER)} weight 2`,
            fields: { ...q, voter: OTHER.toRawString(), weight: '2' },
        });
        expect((await described('set-voter', ['--voter', o, '--weight', '0'])).words).toBe(`remove voter ${friendly(OTHER)}`);
        const gp = await described('set-gov-params', ['--params', '{"timelock":90}']);
        expect(gp).toMatchObject({ kind: 'SetGovParams', fields: { ...q, params: { ...stringsOf(DEFAULT_GOV_PARAMS), timelock: '90' } } });
        expect(gp.words).toBe('set quorum to 50 %, majority to 50 %, voting period to 3 d, timelock to 1 min 30 s, execution window to 7 d');
        const { action } = await buildAction('set-gov-params', ['--params', '{"timelock":0}'], env);
        expect(describeActions(packActions([action]), { ...ctx, currentGovParams: stringsOf(DEFAULT_GOV_PARAMS) })[0].words).toBe('set timelock to 0 s');
    });

    it('keeps the order of a multi-action list', async () => {
        const a = (await buildAction('add-image', [...r, '--kind', 'proxy', '--hash', HASH], env)).action;
        const b = (await buildAction('set-voter', ['--voter', OTHER.toString(), '--weight', '1'], env)).action;
        expect(describeActions(packActions([a, b, a]), ctx).map((v) => v.kind)).toEqual(['AddImage', 'SetVoter', 'AddImage']);
    });

    it('no action kind of the propose script reads as unknown (a new kind needs its words)', async () => {
        const o = OTHER.toString();
        const args: Record<ActionKind, string[]> = {
            'add-image': [...r, '--kind', 'worker', '--hash', HASH],
            'remove-image': [...r, '--kind', 'worker', '--hash', HASH],
            'register-model': [...r, '--name', 'm', '--weights-hash', HASH, '--context', '1', '--price-prompt', '1', '--price-cached', '1', '--price-completion', '1', '--price-reasoning', '1'],
            'remove-model': [...r, '--name', 'm'],
            'set-params': [...r, '--params', '{}'],
            'set-child-code': r,
            'upgrade-root': r,
            'delist-proxy': [...r, '--proxy', o],
            'set-treasury': [...r, '--treasury', o],
            'set-governance': [...r, '--new-governance', o],
            'veto-slash': [...r, '--channel', o, '--fault-seqno', '1'],
            'set-voter': ['--voter', o, '--weight', '1'],
            'set-gov-params': ['--params', '{}'],
        };
        for (const k of ACTION_KINDS) expect([k, (await described(k, args[k])).kind]).not.toEqual([k, 'unknown']);
    });

    it('writes durations exactly', () => {
        expect([0n, 1n, 59n, 60n, 3601n, 86400n, 90061n].map(duration)).toEqual(['0 s', '1 s', '59 s', '1 min', '1 h 1 s', '1 d', '1 d 1 h 1 min 1 s']);
    });
});

describe('describeActions: what it does not recognise', () => {
    const one = (to: Address, body: Cell) => describeActions(packActions([{ to, value: 5n, body }]), ctx)[0];
    const addImage = RootWrapper.addImageBody('worker', 1n);

    it("a Root message sent elsewhere, a Governance message sent to Root, an unknown opcode: 'unknown' with the opcode", () => {
        expect(one(OTHER, addImage)).toMatchObject({ kind: 'unknown', words: `unknown message 0xc0c00101 (AddImage) to ${friendly(OTHER)}`, fields: { opcode: '0xc0c00101' } });
        expect(one(ROOT, GovernanceWrapper.setVoterBody(OTHER, 1n))).toMatchObject({ kind: 'unknown', words: 'unknown message 0xc0c00005 (SetVoter) to Root' });
        expect(one(GOV, addImage)).toMatchObject({ kind: 'unknown', words: 'unknown message 0xc0c00101 (AddImage) to Governance' });
        expect(one(ROOT, beginCell().storeUint(0xdeadbeef, 32).endCell())).toMatchObject({ kind: 'unknown', words: 'unknown message 0xdeadbeef to Root', fields: { opcode: '0xdeadbeef' } });
        expect(one(ROOT, Cell.EMPTY)).toMatchObject({ kind: 'unknown', words: 'send 0.000000005 TON to Root (no opcode)', fields: {} });
        expect(one(OTHER, beginCell().storeUint(1, 31).endCell())).toMatchObject({ kind: 'unknown', words: `send 0.000000005 TON to ${friendly(OTHER)} (no opcode)` });
    });

    it('an image kind Root does not know (3, 255) is named by its number and said to be refused', () => {
        const raw = (kind: bigint) => beginCell().store(storeAddImage({ $$type: 'AddImage', queryId: 0n, kind, hash: 1n })).endCell();
        expect(one(ROOT, raw(3n))).toMatchObject({ kind: 'AddImage', words: `allowlist kind-3 image ${shortHash(1n)} (Root refuses this kind)`, fields: { kind: 'kind-3' } });
        expect(one(ROOT, raw(255n)).words).toBe(`allowlist kind-255 image ${shortHash(1n)} (Root refuses this kind)`);
    });

    it("a known opcode that does not parse (truncated, bad address) is 'unknown' and says malformed", () => {
        const truncated = beginCell().storeUint(0xc0c00101, 32).storeUint(0, 64).storeUint(1, 8).endCell();
        expect(one(ROOT, truncated)).toMatchObject({ kind: 'unknown', words: 'malformed AddImage message 0xc0c00101 to Root' });
        const noneAddress = beginCell().storeUint(0xc0c00109, 32).storeUint(0, 64).storeUint(0, 2).endCell();
        expect(one(ROOT, noneAddress)).toMatchObject({ kind: 'unknown', words: 'malformed SetTreasury message 0xc0c00109 to Root' });
        const noName = beginCell().storeUint(0xc0c00103, 32).storeUint(0, 64).endCell();
        expect(one(ROOT, noName).words).toBe('malformed RegisterModel message 0xc0c00103 to Root');
    });

    it('a model name from the chain stays one quoted, escaped, bounded line', () => {
        const name = 'evil"\n\u202e<script>alert(1)</script>' + 'x'.repeat(200);
        const v = one(ROOT, RootWrapper.registerModelBody({ name, weightsHash: 1n, contextLength: 1n, pricePrompt: 1n, priceCached: 1n, priceCompletion: 1n, priceReasoning: 1n, requireGpu: false }));
        expect(v.kind).toBe('RegisterModel');
        expect(v.words).toMatch(/^register model "evil\\"\\n\\u202e<script>alert\(1\)<\/script>x+…" \(context 1 tokens/);
        expect(v.words).not.toMatch(/[\n\u202e]/);
        expect(v.words.length).toBeLessThan(300);
        expect(v.fields.name).toBe(name);
    });

    it('any body to Root or Governance is described without throwing (fast-check)', () => {
        const opcodes = [...Array.from({ length: 11 }, (_, i) => 0xc0c00101 + i), 0xc0c00005, 0xc0c00006, 0];
        fc.assert(
            fc.property(fc.constantFrom(...opcodes), fc.uint8Array({ maxLength: 110 }), fc.boolean(), fc.boolean(), (op, bytes, withRef, toRoot) => {
                const b = beginCell().storeUint(op, 32).storeBuffer(Buffer.from(bytes));
                if (withRef) b.storeRef(beginCell().storeBuffer(Buffer.from(bytes.slice(0, 64))).endCell());
                const v = one(toRoot ? ROOT : GOV, b.endCell());
                expect(typeof v.words).toBe('string');
                expect(v.words).not.toMatch(/\n/);
            }),
            { numRuns: 2000 },
        );
    });
});

describe('unpackActions', () => {
    const action = (n: number): ProposalAction => ({ to: new Address(0, Buffer.alloc(32, n)), value: BigInt(n), body: beginCell().storeUint(n, 32).endCell() });
    const expectError = (list: Cell, reason: string, message: RegExp) => {
        let err: unknown;
        try {
            unpackActions(list);
        } catch (e) {
            err = e;
        }
        expect(err).toBeInstanceOf(ActionListError);
        expect(err).toMatchObject({ reason, message: expect.stringMatching(message) });
    };

    it('is the inverse of packActions (fast-check, 1..8 actions)', () => {
        const arbAction = fc.record({
            wc: fc.constantFrom(0, -1),
            hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
            value: fc.bigInt({ min: 0n, max: (1n << 120n) - 1n }),
            bits: fc.uint8Array({ maxLength: 127 }),
            ref: fc.option(fc.uint8Array({ maxLength: 127 })),
        });
        fc.assert(
            fc.property(fc.array(arbAction, { minLength: 1, maxLength: 8 }), (xs) => {
                const actions = xs.map((x) => {
                    const body = beginCell().storeBuffer(Buffer.from(x.bits));
                    if (x.ref) body.storeRef(beginCell().storeBuffer(Buffer.from(x.ref)).endCell());
                    return { to: new Address(x.wc, Buffer.from(x.hash)), value: x.value, body: body.endCell() };
                });
                const back = unpackActions(Cell.fromBoc(packActions(actions).toBoc())[0]);
                expect(back.length).toBe(actions.length);
                back.forEach((b, i) => {
                    expect(b.to.equals(actions[i].to)).toBe(true);
                    expect(b.value).toBe(actions[i].value);
                    expect(b.body.equals(actions[i].body)).toBe(true);
                });
            }),
            { numRuns: 300 },
        );
    });

    it('refuses more actions than Governance accepts (9, and a 300-action chain) with a typed error', () => {
        expect(unpackActions(packActions(Array.from({ length: 8 }, (_, i) => action(i))))).toHaveLength(8);
        expectError(packActions(Array.from({ length: 9 }, (_, i) => action(i))), 'too-many-actions', /more than 8 actions/);
        expectError(packActions(Array.from({ length: 300 }, (_, i) => action(i))), 'too-many-cells', /more than 256 distinct cells/);
    });

    it('refuses a deep cycle-free chain of cells in a body before walking the list', () => {
        let deep = beginCell().endCell();
        for (let i = 0; i < 1000; i++) deep = beginCell().storeUint(i, 16).storeRef(deep).endCell();
        expectError(packActions([{ to: ROOT, value: 1n, body: deep }]), 'too-many-cells', /256/);
        // Shared cells count once, as CDATASIZE counts them: 8 actions with the same big body fit.
        let shared = beginCell().endCell();
        for (let i = 0; i < 200; i++) shared = beginCell().storeUint(i, 16).storeRef(shared).endCell();
        expect(unpackActions(packActions(Array.from({ length: 8 }, (_, i) => ({ ...action(i), body: shared }))))).toHaveLength(8);
    });

    it('refuses a truncated action, trailing data and a non-standard destination', () => {
        const good = packActions([action(1)]);
        const bits = good.beginParse();
        const truncated = beginCell().storeAddress(action(1).to).storeCoins(1n).endCell();
        expectError(truncated, 'malformed', /^action 0: /);
        expectError(beginCell().storeSlice(bits).storeUint(1, 1).endCell(), 'malformed', /^action 0: /);
        const noBody = beginCell().storeAddress(action(1).to).storeCoins(1n).storeBit(0).endCell();
        expectError(noBody, 'malformed', /^action 0: /);
        const noneTo = beginCell().storeUint(0, 2).storeCoins(1n).storeRef(Cell.EMPTY).storeBit(0).endCell();
        expectError(noneTo, 'malformed', /^action 0: /);
        // Governance refuses (ErrBadActions) an anycast destination and addr_var, both of which @ton/core would read.
        const anycast = beginCell().storeUint(2, 2).storeBit(1).storeUint(5, 5).storeUint(3, 5).storeInt(0, 8).storeBuffer(Buffer.alloc(32, 1));
        expectError(beginCell().storeBuilder(anycast).storeCoins(1n).storeRef(Cell.EMPTY).storeBit(0).endCell(), 'malformed', /not a standard address/);
        const addrVar = beginCell().storeUint(3, 2).storeBit(0).storeUint(256, 9).storeInt(0, 32).storeBuffer(Buffer.alloc(32, 1));
        expectError(beginCell().storeBuilder(addrVar).storeCoins(1n).storeRef(Cell.EMPTY).storeBit(0).endCell(), 'malformed', /not a standard address/);
        // The second action of a list is checked as strictly as the first.
        const badSecond = beginCell().storeAddress(ROOT).storeCoins(1n).storeRef(Cell.EMPTY).storeMaybeRef(truncated).endCell();
        expectError(badSecond, 'malformed', /^action 1: /);
        // describeActions passes the typed error on.
        expect(() => describeActions(truncated, ctx)).toThrow(ActionListError);
    });
});

describe('unpackActions agrees with Governance', () => {
    it('accepts exactly the lists Propose accepts (fast-check against the contract in a sandbox)', async () => {
        const bc = await Blockchain.create();
        const voter = await bc.treasury('voter');
        const gov = bc.openContract(await GovernanceWrapper.create([{ address: voter.address, weight: 1n }, { address: OTHER, weight: 1n }]));
        await gov.sendFund(voter.getSender(), toNano('5'));
        const fresh = bc.snapshot();
        // One action, sometimes bent: another address form, a missing ref, a bit too many, a bad `next` flag.
        const mostly = <T>(good: T, ...bad: T[]) => fc.oneof({ arbitrary: fc.constant(good), weight: 12 * bad.length }, ...bad.map((b) => ({ arbitrary: fc.constant(b), weight: 1 })));
        const arbAction = fc.record({
            to: mostly('std', 'anycast', 'none', 'var', 'extern'),
            value: fc.bigInt({ min: 0n, max: 1n << 100n }),
            body: mostly(true, false),
            extraBits: mostly(0, 1, 7),
            extraRef: mostly(false, true),
        });
        const seen = { accepted: 0, refused: 0 };
        const addressBits = (b: Builder, form: string) => {
            const hash = Buffer.alloc(32, 3);
            if (form === 'std') return b.storeAddress(ROOT);
            if (form === 'anycast') return b.storeUint(2, 2).storeBit(1).storeUint(4, 5).storeUint(5, 4).storeInt(0, 8).storeBuffer(hash);
            if (form === 'none') return b.storeUint(0, 2);
            if (form === 'var') return b.storeUint(3, 2).storeBit(0).storeUint(256, 9).storeInt(0, 32).storeBuffer(hash);
            return b.storeUint(1, 2).storeUint(8, 9).storeUint(1, 8);
        };
        await fc.assert(
            fc.asyncProperty(fc.array(arbAction, { minLength: 1, maxLength: 10 }), async (xs) => {
                let next: Cell | null = null;
                for (let i = xs.length - 1; i >= 0; i--) {
                    const x = xs[i];
                    const b = addressBits(beginCell(), x.to).storeCoins(x.value);
                    if (x.body) b.storeRef(beginCell().storeUint(i, 32).endCell());
                    b.storeMaybeRef(next);
                    if (x.extraBits > 0) b.storeUint(0, x.extraBits);
                    if (x.extraRef) b.storeRef(Cell.EMPTY);
                    next = b.endCell();
                }
                await bc.loadFrom(fresh);
                const r = await gov.send(voter.getSender(), { value: toNano('0.1') }, { $$type: 'Propose', queryId: 0n, actions: next! });
                const exit = r.transactions.map((t) => (t.description.type === 'generic' && t.description.computePhase.type === 'vm' ? t.description.computePhase.exitCode : -1))[1];
                let parsed = true;
                try {
                    unpackActions(next!);
                } catch (e) {
                    expect(e).toBeInstanceOf(ActionListError);
                    parsed = false;
                }
                expect([exit, parsed]).toEqual(parsed ? [0, true] : [270, false]);
                seen[parsed ? 'accepted' : 'refused']++;
            }),
            { numRuns: 150 },
        );
        // Both sides of the property were exercised.
        expect(seen.accepted).toBeGreaterThan(20);
        expect(seen.refused).toBeGreaterThan(20);
    });
});

function stringsOf<T extends object>(p: T): { [K in Exclude<keyof T, '$$type'>]: string } {
    return Object.fromEntries(Object.entries(p).filter(([k]) => k !== '$$type').map(([k, v]) => [k, String(v)])) as { [K in Exclude<keyof T, '$$type'>]: string };
}
