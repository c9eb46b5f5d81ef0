// The one helper every `cocoon` subcommand is written with: where output goes (`CommandIo`), the one `UsageError`,
// the one flag parser and the one wrapper that turns a command body into an exit status. Exit status everywhere:
// 0 ok, 1 a failure (typed errors print `<CODE>: <message>`), 2 a bad command line (message, then the usage).
// Commands take (argv, io) and return their status, so tests run them in-process with buffers as io.
import { toNano } from '@ton/core';
import { CocoonError } from './errors';

/** Output sinks of a CLI command (process streams in production, buffers in tests). */
export interface CommandIo {
    stdout(text: string): void;
    stderr(text: string): void;
}

/** A command: argv after its name, io -> exit status. */
export type Command = (argv: string[], io: CommandIo) => Promise<number>;

/** The process's own streams. */
export const processIo: CommandIo = { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) };

/** A bad command line: the command prints it with its usage and exits with status 2. */
export class UsageError extends Error {}

/** 'value': `--name v` or `--name=v`, last one wins; 'list': repeatable value; 'switch': present or not. */
export type FlagKind = 'value' | 'list' | 'switch';
export type FlagSpec = Readonly<Record<string, FlagKind>>;
export type Flags<S extends FlagSpec> = { [K in keyof S]?: S[K] extends 'switch' ? true : S[K] extends 'list' ? string[] : string };

/**
 * The wording of parse errors. Two sets exist because tests pin both: the agent commands (proxy, worker, client,
 * devnet) have always said "unknown argument --x" / "--x: missing value", the others "unknown flag --x" / "--x needs
 * a value". Either way the message names the offending argument.
 */
export interface UsageWording {
    unknownFlag(arg: string): string;
    unexpectedArgument(arg: string): string;
    missingValue(flag: string): string;
}
export const FLAG_WORDING: UsageWording = {
    unknownFlag: (a) => `unknown flag ${a}`,
    unexpectedArgument: (a) => `unexpected argument ${a}`,
    missingValue: (f) => `${f} needs a value`,
};
export const AGENT_WORDING: UsageWording = {
    unknownFlag: (a) => `unknown argument ${a}`,
    unexpectedArgument: (a) => `unknown argument ${a}`,
    missingValue: (f) => `${f}: missing value`,
};

export interface ParseOptions {
    /** Positional arguments accepted (default: none). */
    positional?: boolean;
    wording?: UsageWording;
}

export interface Parsed<S extends FlagSpec> {
    flags: Flags<S>;
    positional: string[];
}

/**
 * Parses `--name value` / `--name=value` flags against `spec`; `-h` / `--help` anywhere returns null. An unknown flag,
 * a missing value (absent, empty, or another `--flag`), a value given to a switch, or an unexpected positional
 * argument throws a UsageError naming it.
 */
export function parseFlags<S extends FlagSpec>(argv: string[], spec: S, options: ParseOptions = {}): Parsed<S> | null {
    if (argv.includes('--help') || argv.includes('-h')) return null;
    const w = options.wording ?? FLAG_WORDING;
    const flags: Record<string, string | string[] | true> = {};
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (!arg.startsWith('-')) {
            if (!options.positional) throw new UsageError(w.unexpectedArgument(arg));
            positional.push(arg);
            continue;
        }
        const eq = arg.indexOf('=');
        const name = arg.startsWith('--') ? (eq > 0 ? arg.slice(2, eq) : arg.slice(2)) : '';
        const kind = Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined;
        if (kind === undefined) throw new UsageError(w.unknownFlag(arg));
        if (kind === 'switch') {
            if (eq > 0) throw new UsageError(`--${name} takes no value`);
            flags[name] = true;
            continue;
        }
        const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (v === undefined || v === '' || (eq < 0 && v.startsWith('--'))) throw new UsageError(w.missingValue(`--${name}`));
        if (kind === 'list') ((flags[name] ??= []) as string[]).push(v);
        else flags[name] = v;
    }
    return { flags: flags as Flags<S>, positional };
}

export interface CommandOptions extends ParseOptions {
    /** Put before every error line, e.g. `cocoon status: `. */
    prefix?: string;
}

/**
 * Parses `argv`, answers --help (usage on stdout, 0), and runs `body`: a UsageError (from parsing or from the body)
 * prints the message and the usage on stderr and returns 2; any other error prints `<CODE>: <message>` (typed) or the
 * message on stderr and returns 1.
 */
export async function command<S extends FlagSpec>(
    io: CommandIo,
    usage: string,
    argv: string[],
    spec: S,
    body: (flags: Flags<S>, positional: string[]) => Promise<number>,
    options: CommandOptions = {},
): Promise<number> {
    const prefix = options.prefix ?? '';
    try {
        const parsed = parseFlags(argv, spec, options);
        if (parsed === null) {
            io.stdout(`${usage}\n`);
            return 0;
        }
        return await body(parsed.flags, parsed.positional);
    } catch (e) {
        if (e instanceof UsageError) {
            io.stderr(`${prefix}${e.message}\n${usage}\n`);
            return 2;
        }
        io.stderr(`${prefix}${describeError(e)}\n`);
        return 1;
    }
}

/** `<CODE>: <message>` for typed errors, the message otherwise. */
export function describeError(e: unknown): string {
    return `${e instanceof CocoonError ? `${e.code}: ` : ''}${(e as Error)?.message ?? String(e)}`;
}

/** A `--name` port value: 0..65535. */
export function portFlag(name: string, v: string): number {
    if (!/^\d+$/.test(v) || Number(v) > 65535) throw new UsageError(`--${name}: expected 0..65535, got ${v}`);
    return Number(v);
}

/** A `--name <TON>` amount: a positive decimal with at most 9 decimals (12 integer digits), in nanoTON. */
export function tonFlag(name: string, v: string | undefined): bigint {
    if (v === undefined) throw new UsageError(`--${name} <TON> is required`);
    if (!/^\d{1,12}(\.\d{1,9})?$/.test(v)) throw new UsageError(`--${name}: expected TON as a decimal, e.g. 1.5, got ${v}`);
    const nano = toNano(v);
    if (nano === 0n) throw new UsageError(`--${name} must be above 0`);
    return nano;
}

/** Resolves on SIGINT / SIGTERM (or `signal`), then runs `stop`: 0 after a clean stop, 1 if it failed. */
export function untilInterrupted(io: CommandIo, stop: () => Promise<void>, signal?: AbortSignal, prefix = ''): Promise<number> {
    return new Promise<number>((resolve) => {
        let stopping = false;
        const onSignal = (name: string) => {
            if (stopping) return;
            stopping = true;
            io.stderr(`${prefix}${name}: stopping\n`);
            stop().then(
                () => resolve(0),
                (e) => {
                    io.stderr(`${prefix}stop failed: ${describeError(e)}\n`);
                    resolve(1);
                },
            );
        };
        const int = () => onSignal('SIGINT');
        const term = () => onSignal('SIGTERM');
        process.once('SIGINT', int);
        process.once('SIGTERM', term);
        signal?.addEventListener('abort', () => {
            process.off('SIGINT', int);
            process.off('SIGTERM', term);
            onSignal('stop requested');
        });
    });
}

/** Runs `cmd` on process.argv with the process's streams and sets the exit status; a crash prints the stack, 70. */
export function runOnProcess(cmd: Command, name: string): void {
    cmd(process.argv.slice(2), processIo).then(
        (code) => {
            process.exitCode = code;
        },
        (e: unknown) => {
            process.stderr.write(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
            process.exitCode = 70;
        },
    );
}

/**
 * A string from outside (chain data anyone may write: model names, proxy endpoints) made safe for one terminal line:
 * control, format (bidi) and line-separator characters become `\u` escapes with four hex digits (ESC is `\u001b`),
 * so it cannot move the cursor, recolour the terminal, reverse the text around it or fake another line.
 */
export function printable(s: string): string {
    return s.replace(/[\p{C}\u2028\u2029]/gu, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}
