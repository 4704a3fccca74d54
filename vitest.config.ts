import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // dist/ first: the CLI and every worker thread run compiled JavaScript.
    globalSetup: ['test/global-setup.ts'],
    // The >2 GiB test is opt-in: `npm run test:big`; the installed-package test is
    // `npm run test:package`.
    exclude: process.env.MMRUN_BIG
      ? ['**/node_modules/**', 'test/package/**']
      : ['test/e2e/big.test.ts', '**/node_modules/**', 'test/package/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests spawn and kill real processes; two cores, so two files at a time.
    maxWorkers: 2,
    onConsoleLog: () => true,
  },
});
