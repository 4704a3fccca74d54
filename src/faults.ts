/**
 * Test-only fault injection. `MMRUN_FAULT=<point>` makes the process kill itself with
 * SIGKILL when it reaches that point (the `MMRUN_FAULT_AFTER`-th time, default 1st);
 * `MMRUN_FAULT=<point>:delay=<ms>` waits there instead (to land a signal inside a window).
 * Unset, every call is one comparison against `undefined` — and none is on the
 * per-iteration path.
 */
export type FaultPoint =
  | 'before-msync'
  | 'after-msync'
  | 'after-commit'
  | 'segment-create'
  | 'migration'
  | 'graceful-stop'
  | 'msync-error'
  | 'extend'
  | 'sweep-record'
  | 'sweep-between-points'
  | 'rm-sweep-dirs';

const spec = process.env.MMRUN_FAULT;
const [point, option] = spec ? spec.split(':') : [undefined, undefined];
const delayMs = option?.startsWith('delay=') ? Number(option.slice(6)) : undefined;
let remaining = Number(process.env.MMRUN_FAULT_AFTER ?? 1);

/** Whether `name` is the armed point and its turn has come. */
function due(name: FaultPoint): boolean {
  if (point !== name) return false;
  remaining -= 1;
  return remaining === 0;
}

/** Dies by SIGKILL at `name` if armed: a crash at the worst moment, with no cleanup. */
export function crashPoint(name: FaultPoint): void {
  if (point !== name || delayMs !== undefined) return;
  if (due(name)) process.kill(process.pid, 'SIGKILL');
}

/** Waits at `name` if armed with a delay (the event loop keeps running: signals arrive). */
export async function delayPoint(name: FaultPoint): Promise<void> {
  if (point !== name || delayMs === undefined) return;
  if (due(name)) await new Promise((resolve) => setTimeout(resolve, delayMs));
}

/** Whether an injected I/O error is due at `name`. */
export function failPoint(name: FaultPoint): boolean {
  return point === name && due(name);
}
