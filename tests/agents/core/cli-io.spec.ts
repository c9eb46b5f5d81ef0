import { AGENT_WORDING, command, parseFlags, tonFlag, UsageError } from '../../../agents/core/cli-io';

const SPEC = { config: 'value', channel: 'list', json: 'switch' } as const;

function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

describe('the cocoon CLI helper (agents/core/cli-io.ts)', () => {
    it('parses --name value, --name=value, repeatable lists and switches into typed flags', () => {
        expect(parseFlags(['--config', 'a.json', '--channel=x', '--json', '--channel', 'y'], SPEC)).toEqual({
            flags: { config: 'a.json', channel: ['x', 'y'], json: true },
            positional: [],
        });
    });

    it('--help or -h anywhere means help (null), even after a bad flag', () => {
        expect(parseFlags(['--bogus', '-h'], SPEC)).toBeNull();
        expect(parseFlags(['--config', 'a', '--help'], SPEC)).toBeNull();
    });

    it.each([
        [['--bogus'], 'unknown flag --bogus', 'unknown argument --bogus'],
        [['stray'], 'unexpected argument stray', 'unknown argument stray'],
        [['--config'], '--config needs a value', '--config: missing value'],
        [['--config', '--json'], '--config needs a value', '--config: missing value'],
        [['--config='], '--config needs a value', '--config: missing value'],
        [['--json=1'], '--json takes no value', '--json takes no value'],
    ])('%j is a usage error naming the argument', (argv, message, agentMessage) => {
        expect(() => parseFlags(argv, SPEC)).toThrow(new UsageError(message));
        expect(() => parseFlags(argv, SPEC, { wording: AGENT_WORDING })).toThrow(new UsageError(agentMessage));
    });

    it('command(): help -> usage on stdout, 0; usage error -> message and usage on stderr, 2; other failure -> 1', async () => {
        let ran = 0;
        const body = async () => {
            ran++;
            return 0;
        };
        let c = capture();
        expect(await command(c.io, 'usage: x', ['--help'], SPEC, body)).toBe(0);
        expect([c.out(), c.err(), ran]).toEqual(['usage: x\n', '', 0]);
        c = capture();
        expect(await command(c.io, 'usage: x', ['--bogus'], SPEC, body, { prefix: 'x: ' })).toBe(2);
        expect([c.out(), c.err(), ran]).toEqual(['', 'x: unknown flag --bogus\nusage: x\n', 0]);
        c = capture();
        expect(await command(c.io, 'usage: x', [], SPEC, async () => { throw new Error('boom'); })).toBe(1);
        expect(c.err()).toBe('boom\n');
        c = capture();
        expect(await command(c.io, 'usage: x', ['a'], SPEC, async (_f, pos) => { throw new UsageError(`bad ${pos[0]}`); }, { positional: true })).toBe(2);
        expect(c.err()).toBe('bad a\nusage: x\n');
    });

    it('reads a TON amount into nanoTON and refuses a missing, zero, negative, over-precise or non-decimal one', () => {
        expect(tonFlag('amount', '1.5')).toBe(1_500_000_000n);
        expect(tonFlag('amount', '0.000000001')).toBe(1n);
        expect(() => tonFlag('amount', undefined)).toThrow(new UsageError('--amount <TON> is required'));
        expect(() => tonFlag('amount', '0.0')).toThrow(new UsageError('--amount must be above 0'));
        for (const bad of ['-1', '1.0000000001', '1e9', 'lots', '1,5', '']) expect(() => tonFlag('amount', bad)).toThrow(/--amount: expected TON as a decimal/);
    });
});
