import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Bundle, BundleError, bundleModule } from '../bundle/bundle.ts';
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
  /** The ES module that was imported (the experiment and its local imports, bundled). */
  readonly bundle: Bundle;
  readonly layout: RowLayout;
  readonly params: Readonly<Record<string, ParamValue>>;
}

/** The examples shipped with mmrun, found by name from any directory. */
export const BUILTIN_EXPERIMENTS_DIR = fileURLToPath(new URL('../../experiments/', import.meta.url));

const EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

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
  let bundle: Bundle;
  try {
    // Bundled once (esbuild): TypeScript or JavaScript, ESM or CommonJS, whatever the
    // package's `type`; worker threads import the same file.
    bundle = await bundleModule(abs);
  } catch (cause) {
    if (!(cause instanceof BundleError)) throw cause;
    throw new MmrunError('EXPERIMENT_LOAD_FAILED', `compiling ${abs} failed: ${cause.message}`, {
      cause,
      remedy: 'fix the module (or the import it names) so that it compiles',
    });
  }
  return loadBundledExperiment(bundle, abs, sourceHash);
}

/**
 * The experiment of a bundle already made by {@link loadExperiment} (in another thread):
 * imports it and validates its default export, compiling nothing.
 */
export async function loadBundledExperiment(
  bundle: Bundle,
  abs: string,
  sourceHash: string,
): Promise<LoadedExperiment> {
  const experiment = validateExperiment(await importExperiment(bundle.url, abs), abs);
  const name = experiment.name ?? path.basename(abs).replace(/\.[^.]+$/, '');
  return {
    experiment,
    name,
    path: abs,
    sourceHash,
    bundle,
    layout: layoutOf(experiment.columns, `experiment '${name}'`),
    params: { ...(experiment.params ?? {}) },
  };
}

/**
 * Imports a bundled experiment (see {@link loadExperiment}) and returns its default export;
 * `file` is the experiment's own path, for messages. Worker threads call this with the
 * bundle the main thread made: no compiler runs in them.
 * @throws MmrunError EXPERIMENT_LOAD_FAILED when evaluating the module throws.
 */
export async function importExperiment(url: string, file: string): Promise<unknown> {
  try {
    const mod = (await import(url)) as { default?: unknown };
    let exported = mod.default;
    // A CommonJS module (`module.exports = …`, or TypeScript's `exports.default = …`) arrives
    // as the default export; its own default one level down.
    const cjs = exported as { __esModule?: boolean; default?: unknown } | undefined;
    if (cjs !== null && typeof cjs === 'object' && cjs.__esModule === true) exported = cjs.default;
    return exported;
  } catch (cause) {
    const first = String((cause as Error)?.message ?? cause).split('\n')[0];
    throw new MmrunError('EXPERIMENT_LOAD_FAILED', `importing ${file} failed: ${first}`, {
      cause,
      remedy: 'fix the module so that it loads (run with --verbose for the stack)',
    });
  }
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
