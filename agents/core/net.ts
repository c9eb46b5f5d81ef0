// Small socket helpers shared by the agents' HTTP servers, the devnet launcher, tests and benches.
import type { Server } from 'http';
import { AddressInfo, createServer } from 'net';

/** Starts `server` on host:port (0 = an ephemeral port) and resolves with its address; rejects on a listen error. */
export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
    return new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
            server.off('error', reject);
            resolve(server.address() as AddressInfo);
        });
    });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for endpoints that must be known before their server starts). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const p = (s.address() as AddressInfo).port;
            s.close(() => resolve(p));
        });
    });
}
