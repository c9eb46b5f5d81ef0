// `cocoon explorer`: serves the explorer (agents/explorer/server.ts) for one Root until Ctrl-C. Flags are checked
// before anything reads the chain (exit 2); a chain that cannot be read at start exits 1 with its CHAIN_* code.
import { command, CommandIo, Flags, portFlag, untilInterrupted, UsageError } from '../core/cli-io';
import { ChainError, ConfigError } from '../core/chain';
import { jsonLog, logLevelFlag } from '../run';
import { configFromArgs } from '../status';
import { ExplorerServer } from './server';
import type { NetworkKind } from './types';

export const EXPLORER_USAGE = `usage: cocoon explorer [options]
  --endpoint <url>     toncenter v2 JSON-RPC endpoint (default: TONCENTER_ENDPOINT)
  --root <address>     Root contract (default: COCOON_ROOT)
  --stream <url>       tonapi-compatible SSE base URL for live updates (default: TONAPI_ENDPOINT with TONAPI_KEY, else the endpoint's origin)
  --network <name>     devnet | testnet | mainnet (default devnet): address display and wallet links
  --host <ip>          listen address (default 127.0.0.1)
  --port <n>           listen port (default 8090; 0 = a free one)
  --history <n>        transactions indexed per contract at start, 1..100000 (default 2000)
  --log-level <level>  debug | info | warn | error (default info; JSON lines on stderr)
  -h, --help           show this help
environment: TONCENTER_API_KEY, TONCENTER_RPS, TONCENTER_MAX_RETRIES, TONCENTER_TIMEOUT_MS, TONAPI_ENDPOINT (see spec/chain.md)
exit status: 0 after Ctrl-C, 1 the chain could not be read at start, 2 bad flags or config`;

const FLAGS = { endpoint: 'value', root: 'value', stream: 'value', network: 'value', host: 'value', port: 'value', history: 'value', 'log-level': 'value' } as const;

const NETWORKS: NetworkKind[] = ['devnet', 'testnet', 'mainnet'];

function httpUrl(flag: string, v: string): string {
    let u: URL;
    try {
        u = new URL(v);
    } catch {
        throw new UsageError(`--${flag}: expected an http(s) URL, got ${v}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--${flag}: expected an http(s) URL, got ${v}`);
    return v;
}

/** `cocoon explorer`; `env` defaults to process.env, `signal` stops it (tests). */
export function explorerCommand(argv: string[], io: CommandIo, env: Record<string, string | undefined> = process.env, signal?: AbortSignal): Promise<number> {
    return command(io, EXPLORER_USAGE, argv, FLAGS, (flags) => run(flags, io, env, signal), { prefix: 'cocoon explorer: ' });
}

async function run(flags: Flags<typeof FLAGS>, io: CommandIo, env: Record<string, string | undefined>, signal?: AbortSignal): Promise<number> {
    const network = (flags.network ?? 'devnet') as NetworkKind;
    if (!NETWORKS.includes(network)) throw new UsageError(`--network: expected one of ${NETWORKS.join(', ')}, got ${flags.network}`);
    const port = flags.port === undefined ? 8090 : portFlag('port', flags.port);
    const host = flags.host ?? '127.0.0.1';
    if (!/^[0-9a-fA-F.:]{2,45}$/.test(host) && host !== 'localhost') throw new UsageError(`--host: expected an IP address, got ${host}`);
    if (flags.history !== undefined && (!/^\d{1,6}$/.test(flags.history) || Number(flags.history) < 1 || Number(flags.history) > 100_000)) {
        throw new UsageError(`--history: expected 1..100000, got ${flags.history}`);
    }
    const level = logLevelFlag(flags['log-level']);
    const streamFlag = flags.stream !== undefined ? httpUrl('stream', flags.stream) : undefined;
    let chain;
    try {
        chain = configFromArgs({ endpoint: flags.endpoint, root: flags.root }, env);
    } catch (e) {
        if (e instanceof ConfigError) {
            io.stderr(`cocoon explorer: ${e.code}: ${e.message}\n`);
            return 2;
        }
        throw e;
    }
    const server = new ExplorerServer({
        chain,
        network,
        host,
        port,
        log: jsonLog(io, 'explorer', level),
        ...(streamFlag ? { streamEndpoint: streamFlag } : {}),
        ...(flags.history !== undefined ? { historyLimit: Number(flags.history) } : {}),
    });
    let url: string;
    try {
        ({ url } = await server.start());
    } catch (e) {
        await server.stop();
        if (e instanceof ChainError) {
            io.stderr(`cocoon explorer: ${e.code}: ${e.message}\n`);
            return 1;
        }
        throw e;
    }
    io.stdout(`explorer: ${url}\n`);
    return untilInterrupted(io, () => server.stop(), signal, 'cocoon explorer: ');
}
