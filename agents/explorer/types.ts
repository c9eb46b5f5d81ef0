// The explorer's JSON API shapes (spec/explorer.md). The HTML pages render the very same views the JSON API returns,
// so a page never shows a value the API would not. Every value is read from the chain (getters and transactions),
// never from an agent's private state.
//
// Conventions (as `cocoon status --json`): amounts are nanoTON as decimal strings; hashes, ids and keys are 64-char
// lower-case hex (no 0x); addresses are an `Addr` (raw `0:<hex>` for links and keys, user-friendly for display);
// times are unix seconds (numbers) of the chain's clock; `null` means "not known from the chain".

/** An address as the explorer shows it. `raw` is the canonical key and what links use (`/address/<raw>`). */
export interface Addr {
    raw: string;
    /** User-friendly, bounceable, url-safe (testOnly on the devnet/testnet), for display and copying. */
    friendly: string;
}

/** A transaction reference: logical time (decimal string) and hash (hex). */
export interface TxRef {
    lt: string;
    hash: string;
    /** Unix seconds of the transaction. */
    at: number;
}

/** Where a value came from on chain: the governance proposal that set it (when it was set through Governance). */
export interface Provenance {
    tx: TxRef;
    /** The proposal whose execution sent it; null when the sender was not Governance or the proposal is unknown. */
    proposalId: number | null;
    /** The proposal's proposer, when known. */
    proposer: Addr | null;
}

/** Every view carries the chain's clock and the explorer's index position, so pages count down from chain time. */
export interface Envelope {
    /** Chain time (latest block's unix time) when the view was built. */
    chainTime: number;
    /** How far back history was indexed: false when the per-account history limit cut it (older facts unknown). */
    historyComplete: boolean;
}

// ---------- Root ----------

export interface ParamsView {
    commissionBps: number;
    reporterShareBps: number;
    minProxyStake: string;
    minWorkerStake: string;
    minClientDeposit: string;
    creditWindow: string;
    proxyCloseDelay: number;
    clientCloseDelay: number;
    workerUnbondDelay: number;
    slashChallengePeriod: number;
}

export interface RootView extends Envelope {
    address: Addr;
    version: number;
    governance: Addr;
    treasury: Addr;
    balance: string;
    params: ParamsView;
    childCode: { codeVersion: number; proxyCodeHash: string; clientCodeHash: string; workerCodeHash: string };
    counts: { proxyImages: number; workerImages: number; keyImages: number; models: number; proxies: number };
}

// ---------- models and images ----------

export interface ModelView {
    /** sha256 of the name (Root's key), hex. */
    id: string;
    /** As registered (chain data: any string; pages must escape it). */
    name: string;
    weightsHash: string;
    contextLength: number;
    /** nanoTON per 1M tokens of each class. */
    prices: { prompt: string; cached: string; completion: string; reasoning: string };
    /** Workers serving it must attach verified GPU evidence (Root's Model.requireGpu). */
    requireGpu: boolean;
    registered: Provenance | null;
}

/** Root's allowlists (wrappers/Root.ts ImageKind): 'keys' lists key-service images (sealed secrets). */
export type ImageKind = 'proxy' | 'worker' | 'keys';

export interface ImageView {
    kind: ImageKind;
    hash: string;
    added: Provenance | null;
}

export interface ModelsView extends Envelope {
    models: ModelView[];
}

export interface ImagesView extends Envelope {
    images: ImageView[];
}

// ---------- proxies and workers ----------

export type ProxyStateName = 'active' | 'closing' | 'closed' | `unknown(${number})`;
export type WorkerStateName = 'open' | 'new' | 'active' | 'suspended' | 'unbonding' | 'closed' | `unknown(${number})`;
export type ClientStateName = 'open' | 'closing' | 'closed' | `unknown(${number})`;

export interface ProxySummary {
    address: Addr;
    owner: Addr;
    /** Stake as Root records it (registration). */
    stake: string;
    /** Chain strings (pages must escape them). */
    clientEndpoint: string;
    workerEndpoint: string;
    registeredAt: number;
}

export interface SlashView {
    /** 'equivocation' (ReportEquivocation on the Proxy) or a worker fault (ReportFault / ExecuteSlash / veto). */
    kind: 'equivocation' | 'fault-reported' | 'slash-executed' | 'slash-vetoed';
    /** The slashed contract (Proxy or WorkerChannel). */
    target: Addr;
    amount: string | null;
    tx: TxRef;
}

export interface WorkerChannelView {
    address: Addr;
    proxy: Addr;
    worker: Addr;
    state: WorkerStateName;
    stake: string;
    paid: string;
    unbondAt: number;
    /** The pending fault, if any (executable at executeAt unless vetoed). */
    pendingFault: { seqno: number; amount: string; reason: number; requestId: string; evidenceHash: string; executeAt: number } | null;
    /** When the channel told its Proxy it opened (ChannelOpened). */
    opened: TxRef | null;
}

export interface ProxyView extends Envelope {
    address: Addr;
    /** Root's registration; null when Root no longer lists it (closed or delisted). */
    registration: ProxySummary | null;
    owner: Addr;
    enclaveKey: string;
    state: ProxyStateName;
    registered: boolean;
    banned: boolean;
    stake: string;
    commission: string;
    pool: string;
    closeAt: number;
    lastCommit: { seqno: string; hash: string; tx: TxRef | null; ageSeconds: number | null } | null;
    workerChannels: WorkerChannelView[];
    slashes: SlashView[];
}

export interface ProxiesView extends Envelope {
    proxies: ProxySummary[];
}

// ---------- any address ----------

export interface ClientChannelView {
    address: Addr;
    proxy: Addr;
    client: Addr;
    state: ClientStateName;
    balance: string;
    redeemed: string;
    pendingWithdraw: string;
    withdrawAt: number;
    closeAt: number;
}

/** `GET /api/address/<addr>`: what lives at an address, detected by its code hash and getters. */
export type AddressView = Envelope & { address: Addr; balance: string } & (
        | { kind: 'root' }
        | { kind: 'governance' }
        | { kind: 'proxy'; proxy: ProxyView }
        | { kind: 'worker-channel'; channel: WorkerChannelView }
        | { kind: 'client-channel'; channel: ClientChannelView }
        /** Deployed, but none of ours (a wallet, another contract). */
        | { kind: 'other' }
        | { kind: 'not-deployed' }
    );

// ---------- governance ----------

export interface GovParamsView {
    quorumBps: number;
    majorityBps: number;
    votingPeriod: number;
    timelock: number;
    executionWindow: number;
}

export interface VoterView {
    address: Addr;
    weight: number;
}

/** One action of a proposal, decoded (agents/explorer/actions.ts). */
export interface ActionView {
    to: Addr;
    value: string;
    /** Message name from the opcode ('AddImage', 'SetParams', …) or 'unknown'. */
    kind: string;
    /** One line in words: "allowlist worker image 04b3…", "set min proxy stake to 10 TON". */
    words: string;
    /** Decoded fields (as JSON: bigints as strings, hashes hex, addresses raw). */
    fields: Record<string, unknown>;
    /** The body as base64 BOC (so anyone can check the words against the bytes). */
    bodyBoc: string;
}

export type ProposalStatus = 'open' | 'passed' | 'executable' | 'executed' | 'failed' | 'expired' | 'cleaned-up';

/** A `ton://transfer/...` deep link that any wallet opens, with the same message as a QR code and a Blueprint command. */
export interface WalletLink {
    /** ton://transfer/<governance>?amount=<nanoTON>&bin=<base64url BOC of the body> */
    url: string;
    to: Addr;
    amount: string;
    /** The message body, base64 BOC (standard alphabet). */
    payloadBoc: string;
    /** The QR code of `url` as an SVG document (rendered server-side: visible without JavaScript). */
    qrSvg: string;
    /** The equivalent `npx blueprint run …` command. */
    blueprint: string;
}

export interface ProposalView {
    id: number;
    status: ProposalStatus;
    proposer: Addr | null;
    createdAt: number | null;
    deadline: number | null;
    /** passedAt + timelock; null until passed. */
    executableFrom: number | null;
    /** executableFrom + executionWindow. */
    executableUntil: number | null;
    yes: number;
    no: number;
    totalWeight: number;
    votes: { voter: Addr; support: boolean; tx: TxRef | null }[];
    actions: ActionView[];
    created: TxRef | null;
    executed: TxRef | null;
    /** For an open proposal: a yes and a no link (any voter's wallet sends it; the contract checks the sender). */
    voteLinks: { yes: WalletLink; no: WalletLink } | null;
    /** For a passed proposal inside its execution window. */
    executeLink: WalletLink | null;
}

export interface GovernanceView extends Envelope {
    address: Addr;
    balance: string;
    params: GovParamsView;
    voters: VoterView[];
    totalWeight: number;
    nextProposalId: number;
    /** Open ones first, then history newest first. */
    proposals: ProposalView[];
}

// ---------- the live feed ----------

export type FeedKind =
    | 'proposal'
    | 'vote'
    | 'execution'
    | 'cleanup'
    | 'image-added'
    | 'image-removed'
    | 'model-registered'
    | 'model-removed'
    | 'params-set'
    | 'child-code-set'
    | 'proxy-registered'
    | 'proxy-delisted'
    | 'proxy-closing'
    | 'commit'
    | 'redeem'
    | 'worker-joined'
    | 'worker-left'
    | 'stake'
    | 'payout'
    | 'slash';

export interface FeedEvent {
    /** `<lt>:<hash>` of the transaction (unique, ordered by lt per account). */
    id: string;
    kind: FeedKind;
    at: number;
    /** The contract whose transaction this is. */
    account: Addr;
    tx: TxRef;
    /** One line in words ("voter 0:ab… voted yes on proposal 3"). */
    words: string;
    /** Entities to link to. */
    links: { proposalId?: number; proxy?: Addr; channel?: Addr; address?: Addr };
}

export interface FeedView extends Envelope {
    /** Newest first. */
    events: FeedEvent[];
}

// ---------- errors ----------

export type ExplorerErrorCode =
    | 'BAD_ADDRESS' // 400: not a TON address
    | 'BAD_REQUEST' // 400: a malformed query (a bad proposal id, an unknown parameter value)
    | 'NOT_FOUND' // 404: no such page, proposal or entity
    | 'METHOD_NOT_ALLOWED' // 405
    | 'TOO_MANY_STREAMS' // 503: the live feed is at its subscriber limit
    | 'CHAIN_UNAVAILABLE'; // 502: the chain endpoint failed (its CHAIN_* code in details)

export interface ErrorBody {
    error: { code: ExplorerErrorCode; message: string; details?: Record<string, unknown> };
}

// ---------- pages ----------

/** What one HTML page renders (agents/explorer/web/pages.ts): the same views the JSON API returns. */
export type PageModel =
    | { page: 'overview'; root: RootView; feed: FeedView }
    | { page: 'models'; view: ModelsView }
    | { page: 'images'; view: ImagesView }
    | { page: 'proxies'; view: ProxiesView }
    | { page: 'proxy'; view: ProxyView }
    | { page: 'address'; view: AddressView }
    | { page: 'governance'; view: GovernanceView }
    | { page: 'proposal'; view: ProposalView & Envelope }
    | { page: 'feed'; view: FeedView }
    | { page: 'error'; status: number; body: ErrorBody };

/** Network-wide facts every page shows (header, links). */
export interface PageContext {
    network: NetworkKind;
    root: Addr;
    governance: Addr;
}

export type NetworkKind = 'devnet' | 'testnet' | 'mainnet';
