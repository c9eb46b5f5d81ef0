// Config files for the operator commands on a money stack's devnet, written as an operator would have them (the
// agents' own format, agents/config.ts), and an in-process `cocoon` runner that captures the output.
import { writeFileSync } from 'fs';
import { join } from 'path';
import { Address } from '@ton/core';
import { main } from '../../../agents/cli';
import type { MoneyStack } from '../../helpers/money-stack';

export function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

/** Runs `cocoon …` in-process: its exit status, stdout, stderr and stdout parsed as JSON when it is. */
export async function cocoon(...argv: string[]) {
    const c = capture();
    const status = await main(argv, c.io);
    let json: Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
        json = JSON.parse(c.out());
    } catch {
        json = undefined;
    }
    return { status, out: c.out(), err: c.err(), json };
}

const hex = (b: Buffer) => b.toString('hex');

/** Writes a secret file in the stack's directory and returns its name. */
export function secret(stack: MoneyStack, name: string, key: Buffer): string {
    writeFileSync(join(stack.dir, name), hex(key), { mode: 0o600 });
    return name;
}

/** A proxy config (the proxy agent's format) sending from `walletKey`, with `ownerKey` as proxy.ownerWallet when given. */
export function proxyConfig(stack: MoneyStack, file: string, o: { walletKey: Buffer; ownerKey?: Buffer; endpoint?: string; proxy?: Address }): string {
    const cfg = {
        ...common(stack, file, o.walletKey, o.endpoint),
        tee: { provider: 'simulated', stateFile: 'op-tee.json' },
        proxy: {
            address: (o.proxy ?? stack.proxyAddress).toString(),
            ledgerFile: 'ledger.sqlite',
            ...(o.ownerKey ? { ownerWallet: { secretKeyFile: secret(stack, `${file}.owner`, o.ownerKey) } } : {}),
        },
    };
    const path = join(stack.dir, file);
    writeFileSync(path, JSON.stringify(cfg));
    return path;
}

/** A worker config (the worker agent's format) for the wallet `walletKey`, its payouts in `stateFile`. */
export function workerConfig(stack: MoneyStack, file: string, o: { walletKey: Buffer; stateFile: string; proxies?: Address[] }): string {
    const cfg = {
        ...common(stack, file, o.walletKey),
        tee: { provider: 'simulated', stateFile: 'op-tee.json' },
        worker: {
            models: [{ name: 'm', coefficient: 1000 }],
            backendUrl: stack.backend.url,
            capacity: 1,
            stateFile: o.stateFile,
            proxies: (o.proxies ?? [stack.proxyAddress]).map((a) => a.toString()),
        },
    };
    const path = join(stack.dir, file);
    writeFileSync(path, JSON.stringify(cfg));
    return path;
}

function common(stack: MoneyStack, file: string, walletKey: Buffer, endpoint?: string) {
    writeFileSync(join(stack.dir, `${file}.seed`), 'ab'.repeat(32));
    return {
        chain: { endpoint: endpoint ?? stack.net.devnet.url, rootAddress: stack.net.root.toString(), rps: 10_000, maxRetries: 0, cacheTtlMs: 0, sendPollMs: 20, sendTimeoutMs: 30_000 },
        seedFile: `${file}.seed`,
        wallet: { secretKeyFile: secret(stack, `${file}.wallet`, walletKey) },
        trust: { simulatedTeeFile: 'op-tee.json' },
    };
}
