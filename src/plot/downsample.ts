import { countNonFinite, type NonFinite, noNonFinite } from './values.ts';

/**
 * Reduces a series of `rows` values to `columns` pixel columns in one sequential pass and
 * O(columns) memory, keeping for each column the first, minimum, maximum and last finite
 * value (the M4 aggregation). Drawing those four points per column as one polyline gives
 * exactly the pixels a line through every value would light: the column's full vertical
 * extent, and the join to its neighbours. No spike is ever lost, however many rows share a
 * pixel. Non-finite values are skipped and counted.
 *
 * Column `c` holds rows [ceil(c·rows/columns), ceil((c+1)·rows/columns)): row `r` is in
 * column floor(r·columns/rows). With fewer rows than columns, each row is its own column.
 * @example
 * const d = new MinMaxDownsampler(1_000_000, 800);
 * d.push(values, values.length); // repeatedly, rows in order
 * d.max[d.columnOf(123_456)];     // the largest value of that row's pixel column
 */
export class MinMaxDownsampler {
  readonly rows: number;
  readonly columns: number;
  /** Per column; NaN where the column has no finite value. */
  readonly first: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly last: Float64Array;
  /** Finite values per column. */
  readonly count: Float64Array;
  readonly skipped: NonFinite = noNonFinite();
  // Rows pushed so far; the next value pushed is row #next.
  #next = 0;
  // The column row #next falls in, and the first row of the column after it.
  #column = 0;
  #boundary: number;

  constructor(rows: number, columns: number) {
    if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError(`rows must be an integer >= 0, got ${rows}`);
    if (!Number.isSafeInteger(columns) || columns < 1) {
      throw new RangeError(`columns must be an integer >= 1, got ${columns}`);
    }
    if (rows * columns > Number.MAX_SAFE_INTEGER) throw new RangeError(`${rows} rows × ${columns} columns is too many`);
    this.rows = rows;
    this.columns = Math.max(1, Math.min(columns, rows));
    this.first = new Float64Array(this.columns).fill(Number.NaN);
    this.min = new Float64Array(this.columns).fill(Number.NaN);
    this.max = new Float64Array(this.columns).fill(Number.NaN);
    this.last = new Float64Array(this.columns).fill(Number.NaN);
    this.count = new Float64Array(this.columns);
    this.#boundary = this.startOf(1);
  }

  /** The column that holds row `row`. */
  columnOf(row: number): number {
    return Math.floor((row * this.columns) / this.rows);
  }

  /** First row of column `c` (`rows` for c = columns). Exact while rows·columns < 2^53. */
  startOf(c: number): number {
    return Math.ceil((c * this.rows) / this.columns);
  }

  /** Adds the next `n` rows' values, in row order. */
  push(values: Float64Array, n: number): void {
    if (this.#next + n > this.rows) throw new RangeError(`pushing ${n} rows after ${this.#next} exceeds ${this.rows}`);
    const { first, min, max, last, count } = this;
    let c = this.#column;
    let boundary = this.#boundary;
    let row = this.#next;
    for (let i = 0; i < n; i++, row++) {
      while (row >= boundary) boundary = this.startOf(++c + 1);
      const v = values[i]!;
      if (v - v !== 0) {
        countNonFinite(v, this.skipped);
        continue;
      }
      if (count[c] === 0) {
        first[c] = v;
        min[c] = v;
        max[c] = v;
      } else if (v < min[c]!) {
        min[c] = v;
      } else if (v > max[c]!) {
        max[c] = v;
      }
      last[c] = v;
      count[c] = count[c]! + 1;
    }
    this.#next = row;
    this.#column = c;
    this.#boundary = boundary;
  }
}
