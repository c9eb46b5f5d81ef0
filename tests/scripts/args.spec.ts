// Unit tests of scripts/lib/args.ts (flag parsing shared by the Blueprint scripts).
import { Address, toNano } from '@ton/core';
import {
    addressFlag,
    ArgError,
    bigintFlag,
    boolFlag,
    flag,
    flagOrAsk,
    hashFlag,
    hasFlag,
    parseAddress,
    parseGovParamsJson,
    parseParamsJson,
    rejectUnknownFlags,
    requireFlag,
    tonFlag,
} from '../../scripts/lib/args';
import { DEFAULT_PARAMS } from '../../wrappers/Root';
import { DEFAULT_GOV_PARAMS } from '../../wrappers/Governance';

const ADDR = Address.parse('EQBqxB1eAL_OwObPzrvIjNnSX8AOPUfhtyp1L5uXFdEy5zdJ');
const HASH = 'ab'.repeat(32);

/** Expects an ArgError whose message names `flagName` first. */
function expectArgError(fn: () => unknown, flagName: string, fragment?: string | RegExp) {
    let err: unknown;
    try {
        fn();
    } catch (e) {
        err = e;
    }
    expect(err).toBeInstanceOf(ArgError);
    const msg = (err as Error).message;
    expect(msg.startsWith(flagName)).toBe(true);
    if (fragment) expect(msg).toMatch(fragment);
}

describe('flag / requireFlag / hasFlag', () => {
    it('reads "--name value" and "--name=value"', () => {
        expect(flag(['--root', 'A', '--id', '3'], 'root')).toBe('A');
        expect(flag(['--id=3'], 'id')).toBe('3');
        expect(flag(['--id=3'], '--id')).toBe('3');
        expect(flag(['--params={"a":1}'], 'params')).toBe('{"a":1}');
    });

    it('returns undefined for an absent flag and does not confuse prefixes', () => {
        expect(flag(['--rootx', 'A'], 'root')).toBeUndefined();
        expect(flag(['root', 'A'], 'root')).toBeUndefined();
    });

    it('refuses a flag without a value', () => {
        expectArgError(() => flag(['--root'], 'root'), '--root', /missing value/);
        expectArgError(() => flag(['--root', '--id', '1'], 'root'), '--root', /missing value/);
        expectArgError(() => flag(['--root='], 'root'), '--root', /missing value/);
    });

    it('refuses a flag given twice', () => {
        expectArgError(() => flag(['--id', '1', '--id=2'], 'id'), '--id', /2 times/);
    });

    it('requireFlag names the missing flag', () => {
        expect(requireFlag(['--name', 'x'], 'name')).toBe('x');
        expectArgError(() => requireFlag([], 'governance'), '--governance', /required/);
    });

    it('hasFlag detects switches', () => {
        expect(hasFlag(['--force'], 'force')).toBe(true);
        expect(hasFlag(['--forced'], 'force')).toBe(false);
        expect(hasFlag([], 'force')).toBe(false);
    });

    it('rejectUnknownFlags names a misspelt flag and accepts the known ones', () => {
        expect(() => rejectUnknownFlags(['--root', 'A', '--id=2', 'positional'], ['root', 'id'])).not.toThrow();
        expectArgError(() => rejectUnknownFlags(['--root', 'A', '--goverance', 'B'], ['root', 'governance']), '--goverance', /unknown flag/);
        expectArgError(() => rejectUnknownFlags(['--x=1'], ['root']), '--x', /unknown flag/);
    });
});

describe('typed flags', () => {
    it('addressFlag parses friendly and raw addresses', () => {
        expect(addressFlag(['--root', ADDR.toString()], 'root').equals(ADDR)).toBe(true);
        expect(addressFlag(['--root', ADDR.toRawString()], 'root').equals(ADDR)).toBe(true);
        expectArgError(() => addressFlag(['--root', 'nope'], 'root'), '--root', /not a TON address/);
    });

    it('a typed flag falls back when absent and is required without a fallback', () => {
        expect(addressFlag([], 'treasury', ADDR).equals(ADDR)).toBe(true);
        expect(tonFlag([], 'fee', 7n)).toBe(7n);
        expect(boolFlag([], 'close', false)).toBe(false);
        expectArgError(() => addressFlag([], 'treasury'), '--treasury', /required/);
        expectArgError(() => bigintFlag([], 'id'), '--id', /required/);
    });

    it('bigintFlag accepts decimal and 0x-hex non-negative integers only', () => {
        expect(bigintFlag(['--id', '42'], 'id')).toBe(42n);
        expect(bigintFlag(['--id', '0x2a'], 'id')).toBe(42n);
        expect(bigintFlag(['--id', '18446744073709551616'], 'id')).toBe(1n << 64n);
        for (const bad of ['-1', '1.5', 'abc', '1e3', ' ']) {
            expectArgError(() => bigintFlag(['--id', bad], 'id'), '--id');
        }
    });

    it('tonFlag converts TON to nanoTON', () => {
        expect(tonFlag(['--amount', '1.5'], 'amount')).toBe(1_500_000_000n);
        expect(tonFlag(['--amount', '0.000000001'], 'amount')).toBe(1n);
        expect(tonFlag(['--amount', '10'], 'amount')).toBe(toNano('10'));
        expect(tonFlag(['--amount', '.5'], 'amount')).toBe(toNano('0.5'));
        for (const bad of ['-1', '1.0000000001', '1,5', '1 TON', 'abc', '1.']) {
            expectArgError(() => tonFlag(['--amount', bad], 'amount'), '--amount', /TON amount/);
        }
    });

    it('hashFlag takes exactly 64 hex digits, with or without 0x', () => {
        expect(hashFlag(['--hash', HASH], 'hash')).toBe(BigInt('0x' + HASH));
        expect(hashFlag(['--hash', '0x' + HASH.toUpperCase()], 'hash')).toBe(BigInt('0x' + HASH));
        expect(hashFlag(['--hash', '00'.repeat(32)], 'hash')).toBe(0n);
        for (const bad of [HASH.slice(2), HASH + 'ab', 'zz' + HASH.slice(2)]) {
            expectArgError(() => hashFlag(['--hash', bad], 'hash'), '--hash', /64 hex digits/);
        }
    });

    it('boolFlag reads yes/no spellings', () => {
        expect(boolFlag(['--support', 'yes'], 'support')).toBe(true);
        expect(boolFlag(['--support', 'NO'], 'support')).toBe(false);
        expect(boolFlag(['--support', 'true'], 'support')).toBe(true);
        expectArgError(() => boolFlag(['--support', 'maybe'], 'support'), '--support', /yes or no/);
    });

    it('parse errors name the flag they came from', () => {
        expectArgError(() => parseAddress('x', 'proxy'), '--proxy');
        expectArgError(() => parseAddress('x', '--proxy'), '--proxy');
    });
});

describe('flagOrAsk', () => {
    it('prefers the flag, prompts when it is absent, and parses either', async () => {
        const asked: string[] = [];
        const ui = { input: async (m: string) => (asked.push(m), ' 12 ') };
        expect(await flagOrAsk(['--id', '3'], 'id', ui, 'Id?', (v, n) => bigintFlag([`--${n}`, v], n))).toBe(3n);
        expect(asked).toEqual([]);
        expect(await flagOrAsk([], 'id', ui, 'Id?', (v, n) => bigintFlag([`--${n}`, v.trim()], n))).toBe(12n);
        expect(asked).toEqual(['Id?']);
    });

    it('without a prompt an absent flag is required', async () => {
        await expect(flagOrAsk([], 'root', undefined, 'Root?', parseAddress)).rejects.toThrow('--root: required');
    });

    it('a bad prompted answer is reported against the flag', async () => {
        await expect(flagOrAsk([], 'root', { input: async () => 'nope' }, 'Root?', parseAddress)).rejects.toThrow(/^--root: not a TON address/);
    });
});

describe('parseParamsJson', () => {
    const full = {
        commissionBps: 1200,
        reporterShareBps: '2500',
        minProxyStake: '20',
        minWorkerStake: 2,
        minClientDeposit: '0.25',
        creditWindow: '0.2',
        proxyCloseDelay: 3600,
        clientCloseDelay: 7200,
        workerUnbondDelay: 500000,
        slashChallengePeriod: 400000,
    };

    it('parses a complete set: coin fields in TON, the rest as integers', () => {
        expect(parseParamsJson(JSON.stringify(full))).toEqual({
            $$type: 'Params',
            commissionBps: 1200n,
            reporterShareBps: 2500n,
            minProxyStake: toNano('20'),
            minWorkerStake: toNano('2'),
            minClientDeposit: toNano('0.25'),
            creditWindow: toNano('0.2'),
            proxyCloseDelay: 3600n,
            clientCloseDelay: 7200n,
            workerUnbondDelay: 500000n,
            slashChallengePeriod: 400000n,
        });
    });

    it('merges a partial set over a base', () => {
        expect(parseParamsJson('{"commissionBps": 500, "minWorkerStake": "3"}', DEFAULT_PARAMS)).toEqual({
            ...DEFAULT_PARAMS,
            commissionBps: 500n,
            minWorkerStake: toNano('3'),
        });
        expect(parseParamsJson('{}', DEFAULT_PARAMS)).toEqual(DEFAULT_PARAMS);
    });

    it('requires every field without a base', () => {
        const { creditWindow: _omit, ...partial } = full;
        void _omit;
        expectArgError(() => parseParamsJson(JSON.stringify(partial)), '--params.creditWindow', /missing/);
    });

    it('refuses what Root would refuse, naming the field', () => {
        const cases: [Record<string, unknown>, string, RegExp][] = [
            [{ commissionBps: 10001 }, '--params.commissionBps', /at most 10000/],
            [{ reporterShareBps: -1 }, '--params.reporterShareBps', /non-negative integer/],
            [{ proxyCloseDelay: 31536001 }, '--params.proxyCloseDelay', /at most 31536000/],
            [{ minProxyStake: '0' }, '--params.minProxyStake', /positive/],
            [{ minWorkerStake: 0 }, '--params.minWorkerStake', /positive/],
            [{ workerUnbondDelay: 10, slashChallengePeriod: 11 }, '--params', /workerUnbondDelay/],
            [{ clientCloseDelay: 0 }, '--params.clientCloseDelay', /at least 3600/],
            [{ proxyCloseDelay: 3599 }, '--params.proxyCloseDelay', /at least 3600/],
            [{ slashChallengePeriod: 349199 }, '--params.slashChallengePeriod', /at least 349200/],
            [{ minClientDeposit: '1.0000000001' }, '--params.minClientDeposit', /TON amount/],
            [{ commissionBps: true }, '--params.commissionBps', /number or string/],
            [{ comission: 1 }, '--params', /unknown field "comission"/],
        ];
        for (const [patch, flagName, re] of cases) {
            expectArgError(() => parseParamsJson(JSON.stringify(patch), DEFAULT_PARAMS), flagName, re);
        }
    });

    it('refuses JSON that is not an object, naming the flag it came from', () => {
        expectArgError(() => parseParamsJson('{oops', DEFAULT_PARAMS), '--params', /invalid JSON/);
        expectArgError(() => parseParamsJson('[1]', DEFAULT_PARAMS), '--params', /JSON object/);
        expectArgError(() => parseParamsJson('null', DEFAULT_PARAMS, 'root-params'), '--root-params', /JSON object/);
    });
});

describe('parseGovParamsJson', () => {
    it('merges over a base', () => {
        expect(parseGovParamsJson('{"timelock": 0, "quorumBps": "6000"}', DEFAULT_GOV_PARAMS)).toEqual({
            ...DEFAULT_GOV_PARAMS,
            timelock: 0n,
            quorumBps: 6000n,
        });
    });

    it('refuses what Governance would refuse', () => {
        const cases: [Record<string, unknown>, string][] = [
            [{ quorumBps: 0 }, '--params.quorumBps'],
            [{ quorumBps: 10001 }, '--params.quorumBps'],
            [{ majorityBps: 4999 }, '--params.majorityBps'],
            [{ majorityBps: 10000 }, '--params.majorityBps'],
            [{ votingPeriod: 0 }, '--params.votingPeriod'],
            [{ executionWindow: 0 }, '--params.executionWindow'],
            [{ timelock: 31536001 }, '--params.timelock'],
            [{ timelock: 86401 }, '--params'], // votingPeriod + timelock above MaxGovLatency
        ];
        for (const [patch, flagName] of cases) {
            expectArgError(() => parseGovParamsJson(JSON.stringify(patch), DEFAULT_GOV_PARAMS), flagName);
        }
    });
});
