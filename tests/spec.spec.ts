// spec/contracts.md must match the code: opcodes, exit codes, signature tags and the gas table.
import { readFileSync } from 'fs';
import { join } from 'path';
import { readHistory, renderTable, specTable } from '../bench/gas';

const root = join(__dirname, '..');
const spec = readFileSync(join(root, 'spec/contracts.md'), 'utf8');
const messages = readFileSync(join(root, 'contracts/messages.tact'), 'utf8');
const constants = readFileSync(join(root, 'contracts/constants.tact'), 'utf8');

describe('spec/contracts.md', () => {
    const opcodes = [...messages.matchAll(/^message\(0x([0-9a-f]{8})\) (\w+)/gm)].map((m) => ({ op: m[1], name: m[2] }));
    const errors = [...constants.matchAll(/^const (Err\w+): Int = (\d+);/gm)].map((m) => ({ name: m[1], code: m[2] }));
    const tags = [...constants.matchAll(/^const (Tag\w+): Int = 0x([0-9a-f]{8});/gm)].map((m) => ({ name: m[1], hex: m[2] }));

    it('finds the declarations it checks', () => {
        expect(opcodes.length).toBeGreaterThanOrEqual(49);
        expect(errors.length).toBeGreaterThanOrEqual(25);
        expect(tags.length).toBe(5);
    });

    it.each(opcodes.map((o) => [o.name, o.op]))('documents message %s with opcode %s', (name, op) => {
        expect(spec).toMatch(new RegExp(`\\| ${op} \\| ${name} \\|`));
    });

    it.each(errors.map((e) => [e.name, e.code]))('documents exit code %s = %s', (name, code) => {
        expect(spec).toMatch(new RegExp(`\\| ${code} \\| ${name} \\|`));
    });

    it.each(tags.map((t) => [t.name, t.hex]))('documents signature tag %s = #%s', (_name, hex) => {
        expect(spec).toContain(`tag:#${hex}`);
    });

    it('carries the newest gas table of bench/gas.json', () => {
        const history = readHistory();
        expect(specTable()).toBe(renderTable(history[history.length - 1]));
    });
});

// spec/threat-model.md names, for every attack, the test that performs it: each named test must exist.
describe('spec/threat-model.md', () => {
    const model = readFileSync(join(root, 'spec/threat-model.md'), 'utf8');
    const refs = [...model.matchAll(/`(tests\/[\w./-]+\.spec\.ts)` — "([^"]+)"/g)].map((m) => ({ file: m[1], name: m[2] }));
    const attacks = [...model.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));

    it('has a row for each of the twenty attacks of the review, each naming its test', () => {
        expect(attacks).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        for (const n of attacks) {
            const row = model.split('\n').find((l) => l.startsWith(`| ${n} |`))!;
            expect(row).toMatch(/`tests\/[\w./-]+\.spec\.ts` — "[^"]+"/);
        }
    });

    it.each(refs.map((r) => [r.file, r.name]))('%s has a test named like "%s"', (file, name) => {
        const text = readFileSync(join(root, file), 'utf8');
        expect(text).toContain(name);
    });
});
