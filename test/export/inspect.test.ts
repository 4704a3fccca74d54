// inspectNpy and descrItemsize (src/storage/npy.ts) on .npy files of every kind, not only mmrun's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { layoutOf } from '../../src/storage/dtype.ts';
import { encodeHeader } from '../../src/storage/npy.ts';
import { descrItemsize, inspectNpy } from '../../src/storage/npy-inspect.ts';
import { parsePyLiteral } from '../../src/storage/py-literal.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** A .npy file as numpy.save writes it: magic, version, padded header dict, then `dataBytes` bytes. */
function npy(dict: string, dataBytes: number, version = 1): Buffer {
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const head = Buffer.alloc(total, 0x20);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(total - prefix, 8);
  else head.writeUInt32LE(total - prefix, 8);
  head.write(dict, prefix, 'latin1');
  head[total - 1] = 0x0a;
  return Buffer.concat([head, Buffer.alloc(dataBytes, 7)]);
}

function write(name: string, bytes: Buffer): string {
  const file = path.join(tmpDir('mmrun-inspect-'), name);
  fs.writeFileSync(file, bytes);
  return file;
}

describe('descrItemsize', () => {
  it.each([
    ["'<f8'", 8],
    ["'>f4'", 4],
    ["'|b1'", 1],
    ["'<i8'", 8],
    ["'>u2'", 2],
    ["'<f2'", 2],
    ["'<c16'", 16],
    ["'<U10'", 40],
    ["'|S5'", 5],
    ["'|V16'", 16],
    ["'<M8[ns]'", 8],
    ["'<m8'", 8],
    ["[('x', '<f8'), ('v', '<f4', (16,))]", 72],
    ["[('a', '<i4'), ('', '|V4'), ('b', '>f8')]", 16],
    ["[('m', '<f8', (2, 3))]", 48],
    ["[('outer', [('a', '<i2'), ('b', '|u1', (3,))]), ('c', '|b1')]", 6],
    ["[(('title', 'name'), '<f4')]", 4],
  ])('%s → %i bytes', (descr, size) => {
    expect(descrItemsize(parsePyLiteral(descr))).toBe(size);
  });

  it.each([
    ["'|O'", 'holds Python objects'],
    ["[('x', '|O')]", 'holds Python objects'],
    ["'<f3'", 'unknown size'],
    ["'float64'", 'not a NumPy type string'],
    ["'<i4[ns]'", 'has a unit'],
    ['42', 'neither a type string nor a list'],
    ["[('x',)]", 'is not (name, type)'],
  ])('%s is refused: %s', (descr, why) => {
    expect(() => descrItemsize(parsePyLiteral(descr), 'f.npy')).toThrow(why);
    try {
      descrItemsize(parsePyLiteral(descr));
    } catch (err) {
      expect((err as MmrunError).code).toBe('NPY_UNSUPPORTED');
    }
  });
});

describe('inspectNpy', () => {
  it('an mmrun segment: valid, fields with offsets, an mmrun layout', () => {
    const layout = layoutOf({ x: 'f8', k: 'i2', v: ['f4', 3], flag: 'bool' });
    const head = encodeHeader(layout, 10);
    const file = write('seg.npy', Buffer.concat([head, Buffer.alloc(10 * layout.itemsize)]));
    expect(inspectNpy(file)).toEqual({
      file,
      valid: true,
      version: '1.0',
      header: expect.stringContaining("'shape': (10,)"),
      descr: "[('x', '<f8'), ('k', '<i2'), ('v', '<f4', (3,)), ('flag', '|b1')]",
      fields: [
        { name: 'x', type: '<f8', shape: [], offset: 0, size: 8 },
        { name: 'k', type: '<i2', shape: [], offset: 8, size: 2 },
        { name: 'v', type: '<f4', shape: [3], offset: 10, size: 12 },
        { name: 'flag', type: '|b1', shape: [], offset: 22, size: 1 },
      ],
      shape: [10],
      fortranOrder: false,
      itemsize: 23,
      count: 10,
      dataOffset: head.length,
      expectedSize: head.length + 230,
      actualSize: head.length + 230,
      mmrunLayout: true,
    });
  });

  it('a 2-D big-endian Fortran-order array: valid, no fields, not an mmrun layout', () => {
    const file = write('m.npy', npy("{'descr': '>i2', 'fortran_order': True, 'shape': (3, 4), }", 24));
    expect(inspectNpy(file)).toMatchObject({
      valid: true,
      descr: "'>i2'",
      shape: [3, 4],
      fortranOrder: true,
      itemsize: 2,
      count: 12,
      mmrunLayout: false,
    });
    expect(inspectNpy(file).fields).toBeUndefined();
  });

  it('a scalar (shape ()) and an empty array are valid; version 2.0 is read', () => {
    expect(inspectNpy(write('s.npy', npy("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8)))).toMatchObject(
      {
        valid: true,
        count: 1,
      },
    );
    expect(
      inspectNpy(write('e.npy', npy("{'descr': '<U3', 'fortran_order': False, 'shape': (0, 5), }", 0, 2))),
    ).toMatchObject({ valid: true, version: '2.0', count: 0, itemsize: 12 });
  });

  it('a truncated file: invalid, naming both sizes', () => {
    const file = write('t.npy', npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100,), }", 795));
    const r = inspectNpy(file);
    expect(r).toMatchObject({ valid: false, code: 'SIZE_MISMATCH', expectedSize: 128 + 800, actualSize: 128 + 795 });
    expect(r.reason).toBe(
      `${file} is 923 bytes but header 128 + 100 elements × 8 bytes = 928 (truncated: 5 bytes are missing)`,
    );
  });

  it('extra bytes after the data: invalid', () => {
    const r = inspectNpy(write('x.npy', npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", 6)));
    expect(r).toMatchObject({
      valid: false,
      code: 'SIZE_MISMATCH',
      reason: expect.stringContaining('2 extra bytes after the data'),
    });
  });

  it.each([
    ['not .npy at all', Buffer.from('PK\x03\x04 a zip file'), 'NPY_BAD_MAGIC'],
    [
      'a cut header',
      npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", 8).subarray(0, 40),
      'NPY_BAD_HEADER',
    ],
    ['a header that is not a dict', npy("['descr', '<f8']", 0), 'NPY_BAD_HEADER'],
    [
      'version 9.0',
      Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9, 0]), Buffer.alloc(100)]),
      'NPY_UNSUPPORTED',
    ],
    ['an object array', npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 30), 'NPY_UNSUPPORTED'],
  ])('%s: invalid with %s, never a throw', (_, bytes, code) => {
    const r = inspectNpy(write('bad.npy', bytes));
    expect(r).toMatchObject({ valid: false, code, mmrunLayout: false, actualSize: bytes.length });
    expect(r.reason).toContain('bad.npy');
  });

  it('a missing file is an IO_ERROR', () => {
    expect(() => inspectNpy('/nonexistent/x.npy')).toThrow(MmrunError);
    expect(() => inspectNpy('/nonexistent/x.npy')).toThrow('cannot open it');
  });
});
