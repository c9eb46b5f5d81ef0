// One log type for every role (spec/operations.md, "Logs"): a structured sink taking an event name and its fields.
// Written as JSON lines by pino (jsonLines below), each at the level its event name gives (levelOf).
// Event names follow one rule, `<area>.<event>` in lower-case words joined by '-' (`stake.sent`, `link.error`,
// `worker.slow-dropped`; tests/agents/core/log-events.spec.ts scans agents/ for it). A line names the peer it
// concerns (`peer`: a proxy's connection id, or the proxy a worker or client talks to), the request (`id`) and the
// error code (`code`) under those same keys whenever they are known.

import { pino } from 'pino';

/** Fields of a log line: `peer`, `id` and `code` named alike by every role, any others beside them. */
export interface LogFields {
    /** The connection or peer the line concerns. */
    peer?: string;
    /** The request id (32 hex characters). */
    id?: string;
    /** The error code (wire code, or the role's own). */
    code?: string;
    [field: string]: unknown;
}

/** A structured log sink; `event` follows LOG_EVENT. */
export type Log = (event: string, fields: LogFields) => void;

/** The event-name rule: `<area>.<event>`, lower-case words joined by '-'. */
export const LOG_EVENT = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/** Logs nothing (the default of every role). */
export const noLog: Log = () => undefined;

/** A log that adds `base` to every line, e.g. a connection's `{ peer }`. */
export function withFields(log: Log, base: LogFields): Log {
    return (event, fields) => log(event, { ...base, ...fields });
}

const bigintAsString = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

/** True when no field is a bigint or an object (that could hold one): the fields then need no conversion. */
function flat(fields: Record<string, unknown>): boolean {
    for (const k in fields) {
        const v = fields[k];
        if (typeof v === 'bigint' || (typeof v === 'object' && v !== null)) return false;
    }
    return true;
}

/** The levels a log line may have, most verbose first (pino's names). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Events of routine state changes, only for debugging. */
const DEBUG_EVENTS = new Set(['link.state', 'client.reseal']);
/** Events (after the area) that are errors: the agent stopped serving or met a fault of its own. */
const ERROR_EVENTS = new Set(['halted', 'crash', 'internal-error', 'unclean-start']);
/** Words that make it a warning: something was refused, failed or dropped. */
const WARN_WORDS = /^(failed|stale|error|errors|refused|rejected|timeout|unusable|dropped|blocked|mismatch|invalid|unknown|unexpected|skipped|removed|clamped|gone|unpaid|unchecked|unsent|leaving|deferred|outside)$/;

/**
 * An event's level, from its name (`<area>.<event>`): the error set and the warning words (`worker.slow-dropped`,
 * `root.poll-failed`, `receipt.refused`) above, routine state changes at debug, everything else info.
 */
export function levelOf(event: string): LogLevel {
    if (DEBUG_EVENTS.has(event)) return 'debug';
    const name = event.slice(event.indexOf('.') + 1);
    if (ERROR_EVENTS.has(name)) return 'error';
    return name.split('-').some((w) => WARN_WORDS.test(w)) ? 'warn' : 'info';
}

/** How long lines may wait to be written together, and how much text forces a write at once. */
export const LOG_FLUSH_MS = 50;
export const LOG_FLUSH_BYTES = 32 * 1024;

/** Flushes of every jsonLines log with lines waiting; all run at process exit. */
const waiting = new Set<() => void>();
let exitHooked = false;

/**
 * Writes each event at or above `level` as one JSON line through pino (`level`, `t`, `agent`, `event`, then the
 * fields; bigints as decimal strings). Lines are written together: within LOG_FLUSH_MS of the first waiting one, at
 * once past LOG_FLUSH_BYTES, and at process exit (uncaught errors included). stderr to a pipe is a blocking write:
 * one per request line cost the proxy ~0.35 ms of wall time and ~45 µs of CPU per request in the processes bench.
 */
export function jsonLines(write: (text: string) => void, agent: string, level: LogLevel = 'info'): Log {
    let pending = '';
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
        waiting.delete(flush);
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (pending === '') return;
        const text = pending;
        pending = '';
        write(text);
    };
    const sink = {
        write(line: string) {
            pending += line;
            if (pending.length >= LOG_FLUSH_BYTES) return flush();
            if (timer) return;
            timer = setTimeout(flush, LOG_FLUSH_MS);
            timer.unref();
            waiting.add(flush);
            if (!exitHooked) {
                exitHooked = true;
                process.on('exit', () => {
                    for (const f of [...waiting]) f();
                });
            }
        },
    };
    const logger = pino(
        {
            level,
            base: { agent },
            timestamp: () => `,"t":"${new Date().toISOString()}"`,
            // The event name is pino's message: no object is built per line to carry it.
            messageKey: 'event',
            formatters: { level: (label) => ({ level: label }) },
        },
        sink,
    );
    return (event, fields) => {
        const at = levelOf(event);
        // Lines of flat fields (most per-request lines) skip the conversion of bigints.
        if (logger.isLevelEnabled(at)) logger[at](flat(fields) ? fields : (JSON.parse(JSON.stringify(fields, bigintAsString)) as LogFields), event);
    };
}
