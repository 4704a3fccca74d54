import { MmrunError, show } from '../errors.ts';
import { DTYPE_SIZE, type Field, type RowLayout, type ScalarDtype } from './dtype.ts';

/**
 * Writes one row object into a segment's bytes. `iteration` is only for error messages;
 * `rowInSegment` says where. Throws MmrunError BAD_ROW naming the column and iteration.
 */
export type RowWriter = (row: unknown, iteration: number, rowInSegment: number) => void;

/** Compiles a layout once; `bind` makes a writer over one segment's bytes. */
export interface CompiledRowWriter {
  bind(data: Buffer): RowWriter;
}

/**
 * Every row is checked for missing columns and bad values. Unknown columns (keys the layout
 * does not declare) are looked for on the first this-many rows a writer writes (a segment
 * opened for a session) and then on each row whose index in the segment is a multiple of it:
 * a step that returns an undeclared key always, or from some iteration on, fails within this
 * many rows; one that adds a key to a single row now and then may go unnoticed.
 */
export const KEY_CHECK_EVERY = 1024;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const TYPED: Record<ScalarDtype, { view: string; ctor: string; dv: string }> = {
  f8: { view: 'f64', ctor: 'Float64Array', dv: 'setFloat64' },
  f4: { view: 'f32', ctor: 'Float32Array', dv: 'setFloat32' },
  i1: { view: 'i8', ctor: 'Int8Array', dv: 'setInt8' },
  i2: { view: 'i16', ctor: 'Int16Array', dv: 'setInt16' },
  i4: { view: 'i32', ctor: 'Int32Array', dv: 'setInt32' },
  u1: { view: 'u8', ctor: 'Uint8Array', dv: 'setUint8' },
  u2: { view: 'u16', ctor: 'Uint16Array', dv: 'setUint16' },
  u4: { view: 'u32', ctor: 'Uint32Array', dv: 'setUint32' },
  bool: { view: 'u8', ctor: 'Uint8Array', dv: 'setUint8' },
};

/** The JS condition under which value `v` is NOT acceptable for a dtype. */
const REJECT: Record<ScalarDtype, (v: string) => string> = {
  f8: (v) => `typeof ${v} !== 'number'`,
  f4: (v) => `typeof ${v} !== 'number'`,
  i1: (v) => `typeof ${v} !== 'number' || (${v} << 24 >> 24) !== ${v}`,
  i2: (v) => `typeof ${v} !== 'number' || (${v} << 16 >> 16) !== ${v}`,
  i4: (v) => `typeof ${v} !== 'number' || (${v} | 0) !== ${v}`,
  u1: (v) => `typeof ${v} !== 'number' || (${v} & 0xff) !== ${v}`,
  u2: (v) => `typeof ${v} !== 'number' || (${v} & 0xffff) !== ${v}`,
  u4: (v) => `typeof ${v} !== 'number' || (${v} >>> 0) !== ${v}`,
  bool: (v) => `${v} !== true && ${v} !== false && ${v} !== 0 && ${v} !== 1`,
};

const RANGE: Record<ScalarDtype, string> = {
  f8: 'a number',
  f4: 'a number',
  i1: 'a whole number in [-128, 127]',
  i2: 'a whole number in [-32768, 32767]',
  i4: 'a whole number in [-2147483648, 2147483647]',
  u1: 'a whole number in [0, 255]',
  u2: 'a whole number in [0, 65535]',
  u4: 'a whole number in [0, 4294967295]',
  bool: 'true, false, 0 or 1',
};

/**
 * Whether every field can be written through an aligned typed array: the data region
 * starts 64-byte aligned, so a field is aligned in every row when both its offset and the
 * row size are multiples of its element size.
 */
function alignedLayout(layout: RowLayout): boolean {
  return (
    LITTLE_ENDIAN &&
    layout.fields.every((f) => f.offset % DTYPE_SIZE[f.dtype] === 0 && layout.itemsize % DTYPE_SIZE[f.dtype] === 0)
  );
}

/**
 * Generates a specialised writer for a layout: one straight-line function that checks and
 * stores each column, with no allocation and no per-column dispatch. Aligned layouts store
 * through typed arrays, others through a DataView (little-endian).
 */
export function compileRowWriter(layout: RowLayout): CompiledRowWriter {
  const aligned = alignedLayout(layout);
  const n = layout.fields.length;
  const lines: string[] = [];
  lines.push('let v, e, k;');
  lines.push('if (row === null || typeof row !== "object") return bad(row, i, null, -1);');
  // Unknown-key check without allocating: count own enumerable keys.
  // Extra keys (a column the step returns but the experiment does not declare) are looked for
  // on the first KEY_CHECK_EVERY rows a writer writes and then on every KEY_CHECK_EVERY-th
  // row: counting a row's keys with for…in costs ~7 ns, a tenth of a cheap step. Missing
  // columns and bad values are caught on every row (every declared field is read and checked).
  lines.push(`if (fresh !== 0 || (r & ${KEY_CHECK_EVERY - 1}) === 0) {`);
  lines.push('  if (fresh !== 0) fresh--;');
  lines.push('  let keys = 0; for (const _ in row) keys++;');
  lines.push(`  if (keys !== ${n}) return bad(row, i, null, -1);`);
  lines.push('}');
  lines.push(`const b = r * ${layout.itemsize};`);
  layout.fields.forEach((f, fi) => {
    lines.push(`v = row[${JSON.stringify(f.name)}];`);
    lines.push(...(f.vector ? vectorStore(f, fi, aligned) : scalarStore(f, fi, aligned)));
  });
  const body = lines.join('\n');
  const views = ['f64', 'f32', 'i8', 'i16', 'i32', 'u8', 'u16', 'u32', 'dv'];
  const factory = new Function(
    'bad',
    ...views,
    `let fresh = ${KEY_CHECK_EVERY};\nreturn function writeRow(row, i, r) {\n${body}\n};`,
  ) as (...args: unknown[]) => RowWriter;
  const bad = (row: unknown, i: number, field: number | null, element: number): never => {
    throw describeBadRow(layout, row, i, field, element);
  };
  return {
    bind(data: Buffer): RowWriter {
      const buf = data.buffer;
      const off = data.byteOffset;
      const len = data.byteLength;
      const view = (Ctor: { new (b: ArrayBufferLike, o: number, l: number): unknown; BYTES_PER_ELEMENT: number }) =>
        aligned && off % Ctor.BYTES_PER_ELEMENT === 0
          ? new Ctor(buf, off, Math.floor(len / Ctor.BYTES_PER_ELEMENT))
          : undefined;
      if (aligned && off % 8 !== 0) throw new Error('segment data is not 8-byte aligned');
      return factory(
        bad,
        view(Float64Array),
        view(Float32Array),
        view(Int8Array),
        view(Int16Array),
        view(Int32Array),
        view(Uint8Array),
        view(Uint16Array),
        view(Uint32Array),
        new DataView(buf, off, len),
      );
    },
  };
}

function store(dtype: ScalarDtype, byteExpr: string, value: string, aligned: boolean): string {
  const t = TYPED[dtype];
  if (aligned) {
    const shift = Math.log2(DTYPE_SIZE[dtype]);
    return `${t.view}[${shift === 0 ? byteExpr : `(${byteExpr}) >>> ${shift}`}] = ${value};`;
  }
  return DTYPE_SIZE[dtype] === 1 ? `dv.${t.dv}(${byteExpr}, ${value});` : `dv.${t.dv}(${byteExpr}, ${value}, true);`;
}

const asStored = (dtype: ScalarDtype, v: string) => (dtype === 'bool' ? `(${v} ? 1 : 0)` : v);

function scalarStore(f: Field, fi: number, aligned: boolean): string[] {
  return [
    `if (${REJECT[f.dtype]('v')}) return bad(row, i, ${fi}, -1);`,
    store(f.dtype, `b + ${f.offset}`, asStored(f.dtype, 'v'), aligned),
  ];
}

function vectorStore(f: Field, fi: number, aligned: boolean): string[] {
  const size = DTYPE_SIZE[f.dtype];
  const out = [`if (v === null || typeof v !== 'object' || v.length !== ${f.length}) return bad(row, i, ${fi}, -1);`];
  if (aligned && f.dtype !== 'bool') {
    // A typed array of the column's own type is copied whole; it cannot hold a bad value.
    const t = TYPED[f.dtype];
    out.push(`if (v instanceof ${t.ctor}) ${t.view}.set(v, (b + ${f.offset}) / ${size}); else`);
  }
  out.push(`for (k = 0; k < ${f.length}; k++) {`);
  out.push(`  e = v[k];`);
  out.push(`  if (${REJECT[f.dtype]('e')}) return bad(row, i, ${fi}, k);`);
  out.push(`  ${store(f.dtype, `b + ${f.offset} + k * ${size}`, asStored(f.dtype, 'e'), aligned)}`);
  out.push('}');
  return out;
}

/** Builds the error for a bad row; only runs on failure, so it may be slow and thorough. */
export function describeBadRow(
  layout: RowLayout,
  row: unknown,
  i: number,
  field: number | null,
  element: number,
): MmrunError {
  const at = `iteration ${i}`;
  const remedy = 'return one object per step with exactly the declared columns and values of their dtypes';
  if (row === null || typeof row !== 'object') {
    return new MmrunError('BAD_ROW', `${at}: step returned ${show(row)}, not a row object`, { remedy });
  }
  if (field === null) {
    const names = new Set(layout.fields.map((f) => f.name));
    const keys: string[] = [];
    for (const key in row) keys.push(key);
    const unknown = keys.filter((key) => !names.has(key));
    if (unknown.length > 0) {
      return new MmrunError(
        'BAD_ROW',
        `${at}: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')} in the row; declared: ${[...names].join(', ')}`,
        { remedy: 'declare the column in `columns` or stop returning it' },
      );
    }
    const missing = layout.fields.filter((f) => !keys.includes(f.name)).map((f) => `'${f.name}'`);
    return new MmrunError('BAD_ROW', `${at}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, {
      remedy,
    });
  }
  const f = layout.fields[field]!;
  const value = (row as Record<string, unknown>)[f.name];
  const spec = f.vector ? `[${f.dtype}, ${f.length}]` : f.dtype;
  if (value === undefined) {
    return new MmrunError('BAD_ROW', `${at}: missing column '${f.name}' (${spec})`, { remedy });
  }
  if (f.vector && element < 0) {
    const len = (value as { length?: unknown } | null)?.length;
    return new MmrunError(
      'BAD_ROW',
      `${at}: column '${f.name}' (${spec}) needs an array of length ${f.length}, got ${len === undefined ? show(value) : `length ${len}`}`,
      { remedy },
    );
  }
  const bad = element >= 0 ? (value as ArrayLike<unknown>)[element] : value;
  const where = element >= 0 ? `column '${f.name}[${element}]'` : `column '${f.name}'`;
  return new MmrunError('BAD_ROW', `${at}: ${where} (${f.dtype}) got ${show(bad)}; it needs ${RANGE[f.dtype]}`, {
    remedy,
  });
}
