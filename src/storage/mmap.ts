import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { MmrunError } from '../errors.ts';
import { failPoint } from '../faults.ts';

/** The subset of `@riaskov/mmap-io` mmrun uses. */
interface MmapBinding {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  sync(buffer: Buffer, offset: number, size: number, blocking: boolean, invalidate: boolean): void;
  advise(buffer: Buffer, advise: number): void;
  advise(buffer: Buffer, offset: number, length: number, advise: number): void;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MAP_PRIVATE: number;
  readonly MADV_SEQUENTIAL: number;
  readonly MADV_DONTNEED: number;
  readonly PAGESIZE: number;
}

const require = createRequire(import.meta.url);

/** The compiled addon where node-pre-gyp puts it, and where node-gyp builds it. */
function binaryCandidates(): string[] {
  const dir = path.dirname(require.resolve('@riaskov/mmap-io/package.json'));
  const pkg = require('@riaskov/mmap-io/package.json') as { binary?: { module_name?: string; module_path?: string } };
  const name = pkg.binary?.module_name ?? 'mmap_io';
  const modulePath = (pkg.binary?.module_path ?? '')
    .replace('{configuration}', 'Release')
    .replace('{node_abi}', `node-v${process.versions.modules}`)
    .replace('{platform}', process.platform)
    .replace('{arch}', process.arch);
  return [path.join(dir, modulePath, `${name}.node`), path.join(dir, 'build', 'Release', `${name}.node`)];
}

/**
 * Loads the addon once. The compiled addon is loaded directly: its entry file would first
 * load node-pre-gyp to find it (~100 ms and ~6 MiB, in every thread). If the entry file is
 * already loaded (a test's preload that patches it), or no compiled addon is where
 * node-pre-gyp puts it, the entry file is used; its loader parses process.argv for options
 * of its own, so it gets a command line without arguments while it loads.
 */
function loadBinding(): MmapBinding {
  const entry = require.resolve('@riaskov/mmap-io');
  if (!(entry in require.cache)) {
    for (const file of binaryCandidates()) {
      if (!fs.existsSync(file)) continue;
      const raw = require(file) as MmapBinding & { sync_lib_private__?: MmapBinding['sync'] };
      // The entry file (if it loaded this same addon) already wrapped the raw msync as `sync`.
      if (typeof raw.sync === 'function') return raw;
      const rawSync = raw.sync_lib_private__;
      if (typeof rawSync !== 'function') break;
      return Object.assign(Object.create(raw) as MmapBinding, {
        sync: (buffer: Buffer, offset: number, size: number, blocking: boolean, invalidate: boolean) =>
          rawSync(buffer, offset, size, blocking, invalidate),
      });
    }
  }
  const argv = process.argv;
  process.argv = argv.slice(0, 2);
  try {
    return require('@riaskov/mmap-io') as MmapBinding;
  } finally {
    process.argv = argv;
  }
}

const binding = loadBinding();

/**
 * The addon's entry file, for a helper thread that loads it itself (see
 * `storage/paging/page-helper.ts`): by absolute path, since an eval'd worker resolves bare names
 * from the working directory.
 */
export const MMAP_ADDON: string = require.resolve('@riaskov/mmap-io');

/**
 * The compiled addon (`mmap_io.node`) the entry file loaded, if found: a helper thread that
 * loads it directly skips node-pre-gyp's loader (~6 MiB of memory per thread).
 */
export const MMAP_BINARY: string | undefined = Object.keys(require.cache).find((file) =>
  /[\\/]@riaskov[\\/]mmap-io[\\/].*\.node$/.test(file),
);

/**
 * `madvise(MADV_POPULATE_WRITE)` (Linux ≥ 5.14): faults a range of a mapping in writable,
 * as a first write would (page-cache pages allocated and zero-filled, the file system's
 * `page_mkwrite` done), without changing a byte. The addon passes the advice number
 * straight to madvise; an older kernel answers EINVAL.
 */
export const MADV_POPULATE_WRITE = 23;

/** `madvise(MADV_DONTNEED)`: drops a range from this mapping's page tables (never the data). */
export const MADV_DONTNEED: number = binding.MADV_DONTNEED;

/** The system page size; msync ranges are aligned to it. */
export const PAGE_SIZE: number = binding.PAGESIZE;

/**
 * The binding passes size and offset through a C `int`: one mapping must be smaller than
 * 2 GiB and start below 2 GiB of its file.
 */
export const MAX_MAPPING_BYTES = 2 ** 31 - 1;

/** How a file is mapped: the NumPy memmap modes. */
export type Mode = 'r' | 'r+' | 'w+' | 'c';

/**
 * Maps `size` bytes of `fd` from `offset` (a multiple of {@link PAGE_SIZE}, below 2 GiB).
 * `r` is read-only and shared, `r+`/`w+` are read-write and shared (writes reach the file),
 * `c` is copy-on-write: writes stay in this process and never reach the file.
 */
export function mapFile(fd: number, size: number, mode: Mode, path: string, offset = 0): Buffer {
  if (size > MAX_MAPPING_BYTES) {
    throw new MmrunError('MAPPING_TOO_LARGE', `${path}: a mapping of ${size} bytes exceeds ${MAX_MAPPING_BYTES}`, {
      remedy: 'use smaller segments (--segment-rows)',
    });
  }
  const prot = mode === 'r' ? binding.PROT_READ : binding.PROT_READ | binding.PROT_WRITE;
  const flags = mode === 'c' ? binding.MAP_PRIVATE : binding.MAP_SHARED;
  try {
    return binding.map(size, prot, flags, fd, offset);
  } catch (cause) {
    throw new MmrunError(
      'IO_ERROR',
      `${path}: mmap of ${size} bytes at ${offset} failed (${(cause as Error).message})`,
      {
        cause,
        remedy: 'check free memory and the ulimit on virtual memory (ulimit -v)',
      },
    );
  }
}

/**
 * Writes the pages holding bytes [start, end) of a shared mapping to disk and waits
 * (msync MS_SYNC). The range is widened to page boundaries. An error is never retried:
 * after a failed msync the kernel may have dropped the dirty pages (fsyncgate), so the
 * caller must stop trusting the mapping.
 */
export function syncRange(buffer: Buffer, start: number, end: number, path: string): void {
  const from = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
  const to = Math.min(buffer.length, Math.ceil(end / PAGE_SIZE) * PAGE_SIZE);
  if (to <= from) return;
  try {
    if (failPoint('msync-error')) throw new Error('msync() failed, 5 (EIO, injected by MMRUN_FAULT)');
    binding.sync(buffer, from, to - from, true, false);
  } catch (cause) {
    throw new MmrunError('IO_ERROR', `${path}: msync of bytes ${from}..${to} failed (${(cause as Error).message})`, {
      cause,
      remedy:
        'the disk reported an error; check the device (dmesg), then `mmrun resume` recomputes from the last flush',
    });
  }
}

/** `madvise(MADV_PAGEOUT)` (Linux ≥ 5.4): reclaim these pages now; their data is kept. */
export const MADV_PAGEOUT = 21;

/**
 * Asks the kernel to reclaim the whole pages of bytes [from, to) of `view` (a view into a
 * shared mapping whose byte 0 lies at file offset `fileOffset`): clean pages leave the page
 * cache at once, so new pages can reuse them. The data is kept (on disk, or the page stays
 * where it cannot be reclaimed). Returns false if the kernel refused the advice.
 */
export function pageOut(view: Buffer, fileOffset: number, from: number, to: number): boolean {
  return adviseWholePages(view, fileOffset, from, to, MADV_PAGEOUT);
}

/**
 * madvise(`advice`) on the whole pages inside bytes [from, to) of `view`, whose byte 0 lies at
 * file offset `fileOffset`; false if the kernel refused the advice.
 */
function adviseWholePages(view: Buffer, fileOffset: number, from: number, to: number, advice: number): boolean {
  const start = Math.ceil((fileOffset + from) / PAGE_SIZE) * PAGE_SIZE - fileOffset;
  const end = Math.floor((fileOffset + to) / PAGE_SIZE) * PAGE_SIZE - fileOffset;
  if (end <= start) return true;
  try {
    binding.advise(view, start, end - start, advice);
    return true;
  } catch {
    return false;
  }
}

/**
 * Populates the whole pages of bytes [from, to) of `view` (a view into a shared writable
 * mapping whose byte 0 lies at file offset `fileOffset`) as a first write would, without
 * writing (MADV_POPULATE_WRITE). Returns false if the kernel refused (before Linux 5.14).
 */
export function populateWrite(view: Buffer, fileOffset: number, from: number, to: number): boolean {
  return adviseWholePages(view, fileOffset, from, to, MADV_POPULATE_WRITE);
}

/** Hints the kernel that the mapping will be read front to back. */
export function adviseSequential(buffer: Buffer): void {
  binding.advise(buffer, binding.MADV_SEQUENTIAL);
}

/**
 * Drops bytes [from, to) (page-aligned offsets into the mapping) of a read-only shared
 * mapping from this process's resident memory (MADV_DONTNEED). The pages stay in the page
 * cache; a later read faults them in again, so what is read never changes.
 */
export function releasePages(buffer: Buffer, from: number, to: number): void {
  if (to > from) binding.advise(buffer, from, to - from, binding.MADV_DONTNEED);
}
