import * as path from 'node:path';
import pino from 'pino';
import { Catalog } from '../catalog/catalog.ts';
import { MmrunError } from '../errors.ts';
import { loadExperiment } from '../experiment/load.ts';
import { CounterRng } from '../experiment/rng.ts';
import { makeContext, wholeRun } from '../runner/context.ts';
import { resolveRunsDir } from '../runner/run.ts';
import { decodeState } from '../runner/state.ts';
import { crc32cOf } from '../storage/checksum.ts';
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
  readonly flushedRows: number;
  /** Flushed ranges checked (each with the CRC32C committed when it was flushed). */
  readonly ranges: number;
  readonly bytes: number;
  /** Rows of [0, flushedRows) no checksum covers (runs from before checksums existed). */
  readonly uncoveredRows: number;
  /** The first range whose bytes no longer match their checksum. */
  readonly firstBad: BadRange | undefined;
  readonly recomputed:
    | { readonly method: 'stateless' | 'checkpoints'; readonly rows: number; readonly mismatches: readonly number[] }
    | undefined;
  readonly ok: boolean;
}

/**
 * Checks a run's flushed rows: recomputes the CRC32C of every flushed range sequentially
 * (read-only mappings) and, with `recompute`, re-runs stored iterations and compares bytes.
 * Stateless experiments are re-run at iterations spread over the run; stateful ones from
 * the retained checkpoints (the state of iteration i exists only there).
 */
export async function verifyRun(options: VerifyOptions): Promise<VerifyResult> {
  const runsDir = resolveRunsDir(options.runsDir);
  const catalog = Catalog.open(runsDir, { create: false });
  try {
    const run = catalog.getRun(options.runId);
    const layout = layoutOf(run.columns, `run '${run.id}'`);
    const array = new SegmentedArray(
      path.join(runsDir, run.id),
      layout,
      { totalRows: run.iterations, segmentRows: run.segmentRows },
      `run '${run.id}'`,
    );
    array.validateUpTo(run.flushedRows);
    const reader = new SegmentReader(array);

    let covered = 0;
    let bytes = 0;
    let firstBad: BadRange | undefined;
    const ranges = catalog.checksums(run.id).filter((r) => r.endRow <= run.flushedRows);
    for (const range of ranges) {
      const actual = reader.crc(range.startRow, range.endRow);
      covered += range.endRow - range.startRow;
      bytes += (range.endRow - range.startRow) * layout.itemsize;
      if (actual !== range.crc32c && !firstBad) firstBad = { ...range, expected: range.crc32c, actual };
    }

    let recomputed: VerifyResult['recomputed'];
    const k = options.recompute ?? 0;
    if (k > 0 && run.flushedRows > 0) {
      const loaded = await loadExperiment(run.experimentPath);
      if (loaded.sourceHash !== run.sourceHash && !options.allowChanged) {
        throw new MmrunError('EXPERIMENT_CHANGED', `${loaded.path} changed since run '${run.id}' began`, {
          remedy: 'restore the original source, or pass --allow-changed to recompute with the new one',
        });
      }
      const rng = new CounterRng(run.seed);
      const ctx = makeContext(
        run.params as Record<string, number | string | boolean>,
        run.seed,
        run.id,
        pino({ level: 'silent' }),
        rng,
        wholeRun(run.iterations),
      );
      const scratch = Buffer.alloc(layout.itemsize);
      const write = compileRowWriter(layout).bind(scratch);
      const mismatches: number[] = [];
      const check = async (i: number) => {
        rng.reset(i);
        write(await loaded.experiment.step(i, ctx), i, 0);
        if (!scratch.equals(reader.row(i))) mismatches.push(i);
      };
      if (!loaded.experiment.init) {
        const rows = Math.min(k, run.flushedRows);
        for (let n = 0; n < rows; n++) await check(Math.floor(((n + 0.5) * run.flushedRows) / rows));
        recomputed = { method: 'stateless', rows, mismatches };
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
        recomputed = { method: 'checkpoints', rows, mismatches };
      }
    }
    return {
      id: run.id,
      flushedRows: run.flushedRows,
      ranges: ranges.length,
      bytes,
      uncoveredRows: run.flushedRows - covered,
      firstBad,
      recomputed,
      ok: !firstBad && (recomputed?.mismatches.length ?? 0) === 0,
    };
  } finally {
    catalog.close();
  }
}

/** Sequential reads over a run's segments, keeping the current one mapped. */
class SegmentReader {
  readonly #array: SegmentedArray;
  #k = -1;
  #segment: Segment | undefined;

  constructor(array: SegmentedArray) {
    this.#array = array;
  }

  #bytes(startRow: number, endRow: number): Buffer {
    const k = this.#array.segmentOf(startRow);
    if (k !== this.#k) {
      this.#segment = this.#array.openForRead(k);
      this.#k = k;
    }
    const first = this.#array.firstRow(k);
    const size = this.#array.layout.itemsize;
    return this.#segment!.data.subarray((startRow - first) * size, (endRow - first) * size);
  }

  /** CRC32C of rows [startRow, endRow), across segments if need be. */
  crc(startRow: number, endRow: number): number {
    let crc = 0;
    for (let row = startRow; row < endRow; ) {
      const k = this.#array.segmentOf(row);
      const stop = Math.min(endRow, this.#array.firstRow(k) + this.#array.rowsIn(k));
      crc = crc32cOf(this.#bytes(row, stop), crc);
      row = stop;
    }
    return crc;
  }

  row(i: number): Buffer {
    return this.#bytes(i, i + 1);
  }
}
