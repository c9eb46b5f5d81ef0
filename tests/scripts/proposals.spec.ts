// scripts/lib/proposals.ts (the action builder behind `propose`) and the propose/vote/execute scripts,
// run against a sandbox through a NetworkProvider stand-in (sender, open, ui: the APIs the scripts use).
import '@ton/test-utils';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, toNano } from '@ton/core';
import type { NetworkProvider } from '@ton/blueprint';
import { sandboxProvider, ScriptedUI } from '../../fixtures/sandbox-provider';
import { ArgError } from '../../scripts/lib/args';
import { ACTION_KINDS, ActionKind, buildAction, compiledRootCode, KIND_FLAGS, ProposalEnv } from '../../scripts/lib/proposals';
import { run as runPropose } from '../../scripts/propose';
import { run as runVote } from '../../scripts/vote';
import { run as runExecute } from '../../scripts/execute';
import { DEFAULT_GOV_PARAMS, GovernanceWrapper } from '../../wrappers/Governance';
import { compiledChildCodes, DEFAULT_PARAMS, RootWrapper } from '../../wrappers/Root';
import { modelId } from '../../wrappers/payloads';

const GOV = Address.parse('EQCb5GtSxkZIAwoOKIl47DnLALNo1bvYNf9pAbJmmsvSW41B');
const ROOT = Address.parse('EQBqxB1eAL_OwObPzrvIjNnSX8AOPUfhtyp1L5uXFdEy5zdJ');
const OTHER = new Address(0, Buffer.alloc(32, 7));
const HASH = 'c0ffee'.padEnd(64, '0');

const env: ProposalEnv = {
    governance: GOV,
    rootParams: async () => DEFAULT_PARAMS,
    govParams: async () => DEFAULT_GOV_PARAMS,
};

/** Builds and checks destination, value and body. */
async function expectAction(kind: ActionKind, args: string[], to: Address, body: Cell, value = toNano('0.05')) {
    const { action } = await buildAction(kind, args, env);
    expect(action.to.equals(to)).toBe(true);
    expect(action.value).toBe(value);
    expect(action.body.equals(body)).toBe(true);
}

describe('buildAction', () => {
    const r = ['--root', ROOT.toString()];

    it('builds image actions', async () => {
        await expectAction('add-image', [...r, '--kind', 'worker', '--hash', HASH], ROOT, RootWrapper.addImageBody('worker', BigInt('0x' + HASH)));
        await expectAction('remove-image', [...r, '--kind', 'proxy', '--hash', HASH], ROOT, RootWrapper.removeImageBody('proxy', BigInt('0x' + HASH)));
        await expectAction('add-image', [...r, '--kind', 'keys', '--hash', HASH], ROOT, RootWrapper.addImageBody('keys', BigInt('0x' + HASH)));
        await expectAction('remove-image', [...r, '--kind', ' keys ', '--hash', HASH], ROOT, RootWrapper.removeImageBody('keys', BigInt('0x' + HASH)));
        for (const bad of ['client', 'key', 'KEYS', '2']) {
            await expect(buildAction('add-image', [...r, '--kind', bad, '--hash', HASH], env)).rejects.toThrow(new ArgError(`--kind: expected proxy, worker, keys, got "${bad}"`));
        }
    });

    describe('register-model --require-gpu', () => {
        const base = [...r, '--name', 'llama', '--weights-hash', HASH, '--context', '8192',
            '--price-prompt', '0.1', '--price-cached', '0.01', '--price-completion', '0.3', '--price-reasoning', '0.4'];
        const model = (requireGpu: boolean) => ({
            name: 'llama', weightsHash: BigInt('0x' + HASH), contextLength: 8192n,
            pricePrompt: toNano('0.1'), priceCached: toNano('0.01'), priceCompletion: toNano('0.3'), priceReasoning: toNano('0.4'), requireGpu,
        });

        it('sets requireGpu from yes/no and defaults to no without a ui', async () => {
            await expectAction('register-model', [...base, '--require-gpu', 'yes'], ROOT, RootWrapper.registerModelBody(model(true)));
            await expectAction('register-model', [...base, '--require-gpu=no'], ROOT, RootWrapper.registerModelBody(model(false)));
            await expectAction('register-model', base, ROOT, RootWrapper.registerModelBody(model(false)));
            const { description } = await buildAction('register-model', [...base, '--require-gpu', 'yes'], env);
            expect(description.model).toMatchObject({ requireGpu: true });
        });

        it('refuses any other answer with an ArgError naming the flag, before building anything', async () => {
            for (const bad of ['maybe', 'gpu', '2']) {
                await expect(buildAction('register-model', [...base, '--require-gpu', bad], env)).rejects.toThrow(new ArgError(`--require-gpu: expected yes or no, got "${bad}"`));
            }
            await expect(buildAction('register-model', [...base, '--require-gpu'], env)).rejects.toThrow('--require-gpu: missing value');
            await expect(buildAction('register-model', [...base, '--require-gpu', 'yes', '--require-gpu', 'no'], env)).rejects.toThrow('--require-gpu: given 2 times');
        });

        it('asks when a ui is present: an empty answer is no, yes is yes, anything else is refused', async () => {
            const q = 'Require verified GPU evidence from the workers serving it? (yes/no, empty: no):';
            const withAnswer = (answer: string): ProposalEnv => ({ ...env, ui: { input: async (m) => (expect(m).toBe(q), answer) } });
            expect((await buildAction('register-model', base, withAnswer(''))).action.body.equals(RootWrapper.registerModelBody(model(false)))).toBe(true);
            expect((await buildAction('register-model', base, withAnswer('yes'))).action.body.equals(RootWrapper.registerModelBody(model(true)))).toBe(true);
            await expect(buildAction('register-model', base, withAnswer('sure'))).rejects.toThrow(/^--require-gpu: expected yes or no/);
        });
    });

    it('builds register-model with prices in TON per 1M tokens, and remove-model by name or id', async () => {
        const args = [...r, '--name', 'llama', '--weights-hash', HASH, '--context', '8192',
            '--price-prompt', '0.1', '--price-cached', '0.01', '--price-completion', '0.3', '--price-reasoning', '0.4'];
        const model = {
            name: 'llama', weightsHash: BigInt('0x' + HASH), contextLength: 8192n,
            pricePrompt: toNano('0.1'), priceCached: toNano('0.01'), priceCompletion: toNano('0.3'), priceReasoning: toNano('0.4'), requireGpu: false,
        };
        await expectAction('register-model', args, ROOT, RootWrapper.registerModelBody(model));
        await expectAction('remove-model', [...r, '--name', 'llama'], ROOT, RootWrapper.removeModelBody(modelId('llama')));
        const id = modelId('llama').toString(16).padStart(64, '0');
        await expectAction('remove-model', [...r, '--model-id', id], ROOT, RootWrapper.removeModelBody(modelId('llama')));
        await expect(buildAction('remove-model', [...r, '--name', 'llama', '--model-id', id], env)).rejects.toThrow(/^--model-id: give either/);
        await expect(buildAction('register-model', [...args.slice(0, -2), '--price-reasoning', 'free'], env)).rejects.toThrow(/^--price-reasoning: not a TON amount/);
        await expect(buildAction('register-model', args.map((a) => (a === '8192' ? '0' : a)), env)).rejects.toThrow(/^--context:/);
    });

    it('merges a partial --params over the current Root params', async () => {
        await expectAction('set-params', [...r, '--params', '{"commissionBps":700}'], ROOT, RootWrapper.setParamsBody({ ...DEFAULT_PARAMS, commissionBps: 700n }));
        await expect(buildAction('set-params', [...r, '--params', '{"commissionBps":20000}'], env)).rejects.toThrow(/^--params.commissionBps/);
    });

    it('uses the compiled codes for set-child-code and upgrade-root', async () => {
        await expectAction('set-child-code', r, ROOT, RootWrapper.setChildCodeBody(await compiledChildCodes()));
        await expectAction('upgrade-root', r, ROOT, RootWrapper.upgradeRootBody(await compiledRootCode()));
    });

    it('builds the address-carrying Root actions', async () => {
        const o = OTHER.toString();
        await expectAction('delist-proxy', [...r, '--proxy', o], ROOT, RootWrapper.delistProxyBody(OTHER));
        await expectAction('set-treasury', [...r, '--treasury', o], ROOT, RootWrapper.setTreasuryBody(OTHER));
        await expectAction('set-governance', [...r, '--new-governance', o], ROOT, RootWrapper.setGovernanceBody(OTHER));
        await expectAction('veto-slash', [...r, '--channel', o, '--fault-seqno', '3', '--value', '0.2'], ROOT, RootWrapper.vetoSlashBody(OTHER, 3n), toNano('0.2'));
    });

    it('addresses set-voter and set-gov-params to Governance itself', async () => {
        await expectAction('set-voter', ['--voter', OTHER.toString(), '--weight', '5'], GOV, GovernanceWrapper.setVoterBody(OTHER, 5n));
        await expectAction('set-gov-params', ['--params', '{"timelock":60}'], GOV, GovernanceWrapper.setGovParamsBody({ ...DEFAULT_GOV_PARAMS, timelock: 60n }));
        await expect(buildAction('set-voter', ['--voter', OTHER.toString(), '--weight', String(2 ** 32)], env)).rejects.toThrow(/^--weight/);
        await expect(buildAction('set-gov-params', ['--params', '{"majorityBps":10000}'], env)).rejects.toThrow(/^--params.majorityBps/);
    });

    it("refuses flags that belong to another kind and names a missing one", async () => {
        await expect(buildAction('set-treasury', [...r, '--treasury', OTHER.toString(), '--hash', HASH], env)).rejects.toThrow(/^--hash: unknown flag/);
        await expect(buildAction('veto-slash', r, env)).rejects.toThrow('--channel: required');
        await expect(buildAction('add-image', ['--kind', 'worker', '--hash', HASH], env)).rejects.toThrow('--root: required');
    });

    it('prompts for absent values when it has a ui', async () => {
        const answers: Record<string, string> = {
            'Root address:': ROOT.toString(),
            'WorkerChannel address:': OTHER.toString(),
            'Seqno of the fault report (slash.seqno in the channel state):': '2',
        };
        const asked: string[] = [];
        const built = await buildAction('veto-slash', [], { ...env, ui: { input: async (m) => (asked.push(m), answers[m]) } });
        expect(asked.sort()).toEqual(Object.keys(answers).sort());
        expect(built.action.body.equals(RootWrapper.vetoSlashBody(OTHER, 2n))).toBe(true);
    });

    it('has a flag list for every kind', () => {
        for (const k of ACTION_KINDS) expect(KIND_FLAGS[k]).toBeDefined();
    });
});

// ---------- the scripts against a sandbox ----------

function providerFor(bc: Blockchain, wallet: SandboxContract<TreasuryContract>, out: string[]): NetworkProvider {
    return sandboxProvider(bc, wallet, new ScriptedUI([], out));
}

function lastReport(out: string[]): Record<string, any> {
    return JSON.parse(out[out.length - 1]);
}

describe('propose / vote / execute scripts', () => {
    it('a proposal made, voted and executed by the scripts allowlists an image in Root', async () => {
        const bc = await Blockchain.create();
        bc.now = Math.floor(Date.now() / 1000);
        const [a, b, stranger, treasury] = [await bc.treasury('a'), await bc.treasury('b'), await bc.treasury('s'), await bc.treasury('t')];
        const gov = bc.openContract(await GovernanceWrapper.create([{ address: a.address, weight: 30n }, { address: b.address, weight: 50n }]));
        await gov.sendFund(stranger.getSender(), toNano('5'));
        const root = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: treasury.address }));
        await root.sendDeploy(stranger.getSender());
        const out: string[] = [];
        const g = ['--governance', gov.address.toString()];

        await runPropose(providerFor(bc, a, out), [...g, '--action', 'add-image', '--root', root.address.toString(), '--kind', 'worker', '--hash', HASH]);
        const proposed = lastReport(out);
        expect(proposed.proposalId).toBe('0');
        expect(proposed.passed).toBe(false);
        expect((await gov.getProposal(0n))!.yes).toBe(30n);

        // A stranger is not a voter: the script refuses before sending.
        await expect(runVote(providerFor(bc, stranger, out), [...g, '--id', '0', '--support', 'yes'])).rejects.toThrow(/is not a voter/);
        // Not passed yet: execute refuses without --force.
        await expect(runExecute(providerFor(bc, stranger, out), [...g, '--id', '0'])).rejects.toThrow(/has not passed/);

        await runVote(providerFor(bc, b, out), [...g, '--id', '0', '--support', 'yes']);
        expect(lastReport(out)).toMatchObject({ proposalId: '0', support: true, yes: '80', passed: true });
        await expect(runVote(providerFor(bc, b, out), [...g, '--id', '0', '--support', 'no'])).rejects.toThrow(/already voted/);

        bc.now = bc.now + Number(DEFAULT_GOV_PARAMS.timelock);
        await runExecute(providerFor(bc, stranger, out), [...g, '--id', '0']);
        expect(lastReport(out)).toMatchObject({ proposalId: '0', executed: true, openProposals: '0' });
        expect(await root.getIsWorkerImageAllowed(BigInt('0x' + HASH))).toBe(true);
        expect(await root.getVersion()).toBe(1n);

        await expect(runExecute(providerFor(bc, stranger, out), [...g, '--id', '0'])).rejects.toThrow(/no open proposal 0/);
    });

    it('propose refuses a sender that is not a voter, and a bad flag, before sending anything', async () => {
        const bc = await Blockchain.create();
        const [a, stranger] = [await bc.treasury('a'), await bc.treasury('s')];
        const gov = bc.openContract(await GovernanceWrapper.create([{ address: a.address, weight: 1n }]));
        await gov.sendFund(stranger.getSender(), toNano('1'));
        const out: string[] = [];
        const g = ['--governance', gov.address.toString(), '--action', 'set-voter', '--voter', stranger.address.toString(), '--weight', '1'];
        await expect(runPropose(providerFor(bc, stranger, out), g)).rejects.toThrow(/is not a voter/);
        await expect(runPropose(providerFor(bc, a, out), [...g, '--fee', '0.01'])).rejects.toThrow(ArgError);
        await expect(runPropose(providerFor(bc, a, out), [...g, '--wieght', '2'])).rejects.toThrow(/^--wieght: unknown flag/);
        await expect(runPropose(providerFor(bc, a, out), ['--governance', gov.address.toString(), '--action', 'mint'])).rejects.toThrow(/^--action: unknown action "mint"/);
        expect(await gov.getNextProposalId()).toBe(0n);
    });
});
