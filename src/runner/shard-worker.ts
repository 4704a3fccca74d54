// The worker thread of one shard: it loads the experiment, maps only its own rows of each
// segment (`r+`, or `w+` for a segment no other shard touches), writes and msyncs them, and
// leaves every commit to the coordinator, which owns the catalog. It runs the same loop as
// a run with one worker.
import { errorToWire } from '../errors.ts';
import { loadBundledExperiment } from '../experiment/load.ts';
import { CounterRng } from '../experiment/rng.ts';
import { layoutOf } from '../storage/dtype.ts';
import { SegmentedArray } from '../storage/segmented-array.ts';
import { parentChannel, threadData } from '../threads.ts';
import { callInit, makeContext } from './context.ts';
import { openRunLog } from './log.ts';
import { asRunError, FlushRequest, runLoop } from './loop.ts';
import type { ShardCommand, ShardInput, ShardMessage } from './shard-protocol.ts';
import { decodeState } from './state.ts';

const port = parentChannel<ShardMessage, ShardCommand>();
const send = (message: ShardMessage) => port.send(message);

// Started for a run: its input is the thread's data. Prestarted (worker-pool.ts): it comes
// in the first message, and a stop or a flush may follow right behind it.
const given = threadData<ShardInput | null>() ?? undefined;
let started: (input: ShardInput) => void = () => {};
const inputArrives = new Promise<ShardInput>((resolve) => {
  started = resolve;
});
let stopReason: string | undefined;
const flushRequest = new FlushRequest();
port.onMessage((command) => {
  if (command.type === 'start') started(command.input);
  else if (command.type === 'stop') stopReason ??= command.reason;
  else flushRequest.request();
});
const input = given ?? (await inputArrives);

async function main(): Promise<void> {
  const { shard, runId } = input;
  const log = openRunLog(input.runDir, { run: runId, shard: shard.index });
  let outcome: Awaited<ReturnType<typeof runLoop>>;
  try {
    // The bundle the coordinator made and checked: nothing is compiled here.
    const loaded = await loadBundledExperiment(input.bundle, input.experimentPath, input.sourceHash);
    const layout = layoutOf(input.columns, `run '${runId}'`);
    const array = new SegmentedArray(
      input.runDir,
      layout,
      { totalRows: input.totalRows, segmentRows: input.segmentRows },
      `run '${runId}'`,
    );
    const rng = new CounterRng(input.seed);
    const ctx = makeContext({ ...input.params }, input.seed, runId, log, rng, shard);
    ctx.state =
      input.state === null
        ? await callInit(loaded, ctx)
        : decodeState(Buffer.from(input.state.buffer, input.state.byteOffset, input.state.byteLength));
    log.info(
      {
        event: 'shard-started',
        shard: shard.index,
        from: input.startRow,
        to: shard.endRow - input.iterationOffset,
        prestarted: given === undefined,
      },
      'shard started',
    );
    outcome = await runLoop({
      array,
      loaded,
      ctx,
      rng,
      log,
      policy: input.policy,
      startRow: input.startRow,
      endRow: shard.endRow - input.iterationOffset,
      iterationOffset: input.iterationOffset,
      windowed: true,
      commit: (rows, state, checksum) => send({ type: 'flushed', rows, state, checksum }),
      stopReason: () => stopReason,
      flushRequested: () => flushRequest.take(),
      onProgress: (p) =>
        send({ type: 'progress', rows: p.rows, flushedRows: p.flushedRows, msSinceFlush: p.msSinceFlush }),
    });
  } catch (caught) {
    // Failed before the loop (loading, init): nothing was written.
    const error = asRunError(caught, runId);
    send({ type: 'done', status: 'failed', rows: input.startRow, flushes: 0, elapsedMs: 0, error: errorToWire(error) });
    return;
  }
  send({
    type: 'done',
    status: outcome.status,
    rows: outcome.rows,
    flushes: outcome.flushes,
    elapsedMs: outcome.elapsedMs,
    error: outcome.error && errorToWire(outcome.error),
  });
}

await main();
// Nothing else keeps the thread alive: it ends once the last message is out.
port.unref();
