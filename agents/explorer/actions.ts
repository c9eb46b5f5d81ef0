// Proposal actions decoded into words (spec/explorer.md, "Voting from any wallet"). Each action's body is decoded by
// the generated loader of its opcode, but only when it goes where that message means something: Root's messages to
// Root, SetVoter and SetGovParams to Governance itself. Anything else is 'unknown', its opcode in the words, so a
// voter never reads a meaning the receiving contract would not give the bytes.
import { Address, Cell, fromNano, Slice } from '@ton/core';
import { unpackActions } from '../../wrappers/Governance';
import {
    loadAddImage,
    loadDelistProxy,
    loadRegisterModel,
    loadRemoveImage,
    loadRemoveModel,
    loadSetChildCode,
    loadSetGovernance,
    loadSetGovParams,
    loadSetParams,
    loadSetTreasury,
    loadSetVoter,
    loadUpgradeRoot,
    loadVetoSlash,
    IMAGE_KIND_WORDS,
    imageKindOf,
    Root,
} from '../../wrappers/Root';
import { printable } from '../core/cli-io';
import { hex256 } from '../core/hex';
import type { ActionView, Addr, GovParamsView, ParamsView } from './types';

/** A parameter set as getters return it (bigints) or as the API shows it (ParamsView: numbers and strings). */
type Loose<T> = { [K in keyof T]: bigint | number | string };

export interface ActionContext {
    root: Address;
    governance: Address;
    testOnly: boolean;
    /** Root's params now: a SetParams action then names only the parameters it changes (without it: all of them). */
    currentParams?: Partial<Loose<ParamsView>>;
    /** Governance's params now: likewise for SetGovParams. */
    currentGovParams?: Partial<Loose<GovParamsView>>;
    /** Registered models' names by id (hex), so "remove model" names the model. */
    modelNames?: ReadonlyMap<string, string>;
}

/**
 * Every action of a proposal's action list (Propose.actions / Proposal.actions), in order, in words. A list Governance
 * would refuse throws ActionListError (wrappers/Governance.ts); a list on chain always parses (Propose checks it).
 */
export function describeActions(actions: Cell, ctx: ActionContext): ActionView[] {
    return unpackActions(actions).map((a) => {
        const d = describeBody(a.to, a.value, a.body, ctx);
        return { to: toAddr(a.to, ctx.testOnly), value: a.value.toString(), kind: d.kind, words: d.words, fields: d.fields, bodyBoc: a.body.toBoc().toString('base64') };
    });
}

/** An address as the explorer shows it (types.ts Addr). */
export function toAddr(a: Address, testOnly: boolean): Addr {
    return { raw: a.toRawString(), friendly: a.toString({ urlSafe: true, bounceable: true, testOnly }) };
}

/** A hash for people: the first and last 4 bytes in hex ("04b3c2d1…77ee9a1c"); the full value is in `fields`. */
export function shortHash(v: bigint): string {
    const h = hex256(v);
    return `${h.slice(0, 8)}…${h.slice(-8)}`;
}

/** nanoTON in TON, exactly ("0.1 TON"). */
export const tonWords = (nano: bigint) => `${fromNano(nano)} TON`;

interface Decoded {
    kind: string;
    words: string;
    fields: Record<string, unknown>;
}

type Describe = (s: Slice, ctx: ActionContext) => Decoded;

const OPCODES: Record<string, number> = Root.opcodes;

// Root's governance messages (to Root only).
const TO_ROOT: Record<string, Describe> = {
    AddImage: (s) => image('allowlist', loadAddImage(s)),
    RemoveImage: (s) => image('remove', loadRemoveImage(s)),
    RegisterModel: (s) => {
        const { queryId, model: m } = loadRegisterModel(s);
        const prices = { prompt: m.pricePrompt, cached: m.priceCached, completion: m.priceCompletion, reasoning: m.priceReasoning };
        const priced = Object.entries(prices).map(([k, v]) => `${k} ${tonWords(v)}`).join(', ');
        return {
            kind: 'RegisterModel',
            // said either way: a voter must see a proposal that stops requiring GPU evidence as plainly as one that starts
            words: `register model ${quote(m.name)} (context ${m.contextLength} tokens; per 1M tokens: ${priced}; weights ${shortHash(m.weightsHash)}; ${m.requireGpu ? 'GPU evidence required' : 'no GPU evidence required'})`,
            fields: {
                queryId: queryId.toString(),
                name: m.name,
                weightsHash: hex256(m.weightsHash),
                contextLength: m.contextLength.toString(),
                prices: Object.fromEntries(Object.entries(prices).map(([k, v]) => [k, v.toString()])),
                requireGpu: m.requireGpu,
            },
        };
    },
    RemoveModel: (s, ctx) => {
        const { queryId, modelId } = loadRemoveModel(s);
        const name = ctx.modelNames?.get(hex256(modelId));
        return {
            kind: 'RemoveModel',
            words: `remove model ${name !== undefined ? `${quote(name)} (${shortHash(modelId)})` : shortHash(modelId)}`,
            fields: { queryId: queryId.toString(), modelId: hex256(modelId) },
        };
    },
    SetParams: (s, ctx) => {
        const { queryId, params } = loadSetParams(s);
        const { $$type: _t, ...p } = params;
        return { kind: 'SetParams', words: setWords('params', p, PARAM_WORDS, ctx.currentParams), fields: { queryId: queryId.toString(), params: strings(p) } };
    },
    SetChildCode: (s) => {
        const m = loadSetChildCode(s);
        const h = { proxy: m.proxyCode.hash(), client: m.clientCode.hash(), worker: m.workerCode.hash() };
        const hex = (b: Buffer) => BigInt('0x' + b.toString('hex'));
        return {
            kind: 'SetChildCode',
            words: `set child code (proxy ${shortHash(hex(h.proxy))}, client ${shortHash(hex(h.client))}, worker ${shortHash(hex(h.worker))})`,
            fields: { queryId: m.queryId.toString(), proxyCodeHash: h.proxy.toString('hex'), clientCodeHash: h.client.toString('hex'), workerCodeHash: h.worker.toString('hex') },
        };
    },
    UpgradeRoot: (s) => {
        const m = loadUpgradeRoot(s);
        const h = m.code.hash();
        return { kind: 'UpgradeRoot', words: `upgrade Root code to ${shortHash(BigInt('0x' + h.toString('hex')))}`, fields: { queryId: m.queryId.toString(), codeHash: h.toString('hex') } };
    },
    DelistProxy: (s, ctx) => {
        const m = loadDelistProxy(s);
        return { kind: 'DelistProxy', words: `delist proxy ${friendly(m.proxy, ctx)}`, fields: { queryId: m.queryId.toString(), proxy: m.proxy.toRawString() } };
    },
    SetTreasury: (s, ctx) => {
        const m = loadSetTreasury(s);
        return { kind: 'SetTreasury', words: `set treasury to ${friendly(m.treasury, ctx)}`, fields: { queryId: m.queryId.toString(), treasury: m.treasury.toRawString() } };
    },
    SetGovernance: (s, ctx) => {
        const m = loadSetGovernance(s);
        return { kind: 'SetGovernance', words: `hand governance to ${friendly(m.governance, ctx)}`, fields: { queryId: m.queryId.toString(), governance: m.governance.toRawString() } };
    },
    VetoSlash: (s, ctx) => {
        const m = loadVetoSlash(s);
        return {
            kind: 'VetoSlash',
            words: `veto slash #${m.faultSeqno} on ${friendly(m.channel, ctx)}`,
            fields: { queryId: m.queryId.toString(), channel: m.channel.toRawString(), faultSeqno: m.faultSeqno.toString() },
        };
    },
};

// Governance's own messages (a proposal addressed to Governance itself).
const TO_GOVERNANCE: Record<string, Describe> = {
    SetVoter: (s, ctx) => {
        const m = loadSetVoter(s);
        const who = friendly(m.voter, ctx);
        return {
            kind: 'SetVoter',
            words: m.weight === 0n ? `remove voter ${who}` : `set voter ${who} weight ${m.weight}`,
            fields: { queryId: m.queryId.toString(), voter: m.voter.toRawString(), weight: m.weight.toString() },
        };
    },
    SetGovParams: (s, ctx) => {
        const { queryId, params } = loadSetGovParams(s);
        const { $$type: _t, ...p } = params;
        return { kind: 'SetGovParams', words: setWords('governance params', p, GOV_PARAM_WORDS, ctx.currentGovParams), fields: { queryId: queryId.toString(), params: strings(p) } };
    },
};

function describeBody(to: Address, value: bigint, body: Cell, ctx: ActionContext): Decoded {
    const where = to.equals(ctx.root) ? 'Root' : to.equals(ctx.governance) ? 'Governance' : friendly(to, ctx);
    const s = body.isExotic ? null : body.beginParse();
    // No opcode: a plain transfer from Governance's balance (what it means is the amount).
    if (s === null || s.remainingBits < 32) return unknown(`send ${tonWords(value)} to ${where} (no opcode)`, null);
    const op = s.preloadUint(32);
    const name = Object.keys(OPCODES).find((n) => OPCODES[n] === op);
    const table = where === 'Root' ? TO_ROOT : where === 'Governance' ? TO_GOVERNANCE : {};
    const opHex = `0x${op.toString(16).padStart(8, '0')}`;
    if (name === undefined || table[name] === undefined) return unknown(`unknown message ${opHex}${name !== undefined ? ` (${name})` : ''} to ${where}`, opHex);
    try {
        return table[name](s, ctx);
    } catch {
        return unknown(`malformed ${name} message ${opHex} to ${where}`, opHex);
    }
}

const unknown = (words: string, opcode: string | null): Decoded => ({ kind: 'unknown', words, fields: opcode === null ? {} : { opcode } });

function image(verb: string, m: { queryId: bigint; kind: bigint; hash: bigint }): Decoded {
    const known = imageKindOf(m.kind);
    const kind = known ?? `kind-${m.kind}`;
    return {
        kind: verb === 'allowlist' ? 'AddImage' : 'RemoveImage',
        words: `${verb} ${known ? IMAGE_KIND_WORDS[known] : kind} image ${shortHash(m.hash)}${known ? '' : ' (Root refuses this kind)'}`,
        fields: { queryId: m.queryId.toString(), kind, hash: hex256(m.hash) },
    };
}

const friendly = (a: Address, ctx: ActionContext) => toAddr(a, ctx.testOnly).friendly;

/** A chain string (any bytes) on one line: JSON-quoted, control and format characters escaped, at most 64 characters. */
function quote(s: string): string {
    const cut = [...s].length > 64 ? [...s].slice(0, 64).join('') + '…' : s;
    return printable(JSON.stringify(cut));
}

const strings = (p: Record<string, bigint>) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.toString()]));

// ---------- parameter sets in words ----------

type Unit = 'bps' | 'ton' | 'seconds';

const PARAM_WORDS: Record<keyof ParamsView, [string, Unit]> = {
    commissionBps: ['commission', 'bps'],
    reporterShareBps: ['reporter share', 'bps'],
    minProxyStake: ['min proxy stake', 'ton'],
    minWorkerStake: ['min worker stake', 'ton'],
    minClientDeposit: ['min client deposit', 'ton'],
    creditWindow: ['credit window', 'ton'],
    proxyCloseDelay: ['proxy close delay', 'seconds'],
    clientCloseDelay: ['client close delay', 'seconds'],
    workerUnbondDelay: ['worker unbond delay', 'seconds'],
    slashChallengePeriod: ['slash challenge period', 'seconds'],
};

const GOV_PARAM_WORDS: Record<keyof GovParamsView, [string, Unit]> = {
    quorumBps: ['quorum', 'bps'],
    majorityBps: ['majority', 'bps'],
    votingPeriod: ['voting period', 'seconds'],
    timelock: ['timelock', 'seconds'],
    executionWindow: ['execution window', 'seconds'],
};

/** "set min proxy stake to 10 TON, timelock to 1 h": the changed fields (all of them without `current`). */
function setWords(what: string, p: Record<string, bigint>, names: Record<string, [string, Unit]>, current: Record<string, bigint | number | string | undefined> | undefined): string {
    const keys = Object.keys(names).filter((k) => current === undefined || !same(current[k], p[k]));
    if (keys.length === 0) return `set ${what} (no change)`;
    return 'set ' + keys.map((k) => `${names[k][0]} to ${unitWords(p[k], names[k][1])}`).join(', ');
}

/** Whether a current value (bigint, number or decimal string) equals `v`; an unreadable one counts as different. */
function same(current: bigint | number | string | undefined, v: bigint): boolean {
    try {
        return current !== undefined && BigInt(current) === v;
    } catch {
        return false;
    }
}

function unitWords(v: bigint, unit: Unit): string {
    if (unit === 'ton') return tonWords(v);
    if (unit === 'bps') return `${percent(v)} %`;
    return duration(v);
}

/** Basis points as an exact percentage: 1000 → "10", 125 → "1.25". */
function percent(bps: bigint): string {
    const frac = (bps % 100n).toString().padStart(2, '0').replace(/0+$/, '');
    return `${bps / 100n}${frac ? '.' + frac : ''}`;
}

/** Seconds in words, exactly: 90000 → "1 d 1 h", 90 → "1 min 30 s", 0 → "0 s". */
export function duration(seconds: bigint): string {
    const parts: string[] = [];
    let rest = seconds;
    for (const [unit, size] of [['d', 86400n], ['h', 3600n], ['min', 60n], ['s', 1n]] as const) {
        if (rest >= size) {
            parts.push(`${rest / size} ${unit}`);
            rest %= size;
        }
    }
    return parts.length === 0 ? '0 s' : parts.join(' ');
}
