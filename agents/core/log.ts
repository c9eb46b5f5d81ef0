// One log type for every role (spec/operations.md, "Logs"): a structured sink taking an event name and its fields.
// Event names follow one rule, `<area>.<event>` in lower-case words joined by '-' (`stake.sent`, `link.error`,
// `worker.slow-dropped`; tests/agents/core/log-events.spec.ts scans agents/ for it). A line names the peer it
// concerns (`peer`: a proxy's connection id, or the proxy a worker or client talks to), the request (`id`) and the
// error code (`code`) under those same keys whenever they are known.

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

/** True when no field is a bigint or an object (that could hold one): JSON.stringify then needs no replacer. */
function flat(fields: LogFields): boolean {
    for (const k in fields) {
        const v = fields[k];
        if (typeof v === 'bigint' || (typeof v === 'object' && v !== null)) return false;
    }
    return true;
}

/** How long lines may wait to be written together, and how much text forces a write at once. */
export const LOG_FLUSH_MS = 50;
export const LOG_FLUSH_BYTES = 32 * 1024;

/** Flushes of every jsonLines log with lines waiting; all run at process exit. */
const waiting = new Set<() => void>();
let exitHooked = false;

/**
 * Writes each event as one JSON line (`t`, `agent`, `event`, then the fields; bigints as decimal strings). Lines
 * are written together: within LOG_FLUSH_MS of the first waiting one, at once past LOG_FLUSH_BYTES, and at process
 * exit (uncaught errors included). stderr to a pipe is a blocking write: one per request line cost the proxy
 * ~0.35 ms of wall time and ~45 µs of CPU per request in the processes bench (the worker ~0.8 ms). Lines of flat
 * fields (most per-request lines) skip the replacer, which cost half of a line's formatting.
 */
export function jsonLines(write: (text: string) => void, agent: string): Log {
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
    return (event, fields) => {
        const line = { t: new Date().toISOString(), agent, event, ...fields };
        pending += (flat(fields) ? JSON.stringify(line) : JSON.stringify(line, bigintAsString)) + '\n';
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
    };
}
