import { defineConfig } from 'vitest/config';

// Unit + integration tests sit beside the code they test (`*.test.ts`). Browser tests: vitest.e2e.config.ts.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'nodes/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
