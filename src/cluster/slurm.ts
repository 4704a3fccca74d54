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
  /** At most this many tasks run at once (`--array=…%N`). @default no limit */
  readonly throttle?: number | undefined;
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

/** What {@link sweepSlurmScript} writes a job array for: one task per point of a sweep. */
export interface SweepSlurmOptions
  extends Pick<SlurmOptions, 'experiment' | 'id' | 'results' | 'partition' | 'time' | 'cpusPerTask' | 'warnSeconds'> {
  /** Points of the sweep: array tasks 0..points-1, task i computing point i. */
  readonly points: number;
  /** Absolute path of the sweep's plan (`<results>/<id>.sweep.json`), which tasks and merge read. */
  readonly plan: string;
  /** At most this many tasks run at once (`--array=…%N`). @default no limit */
  readonly throttle?: number | undefined;
  /** How compute nodes start mmrun. @default this node binary and this mmrun's bin/mmrun.js */
  readonly mmrun?: string;
}

/** The `--array` range of `tasks` tasks, `%throttle` at once. */
const arrayRange = (tasks: number, throttle: number | undefined) =>
  `0-${tasks - 1}${throttle === undefined ? '' : `%${throttle}`}`;

/**
 * Checks a `--throttle` (array tasks at once).
 * @throws MmrunError BAD_OPTION unless a whole number ≥ 1
 */
export function checkThrottle(value: number | string): number {
  const n = typeof value === 'number' ? value : Number(String(value).replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new MmrunError(
      'BAD_OPTION',
      `--throttle must be a whole number of at least 1, got ${JSON.stringify(value)}`,
      {
        remedy: 'pass --throttle N: at most N array tasks run at once (sbatch --array=…%N)',
      },
    );
  }
  return n;
}

/** Where the task of array index `task` copies its runs directory: `<results>/points/<task>`. */
export const pointCopyDir = (results: string, task: number): string => path.join(results, 'points', String(task));

const mmrunOf = (o: { readonly mmrun?: string | undefined }) =>
  o.mmrun ?? `${shellQuote(process.execPath)} ${shellQuote(MMRUN_BIN)}`;

// biome-ignore lint/suspicious/noTemplateCurlyInString: bash's expansion of the MMRUN array
const RUN_MMRUN = '"${MMRUN[@]}"';

/** The #SBATCH lines both kinds of array share. */
function sbatchLines(
  o: Pick<SlurmOptions, 'id' | 'results' | 'partition' | 'time' | 'cpusPerTask'>,
  array: string,
  warn: number,
): string[] {
  return [
    `#SBATCH --job-name=mmrun-${o.id}`,
    `#SBATCH --array=${array}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    `#SBATCH --cpus-per-task=${o.cpusPerTask ?? 1}`,
    `#SBATCH --output=${o.results}/logs/%A_%a.out`,
    '#SBATCH --open-mode=append   # a requeued task appends to the same log',
    '#SBATCH --requeue            # a task may be requeued (preemption, node failure)',
    `#SBATCH --signal=B:USR1@${warn}  # USR1 to this script ${warn} s (up to ${warn + 30} s) before the time limit`,
  ];
}

/** The comment on preemption both kinds of array share. */
function preemptionComment(warn: number): string {
  return `# Preemption: Slurm sends USR1 to this script ${warn} s before the time limit (--signal
# above). The script passes it to mmrun, which flushes, records the run \`interrupted\` and
# exits ${PREEMPTED_EXIT}; the script copies the runs directory out and requeues the task
# (\`scontrol requeue\`). Slurm checks signal times every 30 s: the warning may come up to
# 30 s early, so N must cover the last flush plus the copy. The requeued task runs this script again: it copies the runs
# directory back in if this node does not have it, and \`mmrun resume\` continues from the
# last flushed row. A requeue or scancel sends SIGTERM instead: mmrun flushes and stops the
# same way (exit 143), and Slurm decides whether the task runs again.`;
}

/** Runs mmrun in the background with the signal traps, waiting until it has flushed and exited. */
function runInBackground(command: string, indent: string): string {
  return `${indent}${command} &
${indent}pid=$!

${indent}# The time-limit warning (USR1, sent to this script only) goes on to mmrun: it flushes
${indent}# and exits ${PREEMPTED_EXIT}. A stop (scancel, requeue) sends SIGTERM to every process of
${indent}# the job, mmrun included, which flushes and exits 143; passing it on as well would be a
${indent}# second signal, which makes mmrun exit at once, so this script only keeps waiting.
${indent}trap 'kill -USR1 "$pid" 2>/dev/null || true' USR1
${indent}trap 'echo "SIGTERM: mmrun flushes and stops"' TERM
${indent}set +e
${indent}wait "$pid"
${indent}rc=$?
${indent}# A trapped signal ends \`wait\` early: wait again until mmrun has flushed and exited.
${indent}while kill -0 "$pid" 2>/dev/null; do
${indent}  wait "$pid"
${indent}  rc=$?
${indent}done
${indent}set -e`;
}

/**
 * The task's start: its node-local runs directory and the shared ones made, a line saying
 * where it runs, and its stage-in: a task requeued onto another node continues from its
 * last copy (`copyVar`, the shell variable naming `<results>/<kind>/<task>`).
 */
function stageIn(kind: 'shards' | 'points', copyVar: string): string {
  return `mkdir -p "$LOCAL" "$RESULTS/${kind}" "$RESULTS/logs"
echo "mmrun task $TASK of \${SLURM_ARRAY_TASK_COUNT:-?} on $(hostname), restart \${SLURM_RESTART_COUNT:-0}"

# Stage in: a task requeued onto another node continues from its last copy.
if [ ! -e "$LOCAL/mmrun.sqlite" ] && [ -e "$${copyVar}/mmrun.sqlite" ]; then
  cp -a "$${copyVar}/." "$LOCAL/"
fi`;
}

/** Stage out, then: done, requeue (preempted) or fail. `what` names the task's work ("shard", "point"). */
function stageOutAndEnd(what: string, copy: string): string {
  return `# Stage out: the ${what}'s runs directory (catalog and segments) to the shared results,
# copied whole beside the last copy and then swapped for it, so that no file of an earlier
# session (SQLite's -wal of a killed one, say) mixes with this one's.
rm -rf "${copy}.new" "${copy}.old"
mkdir -p "${copy}.new"
cp -a "$LOCAL/." "${copy}.new/"
if [ -e "${copy}" ]; then mv "${copy}" "${copy}.old"; fi
mv "${copy}.new" "${copy}"
rm -rf "${copy}.old"

case "$rc" in
  0)
    echo "${what} $TASK completed"
    ;;
  ${PREEMPTED_EXIT})
    echo "${what} $TASK preempted (flushed): requeueing"
    # This task only: one task of an array has SLURM_JOB_ID = SLURM_ARRAY_JOB_ID, which
    # would name the whole array. The requeue sends this script SIGTERM (scontrol may exit
    # 143 from it): everything worth keeping is already copied out.
    scontrol requeue "\${SLURM_ARRAY_JOB_ID}_$TASK" || true
    ;;`;
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
  return `#!/bin/bash
# mmrun on Slurm: job '${o.id}', ${o.shards} shards of ${path.basename(o.experiment)}, seed ${o.seed}.
# Written by \`mmrun slurm\`; adapt it freely. Each array task computes one contiguous shard
# of the iterations (mmrun reads SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT) into a runs
# directory on the node's local disk: memory maps and SQLite do not belong on a network
# file system. After every session the runs directory is copied to RESULTS; when all tasks
# are done, \`mmrun merge\` joins the shards into one run, byte-identical to a run on one
# machine.
#
${preemptionComment(warn)}
${sbatchLines(o, arrayRange(o.shards, o.throttle), warn).join('\n')}

set -euo pipefail

MMRUN=(${mmrunOf(o)})
EXPERIMENT=${q(o.experiment)}
ID=${q(o.id)}
RESULTS=${q(o.results)}                      # shared: shard copies, logs, merged run
TASK=\${SLURM_ARRAY_TASK_ID:?run this script with sbatch}
LOCAL="\${MMRUN_LOCAL_DIR:-/tmp}/mmrun-$ID-$TASK"   # node-local runs directory (kept across requeues)
SHARD_COPY="$RESULTS/shards/$TASK"

${stageIn('shards', 'SHARD_COPY')}

# Start the shard, or continue it (a task that already completed only copies it out).
status=$("\${MMRUN[@]}" show "$ID" --runs-dir "$LOCAL" --json 2>/dev/null | sed -n 's/^  "status": "\\(.*\\)",$/\\1/p' || true)
rc=0
if [ "$status" != completed ]; then
  if [ -n "$status" ]; then
    args=(resume "$ID")
  else
    args=(${runArgs.join(' ')})
  fi
${runInBackground(`${RUN_MMRUN} "\${args[@]}" --runs-dir "$LOCAL" --preempt-signal SIGUSR1 --quiet`, '  ')}
fi

${stageOutAndEnd('shard', '$SHARD_COPY')}
  *)
    echo "shard $TASK stopped with status $rc; see $LOCAL/$ID/run.log (resume: sbatch the script again, or mmrun resume)"
    exit "$rc"
    ;;
esac
`;
}

/**
 * An sbatch script for a sweep: a job array whose task i computes point i of the plan
 * (`mmrun point PLAN --index i`: started, or continued after a requeue) in a runs directory
 * on the node's local disk, preempted and requeued as the shards of {@link slurmScript} are,
 * its runs directory copied to `<results>/points/<i>` after every session; `mmrun merge
 * --sweep` then gathers the points into one sweep.
 */
export function sweepSlurmScript(o: SweepSlurmOptions): string {
  const q = shellQuote;
  const warn = o.warnSeconds ?? 120;
  return `#!/bin/bash
# mmrun on Slurm: sweep '${o.id}', ${o.points} points of ${path.basename(o.experiment)}${o.throttle === undefined ? '' : `, at most ${o.throttle} at once`}.
# Written by \`mmrun slurm --sweep\`; adapt it freely. Array task i computes point i of the
# sweep's plan (PLAN: its params, seed and run id, the same as a local \`mmrun sweep\` of the
# same grid would give) into a runs directory on the node's local disk: memory maps and
# SQLite do not belong on a network file system. After every session the runs directory is
# copied to RESULTS/points/<i>; when all tasks are done, \`mmrun merge --sweep\` gathers the
# points into one sweep, each point byte-identical to \`mmrun run\` of it.
#
${preemptionComment(warn)}
${sbatchLines(o, arrayRange(o.points, o.throttle), warn).join('\n')}

set -euo pipefail

MMRUN=(${mmrunOf(o)})
ID=${q(o.id)}
PLAN=${q(o.plan)}   # the sweep's points
RESULTS=${q(o.results)}                      # shared: point copies, logs, merged sweep
TASK=\${SLURM_ARRAY_TASK_ID:?run this script with sbatch}
LOCAL="\${MMRUN_LOCAL_DIR:-/tmp}/mmrun-$ID-$TASK"   # node-local runs directory (kept across requeues)
POINT_COPY="$RESULTS/points/$TASK"

${stageIn('points', 'POINT_COPY')}

# Start point $TASK, or continue it (\`mmrun point\` resumes a run it finds; a completed one
# it leaves as is).
${runInBackground(`${RUN_MMRUN} point "$PLAN" --index "$TASK" --runs-dir "$LOCAL" --preempt-signal SIGUSR1 --quiet`, '')}

${stageOutAndEnd('point', '$POINT_COPY')}
  *)
    echo "point $TASK stopped with status $rc; see $LOCAL (resume: sbatch the script again, or mmrun point $PLAN --index $TASK)"
    exit "$rc"
    ;;
esac
`;
}

/** The command that joins the shards once every task has completed. */
export function mergeCommand(o: SlurmOptions): string {
  const q = shellQuote;
  return `${mmrunOf(o)} merge ${q(o.results)}/shards/* --into ${q(o.results)}/runs --id ${q(o.id)}`;
}

/** The command that gathers a sweep's points once every task has completed. */
export function sweepMergeCommand(o: Pick<SweepSlurmOptions, 'id' | 'results' | 'mmrun'>): string {
  const q = shellQuote;
  return `${mmrunOf(o)} merge ${q(o.results)} --sweep --id ${q(o.id)} --into ${q(o.results)}/runs`;
}

/**
 * Submits the array script, then the merge as a job that starts once every task ended
 * successfully (`--dependency=afterok`). Returns both job ids.
 * @throws MmrunError SLURM_FAILED if sbatch is missing or refuses.
 */
export function submit(scriptFile: string, o: SlurmOptions): { arrayJob: string; mergeJob: string } {
  return submitArray(scriptFile, { id: o.id, results: o.results, partition: o.partition, merge: mergeCommand(o) });
}

/** What {@link submitArray} submits besides the script: where logs go and the merge command. */
export interface SubmitOptions {
  readonly id: string;
  readonly results: string;
  readonly partition?: string | undefined;
  /** The command of the dependent job (e.g. {@link mergeCommand}, {@link sweepMergeCommand}). */
  readonly merge: string;
}

/**
 * Submits an array script, then `merge` as a job that starts once every task ended
 * successfully (`--dependency=afterok`). Returns both job ids.
 * @throws MmrunError SLURM_FAILED if sbatch is missing or refuses.
 */
export function submitArray(scriptFile: string, o: SubmitOptions): { arrayJob: string; mergeJob: string } {
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
    `--wrap=${o.merge}`,
  ]);
  return { arrayJob, mergeJob };
}
