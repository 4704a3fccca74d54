import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { scaffoldExperiment } from '../../experiment/scaffold.ts';
import { deferred } from '../deferred.ts';
import { displayPath } from '../report.ts';

interface NewArgs {
  name: string;
  dir?: string;
}

export const newCommand: CommandModule<object, NewArgs> = {
  command: 'new <name>',
  describe: 'Write experiments/<name>.ts from a commented template that runs as written',
  builder: (y) =>
    (y as Argv<NewArgs>)
      .positional('name', { type: 'string', demandOption: true })
      .option('dir', { type: 'string', describe: 'where to write it [default: ./experiments]' })
      .example('$0 new diffusion && $0 run diffusion', 'scaffold an experiment and run it'),
  handler: deferred((argv: ArgumentsCamelCase<NewArgs>) => {
    const file = scaffoldExperiment(argv.name, argv.dir);
    process.stdout.write(`${displayPath(file)}\n`);
    process.stderr.write(`mmrun: wrote ${displayPath(file)}; run it with: mmrun run ${displayPath(file)}\n`);
  }),
};
