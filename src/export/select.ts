import { MmrunError, show } from '../errors.ts';
import type { Field, RowLayout } from '../storage/dtype.ts';

/** Rows to export, like a Python slice without a step: negative counts from the end. */
export interface RowRange {
  /** First row (inclusive). @default 0 */
  readonly start?: number;
  /** Row after the last (exclusive). @default every flushed row */
  readonly end?: number;
}

const INDEX = /^[+-]?\d(?:_?\d)*$/;
const RANGE_REMEDY =
  'write START:END like a Python slice, END excluded: 1000:2000, :500 (the first 500), -100: (the last 100), 10:-10';

/**
 * Parses `START:END` (either side may be empty; `_` groups digits).
 * @throws MmrunError `BAD_ROW_RANGE` naming the text.
 * @example
 * parseRowRange('1_000:2_000'); // { start: 1000, end: 2000 }
 * parseRowRange('-10:');        // { start: -10 }
 */
export function parseRowRange(text: string): RowRange {
  const parts = text.split(':');
  const bad = (why: string) =>
    new MmrunError('BAD_ROW_RANGE', `--rows ${show(text)} is not a row range: ${why}`, { remedy: RANGE_REMEDY });
  if (parts.length !== 2) {
    throw bad(parts.length === 1 ? 'it has no ":"' : 'a step (START:END:STEP) is not supported');
  }
  const [start, end] = parts.map((part, i) => {
    const t = part.trim();
    if (t === '') return undefined;
    if (!INDEX.test(t)) throw bad(`${i === 0 ? 'START' : 'END'} ${show(t)} is not an integer`);
    const n = Number(t.replaceAll('_', ''));
    if (!Number.isSafeInteger(n)) throw bad(`${i === 0 ? 'START' : 'END'} ${t} is too large`);
    return n;
  }) as [number | undefined, number | undefined];
  return { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) };
}

/**
 * Resolves a range against `rows` rows the way Python resolves a slice: negative indices
 * count from the end, both ends are clipped to [0, rows], and END before START is empty.
 * @example
 * resolveRowRange({ start: -10 }, 100);            // { start: 90, end: 100 }
 * resolveRowRange({ start: 50, end: 1e9 }, 100);   // { start: 50, end: 100 }
 */
export function resolveRowRange(range: RowRange, rows: number): { start: number; end: number } {
  const at = (i: number | undefined, fallback: number): number => {
    if (i === undefined) return fallback;
    if (!Number.isSafeInteger(i)) {
      throw new MmrunError('BAD_ROW_RANGE', `row index ${show(i)} is not an integer`, { remedy: RANGE_REMEDY });
    }
    return Math.min(rows, Math.max(0, i < 0 ? rows + i : i));
  };
  const start = at(range.start, 0);
  const end = Math.max(start, at(range.end, rows));
  return { start, end };
}

/**
 * The fields to export, in the order asked for; every field when `names` is undefined.
 * @throws MmrunError `UNKNOWN_COLUMN` naming the column and listing the valid ones, or
 * `BAD_OPTION` for an empty or repeated name.
 */
export function selectColumns(layout: RowLayout, names: readonly string[] | undefined, source: string): Field[] {
  if (names === undefined) return [...layout.fields];
  const valid = layout.fields.map((f) => f.name).join(', ');
  if (names.length === 0) {
    throw new MmrunError('BAD_OPTION', '--columns names no column', { remedy: `name some of: ${valid}` });
  }
  const seen = new Set<string>();
  return names.map((name) => {
    const field = layout.fields.find((f) => f.name === name);
    if (!field) {
      throw new MmrunError('UNKNOWN_COLUMN', `${source} has no column ${show(name)}; its columns are ${valid}`, {
        remedy: 'pass --columns with names from that list, separated by commas',
      });
    }
    if (seen.has(name)) {
      throw new MmrunError('BAD_OPTION', `--columns names column '${name}' twice`, {
        remedy: 'name each column once',
      });
    }
    seen.add(name);
    return field;
  });
}

/** The packed layout of the selected fields in their new order: the dtype of a `.npy` export. */
export function packedLayout(fields: readonly Field[]): RowLayout {
  let offset = 0;
  const packed = fields.map((f) => {
    const field = { ...f, offset };
    offset += f.size;
    return field;
  });
  return { fields: packed, itemsize: offset };
}
