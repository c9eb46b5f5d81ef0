// Snapshot-per-test fixtures: build a sandbox once per file or describe block, and start every test
// from the state it had right after the build.
import { Blockchain, BlockchainSnapshot } from '@ton/sandbox';
import { deployNetwork, Network, NetworkOptions } from '../../fixtures/network';

/**
 * Registers beforeAll(setup + snapshot) and beforeEach(restore the snapshot, then `afterRestore`) in the
 * enclosing scope. Returns a getter for the fixture (valid once beforeAll has run).
 */
export function useSnapshot<T extends { bc: Blockchain }>(setup: () => Promise<T>, afterRestore?: (fixture: T) => void): () => T {
    let fixture: T | undefined;
    let snap: BlockchainSnapshot;
    beforeAll(async () => {
        fixture = await setup();
        snap = fixture.bc.snapshot();
    });
    beforeEach(async () => {
        await fixture!.bc.loadFrom(snap);
        afterRestore?.(fixture!);
    });
    return () => {
        if (!fixture) throw new Error('fixture used before beforeAll ran');
        return fixture;
    };
}

/**
 * useSnapshot over deployNetwork(opts): `prepare` runs on the fresh network before the snapshot is taken,
 * so whatever it deploys or creates is part of every test's starting state.
 */
export function useNetworkSnapshot(prepare?: (n: Network) => void | Promise<void>, opts?: NetworkOptions): () => Network {
    return useSnapshot(async () => {
        const n = await deployNetwork(opts);
        await prepare?.(n);
        return n;
    });
}
