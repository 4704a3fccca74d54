// The Python package python/mmrun_reader: installed with pip (offline, into a temporary
// target) and its unit tests run against runs the CLI wrote.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.ts';
import { FIXTURES, mmrun, ROOT, tempDirs } from '../e2e/cli.ts';
import { findPython } from '../export/helpers.ts';

const python = findPython();
const PACKAGE = path.join(ROOT, 'python/mmrun_reader');
const tmp = tempDirs('mmrun-pyreader-');
const counter = path.join(FIXTURES, 'counter.ts');

function needPython(ctx: TestContext): string {
  if (python.exe) return python.exe;
  if (python.required) throw new Error(python.why);
  return ctx.skip(python.why);
}

// A Python that can build the package offline: pip, setuptools >= 61 and wheel (Debian:
// python3-pip python3-setuptools python3-wheel). It need not have numpy: pip is told
// --no-deps, and the pure-Python files it installs are imported by the Python that has.
const BUILDERS = [process.env.MMRUN_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => Boolean(p));
const builder = BUILDERS.find(
  (p) =>
    spawnSync(p, ['-c', 'import setuptools as s, wheel, pip; assert int(s.__version__.split(".")[0]) >= 61'], {
      stdio: 'ignore',
    }).status === 0,
);

/** Installs the package with pip, offline, into a new directory; returns it (for PYTHONPATH). */
function pipInstall(exe: string): string {
  const work = tmp();
  // A copy: pip builds in the source tree (build/, *.egg-info), and tests run side by side.
  const source = path.join(work, 'src');
  fs.cpSync(PACKAGE, source, { recursive: true, filter: (p) => !/(__pycache__|\.egg-info|\/build)$/.test(p) });
  const target = path.join(work, 'site');
  const r = spawnSync(
    exe,
    ['-m', 'pip', 'install', '--no-index', '--no-build-isolation', '--no-deps', '--target', target, source],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`pip install failed (${r.status}): ${r.stdout}\n${r.stderr}`);
  return target;
}

describe('python/mmrun_reader', () => {
  let runsDir = '';
  beforeAll(async () => {
    runsDir = tmp();
    const a = await mmrun(['run', counter, '--iterations', '3000', '--segment-rows', '1000', '--id', 'one'], runsDir);
    const b = await mmrun(['run', counter, '--iterations', '3000', '--workers', '2', '--id', 'sharded'], runsDir);
    const c = await mmrun(
      ['sweep', counter, '--grid', 'work=0,1', '--seeds', '2', '--iterations', '500', '--id', 'sw', '--quiet'],
      runsDir,
    );
    expect([a.code, b.code, c.code], a.stderr + b.stderr + c.stderr).toEqual([0, 0, 0]);
  }, 60_000);

  it('installs with pip offline and passes its unit tests against runs the CLI wrote', (ctx) => {
    const exe = needPython(ctx);
    if (!builder) {
      const why = `no Python among ${BUILDERS.join(', ')} has pip, setuptools >= 61 and wheel (apt-get install python3-pip python3-setuptools python3-wheel)`;
      if (python.required) throw new Error(why);
      return ctx.skip(why);
    }
    const site = pipInstall(builder);
    expect(fs.existsSync(path.join(site, 'mmrun_reader/__init__.py'))).toBe(true);
    const r = spawnSync(exe, ['-m', 'unittest', 'discover', '-v', '-s', path.join(PACKAGE, 'tests')], {
      encoding: 'utf8',
      cwd: site,
      env: { ...process.env, PYTHONPATH: site, MMRUN_READER_RUNS: runsDir, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Ran 12 tests/);
    // The tests ran the installed copy, not the repository's.
    const where = spawnSync(exe, ['-c', 'import mmrun_reader; print(mmrun_reader.__file__)'], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: site },
    });
    expect(where.stdout.trim()).toBe(path.join(site, 'mmrun_reader/__init__.py'));
  }, 60_000);

  it("accepts this mmrun's catalog schema version (bump MAX_SCHEMA_VERSION with a migration that only adds)", (ctx) => {
    const exe = needPython(ctx);
    const r = spawnSync(exe, ['-c', 'import mmrun_reader as m; print(m.MIN_SCHEMA_VERSION, m.MAX_SCHEMA_VERSION)'], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: PACKAGE },
    });
    const [min, max] = r.stdout.trim().split(' ').map(Number);
    expect(min).toBeLessThanOrEqual(SCHEMA_VERSION);
    expect(max).toBeGreaterThanOrEqual(SCHEMA_VERSION);
  });
});
