// TonClient with a correct get-method stack decoder.
//
// @ton/ton 16.3.0's TonClient decodes the elements of a returned tuple into raw values (bigint, Cell, arrays)
// instead of TupleItems (parseStackItem -> `elements.map(parseStackEntry)`), so any getter whose result holds
// a nested struct or an optional struct fails with "Not a number" / "Not a tuple" — e.g. Proxy.proxyState
// (terms: ProxyTerms?), WorkerChannel.channelState (slash: PendingSlash?), Root.model(id). ToncenterClient
// keeps everything else of TonClient and replaces the getter path of the providers it opens: it calls
// toncenter's runGetMethod through the same HttpApi (same transport, same throttle) and decodes tonlib's
// stack format itself. Getter failures become ChainError CHAIN_GETTER_FAILED with the exit code.
import { Address, Cell, Contract, ContractGetMethodResult, ContractProvider, openContract, OpenedContract, StateInit, TupleItem, TupleReader } from '@ton/core';
import { TonClient } from '@ton/ton';
import { ChainError } from './errors';

export class ToncenterClient extends TonClient {
    override open<T extends Contract>(src: T): OpenedContract<T> {
        return openContract<T>(src, (args) => this.provider(args.address, args.init ?? null));
    }

    override provider(address: Address, init?: StateInit | null): ContractProvider {
        const base = super.provider(address, init);
        return {
            getState: () => base.getState(),
            external: (message) => base.external(message),
            internal: (via, args) => base.internal(via, args),
            getTransactions: (a, lt, hash, limit) => base.getTransactions(a, lt, hash, limit),
            get: (name, args) => this.runGetter(address, name, args),
            open: <C extends Contract>(contract: C) => this.open(contract),
        };
    }

    /** Runs a get-method; exit codes 0 and 1 are success (TVM), anything else is CHAIN_GETTER_FAILED. */
    async runGetter(address: Address, name: string | number, args: TupleItem[]): Promise<ContractGetMethodResult> {
        if (typeof name !== 'string') throw new ChainError('CHAIN_GETTER_FAILED', `get-method ids are not supported by toncenter v2 (got ${name})`, { getter: name });
        const res = await this.api.callGetMethod(address, name, args);
        if (res.exit_code !== 0 && res.exit_code !== 1) {
            throw new ChainError('CHAIN_GETTER_FAILED', `get-method ${name} on ${address.toString()} exited with code ${res.exit_code}`, {
                getter: name,
                address: address.toRawString(),
                exitCode: res.exit_code,
            });
        }
        let items: TupleItem[];
        try {
            items = parseToncenterStack(res.stack);
        } catch (e) {
            throw new ChainError('CHAIN_BAD_RESPONSE', `get-method ${name}: ${(e as Error).message}`, { getter: name });
        }
        return { stack: new TupleReader(items), gasUsed: BigInt(res.gas_used) };
    }
}

const cellOf = (b64: unknown): Cell => {
    if (typeof b64 !== 'string') throw new Error('stack: cell bytes must be a base64 string');
    return Cell.fromBoc(Buffer.from(b64, 'base64'))[0];
};

const bigintOf = (s: unknown): bigint => {
    if (typeof s !== 'string' || !/^-?(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) throw new Error(`stack: not an integer: ${JSON.stringify(s)}`);
    return s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
};

/** Rebuilds a lisp list (tonlib flattens `(a, (b, null))` into [a, b]) as nested pairs. */
function lispList(elements: TupleItem[]): TupleItem {
    let tail: TupleItem = { type: 'null' };
    for (let i = elements.length - 1; i >= 0; i--) tail = { type: 'tuple', items: [elements[i], tail] };
    return tail;
}

/** One element of a tonlib tuple/list: {"@type":"tvm.stackEntryNumber","number":{...}} etc. */
function parseEntry(x: unknown, depth: number): TupleItem {
    if (depth > 64) throw new Error('stack: nested too deeply');
    const o = x as Record<string, unknown> | null;
    const t = o && typeof o === 'object' ? o['@type'] : undefined;
    const inner = (k: string) => (o as Record<string, Record<string, unknown>>)[k];
    switch (t) {
        case 'tvm.stackEntryNumber':
            return { type: 'int', value: bigintOf(inner('number')?.number) };
        case 'tvm.numberDecimal':
            return { type: 'int', value: bigintOf(o!.number) };
        case 'tvm.stackEntryCell':
            return { type: 'cell', cell: cellOf(inner('cell')?.bytes) };
        case 'tvm.cell':
            return { type: 'cell', cell: cellOf(o!.bytes) };
        case 'tvm.stackEntrySlice':
            return { type: 'slice', cell: cellOf(inner('slice')?.bytes) };
        case 'tvm.slice':
            return { type: 'slice', cell: cellOf(o!.bytes) };
        case 'tvm.stackEntryTuple':
            return tupleOf(inner('tuple')?.elements, depth);
        case 'tvm.tuple':
            return tupleOf(o!.elements, depth);
        case 'tvm.stackEntryList':
            return listOf(inner('list')?.elements, depth);
        case 'tvm.list':
            return listOf(o!.elements, depth);
        case 'tvm.stackEntryNull':
            return { type: 'null' };
        case 'tvm.stackEntryNaN':
            return { type: 'nan' };
        default:
            throw new Error(`stack: unsupported entry ${JSON.stringify(t)}`);
    }
}

function elementsOf(elements: unknown, depth: number): TupleItem[] {
    if (!Array.isArray(elements)) throw new Error('stack: tuple elements must be an array');
    return elements.map((e) => parseEntry(e, depth + 1));
}

// tonlib renders a TVM null as an empty list, so an empty tuple/list reads as null (as TonClient does).
function tupleOf(elements: unknown, depth: number): TupleItem {
    const items = elementsOf(elements, depth);
    return items.length === 0 ? { type: 'null' } : { type: 'tuple', items };
}

function listOf(elements: unknown, depth: number): TupleItem {
    return lispList(elementsOf(elements, depth));
}

/** Decodes toncenter v2 runGetMethod's `stack` (["num","0x.."], ["cell",{bytes}], ["tuple",{elements}], ...). */
export function parseToncenterStack(stack: unknown[]): TupleItem[] {
    return stack.map((s): TupleItem => {
        if (!Array.isArray(s) || typeof s[0] !== 'string') throw new Error('stack: each item must be [type, value]');
        const [kind, v] = s as [string, unknown];
        const val = v as Record<string, unknown> | undefined;
        switch (kind) {
            case 'num':
                if (v === 'NaN') return { type: 'nan' };
                return { type: 'int', value: bigintOf(v) };
            case 'null':
                return { type: 'null' };
            case 'cell':
                return { type: 'cell', cell: cellOf(val?.bytes) };
            case 'slice':
                return { type: 'slice', cell: cellOf(val?.bytes) };
            case 'builder':
                return { type: 'builder', cell: cellOf(val?.bytes) };
            case 'tuple':
                return tupleOf(val?.elements, 0);
            case 'list':
                return listOf(val?.elements, 0);
            default:
                throw new Error(`stack: unsupported item type ${JSON.stringify(kind)}`);
        }
    });
}
