// `cocoon attest verify <quote-file> [--collateral <json>] [--at <ISO time>] [--root-key-id <hex>]...`
// Prints one JSON object (measurements, image hash, debug flag, root key id, TCB status, verdict + error code) and
// returns the exit status: 0 accepted, 1 rejected, 2 usage / I/O error.
import { readFileSync, statSync } from 'fs';
import { isDebugTd, parseQuote } from './quote';
import { imageHash } from './image';
import { inspectRootKeyId, pckCaOf, verifyQuote } from './verify';
import { OID_SGX_EXTENSION, parseCertDer, parsePckExtension, pemToDer } from './certs';
import { PccsClient, Platform } from './pccs/client';
import { AttestationError, INTEL_ROOT_KEY_ID, ParsedQuote, TcbStatus, VerifyPolicy } from './types';
import { CocoonError } from '../errors';
import { command, CommandIo, Flags, UsageError } from '../cli-io';

// Kept importable from here: tests and older callers take CommandIo from this module.
export type { CommandIo } from '../cli-io';

export const ATTEST_VERIFY_USAGE = `usage: cocoon attest verify <quote-file> [options]
  <quote-file>                 raw quote bytes (or hex text)
  --collateral <file>          DCAP collateral JSON (dcap-qvl field names: tcb_info, qe_identity, pck_crl, ...)
  --pccs <url>                 fetch the quote platform's collateral from a PCCS (Intel PCS v4 API), verified first
  --offline                    verify without collateral (no TCB / QE identity / CRL evaluation); explicit opt-in
  --at <ISO time>              evaluate certificates and collateral at this time (default: now)
  --root-key-id <hex>          trusted root key id, SHA-384 of the root public key; repeatable (default: Intel's)
  --accept-tcb-status <s>      accepted TCB status; repeatable (default: UpToDate)
  --allow-image <hex>          allowed image hash; repeatable (default: not checked)
  --allow-td-attributes <hex>  allowed TDATTRIBUTES (8 bytes hex, quote byte order); repeatable
  --allow-xfam <hex>           allowed XFAM (8 bytes hex, quote byte order); repeatable
exit status: 0 accepted, 1 rejected (see error.code), 2 usage or I/O error`;

const MAX_FILE_BYTES = 4 * 1024 * 1024;

const ATTEST_VERIFY_FLAGS = {
    collateral: 'value',
    pccs: 'value',
    offline: 'switch',
    at: 'value',
    'root-key-id': 'list',
    'accept-tcb-status': 'list',
    'allow-image': 'list',
    'allow-td-attributes': 'list',
    'allow-xfam': 'list',
} as const;

interface Args {
    quoteFile: string;
    collateralFile?: string;
    pccsUrl?: string;
    offline: boolean;
    at: Date;
    rootKeyIds: string[];
    acceptTcbStatuses: string[];
    allowImages: string[];
    allowTdAttributes: string[];
    allowXfam: string[];
}

function argsOf(f: Flags<typeof ATTEST_VERIFY_FLAGS>, positional: string[], now: () => Date): Args {
    let at = now();
    if (f.at !== undefined) {
        const d = new Date(f.at);
        if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2}))?$/.test(f.at) || Number.isNaN(d.getTime())) throw new UsageError(`--at: not an ISO time with a zone (e.g. 2025-06-19T11:16:03Z): ${f.at}`);
        at = d;
    }
    if (positional.length !== 1) throw new UsageError('expected exactly one <quote-file>');
    if ([f.collateral !== undefined, f.pccs !== undefined, f.offline === true].filter(Boolean).length > 1) throw new UsageError('--collateral, --pccs and --offline exclude each other');
    return {
        quoteFile: positional[0],
        collateralFile: f.collateral,
        pccsUrl: f.pccs,
        offline: f.offline === true,
        at,
        rootKeyIds: f['root-key-id'] ?? [],
        acceptTcbStatuses: (f['accept-tcb-status'] ?? []).flatMap((v) => v.split(',')),
        allowImages: f['allow-image'] ?? [],
        allowTdAttributes: f['allow-td-attributes'] ?? [],
        allowXfam: f['allow-xfam'] ?? [],
    };
}

export function readBounded(path: string, what: string): Buffer {
    let size: number;
    try {
        size = statSync(path).size;
    } catch (e) {
        throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
    }
    if (size > MAX_FILE_BYTES) throw new UsageError(`${what} ${path} is larger than ${MAX_FILE_BYTES} bytes`);
    try {
        return readFileSync(path);
    } catch (e) {
        throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
    }
}

/** Raw bytes, or hex text (whitespace and a 0x prefix allowed) decoded. */
export function quoteBytes(file: Buffer): Buffer {
    const text = file.toString('latin1');
    if (/^\s*(0x)?[0-9a-fA-F\s]+$/.test(text)) {
        const hex = text.replace(/\s+/g, '').replace(/^0x/, '');
        if (hex.length % 2 === 0) return Buffer.from(hex, 'hex');
    }
    return file;
}

function measurements(q: ParsedQuote): Record<string, string> {
    const b = q.body;
    const out: Record<string, string> = {
        mrTd: b.mrTd.toString('hex'),
        mrConfigId: b.mrConfigId.toString('hex'),
        mrOwner: b.mrOwner.toString('hex'),
        mrOwnerConfig: b.mrOwnerConfig.toString('hex'),
        rtmr0: b.rtmr0.toString('hex'),
        rtmr1: b.rtmr1.toString('hex'),
        rtmr2: b.rtmr2.toString('hex'),
        rtmr3: b.rtmr3.toString('hex'),
        reportData: b.reportData.toString('hex'),
        tdAttributes: b.tdAttributes.toString('hex'),
        xfam: b.xfam.toString('hex'),
        mrSeam: b.mrSeam.toString('hex'),
        mrSignerSeam: b.mrSignerSeam.toString('hex'),
        seamAttributes: b.seamAttributes.toString('hex'),
        teeTcbSvn: b.teeTcbSvn.toString('hex'),
    };
    if (b.teeTcbSvn2) out.teeTcbSvn2 = b.teeTcbSvn2.toString('hex');
    if (b.mrServiceTd) out.mrServiceTd = b.mrServiceTd.toString('hex');
    return out;
}

/** The `attest verify` command. `argv` is what follows `attest verify`. */
export function attestVerifyCommand(argv: string[], io: CommandIo, now: () => Date = () => new Date()): Promise<number> {
    return command(io, ATTEST_VERIFY_USAGE, argv, ATTEST_VERIFY_FLAGS, async (flags, positional) => {
        const args = argsOf(flags, positional, now);
        return args.pccsUrl === undefined ? verify(args, io) : verifyWithPccs(args, args.pccsUrl, io);
    }, { positional: true, prefix: 'attest verify: ' });
}

/**
 * --pccs: the collateral of the platform the quote's PCK certificate names, fetched and verified against the trusted
 * roots (spec/attestation.md "Live collateral"); a fetch that fails is the verdict (COLLATERAL_UNAVAILABLE, ...).
 */
async function verifyWithPccs(args: Args, url: string, io: CommandIo): Promise<number> {
    const quote = quoteBytes(readBounded(args.quoteFile, 'quote file'));
    const roots = args.rootKeyIds.length ? args.rootKeyIds : [INTEL_ROOT_KEY_ID];
    let fetched: { collateral?: unknown; error?: CocoonError } = {};
    try {
        const client = new PccsClient({ baseUrl: url });
        const platform = pckPlatformOf(parseQuote(quote));
        if (!platform) throw new AttestationError('PCK_CHAIN_INVALID', 'cannot read the FMSPC and PCK CA from the quote\'s PCK chain');
        fetched = { collateral: (await client.fetchCollateral(platform, roots, args.at)).collateral };
    } catch (e) {
        if (!(e instanceof CocoonError)) throw e;
        if (e.code === 'POLICY_INVALID') throw new UsageError(`--pccs: ${e.message}`);
        fetched = { error: e }; // the verdict: QUOTE_MALFORMED, PCK_CHAIN_INVALID, COLLATERAL_UNAVAILABLE, ...
    }
    return verify(args, io, fetched, url);
}

/** FMSPC and PCK CA named by a quote's (not yet verified) PCK chain; the verifier checks them against the collateral. */
function pckPlatformOf(q: ParsedQuote): Platform | undefined {
    try {
        const [leaf, ca] = q.pckChainPem.map((pem) => parseCertDer(pemToDer(pem)));
        const ext = leaf.extensions.get(OID_SGX_EXTENSION);
        return ext && ca ? { fmspc: parsePckExtension(ext.value).fmspc.toString('hex'), ca: pckCaOf(ca) } : undefined;
    } catch {
        return undefined;
    }
}

function verify(args: Args, io: CommandIo, fetched?: { collateral?: unknown; error?: CocoonError }, pccsUrl?: string): number {
    const quote = quoteBytes(readBounded(args.quoteFile, 'quote file'));
    let collateral: unknown = fetched?.collateral;
    if (args.collateralFile !== undefined) {
        const text = readBounded(args.collateralFile, 'collateral file').toString('utf8');
        try {
            collateral = JSON.parse(text);
        } catch {
            collateral = text; // not JSON: the verifier rejects it as COLLATERAL_INVALID
        }
    }

    const policy: VerifyPolicy = {
        trustedRootKeyIds: args.rootKeyIds.length ? args.rootKeyIds : [INTEL_ROOT_KEY_ID],
        at: args.at,
        collateral: collateral as VerifyPolicy['collateral'],
        requireCollateral: !args.offline,
        acceptedTcbStatuses: args.acceptTcbStatuses.length ? (args.acceptTcbStatuses as TcbStatus[]) : undefined,
        allowedImageHashes: args.allowImages.length ? args.allowImages : undefined,
        allowedTdAttributes: args.allowTdAttributes.length ? args.allowTdAttributes : undefined,
        allowedXfam: args.allowXfam.length ? args.allowXfam : undefined,
    };

    const report: Record<string, unknown> = {
        verdict: 'rejected',
        error: null,
        file: args.quoteFile,
        size: quote.length,
        version: null,
        bodyType: null,
        measurements: null,
        imageHash: null,
        debug: null,
        rootKeyId: null,
        rootTrusted: null,
        tcbStatus: null,
        advisoryIds: [],
        fmspc: null,
        at: args.at.toISOString(),
        policy: {
            trustedRootKeyIds: policy.trustedRootKeyIds,
            requireCollateral: policy.requireCollateral,
            collateral: args.collateralFile ?? pccsUrl ?? null,
            acceptedTcbStatuses: policy.acceptedTcbStatuses ?? ['UpToDate'],
            allowedImageHashes: policy.allowedImageHashes ?? null,
            allowedTdAttributes: policy.allowedTdAttributes ?? null,
            allowedXfam: policy.allowedXfam ?? null,
        },
    };
    // What the quote says, even when it is rejected (never trusted: the verdict decides).
    try {
        const q = parseQuote(quote);
        report.version = q.version;
        report.bodyType = q.bodyType;
        report.measurements = measurements(q);
        report.imageHash = imageHash(q.body).toString('hex');
        report.debug = isDebugTd(q.body);
        const rk = inspectRootKeyId(q);
        report.rootKeyId = rk ?? null;
        if (rk) report.rootTrusted = policy.trustedRootKeyIds.map((k) => k.toLowerCase()).includes(rk);
    } catch {
        // the verifier reports the parse error below
    }
    let status: number;
    try {
        if (fetched?.error) throw fetched.error;
        const v = verifyQuote(quote, policy);
        report.verdict = 'accepted';
        report.rootKeyId = v.rootKeyId;
        report.rootTrusted = true;
        report.tcbStatus = v.tcbStatus ?? null;
        report.advisoryIds = v.advisoryIds;
        report.fmspc = v.fmspc ?? null;
        status = 0;
    } catch (e) {
        if (!(e instanceof CocoonError)) throw e;
        report.error = e.toJSON();
        if (e instanceof AttestationError && e.code === 'TCB_STATUS' && typeof e.details?.tcbStatus === 'string') report.tcbStatus = e.details.tcbStatus;
        status = e.code === 'POLICY_INVALID' ? 2 : 1;
    }
    io.stdout(JSON.stringify(report, null, 2) + '\n');
    return status;
}
