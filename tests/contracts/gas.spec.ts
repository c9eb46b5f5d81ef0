import { measureGas, HOT_PATH, HOT_PATH_BUDGET, GasTable } from '../../bench/gas-scenarios';
import { readHistory } from '../../bench/gas';
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

    it.each(HOT_PATH)('keeps %s within the hot-path budget', (op) => {
        expect(table[op].gas).toBeGreaterThan(0);
        expect(table[op].gas).toBeLessThanOrEqual(HOT_PATH_BUDGET);
    });
});
