import { spawn } from 'node:child_process';
import * as os from 'node:os';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { DEFAULT_PORT, startDashboard } from '../../ui/server.ts';
import { deferred } from '../deferred.ts';
import { say } from '../output.ts';
import { exitCodeFor, STOP_SIGNALS } from '../signals.ts';

interface UiArgs {
  port?: number;
  host?: string;
  open?: boolean;
  'runs-dir'?: string;
}

export const uiCommand: CommandModule<object, UiArgs> = {
  command: 'ui',
  describe: 'Serve a read-only dashboard of the runs (a web page and a JSON API) until Ctrl-C',
  builder: (y) =>
    (y as Argv<UiArgs>)
      .option('port', {
        type: 'number',
        requiresArg: true,
        describe: `port; 0 for any free one [default: ${DEFAULT_PORT}]`,
      })
      .option('host', {
        type: 'string',
        requiresArg: true,
        describe: 'address to listen on; any but 127.0.0.1 requires the printed token [default: 127.0.0.1]',
      })
      .option('open', { type: 'boolean', describe: 'open the page in the default browser' })
      .example('$0 ui', 'http://127.0.0.1:7878/')
      .example('$0 ui --host 0.0.0.0 --port 8080', 'reachable from other machines, with a token'),
  handler: deferred(async (argv: ArgumentsCamelCase<UiArgs>) => {
    // An observer: on a busy machine the runs it watches get the CPU first.
    try {
      os.setPriority(os.constants.priority.PRIORITY_LOW);
    } catch {
      // not permitted here: run at the normal priority
    }
    const ui = await startDashboard({
      runsDir: argv['runs-dir'],
      ...(argv.port === undefined ? {} : { port: argv.port }),
      ...(argv.host === undefined ? {} : { host: argv.host }),
    });
    process.stdout.write(`${ui.url}\n`);
    say(`mmrun: dashboard of ${ui.runsDir} at ${ui.url} (read-only; Ctrl-C stops it)`);
    if (argv.open) openBrowser(ui.url);
    const signal = await new Promise<string>((resolve) => {
      for (const name of STOP_SIGNALS) process.once(name, () => resolve(name));
    });
    await ui.close();
    process.exitCode = exitCodeFor(signal);
  }),
};

// Best effort: a machine without a desktop just has the printed URL.
function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => say(`mmrun: could not start ${command}; open ${url} yourself`));
    child.unref();
  } catch {
    say(`mmrun: could not start ${command}; open ${url} yourself`);
  }
}
