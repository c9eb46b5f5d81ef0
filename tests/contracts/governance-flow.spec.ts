// Flows across contracts with the REAL Governance owning Root: every Root change below arrives as an
// action of an executed proposal. Voters a/b/c weigh 50/30/20; a proposes, b's yes passes it early.
import '@ton/test-utils';
import { Blockchain, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { beginCell, Cell, internal, toNano } from '@ton/core';
import { DEFAULT_GOV_PARAMS, ErrNotPassed, ErrTooManyProposals, GovernanceWrapper, packActions, ProposalAction, storeCleanup, storePropose } from '../../wrappers/Governance';
import { compiledChildCodes, DEFAULT_PARAMS, ErrAccessDenied, ErrBadParams, GovMargin, MaxGovLatency, Params, RootWrapper } from '../../wrappers/Root';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { ErrNoPendingSlash, WorkerActive, WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { modelId, toUint256 } from '../../wrappers/payloads';
import { GLOBAL_ID, keys } from '../../fixtures/network';
import { useSnapshot } from '../helpers/fixture';
import { accountOf } from '../helpers/state';

const T0 = 1_800_000_000;
const { votingPeriod: VOTING, timelock: TIMELOCK } = DEFAULT_GOV_PARAMS;
const ACTION_VALUE = toNano('0.05');
const GOV_FUNDS = toNano('20');
const PROXY_STAKE = toNano('10');
const WORKER_STAKE = toNano('1');
// The smallest challenge period Root accepts: Governance's worst-case latency (votingPeriod + timelock) plus a margin.
const CHALLENGE = MaxGovLatency + GovMargin;
const ROOT_PARAMS: Params = { ...DEFAULT_PARAMS, slashChallengePeriod: CHALLENGE, workerUnbondDelay: 5n * 24n * 3600n };
const IMAGE = 0x1111222233334444555566667777888899990000aaaabbbbccccddddeeeeffffn;

interface Net {
    bc: Blockchain;
    gov: SandboxContract<GovernanceWrapper>;
    root: SandboxContract<RootWrapper>;
    a: SandboxContract<TreasuryContract>;
    b: SandboxContract<TreasuryContract>;
    c: SandboxContract<TreasuryContract>;
    treasury: SandboxContract<TreasuryContract>;
    stranger: SandboxContract<TreasuryContract>;
}

async function setup(): Promise<Net> {
    const bc = await Blockchain.create();
    bc.now = T0;
    const [a, b, c] = [await bc.treasury('voter-a'), await bc.treasury('voter-b'), await bc.treasury('voter-c')];
    const treasury = await bc.treasury('treasury');
    const stranger = await bc.treasury('stranger');
    const gov = bc.openContract(
        await GovernanceWrapper.create([
            { address: a.address, weight: 50n },
            { address: b.address, weight: 30n },
            { address: c.address, weight: 20n },
        ]),
    );
    expect((await gov.sendFund(stranger.getSender(), GOV_FUNDS)).transactions).toHaveTransaction({ to: gov.address, deploy: true, success: true });
    const root = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: treasury.address, params: ROOT_PARAMS }));
    expect((await root.sendDeploy(stranger.getSender())).transactions).toHaveTransaction({ to: root.address, deploy: true, success: true });
    expect((await root.getGovernance()).equals(gov.address)).toBe(true);
    return { bc, gov, root, a, b, c, treasury, stranger };
}

function toRoot(n: Net, body: Cell): ProposalAction {
    return { to: n.root.address, value: ACTION_VALUE, body };
}

/** a proposes, b votes yes (80% passes at once); returns the proposal id and when execution opens. */
async function proposeAndPass(n: Net, actions: ProposalAction[]): Promise<{ id: bigint; opensAt: number }> {
    const id = await n.gov.getNextProposalId();
    expect((await n.gov.sendPropose(n.a.getSender(), actions)).transactions).toHaveTransaction({ to: n.gov.address, success: true });
    expect((await n.gov.sendVote(n.b.getSender(), id, true)).transactions).toHaveTransaction({ to: n.gov.address, success: true });
    const opensAt = Number(await n.gov.getProposalOpensAt(id));
    expect(opensAt).toBe(n.bc.now! + Number(TIMELOCK));
    return { id, opensAt };
}

/** Passes, waits out the timelock and executes; asserts the Execute transaction itself succeeded. */
async function enact(n: Net, actions: ProposalAction[]): Promise<SendMessageResult> {
    const { id, opensAt } = await proposeAndPass(n, actions);
    n.bc.now = opensAt;
    const r = await n.gov.sendExecute(n.stranger.getSender(), id);
    expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: n.gov.address, success: true, outMessagesCount: actions.length });
    expect(await n.gov.getProposal(id)).toBeNull();
    return r;
}

const rootData = async (n: Net): Promise<Cell> => (await accountOf(n.bc, n.root.address)).data;
const rootCode = async (n: Net): Promise<Cell> => (await accountOf(n.bc, n.root.address)).code;

const MODEL = {
    name: 'qwen3-32b',
    weightsHash: 0xabcdefn,
    contextLength: 32768n,
    pricePrompt: toNano('0.1'),
    priceCached: toNano('0.01'),
    priceCompletion: toNano('0.3'),
    priceReasoning: toNano('0.3'),
    requireGpu: false,
};

describe('Governance governing Root', () => {
    let n: Net;
    useSnapshot(
        async () => (n = await setup()),
        (net) => {
            net.bc.now = T0;
        },
    );

    describe('Flow A: a passed proposal configures Root', () => {
        it('allowlists an image, registers a model, sets params and upgrades child code in one proposal', async () => {
            const codes = await compiledChildCodes();
            // Swapped around: distinct from the current cells, so the change is visible.
            const swapped = { proxyCode: codes.workerCode, clientCode: codes.proxyCode, workerCode: codes.clientCode };
            const newParams: Params = { ...ROOT_PARAMS, commissionBps: 1500n, minProxyStake: toNano('20') };
            const v0 = await n.root.getVersion();
            const code0 = await n.root.getChildCode();

            const actions = [
                toRoot(n, RootWrapper.addImageBody('worker', IMAGE)),
                toRoot(n, RootWrapper.registerModelBody(MODEL)),
                toRoot(n, RootWrapper.setParamsBody(newParams)),
                toRoot(n, RootWrapper.setChildCodeBody(swapped)),
            ];
            const { id, opensAt } = await proposeAndPass(n, actions);

            // Nothing reaches Root before the timelock.
            n.bc.now = opensAt - 1;
            const early = await n.gov.sendExecute(n.stranger.getSender(), id);
            expect(early.transactions).not.toHaveTransaction({ to: n.root.address });
            expect(await n.root.getVersion()).toBe(v0);

            n.bc.now = opensAt;
            const govBefore = (await n.bc.getContract(n.gov.address)).balance;
            const r = await n.gov.sendExecute(n.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: n.gov.address, success: true, outMessagesCount: 4 });
            for (const a of actions) {
                expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: n.root.address, body: a.body, success: true });
            }
            // Root returns each action's excess to Governance.
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.gov.address, success: true });

            expect(await n.root.getVersion()).toBe(v0 + 4n);
            expect(await n.root.getIsWorkerImageAllowed(IMAGE)).toBe(true);
            expect(await n.root.getIsProxyImageAllowed(IMAGE)).toBe(false);
            const m = await n.root.getModelByName(MODEL.name);
            expect(m).toEqual({ $$type: 'Model', ...MODEL });
            expect([...(await n.root.getAllModels()).keys()]).toEqual([modelId(MODEL.name)]);
            expect(await n.root.getParams()).toEqual(newParams);
            expect((await n.root.getTerms()).commissionBps).toBe(1500n);
            const code1 = await n.root.getChildCode();
            expect(code1.codeVersion).toBe(code0.codeVersion + 1n);
            expect(code1.proxyCode.equals(swapped.proxyCode)).toBe(true);
            expect(code1.clientCode.equals(swapped.clientCode)).toBe(true);
            expect(code1.workerCode.equals(swapped.workerCode)).toBe(true);
            expect(code1.proxyCode.equals(code0.proxyCode)).toBe(false);
            expect((await n.root.getCounts()).workerImages).toBe(1n);

            // Governance paid the four action values; the excesses came back (less fees).
            const govAfter = (await n.bc.getContract(n.gov.address)).balance;
            expect(govAfter).toBeLessThan(govBefore + toNano('0.05'));
            expect(govAfter).toBeGreaterThan(govBefore - 4n * ACTION_VALUE);
        });

        it('later proposals remove the image and model and move the treasury', async () => {
            await enact(n, [toRoot(n, RootWrapper.addImageBody('proxy', IMAGE)), toRoot(n, RootWrapper.registerModelBody(MODEL))]);
            const v1 = await n.root.getVersion();
            const newTreasury = await n.bc.treasury('treasury-2');
            const r = await enact(n, [
                toRoot(n, RootWrapper.removeImageBody('proxy', IMAGE)),
                toRoot(n, RootWrapper.removeModelBody(MODEL.name)),
                toRoot(n, RootWrapper.setTreasuryBody(newTreasury.address)),
            ]);
            expect(r.transactions).not.toHaveTransaction({ to: n.root.address, success: false });
            expect(await n.root.getVersion()).toBe(v1 + 3n);
            expect(await n.root.getIsProxyImageAllowed(IMAGE)).toBe(false);
            expect(await n.root.getModelByName(MODEL.name)).toBeNull();
            expect((await n.root.getTreasury()).equals(newTreasury.address)).toBe(true);
            expect((await n.root.getTerms()).treasury.equals(newTreasury.address)).toBe(true);
        });

        it('allowlists a key-service image (kind 2) and registers a model that requires GPU evidence; a later proposal removes the image', async () => {
            const v0 = await n.root.getVersion();
            const gpuModel = { ...MODEL, name: 'qwen3-32b-h100', requireGpu: true };
            const r = await enact(n, [toRoot(n, RootWrapper.addImageBody('keys', IMAGE)), toRoot(n, RootWrapper.registerModelBody(gpuModel))]);
            expect(r.transactions).not.toHaveTransaction({ to: n.root.address, success: false });
            expect(await n.root.getVersion()).toBe(v0 + 2n);
            expect(await n.root.getIsKeyImageAllowed(IMAGE)).toBe(true);
            expect(await n.root.getIsWorkerImageAllowed(IMAGE)).toBe(false);
            expect(await n.root.getAllImages('keys')).toEqual([IMAGE]);
            expect(await n.root.getModelByName(gpuModel.name)).toEqual({ $$type: 'Model', ...gpuModel });
            expect(await n.root.getCounts()).toMatchObject({ keyImages: 1n, workerImages: 0n, models: 1n });

            await enact(n, [toRoot(n, RootWrapper.removeImageBody('keys', IMAGE))]);
            expect(await n.root.getIsKeyImageAllowed(IMAGE)).toBe(false);
            expect((await n.root.getCounts()).keyImages).toBe(0n);
            expect((await n.root.getModelByName(gpuModel.name))?.requireGpu).toBe(true);
        });

        it('a Root action that fails bounces back to Governance; the other actions of the proposal still apply', async () => {
            const bad: Params = { ...ROOT_PARAMS, workerUnbondDelay: 0n }; // below the challenge period
            const v0 = await n.root.getVersion();
            const r = await enact(n, [toRoot(n, RootWrapper.setParamsBody(bad)), toRoot(n, RootWrapper.addImageBody('worker', IMAGE))]);
            expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: n.root.address, success: false, exitCode: Number(ErrBadParams) });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.gov.address, inMessageBounced: true, success: true });
            expect(await n.root.getParams()).toEqual(ROOT_PARAMS);
            expect(await n.root.getIsWorkerImageAllowed(IMAGE)).toBe(true);
            expect(await n.root.getVersion()).toBe(v0 + 1n);
        });

        it('replaces Root code with UpgradeRoot; state and the version bump survive', async () => {
            await enact(n, [toRoot(n, RootWrapper.registerModelBody(MODEL))]);
            const v1 = await n.root.getVersion();
            const newCode = n.root.init!.code; // the code compiled in this checkout
            const r = await enact(n, [toRoot(n, RootWrapper.upgradeRootBody(newCode))]);
            expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: n.root.address, success: true });
            expect((await rootCode(n)).equals(newCode)).toBe(true);
            expect(await n.root.getVersion()).toBe(v1 + 1n);
            expect(await n.root.getModelByName(MODEL.name)).not.toBeNull();
            expect((await n.root.getGovernance()).equals(n.gov.address)).toBe(true);
        });

        it('hands Root to another governance; Root then refuses this Governance (ErrAccessDenied)', async () => {
            const successor = await n.bc.treasury('next-governance');
            await enact(n, [toRoot(n, RootWrapper.setGovernanceBody(successor.address))]);
            expect((await n.root.getGovernance()).equals(successor.address)).toBe(true);
            const v = await n.root.getVersion();
            const data = await rootData(n);
            const r = await enact(n, [toRoot(n, RootWrapper.addImageBody('worker', IMAGE))]);
            expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: n.root.address, success: false, exitCode: Number(ErrAccessDenied) });
            expect((await rootData(n)).equals(data)).toBe(true);
            expect(await n.root.getVersion()).toBe(v);
        });

        it('a stranger sending the same bodies straight to Root is refused (ErrAccessDenied)', async () => {
            const data = await rootData(n);
            const r = await n.root.sendAction(n.stranger.getSender(), RootWrapper.addImageBody('worker', IMAGE));
            expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: n.root.address, success: false, exitCode: Number(ErrAccessDenied) });
            expect((await rootData(n)).equals(data)).toBe(true);
        });
    });

    describe('Flow B: a proposal without quorum', () => {
        it('cannot be executed (ErrNotPassed), leaves Root unchanged, and Cleanup frees its slot', async () => {
            const data = await rootData(n);
            const v0 = await n.root.getVersion();
            const id = await n.gov.getNextProposalId();
            // Only c (20%) votes yes before the deadline: below the 50% quorum.
            await n.gov.sendPropose(n.c.getSender(), [toRoot(n, RootWrapper.addImageBody('worker', IMAGE))]);
            expect(await n.gov.getOpenProposals()).toBe(1n);

            n.bc.now = T0 + Number(VOTING + TIMELOCK);
            const govBefore = (await n.bc.getContract(n.gov.address)).balance;
            const r = await n.gov.sendExecute(n.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: n.gov.address, success: false, exitCode: Number(ErrNotPassed) });
            expect(r.transactions).not.toHaveTransaction({ to: n.root.address });
            expect((await n.bc.getContract(n.gov.address)).balance).toBeGreaterThanOrEqual(govBefore - toNano('0.001'));
            expect((await rootData(n)).equals(data)).toBe(true);
            expect(await n.root.getVersion()).toBe(v0);
            expect(await n.root.getIsWorkerImageAllowed(IMAGE)).toBe(false);

            const c = await n.gov.sendCleanup(n.stranger.getSender(), id);
            expect(c.transactions).toHaveTransaction({ to: n.gov.address, success: true });
            expect(await n.gov.getProposal(id)).toBeNull();
            expect(await n.gov.getOpenProposals()).toBe(0n);
        });
    });

    describe('Flow C: Governance vetoes a worker slash', () => {
        const proxyKeys = keys('flow-proxy-enclave');
        let proxy: SandboxContract<ProxyWrapper>;
        let channel: SandboxContract<WorkerChannelWrapper>;
        let worker: SandboxContract<TreasuryContract>;
        let owner: SandboxContract<TreasuryContract>;
        let reportedAt: number;
        const fault = { seqno: 0n, amount: toNano('0.4'), reason: 3n, requestId: 77n, evidenceHash: 0xfeedn };

        beforeEach(async () => {
            owner = await n.bc.treasury('proxy-owner');
            worker = await n.bc.treasury('worker');
            const codes = await n.root.getChildCode();
            proxy = n.bc.openContract(
                await ProxyWrapper.create({
                    root: n.root.address,
                    owner: owner.address,
                    enclaveKey: toUint256(proxyKeys.publicKey),
                    workerCode: codes.workerCode,
                    proxyCode: codes.proxyCode,
                }),
            );
            await proxy.sendRegister(owner.getSender(), { stake: PROXY_STAKE, clientEndpoint: '127.0.0.1:1', workerEndpoint: '127.0.0.1:2' });
            expect((await proxy.getProxyState()).registered).toBe(true);
            expect(await n.root.getProxy(proxy.address)).not.toBeNull();

            channel = n.bc.openContract(
                await WorkerChannelWrapper.create({
                    proxy: proxy.address,
                    worker: worker.address,
                    proxyKey: toUint256(proxyKeys.publicKey),
                    root: n.root.address,
                    terms: await n.root.getTerms(),
                    code: codes.workerCode,
                }),
            );
            await channel.sendStake(worker.getSender(), WORKER_STAKE);
            const st = await channel.getChannelState();
            expect(st.state).toBe(WorkerActive);
            expect(st.challengePeriod).toBe(CHALLENGE);

            reportedAt = n.bc.now!;
            const signature = channel.signFault(fault, proxyKeys.secretKey, GLOBAL_ID);
            const r = await channel.sendReportFault(n.stranger.getSender(), { ...fault, signature });
            expect(r.transactions).toHaveTransaction({ to: channel.address, success: true });
            expect((await channel.getChannelState()).slash?.amount).toBe(fault.amount);
        });

        it('without a veto the slash executes after the challenge period (control)', async () => {
            n.bc.now = reportedAt + Number(CHALLENGE);
            const r = await channel.sendExecuteSlash(n.stranger.getSender());
            expect(r.transactions).toHaveTransaction({ from: channel.address, to: n.treasury.address, value: fault.amount });
            expect((await channel.getChannelState()).stake).toBe(WORKER_STAKE - fault.amount);
        });

        it('clears the pending slash; after the challenge period ExecuteSlash finds nothing (ErrNoPendingSlash) and the stake is intact', async () => {
            const r = await enact(n, [toRoot(n, RootWrapper.vetoSlashBody(channel.address, 0n))]);
            expect(n.bc.now!).toBeLessThan(reportedAt + Number(CHALLENGE));
            expect(r.transactions).toHaveTransaction({ from: n.gov.address, to: n.root.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: channel.address, success: true });
            let st = await channel.getChannelState();
            expect(st.slash).toBeNull();
            expect(st.stake).toBe(WORKER_STAKE);

            n.bc.now = reportedAt + Number(CHALLENGE);
            const x = await channel.sendExecuteSlash(n.stranger.getSender());
            expect(x.transactions).toHaveTransaction({ from: n.stranger.address, to: channel.address, success: false, exitCode: Number(ErrNoPendingSlash) });
            expect(x.transactions).not.toHaveTransaction({ from: channel.address, to: n.treasury.address });
            st = await channel.getChannelState();
            expect(st.stake).toBe(WORKER_STAKE);
            expect(st.state).toBe(WorkerActive);
            // The next fault report needs the next seqno: the vetoed one stays consumed.
            expect(st.faultSeqno).toBe(1n);
        });

        it('attack 5: a veto for fault #0 arriving after #0 executed fails at the channel and does not clear fault #1', async () => {
            const { id, opensAt } = await proposeAndPass(n, [toRoot(n, RootWrapper.vetoSlashBody(channel.address, 0n))]);
            n.bc.now = reportedAt + Number(CHALLENGE);
            await channel.sendExecuteSlash(n.stranger.getSender());
            expect((await channel.getChannelState()).stake).toBe(WORKER_STAKE - fault.amount);
            // fault #1 is reported before the veto for #0 is executed
            const f1 = { ...fault, seqno: 1n, amount: toNano('0.1'), requestId: 78n };
            await channel.sendReportFault(n.stranger.getSender(), { ...f1, signature: channel.signFault(f1, proxyKeys.secretKey, GLOBAL_ID) });
            const pending = (await channel.getChannelState()).slash!;
            expect(pending.seqno).toBe(1n);
            n.bc.now = Math.max(opensAt, n.bc.now!);
            const r = await n.gov.sendExecute(n.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: channel.address, success: false, exitCode: Number(ErrNoPendingSlash) });
            expect(r.transactions).toHaveTransaction({ from: channel.address, to: n.root.address, inMessageBounced: true });
            expect((await channel.getChannelState()).slash).toEqual(pending);
            n.bc.now = Number(pending.executeAt);
            await channel.sendExecuteSlash(n.stranger.getSender());
            expect((await channel.getChannelState()).stake).toBe(WORKER_STAKE - fault.amount - f1.amount);
        });

        it('attack 4: a voter flooding proposals (re-opened in the same transaction as their Cleanup) cannot stop a veto, which executes before the slash even without an early pass', async () => {
            const ping = (k: number): ProposalAction => ({ to: n.stranger.address, value: 1n, body: beginCell().storeUint(k, 32).endCell() });
            const proposeBody = (k: number) => beginCell().store(storePropose({ $$type: 'Propose', queryId: BigInt(k), actions: packActions([ping(k)]) })).endCell();
            const cleanupBody = (id: bigint) => beginCell().store(storeCleanup({ $$type: 'Cleanup', queryId: 0n, proposalId: id })).endCell();
            // c (20 %) tries to take 16 slots at once: only its quota is accepted.
            const flood = await n.c.sendMessages(Array.from({ length: 16 }, (_, k) => internal({ to: n.gov.address, value: toNano('0.05'), body: proposeBody(k) })));
            expect(flood.transactions.filter((t) => t.description.type === 'generic' && t.description.computePhase.type === 'vm' && t.description.computePhase.exitCode === Number(ErrTooManyProposals)).length).toBe(14);
            expect(await n.gov.getOpenProposalsOf(n.c.address)).toBe(2n);
            const floodIds = [0n, 1n];
            // a and b vote them down: they can no longer pass, and c cleans up and re-proposes in one transaction.
            for (const id of floodIds) await n.gov.sendVote(n.a.getSender(), id, false);
            const again = await n.c.sendMessages([
                ...floodIds.map((id) => internal({ to: n.gov.address, value: toNano('0.05'), body: cleanupBody(id) })),
                ...Array.from({ length: 16 }, (_, k) => internal({ to: n.gov.address, value: toNano('0.05'), body: proposeBody(100 + k) })),
            ]);
            expect(again.transactions).toHaveTransaction({ to: n.gov.address, success: true });
            expect(await n.gov.getOpenProposalsOf(n.c.address)).toBe(2n);
            expect(await n.gov.getOpenProposals()).toBe(2n);

            // The veto: proposed by a within GovMargin of the report; c votes no, b stays silent, so it passes only
            // at its deadline (a's 50 of 50 cast, quorum 50 %) — the worst case.
            n.bc.now = reportedAt + Number(GovMargin) - 60;
            const id = await n.gov.getNextProposalId();
            const p = await n.gov.sendPropose(n.a.getSender(), [toRoot(n, RootWrapper.vetoSlashBody(channel.address, 0n))]);
            expect(p.transactions).toHaveTransaction({ from: n.a.address, to: n.gov.address, success: true });
            await n.gov.sendVote(n.c.getSender(), id, false);
            expect((await n.gov.getProposal(id))!.passedAt).toBe(0n);
            const opensAt = Number(await n.gov.getProposalOpensAt(id)) || Number((await n.gov.getProposal(id))!.deadline + TIMELOCK);
            const executeAt = Number((await channel.getChannelState()).slash!.executeAt);
            expect(opensAt).toBeLessThan(executeAt); // votingPeriod + timelock <= MaxGovLatency < challenge - margin
            n.bc.now = opensAt;
            const r = await n.gov.sendExecute(n.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: channel.address, success: true });
            const st = await channel.getChannelState();
            expect(st.slash).toBeNull();
            expect(st.stake).toBe(WORKER_STAKE);
        });

        it('delists the proxy through a proposal: Root forgets it and the Proxy is banned and closing', async () => {
            const v0 = await n.root.getVersion();
            const r = await enact(n, [toRoot(n, RootWrapper.delistProxyBody(proxy.address))]);
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: proxy.address, success: true });
            expect(await n.root.getProxy(proxy.address)).toBeNull();
            expect(await n.root.getVersion()).toBe(v0 + 1n);
            const ps = await proxy.getProxyState();
            expect(ps.banned).toBe(true);
            expect(ps.state).not.toBe(0n);
        });
    });
});



