// summarizeRun in-process on real runs: values against a slow exact reference decoded from
// the segment files, the same bits for any number of threads, batch and chunk size, and
// the errors a user meets.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { RunRows } from '../../src/read/rows.ts';
import { startRun } from '../../src/runner/run.ts';
import { QUANTILE_NAMES, QUANTILES, stratumSize } from '../../src/stats/quantiles.ts';
import { Scanner, type ScanPlan, type ThreadResult } from '../../src/stats/scan.ts';
import { type ColumnStats, type StatsOptions, type StatsProgress, summarizeRun } from '../../src/stats/stats.ts';
import { ALLTYPES, segmentRows } from '../export/helpers.ts';
import { close, columnValues, linearQuantile, reference } from './reference.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');
const DATA = path.join(FIXTURES, 'stats-data.ts');
const THROWS = path.join(FIXTURES, 'throws.ts');

let runsDir: string;

beforeAll(async () => {
  runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-stats-'));
  // 7000-row segments: the last of three is partial, and batches cross segment ends.
  const runs = [
    startRun({ experiment: DATA, runsDir, id: 'data', seed: 2, segmentRows: 7000 }),
    startRun({ experiment: ALLTYPES, runsDir, id: 'all', seed: 1, segmentRows: 700 }),
    startRun({ experiment: THROWS, runsDir, id: 'empty', seed: 1, params: { at: 0 } }),
    startRun({ experiment: THROWS, runsDir, id: 'part', seed: 1, params: { at: 500 } }),
  ];
  for (const r of runs) await r;
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

const stats = (runId: string, options: Partial<StatsOptions> = {}) => summarizeRun({ runId, runsDir, ...options });

/** Checks one column's statistics against the reference computed from the segment files. */
function checkColumn(runId: string, s: ColumnStats): void {
  const { layout, data } = segmentRows(path.join(runsDir, runId));
  const [, name, index] = /^(\w+)(?:\[(\d+)\])?$/.exec(s.column)!;
  const values = columnValues(layout, data, name!, index === undefined ? undefined : Number(index));
  const want = reference(values);
  const where = `${runId}.${s.column}`;
  expect([s.count, s.nan, s.inf], where).toEqual([want.count, want.nan, want.inf]);
  expect([s.min, s.max], where).toEqual([want.min, want.max]);
  expect(close(s.mean, want.mean, 1e-12), `${where} mean ${s.mean} vs ${want.mean}`).toBe(true);
  expect(close(s.std, want.std, 1e-12), `${where} std ${s.std} vs ${want.std}`).toBe(true);
  if (want.count === 0) {
    expect(s.quantiles).toBeNull();
    return;
  }
  QUANTILES.forEach((q, k) => {
    const got = s.quantiles![QUANTILE_NAMES[k]!];
    if (s.quantileMethod === 'exact') {
      const expected = linearQuantile(want.sorted, q);
      // NumPy interpolates between equal infinities to NaN; either way it is not a number to compare.
      if (Number.isFinite(expected))
        expect(close(got, expected, 1e-12), `${where} p${q}: ${got} vs ${expected}`).toBe(true);
    } else {
      let below = 0;
      let atOrBelow = 0;
      for (const x of want.sorted) {
        if (x < got) below++;
        if (x <= got) atOrBelow++;
      }
      const n = want.sorted.length;
      expect(below / n - s.rankError, `${where} p${q}`).toBeLessThanOrEqual(q);
      expect(atOrBelow / n + s.rankError, `${where} p${q}`).toBeGreaterThanOrEqual(q);
    }
  });
}

describe('summarizeRun against an exact reference', () => {
  it('an aligned layout (typed arrays): offset 1e9 ± 1e-3, a trend, NaN, +Infinity, f4 vectors, u4/i4/i2 extremes, bool vectors', async () => {
    const r = await stats('data', {
      columns: ['offset', 'trend', 'gappy', 'spike', 'v', 'v[3]', 'u4', 'i4', 'i2', 'flags', 'flags[0]'],
    });
    expect(r).toMatchObject({ runId: 'data', status: 'completed', rows: 20_000, bytes: 20_000 * 64, partial: false });
    for (const s of r.stats) checkColumn('data', s);
    const by = Object.fromEntries(r.stats.map((s) => [s.column, s]));
    expect(by.gappy).toMatchObject({ nan: 2858, count: 20_000 - 2858 });
    expect(by.spike).toMatchObject({ inf: 1, mean: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY });
    expect(by.spike!.std).toBeNaN();
    expect(by.u4).toMatchObject({ min: 0, max: 4294967295 });
    expect(by.v).toMatchObject({ elements: 4, count: 80_000, quantileMethod: 'sample' });
    expect(by['v[3]']).toMatchObject({ elements: 1, count: 20_000, quantileMethod: 'exact', rankError: 0 });
    expect(by['flags[2]']).toBeUndefined();
    expect(by['flags[0]']!.mean).toBeCloseTo(0.3, 1);
    expect(by.flags).toMatchObject({ count: 80_000, min: 0, max: 1, quantileMethod: 'exact' });
    // All of a vector's elements: the mean of flags is the fraction true over the 4 elements.
    expect(by.flags!.mean).toBeCloseTo((by['flags[0]']!.mean! + 0.5 + 1 + 0) / 4, 12);
  });

  it('an unaligned layout (DataView): every dtype with NaN, ±Infinity, -0, subnormals, extremes', async () => {
    const r = await stats('all');
    expect(r.stats.map((s) => s.column)).toEqual([
      'f8',
      'f4',
      'i1',
      'i2',
      'i4',
      'u1',
      'u2',
      'u4',
      'flag',
      'v',
      'vi',
      'vb',
    ]);
    for (const s of r.stats) checkColumn('all', s);
  });

  it('a sample of 100 values: quantiles within the stated rank bound (about ±0.3)', async () => {
    const r = await stats('data', { columns: ['trend', 'i4'], sampleSize: 100 });
    for (const s of r.stats) {
      expect(s).toMatchObject({ quantileMethod: 'sample', quantileValues: 100 });
      expect(s.rankError).toBeGreaterThan(0.2);
      checkColumn('data', s);
    }
  });
});

describe('the same result whoever reads what', () => {
  it('1 or 3 threads, worker threads only, small batches and chunks that split blocks: identical bits', async () => {
    const want = await stats('data', { workers: 1 });
    const variants: Partial<StatsOptions>[] = [
      { workers: 3, callerReads: false, batchBytes: 64 << 10 },
      { workers: 2, batchBytes: 1 },
      { workers: 1, chunkBytes: 1000 },
    ];
    for (const v of variants) {
      const got = await stats('data', v);
      expect(got.workers, JSON.stringify(v)).toBe(v.workers);
      expect(got.stats, JSON.stringify(v)).toEqual(want.stats);
      // Every row read exactly once; worker threads only: the calling thread read none.
      expect(got.rowsByThread.reduce((a, b) => a + b, 0)).toBe(20_000);
      if (v.callerReads === false) expect(got.rowsByThread[0]).toBe(0);
    }
  });
});

describe('units are self-contained', () => {
  /** Reads batches in the given order (chunks of `chunkBytes`) and returns what each yielded, by batch. */
  function readBatches(order: number[], chunkBytes: number): ThreadResult {
    const source = RunRows.open(runsDir, 'data');
    const rows = source.flushedRows;
    const plan: ScanPlan = {
      columns: source.layout.fields.map((f, fieldIndex) => ({
        fieldIndex,
        element: 0,
        elements: f.length,
        dtype: f.dtype,
        totalElements: rows * f.length,
        stratum: stratumSize(rows * f.length, 1000),
      })),
      ranges: source.flushedRanges,
      rows,
      unitRows: 4096,
      batchUnits: 1,
      batches: 5,
      chunkBytes,
    };
    const scanner = new Scanner(source, plan);
    for (const b of order) scanner.read(b);
    const result = scanner.result();
    return { ...result, batches: [...result.batches].sort((a, b) => a.batch - b.batch) };
  }

  it('each unit yields the same bits in any reading order and chunking', () => {
    const bytes = (r: ThreadResult) =>
      r.batches.map((b) => [b.batch, ...[...b.units, ...b.samples].map((a) => Buffer.from(a.buffer).toString('hex'))]);
    const want = readBatches([0, 1, 2, 3, 4], 4 << 20);
    expect(want.batches.map((b) => b.units[0]!.length)).toEqual([12, 12, 12, 12, 12]);
    for (const [order, chunk] of [
      [[4, 3, 2, 1, 0], 4 << 20],
      [[1, 3, 0, 4, 2], 1000],
    ] as [number[], number][]) {
      const got = readBatches(order, chunk);
      expect(bytes(got)).toEqual(bytes(want));
      expect(got.histograms).toEqual(want.histograms);
    }
  });
});

describe('what a user meets', () => {
  it('a run without flushed rows: counts 0, nothing else, no thread started', async () => {
    const r = await stats('empty');
    expect(r).toMatchObject({ status: 'failed', rows: 0, flushedRows: 0, workers: 0, partial: true });
    expect(r.stats[0]).toMatchObject({
      column: 'i',
      count: 0,
      nan: 0,
      mean: null,
      std: null,
      min: null,
      max: null,
      quantiles: null,
    });
  });

  it('an unfinished run: exactly its flushed rows', async () => {
    const r = await stats('part');
    expect(r).toMatchObject({ status: 'failed', rows: 500, flushedRows: 500, iterations: 2000, partial: true });
    expect(r.stats[0]).toMatchObject({ column: 'i', count: 500, min: 0, max: 499, mean: 249.5 });
  });

  it('worker threads start only when there is enough to read: 1.3 MB is the calling thread’s alone', async () => {
    const r = await stats('data', { workers: 3, batchBytes: 64 << 10 });
    expect(r.workers).toBe(3);
    expect(r.rowsByThread).toEqual([20_000, 0, 0]);
  });

  it('a sharded run with a gap: every shard’s flushed rows, [0, 200) and [1000, 2000)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-stats-shards-'));
    try {
      const run = await startRun({
        experiment: path.join(FIXTURES, 'stats-shards.ts'),
        runsDir: dir,
        id: 's',
        seed: 1,
        workers: 2,
      });
      expect(run.status).toBe('failed');
      expect(RunRows.open(dir, 's').flushedRanges).toEqual([
        [0, 200],
        [1000, 2000],
      ]);
      const r = await summarizeRun({ runId: 's', runsDir: dir, batchBytes: 1 });
      expect(r).toMatchObject({ rows: 1200, flushedRows: 200, bytes: 1200 * 12 });
      const sum = (a: number, b: number) => ((b - a) * (a + b - 1)) / 2;
      expect(r.stats[0]).toMatchObject({
        column: 'i',
        count: 1200,
        min: 0,
        max: 1999,
        mean: (sum(0, 200) + sum(1000, 2000)) / 1200,
      });
      // x: NaN at even rows, i / 4 at odd ones.
      expect(r.stats[1]).toMatchObject({ column: 'x', count: 600, nan: 600, min: 0.25, max: 1999 / 4 });
      expect(r.stats[1]!.mean).toBeCloseTo((sum(0, 200) / 2 + 100 / 2 + sum(1000, 2000) / 2 + 500 / 2) / 4 / 600, 10);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('progress: reported as rows are read, the last report has every row', async () => {
    const seen: StatsProgress[] = [];
    await stats('data', { onProgress: (p) => seen.push(p) });
    expect(seen.at(-1)).toMatchObject({ rows: 20_000, totalRows: 20_000, bytes: 20_000 * 64 });
  });

  it.each([
    [
      { columns: ['offset', 'nope'] },
      'UNKNOWN_COLUMN',
      "run 'data' has no column 'nope'; its columns are offset, trend, gappy, spike, v (or v[0]…v[3]), u4",
    ],
    [{ columns: ['offset[1]'] }, 'BAD_COLUMN_INDEX', "run 'data': column 'offset' is a scalar and takes no index"],
    [{ columns: ['v[4]'] }, 'BAD_COLUMN_INDEX', "column 'v' has elements 0 to 3, not 4"],
    [{ columns: ['v', ' v '] }, 'BAD_OPTION', "column 'v' is selected twice"],
    [{ workers: 0 }, 'BAD_OPTION', 'workers must be a positive integer, got 0'],
    [{ sampleSize: 1.5 }, 'BAD_OPTION', 'sampleSize must be a positive integer, got 1.5'],
    [{ runId: 'nope' }, 'RUN_NOT_FOUND', 'nope'],
  ] as [Partial<StatsOptions>, string, string][])('%j → %s', async (options, code, message) => {
    const error = await stats('data', options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MmrunError);
    expect((error as MmrunError).code).toBe(code);
    expect((error as MmrunError).message).toContain(message);
    expect((error as MmrunError).remedy).toBeTruthy();
  });

  it('a truncated segment fails in the worker thread that maps it, with the validation error', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-stats-cut-'));
    try {
      fs.cpSync(runsDir, dir, { recursive: true });
      const seg = path.join(dir, 'data', '000002.npy');
      fs.truncateSync(seg, fs.statSync(seg).size - 64);
      const error = await summarizeRun({
        runId: 'data',
        runsDir: dir,
        workers: 2,
        callerReads: false,
        batchBytes: 1,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MmrunError);
      expect((error as MmrunError).code).toBe('SIZE_MISMATCH');
      expect((error as MmrunError).message).toContain('segment 000002.npy is');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
