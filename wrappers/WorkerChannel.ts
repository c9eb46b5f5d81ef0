import { Address, beginCell, Cell, contractAddress, ContractProvider, Sender } from '@ton/core';
import { ProxyTerms, storeWorkerChannelConfig, WorkerChannel } from '../build/WorkerChannel/WorkerChannel_WorkerChannel';
import { FeeClaim, FeeFinish, FeeSimple } from './fees';
import { FaultReport, faultPayload, payoutPayload, signatureCell, signPayload } from './payloads';

export * from '../build/WorkerChannel/WorkerChannel_WorkerChannel';
export * from './fees';

/** WorkerChannel with typed senders. Address = f(code, proxy, worker, proxy key, root, the proxy's terms). */
export class WorkerChannelWrapper extends WorkerChannel {
    /** The canonical channel, as the Proxy contract derives it; `terms` = the Proxy's terms. */
    static async create(opts: { proxy: Address; worker: Address; proxyKey: bigint; root: Address; terms: ProxyTerms; code?: Cell }): Promise<WorkerChannelWrapper> {
        const t = opts.terms;
        const config = beginCell()
            .store(storeWorkerChannelConfig({
                $$type: 'WorkerChannelConfig',
                proxy: opts.proxy, worker: opts.worker, proxyKey: opts.proxyKey, root: opts.root, treasury: t.treasury,
                minStake: t.minWorkerStake, unbondDelay: t.workerUnbondDelay, challengePeriod: t.slashChallengePeriod,
            }))
            .endCell();
        const base = await WorkerChannel.init(config, 0n, 0n, 0n, 0n, 0n, null, false);
        const init = { code: opts.code ?? base.code, data: base.data };
        return new WorkerChannelWrapper(contractAddress(0, init), init);
    }

    static open(address: Address): WorkerChannelWrapper {
        return new WorkerChannelWrapper(address);
    }

    /** Deploys (first time) and adds stake; `fee` must be at least FeeSimple. */
    async sendStake(provider: ContractProvider, via: Sender, amount: bigint, fee = FeeSimple) {
        await this.send(provider, via, { value: amount + fee }, { $$type: 'WorkerStake', queryId: 0n, amount });
    }

    /** The proxy signs a cumulative payout (off-chain). */
    signPayout(cumulative: bigint, proxySecretKey: Buffer, globalId: number): Buffer {
        return signPayload(payoutPayload(this.address, cumulative, globalId), proxySecretKey);
    }

    async sendClaim(provider: ContractProvider, via: Sender, opts: { amount: bigint; signature: Buffer; value?: bigint; queryId?: bigint }) {
        await this.send(provider, via, { value: opts.value ?? FeeClaim }, {
            $$type: 'ClaimPayout',
            queryId: opts.queryId ?? 0n,
            amount: opts.amount,
            signature: opts.signature,
        });
    }

    /** The proxy signs a fault report (off-chain). */
    signFault(f: FaultReport, proxySecretKey: Buffer, globalId: number): Buffer {
        return signPayload(faultPayload(this.address, f, globalId), proxySecretKey);
    }

    async sendReportFault(provider: ContractProvider, via: Sender, f: FaultReport & { signature: Buffer; value?: bigint }) {
        await this.send(provider, via, { value: f.value ?? FeeSimple }, {
            $$type: 'ReportFault',
            queryId: 0n,
            seqno: f.seqno,
            amount: f.amount,
            reason: f.reason,
            requestId: f.requestId,
            evidenceHash: f.evidenceHash,
            signature: signatureCell(f.signature),
        });
    }

    async sendExecuteSlash(provider: ContractProvider, via: Sender, value = FeeFinish) {
        await this.send(provider, via, { value }, { $$type: 'ExecuteSlash', queryId: 0n });
    }

    async sendStartUnbond(provider: ContractProvider, via: Sender, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'StartUnbond', queryId: 0n });
    }

    async sendFinishUnbond(provider: ContractProvider, via: Sender, value = FeeFinish) {
        await this.send(provider, via, { value }, { $$type: 'FinishUnbond', queryId: 0n });
    }
}
