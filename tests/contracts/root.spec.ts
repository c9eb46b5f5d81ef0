import '@ton/test-utils';
import { internal } from '@ton/sandbox';
import { toNano } from '@ton/core';
import { deployNetwork } from '../helpers/network';
import { RootWrapper } from '../../wrappers/Root';

describe('timing', () => {
    it('adds 257 images', async () => {
        const n = await deployNetwork({ upTo: 'root' });
        let t = Date.now();
        for (let i = 0; i < 128; i++) {
            await n.bc.sendMessage(internal({ from: n.gov.address, to: n.root.address, value: toNano('0.05'), body: RootWrapper.addImageBody('proxy', BigInt(i) * 7919n + 1n) }));
        }
        console.log('128 direct adds ms', Date.now() - t);
        t = Date.now();
        const msgs = [];
        for (let i = 128; i < 256; i++) msgs.push(internal({ from: n.gov.address, to: n.root.address, value: toNano('0.05'), body: RootWrapper.addImageBody('proxy', BigInt(i) * 7919n + 1n) }));
        for (const m of msgs) n.bc.sendMessageIter(m);
        console.log('128 adds iter ms', Date.now() - t);
        t = Date.now();
        const all = await n.root.getAllImages('proxy');
        console.log('getAll ms', Date.now() - t, all.length);
    });
});
