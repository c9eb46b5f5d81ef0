// Formatting shared by the server's pages and the browser bundle (no imports: the bundle stays small). Exact: amounts
// are bigint arithmetic on nanoTON strings, never floats.

const NANO = 1_000_000_000n;

/** nanoTON (decimal string) -> "1.5 TON", exact; a string that is not an integer is shown as given. */
export function formatTon(nano: string): string {
    if (!/^-?\d+$/.test(nano)) return `${nano} nanoTON`;
    const n = BigInt(nano);
    const abs = n < 0n ? -n : n;
    const frac = (abs % NANO).toString().padStart(9, '0').replace(/0+$/, '');
    const whole = (abs / NANO).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return `${n < 0n ? '-' : ''}${whole}${frac ? '.' + frac : ''} TON`;
}

/** Basis points -> "66.67 %", exact. */
export function formatBps(bps: number): string {
    const frac = String(bps % 100).padStart(2, '0').replace(/0+$/, '');
    return `${Math.trunc(bps / 100)}${frac ? '.' + frac : ''} %`;
}

/** Seconds -> "2 h 14 min" (the largest unit and the next one when not zero), "0 s" for zero. */
export function formatDuration(seconds: number): string {
    const s = Math.abs(Math.trunc(seconds));
    const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]] as const;
    const i = units.findIndex(([, size]) => s >= size);
    if (i < 0) return '0 s';
    const [unit, size] = units[i];
    const first = `${Math.floor(s / size)} ${unit}`;
    if (i === units.length - 1) return first;
    const [nextUnit, nextSize] = units[i + 1];
    const next = Math.floor((s % size) / nextSize);
    return next ? `${first} ${next} ${nextUnit}` : first;
}

/** A time relative to `now` (both unix seconds): "in 2 h 14 min", "5 min 3 s ago", "now". */
export function formatCountdown(at: number, now: number): string {
    const d = Math.trunc(at) - Math.trunc(now);
    if (d === 0) return 'now';
    return d > 0 ? `in ${formatDuration(d)}` : `${formatDuration(-d)} ago`;
}

/** Unix seconds -> "2026-12-03 18:00:00 UTC". */
export function formatTime(at: number): string {
    return new Date(at * 1000).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

/** A raw address `<wc>:<64 hex>`, the only form that goes into an explorer link. */
export const RAW_ADDRESS = /^-?\d{1,3}:[0-9a-f]{64}$/;
