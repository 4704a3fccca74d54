// The one record of a session's end (session.ts `recordEnd`), for both engines, against a
// store that is only a SessionStore (not a Catalog): what it finishes the run with, and
// the RunResult it makes.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RunRecord, ShardRecord } from '../../src/catalog/catalog.ts';
import { MmrunError } from '../../src/errors.ts';
import { recordEnd, type Session, type SessionEnd, type SessionStore } from '../../src/runner/session.ts';
import type { SegmentedArray } from '../../src/storage/segmented-array.ts';

interface Finished {
  readonly status: string;
  readonly event: { type: string; data?: unknown };
  readonly error?: { message: string; iteration?: number };
}

/** A store that records `finish` and answers `getRun` with the run after the session. */
function fakeStore(after: Partial<RunRecord>): SessionStore & { finished: Finished[] } {
  const finished: Finished[] = [];
  const refuse = () => {
    throw new Error('a session end only reads the run and finishes it');
  };
  return {
    file: '/nonexistent/mmrun.sqlite',
    finished,
    getRun: () => after as RunRecord,
    checkpoint: refuse,
    checkpointShard: refuse,
    touch: refuse,
    shardState: refuse,
    finish: (_id, status, event, error) => {
      finished.push({ status, event, ...(error ? { error } : {}) });
    },
  };
}

const shards: ShardRecord[] = [
  { shard: 0, startRow: 0, endRow: 50, flushedRows: 10 },
  { shard: 1, startRow: 50, endRow: 100, flushedRows: 60 },
];

function session(workers: number, store: SessionStore): Session {
  const run = { id: 'r', iterations: 100, flushedRows: 20, workers, shards: workers > 1 ? shards : [] };
  return {
    run: run as unknown as RunRecord,
    runDir: '/runs/r',
    store,
    array: undefined as unknown as SegmentedArray,
    log: pino({ enabled: false }),
    policy: { every: 10, intervalSeconds: 10 },
    hooks: {},
  };
}

const end = (over: Partial<SessionEnd>): SessionEnd => ({
  status: 'completed',
  computedRows: 80,
  flushes: 8,
  elapsedMs: 400,
  ...over,
});

describe('recordEnd', () => {
  it('completed: finishes the run completed and reports this session (rows/s over its own rows)', () => {
    const store = fakeStore({ flushedRows: 100 });
    const result = recordEnd(session(1, store), end({}));
    expect(store.finished).toEqual([{ status: 'completed', event: { type: 'completed', data: { rows: 100 } } }]);
    expect(result).toEqual({
      id: 'r',
      runDir: '/runs/r',
      status: 'completed',
      startRow: 20,
      flushedRows: 100,
      iterations: 100,
      elapsedMs: 400,
      rowsPerSecond: 200,
      flushes: 8,
    });
  });

  it('interrupted: the signal and the flushed rows; a sharded run adds its done rows', () => {
    const one = fakeStore({ flushedRows: 60 });
    const r1 = recordEnd(session(1, one), end({ status: 'interrupted', stopReason: 'SIGTERM' }));
    expect(one.finished[0]).toEqual({
      status: 'interrupted',
      event: { type: 'signal', data: { signal: 'SIGTERM', flushedRows: 60 } },
    });
    expect(r1).toMatchObject({ status: 'interrupted', stopReason: 'SIGTERM', flushedRows: 60 });

    const sharded = fakeStore({ flushedRows: 40, doneRows: 70, shards });
    recordEnd(session(2, sharded), end({ status: 'interrupted', stopReason: 'SIGINT' }));
    expect(sharded.finished[0]?.event.data).toEqual({ signal: 'SIGINT', flushedRows: 40, doneRows: 70 });
  });

  it('failed: the error, its iteration and (sharded) its shard, in the event and the run', () => {
    const error = new MmrunError('STEP_FAILED', 'boom');
    const store = fakeStore({ flushedRows: 30 });
    const result = recordEnd(
      session(2, store),
      end({ status: 'failed', error, failedAt: { iteration: 57, shard: 1 }, computedRows: 0, elapsedMs: 0 }),
    );
    expect(store.finished).toEqual([
      {
        status: 'failed',
        event: { type: 'failed', data: { iteration: 57, shard: 1, code: 'STEP_FAILED', message: 'boom' } },
        error: { message: 'STEP_FAILED: boom', iteration: 57 },
      },
    ]);
    expect(result).toMatchObject({ status: 'failed', error, rowsPerSecond: 0 });
  });

  it('a failure the store cannot record still returns the failed result (the run then shows crashed)', () => {
    const store = fakeStore({ flushedRows: 0 });
    store.finish = () => {
      throw new Error('SQLITE_FULL');
    };
    const error = new MmrunError('DISK_FULL', 'full');
    expect(recordEnd(session(1, store), end({ status: 'failed', error })).status).toBe('failed');
  });
});
