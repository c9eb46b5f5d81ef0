// RA-TLS handshake benchmark on loopback: mutual TLS 1.3 with RA-TLS certificates (simulated-PKI quotes verified by
// the production verifier, with collateral) up to WebSocket open, with cold and cached quote verification.
//   npx ts-node bench/ratls.ts [--n 50]
// Prints one JSON object. "cold": every connection verifies the peer's quote from scratch on both sides (cache TTL
// 0); "cached": both sides reuse the verdict (the certificate checks still run every time).
import { performance } from 'perf_hooks';
import { cpus } from 'os';
import { SimulatedTee } from '../agents/core/tee/simulated';
import { imageHash } from '../agents/core/tee/image';
import { connectRaTls, issueRaTlsCert, PeerPolicy, PeerVerifier, RaTlsIdentity, RaTlsServer } from '../agents/core/transport';

function arg(name: string, dflt: number): number {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

async function handshakes(url: string, id: RaTlsIdentity, verifier: PeerVerifier, n: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
        const c = await connectRaTls(url, id, verifier);
        c.ws.terminate();
    }
    return (performance.now() - t0) / n;
}

async function main() {
    const n = arg('n', 50);
    const tee = await SimulatedTee.create();
    const allowed = imageHash(tee.measurements).toString('hex');
    const policy: PeerPolicy = { quote: { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral: await tee.signCollateral() }, isImageAllowed: (x) => x === allowed };
    const [sid, cid] = await Promise.all([RaTlsIdentity.create({ provider: tee }), RaTlsIdentity.create({ provider: tee })]);

    const result: Record<string, unknown> = { bench: 'ratls', date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model };
    const hs: Record<string, unknown> = {};
    for (const mode of ['cold', 'cached'] as const) {
        const ttl = mode === 'cold' ? 0 : 3600_000;
        const serverVerifier = new PeerVerifier(policy, { cacheTtlMs: ttl });
        const clientVerifier = new PeerVerifier(policy, { cacheTtlMs: ttl });
        const server = new RaTlsServer({ identity: sid, verifier: serverVerifier });
        server.on('connection', () => undefined);
        const { url } = await server.listen();
        await handshakes(url, cid, clientVerifier, 5); // warm-up (JIT, and the cache in cached mode)
        const ms = await handshakes(url, cid, clientVerifier, n);
        hs[mode] = { msPerHandshake: +ms.toFixed(3), n, serverCache: { hits: serverVerifier.cache!.hits, misses: serverVerifier.cache!.misses }, clientCache: { hits: clientVerifier.cache!.hits, misses: clientVerifier.cache!.misses } };
        await server.close();
    }
    result.handshake = hs;

    const m = n * 4;
    const vr: Record<string, unknown> = {};
    for (const mode of ['cold', 'cached'] as const) {
        const v = new PeerVerifier(policy, { cacheTtlMs: mode === 'cold' ? 0 : 3600_000 });
        v.verify(sid.current.der);
        const t0 = performance.now();
        for (let i = 0; i < m; i++) v.verify(sid.current.der);
        vr[mode] = { msPerOp: +((performance.now() - t0) / m).toFixed(4), n: m };
    }
    result.verifyCert = vr;

    const t0 = performance.now();
    for (let i = 0; i < n; i++) await issueRaTlsCert({ keys: sid.keys, provider: tee });
    result.issueCert = { msPerOp: +((performance.now() - t0) / n).toFixed(3), n, provider: 'simulated' };

    console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
