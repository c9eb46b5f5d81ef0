// Proposes the Root action "register-model" through Governance (Root only obeys its Governance).
//   npx blueprint run registerModel <network flags> -- --governance <addr> [flags of "register-model", see scripts/propose.ts]
// Then: vote (other voters) and execute after the timelock.
import { NetworkProvider } from '@ton/blueprint';
import { run as propose } from './propose';

export async function run(provider: NetworkProvider, args: string[]) {
    await propose(provider, ['--action', 'register-model', ...args]);
}
