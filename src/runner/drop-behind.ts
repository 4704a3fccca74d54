import { pageOut } from '../storage/mmap.ts';
import type { Segment } from '../storage/segment.ts';

// Why: every new page-cache page the loop writes must first be allocated and zero-filled by
// the kernel, and on a virtual machine whose free memory goes back to the host (free page
// reporting) a fresh page also costs the host a fault: here that made zero-filling run at
// ~0.5 GB/s, the largest single cost of a cheap experiment. Pages recycled quickly are cheap.
// So once rows are flushed (msync'ed: clean, on disk), the loop asks the kernel to reclaim
// their pages (MADV_PAGEOUT), keeping the most recent DROP_BEHIND_LAG bytes cached (resume
// checks the last flushed range; a reader may follow the run closely). The next pages the
// loop (or its page helper) faults in then reuse memory that is still warm; the run's page
// cache footprint stays bounded whatever its size.
//
// Nothing about durability changes: only whole pages of flushed rows are reclaimed, and
// reclaiming keeps the data (it is on disk; a later read brings it back). The cost is that
// a reader right after the run reads older rows from the disk instead of the page cache.

/** Bytes of the most recently flushed rows left in the page cache. */
export const DROP_BEHIND_LAG = 64 << 20;

/** Reclaims in steps of at least this many bytes (one madvise each). */
const MIN_STEP = 4 << 20;

/**
 * The lag the loop drops flushed pages with, or undefined for none. `MMRUN_DROP_BEHIND=off`
 * keeps every page (e.g. to measure the effect, or to keep a just-written run in the page
 * cache for a reader); `MMRUN_DROP_BEHIND=<bytes>` sets the lag (tests use a small one).
 */
export function dropBehindLag(): number | undefined {
  const setting = process.env.MMRUN_DROP_BEHIND;
  if (setting === 'off' || setting === '0') return undefined;
  const lag = Number(setting);
  return setting !== undefined && Number.isSafeInteger(lag) && lag > 0 ? lag : DROP_BEHIND_LAG;
}

/** Reclaims the pages of flushed rows of the segment the loop writes, `lag` bytes behind. */
export class DropBehind {
  readonly #lag: number;
  readonly #step: number;
  #segment: Segment | undefined;
  #itemsize = 0;
  /** File offset of byte 0 of the segment's `data`. */
  #fileOffset = 0;
  /** Rows of `data` before this one are reclaimed (or were never ours to reclaim). */
  #droppedTo = 0;
  /** False once the kernel refused the advice (before Linux 5.4): nothing more is tried. */
  #supported = true;

  constructor(lag = DROP_BEHIND_LAG, step = MIN_STEP) {
    this.#lag = lag;
    this.#step = Math.min(step, lag);
  }

  /** The loop now writes `segment` from row `row` of its `data`. */
  follow(segment: Segment, itemsize: number, row: number): void {
    this.#segment = segment;
    this.#itemsize = itemsize;
    this.#fileOffset = segment.dataOffset + segment.firstRow * itemsize;
    this.#droppedTo = row;
  }

  /** Rows of `data` before `row` are flushed: reclaims those older than the lag. */
  flushed(row: number): void {
    const segment = this.#segment;
    if (!segment || !this.#supported) return;
    const upTo = row - Math.ceil(this.#lag / this.#itemsize);
    if ((upTo - this.#droppedTo) * this.#itemsize < this.#step) return;
    const from = this.#droppedTo * this.#itemsize;
    this.#supported = pageOut(segment.data, this.#fileOffset, from, upTo * this.#itemsize);
    this.#droppedTo = upTo;
  }
}
