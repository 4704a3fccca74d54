// Resuming a run: every check first (the catalog, the experiment's code and dtype, the
// segments and their last checksums), then the claim, then a session from the flushed rows.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import {
  Catalog,
  type RangeChecksum,
  RESUME_LATER,
  type RunRecord,
  runCompleted,
  runLocked,
} from '../catalog/catalog.ts';
import { currentOwner } from '../catalog/ownership.ts';
import { requireCatalog } from '../catalog/query.ts';
import { MmrunError } from '../errors.ts';
import type { ParamValue } from '../experiment/define.ts';
import { type LoadedExperiment, loadExperiment } from '../experiment/load.ts';
import { CounterRng } from '../experiment/rng.ts';
import { crashPoint } from '../faults.ts';
import { type CodeCheck, checkCode } from '../fingerprint/check.ts';
import { writeSnapshot } from '../fingerprint/sources.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { checksumRows } from '../storage/checksum.ts';
import { layoutOf } from '../storage/dtype.ts';
import { describeLayoutMismatch, removeSegmentTemporaries, rowsInHeader } from '../storage/segment.ts';
import { SegmentedArray } from '../storage/segmented-array.ts';
import { callInit, makeContext, runShard } from './context.ts';
import { normalizeFlushPolicy } from './flush-policy.ts';
import { openRunLog } from './log.ts';
import { loopInThisThread } from './loop-engine.ts';
import { checkExtension, type ResumeOptions } from './options.ts';
import { drive, type Engine, owned } from './session.ts';
import type { RunResult } from './session-types.ts';
import { workersPerShard } from './shards.ts';
import { decodeState } from './state.ts';

/**
 * Continues a run from its last flushed row, after checking that the experiment and the
 * segments on disk are the ones the catalog describes. Nothing is written before every
 * check has passed.
 */
export async function resumeRun(options: ResumeOptions): Promise<RunResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  const id = options.runId;
  requireCatalog(runsDir, id);
  const catalog = options.shared?.catalog ?? Catalog.open(runsDir);
  try {
    const before = catalog.getRun(id);
    const extendTo = checkExtension(before, options.iterations);
    const extending = extendTo !== undefined && extendTo > before.iterations;
    preflight(before, extending);
    const shared = options.shared?.loaded;
    const loaded =
      shared && shared.path === before.experimentPath ? shared : await loadExperiment(before.experimentPath);
    // Every module it imports, the packages' versions, Node's and mmrun's: fatal changes
    // refuse (unless accepted), the others warn; either is recorded once the run is ours.
    const code = checkCode(
      id,
      { fingerprint: catalog.fingerprint(id), sourceHash: before.sourceHash },
      loaded,
      options.allowChanged === true,
    );
    for (const warning of code.warnings) options.onWarning?.(warning.message);
    const runLayout = layoutOf(before.columns, `run '${id}'`);
    const mismatch = describeLayoutMismatch(
      loaded.layout,
      runLayout,
      `experiment '${loaded.name}'`,
      `run '${id}' (created with dtype ${before.dtype})`,
    );
    if (mismatch) {
      throw new MmrunError('DTYPE_MISMATCH', mismatch, {
        remedy: 'resume with the experiment version that created the run, or start a new run',
      });
    }
    const runDir = path.join(runsDir, id);
    const totalRows = extending ? extendTo : before.iterations;
    const array = new SegmentedArray(runDir, runLayout, { totalRows, segmentRows: before.segmentRows }, `run '${id}'`);
    // After an extension, the segment that held the old last row must grow; it may still
    // have its old size if this is the extension itself or a crash came before the growth.
    // A growth left pending by an earlier extension (a crash before it) comes first.
    const growing =
      pendingGrowth(array, catalog.extendedFrom(id)) ??
      (extending ? pendingGrowth(array, before.iterations) : undefined);
    checkSegments(catalog, array, before, totalRows);

    const run = catalog.claim(id, currentOwner(), {
      extendTo,
      expect: { flushedRows: before.flushedRows, iterations: before.iterations },
    });
    const policy = normalizeFlushPolicy({ every: run.flushEvery, intervalSeconds: run.flushInterval });
    const resumed = {
      id,
      runDir,
      experiment: loaded.name,
      seed: run.seed,
      iterations: run.iterations,
      startRow: run.flushedRows,
      resumed: true,
    };
    // From here the run is ours: a failure before the session is recorded, never left `running`.
    const { log, engine } = await owned(catalog, id, async (): Promise<{ log: Logger; engine: Engine }> => {
      if (growing !== undefined) {
        crashPoint('extend');
        array.grow(growing);
      }
      fs.mkdirSync(runDir, { recursive: true });
      recordCode(catalog, id, runDir, code, loaded.sourceHash);
      removeSegmentTemporaries(runDir);
      const log = openRunLog(runDir, { run: id });
      const shards = run.workers > 1 ? { shards: run.shards.map((shard) => shard.flushedRows) } : {};
      log.info({ event: 'resumed', from: run.flushedRows, ...shards, previousStatus: before.status }, 'run resumed');
      const engine = run.workers > 1 ? workersPerShard(loaded) : await continueLoop(loaded, run, log, catalog);
      options.onStart?.(resumed);
      return { log, engine };
    });
    return await drive({ run, runDir, store: catalog, array, log, policy, hooks: options }, engine);
  } finally {
    if (!options.shared) catalog.close();
  }
}

/** The loop in this thread, from the run's last checkpoint: its state, else `init`'s. */
async function continueLoop(loaded: LoadedExperiment, run: RunRecord, log: Logger, catalog: Catalog): Promise<Engine> {
  const rng = new CounterRng(run.seed);
  const params = run.params as Record<string, ParamValue>;
  const ctx = makeContext(params, run.seed, run.id, log, rng, runShard(run.iterations, run.jobShard));
  const saved = catalog.latestState(run.id);
  ctx.state = saved === null ? await callInit(loaded, ctx) : decodeState(saved);
  return loopInThisThread(loaded, ctx, rng);
}

/** Refusals that need no lock: the claim re-checks them atomically. */
function preflight(run: RunRecord, extending: boolean): void {
  if (run.status === 'completed' && !extending) throw runCompleted(run);
  if (run.status === 'running' && run.owner) throw runLocked(run, RESUME_LATER);
}

/**
 * Every segment holding flushed rows, and each segment a loop continues in if it exists
 * already, must be valid; the last range each loop flushed must still have its checksum.
 */
function checkSegments(catalog: Catalog, array: SegmentedArray, run: RunRecord, totalRows: number): void {
  const parts = run.workers > 1 ? run.shards : [{ startRow: 0, endRow: totalRows, flushedRows: run.flushedRows }];
  for (const part of parts) {
    array.validateRange(part.startRow, part.flushedRows);
    if (part.flushedRows < part.endRow) array.validateIfPresent(array.segmentOf(part.flushedRows));
  }
  for (const part of parts) {
    const last = part.flushedRows > part.startRow ? catalog.checksumEndingAt(run.id, part.flushedRows) : undefined;
    if (last) checkLastRange(array, run.id, last);
  }
}

/** Refuses to continue after rows whose bytes changed since they were flushed. */
function checkLastRange(array: SegmentedArray, id: string, last: RangeChecksum): void {
  const crc = checksumRows(array, last.startRow, last.endRow);
  if (crc !== last.crc32c) {
    throw new MmrunError(
      'CHECKSUM_MISMATCH',
      `rows ${last.startRow}..${last.endRow} of run '${id}' have CRC32C ${crc.toString(16)} but the catalog recorded ${last.crc32c.toString(16)} when they were flushed`,
      {
        remedy: `the segment was changed on disk; \`mmrun verify ${id}\` shows the first bad range; restore it from a backup or start a new run`,
      },
    );
  }
}

/**
 * Finds the segment an extension from `fromRows` iterations leaves to grow — it still has
 * the row count it had under the old iteration count — and tells the array to expect that
 * size on disk until it is grown.
 */
function pendingGrowth(array: SegmentedArray, fromRows: number | undefined): number | undefined {
  if (fromRows === undefined || fromRows <= 0) return undefined;
  const k = array.segmentOf(fromRows - 1);
  const oldRows = Math.min(array.geometry.segmentRows, fromRows - array.firstRow(k));
  if (oldRows === array.rowsIn(k) || rowsInHeader(array.path(k)) !== oldRows) return undefined;
  array.expectSizeOnDisk(k, oldRows);
  return k;
}

/**
 * Records what `resume` found about the run's code: an accepted fatal change (event
 * `allow-changed`, with both fingerprints) or warnings only (event `code-warning`); either
 * way the run's fingerprint and source snapshot become the code that runs now.
 */
function recordCode(catalog: Catalog, id: string, runDir: string, code: CodeCheck, sourceHash: string): void {
  if (!code.update) return;
  const messages = [...code.fatal, ...code.warnings].map((c) => c.message);
  if (code.fatal.length > 0) catalog.acceptCodeChange(id, messages, code.before, code.identity.json, sourceHash);
  else
    catalog.recordCodeChange(id, code.identity.json, sourceHash, { type: 'code-warning', data: { changes: messages } });
  writeSnapshot(runDir, code.identity.snapshot);
}
