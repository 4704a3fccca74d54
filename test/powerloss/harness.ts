// Power-loss harness: mounts lossyfs (a FUSE file system that keeps unsynced writes in
// memory only, see lossyfs.py), cuts the power under a running mmrun, and checks the
// "disk after the reboot" (lossyfs's backing directory) against an uninterrupted run.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { readHeader } from '../../src/storage/npy.ts';
import { peekRun, sleep, spawnMmrun, tempDir, waitFor } from '../e2e/cli.ts';

/** Debian's python, which sees python3-pyfuse3 (the `python3` on PATH may be a pyenv one). */
export const PYTHON = process.env.LOSSYFS_PYTHON ?? '/usr/bin/python3';
export const LOSSYFS = path.join(import.meta.dirname, 'lossyfs.py');
/** Node preloads that break mmrun's durability order, to prove the test notices. */
export const BREAK = {
  /** msync becomes a no-op: rows are committed without ever being made durable. */
  skipMsync: path.join(import.meta.dirname, 'skip-msync.cjs'),
  /** fsync of a directory becomes a no-op: new files and directories may vanish. */
  skipDirFsync: path.join(import.meta.dirname, 'skip-dir-fsync.cjs'),
} as const;

/** Why lossyfs cannot run here, or undefined if it should. */
export function lossyfsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'FUSE power-loss tests need Linux';
  if (process.getuid?.() !== 0) return 'mounting lossyfs needs root';
  if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing (modprobe fuse)';
  const r = spawnSync(PYTHON, ['-c', 'import pyfuse3, trio'], { encoding: 'utf8' });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr ?? '').trim().split('\n').pop();
    return `${PYTHON} cannot import pyfuse3 (apt-get install fuse3 python3-pyfuse3): ${why}`;
  }
  return undefined;
}

/** What lossyfs reports on reading its control file. */
export interface LossyStats {
  state: 'on' | 'off';
  writes: number;
  writeBytes: number;
  fsyncs: number;
  fsyncdirs: number;
  syncedBytes: number;
  fsyncsByPath: Record<string, number>;
  unsyncedBytesByFile: Record<string, number>;
  unsyncedEntriesByDir: Record<string, string[]>;
  dropped: {
    unsyncedBytesByFile: Record<string, number>;
    unsyncedEntriesByDir: Record<string, string[]>;
    keep: number;
    seed: number | null;
    kept: { pages: number; sizes: number; dirs: number };
  } | null;
}

export interface Mount {
  readonly backing: string;
  readonly mountpoint: string;
  readonly daemon: ChildProcess;
  /** Reads the control file. */
  stats(): LossyStats;
  /** Power loss: unsynced data is dropped (a random `keep` fraction is written first). */
  powerOff(keep?: number, seed?: number): LossyStats;
  /** Lazy unmount after a power loss; a clean unmount (everything synced) otherwise. */
  unmount(): Promise<void>;
}

const mounts = new Set<Mount>();

/** Mounts lossyfs over `backing` at a new temporary mountpoint. */
export async function mountLossyfs(
  backing: string,
  options: { log?: string | undefined; dirtyLimit?: number | undefined } = {},
): Promise<Mount> {
  const mountpoint = tempDir('mmrun-lossyfs-mnt-');
  const args = [LOSSYFS, backing, mountpoint];
  if (options.log) args.push('--log', options.log);
  if (options.dirtyLimit !== undefined) args.push('--dirty-limit', String(options.dirtyLimit));
  const daemon = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  daemon.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  daemon.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => daemon.on('close', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  try {
    await waitFor(() => output.includes('lossyfs: mounted') || gone, 15_000, 'lossyfs to mount');
  } catch (error) {
    daemon.kill('SIGKILL');
    throw error;
  }
  if (!output.includes('lossyfs: mounted')) {
    fs.rmSync(mountpoint, { recursive: true, force: true });
    throw new Error(`lossyfs could not mount at ${mountpoint}: ${output.trim()}`);
  }
  const ctl = path.join(mountpoint, '.lossyfs');
  const stats = () => JSON.parse(fs.readFileSync(ctl, 'utf8')) as LossyStats;
  let poweredOff = false;
  const mount: Mount = {
    backing,
    mountpoint,
    daemon,
    stats,
    powerOff(keep = 0, seed = 1) {
      fs.writeFileSync(ctl, keep > 0 ? `poweroff keep=${keep} seed=${seed}` : 'poweroff');
      poweredOff = true;
      return stats();
    },
    async unmount() {
      mounts.delete(mount);
      try {
        if (!gone) execFileSync('umount', poweredOff ? ['-l', mountpoint] : [mountpoint], { stdio: 'pipe' });
        const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
        if (code === 'timeout') throw new Error(`lossyfs did not exit after unmounting: ${output}`);
        if (code !== 0) throw new Error(`lossyfs exited with ${code}: ${output}`);
        if (!poweredOff && !output.includes('everything synced')) throw new Error(`lossyfs: ${output}`);
      } finally {
        forceUnmount(mountpoint, daemon);
      }
    },
  };
  mounts.add(mount);
  return mount;
}

function forceUnmount(mountpoint: string, daemon: ChildProcess): void {
  if (fs.readFileSync('/proc/mounts', 'utf8').includes(` ${mountpoint} `)) {
    spawnSync('umount', ['-l', mountpoint]);
  }
  if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  fs.rmSync(mountpoint, { recursive: true, force: true });
}

/** Unmounts whatever a failed test left mounted (call from afterAll/afterEach). */
export function unmountAll(): void {
  for (const m of mounts) forceUnmount(m.mountpoint, m.daemon);
  mounts.clear();
}

/** The run as the catalog on a disk (a copy of it: the disk itself stays untouched) records it. */
export interface CatalogView {
  readonly integrity: string;
  readonly flushedRows: number;
  readonly iterations: number;
  readonly itemsize: number;
  readonly segmentRows: number;
  readonly status: string;
}

/** Opens a copy of `<runsDir>/mmrun.sqlite*` (SQLite recovers the WAL) and reads run `id`. */
export function readCatalog(runsDir: string, id: string): CatalogView {
  const scratch = tempDir('mmrun-lossyfs-catalog-');
  try {
    const names = fs.readdirSync(runsDir).filter((n) => n.startsWith('mmrun.sqlite'));
    if (!names.includes('mmrun.sqlite')) throw new Error(`no catalog on the disk: ${runsDir} holds ${names}`);
    for (const n of names) fs.copyFileSync(path.join(runsDir, n), path.join(scratch, n));
    const db = new Database(path.join(scratch, 'mmrun.sqlite'), { fileMustExist: true });
    try {
      const integrity = String(db.pragma('integrity_check', { simple: true }));
      const run = db
        .prepare(
          `SELECT iterations, itemsize, segment_rows AS segmentRows, status,
             (SELECT flushed_index FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1) AS flushedRows
           FROM runs WHERE id = ?`,
        )
        .get(id) as Omit<CatalogView, 'integrity'> | undefined;
      if (!run) throw new Error(`the catalog on the disk has no run '${id}'`);
      return { integrity, ...run, flushedRows: run.flushedRows ?? 0 };
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

const segmentName = (k: number) => `${String(k).padStart(6, '0')}.npy`;

/**
 * The first of rows [0, rows) whose bytes on `disk` differ from the reference run's (or
 * whose segment is missing or short), described; undefined if all of them are there.
 * Segment headers are compared too.
 */
export function firstRowNotOnDisk(
  disk: string,
  reference: string,
  id: string,
  rows: number,
  layout: { itemsize: number; segmentRows: number },
): string | undefined {
  for (let k = 0; k * layout.segmentRows < rows; k++) {
    const first = k * layout.segmentRows;
    const n = Math.min(layout.segmentRows, rows - first);
    const ref = path.join(reference, id, segmentName(k));
    const file = path.join(disk, id, segmentName(k));
    const end = readHeader(ref).dataOffset + n * layout.itemsize;
    const want = fs.readFileSync(ref).subarray(0, end);
    if (!fs.existsSync(file)) {
      return `row ${first}: segment ${path.relative(disk, file)} is not on the disk (${fs.existsSync(path.dirname(file)) ? 'the run directory is' : 'nor is the run directory'})`;
    }
    const got = fs.readFileSync(file).subarray(0, end);
    const at = want.findIndex((byte, i) => got[i] !== byte);
    if (at >= 0 || got.length < end) {
      const offset = at >= 0 ? at : got.length;
      const dataOffset = readHeader(ref).dataOffset;
      if (offset < dataOffset) return `row ${first}: the header of ${segmentName(k)} differs at byte ${offset}`;
      const row = first + Math.floor((offset - dataOffset) / layout.itemsize);
      const zeros = got.subarray(dataOffset + (row - first) * layout.itemsize, end).every((b) => b === 0);
      return `row ${row} (segment ${segmentName(k)}, byte ${offset}) differs from the uninterrupted run${zeros ? '; from there on the segment holds only zeros' : ''}`;
    }
  }
  return undefined;
}

/** What one power loss under a running `mmrun` left on the disk. */
export interface PowerLoss {
  /** The flushed index the test read through the mount just before the power loss. */
  readonly seenRows: number;
  /** The catalog on the disk after the power loss. */
  readonly catalog: CatalogView;
  /** The first row the catalog claims that is not on the disk, if any. */
  readonly notOnDisk: string | undefined;
  /** What the power loss dropped (and kept), as lossyfs reports it. */
  readonly stats: LossyStats;
  /** mmrun's stderr up to the power loss. */
  readonly stderr: string;
}

export interface PowerLossOptions {
  /** The disk: lossyfs's backing directory, which becomes the runs directory. */
  readonly disk: string;
  /** A directory holding the uninterrupted run `id`. */
  readonly reference: string;
  readonly id: string;
  /** `mmrun` arguments (run … or resume …). */
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  /** Cut the power once the catalog claims at least this many rows … */
  readonly atRows: number;
  /** … and this many milliseconds later. */
  readonly delayMs: number;
  /** Fraction of the unsynced state that still reaches the disk (0: none). */
  readonly keep?: number;
  readonly seed?: number;
  /** lossyfs operation log, for debugging. */
  readonly log?: string | undefined;
  /**
   * Cap on the mount's dirty page cache (bytes): below it, rows written through the mapping
   * reach lossyfs (unsynced) before msync, so `keep` can write some of them to the disk.
   */
  readonly dirtyLimit?: number;
}

/**
 * Mounts lossyfs over `disk`, runs mmrun on it, cuts the power (unsynced data dropped,
 * then SIGKILL: nothing of the process outlives the power), unmounts, and reads what the
 * disk holds: the catalog's flushed index and whether every row it claims is there.
 */
export async function powerLoss(o: PowerLossOptions): Promise<PowerLoss> {
  const mount = await mountLossyfs(o.disk, { log: o.log, dirtyLimit: o.dirtyLimit });
  let stats: LossyStats;
  let seenRows = 0;
  let stderr = '';
  try {
    const cli = spawnMmrun(o.args, mount.mountpoint, o.env);
    let exited = false;
    void cli.exited.then(() => {
      exited = true;
    });
    try {
      const flushed = () => peekRun(mount.mountpoint, o.id)?.flushedRows ?? 0;
      await waitFor(() => exited || flushed() >= o.atRows, 45_000, `run '${o.id}' to flush ${o.atRows} rows`);
      if (flushed() < o.atRows) {
        const r = await cli.exited;
        throw new Error(`mmrun ended (${r.code ?? r.signal}) before it flushed ${o.atRows} rows:\n${r.stderr}`);
      }
      await sleep(o.delayMs);
      // Anything a reader saw committed was fsynced first (SQLite syncs the WAL before it
      // publishes a commit), so the disk must keep at least this much.
      seenRows = peekRun(mount.mountpoint, o.id)?.flushedRows ?? 0;
      stats = mount.powerOff(o.keep ?? 0, o.seed);
    } finally {
      cli.child.kill('SIGKILL');
      stderr = (await cli.exited).stderr;
    }
  } finally {
    await mount.unmount();
  }
  const catalog = readCatalog(o.disk, o.id);
  const notOnDisk = firstRowNotOnDisk(o.disk, o.reference, o.id, catalog.flushedRows, catalog);
  return { seenRows, catalog, notOnDisk, stats, stderr };
}
