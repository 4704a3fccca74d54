import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.ts';
import { currentOwner } from '../../src/catalog/ownership.ts';
import { getRun } from '../../src/catalog/query.ts';
import { MmrunError, StepError } from '../../src/errors.ts';
import { parseCount } from '../../src/experiment/params.ts';
import { CounterRng } from '../../src/experiment/rng.ts';
import { type RunOptions, type RunResult, resumeRun, type StartInfo, startRun } from '../../src/runner/run.ts';
import { readHeader } from '../../src/storage/npy.ts';
import { fileHash, tmpDir } from '../helpers/tmp.ts';

/** The hook fixture experiments call from `step`, so a test can act at a chosen iteration. */
type Hook = (i: number, ctx: { state: unknown }) => void;
const hooks = globalThis as typeof globalThis & { __mmrunTestHook?: Hook; __mmrunTestColumns?: unknown };

function setHook(hook: Hook): void {
  hooks.__mmrunTestHook = hook;
  onTestFinished(() => {
    hooks.__mmrunTestHook = undefined;
  });
}

// Stateful, draws from ctx.rng, every kind of column; 4 + 8 + 8 + 2 + 12 + 1 = 35 bytes a row.
const WALK = `
export default {
  columns: { i: 'u4', r: 'f8', sum: 'f8', n: 'i2', v: ['f4', 3], hit: 'bool' },
  iterations: 1000,
  params: { scale: 1, failAt: -1 },
  init() { return { sum: 0 }; },
  step(i, ctx) {
    if (i === ctx.params.failAt) throw new Error('boom at ' + i);
    const r = ctx.rng.random() * ctx.params.scale;
    ctx.state.sum += r;
    globalThis.__mmrunTestHook?.(i, ctx);
    return { i, r, sum: ctx.state.sum, n: ctx.rng.int(1000) - 500, v: [ctx.rng.normal(), r, i], hit: r > 0.5 };
  },
};
`;
const ITEMSIZE = 35;

// The same computation with an async step.
const ASYNC_WALK = WALK.replace('step(i, ctx) {', 'async step(i, ctx) {\n    await null;');

/** A temp dir with the fixture written as `<name>` and a runs dir inside. */
function setup(source = WALK, name = 'walk.ts'): { file: string; runsDir: string; dir: string } {
  const dir = tmpDir('mmrun-run-');
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return { file, runsDir: path.join(dir, 'runs'), dir };
}

const BASE = { iterations: 1000, seed: 7, segmentRows: 300, flushEvery: 100 } as const;

function run(file: string, runsDir: string, over: Partial<RunOptions> = {}): Promise<RunResult> {
  return startRun({ experiment: file, runsDir, id: 'r', ...BASE, ...over });
}

/** The run's rows: its segments sorted by name, headers dropped, concatenated. */
function rows(runDir: string): Buffer {
  const files = fs
    .readdirSync(runDir)
    .filter((f) => f.endsWith('.npy'))
    .sort();
  return Buffer.concat(
    files.map((f) => {
      const file = path.join(runDir, f);
      return fs.readFileSync(file).subarray(readHeader(file).dataOffset);
    }),
  );
}

/** Rows of an uninterrupted run of the same fixture and options, in a directory of its own. */
async function reference(source = WALK, over: Partial<RunOptions> = {}): Promise<Buffer> {
  const { file, runsDir } = setup(source);
  const result = await run(file, runsDir, over);
  expect(result.status).toBe('completed');
  return rows(result.runDir);
}

/** Everything a refused operation must leave alone: files, run record, events. */
function snapshot(runsDir: string, id = 'r'): unknown {
  const runDir = path.join(runsDir, id);
  const files = Object.fromEntries(
    fs
      .readdirSync(runDir)
      .sort()
      .map((f) => [f, fileHash(path.join(runDir, f))]),
  );
  return { files, ...getRun(runsDir, id) };
}

async function rejected(promise: Promise<unknown>): Promise<MmrunError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

/** Interrupts the run with reason 'SIGTERM' once step `at` has run. */
function abortAt(at: number): AbortController {
  const controller = new AbortController();
  setHook((i) => {
    if (i === at) controller.abort('SIGTERM');
  });
  return controller;
}

async function deadPid(): Promise<number> {
  const child = spawn('sleep', ['0'], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

describe('startRun to completion', () => {
  it('writes `iterations` rows across segments of segmentRows rows, recorded as completed', async () => {
    const { file, runsDir } = setup();
    const started: StartInfo[] = [];
    const result = await run(file, runsDir, { onStart: (info) => started.push(info) });

    expect(result).toMatchObject({
      id: 'r',
      runDir: path.join(runsDir, 'r'),
      status: 'completed',
      startRow: 0,
      flushedRows: 1000,
      iterations: 1000,
    });
    expect(result.error).toBeUndefined();
    expect(result.flushes).toBeGreaterThanOrEqual(4);
    expect(started).toEqual([
      { id: 'r', runDir: result.runDir, experiment: 'walk', seed: 7, iterations: 1000, startRow: 0, resumed: false },
    ]);

    const npy = fs
      .readdirSync(result.runDir)
      .filter((f) => f.endsWith('.npy'))
      .sort();
    expect(npy).toEqual(['000000.npy', '000001.npy', '000002.npy', '000003.npy']);
    expect(npy.map((f) => readHeader(path.join(result.runDir, f)).shape)).toEqual([[300], [300], [300], [100]]);
    expect(rows(result.runDir).length).toBe(1000 * ITEMSIZE);
    expect(fs.existsSync(path.join(result.runDir, 'run.log'))).toBe(true);

    const { run: record, events } = getRun(runsDir, 'r');
    expect(record).toMatchObject({
      status: 'completed',
      flushedRows: 1000,
      iterations: 1000,
      seed: 7,
      experiment: 'walk',
      experimentPath: file,
      params: { scale: 1, failAt: -1 },
      segmentRows: 300,
      flushEvery: 100,
      owner: undefined,
    });
    expect(events[0]?.type).toBe('started');
    expect(events.at(-1)?.type).toBe('completed');
  });

  it('rows hold, in order, what step returned for each iteration, with state carried', async () => {
    const { file, runsDir } = setup();
    const result = await run(file, runsDir);
    const data = rows(result.runDir);
    const rng = new CounterRng(7);
    let sum = 0;
    for (let i = 0; i < 1000; i++) {
      const o = i * ITEMSIZE;
      rng.reset(i);
      const r = rng.random();
      const n = rng.int(1000) - 500;
      sum += r;
      expect(data.readUInt32LE(o)).toBe(i);
      expect(data.readDoubleLE(o + 4)).toBe(r);
      expect(data.readDoubleLE(o + 12)).toBe(sum);
      expect(data.readInt16LE(o + 20)).toBe(n);
      expect(data.readFloatLE(o + 26)).toBe(Math.fround(r));
      expect(data.readFloatLE(o + 30)).toBe(i);
      expect(data[o + 34]).toBe(r > 0.5 ? 1 : 0);
    }
  });

  it('is deterministic: the same seed gives the same bytes, another seed other bytes', async () => {
    const a = await reference();
    const b = await reference();
    const c = await reference(WALK, { seed: 8 });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    // The bytes do not depend on how the rows are split or flushed.
    const d = await reference(WALK, { segmentRows: 1000, flushEvery: 7 });
    expect(d.equals(a)).toBe(true);
  });

  it('takes iterations written like 1_000 or 1e3, or the experiment default', async () => {
    for (const iterations of ['1_000', '1e3', undefined]) {
      const { file, runsDir } = setup();
      const result = await run(file, runsDir, {
        iterations: iterations === undefined ? undefined : parseCount(iterations),
      });
      expect(result.flushedRows).toBe(1000);
    }
  });

  it('applies --param overrides, typed by the default, and records them', async () => {
    const { file, runsDir } = setup();
    const result = await run(file, runsDir, { params: { scale: 1e-3 }, iterations: 50 });
    expect(getRun(runsDir, 'r').run.params).toEqual({ scale: 0.001, failAt: -1 });
    const data = rows(result.runDir);
    for (let i = 0; i < 50; i++) expect(data.readDoubleLE(i * ITEMSIZE + 4)).toBeLessThan(0.001);
  });

  it('an async step (returning a Promise) gives the same rows as a synchronous one', async () => {
    expect(ASYNC_WALK).toContain('async step(i, ctx) {');
    const sync = await reference();
    const { file, runsDir } = setup(ASYNC_WALK);
    const result = await run(file, runsDir);
    expect(result.status).toBe('completed');
    expect(rows(result.runDir).equals(sync)).toBe(true);
  });

  it('flushes on time when steps are slow', async () => {
    const slow = `export default { columns: { k: 'u4' }, step(i) {
      const until = performance.now() + 1; while (performance.now() < until) {} return { k: i }; } };`;
    const { file, runsDir } = setup(slow);
    const result = await run(file, runsDir, { iterations: 200, flushEvery: 1_000_000, flushInterval: 0.02 });
    expect(result.status).toBe('completed');
    expect(result.flushes).toBeGreaterThanOrEqual(5);
  });
});

describe('refusals before anything is written', () => {
  it.each([
    ['iterations 0', { iterations: 0 }, 'BAD_ITERATIONS'],
    ['iterations -5', { iterations: '-5' }, 'BAD_ITERATIONS'],
    ['a bad id', { id: '../escape' }, 'BAD_RUN_ID'],
    ['a bad flush-every', { flushEvery: 'often' }, 'BAD_OPTION'],
    ['a bad flush-interval', { flushInterval: 0 }, 'BAD_OPTION'],
    ['a bad segment size', { segmentRows: 0 }, 'BAD_OPTION'],
    ['an unknown param', { params: { speed: 3 } }, 'BAD_PARAM'],
    ['a mistyped param', { params: { scale: 'big' } }, 'BAD_PARAM'],
  ] as const)('%s', async (_, over, code) => {
    const { file, runsDir } = setup();
    const e = await rejected(run(file, runsDir, over as Partial<RunOptions>));
    expect(e.code).toBe(code);
    expect(fs.existsSync(runsDir)).toBe(false);
  });

  it('an unknown experiment (EXPERIMENT_NOT_FOUND)', async () => {
    const { runsDir, dir } = setup();
    const e = await rejected(startRun({ experiment: 'nosuch', cwd: dir, runsDir }));
    expect(e.code).toBe('EXPERIMENT_NOT_FOUND');
    expect(fs.existsSync(runsDir)).toBe(false);
  });

  it('run --id of an existing run is RUN_EXISTS and changes nothing', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir);
    const before = snapshot(runsDir);
    const e = await rejected(run(file, runsDir, { seed: 99, iterations: 10 }));
    expect(e.code).toBe('RUN_EXISTS');
    expect(e.message).toContain(path.join(runsDir, 'r'));
    expect(snapshot(runsDir)).toEqual(before);
  });

  it('a stray directory with the id is RUN_EXISTS, kept, and no run is registered', async () => {
    const { file, runsDir } = setup();
    fs.mkdirSync(path.join(runsDir, 'r'), { recursive: true });
    fs.writeFileSync(path.join(runsDir, 'r', 'mine.txt'), 'keep me');
    const e = await rejected(run(file, runsDir));
    expect(e.code).toBe('RUN_EXISTS');
    expect(fs.readdirSync(path.join(runsDir, 'r'))).toEqual(['mine.txt']);
    expect((await rejected(resumeRun({ runId: 'r', runsDir }))).code).toBe('RUN_NOT_FOUND');
  });

  it('an id the catalog knows but whose directory is gone is RUN_EXISTS, and no directory is left', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir, { iterations: 10 });
    fs.rmSync(path.join(runsDir, 'r'), { recursive: true });
    const e = await rejected(run(file, runsDir));
    expect(e.code).toBe('RUN_EXISTS');
    expect(fs.existsSync(path.join(runsDir, 'r'))).toBe(false);
    expect(getRun(runsDir, 'r').run.iterations).toBe(10);
  });
});

describe('a failing experiment', () => {
  it('throws at iteration k: status failed, STEP_FAILED naming k, rows before k kept', async () => {
    const { file, runsDir } = setup();
    const result = await run(file, runsDir, { params: { failAt: 137 } });
    expect(result.status).toBe('failed');
    // Stateful: the failed step may have changed ctx.state, so the last checkpoint (100) stays.
    expect(result.flushedRows).toBe(100);
    expect(result.error?.code).toBe('STEP_FAILED');
    expect(result.error?.message).toContain('iteration 137');
    expect(result.error?.message).toContain("'walk'");
    expect(result.error?.message).toContain('boom at 137');
    expect(result.error).toBeInstanceOf(StepError);
    expect((result.error as StepError).iteration).toBe(137);

    const { run: record, events } = getRun(runsDir, 'r');
    expect(record).toMatchObject({ status: 'failed', flushedRows: 100, errorIteration: 137, owner: undefined });
    expect(record.error).toContain('STEP_FAILED');
    expect(record.error).toContain('boom at 137');
    expect(events.at(-1)).toMatchObject({ type: 'failed', data: { iteration: 137, code: 'STEP_FAILED' } });

    const clean = await reference();
    expect(
      rows(result.runDir)
        .subarray(0, 100 * ITEMSIZE)
        .equals(clean.subarray(0, 100 * ITEMSIZE)),
    ).toBe(true);
  });

  it('throws at iteration 0: nothing flushed but the run is recorded failed', async () => {
    const { file, runsDir } = setup();
    const result = await run(file, runsDir, { params: { failAt: 0 } });
    expect(result).toMatchObject({ status: 'failed', flushedRows: 0 });
    expect(getRun(runsDir, 'r').run).toMatchObject({ status: 'failed', errorIteration: 0 });
  });

  it('resuming a failed run retries from the failing iteration', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir, { params: { failAt: 450 } });
    const again = await resumeRun({ runId: 'r', runsDir });
    expect(again).toMatchObject({ status: 'failed', startRow: 400, flushedRows: 400 });
    expect(again.error?.message).toContain('iteration 450');
  });

  it('a rejected Promise from an async step is STEP_FAILED at its iteration', async () => {
    const { file, runsDir } = setup(ASYNC_WALK);
    const result = await run(file, runsDir, { params: { failAt: 321 } });
    expect(result).toMatchObject({ status: 'failed', flushedRows: 300 });
    expect(result.error?.code).toBe('STEP_FAILED');
    expect(result.error?.message).toContain('iteration 321');
  });

  it('a bad row at iteration k is BAD_ROW naming k and the column; rows before k kept', async () => {
    const bad = `export default { columns: { k: 'u1' }, step(i) { return { k: i === 260 ? 300 : i % 256 }; } };`;
    const { file, runsDir } = setup(bad);
    const result = await run(file, runsDir);
    expect(result).toMatchObject({ status: 'failed', flushedRows: 260 });
    expect(result.error?.code).toBe('BAD_ROW');
    expect(result.error?.message).toContain('iteration 260');
    expect(result.error?.message).toContain("column 'k'");
    expect(getRun(runsDir, 'r').run.status).toBe('failed');
    const data = rows(result.runDir);
    for (let i = 0; i < 260; i++) expect(data[i]).toBe(i % 256);
  });

  it('state that cannot be saved fails the run with STATE_NOT_SERIALIZABLE', async () => {
    const source = `export default { columns: { k: 'u4' }, init: () => ({ n: 0 }),
      step(i, ctx) { if (i === 150) ctx.state.f = () => 1; return { k: i }; } };`;
    const { file, runsDir } = setup(source);
    const result = await run(file, runsDir);
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('STATE_NOT_SERIALIZABLE');
    const record = getRun(runsDir, 'r').run;
    expect(record.status).toBe('failed');
    expect(record.flushedRows).toBeLessThanOrEqual(150);
  });

  // A step that throws may have changed ctx.state half-way: the failure path must keep the last
  // checkpoint whose rows and state agree, not commit the half-changed state with rows [0, k).
  it('a step that throws after changing ctx.state resumes to the same bytes as a clean run', async () => {
    const { file, runsDir } = setup();
    setHook((i) => {
      if (i === 555) throw new Error('transient');
    });
    const failed = await run(file, runsDir);
    expect(failed).toMatchObject({ status: 'failed', flushedRows: 500 });
    hooks.__mmrunTestHook = undefined;
    const resumed = await resumeRun({ runId: 'r', runsDir });
    expect(resumed.status).toBe('completed');
    expect(rows(resumed.runDir).equals(await reference())).toBe(true);
  });

  // init runs after the run is registered: its failure must be recorded, not left 'running'.
  it('init that throws leaves the run recorded as failed, not running', async () => {
    const source = `export default { columns: { k: 'u4' }, init() { throw new Error('no data file'); },
      step: (i) => ({ k: i }) };`;
    const { file, runsDir } = setup(source);
    try {
      const result = await run(file, runsDir);
      expect(result.status).toBe('failed');
    } catch (error) {
      expect((error as MmrunError).code).toBe('STEP_FAILED');
    }
    expect(getRun(runsDir, 'r').run.status).toBe('failed');
  });
});

describe('interrupt and resume', () => {
  it('an abort (SIGTERM) stops the run flushed; resume completes it byte-identical to an uninterrupted run', async () => {
    const { file, runsDir } = setup();
    const controller = abortAt(450);
    const stopped = await run(file, runsDir, { signal: controller.signal });
    expect(stopped.status).toBe('interrupted');
    expect(stopped.stopReason).toBe('SIGTERM');
    expect(stopped.flushedRows).toBeGreaterThan(450);
    expect(stopped.flushedRows).toBeLessThanOrEqual(500);

    const { run: record, events } = getRun(runsDir, 'r');
    expect(record).toMatchObject({ status: 'interrupted', flushedRows: stopped.flushedRows, owner: undefined });
    expect(events.at(-1)).toMatchObject({ type: 'signal', data: { signal: 'SIGTERM' } });

    hooks.__mmrunTestHook = undefined;
    const started: StartInfo[] = [];
    const resumed = await resumeRun({ runId: 'r', runsDir, onStart: (info) => started.push(info) });
    expect(resumed).toMatchObject({ status: 'completed', startRow: stopped.flushedRows, flushedRows: 1000 });
    expect(started[0]).toMatchObject({ resumed: true, startRow: stopped.flushedRows, seed: 7 });
    expect(rows(resumed.runDir).equals(await reference())).toBe(true);

    const types = getRun(runsDir, 'r').events.map((e) => e.type);
    expect(types.filter((t) => t !== 'flushed')).toEqual(['started', 'signal', 'resumed', 'completed']);
    expect(getRun(runsDir, 'r').run.status).toBe('completed');
  });

  it('several interruptions, across segment boundaries, still give the same bytes', async () => {
    const { file, runsDir } = setup();
    const first = await run(file, runsDir, { signal: abortAt(250).signal });
    expect(first.status).toBe('interrupted');
    const second = await resumeRun({ runId: 'r', runsDir, signal: abortAt(640).signal });
    expect(second.status).toBe('interrupted');
    expect(second.startRow).toBe(first.flushedRows);
    expect(second.flushedRows).toBeGreaterThan(640);
    // A stop that comes with the last row leaves nothing to do: the run completes. (The
    // loop looks at its checkpoints, which may come after any row early in a session.)
    const third = await resumeRun({ runId: 'r', runsDir, signal: abortAt(999).signal });
    expect(third.status).toBe('completed');
    hooks.__mmrunTestHook = undefined;
    expect(rows(third.runDir).equals(await reference())).toBe(true);
  });

  it('an abort from outside a synchronous loop is handled promptly, long before the loop would end', async () => {
    const fast = `export default { columns: { k: 'u1' }, step: (i) => ({ k: i & 0xff }) };`;
    const { file, runsDir } = setup(fast);
    const controller = new AbortController();
    let abortedAt = 0;
    const timer = setTimeout(() => {
      abortedAt = performance.now();
      controller.abort('SIGINT');
    }, 50);
    onTestFinished(() => clearTimeout(timer));
    const result = await run(file, runsDir, {
      iterations: 50_000_000,
      segmentRows: 50_000_000,
      flushEvery: 50_000_000,
      signal: controller.signal,
    });
    const latency = performance.now() - abortedAt;
    expect(result.status).toBe('interrupted');
    expect(result.stopReason).toBe('SIGINT');
    expect(result.flushedRows).toBeLessThan(50_000_000);
    // The loop yields every 25 ms; the bound is loose because the machine is shared. Without
    // yielding, the abort would wait for all 50M iterations (several seconds).
    expect(latency).toBeLessThan(2000);
    const data = rows(result.runDir).subarray(0, result.flushedRows);
    for (let i = 0; i < data.length; i += 9973) expect(data[i]).toBe(i & 0xff);
  });

  it('resuming a completed run is RUN_COMPLETED and changes nothing', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir);
    const before = snapshot(runsDir);
    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('RUN_COMPLETED');
    expect(e.message).toContain("'r'");
    expect(snapshot(runsDir)).toEqual(before);
  });

  it('resuming an unknown run is RUN_NOT_FOUND', async () => {
    const { file, runsDir } = setup();
    expect((await rejected(resumeRun({ runId: 'r', runsDir }))).code).toBe('RUN_NOT_FOUND');
    await run(file, runsDir, { iterations: 5 });
    const e = await rejected(resumeRun({ runId: 'other', runsDir }));
    expect(e.code).toBe('RUN_NOT_FOUND');
    expect(e.message).toContain("'other'");
  });

  it('a run whose owner died (kill -9) shows crashed and resumes to the same bytes', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir, { signal: abortAt(333).signal });
    hooks.__mmrunTestHook = undefined;
    // What a kill -9 leaves behind: 'running', owned by a process that no longer exists.
    const catalog = Catalog.open(runsDir);
    catalog.claim('r', { ...currentOwner(), pid: await deadPid() });
    catalog.close();
    expect(getRun(runsDir, 'r').run.status).toBe('crashed');

    const resumed = await resumeRun({ runId: 'r', runsDir });
    expect(resumed.status).toBe('completed');
    expect(rows(resumed.runDir).equals(await reference())).toBe(true);
    expect(getRun(runsDir, 'r').events.map((e) => e.type)).toContain('crashed');
  });

  it('a run owned by a live process is RUN_LOCKED and changes nothing', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir, { signal: abortAt(333).signal });
    const catalog = Catalog.open(runsDir);
    catalog.claim('r', currentOwner());
    catalog.close();
    const before = snapshot(runsDir);
    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('RUN_LOCKED');
    expect(e.message).toContain(`pid ${process.pid}`);
    expect(snapshot(runsDir)).toEqual(before);
  });
});

describe('resume checks the experiment and the segments first', () => {
  it('an edited experiment is EXPERIMENT_CHANGED; with allowChanged it proceeds and records the change', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir, { signal: abortAt(450).signal });
    hooks.__mmrunTestHook = undefined;
    const oldHash = getRun(runsDir, 'r').run.sourceHash;
    // A code change that leaves the rows alone (a comment alone only warns: see test/fingerprint).
    fs.appendFileSync(file, 'export const edited = true;\n');
    const before = snapshot(runsDir);

    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('EXPERIMENT_CHANGED');
    expect(e.message).toContain(`${path.basename(file)} changed`);
    expect(e.remedy).toContain('--allow-changed');
    expect(snapshot(runsDir)).toEqual(before);

    const resumed = await resumeRun({ runId: 'r', runsDir, allowChanged: true });
    expect(resumed.status).toBe('completed');
    const { run: record, events } = getRun(runsDir, 'r');
    expect(record.sourceHash).toBe(fileHash(file));
    expect(record.sourceHash).not.toBe(oldHash);
    const accepted = events.find((x) => x.type === 'allow-changed')?.data as { changes: string[] };
    expect(accepted.changes).toEqual([`${path.basename(file)} changed`]);
    expect(rows(resumed.runDir).equals(await reference())).toBe(true);
  });

  it('an experiment that now declares another dtype is DTYPE_MISMATCH naming both; nothing written', async () => {
    // Columns come from a global, so the module the process already imported declares new ones.
    const source = `export default {
      get columns() { return globalThis.__mmrunTestColumns ?? { x: 'f8', k: 'u4' }; },
      step(i) { globalThis.__mmrunTestHook?.(i); return { x: i / 2, k: i }; },
    };`;
    const { file, runsDir } = setup(source, 'cols.ts');
    onTestFinished(() => {
      hooks.__mmrunTestColumns = undefined;
    });
    const stopped = await run(file, runsDir, { signal: abortAt(450).signal });
    expect(stopped.status).toBe('interrupted');
    hooks.__mmrunTestColumns = { x: 'f4', k: 'u4' };
    fs.appendFileSync(file, '// x is f4 now\n');
    const before = snapshot(runsDir);

    const e = await rejected(resumeRun({ runId: 'r', runsDir, allowChanged: true }));
    expect(e.code).toBe('DTYPE_MISMATCH');
    expect(e.message).toContain("'x'");
    expect(e.message).toContain('<f4');
    expect(e.message).toContain('<f8');
    expect(snapshot(runsDir)).toEqual(before);
  });

  // In one process too, an edited experiment is re-imported, so its new dtype is noticed.
  it('an experiment file edited to another dtype is DTYPE_MISMATCH on resume', async () => {
    const source =
      "export default { columns: { x: 'f8' }, step(i) { globalThis.__mmrunTestHook?.(i); return { x: i }; } };\n";
    const { file, runsDir } = setup(source, 'edited.ts');
    await run(file, runsDir, { signal: abortAt(450).signal });
    fs.writeFileSync(file, source.replace("'f8'", "'f4'"));
    const e = await rejected(resumeRun({ runId: 'r', runsDir, allowChanged: true }));
    expect(e.code).toBe('DTYPE_MISMATCH');
  });

  it('a truncated segment is SIZE_MISMATCH and nothing is written', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir, { signal: abortAt(650).signal });
    hooks.__mmrunTestHook = undefined;
    const seg = path.join(runsDir, 'r', '000001.npy');
    fs.truncateSync(seg, fs.statSync(seg).size - ITEMSIZE);
    const before = snapshot(runsDir);
    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('SIZE_MISMATCH');
    expect(e.message).toContain('000001.npy');
    expect(snapshot(runsDir)).toEqual(before);
    expect(getRun(runsDir, 'r').run.status).toBe('interrupted');
  });

  it('a missing segment is SEGMENT_MISSING and nothing is written', async () => {
    const { file, runsDir } = setup();
    await run(file, runsDir, { signal: abortAt(650).signal });
    fs.rmSync(path.join(runsDir, 'r', '000000.npy'));
    const before = snapshot(runsDir);
    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('SEGMENT_MISSING');
    expect(e.message).toContain('000000.npy');
    expect(snapshot(runsDir)).toEqual(before);
  });

  it('the segment it would continue in is validated too, even past the flushed rows', async () => {
    const { file, runsDir } = setup();
    // Failing at a segment boundary leaves rows [0, 600) flushed and segment 2 already created.
    const failed = await run(file, runsDir, { params: { failAt: 600 } });
    expect(failed.flushedRows).toBe(600);
    const seg = path.join(runsDir, 'r', '000002.npy');
    expect(fs.existsSync(seg)).toBe(true);
    fs.appendFileSync(seg, Buffer.from([1]));
    const before = snapshot(runsDir);
    const e = await rejected(resumeRun({ runId: 'r', runsDir }));
    expect(e.code).toBe('SIZE_MISMATCH');
    expect(e.message).toContain('000002.npy');
    expect(snapshot(runsDir)).toEqual(before);
  });
});

describe('review findings', () => {
  it('a failure between taking ownership and the loop is recorded as failed, never left running', async () => {
    const { file, runsDir } = setup();
    await expect(
      run(file, runsDir, {
        onStart: () => {
          throw new Error('terminal went away');
        },
      }),
    ).rejects.toThrow('terminal went away');
    expect(getRun(runsDir, 'r').run).toMatchObject({ status: 'failed', owner: undefined });
    const resumeFails = resumeRun({
      runId: 'r',
      runsDir,
      onStart: () => {
        throw new Error('again');
      },
    });
    await expect(resumeFails).rejects.toThrow('again');
    expect(getRun(runsDir, 'r').run).toMatchObject({ status: 'failed', owner: undefined });
    const resumed = await resumeRun({ runId: 'r', runsDir });
    expect(resumed.status).toBe('completed');
  });

  it('a stop that lands on the last iteration leaves the run completed', async () => {
    const { file, runsDir } = setup();
    const controller = new AbortController();
    setHook((i) => {
      if (i === 999) controller.abort('SIGTERM');
    });
    const result = await run(file, runsDir, { signal: controller.signal });
    expect(result).toMatchObject({ status: 'completed', flushedRows: 1000 });
    expect(getRun(runsDir, 'r').run.status).toBe('completed');
  });
});
