// Closes a ClientChannel.
//   cooperative (now):  -- --channel <addr> --amount <TON> --seqno <n> --proxy-signature <128 hex>   (proxy co-signed close;
//                       --amount must be the whole remaining balance: the proxy redeems first, then signs what is left)
//   unilateral:         -- --channel <addr>             (starts the clientCloseDelay)
//                       -- --channel <addr> --finish    (after the delay; anyone may send it, funds go to the client)
import { NetworkProvider } from '@ton/blueprint';
import { ClientChannelWrapper } from '../wrappers/ClientChannel';
import { addressFlag, bigintFlag, hasFlag, rejectUnknownFlags, requireFlag, tonFlag } from './lib/args';
import { open, report } from './lib/common';
import { parseSignature } from './withdraw';

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['channel', 'amount', 'seqno', 'proxy-signature', 'finish']);
    const channel = open(provider, ClientChannelWrapper.open(addressFlag(args, 'channel')));
    if (hasFlag(args, 'proxy-signature')) {
        const signature = parseSignature(requireFlag(args, 'proxy-signature'), 'proxy-signature');
        await channel.sendCoopWithdraw(provider.sender(), { amount: tonFlag(args, 'amount'), seqno: bigintFlag(args, 'seqno'), close: true, signature });
    } else if (hasFlag(args, 'finish')) {
        await channel.sendFinishClose(provider.sender());
    } else {
        await channel.sendStartClose(provider.sender());
    }
    report(provider, { channel: channel.address, state: await channel.getChannelState() });
}
