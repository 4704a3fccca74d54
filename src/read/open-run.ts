import type { RunRecord } from '../catalog/catalog.ts';
import { LingeringCatalogReader } from '../catalog/read-only.ts';
import { MmrunError } from '../errors.ts';
import { resolveRunsDir } from '../runs-dir.ts';
import type { ColumnsSpec, RowLayout } from '../storage/dtype.ts';
import { ChainPages } from '../storage/paging/pages.ts';
import type { Segment } from '../storage/segment.ts';
import {
  type ColumnView,
  compileRows,
  fieldOf,
  makeColumnView,
  type ReadRow,
  type ReadValue,
  type SegmentView,
  segmentView,
} from './columns.ts';
import { type FlushedRangeOf, type FollowOptions, followRun } from './follow.ts';
import { RunRows } from './rows.ts';

export type { ColumnView, ReadRow, ReadValue, SegmentView };

/** Options of {@link openRun}. */
export interface OpenRunOptions {
  /**
   * Where runs live.
   * @default $MMRUN_RUNS_DIR, else ./runs
   */
  readonly runsDir?: string;
}

/** A range of rows newly flushed, and a snapshot that holds it (see {@link RunReader.follow}). */
export type FlushedRange<C extends ColumnsSpec = ColumnsSpec> = FlushedRangeOf<RunReader<C>>;

/**
 * Opens a run's flushed rows [0, flushedRows) for reading in place: every segment holding
 * them is validated (magic, dtype, shape, size) and mapped read-only (mode `r`); nothing is
 * copied or read until it is used. A run that is still being written can be read: only the
 * rows flushed when it was opened are visible.
 *
 * mmap-io has no munmap: a mapping is released when the garbage collector frees the last
 * Buffer or typed array over it. {@link RunReader.close} drops the reader's own references;
 * views you took from it keep their segment mapped while you hold them.
 *
 * Pass the experiment's `columns` type for typed values:
 * @example
 * import walk from './experiments/walk.ts';
 * const reader = openRun<typeof walk.columns>('walk-1');
 * const position = reader.column('position');   // ColumnView<number>
 * let max = -Infinity;
 * for (const x of position) if (x > max) max = x;
 * for (const row of reader.rows()) if (row.hit) console.log(row.steps);
 * reader.close();
 * @throws MmrunError `RUN_NOT_FOUND`, or a segment's validation error.
 */
export function openRun<C extends ColumnsSpec = ColumnsSpec>(
  runId: string,
  options: OpenRunOptions = {},
): RunReader<C> {
  const runsDir = resolveRunsDir(options.runsDir);
  return new RunReader<C>(RunRows.open(runsDir, runId), runsDir);
}

/**
 * A snapshot of a run's flushed rows, mapped read-only. Made by {@link openRun}.
 *
 * The snapshot is the flushed index read in one read transaction of the catalog (opened
 * read-only, and closed again at once) and the rows [0, flushedRows) of the segments,
 * which the writer never changes again; for a sharded run, also each shard's flushed rows
 * ({@link flushedRanges}). Holding a snapshot holds no lock: the writer goes on, and
 * {@link refresh} or {@link follow} give newer snapshots.
 */
export class RunReader<C extends ColumnsSpec = ColumnsSpec> {
  /** The run as the catalog knew it when opened. */
  readonly run: RunRecord;
  /** The runs directory the run was read from. */
  readonly runsDir: string;
  readonly layout: RowLayout;
  /** Rows that can be read: the run's flushed index when it was opened. */
  readonly length: number;
  /**
   * Rows that can be read (the same as {@link length}): the contiguous prefix [0, flushedRows)
   * on disk when the snapshot was taken.
   */
  readonly flushedRows: number;
  /**
   * Every range of rows on disk in this snapshot, `[start, end)` in row order: `[0,
   * flushedRows)` for a run of one worker; for a sharded run each shard's flushed prefix
   * (neighbours joined). {@link rangeSegments} maps any of them.
   */
  readonly flushedRanges: ReadonlyArray<readonly [number, number]>;
  /** Whether the run was being written when the snapshot was taken (status `running`). */
  readonly live: boolean;
  /** Column names, in the run's order. */
  readonly columns: readonly string[];
  // The segments holding rows [0, length), in row order; emptied by close().
  #segments: SegmentView[];
  // Rows per segment (the last may hold fewer): segment k holds rows from k * #segmentRows.
  readonly #segmentRows: number;
  // Set by close(): every later use throws.
  #closed = false;
  #rowsOf: ((segments: readonly SegmentView[]) => Generator<ReadRow<C>, void, undefined>) | undefined;
  readonly #source: RunRows;
  // Read-only mappings of segments, shared by this snapshot and those refresh() and follow()
  // make from it: a segment is validated and mapped once, not at every poll.
  readonly #mapped: Map<number, Segment>;
  // The catalog connection refresh() reads through, shared along the chain likewise.
  readonly #catalog: LingeringCatalogReader;
  // Drops the chain's pages of rows older than its previous snapshot (see ChainPages).
  readonly #chainPages: ChainPages;

  /** @internal Use {@link openRun}. */
  constructor(
    source: RunRows,
    runsDir: string,
    mapped: Map<number, Segment> = new Map(),
    catalog: LingeringCatalogReader = new LingeringCatalogReader(runsDir),
    chainPages: ChainPages = new ChainPages(source.run.segmentRows, source.layout.itemsize),
  ) {
    this.#mapped = mapped;
    this.#catalog = catalog;
    this.#chainPages = chainPages;
    this.run = source.run;
    this.runsDir = runsDir;
    this.#source = source;
    this.layout = source.layout;
    this.length = source.flushedRows;
    this.flushedRows = source.flushedRows;
    this.flushedRanges = source.flushedRanges;
    this.live = source.run.status === 'running';
    this.columns = source.layout.fields.map((f) => f.name);
    this.#segmentRows = source.run.segmentRows;
    this.#segments = source
      .segments(0, source.flushedRows, mapped)
      .map((s) => segmentView(s, source.layout, source.run.id));
    chainPages.advance(source.flushedRows, mapped);
  }

  /**
   * A view of one column over all flushed rows.
   * @throws MmrunError `UNKNOWN_COLUMN` listing the run's columns.
   */
  column<K extends keyof C & string>(name: K): ColumnView<ReadValue<C[K]>> {
    const field = fieldOf(this.layout, name, this.run.id);
    const parts = this.#open().map((s) => s.column(name));
    return makeColumnView(field, parts, this.length, this.#segmentRows) as ColumnView<ReadValue<C[K]>>;
  }

  /**
   * Every flushed row in order, as a new plain object per row (`{ position: 1.5, hit: true,
   * features: Float32Array(16) }`; vectors as for {@link ColumnView.get}), so rows may be
   * kept. A reused cursor object (one getter per column) was measured and is no faster:
   * 7–15 M rows/s against 14–22 M for plain objects (4 f8 columns; V8 allocates short-lived
   * objects cheaply, and a generator's cost dominates either way). For a scan of millions of
   * rows, {@link column} or {@link segments} is several times faster.
   */
  rows(): Generator<ReadRow<C>, void, undefined> {
    this.#rowsOf ??= compileRows<C>(this.layout);
    return this.#rowsOf(this.#open());
  }

  /**
   * The flushed rows segment by segment, with each column as a typed array and a stride:
   * the fastest way to read, with no call per value.
   */
  segments(): readonly SegmentView[] {
    return this.#open();
  }

  /**
   * The segments holding rows [start, end) of this snapshot, each cut to that range: for a
   * sharded run, a range of {@link flushedRanges} beyond the contiguous prefix.
   * @throws RangeError if the range is not within one of {@link flushedRanges}.
   */
  rangeSegments(start: number, end: number): readonly SegmentView[] {
    this.#open();
    return this.#source.segments(start, end, this.#mapped).map((s) => segmentView(s, this.layout, this.run.id));
  }

  /**
   * A new snapshot of the same run, at least as new as this one (the writer never takes
   * a flushed row back). This one stays valid. The chain's pages of rows this snapshot
   * held are dropped from this process (never the data: reading them again faults them
   * back in), so a follower does not keep the writer's flushed pages in memory; see
   * {@link ChainPages}.
   * @example
   * let r = openRun('walk-1');
   * while (r.live) { await sleep(1000); r = r.refresh(); console.log(r.flushedRows); }
   */
  refresh(): RunReader<C> {
    const run = this.#catalog.readRun(this.run.id);
    return this.#successor(run);
  }

  /**
   * Follows the run as the writer commits: yields each newly flushed range of rows with
   * a snapshot that holds it, and ends once the run is no longer running (completed,
   * interrupted, failed or crashed; with `untilCompleted`, only completed or failed). The catalog is polled cheaply (`PRAGMA data_version`
   * on one read-only connection; a run is re-read only after a commit) and no read
   * transaction is held between polls.
   * @example
   * for await (const { start, end, snapshot } of openRun('walk-1').follow()) {
   *   for (const seg of snapshot.rangeSegments(start, end)) total += seg.rows;
   * }
   */
  follow(options: FollowOptions = {}): AsyncGenerator<FlushedRange<C>, void, undefined> {
    return followRun(this, (run) => this.#successor(run), options);
  }

  /** A newer snapshot on this chain's mappings, catalog connection and read-behind. */
  #successor(run: RunRecord): RunReader<C> {
    const source = RunRows.fromRecord(run, this.runsDir);
    return new RunReader<C>(source, this.runsDir, this.#mapped, this.#catalog, this.#chainPages);
  }

  /**
   * Drops the reader's references to its mappings; the reader cannot be used afterwards.
   * There is no munmap: each mapping is released once nothing (no view or value taken from
   * it) refers to it and the garbage collector runs.
   */
  close(): void {
    this.#segments = [];
    this.#mapped.clear();
    this.#catalog.close();
    this.#rowsOf = undefined;
    this.#closed = true;
  }

  #open(): SegmentView[] {
    if (this.#closed) {
      throw new MmrunError('BAD_OPTION', `the reader of run '${this.run.id}' is closed`, {
        remedy: 'open the run again with openRun()',
      });
    }
    return this.#segments;
  }
}
