import { defineConfig } from 'vitest/config';

// Unit + integration tests sit beside the code they test (`*.test.ts`); browser tests live in e2e/.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'nodes/**/*.test.ts', 'test/**/*.test.ts', 'e2e/**/*.e2e.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
