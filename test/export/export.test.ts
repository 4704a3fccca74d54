// The export library in-process: every format read back equals the segments' rows exactly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { FixedSizeList, type Table, tableFromIPC } from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { type ExportFormat, type ExportOptions, type ExportPlan, exportRun } from '../../src/export/export.ts';
import { packedLayout, selectColumns } from '../../src/export/select.ts';
import { startRun } from '../../src/runner/run.ts';
import { encodeHeader, parseHeader } from '../../src/storage/npy.ts';
import { fileHash, tmpDir } from '../helpers/tmp.ts';
import { ALLTYPES, type Cell, decodeRows, exact, exactRows, parseCsv, parseValue, segmentRows } from './helpers.ts';

const ROWS = 3000;
let runsDir: string;
let expected: ReturnType<typeof segmentRows>;

beforeAll(async () => {
  runsDir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'mmrun-export-'));
  // Segments of 700 rows: the last one is partial; small chunks below cross segment ends.
  const result = await startRun({ experiment: ALLTYPES, runsDir, id: 'all', seed: 1, segmentRows: 700 });
  expect(result.status).toBe('completed');
  expected = segmentRows(path.join(runsDir, 'all'));
  expect(expected.rows).toBe(ROWS);
  return () => fs.rmSync(runsDir, { recursive: true, force: true });
});

async function exportTo(
  format: ExportFormat,
  options: Partial<ExportOptions> = {},
): Promise<{ file: string; plan: ExportPlan }> {
  const dir = tmpDir('mmrun-out-');
  const file = path.join(dir, `out.${format}`);
  const plan = await exportRun({ runId: 'all', runsDir, format, out: file, ...options });
  return { file, plan };
}

/** The expected cells of rows [start, end) for the given columns. */
function expectedCells(columns?: string[], start = 0, end = ROWS): Cell[][] {
  const fields = selectColumns(expected.layout, columns, 'run');
  const { itemsize } = expected.layout;
  return decodeRows(expected.layout, expected.data.subarray(start * itemsize, end * itemsize), fields);
}

function readCsv(file: string): { header: string[]; rows: string[][] } {
  return parseCsv(fs.readFileSync(file, 'utf8'));
}

const csvCells = (file: string, want: Cell[][]): string[][] => {
  const { header, rows } = readCsv(file);
  expect(header).toEqual(want[0]?.map((c) => c.column) ?? header);
  return rows.map((row, r) => row.map((text, c) => exact(want[r]![c]!.dtype, parseValue(want[r]![c]!.dtype, text))));
};

const jsonlCells = (file: string, want: Cell[][]): string[][] => {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  return lines.map((line, r) => {
    const values = Object.values(JSON.parse(line) as Record<string, unknown>).flat() as (string | number | boolean)[];
    return values.map((v, c) => exact(want[r]![c]!.dtype, parseValue(want[r]![c]!.dtype, v)));
  });
};

const arrowCells = (table: Table, want: Cell[][]): string[][] => {
  const rows: string[][] = [];
  for (let r = 0; r < table.numRows; r++) {
    const row = table.get(r)!.toArray() as unknown[];
    const values = row.flatMap((v) =>
      v !== null && typeof v === 'object' && 'toArray' in v
        ? [...(v as { toArray(): Iterable<number | boolean> }).toArray()]
        : [v],
    );
    rows.push(values.map((v, c) => exact(want[r]![c]!.dtype, v as number | boolean)));
  }
  return rows;
};

describe('exportRun', () => {
  it('npy: the header of the run dtype and exact row count, then the rows byte for byte', async () => {
    const { file, plan } = await exportTo('npy');
    const bytes = fs.readFileSync(file);
    const header = encodeHeader(expected.layout, ROWS);
    expect(bytes.subarray(0, header.length)).toEqual(header);
    expect(bytes.subarray(header.length).equals(expected.data)).toBe(true);
    expect(plan).toMatchObject({ runId: 'all', status: 'completed', rows: ROWS, partial: false, bytes: bytes.length });
  });

  it('npy in tiny chunks (crossing segment ends) is the same file', async () => {
    const whole = await exportTo('npy');
    const small = await exportTo('npy', { chunkBytes: 1000 });
    expect(fileHash(small.file)).toBe(fileHash(whole.file));
  });

  it('npy with --columns and --rows: the selected fields packed in the order asked for', async () => {
    const columns = ['vb', 'f4', 'v', 'u1'];
    const { file, plan } = await exportTo('npy', { columns, rows: '100:-100', chunkBytes: 777 });
    expect(plan).toMatchObject({ start: 100, end: 2900, rows: 2800, columns });
    const bytes = fs.readFileSync(file);
    const header = parseHeader(bytes, file);
    const layout = packedLayout(selectColumns(expected.layout, columns, 'run'));
    expect(header.shape).toEqual([2800]);
    expect(bytes.length).toBe(header.dataOffset + 2800 * layout.itemsize);
    expect(exactRows(decodeRows(layout, bytes.subarray(header.dataOffset)))).toEqual(
      exactRows(expectedCells(columns, 100, 2900)),
    );
  });

  it('csv: a header row with vectors expanded, every value exact', async () => {
    const { file } = await exportTo('csv', { chunkBytes: 500 });
    const { header } = readCsv(file);
    expect(header).toEqual([
      'f8',
      'f4',
      'i1',
      'i2',
      'i4',
      'u1',
      'u2',
      'u4',
      'flag',
      'v[0]',
      'v[1]',
      'v[2]',
      'vi[0]',
      'vi[1]',
      'vb[0]',
      'vb[1]',
    ]);
    const want = expectedCells();
    expect(csvCells(file, want)).toEqual(exactRows(want));
    // The specials are there to be tested: NaN, ±Infinity, -0, extremes.
    const text = fs.readFileSync(file, 'utf8');
    for (const s of [
      ',NaN,',
      ',Infinity,',
      ',-Infinity,',
      ',-0.0,',
      ',-128,',
      ',4294967295,',
      ',-2147483648,',
      '5e-324',
      '3.4028235e+38',
      ',true,',
      ',false,',
    ]) {
      expect(text).toContain(s);
    }
  });

  it('jsonl: one object per row, vectors as arrays, non-finite floats as strings', async () => {
    const { file } = await exportTo('jsonl', { chunkBytes: 999 });
    const want = expectedCells();
    expect(jsonlCells(file, want)).toEqual(exactRows(want));
    const first = JSON.parse(fs.readFileSync(file, 'utf8').split('\n')[0]!);
    expect(first).toEqual({
      f8: 'NaN',
      f4: 'NaN',
      i1: -128,
      i2: -32768,
      i4: -2147483648,
      u1: 0,
      u2: 65535,
      u4: 4294967295,
      flag: true,
      v: [0, 'NaN', 'NaN'],
      vi: [32767, -1500],
      vb: [true, true],
    });
  });

  it('arrow: typed columns, vectors as FixedSizeList, one record batch per chunk, every value exact', async () => {
    const { file } = await exportTo('arrow', { chunkBytes: 45 * 256 });
    const table = tableFromIPC(fs.readFileSync(file));
    expect(table.numRows).toBe(ROWS);
    expect(table.batches.length).toBeGreaterThan(5);
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'f8:Float64',
      'f4:Float32',
      'i1:Int8',
      'i2:Int16',
      'i4:Int32',
      'u1:Uint8',
      'u2:Uint16',
      'u4:Uint32',
      'flag:Bool',
      'v:FixedSizeList[3]<Float32>',
      'vi:FixedSizeList[2]<Int16>',
      'vb:FixedSizeList[2]<Bool>',
    ]);
    expect(table.schema.fields.find((f) => f.name === 'v')!.type).toBeInstanceOf(FixedSizeList);
    const want = expectedCells();
    expect(arrowCells(table, want)).toEqual(exactRows(want));
  });

  it.each(['csv', 'jsonl', 'arrow'] as const)('%s with --columns and --rows slices exactly', async (format) => {
    const columns = ['u4', 'v', 'flag', 'f8'];
    const { file } = await exportTo(format, { columns, rows: { start: -250, end: -50 } });
    const want = expectedCells(columns, 2750, 2950);
    const got =
      format === 'csv'
        ? csvCells(file, want)
        : format === 'jsonl'
          ? jsonlCells(file, want)
          : arrowCells(tableFromIPC(fs.readFileSync(file)), want);
    expect(got).toEqual(exactRows(want));
  });

  it.each(['npy', 'csv', 'jsonl', 'arrow'] as const)('%s of zero rows is a valid empty file', async (format) => {
    const { file, plan } = await exportTo(format, { rows: '5:5' });
    expect(plan.rows).toBe(0);
    const bytes = fs.readFileSync(file);
    if (format === 'npy') expect(parseHeader(bytes, file).shape).toEqual([0]);
    if (format === 'csv')
      expect(bytes.toString()).toBe('f8,f4,i1,i2,i4,u1,u2,u4,flag,v[0],v[1],v[2],vi[0],vi[1],vb[0],vb[1]\n');
    if (format === 'jsonl') expect(bytes.length).toBe(0);
    if (format === 'arrow') {
      const table = tableFromIPC(bytes);
      expect([table.numRows, table.schema.fields.length]).toEqual([0, 12]);
    }
  });

  it('writes to a stream with the same bytes as to a file, without ending it', async () => {
    const { file } = await exportTo('csv');
    const stream = new PassThrough({ highWaterMark: 1024 });
    const parts: Buffer[] = [];
    // A slow reader: backpressure must hold the exporter back, not lose data.
    const reading = (async () => {
      for await (const part of stream) {
        parts.push(part as Buffer);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const plan = await exportRun({ runId: 'all', runsDir, format: 'csv', out: stream });
    expect(plan.out).toBeNull();
    expect(stream.writableEnded).toBe(false);
    stream.end();
    await reading;
    expect(Buffer.concat(parts).equals(fs.readFileSync(file))).toBe(true);
  });

  it('defaults the output to <run-id>.<format> in cwd', async () => {
    const cwd = tmpDir('mmrun-cwd-');
    const plan = await exportRun({ runId: 'all', runsDir, format: 'jsonl', cwd });
    expect(plan.out).toBe(path.join(cwd, 'all.jsonl'));
    expect(fs.readdirSync(cwd)).toEqual(['all.jsonl']);
  });
});

describe('exportRun refuses and cleans up', () => {
  async function failure(options: Partial<ExportOptions>, dir = tmpDir('mmrun-out-')): Promise<MmrunError> {
    const err = await exportRun({
      runId: 'all',
      runsDir,
      format: 'csv',
      out: path.join(dir, 'out.csv'),
      ...options,
    }).catch((e: unknown) => e);
    if (!(err instanceof MmrunError)) throw err;
    return err;
  }

  it('never overwrites a file without force; with force replaces it whole', async () => {
    const dir = tmpDir('mmrun-out-');
    const file = path.join(dir, 'out.csv');
    fs.writeFileSync(file, 'precious\n');
    const before = fileHash(file);
    const err = await failure({}, dir);
    expect(err.code).toBe('OUTPUT_EXISTS');
    expect(err.remedy).toContain('--force');
    expect(fileHash(file)).toBe(before);
    expect(fs.readdirSync(dir)).toEqual(['out.csv']);
    await exportRun({ runId: 'all', runsDir, format: 'csv', out: file, force: true });
    expect(readCsv(file).rows).toHaveLength(ROWS);
    expect(fs.readdirSync(dir)).toEqual(['out.csv']);
  });

  it.each([
    [{ columns: ['f8', 'bogus'] }, 'UNKNOWN_COLUMN', "no column 'bogus'; its columns are f8, f4, i1"],
    [{ rows: '1-2' }, 'BAD_ROW_RANGE', "--rows '1-2' is not a row range"],
    [{ runId: 'nope' }, 'RUN_NOT_FOUND', "no run 'nope'"],
    [{ format: 'xlsx' as ExportFormat }, 'BAD_OPTION', "format 'xlsx' is not one of npy, csv, jsonl, arrow"],
  ])('%j → %s, and no file at all', async (options, code, message) => {
    const dir = tmpDir('mmrun-out-');
    const err = await failure(options, dir);
    expect([err.code, err.message]).toEqual([code, expect.stringContaining(message)]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a segment that fails validation half-way leaves neither the file nor a temporary', async () => {
    const dir = tmpDir('mmrun-broken-');
    const copy = path.join(dir, 'runs');
    fs.cpSync(runsDir, copy, { recursive: true });
    // Segment 2 loses its tail: rows 0..1399 export before the error.
    const seg = path.join(copy, 'all', '000002.npy');
    fs.truncateSync(seg, fs.statSync(seg).size - 45);
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const options = { runId: 'all', runsDir: copy, format: 'csv', chunkBytes: 4500 } as const;
    const err = await exportRun({ ...options, out: path.join(out, 'x.csv') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmrunError);
    expect((err as MmrunError).code).toBe('SIZE_MISMATCH');
    expect((err as MmrunError).message).toContain('000002.npy');
    // The same export to a stream shows that rows of segments 0 and 1 went out first.
    const stream = new PassThrough();
    const received: Buffer[] = [];
    stream.on('data', (d: Buffer) => received.push(d));
    await expect(exportRun({ ...options, out: stream })).rejects.toThrow('000002.npy');
    expect(parseCsv(Buffer.concat(received).toString()).rows).toHaveLength(1400);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('an abort (SIGINT in the CLI) stops between chunks and leaves nothing behind', async () => {
    const dir = tmpDir('mmrun-out-');
    const controller = new AbortController();
    const err = await exportRun({
      runId: 'all',
      runsDir,
      format: 'jsonl',
      out: path.join(dir, 'x.jsonl'),
      chunkBytes: 100,
      signal: controller.signal,
      onStart: () => setImmediate(() => controller.abort('SIGINT')),
    }).catch((e: unknown) => e);
    expect((err as MmrunError).code).toBe('EXPORT_INTERRUPTED');
    expect((err as MmrunError).message).toContain('SIGINT');
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('an unfinished run', () => {
  it('exports exactly its flushed rows, never the garbage after them', async () => {
    const dir = tmpDir('mmrun-partial-');
    const controller = new AbortController();
    let seen = 0;
    const result = await startRun({
      experiment: ALLTYPES,
      runsDir: dir,
      id: 'p',
      iterations: 5_000_000,
      flushEvery: 1000,
      segmentRows: 40_000,
      params: { work: 200 },
      signal: controller.signal,
      onStart: () => {
        const timer = setInterval(() => {
          if (++seen > 20) {
            clearInterval(timer);
            controller.abort('SIGINT');
          }
        }, 5);
      },
    });
    expect(result.status, String(result.error)).toBe('interrupted');
    const flushed = result.flushedRows;
    expect(flushed).toBeGreaterThan(0);
    expect(flushed).toBeLessThan(5_000_000);
    const want = segmentRows(path.join(dir, 'p'), flushed);
    // Rows past the flushed index may hold anything: make them garbage.
    const seg = path.join(dir, 'p', `${String(Math.floor(flushed / 40_000)).padStart(6, '0')}.npy`);
    if (fs.existsSync(seg)) {
      const local = flushed % 40_000;
      const { dataOffset } = parseHeader(fs.readFileSync(seg).subarray(0, 4096), seg);
      const garbage = Buffer.alloc(45 * Math.min(500, 40_000 - local), 0xff);
      const fd = fs.openSync(seg, 'r+');
      fs.writeSync(fd, garbage, 0, garbage.length, dataOffset + local * 45);
      fs.closeSync(fd);
    }
    const out = path.join(tmpDir('mmrun-out-'), 'p.npy');
    let plan: ExportPlan | undefined;
    await exportRun({
      runId: 'p',
      runsDir: dir,
      format: 'npy',
      out,
      onStart: (p) => {
        plan = p;
      },
    });
    expect(plan).toMatchObject({
      status: 'interrupted',
      partial: true,
      flushedRows: flushed,
      rows: flushed,
      iterations: 5_000_000,
    });
    const bytes = fs.readFileSync(out);
    const header = parseHeader(bytes, out);
    expect(header.shape).toEqual([flushed]);
    expect(bytes.subarray(header.dataOffset).equals(want.data)).toBe(true);
  });
});
