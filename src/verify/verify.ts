import * as path from 'node:path';
import pino from 'pino';
import { Catalog, type RangeChecksum, type RunRecord, type RunStatus } from '../catalog/catalog.ts';
import { CatalogReader, OlderSchema } from '../catalog/read-only.ts';
import { loadExperiment } from '../experiment/load.ts';
import { CounterRng } from '../experiment/rng.ts';
import { checkCode } from '../fingerprint/check.ts';
import { callInit, makeContext, runShard } from '../runner/context.ts';
import { decodeState } from '../runner/state.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import { checksumRows } from '../storage/checksum.ts';
import { layoutOf } from '../storage/dtype.ts';
import { compileRowWriter } from '../storage/row-writer.ts';
import type { Segment } from '../storage/segment.ts';
import { SegmentedArray } from '../storage/segmented-array.ts';

export interface VerifyOptions {
  readonly runId: string;
  /** @default $MMRUN_RUNS_DIR, else ./runs */
  readonly runsDir?: string;
  /** Re-run this many stored iterations from a fresh context and compare bytes. @default 0 */
  readonly recompute?: number;
  /** Recompute even though the experiment's source changed since the run began. */
  readonly allowChanged?: boolean;
}

export interface BadRange {
  readonly startRow: number;
  readonly endRow: number;
  readonly expected: number;
  readonly actual: number;
}

export interface VerifyResult {
  readonly id: string;
  /**
   * The run's status when verify read it; a `running` run is verified as of that snapshot
   * (its rows [0, flushedRows) and each shard's flushed rows then).
   */
  readonly status: RunStatus;
  readonly flushedRows: number;
  /** Flushed ranges checked (each with the CRC32C committed when it was flushed). */
  readonly ranges: number;
  readonly bytes: number;
  /** Flushed rows no checksum covers (runs from before checksums existed). */
  readonly uncoveredRows: number;
  /** The first range whose bytes no longer match their checksum. */
  readonly firstBad: BadRange | undefined;
  readonly recomputed:
    | {
        readonly method: 'stateless' | 'checkpoints' | 'shard-starts';
        readonly rows: number;
        readonly mismatches: readonly number[];
        /**
         * What changed in the run's code since it was written (accepted with
         * `allowChanged`): mismatches may then come from the change, not from damaged bytes.
         */
        readonly codeChanges: readonly string[];
      }
    | undefined;
  readonly ok: boolean;
}

/** The row index of the n-th flushed row, counting shard after shard. */
function nthFlushedRow(parts: readonly { startRow: number; flushedRows: number }[], n: number): number {
  let left = n;
  for (const part of parts) {
    const rows = part.flushedRows - part.startRow;
    if (left < rows) return part.startRow + left;
    left -= rows;
  }
  throw new RangeError(`there are fewer than ${n + 1} flushed rows`);
}

/**
 * Checks a run's flushed rows: recomputes the CRC32C of every flushed range sequentially
 * (read-only mappings) and, with `recompute`, re-runs stored iterations and compares bytes.
 * Stateless experiments are re-run at iterations spread over the run; stateful ones from
 * the retained checkpoints (the state of iteration i exists only there).
 */
export async function verifyRun(options: VerifyOptions): Promise<VerifyResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  const catalog = openCatalog(runsDir);
  try {
    const { run, checksums } = catalog.read(options.runId);
    const layout = layoutOf(run.columns, `run '${run.id}'`);
    const array = new SegmentedArray(
      path.join(runsDir, run.id),
      layout,
      { totalRows: run.iterations, segmentRows: run.segmentRows },
      `run '${run.id}'`,
    );
    // The rows on disk: [0, flushedRows), or each shard's flushed rows of a sharded run.
    const parts =
      run.workers > 1 ? run.shards : [{ shard: 0, startRow: 0, endRow: run.iterations, flushedRows: run.flushedRows }];
    for (const part of parts) array.validateRange(part.startRow, part.flushedRows);
    const reader = new SegmentReader(array);

    let covered = 0;
    let bytes = 0;
    let firstBad: BadRange | undefined;
    const ranges = checksums.filter((r) =>
      parts.some((part) => part.startRow <= r.startRow && r.endRow <= part.flushedRows),
    );
    for (const range of ranges) {
      const actual = reader.crc(range.startRow, range.endRow);
      covered += range.endRow - range.startRow;
      bytes += (range.endRow - range.startRow) * layout.itemsize;
      if (actual !== range.crc32c && !firstBad) firstBad = { ...range, expected: range.crc32c, actual };
    }

    let recomputed: VerifyResult['recomputed'];
    const k = options.recompute ?? 0;
    if (k > 0 && run.doneRows > 0) {
      const loaded = await loadExperiment(run.experimentPath);
      // The code that wrote the rows against the code now: a change refuses (unless allowed)
      // and, allowed, is reported beside the mismatches so that they are not taken for damage.
      const code = checkCode(
        run.id,
        { fingerprint: catalog.fingerprint(run.id), sourceHash: run.sourceHash },
        loaded,
        options.allowChanged === true,
      );
      const codeChanges = code.fatal.map((c) => c.message);
      const rng = new CounterRng(run.seed);
      const ctx = makeContext(
        run.params as Record<string, number | string | boolean>,
        run.seed,
        run.id,
        pino({ level: 'silent' }),
        rng,
        runShard(run.iterations, run.jobShard),
      );
      const scratch = Buffer.alloc(layout.itemsize);
      const write = compileRowWriter(layout).bind(scratch);
      const mismatches: number[] = [];
      // A job shard (`run --shard I/N`) stores iteration offset + i in row i.
      const offset = run.jobShard?.firstIteration ?? 0;
      const check = async (i: number, c = ctx) => {
        rng.reset(i + offset);
        write(await loaded.experiment.step(i + offset, c), i + offset, 0);
        if (!scratch.equals(reader.row(i))) mismatches.push(i);
      };
      if (!loaded.experiment.init) {
        // Rows spread evenly over every flushed row (the n-th row on disk, shard after shard).
        const rows = Math.min(k, run.doneRows);
        for (let n = 0; n < rows; n++) await check(nthFlushedRow(parts, Math.floor(((n + 0.5) * run.doneRows) / rows)));
        recomputed = { method: 'stateless', rows, mismatches, codeChanges };
      } else if (run.workers > 1) {
        // Only each shard's latest state is kept: replay a share of K rows from each start.
        const started = parts.filter((part) => part.flushedRows > part.startRow);
        let rows = 0;
        for (const [n, part] of started.entries()) {
          const share = Math.ceil((k - rows) / (started.length - n));
          const shard = {
            index: part.shard,
            count: parts.length,
            firstRow: offset + part.startRow,
            endRow: offset + part.endRow,
          };
          const shardCtx = { ...ctx, shard };
          shardCtx.state = await callInit(loaded, shardCtx);
          const stop = Math.min(part.flushedRows, part.startRow + share);
          for (let i = part.startRow; i < stop; i++, rows++) await check(i, shardCtx);
        }
        recomputed = { method: 'shard-starts', rows, mismatches, codeChanges };
      } else {
        // Resume from each retained checkpoint and replay a share of the K rows after it.
        const starts = catalog.checkpoints(run.id).filter((c) => c.flushedRows < run.flushedRows);
        let rows = 0;
        for (const [n, c] of starts.entries()) {
          const share = Math.ceil((k - rows) / (starts.length - n));
          ctx.state = decodeState(c.state);
          const stop = Math.min(run.flushedRows, c.flushedRows + share);
          for (let i = c.flushedRows; i < stop; i++, rows++) await check(i);
        }
        recomputed = { method: 'checkpoints', rows, mismatches, codeChanges };
      }
    }
    return {
      id: run.id,
      status: run.status,
      flushedRows: run.flushedRows,
      ranges: ranges.length,
      bytes,
      uncoveredRows: run.doneRows - covered,
      firstBad,
      recomputed,
      ok: !firstBad && (recomputed?.mismatches.length ?? 0) === 0,
    };
  } finally {
    catalog.close();
  }
}

/**
 * The catalog as verify reads it: read-only, the run and its checksums in one read
 * transaction (a live writer is never blocked). A catalog of an older schema, which no
 * writer of this version has opened, is opened the ordinary way (that migrates it).
 */
function openCatalog(runsDir: string): {
  read(id: string): { run: RunRecord; checksums: RangeChecksum[] };
  checkpoints(id: string): { flushedRows: number; state: Buffer | null }[];
  fingerprint(id: string): string | undefined;
  close(): void;
} {
  try {
    const reader = CatalogReader.open(runsDir);
    return {
      read: (id) => reader.readRunWithChecksums(id),
      checkpoints: (id) => reader.checkpoints(id),
      fingerprint: (id) => reader.fingerprint(id),
      close: () => reader.close(),
    };
  } catch (error) {
    if (!(error instanceof OlderSchema)) throw error;
  }
  const catalog = Catalog.open(runsDir, { create: false });
  return {
    read: (id) => ({ run: catalog.getRun(id), checksums: catalog.checksums(id) }),
    checkpoints: (id) => catalog.checkpoints(id),
    fingerprint: (id) => catalog.fingerprint(id),
    close: () => catalog.close(),
  };
}

/** Sequential reads over a run's segments, keeping the current one mapped. */
class SegmentReader {
  readonly #array: SegmentedArray;
  #k = -1;
  #segment: Segment | undefined;

  constructor(array: SegmentedArray) {
    this.#array = array;
  }

  #open(k: number): Segment {
    if (k !== this.#k) {
      this.#segment = this.#array.openForRead(k);
      this.#k = k;
    }
    return this.#segment!;
  }

  #bytes(startRow: number, endRow: number): Buffer {
    const k = this.#array.segmentOf(startRow);
    const segment = this.#open(k);
    const first = this.#array.firstRow(k);
    const size = this.#array.layout.itemsize;
    return segment.data.subarray((startRow - first) * size, (endRow - first) * size);
  }

  /** CRC32C of rows [startRow, endRow), across segments if need be. */
  crc(startRow: number, endRow: number): number {
    return checksumRows(this.#array, startRow, endRow, (k) => this.#open(k));
  }

  row(i: number): Buffer {
    return this.#bytes(i, i + 1);
  }
}
