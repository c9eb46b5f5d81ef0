// Dependency direction (issue 9, part 4): wrappers/ imports only build/, @ton/*, Node's built-ins and itself; nothing
// outside tests/ imports tests/; fixtures/ (the network fixtures bench and tests share) imports neither. Reads every .ts
// file's import/export/require specifiers and resolves relative ones against the file, so a new offender fails here
// instead of being found by a reader.
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

describe('layout: dependency direction', () => {
    it('finds the imports it checks (the scan is not empty)', () => {
        expect(imports('wrappers/payloads.ts').map((i) => i.target)).toEqual(expect.arrayContaining(['@ton/core', 'wrappers']));
        // bench/ runs on the shared network fixtures: the scan must see those imports, or the rules below check nothing.
        expect(offenders(['bench'], (t) => t !== 'fixtures')).toEqual(expect.arrayContaining(['bench/network.ts -> ../fixtures/agent-network']));
    });

    it('wrappers/ imports only build/, @ton/*, Node built-ins and wrappers/', () => {
        expect(offenders(['wrappers'], (t) => t === 'build' || t === 'wrappers' || t.startsWith('@ton/') || isBuiltin(t))).toEqual([]);
    });

    it('nothing outside tests/ imports tests/', () => {
        expect(offenders(['agents', 'bench', 'fixtures', 'scripts', 'wrappers'], (t) => t !== 'tests')).toEqual([]);
    });

    it('fixtures/ imports neither tests/ nor bench/ (both run on it)', () => {
        expect(offenders(['fixtures'], (t) => t !== 'tests' && t !== 'bench')).toEqual([]);
    });
});
