// Keeps a sequential read of a mapped segment at constant resident memory. Pages of a
// shared read-only file mapping that were read stay in the process's RSS until the mapping
// is released, and mmrun never unmaps (a mapping goes when its Buffer is garbage-collected):
// exporting a 1 GiB segment would make the process 1 GiB large. MADV_DONTNEED on the pages
// already consumed drops them from this process; they stay in the page cache and a later
// access simply faults them in again, so this never changes what is read.
import { adviseSequential, PAGE_SIZE, releasePages } from '../mmap.ts';
import type { Segment } from '../segment.ts';

/**
 * A sequential reader's view of one mapping: `data` is a view into it (a segment's rows),
 * pages before the read cursor can be dropped from resident memory.
 */
export class SequentialPages {
  // The whole mapping, starting page-aligned (madvise needs an aligned address).
  readonly #mapping: Buffer;
  // Byte offset of `data` inside the mapping.
  readonly #base: number;
  // Pages [0, #released) of the mapping are already dropped.
  #released = 0;

  /** `sequential`: also advise the kernel that the mapping is read front to back. */
  constructor(data: Buffer, sequential = true) {
    this.#mapping = Buffer.from(data.buffer, 0, data.buffer.byteLength);
    this.#base = data.byteOffset;
    if (sequential) adviseSequential(this.#mapping);
  }

  /** Drops the pages that hold only bytes before `end` (an offset into `data`). */
  releaseBefore(end: number): void {
    const to = Math.floor((this.#base + end) / PAGE_SIZE) * PAGE_SIZE;
    if (to <= this.#released) return;
    releasePages(this.#mapping, this.#released, to);
    this.#released = to;
  }

  /** Drops every page of the mapping. */
  releaseAll(): void {
    const to = this.#mapping.length;
    releasePages(this.#mapping, this.#released, to);
    this.#released = to;
  }
}

/**
 * Read-behind for a chain of snapshots of one run (`refresh()`, `follow()`), which share
 * their segment mappings: when a new snapshot is made, the pages holding only rows before
 * the previous snapshot's end are dropped from this process's mappings (MADV_DONTNEED).
 *
 * Why: a page of a file that another process maps is one the writer's drop-behind
 * (`MADV_PAGEOUT` of its flushed pages, runner/drop-behind.ts) skips, so a follower that
 * kept every page it read mapped made the writer's page cache grow with the run and its
 * new rows land on fresh pages, slow to zero-fill on a VM. Dropped pages stay in the page
 * cache (or on disk); reading them again faults them back in with the same bytes, so what
 * any snapshot reads never changes, only what re-reading old rows costs.
 */
export class ChainPages {
  readonly #segmentRows: number;
  readonly #itemsize: number;
  // Per mapping (a segment mapped again when it grew gets a new entry).
  readonly #pages = new WeakMap<Segment, SequentialPages>();
  // Rows [0, #end) are in the latest snapshot made.
  #end = 0;

  constructor(segmentRows: number, itemsize: number) {
    this.#segmentRows = segmentRows;
    this.#itemsize = itemsize;
  }

  /**
   * A snapshot with rows [0, end) was made over `mapped`: drops the pages of rows before
   * the end of the previous one (a chain's first snapshot drops nothing).
   */
  advance(end: number, mapped: ReadonlyMap<number, Segment>): void {
    const before = this.#end;
    if (end > before) this.#end = end;
    if (before === 0) return;
    for (const [k, segment] of mapped) {
      const first = k * this.#segmentRows;
      if (first >= before) continue;
      let pages = this.#pages.get(segment);
      if (!pages) {
        pages = new SequentialPages(segment.data, false);
        this.#pages.set(segment, pages);
      }
      pages.releaseBefore(Math.min(before - first, segment.rows) * this.#itemsize);
    }
  }
}
