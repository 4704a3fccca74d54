// The environment, read in one place (src/config.ts): defaults, every switch parsed, and a
// bad value refused with BAD_ENV naming the variable, by the library and by the CLI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_PROGRESS_LOG_MS, readConfig } from '../src/config.ts';
import { MmrunError } from '../src/errors.ts';
import { FIXTURES, mmrun, tempDirs } from './e2e/cli.ts';

const fresh = tempDirs();

function refusal(env: NodeJS.ProcessEnv): MmrunError {
  try {
    readConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  throw new Error(`readConfig accepted ${JSON.stringify(env)}`);
}

describe('readConfig', () => {
  it('gives the defaults for an empty environment (an empty value counts as unset)', () => {
    for (const env of [{}, { MMRUN_HEARTBEAT_MS: '', MMRUN_FAULT: '', MMRUN_DROP_BEHIND: '', NO_COLOR: '' }]) {
      const c = readConfig(env);
      expect(c.heartbeatMs).toBe(DEFAULT_HEARTBEAT_MS);
      expect(c.progressLogMs).toBe(DEFAULT_PROGRESS_LOG_MS);
      expect(c.dropBehind).toEqual({ use: 'auto', lag: undefined });
      expect(c.pageHelper).toBe('auto');
      expect(c.prefault).toBe('auto');
      expect(c.writeBehindBytes).toBeUndefined();
      expect(c.fault).toBeUndefined();
      expect(c.noColor).toBe(false);
      expect(c.runsDir).toBeUndefined();
      expect(c.cacheDir).toBeUndefined();
      expect(c.fontFiles).toBeUndefined();
    }
  });

  it('parses every variable', () => {
    const c = readConfig({
      MMRUN_RUNS_DIR: 'some/runs',
      MMRUN_CACHE_DIR: '/tmp/cache',
      MMRUN_HEARTBEAT_MS: '100',
      MMRUN_PROGRESS_LOG_MS: '0',
      MMRUN_DROP_BEHIND: '1048576',
      MMRUN_PAGE_HELPER: 'off',
      MMRUN_PREFAULT: '1',
      MMRUN_WRITE_BEHIND_BYTES: '65536',
      MMRUN_FAULT: 'graceful-stop:delay=5000',
      MMRUN_FAULT_AFTER: '3',
      NO_COLOR: '1',
      MMRUN_FONT: ['/a.ttf', '/b.ttf'].join(path.delimiter),
    });
    expect(c).toEqual({
      runsDir: path.resolve('some/runs'),
      cacheDir: '/tmp/cache',
      heartbeatMs: 100,
      progressLogMs: 0,
      dropBehind: { use: 'on', lag: 1048576 },
      pageHelper: 'off',
      prefault: 'on',
      writeBehindBytes: 65536,
      fault: { point: 'graceful-stop', delayMs: 5000, after: 3 },
      noColor: true,
      fontFiles: ['/a.ttf', '/b.ttf'],
    });
    expect(readConfig({ MMRUN_DROP_BEHIND: 'off' }).dropBehind.use).toBe('off');
    expect(readConfig({ MMRUN_DROP_BEHIND: '0' }).dropBehind.use).toBe('off');
    expect(readConfig({ MMRUN_DROP_BEHIND: 'on' }).dropBehind).toEqual({ use: 'on', lag: undefined });
    expect(readConfig({ MMRUN_PREFAULT: 'off' }).prefault).toBe('off');
    expect(readConfig({ MMRUN_FAULT: 'before-msync' }).fault).toEqual({
      point: 'before-msync',
      delayMs: undefined,
      after: 1,
    });
  });

  it.each([
    ['MMRUN_HEARTBEAT_MS', 'abc'],
    ['MMRUN_HEARTBEAT_MS', '0'],
    ['MMRUN_HEARTBEAT_MS', '-5'],
    ['MMRUN_HEARTBEAT_MS', '1.5'],
    ['MMRUN_PROGRESS_LOG_MS', 'often'],
    ['MMRUN_DROP_BEHIND', 'yes'],
    ['MMRUN_PAGE_HELPER', 'maybe'],
    ['MMRUN_PREFAULT', '2'],
    ['MMRUN_WRITE_BEHIND_BYTES', '1000'],
    ['MMRUN_WRITE_BEHIND_BYTES', '8MiB'],
    ['MMRUN_FAULT', 'no-such-point'],
    ['MMRUN_FAULT', 'extend:delay=soon'],
    ['MMRUN_FAULT', 'extend:sleep=5'],
    ['MMRUN_FAULT_AFTER', '0'],
  ])('refuses %s=%s with BAD_ENV naming the variable and a remedy', (name, value) => {
    const error = refusal({ [name]: value });
    expect(error.code).toBe('BAD_ENV');
    expect(error.message).toContain(`${name}="${value}"`);
    expect(error.remedy).toContain(`set ${name} to`);
  });
});

describe('the CLI with a bad environment variable', () => {
  it('MMRUN_HEARTBEAT_MS=abc: BAD_ENV with a remedy, exit 1, no runs directory created', async () => {
    const runsDir = path.join(fresh(), 'runs');
    const r = await mmrun(['run', path.join(FIXTURES, 'counter.ts'), '--iterations', '10', '--id', 'x'], runsDir, {
      MMRUN_HEARTBEAT_MS: 'abc',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mmrun: error BAD_ENV: MMRUN_HEARTBEAT_MS="abc" is not a positive number .*; set /m);
    expect(fs.existsSync(runsDir)).toBe(false);
  });

  it('a library call refuses it too: startRun throws BAD_ENV and creates nothing', async () => {
    const dir = fresh();
    const script = path.join(dir, 'lib.mjs');
    const runsDir = path.join(dir, 'runs');
    fs.writeFileSync(
      script,
      `import { startRun } from ${JSON.stringify(path.resolve('dist/index.js'))};
try {
  await startRun({ experiment: ${JSON.stringify(path.join(FIXTURES, 'counter.ts'))}, runsDir: ${JSON.stringify(runsDir)}, iterations: 10 });
  console.log('ran');
} catch (error) {
  console.log(error.code);
}`,
    );
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, [script], {
      env: { ...process.env, MMRUN_DROP_BEHIND: 'sometimes' },
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('BAD_ENV');
    expect(fs.existsSync(runsDir)).toBe(false);
  });
});
