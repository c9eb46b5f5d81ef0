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

/**
 * Writes each event as one JSON line (`t`, `agent`, `event`, then the fields; bigints as decimal strings). Lines
 * of flat fields (most per-request lines) skip the replacer, which cost half of a line's formatting.
 */
export function jsonLines(write: (line: string) => void, agent: string): Log {
    return (event, fields) => {
        const line = { t: new Date().toISOString(), agent, event, ...fields };
        write((flat(fields) ? JSON.stringify(line) : JSON.stringify(line, bigintAsString)) + '\n');
    };
}
