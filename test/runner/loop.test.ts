// The loop with its page helper (page-helper.ts): whatever the helper does ahead of and
// behind the loop, every commit comes after the loop's own msync of exactly the rows it
// claims; a failed write-back fails the next flush; a kernel that refuses to populate only
// turns prefaulting off; a stop or a failing step ends the helper with the loop.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RangeChecksum } from '../../src/catalog/catalog.ts';
import { loadExperiment } from '../../src/experiment/load.ts';
import { CounterRng } from '../../src/experiment/rng.ts';
import { makeContext, wholeRun } from '../../src/runner/context.ts';
import { type LoopOutcome, type LoopSpec, runLoop } from '../../src/runner/loop.ts';
import { crc32cOf } from '../../src/storage/checksum.ts';
import { layoutOf } from '../../src/storage/dtype.ts';
import { mapFile, PAGE_SIZE } from '../../src/storage/mmap.ts';
import {
  MIN_HELPED_BYTES,
  type PageHelper,
  PageHelperStart,
  startPageHelper,
} from '../../src/storage/paging/page-helper.ts';
import { Segment } from '../../src/storage/segment.ts';
import { SegmentedArray } from '../../src/storage/segmented-array.ts';
import { tmpDir } from '../helpers/tmp.ts';

// Four f8 columns (32-byte rows); `work` spins a little per row so the helper has time to act.
const CHEAP = `
export default {
  columns: { n: 'f8', x: 'f8', y: 'f8', r2: 'f8' },
  params: { failAt: -1, work: 0 },
  step(i, ctx) {
    if (i === ctx.params.failAt) throw new Error('boom at ' + i);
    let s = 0;
    for (let k = 0; k < ctx.params.work; k++) s += k;
    const x = ctx.rng.random();
    const y = ctx.rng.random() + s * 0;
    return { n: i + 1, x, y, r2: x * x + y * y };
  },
};
`;
const ITEMSIZE = 32;

type Event =
  | { readonly type: 'sync-start'; readonly from: number; readonly to: number }
  | { readonly type: 'sync-end'; readonly from: number; readonly to: number }
  | { readonly type: 'commit'; readonly rows: number; readonly checksum: RangeChecksum | undefined };

interface Harness {
  readonly dir: string;
  readonly events: Event[];
  run(over?: Partial<LoopSpec> & { params?: Record<string, number> }): Promise<LoopOutcome>;
  /** The row bytes of the run's segments, concatenated. */
  bytes(): Buffer;
}

/**
 * A loop over `rows` rows in segments of `segmentRows`, whose segments' msync records its
 * range (and, with `slowSyncMs`, first sleeps), and whose commit records what it claims.
 */
async function harness(rows: number, segmentRows: number, slowSyncMs = 0): Promise<Harness> {
  const dir = tmpDir('mmrun-loop-');
  const file = path.join(dir, 'cheap.ts');
  fs.writeFileSync(file, CHEAP);
  const loaded = await loadExperiment(file);
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(runDir);
  const array = new SegmentedArray(runDir, loaded.layout, { totalRows: rows, segmentRows }, 'test');
  const events: Event[] = [];
  const open = array.openForWrite.bind(array);
  array.openForWrite = (k, window) => {
    const segment = open(k, window);
    const sync = segment.sync.bind(segment);
    const first = array.firstRow(k);
    segment.sync = (fromRow: number, toRow: number, itemsize: number) => {
      events.push({ type: 'sync-start', from: first + fromRow, to: first + toRow });
      if (slowSyncMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, slowSyncMs);
      sync(fromRow, toRow, itemsize);
      events.push({ type: 'sync-end', from: first + fromRow, to: first + toRow });
    };
    return segment;
  };
  return {
    dir,
    events,
    run(over = {}) {
      const rng = new CounterRng(3);
      const ctx = makeContext(over.params ?? {}, 3, 'r', pino({ enabled: false }), rng, wholeRun(rows));
      return runLoop({
        array,
        loaded,
        ctx,
        rng,
        log: pino({ enabled: false }),
        policy: { every: 50_000, intervalSeconds: 100 },
        startRow: 0,
        endRow: rows,
        windowed: false,
        commit: (n, _state, checksum) => events.push({ type: 'commit', rows: n, checksum }),
        stopReason: () => undefined,
        flushRequested: () => false,
        ...over,
      });
    },
    bytes() {
      const parts: Buffer[] = [];
      for (let k = 0; k < array.segmentCount; k++) parts.push(Buffer.from(array.openForRead(k).data));
      return Buffer.concat(parts);
    },
  };
}

/** Each commit of new rows directly follows the end of an msync of exactly [last commit, rows). */
function expectSyncBeforeEveryCommit(events: readonly Event[]): number {
  let committed = 0;
  let commits = 0;
  events.forEach((e, k) => {
    if (e.type !== 'commit' || e.rows === committed) return;
    const before = events[k - 1];
    expect(before, `commit of ${e.rows}`).toEqual({ type: 'sync-end', from: committed, to: e.rows });
    expect(events[k - 2]).toEqual({ type: 'sync-start', from: committed, to: e.rows });
    expect(e.checksum).toMatchObject({ startRow: committed, endRow: e.rows });
    committed = e.rows;
    commits++;
  });
  return commits;
}

const waitUntil = async (what: string, ok: () => boolean, ms = 10_000) => {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('the loop with its page helper', () => {
  it('commits only after its own msync of exactly the committed rows, even with a slow msync', async () => {
    const rows = 400_000; // 12.8 MB: the helper writes back 64 KiB chunks behind the loop meanwhile
    const h = await harness(rows, 150_000, 30);
    const logged: { event?: string; bytes?: number }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => logged.push(JSON.parse(line)) });
    const outcome = await h.run({ pageHelper: { syncChunk: 64 << 10, lead: 1 << 20 }, log });
    expect(outcome).toMatchObject({ status: 'completed', rows, flushedRows: rows });
    const commits = expectSyncBeforeEveryCommit(h.events);
    expect(commits).toBe(8); // every 50k rows (150k and 300k also end a segment)
    expect(h.events.at(-1)).toMatchObject({ type: 'commit', rows });

    // The same bytes as a loop without a helper, and the checksums describe them.
    const plain = await harness(rows, 150_000);
    await plain.run({ pageHelper: false });
    expect(h.bytes().equals(plain.bytes())).toBe(true);
    const all = h.bytes();
    for (const e of h.events) {
      if (e.type !== 'commit' || !e.checksum) continue;
      const { startRow, endRow, crc32c } = e.checksum;
      expect(crc32cOf(all.subarray(startRow * ITEMSIZE, endRow * ITEMSIZE))).toBe(crc32c);
    }
    // Most of those CRCs came from the helper, which checksums what it writes back.
    const helped = logged.find((l) => l.event === 'page-helper-checksummed')?.bytes ?? 0;
    expect(helped).toBeGreaterThan(rows * ITEMSIZE * 0.25);
  });

  it('a failed write-back fails the next flush with IO_ERROR; nothing more is committed', async () => {
    const rows = 300_000;
    const h = await harness(rows, rows);
    const outcome = await h.run({ params: { work: 1000 }, pageHelper: { syncChunk: 64 << 10, failWriteBack: true } });
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.code).toBe('IO_ERROR');
    expect(outcome.error?.message).toMatch(/write-back msync failed \(errno 5\)/);
    const commits = h.events.filter((e) => e.type === 'commit');
    const last = commits.at(-1);
    expect(outcome.flushedRows).toBe(last && last.type === 'commit' ? last.rows : 0);
    expect(outcome.flushedRows).toBeLessThan(rows);
    expectSyncBeforeEveryCommit(h.events);
  });

  it('runs the same when the kernel refuses to populate (prefaulting just stops)', async () => {
    const rows = 200_000;
    const h = await harness(rows, rows);
    // 9999 is no madvise advice: EINVAL, as MADV_POPULATE_WRITE gets before Linux 5.14.
    const outcome = await h.run({ pageHelper: { advice: 9999, syncChunk: 64 << 10 } });
    expect(outcome).toMatchObject({ status: 'completed', flushedRows: rows });
    const plain = await harness(rows, rows);
    await plain.run({ pageHelper: false });
    expect(h.bytes().equals(plain.bytes())).toBe(true);
  });

  it('a stop flushes, commits and ends the helper; so does a failing step (rows before it kept)', async () => {
    const rows = 2_000_000;
    const h = await harness(rows, rows);
    let checks = 0;
    const stopped = await h.run({
      params: { work: 50 },
      pageHelper: { syncChunk: 64 << 10 },
      stopReason: () => (++checks === 40 ? 'SIGTERM' : undefined),
    });
    expect(stopped.status).toBe('interrupted');
    expect(stopped.flushedRows).toBe(stopped.rows);
    expect(h.events.at(-1)).toEqual(expect.objectContaining({ type: 'commit', rows: stopped.rows }));
    expectSyncBeforeEveryCommit(h.events);

    const f = await harness(rows, rows);
    const failed = await f.run({ params: { failAt: 123_457 }, pageHelper: { syncChunk: 64 << 10 } });
    expect(failed).toMatchObject({ status: 'failed', rows: 123_457, flushedRows: 123_457 });
    expect(failed.error?.code).toBe('STEP_FAILED');
    expectSyncBeforeEveryCommit(f.events);
  });
});

describe('when a loop gets its page helper', () => {
  it('a fast loop gets it by default within its first few MiB', async () => {
    const rows = 1_000_000; // 32 MB
    const h = await harness(rows, rows);
    const events: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => events.push(JSON.parse(line)) });
    const outcome = await h.run({ log });
    expect(outcome.status).toBe('completed');
    const started = events.find((e) => e.event === 'page-helper');
    expect(started, JSON.stringify(events.map((e) => e.event))).toBeDefined();
    expect(started!.row).toBeLessThan(400_000);
  });

  const MiB = 1 << 20;
  async function started(helper: PageHelper | undefined): Promise<boolean> {
    await helper?.stop();
    return helper !== undefined;
  }

  it('once it has written its first 4 MiB at 10 MB/s or more; never if slower, or if it writes little', async () => {
    const fast = new PageHelperStart(undefined, 1 << 30, 1);
    expect(await started(fast.poll(0, 0))).toBe(false);
    expect(await started(fast.poll(2 * MiB, 5))).toBe(false);
    expect(await started(fast.poll(4 * MiB, 20))).toBe(true); // 210 MB/s
    expect(await started(fast.poll(8 * MiB, 40))).toBe(false); // only once

    const slow = new PageHelperStart(undefined, 1 << 30, 1);
    expect(await started(slow.poll(4 * MiB, 600))).toBe(false); // 7 MB/s
    expect(await started(slow.poll(64 * MiB, 610))).toBe(false); // decided

    const stuck = new PageHelperStart(undefined, 1 << 30, 1);
    expect(await started(stuck.poll(MiB, 1500))).toBe(false); // 1 s without 4 MiB
    expect(await started(stuck.poll(64 * MiB, 1510))).toBe(false);

    const small = new PageHelperStart(undefined, MIN_HELPED_BYTES - 1, 1);
    expect(await started(small.poll(4 * MiB, 1))).toBe(false);
  });

  it('at once when asked for, never when refused', async () => {
    expect(await started(new PageHelperStart({ prefault: false }, 1, 1).poll(0, 0))).toBe(true);
    expect(await started(new PageHelperStart(false, 1 << 30, 1).poll(64 * MiB, 1))).toBe(false);
  });
});

describe('the page helper', () => {
  const addon = createRequire(import.meta.url)('@riaskov/mmap-io') as { incore(buffer: Buffer): [number, number] };

  /** Which of the pages [from, to) (byte offsets of the file) are in the page cache. */
  function resident(file: string, from: number, to: number): number {
    const fd = fs.openSync(file, 'r');
    try {
      const map = mapFile(fd, to - from, 'r', file, from);
      return addon.incore(map)[1];
    } finally {
      fs.closeSync(fd);
    }
  }

  async function withHelper(
    options: Parameters<typeof startPageHelper>[0],
    body: (helper: PageHelper, segment: Segment) => Promise<void>,
  ) {
    const dir = tmpDir('mmrun-pages-');
    const layout = layoutOf({ n: 'f8', x: 'f8', y: 'f8', r2: 'f8' });
    const segment = Segment.create(path.join(dir, '000000.npy'), { layout, rows: 1 << 20, source: 'test' });
    const helper = startPageHelper(options);
    try {
      await helper.ready;
      await body(helper, segment);
    } finally {
      await helper.stop();
    }
  }

  it('populates the pages ahead of the write position, and only those', async () => {
    await withHelper({ lead: 1 << 20 }, async (helper, segment) => {
      // Page-aligned; the page before holds the header (and the first rows): written, resident.
      const start = Math.ceil(segment.dataOffset / PAGE_SIZE) * PAGE_SIZE;
      expect(resident(segment.path, start, start + (4 << 20))).toBe(0);
      helper.follow(segment, ITEMSIZE, 0);
      helper.advance(0);
      await waitUntil('the lead', () => helper.progress.populated >= 1 << 20);
      expect(resident(segment.path, start, start + (1 << 20))).toBe((1 << 20) / PAGE_SIZE);
      expect(resident(segment.path, start + (8 << 20), start + (12 << 20))).toBe(0);
      // The loop moves on: the lead follows it.
      helper.advance((4 << 20) / ITEMSIZE);
      await waitUntil('the next lead', () => helper.progress.populated >= 5 << 20);
      expect(resident(segment.path, start + (4 << 20), start + (5 << 20))).toBe((1 << 20) / PAGE_SIZE);
      expect(helper.degraded).toEqual({ map: undefined, populate: undefined, sync: undefined });
    });
  });

  it('writes back behind the write position, never past it', async () => {
    await withHelper({ prefault: false, syncChunk: 64 << 10 }, async (helper, segment) => {
      helper.follow(segment, ITEMSIZE, 0);
      const written = 100_000; // 3.2 MB, not page-aligned
      segment.data.fill(7, 0, written * ITEMSIZE);
      helper.advance(written);
      const floor = Math.floor((segment.dataOffset + written * ITEMSIZE) / PAGE_SIZE) * PAGE_SIZE;
      const limit = floor - segment.dataOffset;
      await waitUntil('the write-back', () => helper.progress.writtenBack >= limit - (64 << 10));
      expect(helper.progress.writtenBack).toBeLessThanOrEqual(limit);
      expect(helper.progress.populated).toBeLessThanOrEqual(limit); // prefault off: nothing ahead
      helper.check(); // no error
    });
  });

  it('checksums what it writes back, from where the loop last flushed, for that segment only', async () => {
    await withHelper({ prefault: false, syncChunk: 64 << 10 }, async (helper, segment) => {
      const rows = 100_000;
      for (let b = 0; b < rows * ITEMSIZE; b++) segment.data[b] = (b * 131) % 251;
      helper.follow(segment, ITEMSIZE, 1000); // the loop's last flush ended before row 1000
      expect(helper.checksumFrom(1000)).toBeUndefined(); // nothing checksummed yet
      // It starts from where the loop writes when it maps the segment: let it map it first.
      await waitUntil('the mapping', () => helper.progress.writtenBack > 0);
      helper.advance(rows);
      await waitUntil('the checksum', () => (helper.checksumFrom(1000)?.end ?? 0) > 2 << 20);
      const part = helper.checksumFrom(1000)!;
      expect(part.end).toBeLessThanOrEqual(rows * ITEMSIZE);
      expect(part.crc32c).toBe(crc32cOf(segment.data.subarray(1000 * ITEMSIZE, part.end)));
      expect(helper.checksumFrom(999)).toBeUndefined(); // another start: not this CRC

      // The loop flushes up to row 60 000: the helper starts over from there.
      helper.flushed(60_000);
      helper.advance(rows + 1); // wakes it
      segment.data.fill(3, rows * ITEMSIZE, (rows + 50_000) * ITEMSIZE);
      helper.advance(rows + 50_000);
      await waitUntil('the next checksum', () => (helper.checksumFrom(60_000)?.end ?? 0) > (rows + 40_000) * ITEMSIZE);
      const next = helper.checksumFrom(60_000)!;
      expect(next.crc32c).toBe(crc32cOf(segment.data.subarray(60_000 * ITEMSIZE, next.end)));
      expect(helper.checksumFrom(1000)).toBeUndefined();

      // Another segment (or the same file again): nothing carries over.
      helper.follow(segment, ITEMSIZE, 60_000);
      expect(helper.checksumFrom(60_000)).toBeUndefined();
    });
  });

  it('stops prefaulting, silently, where the kernel refuses (EINVAL); write-back goes on', async () => {
    await withHelper({ advice: 9999, syncChunk: 64 << 10 }, async (helper, segment) => {
      helper.follow(segment, ITEMSIZE, 0);
      segment.data.fill(1, 0, 1 << 20);
      helper.advance((1 << 20) / ITEMSIZE);
      await waitUntil('the refusal', () => helper.degraded.populate !== undefined);
      expect(helper.degraded.populate).toBe(22);
      await waitUntil('the write-back', () => helper.progress.writtenBack >= 512 << 10);
      helper.check();
    });
  });
});
