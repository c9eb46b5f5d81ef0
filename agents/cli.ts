#!/usr/bin/env node
// `cocoon` operator CLI: `npx ts-node agents/cli.ts <group> <command> [args...]`.
// Each command is a function (argv after "<group> <command>", io) -> exit status, so tests run it in-process.
// To add a command, implement it next to its module and register it in COMMANDS below. A group whose only command
// is named '' is a top-level command (`cocoon status [args...]`): it gets the argv after the group.
import { Command, CommandIo, runOnProcess } from './core/cli-io';
import { attestVerifyCommand } from './core/tee/cli';
import { attestVerifyGpuCommand } from './core/tee/gpu/cli';
import { chainServeCommand } from './devnet/main';
import { statusCommand } from './status';
import { devnetCommand } from './devnet/network';
import { clientCommand, proxyCommand, proxyEnclaveKeyCommand, walletAddressCommand, workerCommand } from './run';
import { adminCommand } from './core/admin/command';
import { modelHashCommand } from './core/model-hash';

import { PROXY_OPERATOR_USAGE, proxyOperatorCommand } from './operator/proxy';
import { WORKER_OPERATOR_USAGE, workerOperatorCommand } from './operator/worker';
import { explorerCommand } from './explorer/command';
import { keysServeCommand } from './keys/command';

export type { Command } from './core/cli-io';

/** The operator commands of a group (`cocoon proxy status`, …), each `(argv, io)` with its summary. */
function operatorEntries<K extends string>(usage: Record<K, string>, run: (sub: K, argv: string[], io: CommandIo) => Promise<number>, summary: Record<K, string>) {
    return Object.fromEntries((Object.keys(usage) as K[]).map((k) => [k, { run: (argv: string[], io: CommandIo) => run(k, argv, io), summary: summary[k] }]));
}

export const COMMANDS: Record<string, Record<string, { run: Command; summary: string }>> = {
    devnet: {
        '': { run: (argv, io) => devnetCommand(argv, io), summary: 'start a whole local network (chain, governance, proxy, worker, client endpoint) until Ctrl-C' },
    },
    proxy: {
        '': { run: (argv, io) => proxyCommand(argv, io), summary: 'run a proxy from its config file until Ctrl-C' },
        ...operatorEntries(PROXY_OPERATOR_USAGE, proxyOperatorCommand, {
            status: "the Proxy contract's stake, state, commission, pool, worker channels and close timer",
            'withdraw-commission': 'owner: take the commission and surplus (WithdrawCommission)',
            'add-stake': 'owner: add --amount TON to the stake (AddStake)',
            close: 'owner: leave Root and start the close delay (ProxyClose)',
            'finish-close': 'owner: after the delay, take stake and commission; later the rest of the pool (ProxyFinishClose)',
            evict: "owner: force a worker's channel into unbonding (EvictWorker)",
        }),
        'enclave-key': { run: proxyEnclaveKeyCommand, summary: "print the proxy's enclave key (opening or creating its sealed seed), to deploy its Proxy contract" },
        'wallet-address': { run: walletAddressCommand('proxy'), summary: "print the proxy's wallet address to fund (opening or creating its sealed wallet key)" },
    },
    worker: {
        '': { run: (argv, io) => workerCommand(argv, io), summary: 'run a worker from its config file until Ctrl-C' },
        ...operatorEntries(WORKER_OPERATOR_USAGE, workerOperatorCommand, {
            status: "this wallet's WorkerChannels: state, stake, paid, claimable, timers",
            'add-stake': 'add --amount TON to a WorkerChannel, opening it (WorkerStake)',
            unbond: 'start unbonding a WorkerChannel (StartUnbond)',
            'finish-unbond': 'after the delay, take the stake back (FinishUnbond)',
            claim: 'claim the latest signed payout (ClaimPayout)',
            close: 'leave a proxy: claim, then unbond or finish-unbond',
        }),
        'wallet-address': { run: walletAddressCommand('worker'), summary: "print the worker's wallet address to fund (opening or creating its sealed wallet key)" },
    },
    client: {
        '': { run: (argv, io) => clientCommand(argv, io), summary: 'serve the OpenAI-compatible API, or manage the ClientChannel (balance, topup, withdraw, close)' },
    },
    chain: {
        serve: { run: chainServeCommand, summary: 'run the devnet chain server (toncenter v2 on 127.0.0.1) until Ctrl-C' },
    },
    attest: {
        verify: { run: attestVerifyCommand, summary: 'verify a TDX quote against a policy and print the verdict as JSON' },
        'verify-gpu': { run: attestVerifyGpuCommand, summary: "verify an NVIDIA GPU's attestation report, chain and RIMs; print the verdict as JSON" },
    },
    status: {
        '': { run: (argv, io) => statusCommand(argv, io), summary: "show Root's config, registered proxies and given channels (--json)" },
    },
    admin: {
        '': { run: (argv, io) => adminCommand(argv, io), summary: 'change a running proxy or worker: drain, disable, coefficient, stop-accepting, settle-now, … (--config)' },
    },
    model: {
        hash: { run: modelHashCommand, summary: "compute a model directory's weights hash (the value governance registers in Root)" },
    },
    explorer: {
        '': { run: (argv, io) => explorerCommand(argv, io), summary: 'serve the web explorer and JSON API of one Root (governance, proxies, live feed) until Ctrl-C' },
    },
    keys: {
        serve: { run: (argv, io) => keysServeCommand(argv, io), summary: 'run a key service (sealed secrets for attested TDs) from its config file until Ctrl-C' },
    },
};

function usage(): string {
    const lines = ['usage: cocoon <group> <command> [args...]', ''];
    for (const [group, cmds] of Object.entries(COMMANDS)) {
        for (const [name, c] of Object.entries(cmds)) lines.push(`  ${group} ${name}`.trimEnd().padEnd(30) + c.summary);
    }
    return lines.join('\n') + '\n';
}

export async function main(argv: string[], io: CommandIo): Promise<number> {
    const [group, name, ...rest] = argv;
    const own = <T extends object>(o: T | undefined, k: string | undefined) => (o !== undefined && k !== undefined && Object.prototype.hasOwnProperty.call(o, k) ? o[k as keyof T] : undefined);
    const cmds = own(COMMANDS, group);
    // A group with a '' command (proxy, worker) runs it unless the next word names one of its other commands.
    const cmd = name !== '' && !name?.startsWith('-') ? own(cmds, name) : undefined;
    const single = cmd ? undefined : own(cmds, '');
    if (single) return single.run(argv.slice(1), io);
    if (!cmd) {
        const help = group === undefined || group === '--help' || group === '-h';
        (help ? io.stdout : io.stderr)(help ? usage() : `unknown command: ${argv.slice(0, 2).join(' ')}\n${usage()}`);
        return help ? 0 : 2;
    }
    return cmd.run(rest, io);
}

/** Runs the CLI on process.argv and sets the exit status (used by bin/cocoon and `ts-node agents/cli.ts`). */
export function runFromProcess(): void {
    runOnProcess(main, 'cocoon');
}

if (require.main === module) runFromProcess();
