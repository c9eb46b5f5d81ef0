// Attestation benchmark: TDX quote verification per operation, cold and cached, printed as one JSON object.
//   npx ts-node bench/attestation.ts [--ops 300]
// "cold": verifyQuote from scratch on every call (no cache; parse, PCK chain, QE report, quote signature and, with
// collateral, TCB info / QE identity / CRL signatures and TCB matching). "cached": VerificationCache.verify on the same
// quote and policy (SHA-256 of the quote + policy fingerprint + TTL/validity-window check).
// quoteVerify uses the real Intel vector (fixtures/vectors/tdx) with its collateral at the README time;
// quoteVerifySimulated the same with a simulated-TEE quote and collateral; the other entries break the cost down.
// gpuEvidence: one simulated GPU's evidence (bundle decode, P-384 chain and signature, two XML-DSig RIMs, golden values)
// checked by a fresh GpuEvidenceChecker per call (cold) and by one checker (cached, as peers run it); sealedBlob: the
// key service's seal and open of a 32-byte seed (HKDF + AES-256-GCM), without the TLS round trip (bench:ratls).
import { cpus } from 'os';
import { performance } from 'perf_hooks';
import { parseQuote } from '../agents/core/tee/quote';
import { SimulatedTee } from '../agents/core/tee/simulated';
import { Collateral, INTEL_ROOT_KEY_ID, VerifyPolicy } from '../agents/core/tee/types';
import { VerificationCache, verifyQuote } from '../agents/core/tee/verify';
import { tdxVector } from '../fixtures/vectors';
import { randomBytes } from 'crypto';
import { Address } from '@ton/core';
import { GpuEvidenceChecker, SimulatedGpu, gpuNonceFor } from '../agents/core/tee/gpu';
import { decodeGpuBundle, encodeGpuBundle } from '../agents/core/tee/gpu/bundle';
import { openBlob, sealBlob } from '../agents/core/keys/blob';


function arg(name: string, dflt: number): number {
    const i = process.argv.indexOf(`--${name}`);
    const v = i > 0 ? Number(process.argv[i + 1]) : dflt;
    if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
    return v;
}

/** Mean ms per call of fn over `ops` calls, after a short warm-up. */
function msPerOp(fn: () => unknown, ops: number): number {
    for (let i = 0; i < Math.min(20, ops); i++) fn();
    const t0 = performance.now();
    for (let i = 0; i < ops; i++) fn();
    return +((performance.now() - t0) / ops).toFixed(4);
}

export interface QuoteVerifyFigures {
    source: string;
    collateral: boolean;
    coldMsPerOp: number;
    cachedMsPerOp: number;
    ops: number;
}

/** Cold vs cached verification of one quote under one policy. */
export function benchQuoteVerify(source: string, quote: Buffer, policy: VerifyPolicy, ops: number): QuoteVerifyFigures {
    verifyQuote(quote, policy); // must verify: a benchmark of rejections would be meaningless
    const coldMsPerOp = msPerOp(() => verifyQuote(quote, policy), ops);
    const cache = new VerificationCache({ ttlMs: 3600_000 });
    const cachedMsPerOp = msPerOp(() => cache.verify(quote, policy), ops * 10);
    if (cache.misses !== 1) throw new Error(`cache expected 1 miss, got ${cache.misses}`);
    return { source, collateral: policy.collateral !== undefined, coldMsPerOp, cachedMsPerOp, ops };
}

/** One simulated GPU's evidence for a worker key: cold (a fresh checker per call) and cached (one checker). */
export async function benchGpuEvidence(ops: number) {
    const gpu = await SimulatedGpu.create();
    const workerKey = randomBytes(32);
    const bundle = encodeGpuBundle([{ report: gpu.report(gpuNonceFor(workerKey)), chainPem: gpu.chainPem }]);
    const trust = { deviceRootPem: gpu.deviceRootPem, rimRootPem: gpu.rimRootPem, rims: gpu.rims() };
    const verdict = new GpuEvidenceChecker(trust).verify(bundle, workerKey)[0]; // must verify, as above
    const cached = new GpuEvidenceChecker(trust);
    return {
        bundleBytes: bundle.length,
        measurements: `${verdict.measurements.matched}/${verdict.measurements.total}`,
        coldMsPerOp: msPerOp(() => new GpuEvidenceChecker(trust).verify(bundle, workerKey), ops),
        cachedMsPerOp: msPerOp(() => cached.verify(bundle, workerKey), ops * 10),
        decodeMsPerOp: msPerOp(() => decodeGpuBundle(bundle), ops * 10),
        ops,
    };
}

/** The key service's seal and open of one 32-byte seed. */
export function benchSealedBlob(ops: number) {
    const master = randomBytes(32);
    const h = { role: 'proxy' as const, owner: new Address(0, randomBytes(32)), name: 'seed' };
    const blob = sealBlob(master, h, randomBytes(32));
    return {
        blobBytes: blob.length,
        sealMsPerOp: msPerOp(() => sealBlob(master, h, randomBytes(32)), ops * 10),
        openMsPerOp: msPerOp(() => openBlob(master, blob, h), ops * 10),
        ops: ops * 10,
    };
}

async function main() {
    const ops = arg('ops', 300);
    const tee = await SimulatedTee.create();
    const simQuote = await tee.getQuote(Buffer.alloc(64, 1));
    const simCollateral = await tee.signCollateral();
    const simPolicy: VerifyPolicy = { trustedRootKeyIds: [tee.rootKeyId], at: new Date(), requireCollateral: true, collateral: simCollateral };

    const collateral = JSON.parse(tdxVector('tdx_quote_collateral.json').toString('utf8')) as Collateral;
    const real = {
        quote: tdxVector('tdx_quote'),
        policy: { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], at: new Date('2025-06-19T11:16:03Z'), requireCollateral: true, collateral } as VerifyPolicy,
    };

    const result: Record<string, unknown> = {
        bench: 'attestation',
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        quoteVerify: benchQuoteVerify('intel-vector tdx_quote', real.quote, real.policy, ops),
        quoteVerifySimulated: benchQuoteVerify('simulated v4', simQuote, simPolicy, ops),
        quoteVerifyOffline: benchQuoteVerify('intel-vector tdx_quote', real.quote, { ...real.policy, collateral: undefined, requireCollateral: false }, ops),
        quoteParse: { msPerOp: msPerOp(() => parseQuote(real.quote), ops * 10), ops: ops * 10 },
        simulatedGetQuote: { msPerOp: msPerOp(() => tee.makeQuote(Buffer.alloc(64, 2)), ops), ops },
        gpuEvidence: await benchGpuEvidence(ops),
        sealedBlob: benchSealedBlob(ops),
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

if (require.main === module) {
    main().catch((e: unknown) => {
        process.stderr.write(`bench/attestation: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exitCode = 1;
    });
}
