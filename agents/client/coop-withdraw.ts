// Cooperative withdrawal, the client's side (spec/client.md, "Cooperative withdrawal"; spec/wire.md, coop_withdraw):
// ask the proxy to co-sign the ClientChannel's CoopWithdraw, check the co-signature against the proxy's enclave key
// and the channel's withdrawSeqno, then send it from the wallet. One step, no close delay, when the proxy is honest;
// a refusal or an unreachable proxy is a ClientError the caller can fall back on (withdraw(), the delayed path).
import type { ClientChannelWrapper } from '../../wrappers/ClientChannel';
import type { ClientChannelOps } from './channel';
import type { Payments } from './payments';
import { withdrawPayload } from '../../wrappers/payloads';
import { ed25519Verify } from '../core/ed25519';
import { bytes256 } from '../core/hex';
import type { Log } from '../core/log';
import { ClientError } from './errors';
import type { InFrame, ProxyConnection } from './proxy-connection';
import { DONE, Queue } from './queue';
import { newId } from './util';

export interface CoopWithdrawResult {
    /** nanoTON the contract paid the wallet (a close: the whole balance, with the channel's surplus on top). */
    amount: bigint;
    close: boolean;
    /** The channel's withdrawSeqno the co-signature was valid for (it is used up now). */
    seqno: bigint;
}

export interface CoopOptions {
    wrapper: ClientChannelWrapper;
    /** The proxy's enclave key (the channel's proxyKey). */
    proxyKey: bigint;
    globalId: () => Promise<number>;
    connect: () => Promise<ProxyConnection>;
    /** settled(): every voucher for what was delivered is signed, persisted and sent (so the proxy can redeem it first). */
    payments: Pick<Payments, 'settled'>;
    /** The channel's open state, what is withdrawable, and the CoopWithdraw transfer (waits for withdrawSeqno to move). */
    channelOps: Pick<ClientChannelOps, 'openState' | 'available' | 'sendCoopWithdraw'>;
    timeoutMs: number;
    log: Log;
}

/** `amount` to withdraw now, or `{close: true}` for the whole balance and the end of the channel. */
export async function coopWithdraw(o: CoopOptions, req: { amount?: bigint; close?: boolean }): Promise<CoopWithdrawResult> {
    const close = req.close === true;
    if (close === (req.amount !== undefined)) throw new ClientError('CONFIG_INVALID', 'give an amount, or close: true without one', { key: 'amount' });
    if (!close && (typeof req.amount !== 'bigint' || req.amount <= 0n)) throw new ClientError('CONFIG_INVALID', 'amount must be a positive bigint (nanoTON)', { key: 'amount' });
    const s = await o.channelOps.openState();
    const available = o.channelOps.available(s);
    if (!close && req.amount! > available) {
        throw new ClientError('CONFIG_INVALID', `amount ${req.amount} exceeds what is withdrawable (${available}: balance minus signed, unredeemed vouchers)`, { key: 'amount' });
    }
    await o.payments.settled();
    const conn = await o.connect();
    const id = newId();
    const q = new Queue<InFrame>();
    conn.queries.set(id, q);
    let f: InFrame | typeof DONE;
    try {
        conn.send({ type: 'coop_withdraw', v: conn.version!, id, close, ...(close ? {} : { amount: req.amount! }) });
        f = await q.next(o.timeoutMs, () => new ClientError('PROXY_UNREACHABLE', `no answer to coop_withdraw within ${o.timeoutMs} ms`));
    } finally {
        conn.queries.delete(id);
    }
    if (f === DONE) throw new ClientError('PROXY_UNREACHABLE', 'the connection ended before the proxy answered coop_withdraw');
    if (f.type === 'error') throw new ClientError('PROXY_REFUSED', `the proxy refused the cooperative withdrawal: ${f.code}: ${f.message}`, { wireCode: f.code });
    if (f.type !== 'coop_withdraw_signed') throw new ClientError('PROTOCOL_ERROR', `unexpected answer to coop_withdraw: ${f.type}`);
    // Check before spending gas: the contract would refuse anything else, and a wrong amount is not what we asked.
    if (f.seqno !== s.withdrawSeqno) throw new ClientError('PROTOCOL_ERROR', `the co-signature is for withdrawSeqno ${f.seqno}; the channel is at ${s.withdrawSeqno}`);
    if (f.close !== close || (!close && f.amount !== req.amount)) throw new ClientError('PROTOCOL_ERROR', `the proxy co-signed ${f.close ? 'a close' : 'a withdrawal'} of ${f.amount}, not what was asked`);
    const signature = Buffer.from(f.signature, 'hex');
    if (!ed25519Verify(withdrawPayload(o.wrapper.address, f.amount, f.seqno, f.close, await o.globalId()).hash(), signature, bytes256(o.proxyKey))) {
        throw new ClientError('PROTOCOL_ERROR', "the co-signature does not verify under the channel's proxy key");
    }
    await o.channelOps.sendCoopWithdraw({ amount: f.amount, seqno: f.seqno, close: f.close, signature });
    o.log('client.coop-withdrawn', { amount: f.amount.toString(), seqno: Number(f.seqno), close: f.close });
    return { amount: f.amount, close: f.close, seqno: f.seqno };
}
