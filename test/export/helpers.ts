// Helpers shared by the export tests (unit and end-to-end): the rows a run holds, read
// straight from its segment files, and strict comparisons of values read back from exports.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Field, RowLayout, ScalarDtype } from '../../src/storage/dtype.ts';
import { layoutFromDescr, parseHeader } from '../../src/storage/npy.ts';

export const ALLTYPES = path.join(import.meta.dirname, 'fixtures/alltypes.ts');

/** The run's first `rows` rows, concatenated from its segment files (read without mmrun's reader). */
export function segmentRows(runDir: string, rows?: number): { layout: RowLayout; data: Buffer; rows: number } {
  const files = fs
    .readdirSync(runDir)
    .filter((f) => f.endsWith('.npy') && !f.startsWith('.'))
    .sort();
  let layout: RowLayout | undefined;
  const parts: Buffer[] = [];
  for (const f of files) {
    const bytes = fs.readFileSync(path.join(runDir, f));
    const header = parseHeader(bytes, f);
    layout ??= layoutFromDescr(header.descr, f);
    parts.push(bytes.subarray(header.dataOffset));
  }
  if (!layout) throw new Error(`no segments in ${runDir}`);
  const all = Buffer.concat(parts);
  const n = rows ?? all.length / layout.itemsize;
  return { layout, data: all.subarray(0, n * layout.itemsize), rows: n };
}

/** One element of a row: its column, dtype and value (booleans as booleans). */
export interface Cell {
  readonly column: string;
  readonly dtype: ScalarDtype;
  readonly value: number | boolean;
}

/** Every row as a list of cells, vector columns expanded, for `fields` (all by default). */
export function decodeRows(layout: RowLayout, data: Buffer, fields: readonly Field[] = layout.fields): Cell[][] {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const rows: Cell[][] = [];
  for (let base = 0; base < data.length; base += layout.itemsize) {
    const row: Cell[] = [];
    for (const f of fields) {
      const size = f.size / f.length;
      for (let k = 0; k < f.length; k++) {
        const at = base + f.offset + k * size;
        const column = f.vector ? `${f.name}[${k}]` : f.name;
        row.push({ column, dtype: f.dtype, value: read(dv, at, f.dtype) });
      }
    }
    rows.push(row);
  }
  return rows;
}

function read(dv: DataView, at: number, dtype: ScalarDtype): number | boolean {
  switch (dtype) {
    case 'f8':
      return dv.getFloat64(at, true);
    case 'f4':
      return dv.getFloat32(at, true);
    case 'i1':
      return dv.getInt8(at);
    case 'i2':
      return dv.getInt16(at, true);
    case 'i4':
      return dv.getInt32(at, true);
    case 'u1':
      return dv.getUint8(at);
    case 'u2':
      return dv.getUint16(at, true);
    case 'u4':
      return dv.getUint32(at, true);
    case 'bool':
      return dv.getUint8(at) !== 0;
  }
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bit pattern of a float64, or 'NaN' for any NaN (text formats do not keep NaN payloads). */
export function bits64(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  f64[0] = x;
  return (u64[0] as bigint).toString(16);
}

/** The bit pattern of a number rounded to float32, or 'NaN'. */
export function bits32(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  f32[0] = x;
  return (u32[0] as number).toString(16);
}

/** A value in a form where equal means bit-identical: floats by bit pattern. */
export function exact(dtype: ScalarDtype, value: number | boolean): string {
  if (typeof value === 'boolean') return String(value);
  if (dtype === 'f8') return `f8:${bits64(value)}`;
  if (dtype === 'f4') return `f4:${bits32(value)}`;
  return `${dtype}:${value}`;
}

/** Rows of cells as comparable strings. */
export const exactRows = (rows: readonly Cell[][]): string[][] =>
  rows.map((row) => row.map((c) => exact(c.dtype, c.value)));

/** Parses one CSV or JSON value the way a strict reader would; throws on anything unexpected. */
export function parseValue(dtype: ScalarDtype, raw: string | number | boolean): number | boolean {
  if (dtype === 'bool') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw new Error(`not a boolean: ${JSON.stringify(raw)}`);
  }
  if (typeof raw === 'boolean') throw new Error(`not a number: ${raw}`);
  if (typeof raw === 'number') return dtype === 'f4' ? Math.fround(raw) : raw;
  if (dtype === 'f8' || dtype === 'f4') {
    const s = raw;
    if (!/^(NaN|-?Infinity|-?\d+(\.\d+)?(e[+-]\d+)?)$/.test(s)) throw new Error(`not a float: ${JSON.stringify(raw)}`);
    const x = s === 'NaN' ? Number.NaN : Number(s);
    return dtype === 'f4' ? Math.fround(x) : x;
  }
  if (!/^-?\d+$/.test(raw)) throw new Error(`not an integer: ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** Parses the CSV mmrun writes (no quoting needed: names are identifiers, values are numbers). */
export function parseCsv(text: string): { header: string[]; rows: string[][] } {
  if (!text.endsWith('\n')) throw new Error('CSV does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const [header, ...rows] = lines.map((l) => l.split(','));
  return { header: header ?? [], rows };
}

/** A Python with numpy (and whether it has pandas, pyarrow), or the reason there is none. */
export interface Python {
  readonly exe: string | undefined;
  readonly why: string;
  /** Whether a missing numpy fails the tests instead of skipping them: in CI, or with $MMRUN_PYTHON set. */
  readonly required: boolean;
  /** A Python (maybe another one) that imports each module, if any. */
  readonly with: (module: string) => string | undefined;
}

// $MMRUN_PYTHON, when set, is the only candidate: a wrong one must fail, not fall back.
const CANDIDATES = process.env.MMRUN_PYTHON ? [process.env.MMRUN_PYTHON] : ['python3', '/usr/bin/python3'];

const imports = (exe: string, modules: string): boolean =>
  spawnSync(exe, ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0;

export function findPython(): Python {
  const exe = CANDIDATES.find((p) => imports(p, 'numpy'));
  const cache = new Map<string, string | undefined>();
  return {
    exe,
    why: `no Python with numpy among ${CANDIDATES.join(', ')}: apt-get install python3-numpy, or set MMRUN_PYTHON`,
    required: Boolean(process.env.CI || process.env.MMRUN_PYTHON),
    with: (module) => {
      if (!cache.has(module))
        cache.set(
          module,
          CANDIDATES.find((p) => imports(p, `numpy, ${module}`)),
        );
      return cache.get(module);
    },
  };
}

/** Runs a Python script with arguments; returns its stdout parsed as JSON. */
export function runPython(exe: string, script: string, ...args: string[]): unknown {
  const r = spawnSync(exe, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
