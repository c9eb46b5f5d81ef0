// Gas benchmark: replays the fixed scenarios of bench/gas-scenarios.ts and prints JSON.
//   npm run bench:gas            print the current table and its difference from bench/gas.json
//   npm run bench:gas -- --update   record the current table as the newest entry of bench/gas.json
// tests/contracts/gas.spec.ts fails when measured gas differs from the newest entry.
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { measureGas, GasTable, HOT_PATH, HOT_PATH_BUDGET } from './gas-scenarios';

export interface GasEntry {
    label: string;
    date: string;
    gas: Record<string, number>;
    fees: Record<string, number>;
}

export const GAS_FILE = join(__dirname, 'gas.json');
export const SPEC_FILE = join(__dirname, '..', 'spec', 'contracts.md');
const TABLE_START = '<!-- gas-table:start -->';
const TABLE_END = '<!-- gas-table:end -->';

/** The Markdown table of one history entry, as it appears in spec/contracts.md. */
export function renderTable(e: GasEntry): string {
    const rows = Object.keys(e.gas)
        .sort()
        .map((k) => `| ${k} | ${e.gas[k]} | ${(e.fees[k] / 1e9).toFixed(6)} |`);
    return [`Entry "${e.label}" (${e.date}):`, '', '| operation | gas | fees, TON |', '|---|---|---|', ...rows].join('\n');
}

/** The table currently written in spec/contracts.md. */
export function specTable(): string {
    const text = readFileSync(SPEC_FILE, 'utf8');
    const a = text.indexOf(TABLE_START);
    const b = text.indexOf(TABLE_END);
    if (a < 0 || b < a) throw new Error('gas table markers missing in spec/contracts.md');
    return text.slice(a + TABLE_START.length, b).trim();
}

function writeSpecTable(e: GasEntry) {
    const text = readFileSync(SPEC_FILE, 'utf8');
    const a = text.indexOf(TABLE_START);
    const b = text.indexOf(TABLE_END);
    writeFileSync(SPEC_FILE, text.slice(0, a + TABLE_START.length) + '\n' + renderTable(e) + '\n' + text.slice(b));
}

export function readHistory(): GasEntry[] {
    return JSON.parse(readFileSync(GAS_FILE, 'utf8')) as GasEntry[];
}

function toEntry(label: string, t: GasTable): GasEntry {
    const gas: Record<string, number> = {};
    const fees: Record<string, number> = {};
    for (const k of Object.keys(t).sort()) {
        gas[k] = t[k].gas;
        fees[k] = t[k].fees;
    }
    return { label, date: new Date().toISOString().slice(0, 10), gas, fees };
}

async function main() {
    const update = process.argv.includes('--update');
    const labelIdx = process.argv.indexOf('--label');
    const label = labelIdx > 0 ? process.argv[labelIdx + 1] : 'current';
    const entry = toEntry(label, await measureGas());
    let history: GasEntry[] = [];
    try {
        history = readHistory();
    } catch {
        history = [];
    }
    const last = history[history.length - 1];
    const diff: Record<string, number> = {};
    if (last) for (const k of Object.keys(entry.gas)) diff[k] = entry.gas[k] - (last.gas[k] ?? 0);
    const hotPath = Object.fromEntries(HOT_PATH.map((k) => [k, { gas: entry.gas[k], withinBudget: entry.gas[k] <= HOT_PATH_BUDGET }]));
    console.log(JSON.stringify({ budget: HOT_PATH_BUDGET, hotPath, current: entry, diffFromCommitted: diff }, null, 2));
    if (update) {
        if (last && last.label === label) history[history.length - 1] = entry;
        else history.push(entry);
        writeFileSync(GAS_FILE, JSON.stringify(history, null, 2) + '\n');
        writeSpecTable(entry);
        console.error(`recorded "${label}" in ${GAS_FILE} and spec/contracts.md`);
    }
}

if (require.main === module) {
    main().catch((e) => {
        console.error(e);
        process.exit(1);
    });
}
