/**
 * Test-only fault injection. `MMRUN_FAULT=<point>` makes the process kill itself with
 * SIGKILL when it reaches that point (the `MMRUN_FAULT_AFTER`-th time, default 1st);
 * `MMRUN_FAULT=<point>:delay=<ms>` waits there instead (to land a signal inside a window).
 * Unset, every call is a comparison or two — and none is on the per-iteration path. The
 * variables are parsed and checked in config.ts.
 */
import { config, type FaultPoint, type FaultSetting } from './config.ts';

export type { FaultPoint };

// The armed fault, read from the configuration at the first call (none is on the
// per-iteration path); null when none is armed.
let armed: FaultSetting | null | undefined;
let remaining = 0;

function fault(): FaultSetting | null {
  if (armed === undefined) {
    armed = config().fault ?? null;
    remaining = armed?.after ?? 0;
  }
  return armed;
}

/** Whether `name` is the armed point and its turn has come. */
function due(name: FaultPoint): boolean {
  if (fault()?.point !== name) return false;
  remaining -= 1;
  return remaining === 0;
}

/** Dies by SIGKILL at `name` if armed: a crash at the worst moment, with no cleanup. */
export function crashPoint(name: FaultPoint): void {
  const f = fault();
  if (f?.point !== name || f.delayMs !== undefined) return;
  if (due(name)) process.kill(process.pid, 'SIGKILL');
}

/** Waits at `name` if armed with a delay (the event loop keeps running: signals arrive). */
export async function delayPoint(name: FaultPoint): Promise<void> {
  const f = fault();
  if (f?.point !== name || f.delayMs === undefined) return;
  if (due(name)) await new Promise((resolve) => setTimeout(resolve, f.delayMs));
}

/** Whether an injected I/O error is due at `name`. */
export function failPoint(name: FaultPoint): boolean {
  return fault()?.point === name && due(name);
}
