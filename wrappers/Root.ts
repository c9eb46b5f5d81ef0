import { Address, beginCell, Cell, ContractProvider, Dictionary, Sender, toNano } from '@ton/core';
import {
    Model,
    Params,
    ProxyInfo,
    Root,
    storeAddImage,
    storeDelistProxy,
    storeRegisterModel,
    storeRemoveImage,
    storeRemoveModel,
    storeSetChildCode,
    storeSetGovernance,
    storeSetParams,
    storeSetTreasury,
    storeUpgradeRoot,
    storeVetoSlash,
    dictValueParserModel,
    dictValueParserProxyInfo,
} from '../build/Root/Root_Root';
import { ClientChannel } from '../build/ClientChannel/ClientChannel_ClientChannel';
import { Proxy } from '../build/Proxy/Proxy_Proxy';
import { WorkerChannel } from '../build/WorkerChannel/WorkerChannel_WorkerChannel';
import { FeeSimple } from './fees';
import { modelId } from './payloads';

export * from '../build/Root/Root_Root';
export * from './fees';

/** Root's image allowlists: proxies, workers and key services (AddImage `kind` 0, 1, 2). */
export type ImageKind = 'proxy' | 'worker' | 'keys';
export const IMAGE_KINDS: readonly ImageKind[] = ['proxy', 'worker', 'keys'];
const kindCode = (k: ImageKind) => BigInt(IMAGE_KINDS.indexOf(k));
/** The allowlist of an AddImage/RemoveImage `kind` code; null for a code Root refuses (ErrBadParams). */
export const imageKindOf = (code: bigint): ImageKind | null => (code >= 0n && code < BigInt(IMAGE_KINDS.length) ? IMAGE_KINDS[Number(code)] : null);
/** Each kind in words, for people ("key-service image"). */
export const IMAGE_KIND_WORDS: Readonly<Record<ImageKind, string>> = { proxy: 'proxy', worker: 'worker', keys: 'key-service' };

/** Devnet-friendly defaults; production deployments pass their own. */
export const DEFAULT_PARAMS: Params = {
    $$type: 'Params',
    commissionBps: 1000n,
    reporterShareBps: 2000n,
    minProxyStake: toNano('10'),
    minWorkerStake: toNano('1'),
    minClientDeposit: toNano('0.5'),
    creditWindow: toNano('0.1'),
    proxyCloseDelay: 3600n,
    clientCloseDelay: 3600n,
    // Longer than DEFAULT_GOV_PARAMS' voting period + timelock, so Governance can veto a slash in time.
    workerUnbondDelay: 5n * 24n * 3600n,
    slashChallengePeriod: 4n * 24n * 3600n + 3600n,
};

export interface ChildCodes {
    proxyCode: Cell;
    clientCode: Cell;
    workerCode: Cell;
}

/** The code cells of the child contracts as compiled in this checkout. */
export async function compiledChildCodes(): Promise<ChildCodes> {
    const a = new Address(0, Buffer.alloc(32));
    void a;
    const proxy = await Proxy.init(new Cell(), 0n, false, false, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, Dictionary.empty());
    const client = await ClientChannel.init(new Cell(), 0n, 0n, 0n, 0n, 0n, 0n, 0n);
    const worker = await WorkerChannel.init(new Cell(), 0n, 0n, 0n, 0n, 0n, null, false);
    return { proxyCode: proxy.code, clientCode: client.code, workerCode: worker.code };
}

/**
 * Root's first balance when deployed: storage until commissions and stakes flow in. Not a fee threshold (Root's empty
 * receiver checks no value), so not one of wrappers/fees.ts's constants.
 */
export const ROOT_DEPLOY_VALUE = toNano('0.1');

/** Root with typed governance-action bodies, senders and paged getters. */
export class RootWrapper extends Root {
    static async create(opts: { governance: Address; treasury: Address; params?: Params; codes?: ChildCodes }): Promise<RootWrapper> {
        const codes = opts.codes ?? (await compiledChildCodes());
        const base = await Root.fromInit(
            opts.governance,
            opts.treasury,
            0n,
            opts.params ?? DEFAULT_PARAMS,
            Dictionary.empty(),
            0n,
            Dictionary.empty(),
            0n,
            Dictionary.empty(),
            0n,
            Dictionary.empty(),
            0n,
            Dictionary.empty(),
            0n,
            codes.proxyCode,
            codes.clientCode,
            codes.workerCode,
            0n,
        );
        return new RootWrapper(base.address, base.init);
    }

    static open(address: Address): RootWrapper {
        return new RootWrapper(address);
    }

    async sendDeploy(provider: ContractProvider, via: Sender, value = ROOT_DEPLOY_VALUE) {
        await this.send(provider, via, { value }, null);
    }

    // ----- bodies of governance actions (Governance -> Root) -----
    /** Allowlists `hash` under `kind` (idempotent); `keys` is the key-service allowlist (spec/contracts.md "Root"). */
    static addImageBody(kind: ImageKind, hash: bigint): Cell {
        return beginCell().store(storeAddImage({ $$type: 'AddImage', queryId: 0n, kind: kindCode(kind), hash })).endCell();
    }
    static removeImageBody(kind: ImageKind, hash: bigint): Cell {
        return beginCell().store(storeRemoveImage({ $$type: 'RemoveImage', queryId: 0n, kind: kindCode(kind), hash })).endCell();
    }
    /** Registers or replaces a model under sha256(name); `requireGpu` makes verified GPU evidence a condition of serving it. */
    static registerModelBody(model: Omit<Model, '$$type'>): Cell {
        return beginCell().store(storeRegisterModel({ $$type: 'RegisterModel', queryId: 0n, model: { $$type: 'Model', ...model } })).endCell();
    }
    static removeModelBody(nameOrId: string | bigint): Cell {
        const id = typeof nameOrId === 'string' ? modelId(nameOrId) : nameOrId;
        return beginCell().store(storeRemoveModel({ $$type: 'RemoveModel', queryId: 0n, modelId: id })).endCell();
    }
    static setParamsBody(params: Params): Cell {
        return beginCell().store(storeSetParams({ $$type: 'SetParams', queryId: 0n, params })).endCell();
    }
    static setChildCodeBody(codes: ChildCodes): Cell {
        return beginCell().store(storeSetChildCode({ $$type: 'SetChildCode', queryId: 0n, ...codes })).endCell();
    }
    static upgradeRootBody(code: Cell): Cell {
        return beginCell().store(storeUpgradeRoot({ $$type: 'UpgradeRoot', queryId: 0n, code })).endCell();
    }
    static delistProxyBody(proxy: Address): Cell {
        return beginCell().store(storeDelistProxy({ $$type: 'DelistProxy', queryId: 0n, proxy })).endCell();
    }
    static setTreasuryBody(treasury: Address): Cell {
        return beginCell().store(storeSetTreasury({ $$type: 'SetTreasury', queryId: 0n, treasury })).endCell();
    }
    static setGovernanceBody(governance: Address): Cell {
        return beginCell().store(storeSetGovernance({ $$type: 'SetGovernance', queryId: 0n, governance })).endCell();
    }
    /** Vetoes the pending slash of the fault report with seqno `faultSeqno` (its `slash.seqno` in channelState). */
    static vetoSlashBody(channel: Address, faultSeqno: bigint): Cell {
        return beginCell().store(storeVetoSlash({ $$type: 'VetoSlash', queryId: 0n, channel, faultSeqno })).endCell();
    }

    /** Sends a governance-action body directly (works only when `via` is the governance address). */
    async sendAction(provider: ContractProvider, via: Sender, body: Cell, value = FeeSimple) {
        await provider.internal(via, { value, body });
    }

    async getModelByName(provider: ContractProvider, name: string): Promise<Model | null> {
        return this.getModel(provider, modelId(name));
    }

    /** All models, fetched page by page. */
    async getAllModels(provider: ContractProvider, pageSize = 32n): Promise<Map<bigint, Model>> {
        const out = new Map<bigint, Model>();
        let after = -1n;
        for (;;) {
            const page = await this.getModelsPage(provider, after, pageSize);
            const keys = page.keys();
            for (const k of keys) out.set(k, page.get(k)!);
            if (BigInt(keys.length) < pageSize) return out;
            after = keys.reduce((m, k) => (k > m ? k : m), after);
        }
    }

    /** All allowlisted image hashes of one kind. */
    async getAllImages(provider: ContractProvider, kind: ImageKind, pageSize = 64n): Promise<bigint[]> {
        const out: bigint[] = [];
        let after = -1n;
        for (;;) {
            const page =
                kind === 'proxy'
                    ? await this.getProxyImagesPage(provider, after, pageSize)
                    : kind === 'worker'
                      ? await this.getWorkerImagesPage(provider, after, pageSize)
                      : await this.getKeyImagesPage(provider, after, pageSize);
            const keys = page.keys();
            out.push(...keys);
            if (BigInt(keys.length) < pageSize) return out;
            after = keys.reduce((m, k) => (k > m ? k : m), after);
        }
    }

    /** All registered proxies. */
    async getAllProxies(provider: ContractProvider, pageSize = 16n): Promise<Map<string, ProxyInfo>> {
        const out = new Map<string, ProxyInfo>();
        for (let skip = 0n; ; skip += pageSize) {
            const page = await this.getProxiesPage(provider, skip, pageSize);
            for (const k of page.keys()) out.set(k.toString(), page.get(k)!);
            if (BigInt(page.size) < pageSize) return out;
        }
    }
}

export { dictValueParserModel, dictValueParserProxyInfo };
