// RA-TLS over loopback with real TLS 1.3, real certificates and real (simulated-PKI) quotes, verified by the
// production verifier with a policy that trusts only the simulated root. Each rejection carries its own code, and
// counters on the server prove that no application byte crosses a rejected link in either direction.
import { once } from 'events';
import { createServer as createNetServer } from 'net';
import { connect as tlsConnect, createServer as createTlsServer, TLSSocket } from 'tls';
import { WebSocket } from 'ws';
import { CocoonError } from '../../../../agents/core/errors';
import { Collateral, INTEL_ROOT_KEY_ID, VerifyPolicy } from '../../../../agents/core/tee/types';
import { imageHash } from '../../../../agents/core/tee/image';
import { SimulatedTee } from '../../../../agents/core/tee/simulated';
import { verifyQuote } from '../../../../agents/core/tee/verify';
import {
    buildRaTlsCert,
    claimsReportData,
    connectRaTls,
    encodeClaims,
    generateEd25519KeyPair,
    PeerAttestation,
    PeerPolicy,
    PeerVerifier,
    RaTlsCredentials,
    RaTlsIdentity,
    RaTlsServer,
    TransportError,
} from '../../../../agents/core/transport';
import { tdxVector } from '../../../../fixtures/vectors';

const DEBUG_TD_ATTRIBUTES = Buffer.from('0100001000000000', 'hex'); // DEBUG | SEPT_VE_DISABLE

interface Harness {
    server: RaTlsServer;
    url: string;
    port: number;
    peers: PeerAttestation[];
    rejected: CocoonError[];
    handshakeFailed: TransportError[];
    /** application messages delivered by the server's ws handlers */
    messages: number;
    /** HTTP requests / upgrades the HTTP layer parsed */
    requests: number;
}

const harnesses: Harness[] = [];

async function startServer(identity: RaTlsIdentity, verifier: PeerVerifier): Promise<Harness> {
    const server = new RaTlsServer({ identity, verifier });
    const h: Harness = { server, url: '', port: 0, peers: [], rejected: [], handshakeFailed: [], messages: 0, requests: 0 };
    server.on('connection', (ws, peer) => {
        h.peers.push(peer);
        ws.on('message', (m) => {
            h.messages++;
            ws.send(`echo:${m.toString()}`);
        });
    });
    server.on('peerRejected', (e) => h.rejected.push(e));
    server.on('handshakeFailed', (e) => h.handshakeFailed.push(e));
    server.https.on('upgrade', () => h.requests++);
    server.https.on('request', () => h.requests++);
    const { url, port } = await server.listen();
    h.url = url;
    h.port = port;
    harnesses.push(h);
    return h;
}

function nextRejection(h: Harness): Promise<CocoonError> {
    return once(h.server, 'peerRejected').then(([e]) => e as CocoonError);
}

async function echo(ws: WebSocket, text: string): Promise<string> {
    const reply = once(ws, 'message').then(([m]) => (m as Buffer).toString());
    ws.send(text);
    return reply;
}

/** Credentials for a certificate built from arbitrary claims and quote (hostile peers). */
async function forgedCredentials(claims: (ownKey: Buffer) => Buffer, quote: (claims: Buffer) => Buffer, now = new Date()): Promise<RaTlsCredentials> {
    const keys = await generateEd25519KeyPair();
    const c = claims(keys.publicKeyRaw);
    const cert = await buildRaTlsCert({ keys, provider: { kind: 'simulated', getQuote: async () => Buffer.alloc(0) }, claims: c, quote: quote(c), now });
    return { tlsCredentials: () => ({ key: keys.privateKeyPem, cert: cert.pem }) };
}

/**
 * Writes an HTTP upgrade and a WebSocket frame ("hello") the moment TLS completes, ignoring any verdict; or, with
 * `plain`, a plain GET. Resolves with what came back once the echo / a full response arrived, or on close.
 */
function pushyClient(port: number, creds?: { key: string; cert: string }, extra: object = {}, plain = false): Promise<string> {
    return new Promise((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...(creds ?? {}), ...extra });
        let got = '';
        const done = (r: string) => {
            resolve(r);
            s.destroy();
        };
        s.on('secureConnect', () => {
            if (plain) return void s.write('GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
            s.write(
                'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
            );
            s.write(Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e])); // masked text frame "hello"
        });
        s.on('data', (d) => {
            got += d.toString('latin1');
            if (got.includes('echo:hello') || got.includes('UPGRADE_REQUIRED')) done(`data ${got}`);
        });
        s.on('error', (e: Error & { code?: string }) => done(got ? `data ${got}` : `error ${e.code}`));
        s.on('close', () => done(got ? `data ${got}` : 'closed'));
    });
}

let tee: SimulatedTee;
let collateral: Collateral;
let allowedImage: string;
let quotePolicy: Omit<VerifyPolicy, 'at'>;
let policy: PeerPolicy;
let serverId: RaTlsIdentity;
let clientId: RaTlsIdentity;
let h: Harness;

beforeAll(async () => {
    tee = await SimulatedTee.create();
    collateral = await tee.signCollateral();
    allowedImage = imageHash(tee.measurements).toString('hex');
    quotePolicy = { trustedRootKeyIds: [tee.rootKeyId], requireCollateral: true, collateral };
    policy = { quote: quotePolicy, isImageAllowed: (x) => x === allowedImage };
    [serverId, clientId] = await Promise.all([RaTlsIdentity.create({ provider: tee }), RaTlsIdentity.create({ provider: tee })]);
    h = await startServer(serverId, new PeerVerifier(policy));
});

afterAll(async () => {
    await Promise.all(harnesses.map((x) => x.server.close()));
});

describe('RA-TLS: mutual attestation', () => {
    it('accepts attested peers on both sides and echoes over the WebSocket', async () => {
        const before = h.messages;
        const c = await connectRaTls(h.url, clientId, policy);
        expect(c.socket.getProtocol()).toBe('TLSv1.3');
        expect(c.socket.getCipher().name).toBe('TLS_AES_128_GCM_SHA256');
        // the client saw the server's attestation ...
        expect(c.peer.imageHash).toBe(allowedImage);
        expect(c.peer.rootKeyId).toBe(tee.rootKeyId);
        expect(c.peer.tcbStatus).toBe('UpToDate');
        expect(c.peer.cert.serialHex).toBe(serverId.current.serialHex);
        expect(c.peer.claims.ed25519PublicKey.equals(serverId.keys.publicKeyRaw)).toBe(true);
        expect(c.peer.measurements.mrTd).toBe(tee.measurements.mrTd.toString('hex'));
        expect(await echo(c.ws, 'ping')).toBe('echo:ping');
        // ... and the server the client's, attached to the connection
        const seen = h.peers[h.peers.length - 1];
        expect(seen.cert.serialHex).toBe(clientId.current.serialHex);
        expect(seen.claims.ed25519PublicKey.equals(clientId.keys.publicKeyRaw)).toBe(true);
        expect(h.messages).toBe(before + 1);
        c.ws.close();
    });

    it('binds an HPKE key into the claims and lets a client require it', async () => {
        const hpke = Buffer.alloc(32, 0x42);
        const worker = await RaTlsIdentity.create({ provider: tee, hpkePublicKey: hpke });
        const wh = await startServer(worker, new PeerVerifier(policy));
        const c = await connectRaTls(wh.url, clientId, { ...policy, requireHpkeKey: true });
        expect(c.peer.claims.hpkePublicKey!.equals(hpke)).toBe(true);
        c.ws.close();
        // a server without an HPKE key in its claims does not satisfy such a client
        await expect(connectRaTls(h.url, clientId, { ...policy, requireHpkeKey: true })).rejects.toMatchObject({ code: 'CERT_INVALID' });
    });

    it('delivers what an attested raw client pushes right after TLS (the control for the refusal tests below)', async () => {
        const before = { messages: h.messages, requests: h.requests };
        const r = await pushyClient(h.port, clientId.tlsCredentials());
        expect(r).toMatch(/^data HTTP\/1\.1 101 Switching Protocols/);
        expect(r).toContain('echo:hello');
        expect(h.messages).toBe(before.messages + 1);
        expect(h.requests).toBe(before.requests + 1);
    });

    it('answers a plain HTTP request from a verified peer with 426 UPGRADE_REQUIRED', async () => {
        const r = await pushyClient(h.port, clientId.tlsCredentials(), {}, true);
        expect(r).toMatch(/^data HTTP\/1\.1 426/);
        expect(r).toContain('"code":"UPGRADE_REQUIRED"');
    });
});

describe('RA-TLS: the server refuses a client, each case with its own code', () => {
    async function refused(creds: RaTlsCredentials, code: string) {
        const before = { messages: h.messages, requests: h.requests };
        const rejection = nextRejection(h);
        await expect(connectRaTls(h.url, creds, policy)).rejects.toMatchObject({ code: 'PEER_REJECTED' });
        expect((await rejection).code).toBe(code);
        expect(h.messages).toBe(before.messages);
        expect(h.requests).toBe(before.requests); // the HTTP layer never parsed a byte from it
    }

    it('untrusted root: a server that trusts only Intel refuses the simulated root (UNTRUSTED_ROOT)', async () => {
        const intelOnly = await startServer(serverId, new PeerVerifier({ quote: { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], requireCollateral: false }, isImageAllowed: () => true }));
        const rejection = nextRejection(intelOnly);
        await expect(connectRaTls(intelOnly.url, clientId, policy)).rejects.toMatchObject({ code: 'PEER_REJECTED' });
        expect((await rejection).code).toBe('UNTRUSTED_ROOT');
        expect(intelOnly.messages + intelOnly.requests).toBe(0);
    });

    it('wrong image (IMAGE_NOT_ALLOWED)', async () => {
        const other = await RaTlsIdentity.create({ provider: tee.with({ measurements: { rtmr1: Buffer.alloc(48, 0x11) } }) });
        await refused(other, 'IMAGE_NOT_ALLOWED');
    });

    it('debug TD (DEBUG_TD)', async () => {
        const debug = await RaTlsIdentity.create({ provider: tee.with({ measurements: { tdAttributes: DEBUG_TD_ATTRIBUTES } }) });
        await refused(debug, 'DEBUG_TD');
    });

    it('REPORTDATA not bound to the certificate key: quote made for another key (REPORT_DATA_MISMATCH)', async () => {
        const otherKey = Buffer.alloc(32, 0x77);
        const creds = await forgedCredentials(
            (own) => encodeClaims({ ed25519PublicKey: own }),
            () => tee.makeQuote(claimsReportData(encodeClaims({ ed25519PublicKey: otherKey }))),
        );
        await refused(creds, 'REPORT_DATA_MISMATCH');
    });

    it('claims that hash correctly but name another key than the certificate (REPORT_DATA_MISMATCH)', async () => {
        const creds = await forgedCredentials(
            () => encodeClaims({ ed25519PublicKey: Buffer.alloc(32, 0x55) }),
            (claims) => tee.makeQuote(claimsReportData(claims)),
        );
        await refused(creds, 'REPORT_DATA_MISMATCH');
    });

    it('expired certificate (CERT_EXPIRED)', async () => {
        const old = await RaTlsIdentity.create({ provider: tee, validityMs: 3600_000, clock: () => new Date(Date.now() - 2 * 3600_000) });
        await refused(old, 'CERT_EXPIRED');
    });

    it('expired collateral (COLLATERAL_EXPIRED)', async () => {
        const day = 24 * 3600_000;
        const stale = await tee.signCollateral({ issueDate: new Date(Date.now() - 40 * day), nextUpdate: new Date(Date.now() - 10 * day) });
        const sh = await startServer(serverId, new PeerVerifier({ ...policy, quote: { ...quotePolicy, collateral: stale } }));
        const rejection = nextRejection(sh);
        await expect(connectRaTls(sh.url, clientId, policy)).rejects.toMatchObject({ code: 'PEER_REJECTED' });
        expect((await rejection).code).toBe('COLLATERAL_EXPIRED');
        expect(sh.messages + sh.requests).toBe(0);
    });

    it('a real Intel quote transplanted into a new certificate (REPORT_DATA_MISMATCH)', async () => {
        const intelQuote = tdxVector('tdx_quote');
        const at = new Date('2025-06-19T11:16:03Z'); // when the vector's PCK chain and collateral were current
        const intelPolicy: PeerPolicy = { quote: { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], requireCollateral: false }, isImageAllowed: () => true };
        // the stolen quote by itself passes every chain and signature check under this policy ...
        expect(verifyQuote(intelQuote, { ...intelPolicy.quote, at }).rootKeyId).toBe(INTEL_ROOT_KEY_ID);
        // ... but it cannot vouch for the thief's certificate key
        const thief = await RaTlsIdentity.create({ provider: { kind: 'tdx', getQuote: async () => intelQuote }, clock: () => at });
        const ih = await startServer(serverId, new PeerVerifier(intelPolicy, { clock: () => at }));
        const rejection = nextRejection(ih);
        await expect(connectRaTls(ih.url, thief, policy)).rejects.toMatchObject({ code: 'PEER_REJECTED' });
        expect((await rejection).code).toBe('REPORT_DATA_MISMATCH');
        expect(ih.messages + ih.requests).toBe(0);
    });

    it('client without a certificate (CERT_MISSING), even one that pushes an upgrade and a frame at once', async () => {
        const before = { messages: h.messages, requests: h.requests };
        const rejection = nextRejection(h);
        expect(await pushyClient(h.port)).not.toMatch(/^data/);
        expect((await rejection).code).toBe('CERT_MISSING');
        expect(h.messages).toBe(before.messages);
        expect(h.requests).toBe(before.requests);
    });

    it('a refused client that pushes an upgrade and a frame at once gets nothing delivered (UNTRUSTED_ROOT)', async () => {
        const stranger = await SimulatedTee.create({ organization: 'someone else' });
        const creds = await RaTlsIdentity.create({ provider: stranger });
        const before = { messages: h.messages, requests: h.requests };
        const rejection = nextRejection(h);
        expect(await pushyClient(h.port, creds.tlsCredentials())).not.toMatch(/^data/);
        expect((await rejection).code).toBe('UNTRUSTED_ROOT');
        expect(h.messages).toBe(before.messages);
        expect(h.requests).toBe(before.requests);
    });

    it('TLS 1.2 client: handshake refused (HANDSHAKE_FAILED), nothing parsed', async () => {
        const before = { messages: h.messages, requests: h.requests };
        const failed = once(h.server, 'handshakeFailed');
        const r = await pushyClient(h.port, clientId.tlsCredentials(), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
        expect(r).toBe('error ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
        expect(((await failed)[0] as TransportError).code).toBe('HANDSHAKE_FAILED');
        expect(h.messages).toBe(before.messages);
        expect(h.requests).toBe(before.requests);
    });

    it('resumed TLS session (SESSION_REUSED)', async () => {
        // first a full handshake that yields a session ticket, then an attempt to resume it
        const session = await new Promise<Buffer>((resolve, reject) => {
            const s = tlsConnect({ host: '127.0.0.1', port: h.port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...clientId.tlsCredentials() });
            s.once('session', (sess: Buffer) => {
                resolve(sess);
                s.destroy();
            });
            s.once('error', reject);
        });
        const rejection = nextRejection(h);
        const s = tlsConnect({ host: '127.0.0.1', port: h.port, rejectUnauthorized: false, minVersion: 'TLSv1.3', session, ...clientId.tlsCredentials() });
        s.on('error', () => undefined);
        await once(s, 'secureConnect');
        expect(s.isSessionReused()).toBe(true);
        expect((await rejection).code).toBe('SESSION_REUSED');
        s.destroy();
    });
});

describe('RA-TLS: the client refuses a server before sending anything', () => {
    async function clientRefuses(serverIdentity: RaTlsIdentity, clientPolicy: PeerPolicy, code: string) {
        const sh = await startServer(serverIdentity, new PeerVerifier(policy));
        await expect(connectRaTls(sh.url, clientId, clientPolicy)).rejects.toMatchObject({ code });
        await new Promise((r) => setTimeout(r, 50)); // let anything in flight arrive
        expect(sh.requests).toBe(0); // not even the HTTP upgrade left the client
        expect(sh.messages).toBe(0);
        expect(sh.peers).toEqual([]);
    }

    it('server from an untrusted root (UNTRUSTED_ROOT)', async () => {
        await clientRefuses(serverId, { quote: { trustedRootKeyIds: [INTEL_ROOT_KEY_ID], requireCollateral: false }, isImageAllowed: () => true }, 'UNTRUSTED_ROOT');
    });

    it('server running another image than the client expects (IMAGE_NOT_ALLOWED)', async () => {
        await clientRefuses(serverId, { ...policy, isImageAllowed: () => false }, 'IMAGE_NOT_ALLOWED');
    });

    it('server in a debug TD (DEBUG_TD)', async () => {
        const debug = await RaTlsIdentity.create({ provider: tee.with({ measurements: { tdAttributes: DEBUG_TD_ATTRIBUTES } }) });
        await clientRefuses(debug, policy, 'DEBUG_TD');
    });

    it('server with an expired certificate (CERT_EXPIRED)', async () => {
        const old = await RaTlsIdentity.create({ provider: tee, validityMs: 3600_000, clock: () => new Date(Date.now() - 2 * 3600_000) });
        await clientRefuses(old, policy, 'CERT_EXPIRED');
    });

    it('a TLS 1.2-only server (HANDSHAKE_FAILED)', async () => {
        const legacy = createTlsServer({ ...serverId.tlsCredentials(), maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' });
        let bytes = 0;
        legacy.on('secureConnection', (s: TLSSocket) => s.on('data', (d) => (bytes += d.length)));
        legacy.on('tlsClientError', () => undefined);
        await new Promise<void>((r) => legacy.listen(0, '127.0.0.1', () => r()));
        const port = (legacy.address() as { port: number }).port;
        await expect(connectRaTls(`wss://127.0.0.1:${port}/`, clientId, policy)).rejects.toMatchObject({ code: 'HANDSHAKE_FAILED' });
        expect(bytes).toBe(0);
        await new Promise((r) => legacy.close(r));
    });

    it('gives up on a server that never completes the handshake (TIMEOUT)', async () => {
        const mute = createNetServer((s) => s.resume()); // reads and ignores the ClientHello
        await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
        const port = (mute.address() as { port: number }).port;
        await expect(connectRaTls(`wss://127.0.0.1:${port}/`, clientId, policy, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
        await new Promise((r) => mute.close(r));
    });

    it('refuses a non-wss URL', async () => {
        await expect(connectRaTls(h.url.replace('wss:', 'ws:'), clientId, policy)).rejects.toMatchObject({ code: 'HANDSHAKE_FAILED' });
    });
});
