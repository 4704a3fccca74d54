import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MmrunError } from '../errors.ts';

/** What {@link slurmScript} writes a job array for. */
export interface SlurmOptions {
  /** Absolute path of the experiment module (as the compute nodes see it). */
  readonly experiment: string;
  readonly id: string;
  readonly shards: number;
  readonly iterations?: number;
  readonly seed: number;
  readonly params?: readonly string[];
  /** Shared directory (cluster file system) where each shard's runs directory is copied and merged. */
  readonly results: string;
  readonly partition?: string;
  /** Slurm time limit, e.g. `02:00:00`. */
  readonly time?: string;
  readonly cpusPerTask?: number;
  /** Seconds before the time limit at which Slurm warns the task (USR1). @default 120 */
  readonly warnSeconds?: number;
  /** Extra mmrun options for `run` (e.g. `--flush-interval 30`). */
  readonly runOptions?: readonly string[];
  /** How compute nodes start mmrun. @default this node binary and this mmrun's bin/mmrun.js */
  readonly mmrun?: string;
}

/** The exit status of `mmrun` stopped by the preemption signal (SIGUSR1 = 10): 128 + 10. */
export const PREEMPTED_EXIT = 138;

const MMRUN_BIN = fileURLToPath(new URL('../../bin/mmrun.js', import.meta.url));

/** Quotes a word for bash. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * An sbatch script for a job array of `shards` tasks, each running one shard of the job
 * (`mmrun run --shard I/N`, told I and N by SLURM_ARRAY_TASK_ID/COUNT) in a runs directory
 * on the node's local disk, preempted and requeued cleanly, its runs directory copied to
 * `results` after every session. Readable and commented: users adapt it.
 */
export function slurmScript(o: SlurmOptions): string {
  const q = shellQuote;
  const warn = o.warnSeconds ?? 120;
  const mmrun = o.mmrun ?? `${q(process.execPath)} ${q(MMRUN_BIN)}`;
  const runArgs = [
    'run',
    '"$EXPERIMENT"',
    '--id',
    '"$ID"',
    '--seed',
    String(o.seed),
    ...(o.iterations === undefined ? [] : ['--iterations', String(o.iterations)]),
    ...(o.params ?? []).flatMap((p) => ['--param', q(p)]),
    ...(o.runOptions ?? []).map(q),
  ];
  const sbatch = [
    `#SBATCH --job-name=mmrun-${o.id}`,
    `#SBATCH --array=0-${o.shards - 1}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    `#SBATCH --cpus-per-task=${o.cpusPerTask ?? 1}`,
    `#SBATCH --output=${o.results}/logs/%A_%a.out`,
    '#SBATCH --open-mode=append   # a requeued task appends to the same log',
    '#SBATCH --requeue            # a task may be requeued (preemption, node failure)',
    `#SBATCH --signal=B:USR1@${warn}  # USR1 to this script ${warn} s (up to ${warn + 30} s) before the time limit`,
  ];
  return `#!/bin/bash
# mmrun on Slurm: job '${o.id}', ${o.shards} shards of ${path.basename(o.experiment)}, seed ${o.seed}.
# Written by \`mmrun slurm\`; adapt it freely. Each array task computes one contiguous shard
# of the iterations (mmrun reads SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT) into a runs
# directory on the node's local disk: memory maps and SQLite do not belong on a network
# file system. After every session the runs directory is copied to RESULTS; when all tasks
# are done, \`mmrun merge\` joins the shards into one run, byte-identical to a run on one
# machine.
#
# Preemption: Slurm sends USR1 to this script ${warn} s before the time limit (--signal
# above). The script passes it to mmrun, which flushes, records the run \`interrupted\` and
# exits ${PREEMPTED_EXIT}; the script copies the runs directory out and requeues the task
# (\`scontrol requeue\`). Slurm checks signal times every 30 s: the warning may come up to
# 30 s early, so N must cover the last flush plus the copy. The requeued task runs this script again: it copies the runs
# directory back in if this node does not have it, and \`mmrun resume\` continues from the
# last flushed row. A requeue or scancel sends SIGTERM instead: mmrun flushes and stops the
# same way (exit 143), and Slurm decides whether the task runs again.
${sbatch.join('\n')}

set -euo pipefail

MMRUN=(${mmrun})
EXPERIMENT=${q(o.experiment)}
ID=${q(o.id)}
RESULTS=${q(o.results)}                      # shared: shard copies, logs, merged run
TASK=\${SLURM_ARRAY_TASK_ID:?run this script with sbatch}
LOCAL="\${MMRUN_LOCAL_DIR:-/tmp}/mmrun-$ID-$TASK"   # node-local runs directory (kept across requeues)
SHARD_COPY="$RESULTS/shards/$TASK"

mkdir -p "$LOCAL" "$RESULTS/shards" "$RESULTS/logs"
echo "mmrun task $TASK of \${SLURM_ARRAY_TASK_COUNT:-?} on $(hostname), restart \${SLURM_RESTART_COUNT:-0}"

# Stage in: a task requeued onto another node continues from its last copy.
if [ ! -e "$LOCAL/mmrun.sqlite" ] && [ -e "$SHARD_COPY/mmrun.sqlite" ]; then
  cp -a "$SHARD_COPY/." "$LOCAL/"
fi

# Start the shard, or continue it (a task that already completed only copies it out).
status=$("\${MMRUN[@]}" show "$ID" --runs-dir "$LOCAL" --json 2>/dev/null | sed -n 's/^  "status": "\\(.*\\)",$/\\1/p' || true)
rc=0
if [ "$status" != completed ]; then
  if [ -n "$status" ]; then
    args=(resume "$ID")
  else
    args=(${runArgs.join(' ')})
  fi
  "\${MMRUN[@]}" "\${args[@]}" --runs-dir "$LOCAL" --preempt-signal SIGUSR1 --quiet &
  pid=$!

  # The time-limit warning (USR1, sent to this script only) goes on to mmrun: it flushes
  # and exits ${PREEMPTED_EXIT}. A stop (scancel, requeue) sends SIGTERM to every process of
  # the job, mmrun included, which flushes and exits 143; passing it on as well would be a
  # second signal, which makes mmrun exit at once, so this script only keeps waiting.
  trap 'kill -USR1 "$pid" 2>/dev/null || true' USR1
  trap 'echo "SIGTERM: mmrun flushes and stops"' TERM
  set +e
  wait "$pid"
  rc=$?
  # A trapped signal ends \`wait\` early: wait again until mmrun has flushed and exited.
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid"
    rc=$?
  done
  set -e
fi

# Stage out: the shard's runs directory (catalog and segments) to the shared results.
mkdir -p "$SHARD_COPY"
cp -a "$LOCAL/." "$SHARD_COPY/"

case "$rc" in
  0)
    echo "shard $TASK completed"
    ;;
  ${PREEMPTED_EXIT})
    echo "shard $TASK preempted (flushed): requeueing"
    # This task only: one task of an array has SLURM_JOB_ID = SLURM_ARRAY_JOB_ID, which
    # would name the whole array. The requeue sends this script SIGTERM (scontrol may exit
    # 143 from it): everything worth keeping is already copied out.
    scontrol requeue "\${SLURM_ARRAY_JOB_ID}_$TASK" || true
    ;;
  *)
    echo "shard $TASK stopped with status $rc; see $LOCAL/$ID/run.log (resume: sbatch the script again, or mmrun resume)"
    exit "$rc"
    ;;
esac
`;
}

/** The command that joins the shards once every task has completed. */
export function mergeCommand(o: SlurmOptions): string {
  const q = shellQuote;
  const mmrun = o.mmrun ?? `${q(process.execPath)} ${q(MMRUN_BIN)}`;
  return `${mmrun} merge ${q(o.results)}/shards/* --into ${q(o.results)}/runs --id ${q(o.id)}`;
}

/**
 * Submits the array script, then the merge as a job that starts once every task ended
 * successfully (`--dependency=afterok`). Returns both job ids.
 * @throws MmrunError SLURM_FAILED if sbatch is missing or refuses.
 */
export function submit(scriptFile: string, o: SlurmOptions): { arrayJob: string; mergeJob: string } {
  const sbatch = (args: string[]) => {
    const r = spawnSync('sbatch', ['--parsable', ...args], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new MmrunError(
        'SLURM_FAILED',
        `sbatch ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim() ?? `exit ${r.status}`}`,
        { remedy: 'run it on a Slurm login node (sbatch on PATH), or submit the written script yourself' },
      );
    }
    return r.stdout.trim().split(';')[0]!;
  };
  fs.mkdirSync(path.join(o.results, 'logs'), { recursive: true });
  const arrayJob = sbatch([scriptFile]);
  const mergeJob = sbatch([
    `--dependency=afterok:${arrayJob}`,
    `--job-name=mmrun-${o.id}-merge`,
    `--output=${o.results}/logs/%j-merge.out`,
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    `--wrap=${mergeCommand(o)}`,
  ]);
  return { arrayJob, mergeJob };
}
