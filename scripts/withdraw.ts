// Withdraws from the sender's ClientChannel.
//   cooperative (now):  -- --channel <addr> --amount <TON> --seqno <n> --proxy-signature <128 hex>
//   unilateral:         -- --channel <addr> --amount <TON> --request     (then, after clientCloseDelay:)
//                       -- --channel <addr> --finish
import { NetworkProvider } from '@ton/blueprint';
import { ClientChannelWrapper } from '../wrappers/ClientChannel';
import { addressFlag, ArgError, bigintFlag, hasFlag, rejectUnknownFlags, requireFlag, tonFlag } from './lib/args';
import { open, report } from './lib/common';

export function parseSignature(hex: string, name: string): Buffer {
    const v = hex.trim().replace(/^0x/i, '');
    if (!/^[0-9a-fA-F]{128}$/.test(v)) throw new ArgError(`--${name}: expected 128 hex digits (a 64-byte Ed25519 signature)`);
    return Buffer.from(v, 'hex');
}

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['channel', 'amount', 'seqno', 'proxy-signature', 'request', 'finish']);
    const channel = open(provider, ClientChannelWrapper.open(addressFlag(args, 'channel')));
    if (hasFlag(args, 'finish')) {
        await channel.sendFinishWithdraw(provider.sender());
    } else if (hasFlag(args, 'request')) {
        const amount = tonFlag(args, 'amount');
        if (amount === 0n) throw new ArgError('--amount: must be positive');
        await channel.sendRequestWithdraw(provider.sender(), amount);
    } else {
        const amount = tonFlag(args, 'amount');
        const seqno = bigintFlag(args, 'seqno');
        const signature = parseSignature(requireFlag(args, 'proxy-signature'), 'proxy-signature');
        await channel.sendCoopWithdraw(provider.sender(), { amount, seqno, close: false, signature });
    }
    report(provider, { channel: channel.address, state: await channel.getChannelState() });
}
