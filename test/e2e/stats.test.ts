// `mmrun stats` end to end: the real CLI on runs made by the real CLI, against NumPy on the
// same segments (np.concatenate of np.load(mmap_mode='r') of the sorted *.npy, flushed rows).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { ALLTYPES, findPython, runPython } from '../export/helpers.ts';
import { type CliResult, json, mmrun, tempDirs } from './cli.ts';

const fresh = tempDirs('mmrun-stats-e2e-');
const python = findPython();

function needPython(ctx: TestContext): string {
  if (python.exe) return python.exe;
  if (python.required) throw new Error(python.why);
  return ctx.skip(python.why);
}

// For each column of the CLI's JSON: NumPy's count, NaN count, mean, std, min and max of the
// values that are not NaN (float64), np.quantile where the CLI says its quantiles are exact
// (on the column's own dtype: float32 interpolates like float32), and for sampled ones the
// rank fractions [mean(x < q), mean(x <= q)] of each reported quantile. Non-finite numbers
// travel as strings, as in the CLI's JSON.
const NUMPY = `
import glob, json, sys, numpy as np
run_dir, flushed, ours = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
a = np.concatenate([np.load(f, mmap_mode='r') for f in sorted(glob.glob(run_dir + '/*.npy'))])[:flushed]
QS = ['p01', 'p05', 'p25', 'p50', 'p75', 'p95', 'p99']
num = lambda x: x if np.isfinite(x) else str(x).replace('inf', 'Infinity').replace('nan', 'NaN')
out = {}
with np.errstate(all='ignore'):
    for label, c in ours['columns'].items():
        name, _, index = label.partition('[')
        col = np.asarray(a[name])
        if index: col = col[:, int(index[:-1])]
        native = col.ravel()
        x = native.astype(np.float64)
        keep = ~np.isnan(x)
        x, native = x[keep], native[keep]
        r = {'count': int(x.size), 'nan': int((~keep).sum()), 'mean': num(float(x.mean())), 'std': num(float(x.std())),
             'min': num(float(x.min())), 'max': num(float(x.max()))}
        if c['quantiles'] == 'exact':
            data = native if native.dtype.kind == 'f' else x
            r['q'] = [num(float(v)) for v in np.quantile(data, [.01, .05, .25, .5, .75, .95, .99])]
        else:
            qs = [float(c[q]) for q in QS]
            r['ranks'] = [[float(np.mean(x < q)), float(np.mean(x <= q))] for q in qs]
        out[label] = r
print(json.dumps(out))
`;

interface Ours {
  runId: string;
  rows: number;
  flushedRows: number;
  columns: Record<string, Record<string, number | string | null>>;
}
interface Numpy {
  count: number;
  nan: number;
  mean: number | string;
  std: number | string;
  min: number | string;
  max: number | string;
  q?: (number | string)[];
  ranks?: [number, number][];
}

const QS = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
const NAMES = ['p01', 'p05', 'p25', 'p50', 'p75', 'p95', 'p99'];
const value = (x: number | string | null | undefined): number =>
  typeof x === 'string' ? Number(x) : (x ?? Number.NaN);

/** |a − b| ≤ rel · |b|; NaN equals NaN, an infinity only itself. */
function near(a: number, b: number, rel: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= rel * Math.abs(b);
}

function compareWithNumpy(exe: string, runDir: string, ours: Ours): void {
  const want = runPython(exe, NUMPY, runDir, String(ours.flushedRows), JSON.stringify(ours)) as Record<string, Numpy>;
  for (const [label, c] of Object.entries(ours.columns)) {
    const n = want[label]!;
    const where = `column ${label}`;
    expect([c.count, c.nan], where).toEqual([n.count, n.nan]);
    expect(value(c.min), `${where} min`).toBe(value(n.min));
    expect(value(c.max), `${where} max`).toBe(value(n.max));
    expect(near(value(c.mean), value(n.mean), 1e-12), `${where} mean ${c.mean} vs numpy ${n.mean}`).toBe(true);
    expect(near(value(c.std), value(n.std), 1e-12), `${where} std ${c.std} vs numpy ${n.std}`).toBe(true);
    if (n.q) {
      NAMES.forEach((q, k) => {
        expect(near(value(c[q]), value(n.q![k]), 1e-14), `${where} ${q} ${c[q]} vs numpy ${n.q![k]}`).toBe(true);
      });
    } else {
      const bound = c.rankError as number;
      expect(bound).toBeGreaterThan(0);
      expect(bound).toBeLessThan(0.012);
      n.ranks!.forEach(([below, atOrBelow], k) => {
        expect(below - bound, `${where} ${NAMES[k]}`).toBeLessThanOrEqual(QS[k]!);
        expect(atOrBelow + bound, `${where} ${NAMES[k]}`).toBeGreaterThanOrEqual(QS[k]!);
      });
    }
  }
}

const ok = (r: CliResult): CliResult => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};

let runsDir: string;
const WALK_ROWS = 1_500_000;

beforeAll(async () => {
  runsDir = fresh();
  // walk: 21-byte rows (an unaligned layout) in 4 segments, sampled quantiles; alltypes: NaN,
  // ±Infinity and the extremes of every dtype, exact quantiles.
  ok(
    await mmrun(
      ['run', 'walk', '--id', 'walk', '--seed', '7', '--iterations', String(WALK_ROWS), '--segment-rows', '400_000'],
      runsDir,
    ),
  );
  ok(await mmrun(['run', ALLTYPES, '--id', 'all', '--seed', '3', '--segment-rows', '700'], runsDir));
});

describe('mmrun stats against NumPy', () => {
  it('walk (1.5 M rows, 4 segments, --workers 2): count, NaN, min, max exact; mean, std to 1e-12; quantiles within the bound', async (ctx) => {
    const exe = needPython(ctx);
    const r = ok(await mmrun(['stats', 'walk', '--json', '--workers', '2'], runsDir));
    const ours = JSON.parse(r.stdout) as Ours;
    expect(ours).toMatchObject({ runId: 'walk', rows: WALK_ROWS, flushedRows: WALK_ROWS });
    expect(Object.keys(ours.columns)).toEqual(['position', 'steps', 'hit', 'maxPosition']);
    expect(ours.columns.position).toMatchObject({ dtype: 'f8', quantiles: 'sample', quantileValues: 65_218 });
    expect(ours.columns.hit).toMatchObject({ dtype: 'bool', quantiles: 'exact' });
    compareWithNumpy(exe, path.join(runsDir, 'walk'), ours);
    // 31 MB is read before a worker thread could start, so none is (on a slow machine, one may be).
    expect(r.stderr).toMatch(
      /mmrun: stats of 1,500,000 rows × 4 columns of walk in [\d.]+ s \((1 thread of 2: too little to read for more|2 threads), [\d.]+ GB\/s\)/,
    );
  });

  it('alltypes: every dtype with NaN, ±Infinity, -0 and extremes; vector columns whole and by element', async (ctx) => {
    const exe = needPython(ctx);
    const r = ok(await mmrun(['stats', 'all', '--json'], runsDir));
    const ours = JSON.parse(r.stdout) as Ours;
    expect(ours.columns.f8).toMatchObject({
      nan: expect.any(Number),
      inf: expect.any(Number),
      mean: 'NaN',
      std: 'NaN',
    });
    compareWithNumpy(exe, path.join(runsDir, 'all'), ours);
    const some = JSON.parse(
      ok(await mmrun(['stats', 'all', '--json', '--columns', 'v[1],vi,u4'], runsDir)).stdout,
    ) as Ours;
    expect(Object.keys(some.columns)).toEqual(['v[1]', 'vi', 'u4']);
    expect(some.columns['v[1]']).toMatchObject({ elements: 1, count: 2400, nan: 600 });
    expect(some.columns.vi).toMatchObject({ elements: 2, count: 6000 });
    compareWithNumpy(exe, path.join(runsDir, 'all'), some);
  });
});

describe('mmrun stats, the command', () => {
  it('--workers 1 and --workers 3 print the same bytes', async () => {
    const one = ok(await mmrun(['stats', 'walk', '--json', '--workers', '1'], runsDir));
    const three = ok(await mmrun(['stats', 'walk', '--json', '--workers', '3'], runsDir));
    expect(three.stdout).toBe(one.stdout);
    expect(one.stderr).toContain('(1 thread,');
    expect(three.stderr).toMatch(/\((1 thread of 3: too little to read for more|[23] threads),/);
  });

  it('a table by default, with what std and the quantiles are', async () => {
    const r = ok(await mmrun(['stats', 'walk', '--columns', 'position,hit'], runsDir));
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^column\s+dtype\s+count\s+nan\s+mean\s+std\s+min\s+p01\s+p05\s+p25\s+p50\s+p75\s+p95\s+p99\s+max$/,
    );
    expect(lines[1]).toMatch(/^position\s+f8\s+1,500,000\s+0\s/);
    expect(lines[2]).toMatch(/^hit\s+bool\s+1,500,000\s+0\s/);
    expect(r.stdout).toContain('std: population (ddof=0)');
    expect(r.stdout).toContain('quantiles of position: from a sample of ~65,218 values, rank within ±1.1%');
  });

  it('progress off a terminal: pino JSON lines on stderr ($MMRUN_PROGRESS_LOG_MS apart); --quiet: nothing', async () => {
    const r = ok(await mmrun(['stats', 'walk', '--columns', 'steps'], runsDir, { MMRUN_PROGRESS_LOG_MS: '0' }));
    const lines = r.stderr.split('\n').filter((l) => l.includes('"event":"progress"'));
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({
      event: 'progress',
      run: 'walk',
      rows: WALK_ROWS,
      totalRows: WALK_ROWS,
    });
    const quiet = ok(
      await mmrun(['stats', 'walk', '--columns', 'steps', '--quiet'], runsDir, { MMRUN_PROGRESS_LOG_MS: '0' }),
    );
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toContain('steps');
  });

  it('a run with no flushed rows: counts 0, said on stderr, exit 0', async () => {
    const dir = fresh();
    const failed = await mmrun(
      ['run', path.join(import.meta.dirname, '../fixtures/throws.ts'), '--id', 'empty', '--param', 'at=0'],
      dir,
    );
    expect(failed.code).toBe(1);
    const r = ok(await mmrun(['stats', 'empty', '--json'], dir));
    expect(json(r)).toMatchObject({ rows: 0, columns: { i: { count: 0, mean: null, p50: null }, x: { count: 0 } } });
    expect(r.stderr).toContain('mmrun: run empty (failed) has no flushed rows yet: every count is 0');
  });

  it.each([
    [
      ['--columns', 'position,nope'],
      1,
      "UNKNOWN_COLUMN: run 'walk' has no column 'nope'; its columns are position, steps, hit, maxPosition; pass --columns",
    ],
    [['--columns', 'position[0]'], 1, "BAD_COLUMN_INDEX: run 'walk': column 'position' is a scalar and takes no index"],
    [['--workers', '0'], 2, 'USAGE: --workers must be a positive integer, got 0'],
    [['--workers', 'many'], 2, '--workers must be a positive integer'],
    [['--sample-size', '-3'], 2, '--sample-size must be a positive integer'],
  ])('%j → exit %i: %s', async (args, code, message) => {
    const r = await mmrun(['stats', 'walk', ...args], runsDir);
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  it('an unknown run: exit 1 with RUN_NOT_FOUND', async () => {
    const r = await mmrun(['stats', 'nope'], runsDir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RUN_NOT_FOUND');
    expect(fs.existsSync(path.join(runsDir, 'nope'))).toBe(false);
  });
});
