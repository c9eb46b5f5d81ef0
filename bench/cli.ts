// Command-line plumbing shared by the JSON benches (network, scale, settlement): flags and the run that prints the
// report on stdout, progress on stderr, and exits non-zero on failure.

/** `--name a,b,c` as its comma-separated values (undefined when absent). */
export function listArg(name: string): string[] | undefined {
    const i = process.argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = process.argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
    return v.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

/** `--name 1,2,3`: integers ≥ min. */
export function intsArg(name: string, min: number): number[] | undefined {
    const xs = listArg(name)?.map(Number);
    if (xs && (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < min))) throw new Error(`--${name} must be integers ≥ ${min}, comma-separated`);
    return xs;
}

/** `--name N`: one integer ≥ min. */
export function intArg(name: string, min: number): number | undefined {
    const xs = intsArg(name, min);
    if (xs && xs.length !== 1) throw new Error(`--${name} takes one integer`);
    return xs?.[0];
}

/** `--name v`: one of `allowed`. */
export function oneOfArg<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = listArg(name);
    if (v === undefined) return undefined;
    if (v.length !== 1 || !allowed.includes(v[0] as T)) throw new Error(`--${name} must be ${allowed.join(' or ')}`);
    return v[0] as T;
}

/** Runs a bench from the command line: the report as JSON on stdout, `bench:<name> …` progress lines on stderr. */
export function runBench(name: string, build: (progress: (line: string) => void) => Promise<unknown>): void {
    Promise.resolve()
        .then(() => build((line) => process.stderr.write(`bench:${name} ${line}\n`)))
        .then(
            (report) => {
                process.stdout.write(JSON.stringify(report, null, 2) + '\n');
                process.exit(0);
            },
            (e) => {
                console.error(e);
                process.exit(1);
            },
        );
}
