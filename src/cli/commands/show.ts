import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { getRun } from '../../catalog/query.ts';
import { SweepCatalog } from '../../catalog/sweeps.ts';
import { MmrunError } from '../../errors.ts';
import { runView } from '../../read/run-view.ts';
import { resolveRunsDir } from '../../runs-dir.ts';
import { getSweepView } from '../../sweep/view.ts';
import { deferred } from '../deferred.ts';
import { table } from '../output.ts';
import { runsDirFlag } from '../report.ts';

/** One line about a run's code fingerprint (parsed here: the module stays light). */
function codeLine(fingerprint: string | undefined): string {
  if (!fingerprint) return 'code:        no fingerprint (made before mmrun kept them)';
  const f = JSON.parse(fingerprint) as {
    files: unknown[];
    packages: { name: string; version: string }[];
    node: string;
    mmrun: string;
  };
  const packages = f.packages.map((p) => `${p.name}@${p.version}`).join(', ');
  return `code:        ${f.files.length} local file(s)${packages ? `, packages ${packages}` : ''}; node ${f.node}, mmrun ${f.mmrun} (--source prints it)`;
}

interface ShowArgs {
  'run-id': string;
  'other-id'?: string;
  json?: boolean;
  source?: boolean;
  diff?: boolean;
  'runs-dir'?: string;
}

export const showCommand: CommandModule<object, ShowArgs> = {
  command: 'show <run-id> [other-id]',
  describe: 'Show one run (its spec, progress and event history) or one sweep (its grid and points)',
  builder: (y) =>
    (y as Argv<ShowArgs>)
      .positional('run-id', { type: 'string', demandOption: true })
      .positional('other-id', { type: 'string', describe: 'with --diff: the run to compare with' })
      .option('json', { type: 'boolean', describe: 'print one JSON object' })
      .option('source', { type: 'boolean', describe: 'print the source files that ran (the run’s snapshot)' })
      .option('diff', { type: 'boolean', describe: 'show how two runs differ: spec, params, code' })
      .conflicts('source', 'diff')
      .check((argv) => {
        if (argv.diff && !argv['other-id']) {
          throw new MmrunError('USAGE', '--diff needs two runs', { remedy: 'mmrun show --diff <run-a> <run-b>' });
        }
        if (!argv.diff && argv['other-id']) {
          throw new MmrunError('USAGE', `show takes one run, not '${argv['run-id']}' and '${argv['other-id']}'`, {
            remedy: 'name one run, or pass --diff to compare two',
          });
        }
        return true;
      })
      .example('$0 show walk-20261126-101500-1a2b --json', 'machine-readable')
      .example('$0 show walk-20261126-101500-1a2b --source', 'the code that ran')
      .example('$0 show --diff walk-a walk-b', 'how two runs differ in params and code'),
  handler: deferred(async (argv: ArgumentsCamelCase<ShowArgs>) => {
    const runsDir = resolveRunsDir(argv['runs-dir']);
    if (argv.source || argv.diff) {
      const code = await import('../../fingerprint/runs.ts');
      if (argv.source) {
        process.stdout.write(code.runSource(runsDir, argv['run-id']));
        return;
      }
      const d = code.diffRuns(runsDir, argv['run-id'], argv['other-id'] ?? '');
      if (argv.json) {
        process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
        return;
      }
      const lines = [`runs ${d.a} and ${d.b}:`];
      if (d.spec.length === 0 && d.code.length === 0 && d.patch === '') lines.push('  same spec, params and code');
      for (const s of d.spec) lines.push(`  ${s.key}: ${JSON.stringify(s.a)} → ${JSON.stringify(s.b)}`);
      for (const c of d.code) lines.push(`  code: ${c.message}`);
      process.stdout.write(`${lines.join('\n')}\n${d.patch}`);
      return;
    }
    if (SweepCatalog.isSweep(runsDir, argv['run-id'])) {
      showSweep(runsDir, argv['run-id'], argv.json === true, argv['runs-dir']);
      return;
    }
    const { run, events, fingerprint } = getRun(runsDir, argv['run-id']);
    const view = runView(run, runsDir, events);
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      return;
    }
    const lines = [
      `id:          ${view.id}`,
      `experiment:  ${view.experiment} (${view.experimentPath})`,
      `source:      sha256 ${view.sourceHash}`,
      codeLine(fingerprint),
      `status:      ${view.status}${view.owner ? ` (pid ${view.owner.pid} on ${view.owner.host}, heartbeat ${view.heartbeatAt ?? 'none'})` : ''}`,
      view.workers > 1
        ? `rows:        ${view.doneRows} of ${view.iterations} flushed, by ${view.workers} workers (rows 0..${view.flushedRows} contiguous)`
        : `rows:        ${view.flushedRows} of ${view.iterations} flushed`,
      ...(view.jobShard
        ? [
            `job shard:   ${view.jobShard.index} of ${view.jobShard.count}: iterations ${view.jobShard.firstIteration}..${view.jobShard.firstIteration + view.iterations} of ${view.jobShard.jobIterations} (stored from row 0; \`mmrun merge\` joins the shards)`,
          ]
        : []),
      ...view.shards.map(
        (s) =>
          `  shard ${String(s.shard).padEnd(4)} rows ${s.startRow}..${s.endRow}: ${s.flushedRows - s.startRow} of ${s.endRow - s.startRow} flushed`,
      ),
      `seed:        ${view.seed}`,
      `params:      ${JSON.stringify(view.params)}`,
      `dtype:       ${view.dtype} (${view.itemsize} bytes/row)`,
      `flush:       every ${view.flushEvery} rows or ${view.flushInterval} s; last ${view.lastFlushAt ?? 'never'}`,
      `at risk:     a crash loses at most ${view.worstCaseLoss.rows} rows (${view.worstCaseLoss.seconds} s of work)`,
      `rate:        ${view.rowsPerSecond === null ? 'unknown' : `${view.rowsPerSecond} rows/s`}`,
      `segments:    ${view.segments.length} × up to ${view.segmentRows} rows in ${view.runDir}`,
      `created:     ${view.createdAt}`,
      `updated:     ${view.updatedAt}`,
    ];
    if (view.error) lines.push(`error:       ${view.error}`);
    if (view.status === 'crashed' || view.status === 'interrupted' || view.status === 'failed') {
      lines.push(`resume with: mmrun resume ${view.id}${runsDirFlag(argv['runs-dir'])}`);
    }
    lines.push('events:');
    for (const e of events)
      lines.push(`  ${e.at}  ${e.type.padEnd(13)} ${e.data === null ? '' : JSON.stringify(e.data)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }),
};

function showSweep(runsDir: string, id: string, json: boolean, runsDirArg: string | undefined): void {
  const view = getSweepView(runsDir, id);
  if (json) {
    process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
    return;
  }
  const { spec } = view;
  const lines = [
    `sweep:       ${view.id}`,
    `experiment:  ${view.experiment} (${view.experimentPath})`,
    `status:      ${view.status}${view.owner ? ` (pid ${view.owner.pid} on ${view.owner.host})` : ''}`,
    `points:      ${view.done} of ${view.total} completed`,
    ...(spec.grid.length > 0
      ? spec.grid.map((axis) => `grid:        ${axis.key} = ${axis.values.map((v) => String(v)).join(', ')}`)
      : [`points file: ${spec.pointsFile}`]),
    `seeds:       ${spec.seeds} per parameter set, from ${spec.seed}`,
    `iterations:  ${spec.iterations} per point${spec.params.length ? `; --param ${spec.params.join(' ')}` : ''}`,
  ];
  if (view.error) lines.push(`error:       ${view.error}`);
  if (view.status !== 'completed' && view.status !== 'running') {
    lines.push(`resume with: mmrun resume ${view.id}${runsDirFlag(runsDirArg)}`);
  }
  lines.push(
    table(
      ['RUN', 'PARAMS', 'SEED', 'STATUS', 'PROGRESS'],
      view.points.map((p) => [
        p.runId,
        Object.entries(p.params)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' '),
        String(p.seed),
        p.status,
        `${((100 * p.flushedRows) / p.iterations).toFixed(1)}% of ${p.iterations}`,
      ]),
    ),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}
