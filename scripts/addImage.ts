// Proposes the Root action "add-image" through Governance (Root only obeys its Governance).
//   npx blueprint run addImage <network flags> -- --governance <addr> [flags of "add-image", see scripts/propose.ts]
// Then: vote (other voters) and execute after the timelock.
import { NetworkProvider } from '@ton/blueprint';
import { run as propose } from './propose';

export async function run(provider: NetworkProvider, args: string[]) {
    await propose(provider, ['--action', 'add-image', ...args]);
}
