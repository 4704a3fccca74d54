// The page helper's thread (started by page-helper.ts, which explains what it does and
// why): it follows the segment the loop writes, populates pages ahead of the loop's write
// position and writes back (msync) the pages behind it, checksumming what it wrote back.
// It shares only the control block of page-helper-slots.ts with the loop thread.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { helperStopped, threadData } from '../../threads.ts';
import { crc32cOf } from '../checksum.ts';
import * as slot from './page-helper-slots.ts';

/** What the thread is started with (its workerData). */
export interface PageHelperThreadData {
  readonly shared: SharedArrayBuffer;
  /** The addon's entry file, and the compiled addon it loaded (if found). */
  readonly addon: string;
  readonly binary: string | undefined;
  readonly prefault: boolean;
  readonly lead: number;
  readonly populateChunk: number;
  readonly syncChunk: number;
  readonly failWriteBack: boolean;
  readonly advice: number;
  readonly dontneed: number;
  readonly page: number;
}

interface Addon {
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  map(size: number, protection: number, flags: number, fd: number, offset: number): Buffer;
  advise(map: Buffer, offset: number, length: number, advice: number): void;
  sync?(map: Buffer, offset: number, length: number, blocking: boolean, invalidate: boolean): void;
  sync_lib_private__?(map: Buffer, offset: number, length: number, blocking: boolean, invalidate: boolean): void;
}

const data = threadData<PageHelperThreadData>();
const { lead, populateChunk, syncChunk, advice, dontneed, page, failWriteBack } = data;
const require = createRequire(import.meta.url);
let prefault = data.prefault;
const ctl = new Int32Array(data.shared, 0, slot.PATH_START / 4);
const pathBytes = new Uint8Array(data.shared, slot.PATH_START, slot.PATH_BYTES);

// The addon's errors say "madvise() failed, 22"; fs errors carry a (negative) errno.
function errnoOf(error: unknown): number {
  const e = error as { errno?: unknown; message?: unknown } | undefined;
  if (typeof e?.errno === 'number') return Math.abs(e.errno);
  const m = /failed, (\d+)/.exec(String(e?.message));
  return m ? Number(m[1]) : -1;
}
const floor = (at: number) => at - (at % page);

// The compiled addon, loaded directly (its entry file would load node-pre-gyp to find it),
// else through the entry file, whose loader parses process.argv: it gets no arguments.
let mmap: Addon | undefined;
const argv = process.argv;
process.argv = argv.slice(0, 2);
try {
  mmap = require(data.binary ?? data.addon) as Addon;
} catch (error) {
  Atomics.store(ctl, slot.MAP_ERRNO, errnoOf(error));
} finally {
  process.argv = argv;
}
// The entry file wraps the addon's raw msync as 'sync'. A test's preload that breaks msync
// loads the entry file in every thread and replaces 'sync': this thread's write-back is then
// broken the same way, as it must be.
const addon = mmap;
const msync =
  typeof addon?.sync === 'function'
    ? (map: Buffer, offset: number, length: number) => addon.sync?.(map, offset, length, true, false)
    : typeof addon?.sync_lib_private__ === 'function'
      ? (map: Buffer, offset: number, length: number) => addon.sync_lib_private__?.(map, offset, length, true, false)
      : undefined;

let gen = 0;
let map: Buffer | null = null;
let length = 0;
let populated = 0;
let synced = 0;
let crcFrom = -1;
let crcTo = 0;
let crc = 0;

function follow(m: Addon): void {
  for (;;) {
    const g = Atomics.load(ctl, slot.GEN);
    if ((g & 1) !== 0) continue;
    const file = Buffer.from(pathBytes.subarray(0, Atomics.load(ctl, slot.PATH_LENGTH))).toString();
    const size = Atomics.load(ctl, slot.LENGTH);
    const offset = Atomics.load(ctl, slot.OFFSET);
    const at = Atomics.load(ctl, slot.AT);
    if (Atomics.load(ctl, slot.GEN) !== g) continue;
    gen = g;
    map = null;
    const fd = fs.openSync(file, 'r+');
    try {
      map = m.map(size, m.PROT_READ | m.PROT_WRITE, m.MAP_SHARED, fd, offset);
    } finally {
      fs.closeSync(fd);
    }
    length = size;
    crcFrom = -1;
    populated = synced = floor(at);
    Atomics.store(ctl, slot.POPULATED, populated);
    Atomics.store(ctl, slot.SYNCED, synced);
    return;
  }
}

// Extends the running CRC up to byte `end` (bytes the loop wrote and the helper just wrote
// back), starting over where the loop last flushed, and publishes it.
function checksum(view: Buffer, end: number): void {
  const from = Atomics.load(ctl, slot.FLUSHED);
  if (from !== crcFrom) {
    crcFrom = from;
    crcTo = from;
    crc = 0;
  }
  if (end <= crcTo) return;
  crc = crc32cOf(view.subarray(crcTo, end), crc);
  crcTo = end;
  Atomics.add(ctl, slot.CRC_GEN, 1);
  Atomics.store(ctl, slot.CRC_SEGMENT, gen);
  Atomics.store(ctl, slot.CRC_FROM, crcFrom);
  Atomics.store(ctl, slot.CRC_TO, crcTo);
  Atomics.store(ctl, slot.CRC_VALUE, crc | 0);
  Atomics.add(ctl, slot.CRC_GEN, 1);
}

function populate(m: Addon, view: Buffer): number {
  const n = Math.min(populateChunk, length - populated);
  try {
    m.advise(view, populated, n, advice);
    m.advise(view, populated, n, dontneed);
  } catch (error) {
    Atomics.store(ctl, slot.POPULATE_ERRNO, errnoOf(error));
    prefault = false;
  }
  populated += n;
  Atomics.store(ctl, slot.POPULATED, populated);
  return -1;
}

// One unit of work; returns -1 to look again at once, else the write position to be woken at.
function work(m: Addon): number {
  if (Atomics.load(ctl, slot.GEN) !== gen) follow(m);
  const view = map;
  if (!view) return slot.NEVER;
  const at = Atomics.load(ctl, slot.AT);
  synced = Math.max(synced, floor(Atomics.load(ctl, slot.FLUSHED)));
  const end = floor(at);
  // Where the loop got ahead, it faulted the pages itself: prefault goes on from where it writes.
  if (prefault) populated = Math.max(populated, floor(at));
  // Prefault first while less than half the lead is ready (else the loop would soon fault
  // pages itself), then write-back, then the rest of the lead.
  if (prefault && populated < Math.min(length, at + lead / 2)) return populate(m, view);
  if (msync && end - synced >= syncChunk) {
    try {
      if (failWriteBack) throw new Error('msync() failed, 5');
      msync(view, synced, end - synced);
    } catch (error) {
      Atomics.store(ctl, slot.SYNC_ERRNO, errnoOf(error));
      throw error;
    }
    synced = end;
    Atomics.store(ctl, slot.SYNCED, synced);
    // CRC32C of what it wrote back (storage/checksum.ts), so the loop's flush only checksums the tail.
    checksum(view, end);
    return -1;
  }
  if (prefault && populated < Math.min(length, at + lead)) return populate(m, view);
  const ahead = prefault && populated < length ? populated - lead / 2 : slot.NEVER;
  return Math.min(ahead, synced + syncChunk);
}

while (mmap && Atomics.load(ctl, slot.STOP) === 0) {
  const seq = Atomics.load(ctl, slot.SEQ);
  let wake: number;
  try {
    wake = work(mmap);
  } catch (error) {
    if (Atomics.load(ctl, slot.SYNC_ERRNO) === 0) Atomics.store(ctl, slot.MAP_ERRNO, errnoOf(error));
    break;
  }
  if (wake < 0) continue;
  Atomics.store(ctl, slot.WAKE, wake);
  if (Atomics.load(ctl, slot.AT) >= wake) continue;
  Atomics.wait(ctl, slot.SEQ, seq);
}
map = null;
Atomics.store(ctl, slot.WAKE, slot.NEVER);
helperStopped();
