// Dependency direction (issue 9, part 4): wrappers/ imports only build/, @ton/*, Node's built-ins and itself; nothing
// outside tests/ imports tests/. Reads every .ts file's import/export/require specifiers and resolves relative ones
// against the file, so a new offender fails here instead of being found by a reader.
import { readdirSync, readFileSync, statSync } from 'fs';
import { builtinModules } from 'module';
import { dirname, join, relative, resolve, sep } from 'path';

const ROOT = resolve(__dirname, '..');

function tsFiles(dir: string): string[] {
    const abs = join(ROOT, dir);
    return readdirSync(abs).flatMap((name) => {
        const p = join(abs, name);
        if (statSync(p).isDirectory()) return tsFiles(relative(ROOT, p));
        return name.endsWith('.ts') ? [relative(ROOT, p)] : [];
    });
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)'([^']+)'/g;

/** `file`'s imports: a relative one as its top-level folder ('build', 'agents', ...), a package as its name. */
function imports(file: string): { spec: string; target: string }[] {
    const src = readFileSync(join(ROOT, file), 'utf8');
    return [...src.matchAll(SPECIFIER)].map(([, spec]) => {
        if (!spec.startsWith('.')) return { spec, target: spec };
        const rel = relative(ROOT, resolve(ROOT, dirname(file), spec));
        return { spec, target: rel.startsWith('..') ? rel : rel.split(sep)[0] };
    });
}

function offenders(dirs: string[], allowed: (target: string) => boolean): string[] {
    return dirs.flatMap((d) => tsFiles(d).flatMap((f) => imports(f).filter((i) => !allowed(i.target)).map((i) => `${f} -> ${i.spec}`)));
}

const isBuiltin = (t: string) => t.startsWith('node:') || builtinModules.includes(t);

/**
 * bench/ still runs on the network fixtures in tests/helpers (moving them to fixtures/ is the next step of part 4).
 * Listed exactly: the test fails when one of these goes away too, so the list only shrinks.
 */
const KNOWN_TEST_IMPORTS = [
    "bench/gas-scenarios.ts -> ../tests/helpers/network",
    "bench/network.ts -> ../tests/helpers/agent-network",
    "bench/processes.ts -> ../tests/helpers/agent-network",
];

describe('layout: dependency direction', () => {
    it('finds the imports it checks (the scan is not empty)', () => {
        expect(imports('wrappers/payloads.ts').map((i) => i.target)).toEqual(expect.arrayContaining(['@ton/core', 'wrappers']));
        expect(offenders(['bench'], (t) => t !== 'tests').length).toBeGreaterThan(0);
    });

    it('wrappers/ imports only build/, @ton/*, Node built-ins and wrappers/', () => {
        expect(offenders(['wrappers'], (t) => t === 'build' || t === 'wrappers' || t.startsWith('@ton/') || isBuiltin(t))).toEqual([]);
    });

    it('nothing outside tests/ imports tests/ (bench/ known offenders listed exactly)', () => {
        expect(offenders(['agents', 'bench', 'fixtures', 'scripts', 'wrappers'], (t) => t !== 'tests').sort()).toEqual(KNOWN_TEST_IMPORTS);
    });
});
