import { Address, beginCell, Cell, ContractProvider, Dictionary, Sender } from '@ton/core';
import { contractAddress } from '@ton/core';
import { Proxy, storeProxyConfig } from '../build/Proxy/Proxy_Proxy';
import { FeeCommit, FeeFinish, FeeRegister, FeeSimple } from './fees';
import { commitPayload, signatureCell, signPayload } from './payloads';

export * from '../build/Proxy/Proxy_Proxy';
export * from './fees';

/** Proxy with typed senders. Address = f(root, owner, enclave key, worker-channel code). */
export class ProxyWrapper extends Proxy {
    /**
     * The canonical Proxy for (root, owner, enclaveKey); `codes` come from Root's `childCode` getter
     * (defaults: the code compiled in this checkout).
     */
    static async create(opts: { root: Address; owner: Address; enclaveKey: bigint; workerCode: Cell; proxyCode?: Cell }): Promise<ProxyWrapper> {
        const config = beginCell()
            .store(storeProxyConfig({ $$type: 'ProxyConfig', root: opts.root, owner: opts.owner, enclaveKey: opts.enclaveKey, workerCode: opts.workerCode, terms: null }))
            .endCell();
        const base = await Proxy.init(config, 0n, false, false, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, Dictionary.empty());
        const init = { code: opts.proxyCode ?? base.code, data: base.data };
        return new ProxyWrapper(contractAddress(0, init), init);
    }

    static open(address: Address): ProxyWrapper {
        return new ProxyWrapper(address);
    }

    /** Deploys if needed and registers in Root; value above FeeRegister becomes stake. */
    async sendRegister(provider: ContractProvider, via: Sender, opts: { stake: bigint; clientEndpoint: string; workerEndpoint: string; queryId?: bigint }) {
        await this.send(provider, via, { value: opts.stake + FeeRegister }, {
            $$type: 'ProxyRegister',
            queryId: opts.queryId ?? 0n,
            clientEndpoint: opts.clientEndpoint,
            workerEndpoint: opts.workerEndpoint,
        });
    }

    async sendAddStake(provider: ContractProvider, via: Sender, amount: bigint, fee = FeeSimple) {
        await this.send(provider, via, { value: amount + fee }, { $$type: 'AddStake', queryId: 0n, amount });
    }

    /** Signs (seqno, hash) with the enclave key and commits it. */
    async sendCommit(provider: ContractProvider, via: Sender, opts: { seqno: bigint; hash: bigint; secretKey: Buffer; globalId: number; value?: bigint }) {
        const signature = signPayload(commitPayload(this.address, opts.seqno, opts.hash, opts.globalId), opts.secretKey);
        await this.sendSignedCommit(provider, via, { seqno: opts.seqno, hash: opts.hash, signature, value: opts.value });
    }

    async sendSignedCommit(provider: ContractProvider, via: Sender, opts: { seqno: bigint; hash: bigint; signature: Buffer; value?: bigint }) {
        await this.send(provider, via, { value: opts.value ?? FeeCommit }, {
            $$type: 'StateCommit',
            queryId: 0n,
            seqno: opts.seqno,
            hash: opts.hash,
            signature: opts.signature,
        });
    }

    /** Proves equivocation: two commits with one seqno and different hashes, both enclave-signed. */
    async sendReportEquivocation(
        provider: ContractProvider,
        via: Sender,
        opts: { seqno: bigint; hashA: bigint; sigA: Buffer; hashB: bigint; sigB: Buffer; value?: bigint },
    ) {
        await this.send(provider, via, { value: opts.value ?? FeeFinish }, {
            $$type: 'ReportEquivocation',
            queryId: 0n,
            seqno: opts.seqno,
            hashA: opts.hashA,
            hashB: opts.hashB,
            sigA: signatureCell(opts.sigA),
            sigB: signatureCell(opts.sigB),
        });
    }

    async sendWithdrawCommission(provider: ContractProvider, via: Sender, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'WithdrawCommission', queryId: 0n });
    }

    async sendEvictWorker(provider: ContractProvider, via: Sender, worker: Address, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'EvictWorker', queryId: 0n, worker });
    }

    async sendClose(provider: ContractProvider, via: Sender, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'ProxyClose', queryId: 0n });
    }

    async sendFinishClose(provider: ContractProvider, via: Sender, value = FeeFinish) {
        await this.send(provider, via, { value }, { $$type: 'ProxyFinishClose', queryId: 0n });
    }
}
