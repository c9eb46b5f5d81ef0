// A CommandIo that keeps what a command printed, for in-process CLI tests.
import type { CommandIo } from '../../agents/core/cli-io';

export function capture(): CommandIo & { out: string; err: string; json: () => Record<string, any> } {
    const io = {
        out: '',
        err: '',
        stdout(s: string) {
            io.out += s;
        },
        stderr(s: string) {
            io.err += s;
        },
        json: () => JSON.parse(io.out) as Record<string, any>,
    };
    return io;
}
