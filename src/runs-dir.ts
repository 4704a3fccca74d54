// The runs directory and run ids: the bottom of mmrun's layers, known to every command that
// finds a run (runner, readers, exporters, the CLI) without importing any of them.
import * as path from 'node:path';
import { MmrunError, show } from './errors.ts';

/** Resolves the runs directory: the option, else $MMRUN_RUNS_DIR, else ./runs. */
export function resolveRunsDir(runsDir?: string): string {
  return path.resolve(runsDir ?? process.env.MMRUN_RUNS_DIR ?? 'runs');
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Returns `id` if it is a valid run id. @throws MmrunError BAD_RUN_ID */
export function checkRunId(id: string): string {
  if (!RUN_ID.test(id)) {
    throw new MmrunError('BAD_RUN_ID', `run id ${show(id)} is not allowed`, {
      remedy: "use up to 128 letters, digits, '.', '_' or '-', starting with a letter or digit",
    });
  }
  return id;
}

/** A new run id: `<name>-<yyyymmdd>-<hhmmss>-<4 hex>`. */
export function newRunId(name: string): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${name}-${t}-${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
}
