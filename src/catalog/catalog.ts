// The writable catalog of a runs directory, as one object: each method is one concept's
// function (runs.ts, progress.ts, run-shards.ts, events.ts, fingerprints.ts) on the
// catalog's one connection (connection.ts). Readers use CatalogReader (read-only.ts).
import { type Connection, now, openToWrite } from './connection.ts';
import { extendedFrom, readEvents, recordEvent } from './events.ts';
import { acceptSourceChange, readFingerprint, recordCodeChange } from './fingerprints.ts';
import { heartbeatSql } from './owned.ts';
import type { Owner } from './ownership.ts';
import { checkpoints, checksumEndingAt, checksums, commitCheckpoint, latestState } from './progress.ts';
import type { ProgressStore } from './progress-store.ts';
import type { EventType, RangeChecksum, RunEvent, RunRecord, RunSpec, RunStatus } from './records.ts';
import { commitShardCheckpoint, peekUnfinishedShards, shardState } from './run-shards.ts';
import {
  type ClaimOptions,
  claimRun,
  createRun,
  deleteRun,
  detectRunCrash,
  finishRun,
  readRuns,
  requireRun,
} from './runs.ts';

const RUN_HEARTBEAT = heartbeatSql('runs');

// What callers imported from this file before it was split; new code may import from the
// concept's own file.
export { CATALOG_FILE } from './connection.ts';
export type { ProgressStore } from './progress-store.ts';
export type {
  EventType,
  RangeChecksum,
  RunEvent,
  RunRecord,
  RunSpec,
  RunStatus,
  ShardRecord,
} from './records.ts';
export { RESUME_LATER, runCompleted, runLocked } from './refusals.ts';

/**
 * The SQLite catalog of one runs directory: runs, their checkpoints (flushed index and
 * experiment state, committed together) and their events. WAL with synchronous=FULL, so
 * a committed checkpoint survives power loss; every write is an IMMEDIATE transaction.
 * It is the runner's {@link ProgressStore}.
 */
export class Catalog implements ProgressStore {
  readonly file: string;
  readonly #c: Connection;

  private constructor(connection: Connection) {
    this.file = connection.file;
    this.#c = connection;
  }

  /**
   * Opens (creating if needed) the catalog of a runs directory, migrating it to the
   * current schema. A file that is not SQLite, or of a newer schema, is refused untouched.
   */
  static open(runsDir: string, options: { create?: boolean } = {}): Catalog {
    return new Catalog(openToWrite(runsDir, options));
  }

  /**
   * The catalog on a connection opened by `openToWrite`, which it then owns (closes): for
   * `SweepCatalog`, whose sweep tables share the catalog's connection and transactions.
   */
  static on(connection: Connection): Catalog {
    return new Catalog(connection);
  }

  /**
   * How many shards of run `id` are unfinished, read without opening the catalog for use;
   * 0 for a run of one worker, an unknown run, or any error. Only a hint, for starting
   * worker threads early (`cli/prestart.ts`).
   */
  static peekUnfinishedShards(runsDir: string, id: string): number {
    return peekUnfinishedShards(runsDir, id);
  }

  /**
   * A number that changes whenever another connection commits to the catalog (SQLite's
   * `PRAGMA data_version`): cheap to poll for changes.
   */
  dataVersion(): number {
    return this.#c.dataVersion();
  }

  close(): void {
    this.#c.close();
  }

  /** The schema version the file is at. */
  get schemaVersion(): number {
    return this.#c.schemaVersion();
  }

  /** Registers a new run owned by `owner`; an existing id is refused, never overwritten. */
  createRun(spec: RunSpec, owner: Owner): RunRecord {
    return createRun(this.#c, spec, owner);
  }

  /** The run, with a `running` run whose owner is gone recorded as `crashed` first. */
  getRun(id: string): RunRecord {
    return detectRunCrash(this.#c, requireRun(this.#c, id));
  }

  /** Every run, newest first, crashes detected. */
  listRuns(): RunRecord[] {
    return readRuns(this.#c).map((r) => detectRunCrash(this.#c, r));
  }

  /**
   * Takes ownership of a run to resume it. Refused for a completed run and for a run whose
   * owner is alive; a dead owner's run is marked `crashed` and taken over.
   */
  claim(id: string, owner: Owner, options: ClaimOptions = {}): RunRecord {
    return claimRun(this.#c, id, owner, options);
  }

  /**
   * Commits a checkpoint: rows [0, flushedRows) are durable (the caller msync'ed them
   * before calling) and `state` is the experiment's state after row flushedRows - 1.
   */
  checkpoint(id: string, flushedRows: number, state: Buffer | null, checksum?: RangeChecksum): void {
    commitCheckpoint(this.#c, id, flushedRows, state, checksum);
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
    commitShardCheckpoint(this.#c, id, shard, flushedRows, state, checksum);
  }

  /** Records that this process, the run's owner, is alive (a no-op for a run it does not own). */
  touch(id: string): void {
    this.#c.write(() => this.#c.stmt(RUN_HEARTBEAT).run(now(), id, process.pid));
  }

  /** The experiment state saved with a shard's latest checkpoint (null if none). */
  shardState(id: string, shard: number): Buffer | null {
    return shardState(this.#c, id, shard);
  }

  /** The checksum of the flushed range that ends at `endRow`, if one does. */
  checksumEndingAt(id: string, endRow: number): RangeChecksum | undefined {
    return checksumEndingAt(this.#c, id, endRow);
  }

  /** The iteration count before the latest extension (`resume --iterations`), if any. */
  extendedFrom(id: string): number | undefined {
    return extendedFrom(this.#c, id);
  }

  /** Every flushed range's checksum, in row order. */
  checksums(id: string): RangeChecksum[] {
    return checksums(this.#c, id);
  }

  /** The retained checkpoints (the latest few), oldest first, with their states. */
  checkpoints(id: string): { flushedRows: number; state: Buffer | null }[] {
    return checkpoints(this.#c, id);
  }

  /** The experiment state saved with the latest checkpoint (null if none). */
  latestState(id: string): Buffer | null {
    return latestState(this.#c, id);
  }

  /** Records how a run ended (or paused), releasing ownership. */
  finish(
    id: string,
    status: Exclude<RunStatus, 'running' | 'crashed'>,
    event: { type: EventType; data?: unknown },
    error?: { message: string; iteration?: number },
  ): void {
    finishRun(this.#c, id, status, event, error);
  }

  /**
   * Removes a run from the catalog (its checkpoints, checksums and events with it). A run
   * whose owner is alive is refused.
   */
  deleteRun(id: string): RunRecord {
    return deleteRun(this.#c, id);
  }

  /** Accepts a changed experiment source (`--allow-changed`), recording both hashes. */
  acceptSourceChange(id: string, from: string, to: string): void {
    acceptSourceChange(this.#c, id, from, to);
  }

  /** The run's code fingerprint (JSON of its parts), or undefined for a run made before fingerprints. */
  fingerprint(id: string): string | undefined {
    return readFingerprint(this.#c, id);
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
    this.recordCodeChange(
      id,
      to,
      sourceHash,
      changes.length > 0
        ? { type: 'allow-changed', data: { changes, from: from ? JSON.parse(from) : null, to: JSON.parse(to) } }
        : undefined,
    );
  }

  /**
   * Makes `fingerprint` (JSON of its parts) and `sourceHash` the run's code and, if given,
   * appends `event` (e.g. `code-warning` with the changes a resume warned about), in ONE
   * transaction: after a crash the catalog has the old code, or the new code and its event.
   * @example
   * catalog.recordCodeChange(id, identity.json, sourceHash, { type: 'code-warning', data: { changes } });
   */
  recordCodeChange(
    id: string,
    fingerprint: string,
    sourceHash: string,
    event?: { readonly type: EventType; readonly data?: unknown },
  ): void {
    recordCodeChange(this.#c, id, fingerprint, sourceHash, event);
  }

  /**
   * Runs `fn`, whose writes through this catalog (`createRun`, `checkpoint`, `finish`,
   * `addEvent` …) then commit as one transaction: after a crash the catalog holds all of
   * them or none. `fn` must not wait on anything (the write lock is held throughout).
   */
  atomically<T>(fn: () => T): T {
    return this.#c.write(fn);
  }

  /** Appends an event. */
  addEvent(id: string, type: EventType, data?: unknown): void {
    this.#c.write(() => recordEvent(this.#c, id, type, data));
  }

  /** A run's events, oldest first. */
  events(id: string): RunEvent[] {
    return readEvents(this.#c, id);
  }
}
