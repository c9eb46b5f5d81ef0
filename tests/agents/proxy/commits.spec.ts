// The proxy's commit loop (agents/proxy/commits.ts, spec/proxy.md "State commits") against a real ledger file and the
// devnet chain: a changed state is committed once commitIntervalMs has passed since the last commit, or sooner once the
// ledger's money counters moved by commitValueThreshold; an unchanged or empty state is never committed.
import { keyPairFromSeed } from '@ton/crypto';
import { Address } from '@ton/core';
import { AgentNetwork, seed, startAgentNetwork } from '../../../fixtures/agent-network';
import { Commits, commitDue, ledgerVolume } from '../../../agents/proxy/commits';
import { ledgerTotals } from '../../../agents/proxy/stats';
import { Ledger } from '../../../agents/proxy/ledger';
import { ChainWallet } from '../../../agents/core/chain/chain';
import { noLog } from '../../../agents/core/log';
import { modelId } from '../../../wrappers/payloads';
import { TEST_MODEL } from '../../../agents/backend/test-model';
import { addr, manualClock, receipt, tempDir } from './fixtures/ledger-helpers';

jest.setTimeout(60_000);

const INTERVAL_MS = 600_000;
const VALUE = 50_000n;

describe('the commit loop', () => {
    let net: AgentNetwork;
    let proxyAddress: Address;
    let wallet: ChainWallet;
    let tmp: ReturnType<typeof tempDir>;
    let ledger: Ledger;
    let clock: ReturnType<typeof manualClock>;
    let commits: Commits;
    let n = 0;

    const chainSeqno = async () => (await net.newChain().getProxyState(proxyAddress))!.commitSeqno;
    const deliver = (cost: bigint) => {
        const requestId = (++n).toString(16).padStart(64, '0');
        ledger.recordDelivery({ requestId, client: addr('client', 1), worker: addr('worker', 1), modelId: modelId(TEST_MODEL.id), cost, receipt: receipt(requestId) });
    };

    beforeAll(async () => {
        net = await startAgentNetwork();
        const proxySeed = seed('commits-spec-proxy');
        ({ address: proxyAddress } = await net.deployProxy({ seed: proxySeed, clientEndpoint: 'wss://127.0.0.1:1/', workerEndpoint: 'wss://127.0.0.1:2/' }));
        ({ wallet } = await net.fundWallet('commits-spec-proxy-wallet', '20'));
        tmp = tempDir();
        clock = manualClock();
        ledger = Ledger.open(tmp.file('ledger.sqlite'), { clock, commissionBps: 1000 });
        const chain = net.newChain();
        const globalId = await chain.getGlobalId();
        commits = new Commits({
            chain,
            wallet,
            proxyAddress,
            secretKey: keyPairFromSeed(proxySeed).secretKey,
            commitGuardMs: 0,
            commitIntervalMs: INTERVAL_MS,
            commitValueThreshold: VALUE,
            clock,
            ledger: () => ledger,
            globalId: () => globalId,
            stopping: () => false,
            halted: () => undefined,
            halt: async () => undefined,
            log: noLog,
        });
        commits.startGuard();
    });

    afterAll(async () => {
        commits?.stopGuard();
        ledger?.close();
        tmp?.remove();
        await net?.stop();
    });

    it('commits nothing while the ledger is empty, however long it waits', async () => {
        clock.advance(2 * INTERVAL_MS);
        await commits.commitIfChanged();
        expect(await chainSeqno()).toBe(0n);
    });

    it('holds a small change until the interval since the last commit has passed, then commits it', async () => {
        deliver(10_000n); // moves delivered 10,000 + earned 9,000: below the value trigger
        await commits.commitIfChanged();
        // The interval counts from start (no commit yet), and two intervals have passed: due now.
        expect(await chainSeqno()).toBe(1n);
        deliver(10_000n);
        clock.advance(INTERVAL_MS - 1);
        await commits.commitIfChanged();
        expect(await chainSeqno()).toBe(1n);
        clock.advance(1);
        await commits.commitIfChanged();
        expect(await chainSeqno()).toBe(2n);
        expect(ledger.latestCommit()).toMatchObject({ seqno: 2n, onChain: true, hash: ledger.stateHash() });
    });

    it('commits at once when the money counters moved by the value threshold, and never an unchanged state', async () => {
        await commits.commitIfChanged();
        expect(await chainSeqno()).toBe(2n); // unchanged since the last commit
        deliver(20_000n); // 20,000 + 18,000 = 38,000 < 50,000
        await commits.commitIfChanged();
        expect(await chainSeqno()).toBe(2n);
        deliver(10_000n); // 38,000 + 19,000 = 57,000 ≥ 50,000, no time passed
        await commits.commitIfChanged();
        expect(await chainSeqno()).toBe(3n);
    });

    it('the trigger: interval or value, whichever comes first', () => {
        const base = { now: 1_000, since: 0, moved: 0n, intervalMs: 1_000, valueThreshold: 10n };
        expect(commitDue(base)).toBe(true);
        expect(commitDue({ ...base, now: 999 })).toBe(false);
        expect(commitDue({ ...base, now: 999, moved: 10n })).toBe(true);
        expect(commitDue({ ...base, now: 999, moved: 9n })).toBe(false);
        expect(ledgerVolume(ledgerTotals(ledger.stateSerialization()))).toBe(50_000n + 45_000n);
    });
});
