import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MmrunError } from '../errors.ts';
import {
  CATALOG_FILE,
  type RangeChecksum,
  type RunRecord,
  type RunRow,
  type RunStatus,
  SELECT_RUN,
  type ShardRecord,
  toRecord,
} from './catalog.ts';
import { SCHEMA_VERSION } from './migrations.ts';
import { type Owner, ownerLiveness } from './ownership.ts';
import { getRun } from './query.ts';
import {
  type PointRecord,
  type PointStatus,
  type SweepRecord,
  type SweepRow,
  toRecord as toSweepRecord,
} from './sweeps.ts';

/** A point of a sweep with its run's status and owner, as {@link CatalogReader.readSweep} reads it. */
interface PointRow {
  idx: number;
  params: string;
  seed: number;
  runId: string;
  status: RunStatus | null;
  iterations: number | null;
  updatedAt: string | null;
  pid: number | null;
  start: string | null;
  boot: string | null;
  host: string | null;
  heartbeatAt: string | null;
  flushedRows: number | null;
}

/**
 * A connection to a runs directory's catalog that only reads (read-only while anyone else
 * has the catalog open; see {@link openConnection}), for readers of live runs. It never
 * takes a write lock, never migrates and never records anything: a reader cannot block,
 * slow or fail a writer. Each {@link readRun} is one short read transaction (the run, its
 * latest checkpoint and its shards are consistent with one another); between calls the
 * connection holds no read lock, so it never keeps the writer's WAL from being checkpointed
 * (a read transaction held open would: the WAL then grows until it ends).
 *
 * A run whose owner is gone is reported `crashed` (as `show` would record it) without
 * writing that down.
 */
export class CatalogReader {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #run: Database.Statement;
  readonly #shards: Database.Statement;
  readonly #dataVersion: Database.Statement;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.#db = db;
    this.#run = db.prepare(`${SELECT_RUN} WHERE id = ?`);
    this.#shards = db.prepare(
      `SELECT shard, start_row AS startRow, end_row AS endRow, flushed_index AS flushedRows
         FROM shards WHERE run_id = ? ORDER BY shard`,
    );
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
  }

  /**
   * Opens the catalog of `runsDir` read-only.
   * @throws MmrunError `RUN_NOT_FOUND` (no catalog), `CATALOG_TOO_NEW`, `CATALOG_INVALID`;
   *   {@link OlderSchema} for a catalog no writer of this version has migrated yet.
   */
  static open(runsDir: string): CatalogReader {
    const file = path.join(runsDir, CATALOG_FILE);
    if (!fs.existsSync(file)) {
      throw new MmrunError('RUN_NOT_FOUND', `${runsDir} has no catalog (${CATALOG_FILE})`, {
        remedy: 'check --runs-dir (or $MMRUN_RUNS_DIR); `mmrun list` shows the runs',
      });
    }
    let db: Database.Database;
    try {
      db = openConnection(file, runsDir);
    } catch (cause) {
      throw invalid(file, cause);
    }
    try {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new MmrunError(
          'CATALOG_TOO_NEW',
          `${file} has schema version ${version} but this mmrun understands up to ${SCHEMA_VERSION}`,
          { remedy: 'use the newer mmrun that wrote this catalog' },
        );
      }
      if (version < SCHEMA_VERSION) throw new OlderSchema(file, version);
      return new CatalogReader(file, db);
    } catch (error) {
      db.close();
      throw error instanceof MmrunError || error instanceof OlderSchema ? error : invalid(file, error);
    }
  }

  /**
   * A counter that changes whenever another connection commits (`PRAGMA data_version`):
   * polling it costs no more than a page read of the WAL index, so a follower re-reads a run
   * only after a commit.
   */
  dataVersion(): number {
    return this.#dataVersion.get() as number;
  }

  /**
   * The run as of one read transaction: status, latest checkpoint and shards together.
   * @throws MmrunError `RUN_NOT_FOUND`
   */
  readRun(id: string): RunRecord {
    const read = this.#db.transaction(() => {
      const row = this.#run.get(id) as RunRow | undefined;
      if (!row) return undefined;
      const shards = row.workers > 1 ? (this.#shards.all(id) as ShardRecord[]) : [];
      return toRecord(row, shards);
    });
    const run = read.deferred();
    if (!run) {
      throw new MmrunError('RUN_NOT_FOUND', `no run '${id}' in ${this.file}`, {
        remedy: '`mmrun list` shows the runs; check --runs-dir',
      });
    }
    return withLiveness(run);
  }

  /** The run and every flushed range's checksum (in row order), in one read transaction. */
  readRunWithChecksums(id: string): { run: RunRecord; checksums: RangeChecksum[] } {
    const read = this.#db.transaction(() => ({
      run: this.readRun(id),
      checksums: this.#db
        .prepare(
          'SELECT start_row AS startRow, end_row AS endRow, crc32c FROM checksums WHERE run_id = ? ORDER BY start_row',
        )
        .all(id) as RangeChecksum[],
    }));
    return read.deferred();
  }

  /** The run's code fingerprint (JSON of its parts), or undefined for a run made before fingerprints. */
  fingerprint(id: string): string | undefined {
    const row = this.#db.prepare('SELECT parts FROM fingerprints WHERE run_id = ?').get(id) as
      | { parts: string }
      | undefined;
    return row?.parts;
  }

  /** The retained checkpoints (the latest few), oldest first, with their states. */
  checkpoints(id: string): { flushedRows: number; state: Buffer | null }[] {
    return this.#db
      .prepare('SELECT flushed_index AS flushedRows, state FROM checkpoints WHERE run_id = ? ORDER BY seq')
      .all(id) as { flushedRows: number; state: Buffer | null }[];
  }

  /**
   * A sweep and its points as of one read transaction, a sweep or point run whose owner is
   * gone shown as `crashed` (not recorded; `SweepCatalog.getSweep` records it).
   * @throws MmrunError `RUN_NOT_FOUND`
   */
  readSweep(id: string): { sweep: SweepRecord; points: PointRecord[] } {
    const read = this.#db.transaction(() => {
      const row = this.#db.prepare('SELECT * FROM sweeps WHERE id = ?').get(id) as SweepRow | undefined;
      if (!row) return undefined;
      const points = this.#db
        .prepare(
          `SELECT p.idx, p.params, p.seed, p.run_id AS runId, r.status, r.iterations, r.updated_at AS updatedAt,
             r.owner_pid AS pid, r.owner_start AS start, r.owner_boot AS boot, r.owner_host AS host,
             r.heartbeat_at AS heartbeatAt,
             (SELECT flushed_index FROM checkpoints c WHERE c.run_id = p.run_id ORDER BY seq DESC LIMIT 1) AS flushedRows
           FROM sweep_points p LEFT JOIN runs r ON r.id = p.run_id WHERE p.sweep_id = ? ORDER BY p.idx`,
        )
        .all(id) as PointRow[];
      return { sweep: toSweepRecord(row), points };
    });
    const found = read.deferred();
    if (!found) {
      throw new MmrunError('RUN_NOT_FOUND', `no sweep '${id}' in ${this.file}`, {
        remedy: '`mmrun list` shows the sweeps; check --runs-dir',
      });
    }
    const { sweep } = found;
    const gone = (owner: Owner | undefined, heartbeatAt: string | undefined) =>
      owner === undefined || ownerLiveness(owner, heartbeatAt) === 'dead';
    return {
      sweep:
        sweep.status === 'running' && gone(sweep.owner, sweep.heartbeatAt) ? { ...sweep, status: 'crashed' } : sweep,
      points: found.points.map((r) => {
        const owner =
          r.pid === null ? undefined : { pid: r.pid, start: r.start ?? '', boot: r.boot ?? '', host: r.host ?? '' };
        const status: PointStatus =
          r.status === null
            ? 'pending'
            : r.status === 'running' && gone(owner, r.heartbeatAt ?? undefined)
              ? 'crashed'
              : r.status;
        return {
          idx: r.idx,
          params: JSON.parse(r.params) as Record<string, unknown>,
          seed: r.seed,
          runId: r.runId,
          status,
          flushedRows: r.flushedRows ?? 0,
          iterations: r.iterations ?? undefined,
          updatedAt: r.updatedAt ?? undefined,
        };
      }),
    };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** Thrown by {@link CatalogReader.open} for a catalog of an older schema, which only a writer may migrate. */
export class OlderSchema extends Error {
  constructor(
    readonly file: string,
    readonly version: number,
  ) {
    super(`${file} has schema version ${version}, older than ${SCHEMA_VERSION}`);
  }
}

/**
 * One run, read in one read transaction of a connection that only reads. A catalog of an
 * older schema (no writer of this mmrun has opened it, so no run of it is live) is opened
 * the ordinary way, which migrates it first.
 * @throws MmrunError `RUN_NOT_FOUND`, `CATALOG_TOO_NEW`, `CATALOG_INVALID`
 */
export function readRunOnce(runsDir: string, id: string): RunRecord {
  let reader: CatalogReader;
  try {
    reader = CatalogReader.open(runsDir);
  } catch (error) {
    if (error instanceof OlderSchema) return getRun(runsDir, id).run;
    if (error instanceof MmrunError && error.code === 'RUN_NOT_FOUND') {
      throw new MmrunError('RUN_NOT_FOUND', `no run '${id}': ${runsDir} has no catalog`, { remedy: error.remedy });
    }
    throw error;
  }
  try {
    return reader.readRun(id);
  } finally {
    reader.close();
  }
}

/**
 * A read-only connection kept open for a series of reads (a chain of refreshed snapshots),
 * so that a poll does not open the catalog, parse its schema and prepare statements again.
 * Between reads it holds no read transaction; after `idleMs` without a read it closes
 * itself (an unref'd timer: it never keeps the process alive), and the next read opens it
 * again.
 */
export class LingeringCatalogReader {
  readonly runsDir: string;
  readonly #idleMs: number;
  #reader: CatalogReader | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(runsDir: string, idleMs = 5000) {
    this.runsDir = runsDir;
    this.#idleMs = idleMs;
  }

  /** As {@link readRunOnce}, on the kept connection. */
  readRun(id: string): RunRecord {
    if (!this.#reader) {
      try {
        this.#reader = CatalogReader.open(this.runsDir);
      } catch (error) {
        if (error instanceof OlderSchema) return readRunOnce(this.runsDir, id);
        throw error;
      }
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.close(), this.#idleMs).unref();
    return this.#reader.readRun(id);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#reader?.close();
    this.#reader = undefined;
  }
}

/**
 * A connection that only ever reads. Read-only when another process has the catalog open
 * (its `-wal` file exists: SQLite removes it when the last connection closes). When no one
 * has, an ordinary connection that only reads: a read-only one would create the `-wal` and
 * `-shm` files and could not remove them, an ordinary one removes them when it closes, so a
 * read leaves the runs directory as it found it. Neither writes or takes the write lock.
 */
function openConnection(file: string, runsDir: string): Database.Database {
  const options = { fileMustExist: true, timeout: 2000 };
  if (!noOneHasItOpen(runsDir)) return new Database(file, { ...options, readonly: true });
  try {
    return new Database(file, options);
  } catch {
    return new Database(file, { ...options, readonly: true }); // e.g. a file we may not write
  }
}

/** Whether no process has the catalog open: it exists, and its `-wal` file does not. */
export function noOneHasItOpen(runsDir: string): boolean {
  return !fs.existsSync(path.join(runsDir, `${CATALOG_FILE}-wal`)) && fs.existsSync(path.join(runsDir, CATALOG_FILE));
}

/** The run with a `running` status whose owner is gone shown as `crashed` (not recorded). */
export function withLiveness(run: RunRecord): RunRecord {
  if (run.status !== 'running') return run;
  if (run.owner && ownerLiveness(run.owner, run.heartbeatAt) !== 'dead') return run;
  return { ...run, status: 'crashed' };
}

function invalid(file: string, cause: unknown): MmrunError {
  return new MmrunError('CATALOG_INVALID', `cannot read ${file}: ${(cause as Error).message}`, {
    cause,
    remedy: 'check the file and its directory (a reader needs read access to it and its -wal and -shm files)',
  });
}
