// The reading side of `mmrun stats`: a thread claims batches of rows from a shared counter,
// reads each front to back and keeps partial aggregates for the main thread to merge.
//
// The scanned rows (the run's flushed ranges, concatenated) are cut into fixed blocks of
// BLOCK_ROWS rows and units of `unitRows` rows; a batch is a run of whole units. Each unit
// is summarised from scratch, so what a unit yields does not depend on which thread read it
// or where the chunks of a read ended, and the main thread merges units in row order: the
// result is the same, bit for bit, for any number of threads and any claiming order.
import type { RunRows } from '../read/rows.ts';
import { type NumericArray, readElement, type StridedColumn, stridedColumn } from '../read/strided.ts';
import { DTYPE_SIZE, type ScalarDtype } from '../storage/dtype.ts';
import type { Segment } from '../storage/segment.ts';
import {
  B_MAX,
  B_MIN,
  B_N,
  B_NAN,
  B_NEG_INF,
  B_POS_INF,
  B_S,
  B_S2,
  B_SHIFT,
  HISTOGRAM,
  type HistogramKernel,
  histogramKernel,
  type MomentKernel,
  momentKernel,
  STATE,
} from './kernels.ts';
import { addBlock, clearRecord, MAX, MIN, NAN, NEG_INF, POS_INF, RECORD } from './moments.ts';
import { samplePositions } from './quantiles.ts';

/** Rows per block of shifted sums: small enough that a block stays in cache across columns. */
export const BLOCK_ROWS = 1024;

/** A column as the scan reads it. */
export interface ScanColumn {
  readonly fieldIndex: number;
  /** First element of the field read, and elements per row from it. */
  readonly elements: number;
  readonly element: number;
  readonly dtype: ScalarDtype;
  /** Elements of the column over all scanned rows, for the sample's strata. */
  readonly totalElements: number;
  /** Elements per stratum of the sample (1: every value). */
  readonly stratum: number;
}

/** What every thread reads from: the same for all of them. */
export interface ScanPlan {
  readonly columns: readonly ScanColumn[];
  /** The run's flushed ranges [start, end); scanned rows are these, concatenated. */
  readonly ranges: ReadonlyArray<readonly [number, number]>;
  /** Scanned rows in all. */
  readonly rows: number;
  /** Rows per unit, a multiple of {@link BLOCK_ROWS}. */
  readonly unitRows: number;
  /** Units per batch (the last batch may have fewer). */
  readonly batchUnits: number;
  readonly batches: number;
  readonly chunkBytes: number;
}

/** What one batch yielded. */
export interface BatchResult {
  readonly batch: number;
  /** Per column: one aggregate record per unit of the batch, in order (empty for a histogram column). */
  readonly units: Float64Array[];
  /** Per column: the sampled values of the batch that are not NaN (empty for a histogram column). */
  readonly samples: Float64Array[];
}

/** What one thread yielded. */
export interface ThreadResult {
  readonly batches: BatchResult[];
  /** Per column: its histogram of the thread's batches, or null for a moments column. */
  readonly histograms: (Float64Array | null)[];
}

/** Fields of the shared control array (an Int32Array over a SharedArrayBuffer). */
export const CTL_NEXT = 0; // the next batch to claim
export const CTL_STOP = 1; // non-zero: claim nothing more
/** Int32 slots before the per-batch owner slots (thread index + 1, written on claiming). */
export const CTL_OWNERS = 2;

/** Rows of batch `b`: [vStart, vEnd) among the scanned rows. */
export function batchRows(plan: ScanPlan, b: number): { vStart: number; vEnd: number } {
  const rowsPerBatch = plan.batchUnits * plan.unitRows;
  return { vStart: b * rowsPerBatch, vEnd: Math.min(plan.rows, (b + 1) * rowsPerBatch) };
}

/** Scanned rows [vStart, vEnd) as pieces of run rows [rowStart, rowEnd), with the scanned index of each start. */
export function piecesOf(
  ranges: ReadonlyArray<readonly [number, number]>,
  vStart: number,
  vEnd: number,
): { rowStart: number; rowEnd: number; vStart: number }[] {
  const pieces: { rowStart: number; rowEnd: number; vStart: number }[] = [];
  let v = 0;
  for (const [start, end] of ranges) {
    const from = Math.max(vStart, v);
    const to = Math.min(vEnd, v + (end - start));
    if (from < to) pieces.push({ rowStart: start + (from - v), rowEnd: start + (to - v), vStart: from });
    v += end - start;
  }
  return pieces;
}

interface MomentColumn {
  readonly kind: 'moments';
  readonly column: ScanColumn;
  // Kernels indexed by aligned ? 1 : 0, resolved once (a lookup per call would build a key).
  readonly fast: readonly [MomentKernel, MomentKernel];
  readonly careful: readonly [MomentKernel, MomentKernel];
  // Blocks left to read with the careful kernel straight away: after the fast one declined,
  // the next blocks likely hold NaN too (the two give the same bits on finite values).
  carefulFor: number;
  // The current unit and block: see kernels.ts.
  readonly state: Float64Array;
  // The batch being read: its unit records, sampled positions, the next position to take
  // and the sampled values taken.
  units: Float64Array;
  positions: Float64Array;
  next: number;
  sample: Float64Array;
  sampled: number;
}

interface HistogramColumn {
  readonly kind: 'histogram';
  readonly column: ScanColumn;
  readonly kernels: readonly [HistogramKernel, HistogramKernel];
  // Over every batch this thread read.
  readonly counts: Float64Array;
}

const EMPTY = new Float64Array(0);
const CAREFUL_BLOCKS = 16;

function resetUnit(state: Float64Array): void {
  state.fill(0);
  state[B_SHIFT] = Number.NaN;
  state[B_MIN] = Number.POSITIVE_INFINITY;
  state[B_MAX] = Number.NEGATIVE_INFINITY;
}

/** Reads batches for one thread; histograms add up over all of them. */
export class Scanner {
  readonly #source: RunRows;
  readonly #plan: ScanPlan;
  readonly #columns: (MomentColumn | HistogramColumn)[];
  readonly #batches: BatchResult[] = [];
  // Segments this thread has mapped: each is mapped once, however many batches it holds.
  readonly #segments = new Map<number, Segment>();

  constructor(source: RunRows, plan: ScanPlan) {
    this.#source = source;
    this.#plan = plan;
    this.#columns = plan.columns.map((column) => {
      const { dtype } = column;
      const vector = column.elements > 1;
      const histogram = HISTOGRAM[dtype];
      if (histogram) {
        return {
          kind: 'histogram',
          column,
          kernels: [histogramKernel(dtype, false, vector), histogramKernel(dtype, true, vector)],
          counts: new Float64Array(histogram.bins),
        };
      }
      const state = new Float64Array(STATE);
      resetUnit(state);
      return {
        kind: 'moments',
        column,
        fast: [momentKernel(dtype, false, vector, false), momentKernel(dtype, true, vector, false)],
        careful: [momentKernel(dtype, false, vector, true), momentKernel(dtype, true, vector, true)],
        carefulFor: 0,
        state,
        units: EMPTY,
        positions: EMPTY,
        next: 0,
        sample: EMPTY,
        sampled: 0,
      };
    });
  }

  /**
   * Claims batches from `control` (see CTL_*) until none is left or a stop is asked for,
   * reading each; `thread` is recorded as each claimed batch's owner. `onRows` is told of
   * every chunk read.
   */
  claimAll(control: Int32Array, thread: number, onRows?: (rows: number) => void): void {
    for (;;) {
      if (Atomics.load(control, CTL_STOP) !== 0) return;
      const b = Atomics.add(control, CTL_NEXT, 1);
      if (b >= this.#plan.batches) return;
      Atomics.store(control, CTL_OWNERS + b, thread + 1);
      this.read(b, onRows);
    }
  }

  /** Reads batch `b` (units from scratch) and keeps what it yields. */
  read(b: number, onRows?: (rows: number) => void): void {
    const plan = this.#plan;
    const { unitRows } = plan;
    const { vStart, vEnd } = batchRows(plan, b);
    const firstUnit = vStart / unitRows;
    const unitCount = Math.ceil((vEnd - vStart) / unitRows);
    for (const c of this.#columns) {
      if (c.kind !== 'moments') continue;
      c.units = new Float64Array(unitCount * RECORD);
      for (let u = 0; u < unitCount; u++) clearRecord(c.units, u * RECORD);
      const L = c.column.elements;
      c.positions = samplePositions(vStart * L, vEnd * L, c.column.totalElements, c.column.stratum);
      c.next = 0;
      c.sample = new Float64Array(c.positions.length);
      c.sampled = 0;
    }
    const { layout } = this.#source;
    const fields = layout.fields;
    const columns = this.#columns;
    for (const piece of piecesOf(plan.ranges, vStart, vEnd)) {
      for (const chunk of this.#source.chunks(piece.rowStart, piece.rowEnd, plan.chunkBytes, this.#segments)) {
        const v0 = piece.vStart + (chunk.firstRow - piece.rowStart);
        const views = columns.map((c) => stridedColumn(chunk.data, layout, fields[c.column.fieldIndex]!));
        for (let r = 0; r < chunk.rows; ) {
          const v = v0 + r;
          const blockEnd = (Math.floor(v / BLOCK_ROWS) + 1) * BLOCK_ROWS;
          const n = Math.min(chunk.rows - r, blockEnd - v);
          for (let c = 0; c < columns.length; c++) scanRows(columns[c]!, views[c]!, r, n);
          r += n;
          const end = v + n;
          if (end === blockEnd || end === vEnd) {
            const unit = Math.floor(v / unitRows) - firstUnit;
            const unitDone = end % unitRows === 0 || end === vEnd;
            for (const c of columns) {
              if (c.kind !== 'moments') continue;
              closeBlock(c, unit);
              if (unitDone) closeUnit(c, unit);
            }
          }
        }
        for (let c = 0; c < columns.length; c++) {
          const col = columns[c]!;
          if (col.kind === 'moments') takeSamples(col, views[c]!, v0, chunk.rows);
        }
        onRows?.(chunk.rows);
      }
    }
    this.#batches.push({
      batch: b,
      units: columns.map((c) => (c.kind === 'moments' ? c.units : EMPTY)),
      samples: columns.map((c) => (c.kind === 'moments' ? c.sample.slice(0, c.sampled) : EMPTY)),
    });
  }

  /** Everything read so far. */
  result(): ThreadResult {
    return {
      batches: this.#batches,
      histograms: this.#columns.map((c) => (c.kind === 'histogram' ? c.counts : null)),
    };
  }
}

/** Feeds rows [r, r + n) of a chunk's column to the column's kernel. */
function scanRows(c: MomentColumn | HistogramColumn, view: StridedColumn, r: number, n: number): void {
  const { element, elements } = c.column;
  let a: NumericArray | DataView;
  let p: number;
  let stride: number;
  if (view.aligned) {
    a = view.array;
    stride = view.stride;
    p = r * stride + element;
  } else {
    a = view.view;
    stride = view.byteStride;
    p = view.byteOffset + r * stride + element * DTYPE_SIZE[c.column.dtype];
  }
  const k = view.aligned ? 1 : 0;
  if (c.kind === 'histogram') {
    c.kernels[k](a, p, stride, n, elements, c.counts);
  } else if (c.carefulFor > 0) {
    c.carefulFor--;
    c.careful[k](a, p, stride, n, elements, c.state);
  } else if (!c.fast[k](a, p, stride, n, elements, c.state)) {
    c.carefulFor = CAREFUL_BLOCKS;
    c.careful[k](a, p, stride, n, elements, c.state);
  }
}

/** Adds the block's shifted sums to its unit's record; the block's mean becomes the next shift. */
function closeBlock(c: MomentColumn, unit: number): void {
  const st = c.state;
  const n = st[B_N]!;
  if (n > 0) {
    const shift = st[B_SHIFT]!;
    addBlock(c.units, unit * RECORD, n, shift, st[B_S]!, st[B_S2]!);
    st[B_SHIFT] = shift + st[B_S]! / n;
  }
  st[B_N] = 0;
  st[B_S] = 0;
  st[B_S2] = 0;
}

/** Writes the unit's counts, min and max into its record; the next unit starts afresh. */
function closeUnit(c: MomentColumn, unit: number): void {
  const st = c.state;
  const at = unit * RECORD;
  c.units[at + NAN] = st[B_NAN]!;
  c.units[at + POS_INF] = st[B_POS_INF]!;
  c.units[at + NEG_INF] = st[B_NEG_INF]!;
  c.units[at + MIN] = st[B_MIN]!;
  c.units[at + MAX] = st[B_MAX]!;
  resetUnit(st);
}

/** Takes the sampled positions that fall in this chunk (scanned rows v0 …). */
function takeSamples(c: MomentColumn, view: StridedColumn, v0: number, rows: number): void {
  const { elements, element, dtype } = c.column;
  const end = (v0 + rows) * elements;
  const positions = c.positions;
  while (c.next < positions.length && positions[c.next]! < end) {
    const at = positions[c.next++]! - v0 * elements;
    const r = Math.floor(at / elements);
    const e = element + (at - r * elements);
    const x = view.aligned
      ? view.array[r * view.stride + e]!
      : readElement(view.view, view.byteOffset + r * view.byteStride + e * DTYPE_SIZE[dtype], dtype);
    if (!Number.isNaN(x)) c.sample[c.sampled++] = x;
  }
}
