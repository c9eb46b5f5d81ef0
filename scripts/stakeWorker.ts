// Opens (or adds to) the sender's WorkerChannel with a proxy.
//   npx blueprint run stakeWorker <network flags> -- --proxy <Proxy contract> --amount <TON>
import { NetworkProvider } from '@ton/blueprint';
import { ProxyWrapper } from '../wrappers/Proxy';
import { WorkerChannelWrapper } from '../wrappers/WorkerChannel';
import { RootWrapper } from '../wrappers/Root';
import { addressFlag, ArgError, rejectUnknownFlags, tonFlag } from './lib/args';
import { open, report, senderAddress } from './lib/common';

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['proxy', 'amount']);
    const proxy = open(provider, ProxyWrapper.open(addressFlag(args, 'proxy')));
    const amount = tonFlag(args, 'amount');
    if (amount === 0n) throw new ArgError('--amount: must be positive');
    const ps = await proxy.getProxyState();
    if (!ps.terms) throw new ArgError('--proxy: this proxy has never registered in Root');
    const codes = await open(provider, RootWrapper.open(ps.root)).getChildCode();
    const channel = open(provider, 
        await WorkerChannelWrapper.create({
            proxy: proxy.address, worker: senderAddress(provider), proxyKey: ps.enclaveKey, root: ps.root, terms: ps.terms,
            code: codes.workerCode,
        }),
    );
    const expected = await proxy.getWorkerChannelAddress(senderAddress(provider));
    if (!expected.equals(channel.address)) {
        throw new Error(`this proxy authenticates worker channels with older code than Root's current one (expected ${expected})`);
    }
    await channel.sendStake(provider.sender(), amount);
    report(provider, { channel: channel.address, state: await channel.getChannelState() });
}
