// Crash safety: a child process writes to the ledger and acknowledges each returned write on stdout; the test
// SIGKILLs it at a random point and checks that every acknowledged write survived and the file is consistent.
// SIGKILL loses the process, not the OS page cache: a commit (synchronous = NORMAL, in the WAL) survives it without
// any sync. Power loss (the unsynced WAL tail lost) is simulated in ledger.spec.ts by restoring a copy of the file
// taken at the last flush ("power loss: …").
import { existsSync } from 'fs';
import { ChildProcess, spawn } from 'child_process';
import { join } from 'path';
import { randomInt } from 'crypto';
import { Ledger } from '../../../agents/proxy/ledger';
import { addr, dumpDb, sigHex, tempDir } from './fixtures/ledger-helpers';

const FIXTURE = join(__dirname, 'fixtures', 'crash-writer.ts');
const ROUNDS = 3;

interface Acked {
    deliveries: Map<string, bigint>;
    voucher: bigint;
}

/** Spawns the writer, kills it with SIGKILL after `killAfter` acknowledgements, returns what it acknowledged. */
function runUntilKilled(path: string, killAfter: number, acked: Acked, mode?: 'once'): Promise<{ signal: string | null; acks: number }> {
    return new Promise((resolve, reject) => {
        const child: ChildProcess = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', FIXTURE, path, '1000', ...(mode ? [mode] : [])], {
            cwd: join(__dirname, '..', '..', '..'),
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let buf = '';
        let acks = 0;
        let stderr = '';
        child.stderr!.on('data', (d) => (stderr += d));
        child.stdout!.on('data', (d: Buffer) => {
            buf += d.toString('utf8');
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                const parts = line.split(' ');
                if (parts[0] !== 'ACK') continue;
                if (parts[1] === 'deliver') acked.deliveries.set(parts[2], BigInt(parts[3]));
                if (parts[1] === 'voucher') acked.voucher = BigInt(parts[2]);
                if (++acks === killAfter) child.kill('SIGKILL');
            }
        });
        child.on('error', reject);
        child.on('close', (code, signal) => {
            if (signal === 'SIGKILL') resolve({ signal, acks });
            else reject(new Error(`writer exited with ${code}: ${stderr}`));
        });
    });
}

describe('crash safety', () => {
    it(`keeps every acknowledged write across ${ROUNDS} SIGKILLs at random points`, async () => {
        const tmp = tempDir('ledger-crash-');
        const path = tmp.file('ledger.sqlite');
        const client = addr('client', 1);
        const worker = addr('worker', 1);
        const acked: Acked = { deliveries: new Map(), voucher: 0n };
        try {
            for (let round = 0; round < ROUNDS; round++) {
                const { signal, acks } = await runUntilKilled(path, randomInt(1, 300), acked);
                expect(signal).toBe('SIGKILL');
                expect(acks).toBeGreaterThan(0);

                // Reopen after the crash (the WAL is recovered) and compare with what was acknowledged.
                const ledger = Ledger.open(path, { commissionBps: 1000 });
                try {
                    for (const [id, cost] of acked.deliveries) {
                        expect(ledger.getRequest(id)).toMatchObject({ status: 'delivered', cost });
                    }
                    const c = ledger.client(client);
                    expect(c.latestVoucher?.amount ?? 0n).toBeGreaterThanOrEqual(acked.voucher);
                    // Whole transactions only: the counters equal the sums of the rows that exist.
                    const db = dumpDb(path) as unknown as { requests: Array<{ request_id: string; cost: bigint; worker_part: bigint }> };
                    // At most one write beyond the last acknowledgement can have committed.
                    expect(db.requests.length).toBeGreaterThanOrEqual(acked.deliveries.size);
                    expect(db.requests.length).toBeLessThanOrEqual(acked.deliveries.size + 1);
                    expect(c.deliveredCost).toBe(db.requests.reduce((s, r) => s + r.cost, 0n));
                    expect(ledger.worker(worker).earned).toBe(db.requests.reduce((s, r) => s + r.worker_part, 0n));
                    expect(c.latestVoucher?.amount ?? 0n).toBeLessThanOrEqual(c.deliveredCost);
                    // The next run continues after the rows that exist, including an unacknowledged last one.
                    for (const r of db.requests) if (!acked.deliveries.has(r.request_id)) acked.deliveries.set(r.request_id, r.cost);
                } finally {
                    ledger.close();
                }
            }
            expect(acked.deliveries.size).toBeGreaterThanOrEqual(ROUNDS);
        } finally {
            tmp.remove();
        }
    });

    it('a proxy killed right after a response_end left, before any WAL flush: the booking is there after the restart and the client’s voucher for it is accepted', async () => {
        const tmp = tempDir('ledger-crash-once-');
        const path = tmp.file('ledger.sqlite');
        const client = addr('client', 1);
        const acked: Acked = { deliveries: new Map(), voucher: 0n };
        try {
            const { signal, acks } = await runUntilKilled(path, 0, acked, 'once');
            expect(signal).toBe('SIGKILL');
            expect(acks).toBe(1);
            expect(existsSync(`${path}-wal`)).toBe(true); // the booking is in the WAL, never checkpointed
            const ledger = Ledger.open(path, { commissionBps: 1000 });
            try {
                expect(ledger.uncleanStart).toBe(true);
                const [[id, cost]] = [...acked.deliveries];
                expect(ledger.getRequest(id)).toMatchObject({ status: 'delivered', cost });
                expect(ledger.client(client).deliveredCost).toBe(cost);
                // The client verified the receipt and signs it: accepted as an ordinary voucher, nothing recovered.
                expect(ledger.acceptVoucher(client, cost, sigHex())).toMatchObject({ stored: true, recovered: 0n });
                expect(ledger.unsignedExposure(client)).toBe(0n);
            } finally {
                ledger.close();
            }
        } finally {
            tmp.remove();
        }
    });
});
