// Voting from any wallet, on the devnet chain server: Governance with three voters (two of three pass, no timelock)
// governs a Root; voter 1 proposes; the vote link's exact (amount, payload) is sent as a plain wallet transfer
// (ChainWallet over HTTP, not the wrapper): from a stranger it changes nothing, from voter 2 it records the vote and
// passes the proposal; then the execute link, sent by anyone, executes it and Root allowlists the image.
import { randomBytes } from 'crypto';
import { OpenedContract, toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { DevnetServer } from '../../../agents/devnet/server';
import { ChainWallet, loadChainConfig, TonChain } from '../../../agents/core/chain';
import { describeActions } from '../../../agents/explorer/actions';
import { executeLink, LinkContext, voteLink } from '../../../agents/explorer/links';
import type { WalletLink } from '../../../agents/explorer/types';
import { parseTransferLink } from '../../../fixtures/transfer-link';
import { DEFAULT_GOV_PARAMS, FeeSimple, GovernanceWrapper } from '../../../wrappers/Governance';
import { RootWrapper } from '../../../wrappers/Root';

const IMAGE = BigInt('0x' + 'ab'.repeat(32));

describe('a vote link sent from a wallet', () => {
    let devnet: DevnetServer;
    let chain: TonChain;
    let voters: ChainWallet[];
    let stranger: ChainWallet;
    let gov: OpenedContract<GovernanceWrapper>;
    let root: OpenedContract<RootWrapper>;
    let ctx: LinkContext;

    beforeAll(async () => {
        devnet = new DevnetServer({ port: 0 });
        await devnet.start();
        chain = new TonChain({ config: loadChainConfig({ endpoint: devnet.url, rps: 1000, cacheTtlMs: 0, sendPollMs: 100, sendTimeoutMs: 60_000 }, {}) });
        const wallet = () => chain.wallet(keyPairFromSeed(randomBytes(32)), { sendPollMs: 100 });
        voters = [wallet(), wallet(), wallet()];
        stranger = wallet();
        for (const w of [...voters, stranger]) await devnet.faucet(w.address, toNano('10'));
        gov = chain.open(await GovernanceWrapper.create(voters.map((w) => ({ address: w.address, weight: 1n })), { ...DEFAULT_GOV_PARAMS, timelock: 0n }));
        await gov.sendFund(voters[0].sender(), toNano('2'));
        root = chain.open(await RootWrapper.create({ governance: gov.address, treasury: voters[0].address }));
        await root.sendDeploy(voters[0].sender());
        await settle(() => gov.sendPropose(voters[0].sender(), [{ to: root.address, value: FeeSimple, body: RootWrapper.addImageBody('worker', IMAGE) }]));
        ctx = { governance: gov.address, network: 'devnet', endpoint: devnet.url };
    });

    afterAll(async () => {
        await devnet?.stop();
    });

    /** Governance's last transaction (lt), so a test knows its message was processed, failed or not. */
    const govLt = async () => (await chain.client.getContractState(gov.address)).lastTransaction?.lt ?? '0';

    /** Runs `send` and waits (bounded) until Governance has processed the message it caused. */
    async function settle(send: () => Promise<unknown>) {
        const before = await govLt();
        await send();
        for (let i = 0; i < 200 && (await govLt()) === before; i++) await new Promise((r) => setTimeout(r, 50));
        expect(await govLt()).not.toBe(before);
    }

    /** The link's message as a plain transfer from `wallet`: the bytes a wallet app would send after scanning it. */
    async function sendLink(wallet: ChainWallet, link: WalletLink) {
        const m = parseTransferLink(link.url);
        await settle(() => wallet.send([{ to: m.to, value: m.amount, body: m.body, bounce: m.bounceable }]));
    }

    it('the proposal on chain reads as words', async () => {
        const p = (await gov.getProposal(0n))!;
        const views = describeActions(p.actions, { root: root.address, governance: gov.address, testOnly: true });
        expect(views.map((v) => [v.kind, v.words, v.to.raw])).toEqual([['AddImage', 'allowlist worker image abababab…abababab', root.address.toRawString()]]);
        expect(p.yes).toBe(1n);
    });

    it("a stranger's vote through the link is refused by the contract: no vote, no tally change", async () => {
        await sendLink(stranger, await voteLink(ctx, 0, true));
        expect(await gov.getProposalVote(0n, stranger.address)).toBeNull();
        const p = (await gov.getProposal(0n))!;
        expect([p.yes, p.no, p.passedAt]).toEqual([1n, 0n, 0n]);
        expect(await gov.getProposalOpensAt(0n)).toBe(0n);
    });

    it("voter 2's wallet sending the vote link records the vote, which passes the proposal", async () => {
        await sendLink(voters[1], await voteLink(ctx, 0, true));
        expect(await gov.getProposalVote(0n, voters[1].address)).toBe(true);
        const p = (await gov.getProposal(0n))!;
        expect([p.yes, p.no]).toEqual([2n, 0n]);
        expect(p.passedAt).not.toBe(0n);
        expect(await root.getIsWorkerImageAllowed(IMAGE)).toBe(false);
    });

    it('the execute link, sent from any wallet, executes the passed proposal', async () => {
        await sendLink(stranger, await executeLink(ctx, 0));
        expect(await gov.getProposal(0n)).toBeNull();
        for (let i = 0; i < 200 && !(await root.getIsWorkerImageAllowed(IMAGE)); i++) await new Promise((r) => setTimeout(r, 50));
        expect(await root.getIsWorkerImageAllowed(IMAGE)).toBe(true);
    });
});
