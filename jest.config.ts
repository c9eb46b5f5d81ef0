import type { Config } from 'jest';

// Type-checking is done once by `tsc --noEmit` in `npm test`; jest only transpiles.
const config: Config = {
    testEnvironment: '@ton/sandbox/jest-environment',
    testPathIgnorePatterns: ['/node_modules/', '/dist/', '/build/'],
    transform: { '^.+\\.ts$': 'ts-jest' },
    testTimeout: 120_000,
};

export default config;
