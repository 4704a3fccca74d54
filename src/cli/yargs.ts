// yargs, as the CLI imports it. The build replaces this module's compiled file with one
// esbuild bundle of yargs and its dependencies (package.json "build"): ~40 small modules,
// each resolved, read and compiled at every start, become one file (10 ms of a `mmrun list`).
export { default } from 'yargs';
export { hideBin } from 'yargs/helpers';
