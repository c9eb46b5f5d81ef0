// Deploys Governance (voters and weights) and a Root owned by it.
//   npx blueprint run deployNetwork <network flags> -- --voters <addr>:<weight>[,<addr>:<weight>...]
//       [--treasury <addr>] [--gov-params '<json>'] [--params '<json>'] [--fund <TON>]
// Defaults: the sender is the only voter (weight 1); treasury = Governance; Governance gets 1 TON to pay
// executed actions; params = DEFAULT_PARAMS / DEFAULT_GOV_PARAMS.
import { NetworkProvider } from '@ton/blueprint';
import { toNano } from '@ton/core';
import { DEFAULT_GOV_PARAMS, GovernanceWrapper, VoterWeight } from '../wrappers/Governance';
import { DEFAULT_PARAMS, RootWrapper } from '../wrappers/Root';
import { addressFlag, ArgError, flag, parseAddress, parseBigint, parseGovParamsJson, parseParamsJson, rejectUnknownFlags, tonFlag } from './lib/args';
import { open, report, senderAddress } from './lib/common';

export function parseVoters(value: string): VoterWeight[] {
    const voters = value.split(',').map((part) => {
        const i = part.lastIndexOf(':');
        if (i < 0) throw new ArgError(`--voters: expected <address>:<weight>, got "${part}"`);
        const weight = parseBigint(part.slice(i + 1), 'voters');
        if (weight === 0n) throw new ArgError(`--voters: weight must be positive in "${part}"`);
        return { address: parseAddress(part.slice(0, i), 'voters'), weight };
    });
    const seen = new Set(voters.map((v) => v.address.toRawString()));
    if (seen.size !== voters.length) throw new ArgError('--voters: an address appears twice');
    return voters;
}

export async function run(provider: NetworkProvider, args: string[]) {
    rejectUnknownFlags(args, ['voters', 'treasury', 'gov-params', 'params', 'fund']);
    const me = senderAddress(provider);
    const votersFlag = flag(args, 'voters');
    const voters = votersFlag ? parseVoters(votersFlag) : [{ address: me, weight: 1n }];
    // Initial parameters skip the on-chain checks (they are contract parameters), so both sets are checked here,
    // defaults included: among them votingPeriod + timelock <= MaxGovLatency < slashChallengePeriod.
    const govParams = parseGovParamsJson(flag(args, 'gov-params') ?? '{}', DEFAULT_GOV_PARAMS, 'gov-params');
    const params = parseParamsJson(flag(args, 'params') ?? '{}', DEFAULT_PARAMS);
    const fund = tonFlag(args, 'fund', toNano('1'));

    const governance = open(provider, await GovernanceWrapper.create(voters, govParams));
    const treasury = addressFlag(args, 'treasury', governance.address);
    const root = open(provider, await RootWrapper.create({ governance: governance.address, treasury, params }));

    if (!(await provider.isContractDeployed(governance.address))) {
        await governance.sendFund(provider.sender(), fund);
        await provider.waitForDeploy(governance.address);
    }
    if (!(await provider.isContractDeployed(root.address))) {
        await root.sendDeploy(provider.sender());
        await provider.waitForDeploy(root.address);
    }
    report(provider, { governance: governance.address, root: root.address, treasury, voters, version: await root.getVersion() });
}
