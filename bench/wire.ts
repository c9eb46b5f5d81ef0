// Frame parsing cost of hostile and large frames (attack 17 of issue 8): 4 MiB of `[` through parseFrame (refused by
// the depth scan) against JSON.parse of the same text (what the parser did before), and the scan's share of parsing
// a legitimate 3 MiB request.
//   npx ts-node --transpile-only bench/wire.ts [--n 5]
// Prints one JSON object (milliseconds, median of n runs).
import { performance } from 'perf_hooks';
import { cpus } from 'os';
import { jsonDepthExceeded, MAX_FRAME_BYTES, parseFrame } from '../agents/core/wire';

function arg(name: string, dflt: number): number {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

function median(n: number, f: () => void): number {
    const t: number[] = [];
    for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        f();
        t.push(performance.now() - t0);
    }
    t.sort((a, b) => a - b);
    return Math.round(t[t.length >> 1] * 1000) / 1000;
}

function main() {
    const n = arg('n', 5);
    const flood = '['.repeat(MAX_FRAME_BYTES);
    const content = 'lorem ipsum [dolor] {sit} "amet" '.repeat(Math.floor((3 * 1024 * 1024) / 34));
    const request = JSON.stringify({
        type: 'request',
        v: 1,
        id: 'ab'.repeat(16),
        model: 'm/x',
        endpoint: 'chat',
        stream: false,
        maxTokens: 16,
        maxCoefficient: '1000',
        body: { model: 'm/x', messages: [{ role: 'user', content }] },
    });
    const refuse = () => {
        try {
            parseFrame(flood, 'client_to_proxy');
        } catch {
            /* WIRE_MALFORMED */
        }
    };
    const oldParse = () => {
        try {
            JSON.parse(flood);
        } catch {
            /* not JSON */
        }
    };
    console.log(
        JSON.stringify({
            bench: 'wire',
            machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
            n,
            floodBytes: flood.length,
            floodParseFrameMs: median(n, refuse),
            floodJsonParseMs: median(n, oldParse),
            requestBytes: request.length,
            requestParseFrameMs: median(n, () => parseFrame(request, 'client_to_proxy')),
            requestDepthScanMs: median(n, () => jsonDepthExceeded(request)),
        }),
    );
}

main();
