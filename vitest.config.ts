import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/big.test.ts', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests spawn and kill real processes; two cores, so two files at a time.
    maxWorkers: 2,
    onConsoleLog: () => true,
  },
});
