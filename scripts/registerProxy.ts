// Deploys (if needed) and registers the sender's Proxy contract for an enclave key.
//   npx blueprint run registerProxy <network flags> -- --root <addr> --enclave-key <64 hex> --stake <TON>
//       --client-endpoint <host:port> --worker-endpoint <host:port>
// Run it again with --stake 0 to update the endpoints.
import { NetworkProvider } from '@ton/blueprint';
import { RootWrapper } from '../wrappers/Root';
import { ProxyWrapper } from '../wrappers/Proxy';
import { addressFlag, ArgError, hashFlag, rejectUnknownFlags, requireFlag, tonFlag } from './lib/args';
import { open, report, senderAddress, waitUntil } from './lib/common';

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['root', 'enclave-key', 'stake', 'client-endpoint', 'worker-endpoint']);
    const root = open(provider, RootWrapper.open(addressFlag(args, 'root')));
    const enclaveKey = hashFlag(args, 'enclave-key');
    const stake = tonFlag(args, 'stake');
    const clientEndpoint = requireFlag(args, 'client-endpoint');
    const workerEndpoint = requireFlag(args, 'worker-endpoint');
    for (const [name, v] of [['client-endpoint', clientEndpoint], ['worker-endpoint', workerEndpoint]] as const) {
        if (Buffer.byteLength(v) > 120) throw new ArgError(`--${name}: at most 120 bytes`);
    }
    const params = await root.getParams();
    const codes = await root.getChildCode();
    const proxy = open(provider, 
        await ProxyWrapper.create({ root: root.address, owner: senderAddress(provider), enclaveKey, workerCode: codes.workerCode, proxyCode: codes.proxyCode }),
    );
    const deployed = await provider.isContractDeployed(proxy.address);
    const current = deployed ? (await proxy.getProxyState()).stake : 0n;
    if (current + stake < params.minProxyStake) {
        throw new ArgError(`--stake: the proxy's stake would be ${current + stake} nanoTON, Root requires ${params.minProxyStake}`);
    }
    await proxy.sendRegister(provider.sender(), { stake, clientEndpoint, workerEndpoint });
    await waitUntil('registration in Root', async () => (await root.getProxy(proxy.address)) !== null);
    report(provider, { proxy: proxy.address, state: await proxy.getProxyState() });
}
