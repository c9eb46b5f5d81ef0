// Proposes the Root action "remove-model" through Governance (Root only obeys its Governance).
//   npx blueprint run removeModel <network flags> -- --governance <addr> [flags of "remove-model", see scripts/propose.ts]
// Then: vote (other voters) and execute after the timelock.
import { NetworkProvider } from '@ton/blueprint';
import { run as propose } from './propose';

export async function run(provider: NetworkProvider, args: string[]) {
    await propose(provider, ['--action', 'remove-model', ...args]);
}
