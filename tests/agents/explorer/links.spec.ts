// Wallet links (agents/explorer/links.ts): the ton://transfer link decodes to exactly the message GovernanceWrapper
// sends (recorded through the sandbox's own provider), its QR SVG draws the QR code of that URL, and the Blueprint
// command's arguments, given to the vote/execute scripts, send that same message.
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, Sender, SenderArguments, toNano } from '@ton/core';
import QRCode from 'qrcode';
import { executeLink, LinkContext, QR_ERROR_CORRECTION, voteLink } from '../../../agents/explorer/links';
import type { WalletLink } from '../../../agents/explorer/types';
import { parseTransferLink } from '../../../fixtures/transfer-link';
import { flag, parseAddress, parseBigint, parseBool, parseTon, rejectUnknownFlags } from '../../../scripts/lib/args';
import { DEFAULT_GOV_PARAMS, FeeSimple, GovernanceWrapper, loadExecute, loadVote } from '../../../wrappers/Governance';
import { RootWrapper } from '../../../wrappers/Root';
import { sandboxProvider, ScriptedUI } from '../../../fixtures/sandbox-provider';
import { run as runVote } from '../../../scripts/vote';
import { run as runExecute } from '../../../scripts/execute';

const GOV = new Address(0, Buffer.alloc(32, 0x60));
const devnet: LinkContext = { governance: GOV, network: 'devnet', endpoint: 'http://127.0.0.1:8081/api/v2/jsonRPC' };

/** What the wrapper sends through the sandbox's provider (an implementation independent of links.ts). */
async function wrapperSends(send: (gov: SandboxContract<GovernanceWrapper>, via: Sender) => Promise<unknown>): Promise<SenderArguments> {
    const bc = await Blockchain.create();
    let got: SenderArguments | undefined;
    await send(bc.openContract(GovernanceWrapper.open(GOV)), { address: GOV, send: async (a) => void (got = a) });
    return got!;
}

/** The QR matrix an SVG from qrcode draws: each `h` run of the dark path marks modules of one row. */
function svgModules(svg: string, margin: number): { size: number; dark: boolean[] } {
    const box = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)![1]);
    const size = box - 2 * margin;
    const d = /<path stroke="#000000" d="([^"]+)"/.exec(svg)![1];
    const dark = new Array<boolean>(size * size).fill(false);
    let x = 0;
    let y = 0;
    for (const [, cmd, a, b] of d.matchAll(/([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?/g)) {
        if (cmd === 'M') [x, y] = [Number(a), Number(b)];
        else if (cmd === 'm') [x, y] = [x + Number(a), y + Number(b)];
        else for (let i = 0; i < Number(a); i++, x++) dark[(y - 0.5 - margin) * size + (x - margin)] = true;
    }
    return { size, dark };
}

function expectQrOf(link: WalletLink) {
    const qr = QRCode.create(link.url, { errorCorrectionLevel: QR_ERROR_CORRECTION });
    // qrcode splits the text into byte, alphanumeric and numeric segments: together they are the URL.
    const text = (s: unknown) => ((d: string | Uint8Array) => (typeof d === 'string' ? d : Buffer.from(d).toString('latin1')))((s as { data: string | Uint8Array }).data);
    expect(qr.segments.map(text).join('')).toBe(link.url);
    const drawn = svgModules(link.qrSvg, 4);
    expect(drawn.size).toBe(qr.modules.size);
    expect(drawn.dark).toEqual(Array.from(qr.modules.data, (m) => m === 1));
}

describe('voteLink', () => {
    it.each([true, false])('carries exactly the Vote message sendVote sends (support %s)', async (support) => {
        const link = await voteLink(devnet, 7, support);
        const sent = await wrapperSends((gov, via) => gov.sendVote(via, 7n, support));
        const p = parseTransferLink(link.url);
        expect(p.to.equals(sent.to)).toBe(true);
        expect(p.bounceable).toBe(sent.bounce ?? true);
        expect(p.testOnly).toBe(true);
        expect(p.amount).toBe(sent.value);
        expect(p.amount).toBe(FeeSimple);
        expect(p.body.equals(sent.body!)).toBe(true);
        expect(loadVote(p.body.beginParse())).toEqual({ $$type: 'Vote', queryId: 0n, proposalId: 7n, support });
        expect(link.to).toEqual({ raw: GOV.toRawString(), friendly: GOV.toString({ testOnly: true, urlSafe: true, bounceable: true }) });
        expect(link.amount).toBe(FeeSimple.toString());
        expect(Cell.fromBase64(link.payloadBoc).equals(sent.body!)).toBe(true);
        expectQrOf(link);
    });

    it("on mainnet the address is not testOnly and the command says --mainnet", async () => {
        const link = await voteLink({ ...devnet, network: 'mainnet' }, 0, true);
        expect(parseTransferLink(link.url).testOnly).toBe(false);
        expect(link.blueprint).toBe(`npx blueprint run vote --mainnet -- --governance ${GOV.toString({ urlSafe: true, bounceable: true })} --id 0 --support yes --fee 0.01769`);
    });

    it('refuses an id that is not a uint32, so no request value reaches the message', async () => {
        for (const bad of [-1, 1.5, 2 ** 32, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
            await expect(voteLink(devnet, bad, true)).rejects.toThrow(RangeError);
            await expect(executeLink(devnet, bad)).rejects.toThrow(RangeError);
        }
        expect(parseTransferLink((await voteLink(devnet, 2 ** 32 - 1, false)).url).body.equals((await wrapperSends((g, v) => g.sendVote(v, 2n ** 32n - 1n, false))).body!)).toBe(true);
    });
});

describe('executeLink', () => {
    it('carries exactly the Execute message sendExecute sends', async () => {
        const link = await executeLink(devnet, 12);
        const sent = await wrapperSends((gov, via) => gov.sendExecute(via, 12n));
        const p = parseTransferLink(link.url);
        expect(p.to.equals(sent.to)).toBe(true);
        expect(p.amount).toBe(sent.value);
        expect(p.body.equals(sent.body!)).toBe(true);
        expect(loadExecute(p.body.beginParse())).toEqual({ $$type: 'Execute', queryId: 0n, proposalId: 12n });
        expectQrOf(link);
    });

    it('the longest link (id 2^32-1, on mainnet) still fits a version-8 QR code (49 modules) at level M', async () => {
        const link = await executeLink({ ...devnet, network: 'mainnet' }, 2 ** 32 - 1);
        expect(link.url.length).toBeLessThanOrEqual(154);
        expect(QRCode.create(link.url, { errorCorrectionLevel: QR_ERROR_CORRECTION }).version).toBeLessThanOrEqual(8);
    });
});

describe('the Blueprint command', () => {
    /** The script's flags after `--`, checked and parsed as scripts/vote.ts and scripts/execute.ts do. */
    function scriptArgs(cmd: string, script: string, allowed: string[]): string[] {
        const [net, args] = cmd.split(' -- ');
        expect(net.startsWith(`npx blueprint run ${script} `)).toBe(true);
        const argv = args.split(' ');
        rejectUnknownFlags(argv, allowed);
        return argv;
    }

    it('votes with the same governance, id, support and amount as the link', async () => {
        const link = await voteLink(devnet, 5, false);
        expect(link.blueprint.split(' -- ')[0]).toBe(`npx blueprint run vote --custom ${devnet.endpoint} --custom-version v2 --custom-type testnet`);
        const argv = scriptArgs(link.blueprint, 'vote', ['governance', 'id', 'support', 'fee']);
        expect(parseAddress(flag(argv, 'governance')!, 'governance').equals(GOV)).toBe(true);
        expect(parseBigint(flag(argv, 'id')!, 'id')).toBe(5n);
        expect(parseBool(flag(argv, 'support')!, 'support')).toBe(false);
        expect(parseTon(flag(argv, 'fee')!, 'fee')).toBe(BigInt(link.amount));
    });

    it('executes with the same governance, id and amount as the link', async () => {
        const link = await executeLink(devnet, 9);
        const argv = scriptArgs(link.blueprint, 'execute', ['governance', 'id', 'fee', 'force']);
        expect(parseAddress(flag(argv, 'governance')!, 'governance').equals(GOV)).toBe(true);
        expect(parseBigint(flag(argv, 'id')!, 'id')).toBe(9n);
        expect(parseTon(flag(argv, 'fee')!, 'fee')).toBe(BigInt(link.amount));
    });

    it('quotes an endpoint the shell would otherwise split or expand', async () => {
        const link = await voteLink({ ...devnet, endpoint: "https://x.example/api?key=a&b=$(id)'" }, 1, true);
        expect(link.blueprint).toContain(`--custom 'https://x.example/api?key=a&b=$(id)'\\''' --custom-version v2`);
    });

    it('run as given, the vote and execute scripts send exactly the links\' messages and the proposal goes through', async () => {
        const bc = await Blockchain.create();
        bc.now = Math.floor(Date.now() / 1000);
        const [a, b, c, anyone] = [await bc.treasury('a'), await bc.treasury('b'), await bc.treasury('c'), await bc.treasury('anyone')];
        const gov = bc.openContract(await GovernanceWrapper.create([a, b, c].map((w) => ({ address: w.address, weight: 1n })), { ...DEFAULT_GOV_PARAMS, timelock: 0n }));
        await gov.sendFund(anyone.getSender(), toNano('5'));
        const root = bc.openContract(await RootWrapper.create({ governance: gov.address, treasury: anyone.address }));
        await root.sendDeploy(anyone.getSender());
        await gov.sendPropose(a.getSender(), [{ to: root.address, value: FeeSimple, body: RootWrapper.addImageBody('proxy', 5n) }]);
        const ctx = { ...devnet, governance: gov.address };

        /** The script run with the command's arguments from `wallet`; returns what it sent. */
        async function run(script: typeof runVote, wallet: SandboxContract<TreasuryContract>, link: WalletLink): Promise<SenderArguments[]> {
            const sent: SenderArguments[] = [];
            const recording = { getSender: () => ({ address: wallet.address, send: async (m: SenderArguments) => (sent.push(m), wallet.getSender().send(m)) }) };
            await script(sandboxProvider(bc, recording as unknown as SandboxContract<TreasuryContract>, new ScriptedUI([], [])), link.blueprint.split(' -- ')[1].split(' '));
            return sent;
        }
        const expectSameMessage = (sent: SenderArguments[], link: WalletLink) => {
            expect(sent).toHaveLength(1);
            const m = parseTransferLink(link.url);
            expect([sent[0].to.equals(m.to), sent[0].value, sent[0].body!.equals(m.body)]).toEqual([true, m.amount, true]);
        };

        const vote = await voteLink(ctx, 0, true);
        expectSameMessage(await run(runVote, b, vote), vote);
        expect(await gov.getProposalVote(0n, b.address)).toBe(true);
        const execute = await executeLink(ctx, 0);
        expectSameMessage(await run(runExecute, anyone, execute), execute);
        expect(await gov.getProposal(0n)).toBeNull();
        expect(await root.getIsProxyImageAllowed(5n)).toBe(true);
    });
});
