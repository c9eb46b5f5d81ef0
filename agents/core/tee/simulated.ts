// Simulated TEE (reference/attestation.md §5): a locally generated Intel-like PKI — P-256 "SIMULATED SGX Root CA"
// -> "SIMULATED PCK Platform CA" -> "SIMULATED PCK Certificate" (with the SGX PCK extension: FMSPC, PCE-ID, CPUSVN,
// PCESVN) — a QE attestation key certified by a QE report signed with the PCK key, and real-format TDX quotes
// (v4, or v5 with a TDX 1.0 / 1.5 body). A "SIMULATED TCB Signing" certificate under the same root signs TCB info,
// QE identity and CRLs, so the whole collateral path runs without Intel.
//
// The quotes are checked by the production verifier. They are trusted only by a policy that lists this PKI's
// rootKeyId explicitly; Intel's root key id never matches, so a production policy rejects them (UNTRUSTED_ROOT).
//
// The state (keys, certificates, QE report, measurements) serialises to JSON, so devnet agents in several
// processes can share one PKI across restarts: SimulatedTee.fromState(JSON.parse(text)).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, KeyObject, randomBytes, sign as cryptoSign, webcrypto } from 'crypto';
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'fs';
import { buildPckExtension, derToPem, ecPoint, OID_SGX_EXTENSION, rootKeyIdOf } from './certs';
import { BODY, BODY_TYPE_TDX10, BODY_TYPE_TDX15, CERT_TYPE_PCK_CHAIN, CERT_TYPE_QE_REPORT, INTEL_QE_VENDOR_ID, QE, QE_REPORT_LEN, TD10_BODY_LEN, TD15_BODY_LEN } from './quote';
import { AttestationError, Collateral, QuoteProvider, TcbStatus, TdReportBody } from './types';

const wc = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
export const SIMULATED_STATE_FORMAT = 'cocoon-simulated-tee/1';

/** Measurements and TD fields the simulated TD reports (raw bytes as they appear in the quote body). */
/** Every TD body field but REPORTDATA (bit 0 of tdAttributes = DEBUG; bit 28 = SEPT_VE_DISABLE); the two
 * TDX 1.5 fields are used only for 1.5 bodies. */
export type SimulatedMeasurements = Required<Omit<TdReportBody, 'reportData'>>;

const MEASUREMENT_LEN: Record<keyof SimulatedMeasurements, number> = {
    teeTcbSvn: 16,
    mrSeam: 48,
    mrSignerSeam: 48,
    seamAttributes: 8,
    tdAttributes: 8,
    xfam: 8,
    mrTd: 48,
    mrConfigId: 48,
    mrOwner: 48,
    mrOwnerConfig: 48,
    rtmr0: 48,
    rtmr1: 48,
    rtmr2: 48,
    rtmr3: 48,
    teeTcbSvn2: 16,
    mrServiceTd: 48,
};

export interface SimulatedPlatform {
    fmspc: Buffer; // 6
    pceId: Buffer; // 2
    cpuSvn: Buffer; // 16
    pceSvn: number;
    ppid: Buffer; // 16
}

export interface SimulatedQe {
    mrSigner: Buffer; // 32
    mrEnclave: Buffer; // 32
    isvProdId: number;
    isvSvn: number;
    miscSelect: number;
    attributes: Buffer; // 16
}

export type QuoteLayout = { version: 4; bodyType?: 'tdx10' } | { version: 5; bodyType: 'tdx10' | 'tdx15' };

/** JSON form of a SimulatedTee (hex for bytes, PEM for keys and certificates). */
export interface SimulatedTeeState {
    format: typeof SIMULATED_STATE_FORMAT;
    certs: { root: string; platformCa: string; pck: string; tcbSigning: string };
    keys: { root: string; platformCa: string; pck: string; tcbSigning: string; attestation: string };
    qeReport: string;
    qeReportSignature: string;
    qeAuthData: string;
    qeId: string; // 16 bytes, header user data
    platform: { fmspc: string; pceId: string; cpuSvn: string; pceSvn: number; ppid: string };
    qe: { mrSigner: string; mrEnclave: string; isvProdId: number; isvSvn: number; miscSelect: number; attributes: string };
    measurements: Record<keyof SimulatedMeasurements, string>;
    layout: QuoteLayout;
}

export interface SimulatedTeeOptions {
    measurements?: Partial<SimulatedMeasurements>;
    layout?: QuoteLayout;
    platform?: Partial<SimulatedPlatform>;
    qe?: Partial<SimulatedQe>;
    /** Validity of the simulated certificates; default: from a day ago for 10 years. */
    notBefore?: Date;
    notAfter?: Date;
    /** Organisation in the certificate names (to tell several simulated PKIs apart). */
    organization?: string;
}

export interface SimulatedCollateralOptions {
    /** issueDate of TCB info / QE identity and thisUpdate of the CRLs; default an hour ago. */
    issueDate?: Date;
    /** nextUpdate of TCB info / QE identity / CRLs; default issueDate + 30 days. */
    nextUpdate?: Date;
    /** Status of the platform TCB level that matches this platform (default UpToDate). */
    tcbStatus?: TcbStatus;
    advisoryIds?: string[];
    /** Status of the QE identity TCB level (default UpToDate). */
    qeTcbStatus?: TcbStatus;
    /** Status of the TDX module identity TCB level (default UpToDate). */
    tdxModuleStatus?: TcbStatus;
    /** Put the PCK certificate on the PCK CRL / the PCK CA on the root CA CRL. */
    revokePck?: boolean;
    revokePckCa?: boolean;
    /** Override the FMSPC in TCB info (collateral for another platform). */
    fmspc?: string;
    /** Raise the required platform SVNs above this platform's (no matching TCB level). */
    requireNewerPlatform?: boolean;
    /** Last-minute edits of the TCB info / QE identity JSON objects before they are signed (negative tests). */
    editTcbInfo?: (tcbInfo: Record<string, unknown>) => void;
    editQeIdentity?: (qeIdentity: Record<string, unknown>) => void;
}

function sha(alg: 'sha256' | 'sha384', s: string): Buffer {
    return createHash(alg).update(s).digest();
}

function defaultMeasurements(): SimulatedMeasurements {
    return {
        teeTcbSvn: Buffer.from('06010300000000000000000000000000', 'hex'),
        mrSeam: sha('sha384', 'cocoon simulated TDX module'),
        mrSignerSeam: Buffer.alloc(48),
        seamAttributes: Buffer.alloc(8),
        tdAttributes: Buffer.from('0000001000000000', 'hex'), // SEPT_VE_DISABLE, not debug
        xfam: Buffer.from('e702060000000000', 'hex'),
        mrTd: sha('sha384', 'cocoon simulated MRTD'),
        mrConfigId: Buffer.alloc(48),
        mrOwner: Buffer.alloc(48),
        mrOwnerConfig: Buffer.alloc(48),
        rtmr0: sha('sha384', 'cocoon simulated RTMR0'),
        rtmr1: sha('sha384', 'cocoon simulated RTMR1'),
        rtmr2: sha('sha384', 'cocoon simulated RTMR2'),
        rtmr3: Buffer.alloc(48),
        teeTcbSvn2: Buffer.from('06010300000000000000000000000000', 'hex'),
        mrServiceTd: Buffer.alloc(48),
    };
}

function checkMeasurements(m: Partial<SimulatedMeasurements>): void {
    for (const [k, v] of Object.entries(m)) {
        const len = MEASUREMENT_LEN[k as keyof SimulatedMeasurements];
        if (len === undefined) throw new RangeError(`unknown measurement ${k}`);
        if (!Buffer.isBuffer(v) || v.length !== len) throw new RangeError(`measurement ${k} must be ${len} bytes`);
    }
}

function checkLayout(l: QuoteLayout): void {
    if (!(l.version === 4 && (l.bodyType ?? 'tdx10') === 'tdx10') && !(l.version === 5 && (l.bodyType === 'tdx10' || l.bodyType === 'tdx15'))) {
        throw new RangeError('quote layout must be v4 (TDX 1.0 body) or v5 with a tdx10 / tdx15 body');
    }
}

function randomSerial(): string {
    const b = randomBytes(16);
    b[0] = (b[0] & 0x7f) | 0x01;
    return b.toString('hex');
}

function u16(n: number) {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    return b;
}

function u32(n: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
}

function p1363(key: KeyObject, data: Buffer): Buffer {
    return cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

async function newKeys(): Promise<CryptoKeyPair> {
    return (await wc.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function pkcs8Pem(k: CryptoKey): Promise<string> {
    return derToPem(Buffer.from(await wc.subtle.exportKey('pkcs8', k)), 'PRIVATE KEY');
}

function hexOf(m: Record<string, Buffer>): Record<string, string> {
    return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.toString('hex')]));
}

function bufOf<T extends string>(m: Record<T, string>): Record<T, Buffer> {
    return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.from(v as string, 'hex')])) as Record<T, Buffer>;
}

export class SimulatedTee implements QuoteProvider {
    readonly kind = 'simulated' as const;
    private readonly attestationKey: KeyObject;
    private readonly attestationPoint: Buffer; // x||y
    private readonly pemChain: Buffer;
    readonly measurements: Readonly<SimulatedMeasurements>;
    readonly layout: QuoteLayout;

    private constructor(private readonly state: SimulatedTeeState) {
        if (state?.format !== SIMULATED_STATE_FORMAT) throw new RangeError(`simulated TEE state must have format ${SIMULATED_STATE_FORMAT}`);
        this.attestationKey = createPrivateKey(state.keys.attestation);
        this.attestationPoint = ecPoint(createPublicKey(this.attestationKey)).subarray(1);
        this.pemChain = Buffer.concat([Buffer.from(state.certs.pck + state.certs.platformCa + state.certs.root, 'latin1'), Buffer.from([0])]);
        const m = bufOf(state.measurements);
        checkMeasurements(m);
        this.measurements = m;
        checkLayout(state.layout);
        this.layout = state.layout;
    }

    /** Generates a fresh simulated PKI, QE and TD. */
    static async create(opts: SimulatedTeeOptions = {}): Promise<SimulatedTee> {
        const measurements = { ...defaultMeasurements(), ...(opts.measurements ?? {}) };
        checkMeasurements(measurements);
        const layout = opts.layout ?? { version: 4 };
        checkLayout(layout);
        const platform: SimulatedPlatform = {
            fmspc: Buffer.from('00c06f000000', 'hex'),
            pceId: Buffer.from('0000', 'hex'),
            cpuSvn: Buffer.from('03030202040100050000000000000000', 'hex'),
            pceSvn: 13,
            ppid: randomBytes(16),
            ...(opts.platform ?? {}),
        };
        const qe: SimulatedQe = {
            mrSigner: sha('sha256', 'cocoon simulated TD_QE signer'),
            mrEnclave: sha('sha256', 'cocoon simulated TD_QE'),
            isvProdId: 2,
            isvSvn: 4,
            miscSelect: 0,
            attributes: Buffer.from('11000000000000000000000000000000', 'hex'),
            ...(opts.qe ?? {}),
        };
        const notBefore = opts.notBefore ?? new Date(Date.now() - 24 * 3600_000);
        const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 10 * 365 * 24 * 3600_000);
        const org = opts.organization ?? 'Cocoon simulated TEE (not Intel)';
        const name = (cn: string) => `CN=${cn}, O=${org}, C=AE`;

        const [rootKeys, caKeys, pckKeys, tcbKeys, attKeys] = await Promise.all([newKeys(), newKeys(), newKeys(), newKeys(), newKeys()]);
        const ca = (pathLength?: number) => [new x509.BasicConstraintsExtension(true, pathLength, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)];
        const ee = () => [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true)];
        const base = { notBefore, notAfter, signingAlgorithm: SIGN_ALG };
        const root = await x509.X509CertificateGenerator.createSelfSigned(
            { ...base, serialNumber: randomSerial(), name: name('SIMULATED SGX Root CA'), keys: rootKeys, extensions: [...ca(1), await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey, false, wc)] },
            wc,
        );
        const issued = async (cn: string, keys: CryptoKeyPair, issuer: x509.X509Certificate, issuerKey: CryptoKey, extensions: x509.Extension[]) =>
            x509.X509CertificateGenerator.create(
                {
                    ...base,
                    serialNumber: randomSerial(),
                    subject: name(cn),
                    issuer: issuer.subjectName,
                    publicKey: keys.publicKey,
                    signingKey: issuerKey,
                    extensions: [...extensions, await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, wc), await x509.AuthorityKeyIdentifierExtension.create(issuer, false, wc)],
                },
                wc,
            );
        const platformCa = await issued('SIMULATED PCK Platform CA', caKeys, root, rootKeys.privateKey, ca(0));
        const sgxExt = new x509.Extension(OID_SGX_EXTENSION, false, buildPckExtension({ ...platform, sgxType: 0 }));
        const pck = await issued('SIMULATED PCK Certificate', pckKeys, platformCa, caKeys.privateKey, [...ee(), sgxExt]);
        const tcbSigning = await issued('SIMULATED TCB Signing', tcbKeys, root, rootKeys.privateKey, ee());

        const keys = {
            root: await pkcs8Pem(rootKeys.privateKey),
            platformCa: await pkcs8Pem(caKeys.privateKey),
            pck: await pkcs8Pem(pckKeys.privateKey),
            tcbSigning: await pkcs8Pem(tcbKeys.privateKey),
            attestation: await pkcs8Pem(attKeys.privateKey),
        };
        // QE report: REPORTDATA = SHA-256(attestation key || auth data) || 0^32, signed by the PCK key.
        const attPoint = ecPoint(createPublicKey(createPrivateKey(keys.attestation))).subarray(1);
        const authData = sha('sha256', 'cocoon simulated QE auth data');
        const report = Buffer.alloc(QE_REPORT_LEN);
        platform.cpuSvn.copy(report, QE.cpuSvn[0]);
        report.writeUInt32LE(qe.miscSelect, QE.miscSelect[0]);
        qe.attributes.copy(report, QE.attributes[0]);
        qe.mrEnclave.copy(report, QE.mrEnclave[0]);
        qe.mrSigner.copy(report, QE.mrSigner[0]);
        report.writeUInt16LE(qe.isvProdId, QE.isvProdId[0]);
        report.writeUInt16LE(qe.isvSvn, QE.isvSvn[0]);
        createHash('sha256').update(attPoint).update(authData).digest().copy(report, QE.reportData[0]);
        const qeSig = p1363(createPrivateKey(keys.pck), report);

        return new SimulatedTee({
            format: SIMULATED_STATE_FORMAT,
            certs: { root: root.toString('pem') + '\n', platformCa: platformCa.toString('pem') + '\n', pck: pck.toString('pem') + '\n', tcbSigning: tcbSigning.toString('pem') + '\n' },
            keys,
            qeReport: report.toString('hex'),
            qeReportSignature: qeSig.toString('hex'),
            qeAuthData: authData.toString('hex'),
            qeId: randomBytes(16).toString('hex'),
            platform: { fmspc: platform.fmspc.toString('hex'), pceId: platform.pceId.toString('hex'), cpuSvn: platform.cpuSvn.toString('hex'), pceSvn: platform.pceSvn, ppid: platform.ppid.toString('hex') },
            qe: { mrSigner: qe.mrSigner.toString('hex'), mrEnclave: qe.mrEnclave.toString('hex'), isvProdId: qe.isvProdId, isvSvn: qe.isvSvn, miscSelect: qe.miscSelect, attributes: qe.attributes.toString('hex') },
            measurements: hexOf(measurements as unknown as Record<string, Buffer>) as SimulatedTeeState['measurements'],
            layout,
        });
    }

    /** Loads a PKI + TD saved with toState() (e.g. shared by devnet agents through a file). */
    static fromState(state: SimulatedTeeState | string): SimulatedTee {
        return new SimulatedTee(typeof state === 'string' ? (JSON.parse(state) as SimulatedTeeState) : state);
    }

    /**
     * Loads the simulated TEE saved in `file`, or creates one and saves it there (mode 0600). Safe when several
     * devnet processes start at once: the file appears atomically (write to a temp file, then link), and a process
     * that loses the race loads the winner's state, so all of them share one PKI.
     */
    static async loadOrCreate(file: string, opts: SimulatedTeeOptions = {}): Promise<SimulatedTee> {
        if (existsSync(file)) return SimulatedTee.fromState(readFileSync(file, 'utf8'));
        const tee = await SimulatedTee.create(opts);
        const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
        writeFileSync(tmp, JSON.stringify(tee.toState(), null, 2) + '\n', { mode: 0o600 });
        try {
            linkSync(tmp, file);
            return tee;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
            return SimulatedTee.fromState(readFileSync(file, 'utf8'));
        } finally {
            unlinkSync(tmp);
        }
    }

    /** JSON-serialisable state (contains private keys: a dev/test artefact only). */
    toState(): SimulatedTeeState {
        return JSON.parse(JSON.stringify(this.state)) as SimulatedTeeState;
    }

    /** Same PKI and QE, another TD (different measurements and/or quote layout). */
    with(changes: { measurements?: Partial<SimulatedMeasurements>; layout?: QuoteLayout }): SimulatedTee {
        const m = { ...this.measurements, ...(changes.measurements ?? {}) };
        checkMeasurements(m);
        return new SimulatedTee({ ...this.toState(), measurements: hexOf(m as unknown as Record<string, Buffer>) as SimulatedTeeState['measurements'], layout: changes.layout ?? this.layout });
    }

    /** SHA-384 of the uncompressed simulated root public key: what a policy must list to trust these quotes. */
    get rootKeyId(): string {
        return rootKeyIdOf(createPublicKey(createPrivateKey(this.state.keys.root)));
    }

    get rootCertPem(): string {
        return this.state.certs.root;
    }

    get rootCertDer(): Buffer {
        return Buffer.from(new x509.X509Certificate(this.state.certs.root).rawData);
    }

    /** PEM chain as embedded in quotes: PCK certificate, PCK Platform CA, root. */
    get pckChainPem(): string {
        return this.state.certs.pck + this.state.certs.platformCa + this.state.certs.root;
    }

    async getQuote(reportData: Buffer): Promise<Buffer> {
        if (!Buffer.isBuffer(reportData) || reportData.length !== 64) throw new AttestationError('PROVIDER_UNAVAILABLE', 'report data must be exactly 64 bytes');
        return this.makeQuote(reportData);
    }

    /** Builds and signs a quote synchronously (tests may override measurements / layout per quote). */
    makeQuote(reportData: Buffer, overrides: { measurements?: Partial<SimulatedMeasurements>; layout?: QuoteLayout } = {}): Buffer {
        if (reportData.length !== 64) throw new RangeError('report data must be exactly 64 bytes');
        const m = { ...this.measurements, ...(overrides.measurements ?? {}) };
        checkMeasurements(m);
        const layout = overrides.layout ?? this.layout;
        checkLayout(layout);
        const tdx15 = layout.version === 5 && layout.bodyType === 'tdx15';
        const body = Buffer.alloc(tdx15 ? TD15_BODY_LEN : TD10_BODY_LEN);
        for (const [k, [off]] of Object.entries(BODY)) {
            if (k === 'reportData') continue;
            if (!tdx15 && (k === 'teeTcbSvn2' || k === 'mrServiceTd')) continue;
            m[k as keyof SimulatedMeasurements].copy(body, off);
        }
        reportData.copy(body, BODY.reportData[0]);
        const header = Buffer.concat([u16(layout.version), u16(2), u32(0x81), u32(0), INTEL_QE_VENDOR_ID, Buffer.from(this.state.qeId, 'hex'), Buffer.alloc(4)]);
        const bodyHeader = layout.version === 5 ? Buffer.concat([u16(tdx15 ? BODY_TYPE_TDX15 : BODY_TYPE_TDX10), u32(body.length)]) : Buffer.alloc(0);
        const signed = Buffer.concat([header, bodyHeader, body]);
        const auth = Buffer.from(this.state.qeAuthData, 'hex');
        const certData = Buffer.concat([
            Buffer.from(this.state.qeReport, 'hex'),
            Buffer.from(this.state.qeReportSignature, 'hex'),
            u16(auth.length),
            auth,
            u16(CERT_TYPE_PCK_CHAIN),
            u32(this.pemChain.length),
            this.pemChain,
        ]);
        const sigData = Buffer.concat([p1363(this.attestationKey, signed), this.attestationPoint, u16(CERT_TYPE_QE_REPORT), u32(certData.length), certData]);
        return Buffer.concat([signed, u32(sigData.length), sigData]);
    }

    /** Signs simulated collateral (TCB info, QE identity, CRLs) for this platform with the simulated TCB Signing key. */
    async signCollateral(opts: SimulatedCollateralOptions = {}): Promise<Collateral> {
        const issueDate = opts.issueDate ?? new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000);
        const nextUpdate = opts.nextUpdate ?? new Date(issueDate.getTime() + 30 * 24 * 3600_000);
        const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
        const up = (b: Buffer | string) => (typeof b === 'string' ? b : b.toString('hex')).toUpperCase();
        const m = this.measurements;
        const p = this.state.platform;
        const cpuSvn = [...Buffer.from(p.cpuSvn, 'hex')];
        const bump = opts.requireNewerPlatform ? 1 : 0;
        const adv = (s: TcbStatus) => (s === 'UpToDate' ? {} : { advisoryIDs: opts.advisoryIds ?? ['INTEL-SA-00000'] });
        const tcbStatus = opts.tcbStatus ?? 'UpToDate';
        const moduleVersion = m.teeTcbSvn[1];
        const tdxModule = { mrsigner: up(m.mrSignerSeam), attributes: up(m.seamAttributes), attributesMask: 'FFFFFFFFFFFFFFFF' };
        const tcbInfo = {
            id: 'TDX',
            version: 3,
            issueDate: iso(issueDate),
            nextUpdate: iso(nextUpdate),
            fmspc: up(opts.fmspc ?? p.fmspc),
            pceId: up(p.pceId),
            tcbType: 0,
            tcbEvaluationDataNumber: 17,
            tdxModule,
            tdxModuleIdentities:
                moduleVersion > 0
                    ? [{ id: `TDX_${moduleVersion.toString(16).padStart(2, '0').toUpperCase()}`, ...tdxModule, tcbLevels: [{ tcb: { isvsvn: m.teeTcbSvn[0] }, tcbDate: iso(issueDate), tcbStatus: opts.tdxModuleStatus ?? 'UpToDate' }] }]
                    : [],
            tcbLevels: [
                {
                    tcb: {
                        sgxtcbcomponents: cpuSvn.map((svn) => ({ svn: bump ? Math.min(255, svn + 1) : svn })),
                        pcesvn: p.pceSvn + bump,
                        tdxtcbcomponents: [...m.teeTcbSvn].map((svn) => ({ svn })),
                    },
                    tcbDate: iso(issueDate),
                    tcbStatus,
                    ...adv(tcbStatus),
                },
            ],
        };
        const q = this.state.qe;
        const qeStatus = opts.qeTcbStatus ?? 'UpToDate';
        const qeIdentity = {
            id: 'TD_QE',
            version: 2,
            issueDate: iso(issueDate),
            nextUpdate: iso(nextUpdate),
            tcbEvaluationDataNumber: 17,
            miscselect: q.miscSelect.toString(16).padStart(8, '0').toUpperCase(),
            miscselectMask: 'FFFFFFFF',
            attributes: up(q.attributes),
            attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
            mrsigner: up(q.mrSigner),
            isvprodid: q.isvProdId,
            tcbLevels: [{ tcb: { isvsvn: q.isvSvn }, tcbDate: iso(issueDate), tcbStatus: qeStatus, ...adv(qeStatus) }],
        };
        opts.editTcbInfo?.(tcbInfo as Record<string, unknown>);
        opts.editQeIdentity?.(qeIdentity as Record<string, unknown>);
        const tcbInfoText = JSON.stringify(tcbInfo);
        const qeIdentityText = JSON.stringify(qeIdentity);
        const tcbKey = createPrivateKey(this.state.keys.tcbSigning);

        const importKey = async (pem: string) =>
            wc.subtle.importKey('pkcs8', Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'), EC, false, ['sign']);
        const rootCert = new x509.X509Certificate(this.state.certs.root);
        const caCert = new x509.X509Certificate(this.state.certs.platformCa);
        const pckCert = new x509.X509Certificate(this.state.certs.pck);
        const crl = async (issuer: x509.X509Certificate, keyPem: string, revoked: string[]) =>
            x509.X509CrlGenerator.create(
                {
                    issuer: issuer.subjectName,
                    thisUpdate: issueDate,
                    nextUpdate,
                    entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: issueDate })),
                    signingKey: await importKey(keyPem),
                    signingAlgorithm: SIGN_ALG,
                },
                wc,
            );
        const rootCrl = await crl(rootCert, this.state.keys.root, opts.revokePckCa ? [caCert.serialNumber] : []);
        const pckCrl = await crl(caCert, this.state.keys.platformCa, opts.revokePck ? [pckCert.serialNumber] : []);
        const hex = (c: x509.X509Crl) => Buffer.from(c.rawData).toString('hex');
        return {
            pck_crl_issuer_chain: this.state.certs.platformCa + this.state.certs.root,
            root_ca_crl: hex(rootCrl),
            pck_crl: hex(pckCrl),
            tcb_info_issuer_chain: this.state.certs.tcbSigning + this.state.certs.root,
            tcb_info: tcbInfoText,
            tcb_info_signature: p1363(tcbKey, Buffer.from(tcbInfoText)).toString('hex'),
            qe_identity_issuer_chain: this.state.certs.tcbSigning + this.state.certs.root,
            qe_identity: qeIdentityText,
            qe_identity_signature: p1363(tcbKey, Buffer.from(qeIdentityText)).toString('hex'),
        };
    }
}
