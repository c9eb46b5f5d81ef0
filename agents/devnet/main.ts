// Runs the devnet chain server until SIGINT/SIGTERM:
//   npx ts-node agents/devnet/main.ts [--port 8081] [--state .devnet/state.json] [--snapshot-interval-ms 5000]
//                                     [--faucet-max-ton 1000] [--no-state]
// Prints one line with the JSON-RPC URL to use with TonClient or
//   npx blueprint run <script> --custom <url> --custom-version v2 --custom-type testnet --mnemonic
// Fund a wallet:  curl -s <url> -H 'content-type: application/json' \
//   -d '{"id":1,"jsonrpc":"2.0","method":"devFaucet","params":{"address":"<addr>","amount":"5000000000"}}'
// Exit status: 0 after a clean stop, 1 when the state file is unusable or the port is taken, 2 on bad flags.
import { toNano } from '@ton/core';
import { command, CommandIo, Flags, portFlag, runOnProcess, untilInterrupted, UsageError } from '../core/cli-io';
import { DevnetServer } from './server';

const USAGE =
    'usage: cocoon chain serve [--port <0..65535>] [--state <file> | --no-state] [--snapshot-interval-ms <ms>] [--faucet-max-ton <TON>]';

const FLAGS = { port: 'value', state: 'value', 'no-state': 'switch', 'snapshot-interval-ms': 'value', 'faucet-max-ton': 'value' } as const;

function argsOf(f: Flags<typeof FLAGS>) {
    if (f.state !== undefined && f['no-state']) throw new UsageError('--state and --no-state exclude each other');
    const interval = f['snapshot-interval-ms'];
    if (interval !== undefined && !/^\d+$/.test(interval)) throw new UsageError(`--snapshot-interval-ms: expected a non-negative integer, got ${interval}`);
    const faucet = f['faucet-max-ton'];
    if (faucet !== undefined && (!/^\d+(\.\d{1,9})?$/.test(faucet) || toNano(faucet) === 0n)) throw new UsageError(`--faucet-max-ton: expected a positive amount of TON, got ${faucet}`);
    return {
        port: f.port === undefined ? 8081 : portFlag('port', f.port),
        statePath: f['no-state'] ? undefined : (f.state ?? '.devnet/state.json'),
        intervalMs: interval === undefined ? 5000 : Number(interval),
        faucetMax: toNano(faucet ?? '1000'),
    };
}

/** `cocoon chain serve [...]`: runs until SIGINT/SIGTERM; resolves with the exit status. */
export function chainServeCommand(argv: string[], io: CommandIo): Promise<number> {
    return command(io, USAGE, argv, FLAGS, async (flags) => {
        const args = argsOf(flags);
        const server = new DevnetServer({
            port: args.port,
            statePath: args.statePath,
            snapshotIntervalMs: args.intervalMs,
            faucetMaxPerRequest: args.faucetMax,
            log: (line) => io.stderr(`[devnet] ${line}\n`),
        });
        await server.start();
        io.stdout(`devnet JSON-RPC: ${server.url}\n`);
        return untilInterrupted(io, () => server.stop(), undefined, '[devnet] ');
    }, { prefix: '[devnet] ' });
}

if (require.main === module) runOnProcess(chainServeCommand, '[devnet]');
