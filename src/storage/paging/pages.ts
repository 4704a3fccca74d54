// Keeps a sequential read of a mapped segment at constant resident memory. Pages of a
// shared read-only file mapping that were read stay in the process's RSS until the mapping
// is released, and mmrun never unmaps (a mapping goes when its Buffer is garbage-collected):
// exporting a 1 GiB segment would make the process 1 GiB large. MADV_DONTNEED on the pages
// already consumed drops them from this process; they stay in the page cache and a later
// access simply faults them in again, so this never changes what is read.
import { adviseSequential, PAGE_SIZE, releasePages } from '../mmap.ts';

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

  constructor(data: Buffer) {
    this.#mapping = Buffer.from(data.buffer, 0, data.buffer.byteLength);
    this.#base = data.byteOffset;
    adviseSequential(this.#mapping);
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
