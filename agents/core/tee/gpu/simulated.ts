// Simulated GPU evidence for the devnet and tests: a local P-384 PKI in NVIDIA's shape — "SIMULATED GPU Device
// Identity CA" -> "SIMULATED GPU Provisioner CA" -> the attestation-key leaf (with a TCG DICE FWID extension) — and a
// "SIMULATED RIM Root CA" -> "SIMULATED RIM Signer" pair that signs driver and VBIOS RIMs (SWID tags, XML-DSig with
// ECDSA-SHA384 / SHA-384 / c14n11, like NVIDIA's). Reports have the real format (SPDM 1.1 request ‖ MEASUREMENTS
// response, opaque data with versions and FWID, P-384 r‖s signature), so the production verifier checks them; it
// accepts them only under a policy that pins these simulated roots, never NVIDIA's.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, KeyObject, randomBytes, sign as cryptoSign, webcrypto } from 'crypto';
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'fs';
import { derToPem } from '../certs';
import { octets, seq } from '../der';
import { OID_TCG_DICE_FWID } from './chain';
import { GPU_NONCE_BYTES, OPAQUE, SPDM_GET_MEASUREMENTS, SPDM_MEASUREMENTS, vbiosVersionField } from './report';
import { ALG, DSIG_NS, rimSignedXml, SHA384_ATTR_NS, SWID_NS } from './rim';
import { RimSource } from './types';

const wc = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const EC = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-384' } as const;
const NVDEC0_ENABLED = 0xaa;

export interface SimulatedGpuOptions {
    driverVersion?: string; // default "550.90.07"
    vbiosVersion?: string; // default "96.00.9f.00.01"
    blocks?: number; // measurement blocks, default 16 (driver RIM covers the first half, VBIOS RIM the rest)
    firmware?: string; // label the FWID is derived from (the leaf certificate and the report carry it)
    notBefore?: Date;
    notAfter?: Date;
}

export interface SimulatedReportOptions {
    /** Report these values instead of the golden ones (block index -> 48 bytes), e.g. a tampered firmware. */
    measurements?: Record<number, Buffer>;
    /** Omit the FWID opaque field. */
    noFwid?: boolean;
}

async function newKeys(): Promise<CryptoKeyPair> {
    return (await wc.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyObject(k: CryptoKey): Promise<KeyObject> {
    return createPrivateKey({ key: Buffer.from(await wc.subtle.exportKey('pkcs8', k)), format: 'der', type: 'pkcs8' });
}

function serial(): string {
    const b = randomBytes(16);
    b[0] &= 0x7f;
    return b.toString('hex');
}

function u16(n: number): Buffer {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    return b;
}

function opaqueField(type: number, value: Buffer): Buffer {
    return Buffer.concat([u16(type), u16(value.length), value]);
}

function text(s: string, size: number): Buffer {
    const b = Buffer.alloc(size);
    b.write(s, 'latin1');
    return b;
}

/** The golden value of a simulated block (golden index = block index - 1). */
export function simulatedMeasurement(blockIndex: number): Buffer {
    return createHash('sha384').update(`cocoon simulated GPU measurement ${blockIndex}`).digest();
}

/** What `SimulatedGpu.loadOrCreate` keeps in its file (private keys: a devnet / test artefact only). */
export interface SimulatedGpuState {
    driverVersion: string;
    vbiosVersion: string;
    blocks: number;
    fwid: string; // hex
    deviceRootPem: string;
    chainPem: string;
    rimRootPem: string;
    attestationKeyPem: string;
    rimSignerKeyPem: string;
    rimChainPem: string[];
}

export class SimulatedGpu {
    private constructor(
        readonly driverVersion: string,
        readonly vbiosVersion: string,
        readonly blocks: number,
        readonly fwid: Buffer,
        readonly deviceRootPem: string,
        /** Device chain, leaf first, ending with the root (as NVIDIA's driver returns it). */
        readonly chainPem: string,
        readonly rimRootPem: string,
        private readonly attestationKey: KeyObject,
        private readonly rimSignerKey: KeyObject,
        private readonly rimChainPem: string[],
    ) {}

    static async create(opts: SimulatedGpuOptions = {}): Promise<SimulatedGpu> {
        const notBefore = opts.notBefore ?? new Date(Date.now() - 24 * 3600_000);
        const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 10 * 365 * 24 * 3600_000);
        const base = { notBefore, notAfter, signingAlgorithm: SIGN_ALG };
        const name = (cn: string) => `CN=${cn}, O=Cocoon simulated GPU (not NVIDIA)`;
        const ca = (pathLength?: number) => [new x509.BasicConstraintsExtension(true, pathLength, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)];
        const ee = () => [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)];
        const [rootKeys, caKeys, leafKeys, rimRootKeys, rimKeys] = await Promise.all([newKeys(), newKeys(), newKeys(), newKeys(), newKeys()]);
        const selfSigned = (cn: string, keys: CryptoKeyPair) => x509.X509CertificateGenerator.createSelfSigned({ ...base, serialNumber: serial(), name: name(cn), keys, extensions: ca(2) }, wc);
        const issued = (cn: string, keys: CryptoKeyPair, issuer: x509.X509Certificate, issuerKey: CryptoKey, extensions: x509.Extension[]) =>
            x509.X509CertificateGenerator.create({ ...base, serialNumber: serial(), subject: name(cn), issuer: issuer.subjectName, publicKey: keys.publicKey, signingKey: issuerKey, extensions }, wc);
        const fwid = createHash('sha384').update(`cocoon simulated GPU firmware ${opts.firmware ?? ''}`).digest();
        const root = await selfSigned('SIMULATED GPU Device Identity CA', rootKeys);
        const ica = await issued('SIMULATED GPU Provisioner CA', caKeys, root, rootKeys.privateKey, ca(0));
        const leaf = await issued('SIMULATED GPU Attestation Key', leafKeys, ica, caKeys.privateKey, [...ee(), new x509.Extension(OID_TCG_DICE_FWID, false, seq(octets(fwid)))]);
        const rimRoot = await selfSigned('SIMULATED RIM Root CA', rimRootKeys);
        const rimSigner = await issued('SIMULATED RIM Signer', rimKeys, rimRoot, rimRootKeys.privateKey, ee());
        const pem = (c: x509.X509Certificate) => derToPem(Buffer.from(c.rawData));
        return new SimulatedGpu(
            opts.driverVersion ?? '550.90.07',
            (opts.vbiosVersion ?? '96.00.9f.00.01').toLowerCase(),
            opts.blocks ?? 16,
            fwid,
            pem(root),
            [leaf, ica, root].map(pem).join(''),
            pem(rimRoot),
            await privateKeyObject(leafKeys.privateKey),
            await privateKeyObject(rimKeys.privateKey),
            [rimSigner, rimRoot].map(pem),
        );
    }

    /** JSON-serialisable state, private keys included. */
    toState(): SimulatedGpuState {
        const key = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }).toString();
        return {
            driverVersion: this.driverVersion,
            vbiosVersion: this.vbiosVersion,
            blocks: this.blocks,
            fwid: this.fwid.toString('hex'),
            deviceRootPem: this.deviceRootPem,
            chainPem: this.chainPem,
            rimRootPem: this.rimRootPem,
            attestationKeyPem: key(this.attestationKey),
            rimSignerKeyPem: key(this.rimSignerKey),
            rimChainPem: [...this.rimChainPem],
        };
    }

    static fromState(s: SimulatedGpuState): SimulatedGpu {
        return new SimulatedGpu(s.driverVersion, s.vbiosVersion, s.blocks, Buffer.from(s.fwid, 'hex'), s.deviceRootPem, s.chainPem, s.rimRootPem, createPrivateKey(s.attestationKeyPem), createPrivateKey(s.rimSignerKeyPem), s.rimChainPem);
    }

    /**
     * The simulated GPU kept in `file` (JSON, mode 0600), created on first use; a concurrent creator's file wins
     * (linked into place, never overwritten), so a worker and its peers that name one file share one PKI.
     */
    static async loadOrCreate(file: string, opts: SimulatedGpuOptions = {}): Promise<SimulatedGpu> {
        const load = () => SimulatedGpu.fromState(JSON.parse(readFileSync(file, 'utf8')) as SimulatedGpuState);
        if (existsSync(file)) return load();
        const gpu = await SimulatedGpu.create(opts);
        const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
        writeFileSync(tmp, JSON.stringify(gpu.toState(), null, 2) + '\n', { mode: 0o600 });
        try {
            linkSync(tmp, file);
            return gpu;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
            return load();
        } finally {
            unlinkSync(tmp);
        }
    }

    /** A signed report answering `nonce` (32 bytes). */
    report(nonce: Buffer, opts: SimulatedReportOptions = {}): Buffer {
        if (nonce.length !== GPU_NONCE_BYTES) throw new Error(`nonce must be ${GPU_NONCE_BYTES} bytes`);
        const request = Buffer.concat([Buffer.from([0x11, SPDM_GET_MEASUREMENTS, 0x01, 0xff]), nonce, Buffer.from([0])]);
        const record: Buffer[] = [];
        for (let i = 1; i <= this.blocks; i++) {
            const value = opts.measurements?.[i] ?? simulatedMeasurement(i);
            record.push(Buffer.from([i, 1]), u16(value.length + 3), Buffer.from([1]), u16(value.length), value);
        }
        const recordBytes = Buffer.concat(record);
        const opaque = Buffer.concat([
            opaqueField(OPAQUE.VBIOS_VERSION, vbiosVersionField(this.vbiosVersion)),
            opaqueField(OPAQUE.CHIP_SKU, text('882', 9)),
            opaqueField(OPAQUE.PROJECT, text('1010', 5)),
            opaqueField(OPAQUE.PROJECT_SKU, text('0200', 5)),
            opaqueField(OPAQUE.DRIVER_VERSION, text(this.driverVersion, this.driverVersion.length + 1)),
            opaqueField(OPAQUE.NVDEC0_STATUS, Buffer.from([NVDEC0_ENABLED])),
            ...(opts.noFwid ? [] : [opaqueField(OPAQUE.FWID, this.fwid)]),
        ]);
        const len = Buffer.alloc(3);
        len.writeUIntLE(recordBytes.length, 0, 3);
        const response = Buffer.concat([Buffer.from([0x11, SPDM_MEASUREMENTS, 0, 0, this.blocks]), len, recordBytes, randomBytes(GPU_NONCE_BYTES), u16(opaque.length), opaque]);
        const signed = Buffer.concat([request, response]);
        return Buffer.concat([signed, cryptoSign('sha384', signed, { key: this.attestationKey, dsaEncoding: 'ieee-p1363' })]);
    }

    /** The driver RIM (golden indexes 0 .. blocks/2 - 1) and the VBIOS RIM (the rest), signed by the RIM signer. */
    rims(): RimSource[] {
        const half = Math.floor(this.blocks / 2);
        return [
            { name: `SIMULATED_DRIVER_${this.driverVersion}.swidtag`, xml: this.rim(this.driverVersion, 0, half) },
            { name: `SIMULATED_VBIOS_${this.vbiosVersion}.swidtag`, xml: this.rim(this.vbiosVersion.toUpperCase(), half, this.blocks) },
        ];
    }

    /** A RIM for `version` whose active golden indexes are [from, to), signed like NVIDIA's. */
    rim(version: string, from: number, to: number, golden: (index: number) => Buffer = (i) => simulatedMeasurement(i + 1)): string {
        const resources: string[] = [];
        for (let i = 0; i < this.blocks; i++) {
            const active = i >= from && i < to;
            const value = active ? golden(i) : Buffer.alloc(48);
            resources.push(`<ns0:Resource type="Measurement" index="${i}" active="${active ? 'True' : 'False'}" alternatives="1" ns2:Hash0="${value.toString('hex')}" name="Measurement_${i}" size="${value.length}"/>`);
        }
        const tagId = createHash('sha384').update(`simulated RIM ${version}`).digest('hex');
        const unsigned =
            `<SoftwareIdentity xmlns="${SWID_NS}" xmlns:ns0="${SWID_NS}" xmlns:ns2="${SHA384_ATTR_NS}" corpus="false" name="SIMULATED" patch="false" supplemental="false" tagId="${tagId}" version="1.0" tagVersion="0">` +
            `<ns0:Entity name="Cocoon simulated GPU (not NVIDIA)" role="softwareCreator tagCreator"/>` +
            `<ns0:Meta colloquialVersion="${version}" edition="GPU" product="SIMULATED" revision="r1" PayloadType="direct"/>` +
            `<ns0:Payload>${resources.join('')}</ns0:Payload></SoftwareIdentity>`;
        const sx = rimSignedXml({ privateKey: this.rimSignerKey, signatureAlgorithm: ALG.ecdsaSha384, canonicalizationAlgorithm: ALG.c14n11 });
        const certs = this.rimChainPem.map((p) => `<ds:X509Certificate>${p.replace(/-----[A-Z ]+-----|\s/g, '')}</ds:X509Certificate>`).join('');
        sx.getKeyInfoContent = () => `<ds:X509Data>${certs}</ds:X509Data>`;
        sx.addReference({ xpath: '/*', transforms: [ALG.enveloped, ALG.c14n11], digestAlgorithm: ALG.sha384, isEmptyUri: true });
        sx.computeSignature(unsigned, { prefix: 'ds', location: { reference: '/*', action: 'append' }, existingPrefixes: { ds: DSIG_NS } });
        return sx.getSignedXml();
    }
}
