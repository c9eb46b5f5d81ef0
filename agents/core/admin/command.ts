// `cocoon admin <command> --config <agent.json>` (spec/operations.md, "Live admin"): finds the running agent's admin
// socket and token in its data directory (the directory of the proxy's ledgerFile, of the worker's or client's stateFile), calls
// the command and prints its result as JSON. The same data directory is where run.ts starts the admin server.
import { readFileSync } from 'fs';
import { request } from 'http';
import { dirname, join, resolve } from 'path';
import { command, CommandIo, UsageError } from '../cli-io';
import { CocoonError } from '../errors';
import { ClientConfigFile, ClientConfigSchema, loadConfigFile, Loaded, ProxyConfigFile, ProxyConfigSchema, WorkerConfigFile, WorkerConfigSchema } from '../../config';
import { ADMIN_SOCKET, ADMIN_TOKEN, AdminArgs, AdminError } from './server';

/** The proxy's data directory: its ledger's. */
export const proxyDataDir = (l: Loaded<ProxyConfigFile>) => dirname(resolve(l.dir, l.config.proxy.ledgerFile));
/** The worker's data directory: its state file's. */
export const workerDataDir = (l: Loaded<WorkerConfigFile>) => dirname(resolve(l.dir, l.config.worker.stateFile));

/** The client's data directory: its state file's. */
export const clientDataDir = (l: Loaded<ClientConfigFile>) => dirname(resolve(l.dir, l.config.client.stateFile));

/** The admin directory the config file names, by the agent it configures. */
export function adminDirOf(configPath: string): string {
    let raw: unknown;
    try {
        raw = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch {
        raw = undefined; // loadConfigFile below says what is wrong
    }
    const has = (k: string) => typeof raw === 'object' && raw !== null && k in raw;
    if (has('proxy')) return proxyDataDir(loadConfigFile(configPath, ProxyConfigSchema));
    if (has('worker')) return workerDataDir(loadConfigFile(configPath, WorkerConfigSchema));
    if (has('client')) return clientDataDir(loadConfigFile(configPath, ClientConfigSchema));
    return workerDataDir(loadConfigFile(configPath, WorkerConfigSchema));
}

export interface AdminResponse {
    status: number;
    body: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };
}

/** One HTTP request to an admin socket (tests use it to send what `cocoon admin` never would). */
export function adminRequest(socketPath: string, o: { path: string; method?: string; token?: string; body?: string | Buffer; headers?: Record<string, string> }): Promise<AdminResponse> {
    return new Promise((resolvePromise, reject) => {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers };
        const req = request({ socketPath, path: o.path, method: o.method ?? 'POST', headers }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (b: Buffer) => parts.push(b));
            res.on('end', () => {
                try {
                    resolvePromise({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) });
                } catch (e) {
                    reject(new AdminError('ADMIN_FAILED', `the agent answered ${res.statusCode} without a JSON body`));
                }
            });
            res.on('error', reject);
        });
        req.on('error', (e: NodeJS.ErrnoException) => {
            if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new AdminError('ADMIN_UNREACHABLE', `no agent listens on ${socketPath} (is it running?)`));
            // The server answers a refused request before reading its body, then closes: its answer may still be on the way.
            else if (e.code === 'EPIPE' || e.code === 'ECONNRESET') setTimeout(() => reject(e), 500).unref();
            else reject(e);
        });
        req.end(o.body);
    });
}

/** Calls `cmd` on the agent whose admin directory is `dir`; its result, or its error as a typed error. */
export async function adminCall(dir: string, cmd: string, args: AdminArgs = {}): Promise<unknown> {
    let token: string;
    try {
        token = readFileSync(join(dir, ADMIN_TOKEN), 'utf8').trim();
    } catch (e) {
        throw new AdminError('ADMIN_UNREACHABLE', `cannot read ${join(dir, ADMIN_TOKEN)} (is the agent running, and are you its user?): ${(e as Error).message}`);
    }
    const res = await adminRequest(join(dir, ADMIN_SOCKET), { path: `/${cmd}`, token, body: JSON.stringify(args) });
    if (res.body.ok) return res.body.result;
    throw new CocoonError(res.body.error.code, res.body.error.message, res.body.error.details);
}

export const ADMIN_USAGE = `usage: cocoon admin <command> --config <agent.json> [--model <name>] [--value <n>] [--timeout-ms <n>]
  Changes a running proxy or worker without a restart, over its admin socket (<data dir>/admin.sock, token in
  <data dir>/admin.token, both 0600; the data dir holds the proxy's ledgerFile, the worker's or the client's stateFile).
  worker:  status | drain [--timeout-ms N] | disable [--model M] | enable [--model M] | coefficient --model M --value N
  proxy:   status | stop-accepting | resume | settle-now | commit-now | reload
  client:  status (while \`cocoon client serve\` runs)
  Prints the command's result as JSON. Commands and errors: spec/operations.md, "Live admin".`;

export function adminCommand(argv: string[], io: CommandIo): Promise<number> {
    const spec = { config: 'value', model: 'value', value: 'value', 'timeout-ms': 'value' } as const;
    return command(
        io,
        ADMIN_USAGE,
        argv,
        spec,
        async (flags, positional) => {
            if (positional.length !== 1) throw new UsageError(positional.length === 0 ? 'name a command' : `one command at a time, got ${positional.join(' ')}`);
            if (flags.config === undefined) throw new UsageError('--config <file> is required');
            const args: AdminArgs = {};
            if (flags.model !== undefined) args.model = flags.model;
            if (flags.value !== undefined) args.value = flags.value;
            if (flags['timeout-ms'] !== undefined) {
                if (!/^\d{1,10}$/.test(flags['timeout-ms'])) throw new UsageError(`--timeout-ms: expected milliseconds, got ${flags['timeout-ms']}`);
                args.timeoutMs = Number(flags['timeout-ms']);
            }
            const result = await adminCall(adminDirOf(flags.config), positional[0], args);
            io.stdout(JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
            return 0;
        },
        { positional: true, prefix: 'cocoon admin: ' },
    );
}
