// Runs the devnet chain server until SIGINT/SIGTERM:
//   npx ts-node agents/devnet/main.ts [--port 8081] [--state .devnet/state.json] [--snapshot-interval-ms 5000]
//                                     [--faucet-max-ton 1000] [--no-state]
// Prints one line with the JSON-RPC URL to use with TonClient or
//   npx blueprint run <script> --custom <url> --custom-version v2 --custom-type testnet --mnemonic
// Fund a wallet:  curl -s <url> -H 'content-type: application/json' \
//   -d '{"id":1,"jsonrpc":"2.0","method":"devFaucet","params":{"address":"<addr>","amount":"5000000000"}}'
// Exit status: 0 after a clean stop, 1 when the state file is unusable or the port is taken, 2 on bad flags.
import { toNano } from '@ton/core';
import { CocoonError } from '../core/errors';
import { DevnetServer } from './server';

const USAGE =
    'usage: cocoon chain serve [--port <0..65535>] [--state <file> | --no-state] [--snapshot-interval-ms <ms>] [--faucet-max-ton <TON>]';

class UsageError extends Error {}

function parseArgs(argv: string[]) {
    const out = { port: 8081, statePath: '.devnet/state.json' as string | undefined, intervalMs: 5000, faucetMax: toNano('1000') };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
        const value = () => {
            const v = inline ?? argv[++i];
            if (v === undefined || v === '') throw new UsageError(`${name}: missing value`);
            return v;
        };
        switch (name) {
            case '--port': {
                const v = value();
                if (!/^\d+$/.test(v) || Number(v) > 65535) throw new UsageError(`--port: expected 0..65535, got ${v}`);
                out.port = Number(v);
                break;
            }
            case '--state':
                out.statePath = value();
                break;
            case '--no-state':
                out.statePath = undefined;
                break;
            case '--snapshot-interval-ms': {
                const v = value();
                if (!/^\d+$/.test(v)) throw new UsageError(`--snapshot-interval-ms: expected a non-negative integer, got ${v}`);
                out.intervalMs = Number(v);
                break;
            }
            case '--faucet-max-ton': {
                const v = value();
                if (!/^\d+(\.\d{1,9})?$/.test(v) || toNano(v) === 0n) throw new UsageError(`--faucet-max-ton: expected a positive amount of TON, got ${v}`);
                out.faucetMax = toNano(v);
                break;
            }
            default:
                throw new UsageError(`unknown argument ${arg}`);
        }
    }
    return out;
}

export interface ServeIo {
    stdout: (s: string) => void;
    stderr: (s: string) => void;
}

/** `cocoon chain serve [...]`: runs until SIGINT/SIGTERM; resolves with the exit status. */
export async function chainServeCommand(argv: string[], io: ServeIo): Promise<number> {
    let args: ReturnType<typeof parseArgs>;
    try {
        if (argv.includes('--help') || argv.includes('-h')) {
            io.stdout(`${USAGE}\n`);
            return 0;
        }
        args = parseArgs(argv);
    } catch (e) {
        io.stderr(`${(e as Error).message}\n${USAGE}\n`);
        return 2;
    }
    const server = new DevnetServer({
        port: args.port,
        statePath: args.statePath,
        snapshotIntervalMs: args.intervalMs,
        faucetMaxPerRequest: args.faucetMax,
        log: (line) => io.stderr(`[devnet] ${line}\n`),
    });
    try {
        await server.start();
    } catch (e) {
        io.stderr(`[devnet] ${e instanceof CocoonError ? `${e.code}: ` : ''}${(e as Error)?.message ?? e}\n`);
        return 1;
    }
    io.stdout(`devnet JSON-RPC: ${server.url}\n`);
    return new Promise<number>((resolve) => {
        let stopping = false;
        const shutdown = (signal: string) => {
            if (stopping) return;
            stopping = true;
            io.stderr(`[devnet] ${signal}: stopping\n`);
            server.stop().then(
                () => resolve(0),
                (e) => {
                    io.stderr(`[devnet] stop failed: ${e instanceof CocoonError ? `${e.code}: ` : ''}${(e as Error).message}\n`);
                    resolve(1);
                },
            );
        };
        process.once('SIGINT', () => shutdown('SIGINT'));
        process.once('SIGTERM', () => shutdown('SIGTERM'));
    });
}

if (require.main === module) {
    chainServeCommand(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) }).then(
        (code) => process.exit(code),
        (e) => {
            process.stderr.write(`[devnet] ${(e as Error)?.message ?? e}\n`);
            process.exit(1);
        },
    );
}
