// `cocoon status [--endpoint URL] [--root ADDR] [--channel ADDR]... [--json]`: an operator's read-only view of the
// network as Root and the given contracts hold it — Root's version, params, child code version, models (with whether
// they require GPU evidence), the image allowlists (proxy, worker, key service) and registered proxies, then the state of each --channel (a ClientChannel, WorkerChannel or Proxy; the
// kind is detected by trying the getters). Human-readable by default; --json prints one JSON object with every
// bigint as a decimal string (nanoTON for amounts), hashes as 64-char hex, addresses raw (`0:<hex>`).
// Exit status: 0 ok, 1 a chain error (CHAIN_*) or a channel that could not be read, 2 bad flags or config.
import { Address, fromNano } from '@ton/core';
import { command, CommandIo, Flags, printable, UsageError } from './core/cli-io';
import { CocoonError } from './core/errors';
import { Chain, ChainError, ConfigError, hex256, loadChainConfig, nullIfGetterFailed, RootConfig, TonChain } from './core/chain';
import { ClientChannelState } from '../wrappers/ClientChannel';
import { WorkerChannelState } from '../wrappers/WorkerChannel';
import { ProxyState } from '../wrappers/Proxy';
import { IMAGE_KIND_WORDS, IMAGE_KINDS, ImageKind } from '../wrappers/Root';
import { PROXY_STATES, WORKER_STATES } from './operator/proxy';

export const STATUS_USAGE = `usage: cocoon status [options]
  --endpoint <url>     toncenter v2 JSON-RPC endpoint (default: TONCENTER_ENDPOINT)
  --root <address>     Root contract (default: COCOON_ROOT)
  --channel <address>  also show this ClientChannel, WorkerChannel or Proxy; repeatable
  --json               print one JSON object (bigints as decimal strings, amounts in nanoTON)
  -h, --help           show this help
environment: TONCENTER_API_KEY, TONCENTER_RPS, TONCENTER_MAX_RETRIES, TONCENTER_TIMEOUT_MS (see spec/chain.md)
exit status: 0 ok, 1 chain error or unreadable channel (see its code), 2 bad flags or config`;

/** Codes reported per --channel when it cannot be shown (the command then exits 1). */
export type ChannelStatusCode = 'CHANNEL_NOT_DEPLOYED' | 'CHANNEL_UNKNOWN_KIND';

export const CLIENT_STATES = ['open', 'closing', 'closed'];
export const stateName = (names: string[], s: bigint) => names[Number(s)] ?? `unknown(${s})`;

const STATUS_FLAGS = { endpoint: 'value', root: 'value', channel: 'list', json: 'switch' } as const;

interface Args {
    endpoint?: string;
    root?: string;
    channels: Address[];
    json: boolean;
}

function argsOf(flags: Flags<typeof STATUS_FLAGS>): Args {
    const channels = (flags.channel ?? []).map((v) => {
        try {
            return Address.parse(v.trim());
        } catch {
            throw new UsageError(`--channel: not a TON address (raw 0:<hex> or user-friendly): ${v}`);
        }
    });
    return { endpoint: flags.endpoint, root: flags.root, channels, json: flags.json === true };
}

/** Flags are overrides of the chain config; errors about them name the flag, not the config key. */
const FLAG_OF_KEY: Record<string, string> = { 'chain.endpoint': '--endpoint', 'chain.rootAddress': '--root' };

/** The chain config of `--endpoint` / `--root` over the environment; errors name the flag (also `cocoon explorer`). */
export function configFromArgs(a: { endpoint?: string; root?: string }, env: Record<string, string | undefined>) {
    const overrides: { endpoint?: string; rootAddress?: string } = {};
    if (a.endpoint !== undefined) overrides.endpoint = a.endpoint;
    if (a.root !== undefined) overrides.rootAddress = a.root;
    try {
        const cfg = loadChainConfig({}, env, overrides);
        if (!cfg.rootAddress) throw new ConfigError('--root', 'required (or set COCOON_ROOT)');
        return cfg;
    } catch (e) {
        if (e instanceof ConfigError && FLAG_OF_KEY[e.key]) {
            const flag = FLAG_OF_KEY[e.key];
            throw new ConfigError(flag, e.message.slice(e.key.length + 2), { ...e.details, key: flag });
        }
        throw e;
    }
}

// ---- the report ----

export type ChannelReport =
    | { address: string; kind: 'client'; state: string; balance: string; redeemed: string; pendingWithdraw: string; closeAt: string; client: string; proxy: string }
    | {
          address: string;
          kind: 'worker';
          state: string;
          stake: string;
          paid: string;
          unbondAt: string;
          worker: string;
          proxy: string;
          pendingSlash: { amount: string; reason: string; requestId: string; evidenceHash: string; executeAt: string } | null;
      }
    | {
          address: string;
          kind: 'proxy';
          state: string;
          registered: boolean;
          banned: boolean;
          stake: string;
          pool: string;
          commission: string;
          commitSeqno: string;
          workerChannels: string;
          closeAt: string;
          owner: string;
      }
    | { address: string; error: { code: ChannelStatusCode; message: string } };

export interface StatusReport {
    root: {
        address: string;
        version: number;
        codeVersion: string;
        treasury: string;
        params: Record<string, string>;
        models: {
            id: string;
            name: string;
            weightsHash: string;
            contextLength: string;
            prices: { prompt: string; cached: string; completion: string; reasoning: string };
            /** Workers serving it must attach verified GPU evidence. */
            requireGpu: boolean;
        }[];
        /** Allowlisted image hashes per Root allowlist (`keys`: key-service images). */
        images: Record<ImageKind, string[]>;
        proxies: { address: string; owner: string; enclaveKey: string; stake: string; clientEndpoint: string; workerEndpoint: string; registeredAt: string }[];
    };
    channels: ChannelReport[];
}

function rootReport(cfg: RootConfig): StatusReport['root'] {
    const p = cfg.params;
    return {
        address: cfg.root.toRawString(),
        version: cfg.version,
        codeVersion: cfg.childCode.codeVersion.toString(),
        treasury: cfg.terms.treasury.toRawString(),
        params: {
            commissionBps: p.commissionBps.toString(),
            reporterShareBps: p.reporterShareBps.toString(),
            minProxyStake: p.minProxyStake.toString(),
            minWorkerStake: p.minWorkerStake.toString(),
            minClientDeposit: p.minClientDeposit.toString(),
            creditWindow: p.creditWindow.toString(),
            proxyCloseDelay: p.proxyCloseDelay.toString(),
            clientCloseDelay: p.clientCloseDelay.toString(),
            workerUnbondDelay: p.workerUnbondDelay.toString(),
            slashChallengePeriod: p.slashChallengePeriod.toString(),
        },
        models: [...cfg.models]
            .map(([id, m]) => ({
                id,
                name: m.name,
                weightsHash: hex256(m.weightsHash),
                contextLength: m.contextLength.toString(),
                prices: { prompt: m.pricePrompt.toString(), cached: m.priceCached.toString(), completion: m.priceCompletion.toString(), reasoning: m.priceReasoning.toString() },
                requireGpu: m.requireGpu,
            }))
            .sort((a, b) => a.name.localeCompare(b.name)),
        images: { proxy: [...cfg.proxyImages].sort(), worker: [...cfg.workerImages].sort(), keys: [...cfg.keyImages].sort() },
        proxies: [...cfg.proxies]
            .map(([address, pi]) => ({
                address,
                owner: pi.owner.toRawString(),
                enclaveKey: hex256(pi.enclaveKey),
                stake: pi.stake.toString(),
                clientEndpoint: pi.clientEndpoint,
                workerEndpoint: pi.workerEndpoint,
                registeredAt: pi.registeredAt.toString(),
            }))
            .sort((a, b) => a.address.localeCompare(b.address)),
    };
}

/** A getter that exists but does not decode as this kind, or does not exist: CHAIN_GETTER_FAILED -> null. */
function tryKind<T>(read: () => Promise<T | null>): Promise<T | null> {
    return read().catch(nullIfGetterFailed);
}

/** What lives at an address, told by which getter decodes (proxyState, then channelState as ClientChannel, then WorkerChannel). */
export type ContractAt =
    | { kind: 'proxy'; state: ProxyState }
    | { kind: 'client'; state: ClientChannelState }
    | { kind: 'worker'; state: WorkerChannelState }
    | { kind: 'other' }
    | { kind: 'not-deployed' };

/** Detects a contract's kind by its getters (also used by the explorer). Throws ChainError when the chain fails. */
export async function readContract(chain: Chain, addr: Address): Promise<ContractAt> {
    if (!(await chain.isDeployed(addr))) return { kind: 'not-deployed' };
    const ps = await tryKind(() => chain.getProxyState(addr));
    if (ps) return { kind: 'proxy', state: ps };
    const cs = await tryKind(() => chain.getClientChannelState(addr));
    if (cs) return { kind: 'client', state: cs };
    const ws = await tryKind(() => chain.getWorkerChannelState(addr));
    if (ws) return { kind: 'worker', state: ws };
    return { kind: 'other' };
}

async function channelReport(chain: TonChain, addr: Address): Promise<ChannelReport> {
    const address = addr.toRawString();
    const c = await readContract(chain, addr);
    if (c.kind === 'not-deployed') return { address, error: { code: 'CHANNEL_NOT_DEPLOYED', message: 'no active contract at this address' } };
    if (c.kind === 'proxy') {
        const ps = c.state;
        return {
            address,
            kind: 'proxy',
            state: stateName(PROXY_STATES, ps.state),
            registered: ps.registered,
            banned: ps.banned,
            stake: ps.stake.toString(),
            pool: ps.pool.toString(),
            commission: ps.commission.toString(),
            commitSeqno: ps.commitSeqno.toString(),
            workerChannels: ps.workerChannels.toString(),
            closeAt: ps.closeAt.toString(),
            owner: ps.owner.toRawString(),
        };
    }
    if (c.kind === 'client') {
        const cs = c.state;
        return {
            address,
            kind: 'client',
            state: stateName(CLIENT_STATES, cs.state),
            balance: cs.balance.toString(),
            redeemed: cs.redeemed.toString(),
            pendingWithdraw: cs.pendingWithdraw.toString(),
            closeAt: cs.closeAt.toString(),
            client: cs.client.toRawString(),
            proxy: cs.proxy.toRawString(),
        };
    }
    if (c.kind === 'worker') {
        const ws = c.state;
        const s = ws.slash;
        return {
            address,
            kind: 'worker',
            state: stateName(WORKER_STATES, ws.state),
            stake: ws.stake.toString(),
            paid: ws.paid.toString(),
            unbondAt: ws.unbondAt.toString(),
            worker: ws.worker.toRawString(),
            proxy: ws.proxy.toRawString(),
            pendingSlash: s
                ? { amount: s.amount.toString(), reason: s.reason.toString(), requestId: s.requestId.toString(), evidenceHash: hex256(s.evidenceHash), executeAt: s.executeAt.toString() }
                : null,
        };
    }
    return { address, error: { code: 'CHANNEL_UNKNOWN_KIND', message: 'deployed, but neither a ClientChannel, a WorkerChannel nor a Proxy (no matching getter)' } };
}

/** Reads everything the report shows. Throws ChainError on chain failures. */
export async function collectStatus(chain: TonChain, channels: Address[]): Promise<StatusReport> {
    const cfg = await chain.getRootConfig();
    const out: ChannelReport[] = [];
    for (const c of channels) out.push(await channelReport(chain, c));
    return { root: rootReport(cfg), channels: out };
}

// ---- human output ----

const ton = (nano: string) => `${fromNano(BigInt(nano))} TON`;
const friendly = (raw: string) => Address.parse(raw).toString();
const bps = (v: string) => `${(Number(v) / 100).toFixed(2)}% (${v} bps)`;

export function formatStatus(r: StatusReport): string {
    const L: string[] = [];
    const row = (k: string, v: string) => L.push(`  ${k.padEnd(24)}${v}`);
    const root = r.root;
    L.push(`Root ${friendly(root.address)}`);
    row('version', String(root.version));
    row('child code version', root.codeVersion);
    row('treasury', friendly(root.treasury));
    L.push('Params');
    const p = root.params;
    row('commission', bps(p.commissionBps));
    row('reporter share', bps(p.reporterShareBps));
    row('min proxy stake', ton(p.minProxyStake));
    row('min worker stake', ton(p.minWorkerStake));
    row('min client deposit', ton(p.minClientDeposit));
    row('credit window', ton(p.creditWindow));
    row('proxy close delay', `${p.proxyCloseDelay} s`);
    row('client close delay', `${p.clientCloseDelay} s`);
    row('worker unbond delay', `${p.workerUnbondDelay} s`);
    row('slash challenge period', `${p.slashChallengePeriod} s`);
    L.push(`Models (${root.models.length}; prices per 1M tokens)`);
    for (const m of root.models) {
        L.push(`  ${printable(m.name)}`);
        L.push(`    id ${m.id}  context ${m.contextLength}  ${m.requireGpu ? 'GPU evidence required' : 'no GPU evidence required'}`);
        L.push(`    prompt ${ton(m.prices.prompt)}  cached ${ton(m.prices.cached)}  completion ${ton(m.prices.completion)}  reasoning ${ton(m.prices.reasoning)}`);
    }
    for (const kind of IMAGE_KINDS) {
        const words = IMAGE_KIND_WORDS[kind];
        L.push(`${words[0].toUpperCase()}${words.slice(1)} images (${root.images[kind].length})`);
        for (const h of root.images[kind]) L.push(`  ${h}`);
    }
    L.push(`Proxies (${root.proxies.length})`);
    for (const px of root.proxies) {
        L.push(`  ${friendly(px.address)}  stake ${ton(px.stake)}`);
        L.push(`    clients ${printable(px.clientEndpoint)}  workers ${printable(px.workerEndpoint)}  owner ${friendly(px.owner)}`);
    }
    if (r.channels.length > 0) L.push(`Channels (${r.channels.length})`);
    for (const c of r.channels) {
        const head = `  ${friendly(c.address)}`;
        if ('error' in c) {
            L.push(`${head}  ${c.error.code}: ${c.error.message}`);
        } else if (c.kind === 'client') {
            L.push(`${head}  ClientChannel  ${c.state}  balance ${ton(c.balance)}  redeemed ${ton(c.redeemed)}`);
        } else if (c.kind === 'worker') {
            const slash = c.pendingSlash ? `pending slash ${ton(c.pendingSlash.amount)} (reason ${c.pendingSlash.reason}, at ${c.pendingSlash.executeAt})` : 'no pending slash';
            L.push(`${head}  WorkerChannel  ${c.state}  stake ${ton(c.stake)}  paid ${ton(c.paid)}  ${slash}`);
        } else {
            const flags = [c.registered ? 'registered' : 'unregistered', ...(c.banned ? ['banned'] : [])].join(', ');
            L.push(`${head}  Proxy  ${c.state} (${flags})  stake ${ton(c.stake)}  pool ${ton(c.pool)}  commission ${ton(c.commission)}`);
        }
    }
    return L.join('\n') + '\n';
}

// ---- the command ----

/** `cocoon status`; `env` defaults to process.env (tests pass their own). */
export function statusCommand(argv: string[], io: CommandIo, env: Record<string, string | undefined> = process.env): Promise<number> {
    return command(io, STATUS_USAGE, argv, STATUS_FLAGS, (flags) => showStatus(argsOf(flags), io, env), { prefix: 'cocoon status: ' });
}

async function showStatus(args: Args, io: CommandIo, env: Record<string, string | undefined>): Promise<number> {
    const fail = (e: CocoonError, status: number) => {
        io.stderr(`cocoon status: ${e.code}: ${e.message}\n`);
        if (args.json) io.stdout(JSON.stringify({ error: { code: e.code, message: e.message } }) + '\n');
        return status;
    };
    let chain: TonChain;
    try {
        chain = new TonChain({ config: configFromArgs(args, env) });
    } catch (e) {
        if (e instanceof ConfigError) return fail(e, 2);
        throw e;
    }
    let report: StatusReport;
    try {
        report = await collectStatus(chain, args.channels);
    } catch (e) {
        if (e instanceof ChainError) return fail(e, 1);
        throw e;
    }
    io.stdout(args.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report));
    const failed = report.channels.filter((c) => 'error' in c);
    for (const c of failed) if ('error' in c) io.stderr(`cocoon status: ${c.error.code}: channel ${c.address}: ${c.error.message}\n`);
    return failed.length > 0 ? 1 : 0;
}
