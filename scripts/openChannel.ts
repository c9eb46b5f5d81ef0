// Opens the sender's ClientChannel with a proxy and deposits into it.
//   npx blueprint run openChannel <network flags> -- --proxy <Proxy contract> --client-key <64 hex> --deposit <TON>
// --client-key is the Ed25519 public key that will sign vouchers (the client agent's key).
import { NetworkProvider } from '@ton/blueprint';
import { RootWrapper } from '../wrappers/Root';
import { ProxyWrapper } from '../wrappers/Proxy';
import { ClientChannelWrapper } from '../wrappers/ClientChannel';
import { addressFlag, ArgError, hashFlag, rejectUnknownFlags, tonFlag } from './lib/args';
import { open, report, senderAddress, waitUntil } from './lib/common';

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['proxy', 'client-key', 'deposit']);
    const proxy = open(provider, ProxyWrapper.open(addressFlag(args, 'proxy')));
    const clientKey = hashFlag(args, 'client-key');
    const deposit = tonFlag(args, 'deposit');
    const ps = await proxy.getProxyState();
    if (!ps.registered) throw new ArgError('--proxy: this proxy is not registered in Root');
    const root = open(provider, RootWrapper.open(ps.root));
    const params = await root.getParams();
    if (deposit < params.minClientDeposit) throw new ArgError(`--deposit: at least ${params.minClientDeposit} nanoTON (Root's minClientDeposit)`);
    const codes = await root.getChildCode();
    const channel = open(provider, 
        await ClientChannelWrapper.create({
            proxy: proxy.address, client: senderAddress(provider), clientKey, proxyKey: ps.enclaveKey,
            closeDelay: params.clientCloseDelay, code: codes.clientCode,
        }),
    );
    await channel.sendTopUp(provider.sender(), deposit);
    await waitUntil('the channel deposit', async () => (await channel.getChannelState()).balance > 0n);
    report(provider, { channel: channel.address, state: await channel.getChannelState() });
}
