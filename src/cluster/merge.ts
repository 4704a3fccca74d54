import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalog, type RangeChecksum, type RunRecord, runLocked } from '../catalog/catalog.ts';
import { currentOwner } from '../catalog/ownership.ts';
import { findRun, getRun } from '../catalog/query.ts';
import { runSpecOf } from '../catalog/records.ts';
import { MmrunError, show } from '../errors.ts';
import { crashPoint } from '../faults.ts';
import { RunRows } from '../read/rows.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { shardRanges } from '../shards.ts';
import { crc32cOf } from '../storage/checksum.ts';
import { layoutOf } from '../storage/dtype.ts';
import { fsyncDir, Segment } from '../storage/segment.ts';
import { SegmentedArray } from '../storage/segmented-array.ts';
import { verifyRun } from '../verify/verify.ts';

/** Options of {@link mergeRuns}. */
export interface MergeOptions {
  /** Runs directories, each holding run `id` as one shard (`run --shard I/N --id <id>`). */
  readonly sources: readonly string[];
  /** The runs directory to create the merged run in. */
  readonly into: string;
  /** The id of the shards' runs, and of the merged run. */
  readonly id: string;
  /**
   * Merge what is there: missing shards and the unflushed rows of unfinished ones are left
   * to compute; the merged run is `interrupted`, and `mmrun resume` finishes it here.
   */
  readonly partial?: boolean;
  /** Called as rows are copied. */
  readonly onProgress?: (copiedRows: number, totalRows: number) => void;
}

/** What {@link mergeRuns} made. */
export interface MergeResult {
  readonly id: string;
  readonly runDir: string;
  readonly status: 'completed' | 'interrupted';
  readonly iterations: number;
  /** Rows copied (flushed rows of every shard present). */
  readonly rows: number;
  readonly shards: number;
  /** Shard indices with no source. */
  readonly missing: readonly number[];
  /** Shard indices present but not completed. */
  readonly unfinished: readonly number[];
  readonly segments: number;
  /** Whether a run an earlier merge of this job left when it stopped (killed, or failed) was replaced. */
  readonly replacedStopped: boolean;
}

interface Source {
  readonly dir: string;
  readonly run: RunRecord;
  readonly index: number;
  /** The shard's first iteration of the job. */
  readonly first: number;
}

const mismatch = (message: string, remedy: string) => new MmrunError('SHARDS_MISMATCH', message, { remedy });

/**
 * Joins the runs of one job split across machines (`run --shard I/N`) into one run whose
 * segments are byte-identical to those of a single run of the same experiment and seed.
 * Every source is checked first — same experiment source, seed, params, columns and job
 * iterations; one run per shard index; completed (unless `partial`); every flushed range's
 * CRC32C — and nothing is written before all checks pass. The merged run is a run with
 * one shard per source (as `--workers N`), so a partial merge resumes where shards stopped.
 */
export async function mergeRuns(options: MergeOptions): Promise<MergeResult> {
  if (options.sources.length === 0) {
    throw new MmrunError('BAD_OPTION', 'merge needs at least one runs directory of a shard', {
      remedy: 'pass the runs directories of the shards: mmrun merge dir0 dir1 … --into DIR --id NAME',
    });
  }
  const sources = options.sources.map((dir) => loadSource(resolveRunsDir(dir), options.id));
  const ref = sources[0]!;
  for (const s of sources.slice(1)) checkSame(ref, s);
  const { count, jobIterations } = ref.run.jobShard!;
  const ranges = shardRanges(jobIterations, count);
  const byIndex = new Map<number, Source>();
  for (const s of sources) {
    const other = byIndex.get(s.index);
    if (other) {
      throw mismatch(`shard ${s.index} of ${count} is in both ${other.dir} and ${s.dir}`, 'pass each shard once');
    }
    const [start, end] = ranges[s.index]!;
    if (s.first !== start || s.run.iterations !== end - start) {
      throw mismatch(
        `${s.dir}: shard ${s.index} holds iterations ${s.first}..${s.first + s.run.iterations} but shard ${s.index} of ${count} is ${start}..${end}`,
        'the shard was made by another version of mmrun or changed; run it again',
      );
    }
    byIndex.set(s.index, s);
  }
  const missing = ranges.map((_, j) => j).filter((j) => !byIndex.has(j));
  const unfinished = sources.filter((s) => s.run.status !== 'completed').map((s) => s.index);
  if (!options.partial && (missing.length > 0 || unfinished.length > 0)) {
    const parts = [
      missing.length > 0 ? `shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${count} missing` : '',
      ...sources
        .filter((s) => s.run.status !== 'completed')
        .map(
          (s) => `shard ${s.index} is ${s.run.status} (${s.run.flushedRows} of ${s.run.iterations} rows, in ${s.dir})`,
        ),
    ].filter(Boolean);
    throw mismatch(`cannot merge '${options.id}': ${parts.join('; ')}`, 'finish those shards, or pass --partial');
  }
  for (const s of sources) {
    const verified = await verifyRun({ runsDir: s.dir, runId: options.id });
    if (verified.firstBad) {
      const bad = verified.firstBad;
      throw new MmrunError(
        'CHECKSUM_MISMATCH',
        `${s.dir}: rows ${bad.startRow}..${bad.endRow} of shard ${s.index} have CRC32C ${bad.actual.toString(16)} but ${bad.expected.toString(16)} was recorded when they were flushed`,
        { remedy: 'run that shard again (or restore it), then merge' },
      );
    }
  }

  // Checks passed: create the merged run. The catalog decides who gets the id.
  const into = resolveRunsDir(options.into);
  const runDir = path.join(into, options.id);
  const replacedStopped = replaceStoppedMerge(into, options.id, ref.run, jobIterations, count);
  if (fs.existsSync(runDir)) {
    throw new MmrunError('RUN_EXISTS', `run '${options.id}' already exists (${runDir}); merge never overwrites a run`, {
      remedy: 'merge into another --into directory, or remove that run first (mmrun rm)',
    });
  }
  const layout = layoutOf(ref.run.columns, `run '${options.id}'`);
  const catalog = Catalog.open(into);
  let created = false;
  try {
    // The run and where it is merged from, in one transaction.
    catalog.atomically(() => {
      catalog.createRun(
        runSpecOf(ref.run, { id: options.id, iterations: jobIterations, workers: count }),
        currentOwner(),
      );
      catalog.addEvent(options.id, 'merged', {
        from: sources.map((s) => ({ shard: s.index, dir: s.dir, status: s.run.status, rows: s.run.flushedRows })),
        missing,
      });
    });
    created = true;
    fs.mkdirSync(runDir, { recursive: true });
    fsyncDir(into);
    const array = new SegmentedArray(
      runDir,
      layout,
      { totalRows: jobIterations, segmentRows: ref.run.segmentRows },
      `run '${options.id}'`,
    );
    // Every segment is written whole (rows nobody computed yet are zeros), fsynced and
    // linked into place; the CRC32C of each shard's piece of it is kept for the catalog.
    const pieces = new Map<number, RangeChecksum[]>();
    const readers = new Map(sources.map((s) => [s.index, RunRows.fromRecord(s.run, s.dir)]));
    const total = sources.reduce((n, s) => n + s.run.flushedRows, 0);
    let copied = 0;
    for (let k = 0; k < array.segmentCount; k++) {
      const segFirst = array.firstRow(k);
      const segEnd = segFirst + array.rowsIn(k);
      Segment.write(array.path(k), array.expectation(k), (fd, dataOffset) => {
        for (const s of sources) {
          // The rows of this segment that shard s has on disk, in job rows.
          const from = Math.max(segFirst, s.first);
          const to = Math.min(segEnd, s.first + s.run.flushedRows);
          if (from >= to) continue;
          let crc = 0;
          for (const chunk of readers.get(s.index)!.chunks(from - s.first, to - s.first)) {
            const at = dataOffset + (s.first + chunk.firstRow - segFirst) * layout.itemsize;
            for (let done = 0; done < chunk.data.length; ) {
              done += fs.writeSync(fd, chunk.data, done, chunk.data.length - done, at + done);
            }
            crc = crc32cOf(chunk.data, crc);
            copied += chunk.rows;
            options.onProgress?.(copied, total);
          }
          const list = pieces.get(s.index) ?? [];
          list.push({ startRow: from, endRow: to, crc32c: crc });
          pieces.set(s.index, list);
        }
      });
    }
    // Only now, with every segment durable, does the catalog claim the rows — all of them
    // and the run's status in one transaction, so a merge killed before has claimed none.
    const status = missing.length === 0 && unfinished.length === 0 ? 'completed' : 'interrupted';
    catalog.atomically(() => {
      for (const s of sources) {
        const list = pieces.get(s.index) ?? [];
        for (const [n, piece] of list.entries()) {
          const state = n === list.length - 1 ? shardState(s) : null;
          catalog.checkpointShard(options.id, s.index, piece.endRow, state, piece);
        }
      }
      crashPoint('merge-point'); // a SIGKILL here rolls every claim back
      catalog.finish(options.id, status, {
        type: status === 'completed' ? 'completed' : 'signal',
        data: status === 'completed' ? { rows: jobIterations } : { signal: 'merge --partial', missing, unfinished },
      });
    });
    return {
      id: options.id,
      runDir,
      status,
      iterations: jobIterations,
      rows: copied,
      shards: count,
      missing,
      unfinished,
      segments: array.segmentCount,
      replacedStopped,
    };
  } catch (error) {
    try {
      if (created)
        catalog.finish(options.id, 'failed', { type: 'failed', data: { message: (error as Error).message } });
    } catch {
      // The disk may be full: the run then shows as crashed, which is also true.
    }
    throw error;
  } finally {
    catalog.close();
  }
}

/**
 * Removes the run `id` of `into` (record and directory) if it is what a merge of this job
 * left when it stopped: made by a merge (a `merged` event), its owner gone (`crashed`) or
 * `failed`, no row claimed — a merge claims its rows and records its end in one transaction,
 * so such a run holds nothing the shards do not — and the same job (experiment, sha256,
 * seed, iterations, shards). Whether it did. A live merge of it is RUN_LOCKED; any other
 * run of that id is left for the caller to refuse.
 */
function replaceStoppedMerge(into: string, id: string, ref: RunRecord, jobIterations: number, shards: number): boolean {
  const found = findRun(into, id);
  if (!found?.events.some((e) => e.type === 'merged')) return false;
  const { run } = found;
  if (run.status === 'running') throw runLocked(run, 'wait for that merge to finish, or stop it, then merge again');
  const stopped =
    (run.status === 'crashed' || run.status === 'failed') &&
    run.doneRows === 0 &&
    run.experiment === ref.experiment &&
    run.sourceHash === ref.sourceHash &&
    run.seed === ref.seed &&
    run.iterations === jobIterations &&
    run.workers === shards;
  if (!stopped) return false;
  const catalog = Catalog.open(into, { create: false });
  try {
    catalog.deleteRun(id);
  } finally {
    catalog.close();
  }
  fs.rmSync(path.join(into, id), { recursive: true, force: true });
  fsyncDir(into);
  return true;
}

/** A shard's run, checked to be a shard that nobody is writing. */
function loadSource(dir: string, id: string): Source {
  const { run } = getRun(dir, id);
  if (!run.jobShard) {
    throw mismatch(
      `run '${id}' in ${dir} is not a shard of a job (it was not started with --shard I/N)`,
      'merge the runs made with `mmrun run … --shard I/N --id NAME`',
    );
  }
  if (run.status === 'running') throw runLocked(run, 'wait for that shard to finish (or stop it), then merge');
  if (run.workers > 1 && run.flushedRows !== run.doneRows) {
    throw mismatch(
      `shard ${run.jobShard.index} in ${dir} ran with --workers ${run.workers} and has rows past a gap (${run.doneRows} flushed, ${run.flushedRows} contiguous)`,
      `finish it first: mmrun resume ${id} --runs-dir ${dir}`,
    );
  }
  return { dir, run, index: run.jobShard.index, first: run.jobShard.firstIteration };
}

/** Refuses a shard that does not belong to the same job as the first one. */
function checkSame(ref: Source, s: Source): void {
  const fields: [string, unknown, unknown][] = [
    ['experiment', ref.run.experiment, s.run.experiment],
    ['experiment source (sha256)', ref.run.sourceHash, s.run.sourceHash],
    ['seed', ref.run.seed, s.run.seed],
    ['params', JSON.stringify(ref.run.params), JSON.stringify(s.run.params)],
    ['dtype', ref.run.dtype, s.run.dtype],
    ['job iterations', ref.run.jobShard!.jobIterations, s.run.jobShard!.jobIterations],
    ['shard count', ref.run.jobShard!.count, s.run.jobShard!.count],
    ['segment rows', ref.run.segmentRows, s.run.segmentRows],
  ];
  for (const [what, a, b] of fields) {
    if (a !== b) {
      throw mismatch(
        `the shards do not belong together: ${what} is ${show(a)} in ${ref.dir} but ${show(b)} in ${s.dir}`,
        'merge only the shards of one job (same experiment, seed, params, iterations and --shard N)',
      );
    }
  }
}

/** The experiment state a shard saved with its last checkpoint (null for none or no state). */
function shardState(s: Source): Buffer | null {
  if (s.run.workers > 1) return null;
  const catalog = Catalog.open(s.dir, { create: false });
  try {
    return catalog.latestState(s.run.id);
  } finally {
    catalog.close();
  }
}
