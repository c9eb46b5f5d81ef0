// One event-name rule for every role's log (agents/core/log.ts): `<area>.<event>`, lower-case words joined by '-'.
// Scans agents/ for the event names passed to a Log (a call `log(...)` / `.log(...)` / `log?.(...)` whose first
// argument is a string literal and which has a fields argument), so a new `stake_sent` fails here instead of being
// found by a reader. A template literal's `${…}` parts (the proxy's `${this.kind}`) stand for an area word.
import { readdirSync, readFileSync, statSync } from 'fs';
import { join, relative, resolve } from 'path';
import { jsonLines, LOG_EVENT, LOG_FLUSH_BYTES, LOG_FLUSH_MS } from '../../../agents/core/log';

const ROOT = resolve(__dirname, '../../..');

function tsFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) return tsFiles(p);
        return name.endsWith('.ts') ? [p] : [];
    });
}

/** Every `log('event', …)` in agents/: file, line and the event name (no spaces: a sentence is a devnet line, not an event). */
const CALL = /\blog\??\.?\(\s*(['`])((?:\$\{[^}]*\}|[^\s'`\\$])*)\1\s*,/g;
function events(): { at: string; event: string }[] {
    return tsFiles(join(ROOT, 'agents')).flatMap((file) => {
        const src = readFileSync(file, 'utf8');
        return [...src.matchAll(CALL)].map((m) => ({
            at: `${relative(ROOT, file)}:${src.slice(0, m.index).split('\n').length}`,
            event: m[2].replace(/\$\{[^}]*\}/g, 'kind'),
        }));
    });
}

describe('log event names', () => {
    it('the scan finds the events of all three roles (it is not empty)', () => {
        const names = new Set(events().map((e) => e.event));
        expect(names.size).toBeGreaterThan(50);
        for (const e of ['stake.sent', 'link.error', 'usage.clamped', 'request.routed', 'client.connected', 'kind.slow-dropped']) expect(names).toContain(e);
    });

    it('the rule refuses the old shapes', () => {
        for (const bad of ['stake_sent', 'claimed', 'Link.error', 'link.', 'link.error.twice', 'link.Error', 'link error']) expect(LOG_EVENT.test(bad)).toBe(false);
        for (const good of ['stake.sent', 'worker.slow-dropped', 'root.poll-failed']) expect(LOG_EVENT.test(good)).toBe(true);
    });

    it('every event name in agents/ is `<area>.<event>`', () => {
        expect(events().filter((e) => !LOG_EVENT.test(e.event))).toEqual([]);
    });
});

describe('jsonLines', () => {
    afterEach(() => jest.useRealTimers());

    it('writes one JSON object per line, bigints as decimal strings at any depth, flat or not', () => {
        jest.useFakeTimers();
        const writes: string[] = [];
        const log = jsonLines((t) => writes.push(t), 'proxy');
        log('request.routed', { id: 'ab', attempt: 0, sealed: false, peer: undefined });
        log('delivery.booked', { id: 'ab', cost: 12345678901234567890n, usage: { prompt: 3n, note: null } });
        jest.advanceTimersByTime(LOG_FLUSH_MS);
        const lines = writes.join('').split('\n');
        expect(lines.pop()).toBe('');
        const [a, b] = lines.map((l) => JSON.parse(l));
        expect(a).toEqual({ level: 'info', t: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), agent: 'proxy', event: 'request.routed', id: 'ab', attempt: 0, sealed: false });
        expect(b).toEqual({ level: 'info', t: expect.any(String), agent: 'proxy', event: 'delivery.booked', id: 'ab', cost: '12345678901234567890', usage: { prompt: '3', note: null } });
    });

    it('writes the lines of a burst together (one write per flush, not per line), and at once past the byte bound', () => {
        jest.useFakeTimers();
        const writes: string[] = [];
        const log = jsonLines((t) => writes.push(t), 'worker');
        for (let i = 0; i < 10; i++) log('request.served', { id: String(i) });
        expect(writes).toEqual([]);
        jest.advanceTimersByTime(LOG_FLUSH_MS);
        expect(writes).toHaveLength(1);
        expect(writes[0].split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
        log('request.served', { id: 'big', text: 'x'.repeat(LOG_FLUSH_BYTES) });
        expect(writes).toHaveLength(2); // no timer needed
        jest.advanceTimersByTime(LOG_FLUSH_MS);
        expect(writes).toHaveLength(2);
    });
});
