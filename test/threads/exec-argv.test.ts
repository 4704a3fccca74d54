// Worker threads run compiled JavaScript: a TypeScript loader in the process's options
// (a script run with tsx) is not passed on to them; every other option is.
import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../src/threads.ts';

describe('workerExecArgv', () => {
  it.each([
    [['--import', 'tsx'], []],
    [
      ['--require', '/p/node_modules/tsx/dist/preflight.cjs', '--import', 'file:///p/node_modules/tsx/dist/loader.mjs'],
      [],
    ],
    [['--import=tsx', '--loader=tsx/esm'], []],
    [
      ['--require', 'test/powerloss/skip-msync.cjs', '--import', 'tsx'],
      ['--require', 'test/powerloss/skip-msync.cjs'],
    ],
    [
      ['--max-old-space-size=4096', '--enable-source-maps'],
      ['--max-old-space-size=4096', '--enable-source-maps'],
    ],
    [
      ['--import', './my-tsxtra.mjs'],
      ['--import', './my-tsxtra.mjs'],
    ],
  ])('%j → %j', (args, expected) => {
    expect(workerExecArgv(args)).toEqual(expected);
  });
});
