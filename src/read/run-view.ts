import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunEvent, RunRecord } from '../catalog/catalog.ts';

/** The JSON shape of `show --json` and of each item of `list --json` (a contract). */
export interface RunView {
  id: string;
  experiment: string;
  status: RunRecord['status'];
  iterations: number;
  /** Rows [0, flushedRows) are on disk: for a sharded run, the contiguous prefix. */
  flushedRows: number;
  seed: number;
  params: Readonly<Record<string, unknown>>;
  createdAt: string;
  updatedAt: string;
  experimentPath: string;
  sourceHash: string;
  columns: Readonly<Record<string, unknown>>;
  dtype: string;
  itemsize: number;
  segmentRows: number;
  flushEvery: number;
  flushInterval: number;
  runDir: string;
  segments: string[];
  owner: RunRecord['owner'] | null;
  heartbeatAt: string | null;
  lastFlushAt: string | null;
  /** Recent rows per second (between the retained checkpoints), if known. */
  rowsPerSecond: number | null;
  /** What a crash right now could lose at most: the flush policy's bound. */
  worstCaseLoss: { rows: number; seconds: number };
  error: string | null;
  errorIteration: number | null;
  /** Worker threads (shards) the run is split into. */
  workers: number;
  /** Rows on disk over all shards (= flushedRows with one worker). */
  doneRows: number;
  /** Each shard's rows [startRow, endRow) and flushed index; empty with one worker. */
  shards: RunRecord['shards'];
  /** For a run of one shard of a job split across machines (`--shard I/N`): which one. */
  jobShard: RunRecord['jobShard'] | null;
  events?: RunEvent[];
}

export function runView(run: RunRecord, runsDir: string, events?: RunEvent[]): RunView {
  const runDir = path.join(runsDir, run.id);
  let segments: string[] = [];
  try {
    segments = fs
      .readdirSync(runDir)
      .filter((f) => f.endsWith('.npy') && !f.startsWith('.'))
      .sort();
  } catch {
    // A run whose directory is gone still shows; `segments` is empty.
  }
  return {
    id: run.id,
    experiment: run.experiment,
    status: run.status,
    iterations: run.iterations,
    flushedRows: run.flushedRows,
    seed: run.seed,
    params: run.params,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    experimentPath: run.experimentPath,
    sourceHash: run.sourceHash,
    columns: run.columns,
    dtype: run.dtype,
    itemsize: run.itemsize,
    segmentRows: run.segmentRows,
    flushEvery: run.flushEvery,
    flushInterval: run.flushInterval,
    runDir,
    segments,
    owner: run.owner ?? null,
    heartbeatAt: run.heartbeatAt ?? null,
    lastFlushAt: run.lastFlushAt ?? null,
    rowsPerSecond: run.rowsPerSecond === undefined ? null : Math.round(run.rowsPerSecond),
    worstCaseLoss: worstCaseLoss(run),
    error: run.error ?? null,
    errorIteration: run.errorIteration ?? null,
    workers: run.workers,
    doneRows: run.doneRows,
    shards: run.shards,
    jobShard: run.jobShard ?? null,
    ...(events ? { events } : {}),
  };
}

/**
 * The flush policy's bound on lost work: min(N rows, T seconds × rate) — per shard, so
 * min(K·N, T × total rate) for a run split over K workers.
 */
export function worstCaseLoss(run: RunRecord): { rows: number; seconds: number } {
  const byTime = run.rowsPerSecond ? Math.ceil(run.flushInterval * run.rowsPerSecond) : Number.POSITIVE_INFINITY;
  const rows = Math.min(run.workers * run.flushEvery, byTime, run.iterations - run.doneRows);
  const seconds = run.rowsPerSecond ? Math.min(run.flushInterval, rows / run.rowsPerSecond) : run.flushInterval;
  return { rows, seconds: Math.round(seconds * 100) / 100 };
}
