import * as os from 'node:os';
import { config, type Switch } from '../../config.ts';
import { MmrunError } from '../../errors.ts';
import { siblingModule, startHelper } from '../../threads.ts';
import { MADV_DONTNEED, MADV_POPULATE_WRITE, MMAP_ADDON, MMAP_BINARY, PAGE_SIZE } from '../mmap.ts';
import type { Segment } from '../segment.ts';
import * as slot from './page-helper-slots.ts';

// A helper thread that takes two kinds of kernel work on the loop's pages off the loop
// thread. It maps the segment the loop writes (its own mapping of the same file: same page
// cache) and works just ahead of and just behind the loop's write position:
//
// - Ahead (prefault): the first write to each page of a new segment makes the kernel
//   allocate a page-cache page and zero-fill it (the fallocated extents are "unwritten", so
//   the fault path reads them as zeros). For a cheap experiment that was a quarter of the
//   loop thread's CPU. The helper populates the next pages first (MADV_POPULATE_WRITE), then
//   drops its own page-table entries (MADV_DONTNEED; the pages stay in the page cache,
//   dirty), so the loop takes only a minor fault per page. Only with a core to spare: it
//   moves CPU work, it does not remove it.
// - Behind (write-behind): msync (MS_SYNC) of the full pages the loop has written since the
//   last flush, in chunks, so that when the loop flushes, its own msync finds most of the
//   range already on disk and only writes the tail (≈ 2–5 ms instead of 15–50 ms for a
//   30 MiB flush here). Waiting on a disk costs no CPU, so this pays on one core too.
//   When both are due, prefaulting comes first only while less than half its lead is
//   ready; otherwise write-back does (a write-back that lags costs the loop a longer msync
//   at its next flush), so that neither can starve the other.
// - Checksums (with write-back): the CRC32C of each chunk it wrote back, chained from where
//   the loop last flushed, so that the loop's flush only checksums the tail of its range
//   (the whole range was ~6 ms per 30 MiB flush on the loop's thread).
//
// Neither changes what the loop does or promises. Invariant 1 (rows msync'ed, then the
// flushed index committed) stays with the loop: its own msync MS_SYNC still covers the
// whole flushed range and returns only once every page of it is on disk, including pages
// whose write-back the helper started. The helper commits nothing and never decides what is
// durable; it only makes the loop's msync cheaper. Populating writes no byte: the pages it
// dirties lie beyond the write position, where rows may hold anything (they hold zeros, as
// the unwritten extents read). A write-back error in the helper is reported to the loop,
// whose next flush then fails with IO_ERROR (as a failed msync of its own would). A CRC
// from the helper covers bytes the loop finished writing (below the position it reported)
// and never writes again; the loop uses it only if it starts exactly where its flushed
// range starts, in the segment it flushes, and computes the rest of the range itself.
//
// The two threads share memory only. At each checkpoint (every tick, ~2 ms) the loop stores
// its write position (one atomic store) and wakes the helper only when it asked to be woken
// at that position (once per few MiB): nothing on the per-iteration path.

/** The helper thread's module. */
const PAGE_HELPER_THREAD = siblingModule(import.meta.url, 'page-helper-thread');

/** Bytes kept populated ahead of the loop's write position. */
export const PREFAULT_LEAD = 16 << 20;

/** Bytes the helper writes back at a time (each msync also flushes the device's cache). */
export const WRITE_BEHIND_CHUNK = 8 << 20;

/** Bytes per madvise call. */
const POPULATE_CHUNK = 2 << 20;

/** Options of {@link startPageHelper}. */
export interface PageHelperOptions {
  /** Populate pages ahead of the loop (see {@link prefaultWanted}). @default true */
  readonly prefault?: boolean;
  /** The madvise advice pages are populated with (tests pass one the kernel refuses). @default MADV_POPULATE_WRITE */
  readonly advice?: number;
  /** Bytes to keep populated ahead of the loop. @default PREFAULT_LEAD */
  readonly lead?: number;
  /** Bytes written back at a time. @default WRITE_BEHIND_CHUNK */
  readonly syncChunk?: number;
  /** For tests: every write-back msync fails with EIO. */
  readonly failWriteBack?: boolean;
}

/**
 * The loop's side of the helper. Every method is cheap enough for a checkpoint (a few
 * atomic operations); none is meant for the per-iteration path.
 */
export interface PageHelper {
  /** The loop now writes rows of `segment` (`itemsize` bytes each), from row `row` of its `data`. */
  follow(segment: Segment, itemsize: number, row: number): void;
  /** Rows before `row` of the followed segment's `data` are written. */
  advance(row: number): void;
  /** Rows before `row` of the followed segment's `data` are msync'ed by the loop. */
  flushed(row: number): void;
  /**
   * The CRC32C of the followed segment's `data` from the start of row `row` (the loop's last
   * flush, as told by {@link flushed} or {@link follow}) to byte `end` of `data`, as far as the
   * helper checksummed what it wrote back; `undefined` if it has nothing for that start.
   */
  checksumFrom(row: number): { readonly end: number; readonly crc32c: number } | undefined;
  /**
   * Throws IO_ERROR if a write-back msync of the helper failed: after a failed write-back
   * the kernel may have dropped the dirty pages (fsyncgate), so the rows are not trusted.
   */
  check(): void;
  /**
   * How far the helper got in the followed segment's `data`, in bytes: populated ahead,
   * written back behind (page-aligned, never past what the loop reported written).
   */
  readonly progress: { readonly populated: number; readonly writtenBack: number };
  /** Why the helper does less than asked (errno values), for the log; empty if all is well. */
  readonly degraded: { readonly map?: number; readonly populate?: number; readonly sync?: number };
  /** Resolves once the thread runs; rejects if it could not start (the loop goes on without). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Whether prefaulting pays here: it moves CPU work to another core, so only with a core to
 * spare beyond the `busy` threads computing rows. `MMRUN_PREFAULT=off` turns it off (`on`
 * forces it), e.g. to measure its effect.
 */
export function prefaultWanted(busy: number): boolean {
  const setting = config().prefault;
  if (setting !== 'auto') return setting === 'on';
  return os.availableParallelism() > busy;
}

/**
 * Overrides from the environment, for measurements and tests: `MMRUN_PAGE_HELPER=off` (no
 * helper) or `on` (a helper even for a loop too small to need one), and
 * `MMRUN_WRITE_BEHIND_BYTES=<n>` (write back every n bytes, a multiple of the page size;
 * small values let the end-to-end tests kill a process while the helper writes back).
 */
export function pageHelperSettings(): { readonly use: Switch; readonly syncChunk?: number } {
  const { pageHelper, writeBehindBytes: chunk } = config();
  // config.ts checks a multiple of 4096; a machine with larger pages ignores other values.
  const syncChunk = chunk !== undefined && chunk % PAGE_SIZE === 0 ? chunk : undefined;
  return { use: pageHelper, ...(syncChunk ? { syncChunk } : {}) };
}

/** A loop writing less than this gets no page helper: the thread would have nothing to do. */
export const MIN_HELPED_BYTES = 2 * WRITE_BEHIND_CHUNK;

/**
 * A loop gets its helper once it has written {@link PROBE_BYTES} at least this fast (bytes
 * per second of computing, its first rows' cold code included); a slower loop never does.
 * Below that rate the kernel's work per byte is a few percent of the loop's time at most,
 * less than a thread is worth (e.g. `--workers` of a CPU-bound experiment: ~3 MB/s).
 */
export const HELPED_BYTES_PER_SECOND = 10e6;
const PROBE_BYTES = 4 << 20;
const PROBE_MS = 1000;

/**
 * When a loop gets its page helper: at once if one was asked for (`options`, or
 * MMRUN_PAGE_HELPER=on), never if refused (`false`, =off) or the loop writes too little,
 * else once its first {@link PROBE_BYTES} came at least {@link HELPED_BYTES_PER_SECOND}.
 */
export class PageHelperStart {
  #plan: 'now' | 'probe' | 'done';
  readonly #options: PageHelperOptions;

  /**
   * @param options the loop's `pageHelper` option
   * @param bytes what the loop will write
   * @param busy threads computing rows in this process (a shard's siblings count)
   */
  constructor(options: PageHelperOptions | false | undefined, bytes: number, busy: number) {
    const env = pageHelperSettings();
    const prefault = prefaultWanted(busy);
    this.#options = { prefault, ...(env.syncChunk ? { syncChunk: env.syncChunk } : {}), ...(options || {}) };
    if (options === false || env.use === 'off') this.#plan = 'done';
    else if (options !== undefined || env.use === 'on') this.#plan = 'now';
    else this.#plan = bytes < MIN_HELPED_BYTES ? 'done' : 'probe';
  }

  /**
   * The helper to start now, if it is time: at a checkpoint, after `written` bytes in
   * `elapsedMs` of computing (from the loop's first row, after its set-up).
   */
  poll(written: number, elapsedMs: number): PageHelper | undefined {
    if (this.#plan === 'done') return undefined;
    if (this.#plan === 'probe') {
      if (written < PROBE_BYTES) {
        if (elapsedMs > PROBE_MS) this.#plan = 'done';
        return undefined;
      }
      if ((written / elapsedMs) * 1000 < HELPED_BYTES_PER_SECOND) {
        this.#plan = 'done';
        return undefined;
      }
    }
    this.#plan = 'done';
    try {
      return startPageHelper(this.#options);
    } catch {
      return undefined; // only help: the loop is the same without it
    }
  }
}

/**
 * Starts the helper thread. A failure to start it, or an madvise the kernel refuses (EINVAL
 * before Linux 5.14, or a file system that cannot populate), only means less help.
 */
export function startPageHelper(options: PageHelperOptions = {}): PageHelper {
  const shared = new SharedArrayBuffer(slot.PATH_START + slot.PATH_BYTES);
  const ctl = new Int32Array(shared, 0, slot.PATH_START / 4);
  const pathBytes = new Uint8Array(shared, slot.PATH_START, slot.PATH_BYTES);
  const helper = startHelper(
    PAGE_HELPER_THREAD,
    {
      shared,
      addon: MMAP_ADDON,
      binary: MMAP_BINARY,
      prefault: options.prefault ?? true,
      lead: options.lead ?? PREFAULT_LEAD,
      populateChunk: POPULATE_CHUNK,
      syncChunk: options.syncChunk ?? WRITE_BEHIND_CHUNK,
      failWriteBack: options.failWriteBack === true,
      advice: options.advice ?? MADV_POPULATE_WRITE,
      dontneed: MADV_DONTNEED,
      page: PAGE_SIZE,
    },
    'the page helper thread',
  );
  // Byte of the helper's mapping where the followed segment's `data` starts; its file.
  let base = 0;
  let rowBytes = 0;
  let file = '';
  const wake = () => {
    Atomics.add(ctl, slot.SEQ, 1);
    Atomics.notify(ctl, slot.SEQ);
  };
  const errno = (index: number) => Atomics.load(ctl, index) || undefined;
  return {
    follow(segment, itemsize, row) {
      const start = segment.dataOffset + segment.firstRow * itemsize;
      const offset = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
      const encoded = new TextEncoder().encodeInto(segment.path, pathBytes);
      if (encoded.read < segment.path.length) {
        // Longer than PATH_MAX: the helper could not open it either. Go on without help;
        // a new generation disowns any checksum it published for the previous segment.
        Atomics.add(ctl, slot.GEN, 2);
        Atomics.store(ctl, slot.STOP, 1);
        wake();
        return;
      }
      base = start - offset;
      rowBytes = itemsize;
      file = segment.path;
      Atomics.add(ctl, slot.GEN, 1);
      Atomics.store(ctl, slot.PATH_LENGTH, encoded.written);
      Atomics.store(ctl, slot.LENGTH, start + segment.rows * itemsize - offset);
      Atomics.store(ctl, slot.OFFSET, offset);
      Atomics.store(ctl, slot.AT, base + row * itemsize);
      Atomics.store(ctl, slot.FLUSHED, base + row * itemsize);
      Atomics.add(ctl, slot.GEN, 1);
      wake();
    },
    advance(row) {
      const at = base + row * rowBytes;
      Atomics.store(ctl, slot.AT, at);
      if (at >= Atomics.load(ctl, slot.WAKE)) wake();
    },
    flushed(row) {
      Atomics.store(ctl, slot.FLUSHED, base + row * rowBytes);
    },
    checksumFrom(row) {
      const from = base + row * rowBytes;
      for (let tries = 0; tries < 8; tries++) {
        const g = Atomics.load(ctl, slot.CRC_GEN);
        if ((g & 1) !== 0) continue;
        const segment = Atomics.load(ctl, slot.CRC_SEGMENT);
        const start = Atomics.load(ctl, slot.CRC_FROM);
        const end = Atomics.load(ctl, slot.CRC_TO);
        const value = Atomics.load(ctl, slot.CRC_VALUE);
        if (Atomics.load(ctl, slot.CRC_GEN) !== g) continue;
        if (g === 0 || segment !== Atomics.load(ctl, slot.GEN) || start !== from) return undefined;
        return { end: end - base, crc32c: value >>> 0 };
      }
      return undefined;
    },
    check() {
      const sync = Atomics.load(ctl, slot.SYNC_ERRNO);
      if (sync === 0) return;
      throw new MmrunError('IO_ERROR', `${file}: a write-back msync failed (errno ${sync})`, {
        remedy:
          'the disk reported an error; check the device (dmesg), then `mmrun resume` recomputes from the last flush',
      });
    },
    get progress() {
      return {
        populated: Atomics.load(ctl, slot.POPULATED) - base,
        writtenBack: Atomics.load(ctl, slot.SYNCED) - base,
      };
    },
    get degraded() {
      return { map: errno(slot.MAP_ERRNO), populate: errno(slot.POPULATE_ERRNO), sync: errno(slot.SYNC_ERRNO) };
    },
    ready: helper.ready,
    async stop() {
      Atomics.store(ctl, slot.STOP, 1);
      wake();
      await helper.stop();
    },
  };
}
