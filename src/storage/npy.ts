// The .npy header codec of mmrun's segments: encode a header for a row layout, parse and
// validate one (format 1.0-3.0), read it from a file, and map a NumPy descr to a row layout.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { MmrunError, show } from '../errors.ts';
import { DTYPE_SIZE, descrOf, type Field, NUMPY_TYPESTR, type RowLayout, type ScalarDtype } from './dtype.ts';
import { formatDescr, formatValue, type PyValue, parsePyLiteral } from './py-literal.ts';

/** The six bytes every .npy file starts with. */
export const NPY_MAGIC: Buffer = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** A parsed .npy header. */
export interface NpyHeader {
  readonly version: readonly [number, number];
  /** The `descr` value as parsed. */
  readonly descr: PyValue;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  /** Bytes from the start of the file to the first data byte. */
  readonly dataOffset: number;
  /** The header dict as it appears in the file, trimmed. */
  readonly headerText: string;
}

const ALIGN = 64;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DTYPE_OF_TYPESTR: ReadonlyMap<string, ScalarDtype> = new Map(
  Object.entries(NUMPY_TYPESTR).map(([dtype, typestr]) => [typestr, dtype as ScalarDtype]),
);
const SUPPORTED_TYPESTRS = [...DTYPE_OF_TYPESTR.keys()].join(', ');
const RESAVE_REMEDY =
  "save a 1-D structured array whose fields are scalars or 1-D subarrays of little-endian types, e.g. np.save(path, np.zeros(n, dtype=[('x', '<f8'), ('v', '<f4', (16,))]))";

/**
 * Encodes the .npy header for a 1-D structured array of `rows` rows of `layout`.
 * Uses format 1.0 unless the header needs more than 65535 bytes, then 2.0.
 * The result's length is a multiple of 64 and equals the data offset.
 */
export function encodeHeader(layout: RowLayout, rows: number): Buffer {
  if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError(`rows must be a non-negative integer, got ${rows}`);
  const dict = `{'descr': ${descrOf(layout)}, 'fortran_order': False, 'shape': (${rows},), }`;
  const dictBytes = Buffer.byteLength(dict, 'latin1');
  let prefix = 10;
  let total = Math.ceil((prefix + dictBytes + 1) / ALIGN) * ALIGN;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = Math.ceil((prefix + dictBytes + 1) / ALIGN) * ALIGN;
  }
  const buf = Buffer.alloc(total, 0x20);
  NPY_MAGIC.copy(buf, 0);
  buf[6] = prefix === 10 ? 1 : 2;
  buf[7] = 0;
  if (prefix === 10) buf.writeUInt16LE(total - prefix, 8);
  else buf.writeUInt32LE(total - prefix, 8);
  buf.write(dict, prefix, 'latin1');
  buf[total - 1] = 0x0a;
  return buf;
}

const badHeader = (file: string, message: string, remedy: string, cause?: unknown): MmrunError =>
  new MmrunError('NPY_BAD_HEADER', `${file}: ${message}`, { remedy, cause });

const truncated = (file: string, needed: number, have: number): MmrunError =>
  badHeader(
    file,
    `.npy header is truncated: it needs ${needed} bytes, the file has ${have}`,
    'the file is incomplete (an interrupted write?); restore it from a copy or re-create it',
  );

/** Where the header dict starts and the data begins, from the fixed prefix of `buf`. */
function headerBounds(buf: Buffer, file: string): { version: [number, number]; start: number; dataOffset: number } {
  if (buf.length < NPY_MAGIC.length || !buf.subarray(0, NPY_MAGIC.length).equals(NPY_MAGIC)) {
    const found = [...buf.subarray(0, NPY_MAGIC.length)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new MmrunError(
      'NPY_BAD_MAGIC',
      `${file}: not a .npy file: it starts with bytes [${found}], expected \\x93NUMPY (93 4e 55 4d 50 59)`,
      { remedy: 'check the path; mmrun reads .npy files written by numpy.save or by mmrun' },
    );
  }
  if (buf.length < 8) throw truncated(file, 10, buf.length);
  const major = buf[6] as number;
  const minor = buf[7] as number;
  if ((major !== 1 && major !== 2 && major !== 3) || minor !== 0) {
    throw new MmrunError(
      'NPY_UNSUPPORTED',
      `${file}: .npy format version ${major}.${minor} is not supported (mmrun reads 1.0, 2.0 and 3.0)`,
      { remedy: 're-save the array with numpy.save, which writes a supported version' },
    );
  }
  const start = major === 1 ? 10 : 12;
  if (buf.length < start) throw truncated(file, start, buf.length);
  const length = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  return { version: [major, minor], start, dataOffset: start + length };
}

/**
 * Parses a .npy header from the first bytes of a file (`buf` may extend past the header).
 * `file` is used in error messages only.
 * @throws MmrunError `NPY_BAD_MAGIC`, `NPY_BAD_HEADER` or `NPY_UNSUPPORTED`, naming the file.
 */
export function parseHeader(buf: Buffer, file: string): NpyHeader {
  const { version, start, dataOffset } = headerBounds(buf, file);
  if (buf.length < dataOffset) throw truncated(file, dataOffset, buf.length);
  const headerText = buf.toString(version[0] === 3 ? 'utf8' : 'latin1', start, dataOffset).trim();
  const remedy = 'the header is corrupt; re-create the file with numpy.save or mmrun';
  let dict: PyValue;
  try {
    dict = parsePyLiteral(headerText);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw badHeader(file, `.npy header ${show(headerText)} is not a Python literal: ${reason}`, remedy, err);
  }
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) {
    throw badHeader(file, `.npy header ${show(headerText)} is not a dict`, remedy);
  }
  const keys = Object.keys(dict);
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!keys.includes(key)) throw badHeader(file, `.npy header ${show(headerText)} lacks the key '${key}'`, remedy);
  }
  if (keys.length !== 3) {
    const extra = keys.filter((k) => k !== 'descr' && k !== 'fortran_order' && k !== 'shape');
    throw badHeader(file, `.npy header ${show(headerText)} has unexpected keys ${formatDescr(extra)}`, remedy);
  }
  const { descr, fortran_order: fortranOrder, shape } = dict as Record<string, PyValue>;
  if (typeof fortranOrder !== 'boolean') {
    throw badHeader(
      file,
      `.npy header 'fortran_order' is ${formatDescr(fortranOrder ?? null)}, expected True or False`,
      remedy,
    );
  }
  if (!Array.isArray(shape) || !shape.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) {
    throw badHeader(
      file,
      `.npy header 'shape' is ${formatValue(shape ?? null)}, expected a tuple of non-negative integers`,
      remedy,
    );
  }
  return { version, descr: descr ?? null, fortranOrder, shape: shape as number[], dataOffset, headerText };
}

/**
 * Reads and parses the header of the .npy file at `path`, reading only the header's bytes.
 * @throws MmrunError `IO_ERROR` if the file cannot be read, else as {@link parseHeader}.
 */
export function readHeader(path: string): NpyHeader {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    let buf = readAt(fd, Math.min(4096, size));
    const { dataOffset } = headerBounds(buf, path);
    if (dataOffset > buf.length && buf.length < size) buf = readAt(fd, Math.min(dataOffset, size));
    return parseHeader(buf, path);
  } catch (err) {
    if (err instanceof MmrunError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new MmrunError('IO_ERROR', `${path}: cannot read the .npy header: ${reason}`, {
      remedy: 'check that the file exists and is readable',
      cause: err,
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readAt(fd: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/**
 * Converts a parsed `descr` to a {@link RowLayout} if it is a structured dtype mmrun supports:
 * named fields of the types in `NUMPY_TYPESTR`, each a scalar or a 1-D subarray (a vector field).
 * @throws MmrunError `NPY_UNSUPPORTED` naming the file, the descr and the offending field.
 */
export function layoutFromDescr(descr: PyValue, file: string): RowLayout {
  const unsupported = (why: string): MmrunError =>
    new MmrunError('NPY_UNSUPPORTED', `${file}: dtype ${formatDescr(descr)} is not supported: ${why}`, {
      remedy: RESAVE_REMEDY,
    });
  if (!Array.isArray(descr)) throw unsupported('it is not a structured dtype (a list of fields)');
  if (descr.length === 0) throw unsupported('it has no fields');
  const fields: Field[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const entry of descr) {
    if (!Array.isArray(entry) || entry.length < 2 || entry.length > 3) {
      throw unsupported(`field ${formatDescr(entry)} is not (name, type) or (name, type, shape)`);
    }
    const [name, typestr, shape] = entry;
    if (typeof name !== 'string' || !IDENTIFIER.test(name) || names.has(name)) {
      throw unsupported(
        `field name ${formatDescr(name ?? null)} is not a unique identifier (padding or titled field?)`,
      );
    }
    const dtype = typeof typestr === 'string' ? DTYPE_OF_TYPESTR.get(typestr) : undefined;
    if (dtype === undefined) {
      throw unsupported(
        `field '${name}' has type ${formatDescr(typestr ?? null)}; supported types are ${SUPPORTED_TYPESTRS}`,
      );
    }
    let length = 1;
    const vector = shape !== undefined;
    if (vector) {
      const n = Array.isArray(shape) && shape.length === 1 ? shape[0] : undefined;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
        throw unsupported(
          `field '${name}' has subarray shape ${formatDescr(shape)}; only 1-D shapes (n,) with n >= 1 are supported`,
        );
      }
      length = n;
    }
    const size = DTYPE_SIZE[dtype] * length;
    names.add(name);
    fields.push({ name, dtype, length, vector, offset, size });
    offset += size;
  }
  return { fields, itemsize: offset };
}
