// ESM + ts-jest, as recorded in ../shared/toolchain-notes.md. Type checking is
// done once by `tsc -p tsconfig.test.json` in scripts/test.mjs, so ts-jest only
// transpiles (isolatedModules, set in tsconfig.test.json) and the suite stays fast on two cores.
const tsJest = ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  // Never crawl build caches: .cache/cluster holds container root filesystems (npm run cluster:up).
  modulePathIgnorePatterns: ['<rootDir>/.cache/'],
};
export default {
  // testTimeout is a global option (ignored inside a project). Unit tests finish in ms anyway.
  testTimeout: 120000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts', '<rootDir>/test/security/**/*.test.ts', '<rootDir>/test/chaos/**/*.test.ts', '<rootDir>/test/soak/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
    // e2e on the real single-node cluster of `npm run cluster:up` (test/node/global-setup.ts).
    { ...common, displayName: 'node', testMatch: ['<rootDir>/test/node/**/*.test.ts'], globalSetup: '<rootDir>/test/node/global-setup.ts' },
  ],
};
