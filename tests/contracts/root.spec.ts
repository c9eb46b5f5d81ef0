// Root: every receiver (governance actions, proxy registration), its failure modes and its getters.
// One network is deployed once; each test starts from a snapshot of it. Bounded sets are tested at
// their limits: models by real registrations (MaxModels = 128), images and proxies from a Root whose
// initial state already holds MaxImages - 1 / MaxProxies - 1 entries (deploying that state is the
// same as reaching it by sends, without 500 extra transactions).
import '@ton/test-utils';
import { flattenTransaction, randomAddress } from '@ton/test-utils';
import { internal as inbound, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { Address, beginCell, Cell, Dictionary, internal, toNano } from '@ton/core';
import { createHash } from 'crypto';
import { GLOBAL_ID, balanceOf, keys, Network, PROXY_STAKE } from '../../fixtures/network';
import { useNetworkSnapshot } from '../helpers/fixture';
import { accountOf, plain, storageFee, storageUsed } from '../helpers/state';
import { readFileSync } from 'fs';
import { join } from 'path';
import {
    compiledChildCodes,
    DEFAULT_PARAMS,
    dictValueParserModel,
    dictValueParserProxyInfo,
    ErrAccessDenied,
    ErrBadModel,
    ErrBadParams,
    ErrLimitReached,
    ErrLowStake,
    GovMargin,
    MaxGovLatency,
    MinDelay,
    ErrNoPendingSlash,
    ErrNotFound,
    Model,
    Params,
    ProxyInfo,
    Root,
    RootWrapper,
    storeAddImage,
    storeRegisterModel,
    storeRemoveImage,
} from '../../wrappers/Root';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { GovernanceWrapper } from '../../wrappers/Governance';
import { modelId, toUint256 } from '../../wrappers/payloads';

const MAX_IMAGES = 256;
const MAX_MODELS = 128;
const MAX_PROXIES = 64;
const MAX_DELAY = 31536000n;
const STATE_CLOSING = 1n;
const YEAR = 31_536_000n;

/** A cell tree of exactly `count` distinct cells (4-ary; `salt` keeps trees of different calls distinct). */
function cellTree(count: number, salt: number): Cell {
    let next = 0;
    const build = (n: number): Cell => {
        const b = beginCell().storeUint(salt, 32).storeUint(next++, 32);
        let rest = n - 1;
        for (let k = 4; k > 0 && rest > 0; k--) {
            const share = Math.ceil(rest / k);
            b.storeRef(build(share));
            rest -= share;
        }
        return b.endCell();
    };
    return build(count);
}

/** An endpoint "string" whose first cell is short but whose snake tail references `tail` more cells. */
function bloatedEndpoint(text: string, tail: number, salt: number): Cell {
    return beginCell().storeBuffer(Buffer.from(text)).storeRef(cellTree(tail, salt)).endCell();
}

function model(name: string, over: Partial<Omit<Model, '$$type'>> = {}): Omit<Model, '$$type'> {
    return {
        name,
        weightsHash: 0xabcdn,
        contextLength: 32768n,
        pricePrompt: 100n,
        priceCached: 10n,
        priceCompletion: 400n,
        priceReasoning: 400n,
        requireGpu: false,
        ...over,
    };
}

function rawAddImage(kind: bigint, hash: bigint): Cell {
    return beginCell().store(storeAddImage({ $$type: 'AddImage', queryId: 0n, kind, hash })).endCell();
}
function rawRemoveImage(kind: bigint, hash: bigint): Cell {
    return beginCell().store(storeRemoveImage({ $$type: 'RemoveImage', queryId: 0n, kind, hash })).endCell();
}

describe('Root', () => {
    let n: Network;
    useNetworkSnapshot((net) => {
        n = net;
    });

    // ---------- helpers ----------
    const ONE = toNano('1');

    /** Governance action with 1 TON attached (the excess must come back). */
    const act = (body: Cell, from: SandboxContract<TreasuryContract> = n.gov, value = ONE) => n.root.sendAction(from.getSender(), body, value);

    async function rootState() {
        return { data: (await accountOf(n.bc, n.root.address)).data, balance: await balanceOf(n.bc, n.root.address), version: await n.root.getVersion() };
    }
    type RootState = Awaited<ReturnType<typeof rootState>>;

    /** A refused message: Root's stored state is bit-for-bit the same and its balance did not decrease. */
    async function expectRootUnchanged(before: RootState) {
        const after = await rootState();
        expect(after.data.equals(before.data)).toBe(true);
        expect(after.version).toBe(before.version);
        expect(after.balance).toBeGreaterThanOrEqual(before.balance);
    }

    function expectRefused(r: SendMessageResult, from: Address, exitCode: bigint) {
        expect(r.transactions).toHaveTransaction({ from, to: n.root.address, success: false, exitCode: Number(exitCode), aborted: true });
        // the value goes back to the sender in a bounce
        expect(r.transactions).toHaveTransaction({ from: n.root.address, to: from, inMessageBounced: true });
    }

    /** Success, version + 1, and the excess of the 1 TON attached returned to the sender. */
    function expectDone(r: SendMessageResult, from: Address = n.gov.address) {
        expect(r.transactions).toHaveTransaction({ from, to: n.root.address, success: true });
        expect(r.transactions).toHaveTransaction({ from: n.root.address, to: from, success: true, value: (v?: bigint) => v !== undefined && v > ONE - toNano('0.02') });
    }

    // ---------- images ----------
    describe('AddImage / RemoveImage', () => {
        const H1 = 0x1111n;
        const H2 = 0x2222n;

        it('adds a proxy image and a worker image to their own allowlists, bumping version and returning the excess', async () => {
            const v0 = await n.root.getVersion();
            const r1 = await act(RootWrapper.addImageBody('proxy', H1));
            expectDone(r1);
            expect(await n.root.getVersion()).toBe(v0 + 1n);
            const r2 = await act(RootWrapper.addImageBody('worker', H2));
            expectDone(r2);
            expect(await n.root.getVersion()).toBe(v0 + 2n);

            expect(await n.root.getIsProxyImageAllowed(H1)).toBe(true);
            expect(await n.root.getIsWorkerImageAllowed(H1)).toBe(false);
            expect(await n.root.getIsWorkerImageAllowed(H2)).toBe(true);
            expect(await n.root.getIsProxyImageAllowed(H2)).toBe(false);
            const c = await n.root.getCounts();
            expect(c.proxyImages).toBe(1n);
            expect(c.workerImages).toBe(1n);
            expect(await n.root.getAllImages('proxy')).toEqual([H1]);
            expect(await n.root.getAllImages('worker')).toEqual([H2]);
        });

        it('adding an image that is already listed does not count it twice', async () => {
            await act(RootWrapper.addImageBody('proxy', H1));
            const v = await n.root.getVersion();
            const r = await act(RootWrapper.addImageBody('proxy', H1));
            expectDone(r);
            expect((await n.root.getCounts()).proxyImages).toBe(1n);
            expect(await n.root.getAllImages('proxy')).toEqual([H1]);
            expect(await n.root.getVersion()).toBe(v + 1n);
        });

        it('removes a proxy image and a worker image', async () => {
            await act(RootWrapper.addImageBody('proxy', H1));
            await act(RootWrapper.addImageBody('worker', H2));
            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.removeImageBody('proxy', H1)));
            expectDone(await act(RootWrapper.removeImageBody('worker', H2)));
            expect(await n.root.getIsProxyImageAllowed(H1)).toBe(false);
            expect(await n.root.getIsWorkerImageAllowed(H2)).toBe(false);
            const c = await n.root.getCounts();
            expect(c.proxyImages).toBe(0n);
            expect(c.workerImages).toBe(0n);
            expect(await n.root.getAllImages('proxy')).toEqual([]);
            expect(await n.root.getVersion()).toBe(v + 2n);
        });

        it('refuses image changes from a stranger (ErrAccessDenied)', async () => {
            await act(RootWrapper.addImageBody('proxy', H1));
            await act(RootWrapper.addImageBody('keys', H1));
            const before = await rootState();
            for (const body of [
                RootWrapper.addImageBody('proxy', H2),
                RootWrapper.addImageBody('worker', H2),
                RootWrapper.addImageBody('keys', H2),
                RootWrapper.removeImageBody('proxy', H1),
                RootWrapper.removeImageBody('keys', H1),
            ]) {
                const r = await act(body, n.stranger);
                expectRefused(r, n.stranger.address, ErrAccessDenied);
            }
            await expectRootUnchanged(before);
            expect(await n.root.getIsProxyImageAllowed(H1)).toBe(true);
            expect(await n.root.getIsKeyImageAllowed(H1)).toBe(true);
            expect(await n.root.getIsKeyImageAllowed(H2)).toBe(false);
        });

        it('refuses an unknown image kind (ErrBadParams)', async () => {
            await act(RootWrapper.addImageBody('worker', H1));
            const before = await rootState();
            for (const kind of [3n, 255n]) {
                expectRefused(await act(rawAddImage(kind, H2)), n.gov.address, ErrBadParams);
                expectRefused(await act(rawRemoveImage(kind, H1)), n.gov.address, ErrBadParams);
            }
            await expectRootUnchanged(before);
        });

        it('refuses to remove an image that is not listed under that kind (ErrNotFound)', async () => {
            await act(RootWrapper.addImageBody('worker', H1));
            const before = await rootState();
            expectRefused(await act(RootWrapper.removeImageBody('proxy', H1)), n.gov.address, ErrNotFound);
            expectRefused(await act(RootWrapper.removeImageBody('worker', H2)), n.gov.address, ErrNotFound);
            await expectRootUnchanged(before);
            expect((await n.root.getCounts()).workerImages).toBe(1n);
        });

        it('keeps key-service images (kind 2) in their own allowlist: add, re-add, list, remove, each bumping version', async () => {
            await act(RootWrapper.addImageBody('worker', H2));
            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.addImageBody('keys', H1)));
            expectDone(await act(RootWrapper.addImageBody('keys', H1))); // already listed: counted once
            expect(await n.root.getVersion()).toBe(v + 2n);
            expect(await n.root.getIsKeyImageAllowed(H1)).toBe(true);
            expect(await n.root.getIsProxyImageAllowed(H1)).toBe(false);
            expect(await n.root.getIsWorkerImageAllowed(H1)).toBe(false);
            // a worker image is not a key-service image
            expect(await n.root.getIsKeyImageAllowed(H2)).toBe(false);
            expect(await n.root.getCounts()).toEqual({ $$type: 'RootCounts', proxyImages: 0n, workerImages: 1n, keyImages: 1n, models: 0n, proxies: 1n });
            expect(await n.root.getAllImages('keys')).toEqual([H1]);
            expect(await n.root.getAllImages('worker')).toEqual([H2]);
            expect((await n.root.getKeyImagesPage(-1n, 10n)).keys()).toEqual([H1]);
            expect((await n.root.getKeyImagesPage(H1, 10n)).keys()).toEqual([]);

            expectDone(await act(RootWrapper.removeImageBody('keys', H1)));
            expect(await n.root.getVersion()).toBe(v + 3n);
            expect(await n.root.getIsKeyImageAllowed(H1)).toBe(false);
            expect((await n.root.getCounts()).keyImages).toBe(0n);
            expect(await n.root.getAllImages('keys')).toEqual([]);
            expect(await n.root.getIsWorkerImageAllowed(H2)).toBe(true);
        });

        it('refuses to remove a key-service image that is not listed as one (ErrNotFound), also when it is listed under another kind', async () => {
            await act(RootWrapper.addImageBody('worker', H2));
            await act(RootWrapper.addImageBody('keys', H1));
            const before = await rootState();
            expectRefused(await act(RootWrapper.removeImageBody('keys', H2)), n.gov.address, ErrNotFound);
            expectRefused(await act(RootWrapper.removeImageBody('worker', H1)), n.gov.address, ErrNotFound);
            expectRefused(await act(RootWrapper.removeImageBody('proxy', H1)), n.gov.address, ErrNotFound);
            await expectRootUnchanged(before);
            expect(await n.root.getCounts()).toMatchObject({ workerImages: 1n, keyImages: 1n });
        });
    });

    // ---------- models ----------
    describe('RegisterModel / RemoveModel', () => {
        it('registers a model under id = sha256(name)', async () => {
            const v = await n.root.getVersion();
            const m = model('Qwen/Qwen3-32B');
            expectDone(await act(RootWrapper.registerModelBody(m)));
            expect(await n.root.getModel(modelId('Qwen/Qwen3-32B'))).toEqual({ $$type: 'Model', ...m });
            expect(await n.root.getModelByName('Qwen/Qwen3-32B')).toEqual({ $$type: 'Model', ...m });
            expect((await n.root.getCounts()).models).toBe(1n);
            expect(await n.root.getVersion()).toBe(v + 1n);
            const all = await n.root.getAllModels();
            expect([...all.keys()]).toEqual([modelId('Qwen/Qwen3-32B')]);
        });

        it('uses the UTF-8 bytes of a non-ASCII name for the id', async () => {
            const name = 'модель-ü/7B';
            await act(RootWrapper.registerModelBody(model(name)));
            expect((await n.root.getModel(modelId(name)))?.name).toBe(name);
        });

        it('updating an existing model replaces its fields without counting it twice', async () => {
            await act(RootWrapper.registerModelBody(model('m')));
            const v = await n.root.getVersion();
            const updated = model('m', { contextLength: 8192n, pricePrompt: 5n, weightsHash: 7n });
            expectDone(await act(RootWrapper.registerModelBody(updated)));
            expect(await n.root.getModel(modelId('m'))).toEqual({ $$type: 'Model', ...updated });
            expect((await n.root.getCounts()).models).toBe(1n);
            expect(await n.root.getVersion()).toBe(v + 1n);
        });

        it('stores requireGpu as registered and reports it through model, modelsPage and getAllModels; changing only it bumps version', async () => {
            const gpu = model('gpu/m', { requireGpu: true });
            expectDone(await act(RootWrapper.registerModelBody(gpu)));
            await act(RootWrapper.registerModelBody(model('plain/m')));
            expect(await n.root.getModel(modelId('gpu/m'))).toEqual({ $$type: 'Model', ...gpu });
            expect((await n.root.getModel(modelId('plain/m')))?.requireGpu).toBe(false);
            const page = await n.root.getModelsPage(-1n, 10n);
            expect(page.get(modelId('gpu/m'))?.requireGpu).toBe(true);
            expect(page.get(modelId('plain/m'))?.requireGpu).toBe(false);
            const all = await n.root.getAllModels();
            expect([...all.values()].map((m) => [m.name, m.requireGpu]).sort()).toEqual([['gpu/m', true], ['plain/m', false]]);

            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.registerModelBody({ ...gpu, requireGpu: false })));
            expect(await n.root.getModel(modelId('gpu/m'))).toEqual({ $$type: 'Model', ...gpu, requireGpu: false });
            expect((await n.root.getCounts()).models).toBe(2n);
            expect(await n.root.getVersion()).toBe(v + 1n);
        });

        it('refuses a RegisterModel in the layout before requireGpu (no last bit): cell underflow (9), nothing stored', async () => {
            const m = model('old/layout');
            const old = beginCell()
                .storeUint(Root.opcodes.RegisterModel, 32)
                .storeUint(0, 64)
                .storeStringRefTail(m.name)
                .storeUint(m.weightsHash, 256)
                .storeUint(m.contextLength, 32)
                .storeCoins(m.pricePrompt)
                .storeCoins(m.priceCached)
                .storeCoins(m.priceCompletion)
                .storeCoins(m.priceReasoning)
                .endCell();
            // the same bytes plus the bit are exactly the current encoding
            expect(beginCell().storeSlice(old.beginParse()).storeBit(false).endCell().equals(RootWrapper.registerModelBody(m))).toBe(true);
            const before = await rootState();
            expectRefused(await act(old), n.gov.address, 9n);
            await expectRootUnchanged(before);
            expect(await n.root.getModel(modelId('old/layout'))).toBeNull();
        });

        it('accepts a 120-byte name', async () => {
            const name = 'n'.repeat(120);
            expectDone(await act(RootWrapper.registerModelBody(model(name))));
            expect((await n.root.getModel(modelId(name)))?.name).toBe(name);
        });

        it('refuses an empty name, a zero context length and names over 120 bytes (ErrBadModel)', async () => {
            const before = await rootState();
            for (const m of [
                model(''),
                model('ok-name', { contextLength: 0n }),
                model('n'.repeat(121)),
                model('é'.repeat(61)), // 122 bytes in 61 characters
                model('n'.repeat(300)), // spills into a second cell
            ]) {
                expectRefused(await act(RootWrapper.registerModelBody(m)), n.gov.address, ErrBadModel);
            }
            await expectRootUnchanged(before);
            expect((await n.root.getCounts()).models).toBe(0n);
        });

        it('refuses model changes from a stranger (ErrAccessDenied)', async () => {
            await act(RootWrapper.registerModelBody(model('m')));
            const before = await rootState();
            expectRefused(await act(RootWrapper.registerModelBody(model('x')), n.stranger), n.stranger.address, ErrAccessDenied);
            expectRefused(await act(RootWrapper.removeModelBody('m'), n.stranger), n.stranger.address, ErrAccessDenied);
            await expectRootUnchanged(before);
        });

        it('removes a model', async () => {
            await act(RootWrapper.registerModelBody(model('a')));
            await act(RootWrapper.registerModelBody(model('b')));
            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.removeModelBody('a')));
            expect(await n.root.getModel(modelId('a'))).toBeNull();
            expect((await n.root.getModel(modelId('b')))?.name).toBe('b');
            expect((await n.root.getCounts()).models).toBe(1n);
            expect(await n.root.getVersion()).toBe(v + 1n);
        });

        it('refuses to remove an unknown model (ErrNotFound)', async () => {
            await act(RootWrapper.registerModelBody(model('a')));
            const before = await rootState();
            expectRefused(await act(RootWrapper.removeModelBody('b')), n.gov.address, ErrNotFound);
            await expectRootUnchanged(before);
        });

        it(`holds at most ${MAX_MODELS} models (ErrLimitReached) and pages through all of them`, async () => {
            const names = Array.from({ length: MAX_MODELS }, (_, i) => `model-${i}`);
            // one external to the governance wallet carries all 128 registrations (fewer transactions)
            const r = await n.gov.sendMessages(names.map((name) => internal({ to: n.root.address, value: toNano('0.05'), body: RootWrapper.registerModelBody(model(name)) })));
            const done = r.transactions.filter((tx) => flattenTransaction(tx).to?.equals(n.root.address) && flattenTransaction(tx).success);
            expect(done.length).toBe(MAX_MODELS);
            expect((await n.root.getCounts()).models).toBe(BigInt(MAX_MODELS));

            // more than 4 pages of 32 (and an empty last page)
            const all = await n.root.getAllModels(32n);
            expect(all.size).toBe(MAX_MODELS);
            for (const name of names) expect(all.get(modelId(name))?.name).toBe(name);

            const before = await rootState();
            expectRefused(await act(RootWrapper.registerModelBody(model('one-too-many'))), n.gov.address, ErrLimitReached);
            await expectRootUnchanged(before);

            // an update of a listed model is not an addition
            expectDone(await act(RootWrapper.registerModelBody(model('model-7', { contextLength: 1n }))));
            expect((await n.root.getModel(modelId('model-7')))?.contextLength).toBe(1n);
            // after a removal there is room again
            await act(RootWrapper.removeModelBody('model-0'));
            expectDone(await act(RootWrapper.registerModelBody(model('one-too-many'))));
            expect((await n.root.getCounts()).models).toBe(BigInt(MAX_MODELS));
        });
    });

    // ---------- params ----------
    describe('SetParams', () => {
        const valid: Params = {
            ...DEFAULT_PARAMS,
            commissionBps: 500n,
            reporterShareBps: 3000n,
            minProxyStake: toNano('20'),
            minWorkerStake: toNano('2'),
            proxyCloseDelay: 7200n,
            workerUnbondDelay: 400000n,
            slashChallengePeriod: 400000n,
        };

        it('sets valid params; the terms given to new proxies follow', async () => {
            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.setParamsBody(valid)));
            expect(await n.root.getParams()).toEqual(valid);
            expect(await n.root.getVersion()).toBe(v + 1n);
            const t = await n.root.getTerms();
            expect(t.commissionBps).toBe(500n);
            expect(t.reporterShareBps).toBe(3000n);
            expect(t.proxyCloseDelay).toBe(7200n);
            expect(t.workerUnbondDelay).toBe(400000n);
            expect(t.slashChallengePeriod).toBe(400000n);
            expect(t.minWorkerStake).toBe(toNano('2'));
            expect(t.treasury.equals(n.treasury.address)).toBe(true);
        });

        it('accepts the boundary values (10000 bps, one-year delays)', async () => {
            const edge: Params = { ...valid, commissionBps: 10000n, reporterShareBps: 10000n, proxyCloseDelay: MAX_DELAY, clientCloseDelay: MAX_DELAY, workerUnbondDelay: MAX_DELAY, slashChallengePeriod: MAX_DELAY };
            expectDone(await act(RootWrapper.setParamsBody(edge)));
            expect(await n.root.getParams()).toEqual(edge);
        });

        const bad: [string, Partial<Params>][] = [
            ['commissionBps > 10000', { commissionBps: 10001n }],
            ['reporterShareBps > 10000', { reporterShareBps: 10001n }],
            ['workerUnbondDelay < slashChallengePeriod', { workerUnbondDelay: 399999n, slashChallengePeriod: 400000n }],
            // attack 8: zero (or tiny) delays
            ['attack 8: proxyCloseDelay = 0', { proxyCloseDelay: 0n }],
            ['attack 8: clientCloseDelay = 0', { clientCloseDelay: 0n }],
            ['attack 8: clientCloseDelay below MinDelay', { clientCloseDelay: MinDelay - 1n }],
            ['attack 8: slashChallengePeriod = 0 (and unbond 0)', { workerUnbondDelay: 0n, slashChallengePeriod: 0n }],
            // attack 4: a veto could not execute in time
            ['attack 4: slashChallengePeriod below MaxGovLatency + GovMargin', { slashChallengePeriod: MaxGovLatency + GovMargin - 1n }],
            ['proxyCloseDelay > 1 year', { proxyCloseDelay: MAX_DELAY + 1n }],
            ['clientCloseDelay > 1 year', { clientCloseDelay: MAX_DELAY + 1n }],
            ['workerUnbondDelay > 1 year', { workerUnbondDelay: MAX_DELAY + 1n }],
            ['slashChallengePeriod > 1 year', { workerUnbondDelay: MAX_DELAY + 1n, slashChallengePeriod: MAX_DELAY + 1n }],
            ['minProxyStake = 0', { minProxyStake: 0n }],
            ['minWorkerStake = 0', { minWorkerStake: 0n }],
        ];
        for (const [what, over] of bad) {
            it(`refuses ${what} (ErrBadParams)`, async () => {
                const before = await rootState();
                expectRefused(await act(RootWrapper.setParamsBody({ ...valid, ...over })), n.gov.address, ErrBadParams);
                await expectRootUnchanged(before);
                expect(await n.root.getParams()).toEqual(DEFAULT_PARAMS);
            });
        }

        it('refuses params from a stranger (ErrAccessDenied)', async () => {
            const before = await rootState();
            expectRefused(await act(RootWrapper.setParamsBody(valid), n.stranger), n.stranger.address, ErrAccessDenied);
            await expectRootUnchanged(before);
        });
    });

    // ---------- code ----------
    describe('SetChildCode / UpgradeRoot', () => {
        it('sets new child code, bumps codeVersion, and derives proxy addresses from it', async () => {
            const old = await n.root.getChildCode();
            expect(old.codeVersion).toBe(0n);
            const gov = await GovernanceWrapper.create([{ address: n.gov.address, weight: 1n }]);
            const other = gov.init!.code;
            const codes = { proxyCode: old.workerCode, clientCode: other, workerCode: old.proxyCode };
            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.setChildCodeBody(codes)));
            const now = await n.root.getChildCode();
            expect(now.codeVersion).toBe(1n);
            expect(now.proxyCode.equals(codes.proxyCode)).toBe(true);
            expect(now.clientCode.equals(codes.clientCode)).toBe(true);
            expect(now.workerCode.equals(codes.workerCode)).toBe(true);
            expect(await n.root.getVersion()).toBe(v + 1n);

            const key = toUint256(n.proxyKeys.publicKey);
            const derived = await n.root.getProxyAddress(n.proxyOwner.address, key);
            const expected = await ProxyWrapper.create({ root: n.root.address, owner: n.proxyOwner.address, enclaveKey: key, workerCode: codes.workerCode, proxyCode: codes.proxyCode });
            expect(derived.equals(expected.address)).toBe(true);
            expect(derived.equals(n.proxy.address)).toBe(false);
        });

        it('refuses child code from a stranger (ErrAccessDenied)', async () => {
            const old = await n.root.getChildCode();
            const before = await rootState();
            const r = await act(RootWrapper.setChildCodeBody({ proxyCode: old.clientCode, clientCode: old.clientCode, workerCode: old.clientCode }), n.stranger);
            expectRefused(r, n.stranger.address, ErrAccessDenied);
            await expectRootUnchanged(before);
        });

        it('upgrades to the same code keeping its storage (version + 1)', async () => {
            const { code } = await accountOf(n.bc, n.root.address);
            const v = await n.root.getVersion();
            const counts = await n.root.getCounts();
            expectDone(await act(RootWrapper.upgradeRootBody(code)));
            expect((await accountOf(n.bc, n.root.address)).code.equals(code)).toBe(true);
            expect(await n.root.getVersion()).toBe(v + 1n);
            expect(await n.root.getCounts()).toEqual(counts);
        });

        it('replaces its own code with the given cell', async () => {
            const gov = await GovernanceWrapper.create([{ address: n.gov.address, weight: 1n }]);
            const newCode = gov.init!.code;
            const { code: oldCode } = await accountOf(n.bc, n.root.address);
            expect(oldCode.equals(newCode)).toBe(false);
            const r = await act(RootWrapper.upgradeRootBody(newCode));
            expectDone(r);
            expect((await accountOf(n.bc, n.root.address)).code.equals(newCode)).toBe(true);
        });

        it('refuses an upgrade from a stranger (ErrAccessDenied)', async () => {
            const gov = await GovernanceWrapper.create([{ address: n.gov.address, weight: 1n }]);
            const { code } = await accountOf(n.bc, n.root.address);
            const before = await rootState();
            expectRefused(await act(RootWrapper.upgradeRootBody(gov.init!.code), n.stranger), n.stranger.address, ErrAccessDenied);
            await expectRootUnchanged(before);
            expect((await accountOf(n.bc, n.root.address)).code.equals(code)).toBe(true);
        });
    });

    // ---------- proxies ----------
    describe('DelistProxy', () => {
        it('removes the proxy; the Proxy is told, becomes banned and starts closing', async () => {
            expect(await n.root.getProxy(n.proxy.address)).not.toBeNull();
            const v = await n.root.getVersion();
            const r = await act(RootWrapper.delistProxyBody(n.proxy.address));
            expectDone(r);
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.proxy.address, success: true });
            // Root removed the entry already: the Proxy sends no UnregisterProxy (nothing paid out of its funds)
            expect(r.transactions).not.toHaveTransaction({ from: n.proxy.address, to: n.root.address });
            expect(await n.root.getProxy(n.proxy.address)).toBeNull();
            expect((await n.root.getCounts()).proxies).toBe(0n);
            expect((await n.root.getAllProxies()).size).toBe(0);
            expect(await n.root.getVersion()).toBe(v + 1n);

            const ps = await n.proxy.getProxyState();
            expect(ps.banned).toBe(true);
            expect(ps.registered).toBe(false);
            expect(ps.state).toBe(STATE_CLOSING);
            expect(ps.closeAt).toBe(BigInt(n.bc.now!) + DEFAULT_PARAMS.proxyCloseDelay);
            expect(ps.stake).toBe(PROXY_STAKE);
        });

        it('refuses to delist an unknown proxy (ErrNotFound)', async () => {
            const before = await rootState();
            expectRefused(await act(RootWrapper.delistProxyBody(n.stranger.address)), n.gov.address, ErrNotFound);
            await expectRootUnchanged(before);
        });

        it('refuses a delisting from a stranger (ErrAccessDenied)', async () => {
            const before = await rootState();
            const proxyBefore = await n.proxy.getProxyState();
            expectRefused(await act(RootWrapper.delistProxyBody(n.proxy.address), n.stranger), n.stranger.address, ErrAccessDenied);
            await expectRootUnchanged(before);
            expect(plain(await n.proxy.getProxyState())).toEqual(plain(proxyBefore));
        });
    });

    describe('SetTreasury / SetGovernance', () => {
        it('sets the treasury; new terms carry it', async () => {
            const t = randomAddress();
            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.setTreasuryBody(t)));
            expect((await n.root.getTreasury()).equals(t)).toBe(true);
            expect((await n.root.getTerms()).treasury.equals(t)).toBe(true);
            expect(await n.root.getVersion()).toBe(v + 1n);
        });

        it('refuses a treasury change from a stranger (ErrAccessDenied)', async () => {
            const before = await rootState();
            expectRefused(await act(RootWrapper.setTreasuryBody(n.stranger.address), n.stranger), n.stranger.address, ErrAccessDenied);
            await expectRootUnchanged(before);
        });

        it('hands governance over: the new governance acts, the old one is refused', async () => {
            const next = await n.bc.treasury('next-governance');
            const v = await n.root.getVersion();
            expectDone(await act(RootWrapper.setGovernanceBody(next.address)));
            expect((await n.root.getGovernance()).equals(next.address)).toBe(true);
            expect(await n.root.getVersion()).toBe(v + 1n);

            const before = await rootState();
            expectRefused(await act(RootWrapper.addImageBody('proxy', 1n)), n.gov.address, ErrAccessDenied);
            expectRefused(await act(RootWrapper.setGovernanceBody(n.gov.address)), n.gov.address, ErrAccessDenied);
            await expectRootUnchanged(before);

            expectDone(await act(RootWrapper.addImageBody('proxy', 1n), next), next.address);
            expect(await n.root.getIsProxyImageAllowed(1n)).toBe(true);
        });

        it('refuses a governance change from a stranger (ErrAccessDenied)', async () => {
            const before = await rootState();
            expectRefused(await act(RootWrapper.setGovernanceBody(n.stranger.address), n.stranger), n.stranger.address, ErrAccessDenied);
            await expectRootUnchanged(before);
            expect((await n.root.getGovernance()).equals(n.gov.address)).toBe(true);
        });
    });

    describe('VetoSlash', () => {
        async function reportFault() {
            const f = { seqno: 0n, amount: toNano('0.5'), reason: 1n, requestId: 42n, evidenceHash: 43n };
            await n.workerChannel.sendReportFault(n.stranger.getSender(), { ...f, signature: n.workerChannel.signFault(f, n.proxyKeys.secretKey, GLOBAL_ID) });
            expect((await n.workerChannel.getChannelState()).slash).not.toBeNull();
        }

        it('forwards a veto to the channel, which drops its pending slash', async () => {
            await reportFault();
            const v = await n.root.getVersion();
            const r = await act(RootWrapper.vetoSlashBody(n.workerChannel.address, 0n));
            expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: n.root.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.workerChannel.address, success: true });
            expect((await n.workerChannel.getChannelState()).slash).toBeNull();
            expect(await n.root.getVersion()).toBe(v); // Root's own state does not change
        });

        it('a veto for a channel with nothing pending bounces back to Root and changes nothing', async () => {
            const before = await rootState();
            const ws = await n.workerChannel.getChannelState();
            const r = await act(RootWrapper.vetoSlashBody(n.workerChannel.address, 0n));
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.workerChannel.address, success: false, exitCode: Number(ErrNoPendingSlash) });
            expect(r.transactions).toHaveTransaction({ from: n.workerChannel.address, to: n.root.address, inMessageBounced: true, success: true });
            const after = await rootState();
            expect(after.data.equals(before.data)).toBe(true);
            expect(plain(await n.workerChannel.getChannelState())).toEqual(plain(ws));
        });

        it('refuses a veto from a stranger (ErrAccessDenied); the slash stays pending', async () => {
            await reportFault();
            const before = await rootState();
            const r = await act(RootWrapper.vetoSlashBody(n.workerChannel.address, 0n), n.stranger);
            expectRefused(r, n.stranger.address, ErrAccessDenied);
            expect(r.transactions).not.toHaveTransaction({ from: n.root.address, to: n.workerChannel.address });
            await expectRootUnchanged(before);
            expect((await n.workerChannel.getChannelState()).slash).not.toBeNull();
        });
    });

    describe('RegisterProxy / UnregisterProxy', () => {
        it('lists the registered proxy under its derived address', async () => {
            const key = toUint256(n.proxyKeys.publicKey);
            const derived = await n.root.getProxyAddress(n.proxyOwner.address, key);
            const cc = await n.root.getChildCode();
            const expected = await ProxyWrapper.create({ root: n.root.address, owner: n.proxyOwner.address, enclaveKey: key, workerCode: cc.workerCode, proxyCode: cc.proxyCode });
            expect(derived.equals(expected.address)).toBe(true);
            expect(derived.equals(n.proxy.address)).toBe(true);
            // the default codes of the wrapper are the ones Root holds
            const dflt = await ProxyWrapper.create({ root: n.root.address, owner: n.proxyOwner.address, enclaveKey: key, workerCode: (await compiledChildCodes()).workerCode });
            expect(dflt.address.equals(derived)).toBe(true);

            const info = await n.root.getProxy(n.proxy.address);
            expect(plain(info)).toEqual(plain({
                $$type: 'ProxyInfo',
                owner: n.proxyOwner.address,
                enclaveKey: key,
                stake: PROXY_STAKE,
                clientEndpoint: '127.0.0.1:8801',
                workerEndpoint: '127.0.0.1:8802',
                registeredAt: 1_800_000_000n,
            }));
            expect((await n.root.getCounts()).proxies).toBe(1n);
            const all = await n.root.getAllProxies();
            expect([...all.keys()]).toEqual([n.proxy.address.toString()]);
            expect(await n.root.getVersion()).toBe(1n); // the registration was the only change
        });

        it('refuses a RegisterProxy sent by anyone but the derived Proxy address (ErrAccessDenied)', async () => {
            const before = await rootState();
            const key = toUint256(n.proxyKeys.publicKey);
            for (const [owner, enclaveKey] of [
                [n.stranger.address, 1n],
                [n.proxyOwner.address, key], // claims the real proxy's identity
            ] as [Address, bigint][]) {
                const r = await n.root.send(n.stranger.getSender(), { value: ONE }, {
                    $$type: 'RegisterProxy', queryId: 0n, owner, enclaveKey, stake: toNano('100'), clientEndpoint: 'evil', workerEndpoint: 'evil',
                });
                expectRefused(r, n.stranger.address, ErrAccessDenied);
            }
            await expectRootUnchanged(before);
            expect((await n.root.getProxy(n.proxy.address))?.clientEndpoint).toBe('127.0.0.1:8801');
        });

        async function secondProxy(label: string) {
            const cc = await n.root.getChildCode();
            const owner = await n.bc.treasury(`owner-${label}`);
            const proxy = n.bc.openContract(
                await ProxyWrapper.create({ root: n.root.address, owner: owner.address, enclaveKey: toUint256(keys(label).publicKey), workerCode: cc.workerCode, proxyCode: cc.proxyCode }),
            );
            return { owner, proxy };
        }

        it('refuses a stake below minProxyStake (ErrLowStake); the Proxy keeps its stake, unregistered', async () => {
            const { owner, proxy } = await secondProxy('low');
            const before = await rootState();
            const stake = DEFAULT_PARAMS.minProxyStake - 1n;
            const r = await proxy.sendRegister(owner.getSender(), { stake, clientEndpoint: 'c', workerEndpoint: 'w' });
            expect(r.transactions).toHaveTransaction({ from: proxy.address, to: n.root.address, success: false, exitCode: Number(ErrLowStake) });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: proxy.address, inMessageBounced: true, success: true });
            await expectRootUnchanged(before);
            expect(await n.root.getProxy(proxy.address)).toBeNull();
            const ps = await proxy.getProxyState();
            expect(ps.registered).toBe(false);
            expect(ps.terms).toBeNull();
            expect(ps.stake).toBe(stake);
            expect(await balanceOf(n.bc, proxy.address)).toBeGreaterThan(stake);

            // topping the stake up and registering again succeeds
            const r2 = await proxy.sendRegister(owner.getSender(), { stake: 1n, clientEndpoint: 'c', workerEndpoint: 'w' });
            expect(r2.transactions).toHaveTransaction({ from: n.root.address, to: proxy.address, success: true });
            expect((await proxy.getProxyState()).registered).toBe(true);
            expect((await n.root.getProxy(proxy.address))?.stake).toBe(DEFAULT_PARAMS.minProxyStake);
            expect((await n.root.getCounts()).proxies).toBe(2n);
            expect(await n.root.getVersion()).toBe(before.version + 1n);
        });

        it('refuses an endpoint over 120 bytes (ErrBadParams, at the Proxy already); the Proxy stays unregistered', async () => {
            const { owner, proxy } = await secondProxy('long');
            const before = await rootState();
            for (const [c, w] of [['x'.repeat(121), 'w'], ['c', 'y'.repeat(121)]]) {
                const r = await proxy.sendRegister(owner.getSender(), { stake: PROXY_STAKE, clientEndpoint: c, workerEndpoint: w });
                expect(r.transactions).toHaveTransaction({ from: owner.address, to: proxy.address, success: false, exitCode: Number(ErrBadParams) });
                expect(r.transactions).not.toHaveTransaction({ from: proxy.address, to: n.root.address });
            }
            await expectRootUnchanged(before);
            expect((await proxy.getProxyState()).registered).toBe(false);
        });

        it('attack 1: eight proxies whose endpoints carry ~8,000 referenced cells are refused (ErrBadParams) at the Proxy and at Root; Root stays small and governance still adds images', async () => {
            const before = await rootState();
            const size0 = await storageUsed(n.bc, n.root.address);
            const c = bloatedEndpoint('127.0.0.1:1', 3990, 1);
            const w = bloatedEndpoint('127.0.0.1:2', 3990, 2);
            for (let i = 0; i < 8; i++) {
                const { owner, proxy } = await secondProxy(`bloat-${i}`);
                if (i === 0) {
                    // Through the Proxy (deploying it): refused there, nothing reaches Root.
                    const viaProxy = beginCell().storeUint(0xc0c00301, 32).storeUint(0, 64).storeRef(c).storeRef(w).endCell();
                    const r1 = await n.bc.sendMessage(inbound({ from: owner.address, to: proxy.address, value: PROXY_STAKE + toNano('1'), body: viaProxy, stateInit: proxy.init! }));
                    expect(r1.transactions).toHaveTransaction({ from: owner.address, to: proxy.address, success: false, exitCode: Number(ErrBadParams) });
                    expect(r1.transactions).not.toHaveTransaction({ to: n.root.address });
                }
                // Straight to Root from the Proxy's canonical address (as a Proxy built from other code could send it).
                const direct = beginCell()
                    .storeUint(0xc0c00201, 32).storeUint(0, 64).storeAddress(owner.address).storeUint(toUint256(keys(`bloat-${i}`).publicKey), 256)
                    .storeCoins(PROXY_STAKE).storeRef(c).storeRef(w).endCell();
                const r2 = await n.bc.sendMessage(inbound({ from: proxy.address, to: n.root.address, value: toNano('1'), body: direct }));
                expect(r2.transactions).toHaveTransaction({ from: proxy.address, to: n.root.address, success: false, exitCode: Number(ErrBadParams) });
            }
            await expectRootUnchanged(before);
            const size = await storageUsed(n.bc, n.root.address);
            expect(size).toEqual(size0);
            expect(size.cells).toBeLessThan(1000n);
            expect((await n.root.getCounts()).proxies).toBe(1n);
            // Governance keeps working.
            expectDone(await act(RootWrapper.addImageBody('proxy', 0x77n)));
            expect(await n.root.getIsProxyImageAllowed(0x77n)).toBe(true);
        });

        it('attack 1: refuses a model name with references (ErrBadModel)', async () => {
            const before = await rootState();
            const body = beginCell().store(storeRegisterModel({ $$type: 'RegisterModel', queryId: 0n, model: { $$type: 'Model', ...model('m') } })).endCell();
            // Rebuild the body with a name cell that has a snake tail.
            const s = body.beginParse();
            const head = beginCell().storeUint(s.loadUint(32), 32).storeUint(s.loadUintBig(64), 64);
            s.loadRef();
            const bloated = head.storeRef(bloatedEndpoint('m', 100, 99)).storeSlice(s).endCell();
            expectRefused(await act(bloated), n.gov.address, ErrBadModel);
            await expectRootUnchanged(before);
        });

        it('ignores an UnregisterProxy from an address that is not listed', async () => {
            const before = await rootState();
            const r = await n.root.send(n.stranger.getSender(), { value: ONE }, { $$type: 'UnregisterProxy', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: n.root.address, success: true });
            await expectRootUnchanged(before);
            expect((await n.root.getCounts()).proxies).toBe(1n);
        });

        it('unregisters a Proxy that closes', async () => {
            const v = await n.root.getVersion();
            const r = await n.proxy.sendClose(n.proxyOwner.getSender());
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: true });
            expect(await n.root.getProxy(n.proxy.address)).toBeNull();
            expect((await n.root.getCounts()).proxies).toBe(0n);
            expect(await n.root.getVersion()).toBe(v + 1n);
        });
    });

    // ---------- getters ----------
    describe('getters', () => {
        it('report params, terms, counts, governance and treasury', async () => {
            expect(await n.root.getParams()).toEqual(DEFAULT_PARAMS);
            expect(plain(await n.root.getTerms())).toEqual(plain({
                $$type: 'ProxyTerms',
                commissionBps: DEFAULT_PARAMS.commissionBps,
                reporterShareBps: DEFAULT_PARAMS.reporterShareBps,
                proxyCloseDelay: DEFAULT_PARAMS.proxyCloseDelay,
                workerUnbondDelay: DEFAULT_PARAMS.workerUnbondDelay,
                slashChallengePeriod: DEFAULT_PARAMS.slashChallengePeriod,
                minWorkerStake: DEFAULT_PARAMS.minWorkerStake,
                treasury: n.treasury.address,
            }));
            expect(await n.root.getCounts()).toEqual({ $$type: 'RootCounts', proxyImages: 0n, workerImages: 0n, keyImages: 0n, models: 0n, proxies: 1n });
            expect((await n.root.getGovernance()).equals(n.gov.address)).toBe(true);
            expect((await n.root.getTreasury()).equals(n.treasury.address)).toBe(true);
            expect(await n.root.getProxy(n.stranger.address)).toBeNull();
            expect(await n.root.getModel(modelId('none'))).toBeNull();
        });

        it('version goes up by exactly one per change', async () => {
            const steps: Cell[] = [
                RootWrapper.addImageBody('proxy', 1n),
                RootWrapper.addImageBody('worker', 1n),
                RootWrapper.removeImageBody('proxy', 1n),
                RootWrapper.addImageBody('keys', 1n),
                RootWrapper.removeImageBody('keys', 1n),
                RootWrapper.registerModelBody(model('v')),
                RootWrapper.registerModelBody(model('v', { requireGpu: true })),
                RootWrapper.removeModelBody('v'),
                RootWrapper.setParamsBody(DEFAULT_PARAMS),
                RootWrapper.setTreasuryBody(n.treasury.address),
                RootWrapper.setChildCodeBody(await compiledChildCodes()),
                RootWrapper.setGovernanceBody(n.gov.address),
                RootWrapper.delistProxyBody(n.proxy.address),
            ];
            let v = await n.root.getVersion();
            for (const body of steps) {
                expectDone(await act(body));
                expect(await n.root.getVersion()).toBe(v + 1n);
                v += 1n;
            }
        });

        it('returns the excess of a small attached value too', async () => {
            const r = await act(RootWrapper.addImageBody('proxy', 9n), n.gov, toNano('0.01'));
            expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: n.root.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.gov.address, success: true });
        });
    });

    // ---------- bounded sets from a pre-filled Root ----------
    describe('bounds (a Root deployed holding MaxImages - 1 images of each kind or MaxProxies - 1 proxies)', () => {
        let full: SandboxContract<RootWrapper>;
        let proxyHashes: bigint[];
        let workerHashes: bigint[];
        let keyHashes: bigint[];
        const hashOf = (s: string) => BigInt('0x' + createHash('sha256').update(s).digest('hex'));

        async function deployFull(what: 'images' | 'proxies') {
            const codes = await compiledChildCodes();
            const pi = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
            const wi = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
            const ki = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
            const proxies = Dictionary.empty(Dictionary.Keys.Address(), dictValueParserProxyInfo());
            proxyHashes = [];
            workerHashes = [];
            keyHashes = [];
            if (what === 'images') {
                for (let i = 0; i < MAX_IMAGES - 1; i++) {
                    proxyHashes.push(hashOf(`proxy-image-${i}`));
                    workerHashes.push(hashOf(`worker-image-${i}`));
                    keyHashes.push(hashOf(`key-image-${i}`));
                    pi.set(proxyHashes[i], true);
                    wi.set(workerHashes[i], true);
                    ki.set(keyHashes[i], true);
                }
            } else {
                for (let i = 0; i < MAX_PROXIES - 1; i++) {
                    const info: ProxyInfo = { $$type: 'ProxyInfo', owner: randomAddress(), enclaveKey: BigInt(i + 1), stake: PROXY_STAKE, clientEndpoint: `c${i}`, workerEndpoint: `w${i}`, registeredAt: 1n };
                    proxies.set(randomAddress(), info);
                }
            }
            const ni = BigInt(pi.size);
            const np = BigInt(proxies.size);
            const base = await Root.fromInit(n.gov.address, n.treasury.address, 0n, DEFAULT_PARAMS, pi, ni, wi, ni, ki, ni, Dictionary.empty(), 0n, proxies, np, codes.proxyCode, codes.clientCode, codes.workerCode, 0n);
            full = n.bc.openContract(new RootWrapper(base.address, base.init));
            await full.sendDeploy(n.gov.getSender(), toNano('1'));
            expect(await full.getCounts()).toEqual({ $$type: 'RootCounts', proxyImages: ni, workerImages: ni, keyImages: ni, models: 0n, proxies: np });
        }

        const fullAct = (body: Cell) => full.sendAction(n.gov.getSender(), body, ONE);

        it("attack 1: Root's worst case (every bounded set full of maximal entries) is the size and yearly storage cost spec/contracts.md states", async () => {
            const codes = await compiledChildCodes();
            const MAX_COINS = (1n << 120n) - 1n;
            const pad = (s: string, len: number) => s + 'x'.repeat(len - s.length);
            const pi = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
            const wi = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
            const ki = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
            for (let i = 0; i < MAX_IMAGES; i++) {
                pi.set(hashOf(`p${i}`), true);
                wi.set(hashOf(`w${i}`), true);
                ki.set(hashOf(`k${i}`), true);
            }
            const models = Dictionary.empty(Dictionary.Keys.BigUint(256), dictValueParserModel());
            for (let i = 0; i < MAX_MODELS; i++) {
                const name = pad(`model-${i}-`, 120);
                models.set(modelId(name), { $$type: 'Model', name, weightsHash: (1n << 256n) - 1n, contextLength: 0xffffffffn, pricePrompt: MAX_COINS, priceCached: MAX_COINS, priceCompletion: MAX_COINS, priceReasoning: MAX_COINS, requireGpu: true });
            }
            const proxies = Dictionary.empty(Dictionary.Keys.Address(), dictValueParserProxyInfo());
            for (let i = 0; i < MAX_PROXIES; i++) {
                const at = (s: string) => new Address(0, createHash('sha256').update(s).digest()); // deterministic: dictionary labels depend on keys
                proxies.set(at(`proxy-${i}`), { $$type: 'ProxyInfo', owner: at(`owner-${i}`), enclaveKey: (1n << 256n) - 1n - BigInt(i), stake: MAX_COINS, clientEndpoint: pad(`c${i}-`, 120), workerEndpoint: pad(`w${i}-`, 120), registeredAt: 0xffffffffn });
            }
            const n256 = BigInt(MAX_IMAGES);
            const base = await Root.fromInit(n.gov.address, n.treasury.address, 0xfffffff0n, DEFAULT_PARAMS, pi, n256, wi, n256, ki, n256, models, BigInt(MAX_MODELS), proxies, BigInt(MAX_PROXIES), codes.proxyCode, codes.clientCode, codes.workerCode, 0xfffffff0n);
            const worst = n.bc.openContract(new RootWrapper(base.address, base.init));
            await worst.sendDeploy(n.gov.getSender(), toNano('10'));
            const used = await storageUsed(n.bc, worst.address);
            const perYear = storageFee(n.bc, used, YEAR);
            const spec = readFileSync(join(__dirname, '../../spec/contracts.md'), 'utf8');
            const m = spec.match(/Root's worst case: \*\*([\d,]+) cells, ([\d,]+) bits\*\*, ([\d.]+) TON of storage per year/);
            const stated = m && { cells: BigInt(m[1].replace(/,/g, '')), bits: BigInt(m[2].replace(/,/g, '')), ton: m[3] };
            const fmt = (x: bigint) => x.toLocaleString('en-US');
            const actual = `Root's worst case: **${fmt(used.cells)} cells, ${fmt(used.bits)} bits**, ${(Number(perYear) / 1e9).toFixed(3)} TON of storage per year`;
            expect(stated && `Root's worst case: **${fmt(stated.cells)} cells, ${fmt(stated.bits)} bits**, ${stated.ton} TON of storage per year`).toBe(actual);
            // far below the 65,536-cell account limit, also after a few child code upgrades
            expect(used.cells).toBeLessThan(8192n);
            // ... and a governance action still goes through
            const r = await worst.sendAction(n.gov.getSender(), RootWrapper.removeImageBody('proxy', hashOf('p0')), ONE);
            expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: worst.address, success: true });
        });
        const fullData = async () => (await accountOf(n.bc, full.address)).data;

        it(`holds at most ${MAX_IMAGES} images per kind (ErrLimitReached) and pages through them`, async () => {
            await deployFull('images');
            expect(proxyHashes.length).toBe(MAX_IMAGES - 1);
            for (const kind of ['proxy', 'worker', 'keys'] as const) {
                const r = await fullAct(RootWrapper.addImageBody(kind, 7n));
                expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: full.address, success: true });
                const data = await fullData();
                const r2 = await fullAct(RootWrapper.addImageBody(kind, 8n));
                expect(r2.transactions).toHaveTransaction({ from: n.gov.address, to: full.address, success: false, exitCode: Number(ErrLimitReached) });
                expect((await fullData()).equals(data)).toBe(true);
                // re-adding a listed image at the limit is fine
                const r3 = await fullAct(RootWrapper.addImageBody(kind, 7n));
                expect(r3.transactions).toHaveTransaction({ from: n.gov.address, to: full.address, success: true });
            }
            expect(await full.getCounts()).toMatchObject({ proxyImages: BigInt(MAX_IMAGES), workerImages: BigInt(MAX_IMAGES), keyImages: BigInt(MAX_IMAGES) });
            expect(await full.getIsProxyImageAllowed(8n)).toBe(false);
            expect(await full.getIsKeyImageAllowed(8n)).toBe(false);

            const proxyAll = await full.getAllImages('proxy', 64n); // exactly 4 full pages, then an empty one
            expect(proxyAll.length).toBe(MAX_IMAGES);
            expect(new Set(proxyAll)).toEqual(new Set([...proxyHashes, 7n]));
            const workerAll = await full.getAllImages('worker', 100n);
            expect(new Set(workerAll)).toEqual(new Set([...workerHashes, 7n]));
            const keyAll = await full.getAllImages('keys', 64n);
            expect(keyAll.length).toBe(MAX_IMAGES);
            expect(new Set(keyAll)).toEqual(new Set([...keyHashes, 7n]));

            // a removal makes room again
            await fullAct(RootWrapper.removeImageBody('proxy', proxyHashes[0]));
            const r4 = await fullAct(RootWrapper.addImageBody('proxy', 8n));
            expect(r4.transactions).toHaveTransaction({ from: n.gov.address, to: full.address, success: true });
            expect(await full.getIsProxyImageAllowed(8n)).toBe(true);
            expect((await full.getCounts()).proxyImages).toBe(BigInt(MAX_IMAGES));
            await fullAct(RootWrapper.removeImageBody('keys', keyHashes[0]));
            const r5 = await fullAct(RootWrapper.addImageBody('keys', 8n));
            expect(r5.transactions).toHaveTransaction({ from: n.gov.address, to: full.address, success: true });
            expect(await full.getIsKeyImageAllowed(8n)).toBe(true);
            expect(await full.getIsKeyImageAllowed(keyHashes[0])).toBe(false);
            expect((await full.getCounts()).keyImages).toBe(BigInt(MAX_IMAGES));
        });

        it(`holds at most ${MAX_PROXIES} proxies (ErrLimitReached): the Proxy over the limit stays unregistered`, async () => {
            await deployFull('proxies');
            const cc = await full.getChildCode();
            const mk = async (label: string) => {
                const owner = await n.bc.treasury(`bound-${label}`);
                const p = n.bc.openContract(await ProxyWrapper.create({ root: full.address, owner: owner.address, enclaveKey: toUint256(keys(label).publicKey), workerCode: cc.workerCode, proxyCode: cc.proxyCode }));
                return { owner, p };
            };
            const a = await mk('a');
            const ra = await a.p.sendRegister(a.owner.getSender(), { stake: PROXY_STAKE, clientEndpoint: 'a', workerEndpoint: 'a' });
            expect(ra.transactions).toHaveTransaction({ from: a.p.address, to: full.address, success: true });
            expect((await a.p.getProxyState()).registered).toBe(true);
            expect((await full.getCounts()).proxies).toBe(BigInt(MAX_PROXIES));

            const b = await mk('b');
            const data = await fullData();
            const rb = await b.p.sendRegister(b.owner.getSender(), { stake: PROXY_STAKE, clientEndpoint: 'b', workerEndpoint: 'b' });
            expect(rb.transactions).toHaveTransaction({ from: b.p.address, to: full.address, success: false, exitCode: Number(ErrLimitReached) });
            expect((await fullData()).equals(data)).toBe(true);
            const bs = await b.p.getProxyState();
            expect(bs.registered).toBe(false);
            expect(bs.stake).toBe(PROXY_STAKE);

            // a listed Proxy may still update itself at the limit
            const ra2 = await a.p.sendRegister(a.owner.getSender(), { stake: 0n, clientEndpoint: 'a2', workerEndpoint: 'a2' });
            expect(ra2.transactions).toHaveTransaction({ from: a.p.address, to: full.address, success: true });
            expect((await full.getProxy(a.p.address))?.clientEndpoint).toBe('a2');

            const all = await full.getAllProxies(16n); // 4 full pages, then an empty one
            expect(all.size).toBe(MAX_PROXIES);
            expect(all.get(a.p.address.toString())?.clientEndpoint).toBe('a2');
            expect((await full.getAllProxies(7n)).size).toBe(MAX_PROXIES);
        });
    });
});
