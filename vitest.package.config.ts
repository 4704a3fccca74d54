import { defineConfig } from 'vitest/config';

// `npm run test:package`: mmrun installed from its tarball into a fresh project (slow: the
// install builds the native addons). Not part of `npm test`; CI runs it.
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 900_000,
    fileParallelism: false,
    onConsoleLog: () => true,
  },
});
