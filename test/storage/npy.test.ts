import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { type Field, layoutOf, type RowLayout } from '../../src/storage/dtype.ts';
import { encodeHeader, layoutFromDescr, NPY_MAGIC, parseHeader, readHeader } from '../../src/storage/npy.ts';
import { formatDescr, parsePyLiteral } from '../../src/storage/py-literal.ts';

const ALL_COLUMNS = {
  a_f8: 'f8',
  b_f4: 'f4',
  c_i1: 'i1',
  d_i2: 'i2',
  e_i4: 'i4',
  f_u1: 'u1',
  g_u2: 'u2',
  h_u4: 'u4',
  i_bool: 'bool',
  v16: ['f4', 16],
  v1: ['f8', 1],
} as const;
const LAYOUT = layoutOf(ALL_COLUMNS);

const dir = mkdtempSync(join(tmpdir(), 'mmrun-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Expects `fn` to throw an MmrunError with `code` whose message names `file`. */
function expectError(fn: () => unknown, code: string, file: string): MmrunError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MmrunError);
    const e = err as MmrunError;
    expect(e.code).toBe(code);
    expect(e.message).toContain(file);
    expect(e.remedy).toBeTruthy();
    return e;
  }
  return expect.fail(`expected ${code}`);
}

/** A header with `dict` as its text, padded like numpy does. */
function rawHeader(dict: string, major = 1): Buffer {
  const prefix = major === 1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const buf = Buffer.alloc(total, 0x20);
  NPY_MAGIC.copy(buf);
  buf[6] = major;
  buf[7] = 0;
  if (major === 1) buf.writeUInt16LE(total - prefix, 8);
  else buf.writeUInt32LE(total - prefix, 8);
  buf.write(dict, prefix, 'utf8');
  buf[total - 1] = 0x0a;
  return buf;
}

describe('encodeHeader / parseHeader', () => {
  it('round-trips a layout with every dtype and vector columns', () => {
    const header = encodeHeader(LAYOUT, 1234);
    expect(header.length % 64).toBe(0);
    expect(header.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
    expect(header[header.length - 1]).toBe(0x0a);
    const parsed = parseHeader(Buffer.concat([header, Buffer.alloc(100, 7)]), 'x.npy');
    expect(parsed.version).toEqual([1, 0]);
    expect(parsed.shape).toEqual([1234]);
    expect(parsed.fortranOrder).toBe(false);
    expect(parsed.dataOffset).toBe(header.length);
    expect(parsed.headerText.startsWith("{'descr': [('a_f8', '<f8'), ('b_f4', '<f4'), ('c_i1', '|i1'),")).toBe(true);
    expect(
      parsed.headerText.endsWith(
        "('v16', '<f4', (16,)), ('v1', '<f8', (1,))], 'fortran_order': False, 'shape': (1234,), }",
      ),
    ).toBe(true);
    expect(layoutFromDescr(parsed.descr, 'x.npy')).toEqual(LAYOUT);
    expect(formatDescr(parsed.descr)).toBe(
      "[('a_f8', '<f8'), ('b_f4', '<f4'), ('c_i1', '|i1'), ('d_i2', '<i2'), ('e_i4', '<i4'), ('f_u1', '|u1'), ('g_u2', '<u2'), ('h_u4', '<u4'), ('i_bool', '|b1'), ('v16', '<f4', (16,)), ('v1', '<f8', (1,))]",
    );
  });

  it('pads every header length to a multiple of 64', () => {
    for (let n = 1; n <= 40; n++) {
      const layout = layoutOf(Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i}`, 'f8'])));
      for (const rows of [0, 9, 10 ** 12]) {
        const header = encodeHeader(layout, rows);
        expect(header.length % 64).toBe(0);
        expect(parseHeader(header, 'p.npy').dataOffset).toBe(header.length);
      }
    }
  });

  it('switches to format 2.0 when the header exceeds 65535 bytes', () => {
    const columns = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`column_${i}`, 'u2']));
    const layout = layoutOf(columns);
    const header = encodeHeader(layout, 3);
    expect(header.length % 64).toBe(0);
    expect(header.length).toBeGreaterThan(65535);
    const parsed = parseHeader(header, 'big.npy');
    expect(parsed.version).toEqual([2, 0]);
    expect(parsed.dataOffset).toBe(header.length);
    expect(layoutFromDescr(parsed.descr, 'big.npy')).toEqual(layout);
    const path = join(dir, 'big.npy');
    writeFileSync(path, Buffer.concat([header, Buffer.alloc(3 * layout.itemsize)]));
    expect(readHeader(path)).toEqual(parsed);
  });

  it('reads format 3.0 (utf8) headers', () => {
    const parsed = parseHeader(
      rawHeader("{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (2,), }", 3),
      'v3.npy',
    );
    expect(parsed.version).toEqual([3, 0]);
    expect(layoutFromDescr(parsed.descr, 'v3.npy')).toEqual(layoutOf({ x: 'f8' }));
  });

  it('rejects bad row counts', () => {
    expect(() => encodeHeader(LAYOUT, -1)).toThrow(RangeError);
    expect(() => encodeHeader(LAYOUT, 1.5)).toThrow(RangeError);
  });
});

describe('parsePyLiteral', () => {
  it.each([
    ['(3,)', [3]],
    ['()', []],
    ['(3)', 3],
    ['( 3 , 4 , )', [3, 4]],
    ['[]', []],
    ['[1, [2, (3, 4)], ()]', [1, [2, [3, 4]], []]],
    ['{}', {}],
    ["{'a': {'b': [None]}, }", { a: { b: [null] } }],
    ['True', true],
    ['False', false],
    ['None', null],
    ['-12', -12],
    ['+7', 7],
    ['123456789012345678901234567890', 1.2345678901234568e29],
    ['3L', 3],
    ['1.5', 1.5],
    ['-2.5e-3', -0.0025],
    ['.5', 0.5],
    ['1e3', 1000],
    ["'it\\'s'", "it's"],
    ['"say \\"hi\\""', 'say "hi"'],
    ["'a\\\\b\\n\\t\\x41\\u00e9\\U0001F600\\101\\0'", 'a\\b\n\tAé😀A\0'],
    ["'keep \\d'", 'keep \\d'],
    ['"single \' inside"', "single ' inside"],
    ["u'x'", 'x'],
    [" \n\t{ 'k' : ( 1 , ) , 'j':[ ] , } \n", { k: [1], j: [] }],
    [
      "{'descr': [('x', '<f8'), ('v', '<f4', (16,))], 'fortran_order': False, 'shape': (10,), }",
      {
        descr: [
          ['x', '<f8'],
          ['v', '<f4', [16]],
        ],
        fortran_order: false,
        shape: [10],
      },
    ],
  ])('parses %s', (text, expected) => {
    expect(parsePyLiteral(text)).toEqual(expected);
  });

  it('keeps a __proto__ key as an own property', () => {
    const dict = parsePyLiteral("{'__proto__': 1}") as Record<string, unknown>;
    expect(Object.keys(dict)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(dict)).toBe(Object.prototype);
  });

  it.each([
    ['', 0],
    ['(1 2)', 3],
    ['[1,,]', 3],
    ["'open", 5],
    ["{'a' 1}", 5],
    ['{1: 2}', 1],
    ['nan', 0],
    ['Truex', 0],
    ['(1,) x', 5],
    ["'\\x4'", 3],
    ['['.repeat(100), 65],
  ])('rejects %s with a position', (text, position) => {
    expect(() => parsePyLiteral(text)).toThrow(`at position ${position}`);
  });
});

describe('errors', () => {
  const good = encodeHeader(layoutOf({ x: 'f8' }), 4);

  it('rejects a bad magic', () => {
    const e = expectError(
      () => parseHeader(Buffer.from('PK\x03\x04 not numpy at all'), 'zip.npy'),
      'NPY_BAD_MAGIC',
      'zip.npy',
    );
    expect(e.message).toContain('50 4b 03 04');
    expectError(() => parseHeader(Buffer.alloc(0), 'empty.npy'), 'NPY_BAD_MAGIC', 'empty.npy');
  });

  it('rejects truncated headers', () => {
    for (const n of [7, 9, 40, good.length - 1]) {
      const e = expectError(() => parseHeader(good.subarray(0, n), 'cut.npy'), 'NPY_BAD_HEADER', 'cut.npy');
      expect(e.message).toContain(`has ${n}`);
    }
    const path = join(dir, 'cut.npy');
    writeFileSync(path, good.subarray(0, 50));
    expectError(() => readHeader(path), 'NPY_BAD_HEADER', path);
  });

  it('rejects unknown versions', () => {
    const buf = Buffer.from(good);
    buf[6] = 4;
    const e = expectError(() => parseHeader(buf, 'v4.npy'), 'NPY_UNSUPPORTED', 'v4.npy');
    expect(e.message).toContain('4.0');
  });

  it.each([
    ["{'descr': '<f8', 'fortran_order': False, 'shape': (3,)", 'not a Python literal'],
    ["[('descr', '<f8')]", 'not a dict'],
    ["{'descr': '<f8', 'shape': (3,)}", "lacks the key 'fortran_order'"],
    ["{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1}", "['extra']"],
    ["{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}", "'fortran_order' is 0"],
    ["{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}", "'shape' is (-3,)"],
    ["{'descr': '<f8', 'fortran_order': False, 'shape': 3}", "'shape' is 3"],
  ])('rejects the header %s', (dict, fragment) => {
    const e = expectError(() => parseHeader(rawHeader(dict), 'bad.npy'), 'NPY_BAD_HEADER', 'bad.npy');
    expect(e.message).toContain(fragment);
  });

  it.each([
    ["'<f8'", "'<f8'"],
    ["[('x', '>f8')]", "'>f8'"],
    ["[('x', '<f4', (4, 4))]", '(4, 4)'],
    ["[('x', '<f4', (0,))]", '(0,)'],
    ["[('x', '<c16')]", "'<c16'"],
    ["[('x', '<i8')]", "'<i8'"],
    ["[('x', [('y', '<f8')])]", "[('y', '<f8')]"],
    ["[('x', '<f8'), ('', '|V4')]", "''"],
    ["[(('title', 'x'), '<f8')]", "('title', 'x')"],
    ["[('x', '<f8'), ('x', '<f4')]", "'x'"],
    ["[('x',)]", "('x',)"],
    ['[]', 'no fields'],
  ])('rejects the descr %s', (descr, fragment) => {
    const parsed = parseHeader(rawHeader(`{'descr': ${descr}, 'fortran_order': False, 'shape': (3,), }`), 'u.npy');
    const e = expectError(() => layoutFromDescr(parsed.descr, 'u.npy'), 'NPY_UNSUPPORTED', 'u.npy');
    expect(e.message).toContain(fragment);
  });

  it('wraps file system errors', () => {
    const path = join(dir, 'missing.npy');
    expectError(() => readHeader(path), 'IO_ERROR', path);
  });
});

const PYTHON_CANDIDATES = process.env.MMRUN_PYTHON ? [process.env.MMRUN_PYTHON] : ['python3', '/usr/bin/python3'];
const PYTHON = PYTHON_CANDIDATES.find(
  (exe) => spawnSync(exe, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0,
);
const NO_PYTHON = `no Python with numpy among ${PYTHON_CANDIDATES.join(', ')}: install python3-numpy (apt-get install python3-numpy) or set MMRUN_PYTHON`;

/** Runs `script` with PYTHON and the given arguments, returning its stdout parsed as JSON. */
function python(script: string, ...args: string[]): unknown {
  const result = spawnSync(PYTHON as string, ['-c', script, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** A deterministic value for element `k` of field `f` in row `row`, exactly representable in its dtype. */
function valueFor(f: Field, row: number, k: number): number | boolean {
  const i = row * 31 + k * 7 + f.offset;
  switch (f.dtype) {
    case 'f8':
      return (i - 50) / 8 + 0.1;
    case 'f4':
      return (i - 50) / 4;
    case 'i1':
      return (i % 256) - 128;
    case 'i2':
      return ((i * 257) % 65536) - 32768;
    case 'i4':
      return ((i * 16777259) % 2 ** 32) - 2 ** 31;
    case 'u1':
      return (i * 13) % 256;
    case 'u2':
      return (i * 4099) % 65536;
    case 'u4':
      return (i * 16777259) % 2 ** 32;
    case 'bool':
      return i % 3 === 0;
  }
}

/** Packs `rows` rows of `layout` filled by {@link valueFor}, little-endian. */
function fillRows(layout: RowLayout, rows: number): Buffer {
  const buf = Buffer.alloc(rows * layout.itemsize);
  for (let row = 0; row < rows; row++) {
    for (const f of layout.fields) {
      for (let k = 0; k < f.length; k++) {
        const at = row * layout.itemsize + f.offset + k * (f.size / f.length);
        const v = valueFor(f, row, k);
        if (f.dtype === 'bool') buf.writeUInt8(v ? 1 : 0, at);
        else if (f.dtype === 'f8') buf.writeDoubleLE(v as number, at);
        else if (f.dtype === 'f4') buf.writeFloatLE(v as number, at);
        else if (f.dtype === 'i1') buf.writeInt8(v as number, at);
        else if (f.dtype === 'i2') buf.writeInt16LE(v as number, at);
        else if (f.dtype === 'i4') buf.writeInt32LE(v as number, at);
        else if (f.dtype === 'u1') buf.writeUInt8(v as number, at);
        else if (f.dtype === 'u2') buf.writeUInt16LE(v as number, at);
        else buf.writeUInt32LE(v as number, at);
      }
    }
  }
  return buf;
}

/** What `arr[name].tolist()` gives for each field. */
function expectedValues(layout: RowLayout, rows: number): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const f of layout.fields) {
    out[f.name] = Array.from({ length: rows }, (_, row) =>
      f.vector ? Array.from({ length: f.length }, (_, k) => valueFor(f, row, k)) : valueFor(f, row, 0),
    );
  }
  return out;
}

const LOAD = `
import json, sys, numpy as np
a = np.load(sys.argv[1], mmap_mode='r', max_header_size=2**24)
print(json.dumps({'names': list(a.dtype.names), 'shape': list(a.shape), 'itemsize': a.dtype.itemsize,
                  'values': {n: a[n].tolist() for n in a.dtype.names}}))
`;

const SAVE = `
import json, sys, numpy as np
dt = np.dtype([('a', '<f8'), ('b', '<f4'), ('c', 'i1'), ('d', '<i2'), ('e', '<i4'), ('f', 'u1'),
               ('g', '<u2'), ('h', '<u4'), ('i', '?'), ('v', '<f4', (16,)), ('w', '<i2', (1,))])
a = np.zeros(7, dtype=dt)
a['a'] = np.arange(7) * 0.5
a['v'] = np.arange(7 * 16).reshape(7, 16)
np.save(sys.argv[1], a)
print(json.dumps({'itemsize': dt.itemsize}))
`;

describe('numpy interop', () => {
  if (!PYTHON) {
    if (process.env.CI || process.env.MMRUN_PYTHON) it('finds a Python with numpy', () => expect.fail(NO_PYTHON));
    else it.skip(`skipped: ${NO_PYTHON}`, () => {});
    return;
  }

  it.each([
    ['v1.0', LAYOUT, 5],
    [
      'v2.0',
      layoutOf(Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`column_${i}`, i % 2 ? 'i1' : 'u2']))),
      2,
    ],
  ])('numpy loads a %s file written by encodeHeader', (_, layout, rows) => {
    const path = join(dir, `ours-${rows}.npy`);
    writeFileSync(path, Buffer.concat([encodeHeader(layout, rows), fillRows(layout, rows)]));
    const got = python(LOAD, path) as { names: string[]; shape: number[]; itemsize: number; values: unknown };
    expect(got.names).toEqual(layout.fields.map((f) => f.name));
    expect(got.shape).toEqual([rows]);
    expect(got.itemsize).toBe(layout.itemsize);
    expect(got.values).toEqual(expectedValues(layout, rows));
  });

  it('reads a structured array written by np.save', () => {
    const path = join(dir, 'theirs.npy');
    const { itemsize } = python(SAVE, path) as { itemsize: number };
    const expected = layoutOf({
      a: 'f8',
      b: 'f4',
      c: 'i1',
      d: 'i2',
      e: 'i4',
      f: 'u1',
      g: 'u2',
      h: 'u4',
      i: 'bool',
      v: ['f4', 16],
      w: ['i2', 1],
    });
    const file = readFileSync(path);
    const header = readHeader(path);
    expect(parseHeader(file, path)).toEqual(header);
    expect(header.version).toEqual([1, 0]);
    expect(header.shape).toEqual([7]);
    expect(header.fortranOrder).toBe(false);
    const layout = layoutFromDescr(header.descr, path);
    expect(layout).toEqual(expected);
    expect(layout.itemsize).toBe(itemsize);
    expect(header.dataOffset).toBe(statSync(path).size - 7 * itemsize);
    const data = file.subarray(header.dataOffset);
    const v = layout.fields.find((f) => f.name === 'v') as Field;
    for (let row = 0; row < 7; row++) {
      expect(data.readDoubleLE(row * itemsize)).toBe(row * 0.5);
      expect(data.readFloatLE(row * itemsize + v.offset + 4 * 15)).toBe(row * 16 + 15);
    }
  });
});
