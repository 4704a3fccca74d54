// Any .npy file, not only mmrun's segments: the item size of every dtype NumPy can map, and
// a check of a file the way NumPy would load it (`mmrun inspect`).
import { closeSync, fstatSync, openSync } from 'node:fs';
import { MmrunError } from '../errors.ts';
import { layoutFromDescr, type NpyHeader, readHeader } from './npy.ts';
import { formatDescr, formatValue, type PyValue } from './py-literal.ts';

const MAX_DEPTH = 64;

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
