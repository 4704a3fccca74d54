// `mmrun merge <results> --sweep --id S`: gathers the point runs a job array computed
// (cluster.ts: `<results>/points/<i>/`, one runs directory per task) into one sweep of a
// runs directory, as if `mmrun sweep` had computed them there.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalog, type RunRecord, runLocked } from '../catalog/catalog.ts';
import { currentOwner } from '../catalog/ownership.ts';
import { runSpecOf } from '../catalog/records.ts';
import { type PointRecord, SweepCatalog, type SweepRecord } from '../catalog/sweeps.ts';
import { MmrunError, show } from '../errors.ts';
import { crashPoint, delayPoint } from '../faults.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { fsyncDir } from '../storage/segment.ts';
import { verifyRun } from '../verify/verify.ts';
import { localRun, planFile, pointCopyDir, readSweepPlan, type SweepPlanFile } from './cluster.ts';

/** Options of {@link mergeSweep}. */
export interface MergeSweepOptions {
  /** The results directory of `mmrun slurm --sweep` (plan, `points/<i>/`). */
  readonly results: string;
  /** The sweep's id. */
  readonly id: string;
  /** The runs directory to create the sweep in. */
  readonly into: string;
  /**
   * Gather what is there: missing points are recorded as never started and unfinished ones
   * as they stopped, and `mmrun resume <sweep>` computes them here.
   */
  readonly partial?: boolean;
  /** Called after each point is gathered. */
  readonly onProgress?: (merged: number, total: number) => void;
}

/** What {@link mergeSweep} made. */
export interface MergeSweepResult {
  readonly id: string;
  readonly into: string;
  readonly status: 'completed' | 'interrupted';
  readonly points: number;
  readonly completed: number;
  /** Indices of points with no run in the results. */
  readonly missing: readonly number[];
  /** Indices of points whose run is there but not completed. */
  readonly unfinished: readonly number[];
  /**
   * Points an earlier merge of this sweep into `into` had recorded before it stopped (it was
   * killed, or failed): this merge continued it and did not copy them again. 0 for a new merge.
   */
  readonly mergedBefore: number;
}

interface Found {
  readonly index: number;
  readonly dir: string;
  readonly run: RunRecord;
}

const mismatch = (message: string, remedy: string) => new MmrunError('SWEEP_MISMATCH', message, { remedy });

/**
 * Gathers a sweep computed as a job array into one sweep in `into`: the sweep record with
 * its spec and every point, and each point's run — its segments and files copied, its
 * checksums and last state recorded — so `show`, `stats`, `export`, `plot` and `resume` of
 * the sweep work as on a sweep computed here. Every point run is checked first (it is the
 * planned point: experiment source, seed, params, iterations; not running; every flushed
 * range's CRC32C), and so is the target (no sweep or run of those ids); nothing is written
 * before all checks pass. A missing or unfinished point is refused unless `partial`.
 * @throws MmrunError SWEEP_INCOMPLETE, SWEEP_MISMATCH, CHECKSUM_MISMATCH, RUN_EXISTS, RUN_LOCKED, RUN_NOT_FOUND
 */
export async function mergeSweep(options: MergeSweepOptions): Promise<MergeSweepResult> {
  const results = path.resolve(options.results);
  const plan = readSweepPlan(planFile(results, options.id));
  if (plan.id !== options.id) {
    throw mismatch(
      `${planFile(results, options.id)} plans sweep '${plan.id}', not '${options.id}'`,
      'pass --id of the plan',
    );
  }
  const found: Found[] = [];
  const missing: number[] = [];
  for (const [index, point] of plan.points.entries()) {
    const dir = pointCopyDir(results, index);
    const run = localRun(dir, point.runId);
    if (!run) missing.push(index);
    else found.push({ index, dir, run: checkPoint(plan, index, dir, run) });
  }
  const unfinished = found.filter((f) => f.run.status !== 'completed');
  if (!options.partial && (missing.length > 0 || unfinished.length > 0)) {
    const parts = [
      missing.length > 0
        ? `point${missing.length > 1 ? 's' : ''} ${listed(missing)} of ${plan.points.length} not in ${path.join(results, 'points')}`
        : '',
      ...unfinished.map(
        (f) =>
          `point ${f.index} (${f.run.id}) is ${f.run.status} (${f.run.flushedRows} of ${f.run.iterations} rows, in ${f.dir})`,
      ),
    ].filter(Boolean);
    throw new MmrunError('SWEEP_INCOMPLETE', `cannot merge sweep '${plan.id}': ${parts.join('; ')}`, {
      remedy:
        'wait for those tasks (or sbatch the script again to run them), or pass --partial and finish them here with `mmrun resume <sweep-id>`',
    });
  }
  for (const f of found) {
    const verified = await verifyRun({ runsDir: f.dir, runId: f.run.id });
    if (verified.firstBad) {
      const bad = verified.firstBad;
      throw new MmrunError(
        'CHECKSUM_MISMATCH',
        `${f.dir}: rows ${bad.startRow}..${bad.endRow} of point ${f.index} (${f.run.id}) have CRC32C ${bad.actual.toString(16)} but ${bad.expected.toString(16)} was recorded when they were flushed`,
        { remedy: 'compute that point again (remove its copy and sbatch the task again), or merge with --partial' },
      );
    }
  }

  // Checks passed. The sweep and its point ids must be free in the target — unless an
  // earlier merge of this very plan stopped there (killed, or failed), which this continues.
  const into = resolveRunsDir(options.into);
  const exists = (what: string) =>
    new MmrunError('RUN_EXISTS', `${what} already exists in ${into}; merge never overwrites`, {
      remedy: `merge into another --into directory, or continue that sweep there with \`mmrun resume ${plan.id}\``,
    });
  const earlier = SweepCatalog.isSweep(into, plan.id);
  if (!earlier) {
    for (const id of [plan.id, ...plan.points.map((p) => p.runId)]) {
      if (fs.existsSync(path.join(into, id))) throw exists(`'${id}' (${path.join(into, id)})`);
    }
  }
  const store = SweepCatalog.open(into);
  try {
    const owner = currentOwner();
    // Points already recorded in the target by the merge this one continues.
    let done = new Set<string>();
    if (earlier) {
      done = stoppedMerge(store, plan, into, exists);
      store.claim(plan.id, owner); // RUN_LOCKED while that merge still runs
    } else {
      // One transaction: the sweep and all its points, every id checked free.
      store.createSweep(
        {
          id: plan.id,
          experiment: plan.experiment,
          experimentPath: plan.experimentPath,
          sourceHash: plan.sourceHash,
          spec: plan.spec as unknown as Record<string, unknown>,
        },
        plan.points,
        owner,
      );
    }
    let merged = done.size;
    try {
      for (const f of found) {
        if (done.has(f.run.id)) continue;
        await delayPoint('merge-point');
        importRun(store.runs, f, into);
        options.onProgress?.(++merged, found.length);
      }
    } catch (error) {
      // The sweep stays (its gathered points with it); merging again continues it.
      store.finish(plan.id, 'failed', `${MERGE_STOPPED}${(error as Error).message}`);
      throw error;
    }
    const complete = missing.length === 0 && unfinished.length === 0;
    store.finish(
      plan.id,
      complete ? 'completed' : 'interrupted',
      complete ? undefined : `merged with --partial: ${missing.length} missing, ${unfinished.length} unfinished`,
    );
    return {
      id: plan.id,
      into,
      status: complete ? 'completed' : 'interrupted',
      points: plan.points.length,
      completed: found.length - unfinished.length,
      missing,
      unfinished: unfinished.map((f) => f.index),
      mergedBefore: done.size,
    };
  } finally {
    store.close();
  }
}

/** How a merge that failed part-way records its sweep's error. */
const MERGE_STOPPED = 'merge stopped: ';

/**
 * The target's sweep of the plan's id, when it is what a merge of this plan left when it
 * stopped — killed (its owner is gone: `crashed`) or failed — with the ids of the point runs
 * it had recorded; anything else of that id is refused with RUN_EXISTS (`exists`), nothing
 * changed. Clears what a killed merge left unrecorded: a point's copy renamed into place
 * before its transaction committed, and its temporary copies. Every point run is imported in
 * one transaction, so a recorded one is whole.
 */
function stoppedMerge(
  store: SweepCatalog,
  plan: SweepPlanFile,
  into: string,
  exists: (what: string) => MmrunError,
): Set<string> {
  const sweep = store.getSweep(plan.id);
  const points = store.points(plan.id);
  const stopped =
    sweep.status === 'crashed' ||
    sweep.status === 'running' || // still merging, or its owner is gone: claim() decides
    (sweep.status === 'failed' && (sweep.error ?? '').startsWith(MERGE_STOPPED));
  if (!stopped || !samePlan(sweep, points, plan)) throw exists(`sweep '${plan.id}'`);
  const done = new Set<string>();
  for (const p of points) {
    if (p.status === 'pending') continue;
    // A merged point is recorded with its status in one transaction: never running.
    const merged = store.runs.events(p.runId).some((e) => e.type === 'merged') && p.status !== 'running';
    if (!merged) throw exists(`run '${p.runId}' (point ${p.idx} of sweep '${plan.id}', ${p.status}, not merged)`);
    done.add(p.runId);
  }
  if (sweep.status === 'running') return done; // claim() refuses a live merge before anything is cleared
  const unrecorded = new Set(points.filter((p) => !done.has(p.runId)).map((p) => p.runId));
  for (const name of fs.readdirSync(into)) {
    const temporary = /^\.(.+)\.merging-\d+$/.exec(name);
    if (unrecorded.has(name) || (temporary && unrecorded.has(temporary[1]!))) {
      fs.rmSync(path.join(into, name), { recursive: true, force: true });
    }
  }
  return done;
}

/** Whether a sweep record and its points are the plan's: same experiment, spec and points. */
function samePlan(sweep: SweepRecord, points: readonly PointRecord[], plan: SweepPlanFile): boolean {
  return (
    sweep.experiment === plan.experiment &&
    sweep.sourceHash === plan.sourceHash &&
    JSON.stringify(sweep.spec) === JSON.stringify(plan.spec) &&
    points.length === plan.points.length &&
    points.every((p, k) => {
      const q = plan.points[k]!;
      return p.runId === q.runId && p.seed === q.seed && JSON.stringify(p.params) === JSON.stringify(q.params);
    })
  );
}

/** Refuses a point run that is live, or is not the point the plan says. */
function checkPoint(plan: SweepPlanFile, index: number, dir: string, run: RunRecord): RunRecord {
  if (run.status === 'running') throw runLocked(run, 'wait for that task to finish (or stop it), then merge');
  const point = plan.points[index]!;
  const paramsDiffer = Object.entries(point.params).find(([k, v]) => run.params[k] !== v);
  const fields: [string, unknown, unknown][] = [
    ['experiment', plan.experiment, run.experiment],
    ['experiment source (sha256)', plan.sourceHash, run.sourceHash],
    ['seed', point.seed, run.seed],
    ['iterations', plan.spec.iterations, run.iterations],
    ...(paramsDiffer
      ? [[`param ${paramsDiffer[0]}`, paramsDiffer[1], run.params[paramsDiffer[0]]] as [string, unknown, unknown]]
      : []),
    ['shard', undefined, run.jobShard === undefined ? undefined : `${run.jobShard.index}/${run.jobShard.count}`],
  ];
  for (const [what, want, got] of fields) {
    if (want !== got) {
      throw mismatch(
        `point ${index} of sweep '${plan.id}': ${what} is ${show(got)} in ${dir} but the plan says ${show(want)}`,
        'that directory holds another run of that id; compute the point again from the plan (remove the copy, sbatch the task again)',
      );
    }
  }
  return run;
}

/**
 * Copies one point run into the target: its directory (fsynced, then renamed into place),
 * then — only with every file durable — its record (with the source's fingerprint),
 * checksums, last state and status, in one transaction. Killed before that commits, the
 * target holds a directory no record names (the next merge replaces it), never a record of
 * files that are not all there.
 */
function importRun(catalog: Catalog, f: Found, into: string): void {
  const { run } = f;
  const source = Catalog.open(f.dir, { create: false });
  let checksums: ReturnType<Catalog['checksums']>;
  let state: Buffer | null;
  let fingerprint: string | undefined;
  try {
    checksums = source.checksums(run.id);
    state = source.latestState(run.id);
    fingerprint = source.fingerprint(run.id);
  } finally {
    source.close();
  }
  const runDir = path.join(into, run.id);
  const tmp = path.join(into, `.${run.id}.merging-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  const from = path.join(f.dir, run.id);
  if (fs.existsSync(from)) fs.cpSync(from, tmp, { recursive: true });
  else fs.mkdirSync(tmp);
  fsyncTree(tmp);
  fs.renameSync(tmp, runDir);
  fsyncDir(into);
  catalog.atomically(() => recordRun(catalog, f, checksums, state, fingerprint));
}

/** The point run's record, events, checkpoints and status (inside one transaction). */
function recordRun(
  catalog: Catalog,
  f: Found,
  checksums: ReturnType<Catalog['checksums']>,
  state: Buffer | null,
  fingerprint: string | undefined,
): void {
  const { run } = f;
  catalog.createRun(runSpecOf(run, fingerprint === undefined ? {} : { fingerprint }), currentOwner());
  catalog.addEvent(run.id, 'merged', {
    from: f.dir,
    point: f.index,
    status: run.status,
    rows: run.flushedRows,
  });
  // The flushed ranges as the task committed them; the last one carries the state.
  const ranges = checksums.filter((c) => c.endRow <= run.flushedRows);
  const last = ranges.at(-1);
  for (const c of ranges) {
    if (c !== last) catalog.checkpoint(run.id, c.endRow, null, c);
  }
  catalog.checkpoint(run.id, run.flushedRows, state, last?.endRow === run.flushedRows ? last : undefined);
  crashPoint('merge-point'); // a SIGKILL here rolls the whole point back
  if (run.status === 'completed') {
    catalog.finish(run.id, 'completed', { type: 'completed', data: { rows: run.flushedRows } });
  } else if (run.status === 'failed') {
    catalog.finish(
      run.id,
      'failed',
      { type: 'failed', data: { message: run.error ?? 'failed', merged: true } },
      {
        message: run.error ?? 'failed on the cluster',
        ...(run.errorIteration === undefined ? {} : { iteration: run.errorIteration }),
      },
    );
  } else {
    catalog.finish(run.id, 'interrupted', { type: 'signal', data: { signal: 'merge --partial', was: run.status } });
  }
}

/** fsyncs every file and directory under `dir`, and `dir`. */
function fsyncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(entry.parentPath, entry.name);
    if (entry.isDirectory()) fsyncDir(p);
    else if (entry.isFile()) {
      const fd = fs.openSync(p, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  fsyncDir(dir);
}

const listed = (xs: readonly number[]) => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')} …` : xs.join(', '));
