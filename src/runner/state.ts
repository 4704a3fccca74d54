import * as v8 from 'node:v8';
import { MmrunError } from '../errors.ts';

/**
 * Serializes the experiment's state for a checkpoint. V8's structured clone keeps what
 * JSON would bend (NaN, -0, Infinity, typed arrays, Map, bigint), so a resumed run sees
 * exactly the state an uninterrupted one had.
 * @throws MmrunError STATE_NOT_SERIALIZABLE naming the iteration.
 */
export function encodeState(state: unknown, rows: number): Buffer | null {
  if (state === undefined) return null;
  try {
    return v8.serialize(state);
  } catch (cause) {
    throw new MmrunError(
      'STATE_NOT_SERIALIZABLE',
      `ctx.state after ${rows} rows cannot be saved: ${(cause as Error).message}`,
      { cause, remedy: 'keep only plain data in ctx.state (numbers, strings, arrays, objects, typed arrays)' },
    );
  }
}

/** Restores a state saved by {@link encodeState}. */
export function decodeState(blob: Buffer | null): unknown {
  return blob === null ? undefined : v8.deserialize(blob);
}
