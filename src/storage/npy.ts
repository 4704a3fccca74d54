import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { MmrunError, show } from '../errors.ts';
import { DTYPE_SIZE, descrOf, type Field, NUMPY_TYPESTR, type RowLayout, type ScalarDtype } from './dtype.ts';

/** The six bytes every .npy file starts with. */
export const NPY_MAGIC: Buffer = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** A parsed Python literal: tuples and lists both become arrays; `None` becomes `null`. */
export type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

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
const MAX_DEPTH = 64;
const NUMBER = /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const HEX = /^[0-9a-fA-F]+$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEYWORDS: Readonly<Record<string, PyValue>> = { True: true, False: false, None: null };
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '\n': '',
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};
const HEX_ESCAPE_DIGITS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };
const DTYPE_OF_TYPESTR: ReadonlyMap<string, ScalarDtype> = new Map(
  Object.entries(NUMPY_TYPESTR).map(([dtype, typestr]) => [typestr, dtype as ScalarDtype]),
);
const SUPPORTED_TYPESTRS = [...DTYPE_OF_TYPESTR.keys()].join(', ');
const RESAVE_REMEDY =
  "save a 1-D structured array whose fields are scalars or 1-D subarrays of little-endian types, e.g. np.save(path, np.zeros(n, dtype=[('x', '<f8'), ('v', '<f4', (16,))]))";

/**
 * Parses a Python literal as found in .npy headers: strings, numbers, `True`/`False`/`None`,
 * tuples, lists and dicts with string keys.
 * @throws Error naming the position of the first bad character.
 */
export function parsePyLiteral(text: string): PyValue {
  let pos = 0;

  const fail = (expected: string): never => {
    const found = pos < text.length ? JSON.stringify(text.slice(pos, pos + 12)) : 'end of input';
    throw new Error(`expected ${expected} at position ${pos}, found ${found}`);
  };

  const skipSpace = (): void => {
    while (pos < text.length && ' \t\n\r\f\v'.includes(text.charAt(pos))) pos++;
  };

  const parseString = (): string => {
    const quote = text.charAt(pos++);
    let out = '';
    for (;;) {
      const c = text.charAt(pos);
      if (c === '' || c === '\n') return fail(`closing ${quote}`);
      pos++;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text.charAt(pos++);
      const simple = SIMPLE_ESCAPES[e];
      const digits = HEX_ESCAPE_DIGITS[e];
      if (simple !== undefined) {
        out += simple;
      } else if (digits !== undefined) {
        const hex = text.slice(pos, pos + digits);
        const code = Number.parseInt(hex, 16);
        if (hex.length !== digits || !HEX.test(hex) || code > 0x10ffff)
          return fail(`${digits} hex digits after \\${e}`);
        out += String.fromCodePoint(code);
        pos += digits;
      } else if (e >= '0' && e <= '7') {
        let end = pos;
        while (end < pos + 2 && text.charAt(end) >= '0' && text.charAt(end) <= '7') end++;
        out += String.fromCodePoint(Number.parseInt(text.slice(pos - 1, end), 8));
        pos = end;
      } else if (e === '') {
        return fail(`closing ${quote}`);
      } else {
        out += `\\${e}`;
      }
    }
  };

  const take = (c: string): void => {
    if (text.charAt(pos) !== c) fail(`'${c}'`);
    pos++;
  };

  const parseSequence = (close: string, depth: number): { items: PyValue[]; comma: boolean } => {
    const items: PyValue[] = [];
    let comma = false;
    pos++;
    skipSpace();
    while (text.charAt(pos) !== close) {
      items.push(parseValue(depth + 1));
      skipSpace();
      if (text.charAt(pos) !== close) {
        if (text.charAt(pos) !== ',') fail(`',' or '${close}'`);
        pos++;
        comma = true;
        skipSpace();
      }
    }
    pos++;
    return { items, comma };
  };

  const parseDict = (depth: number): { [key: string]: PyValue } => {
    const dict: { [key: string]: PyValue } = {};
    pos++;
    skipSpace();
    while (text.charAt(pos) !== '}') {
      const c = text.charAt(pos);
      if (c !== "'" && c !== '"') return fail('a string key');
      const key = parseString();
      skipSpace();
      take(':');
      skipSpace();
      Object.defineProperty(dict, key, {
        value: parseValue(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      skipSpace();
      if (text.charAt(pos) !== '}') {
        take(',');
        skipSpace();
      }
    }
    pos++;
    return dict;
  };

  const parseValue = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) return fail(`at most ${MAX_DEPTH} levels of nesting`);
    skipSpace();
    const c = text.charAt(pos);
    if (c === "'" || c === '"') return parseString();
    if ((c === 'u' || c === 'U') && (text.charAt(pos + 1) === "'" || text.charAt(pos + 1) === '"')) {
      pos++;
      return parseString();
    }
    if (c === '[') return parseSequence(']', depth).items;
    if (c === '(') {
      const { items, comma } = parseSequence(')', depth);
      return items.length === 1 && !comma ? (items[0] as PyValue) : items;
    }
    if (c === '{') return parseDict(depth);
    NUMBER.lastIndex = pos;
    const number = NUMBER.exec(text);
    if (number) {
      pos = NUMBER.lastIndex;
      if (/^[+-]?\d+$/.test(number[0]) && (text.charAt(pos) === 'L' || text.charAt(pos) === 'l')) pos++;
      return Number(number[0]);
    }
    NAME.lastIndex = pos;
    const name = NAME.exec(text)?.[0];
    if (name !== undefined && Object.hasOwn(KEYWORDS, name)) {
      pos += name.length;
      return KEYWORDS[name] as PyValue;
    }
    return fail('a value');
  };

  const value = parseValue(0);
  skipSpace();
  if (pos < text.length) fail('end of input');
  return value;
}

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

/**
 * A short Python-like rendering of a parsed descr for messages, e.g.
 * `[('x', '<f8'), ('v', '<f4', (16,))]`: the outer array as a list, inner arrays as tuples.
 */
export function formatDescr(descr: PyValue): string {
  const text = formatValue(descr, true);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function formatValue(value: PyValue, top = false): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `'${value.replace(/[\\']/g, '\\$&').replace(/\n/g, '\\n')}'`;
  if (Array.isArray(value)) {
    const items = value.map((v) => formatValue(v)).join(', ');
    if (top) return `[${items}]`;
    return value.length === 1 ? `(${items},)` : `(${items})`;
  }
  return `{${Object.entries(value)
    .map(([k, v]) => `${formatValue(k)}: ${formatValue(v)}`)
    .join(', ')}}`;
}

// A NumPy type string such as '<f8', '|b1', '>i4', '<U10', '|S5', '|V16', '<M8[ns]'.
const TYPESTR = /^([<>|=])?([biufcSaUVMm])(\d+)(?:\[(\w+)\])?$/;
const KIND_SIZES: Readonly<Record<string, readonly number[]>> = {
  b: [1],
  i: [1, 2, 4, 8],
  u: [1, 2, 4, 8],
  f: [2, 4, 8, 12, 16],
  c: [8, 16, 24, 32],
  M: [8],
  m: [8],
};

/**
 * Bytes per element of any NumPy `descr` as stored in a .npy header: a type string
 * (`'<f8'`, `'>i4'`, `'|b1'`, `'<U10'`, `'|S5'`, `'|V8'`, `'<M8[ns]'` …) or a structured
 * descr (a list of `(name, type)` / `(name, type, shape)` entries, nested ones included,
 * padding fields `('', '|V4')` counted). Unlike {@link layoutFromDescr} it accepts every
 * dtype NumPy can memory-map, whatever its byte order.
 * @throws MmrunError `NPY_UNSUPPORTED` for object arrays (`'|O'`: pickled, no fixed size)
 * and for anything that is not a NumPy descr, naming the offending part.
 * @example
 * descrItemsize("<f8");                                    // 8
 * descrItemsize([['x', '>f4'], ['v', '<i2', [2, 3]]]);     // 4 + 12 = 16
 */
export function descrItemsize(descr: PyValue, file = 'descr'): number {
  const unsupported = (why: string): MmrunError =>
    new MmrunError('NPY_UNSUPPORTED', `${file}: dtype ${formatDescr(descr)} has no fixed item size: ${why}`, {
      remedy: 'object arrays are pickled; load them with np.load(path, allow_pickle=True) and re-save a numeric dtype',
    });
  const sizeOf = (d: PyValue, depth: number): number => {
    if (depth > MAX_DEPTH) throw unsupported(`more than ${MAX_DEPTH} levels of nesting`);
    if (typeof d === 'string') {
      if (/^[<>|=]?O\d*$/.test(d)) throw unsupported(`'${d}' holds Python objects`);
      const m = TYPESTR.exec(d);
      if (!m) throw unsupported(`'${d}' is not a NumPy type string`);
      const kind = m[2] as string;
      const n = Number(m[3]);
      const sizes = KIND_SIZES[kind];
      if (sizes && !sizes.includes(n)) throw unsupported(`'${d}' has an unknown size for kind '${kind}'`);
      if (m[4] !== undefined && kind !== 'M' && kind !== 'm')
        throw unsupported(`'${d}' has a unit but is not a datetime`);
      return kind === 'U' ? 4 * n : n;
    }
    if (!Array.isArray(d)) throw unsupported(`${formatDescr(d)} is neither a type string nor a list of fields`);
    let total = 0;
    for (const entry of d) {
      if (!Array.isArray(entry) || entry.length < 2 || entry.length > 3) {
        throw unsupported(`field ${formatDescr(entry)} is not (name, type) or (name, type, shape)`);
      }
      const [name, type, shape] = entry;
      const titled = Array.isArray(name) && name.length === 2 && name.every((s) => typeof s === 'string');
      if (typeof name !== 'string' && !titled) throw unsupported(`field name ${formatDescr(name ?? null)}`);
      let count = 1;
      if (shape !== undefined) {
        const dims = typeof shape === 'number' ? [shape] : shape;
        if (!Array.isArray(dims) || !dims.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) {
          throw unsupported(`field ${formatDescr(entry)} has subarray shape ${formatDescr(shape)}`);
        }
        count = (dims as number[]).reduce((a, b) => a * b, 1);
      }
      total += sizeOf(type ?? null, depth + 1) * count;
    }
    return total;
  };
  return sizeOf(descr, 0);
}

/** One top-level field of a structured dtype, as {@link inspectNpy} reports it. */
export interface NpyFieldInfo {
  readonly name: string;
  /** The field's type: a type string, or a nested descr rendered like Python. */
  readonly type: string;
  /** Subarray shape; `[]` for a scalar field. */
  readonly shape: readonly number[];
  /** Byte offset inside an element. */
  readonly offset: number;
  /** Bytes the field takes in an element. */
  readonly size: number;
}

/** What {@link inspectNpy} finds in a file. Properties it could not read are absent. */
export interface NpyInspection {
  readonly file: string;
  /** Whether NumPy can load the file (also with `mmap_mode='r'`) and its size is exact. */
  readonly valid: boolean;
  /** Why the file is not valid. */
  readonly reason?: string;
  /** The error code of the first problem found. */
  readonly code?: MmrunError['code'];
  /** Format version, e.g. `"1.0"`. */
  readonly version?: string;
  /** The header dict as written. */
  readonly header?: string;
  /** The dtype as Python source, e.g. `[('x', '<f8')]` or `'<f8'`. */
  readonly descr?: string;
  /** Top-level fields of a structured dtype; absent for a simple dtype. */
  readonly fields?: readonly NpyFieldInfo[];
  readonly shape?: readonly number[];
  readonly fortranOrder?: boolean;
  /** Bytes per element. */
  readonly itemsize?: number;
  /** Elements: the product of the shape. */
  readonly count?: number;
  /** Bytes before the first data byte. */
  readonly dataOffset?: number;
  /** `dataOffset + count × itemsize`. */
  readonly expectedSize?: number;
  readonly actualSize: number;
  /** Whether mmrun itself could map it as a segment: a 1-D C-order array of a supported structured dtype. */
  readonly mmrunLayout: boolean;
}

/**
 * Reads the header of any `.npy` file and checks it the way NumPy would load it: magic,
 * version, a parseable header, a dtype with a fixed item size, and a file size of exactly
 * header + elements × item size. Reads only the header; never throws for a bad file, only
 * for one that cannot be read at all.
 * @throws MmrunError `IO_ERROR` if the file cannot be opened.
 * @example
 * const r = inspectNpy('runs/walk-1/000000.npy');
 * if (!r.valid) console.error(r.reason);
 */
export function inspectNpy(file: string): NpyInspection {
  let actualSize: number;
  try {
    const fd = openSync(file, 'r');
    try {
      actualSize = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch (cause) {
    throw new MmrunError('IO_ERROR', `${file}: cannot open it: ${(cause as Error).message}`, {
      remedy: 'check that the file exists and is readable',
      cause,
    });
  }
  const base = { file, actualSize, mmrunLayout: false };
  let header: NpyHeader;
  try {
    header = readHeader(file);
  } catch (err) {
    if (!(err instanceof MmrunError) || err.code === 'IO_ERROR') throw err;
    return { ...base, valid: false, reason: err.message, code: err.code };
  }
  const { descr, shape, fortranOrder, dataOffset } = header;
  const described = {
    ...base,
    version: header.version.join('.'),
    header: header.headerText,
    descr: typeof descr === 'string' ? formatValue(descr) : formatDescr(descr),
    ...(Array.isArray(descr) ? { fields: fieldInfos(descr) } : {}),
    shape,
    fortranOrder,
    dataOffset,
  };
  let itemsize: number;
  try {
    itemsize = descrItemsize(descr, file);
  } catch (err) {
    if (!(err instanceof MmrunError)) throw err;
    return { ...described, valid: false, reason: err.message, code: err.code };
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const expectedSize = dataOffset + count * itemsize;
  let mmrunLayout = false;
  try {
    layoutFromDescr(descr, file);
    mmrunLayout = shape.length === 1 && !fortranOrder;
  } catch {
    // Not an mmrun dtype; still a valid .npy.
  }
  const sized = { ...described, itemsize, count, expectedSize, mmrunLayout };
  if (actualSize !== expectedSize) {
    const how =
      actualSize < expectedSize
        ? `truncated: ${expectedSize - actualSize} bytes are missing`
        : `${actualSize - expectedSize} extra bytes after the data`;
    return {
      ...sized,
      valid: false,
      code: 'SIZE_MISMATCH',
      reason: `${file} is ${actualSize} bytes but header ${dataOffset} + ${count} elements × ${itemsize} bytes = ${expectedSize} (${how})`,
    };
  }
  return { ...sized, valid: true };
}

function fieldInfos(descr: PyValue[]): NpyFieldInfo[] | undefined {
  const out: NpyFieldInfo[] = [];
  let offset = 0;
  for (const entry of descr) {
    if (!Array.isArray(entry)) return undefined;
    const [name, type, shape] = entry;
    let size: number;
    try {
      size = descrItemsize([entry]);
    } catch {
      return undefined;
    }
    const dims = shape === undefined ? [] : typeof shape === 'number' ? [shape] : (shape as number[]);
    out.push({
      name: Array.isArray(name) ? String(name[1]) : String(name),
      type: typeof type === 'string' ? type : formatDescr(type ?? null),
      shape: dims,
      offset,
      size,
    });
    offset += size;
  }
  return out;
}
