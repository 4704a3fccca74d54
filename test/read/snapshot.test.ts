// Snapshots (openRun as a reader of live runs): what a snapshot holds, refresh(), follow()
// and the read-only catalog. The live behaviour against a real writer is in
// test/e2e/live-readers.test.ts.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOwner } from '../../src/catalog/ownership.ts';
import { CatalogReader, readRunOnce } from '../../src/catalog/read-only.ts';
import { MmrunError } from '../../src/errors.ts';
import { newRanges } from '../../src/read/follow.ts';
import { openRun } from '../../src/read/open-run.ts';
import { startRun } from '../../src/runner/run.ts';

const counter = path.join(import.meta.dirname, '..', 'fixtures', 'counter.ts');
let runsDir: string;

beforeAll(async () => {
  runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-snap-'));
  await startRun({ experiment: counter, runsDir, id: 'one', seed: 1, iterations: 3000, segmentRows: 1000 });
  await startRun({ experiment: counter, runsDir, id: 'two', seed: 1, iterations: 3000, workers: 2 });
});
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

const catalogFile = () => path.join(runsDir, 'mmrun.sqlite');

/**
 * KiB of `file` resident in this process's read-only mappings of it (/proc/self/smaps; the
 * writer's own mapping, if not yet collected, is `rw`).
 */
function residentKiB(file: string): number {
  let total = 0;
  let inFile = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.split(/\s+/)[1] === 'r--s' && line.endsWith(` ${file}`);
    else if (inFile && line.startsWith('Rss:')) total += Number(line.split(/\s+/)[1]);
  }
  return total;
}

/** Changes the catalog the way a writer would (a test-only shortcut). */
function write(sql: string): void {
  const db = new Database(catalogFile());
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

describe('a snapshot', () => {
  it('of a finished run: all rows, one range, not live', () => {
    const r = openRun('one', { runsDir });
    expect([r.flushedRows, r.length, r.live, r.run.status]).toEqual([3000, 3000, false, 'completed']);
    expect(r.flushedRanges).toEqual([[0, 3000]]);
    expect(r.rangeSegments(1500, 2500).map((s) => [s.index, s.firstRow, s.rows])).toEqual([
      [1, 1500, 500],
      [2, 2000, 500],
    ]);
    expect(r.rangeSegments(1500, 1501)[0]!.column('i')).toMatchObject({ aligned: false });
    expect(() => r.rangeSegments(2999, 3001)).toThrow(RangeError);
  });

  it("of a sharded run: each shard's flushed prefix", () => {
    write("UPDATE shards SET flushed_index = start_row + 100 WHERE run_id = 'two'");
    try {
      const r = openRun('two', { runsDir });
      expect(r.flushedRows).toBe(100);
      expect(r.flushedRanges).toEqual([
        [0, 100],
        [1500, 1600],
      ]);
      const seg = r.rangeSegments(1500, 1600);
      expect(seg.map((s) => [s.firstRow, s.rows])).toEqual([[1500, 100]]);
      expect(seg[0]!.data.readUInt32LE(0)).toBe(1500); // column i is the iteration
      expect(() => r.rangeSegments(100, 101)).toThrow(/not within the flushed rows \(0:100, 1500:1600\)/);
    } finally {
      write("UPDATE shards SET flushed_index = end_row WHERE run_id = 'two'");
    }
  });

  it('refresh() sees a newer flushed index and reuses the mappings; the old snapshot is unchanged', () => {
    write(
      "UPDATE runs SET status = 'interrupted' WHERE id = 'one'; INSERT INTO checkpoints SELECT run_id, MAX(seq) + 1, 1234, NULL, '2026-01-01T00:00:00.000Z' FROM checkpoints WHERE run_id = 'one'",
    );
    try {
      const old = openRun('one', { runsDir });
      expect(old.flushedRows).toBe(1234);
      write(
        "INSERT INTO checkpoints SELECT run_id, MAX(seq) + 1, 2500, NULL, '2026-01-01T00:00:01.000Z' FROM checkpoints WHERE run_id = 'one'",
      );
      const now = old.refresh();
      expect([old.flushedRows, now.flushedRows]).toEqual([1234, 2500]);
      expect(now.segments()[1]!.data.buffer).toBe(old.segments()[1]!.data.buffer); // the same mapping
      expect(openRun('one', { runsDir }).segments()[1]!.data.buffer).not.toBe(old.segments()[1]!.data.buffer);
    } finally {
      write(
        "UPDATE runs SET status = 'completed' WHERE id = 'one'; DELETE FROM checkpoints WHERE flushed_index IN (1234, 2500)",
      );
    }
  });

  it('refresh() drops the pages of rows the previous snapshot held from this process; they read the same again', async () => {
    await startRun({ experiment: counter, runsDir, id: 'paged', seed: 1, iterations: 60_000, segmentRows: 60_000 });
    const first = openRun('paged', { runsDir });
    const segment = first.segments()[0]!;
    const digest = (data: Buffer) => createHash('sha256').update(data).digest('hex'); // reads every page
    const bytes = digest(segment.data);
    const resident = () => residentKiB(segment.path);
    expect(resident()).toBeGreaterThan((segment.data.length * 0.9) / 1024);
    const next = first.refresh();
    // Only the partial page at the end (the last rows of the previous snapshot's end) may stay.
    expect(resident()).toBeLessThanOrEqual(8);
    expect(next.segments()[0]!.data.buffer).toBe(segment.data.buffer); // the same mapping, dropped
    expect([digest(next.segments()[0]!.data), digest(segment.data)]).toEqual([bytes, bytes]);
    expect(next.column('i').get(59_999)).toBe(59_999);
  });

  it('follow(): the snapshot from the start, nothing more for a finished run; a live one until the abort', async () => {
    const got: [number, number][] = [];
    for await (const { start, end } of openRun('two', { runsDir }).follow({ fromStart: true })) got.push([start, end]);
    expect(got).toEqual([[0, 3000]]);
    const none: unknown[] = [];
    for await (const x of openRun('one', { runsDir }).follow()) none.push(x);
    expect(none).toEqual([]);
    // A live run (owned by this process) is followed until the abort.
    const me = currentOwner();
    const checkpoint = (rows: number) =>
      write(
        `INSERT INTO checkpoints SELECT run_id, MAX(seq) + 1, ${rows}, NULL, '2026-01-01T00:00:00.000Z' FROM checkpoints WHERE run_id = 'one'`,
      );
    write(
      `UPDATE runs SET status = 'running', owner_pid = ${me.pid}, owner_start = '${me.start}', owner_boot = '${me.boot}', owner_host = '${me.host}' WHERE id = 'one'`,
    );
    checkpoint(1000);
    try {
      const abort = new AbortController();
      const seen: [number, number][] = [];
      const first = openRun('one', { runsDir });
      expect([first.live, first.flushedRows]).toEqual([true, 1000]);
      const following = (async () => {
        for await (const { start, end, snapshot } of first.follow({ intervalMs: 5, signal: abort.signal })) {
          seen.push([start, end]);
          expect(snapshot.flushedRows).toBe(end);
          abort.abort();
        }
      })();
      checkpoint(2000);
      await following;
      expect(seen).toEqual([[1000, 2000]]);
    } finally {
      write(
        "UPDATE runs SET status = 'completed', owner_pid = NULL WHERE id = 'one'; DELETE FROM checkpoints WHERE run_id = 'one' AND flushed_index IN (1000, 2000)",
      );
    }
  });

  it('newRanges: what is new between two sets of flushed ranges', () => {
    expect(newRanges([[0, 10]], [[0, 25]])).toEqual([[10, 25]]);
    expect(
      newRanges(
        [
          [0, 5],
          [50, 60],
        ],
        [
          [0, 8],
          [50, 70],
        ],
      ),
    ).toEqual([
      [5, 8],
      [60, 70],
    ]);
    expect(newRanges([], [[0, 3]])).toEqual([[0, 3]]);
    expect(newRanges([[0, 3]], [[0, 3]])).toEqual([]);
  });
});

describe('the read-only catalog', () => {
  it('reads while another connection holds the write lock, and never writes', () => {
    const db = new Database(catalogFile());
    db.exec('BEGIN IMMEDIATE');
    try {
      expect(readRunOnce(runsDir, 'one').flushedRows).toBe(3000);
      // (Were it waiting for the lock, the call would fail with SQLITE_BUSY after its 2 s timeout.)
      const reader = CatalogReader.open(runsDir);
      expect(reader.readRun('one').flushedRows).toBe(3000);
      expect(() => reader.readRun('x')).toThrow(/no run 'x'/);
      reader.close();
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
  });

  it('reading a catalog no process has open leaves no -wal or -shm file behind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-snap-files-'));
    try {
      await startRun({ experiment: counter, runsDir: dir, id: 'f', seed: 1, iterations: 100 });
      const leftovers = () => fs.readdirSync(dir).filter((f) => /-(wal|shm)$/.test(f));
      expect(leftovers()).toEqual([]);
      const r = openRun('f', { runsDir: dir });
      const newer = r.refresh().refresh(); // through the connection kept along the chain
      expect(newer.flushedRows).toBe(100);
      expect(readRunOnce(dir, 'f').flushedRows).toBe(100);
      newer.close(); // closes the kept connection (else it closes itself after 5 s idle)
      expect(leftovers()).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows a running run whose owner is gone as crashed without recording it', () => {
    const { boot, host } = currentOwner();
    write(
      `UPDATE runs SET status = 'running', owner_pid = 999999999, owner_start = 'x', owner_boot = '${boot}', owner_host = '${host}' WHERE id = 'one'`,
    );
    try {
      expect(readRunOnce(runsDir, 'one').status).toBe('crashed');
      const db = new Database(catalogFile(), { readonly: true });
      expect(db.prepare("SELECT status FROM runs WHERE id = 'one'").pluck().get()).toBe('running');
      db.close();
    } finally {
      write("UPDATE runs SET status = 'completed', owner_pid = NULL WHERE id = 'one'");
    }
  });

  it('refuses a newer schema by name, and a runs directory without a catalog', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmrun-snap-schema-'));
    try {
      fs.copyFileSync(catalogFile(), path.join(dir, 'mmrun.sqlite'));
      const db = new Database(path.join(dir, 'mmrun.sqlite'));
      db.pragma('user_version = 99');
      db.close();
      expect(() => readRunOnce(dir, 'one')).toThrow(MmrunError);
      expect(() => readRunOnce(dir, 'one')).toThrow(/schema version 99/);
      expect(() => readRunOnce(path.join(dir, 'none'), 'one')).toThrow(/has no catalog/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
