// The one worker-thread helper (src/threads.ts WorkerThread): it starts a module with typed
// data, delivers typed messages both ways, turns a thread that throws or exits without
// having finished into one WORKER_FAILED error naming it, and stops or ends it.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { errorFromWire, MmrunError, type WireError } from '../../src/errors.ts';
import { startHelper, WorkerThread } from '../../src/threads.ts';

const MODULE = pathToFileURL(path.join(import.meta.dirname, '../fixtures/threads/behaviour.mjs')).href;
const OPTIONS = { name: 'the test thread', remedy: 'run it again' };

type Out = { type: 'echo'; value: number } | { type: 'error'; error: WireError };
type In = { type: 'double'; value: number } | { type: 'bye' };

const start = (mode: string) => new WorkerThread<Out, In>(MODULE, { mode }, OPTIONS);

const failureOf = (thread: WorkerThread<Out, In>) => new Promise<MmrunError>((resolve) => thread.onFailure(resolve));

describe('WorkerThread', () => {
  it('starts the module with its data, delivers messages both ways, and a finished thread that exits has not failed', async () => {
    const thread = start('echo');
    await thread.ready;
    const reply = new Promise<Out>((resolve) => thread.onMessage(resolve));
    thread.post({ type: 'double', value: 21 });
    expect(await reply).toEqual({ type: 'echo', value: 42 });
    let failed: MmrunError | undefined;
    thread.onFailure((e) => {
      failed = e;
    });
    thread.finish();
    const exited = new Promise((resolve) => thread.worker.once('exit', resolve));
    thread.post({ type: 'bye' });
    // The thread's own 'exit' listener (added when it started) has run before this one.
    await exited;
    expect(failed).toBeUndefined();
    expect(thread.failure).toBeUndefined();
  });

  it('a thread that throws: WORKER_FAILED naming it, with the remedy and the error as its cause', async () => {
    const thread = start('throw');
    const error = await failureOf(thread);
    expect(error).toBeInstanceOf(MmrunError);
    expect(error.code).toBe('WORKER_FAILED');
    expect(error.message).toBe('the test thread failed: boom in the thread');
    expect(error.remedy).toBe('run it again');
    expect((error.cause as Error).message).toBe('boom in the thread');
    await thread.terminate();
  });

  it('a thread that exits before it finished: WORKER_FAILED, also for a handler added afterwards', async () => {
    const thread = start('exit');
    await failureOf(thread);
    const late = await failureOf(thread);
    expect(late.code).toBe('WORKER_FAILED');
    expect(late.message).toBe('the test thread exited with code 3 before it finished');
    expect(thread.failure).toBe(late);
    expect(thread.named('another name').failure?.message).toContain('the test thread');
  });

  it('a module that cannot be loaded: ready rejects with WORKER_FAILED', async () => {
    const missing = pathToFileURL(path.join(import.meta.dirname, '../fixtures/threads/missing.mjs')).href;
    const thread = new WorkerThread(missing, {}, OPTIONS);
    // It may run before its module fails to load: either way, one WORKER_FAILED.
    const error = await thread.ready.then(
      () => failureOf(thread as never),
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'WORKER_FAILED' });
    expect((error as MmrunError).message).toMatch(/^the test thread (failed|exited)/);
    await thread.terminate();
  });

  it('an error posted over the wire comes back as the MmrunError it was', async () => {
    const thread = start('wire-error');
    const m = await new Promise<Out>((resolve) => thread.onMessage(resolve));
    thread.finish();
    expect(m.type).toBe('error');
    const error = errorFromWire((m as { error: WireError }).error);
    expect(error).toBeInstanceOf(MmrunError);
    expect(error).toMatchObject({ code: 'BAD_ROW', message: 'row 7 is bad', remedy: 'fix row 7' });
    await thread.terminate();
  });

  it('stop() sends the stop message, and the thread it then ends has not failed', async () => {
    const thread = new WorkerThread<unknown, string>(MODULE, { mode: 'helper' }, OPTIONS);
    await thread.ready;
    let failed: MmrunError | undefined;
    thread.onFailure((e) => {
      failed = e;
    });
    const acknowledged = new Promise((resolve) => thread.worker.on('message', resolve));
    await thread.stop('stop');
    expect(await acknowledged).toBe('mmrun-helper-stopped');
    expect(failed).toBeUndefined();
    // A helper from startHelper stops the same way.
    const helper = startHelper(MODULE, { mode: 'helper' });
    await helper.ready;
    await expect(helper.stop()).resolves.toBeUndefined();
  });
});
