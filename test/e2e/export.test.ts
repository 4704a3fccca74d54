// `mmrun export` and `mmrun inspect` end to end: the real CLI, read back by NumPy, pandas,
// pyarrow (when installed) and apache-arrow, for a run with every dtype and vector columns.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { selectColumns } from '../../src/export/select.ts';
import { parseHeader } from '../../src/storage/npy.ts';
import {
  ALLTYPES,
  decodeRows,
  exact,
  exactRows,
  findPython,
  parseCsv,
  parseValue,
  runPython,
  segmentRows,
} from '../export/helpers.ts';
import { BIN, json, mmrun, peekRun, ROOT, spawnMmrun, tempDir, waitFor } from './cli.ts';

const dirs: string[] = [];
const fresh = (prefix = 'mmrun-export-e2e-'): string => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const python = findPython();

/** The Python to use for a test; without numpy it fails in CI (or with $MMRUN_PYTHON), else skips. */
function needPython(ctx: TestContext, module?: string): string {
  const exe = module ? python.with(module) : python.exe;
  if (exe) return exe;
  if (!module && python.required) throw new Error(python.why);
  return ctx.skip(module ? `no Python with numpy and ${module} (optional)` : python.why);
}

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Runs the CLI with stdout captured as bytes (the e2e helper decodes it as text). */
function mmrunBytes(
  args: readonly string[],
  runsDir: string,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, MMRUN_RUNS_DIR: runsDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr })));
}

let runsDir: string;
let runDir: string;
let expected: ReturnType<typeof segmentRows>;
const ROWS = 3000;

beforeAll(async () => {
  runsDir = fresh();
  runDir = path.join(runsDir, 'all');
  const r = await mmrun(['run', ALLTYPES, '--id', 'all', '--seed', '3', '--segment-rows', '700'], runsDir);
  expect(r.code, r.stderr).toBe(0);
  expected = segmentRows(runDir);
  expect(expected.rows).toBe(ROWS);
});

/** Exports run `all` with the CLI into a fresh directory; returns the file. */
async function exportCli(format: string, ...args: string[]): Promise<{ file: string; stderr: string }> {
  const file = path.join(fresh('mmrun-out-'), `all.${format}`);
  const r = await mmrun(['export', 'all', '--format', format, '--out', file, ...args], runsDir);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toBe('');
  return { file, stderr: r.stderr };
}

const cells = (columns?: string[], start = 0, end = ROWS) =>
  decodeRows(
    expected.layout,
    expected.data.subarray(start * expected.layout.itemsize, end * expected.layout.itemsize),
    selectColumns(expected.layout, columns, 'run'),
  );

describe('mmrun export, read back', () => {
  it('npy: numpy loads it (also with mmap_mode="r") equal to the concatenated segments', async (ctx) => {
    const exe = needPython(ctx);
    const { file, stderr } = await exportCli('npy');
    expect(stderr).toContain(`exported 3,000 rows × 12 columns of all to ${file} (npy,`);
    const sub = (await exportCli('npy', '--columns', 'vb,f4,v,u2', '--rows', '100:-100')).file;
    const script = `
import glob, json, sys, numpy as np
from numpy.lib import recfunctions as rfn
a = np.concatenate([np.load(f, mmap_mode='r') for f in sorted(glob.glob(sys.argv[1] + '/*.npy'))])
b = np.load(sys.argv[2])
c = np.load(sys.argv[2], mmap_mode='r')
s = np.load(sys.argv[3], mmap_mode='r')
want = rfn.repack_fields(a[['vb', 'f4', 'v', 'u2']][100:-100])
print(json.dumps({
  'dtype': bool(b.dtype == a.dtype), 'shape': list(b.shape), 'bytes': b.tobytes() == a.tobytes(),
  'memmap': isinstance(c, np.memmap), 'mmap_bytes': c.tobytes() == a.tobytes(),
  'nan_f8': int(np.isnan(c['f8']).sum()), 'neg_zero_f4': int(((c['f4'] == 0) & np.signbit(c['f4'])).sum()),
  'sub_names': list(s.dtype.names), 'sub_shape': list(s.shape),
  'sub_dtype': bool(s.dtype == want.dtype), 'sub_bytes': s.tobytes() == want.tobytes(),
}))`;
    expect(runPython(exe, script, runDir, file, sub)).toEqual({
      dtype: true,
      shape: [ROWS],
      bytes: true,
      memmap: true,
      mmap_bytes: true,
      nan_f8: expect.any(Number),
      neg_zero_f4: expect.any(Number),
      sub_names: ['vb', 'f4', 'v', 'u2'],
      sub_shape: [2800],
      sub_dtype: true,
      sub_bytes: true,
    });
  });

  it('csv: parsed back, every value has the same bits', async () => {
    const { file } = await exportCli('csv');
    const { header, rows } = parseCsv(fs.readFileSync(file, 'utf8'));
    const want = cells();
    expect(header).toEqual(want[0]!.map((c) => c.column));
    expect(
      rows.map((row, r) => row.map((t, c) => exact(want[r]![c]!.dtype, parseValue(want[r]![c]!.dtype, t)))),
    ).toEqual(exactRows(want));
  });

  it('csv: pandas reads it back exactly (float_precision="round_trip"), with float, int and bool columns', async (ctx) => {
    const exe = needPython(ctx, 'pandas');
    const { file } = await exportCli('csv');
    const script = `
import glob, json, sys, numpy as np, pandas as pd
a = np.concatenate([np.load(f, mmap_mode='r') for f in sorted(glob.glob(sys.argv[1] + '/*.npy'))])
df = pd.read_csv(sys.argv[2], float_precision='round_trip')
bad, kinds = [], {}
for name in a.dtype.names:
    col = a[name]
    parts = [(name, col)] if col.ndim == 1 else [(f'{name}[{k}]', col[:, k]) for k in range(col.shape[1])]
    for label, want in parts:
        got = df[label].to_numpy()
        kinds[label] = got.dtype.kind
        got = got.astype(want.dtype)
        if want.dtype.kind == 'f':
            same = np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(
                got[~np.isnan(got)].view(f'u{want.dtype.itemsize}'), want[~np.isnan(want)].view(f'u{want.dtype.itemsize}'))
        else:
            same = np.array_equal(got, want)
        if not same: bad.append(label)
print(json.dumps({'rows': len(df), 'bad': bad, 'kinds': kinds}))`;
    const got = runPython(exe, script, runDir, file) as { rows: number; bad: string[]; kinds: Record<string, string> };
    expect(got.rows).toBe(ROWS);
    expect(got.bad).toEqual([]);
    expect(got.kinds).toMatchObject({
      f8: 'f',
      f4: 'f',
      i1: 'i',
      u4: 'i',
      flag: 'b',
      'v[0]': 'f',
      'vi[1]': 'i',
      'vb[0]': 'b',
    });
  });

  it('jsonl: parsed back, every value has the same bits', async () => {
    const { file } = await exportCli('jsonl');
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const want = cells();
    const got = lines.map((line, r) =>
      (Object.values(JSON.parse(line)).flat() as (string | number | boolean)[]).map((v, c) =>
        exact(want[r]![c]!.dtype, parseValue(want[r]![c]!.dtype, v)),
      ),
    );
    expect(got).toEqual(exactRows(want));
  });

  it('arrow: apache-arrow reads it back equal, vectors as FixedSizeList', async () => {
    const { file } = await exportCli('arrow');
    const table = tableFromIPC(fs.readFileSync(file));
    expect(table.numRows).toBe(ROWS);
    expect(String(table.schema.fields.find((f) => f.name === 'v')?.type)).toBe('FixedSizeList[3]<Float32>');
    const want = cells();
    const got: string[][] = [];
    for (let r = 0; r < table.numRows; r++) {
      const values = (table.get(r)!.toArray() as unknown[]).flatMap((v) =>
        v !== null && typeof v === 'object' ? [...(v as { toArray(): Iterable<number | boolean> }).toArray()] : [v],
      );
      got.push(values.map((v, c) => exact(want[r]![c]!.dtype, v as number | boolean)));
    }
    expect(got).toEqual(exactRows(want));
  });

  it('arrow: pyarrow reads it back equal to the segments', async (ctx) => {
    const exe = needPython(ctx, 'pyarrow');
    const { file } = await exportCli('arrow');
    const script = `
import glob, json, sys, numpy as np, pyarrow as pa
a = np.concatenate([np.load(f, mmap_mode='r') for f in sorted(glob.glob(sys.argv[1] + '/*.npy'))])
t = pa.ipc.open_file(sys.argv[2]).read_all()
bad = []
for name in a.dtype.names:
    want = a[name]
    col = t.column(name).combine_chunks()
    got = col.flatten().to_numpy(zero_copy_only=False).reshape(want.shape) if want.ndim > 1 else col.to_numpy(zero_copy_only=False)
    if got.dtype != want.dtype or got.tobytes() != want.tobytes(): bad.append(name)
print(json.dumps({'rows': t.num_rows, 'bad': bad}))`;
    expect(runPython(exe, script, runDir, file)).toEqual({ rows: ROWS, bad: [] });
  });

  it('--columns and --rows slice every text format the same way', async () => {
    const want = exactRows(cells(['u4', 'vb', 'f8'], 2990, 2999));
    const csv = parseCsv(
      fs.readFileSync((await exportCli('csv', '--columns', 'u4,vb,f8', '--rows=-10:-1')).file, 'utf8'),
    );
    expect(csv.header).toEqual(['u4', 'vb[0]', 'vb[1]', 'f8']);
    const types = ['u4', 'bool', 'bool', 'f8'] as const;
    expect(csv.rows.map((row) => row.map((t, c) => exact(types[c]!, parseValue(types[c]!, t))))).toEqual(want);
    const jsonl = fs.readFileSync(
      (await exportCli('jsonl', '--columns', 'u4,vb,f8', '--rows', '2990:2999')).file,
      'utf8',
    );
    const objects = jsonl
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objects.map((o) => Object.keys(o))).toEqual(Array(9).fill(['u4', 'vb', 'f8']));
  });
});

describe('mmrun export, the command', () => {
  it('--out - writes to stdout (text and binary) exactly what it writes to a file', async () => {
    for (const format of ['csv', 'npy']) {
      const { file } = await exportCli(format);
      const r = await mmrunBytes(['export', 'all', '--format', format, '--out', '-'], runsDir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.equals(fs.readFileSync(file))).toBe(true);
      expect(r.stderr).toContain('to stdout');
    }
  });

  it('a reader that closes the pipe early (| head) ends the export quietly with 141', async () => {
    const child = spawn(process.execPath, [BIN, 'export', 'all', '-f', 'jsonl', '--out', '-'], {
      cwd: ROOT,
      env: { ...process.env, MMRUN_RUNS_DIR: runsDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect([code, stderr]).toEqual([141, '']);
  });

  it('an existing file is never overwritten without --force; with it, it is replaced', async () => {
    const dir = fresh('mmrun-out-');
    const file = path.join(dir, 'all.npy');
    fs.writeFileSync(file, 'my precious results\n');
    const before = sha256(file);
    const r = await mmrun(['export', 'all', '--out', file], runsDir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`OUTPUT_EXISTS: ${file} already exists`);
    expect(r.stderr).toContain('--force');
    expect(sha256(file)).toBe(before);
    expect(fs.readdirSync(dir)).toEqual(['all.npy']);
    const forced = await mmrun(['export', 'all', '--out', file, '--force'], runsDir);
    expect(forced.code, forced.stderr).toBe(0);
    expect(parseHeader(fs.readFileSync(file), file).shape).toEqual([ROWS]);
    expect(fs.readdirSync(dir)).toEqual(['all.npy']);
  });

  it('writes <run-id>.<format> in the working directory by default', async () => {
    const cwd = fresh('mmrun-cwd-');
    const r = spawnSync(process.execPath, [BIN, 'export', 'all', '-f', 'arrow', '--runs-dir', runsDir], {
      cwd,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readdirSync(cwd)).toEqual(['all.arrow']);
  });

  it('a failed export leaves neither the file nor a temporary', async () => {
    const dir = fresh();
    fs.cpSync(runsDir, dir, { recursive: true });
    const seg = path.join(dir, 'all', '000003.npy');
    fs.truncateSync(seg, fs.statSync(seg).size - 1);
    const out = fresh('mmrun-out-');
    const r = await mmrun(['export', 'all', '-f', 'csv', '--out', path.join(out, 'x.csv')], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SIZE_MISMATCH: segment 000003.npy');
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('SIGINT while blocked on a full pipe stops at once with 130', async () => {
    const child = spawn(process.execPath, [BIN, 'export', 'all', '-f', 'jsonl', '--out', '-'], {
      cwd: ROOT,
      env: { ...process.env, MMRUN_RUNS_DIR: runsDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // Read one chunk (the export is under way), then stop reading: the pipe fills and the
    // export waits for 'drain'.
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    expect(stderr).toContain('EXPORT_INTERRUPTED: export interrupted by SIGINT');
  });

  it.each([
    [
      ['--columns', 'f8,nope', '-f', 'csv'],
      1,
      "UNKNOWN_COLUMN: run 'all' has no column 'nope'; its columns are f8, f4, i1, i2, i4, u1, u2, u4, flag, v, vi, vb",
    ],
    [['--rows', '10..20', '-f', 'csv'], 1, "BAD_ROW_RANGE: --rows '10..20' is not a row range"],
    [[], 2, 'USAGE: export needs a format'],
    [['-f', 'csv', '--out', '-', '--force'], 2, '--force conflicts with --out -'],
    [['-f', 'xml'], 2, 'Invalid values'],
  ])('%j → exit %i: %s', async (args, code, message) => {
    const cwd = fresh('mmrun-cwd-');
    const r = spawnSync(process.execPath, [BIN, 'export', 'all', ...args, '--runs-dir', runsDir], {
      cwd,
      encoding: 'utf8',
    });
    expect(r.status).toBe(code);
    expect(r.stderr).toContain(message);
    expect(fs.readdirSync(cwd)).toEqual([]);
  });
});

describe('mmrun export of an unfinished run', () => {
  const SLOW = ['--iterations', '1e7', '--param', 'work=3000', '--flush-every', '500', '--segment-rows', '100_000'];

  it('a running run: exactly the rows flushed when the export began, said on stderr', async () => {
    const dir = fresh();
    const cli = spawnMmrun(['run', ALLTYPES, '--id', 'live', ...SLOW], dir);
    await cli.started;
    const before = await waitFor(
      () => (peekRun(dir, 'live')?.flushedRows ?? 0) >= 1500 && peekRun(dir, 'live'),
      30_000,
      'a flush',
    );
    const out = path.join(fresh('mmrun-out-'), 'live.npy');
    const r = await mmrun(['export', 'live', '--out', out], dir);
    expect(r.code, r.stderr).toBe(0);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(143);
    const n = parseHeader(fs.readFileSync(out), out).shape[0]!;
    expect(n).toBeGreaterThanOrEqual(before.flushedRows);
    expect(r.stderr).toContain(
      `run live is still running: exporting the ${n.toLocaleString('en-US')} flushed rows (of 10,000,000 iterations)`,
    );
    const after = json(await mmrun(['show', 'live', '--json'], dir));
    expect(after.status).toBe('interrupted');
    expect(after.flushedRows as number).toBeGreaterThanOrEqual(n);
    const bytes = fs.readFileSync(out);
    expect(bytes.subarray(parseHeader(bytes, out).dataOffset).equals(segmentRows(path.join(dir, 'live'), n).data)).toBe(
      true,
    );
  });

  it('a crashed run (SIGKILL): exactly its flushed rows, said on stderr', async () => {
    const dir = fresh();
    const cli = spawnMmrun(['run', ALLTYPES, '--id', 'dead', ...SLOW], dir);
    await cli.started;
    await waitFor(() => (peekRun(dir, 'dead')?.flushedRows ?? 0) >= 1000, 30_000, 'a flush');
    cli.child.kill('SIGKILL');
    await cli.exited;
    const flushed = peekRun(dir, 'dead')!.flushedRows;
    const out = path.join(fresh('mmrun-out-'), 'dead.csv');
    const r = await mmrun(['export', 'dead', '--out', out], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`run dead crashed: exporting its ${flushed.toLocaleString('en-US')} flushed rows`);
    expect(r.stderr).toContain('mmrun resume dead');
    const { rows } = parseCsv(fs.readFileSync(out, 'utf8'));
    expect(rows).toHaveLength(flushed);
    const want = segmentRows(path.join(dir, 'dead'), flushed);
    const wantCells = decodeRows(want.layout, want.data);
    expect(
      rows.map((row, i) => row.map((t, c) => exact(wantCells[i]![c]!.dtype, parseValue(wantCells[i]![c]!.dtype, t)))),
    ).toEqual(exactRows(wantCells));
  });
});

describe('mmrun inspect', () => {
  it('a segment: valid, exit 0, header, fields, sizes', async () => {
    const seg = path.join(runDir, '000004.npy');
    const r = await mmrun(['inspect', seg], runsDir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('valid:         yes');
    expect(r.stdout).toContain('shape:         (200,) (200 elements)');
    expect(r.stdout).toMatch(/ {2}v +<f4 +\(3,\) +27 +12/);
    const j = json(await mmrun(['inspect', seg, '--json'], runsDir));
    expect(j).toMatchObject({
      valid: true,
      version: '1.0',
      shape: [200],
      itemsize: 45,
      mmrunLayout: true,
      fortranOrder: false,
    });
    expect(j.expectedSize).toBe(fs.statSync(seg).size);
  });

  it('a truncated file: invalid with the reason, exit 1', async () => {
    const file = path.join(fresh(), 'cut.npy');
    fs.writeFileSync(file, fs.readFileSync(path.join(runDir, '000000.npy')).subarray(0, 5000));
    const r = await mmrun(['inspect', file], runsDir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('valid:         no: ');
    expect(r.stdout).toContain('(truncated: 26820 bytes are missing)');
    const j = json(await mmrun(['inspect', '--json', file], runsDir));
    expect(j).toMatchObject({ valid: false, code: 'SIZE_MISMATCH', actualSize: 5000, expectedSize: 31820 });
  });

  it('numpy-written files of simple dtypes: a 2-D <f8 and a Fortran-order big-endian one', async (ctx) => {
    const exe = needPython(ctx);
    const dir = fresh();
    const script = `
import sys, numpy as np
np.save(sys.argv[1] + '/m.npy', np.arange(12.0).reshape(3, 4))
np.save(sys.argv[1] + '/f.npy', np.asfortranarray(np.arange(24, dtype='>i2').reshape(2, 3, 4)))
print('{}')`;
    runPython(exe, script, dir);
    const m = json(await mmrun(['inspect', '--json', path.join(dir, 'm.npy')], runsDir));
    expect(m).toMatchObject({
      valid: true,
      descr: "'<f8'",
      shape: [3, 4],
      itemsize: 8,
      count: 12,
      fortranOrder: false,
      mmrunLayout: false,
    });
    expect(m.fields).toBeUndefined();
    const f = await mmrun(['inspect', path.join(dir, 'f.npy')], runsDir);
    expect(f.code, f.stdout).toBe(0);
    expect(f.stdout).toContain("dtype:         '>i2' (2 bytes per element)");
    expect(f.stdout).toContain('shape:         (2, 3, 4) (24 elements)');
    expect(f.stdout).toContain('fortran order: yes');
  });
});

describe('examples/python/read_run.py', () => {
  it('loads a real run (with mmrun_reader, found in the checkout) and its exported npy', async (ctx) => {
    const exe = needPython(ctx);
    const { file } = await exportCli('npy');
    const r = spawnSync(exe, [path.join(ROOT, 'examples/python/read_run.py'), runDir, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('run all (completed): 3000 flushed rows of 3000 in 5 segments');
    expect(r.stdout).toContain(`exported ${file}: 3000 rows, identical to the segments`);
    expect(r.stdout).toMatch(/ {2}vb +bool x 2 +true: \d+ of 6000/);
    expect(r.stderr).toBe('');
  });
});
