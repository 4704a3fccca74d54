// The refusals the catalog and its callers (the runner, merge) raise about a run or a sweep
// someone else owns, a finished run, or an id that names nothing.
import { MmrunError } from '../errors.ts';
import type { Owner } from './ownership.ts';
import type { RunRecord } from './records.ts';

/** The remedy for a run another process is writing, when the user wants to resume it. */
export const RESUME_LATER = 'wait for it to finish, or stop it (kill -TERM <pid>) and then resume';

/** The refusal for what `owner` (alive, or on another host and beating) holds: "run 'x' is being written". */
export function ownerLocked(subject: string, owner: Owner | undefined, remedy: string, otherHost = false): MmrunError {
  return new MmrunError(
    'RUN_LOCKED',
    `${subject} by pid ${owner?.pid} on host ${owner?.host}${otherHost ? ' (another machine; cannot check it)' : ''}`,
    { remedy },
  );
}

/** The refusal for a run whose owner is (or may be) alive. */
export function runLocked(run: RunRecord, remedy: string, otherHost = false): MmrunError {
  return ownerLocked(`run '${run.id}' is being written`, run.owner, remedy, otherHost);
}

/** The refusal to resume a completed run. */
export function runCompleted(run: RunRecord): MmrunError {
  return new MmrunError('RUN_COMPLETED', `run '${run.id}' is already completed (${run.flushedRows} rows)`, {
    remedy: 'its results are final; start a new run to compute more',
  });
}

/** No sweep `id` in the catalog `file`. */
export function sweepNotFound(id: string, file: string): MmrunError {
  return new MmrunError('RUN_NOT_FOUND', `no sweep '${id}' in ${file}`, {
    remedy: '`mmrun list` shows the sweeps; check --runs-dir',
  });
}

/** No run `id` in the catalog `file`. */
export function runNotFound(id: string, file: string): MmrunError {
  return new MmrunError('RUN_NOT_FOUND', `no run '${id}' in ${file}`, {
    remedy: '`mmrun list` shows the runs; check --runs-dir',
  });
}
