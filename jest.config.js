// Two projects: `unit` (pure logic, no broker) and `integration` (real Kafka + S3,
// started once per run by test/stack/global-setup.ts): test/integration and the threat-model
// suite test/security (docs/security.md). `make test` runs both.
// Transpile only (tsconfig has isolatedModules): `make lint` type-checks, tests stay fast.
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      roots: ['<rootDir>/libs', '<rootDir>/services', '<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/', '<rootDir>/test/security/'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      roots: ['<rootDir>/test/integration', '<rootDir>/test/security'],
      testMatch: ['**/*.test.ts'],
      globalSetup: '<rootDir>/test/stack/global-setup.ts',
      globalTeardown: '<rootDir>/test/stack/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/stack/integration-timeout.ts'],
      slowTestThreshold: 30,
    },
  ],
};
