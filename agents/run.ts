// Agents from their config files, and the `cocoon proxy | worker | client` commands that run them until Ctrl-C.
// The devnet (`cocoon devnet`, `npm start`) writes config files and starts its agents through these same functions,
// so what a newcomer runs is what an operator runs.
import { Address, fromNano, toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { jsonLines, Log, LOG_LEVELS, LogLevel } from './core/log';
import { AGENT_WORDING, command, CommandIo, FlagSpec, Flags, portFlag, tonFlag, UsageError, untilInterrupted } from './core/cli-io';
import { ClientConfigFile, ClientConfigSchema, clientSeedOf, gpuSourceOf, loadConfigFile, Loaded, ProxyConfigFile, ProxyConfigSchema, proxyAddressOf, teeOf, WorkerConfigFile, WorkerConfigSchema } from './config';
import { commonOf, teeSeedOf } from './common';
import { ProxyAgent } from './proxy/agent';
import { WorkerAgent } from './worker/runner';
import { CocoonClient } from './client/runner';
import { ClientError } from './client/errors';
import { OpenAIServer } from './client/server';
import { AdminHandlers, AdminServer } from './core/admin/server';
import { clientDataDir, proxyDataDir, workerDataDir } from './core/admin/command';
import { clientAdminHandlers } from './client/admin';
import { proxyAdminHandlers } from './proxy/admin';
import { workerAdminHandlers } from './worker/admin';
import type { KeyLease } from './core/keys/types';
import type { ProxyAgentOptions } from './proxy/options';

/** The agents' log as JSON lines on stderr, at `level` and above. */
export function jsonLog(io: CommandIo, agent: string, level: LogLevel = 'info'): Log {
    return jsonLines((line) => io.stderr(line), agent, level);
}

/** `--log-level <debug|info|warn|error>` (default info). */
export function logLevelFlag(v: string | undefined): LogLevel {
    if (v === undefined) return 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got ${v}`);
    return v as LogLevel;
}

const ton = (v: string | undefined) => (v === undefined ? undefined : toNano(v));

export async function proxyFromConfig(loaded: Loaded<ProxyConfigFile>, log?: Log): Promise<ProxyAgent> {
    const proxyAddress = proxyAddressOf(loaded);
    const c = await commonOf(loaded, log);
    const p = loaded.config.proxy;
    const tee = await teeOf(loaded.dir, loaded.config.tee);
    const s = await teeSeedOf(loaded, 'proxy', c, tee, log).catch(async (e) => {
        await c.walletLease?.lease.release().catch(() => undefined);
        throw e;
    });
    return newProxyAgent([s.lease, c.walletLease?.lease], {
        chain: c.chain,
        wallet: c.wallet,
        walletLease: c.walletLease,
        proxyAddress,
        seed: s.seed,
        seedLease: s.lease && { lease: s.lease, reopen: s.reopen, renewMs: s.renewMs },
        tee,
        quotePolicy: c.quotePolicy,
        gpuTrust: c.gpuTrust,
        trustClock: c.trustClock,
        ledgerPath: c.path(p.ledgerFile),
        host: p.host,
        clientPort: p.clientPort,
        workerPort: p.workerPort,
        statsPort: p.statsPort,
        redeemThreshold: ton(p.redeemThresholdTon),
        payoutThreshold: ton(p.payoutThresholdTon),
        commitIntervalMs: p.commitIntervalMs,
        commitValueThreshold: ton(p.commitValueTon),
        settleIntervalMs: p.settleIntervalMs,
        rootPollMs: p.rootPollMs,
        watchIntervalMs: p.watchIntervalMs,
        channelCheckMs: p.channelCheckMs,
        limits: p.limits,
        metricsPort: p.metricsPort,
        metricsHost: p.metricsHost,
        log,
    });
}

/** A ProxyAgent; options it refuses release the sealed seed's and wallet's leases they came with. */
async function newProxyAgent(leases: (KeyLease | undefined)[], o: ProxyAgentOptions): Promise<ProxyAgent> {
    try {
        return new ProxyAgent(o);
    } catch (e) {
        await Promise.all(leases.map((l) => l?.release().catch(() => undefined)));
        throw e;
    }
}

/**
 * The proxy's enclave public key (= the Proxy contract's enclaveKey to deploy): opens, or at first start creates, the
 * sealed seed inside the TD exactly as the proxy does, then releases its lease so the proxy can take it.
 */
export async function proxyEnclaveKey(loaded: Loaded<ProxyConfigFile>, log?: Log): Promise<{ enclaveKey: Buffer; created: boolean; source: string }> {
    const c = await commonOf(loaded, log);
    try {
        await c.walletLease?.lease.release();
        const s = await teeSeedOf(loaded, 'proxy', c, await teeOf(loaded.dir, loaded.config.tee), log);
        await s.lease?.release();
        return { enclaveKey: keyPairFromSeed(s.seed).publicKey, created: s.created ?? false, source: s.source };
    } finally {
        c.trustClock.stop();
    }
}

export const PROXY_ENCLAVE_KEY_USAGE = `usage: cocoon proxy enclave-key --config <proxy.json> [--json]
  Prints the proxy's enclave public key, the enclaveKey its Proxy contract must be deployed with. Run inside the
  proxy's TD: with sealedSeedFile it opens the sealed seed through the key service, creating and sealing a new one
  at first run, and releases the lease again (stop the proxy first: while it runs the key service refuses a second
  holder, KEYS_LEASE_HELD). proxy.address may be absent. See spec/operations.md "Seeds".`;

export function proxyEnclaveKeyCommand(argv: string[], io: CommandIo): Promise<number> {
    return agentCommand(io, PROXY_ENCLAVE_KEY_USAGE, argv, { config: 'value', json: 'switch', 'log-level': 'value' }, async (flags) => {
        const level = logLevelFlag(flags['log-level']);
        const loaded = loadConfigFile(requireConfig(flags), ProxyConfigSchema);
        const k = await proxyEnclaveKey(loaded, jsonLog(io, 'proxy', level));
        const hex = k.enclaveKey.toString('hex');
        io.stdout(flags.json ? JSON.stringify({ enclaveKey: hex, seed: k.source, created: k.created }) + '\n' : `${hex}\n`);
        return 0;
    });
}

/**
 * The address of a proxy's or worker's wallet, the one to fund: opens, or at first start creates, its sealed wallet key
 * inside the TD exactly as the agent does, then releases the lease so the agent can take it.
 */
export async function agentWalletAddress(loaded: Loaded<ProxyConfigFile | WorkerConfigFile>, log?: Log): Promise<{ address: Address; sealed: boolean; created: boolean }> {
    const c = await commonOf(loaded, log);
    try {
        await c.walletLease?.lease.release();
        return { address: c.wallet.address, sealed: c.walletLease !== undefined, created: c.walletLease?.created ?? false };
    } finally {
        c.trustClock.stop();
    }
}

const walletAddressUsage = (role: 'proxy' | 'worker') => `usage: cocoon ${role} wallet-address --config <${role}.json> [--json]
  Prints the address of the ${role}'s wallet, the one to fund. Run inside the ${role}'s TD: with
  wallet.sealedSecretKeyFile it opens the sealed wallet key through the key service, creating and sealing a new one at
  first run, and releases the lease again (stop the ${role} first: while it runs the key service refuses a second
  holder, KEYS_LEASE_HELD). See spec/operations.md "Seeds".`;

/** \`cocoon proxy|worker wallet-address\`. */
export function walletAddressCommand(role: 'proxy' | 'worker'): (argv: string[], io: CommandIo) => Promise<number> {
    return (argv, io) =>
        agentCommand(io, walletAddressUsage(role), argv, { config: 'value', json: 'switch', 'log-level': 'value' }, async (flags) => {
            const level = logLevelFlag(flags['log-level']);
            const loaded = role === 'proxy' ? loadConfigFile(requireConfig(flags), ProxyConfigSchema) : loadConfigFile(requireConfig(flags), WorkerConfigSchema);
            const w = await agentWalletAddress(loaded, jsonLog(io, role, level));
            // Raw, and non-bounceable for the first transfer to a wallet not yet deployed.
            const address = w.address.toRawString();
            const nonBounceable = w.address.toString({ urlSafe: true, bounceable: false });
            io.stdout(flags.json ? JSON.stringify({ address, nonBounceable, sealed: w.sealed, created: w.created }) + '\n' : `${address}\n`);
            return 0;
        });
}

export async function workerFromConfig(loaded: Loaded<WorkerConfigFile>, log?: Log): Promise<WorkerAgent> {
    const c = await commonOf(loaded, log);
    const w = loaded.config.worker;
    const tee = await teeOf(loaded.dir, loaded.config.tee);
    return new WorkerAgent({
        chain: c.chain,
        wallet: c.wallet,
        walletLease: c.walletLease,
        // Ephemeral unless the config names a (simulated-TEE-only) seedFile: nothing the worker keeps depends on its key.
        seed: (await teeSeedOf(loaded, 'worker', c, tee, log)).seed,
        tee,
        gpu: await gpuSourceOf(loaded.dir, loaded.config.gpu),
        quotePolicy: c.quotePolicy,
        trustClock: c.trustClock,
        models: w.models.map((m) => ({ name: m.name, coefficient: BigInt(m.coefficient), ...(m.weightsDir !== undefined ? { weightsDir: c.path(m.weightsDir) } : {}) })),
        backendUrl: w.backendUrl,
        capacity: w.capacity,
        proxies: w.proxies?.map((a) => Address.parse(a)),
        stake: ton(w.stakeTon),
        payoutThreshold: ton(w.payoutThresholdTon),
        statePath: c.path(w.stateFile),
        rootPollMs: w.rootPollMs,
        replayCacheSize: w.replayCacheSize,
        metricsPort: w.metricsPort ?? 0,
        metricsHost: w.metricsHost,
        log,
    });
}

export async function clientFromConfig(loaded: Loaded<ClientConfigFile>, log?: Log): Promise<CocoonClient> {
    const c = await commonOf(loaded, log);
    const k = loaded.config.client;
    return new CocoonClient({
        chain: c.chain,
        wallet: c.wallet,
        seed: clientSeedOf(loaded),
        quotePolicy: c.quotePolicy,
        gpuTrust: c.gpuTrust,
        trustClock: c.trustClock,
        statePath: c.path(k.stateFile),
        proxy: k.proxy === undefined ? undefined : Address.parse(k.proxy),
        privacy: k.privacy,
        maxCoefficient: k.maxCoefficient === undefined ? undefined : BigInt(k.maxCoefficient),
        deposit: ton(k.depositTon),
        maxRequestCost: ton(k.maxRequestCostTon),
        rootPollMs: k.rootPollMs,
        metricsPort: k.metricsPort ?? 0,
        metricsHost: k.metricsHost,
        failoverAfterMs: k.failoverAfterMs,
        autoTopUp: k.autoTopUp && { threshold: toNano(k.autoTopUp.thresholdTon), amount: toNano(k.autoTopUp.amountTon), budget: toNano(k.autoTopUp.budgetTon) },
        log,
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

/** Agent commands (proxy, worker, client, devnet) keep their historical wording of parse errors ("unknown argument --x",
 *  "--x: missing value"). */
export function agentCommand<S extends FlagSpec>(io: CommandIo, usage: string, argv: string[], spec: S, body: (flags: Flags<S>) => Promise<number>): Promise<number> {
    return command(io, usage, argv, spec, (flags) => body(flags), { wording: AGENT_WORDING });
}

function requireConfig(flags: { config?: string }): string {
    const f = flags.config;
    if (f === undefined) throw new UsageError('--config <file> is required');
    return f;
}

/** The agent's admin endpoint in its data directory (spec/operations.md, "Live admin"); `stopAgent` runs if it cannot start. */
export async function startAdmin(dir: string, handlers: AdminHandlers, log?: Log, stopAgent?: () => Promise<void>): Promise<AdminServer> {
    const admin = new AdminServer({ dir, handlers, log });
    try {
        await admin.start();
    } catch (e) {
        await stopAgent?.();
        throw e;
    }
    return admin;
}

export const PROXY_USAGE = `usage: cocoon proxy --config <proxy.json> [--log-level debug|info|warn|error]
  Runs a proxy until Ctrl-C: accepts attested workers and clients over RA-TLS, routes requests, keeps its ledger,
  redeems vouchers, signs payouts and commits its state on chain. Config format: spec/operations.md.
  Operator commands (each with --help): cocoon proxy status | withdraw-commission | add-stake | close | finish-close | evict`;

export function proxyCommand(argv: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
    return agentCommand(io, PROXY_USAGE, argv, { config: 'value', 'log-level': 'value' }, async (flags) => {
        const level = logLevelFlag(flags['log-level']); // a bad flag is a usage error before the config is read
        const loaded = loadConfigFile(requireConfig(flags), ProxyConfigSchema);
        const log = jsonLog(io, 'proxy', level);
        const proxy = await proxyFromConfig(loaded, log);
        const urls = await proxy.start();
        const admin = await startAdmin(proxyDataDir(loaded), proxyAdminHandlers(proxy), log, () => proxy.stop());
        io.stdout(`proxy enclave key ${proxy.stats().enclaveKey}\n`);
        io.stdout(`proxy client endpoint ${urls.clientUrl}\nproxy worker endpoint ${urls.workerUrl}\nproxy stats ${urls.statsUrl}\nproxy metrics ${urls.metricsUrl}\nproxy admin ${admin.socketPath}\n`);
        return untilInterrupted(io, async () => {
            await admin.stop();
            await proxy.stop();
        }, signal);
    });
}

export const WORKER_USAGE = `usage: cocoon worker --config <worker.json> [--log-level debug|info|warn|error]
  Runs a worker until Ctrl-C: stakes its WorkerChannel per proxy, dials the proxies listed in Root over RA-TLS,
  serves requests from its OpenAI-compatible backend, signs usage receipts and claims payouts. Config: spec/operations.md.
  Operator commands (each with --help): cocoon worker status | add-stake | unbond | finish-unbond | claim | close`;

export function workerCommand(argv: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
    return agentCommand(io, WORKER_USAGE, argv, { config: 'value', 'log-level': 'value' }, async (flags) => {
        const level = logLevelFlag(flags['log-level']); // a bad flag is a usage error before the config is read
        const loaded = loadConfigFile(requireConfig(flags), WorkerConfigSchema);
        const log = jsonLog(io, 'worker', level);
        const worker = await workerFromConfig(loaded, log);
        await worker.start();
        const admin = await startAdmin(workerDataDir(loaded), workerAdminHandlers(worker), log, () => worker.stop());
        io.stdout(`worker running\nworker metrics ${worker.opsUrl}/metrics\nworker admin ${admin.socketPath}\n`);
        return untilInterrupted(io, async () => {
            await admin.stop();
            await worker.stop();
        }, signal);
    });
}

export const CLIENT_USAGE = `usage: cocoon client [serve] --config <client.json> [--port <n>] [--log-level debug|info|warn|error]
       cocoon client balance | topup --amount <TON> | withdraw --amount <TON> [--coop] | finish-withdraw | close | finish-close --config <client.json>
  serve            open/top up the ClientChannel, connect to the proxy and serve the OpenAI-compatible API until Ctrl-C
  balance          the channel's on-chain state and the signed voucher total
  topup            add TON to the channel
  withdraw         request a withdrawal (paid after the channel's close delay by finish-withdraw); with --coop the proxy
                   co-signs an immediate one, falling back to the delayed withdrawal when it refuses or is unreachable
  close            start closing the channel; finish-close pays out the rest after the close delay`;

/** coopWithdraw failures after which `withdraw --coop` falls back on the delayed withdrawal (nothing was sent). */
const COOP_FALLBACK = new Set(['PROXY_REFUSED', 'PROXY_UNREACHABLE', 'PROXY_REJECTED', 'PROTOCOL_ERROR', 'TIMEOUT', 'NO_PROXY']);

export function clientCommand(argv: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
    const sub = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : 'serve';
    const rest = argv[0] === sub ? argv.slice(1) : argv;
    const known = { config: 'value', port: 'value', amount: 'value', json: 'switch', 'log-level': 'value', coop: 'switch' } as const;
    return agentCommand(io, CLIENT_USAGE, rest, known, async (flags) => {
        const level = logLevelFlag(flags['log-level']);
        const loaded = loadConfigFile(requireConfig(flags), ClientConfigSchema);
        const amount = () => tonFlag('amount', flags.amount);
        const client = await clientFromConfig(loaded, jsonLog(io, 'client', level));
        const show = (v: unknown) => io.stdout(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2) + '\n');
        try {
            if (sub !== 'serve') await client.attach();
            switch (sub) {
                case 'serve': {
                    await client.open();
                    await client.connect();
                    const port = flags.port === undefined ? loaded.config.client.port : portFlag('port', flags.port);
                    const server = new OpenAIServer({ client, host: loaded.config.client.host, port });
                    const { url } = await server.start();
                    const admin = await startAdmin(clientDataDir(loaded), clientAdminHandlers(client), undefined, () => server.stop());
                    io.stdout(`OpenAI-compatible endpoint: ${url}\nclient metrics ${client.opsUrl}/metrics\n`);
                    return await untilInterrupted(io, async () => {
                        await admin.stop();
                        await server.stop();
                        await client.stop();
                    }, signal);
                }
                case 'balance':
                    show(await client.balances());
                    return 0;
                case 'topup':
                    await client.topUp(amount());
                    show(await client.balances());
                    return 0;
                case 'withdraw': {
                    const a = amount();
                    if (flags.coop) {
                        try {
                            show(await client.coopWithdraw({ amount: a }));
                            io.stderr(`withdrew ${fromNano(a)} TON at once (co-signed by the proxy)\n`);
                            return 0;
                        } catch (e) {
                            if (!(e instanceof ClientError) || !COOP_FALLBACK.has(e.code)) throw e;
                            io.stderr(`the proxy did not co-sign the withdrawal (${e.wireCode ?? e.code}: ${e.message}); falling back to the delayed withdrawal\n`);
                        }
                    }
                    show(await client.withdraw(a));
                    io.stderr(`requested a withdrawal of ${fromNano(a)} TON; run finish-withdraw after the channel's close delay\n`);
                    return 0;
                }
                case 'finish-withdraw':
                    show(await client.finishWithdraw());
                    return 0;
                case 'close':
                    show(await client.close());
                    return 0;
                case 'finish-close':
                    show(await client.finishClose());
                    return 0;
                default:
                    throw new UsageError(`unknown client command ${sub}`);
            }
        } finally {
            if (sub !== 'serve') await client.stop();
        }
    });
}
