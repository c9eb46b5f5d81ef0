// One feed event as text and links, shared by the server's pages and the browser bundle (which builds the same
// list item with DOM calls when the event arrives live). Only our own routes become links.
import type { FeedEvent } from '../types';
import { RAW_ADDRESS } from './format';

export interface FeedLink {
    href: string;
    label: string;
}

const LABELS: Record<FeedEvent['kind'], string> = {
    proposal: 'proposal',
    vote: 'vote',
    execution: 'execution',
    cleanup: 'clean-up',
    'image-added': 'image added',
    'image-removed': 'image removed',
    'model-registered': 'model registered',
    'model-removed': 'model removed',
    'params-set': 'parameters set',
    'child-code-set': 'child code set',
    'proxy-registered': 'proxy registered',
    'proxy-delisted': 'proxy delisted',
    'proxy-closing': 'proxy closing',
    commit: 'state commit',
    redeem: 'redeem',
    'worker-joined': 'worker joined',
    'worker-left': 'worker left',
    stake: 'stake',
    payout: 'payout',
    slash: 'slash',
};

/** The kind in words ("image added"); an unknown kind is shown as sent. */
export function feedKindLabel(kind: string): string {
    return Object.prototype.hasOwnProperty.call(LABELS, kind) ? LABELS[kind as FeedEvent['kind']] : kind;
}

/** The links of an event: the proposal, the proxy, the channel, the address, the account (deduplicated). */
export function feedLinks(e: FeedEvent): FeedLink[] {
    const out: FeedLink[] = [];
    const add = (href: string, label: string) => {
        if (!out.some((l) => l.href === href)) out.push({ href, label });
    };
    const l = e.links ?? {};
    if (typeof l.proposalId === 'number' && Number.isSafeInteger(l.proposalId) && l.proposalId >= 0) {
        add(`/governance/proposals/${l.proposalId}`, `proposal #${l.proposalId}`);
    }
    if (l.proxy && RAW_ADDRESS.test(l.proxy.raw)) add(`/proxies/${l.proxy.raw}`, 'proxy');
    if (l.channel && RAW_ADDRESS.test(l.channel.raw)) add(`/address/${l.channel.raw}`, 'channel');
    if (l.address && RAW_ADDRESS.test(l.address.raw)) add(`/address/${l.address.raw}`, 'address');
    if (e.account && RAW_ADDRESS.test(e.account.raw)) add(`/address/${e.account.raw}`, 'contract');
    return out;
}
