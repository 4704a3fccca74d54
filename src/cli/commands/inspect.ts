import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { inspectNpy, type NpyInspection } from '../../storage/npy-inspect.ts';
import { deferred } from '../deferred.ts';
import { count, EXIT, table } from '../output.ts';

interface InspectArgs {
  file: string;
  json?: boolean;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <file>',
  describe: 'Check any .npy file: header, dtype, shape, data offset and size; exit 1 if it is not valid',
  builder: (y) =>
    (y as Argv<InspectArgs>)
      .positional('file', {
        type: 'string',
        demandOption: true,
        describe: 'a .npy file (mmrun segment, export, or any numpy.save output)',
      })
      .option('json', { type: 'boolean', describe: 'print one JSON object' })
      .example('$0 inspect runs/walk-1/000000.npy', 'is this segment intact?'),
  handler: deferred((argv: ArgumentsCamelCase<InspectArgs>) => {
    const r = inspectNpy(argv.file);
    process.stdout.write(argv.json ? `${JSON.stringify(r, null, 2)}\n` : describe(r));
    process.exitCode = r.valid ? EXIT.ok : EXIT.error;
  }),
};

const shape = (dims: readonly number[]): string => `(${dims.join(', ')}${dims.length === 1 ? ',' : ''})`;

function describe(r: NpyInspection): string {
  const lines = [`file:          ${r.file}`, `valid:         ${r.valid ? 'yes' : `no: ${r.reason}`}`];
  if (r.version !== undefined) lines.push(`version:       ${r.version}`);
  if (r.descr !== undefined) {
    lines.push(`dtype:         ${r.descr}${r.itemsize === undefined ? '' : ` (${r.itemsize} bytes per element)`}`);
  }
  if (r.fields) {
    const rows = r.fields.map((f) => [
      f.name,
      f.type,
      f.shape.length ? shape(f.shape) : '',
      String(f.offset),
      String(f.size),
    ]);
    lines.push(
      'fields:',
      ...table(['name', 'type', 'shape', 'offset', 'size'], rows)
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  if (r.shape !== undefined)
    lines.push(`shape:         ${shape(r.shape)}${r.count === undefined ? '' : ` (${count(r.count)} elements)`}`);
  if (r.fortranOrder !== undefined) lines.push(`fortran order: ${r.fortranOrder ? 'yes' : 'no'}`);
  if (r.dataOffset !== undefined) lines.push(`data offset:   ${r.dataOffset}`);
  const expected =
    r.expectedSize === undefined
      ? ''
      : `, expected ${r.expectedSize} = ${r.dataOffset} + ${r.count} × ${r.itemsize}${r.expectedSize === r.actualSize ? '' : ' (MISMATCH)'}`;
  lines.push(`file size:     ${r.actualSize} bytes${expected}`);
  lines.push(`mmrun layout:  ${r.mmrunLayout ? 'yes (a 1-D structured array mmrun can map)' : 'no'}`);
  return `${lines.join('\n')}\n`;
}
