// The run's JSON view lives with the readers (src/read/run-view.ts); the CLI prints it.
export * from '../read/run-view.ts';
