// The runs directory and run ids: the bottom of mmrun's layers, known to every command that
// finds a run (runner, readers, exporters, the CLI) without importing any of them.
import * as path from 'node:path';
import { config } from './config.ts';
import { MmrunError, show } from './errors.ts';

/**
 * Resolves the runs directory: the option, else $MMRUN_RUNS_DIR, else ./runs. Every entry
 * point of the library calls it first: it checks the whole environment (config.ts) too.
 * @throws MmrunError BAD_ENV
 */
export function resolveRunsDir(runsDir?: string): string {
  const env = config();
  return path.resolve(runsDir ?? env.runsDir ?? 'runs');
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
