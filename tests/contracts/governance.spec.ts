// Unit tests of the Governance contract: every receiver, against a real Governance in the sandbox.
// Voters a/b/c weigh 50/30/20 (total 100) unless a test says otherwise; params are DEFAULT_GOV_PARAMS
// (quorum 50%, majority > 50%, voting 3 days, timelock 1 day, execution window 7 days).
import '@ton/test-utils';
import { Blockchain, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { Address, beginCell, Cell, toNano } from '@ton/core';
import {
    DEFAULT_GOV_PARAMS,
    ErrAccessDenied,
    ErrAlreadyVoted,
    ErrBadActions,
    ErrBadParams,
    ErrExpired,
    ErrLowValue,
    ErrNotCleanable,
    ErrNotFound,
    ErrNotPassed,
    ErrNotVoter,
    ErrTooEarly,
    ErrTooManyProposals,
    ErrUnknownProposal,
    FeeSimple,
    GovernanceWrapper,
    GovParams,
    MaxActions,
    MaxGovLatency,
    MaxOpenProposals,
    MaxProposalCells,
    MaxProposalsPerVoter,
    packActions,
    ProposalAction,
    VoterWeight,
} from '../../wrappers/Governance';
import { useSnapshot } from '../helpers/fixture';
import { accountOf } from '../helpers/state';
import { storageFees } from '../helpers/tx';

const T0 = 1_800_000_000;
const { votingPeriod: VOTING, timelock: TIMELOCK, executionWindow: WINDOW } = DEFAULT_GOV_PARAMS;
const FUND = toNano('10');
const ACTION_VALUE = toNano('0.05');

interface Ctx {
    bc: Blockchain;
    gov: SandboxContract<GovernanceWrapper>;
    a: SandboxContract<TreasuryContract>;
    b: SandboxContract<TreasuryContract>;
    c: SandboxContract<TreasuryContract>;
    stranger: SandboxContract<TreasuryContract>;
    target: SandboxContract<TreasuryContract>;
}

async function setup(weights: bigint[] = [50n, 30n, 20n], params: GovParams = DEFAULT_GOV_PARAMS): Promise<Ctx> {
    const bc = await Blockchain.create();
    bc.now = T0;
    const [a, b, c] = [await bc.treasury('voter-a'), await bc.treasury('voter-b'), await bc.treasury('voter-c')];
    const stranger = await bc.treasury('stranger');
    const target = await bc.treasury('target');
    const voters: VoterWeight[] = [a, b, c].slice(0, weights.length).map((v, i) => ({ address: v.address, weight: weights[i] }));
    const gov = bc.openContract(await GovernanceWrapper.create(voters, params));
    const r = await gov.sendFund(stranger.getSender(), FUND);
    expect(r.transactions).toHaveTransaction({ to: gov.address, deploy: true, success: true });
    return { bc, gov, a, b, c, stranger, target };
}

function comment(text: string): Cell {
    return beginCell().storeUint(0, 32).storeStringTail(text).endCell();
}

function pingAction(ctx: Ctx, text = 'ping'): ProposalAction {
    return { to: ctx.target.address, value: ACTION_VALUE, body: comment(text) };
}

async function govData(ctx: Ctx): Promise<Cell> {
    return (await accountOf(ctx.bc, ctx.gov.address)).data;
}

interface Snapshot {
    data: Cell;
    balance: bigint;
}

async function snapshot(ctx: Ctx): Promise<Snapshot> {
    return { data: await govData(ctx), balance: (await ctx.bc.getContract(ctx.gov.address)).balance };
}

/**
 * The message from `from` failed in Governance with `code`, Governance's stored state is exactly as before,
 * and its balance moved only by the storage fee (the rest of the value bounced to the sender).
 */
async function expectRefused(ctx: Ctx, r: SendMessageResult, from: Address, code: bigint, before: Snapshot) {
    expect(r.transactions).toHaveTransaction({ from, to: ctx.gov.address, success: false, exitCode: Number(code) });
    expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: from, inMessageBounced: true });
    const after = await snapshot(ctx);
    expect(after.data.equals(before.data)).toBe(true);
    expect(after.balance).toBe(before.balance - storageFees(r.transactions, ctx.gov.address));
}

async function propose(ctx: Ctx, by: SandboxContract<TreasuryContract>, actions: ProposalAction[] = [pingAction(ctx)]): Promise<bigint> {
    const id = await ctx.gov.getNextProposalId();
    const r = await ctx.gov.sendPropose(by.getSender(), actions);
    expect(r.transactions).toHaveTransaction({ from: by.address, to: ctx.gov.address, success: true });
    return id;
}

async function vote(ctx: Ctx, by: SandboxContract<TreasuryContract>, id: bigint, support: boolean) {
    const r = await ctx.gov.sendVote(by.getSender(), id, support);
    expect(r.transactions).toHaveTransaction({ from: by.address, to: ctx.gov.address, success: true });
}

/** One sandbox per describe; every test starts from the freshly deployed state. */
function fresh(weights?: bigint[]): () => Ctx {
    return useSnapshot(
        () => setup(weights),
        (ctx) => {
            ctx.bc.now = T0;
        },
    );
}

describe('Governance', () => {
    let ctx: Ctx;
    const get = fresh();
    beforeEach(() => {
        ctx = get();
    });

    it('starts with the voters, weights and params it was deployed with', async () => {
        const voters = await ctx.gov.getVoters();
        expect(voters.size).toBe(3);
        expect(voters.get(ctx.a.address)).toBe(50);
        expect(voters.get(ctx.b.address)).toBe(30);
        expect(voters.get(ctx.c.address)).toBe(20);
        expect(await ctx.gov.getTotalWeight()).toBe(100n);
        expect(await ctx.gov.getGovParams()).toEqual(DEFAULT_GOV_PARAMS);
        expect(await ctx.gov.getNextProposalId()).toBe(0n);
        expect(await ctx.gov.getOpenProposals()).toBe(0n);
    });

    describe('Propose', () => {
        it('records the proposal with the proposer voting yes', async () => {
            const actions = [pingAction(ctx, 'one'), pingAction(ctx, 'two')];
            const r = await ctx.gov.sendPropose(ctx.b.getSender(), actions);
            expect(r.transactions).toHaveTransaction({ from: ctx.b.address, to: ctx.gov.address, success: true });
            // Nothing is sent on proposing.
            expect(r.transactions).not.toHaveTransaction({ from: ctx.gov.address });
            const p = (await ctx.gov.getProposal(0n))!;
            expect(p.proposer.equals(ctx.b.address)).toBe(true);
            expect(p.actions.equals(packActions(actions))).toBe(true);
            expect(p.createdAt).toBe(BigInt(T0));
            expect(p.deadline).toBe(BigInt(T0) + VOTING);
            expect(p.yes).toBe(30n);
            expect(p.no).toBe(0n);
            expect(p.totalWeight).toBe(100n);
            expect(p.passedAt).toBe(0n);
            expect(await ctx.gov.getProposalVote(0n, ctx.b.address)).toBe(true);
            expect(await ctx.gov.getProposalVote(0n, ctx.a.address)).toBeNull();
            expect(await ctx.gov.getProposalOpensAt(0n)).toBe(0n);
            expect(await ctx.gov.getNextProposalId()).toBe(1n);
            expect(await ctx.gov.getOpenProposals()).toBe(1n);
        });

        it('accepts exactly MaxActions (8) actions', async () => {
            const actions = Array.from({ length: Number(MaxActions) }, (_, i) => pingAction(ctx, `a${i}`));
            const id = await propose(ctx, ctx.a, actions);
            expect((await ctx.gov.getProposal(id))!.actions.equals(packActions(actions))).toBe(true);
        });

        it('refuses a sender without voting weight (ErrNotVoter)', async () => {
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendPropose(ctx.stranger.getSender(), [pingAction(ctx)]);
            await expectRefused(ctx, r, ctx.stranger.address, ErrNotVoter, before);
            expect(await ctx.gov.getOpenProposals()).toBe(0n);
        });

        it('refuses less than FeeSimple attached (ErrLowValue)', async () => {
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendPropose(ctx.a.getSender(), [pingAction(ctx)], { value: FeeSimple - 1n });
            await expectRefused(ctx, r, ctx.a.address, ErrLowValue, before);
        });

        it('refuses more than MaxActions actions (ErrBadActions)', async () => {
            const before = await snapshot(ctx);
            const actions = Array.from({ length: Number(MaxActions) + 1 }, (_, i) => pingAction(ctx, `a${i}`));
            const r = await ctx.gov.sendPropose(ctx.a.getSender(), actions, { value: toNano('0.1') });
            await expectRefused(ctx, r, ctx.a.address, ErrBadActions, before);
        });

        const malformed: [string, () => Cell][] = [
            ['an empty action cell', () => new Cell()],
            ['an action too short to hold an address and value', () => beginCell().storeUint(0, 200).storeRef(comment('x')).endCell()],
            ['an action without a body reference', () => beginCell().storeAddress(ctx.target.address).storeCoins(ACTION_VALUE).storeBit(false).endCell()],
            [
                'an action whose next-flag is set but has no next reference',
                () => beginCell().storeAddress(ctx.target.address).storeCoins(ACTION_VALUE).storeRef(comment('x')).storeBit(true).endCell(),
            ],
            [
                'an action with trailing data after the next-flag',
                () => beginCell().storeAddress(ctx.target.address).storeCoins(ACTION_VALUE).storeRef(comment('x')).storeBit(false).storeUint(7, 8).endCell(),
            ],
            [
                'an action addressed to an external address',
                () => beginCell().storeUint(1, 2).storeUint(256, 9).storeUint(5, 256).storeCoins(ACTION_VALUE).storeRef(comment('x')).storeBit(false).endCell(),
            ],
            [
                'a well-formed first action followed by a malformed one',
                () =>
                    beginCell()
                        .storeAddress(ctx.target.address)
                        .storeCoins(ACTION_VALUE)
                        .storeRef(comment('x'))
                        .storeMaybeRef(beginCell().storeUint(1, 10).endCell())
                        .endCell(),
            ],
        ];
        for (const [what, build] of malformed) {
            it(`refuses ${what} (ErrBadActions)`, async () => {
                const before = await snapshot(ctx);
                const r = await ctx.gov.send(ctx.a.getSender(), { value: toNano('0.05') }, { $$type: 'Propose', queryId: 0n, actions: build() });
                await expectRefused(ctx, r, ctx.a.address, ErrBadActions, before);
            });
        }

        it('attack 4: one voter holds at most MaxProposalsPerVoter open proposals (ErrTooManyProposals); the other voters keep their slots', async () => {
            for (let i = 0; i < Number(MaxProposalsPerVoter); i++) await propose(ctx, ctx.c);
            expect(await ctx.gov.getOpenProposalsOf(ctx.c.address)).toBe(MaxProposalsPerVoter);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendPropose(ctx.c.getSender(), [pingAction(ctx)]);
            await expectRefused(ctx, r, ctx.c.address, ErrTooManyProposals, before);
            await propose(ctx, ctx.a);
            await propose(ctx, ctx.b);
            expect(await ctx.gov.getOpenProposals()).toBe(MaxProposalsPerVoter + 2n);

            // c's proposals (20%) fail at their deadline; cleaning one frees one of c's slots.
            ctx.bc.now = T0 + Number(VOTING);
            expect((await ctx.gov.sendCleanup(ctx.stranger.getSender(), 0n)).transactions).toHaveTransaction({ to: ctx.gov.address, success: true });
            expect(await ctx.gov.getOpenProposalsOf(ctx.c.address)).toBe(MaxProposalsPerVoter - 1n);
            await propose(ctx, ctx.c);
            expect(await ctx.gov.getOpenProposalsOf(ctx.c.address)).toBe(MaxProposalsPerVoter);
            expect(MaxOpenProposals).toBe(64n * MaxProposalsPerVoter); // every voter's quota fits
        });

        it('attack 4: a proposal that can no longer pass fails early, so Cleanup frees its slot before the deadline', async () => {
            const id = await propose(ctx, ctx.c); // yes 20
            await vote(ctx, ctx.b, id, false); // no 30: a's 50 could still make yes 70 > 50%
            let before = await snapshot(ctx);
            await expectRefused(ctx, await ctx.gov.sendCleanup(ctx.stranger.getSender(), id), ctx.stranger.address, ErrNotCleanable, before);
            await vote(ctx, ctx.a, id, false); // no 80: even all the rest could not reach a majority
            ctx.bc.now = T0 + 1;
            const r = await ctx.gov.sendCleanup(ctx.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: ctx.stranger.address, to: ctx.gov.address, success: true });
            expect(await ctx.gov.getProposal(id)).toBeNull();
            expect(await ctx.gov.getOpenProposalsOf(ctx.c.address)).toBe(0n);
            expect(await ctx.gov.getOpenProposals()).toBe(0n);
        });

        it(`attack 1: refuses actions holding more than MaxProposalCells (${MaxProposalCells}) cells (ErrBadActions); Governance's storage per proposal is bounded`, async () => {
            const chain = (n: number): Cell => (n === 0 ? beginCell().storeUint(0, 8).endCell() : beginCell().storeUint(n, 16).storeRef(chain(n - 1)).endCell());
            const big: ProposalAction = { to: ctx.target.address, value: ACTION_VALUE, body: chain(Number(MaxProposalCells)) };
            const before = await snapshot(ctx);
            await expectRefused(ctx, await ctx.gov.sendPropose(ctx.a.getSender(), [big]), ctx.a.address, ErrBadActions, before);
            // the same action just under the bound is accepted (body + the action cell itself = MaxProposalCells)
            await propose(ctx, ctx.a, [{ ...big, body: chain(Number(MaxProposalCells) - 2) }]);
        });
    });

    describe('Vote', () => {
        it('counts a no vote without passing the proposal', async () => {
            const id = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id, false);
            const p = (await ctx.gov.getProposal(id))!;
            expect(p.yes).toBe(50n);
            expect(p.no).toBe(30n);
            expect(p.passedAt).toBe(0n);
            expect(await ctx.gov.getProposalVote(id, ctx.b.address)).toBe(false);
        });

        it('passes the proposal at the vote that makes a supermajority certain', async () => {
            const id = await propose(ctx, ctx.a);
            ctx.bc.now = T0 + 100;
            await vote(ctx, ctx.c, id, true);
            const p = (await ctx.gov.getProposal(id))!;
            expect(p.yes).toBe(70n);
            expect(p.passedAt).toBe(BigInt(T0 + 100));
            expect(await ctx.gov.getProposalOpensAt(id)).toBe(BigInt(T0 + 100) + TIMELOCK);
        });

        it('exactly half of the total weight does not pass early (majority is strict)', async () => {
            const id = await propose(ctx, ctx.a); // 50 of 100
            expect((await ctx.gov.getProposal(id))!.passedAt).toBe(0n);
            expect(await ctx.gov.getProposalOpensAt(id)).toBe(0n);
        });

        it('refuses a sender without voting weight (ErrNotVoter)', async () => {
            const id = await propose(ctx, ctx.a);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendVote(ctx.stranger.getSender(), id, true);
            await expectRefused(ctx, r, ctx.stranger.address, ErrNotVoter, before);
        });

        it('refuses a second vote by the same voter, the proposer included (ErrAlreadyVoted)', async () => {
            const id = await propose(ctx, ctx.a);
            await vote(ctx, ctx.c, id, false);
            let before = await snapshot(ctx);
            let r = await ctx.gov.sendVote(ctx.c.getSender(), id, true);
            await expectRefused(ctx, r, ctx.c.address, ErrAlreadyVoted, before);
            before = await snapshot(ctx);
            r = await ctx.gov.sendVote(ctx.a.getSender(), id, true);
            await expectRefused(ctx, r, ctx.a.address, ErrAlreadyVoted, before);
            const p = (await ctx.gov.getProposal(id))!;
            expect([p.yes, p.no]).toEqual([50n, 20n]);
        });

        it('refuses an unknown proposal id (ErrUnknownProposal)', async () => {
            await propose(ctx, ctx.a);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendVote(ctx.b.getSender(), 7n, true);
            await expectRefused(ctx, r, ctx.b.address, ErrUnknownProposal, before);
        });

        it('refuses a vote at or after the deadline (ErrExpired)', async () => {
            const id = await propose(ctx, ctx.c);
            ctx.bc.now = T0 + Number(VOTING);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendVote(ctx.a.getSender(), id, true);
            await expectRefused(ctx, r, ctx.a.address, ErrExpired, before);
            expect((await ctx.gov.getProposal(id))!.yes).toBe(20n);
        });

        it('accepts a vote one second before the deadline', async () => {
            const id = await propose(ctx, ctx.c);
            ctx.bc.now = T0 + Number(VOTING) - 1;
            await vote(ctx, ctx.a, id, true);
            expect((await ctx.gov.getProposal(id))!.passedAt).toBe(BigInt(T0 + Number(VOTING) - 1));
        });

        it('refuses votes once the proposal has passed (ErrExpired)', async () => {
            const id = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id, true);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendVote(ctx.c.getSender(), id, false);
            await expectRefused(ctx, r, ctx.c.address, ErrExpired, before);
        });
    });

    describe('Execute', () => {
        it('executes an early-passed proposal once its timelock has elapsed, sending every action from its balance', async () => {
            const actions = [pingAction(ctx, 'first'), { to: ctx.stranger.address, value: toNano('0.2'), body: comment('second') }];
            const id = await propose(ctx, ctx.a, actions);
            await vote(ctx, ctx.b, id, true);
            const opensAt = await ctx.gov.getProposalOpensAt(id);
            expect(opensAt).toBe(BigInt(T0) + TIMELOCK);
            ctx.bc.now = Number(opensAt);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: ctx.stranger.address, to: ctx.gov.address, success: true, outMessagesCount: 2 });
            expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.target.address, value: ACTION_VALUE, body: comment('first') });
            expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.stranger.address, value: toNano('0.2'), body: comment('second') });
            expect(await ctx.gov.getProposal(id)).toBeNull();
            expect(await ctx.gov.getOpenProposals()).toBe(0n);
            // Action values (and forward fees) come out of Governance's balance; the executor's value stays.
            const after = (await ctx.bc.getContract(ctx.gov.address)).balance;
            expect(after).toBeLessThan(before.balance - toNano('0.25') + toNano('0.05'));
            expect(after).toBeGreaterThan(before.balance - toNano('0.25') - toNano('0.01'));
        });

        it('refuses execution before the timelock has elapsed (ErrTooEarly)', async () => {
            const id = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id, true);
            ctx.bc.now = T0 + Number(TIMELOCK) - 1;
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            await expectRefused(ctx, r, ctx.stranger.address, ErrTooEarly, before);
            expect(r.transactions).not.toHaveTransaction({ to: ctx.target.address });
        });

        it('passes at the deadline with quorum and a majority of the votes cast, executable after deadline + timelock', async () => {
            const id = await propose(ctx, ctx.a); // yes 50
            await vote(ctx, ctx.c, id, false); // no 20: cast 70 >= 50% quorum, 50 > 35
            expect(await ctx.gov.getProposalOpensAt(id)).toBe(0n);
            const deadline = T0 + Number(VOTING);
            ctx.bc.now = deadline;
            expect(await ctx.gov.getProposalOpensAt(id)).toBe(BigInt(deadline) + TIMELOCK);

            ctx.bc.now = deadline + Number(TIMELOCK) - 1;
            const before = await snapshot(ctx);
            let r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            await expectRefused(ctx, r, ctx.stranger.address, ErrTooEarly, before);

            ctx.bc.now = deadline + Number(TIMELOCK);
            r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: ctx.stranger.address, to: ctx.gov.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.target.address, value: ACTION_VALUE });
            expect(await ctx.gov.getOpenProposals()).toBe(0n);
        });

        it('refuses a proposal still in its voting period (ErrNotPassed)', async () => {
            const id = await propose(ctx, ctx.a);
            ctx.bc.now = T0 + Number(VOTING) - 1;
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            await expectRefused(ctx, r, ctx.stranger.address, ErrNotPassed, before);
        });

        const failing: [string, (id: bigint) => Promise<void>, () => SandboxContract<TreasuryContract>][] = [
            ['missed quorum (20% voted)', async () => {}, () => ctx.c],
            ['lost the vote (20 yes, 50 no)', async (id) => vote(ctx, ctx.a, id, false), () => ctx.c],
            ['tied (50 yes, 50 no)', async (id) => { await vote(ctx, ctx.b, id, false); await vote(ctx, ctx.c, id, false); }, () => ctx.a],
        ];
        for (const [what, votes, proposer] of failing) {
            it(`refuses a proposal that ${what} at its deadline (ErrNotPassed)`, async () => {
                const id = await propose(ctx, proposer());
                await votes(id);
                ctx.bc.now = T0 + Number(VOTING) + Number(TIMELOCK);
                expect(await ctx.gov.getProposalOpensAt(id)).toBe(0n);
                const before = await snapshot(ctx);
                const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
                await expectRefused(ctx, r, ctx.stranger.address, ErrNotPassed, before);
                expect(r.transactions).not.toHaveTransaction({ to: ctx.target.address });
            });
        }

        it('executes on the last second of the window and refuses after it (ErrExpired)', async () => {
            const id1 = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id1, true);
            const id2 = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id2, true);
            const closesAt = T0 + Number(TIMELOCK + WINDOW);
            ctx.bc.now = closesAt - 1;
            const ok = await ctx.gov.sendExecute(ctx.stranger.getSender(), id1);
            expect(ok.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.target.address, success: true });

            ctx.bc.now = closesAt;
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id2);
            await expectRefused(ctx, r, ctx.stranger.address, ErrExpired, before);
            expect(r.transactions).not.toHaveTransaction({ to: ctx.target.address });
        });

        it('refuses to execute a proposal twice (ErrUnknownProposal)', async () => {
            const id = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id, true);
            ctx.bc.now = T0 + Number(TIMELOCK);
            await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            await expectRefused(ctx, r, ctx.stranger.address, ErrUnknownProposal, before);
            expect(r.transactions).not.toHaveTransaction({ to: ctx.target.address });
        });

        it('refuses less than FeeSimple attached (ErrLowValue)', async () => {
            const id = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id, true);
            ctx.bc.now = T0 + Number(TIMELOCK);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id, FeeSimple - 1n);
            await expectRefused(ctx, r, ctx.stranger.address, ErrLowValue, before);
            expect(await ctx.gov.getProposal(id)).not.toBeNull();
        });

        it('changes nothing when its balance cannot pay the actions, and can be retried after a top-up', async () => {
            const big = { to: ctx.target.address, value: toNano('50'), body: comment('big') };
            const id = await propose(ctx, ctx.a, [pingAction(ctx), big]);
            await vote(ctx, ctx.b, id, true);
            ctx.bc.now = T0 + Number(TIMELOCK);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: ctx.stranger.address, to: ctx.gov.address, success: false, actionResultCode: 37 });
            expect(r.transactions).not.toHaveTransaction({ from: ctx.gov.address, to: ctx.target.address });
            expect((await govData(ctx)).equals(before.data)).toBe(true);
            expect(await ctx.gov.getOpenProposals()).toBe(1n);

            await ctx.gov.sendFund(ctx.stranger.getSender(), toNano('50'));
            const r2 = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            expect(r2.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.target.address, value: toNano('50'), success: true });
            expect(await ctx.gov.getProposal(id)).toBeNull();
        });
    });

    describe('Cleanup', () => {
        it('removes a proposal that failed at its deadline', async () => {
            const id = await propose(ctx, ctx.c);
            ctx.bc.now = T0 + Number(VOTING);
            const r = await ctx.gov.sendCleanup(ctx.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: ctx.stranger.address, to: ctx.gov.address, success: true });
            expect(r.transactions).not.toHaveTransaction({ from: ctx.gov.address });
            expect(await ctx.gov.getProposal(id)).toBeNull();
            expect(await ctx.gov.getOpenProposals()).toBe(0n);
        });

        it('removes a passed proposal whose execution window is over', async () => {
            const id = await propose(ctx, ctx.a);
            await vote(ctx, ctx.b, id, true);
            ctx.bc.now = T0 + Number(TIMELOCK + WINDOW);
            const r = await ctx.gov.sendCleanup(ctx.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: ctx.stranger.address, to: ctx.gov.address, success: true });
            expect(r.transactions).not.toHaveTransaction({ to: ctx.target.address });
            expect(await ctx.gov.getProposal(id)).toBeNull();
            expect(await ctx.gov.getOpenProposals()).toBe(0n);
        });

        const live: [string, (id: bigint) => Promise<number>][] = [
            ['still being voted on', async () => T0 + Number(VOTING) - 1],
            ['passed and in its timelock', async (id) => { await vote(ctx, ctx.b, id, true); return T0 + Number(TIMELOCK) - 1; }],
            ['passed and executable', async (id) => { await vote(ctx, ctx.b, id, true); return T0 + Number(TIMELOCK + WINDOW) - 1; }],
            ['passed at its deadline and executable', async (id) => { await vote(ctx, ctx.c, id, false); return T0 + Number(VOTING); }],
        ];
        for (const [what, prepare] of live) {
            it(`refuses a proposal ${what} (ErrNotCleanable)`, async () => {
                const id = await propose(ctx, ctx.a);
                ctx.bc.now = await prepare(id);
                const before = await snapshot(ctx);
                const r = await ctx.gov.sendCleanup(ctx.stranger.getSender(), id);
                await expectRefused(ctx, r, ctx.stranger.address, ErrNotCleanable, before);
            });
        }

        it('refuses an unknown proposal id (ErrUnknownProposal)', async () => {
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendCleanup(ctx.stranger.getSender(), 0n);
            await expectRefused(ctx, r, ctx.stranger.address, ErrUnknownProposal, before);
        });
    });

    describe('SetVoter and SetGovParams', () => {
        const direct: [string, () => SandboxContract<TreasuryContract>][] = [
            ['a stranger', () => ctx.stranger],
            ['a voter', () => ctx.a],
        ];
        for (const [who, sender] of direct) {
            it(`refuses SetVoter sent directly by ${who} (ErrAccessDenied)`, async () => {
                const before = await snapshot(ctx);
                const s = sender();
                const r = await ctx.gov.send(s.getSender(), { value: toNano('0.05') }, { $$type: 'SetVoter', queryId: 0n, voter: s.address, weight: 1000n });
                await expectRefused(ctx, r, s.address, ErrAccessDenied, before);
            });

            it(`refuses SetGovParams sent directly by ${who} (ErrAccessDenied)`, async () => {
                const before = await snapshot(ctx);
                const s = sender();
                const params: GovParams = { ...DEFAULT_GOV_PARAMS, quorumBps: 1n, timelock: 0n };
                const r = await ctx.gov.send(s.getSender(), { value: toNano('0.05') }, { $$type: 'SetGovParams', queryId: 0n, params });
                await expectRefused(ctx, r, s.address, ErrAccessDenied, before);
            });
        }

        /** Proposes `body` to Governance itself, passes it (a + b) and executes it; returns the execution. */
        async function throughProposal(body: Cell): Promise<SendMessageResult> {
            const id = await propose(ctx, ctx.a, [{ to: ctx.gov.address, value: ACTION_VALUE, body }]);
            await vote(ctx, ctx.b, id, true);
            ctx.bc.now = Number(await ctx.gov.getProposalOpensAt(id));
            const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
            expect(r.transactions).toHaveTransaction({ from: ctx.stranger.address, to: ctx.gov.address, success: true });
            expect(await ctx.gov.getProposal(id)).toBeNull();
            return r;
        }

        it('adds a voter through a proposal; the new voter can then propose', async () => {
            const d = await ctx.bc.treasury('voter-d');
            const r = await throughProposal(GovernanceWrapper.setVoterBody(d.address, 40n));
            expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.gov.address, success: true });
            const voters = await ctx.gov.getVoters();
            expect(voters.size).toBe(4);
            expect(voters.get(d.address)).toBe(40);
            expect(await ctx.gov.getTotalWeight()).toBe(140n);
            const id = await propose(ctx, d);
            const p = (await ctx.gov.getProposal(id))!;
            expect([p.yes, p.totalWeight]).toEqual([40n, 140n]);
        });

        it("changes a voter's weight through a proposal", async () => {
            await throughProposal(GovernanceWrapper.setVoterBody(ctx.b.address, 10n));
            const voters = await ctx.gov.getVoters();
            expect(voters.size).toBe(3);
            expect(voters.get(ctx.b.address)).toBe(10);
            expect(await ctx.gov.getTotalWeight()).toBe(80n);
        });

        it('removes a voter through a proposal; the removed voter can no longer propose', async () => {
            await throughProposal(GovernanceWrapper.setVoterBody(ctx.c.address, 0n));
            const voters = await ctx.gov.getVoters();
            expect(voters.size).toBe(2);
            expect(voters.get(ctx.c.address)).toBeUndefined();
            expect(await ctx.gov.getTotalWeight()).toBe(80n);
            const before = await snapshot(ctx);
            const r = await ctx.gov.sendPropose(ctx.c.getSender(), [pingAction(ctx)]);
            await expectRefused(ctx, r, ctx.c.address, ErrNotVoter, before);
        });

        it('the action fails (ErrNotFound) when removing someone who is not a voter; voters unchanged', async () => {
            const voters = await ctx.gov.getVoters();
            const r = await throughProposal(GovernanceWrapper.setVoterBody(ctx.stranger.address, 0n));
            expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.gov.address, success: false, exitCode: Number(ErrNotFound) });
            expect((await ctx.gov.getVoters()).size).toBe(voters.size);
            expect(await ctx.gov.getTotalWeight()).toBe(100n);
        });

        it('changes params through a proposal', async () => {
            const params: GovParams = { $$type: 'GovParams', quorumBps: 6000n, majorityBps: 6600n, votingPeriod: 3600n, timelock: 0n, executionWindow: 7200n };
            const r = await throughProposal(GovernanceWrapper.setGovParamsBody(params));
            expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.gov.address, success: true });
            expect(await ctx.gov.getGovParams()).toEqual(params);
            // New proposals use the new voting period.
            const id = await propose(ctx, ctx.a);
            expect((await ctx.gov.getProposal(id))!.deadline).toBe(BigInt(ctx.bc.now!) + 3600n);
        });

        const badParams: [string, Partial<GovParams>][] = [
            ['zero quorum', { quorumBps: 0n }],
            ['quorum above 100%', { quorumBps: 10001n }],
            ['majority below 50%', { majorityBps: 4999n }],
            ['majority of 100%', { majorityBps: 10000n }],
            ['zero voting period', { votingPeriod: 0n }],
            ['voting period above MaxDelay', { votingPeriod: 31536001n }],
            ['timelock above MaxDelay', { timelock: 31536001n }],
            ['zero execution window', { executionWindow: 0n }],
            // attack 4: a veto could take longer than Root's slash challenge period allows
            ['attack 4: votingPeriod + timelock above MaxGovLatency', { votingPeriod: MaxGovLatency - DEFAULT_GOV_PARAMS.timelock + 1n }],
        ];
        for (const [what, patch] of badParams) {
            it(`the action fails (ErrBadParams) for params with ${what}; params unchanged`, async () => {
                const r = await throughProposal(GovernanceWrapper.setGovParamsBody({ ...DEFAULT_GOV_PARAMS, ...patch }));
                expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.gov.address, success: false, exitCode: Number(ErrBadParams) });
                // The failed action bounces back to Governance, which keeps it.
                expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.gov.address, inMessageBounced: true, success: true });
                expect(await ctx.gov.getGovParams()).toEqual(DEFAULT_GOV_PARAMS);
            });
        }
    });
});

describe('Governance with a single voter', () => {
    let ctx: Ctx;
    const get = fresh([7n]);
    beforeEach(() => {
        ctx = get();
    });

    it("passes the sole voter's proposal when it is made; executable after the timelock", async () => {
        const id = await propose(ctx, ctx.a);
        const p = (await ctx.gov.getProposal(id))!;
        expect(p.yes).toBe(7n);
        expect(p.passedAt).toBe(BigInt(T0));
        expect(await ctx.gov.getProposalOpensAt(id)).toBe(BigInt(T0) + TIMELOCK);

        ctx.bc.now = T0 + Number(TIMELOCK) - 1;
        let before = await snapshot(ctx);
        let r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
        await expectRefused(ctx, r, ctx.stranger.address, ErrTooEarly, before);

        ctx.bc.now = T0 + Number(TIMELOCK);
        r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
        expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.target.address, value: ACTION_VALUE, success: true });
    });

    it('cannot remove its last voter: the action fails with ErrBadParams', async () => {
        const id = await propose(ctx, ctx.a, [{ to: ctx.gov.address, value: ACTION_VALUE, body: GovernanceWrapper.setVoterBody(ctx.a.address, 0n) }]);
        ctx.bc.now = T0 + Number(TIMELOCK);
        const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
        expect(r.transactions).toHaveTransaction({ from: ctx.gov.address, to: ctx.gov.address, success: false, exitCode: Number(ErrBadParams) });
        expect((await ctx.gov.getVoters()).get(ctx.a.address)).toBe(7);
        expect(await ctx.gov.getTotalWeight()).toBe(7n);
    });

    it('hands over to a new voter set: add a voter, then remove the original one', async () => {
        const b = ctx.b;
        const id = await propose(ctx, ctx.a, [
            { to: ctx.gov.address, value: ACTION_VALUE, body: GovernanceWrapper.setVoterBody(b.address, 3n) },
            { to: ctx.gov.address, value: ACTION_VALUE, body: GovernanceWrapper.setVoterBody(ctx.a.address, 0n) },
        ]);
        ctx.bc.now = T0 + Number(TIMELOCK);
        const r = await ctx.gov.sendExecute(ctx.stranger.getSender(), id);
        expect(r.transactions).not.toHaveTransaction({ from: ctx.gov.address, to: ctx.gov.address, success: false });
        const voters = await ctx.gov.getVoters();
        expect(voters.size).toBe(1);
        expect(voters.get(b.address)).toBe(3);
        expect(await ctx.gov.getTotalWeight()).toBe(3n);
    });
});
