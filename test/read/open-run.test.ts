// openRun: a run's flushed rows read in place. Values equal what was written (bit for bit),
// aligned layouts give typed-array views into the mapping, unaligned ones fall back to a
// DataView, and misuse says what is wrong.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { openRun } from '../../src/read/open-run.ts';
import { startRun } from '../../src/runner/run.ts';
import { ALLTYPES, type Cell, decodeRows, exact, segmentRows } from '../export/helpers.ts';
import type aligned from '../fixtures/aligned.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');
let runsDir: string;

beforeAll(async () => {
  runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-read-'));
  await startRun({ experiment: path.join(FIXTURES, 'aligned.ts'), runsDir, id: 'aligned', seed: 1, segmentRows: 1200 });
  await startRun({ experiment: ALLTYPES, runsDir, id: 'all', seed: 1, segmentRows: 700 });
  await startRun({ experiment: path.join(FIXTURES, 'throws.ts'), runsDir, id: 'part', seed: 1, params: { at: 500 } });
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

/** The rows as the segment files hold them: one list of cells per row. */
const written = (id: string): Cell[][] => {
  const { layout, data } = segmentRows(path.join(runsDir, id));
  return decodeRows(layout, data);
};

/** A value as `exact` strings (bits of floats), flattening vectors. */
const bits = (dtype: Cell['dtype'], value: unknown): string[] =>
  typeof value === 'object' && value !== null
    ? Array.from(value as ArrayLike<number | boolean>, (v) => exact(dtype, v))
    : [exact(dtype, value as number | boolean)];

/** Every row read through `column(name).get(i)`, as exact strings, in the layout's order. */
function readAll(id: string, how: 'get' | 'iterate' | 'rows'): string[][] {
  const reader = openRun(id, { runsDir });
  const fields = reader.layout.fields;
  const out: string[][] = Array.from({ length: reader.length }, () => []);
  if (how === 'rows') {
    let i = 0;
    for (const row of reader.rows()) {
      out[i++] = fields.flatMap((f) => bits(f.dtype, (row as Record<string, unknown>)[f.name]));
    }
    return out;
  }
  for (const f of fields) {
    const column = reader.column(f.name);
    if (how === 'get') for (let i = 0; i < reader.length; i++) out[i]!.push(...bits(f.dtype, column.get(i)));
    else {
      let i = 0;
      for (const value of column) out[i++]!.push(...bits(f.dtype, value));
    }
  }
  return out;
}

const want = (id: string): string[][] => written(id).map((row) => row.map((c) => exact(c.dtype, c.value)));

describe('openRun: values equal what was written', () => {
  for (const id of ['aligned', 'all']) {
    it(`${id}: column(…).get(i), iterating a column and rows() all give the segments' bits`, () => {
      const expected = want(id);
      expect(readAll(id, 'get')).toEqual(expected);
      expect(readAll(id, 'iterate')).toEqual(expected);
      expect(readAll(id, 'rows')).toEqual(expected);
    });
  }

  it('bool columns read as booleans, scalars and vectors', () => {
    const reader = openRun<typeof aligned.columns>('aligned', { runsDir });
    expect(reader.column('flags').get(3)).toEqual([false, true, true, false, false, false, false, false]);
    const all = openRun('all', { runsDir });
    expect(all.column('flag').get(0)).toBe(true);
    expect(all.column('flag').get(1)).toBe(false);
    expect(all.column('vb').get(5)).toEqual([false, true]);
  });

  it('an unfinished run: exactly its flushed rows', () => {
    const reader = openRun('part', { runsDir });
    expect(reader.run.status).toBe('failed');
    expect(reader.length).toBe(500);
    expect(reader.column('i').get(499)).toBe(499);
    expect([...reader.column('x')].length).toBe(500);
    expect(() => reader.column('i').get(500)).toThrow(RangeError);
  });
});

describe('openRun: views, not copies', () => {
  it('an aligned layout: typed arrays over the mapping with a stride; a vector row is a subarray of it', () => {
    const reader = openRun<typeof aligned.columns>('aligned', { runsDir });
    expect(reader.length).toBe(5000);
    const segments = reader.segments();
    expect(segments.map((s) => [s.index, s.firstRow, s.rows])).toEqual([
      [0, 0, 1200],
      [1, 1200, 1200],
      [2, 2400, 1200],
      [3, 3600, 1200],
      [4, 4800, 200],
    ]);
    const x = reader.column('x');
    const v = reader.column('v');
    expect([x.aligned, v.aligned]).toEqual([true, true]);
    // Row 1300 is row 100 of segment 1: its v is the 3 floats at byte 8 of that row, in place.
    const row = v.get(1300);
    expect(row).toBeInstanceOf(Float32Array);
    expect(row.buffer).toBe(segments[1]!.data.buffer);
    expect(row.byteOffset).toBe(segments[1]!.data.byteOffset + 100 * 32 + 8);
    expect([...row]).toEqual([1300, -1300, 1300 / 8]);
    // segments(): the column of a segment is one Float64Array over the mapping, stride 4 (32 / 8).
    const c = segments[2]!.column('x');
    if (!c.aligned) throw new Error('expected an aligned column');
    expect(c.array).toBeInstanceOf(Float64Array);
    expect(c.array.buffer).toBe(segments[2]!.data.buffer);
    expect(c.stride).toBe(4);
    expect(c.array[7 * c.stride]).toBe(2407 / 3);
    expect(x.get(2407)).toBe(2407 / 3);
  });

  it('an unaligned layout (45-byte rows): a DataView, and a vector row is a copy', () => {
    const reader = openRun('all', { runsDir });
    const v = reader.column('v');
    expect(v.aligned).toBe(false);
    const row = v.get(10) as Float32Array;
    expect(row).toBeInstanceOf(Float32Array);
    expect(row.buffer).not.toBe(reader.segments()[0]!.data.buffer);
    const c = reader.segments()[0]!.column('f8');
    expect(c.aligned).toBe(false);
    if (c.aligned) return;
    expect(c.byteStride).toBe(45);
    expect(c.view.getFloat64(c.byteOffset + 5 * c.byteStride, true)).toBe(reader.column('f8').get(5));
  });

  it('typed by the experiment’s columns', () => {
    const reader = openRun<typeof aligned.columns>('aligned', { runsDir });
    expectTypeOf(reader.column('x').get(0)).toEqualTypeOf<number>();
    expectTypeOf(reader.column('v').get(0)).toEqualTypeOf<Float32Array>();
    expectTypeOf(reader.column('n').get(0)).toEqualTypeOf<number>();
    expectTypeOf(reader.column('flags').get(0)).toEqualTypeOf<boolean[]>();
    for (const row of reader.rows()) {
      expectTypeOf(row.v).toEqualTypeOf<Float32Array>();
      break;
    }
  });
});

describe('openRun: misuse', () => {
  it('an unknown column names the run’s columns', () => {
    const reader = openRun('aligned', { runsDir });
    expect(() => reader.segments()[0]!.column('nope')).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_COLUMN',
        message: expect.stringContaining("run 'aligned' has no column"),
      }),
    );
    expect(() => reader.column('nope')).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_COLUMN',
        message: "run 'aligned' has no column 'nope'; its columns are x, v, n, flags",
      }),
    );
  });

  it('get outside [0, length) or not an integer is a RangeError', () => {
    const x = openRun('aligned', { runsDir }).column('x');
    for (const i of [-1, 5000, 1.5, Number.NaN]) expect(() => x.get(i)).toThrow(RangeError);
  });

  it('a closed reader refuses to be used', () => {
    const reader = openRun('aligned', { runsDir });
    reader.close();
    expect(() => reader.column('x')).toThrow(MmrunError);
    expect(() => reader.rows()).toThrow(/closed/);
  });

  it('a run that does not exist', () => {
    expect(() => openRun('nope', { runsDir })).toThrow(expect.objectContaining({ code: 'RUN_NOT_FOUND' }));
  });

  it('a truncated segment is refused before it is mapped', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-read-cut-'));
    try {
      fs.cpSync(runsDir, dir, { recursive: true });
      const seg = path.join(dir, 'aligned', '000003.npy');
      fs.truncateSync(seg, fs.statSync(seg).size - 32);
      expect(() => openRun('aligned', { runsDir: dir })).toThrow(
        expect.objectContaining({ code: 'SIZE_MISMATCH', message: expect.stringContaining('segment 000003.npy') }),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
