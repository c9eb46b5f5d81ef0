// The host object the proxy's connections and requests are given (ClientHost & WorkerHost, which take in
// ConnectionHost and RequestHost): the narrow interface they get instead of the runner's fields, wired here to the
// runner's parts. It is separate from runner.ts so the runner reads as start/stop, the loops and the Root poll, and
// so the whole surface a peer can reach is in one place. It holds wiring only: no state of its own, no I/O.
import type { Cell } from '@ton/core';
import type { RootConfig } from '../core/chain/chain';
import type { Clock } from '../core/clock';
import { chainSeconds } from '../core/chain/trust-clock';
import type { Log } from '../core/log';
import type { ResponseEndFrame } from '../core/wire';
import type { Model } from '../../wrappers/Root';
import type { GpuEvidenceChecker } from '../core/tee/gpu/check';
import type { ProxyAgentOptions } from './options';
import type { Ledger } from './ledger';
import type { Router } from './router';
import type { WorkerAdmission } from './worker-admission';
import type { ClientAdmission } from './admission';
import type { CoopWithdrawals } from './coop-withdraw';
import type { HelloGate, ProxyLimits } from './guard';
import type { ProxyCounters } from './stats';
import type { Settlement } from './settlement';
import type { GroupCommit } from './group-commit';
import type { RunningRequest } from './running-request';
import type { ClientConnection, ClientHost } from './client-connection';
import type { WorkerConnection, WorkerHost } from './worker-connection';

/** What the runner hands over: its parts, and getters for the state it changes while running. */
export interface HostParts {
    o: ProxyAgentOptions;
    router: Router;
    limits: ProxyLimits;
    counters: ProxyCounters;
    enclaveKey: bigint;
    clock: Clock;
    /** The clock of trust (chain time): money decisions a contract will judge by its now(). */
    trustClock: Clock;
    admission: WorkerAdmission;
    settlement: Settlement;
    coop: CoopWithdrawals;
    writes: GroupCommit;
    helloGate: HelloGate;
    clientAdmission: ClientAdmission;
    workers: Map<string, WorkerConnection>;
    clients: Map<string, ClientConnection>;
    /** Requests in flight by id. */
    inFlight: Map<string, RunningRequest>;
    log: Log;
    ledger: () => Ledger | undefined;
    globalId: () => number;
    stopping: () => boolean;
    halted: () => boolean;
    accepting: () => boolean;
    /** Root's models by name, as last refreshed. */
    models: () => Map<string, { model: Model; id: bigint }>;
    refreshModels: (cfg: RootConfig) => void;
    clientCodes: (current: Cell) => Cell[];
    /** A crash as the crash hook asks for it (runner.ts crash()). */
    crash: () => void;
    /** Workers' GPU evidence checks (cached verdicts). */
    gpu: GpuEvidenceChecker;
}

/** The narrow interface connections and requests get instead of the runner's fields. */
export function connectionHost(p: HostParts): ClientHost & WorkerHost {
    return {
        router: p.router,
        limits: p.limits,
        counters: p.counters,
        helloTimeoutMs: p.o.helloTimeoutMs ?? 10_000,
        proxyAddress: p.o.proxyAddress,
        maxFailover: p.o.maxFailover ?? 2,
        chain: p.o.chain,
        enclaveKey: p.enclaveKey,
        admission: p.admission,
        settlement: p.settlement,
        clock: p.clock,
        stopping: p.stopping,
        serving: () => !p.halted() && !p.stopping(),
        accepting: p.accepting,
        log: p.log,
        gate: (address, key, known, run) => p.helloGate.admit(address, key, known, run),
        ledger: () => p.ledger()!,
        globalId: p.globalId,
        // Worker connections
        loadModels: async () => p.refreshModels(await p.o.chain.getRootConfig()),
        isRegistered: (name) => p.models().has(name),
        registeredWeights: (name) => p.models().get(name)?.model.weightsHash,
        workerConfigPolicy: p.o.workerConfigPolicy,
        requiresGpu: (name) => p.models().get(name)?.model.requireGpu ?? false,
        gpu: p.gpu,
        routableModels: (announced) => {
            const out = new Map<string, bigint>();
            for (const [name, c] of announced) if (p.models().has(name)) out.set(name, c);
            return out;
        },
        latestPayout: (channelRaw) => p.ledger()!.worker(channelRaw).latestPayout,
        workerClosed: (conn) => {
            p.workers.delete(conn.id);
            p.router.remove(conn.id);
        },
        // Client connections
        isInFlight: (id) => p.inFlight.has(id),
        track: (req) => void p.inFlight.set(req.id, req),
        model: (name) => p.models().get(name),
        candidates: (model, maxCoefficient, workerKey) => {
            if (!p.models().has(model)) return [];
            if (!workerKey) return p.router.candidates(model, maxCoefficient);
            const w = p.router.list().find((x) => x.keyId !== undefined && x.workerKey.equals(workerKey) && p.router.serves(x, model, maxCoefficient));
            return w ? [w] : [];
        },
        creditWindow: () => p.o.chain.cachedRootConfig!.params.creditWindow,
        openConnections: (channelRaw, except) => {
            let open = 0;
            for (const c of p.clients.values()) if (c !== except && c.state !== 'closed' && c.channelRaw === channelRaw) open++;
            return open;
        },
        durably: (op) => p.writes.durably(op),
        flushed: () => p.writes.flushed(),
        clientClosed: (conn) => void p.clients.delete(conn.id),
        coopWithdraw: (channel, req) => p.coop.sign(channel, req),
        clientCodes: p.clientCodes,
        // Requests
        workerConnection: (id) => p.workers.get(id),
        admit: (channel, amount) => {
            const c = p.ledger()!.client(channel);
            return p.clientAdmission.admit({
                channel,
                amount,
                delivered: c.deliveredCost,
                voucher: c.latestVoucher?.amount ?? 0n,
                creditWindow: p.o.chain.cachedRootConfig!.params.creditWindow,
                chain: p.settlement.cached(channel),
                nowSec: chainSeconds(p.trustClock),
                reserved: p.coop.reserved(channel, p.settlement.cached(channel)),
            });
        },
        releaseHeld: (channel, amount) => p.clientAdmission.release(channel, amount),
        forget: (id) => void p.inFlight.delete(id),
        book: (delivery) => p.writes.durably(() => void p.ledger()!.recordDelivery(delivery)),
        noteExposure: (channel) => p.counters.exposure(p.ledger()!.unsignedExposure(channel)),
        crashAt: (point, id) => {
            if (!p.o.crashHook?.(point, id)) return false;
            p.crash();
            return true;
        },
        sendToChannel: (channel: string, f: ResponseEndFrame) => {
            for (const c of p.clients.values()) {
                if (c.state === 'ready' && c.channelRaw === channel) return c.send({ ...f, v: c.version });
            }
        },
    };
}
