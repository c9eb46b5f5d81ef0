import { measureGas, HOT_PATH, HOT_PATH_BUDGET, GasTable } from '../../bench/gas-scenarios';
import { readHistory } from '../../bench/gas';
import { readFileSync } from 'fs';
import { join } from 'path';
import { FeeClaim, FeeCommit, FeeRedeem, FeeTopUp } from '../../wrappers/ClientChannel';

// jetton's pattern: a change in gas is a reviewed change in bench/gas.json
// (`npm run bench:gas -- --update --label "<why>"`).
describe('gas', () => {
    let table: GasTable;
    beforeAll(async () => {
        table = await measureGas();
    });

    it('matches the newest entry of bench/gas.json exactly', () => {
        const history = readHistory();
        const committed = history[history.length - 1].gas;
        const measured = Object.fromEntries(Object.keys(table).sort().map((k) => [k, table[k].gas]));
        expect(measured).toEqual(committed);
    });

    // The "too little value" thresholds must cover what the operation really costs.
    it.each([
        ['topUp', FeeTopUp],
        ['redeem', FeeRedeem],
        ['claimPayout', FeeClaim],
        ['stateCommit', FeeCommit],
    ] as const)('minimum value for %s covers its measured fees', (op, fee) => {
        expect(BigInt(table[op].fees)).toBeLessThan(fee);
    });

    // Fees are gas converted at the chain's prices (contracts/constants.tact): each Gas* constant names the entry
    // that measured it, and must be re-set when that entry changes.
    it('every Gas* fee constant equals the bench/gas.json entry its comment names', () => {
        const constants = readFileSync(join(__dirname, '../../contracts/constants.tact'), 'utf8');
        const named = [...constants.matchAll(/^const (Gas\w+): Int = (\d+);\s*\/\/ bench\/gas\.json "(\w+)"/gm)].map((m) => ({ name: m[1], value: Number(m[2]), entry: m[3] }));
        expect(named.map((g) => g.name).sort()).toEqual(['GasClaim', 'GasCommit', 'GasFinish', 'GasNotify', 'GasPayment', 'GasRedeem', 'GasRegister', 'GasSimple', 'GasTopUp']);
        const newest = readHistory().at(-1)!.gas;
        for (const g of named) expect([g.name, g.value]).toEqual([g.name, newest[g.entry]]);
    });

    it.each(HOT_PATH)('keeps %s within the hot-path budget', (op) => {
        expect(table[op].gas).toBeGreaterThan(0);
        expect(table[op].gas).toBeLessThanOrEqual(HOT_PATH_BUDGET);
    });
});
