// yargs may run a command's handler before its strict checks reject an unknown flag. So a
// handler only records what to do; main runs it once parsing has fully succeeded, and a
// usage error never starts (or creates) anything.

type Action = () => Promise<void> | void;
let pending: Action | undefined;

/** Wraps a command's work so that it runs only after the command line is validated. */
export function deferred<A>(work: (argv: A) => Promise<void> | void): (argv: A) => void {
  return (argv) => {
    pending = () => work(argv);
  };
}

/** The work recorded by the parsed command, if any (consumed). */
export function takeDeferred(): Action | undefined {
  const action = pending;
  pending = undefined;
  return action;
}
