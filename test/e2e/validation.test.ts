// Bad input and damaged files, through the real CLI: a clear error that names both values,
// exit 1 (2 for usage), and no byte of any existing file changed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, hashFiles, json, mmrun, tempDirs } from './cli.ts';

const fresh = tempDirs();

/** Every file of a runs directory (catalog and run dirs), hashed. */
function snapshot(runsDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, hash] of Object.entries(hashFiles(runsDir, (n) => n === 'mmrun.sqlite'))) out[name] = hash;
  for (const entry of fs.readdirSync(runsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const [name, hash] of Object.entries(hashFiles(path.join(runsDir, entry.name)))) {
      out[`${entry.name}/${name}`] = hash;
    }
  }
  return out;
}

/** A run of the stateless `throws` fixture that failed at iteration 500: resumable. */
async function failedRun(): Promise<{ dir: string; fixture: string }> {
  const dir = fresh();
  const fixture = path.join(dir, 'throws.ts');
  fs.copyFileSync(path.join(FIXTURES, 'throws.ts'), fixture);
  const r = await mmrun(
    ['run', fixture, '--id', 'f', '--seed', '3', '--segment-rows', '300', '--flush-every', '100'],
    dir,
  );
  expect(r.code).toBe(1);
  return { dir, fixture };
}

describe('a step that throws', () => {
  it('fails the run: exit 1, STEP_FAILED with the iteration and message, rows before it kept', async () => {
    const { dir } = await failedRun();
    const show = json<Record<string, unknown>>(await mmrun(['show', 'f', '--json'], dir));
    expect(show).toMatchObject({ status: 'failed', flushedRows: 500, errorIteration: 500 });
    expect(show.error).toContain('STEP_FAILED');
    expect(show.error).toContain('boom at 500');
    const r = await mmrun(['resume', 'f'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("experiment 'throws' threw at iteration 500: boom at 500");
    expect(r.stderr).toContain('--allow-changed');
  });

  it('is resumable once fixed (with --allow-changed), and then completes', async () => {
    const { dir, fixture } = await failedRun();
    fs.writeFileSync(fixture, fs.readFileSync(fixture, 'utf8').replace('if (i === ctx.params.at)', 'if (i < 0)'));
    const refused = await mmrun(['resume', 'f'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('EXPERIMENT_CHANGED');
    const r = await mmrun(['resume', 'f', '--allow-changed'], dir);
    expect(r.code, r.stderr).toBe(0);
    const show = json<{ status: string; flushedRows: number; events: { type: string }[] }>(
      await mmrun(['show', 'f', '--json'], dir),
    );
    expect(show).toMatchObject({ status: 'completed', flushedRows: 2000 });
    expect(show.events.map((e) => e.type)).toContain('allow-changed');
  });
});

describe('damaged or mismatched runs are refused untouched', () => {
  it('a segment whose header dtype differs: DTYPE_MISMATCH naming both dtypes', async () => {
    const { dir } = await failedRun();
    const seg = path.join(dir, 'f', '000000.npy');
    const bytes = fs.readFileSync(seg);
    const header = bytes.subarray(0, 128).toString('latin1');
    expect(header).toContain("('x', '<f8')");
    fs.writeFileSync(
      seg,
      Buffer.concat([Buffer.from(header.replace("('x', '<f8')", "('x', '<i8')"), 'latin1'), bytes.subarray(128)]),
    );
    const before = snapshot(dir);
    const r = await mmrun(['resume', 'f'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DTYPE_MISMATCH: segment 000000\.npy has dtype .*'<i8'.* but run 'f' declares .*'<f8'/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a truncated segment: SIZE_MISMATCH naming both sizes', async () => {
    const { dir } = await failedRun();
    const seg = path.join(dir, 'f', '000001.npy');
    const size = fs.statSync(seg).size;
    fs.truncateSync(seg, size - 100);
    const before = snapshot(dir);
    const r = await mmrun(['resume', 'f'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SIZE_MISMATCH');
    expect(r.stderr).toContain(`is ${size - 100} bytes`);
    expect(r.stderr).toContain(`= ${size}`);
    expect(r.stderr).toContain('truncated');
    expect(snapshot(dir)).toEqual(before);
  });

  it('an experiment whose columns changed: DTYPE_MISMATCH naming both, even with --allow-changed', async () => {
    const { dir, fixture } = await failedRun();
    fs.writeFileSync(fixture, fs.readFileSync(fixture, 'utf8').replace("x: 'f8'", "x: 'f4'"));
    const before = snapshot(dir);
    const r = await mmrun(['resume', 'f', '--allow-changed'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("DTYPE_MISMATCH: experiment 'throws' has f4 for column 'x' but run 'f'");
    expect(r.stderr).toContain('declares f8');
    expect(snapshot(dir)).toEqual(before);
  });

  it('a completed run is not resumed; an unknown run is RUN_NOT_FOUND', async () => {
    const dir = fresh();
    expect((await mmrun(['run', path.join(FIXTURES, 'counter.ts'), '--id', 'c', '-n', '500'], dir)).code).toBe(0);
    const before = snapshot(dir);
    const done = await mmrun(['resume', 'c'], dir);
    expect(done.code).toBe(1);
    expect(done.stderr).toContain("RUN_COMPLETED: run 'c' is already completed (500 rows)");
    const unknown = await mmrun(['resume', 'nope'], dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("RUN_NOT_FOUND: no run 'nope'");
    const again = await mmrun(['run', path.join(FIXTURES, 'counter.ts'), '--id', 'c', '-n', '500'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('RUN_EXISTS');
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('bad command lines', () => {
  it('usage errors exit 2 with a hint', async () => {
    const dir = fresh();
    for (const args of [[], ['run'], ['run', 'pi', '--no-such-flag'], ['frobnicate']]) {
      const r = await mmrun(args, dir);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('mmrun --help');
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('bad values exit 1 naming the value, and create nothing', async () => {
    const dir = fresh();
    const cases: [string[], string][] = [
      [['run', 'pi', '--iterations', '-5'], "BAD_ITERATIONS: iterations must be a positive whole number, got '-5'"],
      [['run', 'pi', '--iterations', '1.5'], "got '1.5'"],
      [['run', 'pi', '--param', 'nope=1'], "BAD_PARAM: unknown param 'nope'; this experiment's params are: batch"],
      [['run', 'pi', '--param', 'batch=many'], "param 'batch' expects a number (its default is 16), got 'many'"],
      [['run', 'no/such/file.ts'], 'EXPERIMENT_NOT_FOUND'],
      [['run', 'pi', '--id', '../escape'], 'BAD_RUN_ID'],
      [['show', 'nope'], 'RUN_NOT_FOUND'],
    ];
    for (const [args, message] of cases) {
      const r = await mmrun(args, dir);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split('\n'), 'one line').toHaveLength(1);
    }
    expect(fs.readdirSync(dir)).toEqual([]);
    const verbose = await mmrun(['run', 'pi', '--iterations', '-5', '--verbose'], dir);
    expect(verbose.stderr).toContain('at parseCount');
  });
});

describe('reading results from NumPy', () => {
  let python: string | undefined;
  beforeAll(() => {
    for (const candidate of [process.env.MMRUN_PYTHON, 'python3', '/usr/bin/python3']) {
      if (candidate && spawnSync(candidate, ['-c', 'import numpy']).status === 0) {
        python = candidate;
        break;
      }
    }
  });

  it('every segment loads with np.load(mmap_mode="r") with the right fields and values', async (ctx) => {
    if (!python) {
      if (process.env.CI) throw new Error('python3 with numpy is required in CI: apt-get install python3-numpy');
      ctx.skip();
      return;
    }
    const dir = fresh();
    const r = await mmrun(
      ['run', path.join(FIXTURES, 'counter.ts'), '--id', 'np', '-n', '10_000', '--seed', '8', '--segment-rows', '3000'],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const script = `
import glob, json, sys, numpy as np
segs = [np.load(f, mmap_mode='r') for f in sorted(glob.glob(sys.argv[1] + '/*.npy'))]
a = np.concatenate(segs)
print(json.dumps({
  'names': list(a.dtype.names), 'shapes': [s.shape[0] for s in segs], 'n': int(a.shape[0]),
  'i_ok': bool((a['i'] == np.arange(a.shape[0])).all()),
  'flag_ok': bool((a['flag'] == (a['u'] < 0.5)).all()),
  'v_ok': bool((a['v'][:, 1] == (a['u'] * 2).astype(np.float32)).all()),
  'k_range': [int(a['k'].min()), int(a['k'].max())],
  'v_shape': list(a['v'].shape),
}))`;
    const out = spawnSync(python, ['-c', script, path.join(dir, 'np')], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({
      names: ['i', 'u', 'n', 'k', 'flag', 'v'],
      shapes: [3000, 3000, 3000, 1000],
      n: 10_000,
      i_ok: true,
      flag_ok: true,
      v_ok: true,
      k_range: [expect.any(Number), expect.any(Number)],
      v_shape: [10_000, 3],
    });
  });
});
