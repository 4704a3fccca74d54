import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { MmrunError } from '../../errors.ts';
import { verifyRun } from '../../verify/verify.ts';
import { deferred } from '../deferred.ts';
import { count, reportError, say } from '../output.ts';

interface VerifyArgs {
  'run-id': string;
  recompute?: number;
  'allow-changed'?: boolean;
  json?: boolean;
  'runs-dir'?: string;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify <run-id>',
  describe: "Check a run's flushed rows against their checksums (and optionally recompute some)",
  builder: (y) =>
    (y as Argv<VerifyArgs>)
      .positional('run-id', { type: 'string', demandOption: true })
      .option('recompute', {
        type: 'number',
        describe: 're-run K stored iterations from a fresh context and compare bytes',
      })
      .option('allow-changed', { type: 'boolean', describe: 'recompute although the experiment source changed' })
      .option('json', { type: 'boolean', describe: 'print one JSON object' })
      .example('$0 verify walk-20261126-101500-1a2b --recompute 100', 'checksums, then 100 iterations re-run'),
  handler: deferred(async (argv: ArgumentsCamelCase<VerifyArgs>) => {
    const result = await verifyRun({
      runId: argv['run-id'],
      runsDir: argv['runs-dir'],
      recompute: argv.recompute,
      allowChanged: argv['allow-changed'],
    });
    if (result.status === 'running') {
      say(
        `mmrun: run ${result.id} is still running: verifying the rows flushed when verify began (read at row ${count(result.flushedRows)}); rows flushed since are not checked`,
      );
    }
    if (argv.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(
        `run ${result.id}: ${count(result.flushedRows)} flushed rows, ${result.ranges} checksummed ranges (${count(result.bytes)} bytes)${result.uncoveredRows ? `, ${count(result.uncoveredRows)} rows without checksums` : ''}\n`,
      );
      if (result.recomputed) {
        const { rows, method, mismatches } = result.recomputed;
        process.stdout.write(
          `recomputed ${rows} iterations (${method}): ${mismatches.length === 0 ? 'identical' : `${mismatches.length} differ, first at ${mismatches[0]}`}\n`,
        );
      }
      process.stdout.write(result.ok ? 'ok\n' : 'CORRUPT\n');
    }
    if (result.firstBad) {
      const b = result.firstBad;
      process.exitCode = reportError(
        new MmrunError(
          'CHECKSUM_MISMATCH',
          `rows ${b.startRow}..${b.endRow} have CRC32C ${b.actual.toString(16)} but ${b.expected.toString(16)} was recorded when they were flushed`,
          { remedy: 'the segment changed on disk after it was written; restore it from a backup or recompute the run' },
        ),
      );
    } else if (!result.ok) {
      const changes = result.recomputed?.codeChanges ?? [];
      process.exitCode = reportError(
        new MmrunError(
          'CHECKSUM_MISMATCH',
          changes.length > 0
            ? `recomputed rows differ from the stored ones (first at iteration ${result.recomputed?.mismatches[0]}), and the code changed since they were written: ${changes.join('; ')}`
            : `recomputed rows differ from the stored ones (first at iteration ${result.recomputed?.mismatches[0]}) with the same code that wrote them`,
          {
            remedy:
              changes.length > 0
                ? 'the change explains the difference (`mmrun show <run> --source` prints the code that ran); the stored bytes match their checksums'
                : 'the experiment is not deterministic in (seed, i) and its state, or the data changed',
          },
        ),
      );
    }
  }),
};
