// Proposes the Root action "set-params" through Governance (Root only obeys its Governance).
//   npx blueprint run setParams <network flags> -- --governance <addr> [flags of "set-params", see scripts/propose.ts]
// Then: vote (other voters) and execute after the timelock.
import { NetworkProvider } from '@ton/blueprint';
import { run as propose } from './propose';

export async function run(provider: NetworkProvider, args: string[]) {
    await propose(provider, ['--action', 'set-params', ...args]);
}
