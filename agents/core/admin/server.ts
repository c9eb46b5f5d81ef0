// The live admin endpoint of a running agent (spec/operations.md, "Live admin"): HTTP over a Unix socket in the
// agent's data directory. Nothing listens on a TCP port. Two locks, each enough on its own against a stranger:
//   - the socket is created with mode 0600 (bound under umask 0177, then checked): another uid cannot connect;
//   - every request carries `authorization: Bearer <token>`, a random 256-bit token start() writes to a file that is
//     created 0600 with O_EXCL (never chmod-ed after, never reused across runs), compared in constant time.
// A request is `POST /<command>` with a JSON object of arguments (≤ 16 KiB); the answer is `{ok: true, result}` or
// `{ok: false, error: {code, message}}` with a status that names the kind of failure (AdminError codes below).
import { createHash, randomBytes, timingSafeEqual } from 'crypto';
import { closeSync, constants, lstatSync, mkdirSync, openSync, unlinkSync, writeSync } from 'fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { connect } from 'net';
import { join } from 'path';
import { CocoonError } from '../errors';
import { Log, noLog } from '../log';

export const ADMIN_SOCKET = 'admin.sock';
export const ADMIN_TOKEN = 'admin.token';
/** Largest request body (the arguments), bytes. */
export const MAX_ADMIN_BODY = 16 * 1024;
/** sun_path holds 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH = 107;
const COMMAND = /^\/([a-z][a-z-]{0,31})$/;

export const AdminErrorCodes = [
    'ADMIN_UNAUTHORIZED', // 401: no `authorization: Bearer <token>` header, or not this run's token
    'ADMIN_UNKNOWN_COMMAND', // 404: the agent has no such command
    'ADMIN_METHOD', // 405: not POST
    'ADMIN_BODY_TOO_LARGE', // 413: arguments over MAX_ADMIN_BODY bytes
    'ADMIN_BAD_REQUEST', // 400: the body is not a JSON object, an unknown argument, or an argument out of range (details.arg)
    'ADMIN_CONFLICT', // 409: the command does not apply in the agent's state (a model it does not offer, …)
    'ADMIN_FAILED', // 500: the command failed with an untyped error
    'ADMIN_IN_USE', // start: another process answers on the socket
    'ADMIN_PATH_UNSAFE', // start: the data directory is world-writable, the socket path is too long, something other than a socket / regular file sits where they go, or the socket is not 0600
    'ADMIN_UNREACHABLE', // `cocoon admin`: no token file or nothing listening (the agent is not running)
] as const;
export type AdminErrorCode = (typeof AdminErrorCodes)[number];

const STATUS: Partial<Record<AdminErrorCode, number>> = {
    ADMIN_UNAUTHORIZED: 401,
    ADMIN_UNKNOWN_COMMAND: 404,
    ADMIN_METHOD: 405,
    ADMIN_BODY_TOO_LARGE: 413,
    ADMIN_BAD_REQUEST: 400,
    ADMIN_CONFLICT: 409,
};

export class AdminError extends CocoonError<AdminErrorCode> {
    get status(): number {
        return STATUS[this.code] ?? 500;
    }
}

export type AdminArgs = Record<string, unknown>;
/** One command: the argument names it takes (others are ADMIN_BAD_REQUEST) and what it does. */
export interface AdminHandler {
    args?: readonly string[];
    summary: string;
    run(args: AdminArgs): Promise<unknown>;
}
export type AdminHandlers = Readonly<Record<string, AdminHandler>>;

/** An argument: absent → undefined; present but not a string → ADMIN_BAD_REQUEST. */
export function stringArg(args: AdminArgs, name: string, re: RegExp = /^[\x21-\x7e]{1,128}$/): string | undefined {
    const v = args[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !re.test(v)) throw new AdminError('ADMIN_BAD_REQUEST', `${name}: expected a string matching ${re}`, { arg: name });
    return v;
}

/** A decimal unsigned integer argument (a string, or a safe integer) in 0..max. */
export function uintArg(args: AdminArgs, name: string, max: bigint): bigint | undefined {
    const v = args[name];
    if (v === undefined) return undefined;
    const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
    if (typeof s !== 'string' || !/^(0|[1-9][0-9]{0,38})$/.test(s) || BigInt(s) > max) throw new AdminError('ADMIN_BAD_REQUEST', `${name}: expected an integer in 0..${max}`, { arg: name });
    return BigInt(s);
}

const sha = (s: string) => createHash('sha256').update(s).digest();

export interface AdminServerOptions {
    /** The agent's data directory: the socket and the token file go there. */
    dir: string;
    handlers: AdminHandlers;
    log?: Log;
}

export class AdminServer {
    readonly socketPath: string;
    readonly tokenPath: string;
    private readonly log: Log;
    private server?: Server;
    private tokenHash = Buffer.alloc(0);

    constructor(private readonly o: AdminServerOptions) {
        this.socketPath = join(o.dir, ADMIN_SOCKET);
        this.tokenPath = join(o.dir, ADMIN_TOKEN);
        this.log = o.log ?? noLog;
    }

    /** Writes a fresh token file and listens on the socket. */
    async start(): Promise<void> {
        if (this.server) return;
        if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH) throw new AdminError('ADMIN_PATH_UNSAFE', `${this.socketPath} is longer than ${MAX_SOCKET_PATH} bytes`);
        mkdirSync(this.o.dir, { recursive: true, mode: 0o700 }); // a worker writes its state file only at its first payout
        // In a directory anyone may write to, anyone could put their own socket where `cocoon admin` sends the token.
        if (lstatSync(this.o.dir).mode & 0o002) throw new AdminError('ADMIN_PATH_UNSAFE', `${this.o.dir} is writable by every user`);
        await this.clearStaleSocket();
        const token = randomBytes(32).toString('hex');
        writeTokenFile(this.tokenPath, token);
        this.tokenHash = sha(token);
        const server = createServer((req, res) => void this.serve(req, res));
        server.requestTimeout = 10_000;
        server.headersTimeout = 5_000;
        server.maxHeadersCount = 32;
        try {
            await listenPrivately(server, this.socketPath);
        } catch (e) {
            unlinkQuietly(this.tokenPath);
            throw e;
        }
        this.server = server;
        this.log('admin.listening', { socket: this.socketPath });
    }

    async stop(): Promise<void> {
        const server = this.server;
        if (!server) return;
        this.server = undefined;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        unlinkQuietly(this.tokenPath);
        unlinkQuietly(this.socketPath);
    }

    /** A socket file left by a run that died: removed; one that answers belongs to a live agent: ADMIN_IN_USE. */
    private async clearStaleSocket(): Promise<void> {
        let st;
        try {
            st = lstatSync(this.socketPath);
        } catch {
            return;
        }
        if (!st.isSocket()) throw new AdminError('ADMIN_PATH_UNSAFE', `${this.socketPath} exists and is not a socket`);
        const live = await new Promise<boolean>((resolve) => {
            const s = connect(this.socketPath);
            s.once('connect', () => {
                s.destroy();
                resolve(true);
            });
            s.once('error', () => resolve(false));
        });
        if (live) throw new AdminError('ADMIN_IN_USE', `another process listens on ${this.socketPath}`);
        unlinkSync(this.socketPath);
    }

    private authorized(req: IncomingMessage): boolean {
        const m = /^Bearer ([0-9a-f]{64})$/.exec(req.headers.authorization ?? '');
        // Both sides hashed to 32 bytes: the comparison takes the same time whatever the guess.
        return timingSafeEqual(sha(m ? m[1] : ''), this.tokenHash) && m !== null;
    }

    private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const command = COMMAND.exec(req.url ?? '')?.[1];
        try {
            if (!this.authorized(req)) throw new AdminError('ADMIN_UNAUTHORIZED', 'missing or wrong admin token');
            if (req.method !== 'POST') throw new AdminError('ADMIN_METHOD', `use POST, not ${req.method}`);
            const handler = command !== undefined && Object.prototype.hasOwnProperty.call(this.o.handlers, command) ? this.o.handlers[command] : undefined;
            if (!handler) throw new AdminError('ADMIN_UNKNOWN_COMMAND', `no command ${JSON.stringify((req.url ?? '').slice(1, 40))}; commands: ${Object.keys(this.o.handlers).join(', ')}`);
            const args = parseArgs(await readBody(req));
            for (const k of Object.keys(args)) if (!(handler.args ?? []).includes(k)) throw new AdminError('ADMIN_BAD_REQUEST', `${command} takes no argument ${k}`, { arg: k });
            this.log('admin.command', { command });
            const result = await handler.run(args);
            this.log('admin.done', { command });
            reply(res, 200, { ok: true, result: result ?? null });
        } catch (e) {
            const err = e instanceof AdminError ? e : e instanceof CocoonError ? e : new AdminError('ADMIN_FAILED', (e as Error)?.message ?? String(e));
            const status = err instanceof AdminError ? err.status : 500;
            this.log('admin.refused', { command, code: err.code, message: err.message });
            reply(res, status, { ok: false, error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
            // Whatever of the body was not read is not worth reading (a refused or oversized request): the connection
            // closes once the answer is out.
            if (!req.complete) res.once('finish', () => req.destroy());
        }
    }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    const text = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
    res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_ADMIN_BODY) return Promise.reject(new AdminError('ADMIN_BODY_TOO_LARGE', `the body is over ${MAX_ADMIN_BODY} bytes`));
    return new Promise((resolve, reject) => {
        const parts: Buffer[] = [];
        let size = 0;
        req.on('data', (b: Buffer) => {
            size += b.length;
            if (size > MAX_ADMIN_BODY) {
                req.removeAllListeners('data');
                return reject(new AdminError('ADMIN_BODY_TOO_LARGE', `the body is over ${MAX_ADMIN_BODY} bytes`));
            }
            parts.push(b);
        });
        req.on('end', () => resolve(Buffer.concat(parts)));
        req.on('error', reject);
    });
}

function parseArgs(body: Buffer): AdminArgs {
    if (body.length === 0) return {};
    let v: unknown;
    try {
        v = JSON.parse(body.toString('utf8'));
    } catch {
        throw new AdminError('ADMIN_BAD_REQUEST', 'the body is not JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AdminError('ADMIN_BAD_REQUEST', 'the body is not a JSON object');
    return v as AdminArgs;
}

/** Creates the token file 0600 with O_EXCL (a leftover from an earlier run is removed first; a symlink is not followed). */
function writeTokenFile(path: string, token: string): void {
    try {
        const st = lstatSync(path);
        if (st.isDirectory()) throw new AdminError('ADMIN_PATH_UNSAFE', `${path} is a directory`);
        unlinkSync(path);
    } catch (e) {
        if (e instanceof AdminError) throw e;
    }
    let fd: number;
    try {
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (e) {
        throw new AdminError('ADMIN_PATH_UNSAFE', `cannot create ${path}: ${(e as Error).message}`);
    }
    try {
        writeSync(fd, `${token}\n`);
    } finally {
        closeSync(fd);
    }
}

/**
 * Binds under umask 0177 so the socket is 0600 from its creation (the bind is synchronous inside listen()), then
 * checks the mode: a socket others may write to is closed again (ADMIN_PATH_UNSAFE).
 */
async function listenPrivately(server: Server, path: string): Promise<void> {
    const listening = new Promise<void>((resolve, reject) => {
        server.once('listening', resolve);
        server.once('error', reject);
    });
    const old = process.umask(0o177);
    try {
        server.listen(path);
    } finally {
        process.umask(old);
    }
    await listening;
    const mode = lstatSync(path).mode & 0o777;
    if (mode & 0o077) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw new AdminError('ADMIN_PATH_UNSAFE', `the socket ${path} has mode ${mode.toString(8)}, not 600`);
    }
}

function unlinkQuietly(path: string): void {
    try {
        unlinkSync(path);
    } catch {
        // already gone
    }
}
