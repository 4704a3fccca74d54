import { performance } from 'node:perf_hooks';
import { config } from '../../config.ts';
import { pageOut, populateWrite } from '../mmap.ts';
import type { Segment } from '../segment.ts';

// Why: every new page-cache page the loop writes must first be allocated and zero-filled by
// the kernel, and on a virtual machine whose free memory goes back to the host (free page
// reporting) a fresh page also costs the host a fault: here that made zero-filling run at
// ~0.5 GB/s, the largest single cost of a cheap experiment. Pages recycled quickly are cheap.
// So once rows are flushed (msync'ed: clean, on disk), the loop asks the kernel to reclaim
// their pages (MADV_PAGEOUT), keeping the most recent DROP_BEHIND_LAG bytes cached (resume
// checks the last flushed range; a reader may follow the run closely). The next pages the
// loop (or its page helper) faults in then reuse memory that is still warm.
//
// The cost is that a reader right after the run reads older rows from the disk instead of
// the page cache; where fresh pages are cheap (most machines: memset speed) that is all loss.
// So by default the loop first times how fast the kernel provides fresh pages — it populates
// the first 2 MiB it will write anyway (MADV_POPULATE_WRITE) — and drops behind only where
// that is slower than FRESH_PAGES_FAST.
//
// Nothing about durability changes: only whole pages of flushed rows are reclaimed, and
// reclaiming keeps the data (it is on disk; a later read brings it back).

/** Bytes of the most recently flushed rows left in the page cache. */
export const DROP_BEHIND_LAG = 64 << 20;

/** Fresh page-cache pages at this rate (bytes/s) or faster make dropping behind not worth it. */
export const FRESH_PAGES_FAST = 2e9;

/** Bytes the loop populates to time fresh pages. */
const PROBE_BYTES = 2 << 20;

/** Reclaims in steps of at least this many bytes (one madvise each). */
const MIN_STEP = 4 << 20;

/** Whether the loop drops behind: always, never, or where fresh pages prove slow; and the lag. */
export interface DropBehindSetting {
  readonly use: 'auto' | 'on' | 'off';
  readonly lag: number;
}

/**
 * `MMRUN_DROP_BEHIND=off` keeps every page (e.g. to keep a just-written run in the page
 * cache for a reader, or to measure the effect), `on` drops behind wherever, `<bytes>` also
 * sets the lag (tests use a small one); unset, the loop decides (see above).
 */
export function dropBehindSetting(): DropBehindSetting {
  const { use, lag } = config().dropBehind;
  return { use, lag: lag ?? DROP_BEHIND_LAG };
}

/** Times fresh pages: bytes/s of populating [from, to) of a segment's `data`, undefined if refused. */
export type FreshPageProbe = (segment: Segment, fileOffset: number, from: number, to: number) => number | undefined;

const probeFreshPages: FreshPageProbe = (segment, fileOffset, from, to) => {
  const t0 = performance.now();
  if (!populateWrite(segment.data, fileOffset, from, to)) return undefined;
  return ((to - from) * 1000) / Math.max(performance.now() - t0, 1e-3);
};

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

  /** `on` until a probe of fresh pages finds them fast, or refused; `off` then. */
  #use: 'auto' | 'on' | 'off';
  readonly #probe: FreshPageProbe;

  constructor(
    { use, lag }: DropBehindSetting = { use: 'on', lag: DROP_BEHIND_LAG },
    step = MIN_STEP,
    probe = probeFreshPages,
  ) {
    this.#use = use;
    this.#lag = lag;
    this.#step = Math.min(step, lag);
    this.#probe = probe;
  }

  #freshPages: number | undefined;

  /** The probe's finding (bytes/s of fresh pages), if it ran and the kernel answered. */
  get freshPagesPerSecond(): number | undefined {
    return this.#freshPages;
  }

  /** Whether flushed pages are (or may yet be, before the probe) dropped. */
  get dropping(): boolean {
    return this.#use !== 'off';
  }

  /** The loop now writes `segment` from row `row` of its `data`. */
  follow(segment: Segment, itemsize: number, row: number): void {
    this.#segment = segment;
    this.#itemsize = itemsize;
    this.#fileOffset = segment.dataOffset + segment.firstRow * itemsize;
    this.#droppedTo = row;
    const from = row * itemsize;
    if (this.#use === 'auto' && segment.data.length - from >= PROBE_BYTES) {
      const rate = this.#probe(segment, this.#fileOffset, from, from + PROBE_BYTES);
      this.#use = rate !== undefined && rate < FRESH_PAGES_FAST ? 'on' : 'off';
      this.#freshPages = rate;
    }
  }

  /** Rows of `data` before `row` are flushed: reclaims those older than the lag. */
  flushed(row: number): void {
    const segment = this.#segment;
    if (!segment || !this.#supported || this.#use !== 'on') return;
    const upTo = row - Math.ceil(this.#lag / this.#itemsize);
    if ((upTo - this.#droppedTo) * this.#itemsize < this.#step) return;
    const from = this.#droppedTo * this.#itemsize;
    this.#supported = pageOut(segment.data, this.#fileOffset, from, upTo * this.#itemsize);
    this.#droppedTo = upTo;
  }
}
