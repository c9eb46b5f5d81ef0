import { Address, beginCell, Cell, contractAddress, ContractProvider, Sender } from '@ton/core';
import { ClientChannel, storeClientChannelConfig } from '../build/ClientChannel/ClientChannel_ClientChannel';
import { FeeFinish, FeeRedeem, FeeSimple, FeeTopUp } from './fees';
import { signPayload, voucherPayload, withdrawPayload } from './payloads';

export * from '../build/ClientChannel/ClientChannel_ClientChannel';
export * from './fees';

/** ClientChannel with typed senders. Address = f(code, proxy, client, clientKey, proxyKey, closeDelay). */
export class ClientChannelWrapper extends ClientChannel {
    /** The canonical channel; `code` comes from Root's childCode (defaults to the compiled code). */
    static async create(opts: { proxy: Address; client: Address; clientKey: bigint; proxyKey: bigint; closeDelay: bigint; code?: Cell }): Promise<ClientChannelWrapper> {
        const config = beginCell()
            .store(storeClientChannelConfig({ $$type: 'ClientChannelConfig', proxy: opts.proxy, client: opts.client, clientKey: opts.clientKey, proxyKey: opts.proxyKey, closeDelay: opts.closeDelay }))
            .endCell();
        const base = await ClientChannel.init(config, 0n, 0n, 0n, 0n, 0n, 0n, 0n);
        const init = { code: opts.code ?? base.code, data: base.data };
        return new ClientChannelWrapper(contractAddress(0, init), init);
    }

    static open(address: Address): ClientChannelWrapper {
        return new ClientChannelWrapper(address);
    }

    /** Deposit (deploys on first use) or top-up; `fee` covers gas (at least FeeTopUp). */
    async sendTopUp(provider: ContractProvider, via: Sender, amount: bigint, fee = FeeTopUp) {
        await this.send(provider, via, { value: amount + fee }, { $$type: 'TopUp', queryId: 0n, amount });
    }

    /** Signs a cumulative voucher with the client's key for the network `globalId` (off-chain; the proxy stores it). */
    signVoucher(cumulative: bigint, secretKey: Buffer, globalId: number): Buffer {
        return signPayload(voucherPayload(this.address, cumulative, globalId), secretKey);
    }

    async sendRedeem(provider: ContractProvider, via: Sender, opts: { amount: bigint; signature: Buffer; value?: bigint; queryId?: bigint }) {
        await this.send(provider, via, { value: opts.value ?? FeeRedeem }, {
            $$type: 'Redeem',
            queryId: opts.queryId ?? 0n,
            amount: opts.amount,
            signature: opts.signature,
        });
    }

    /** The proxy co-signs a cooperative withdrawal (off-chain). */
    signWithdraw(amount: bigint, seqno: bigint, close: boolean, proxySecretKey: Buffer, globalId: number): Buffer {
        return signPayload(withdrawPayload(this.address, amount, seqno, close, globalId), proxySecretKey);
    }

    async sendCoopWithdraw(provider: ContractProvider, via: Sender, opts: { amount: bigint; seqno: bigint; close: boolean; signature: Buffer; value?: bigint }) {
        await this.send(provider, via, { value: opts.value ?? FeeSimple }, {
            $$type: 'CoopWithdraw',
            queryId: 0n,
            amount: opts.amount,
            seqno: opts.seqno,
            close: opts.close,
            signature: opts.signature,
        });
    }

    async sendRequestWithdraw(provider: ContractProvider, via: Sender, amount: bigint, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'RequestWithdraw', queryId: 0n, amount });
    }

    async sendFinishWithdraw(provider: ContractProvider, via: Sender, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'FinishWithdraw', queryId: 0n });
    }

    async sendStartClose(provider: ContractProvider, via: Sender, value = FeeSimple) {
        await this.send(provider, via, { value }, { $$type: 'StartClose', queryId: 0n });
    }

    async sendFinishClose(provider: ContractProvider, via: Sender, value = FeeFinish) {
        await this.send(provider, via, { value }, { $$type: 'FinishClose', queryId: 0n });
    }
}
