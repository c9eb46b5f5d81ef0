// Builds the one action a `propose` script proposes, from flags (or prompts). Pure apart from the
// injected readers, so tests/scripts/proposals.spec.ts checks every action kind without a network.
import { Address, Cell, toNano } from '@ton/core';
import { GovernanceWrapper, GovParams, ProposalAction } from '../../wrappers/Governance';
import { ChildCodes, compiledChildCodes, IMAGE_KINDS, ImageKind, Params, RootWrapper } from '../../wrappers/Root';
import { modelId } from '../../wrappers/payloads';
import {
    ArgError,
    Asker,
    askString,
    flag,
    flagOrAsk,
    parseAddress,
    parseBigint,
    parseGovParamsJson,
    parseBool,
    parseHash,
    parseParamsJson,
    parseTon,
    rejectUnknownFlags,
    tonFlag,
} from './args';

export const ACTION_KINDS = [
    'add-image',
    'remove-image',
    'register-model',
    'remove-model',
    'set-params',
    'set-child-code',
    'upgrade-root',
    'delist-proxy',
    'set-treasury',
    'set-governance',
    'veto-slash',
    'set-voter',
    'set-gov-params',
] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

/** Flags every propose invocation may carry. */
export const COMMON_FLAGS = ['governance', 'action', 'value', 'fee'];

/** Flags of each action kind (besides COMMON_FLAGS). */
export const KIND_FLAGS: Record<ActionKind, string[]> = {
    'add-image': ['root', 'kind', 'hash'],
    'remove-image': ['root', 'kind', 'hash'],
    'register-model': ['root', 'name', 'weights-hash', 'context', 'price-prompt', 'price-cached', 'price-completion', 'price-reasoning', 'require-gpu'],
    'remove-model': ['root', 'name', 'model-id'],
    'set-params': ['root', 'params'],
    'set-child-code': ['root'],
    'upgrade-root': ['root'],
    'delist-proxy': ['root', 'proxy'],
    'set-treasury': ['root', 'treasury'],
    'set-governance': ['root', 'new-governance'],
    'veto-slash': ['root', 'channel', 'fault-seqno'],
    'set-voter': ['voter', 'weight'],
    'set-gov-params': ['params'],
};

export const DEFAULT_ACTION_VALUE = toNano('0.05');

export function parseActionKind(value: string, name = 'action'): ActionKind {
    const v = value.trim() as ActionKind;
    if (!ACTION_KINDS.includes(v)) throw new ArgError(`--${name}: unknown action "${value}" (one of ${ACTION_KINDS.join(', ')})`);
    return v;
}

export function parseImageKind(value: string, name = 'kind'): ImageKind {
    const v = value.trim() as ImageKind;
    if (!IMAGE_KINDS.includes(v)) throw new ArgError(`--${name}: expected ${IMAGE_KINDS.join(', ')}, got "${value}"`);
    return v;
}

export interface ProposalEnv {
    governance: Address;
    /** Prompts for absent flags; without it an absent required flag is an error. */
    ui?: Asker;
    /** Root's current params (a partial --params JSON is merged over them). */
    rootParams(root: Address): Promise<Params>;
    /** Governance's current params (a partial --params JSON is merged over them). */
    govParams(): Promise<GovParams>;
    /** Child codes for set-child-code; default: the codes compiled in this checkout. */
    childCodes?: () => Promise<ChildCodes>;
    /** Root code for upgrade-root; default: the Root code compiled in this checkout. */
    rootCode?: () => Promise<Cell>;
}

export interface BuiltAction {
    action: ProposalAction;
    /** What the action does, for printing before sending. */
    description: Record<string, unknown>;
}

export async function compiledRootCode(): Promise<Cell> {
    const any = new Address(0, Buffer.alloc(32));
    return (await RootWrapper.create({ governance: any, treasury: any })).init!.code;
}

/** The action of kind `kind` from `args`; rejects flags that do not belong to the kind. */
export async function buildAction(kind: ActionKind, args: string[], env: ProposalEnv): Promise<BuiltAction> {
    rejectUnknownFlags(args, [...COMMON_FLAGS, ...KIND_FLAGS[kind]]);
    const ui = env.ui;
    const value = tonFlag(args, 'value', DEFAULT_ACTION_VALUE);
    const ask = <T>(name: string, message: string, parse: (v: string, n: string) => T) => flagOrAsk(args, name, ui, message, parse);
    const root = () => ask('root', 'Root address:', parseAddress);
    const toRoot = async (body: Cell, description: Record<string, unknown>): Promise<BuiltAction> => {
        const to = await root();
        return { action: { to, value, body }, description: { action: kind, to, value, ...description } };
    };
    const toGov = (body: Cell, description: Record<string, unknown>): BuiltAction => ({
        action: { to: env.governance, value, body },
        description: { action: kind, to: env.governance, value, ...description },
    });

    switch (kind) {
        case 'add-image':
        case 'remove-image': {
            const imageKind = await ask('kind', `Image kind (${IMAGE_KINDS.join('/')}):`, parseImageKind);
            const hash = await ask('hash', 'Image hash (64 hex digits):', parseHash);
            const body = kind === 'add-image' ? RootWrapper.addImageBody(imageKind, hash) : RootWrapper.removeImageBody(imageKind, hash);
            return toRoot(body, { kind: imageKind, hash: hex(hash) });
        }
        case 'register-model': {
            const name = await ask('name', 'Model name:', askString);
            if (Buffer.byteLength(name, 'utf8') > 120) throw new ArgError('--name: at most 120 bytes');
            const model = {
                name,
                weightsHash: await ask('weights-hash', 'Weights hash (64 hex digits):', parseHash),
                contextLength: await ask('context', 'Context length (tokens):', parsePositive),
                pricePrompt: await ask('price-prompt', 'Prompt price (TON per 1M tokens):', parseTon),
                priceCached: await ask('price-cached', 'Cached-prompt price (TON per 1M tokens):', parseTon),
                priceCompletion: await ask('price-completion', 'Completion price (TON per 1M tokens):', parseTon),
                priceReasoning: await ask('price-reasoning', 'Reasoning price (TON per 1M tokens):', parseTon),
                requireGpu: await askRequireGpu(args, ui),
            };
            return toRoot(RootWrapper.registerModelBody(model), { model, modelId: hex(modelId(name)) });
        }
        case 'remove-model': {
            const name = flag(args, 'name');
            const id = flag(args, 'model-id');
            if (name !== undefined && id !== undefined) throw new ArgError('--model-id: give either --name or --model-id, not both');
            const mid = id !== undefined ? parseHash(id, 'model-id') : modelId(name ?? (await ask('name', 'Model name:', askString)));
            return toRoot(RootWrapper.removeModelBody(mid), { name, modelId: hex(mid) });
        }
        case 'set-params': {
            const to = await root();
            const json = await ask('params', 'Params JSON (fields to change):', (v) => v);
            const params = parseParamsJson(json, await env.rootParams(to));
            return { action: { to, value, body: RootWrapper.setParamsBody(params) }, description: { action: kind, to, value, params } };
        }
        case 'set-child-code': {
            const codes = await (env.childCodes ?? compiledChildCodes)();
            return toRoot(RootWrapper.setChildCodeBody(codes), {
                proxyCode: codes.proxyCode.hash().toString('hex'),
                clientCode: codes.clientCode.hash().toString('hex'),
                workerCode: codes.workerCode.hash().toString('hex'),
            });
        }
        case 'upgrade-root': {
            const code = await (env.rootCode ?? compiledRootCode)();
            return toRoot(RootWrapper.upgradeRootBody(code), { rootCode: code.hash().toString('hex') });
        }
        case 'delist-proxy': {
            const proxy = await ask('proxy', 'Proxy contract address:', parseAddress);
            return toRoot(RootWrapper.delistProxyBody(proxy), { proxy });
        }
        case 'set-treasury': {
            const treasury = await ask('treasury', 'New treasury address:', parseAddress);
            return toRoot(RootWrapper.setTreasuryBody(treasury), { treasury });
        }
        case 'set-governance': {
            const governance = await ask('new-governance', 'New governance address:', parseAddress);
            return toRoot(RootWrapper.setGovernanceBody(governance), { governance });
        }
        case 'veto-slash': {
            const channel = await ask('channel', 'WorkerChannel address:', parseAddress);
            const faultSeqno = await ask('fault-seqno', 'Seqno of the fault report (slash.seqno in the channel state):', parseBigint);
            if (faultSeqno >= 1n << 32n) throw new ArgError('--fault-seqno: must fit in 32 bits');
            return toRoot(RootWrapper.vetoSlashBody(channel, faultSeqno), { channel, faultSeqno });
        }
        case 'set-voter': {
            const voter = await ask('voter', 'Voter address:', parseAddress);
            const weight = await ask('weight', 'Weight (0 removes the voter):', parseBigint);
            if (weight >= 1n << 32n) throw new ArgError('--weight: must fit in 32 bits');
            return toGov(GovernanceWrapper.setVoterBody(voter, weight), { voter, weight });
        }
        case 'set-gov-params': {
            const json = await ask('params', 'Governance params JSON (fields to change):', (v) => v);
            const params = parseGovParamsJson(json, await env.govParams());
            return toGov(GovernanceWrapper.setGovParamsBody(params), { params });
        }
    }
}

/** --require-gpu yes|no; absent: asked when there is a ui (an empty answer is no), else no. */
async function askRequireGpu(args: string[], ui: Asker | undefined): Promise<boolean> {
    const v = flag(args, 'require-gpu');
    if (v !== undefined) return parseBool(v, 'require-gpu');
    if (!ui) return false;
    const answer = await ui.input('Require verified GPU evidence from the workers serving it? (yes/no, empty: no):');
    return answer.trim() === '' ? false : parseBool(answer, 'require-gpu');
}

function parsePositive(v: string, name: string): bigint {
    const n = parseBigint(v, name);
    if (n === 0n || n >= 1n << 32n) throw new ArgError(`--${name}: must be in 1..2^32-1`);
    return n;
}

function hex(v: bigint): string {
    return v.toString(16).padStart(64, '0');
}

/** ISO time of a unix timestamp (for printing deadlines). */
export function isoTime(unix: bigint | number): string {
    return new Date(Number(unix) * 1000).toISOString();
}
