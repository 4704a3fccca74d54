import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MmrunError } from '../errors.ts';
import { crashPoint } from '../faults.ts';
import { type JobShard, shardRanges } from '../shards.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';
import { type Owner, ownerLiveness } from './ownership.ts';

export type RunStatus = 'running' | 'interrupted' | 'crashed' | 'failed' | 'completed';

export type EventType =
  | 'started'
  | 'resumed'
  | 'flushed'
  | 'signal'
  | 'crashed'
  | 'completed'
  | 'failed'
  | 'allow-changed'
  | 'code-warning'
  | 'extended'
  | 'merged';

/** What a run is: fixed when it is created. */
export interface RunSpec {
  readonly id: string;
  readonly experiment: string;
  readonly experimentPath: string;
  readonly sourceHash: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly iterations: number;
  readonly columns: Readonly<Record<string, unknown>>;
  /** NumPy descr of the row dtype. */
  readonly dtype: string;
  readonly itemsize: number;
  readonly segmentRows: number;
  readonly flushEvery: number;
  /** Seconds. */
  readonly flushInterval: number;
  /**
   * Worker threads, each computing one contiguous shard of the rows (see {@link shardRanges}).
   * @default 1
   */
  readonly workers?: number;
  /** Set for a run of one shard of a job split across machines (`--shard I/N`). */
  readonly jobShard?: JobShard;
  /** The code fingerprint's parts as JSON (src/fingerprint/), stored with the run. */
  readonly fingerprint?: string;
}

/** One shard of a sharded run: rows [startRow, endRow), of which [startRow, flushedRows) are on disk. */
export interface ShardRecord {
  readonly shard: number;
  readonly startRow: number;
  readonly endRow: number;
  readonly flushedRows: number;
}

/** A run as the catalog knows it. */
export interface RunRecord extends RunSpec {
  readonly workers: number;
  readonly status: RunStatus;
  /**
   * Rows [0, flushedRows) are on disk (msync'ed before this was committed). For a sharded
   * run it is the contiguous prefix: every shard before the first unfinished one is
   * complete, and that shard's flushed rows end here.
   */
  readonly flushedRows: number;
  /** Rows on disk over all shards (= flushedRows for a run with one worker). */
  readonly doneRows: number;
  /** The shards of a run with more than one worker, in row order; empty otherwise. */
  readonly shards: readonly ShardRecord[];
  readonly owner: Owner | undefined;
  readonly error: string | undefined;
  readonly errorIteration: number | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** When the owner last proved it is alive (a worker thread beats every few seconds). */
  readonly heartbeatAt: string | undefined;
  /** When the latest checkpoint was committed. */
  readonly lastFlushAt: string | undefined;
  /** Rows per second between the oldest and newest retained checkpoints (the recent rate). */
  readonly rowsPerSecond: number | undefined;
}

/** The CRC32C of the row bytes [startRow, endRow), committed with the flush that made them durable. */
export interface RangeChecksum {
  readonly startRow: number;
  readonly endRow: number;
  readonly crc32c: number;
}

export interface RunEvent {
  readonly type: EventType;
  readonly at: string;
  readonly pid: number | null;
  readonly data: unknown;
}

/** The name of the catalog file in a runs directory. */
export const CATALOG_FILE = 'mmrun.sqlite';

// How many checkpoints and `flushed` events to keep per run: the latest is what matters,
// a few more help a post-mortem, millions would bloat the catalog of a week-long run.
const KEEP_HISTORY = 20;

const now = () => new Date().toISOString();

/** A row of SELECT_RUN. */
export interface RunRow {
  id: string;
  experiment: string;
  experiment_path: string;
  source_hash: string;
  params: string;
  seed: number;
  iterations: number;
  columns: string;
  dtype: string;
  itemsize: number;
  segment_rows: number;
  flush_every: number;
  flush_interval: number;
  workers: number;
  shard_index: number | null;
  shard_count: number | null;
  first_iteration: number;
  job_iterations: number | null;
  status: RunStatus;
  owner_pid: number | null;
  owner_start: string | null;
  owner_boot: string | null;
  owner_host: string | null;
  error: string | null;
  error_iteration: number | null;
  created_at: string;
  updated_at: string;
  heartbeat_at: string | null;
  flushed_rows: number | null;
  done_rows: number | null;
  last_flush_at: string | null;
  rows_per_second: number | null;
}

export const toRecord = (r: RunRow, shards: readonly ShardRecord[]): RunRecord => ({
  id: r.id,
  experiment: r.experiment,
  experimentPath: r.experiment_path,
  sourceHash: r.source_hash,
  params: JSON.parse(r.params) as Record<string, unknown>,
  seed: r.seed,
  iterations: r.iterations,
  columns: JSON.parse(r.columns) as Record<string, unknown>,
  dtype: r.dtype,
  itemsize: r.itemsize,
  segmentRows: r.segment_rows,
  flushEvery: r.flush_every,
  flushInterval: r.flush_interval,
  workers: r.workers,
  ...(r.shard_index === null
    ? {}
    : {
        jobShard: {
          index: r.shard_index,
          count: r.shard_count ?? 0,
          firstIteration: r.first_iteration,
          jobIterations: r.job_iterations ?? 0,
        },
      }),
  status: r.status,
  flushedRows: r.flushed_rows ?? 0,
  doneRows: r.done_rows ?? 0,
  shards,
  owner:
    r.owner_pid === null
      ? undefined
      : { pid: r.owner_pid, start: r.owner_start ?? '', boot: r.owner_boot ?? '', host: r.owner_host ?? '' },
  error: r.error ?? undefined,
  errorIteration: r.error_iteration ?? undefined,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  heartbeatAt: r.heartbeat_at ?? undefined,
  lastFlushAt: r.last_flush_at ?? undefined,
  rowsPerSecond: r.rows_per_second ?? undefined,
});

// The run with its latest checkpoint, and its rate over the retained checkpoints. A sharded
// run's contiguous prefix ends at the smallest flushed index of an unfinished shard (shards
// are in row order, so that is the first unfinished one), or at the end if all are done.
export const SELECT_RUN = `
  SELECT runs.*,
    CASE WHEN runs.workers = 1
      THEN (SELECT flushed_index FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1)
      ELSE COALESCE(
        (SELECT MIN(flushed_index) FROM shards s WHERE s.run_id = runs.id AND s.flushed_index < s.end_row),
        runs.iterations)
    END AS flushed_rows,
    (SELECT flushed_index FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1) AS done_rows,
    (SELECT created_at FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1) AS last_flush_at,
    (SELECT (MAX(flushed_index) - MIN(flushed_index)) * 1000.0
              / NULLIF((unixepoch(MAX(created_at), 'subsec') - unixepoch(MIN(created_at), 'subsec')) * 1000.0, 0)
       FROM checkpoints c WHERE c.run_id = runs.id) AS rows_per_second
  FROM runs`;

/**
 * The SQLite catalog of one runs directory: runs, their checkpoints (flushed index and
 * experiment state, committed together) and their events. WAL with synchronous=FULL, so
 * a committed checkpoint survives power loss; every write is an IMMEDIATE transaction.
 */
export class Catalog {
  readonly file: string;
  readonly #db: Database.Database;
  // Prepared once per SQL text: a flush runs the same few statements every time.
  readonly #statements = new Map<string, Database.Statement>();
  // Opened with `readonly`: nothing is ever written (a crash is detected, not recorded).
  readonly #readonly: boolean;

  private constructor(file: string, db: Database.Database, readonly = false) {
    this.file = file;
    this.#db = db;
    this.#readonly = readonly;
  }

  /**
   * Opens the catalog of a runs directory read-only, for a reader that must never write,
   * block or slow a writer (a dashboard): no migration, no pragma that writes, and a
   * `running` run whose owner is gone reads as `crashed` without being recorded. SQLite may
   * create the `-wal` and `-shm` files of a cleanly closed catalog (the next read-write
   * close removes them).
   * @throws MmrunError `CATALOG_INVALID` (missing, not SQLite, or of another schema version)
   */
  static openReadOnly(runsDir: string): Catalog {
    const file = path.join(runsDir, CATALOG_FILE);
    if (!fs.existsSync(file)) {
      throw new MmrunError('CATALOG_INVALID', `no catalog at ${file}`, {
        remedy: 'check --runs-dir (or $MMRUN_RUNS_DIR); `mmrun run` creates the catalog',
      });
    }
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: 1000 });
    } catch (cause) {
      throw catalogError(cause, file);
    }
    try {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== SCHEMA_VERSION) {
        throw new MmrunError(
          version > SCHEMA_VERSION ? 'CATALOG_TOO_NEW' : 'CATALOG_INVALID',
          `${file} has schema version ${version} but this mmrun reads version ${SCHEMA_VERSION} read-only`,
          { remedy: 'use the mmrun that wrote this catalog (any writing command of this mmrun migrates an older one)' },
        );
      }
      return new Catalog(file, db, true);
    } catch (cause) {
      db.close();
      throw catalogError(cause, file);
    }
  }

  /**
   * A number that changes whenever another connection commits to the catalog (SQLite's
   * `PRAGMA data_version`): cheap to poll for changes.
   */
  dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  /**
   * Opens (creating if needed) the catalog of a runs directory, migrating it to the
   * current schema. A file that is not SQLite, or of a newer schema, is refused untouched.
   */
  static open(runsDir: string, options: { create?: boolean } = {}): Catalog {
    const file = path.join(runsDir, CATALOG_FILE);
    if (options.create !== false) ensureWritableDir(runsDir);
    else if (!fs.existsSync(file)) {
      throw new MmrunError('CATALOG_INVALID', `no catalog at ${file}`, {
        remedy: 'check --runs-dir (or $MMRUN_RUNS_DIR); `mmrun run` creates the catalog',
      });
    }
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: 10_000 });
    } catch (cause) {
      throw catalogError(cause, file);
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
      if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new Catalog(file, db);
    } catch (cause) {
      db.close();
      throw catalogError(cause, file);
    }
  }

  /**
   * How many shards of run `id` are unfinished, read without opening the catalog for use
   * (a read-only connection: no migration, no write, no lock kept; SQLite may create the
   * `-wal` and `-shm` files of a cleanly closed catalog, which the next read-write close
   * removes); 0 for a run of one worker, an unknown run, or any error. Only a hint, for
   * starting worker threads early (`runner/worker-pool.ts`): the resume itself reads and
   * checks everything again.
   */
  static peekUnfinishedShards(runsDir: string, id: string): number {
    let db: Database.Database | undefined;
    try {
      db = new Database(path.join(runsDir, CATALOG_FILE), { readonly: true, fileMustExist: true, timeout: 1000 });
      const row = db
        .prepare(
          'SELECT COUNT(*) AS n FROM shards JOIN runs ON runs.id = shards.run_id WHERE run_id = ? AND runs.workers > 1 AND flushed_index < end_row',
        )
        .get(id) as { n: number } | undefined;
      return row?.n ?? 0;
    } catch {
      return 0;
    } finally {
      db?.close();
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  /** The schema version the file is at. */
  get schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  /** Registers a new run owned by `owner`; an existing id is refused, never overwritten. */
  createRun(spec: RunSpec, owner: Owner): RunRecord {
    const workers = spec.workers ?? 1;
    return this.#tx(() => {
      if (this.#get(spec.id)) {
        throw new MmrunError('RUN_EXISTS', `run '${spec.id}' already exists in ${this.file}`, {
          remedy: 'choose another --id, or continue it with `mmrun resume`',
        });
      }
      // A sweep's id names no run: `resume`, `show` and `stats` of that id mean the sweep.
      if (this.#stmt('SELECT 1 FROM sweeps WHERE id = ?').get(spec.id)) {
        throw new MmrunError('RUN_EXISTS', `'${spec.id}' is the id of a sweep in ${this.file}`, {
          remedy: 'choose another --id',
        });
      }
      const t = now();
      this.#stmt(
        `INSERT INTO runs (id, experiment, experiment_path, source_hash, params, seed, iterations, columns, dtype,
             itemsize, segment_rows, flush_every, flush_interval, status, owner_pid, owner_start, owner_boot,
             owner_host, created_at, updated_at, heartbeat_at, workers, shard_index, shard_count,
             first_iteration, job_iterations)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        spec.id,
        spec.experiment,
        spec.experimentPath,
        spec.sourceHash,
        JSON.stringify(spec.params),
        spec.seed,
        spec.iterations,
        JSON.stringify(spec.columns),
        spec.dtype,
        spec.itemsize,
        spec.segmentRows,
        spec.flushEvery,
        spec.flushInterval,
        owner.pid,
        owner.start,
        owner.boot,
        owner.host,
        t,
        t,
        t,
        workers,
        spec.jobShard?.index ?? null,
        spec.jobShard?.count ?? null,
        spec.jobShard?.firstIteration ?? 0,
        spec.jobShard?.jobIterations ?? null,
      );
      if (spec.fingerprint !== undefined) {
        this.#stmt('INSERT INTO fingerprints (run_id, parts) VALUES (?, ?)').run(spec.id, spec.fingerprint);
      }
      if (workers > 1) {
        for (const [shard, [start, end]] of shardRanges(spec.iterations, workers).entries()) {
          this.#stmt(
            'INSERT INTO shards (run_id, shard, start_row, end_row, flushed_index, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
          ).run(spec.id, shard, start, end, start, t);
        }
      }
      this.#event(spec.id, 'started', { iterations: spec.iterations, seed: spec.seed, workers });
      return this.#get(spec.id)!;
    });
  }

  /** The run, with a `running` run whose owner is gone recorded as `crashed` first. */
  getRun(id: string): RunRecord {
    return this.#detectCrash(this.#require(id));
  }

  /** Every run, newest first, crashes detected. */
  listRuns(): RunRecord[] {
    const rows = this.#stmt(`${SELECT_RUN} ORDER BY created_at DESC, id`).all() as RunRow[];
    return rows.map((r) => this.#detectCrash(toRecord(r, this.#shardsOf(r))));
  }

  /**
   * Takes ownership of a run to resume it. Refused for a completed run and for a run whose
   * owner is alive; a dead owner's run is marked `crashed` and taken over.
   */
  claim(
    id: string,
    owner: Owner,
    options: { extendTo?: number; expect?: { flushedRows: number; iterations: number } } = {},
  ): RunRecord {
    return this.#tx(() => {
      let run = this.#require(id);
      if (run.status === 'running') {
        const live = run.owner ? ownerLiveness(run.owner, run.heartbeatAt) : 'dead';
        if (live !== 'dead') throw runLocked(run, RESUME_LATER, live === 'unknown');
        this.#markCrashed(run);
        run = this.#get(id)!;
      }
      const expected = options.expect;
      if (expected && (expected.flushedRows !== run.flushedRows || expected.iterations !== run.iterations)) {
        // Checked against one state, claimed in another: another process moved the run meanwhile.
        throw new MmrunError(
          'RUN_LOCKED',
          `run '${id}' changed while this resume was checking it (${expected.flushedRows} → ${run.flushedRows} flushed rows)`,
          { remedy: 'another process is working on it; see `mmrun show`, then resume again' },
        );
      }
      if (options.extendTo !== undefined && options.extendTo > run.iterations) {
        // More iterations for the same run: the experiment, seed and rows so far stay.
        this.#stmt('UPDATE runs SET iterations = ? WHERE id = ?').run(options.extendTo, id);
        this.#event(id, 'extended', { from: run.iterations, to: options.extendTo });
        run = this.#get(id)!;
      } else if (run.status === 'completed') {
        throw runCompleted(run);
      }
      this.#stmt(
        `UPDATE runs SET status = 'running', owner_pid = ?, owner_start = ?, owner_boot = ?, owner_host = ?,
             error = NULL, error_iteration = NULL, updated_at = ?, heartbeat_at = ? WHERE id = ?`,
      ).run(owner.pid, owner.start, owner.boot, owner.host, now(), now(), id);
      this.#event(id, 'resumed', { from: run.flushedRows, previousStatus: run.status });
      return this.#get(id)!;
    });
  }

  /**
   * Commits a checkpoint: rows [0, flushedRows) are durable (the caller msync'ed them
   * before calling) and `state` is the experiment's state after row flushedRows - 1.
   */
  checkpoint(id: string, flushedRows: number, state: Buffer | null, checksum?: RangeChecksum): void {
    this.#tx(() => {
      const t = now();
      this.#recordChecksum(id, checksum);
      this.#recordProgress(id, flushedRows, state, t);
      this.#event(id, 'flushed', { rows: flushedRows });
      this.#pruneFlushedEvents(id);
    });
  }

  // Appends to the checkpoint history (the latest few are kept) and, since a commit is proof
  // of life too, refreshes the heartbeat: it never lags the owner's last flush.
  #recordProgress(id: string, rows: number, state: Buffer | null, t: string): void {
    const seq =
      ((this.#stmt('SELECT MAX(seq) FROM checkpoints WHERE run_id = ?').pluck().get(id) as number | null) ?? 0) + 1;
    this.#stmt('INSERT INTO checkpoints (run_id, seq, flushed_index, state, created_at) VALUES (?, ?, ?, ?, ?)').run(
      id,
      seq,
      rows,
      state,
      t,
    );
    this.#stmt('DELETE FROM checkpoints WHERE run_id = ? AND seq <= ?').run(id, seq - KEEP_HISTORY);
    this.#stmt('UPDATE runs SET updated_at = ?, heartbeat_at = ? WHERE id = ?').run(t, t, id);
  }

  #recordChecksum(id: string, checksum: RangeChecksum | undefined): void {
    if (!checksum || checksum.endRow <= checksum.startRow) return;
    this.#stmt('INSERT OR REPLACE INTO checksums (run_id, start_row, end_row, crc32c) VALUES (?, ?, ?, ?)').run(
      id,
      checksum.startRow,
      checksum.endRow,
      checksum.crc32c,
    );
  }

  #pruneFlushedEvents(id: string): void {
    this.#stmt(
      `DELETE FROM events WHERE run_id = ? AND type = 'flushed' AND id <= (
           SELECT id FROM events WHERE run_id = ? AND type = 'flushed' ORDER BY id DESC LIMIT 1 OFFSET ?)`,
    ).run(id, id, KEEP_HISTORY);
  }

  /**
   * Commits a checkpoint of one shard of a sharded run: its rows [startRow, flushedRows)
   * are durable (the worker msync'ed them before the message that leads here was sent) and
   * `state` is that shard's state after row flushedRows - 1.
   */
  checkpointShard(
    id: string,
    shard: number,
    flushedRows: number,
    state: Buffer | null,
    checksum?: RangeChecksum,
  ): void {
    this.#tx(() => {
      const t = now();
      const changed = this.#stmt(
        'UPDATE shards SET flushed_index = ?, state = ?, updated_at = ? WHERE run_id = ? AND shard = ? AND flushed_index <= ?',
      ).run(flushedRows, state, t, id, shard, flushedRows).changes;
      if (changed !== 1) throw new Error(`run '${id}' has no shard ${shard} below row ${flushedRows}`);
      this.#recordChecksum(id, checksum);
      const done = this.#stmt('SELECT SUM(flushed_index - start_row) FROM shards WHERE run_id = ?')
        .pluck()
        .get(id) as number;
      this.#recordProgress(id, done, null, t);
      this.#event(id, 'flushed', { shard, rows: flushedRows });
      this.#pruneFlushedEvents(id);
    });
  }

  /** The experiment state saved with a shard's latest checkpoint (null if none). */
  shardState(id: string, shard: number): Buffer | null {
    const row = this.#stmt('SELECT state FROM shards WHERE run_id = ? AND shard = ?').pluck().get(id, shard) as
      | Buffer
      | null
      | undefined;
    return row ?? null;
  }

  /** The checksum of the flushed range that ends at `endRow`, if one does. */
  checksumEndingAt(id: string, endRow: number): RangeChecksum | undefined {
    return this.#stmt(
      'SELECT start_row AS startRow, end_row AS endRow, crc32c FROM checksums WHERE run_id = ? AND end_row = ? ORDER BY start_row DESC LIMIT 1',
    ).get(id, endRow) as RangeChecksum | undefined;
  }

  /** The checksum of the last flushed range (the one resume checks before trusting it). */
  lastChecksum(id: string): RangeChecksum | undefined {
    return this.#stmt(
      'SELECT start_row AS startRow, end_row AS endRow, crc32c FROM checksums WHERE run_id = ? ORDER BY start_row DESC LIMIT 1',
    ).get(id) as RangeChecksum | undefined;
  }

  /** The iteration count before the latest extension (`resume --iterations`), if any. */
  extendedFrom(id: string): number | undefined {
    const data = this.#stmt("SELECT data FROM events WHERE run_id = ? AND type = 'extended' ORDER BY id DESC LIMIT 1")
      .pluck()
      .get(id) as string | undefined;
    return data === undefined ? undefined : (JSON.parse(data) as { from: number }).from;
  }

  /** Every flushed range's checksum, in row order. */
  checksums(id: string): RangeChecksum[] {
    return this.#stmt(
      'SELECT start_row AS startRow, end_row AS endRow, crc32c FROM checksums WHERE run_id = ? ORDER BY start_row',
    ).all(id) as RangeChecksum[];
  }

  /** The retained checkpoints (the latest few), oldest first, with their states. */
  checkpoints(id: string): { flushedRows: number; state: Buffer | null }[] {
    return this.#stmt('SELECT flushed_index AS flushedRows, state FROM checkpoints WHERE run_id = ? ORDER BY seq').all(
      id,
    ) as { flushedRows: number; state: Buffer | null }[];
  }

  /** The experiment state saved with the latest checkpoint (null if none). */
  latestState(id: string): Buffer | null {
    const row = this.#stmt('SELECT state FROM checkpoints WHERE run_id = ? ORDER BY seq DESC LIMIT 1')
      .pluck()
      .get(id) as Buffer | null | undefined;
    return row ?? null;
  }

  /** Records how a run ended (or paused), releasing ownership. */
  finish(
    id: string,
    status: Exclude<RunStatus, 'running' | 'crashed'>,
    event: { type: EventType; data?: unknown },
    error?: { message: string; iteration?: number },
  ): void {
    this.#tx(() => {
      this.#stmt(
        `UPDATE runs SET status = ?, owner_pid = NULL, owner_start = NULL, owner_boot = NULL, owner_host = NULL,
             error = ?, error_iteration = ?, updated_at = ? WHERE id = ?`,
      ).run(status, error?.message ?? null, error?.iteration ?? null, now(), id);
      this.#event(id, event.type, event.data);
    });
  }

  /**
   * Removes a run from the catalog (its checkpoints, checksums and events with it). A run
   * whose owner is alive is refused.
   */
  deleteRun(id: string): RunRecord {
    return this.#tx(() => {
      const run = this.#require(id);
      if (run.status === 'running' && run.owner && ownerLiveness(run.owner, run.heartbeatAt) !== 'dead') {
        throw runLocked(run, 'stop it first (kill -TERM <pid>), then remove it');
      }
      this.#stmt('DELETE FROM runs WHERE id = ?').run(id);
      return run;
    });
  }

  /** Accepts a changed experiment source (`--allow-changed`), recording both hashes. */
  acceptSourceChange(id: string, from: string, to: string): void {
    this.#tx(() => {
      this.#stmt('UPDATE runs SET source_hash = ?, updated_at = ? WHERE id = ?').run(to, now(), id);
      this.#event(id, 'allow-changed', { from, to });
    });
  }

  /** The run's code fingerprint (JSON of its parts), or undefined for a run made before fingerprints. */
  fingerprint(id: string): string | undefined {
    const row = this.#stmt('SELECT parts FROM fingerprints WHERE run_id = ?').get(id) as { parts: string } | undefined;
    return row?.parts;
  }

  /**
   * Accepts changed code at resume (`--allow-changed`): the new fingerprint and source hash
   * replace the old ones, and (if `changes` names any) an event records them and both
   * fingerprints.
   */
  acceptCodeChange(
    id: string,
    changes: readonly string[],
    from: string | undefined,
    to: string,
    sourceHash: string,
  ): void {
    this.#tx(() => {
      this.#stmt('UPDATE runs SET source_hash = ?, updated_at = ? WHERE id = ?').run(sourceHash, now(), id);
      this.#stmt('INSERT OR REPLACE INTO fingerprints (run_id, parts) VALUES (?, ?)').run(id, to);
      if (changes.length > 0) {
        this.#event(id, 'allow-changed', { changes, from: from ? JSON.parse(from) : null, to: JSON.parse(to) });
      }
    });
  }

  /** Appends an event. */
  addEvent(id: string, type: EventType, data?: unknown): void {
    this.#tx(() => this.#event(id, type, data));
  }

  /** A run's events, oldest first. */
  events(id: string): RunEvent[] {
    const rows = this.#stmt('SELECT type, at, pid, data FROM events WHERE run_id = ? ORDER BY id').all(id) as {
      type: EventType;
      at: string;
      pid: number | null;
      data: string | null;
    }[];
    return rows.map((r) => ({ ...r, data: r.data === null ? null : JSON.parse(r.data) }));
  }

  #require(id: string): RunRecord {
    const run = this.#get(id);
    if (!run) {
      throw new MmrunError('RUN_NOT_FOUND', `no run '${id}' in ${this.file}`, {
        remedy: '`mmrun list` shows the runs; check --runs-dir',
      });
    }
    return run;
  }

  #get(id: string): RunRecord | undefined {
    const row = this.#stmt(`${SELECT_RUN} WHERE id = ?`).get(id) as RunRow | undefined;
    return row && toRecord(row, this.#shardsOf(row));
  }

  #shardsOf(row: RunRow): ShardRecord[] {
    if (row.workers <= 1) return [];
    return this.#stmt(
      `SELECT shard, start_row AS startRow, end_row AS endRow, flushed_index AS flushedRows
         FROM shards WHERE run_id = ? ORDER BY shard`,
    ).all(row.id) as ShardRecord[];
  }

  #detectCrash(run: RunRecord): RunRecord {
    if (run.status !== 'running' || (run.owner && ownerLiveness(run.owner, run.heartbeatAt) !== 'dead')) return run;
    if (this.#readonly) return { ...run, status: 'crashed' };
    try {
      return this.#tx(() => {
        const fresh = this.#get(run.id)!;
        if (fresh.status === 'running' && (!fresh.owner || ownerLiveness(fresh.owner, fresh.heartbeatAt) === 'dead')) {
          this.#markCrashed(fresh);
        }
        return this.#get(run.id)!;
      });
    } catch {
      // A read-only catalog still shows the truth, it just cannot record it.
      return { ...run, status: 'crashed' };
    }
  }

  #markCrashed(run: RunRecord): void {
    this.#stmt(`UPDATE runs SET status = 'crashed', updated_at = ? WHERE id = ?`).run(now(), run.id);
    this.#event(run.id, 'crashed', { pid: run.owner?.pid, host: run.owner?.host, flushedRows: run.flushedRows });
  }

  #event(id: string, type: EventType, data?: unknown): void {
    this.#stmt('INSERT INTO events (run_id, type, at, pid, data) VALUES (?, ?, ?, ?, ?)').run(
      id,
      type,
      now(),
      process.pid,
      data === undefined ? null : JSON.stringify(data),
    );
  }

  #stmt(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #tx<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }
}

/** The remedy for a run another process is writing, when the user wants to resume it. */
export const RESUME_LATER = 'wait for it to finish, or stop it (kill -TERM <pid>) and then resume';

/** The refusal for a run whose owner is (or may be) alive. */
export function runLocked(run: RunRecord, remedy: string, otherHost = false): MmrunError {
  return new MmrunError(
    'RUN_LOCKED',
    `run '${run.id}' is being written by pid ${run.owner?.pid} on host ${run.owner?.host}${otherHost ? ' (another machine; cannot check it)' : ''}`,
    { remedy },
  );
}

/** The refusal to resume a completed run. */
export function runCompleted(run: RunRecord): MmrunError {
  return new MmrunError('RUN_COMPLETED', `run '${run.id}' is already completed (${run.flushedRows} rows)`, {
    remedy: 'its results are final; start a new run to compute more',
  });
}

function migrate(db: Database.Database): void {
  db.transaction(() => {
    // Re-read inside the write lock: another process may have migrated meanwhile.
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v]!);
      crashPoint('migration');
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
}

function ensureWritableDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (cause) {
    throw new MmrunError(
      'RUNS_DIR_NOT_WRITABLE',
      `runs directory ${dir} is not writable (${(cause as Error).message})`,
      {
        cause,
        remedy: 'choose another --runs-dir (or $MMRUN_RUNS_DIR), or fix its permissions',
      },
    );
  }
}

function catalogError(cause: unknown, file: string): MmrunError {
  if (cause instanceof MmrunError) return cause;
  const code = (cause as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new MmrunError(
      'CATALOG_INVALID',
      `${file} is not an mmrun catalog (SQLite says: ${(cause as Error).message})`,
      {
        cause,
        remedy: 'point --runs-dir at a runs directory, or move that file away',
      },
    );
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return new MmrunError('RUNS_DIR_NOT_WRITABLE', `cannot write ${file} (${(cause as Error).message})`, {
      cause,
      remedy: 'choose another --runs-dir (or $MMRUN_RUNS_DIR), or fix its permissions',
    });
  }
  return new MmrunError('CATALOG_INVALID', `cannot open ${file}: ${(cause as Error).message}`, {
    cause,
    remedy: 'check the file and its directory',
  });
}
