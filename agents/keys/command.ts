// `cocoon keys serve --config <keys.json> [--peer <url>]... [--state <file>]`: runs a key service until Ctrl-C
// (spec/attestation.md "Sealed secrets"; spec/operations.md names the config keys).
import { resolve } from 'path';
import { TonChain } from '../core/chain/chain';
import { ConfigError } from '../core/chain/errors';
import { stopTrustTimers } from '../core/chain/trust-clock';
import { CommandIo, UsageError, untilInterrupted } from '../core/cli-io';
import { chainConfigOf, KeysConfigFile, KeysConfigSchema, Loaded, loadConfigFile, teeOf, trustOf } from '../config';
import { trustClockOf } from '../common';
import { Log } from '../core/log';
import { agentCommand, jsonLog, logLevelFlag } from '../run';
import { KeyService } from './service';

export const KEYS_USAGE = `usage: cocoon keys serve --config <keys.json> [--peer <https-url>]... [--state <file>] [--log-level debug|info|warn|error]
  --peer    fetch the master from this live replica (its image must be on Root's 'keys' list); repeatable
  --state   simulated TEE only: keep the master in this file, encrypted under the simulated platform's key`;

/** A key service from its config; flags add peers and name the state file. */
export async function keyServiceFromConfig(loaded: Loaded<KeysConfigFile>, extra: { peers?: string[]; stateFile?: string } = {}, log?: Log): Promise<{ service: KeyService; stop(): Promise<void> }> {
    const c = loaded.config;
    const chainConfig = chainConfigOf(loaded);
    if (!chainConfig.rootAddress) throw new ConfigError('chain.rootAddress', "required: Root's allowlists say who may ask");
    const chain = new TonChain({ config: chainConfig });
    const trustClock = trustClockOf(chain, c.trustClock, log);
    await trustClock.start();
    let quotePolicy: Awaited<ReturnType<typeof trustOf>> | undefined;
    try {
        const state = extra.stateFile ?? c.keys.stateFile;
        quotePolicy = await trustOf(loaded.dir, c.trust, log, () => trustClock.date());
        const service = await KeyService.start({
            tee: await teeOf(loaded.dir, c.tee),
            quotePolicy,
            chain,
            clock: trustClock,
            host: c.keys.host,
            port: c.keys.port,
            stateFile: state === undefined ? undefined : extra.stateFile !== undefined ? resolve(state) : resolve(loaded.dir, state),
            peers: [...(c.keys.peers ?? []), ...(extra.peers ?? [])],
            leaseMs: c.keys.leaseSeconds === undefined ? undefined : c.keys.leaseSeconds * 1000,
            maxLeases: c.keys.maxLeases,
            log,
        });
        return {
            service,
            async stop() {
                await service.stop();
                stopTrustTimers(trustClock, quotePolicy); // the clock of trust and live collateral: no timer left
            },
        };
    } catch (e) {
        stopTrustTimers(trustClock, quotePolicy);
        throw e;
    }
}

/** `cocoon keys serve` (argv after "keys serve"). */
export function keysServeCommand(argv: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
    return agentCommand(io, KEYS_USAGE, argv, { config: 'value', peer: 'list', state: 'value', 'log-level': 'value' }, async (flags) => {
        const level = logLevelFlag(flags['log-level']);
        if (flags.config === undefined) throw new UsageError('--config <file> is required');
        for (const p of flags.peer ?? []) if (!/^https:\/\/[^\s]+$/.test(p)) throw new UsageError(`--peer: expected an https URL, got ${p}`);
        const loaded = loadConfigFile(flags.config, KeysConfigSchema);
        const log = jsonLog(io, 'keys', level);
        const k = await keyServiceFromConfig(loaded, { peers: flags.peer, stateFile: flags.state }, log);
        io.stdout(`key service running\nkey service ${k.service.url}\nservice id ${k.service.serviceId}\n`);
        return untilInterrupted(io, () => k.stop(), signal);
    });
}
