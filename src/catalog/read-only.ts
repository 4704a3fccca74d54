// The one read-only view of a catalog: the readers of live runs (src/read/, src/watch/,
// verify) and the dashboard (src/ui/) read through CatalogReader. It opens the catalog with
// the schema check a writer uses (connection.ts) and reads runs and sweeps as the writer
// does (runs.ts, sweep-records.ts), but never writes: see docs/READERS.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmrunError } from '../errors.ts';
import { CATALOG_FILE, type Connection, OlderSchema, openToRead } from './connection.ts';
import { readEvents } from './events.ts';
import { readFingerprint } from './fingerprints.ts';
import { withLiveness } from './ownership.ts';
import { checkpoints, checksums } from './progress.ts';
import { getRun } from './query.ts';
import type { RangeChecksum, RunEvent, RunRecord } from './records.ts';
import { runNotFound, sweepNotFound } from './refusals.ts';
import { readRun, readRuns } from './runs.ts';
import { type PointRecord, readPoints, readSweepIds, readSweepRecord, type SweepRecord } from './sweep-records.ts';

export { noOneHasItOpen, OlderSchema } from './connection.ts';
export { withLiveness } from './ownership.ts';

/** A sweep and its points, as of one read transaction. */
export interface SweepSnapshot {
  readonly sweep: SweepRecord;
  readonly points: PointRecord[];
}

/**
 * A connection to a runs directory's catalog that only reads (read-only while anyone else
 * has the catalog open; see `openToRead`), for readers of live runs and the dashboard. It
 * never takes a write lock, never migrates and never records anything: a reader cannot
 * block, slow or fail a writer. Each read (`readRun`, `listRuns`, `readSweep` ...) is one
 * short read transaction (a run, its latest checkpoint and its shards are consistent with
 * one another); between calls the connection holds no read lock, so it never keeps the
 * writer's WAL from being checkpointed (a read transaction held open would: the WAL then
 * grows until it ends).
 *
 * A run or a sweep whose owner is gone is reported `crashed` (as `show` would record it)
 * without writing that down.
 */
export class CatalogReader {
  readonly file: string;
  readonly #c: Connection;

  private constructor(c: Connection) {
    this.file = c.file;
    this.#c = c;
  }

  /**
   * Opens the catalog of `runsDir` read-only.
   * @throws MmrunError `RUN_NOT_FOUND` (no catalog), `CATALOG_TOO_NEW`, `CATALOG_INVALID`;
   *   {@link OlderSchema} (a `CATALOG_INVALID`) for a catalog no writer of this version has
   *   migrated yet.
   */
  static open(runsDir: string): CatalogReader {
    if (!fs.existsSync(path.join(runsDir, CATALOG_FILE))) {
      throw new MmrunError('RUN_NOT_FOUND', `${runsDir} has no catalog (${CATALOG_FILE})`, {
        remedy: 'check --runs-dir (or $MMRUN_RUNS_DIR); `mmrun list` shows the runs',
      });
    }
    return new CatalogReader(openToRead(runsDir));
  }

  /**
   * A counter that changes whenever another connection commits (`PRAGMA data_version`):
   * polling it costs no more than a page read of the WAL index, so a follower re-reads a run
   * only after a commit.
   */
  dataVersion(): number {
    return this.#c.dataVersion();
  }

  /**
   * The run as of one read transaction: status, latest checkpoint and shards together.
   * @throws MmrunError `RUN_NOT_FOUND`
   */
  readRun(id: string): RunRecord {
    const run = this.#c.read(() => readRun(this.#c, id));
    if (!run) throw runNotFound(id, this.file);
    return withLiveness(run);
  }

  /** Every run (newest first), as of one read transaction. */
  listRuns(): RunRecord[] {
    return this.#c.read(() => readRuns(this.#c)).map(withLiveness);
  }

  /** The run and every flushed range's checksum (in row order), in one read transaction. */
  readRunWithChecksums(id: string): { run: RunRecord; checksums: RangeChecksum[] } {
    return this.#c.read(() => ({ run: this.readRun(id), checksums: checksums(this.#c, id) }));
  }

  /** The run's code fingerprint (JSON of its parts), or undefined for a run made before fingerprints. */
  fingerprint(id: string): string | undefined {
    return readFingerprint(this.#c, id);
  }

  /** The retained checkpoints (the latest few), oldest first, with their states. */
  checkpoints(id: string): { flushedRows: number; state: Buffer | null }[] {
    return checkpoints(this.#c, id);
  }

  /** A run's events, oldest first. */
  events(id: string): RunEvent[] {
    return readEvents(this.#c, id);
  }

  /**
   * A sweep and its points' progress, as of one read transaction.
   * @throws MmrunError `RUN_NOT_FOUND`
   */
  readSweep(id: string): SweepSnapshot {
    const read = this.#c.read(() => this.#sweep(id));
    if (!read) throw sweepNotFound(id, this.file);
    return read;
  }

  /** Every sweep (newest first) with its points, as of one read transaction. */
  listSweeps(): SweepSnapshot[] {
    return this.#c.read(() => readSweepIds(this.#c).flatMap((id) => this.#sweep(id) ?? []));
  }

  #sweep(id: string): SweepSnapshot | undefined {
    const sweep = readSweepRecord(this.#c, id);
    return sweep && { sweep: withLiveness(sweep), points: readPoints(this.#c, id, () => 'crashed') };
  }

  close(): void {
    this.#c.close();
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
