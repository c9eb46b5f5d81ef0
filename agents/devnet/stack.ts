// TVM stack <-> toncenter v2 JSON, as @ton/ton's HttpApi sends it and TonClient's parseStack reads it.
//   request items:  ["num", "123" | "-0x7b"], ["tvm.Cell" | "cell", b64], ["tvm.Slice" | "slice", b64],
//                   ["tvm.Builder" | "builder", b64], ["null"]   (b64 may also be {bytes: b64})
//   result items:   ["num", "0x7b" | "-0x7b"], ["cell", {bytes}], ["slice", {bytes}], ["builder", {bytes}],
//                   ["null"], ["tuple", {"@type":"tvm.tuple", elements: [tvm.stackEntry*...]}]
import { Cell, TupleItem } from '@ton/core';
import { RpcError } from './errors';

const MAX_STACK_ITEMS = 256;

export function parseInteger(text: string, what: string): bigint {
    const m = /^(-?)(0x[0-9a-fA-F]+|[0-9]+)$/.exec(text.trim());
    if (!m || text.length > 200) throw new RpcError(422, `${what}: not an integer: ${JSON.stringify(text.slice(0, 80))}`);
    const v = BigInt(m[2]);
    return m[1] ? -v : v;
}

function parseBocArg(v: unknown, what: string): Cell {
    const b64 = typeof v === 'object' && v !== null && typeof (v as { bytes?: unknown }).bytes === 'string' ? (v as { bytes: string }).bytes : v;
    if (typeof b64 !== 'string') throw new RpcError(422, `${what}: expected a base64 BOC`);
    try {
        const cells = Cell.fromBoc(Buffer.from(b64, 'base64'));
        if (cells.length !== 1) throw new Error(`${cells.length} roots`);
        return cells[0];
    } catch (e) {
        throw new RpcError(422, `${what}: not a valid BOC (${(e as Error).message})`);
    }
}

/** Decodes the `stack` param of runGetMethod. */
export function decodeStack(raw: unknown): TupleItem[] {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) throw new RpcError(422, 'stack: expected an array of [type, value] pairs');
    if (raw.length > MAX_STACK_ITEMS) throw new RpcError(422, `stack: more than ${MAX_STACK_ITEMS} items`);
    return raw.map((item, i): TupleItem => {
        const what = `stack[${i}]`;
        if (!Array.isArray(item) || typeof item[0] !== 'string') throw new RpcError(422, `${what}: expected [type, value]`);
        const [type, value] = item as [string, unknown];
        switch (type) {
            case 'num':
            case 'number':
            case 'int':
                if (typeof value === 'number' && Number.isSafeInteger(value)) return { type: 'int', value: BigInt(value) };
                if (typeof value !== 'string') throw new RpcError(422, `${what}: expected a decimal or 0x-hex string`);
                return { type: 'int', value: parseInteger(value, what) };
            case 'tvm.Cell':
            case 'cell':
                return { type: 'cell', cell: parseBocArg(value, what) };
            case 'tvm.Slice':
            case 'slice':
                return { type: 'slice', cell: parseBocArg(value, what) };
            case 'tvm.Builder':
            case 'builder':
                return { type: 'builder', cell: parseBocArg(value, what) };
            case 'null':
                return { type: 'null' };
            default:
                throw new RpcError(422, `${what}: unsupported stack item type ${JSON.stringify(type.slice(0, 40))}`);
        }
    });
}

function hex(v: bigint): string {
    return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

function b64(cell: Cell): string {
    return cell.toBoc().toString('base64');
}

/** One element inside a tuple (tonlib's tvm.stackEntry* objects). */
function encodeEntry(item: TupleItem): Record<string, unknown> {
    switch (item.type) {
        case 'int':
            return { '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: item.value.toString() } };
        case 'nan':
            return { '@type': 'tvm.stackEntryNaN' };
        case 'null':
            return { '@type': 'tvm.stackEntryNull' };
        case 'cell':
        case 'builder':
            return { '@type': 'tvm.stackEntryCell', cell: { '@type': 'tvm.cell', bytes: b64(item.cell) } };
        case 'slice':
            return { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', bytes: b64(item.cell) } };
        case 'tuple':
            return { '@type': 'tvm.stackEntryTuple', tuple: { '@type': 'tvm.tuple', elements: item.items.map(encodeEntry) } };
    }
}

/** Encodes a get-method result stack the way toncenter v2 does. */
export function encodeStack(items: TupleItem[]): unknown[] {
    return items.map((item): unknown => {
        switch (item.type) {
            case 'int':
                return ['num', hex(item.value)];
            case 'nan':
                return ['num', 'NaN'];
            case 'null':
                return ['null'];
            case 'cell':
                return ['cell', { bytes: b64(item.cell) }];
            case 'slice':
                return ['slice', { bytes: b64(item.cell) }];
            case 'builder':
                return ['builder', { bytes: b64(item.cell) }];
            case 'tuple':
                return ['tuple', { '@type': 'tvm.tuple', elements: item.items.map(encodeEntry) }];
        }
    });
}
