// `npm start` / `cocoon devnet`: a whole network on this machine, on 127.0.0.1 only.
//
// First run (no <dir>/network.json): start the devnet chain server, create keys and faucet-funded wallets, deploy
// Governance (three voters, zero timelock) and Root, pass one proposal that allowlists the simulated TEE image for
// proxies, workers and key services and registers the reference test model, start the key service, let the proxy
// create its sealed seed through it (`cocoon proxy enclave-key`), deploy and register a Proxy for that key, and write
// one config file per agent. Every run: start the chain server from its saved state, the local PCCS, the key service,
// the explorer, the reference backend, the proxy, the worker and the client with its OpenAI-compatible endpoint
// (each from its config file, exactly
// as `cocoon proxy|worker|client --config` would), print the endpoint and the explorer's URL, send one streaming
// request, print the reply, its receipt and the balances before and after, then serve until Ctrl-C. A second run
// resumes the saved state.
import { randomBytes } from 'crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { freePort } from '../core/net';
import { join, resolve } from 'path';
import { toNano } from '@ton/core';
import { keyPairFromSecretKey, keyPairFromSeed } from '@ton/crypto';
import { z } from 'zod';
import type { Log } from '../core/log';
import { DevnetServer } from './server';
import { ChainWallet, TonChain } from '../core/chain/chain';
import { loadChainConfig } from '../core/chain/config';
import { SimulatedTee } from '../core/tee/simulated';
import { imageHash } from '../core/tee/image';
import { LocalPccs, simulatedCollaterals, vectorCollaterals } from '../core/tee/pccs/server';
import { TDX_VECTORS } from '../../fixtures/vectors';
import { readJsonFile, writeJsonAtomic } from '../core/state-file';
import { DevnetError } from './errors';
import { CommandIo, untilInterrupted, UsageError } from '../core/cli-io';
import { demoRequest } from './demo';
import { ReferenceBackend } from '../backend/reference';
import { DEVNET_MODEL_PRICES, TEST_MODEL, testModelRecord } from '../backend/test-model';
import { DEFAULT_GOV_PARAMS, GovernanceWrapper } from '../../wrappers/Governance';
import { DEFAULT_PARAMS, RootWrapper } from '../../wrappers/Root';
import { ProxyWrapper } from '../../wrappers/Proxy';
import { toUint256 } from '../../wrappers/payloads';
import { FeeSimple } from '../../wrappers/fees';
import { ClientConfigSchema, loadConfigFile, ProxyConfigSchema, WorkerConfigSchema } from '../config';
import { agentCommand, clientFromConfig, jsonLog, logLevelFlag, proxyFromConfig, startAdmin, workerFromConfig } from '../run';
import { DEVNET_RENEW_SECONDS, LEGACY_PROXY_SEED, LEGACY_PROXY_WALLET, openDevnetProxyKeys, PROXY_SEALED_SEED, PROXY_SEALED_WALLET, proxySeedIsSealed, proxyWalletIsSealed, startDevnetKeyService } from './keys';
import { proxyAdminHandlers } from '../proxy/admin';
import { clientDataDir, workerDataDir } from '../core/admin/command';
import { clientAdminHandlers } from '../client/admin';
import { workerAdminHandlers } from '../worker/admin';
import { OpenAIServer } from '../client/server';
import type { ProxyAgent } from '../proxy/agent';
import type { WorkerAgent } from '../worker/runner';
import type { CocoonClient } from '../client/runner';
import { ExplorerServer } from '../explorer/server';

/**
 * The test model as the devnet registers it: at DEVNET_MODEL_PRICES (100 TON per 1M prompt tokens, see there), with
 * GPU evidence required, so every devnet request runs the GPU evidence path (the worker's simulated GPU, gpu.json).
 */
export const DEVNET_MODEL = { ...testModelRecord(DEVNET_MODEL_PRICES), requireGpu: true };

const NetworkFile = z
    .object({
        format: z.literal('cocoon-devnet/1'),
        root: z.string(),
        governance: z.string(),
        proxy: z.string(),
        ports: z
            .object({
                chain: z.number().int(),
                api: z.number().int(),
                backend: z.number().int(),
                proxyClient: z.number().int(),
                proxyWorker: z.number().int(),
                proxyStats: z.number().int(),
                pccs: z.number().int().optional(),
                // Optional: a network.json written before sealed seeds gets one at its next start.
                keys: z.number().int().optional(),
                // Optional: a network.json written before the explorer existed gets one at its next start.
                explorer: z.number().int().optional(),
            })
            .strict(),
    })
    .strict();
type NetworkState = z.infer<typeof NetworkFile>;

export interface DevnetOptions {
    dir: string;
    /** Ports for a first run (0 = any free one); a resumed network keeps the ports it was created with. */
    apiPort?: number;
    chainPort?: number;
    /** Send the demo request (default true). */
    demo?: boolean;
    io: CommandIo;
    /** Per-token delay of the reference backend, so the demo visibly streams (default 40 ms). */
    tokenDelayMs?: number;
    /** Agent log sink (default: none; `--verbose` logs JSON lines to stderr). */
    log?: Log;
    /**
     * The devnet chain's clock, ms (default Date.now); its local PCCS signs collateral by it too. Tests run it apart
     * from this machine's clock: the agents judge evidence by chain time (spec/attestation.md "Clock of trust").
     */
    chainClock?: () => number;
}

export interface RunningDevnet {
    endpoint: string;
    chainUrl: string;
    state: NetworkState;
    devnet: DevnetServer;
    backend: ReferenceBackend;
    proxy: ProxyAgent;
    worker: WorkerAgent;
    client: CocoonClient;
    api: OpenAIServer;
    /** The explorer's web pages and JSON API over this chain (`cocoon explorer`). */
    explorerUrl: string;
    /** The key service the proxy's seed is sealed through (none in a devnet from before sealed seeds). */
    keyService?: { url: string; stop(): Promise<void> };
    stop(): Promise<void>;
}

/**
 * Governance's voters, one wallet each (weight 1): two of three pass a proposal (quorum and majority 50 %), so a
 * proposal stays open after its proposer's own vote and a second voter has something to do. `governance` also deploys
 * Governance and Root and is Root's treasury.
 */
export const VOTER_ROLES = ['governance', 'governance-2', 'governance-3'] as const;

const portOr = async (p: number | undefined) => (p === undefined || p === 0 ? freePort() : p);

function writeSecret(path: string, text: string): void {
    if (!existsSync(path)) writeFileSync(path, text + '\n', { mode: 0o600 });
}

/**
 * Creates every key file once: the client's seed (32 bytes) and wallet secret keys (64 bytes), hex. The proxy's seed
 * and wallet key are sealed (keys/proxy*.sealed, through the key service), the worker's seed is ephemeral.
 */
function ensureKeys(dir: string): void {
    const keys = join(dir, 'keys');
    mkdirSync(keys, { recursive: true });
    writeSecret(join(keys, 'client.seed'), randomBytes(32).toString('hex'));
    for (const role of [...VOTER_ROLES, 'proxy-owner', 'worker-wallet', 'client-wallet']) {
        writeSecret(join(keys, `${role}.wallet`), Buffer.from(keyPairFromSeed(randomBytes(32)).secretKey).toString('hex'));
    }
}

const readHex = (path: string) => Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');

function chainSection(url: string, root?: string) {
    // Root's config is refreshed by each agent's poll (rootPollMs); the cache TTL only bounds staleness between polls.
    return { endpoint: url, ...(root ? { rootAddress: root } : {}), rps: 1000, maxRetries: 3, cacheTtlMs: 30_000, sendPollMs: 100, sendTimeoutMs: 60_000 };
}

/** Starts (or resumes) the devnet network; the caller stops it. */
export async function startDevnet(opts: DevnetOptions): Promise<RunningDevnet> {
    const dir = resolve(opts.dir);
    const say = (s: string) => opts.io.stdout(`${s}\n`);
    mkdirSync(dir, { recursive: true });
    const networkPath = join(dir, 'network.json');
    const existing = readJsonFile(networkPath);
    let state: NetworkState | undefined;
    if (existing !== undefined) {
        const r = NetworkFile.safeParse(existing);
        if (!r.success) throw new DevnetError('DEVNET_STATE_CORRUPT', `${networkPath} is not a devnet network file (${r.error.issues[0].message}); remove ${dir} to start over`);
        state = r.data;
    }
    const fresh = state === undefined;
    say(fresh ? `• creating a new devnet in ${dir}` : `• resuming the devnet in ${dir}`);
    ensureKeys(dir);
    const ports = state?.ports ?? {
        chain: await portOr(opts.chainPort),
        api: await portOr(opts.apiPort),
        backend: await freePort(),
        proxyClient: await freePort(),
        proxyWorker: await freePort(),
        proxyStats: await freePort(),
        pccs: await freePort(),
        explorer: await freePort(),
        keys: await freePort(),
    };
    for (const k of ['explorer', 'keys'] as const) {
        if (state !== undefined && state.ports[k] === undefined) {
            state = { ...state, ports: { ...state.ports, [k]: await freePort() } };
            writeJsonAtomic(networkPath, state);
        }
    }

    const chainClock = opts.chainClock ?? Date.now;
    const devnet = new DevnetServer({ port: ports.chain, statePath: join(dir, 'chain-state.json'), snapshotIntervalMs: 2000, clock: chainClock });
    await devnet.start();
    const stops: (() => Promise<void>)[] = [() => devnet.stop()];
    const stopAll = async () => {
        for (const s of stops.reverse()) await s().catch(() => undefined);
    };
    try {
        say(`• chain server (toncenter v2) at ${devnet.url}`);
        const tee = await SimulatedTee.loadOrCreate(join(dir, 'tee.json'));
        const image = BigInt('0x' + imageHash(tee.measurements).toString('hex'));
        const netPorts = state?.ports ?? ports;
        // The agents fetch collateral from a local PCCS (spec/attestation.md "Live collateral"), as in production.
        if (netPorts.pccs !== undefined) {
            const pccs = new LocalPccs({ mounts: { simulated: simulatedCollaterals(tee, () => new Date(chainClock())), intel: vectorCollaterals(TDX_VECTORS) }, port: netPorts.pccs });
            await pccs.start();
            stops.push(() => pccs.stop());
            say(`• local PCCS (simulated platform, Intel vectors) at ${pccs.url}`);
        }
        // The key service the proxy's sealed seed is opened through (a devnet from before sealed seeds has none).
        let keyService: RunningDevnet['keyService'];
        const startKeys = async (root: string) => {
            if (!proxySeedIsSealed(dir)) {
                say(`! this devnet was created before sealed seeds: its proxy keeps the plaintext ${LEGACY_PROXY_SEED} (simulated TEE only); remove ${dir} to start over with a sealed seed`);
                return;
            }
            const keys = await startDevnetKeyService({ dir, chain: chainSection(devnet.url, root), port: netPorts.keys!, trust: trustSection(netPorts), log: opts.log });
            stops.push(() => keys.stop());
            keyService = keys;
            say(`• key service (sealed secrets, 'keys' image) at ${keys.url}`);
        };

        if (fresh) {
            state = await deploy(dir, devnet, image, ports, say, async (root) => {
                await startKeys(root);
                writeConfigs(dir, devnet.url, { root, ports });
                return openDevnetProxyKeys(dir, (wallet) => devnet.faucet(wallet, toNano('20')), opts.log);
            });
        } else await startKeys(state!.root);
        const net = state!;
        writeConfigs(dir, devnet.url, net);

        const explorer = new ExplorerServer({ chain: loadChainConfig(chainSection(devnet.url, net.root), {}), network: 'devnet', port: net.ports.explorer, log: opts.log });
        const { url: explorerUrl } = await explorer.start();
        stops.push(() => explorer.stop());
        say(`• explorer at ${explorerUrl}`);

        // On a fixed port, so worker.json (written once; an operator may point it elsewhere) stays valid across runs.
        const backend = new ReferenceBackend({ port: net.ports.backend, tokenDelayMs: opts.tokenDelayMs ?? 40 });
        await backend.start();
        stops.push(() => backend.stop());
        say(`• reference backend (test model ${TEST_MODEL.id}, not a language model) at ${backend.url}`);

        const proxy = await proxyFromConfig(loadConfigFile(join(dir, 'proxy.json'), ProxyConfigSchema), opts.log);
        const urls = await proxy.start();
        stops.push(() => proxy.stop());
        const proxyAdmin = await startAdmin(join(dir, 'proxy'), proxyAdminHandlers(proxy), opts.log);
        stops.push(() => proxyAdmin.stop());
        say(`• proxy ${net.proxy}: clients ${urls.clientUrl}, workers ${urls.workerUrl}, stats ${urls.statsUrl}`);
        say(`  proxy metrics ${urls.metricsUrl} (also /healthz, /readyz, /stats)`);

        const workerConfig = loadConfigFile(join(dir, 'worker.json'), WorkerConfigSchema);
        const worker = await workerFromConfig(workerConfig, opts.log);
        say('• worker: staking its WorkerChannel if needed and connecting to the proxy over RA-TLS');
        await worker.start();
        stops.push(() => worker.stop());
        say(`  worker metrics ${worker.opsUrl}/metrics`);
        const workerAdmin = await startAdmin(workerDataDir(workerConfig), workerAdminHandlers(worker), opts.log);
        stops.push(() => workerAdmin.stop());

        const clientConfig = loadConfigFile(join(dir, 'client.json'), ClientConfigSchema);
        const client = await clientFromConfig(clientConfig, opts.log);
        say('• client: opening its ClientChannel (topping it up to 2 TON if needed) and verifying the proxy attestation');
        await client.open();
        await client.connect();
        stops.push(() => client.stop());
        say(`  client metrics ${client.opsUrl}/metrics`);
        const clientAdmin = await startAdmin(clientDataDir(clientConfig), clientAdminHandlers(client), opts.log);
        stops.push(() => clientAdmin.stop());
        const api = new OpenAIServer({ client, port: net.ports.api });
        const { url } = await api.start();
        stops.push(() => api.stop());
        say(`\nOpenAI-compatible endpoint: ${url}\nExplorer: ${explorerUrl}\n`);
        return { endpoint: url, chainUrl: devnet.url, state: net, devnet, backend, proxy, worker, client, api, explorerUrl, keyService, stop: stopAll };
    } catch (e) {
        await stopAll();
        throw e;
    }
}

/** What every devnet part trusts: the simulated platform, with its collateral from the local PCCS. */
const trustSection = (ports: NetworkState['ports']) => ({
    simulatedTeeFile: 'tee.json',
    gpu: { simulatedGpuFile: 'gpu.json' },
    ...(ports.pccs !== undefined ? { pccsUrl: `http://127.0.0.1:${ports.pccs}/simulated`, collateralCacheDir: 'collateral' } : {}),
});

/** Writes the three agent config files (idempotent); before the Proxy is deployed, proxy.json names no address. */
function writeConfigs(dir: string, chainUrl: string, net: Pick<NetworkState, 'root' | 'ports'> & { proxy?: string }): void {
    const trust = trustSection(net.ports);
    const tee = { provider: 'simulated', stateFile: 'tee.json' };
    const chain = chainSection(chainUrl, net.root);
    const seed = proxySeedIsSealed(dir)
        ? { sealedSeedFile: PROXY_SEALED_SEED, keyService: { url: `https://127.0.0.1:${net.ports.keys}`, renewSeconds: DEVNET_RENEW_SECONDS, waitStartingSeconds: 30 } }
        : { seedFile: LEGACY_PROXY_SEED };
    writeJsonAtomic(join(dir, 'proxy.json'), {
        chain,
        ...seed,
        wallet: proxyWalletIsSealed(dir) ? { sealedSecretKeyFile: PROXY_SEALED_WALLET } : { secretKeyFile: LEGACY_PROXY_WALLET },
        trust,
        tee,
        proxy: {
            ...(net.proxy !== undefined ? { address: net.proxy } : {}),
            ledgerFile: 'proxy/ledger.sqlite',
            clientPort: net.ports.proxyClient,
            workerPort: net.ports.proxyWorker,
            statsPort: net.ports.proxyStats,
            redeemThresholdTon: '0.001',
            payoutThresholdTon: '0.001',
            commitIntervalMs: 10_000,
            settleIntervalMs: 5_000,
            rootPollMs: 2000,
            ownerWallet: { secretKeyFile: 'keys/proxy-owner.wallet' },
        },
    });
    if (!existsSync(join(dir, 'worker.json'))) {
        // No seedFile: the worker's seed is ephemeral, a new attested key at every start.
        writeJsonAtomic(join(dir, 'worker.json'), {
            chain,
            wallet: { secretKeyFile: 'keys/worker-wallet.wallet' },
            trust,
            tee,
            gpu: { evidence: 'simulated', stateFile: 'gpu.json' },
            worker: {
                models: [{ name: TEST_MODEL.id, coefficient: 1000 }],
                backendUrl: `http://127.0.0.1:${net.ports.backend}`,
                capacity: 64,
                payoutThresholdTon: '0.001',
                stateFile: 'worker/payouts.json',
                rootPollMs: 2000,
            },
        });
    }
    writeJsonAtomic(join(dir, 'client.json'), {
        chain,
        seedFile: 'keys/client.seed',
        wallet: { secretKeyFile: 'keys/client-wallet.wallet' },
        trust,
        client: { proxy: net.proxy, stateFile: 'client/state.json', depositTon: '2', port: net.ports.api, rootPollMs: 2000 },
    });
}

/** First run: wallets, Governance, Root, the proposal, and the Proxy contract for the key `enclaveKey` reports. */
async function deploy(
    dir: string,
    devnet: DevnetServer,
    image: bigint,
    ports: NetworkState['ports'],
    say: (s: string) => void,
    enclaveKeyOf: (root: string) => Promise<Buffer>,
): Promise<NetworkState> {
    const chainConfig = loadChainConfig(chainSection(devnet.url), {});
    const wallet = (role: string) => new TonChain({ config: chainConfig }).wallet(keyPairFromSecretKey(readHex(join(dir, 'keys', `${role}.wallet`))));
    const chain = new TonChain({ config: chainConfig });
    const faucet = (w: ChainWallet, amount: string) => devnet.faucet(w.address, toNano(amount));
    const [voter, ...others] = VOTER_ROLES.map(wallet);
    const owner = wallet('proxy-owner');
    say('• funding wallets from the dev faucet');
    await faucet(voter, '50');
    for (const w of others) await faucet(w, '10');
    await faucet(owner, '50');
    await faucet(wallet('worker-wallet'), '20');
    await faucet(wallet('client-wallet'), '20');

    say('• deploying Governance (three voters of weight 1, no timelock) and Root');
    const voters = [voter, ...others].map((w) => ({ address: w.address, weight: 1n }));
    const gov = chain.open(await GovernanceWrapper.create(voters, { ...DEFAULT_GOV_PARAMS, timelock: 0n }));
    await gov.sendFund(voter.sender(), toNano('2'));
    // At these prices a request's worst case (a full context of prompt) is ~0.63 TON at 1.5x, and the proxy holds it
    // against the credit window (spec/proxy.md, "Admission"): a 2 TON window serves a few concurrent requests.
    const params = { ...DEFAULT_PARAMS, creditWindow: toNano('2') };
    const root = chain.open(await RootWrapper.create({ governance: gov.address, treasury: voter.address, params }));
    await root.sendDeploy(voter.sender());

    say('• proposal 0: allowlist the simulated TEE image (proxy, worker, key service), register the test model; a second vote; executing it');
    // Root's governance receivers send at most one notice: the owner/admin threshold, as RootWrapper.sendAction uses.
    const v = FeeSimple;
    await gov.sendPropose(voter.sender(), [
        { to: root.address, value: v, body: RootWrapper.addImageBody('proxy', image) },
        { to: root.address, value: v, body: RootWrapper.addImageBody('worker', image) },
        { to: root.address, value: v, body: RootWrapper.addImageBody('keys', image) },
        { to: root.address, value: v, body: RootWrapper.registerModelBody(DEVNET_MODEL) },
    ]);
    await gov.sendVote(others[0].sender(), 0n, true);
    await gov.sendExecute(voter.sender(), 0n);
    if (!(await root.getIsWorkerImageAllowed(image)) || !(await root.getIsKeyImageAllowed(image)) || (await root.getModelByName(TEST_MODEL.id)) === null) {
        throw new DevnetError('DEVNET_DEPLOY', 'the governance proposal did not take effect');
    }

    const enclaveKey = toUint256(await enclaveKeyOf(root.address.toString()));
    say(`• the proxy's enclave key (its seed sealed in ${PROXY_SEALED_SEED}): ${enclaveKey.toString(16).padStart(64, '0')}`);
    say('• deploying the Proxy contract for it and registering it in Root (10 TON stake)');
    const codes = await root.getChildCode();
    const proxy = chain.open(await ProxyWrapper.create({ root: root.address, owner: owner.address, enclaveKey, workerCode: codes.workerCode, proxyCode: codes.proxyCode }));
    await proxy.sendRegister(owner.sender(), {
        stake: toNano('10'),
        clientEndpoint: `wss://127.0.0.1:${ports.proxyClient}/`,
        workerEndpoint: `wss://127.0.0.1:${ports.proxyWorker}/`,
    });
    if (!(await proxy.getProxyState()).registered) throw new DevnetError('DEVNET_DEPLOY', 'the Proxy did not register');
    const state: NetworkState = { format: 'cocoon-devnet/1', root: root.address.toString(), governance: gov.address.toString(), proxy: proxy.address.toString(), ports };
    writeJsonAtomic(join(dir, 'network.json'), state);
    await devnet.save();
    return state;
}

export const DEVNET_USAGE = `usage: cocoon devnet [--dir .devnet] [--port <api port>] [--chain-port <port>] [--no-demo] [--verbose] [--log-level <level>]
  Starts a whole network on 127.0.0.1: the devnet chain server, Governance and Root with the reference test model
  and allowlisted simulated TEE images, the explorer (web pages and JSON API over the chain), a key service, a proxy
  (its seed sealed through the key service in <dir>/keys/proxy.sealed), a worker (an ephemeral seed) on
  the reference backend and a client with an OpenAI-compatible endpoint; sends one streaming request; serves until Ctrl-C. A second run resumes <dir>.
  Remove <dir> to start over.`;

export function devnetCommand(argv: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
    const known = { dir: 'value', port: 'value', 'chain-port': 'value', 'no-demo': 'switch', verbose: 'switch', 'log-level': 'value' } as const;
    return agentCommand(io, DEVNET_USAGE, argv, known, async (flags) => {
        const port = (name: 'port' | 'chain-port') => {
            const v = flags[name];
            if (v === undefined) return undefined;
            if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) > 65535) throw new UsageError(`--${name}: expected 0..65535`);
            return Number(v);
        };
        const dir = typeof flags.dir === 'string' ? flags.dir : '.devnet';
        const apiPort = port('port');
        const chainPort = port('chain-port');
        // --verbose or --log-level: the agents' JSON lines on stderr (--verbose alone: from debug on).
        const level = flags['log-level'] !== undefined ? logLevelFlag(flags['log-level']) : flags.verbose ? 'debug' : undefined;
        const run = await startDevnet({ dir, apiPort, chainPort, io, log: level ? jsonLog(io, 'devnet', level) : undefined });
        if (!flags['no-demo']) {
            try {
                await demoRequest(run, io);
            } catch (e) {
                await run.stop();
                throw e;
            }
        }
        io.stdout(`\nServing. Try:\n  curl ${run.endpoint}/models\n  curl ${run.endpoint}/chat/completions -H 'content-type: application/json' \\\n    -d '{"model":"${TEST_MODEL.id}","messages":[{"role":"user","content":"hi"}]}'\n  open ${run.explorerUrl} in a browser (the explorer and the governance page)\nPress Ctrl-C to stop (state is kept in ${resolve(dir)}).\n`);
        return untilInterrupted(io, () => run.stop(), signal);
    });
}
