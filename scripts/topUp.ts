// Tops up a ClientChannel (anyone may).
//   npx blueprint run topUp <network flags> -- --channel <addr> --amount <TON>
import { NetworkProvider } from '@ton/blueprint';
import { ClientChannelWrapper } from '../wrappers/ClientChannel';
import { addressFlag, ArgError, rejectUnknownFlags, tonFlag } from './lib/args';
import { open, report } from './lib/common';

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['channel', 'amount']);
    const channel = open(provider, ClientChannelWrapper.open(addressFlag(args, 'channel')));
    const amount = tonFlag(args, 'amount');
    if (amount === 0n) throw new ArgError('--amount: must be positive');
    const before = await channel.getChannelState();
    if (before.state !== 0n) throw new ArgError('--channel: the channel is closing or closed');
    await channel.sendTopUp(provider.sender(), amount);
    report(provider, { channel: channel.address, state: await channel.getChannelState() });
}
