import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { MmrunError, show } from '../errors.ts';
import { layoutOf, type RowLayout } from '../storage/dtype.ts';
import type { Experiment, ParamValue } from './define.ts';

/** An experiment module, loaded and validated. */
export interface LoadedExperiment {
  readonly experiment: Experiment;
  readonly name: string;
  /** Absolute path of the module. */
  readonly path: string;
  /** sha256 of the module file's bytes. */
  readonly sourceHash: string;
  readonly layout: RowLayout;
  readonly params: Readonly<Record<string, ParamValue>>;
}

/** The examples shipped with mmrun, found by name from any directory. */
export const BUILTIN_EXPERIMENTS_DIR = fileURLToPath(new URL('../../experiments/', import.meta.url));

const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/**
 * Finds an experiment: a path to a module, or the name of a file in `./experiments/`
 * (with or without extension), then in mmrun's own `experiments/`.
 * @throws MmrunError EXPERIMENT_NOT_FOUND listing where it looked.
 */
export function resolveExperiment(spec: string, cwd = process.cwd()): string {
  const tried: string[] = [];
  const candidates = [path.resolve(cwd, spec)];
  if (!spec.includes('/') && !spec.includes(path.sep)) {
    for (const dir of [path.join(cwd, 'experiments'), BUILTIN_EXPERIMENTS_DIR]) {
      candidates.push(path.join(dir, spec), ...EXTENSIONS.map((ext) => path.join(dir, spec + ext)));
    }
  }
  for (const file of candidates) {
    tried.push(file);
    if (fs.existsSync(file) && fs.statSync(file).isFile()) return file;
  }
  throw new MmrunError(
    'EXPERIMENT_NOT_FOUND',
    `experiment ${show(spec)} not found (looked for ${[...new Set(tried)].join(', ')})`,
    {
      remedy: 'pass a path to a .ts or .js module, or the name of a file in experiments/',
    },
  );
}

/** sha256 of a file, hex. */
export function hashFile(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Imports an experiment module and validates its default export.
 * @throws MmrunError EXPERIMENT_LOAD_FAILED (import threw, syntax error) or EXPERIMENT_INVALID.
 */
export async function loadExperiment(file: string): Promise<LoadedExperiment> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) {
    throw new MmrunError('EXPERIMENT_NOT_FOUND', `experiment file ${abs} does not exist`, {
      remedy: 'restore the file, or pass the path where it now lives',
    });
  }
  const sourceHash = hashFile(abs);
  let exported: unknown;
  try {
    // tsx compiles TypeScript in-process. Keyed by content, a changed file is imported
    // afresh, never served from the module cache. A file outside any `"type": "module"`
    // package is CommonJS to Node; its `export default` then arrives one level down.
    const mod = (await tsImport(`${pathToFileURL(abs).href}?sha256=${sourceHash}`, import.meta.url)) as {
      default?: unknown;
    };
    exported = mod.default;
    const cjs = exported as { __esModule?: boolean; default?: unknown } | undefined;
    if (cjs !== null && typeof cjs === 'object' && cjs.__esModule === true) exported = cjs.default;
  } catch (cause) {
    const first = String((cause as Error)?.message ?? cause).split('\n')[0];
    throw new MmrunError('EXPERIMENT_LOAD_FAILED', `importing ${abs} failed: ${first}`, {
      cause,
      remedy: 'fix the module so that it loads (run with --verbose for the stack)',
    });
  }
  const experiment = validateExperiment(exported, abs);
  const name = experiment.name ?? path.basename(abs).replace(/\.[^.]+$/, '');
  return {
    experiment,
    name,
    path: abs,
    sourceHash,
    layout: layoutOf(experiment.columns, `experiment '${name}'`),
    params: { ...(experiment.params ?? {}) },
  };
}

/** Checks the shape of an experiment object; the messages say what is missing and how to fix it. */
export function validateExperiment(value: unknown, file: string): Experiment {
  const invalid = (what: string, remedy: string): never => {
    throw new MmrunError('EXPERIMENT_INVALID', `${file}: ${what}`, { remedy });
  };
  if (value === null || typeof value !== 'object') {
    return invalid(
      `the default export is ${show(value)}, not an experiment object`,
      'export default { columns: {...}, step(i, ctx) { return {...} } }',
    );
  }
  const e = value as Record<string, unknown>;
  if (typeof e.step !== 'function') {
    invalid(`the experiment has no step function (step is ${show(e.step)})`, 'add step(i, ctx) that returns one row');
  }
  if (e.columns === undefined) invalid('the experiment has no columns', "add columns: { x: 'f8', ... }");
  if (e.init !== undefined && typeof e.init !== 'function')
    invalid(`init is ${show(e.init)}, not a function`, 'make init a function or remove it');
  if (e.name !== undefined && (typeof e.name !== 'string' || !/^[\w.-]+$/.test(e.name))) {
    invalid(`name ${show(e.name)} must be letters, digits, '.', '_' or '-'`, 'rename it');
  }
  if (e.iterations !== undefined && (!Number.isSafeInteger(e.iterations) || (e.iterations as number) < 1)) {
    invalid(`iterations ${show(e.iterations)} must be a positive whole number`, 'fix the default iterations');
  }
  if (e.params !== undefined) {
    if (e.params === null || typeof e.params !== 'object' || Array.isArray(e.params)) {
      invalid(`params ${show(e.params)} must be an object of defaults`, 'write params: { drift: 0.1, label: "a" }');
    }
    for (const [k, v] of Object.entries(e.params as object)) {
      if (!['number', 'string', 'boolean'].includes(typeof v)) {
        invalid(
          `param '${k}' has default ${show(v)}; defaults must be numbers, strings or booleans`,
          'fix the default',
        );
      }
    }
  }
  return value as Experiment;
}
