// Hand-built explorer views for the page tests: every view type, with hostile chain strings where the chain lets an
// attacker choose them (model names, endpoints, action words, feed words, error messages).
import QRCode from 'qrcode';
import type {
    Addr,
    FeedView,
    GovernanceView,
    ImagesView,
    ModelsView,
    PageContext,
    PageModel,
    ProposalView,
    ProxyView,
    RootView,
    WalletLink,
    WorkerChannelView,
} from '../../../agents/explorer/types';

export const CHAIN_TIME = 1_796_320_800; // 2026-12-03 18:00:00 UTC

export const HOSTILE = [
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    '</textarea></pre></code><svg onload=alert(1)>',
    '&lt;b&gt; &amp; ${x}',
];
export const HOSTILE_ENDPOINTS = ['javascript:alert(1)', ' JaVaScRiPt:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', '//evil.example/x'];

export function addr(n: number): Addr {
    const hex = n.toString(16).padStart(64, '0');
    return { raw: `0:${hex}`, friendly: `EQ${hex.slice(0, 10)}friendly${String(n).padStart(4, '0')}` };
}

const h = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const tx = (n: number) => ({ lt: String(1000 + n), hash: h(n), at: CHAIN_TIME - 600 * n });
const env = { chainTime: CHAIN_TIME, historyComplete: true };

export const ctx: PageContext = { network: 'devnet', root: addr(1), governance: addr(2) };

export const root: RootView = {
    ...env,
    address: addr(1),
    version: 3,
    governance: addr(2),
    treasury: addr(3),
    balance: '123456789012345678901',
    params: {
        commissionBps: 250,
        reporterShareBps: 6667,
        minProxyStake: '10000000000',
        minWorkerStake: '1500000000',
        minClientDeposit: '1',
        creditWindow: '100000000',
        proxyCloseDelay: 86_400,
        clientCloseDelay: 3_600,
        workerUnbondDelay: 8_040,
        slashChallengePeriod: 0,
    },
    childCode: { codeVersion: 2, proxyCodeHash: h(0xa1), clientCodeHash: h(0xa2), workerCodeHash: h(0xa3) },
    counts: { proxyImages: 1, workerImages: 2, keyImages: 1, models: HOSTILE.length, proxies: 2 },
};

export const models: ModelsView = {
    ...env,
    models: HOSTILE.map((name, i) => ({
        id: h(0x10 + i),
        name,
        weightsHash: h(0x20 + i),
        contextLength: 8192,
        prices: { prompt: '1000000', cached: '0', completion: '2000000000', reasoning: '999999999' },
        requireGpu: i % 2 === 1,
        registered: i === 0 ? null : { tx: tx(i), proposalId: i, proposer: addr(40 + i) },
    })),
};

export const feed: FeedView = {
    ...env,
    events: [
        { id: `1005:${h(5)}`, kind: 'vote', at: CHAIN_TIME - 5, account: addr(2), tx: tx(5), words: HOSTILE[0], links: { proposalId: 3, address: addr(50) } },
        // links a stranger might smuggle: a path in place of an address, a negative or fractional proposal id
        { id: `1006:${h(6)}`, kind: 'commit', at: CHAIN_TIME - 6, account: { raw: '0:../../api/root', friendly: HOSTILE[1] }, tx: tx(6), words: HOSTILE[1], links: { proposalId: -1, proxy: { raw: 'javascript:alert(1)', friendly: 'x' }, channel: { raw: `0:${h(7)}?x=<`, friendly: 'y' } } },
    ],
};

export function workerChannel(n: number): WorkerChannelView {
    return {
        address: addr(60 + n),
        proxy: addr(30),
        worker: addr(70 + n),
        state: 'open',
        stake: '1500000000',
        paid: '42',
        unbondAt: 0,
        pendingFault: n === 1 ? { seqno: 4, amount: '500000000', reason: 2, requestId: h(0x33), evidenceHash: h(0x34), executeAt: CHAIN_TIME + 3_600 } : null,
        opened: tx(n),
    };
}

export const proxy: ProxyView = {
    ...env,
    historyComplete: false,
    address: addr(30),
    registration: { address: addr(30), owner: addr(31), stake: '10000000000', clientEndpoint: 'https://proxy.example:8443/v1', workerEndpoint: HOSTILE_ENDPOINTS[0], registeredAt: CHAIN_TIME - 86_400 },
    owner: addr(31),
    enclaveKey: h(0x44),
    state: 'active',
    registered: true,
    banned: false,
    stake: '10000000000',
    commission: '7',
    pool: '1000000001',
    closeAt: 0,
    lastCommit: { seqno: '17', hash: h(0x55), tx: tx(1), ageSeconds: 300 },
    workerChannels: [workerChannel(1), workerChannel(2)],
    slashes: [{ kind: 'fault-reported', target: addr(61), amount: '500000000', tx: tx(2) }],
};

async function walletLink(url: string, qr?: string): Promise<WalletLink> {
    return {
        url,
        to: addr(2),
        amount: '50000000',
        payloadBoc: 'te6cckEBAQEADgAAGHZvdGUAAAAAAAAAAwGm7z8=',
        qrSvg: qr ?? (await QRCode.toString(url, { type: 'svg' })),
        blueprint: `npx blueprint run vote --custom http://127.0.0.1:8081/api/v2/ --custom-version v2 3 yes '${HOSTILE[1]}'`,
    };
}

export async function proposal(status: ProposalView['status'], id = 3): Promise<ProposalView> {
    const open = status === 'open';
    return {
        id,
        status,
        proposer: addr(41),
        createdAt: CHAIN_TIME - 600,
        // A removed proposal's deadline is not on chain any more (api.ts rebuilds it from history without one).
        deadline: status === 'executed' ? null : CHAIN_TIME + 8_040,
        executableFrom: open ? null : CHAIN_TIME + 60,
        executableUntil: open ? null : CHAIN_TIME + 86_460,
        yes: 1,
        no: 0,
        totalWeight: 3,
        votes: [{ voter: addr(41), support: true, tx: tx(3) }],
        actions: [
            { to: addr(1), value: '50000000', kind: 'AddImage', words: `allowlist worker image 04b3… ${HOSTILE[0]}`, fields: { hash: h(0x04), note: HOSTILE[1] }, bodyBoc: 'te6cckEBAQEAAgAAAEysuc0=' },
            { to: addr(1), value: '50000000', kind: 'SetParams', words: 'set min proxy stake to 10 TON', fields: {}, bodyBoc: 'te6cckEBAQEAAgAAAEysuc0=' },
        ],
        created: tx(4),
        executed: status === 'executed' ? tx(1) : null,
        voteLinks: open ? { yes: await walletLink('ton://transfer/EQyes?amount=50000000&bin=te6'), no: await walletLink('javascript:alert(1)//ton://transfer/', '<svg onload="alert(1)">') } : null,
        executeLink: status === 'executable' ? await walletLink('ton://transfer/EQexec?amount=50000000&bin=te6', `<img src=x onerror=alert(1)>`) : null,
    };
}

export async function governance(): Promise<GovernanceView> {
    return {
        ...env,
        address: addr(2),
        balance: '3000000000',
        params: { quorumBps: 6667, majorityBps: 5001, votingPeriod: 604_800, timelock: 0, executionWindow: 86_400 },
        voters: [41, 42, 43].map((n) => ({ address: addr(n), weight: 1 })),
        totalWeight: 3,
        nextProposalId: 5,
        proposals: [await proposal('open', 3), await proposal('executed', 2), await proposal('failed', 1)],
    };
}

export const images: ImagesView = {
    ...env,
    images: [
        { kind: 'worker', hash: h(0x04), added: { tx: tx(1), proposalId: 1, proposer: addr(41) } },
        { kind: 'proxy', hash: h(0x05), added: null },
        { kind: 'keys', hash: h(0x06), added: { tx: tx(2), proposalId: 2, proposer: addr(42) } },
    ],
};

/** One model of every page. */
export async function everyPage(): Promise<PageModel[]> {
    const addressView = { ...env, address: addr(30), balance: '1' };
    return [
        { page: 'overview', root, feed },
        { page: 'models', view: models },
        { page: 'images', view: images },
        { page: 'proxies', view: { ...env, proxies: [proxy.registration!, { ...proxy.registration!, address: addr(32), clientEndpoint: HOSTILE_ENDPOINTS[2], workerEndpoint: HOSTILE[0] }] } },
        { page: 'proxy', view: proxy },
        { page: 'address', view: { ...addressView, kind: 'proxy', proxy } },
        { page: 'address', view: { ...addressView, kind: 'worker-channel', channel: workerChannel(1) } },
        { page: 'address', view: { ...addressView, kind: 'client-channel', channel: { address: addr(80), proxy: addr(30), client: addr(81), state: 'closing', balance: '5', redeemed: '4', pendingWithdraw: '0', withdrawAt: 0, closeAt: CHAIN_TIME + 60 } } },
        { page: 'address', view: { ...addressView, kind: 'root' } },
        { page: 'address', view: { ...addressView, kind: 'governance' } },
        { page: 'address', view: { ...addressView, kind: 'other' } },
        { page: 'address', view: { ...addressView, kind: 'not-deployed' } },
        { page: 'governance', view: await governance() },
        { page: 'proposal', view: { ...env, ...(await proposal('open')) } },
        { page: 'proposal', view: { ...env, ...(await proposal('executable')) } },
        { page: 'proposal', view: { ...env, ...(await proposal('executed')) } },
        { page: 'feed', view: feed },
        { page: 'feed', view: { ...env, events: [] } },
        { page: 'error', status: 400, body: { error: { code: 'BAD_ADDRESS', message: `not a TON address: ${HOSTILE[0]}`, details: { input: HOSTILE[1] } } } },
    ];
}
