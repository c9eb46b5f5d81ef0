// One agent's Prometheus metrics (spec/operations.md, "Observability"): a prom-client Registry per agent instance
// (never the global default registry, so several agents in one process keep apart), the metrics every role shares,
// and the scrape-time gauges each role reads from its stats snapshot (agents/<role>/stats.ts). Call sites report
// events through the few methods here; everything else is read from the existing stats objects when scraped.
//
// Labels stay bounded: model names only when the agent knows the model (else `other`), error codes from the
// registries, chain methods and message names from fixed sets; never request ids, keys or addresses.
import { performance } from 'perf_hooks';
import { Address, Cell, Transaction } from '@ton/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Root } from '../../wrappers/Root';
import type { TokenUsage } from './pricing';
import type { ChainWallet, TonChain, WalletMessage } from './chain/chain';
import type { ChainRequestObservation } from './chain/http';
import { WIRE_CODES } from './wire/codes';

export type Role = 'proxy' | 'worker' | 'client';
/** The hop an agent times a request over: the client times the proxy, the proxy its worker, the worker its backend. */
export type Hop = 'proxy' | 'worker' | 'backend';

export const HOP_OF: Record<Role, Hop> = { client: 'proxy', proxy: 'worker', worker: 'backend' };

/** Latency buckets (seconds): inference spans milliseconds (routing) to minutes (long generations). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const CHAIN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A label value for something outside the agent's bounded set. */
export const OTHER = 'other';

/** How one request ended, as a call site reports it. */
export interface RequestDone {
    /** The model, when the agent knows it (a name outside its set is counted as `other`). */
    model: string;
    /** The error code; absent when served. */
    code?: string;
    usage?: TokenUsage;
    /** Milliseconds from sending (or receiving) the request to its first response byte, when there was one. */
    firstByteMs?: number;
    /** Milliseconds from sending (or receiving) the request to its end. */
    totalMs?: number;
}

/** Samples of a scrape-time metric: one value, or values by label set. */
export type Samples<L extends string> = number | bigint | [Partial<Record<L, string>>, number | bigint][];

const METHOD = /^[A-Za-z][A-Za-z0-9_:]{0,63}$/;
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Codes every role may label a request with: the wire registry (a relayed code outside it is `other`). */
const WIRE = new Set<string>(Object.keys(WIRE_CODES));

/** Message names by opcode, from the contracts' generated bindings (every contract shares messages.tact). */
const MESSAGE_BY_OPCODE = new Map<number, string>(Object.entries(Root.opcodes).map(([name, op]) => [op as number, name]));

export class AgentMetrics {
    readonly registry = new Registry();
    readonly hop: Hop;
    private readonly requests: Counter<'model' | 'outcome' | 'code'>;
    private readonly tokens: Counter<'model' | 'kind'>;
    private readonly firstByte: Histogram<'model' | 'hop'>;
    private readonly duration: Histogram<'model' | 'hop'>;
    private readonly chainRequests: Counter<'method' | 'outcome'>;
    private readonly chainSeconds: Histogram<'method'>;
    private readonly txs: Counter<'kind' | 'outcome'>;
    private readonly txFees: Counter<'kind'>;
    private readonly txValue: Counter<'kind'>;
    private readonly attestations: Counter<'peer' | 'result' | 'code'>;
    private readonly unwatch: (() => void)[] = [];
    private readonly pending = new Set<Promise<void>>();

    constructor(
        readonly role: Role,
        /** The models this agent may label by name (others count as `other`). */
        private readonly knownModel: (name: string) => boolean,
        /** Codes of the role's own registry a request may end with, besides the wire codes. */
        private readonly ownCodes: ReadonlySet<string> = new Set(),
    ) {
        this.hop = HOP_OF[role];
        this.registry.setDefaultLabels({ role });
        const registers = [this.registry];
        this.requests = new Counter({ name: 'cocoon_requests_total', help: 'Requests ended, by model, outcome (served | failed) and error code (none when served)', labelNames: ['model', 'outcome', 'code'], registers });
        this.tokens = new Counter({ name: 'cocoon_tokens_total', help: 'Tokens of served requests by kind: prompt and cached are in, completion and reasoning out', labelNames: ['model', 'kind'], registers });
        this.firstByte = new Histogram({ name: 'cocoon_request_first_token_seconds', help: 'Time to response_start (a stream: its first token) over the hop this agent times (client: proxy, proxy: worker, worker: backend)', labelNames: ['model', 'hop'], buckets: LATENCY_BUCKETS, registers });
        this.duration = new Histogram({ name: 'cocoon_request_duration_seconds', help: 'Time to the end of a served request over the hop this agent times', labelNames: ['model', 'hop'], buckets: LATENCY_BUCKETS, registers });
        this.chainRequests = new Counter({ name: 'cocoon_chain_requests_total', help: 'Chain API requests (each with its retries) by method and outcome (ok | error)', labelNames: ['method', 'outcome'], registers });
        this.chainSeconds = new Histogram({ name: 'cocoon_chain_request_seconds', help: 'Chain API request latency, retries included', labelNames: ['method'], buckets: CHAIN_BUCKETS, registers });
        this.txs = new Counter({ name: 'cocoon_settlement_transactions_total', help: "Wallet transactions sent, by the first message's name and outcome (ok | error)", labelNames: ['kind', 'outcome'], registers });
        this.txFees = new Counter({ name: 'cocoon_settlement_fees_nanoton_total', help: "Fees of the agent's confirmed wallet transactions (their total_fees), by kind", labelNames: ['kind'], registers });
        this.txValue = new Counter({ name: 'cocoon_settlement_value_nanoton_total', help: 'Value attached to the messages of confirmed wallet transactions, by kind', labelNames: ['kind'], registers });
        // The process, under the names Prometheus' own clients use (no timers or observers: read when scraped).
        this.counter('process_cpu_seconds_total', 'User and system CPU time of the process, seconds', [], () => {
            const u = process.cpuUsage();
            return (u.user + u.system) / 1e6;
        });
        this.gauge('process_resident_memory_bytes', 'Resident memory of the process, bytes', [], () => process.memoryUsage.rss());
        this.gauge('process_start_time_seconds', 'Start of the process, seconds since the Unix epoch', [], () => Math.round((Date.now() - process.uptime() * 1000) / 1000));
        this.attestations = new Counter({ name: 'cocoon_attestation_verifications_total', help: 'Peer attestation (RA-TLS certificate and quote) verifications by peer kind, result (ok | failed) and error code', labelNames: ['peer', 'result', 'code'], registers });
    }

    /** A model label: the name when the agent knows the model, else `other`. */
    model(name: unknown): string {
        return typeof name === 'string' && this.knownModel(name) ? name : OTHER;
    }

    requestDone(r: RequestDone): void {
        const model = this.model(r.model);
        const code = r.code === undefined ? 'none' : WIRE.has(r.code) || this.ownCodes.has(r.code) ? r.code : OTHER;
        this.requests.inc({ model, outcome: r.code === undefined ? 'served' : 'failed', code });
        if (r.usage) for (const kind of ['prompt', 'cached', 'completion', 'reasoning'] as const) if (r.usage[kind] > 0n) this.tokens.inc({ model, kind }, Number(r.usage[kind]));
        if (r.firstByteMs !== undefined) this.firstByte.observe({ model, hop: this.hop }, r.firstByteMs / 1000);
        if (r.code === undefined && r.totalMs !== undefined) this.duration.observe({ model, hop: this.hop }, r.totalMs / 1000);
    }

    /** A peer's attestation was verified (`code` null) or refused with `code`. */
    attestation(peer: 'proxy' | 'worker' | 'client', code: string | null): void {
        this.attestations.inc({ peer, result: code === null ? 'ok' : 'failed', code: code === null ? 'none' : CODE.test(code) ? code : OTHER });
    }

    /** A gauge read when scraped (`read` gets the agent's current snapshot). */
    gauge<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Samples<L> | Promise<Samples<L>>): void {
        new Gauge<L>({
            name,
            help,
            labelNames: labelNames as L[],
            registers: [this.registry],
            async collect() {
                const s = await read();
                this.reset();
                if (typeof s === 'number' || typeof s === 'bigint') return void this.set(Number(s));
                for (const [labels, v] of s) this.set(labels as Record<L, string>, Number(v));
            },
        });
    }

    /** A counter whose total an existing stats object keeps (monotonic since start), read when scraped. */
    counter<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Samples<L>): void {
        new Counter<L>({
            name,
            help,
            labelNames: labelNames as L[],
            registers: [this.registry],
            collect() {
                this.reset();
                const s = read();
                if (typeof s === 'number' || typeof s === 'bigint') return void this.inc(Number(s));
                for (const [labels, v] of s) this.inc(labels as Record<L, string>, Number(v));
            },
        });
    }

    /** Times every request of the chain's transport (chain reads and sends) until close(). */
    watchChain(chain: TonChain): void {
        const observe = (o: ChainRequestObservation) => {
            const method = METHOD.test(o.method) ? o.method : OTHER;
            this.chainRequests.inc({ method, outcome: o.ok ? 'ok' : 'error' });
            this.chainSeconds.observe({ method }, o.seconds);
        };
        chain.transport.observers.add(observe);
        this.unwatch.push(() => chain.transport.observers.delete(observe));
    }

    /**
     * Counts the wallet's transfers by their first message's name; once one is confirmed, reads the wallet's
     * transaction of that seqno through `chain` for its fees (in the background; close() waits for it).
     */
    watchWallet(wallet: ChainWallet, chain: TonChain): void {
        const observe = (o: { messages: WalletMessage[]; seqno?: number; ok: boolean }) => {
            const kind = messageKind(o.messages[0]?.body);
            this.txs.inc({ kind, outcome: o.ok ? 'ok' : 'error' });
            if (!o.ok || o.seqno === undefined) return;
            this.txValue.inc({ kind }, Number(o.messages.reduce((s, m) => s + m.value, 0n)));
            const p = walletTxFee(chain, wallet.address, o.seqno)
                .then((fee) => void (fee !== undefined && this.txFees.inc({ kind }, Number(fee))))
                .catch(() => undefined)
                .finally(() => this.pending.delete(p));
            this.pending.add(p);
        };
        wallet.observers.add(observe);
        this.unwatch.push(() => wallet.observers.delete(observe));
    }

    /** The exposition text and its content type. */
    async exposition(): Promise<{ contentType: string; text: string }> {
        return { contentType: this.registry.contentType, text: await this.registry.metrics() };
    }

    /** Stops watching chain and wallet; waits for fee look-ups under way. */
    async close(): Promise<void> {
        for (const u of this.unwatch.splice(0)) u();
        await Promise.allSettled([...this.pending]);
    }
}

/** The contract message a body carries (its 32-bit opcode), `transfer` for none, `other` for an unknown one. */
function messageKind(body: Cell | null | undefined): string {
    if (!body) return 'transfer';
    const s = body.beginParse();
    if (s.remainingBits < 32) return 'transfer';
    return MESSAGE_BY_OPCODE.get(s.preloadUint(32)) ?? OTHER;
}

/** The total fees of the wallet's transaction for `seqno` (a wallet v4 external: signature, subwallet, valid_until, seqno). */
async function walletTxFee(chain: TonChain, wallet: Address, seqno: number): Promise<bigint | undefined> {
    const txs: Transaction[] = await chain.getTransactions(wallet, { limit: 8 });
    for (const tx of txs) {
        const m = tx.inMessage;
        if (!m || m.info.type !== 'external-in') continue;
        const s = m.body.beginParse();
        if (s.remainingBits < 512 + 96) continue;
        s.skip(512 + 64);
        if (s.loadUint(32) === seqno) return tx.totalFees.coins;
    }
    return undefined;
}

/** Milliseconds since `t0` (performance.now()), for RequestDone. */
export function since(t0: number): number {
    return performance.now() - t0;
}

/**
 * `read` computed once per scrape: the first call in a turn of the event loop computes it, the rest of that turn
 * reuse it (prom-client collects every metric of a registry in one turn).
 */
export function perScrape<T>(read: () => T): () => T {
    let cached: { v: T } | undefined;
    return () => {
        if (cached) return cached.v;
        cached = { v: read() };
        setImmediate(() => (cached = undefined));
        return cached.v;
    };
}
