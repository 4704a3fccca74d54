// Readers of live runs: a real writer (the CLI) flushes thousands of times while readers in
// TypeScript and in Python take snapshots; every snapshot must be a byte-for-byte prefix of
// the final rows and never go backwards, also across a SIGKILL and a resume; and readers
// must not make the writer's WAL grow.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it, type TestContext } from 'vitest';
import { openRun, type RunReader } from '../../src/read/open-run.ts';
import { findPython } from '../export/helpers.ts';
import { FIXTURES, mmrun, peekRun, ROOT, spawnMmrun, tempDirs, waitFor } from './cli.ts';

const tmp = tempDirs('mmrun-live-');
const counter = path.join(FIXTURES, 'counter.ts');
const python = findPython();
const PACKAGE = path.join(ROOT, 'python/mmrun_reader');

function needPython(ctx: TestContext): string {
  if (python.exe) return python.exe;
  if (python.required) throw new Error(python.why);
  return ctx.skip(python.why);
}

/** What a reader saw: a snapshot's flushed rows and the sha256 of each of its flushed ranges. */
interface Seen {
  readonly flushedRows: number;
  readonly ranges: readonly (readonly [number, number, string])[];
}

const sha = (parts: readonly { data: Buffer }[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p.data);
  return h.digest('hex');
};

function seen(r: RunReader): Seen {
  return { flushedRows: r.flushedRows, ranges: r.flushedRanges.map(([a, b]) => [a, b, sha(r.rangeSegments(a, b))]) };
}

// Polls snapshots with open_run/refresh in a loop and prints what it saw, one JSON line each;
// with "follow", prints each range follow() yields (until_completed) instead.
const PY_READER = `
import hashlib, json, sys, time
from mmrun_reader import open_run, MmrunReaderError
runs, run_id, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def h(a): return hashlib.sha256(a.tobytes()).hexdigest()
while True:
    try:
        r = open_run(runs, run_id)
        break
    except MmrunReaderError:
        time.sleep(0.01)
print(json.dumps({"ready": True}), flush=True)
if mode == "poll":
    while True:
        ranges = [[a, b, h(r.rows(a, b))] for a, b in r.flushed_ranges]
        print(json.dumps({"flushedRows": r.flushed_rows, "ranges": ranges}), flush=True)
        if not r.live:
            break
        time.sleep(0.005)
        r = r.refresh()
else:
    for a, b, s in r.follow(interval=0.01, from_start=True, until_completed=True):
        print(json.dumps({"start": a, "end": b, "sha": h(s.rows(a, b)), "status": s.status}), flush=True)
    print(json.dumps({"done": r.refresh().status}), flush=True)
`;

interface PyReader {
  readonly child: ChildProcess;
  readonly lines: () => Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; stderr: string }>;
}

function pythonReader(exe: string, runsDir: string, id: string, mode: 'poll' | 'follow'): PyReader {
  const child = spawn(exe, ['-c', PY_READER, runsDir, id, mode], {
    env: { ...process.env, PYTHONPATH: PACKAGE, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr })),
  );
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, lines, exited };
}

/** The final rows of a run, as bytes: every segment's rows concatenated. */
function finalBytes(runsDir: string, id: string): { bytes: Buffer; itemsize: number } {
  const r = openRun(id, { runsDir });
  return { bytes: Buffer.concat(r.segments().map((s) => Buffer.from(s.data))), itemsize: r.layout.itemsize };
}

/** Expects every range a reader saw to hold exactly the final rows, and flushedRows never to go back. */
function expectPrefixes(all: readonly Seen[], final: { bytes: Buffer; itemsize: number }, who: string): void {
  let last = 0;
  for (const s of all) {
    expect(s.flushedRows, `${who}: flushedRows went back`).toBeGreaterThanOrEqual(last);
    last = s.flushedRows;
    for (const [a, b, hash] of s.ranges) {
      const want = createHash('sha256')
        .update(final.bytes.subarray(a * final.itemsize, b * final.itemsize))
        .digest('hex');
      expect(hash, `${who}: rows ${a}..${b}`).toBe(want);
    }
  }
}

/** Expects ranges (in the order yielded) to tile [0, rows) without gap or overlap. */
function expectTiles(ranges: readonly (readonly [number, number])[], rows: number, who: string): void {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  let at = 0;
  for (const [a, b] of sorted) {
    expect(a, `${who}: range ${a}..${b} after row ${at}`).toBe(at);
    expect(b).toBeGreaterThan(a);
    at = b;
  }
  expect(at, who).toBe(rows);
}

describe.each([
  { workers: 1, iterations: 16_000, flushEvery: 8 },
  { workers: 2, iterations: 16_000, flushEvery: 8 },
])('readers of a run with --workers $workers while it writes', ({ workers, iterations, flushEvery }) => {
  it('see only prefixes of the final rows, byte for byte, never going back', async (ctx) => {
    const exe = needPython(ctx);
    const runsDir = tmp();
    const id = `live${workers}`;
    const writer = spawnMmrun(
      [
        'run',
        counter,
        '--iterations',
        String(iterations),
        '--flush-every',
        String(flushEvery),
        '--workers',
        String(workers),
        '--id',
        id,
      ],
      runsDir,
    );
    const py = pythonReader(exe, runsDir, id, 'poll');
    let done = false;
    const exited = writer.exited.then((r) => {
      done = true;
      return r;
    });
    await waitFor(() => peekRun(runsDir, id), 30_000, 'the run in the catalog');

    // Reader 1: refresh() in a loop; reader 2: follow().
    const polled: Seen[] = [];
    const polling = (async () => {
      let r = openRun(id, { runsDir });
      for (;;) {
        polled.push(seen(r));
        if (done && !r.live) return;
        await sleep(2);
        r = r.refresh();
      }
    })();
    const followed: [number, number, string][] = [];
    const following = (async () => {
      const first = openRun(id, { runsDir });
      for await (const { start, end, snapshot } of first.follow({ intervalMs: 2, fromStart: true })) {
        followed.push([start, end, sha(snapshot.rangeSegments(start, end))]);
      }
    })();

    const result = await exited;
    expect(result.code, result.stderr).toBe(0);
    await Promise.all([polling, following]);
    const pyExit = await py.exited;
    expect(pyExit.code, pyExit.stderr).toBe(0);

    const final = finalBytes(runsDir, id);
    expect(final.bytes.length).toBe(iterations * final.itemsize);
    expectPrefixes(polled, final, 'TS refresh()');
    expectPrefixes(
      followed.map(([a, b, h]) => ({ flushedRows: 0, ranges: [[a, b, h]] })),
      final,
      'TS follow()',
    );
    expectTiles(
      followed.map(([a, b]) => [a, b]),
      iterations,
      'TS follow()',
    );
    const pySeen = py.lines().filter((l) => 'flushedRows' in l) as unknown as Seen[];
    expectPrefixes(pySeen, final, 'Python');
    // They really read while it wrote: many distinct snapshots, most of them partial.
    for (const [who, all] of [
      ['TS', polled],
      ['Python', pySeen],
    ] as const) {
      const distinct = new Set(all.map((s) => s.ranges.map(([a, b]) => `${a}:${b}`).join()));
      expect(distinct.size, `${who} saw ${distinct.size} distinct snapshots`).toBeGreaterThanOrEqual(10);
    }
    expect(followed.length).toBeGreaterThanOrEqual(10);
    expect(polled.at(-1)?.flushedRows).toBe(iterations);
    expect(pySeen.at(-1)?.flushedRows).toBe(iterations);
  }, 90_000);
});

describe('readers when the writer is killed', () => {
  it('see the last committed snapshot without error, and follow the rows of the resume', async (ctx) => {
    const exe = needPython(ctx);
    const runsDir = tmp();
    const id = 'killed';
    const iterations = 30_000;
    const args = ['run', counter, '--iterations', String(iterations), '--flush-every', '20', '--id', id];
    const writer = spawnMmrun(args, runsDir);
    await waitFor(() => peekRun(runsDir, id), 30_000, 'the run in the catalog');
    const py = pythonReader(exe, runsDir, id, 'follow');
    await waitFor(() => py.lines().length > 0, 30_000, 'the Python reader');

    const followed: [number, number, string][] = [];
    let last: RunReader | undefined;
    const following = (async () => {
      for await (const { start, end, snapshot } of openRun(id, { runsDir }).follow({
        intervalMs: 5,
        fromStart: true,
      })) {
        followed.push([start, end, sha(snapshot.rangeSegments(start, end))]);
        last = snapshot;
      }
    })();
    await waitFor(() => (peekRun(runsDir, id)?.flushedRows ?? 0) >= 4000, 30_000, '4000 flushed rows');
    writer.child.kill('SIGKILL');
    expect((await writer.exited).signal).toBe('SIGKILL');
    await following; // ends by itself: the run is no longer running
    const committed = peekRun(runsDir, id)!.flushedRows;
    expect(committed).toBeLessThan(iterations);
    const after = openRun(id, { runsDir });
    expect(after.run.status).toBe('crashed');
    expect(after.flushedRows).toBe(committed);
    expect(last?.flushedRows).toBe(committed); // the follower ended at the last commit
    expectTiles(
      followed.map(([a, b]) => [a, b]),
      committed,
      'TS follow() before the kill',
    );

    // resume: a follower of the crashed snapshot (untilCompleted) sees the new rows.
    const resumed: [number, number, string][] = [];
    const followResume = (async () => {
      for await (const { start, end, snapshot } of after.follow({ intervalMs: 5, untilCompleted: true })) {
        resumed.push([start, end, sha(snapshot.rangeSegments(start, end))]);
      }
    })();
    const resume = spawnMmrun(['resume', id], runsDir);
    const r = await resume.exited;
    expect(r.code, r.stderr).toBe(0);
    await followResume;
    const pyExit = await py.exited;
    expect(pyExit.code, pyExit.stderr).toBe(0);

    const final = finalBytes(runsDir, id);
    const all = [...followed, ...resumed];
    expectTiles(
      all.map(([a, b]) => [a, b]),
      iterations,
      'TS follow() across the resume',
    );
    expectPrefixes(
      all.map(([a, b, h]) => ({ flushedRows: 0, ranges: [[a, b, h]] })),
      final,
      'TS follow()',
    );
    const lines = py.lines();
    expect(lines.at(-1)).toEqual({ done: 'completed' });
    const pyRanges = lines.filter((l) => 'start' in l) as { start: number; end: number; sha: string; status: string }[];
    expectTiles(
      pyRanges.map((l) => [l.start, l.end]),
      iterations,
      'Python follow()',
    );
    expectPrefixes(
      pyRanges.map((l) => ({ flushedRows: 0, ranges: [[l.start, l.end, l.sha]] })),
      final,
      'Python follow()',
    );
    // Python followed through the crash: it saw rows flushed before the kill and after it.
    expect(pyRanges.some((l) => l.end <= committed)).toBe(true);
    expect(pyRanges.some((l) => l.start >= committed)).toBe(true);
  }, 90_000);
});

describe("a reader holding a snapshot and the writer's WAL", () => {
  // SQLite checkpoints the WAL every ~1000 pages (4 MiB) and then writes it again from the
  // start, unless a reader holds a read transaction: then it cannot, and the WAL grows.
  const BOUND = 8 << 20;

  async function maxWal(hold: (runsDir: string, id: string) => () => void): Promise<number> {
    const runsDir = tmp();
    const id = 'wal';
    const writer = spawnMmrun(
      ['run', counter, '--iterations', '12000', '--flush-every', '8', '--id', id, '--segment-rows', '4000'],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, id)?.flushedRows ?? 0) > 0, 30_000, 'a first flush');
    const release = hold(runsDir, id);
    const wal = path.join(runsDir, 'mmrun.sqlite-wal');
    let max = 0;
    let done = false;
    const exited = writer.exited.then((r) => {
      done = true;
      return r;
    });
    while (!done) {
      max = Math.max(max, fs.existsSync(wal) ? fs.statSync(wal).size : 0);
      await sleep(5);
    }
    release();
    const r = await exited;
    expect(r.code, r.stderr).toBe(0);
    return max;
  }

  it('stays bounded: snapshots hold mappings, not read transactions', async () => {
    const max = await maxWal((runsDir, id) => {
      // One snapshot held all along (its rows mapped), and a reader polling refresh().
      const held = openRun(id, { runsDir });
      let stop = false;
      void (async () => {
        let r = held;
        while (!stop) {
          r = r.refresh();
          await sleep(1);
        }
      })();
      return () => {
        stop = true;
        expect(sha(held.segments())).toHaveLength(64); // still readable at the end
      };
    });
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThan(BOUND);
  }, 60_000);

  it('grows past that bound with a read transaction held open (what readers must not do)', async () => {
    const max = await maxWal((runsDir) => {
      const db = new Database(path.join(runsDir, 'mmrun.sqlite'), { readonly: true });
      db.exec('BEGIN');
      db.prepare('SELECT COUNT(*) FROM checkpoints').get();
      return () => {
        db.exec('COMMIT');
        db.close();
      };
    });
    expect(max).toBeGreaterThan(BOUND);
  }, 60_000);
});

describe('stats, plot, export and verify of a running run', () => {
  it('say that it is still running and at which row they read it', async () => {
    const runsDir = tmp();
    const slow = path.join(FIXTURES, 'slowdown.ts');
    const writer = spawnMmrun(
      [
        'run',
        slow,
        '--iterations',
        '1e6',
        '--param',
        'fastRows=0',
        '--param',
        'slowMs=0.2',
        '--flush-every',
        '100',
        '--id',
        'busy',
      ],
      runsDir,
    );
    await waitFor(() => (peekRun(runsDir, 'busy')?.flushedRows ?? 0) >= 200, 30_000, 'flushed rows');
    const out = tmp();
    const results = await Promise.all([
      mmrun(['stats', 'busy'], runsDir),
      mmrun(['plot', 'busy', '--column', 'i', '--out', path.join(out, 'p.png')], runsDir),
      mmrun(['export', 'busy', '--format', 'npy', '--out', path.join(out, 'e.npy')], runsDir),
      mmrun(['verify', 'busy', '--json'], runsDir),
    ]);
    const still = peekRun(runsDir, 'busy')!;
    writer.child.kill('SIGTERM');
    expect((await writer.exited).code).toBe(143);
    expect(still.status).toBe('running'); // it was running all along
    const words = [
      /run busy is still running: summarising the ([\d,]+) flushed rows .*\(read at row ([\d,]+)\)/,
      /run busy is still running: plotting the ([\d,]+) rows flushed when the plot began \(read at row ([\d,]+) of 1,000,000\)/,
      /run busy is still running: exporting the ([\d,]+) flushed rows .*\(read at row ([\d,]+)\)/,
      /run busy is still running: verifying the rows flushed when verify began \(read at row ([\d,]+)\)/,
    ];
    for (const [k, r] of results.entries()) {
      expect(r.code, r.stderr).toBe(0);
      const m = words[k]!.exec(r.stderr);
      expect(m, r.stderr).not.toBeNull();
      const row = Number(m!.at(-1)!.replaceAll(',', ''));
      expect(row).toBeGreaterThanOrEqual(200);
      expect(row).toBeLessThanOrEqual(still.flushedRows);
    }
    expect(JSON.parse(results[3]!.stdout)).toMatchObject({ status: 'running', ok: true });
  }, 60_000);
});
