// Proxy: every receiver, its failure modes, the equivocation slash and the close lifecycle
// (with time travel). One network is deployed once; each test starts from a snapshot of it:
// a registered Proxy (stake 10 TON), a ClientChannel with 5 TON and an open WorkerChannel.
import '@ton/test-utils';
import { internal, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { Address, beginCell, toNano } from '@ton/core';
import { GLOBAL_ID, balanceOf, keys, Network, PROXY_STAKE, WORKER_STAKE } from '../../fixtures/network';
import { useNetworkSnapshot } from '../helpers/fixture';
import { accountOf, plain } from '../helpers/state';
import {
    ErrAccessDenied,
    ErrBadSignature,
    ErrChannelsOpen,
    ErrInsufficientFunds,
    ErrLowValue,
    ErrNotEquivocation,
    ErrOldVoucher,
    ErrTooEarly,
    ErrWrongState,
    ErrZeroAmount,
    FeeCommit,
    FeeFinish,
    FeeRegister,
    FeeSimple,
    PayoutClaimWindow,
    ProxyWrapper,
    storeProxyRegister,
} from '../../wrappers/Proxy';
import { DEFAULT_PARAMS, RootWrapper } from '../../wrappers/Root';
import { WorkerChannelWrapper } from '../../wrappers/WorkerChannel';
import { commitPayload, signatureCell, signPayload, toUint256 } from '../../wrappers/payloads';

const STATE_ACTIVE = 0n;
const STATE_CLOSING = 1n;
const STATE_CLOSED = 2n;
const WORKER_UNBONDING = 2n;
const WORKER_CLOSED = 3n;
const MIN_STORAGE = toNano('0.01');
const BPS = 10000n;
/** Storage fees for an hour or two of sandbox time are far below this. */
const STORAGE_SLACK = toNano('0.0001');

describe('Proxy', () => {
    let n: Network;
    useNetworkSnapshot((net) => {
        n = net;
    });

    // ---------- helpers ----------
    async function proxySnap(p: SandboxContract<ProxyWrapper> = n.proxy) {
        return { data: (await accountOf(n.bc, p.address)).data, balance: await balanceOf(n.bc, p.address), state: await p.getProxyState() };
    }
    type ProxySnap = Awaited<ReturnType<typeof proxySnap>>;

    /** A refused message: the Proxy's stored state is bit-for-bit the same and its balance did not decrease. */
    async function expectProxyUnchanged(before: ProxySnap, p: SandboxContract<ProxyWrapper> = n.proxy, slack = 0n) {
        const after = await proxySnap(p);
        expect(after.data.equals(before.data)).toBe(true);
        expect(plain(after.state)).toEqual(plain(before.state));
        expect(after.balance).toBeGreaterThanOrEqual(before.balance - slack);
    }

    function expectRefused(r: SendMessageResult, from: Address, exitCode: bigint, to: Address = n.proxy.address) {
        expect(r.transactions).toHaveTransaction({ from, to, success: false, exitCode: Number(exitCode), aborted: true });
    }

    const commitSig = (proxy: Address, seqno: bigint, hash: bigint, secretKey: Buffer = n.proxyKeys.secretKey) =>
        signPayload(commitPayload(proxy, seqno, hash, GLOBAL_ID), secretKey);

    async function redeem(amount: bigint) {
        const sig = n.clientChannel.signVoucher(amount, n.clientKeys.secretKey, GLOBAL_ID);
        return n.clientChannel.sendRedeem(n.proxyOwner.getSender(), { amount, signature: sig });
    }

    async function newProxy(label: string) {
        const cc = await n.root.getChildCode();
        const owner = await n.bc.treasury(`owner-${label}`);
        const kp = keys(label);
        const proxy = n.bc.openContract(
            await ProxyWrapper.create({ root: n.root.address, owner: owner.address, enclaveKey: toUint256(kp.publicKey), workerCode: cc.workerCode, proxyCode: cc.proxyCode }),
        );
        return { owner, proxy, kp };
    }

    /** Closes the proxy: ProxyClose, evict the worker, wait, FinishUnbond; leaves it Closing with no channels, past closeAt. */
    async function settleForClose() {
        await n.proxy.sendClose(n.proxyOwner.getSender());
        await n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.worker.address);
        n.bc.now! += Number(DEFAULT_PARAMS.workerUnbondDelay);
        const r = await n.workerChannel.sendFinishUnbond(n.stranger.getSender());
        expect(r.transactions).toHaveTransaction({ from: n.workerChannel.address, to: n.proxy.address, success: true });
        expect((await n.proxy.getProxyState()).workerChannels).toBe(0n);
    }

    // ---------- ProxyRegister / ProxyRegistered ----------
    describe('ProxyRegister', () => {
        it('registers a new Proxy: the value above FeeRegister becomes its stake and it keeps the terms Root sends', async () => {
            const { owner, proxy } = await newProxy('p2');
            const stake = toNano('12');
            const r = await proxy.sendRegister(owner.getSender(), { stake, clientEndpoint: 'c2', workerEndpoint: 'w2' });
            expect(r.transactions).toHaveTransaction({ from: owner.address, to: proxy.address, success: true, deploy: true });
            expect(r.transactions).toHaveTransaction({ from: proxy.address, to: n.root.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: proxy.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: proxy.address, to: owner.address }); // excess back
            const ps = await proxy.getProxyState();
            expect(ps.registered).toBe(true);
            expect(ps.banned).toBe(false);
            expect(ps.state).toBe(STATE_ACTIVE);
            expect(ps.stake).toBe(stake);
            expect(plain(ps.terms)).toEqual(plain(await n.root.getTerms()));
            const info = await n.root.getProxy(proxy.address);
            expect(info?.stake).toBe(stake);
            expect(info?.clientEndpoint).toBe('c2');
            expect(info?.workerEndpoint).toBe('w2');
            expect((await n.root.getCounts()).proxies).toBe(2n);
            // the balance backs the stake plus the storage floor
            expect(await balanceOf(n.bc, proxy.address)).toBeGreaterThanOrEqual(stake + MIN_STORAGE);
        });

        it('refuses a ProxyRegister from anyone but the owner (ErrAccessDenied)', async () => {
            const before = await proxySnap();
            const v = await n.root.getVersion();
            const r = await n.proxy.sendRegister(n.stranger.getSender(), { stake: toNano('5'), clientEndpoint: 'evil', workerEndpoint: 'evil' });
            expectRefused(r, n.stranger.address, ErrAccessDenied);
            expect(r.transactions).not.toHaveTransaction({ from: n.proxy.address, to: n.root.address });
            await expectProxyUnchanged(before);
            expect(await n.root.getVersion()).toBe(v);
        });

        it('refuses a ProxyRegister with less than FeeRegister attached (ErrLowValue)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.send(n.proxyOwner.getSender(), { value: FeeRegister - 1n }, { $$type: 'ProxyRegister', queryId: 0n, clientEndpoint: 'c', workerEndpoint: 'w' });
            expectRefused(r, n.proxyOwner.address, ErrLowValue);
            await expectProxyUnchanged(before);
        });

        it('refuses to register a banned (delisted) Proxy (ErrWrongState)', async () => {
            await n.root.sendAction(n.gov.getSender(), RootWrapper.delistProxyBody(n.proxy.address));
            const before = await proxySnap();
            expect(before.state.banned).toBe(true);
            const r = await n.proxy.sendRegister(n.proxyOwner.getSender(), { stake: toNano('1'), clientEndpoint: 'c', workerEndpoint: 'w' });
            expectRefused(r, n.proxyOwner.address, ErrWrongState);
            await expectProxyUnchanged(before);
            expect(await n.root.getProxy(n.proxy.address)).toBeNull();
        });

        it('refuses to register a closing Proxy (ErrWrongState)', async () => {
            await n.proxy.sendClose(n.proxyOwner.getSender());
            const before = await proxySnap();
            const r = await n.proxy.sendRegister(n.proxyOwner.getSender(), { stake: 0n, clientEndpoint: 'c', workerEndpoint: 'w' });
            expectRefused(r, n.proxyOwner.address, ErrWrongState);
            await expectProxyUnchanged(before);
        });

        it('re-registering updates the endpoints and the stake but keeps the original terms', async () => {
            const terms0 = (await n.proxy.getProxyState()).terms;
            await n.root.sendAction(n.gov.getSender(), RootWrapper.setParamsBody({ ...DEFAULT_PARAMS, commissionBps: 500n, reporterShareBps: 100n, proxyCloseDelay: 60n }));
            const r = await n.proxy.sendRegister(n.proxyOwner.getSender(), { stake: toNano('1'), clientEndpoint: 'new-c', workerEndpoint: 'new-w' });
            expect(r.transactions).toHaveTransaction({ from: n.root.address, to: n.proxy.address, success: true });
            const info = await n.root.getProxy(n.proxy.address);
            expect(info?.clientEndpoint).toBe('new-c');
            expect(info?.workerEndpoint).toBe('new-w');
            expect(info?.stake).toBe(PROXY_STAKE + toNano('1'));
            expect((await n.root.getCounts()).proxies).toBe(1n);
            const ps = await n.proxy.getProxyState();
            expect(ps.stake).toBe(PROXY_STAKE + toNano('1'));
            expect(ps.registered).toBe(true);
            expect(plain(ps.terms)).toEqual(plain(terms0));
            expect(ps.terms?.commissionBps).toBe(DEFAULT_PARAMS.commissionBps);
            // payments are still split with the original commission
            await redeem(toNano('1'));
            const after = await n.proxy.getProxyState();
            expect(after.commission).toBe((toNano('1') * DEFAULT_PARAMS.commissionBps) / BPS);
        });
    });

    describe('ProxyRegistered', () => {
        it('refuses a ProxyRegistered that does not come from Root (ErrAccessDenied)', async () => {
            const { owner, proxy } = await newProxy('unreg');
            await proxy.sendRegister(owner.getSender(), { stake: toNano('1'), clientEndpoint: 'c', workerEndpoint: 'w' }); // too little stake: stays unregistered
            const before = await proxySnap(proxy);
            expect(before.state.terms).toBeNull();
            const r = await proxy.send(n.stranger.getSender(), { value: toNano('0.1') }, { $$type: 'ProxyRegistered', queryId: 0n, terms: { ...(await n.root.getTerms()), treasury: n.stranger.address, reporterShareBps: 10000n } });
            expectRefused(r, n.stranger.address, ErrAccessDenied, proxy.address);
            await expectProxyUnchanged(before, proxy);
        });

        it('a registration confirmed after the Proxy started closing is taken back from Root', async () => {
            const { owner, proxy } = await newProxy('race');
            const body = beginCell().store(storeProxyRegister({ $$type: 'ProxyRegister', queryId: 0n, clientEndpoint: 'c', workerEndpoint: 'w' })).endCell();
            const iter = await n.bc.sendMessageIter(
                internal({ from: owner.address, to: proxy.address, value: PROXY_STAKE + FeeRegister, body, stateInit: proxy.init }),
                { allowParallel: true },
            );
            await iter.next(); // owner -> Proxy
            await iter.next(); // Proxy -> Root: Root lists it
            expect(await n.root.getProxy(proxy.address)).not.toBeNull();
            // the owner closes before ProxyRegistered arrives
            await proxy.sendClose(owner.getSender());
            expect((await proxy.getProxyState()).state).toBe(STATE_CLOSING);
            const rest: { from?: Address; to?: Address }[] = [];
            for (let s = await iter.next(); !s.done; s = await iter.next()) {
                const tx = s.value;
                const src = tx.inMessage?.info.src;
                rest.push({ from: src instanceof Address ? src : undefined, to: tx.inMessage?.info.dest as Address });
            }
            expect(rest.some((t) => t.from?.equals(proxy.address) && t.to?.equals(n.root.address))).toBe(true);
            expect(await n.root.getProxy(proxy.address)).toBeNull();
            const ps = await proxy.getProxyState();
            expect(ps.registered).toBe(false);
            expect(ps.terms).toBeNull();
            expect(ps.state).toBe(STATE_CLOSING);
        });
    });

    describe('ProxyDelisted', () => {
        it('refuses a ProxyDelisted that does not come from Root (ErrAccessDenied)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.send(n.stranger.getSender(), { value: toNano('0.1') }, { $$type: 'ProxyDelisted', queryId: 0n });
            expectRefused(r, n.stranger.address, ErrAccessDenied);
            await expectProxyUnchanged(before);
        });
    });

    // ---------- AddStake ----------
    describe('AddStake', () => {
        it('adds the stated amount to the stake', async () => {
            const r = await n.proxy.sendAddStake(n.proxyOwner.getSender(), toNano('3'));
            expect(r.transactions).toHaveTransaction({ from: n.proxyOwner.address, to: n.proxy.address, success: true });
            expect((await n.proxy.getProxyState()).stake).toBe(PROXY_STAKE + toNano('3'));
        });

        it('refuses a zero amount (ErrZeroAmount)', async () => {
            const before = await proxySnap();
            expectRefused(await n.proxy.sendAddStake(n.proxyOwner.getSender(), 0n), n.proxyOwner.address, ErrZeroAmount);
            await expectProxyUnchanged(before);
        });

        it('refuses a value below amount + FeeSimple (ErrLowValue)', async () => {
            const before = await proxySnap();
            expectRefused(await n.proxy.sendAddStake(n.proxyOwner.getSender(), toNano('3'), FeeSimple - 1n), n.proxyOwner.address, ErrLowValue);
            await expectProxyUnchanged(before);
        });

    });

    // ---------- StateCommit ----------
    describe('StateCommit', () => {
        it('records an enclave-signed commit; later seqnos may skip', async () => {
            const r = await n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno: 1n, hash: 0xaan, secretKey: n.proxyKeys.secretKey });
            expect(r.transactions).toHaveTransaction({ to: n.proxy.address, success: true });
            let ps = await n.proxy.getProxyState();
            expect(ps.commitSeqno).toBe(1n);
            expect(ps.commitHash).toBe(0xaan);
            await n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno: 10n, hash: 0xbbn, secretKey: n.proxyKeys.secretKey });
            ps = await n.proxy.getProxyState();
            expect(ps.commitSeqno).toBe(10n);
            expect(ps.commitHash).toBe(0xbbn);
        });

        it('refuses an equal or older seqno (ErrOldVoucher)', async () => {
            await n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno: 5n, hash: 1n, secretKey: n.proxyKeys.secretKey });
            const before = await proxySnap();
            for (const seqno of [5n, 4n, 0n]) {
                const r = await n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno, hash: 2n, secretKey: n.proxyKeys.secretKey });
                expectRefused(r, n.stranger.address, ErrOldVoucher);
            }
            await expectProxyUnchanged(before);
        });

        it('refuses a commit signed by another key (ErrBadSignature)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno: 1n, hash: 1n, secretKey: keys('not-the-enclave').secretKey });
            expectRefused(r, n.stranger.address, ErrBadSignature);
            await expectProxyUnchanged(before);
        });

        it('refuses a commit signed for another proxy address (ErrBadSignature)', async () => {
            const before = await proxySnap();
            const { proxy: other } = await newProxy('other');
            const sig = commitSig(other.address, 1n, 1n); // same enclave key, other domain
            const r = await n.proxy.sendSignedCommit(n.stranger.getSender(), { seqno: 1n, hash: 1n, signature: sig });
            expectRefused(r, n.stranger.address, ErrBadSignature);
            // and a signature over different fields does not verify either
            const r2 = await n.proxy.sendSignedCommit(n.stranger.getSender(), { seqno: 1n, hash: 2n, signature: commitSig(n.proxy.address, 1n, 1n) });
            expectRefused(r2, n.stranger.address, ErrBadSignature);
            await expectProxyUnchanged(before);
        });

        it('refuses a value below FeeCommit (ErrLowValue)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno: 1n, hash: 1n, secretKey: n.proxyKeys.secretKey, value: FeeCommit - 1n });
            expectRefused(r, n.stranger.address, ErrLowValue);
            await expectProxyUnchanged(before);
        });
    });

    // ---------- ReportEquivocation ----------
    describe('ReportEquivocation', () => {
        const SEQ = 7n;
        const equivocation = (over: { hashA?: bigint; hashB?: bigint; sigA?: Buffer; sigB?: Buffer; value?: bigint } = {}) => {
            const hashA = over.hashA ?? 0xa1n;
            const hashB = over.hashB ?? 0xb2n;
            return {
                seqno: SEQ,
                hashA,
                hashB,
                sigA: over.sigA ?? commitSig(n.proxy.address, SEQ, hashA),
                sigB: over.sigB ?? commitSig(n.proxy.address, SEQ, hashB),
                value: over.value,
            };
        };

        it('slashes the stake: the reporter gets reporterShareBps, the treasury the rest; the Proxy is banned, closing and unlisted', async () => {
            await redeem(toNano('1')); // the pool and commission are not the stake and stay
            const ps0 = await n.proxy.getProxyState();
            const reward = (PROXY_STAKE * DEFAULT_PARAMS.reporterShareBps) / BPS;
            const toTreasury = PROXY_STAKE - reward;
            const proxyBal0 = await balanceOf(n.bc, n.proxy.address);
            const strangerBal0 = await balanceOf(n.bc, n.stranger.address);
            const v = await n.root.getVersion();

            const r = await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation());
            expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: n.proxy.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.stranger.address, value: reward, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.treasury.address, value: toTreasury, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: true }); // UnregisterProxy

            const ps = await n.proxy.getProxyState();
            expect(ps.stake).toBe(0n);
            expect(ps.banned).toBe(true);
            expect(ps.registered).toBe(false);
            expect(ps.state).toBe(STATE_CLOSING);
            expect(ps.closeAt).toBe(BigInt(n.bc.now!) + DEFAULT_PARAMS.proxyCloseDelay);
            expect(ps.pool).toBe(ps0.pool);
            expect(ps.commission).toBe(ps0.commission);
            expect(await n.root.getProxy(n.proxy.address)).toBeNull();
            expect((await n.root.getCounts()).proxies).toBe(0n);
            expect(await n.root.getVersion()).toBe(v + 1n);

            // the reporter's net gain is the reward less what it attached and its own fees
            const strangerGain = (await balanceOf(n.bc, n.stranger.address)) - strangerBal0;
            expect(strangerGain).toBeGreaterThan(reward - toNano('0.06'));
            expect(strangerGain).toBeLessThan(reward);
            // the Proxy paid out exactly the stake (plus forwarding fees and the unregister notification)
            const proxyBal = await balanceOf(n.bc, n.proxy.address);
            expect(proxyBal0 - proxyBal).toBeGreaterThanOrEqual(PROXY_STAKE - toNano('0.05'));
            expect(proxyBal0 - proxyBal).toBeLessThan(PROXY_STAKE);
            expect(proxyBal).toBeGreaterThanOrEqual(ps.pool + ps.commission + MIN_STORAGE);
        });

        it('refuses two commits with the same hash (ErrNotEquivocation)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation({ hashA: 5n, hashB: 5n }));
            expectRefused(r, n.stranger.address, ErrNotEquivocation);
            await expectProxyUnchanged(before);
        });

        it('refuses when either signature does not verify (ErrBadSignature)', async () => {
            const before = await proxySnap();
            const other = keys('not-the-enclave').secretKey;
            const cases = [
                equivocation({ sigB: commitSig(n.proxy.address, SEQ, 0xb2n, other) }),
                equivocation({ sigA: commitSig(n.proxy.address, SEQ, 0xa1n, other) }),
                equivocation({ sigB: commitSig(n.proxy.address, SEQ + 1n, 0xb2n) }), // signed for another seqno
                equivocation({ sigA: commitSig(n.stranger.address, SEQ, 0xa1n) }), // signed for another proxy
            ];
            for (const c of cases) {
                expectRefused(await n.proxy.sendReportEquivocation(n.stranger.getSender(), c), n.stranger.address, ErrBadSignature);
            }
            // a signature cell that is not exactly 512 bits
            const r = await n.proxy.send(n.stranger.getSender(), { value: toNano('0.05') }, {
                $$type: 'ReportEquivocation', queryId: 0n, seqno: SEQ, hashA: 0xa1n, hashB: 0xb2n,
                sigA: signatureCell(commitSig(n.proxy.address, SEQ, 0xa1n)),
                sigB: beginCell().storeBuffer(commitSig(n.proxy.address, SEQ, 0xb2n).subarray(0, 63)).endCell(),
            });
            expectRefused(r, n.stranger.address, ErrBadSignature);
            await expectProxyUnchanged(before);
        });

        it('refuses a value below FeeFinish (ErrLowValue)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation({ value: FeeFinish - 1n }));
            expectRefused(r, n.stranger.address, ErrLowValue);
            await expectProxyUnchanged(before);
        });

        it('attack 8: refuses stake on a closing Proxy (ErrWrongState), so an old equivocation proof cannot be replayed against new stake', async () => {
            await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation());
            const before = await proxySnap();
            expect(before.state.stake).toBe(0n);
            expectRefused(await n.proxy.sendAddStake(n.proxyOwner.getSender(), toNano('3')), n.proxyOwner.address, ErrWrongState);
            await expectProxyUnchanged(before);
            // The replayed proof finds nothing to slash; the treasury and the reporter get nothing more.
            const r = await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation());
            expectRefused(r, n.stranger.address, ErrWrongState);
            expect(r.transactions).not.toHaveTransaction({ from: n.proxy.address, to: n.treasury.address });
        });

        it('refuses a second report once the stake is gone (ErrWrongState)', async () => {
            await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation());
            const before = await proxySnap();
            expect(before.state.stake).toBe(0n);
            const r = await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation({ hashA: 0xc3n }));
            expectRefused(r, n.stranger.address, ErrWrongState);
            await expectProxyUnchanged(before);
        });

        it('refuses a report against a Proxy that never registered (no terms, ErrWrongState)', async () => {
            const { owner, proxy, kp } = await newProxy('never');
            await proxy.sendRegister(owner.getSender(), { stake: toNano('1'), clientEndpoint: 'c', workerEndpoint: 'w' }); // refused by Root: low stake
            const before = await proxySnap(proxy);
            const r = await proxy.sendReportEquivocation(n.stranger.getSender(), {
                seqno: 1n, hashA: 1n, hashB: 2n,
                sigA: commitSig(proxy.address, 1n, 1n, kp.secretKey), sigB: commitSig(proxy.address, 1n, 2n, kp.secretKey),
            });
            expectRefused(r, n.stranger.address, ErrWrongState, proxy.address);
            await expectProxyUnchanged(before, proxy);
        });

        it('a slashed Proxy still settles: the worker is paid from the pool, then the owner gets the rest', async () => {
            await redeem(toNano('2'));
            await n.proxy.sendReportEquivocation(n.stranger.getSender(), equivocation());
            const ps = await n.proxy.getProxyState();
            const claim = await n.workerChannel.sendClaim(n.worker.getSender(), { amount: toNano('1'), signature: n.workerChannel.signPayout(toNano('1'), n.proxyKeys.secretKey, GLOBAL_ID) });
            expect(claim.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, success: true, value: (v?: bigint) => v !== undefined && v >= toNano('1') });
            expect((await n.proxy.getProxyState()).pool).toBe(ps.pool - toNano('1'));

            await n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.worker.address);
            n.bc.now! += Number(DEFAULT_PARAMS.workerUnbondDelay);
            await n.workerChannel.sendFinishUnbond(n.stranger.getSender());
            const rest = (await n.proxy.getProxyState());
            expect(rest.workerChannels).toBe(0n);
            const r = await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.proxyOwner.address, success: true, value: (v?: bigint) => v !== undefined && v >= rest.commission });
            expect((await n.proxy.getProxyState()).state).toBe(STATE_CLOSED);
            expect((await n.proxy.getProxyState()).pool).toBe(rest.pool); // kept for late claims
            n.bc.now! += Number(PayoutClaimWindow);
            const r2 = await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            expect(r2.transactions).toHaveTransaction({ from: n.proxy.address, to: n.proxyOwner.address, success: true, value: (v?: bigint) => v !== undefined && v >= rest.pool });
        });
    });

    // ---------- WithdrawCommission ----------
    describe('WithdrawCommission', () => {
        it('pays the owner the commission and surplus; stake, pool and the floor stay', async () => {
            await redeem(toNano('2'));
            const ps0 = await n.proxy.getProxyState();
            const commission = (toNano('2') * DEFAULT_PARAMS.commissionBps) / BPS;
            expect(ps0.commission).toBe(commission);
            expect(ps0.pool).toBe(toNano('2') - commission);
            const ownerBal0 = await balanceOf(n.bc, n.proxyOwner.address);

            const r = await n.proxy.sendWithdrawCommission(n.proxyOwner.getSender());
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.proxyOwner.address, success: true, value: (v?: bigint) => v !== undefined && v >= commission });
            const ps = await n.proxy.getProxyState();
            expect(ps.commission).toBe(0n);
            expect(ps.stake).toBe(PROXY_STAKE);
            expect(ps.pool).toBe(ps0.pool);
            expect(await balanceOf(n.bc, n.proxy.address)).toBe(ps.stake + ps.pool + MIN_STORAGE);
            expect((await balanceOf(n.bc, n.proxyOwner.address)) - ownerBal0).toBeGreaterThan(commission - toNano('0.02'));
        });

        it('refuses a withdrawal by anyone but the owner (ErrAccessDenied)', async () => {
            await redeem(toNano('1'));
            const before = await proxySnap();
            const r = await n.proxy.sendWithdrawCommission(n.stranger.getSender());
            expectRefused(r, n.stranger.address, ErrAccessDenied);
            expect(r.transactions).not.toHaveTransaction({ from: n.proxy.address, to: n.stranger.address, inMessageBounced: false });
            await expectProxyUnchanged(before);
        });
    });

    // ---------- ChannelPayment ----------
    describe('ChannelPayment', () => {
        it('splits a redeemed payment: commissionBps to commission, the rest to the pool', async () => {
            const r = await redeem(toNano('1'));
            expect(r.transactions).toHaveTransaction({ from: n.clientChannel.address, to: n.proxy.address, success: true });
            const ps = await n.proxy.getProxyState();
            expect(ps.commission).toBe(toNano('0.1'));
            expect(ps.pool).toBe(toNano('0.9'));
            await redeem(toNano('1.5'));
            const ps2 = await n.proxy.getProxyState();
            expect(ps2.commission).toBe(toNano('0.15'));
            expect(ps2.pool).toBe(toNano('1.35'));
        });

        it('refuses a payment whose value is below its amount (ErrLowValue)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.send(n.stranger.getSender(), { value: toNano('0.5') }, { $$type: 'ChannelPayment', queryId: 0n, amount: toNano('1') });
            expectRefused(r, n.stranger.address, ErrLowValue);
            await expectProxyUnchanged(before);
        });
    });

    // ---------- PayoutRequest ----------
    describe('PayoutRequest', () => {
        it('pays an open channel\'s claim from the pool', async () => {
            await redeem(toNano('1'));
            const r = await n.workerChannel.sendClaim(n.stranger.getSender(), { amount: toNano('0.4'), signature: n.workerChannel.signPayout(toNano('0.4'), n.proxyKeys.secretKey, GLOBAL_ID) });
            expect(r.transactions).toHaveTransaction({ from: n.workerChannel.address, to: n.proxy.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, success: true, value: (v?: bigint) => v !== undefined && v >= toNano('0.4') });
            expect((await n.proxy.getProxyState()).pool).toBe(toNano('0.5'));
            expect((await n.workerChannel.getChannelState()).paid).toBe(toNano('0.4'));
        });

        it('refuses a LatePayout from an address that is not the derived channel of the named worker (ErrAccessDenied)', async () => {
            await redeem(toNano('1'));
            const before = await proxySnap();
            const r = await n.proxy.send(n.worker.getSender(), { value: toNano('0.1') }, { $$type: 'LatePayout', queryId: 0n, amount: toNano('0.5'), worker: n.worker.address });
            expectRefused(r, n.worker.address, ErrAccessDenied);
            await expectProxyUnchanged(before);
        });

        it('refuses a PayoutRequest from an address that is not an open channel (ErrAccessDenied)', async () => {
            await redeem(toNano('1'));
            const before = await proxySnap();
            const r = await n.proxy.send(n.worker.getSender(), { value: toNano('0.1') }, { $$type: 'PayoutRequest', queryId: 0n, amount: toNano('0.5') });
            expectRefused(r, n.worker.address, ErrAccessDenied);
            await expectProxyUnchanged(before);
        });

        it('refuses a claim the pool cannot pay (ErrInsufficientFunds); the bounce restores the channel\'s paid', async () => {
            await redeem(toNano('0.5')); // pool 0.45
            const before = await proxySnap();
            const sig = n.workerChannel.signPayout(toNano('0.5'), n.proxyKeys.secretKey, GLOBAL_ID);
            const r = await n.workerChannel.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig });
            expectRefused(r, n.workerChannel.address, ErrInsufficientFunds);
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.workerChannel.address, inMessageBounced: true, success: true });
            expect(r.transactions).not.toHaveTransaction({ from: n.proxy.address, to: n.worker.address });
            expect((await n.workerChannel.getChannelState()).paid).toBe(0n);
            await expectProxyUnchanged(before);

            // once the pool holds enough, the same voucher pays
            await redeem(toNano('1'));
            const r2 = await n.workerChannel.sendClaim(n.stranger.getSender(), { amount: toNano('0.5'), signature: sig });
            expect(r2.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, success: true });
            expect((await n.workerChannel.getChannelState()).paid).toBe(toNano('0.5'));
            expect((await n.proxy.getProxyState()).pool).toBe(toNano('0.4'));
        });
    });

    // ---------- ChannelOpened / ChannelClosed / EvictWorker ----------
    describe('worker channels', () => {
        it('counts a newly opened channel that derives from its terms', async () => {
            const w2 = await n.bc.treasury('worker-2');
            const ch = n.bc.openContract(
                await WorkerChannelWrapper.create({ proxy: n.proxy.address, worker: w2.address, proxyKey: toUint256(n.proxyKeys.publicKey), root: n.root.address, terms: (await n.proxy.getProxyState()).terms!, code: (await n.root.getChildCode()).workerCode }),
            );
            expect((await n.proxy.getWorkerChannelAddress(w2.address)).equals(ch.address)).toBe(true);
            const r = await ch.sendStake(w2.getSender(), WORKER_STAKE);
            expect(r.transactions).toHaveTransaction({ from: ch.address, to: n.proxy.address, success: true });
            expect((await n.proxy.getProxyState()).workerChannels).toBe(2n);
            expect(await n.proxy.getIsWorkerChannel(ch.address)).toBe(true);
            expect(await n.proxy.getIsWorkerChannel(n.workerChannel.address)).toBe(true);
            expect(await n.proxy.getIsWorkerChannel(w2.address)).toBe(false);
        });

        it('a closing Proxy does not count a newly opened channel (ErrWrongState), so nobody can hold its close open', async () => {
            await settleForClose(); // closing, past closeAt, no channels
            const w2 = await n.bc.treasury('late-worker');
            const ch = n.bc.openContract(
                await WorkerChannelWrapper.create({ proxy: n.proxy.address, worker: w2.address, proxyKey: toUint256(n.proxyKeys.publicKey), root: n.root.address, terms: (await n.proxy.getProxyState()).terms!, code: (await n.root.getChildCode()).workerCode }),
            );
            const before = await proxySnap();
            const r = await ch.sendStake(w2.getSender(), WORKER_STAKE);
            expectRefused(r, ch.address, ErrWrongState);
            expect((await proxySnap()).data.equals(before.data)).toBe(true);
            expect(await n.proxy.getIsWorkerChannel(ch.address)).toBe(false);
            // the close goes through, and the late worker can still leave with its stake
            const fin = await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            expect(fin.transactions).toHaveTransaction({ from: n.proxyOwner.address, to: n.proxy.address, success: true });
            expect((await n.proxy.getProxyState()).state).toBe(STATE_CLOSED);
            await ch.sendStartUnbond(w2.getSender());
            n.bc.now! += Number(DEFAULT_PARAMS.workerUnbondDelay);
            const out = await ch.sendFinishUnbond(w2.getSender());
            expect(out.transactions).toHaveTransaction({ from: ch.address, to: w2.address, success: true, value: (v?: bigint) => v !== undefined && v >= WORKER_STAKE });
        });

        it('refuses a ChannelOpened from an address that is not the derived channel (ErrAccessDenied)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.send(n.stranger.getSender(), { value: toNano('0.05') }, { $$type: 'ChannelOpened', queryId: 0n, worker: n.stranger.address });
            expectRefused(r, n.stranger.address, ErrAccessDenied);
            const r2 = await n.proxy.send(n.worker.getSender(), { value: toNano('0.05') }, { $$type: 'ChannelOpened', queryId: 0n, worker: n.worker.address });
            expectRefused(r2, n.worker.address, ErrAccessDenied);
            await expectProxyUnchanged(before);
            expect(await n.proxy.getIsWorkerChannel(n.stranger.address)).toBe(false);
        });

        it('ignores a ChannelClosed from an address that is not an open channel', async () => {
            const before = await proxySnap();
            const r = await n.proxy.send(n.stranger.getSender(), { value: toNano('0.05') }, { $$type: 'ChannelClosed', queryId: 0n, worker: n.worker.address });
            expect(r.transactions).toHaveTransaction({ from: n.stranger.address, to: n.proxy.address, success: true });
            expect((await proxySnap()).data.equals(before.data)).toBe(true);
            expect((await n.proxy.getProxyState()).workerChannels).toBe(1n);
        });

        it('the owner evicts a worker: its channel starts unbonding', async () => {
            const r = await n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.worker.address);
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.workerChannel.address, success: true });
            const ws = await n.workerChannel.getChannelState();
            expect(ws.state).toBe(WORKER_UNBONDING);
            expect(ws.unbondAt).toBe(BigInt(n.bc.now!) + DEFAULT_PARAMS.workerUnbondDelay);
            // still counted until the channel actually closes
            expect((await n.proxy.getProxyState()).workerChannels).toBe(1n);
        });

        it('refuses an eviction by anyone but the owner (ErrAccessDenied)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.sendEvictWorker(n.stranger.getSender(), n.worker.address);
            expectRefused(r, n.stranger.address, ErrAccessDenied);
            expect(r.transactions).not.toHaveTransaction({ from: n.proxy.address, to: n.workerChannel.address });
            await expectProxyUnchanged(before);
            expect((await n.workerChannel.getChannelState()).state).toBe(1n);
        });

        it('evicting a worker without a channel changes nothing (the StartUnbond bounces)', async () => {
            const before = await proxySnap();
            const r = await n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.stranger.address);
            expect(r.transactions).toHaveTransaction({ to: n.proxy.address, inMessageBounced: true, success: true });
            expect((await proxySnap()).data.equals(before.data)).toBe(true);
        });
    });

    // ---------- close lifecycle ----------
    describe('close lifecycle', () => {
        it('ProxyClose: the Proxy starts closing and leaves Root; attack 8: the owner\'s value pays the UnregisterProxy notice, not the stake', async () => {
            const before = await balanceOf(n.bc, n.proxy.address);
            const r = await n.proxy.sendClose(n.proxyOwner.getSender(), toNano('0.02'));
            expect(r.transactions).toHaveTransaction({ from: n.proxyOwner.address, to: n.proxy.address, success: true });
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.root.address, success: true });
            // Nothing came out of the Proxy's own funds: what is left of the owner's value stays as owner surplus.
            expect(await balanceOf(n.bc, n.proxy.address)).toBeGreaterThanOrEqual(before);
            const ps = await n.proxy.getProxyState();
            expect(ps.state).toBe(STATE_CLOSING);
            expect(ps.registered).toBe(false);
            expect(ps.banned).toBe(false);
            expect(ps.closeAt).toBe(BigInt(n.bc.now!) + DEFAULT_PARAMS.proxyCloseDelay);
            expect(ps.stake).toBe(PROXY_STAKE);
            expect(await n.root.getProxy(n.proxy.address)).toBeNull();
        });

        it('refuses a ProxyClose with less than FeeSimple attached (ErrLowValue)', async () => {
            const before = await proxySnap();
            expectRefused(await n.proxy.sendClose(n.proxyOwner.getSender(), FeeSimple - 1n), n.proxyOwner.address, ErrLowValue);
            await expectProxyUnchanged(before);
        });

        it('refuses ProxyClose from anyone but the owner (ErrAccessDenied) and a second ProxyClose (ErrWrongState)', async () => {
            const before = await proxySnap();
            expectRefused(await n.proxy.sendClose(n.stranger.getSender()), n.stranger.address, ErrAccessDenied);
            await expectProxyUnchanged(before);
            await n.proxy.sendClose(n.proxyOwner.getSender());
            const closing = await proxySnap();
            expectRefused(await n.proxy.sendClose(n.proxyOwner.getSender()), n.proxyOwner.address, ErrWrongState);
            await expectProxyUnchanged(closing);
        });

        it('refuses ProxyFinishClose on an active Proxy (ErrWrongState), from a stranger (ErrAccessDenied), and before closeAt (ErrTooEarly)', async () => {
            let before = await proxySnap();
            expectRefused(await n.proxy.sendFinishClose(n.proxyOwner.getSender()), n.proxyOwner.address, ErrWrongState);
            await expectProxyUnchanged(before);

            await n.proxy.sendClose(n.proxyOwner.getSender());
            n.bc.now! += Number(DEFAULT_PARAMS.proxyCloseDelay) - 1;
            before = await proxySnap();
            expectRefused(await n.proxy.sendFinishClose(n.stranger.getSender()), n.stranger.address, ErrAccessDenied);
            expectRefused(await n.proxy.sendFinishClose(n.proxyOwner.getSender()), n.proxyOwner.address, ErrTooEarly);
            await expectProxyUnchanged(before, n.proxy, STORAGE_SLACK);
        });

        it('refuses ProxyFinishClose while a worker channel is open (ErrChannelsOpen)', async () => {
            await n.proxy.sendClose(n.proxyOwner.getSender());
            n.bc.now! += Number(DEFAULT_PARAMS.proxyCloseDelay);
            const before = await proxySnap();
            expect(before.state.workerChannels).toBe(1n);
            expectRefused(await n.proxy.sendFinishClose(n.proxyOwner.getSender()), n.proxyOwner.address, ErrChannelsOpen);
            await expectProxyUnchanged(before, n.proxy, STORAGE_SLACK);
        });

        it('after eviction and unbonding, ProxyFinishClose pays the owner stake + commission + surplus; the pool follows after PayoutClaimWindow, keeping the floor', async () => {
            await redeem(toNano('2'));
            await settleForClose();
            expect((await n.workerChannel.getChannelState()).state).toBe(WORKER_CLOSED);
            const ps = await n.proxy.getProxyState();
            expect(ps.stake).toBe(PROXY_STAKE);
            expect(ps.commission).toBe(toNano('0.2'));
            expect(ps.pool).toBe(toNano('1.8'));
            const proxyBal = await balanceOf(n.bc, n.proxy.address);
            const ownerBal = await balanceOf(n.bc, n.proxyOwner.address);

            const r = await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            expect(r.transactions).toHaveTransaction({
                from: n.proxy.address, to: n.proxyOwner.address, success: true,
                value: (v?: bigint) => v !== undefined && v >= ps.stake + ps.commission,
            });
            let after = await n.proxy.getProxyState();
            expect(after.state).toBe(STATE_CLOSED);
            expect(after.stake).toBe(0n);
            expect(after.commission).toBe(0n);
            expect(after.pool).toBe(ps.pool);
            expect(after.closeAt).toBe(BigInt(n.bc.now!) + PayoutClaimWindow);
            expect(await balanceOf(n.bc, n.proxy.address)).toBeGreaterThanOrEqual(ps.pool);

            // the claim window: the second ProxyFinishClose is too early until it ends
            n.bc.now = Number(after.closeAt) - 1;
            let before = await proxySnap();
            expectRefused(await n.proxy.sendFinishClose(n.proxyOwner.getSender()), n.proxyOwner.address, ErrTooEarly);
            await expectProxyUnchanged(before, n.proxy, toNano('0.01')); // 30 days of storage fees
            n.bc.now = Number(after.closeAt);
            const r2 = await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            expect(r2.transactions).toHaveTransaction({ from: n.proxy.address, to: n.proxyOwner.address, success: true, value: (v?: bigint) => v !== undefined && v >= ps.pool });
            after = await n.proxy.getProxyState();
            expect(after.pool).toBe(0n);
            // nothing left to take: a third one is refused
            before = await proxySnap();
            expectRefused(await n.proxy.sendFinishClose(n.proxyOwner.getSender()), n.proxyOwner.address, ErrWrongState);
            const left = await balanceOf(n.bc, n.proxy.address);
            expect(left).toBeLessThanOrEqual(MIN_STORAGE);
            expect(left).toBeGreaterThan(MIN_STORAGE - STORAGE_SLACK);
            // the owner receives everything above the floor, less gas and forwarding fees (and storage over the window)
            const expected = proxyBal - MIN_STORAGE;
            const gain = (await balanceOf(n.bc, n.proxyOwner.address)) - ownerBal;
            expect(gain).toBeLessThanOrEqual(expected);
            expect(gain).toBeGreaterThan(expected - toNano('0.05'));
        });

        it("attack 6: the owner cannot keep a worker's signed payout: it bounces for lack of pool, the worker is evicted and unbonded, the owner redeems and closes, and the worker still claims it", async () => {
            const signed = n.workerChannel.signPayout(toNano('1'), n.proxyKeys.secretKey, GLOBAL_ID);
            // 1. the payout bounces: the pool is empty
            let r = await n.workerChannel.sendClaim(n.worker.getSender(), { amount: toNano('1'), signature: signed });
            expect(r.transactions).toHaveTransaction({ from: n.workerChannel.address, to: n.proxy.address, success: false, exitCode: Number(ErrInsufficientFunds) });
            expect((await n.workerChannel.getChannelState()).paid).toBe(0n);
            // 2. the owner evicts the worker, 3. the unbond finishes
            await n.proxy.sendClose(n.proxyOwner.getSender());
            await n.proxy.sendEvictWorker(n.proxyOwner.getSender(), n.worker.address);
            n.bc.now! += Number(DEFAULT_PARAMS.workerUnbondDelay);
            await n.workerChannel.sendFinishUnbond(n.stranger.getSender());
            expect((await n.workerChannel.getChannelState()).state).toBe(WORKER_CLOSED);
            expect((await n.proxy.getProxyState()).workerChannels).toBe(0n);
            // 4. the owner redeems the client's vouchers (pool 1.8) and 5. finishes the close
            await redeem(toNano('2'));
            const pool = (await n.proxy.getProxyState()).pool;
            expect(pool).toBe(toNano('1.8'));
            r = await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            // the owner gets its stake, commission and surplus, not the pool
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.proxyOwner.address, success: true, value: (v?: bigint) => v !== undefined && v >= PROXY_STAKE && v < PROXY_STAKE + pool });
            expect(await balanceOf(n.bc, n.proxy.address)).toBeGreaterThanOrEqual(pool);
            expect((await n.proxy.getProxyState()).state).toBe(STATE_CLOSED);
            expect((await n.proxy.getProxyState()).pool).toBe(pool);
            // The worker claims the signed payout on its closed channel, within the claim window.
            n.bc.now! += Number(PayoutClaimWindow) - 1;
            const workerBefore = await balanceOf(n.bc, n.worker.address);
            r = await n.workerChannel.sendClaim(n.worker.getSender(), { amount: toNano('1'), signature: signed });
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.worker.address, success: true, value: (v?: bigint) => v !== undefined && v >= toNano('1') });
            expect((await balanceOf(n.bc, n.worker.address)) - workerBefore).toBeGreaterThan(toNano('0.98'));
            expect((await n.workerChannel.getChannelState()).paid).toBe(toNano('1'));
            expect((await n.proxy.getProxyState()).pool).toBe(pool - toNano('1'));
            // The owner gets only what no signature covers, after the window.
            n.bc.now! += 1;
            r = await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.proxyOwner.address, success: true, value: (v?: bigint) => v !== undefined && v >= toNano('0.8') && v < toNano('0.9') });
        });

        it('a closed Proxy refuses a ChannelPayment (ErrWrongState); the bounce restores the ClientChannel', async () => {
            await redeem(toNano('1'));
            await settleForClose();
            await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            const cs0 = await n.clientChannel.getChannelState();
            expect(cs0.redeemed).toBe(toNano('1'));
            const before = await proxySnap();

            const r = await redeem(toNano('2.5'));
            expectRefused(r, n.clientChannel.address, ErrWrongState);
            expect(r.transactions).toHaveTransaction({ from: n.proxy.address, to: n.clientChannel.address, inMessageBounced: true, success: true });
            const cs = await n.clientChannel.getChannelState();
            expect(cs.redeemed).toBe(cs0.redeemed);
            expect(cs.balance).toBe(cs0.balance);
            await expectProxyUnchanged(before);
        });

        it('a closed Proxy refuses commits, stake, registration, reports and closing again (ErrWrongState)', async () => {
            await settleForClose();
            await n.proxy.sendFinishClose(n.proxyOwner.getSender());
            const before = await proxySnap();
            expect(before.state.state).toBe(STATE_CLOSED);
            const owner = n.proxyOwner;
            const checks: [() => Promise<SendMessageResult>, SandboxContract<TreasuryContract>][] = [
                [() => n.proxy.sendCommit(n.stranger.getSender(), { globalId: GLOBAL_ID, seqno: 1n, hash: 1n, secretKey: n.proxyKeys.secretKey }), n.stranger],
                [() => n.proxy.sendAddStake(n.stranger.getSender(), toNano('1')), n.stranger],
                [() => n.proxy.sendRegister(owner.getSender(), { stake: toNano('20'), clientEndpoint: 'c', workerEndpoint: 'w' }), owner],
                [() => n.proxy.sendReportEquivocation(n.stranger.getSender(), { seqno: 1n, hashA: 1n, hashB: 2n, sigA: commitSig(n.proxy.address, 1n, 1n), sigB: commitSig(n.proxy.address, 1n, 2n) }), n.stranger],
                [() => n.proxy.sendClose(owner.getSender()), owner],
                [() => n.proxy.sendFinishClose(owner.getSender()), owner],
            ];
            for (const [send, from] of checks) expectRefused(await send(), from.address, ErrWrongState);
            await expectProxyUnchanged(before);
        });
    });
});
