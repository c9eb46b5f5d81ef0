// One event-name rule for every role's log (agents/core/log.ts): `<area>.<event>`, lower-case words joined by '-'.
// Scans agents/ for the event names passed to a Log (a call `log(...)` / `.log(...)` / `log?.(...)` whose first
// argument is a string literal and which has a fields argument), so a new `stake_sent` fails here instead of being
// found by a reader. A template literal's `${…}` parts (the proxy's `${this.kind}`) stand for an area word.
import { readdirSync, readFileSync, statSync } from 'fs';
import { join, relative, resolve } from 'path';
import { jsonLines, LOG_EVENT } from '../../../agents/core/log';

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
    it('writes one JSON object per line, bigints as decimal strings at any depth, flat or not', () => {
        const lines: string[] = [];
        const log = jsonLines((l) => lines.push(l), 'proxy');
        log('request.routed', { id: 'ab', attempt: 0, sealed: false, peer: undefined });
        log('delivery.booked', { id: 'ab', cost: 12345678901234567890n, usage: { prompt: 3n, note: null } });
        expect(lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1)).toBe(true);
        const [a, b] = lines.map((l) => JSON.parse(l));
        expect(a).toEqual({ t: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), agent: 'proxy', event: 'request.routed', id: 'ab', attempt: 0, sealed: false });
        expect(b).toEqual({ t: expect.any(String), agent: 'proxy', event: 'delivery.booked', id: 'ab', cost: '12345678901234567890', usage: { prompt: '3', note: null } });
    });
});
