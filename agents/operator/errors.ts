// Typed errors of the operator commands (`cocoon proxy|worker <command>`, spec/operations.md "Operator commands").
// Every refusal before sending names what is wrong, so the operator learns it before paying for a bounce.
import { CocoonError } from '../core/errors';

export const OperatorErrorCodes = [
    'NOT_OWNER', // the wallet is not the Proxy's owner: the contract would refuse the message (details.owner, details.wallet)
    'NOT_DEPLOYED', // the Proxy or WorkerChannel is not on chain (a WorkerChannel is derived from the wallet and the proxy)
    'WRONG_STATE', // the contract's state does not allow the operation (details.state)
    'TOO_EARLY', // a delay has not elapsed yet (details.at: unix time, details.waitS)
    'CHANNELS_OPEN', // ProxyFinishClose while worker channels are open (details.workerChannels)
    'SLASH_PENDING', // FinishUnbond while a slash is pending (details.executeAt)
    'NOTHING_TO_DO', // nothing to withdraw or claim
    'POOL_SHORT', // the Proxy's pool cannot pay the claim now (details.due, details.pool)
    'INSUFFICIENT_BALANCE', // the wallet cannot pay the value plus its own fees (details.need, details.balance)
    'TX_FAILED', // the transaction landed and the contract refused it (details.exitCode, details.error)
    'TX_NOT_FOUND', // the wallet's transfer was applied but the destination shows no transaction for it in time
    'NOT_CONFIRMED', // the transaction landed but the state change that follows it did not happen in time
] as const;
export type OperatorErrorCode = (typeof OperatorErrorCodes)[number];

export class OperatorError extends CocoonError<OperatorErrorCode> {}
