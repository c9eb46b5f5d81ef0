// Logs (spec/operations.md, "Observability"): JSON lines written by pino with a level per event, filtered by
// `--log-level`, which every agent command accepts and checks.
import { jsonLines, LOG_FLUSH_MS, levelOf } from '../../../agents/core/log';
import { main } from '../../../agents/cli';
import type { CommandIo } from '../../../agents/core/cli-io';

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
    const writes: string[] = [];
    const log = jsonLines((t) => writes.push(t), 'proxy', level);
    const lines = () =>
        writes
            .join('')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { log, lines };
}

describe('log levels', () => {
    afterEach(() => jest.useRealTimers());

    it('each event has its level from its name: errors when the agent stops serving, warnings for refusals and failures', () => {
        expect(levelOf('proxy.halted')).toBe('error');
        expect(levelOf('request.internal-error')).toBe('error');
        expect(levelOf('ledger.unclean-start')).toBe('error');
        for (const e of ['root.poll-failed', 'receipt.refused', 'worker.slow-dropped', 'client.rejected', 'request.timeout', 'link.error', 'client.connect-failed']) expect([e, levelOf(e)]).toEqual([e, 'warn']);
        for (const e of ['proxy.started', 'request.served', 'request.routed', 'client.connected', 'client.proxy-unblocked', 'stake.sent']) expect([e, levelOf(e)]).toEqual([e, 'info']);
        expect(levelOf('link.state')).toBe('debug');
    });

    it('a log at warn writes warnings and errors only, each line with its level; at debug it writes everything', () => {
        jest.useFakeTimers();
        const warn = capture('warn');
        const debug = capture('debug');
        for (const { log } of [warn, debug]) {
            log('link.state', { peer: 'p', state: 'ready' });
            log('proxy.started', { clientUrl: 'wss://x' });
            log('receipt.refused', { id: 'ab', code: 'RECEIPT_INVALID', cost: 5n });
            log('proxy.halted', { code: 'PROXY_ROLLBACK' });
        }
        jest.advanceTimersByTime(LOG_FLUSH_MS);
        expect(warn.lines().map((l) => [l.level, l.event])).toEqual([
            ['warn', 'receipt.refused'],
            ['error', 'proxy.halted'],
        ]);
        expect(warn.lines()[0]).toEqual({ level: 'warn', t: expect.any(String), agent: 'proxy', event: 'receipt.refused', id: 'ab', code: 'RECEIPT_INVALID', cost: '5' });
        expect(debug.lines().map((l) => l.level)).toEqual(['debug', 'info', 'warn', 'error']);
    });

    it('the default level is info', () => {
        jest.useFakeTimers();
        const c = capture();
        c.log('link.state', { state: 'ready' });
        c.log('proxy.started', {});
        jest.advanceTimersByTime(LOG_FLUSH_MS);
        expect(c.lines().map((l) => l.event)).toEqual(['proxy.started']);
    });
});

describe('--log-level', () => {
    const io = () => {
        const out: string[] = [];
        const err: string[] = [];
        const x: CommandIo = { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s) };
        return { x, out, err };
    };

    it('every agent command refuses an unknown level with a usage error naming the flag, before reading its config', async () => {
        for (const cmd of ['proxy', 'worker', 'client', 'devnet']) {
            const { x, err } = io();
            const code = await main([cmd, ...(cmd === 'devnet' ? [] : ['--config', '/nonexistent/agent.json']), '--log-level', 'loud'], x);
            expect([cmd, code]).toEqual([cmd, 2]);
            expect(err.join('')).toMatch(/--log-level: expected one of debug, info, warn, error, got loud/);
        }
    });

    it('a known level is accepted (the command goes on to its config)', async () => {
        const { x, err } = io();
        const code = await main(['proxy', '--config', '/nonexistent/proxy.json', '--log-level', 'warn'], x);
        expect(code).not.toBe(0);
        expect(err.join('')).not.toMatch(/--log-level/);
        expect(err.join('')).toMatch(/nonexistent\/proxy\.json/);
    });
});
