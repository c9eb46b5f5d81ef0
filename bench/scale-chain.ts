// bench/scale.ts's chain setup: N staked WorkerChannels and M funded ClientChannels with one proxy, created in bulk
// inside the devnet's sandbox (one transaction chain each, no HTTP round trips or confirmation polls), so that the
// proxy's real hello checks pass for every simulated peer:
//   worker: a wallet v4 account holding its key (written as an active account: the proxy reads get_public_key to check
//           the owner's signature in hello),
//           and its canonical WorkerChannel staked with the proxy terms' minWorkerStake by a WorkerStake message from
//           that wallet's address (Active, counted by the Proxy contract) — what a WorkerAgent's own staking produces;
//   client: the canonical ClientChannel of (wallet address, client key) topped up with `deposit` from that address —
//           what CocoonClient.open() deploys. Its clientKey is the Ed25519 key of `clientSeed(j)`, the key the session's
//           certificate carries.
// The messages come from the wallets' addresses through a sandbox sender (as blockchain.sender, with the state init), i.e. the wallets'
// own external-message step is skipped; the contracts see the same internal messages as with real wallets.
import { Address, Cell, Sender, SenderArguments, toNano } from '@ton/core';
import { Blockchain, createShardAccount, internal } from '@ton/sandbox';
import { KeyPair, keyPairFromSeed } from '@ton/crypto';
import { WalletContractV4 } from '@ton/ton';
import type { AgentNetwork } from '../fixtures/agent-network';
import { seed } from '../fixtures/agent-network';
import { WorkerActive, WorkerChannelWrapper } from '../wrappers/WorkerChannel';
import { ClientChannelWrapper } from '../wrappers/ClientChannel';
import { toUint256 } from '../wrappers/payloads';

/** The wallet keys of simulated worker `i` (the WorkerChannel owner) and of the owner of client channel `j`. */
export const workerWalletKeys = (i: number): KeyPair => keyPairFromSeed(seed(`scale/worker-wallet/${i}`));
export const clientWalletKeys = (j: number): KeyPair => keyPairFromSeed(seed(`scale/client-wallet/${j}`));
/** Client channel `j`'s 32-byte seed: certificate key = clientKey = voucher key. */
export const clientSeed = (j: number): Buffer => seed(`scale/client/${j}`);
/** Worker `i`'s enclave seed (RA-TLS and receipt key). */
export const workerSeed = (i: number): Buffer => seed(`scale/worker/${i}`);

/** blockchain.sender(address) with the state init passed on (the sandbox's own drops it: no deploy with the first message). */
function senderFrom(bc: Blockchain, address: Address): Sender {
    return {
        address,
        send: async (args: SenderArguments) => {
            await bc.sendMessage(internal({ from: address, to: args.to, value: args.value, bounce: args.bounce ?? true, stateInit: args.init ?? undefined, body: args.body ?? new Cell() }));
        },
    };
}

const walletAddress = (kp: KeyPair) => WalletContractV4.create({ workchain: 0, publicKey: kp.publicKey }).address;

export interface BulkResult {
    /** ClientChannel addresses by index. */
    clientChannels: Address[];
    /** Wall time of the whole setup, ms. */
    ms: number;
}

/**
 * Workers 0..workers−1 get a deployed wallet and an Active WorkerChannel with `proxy`; client channels
 * 0..clients−1 are deployed with `deposit`. Idempotent per index only on a fresh devnet (run once).
 */
export async function bulkChannels(net: AgentNetwork, proxy: Address, o: { workers: number; clients: number; deposit: bigint; progress?: (s: string) => void }): Promise<BulkResult> {
    const t0 = performance.now();
    const chain = net.newChain();
    const ps = await chain.getProxyState(proxy);
    if (!ps?.terms) throw new Error(`proxy ${proxy.toString()} is not registered`);
    const terms = ps.terms;
    const cfg = await chain.getRootConfig();
    const proxyKey = ps.enclaveKey;
    const clientChannels: Address[] = [];
    await net.devnet.withBlockchain(async (bc) => {
        for (let i = 0; i < o.workers; i++) {
            const kp = workerWalletKeys(i);
            const wallet = WalletContractV4.create({ workchain: 0, publicKey: kp.publicKey });
            await bc.setShardAccount(wallet.address, createShardAccount({ address: wallet.address, code: wallet.init.code, data: wallet.init.data, balance: toNano('2') }));
            const ch = bc.openContract(await WorkerChannelWrapper.create({ proxy, worker: wallet.address, proxyKey, root: ps.root, terms }));
            await ch.sendStake(senderFrom(bc, wallet.address), terms.minWorkerStake);
            if ((i + 1) % 200 === 0) o.progress?.(`worker channels ${i + 1}/${o.workers}`);
        }
        for (let j = 0; j < o.clients; j++) {
            const owner = walletAddress(clientWalletKeys(j));
            const ch = bc.openContract(
                await ClientChannelWrapper.create({
                    proxy,
                    client: owner,
                    clientKey: toUint256(keyPairFromSeed(clientSeed(j)).publicKey),
                    proxyKey,
                    closeDelay: cfg.params.clientCloseDelay,
                    code: cfg.childCode.clientCode,
                }),
            );
            await ch.sendTopUp(senderFrom(bc, owner), o.deposit);
            clientChannels.push(ch.address);
            if ((j + 1) % 500 === 0) o.progress?.(`client channels ${j + 1}/${o.clients}`);
        }
    });
    // Spot checks through the chain API, as the proxy will read them.
    const w = await chain.getWorkerChannelState((await WorkerChannelWrapper.create({ proxy, worker: walletAddress(workerWalletKeys(o.workers - 1)), proxyKey, root: ps.root, terms })).address);
    if (!w || w.state !== WorkerActive || w.stake < w.minStake) throw new Error(`bulk worker channel not active (state ${w?.state})`);
    if (o.clients > 0) {
        const c = await chain.getClientChannelState(clientChannels[o.clients - 1]);
        if (!c || c.state !== 0n || c.balance < o.deposit) throw new Error('bulk client channel not funded');
    }
    return { clientChannels, ms: performance.now() - t0 };
}
