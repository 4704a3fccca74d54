import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MmrunError } from '../../src/errors.ts';
import { BUILTIN_EXPERIMENTS_DIR, loadExperiment, resolveExperiment } from '../../src/experiment/load.ts';
import { layoutOf } from '../../src/storage/dtype.ts';
import { tmpDir } from '../helpers/tmp.ts';

function thrown(fn: () => unknown): MmrunError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

async function rejected(promise: Promise<unknown>): Promise<MmrunError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MmrunError);
    return error as MmrunError;
  }
  return expect.fail('expected an MmrunError');
}

/** Writes `source` as `<tmp>/<name>` and returns its path. */
function write(name: string, source: string, dir = tmpDir('mmrun-load-')): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, source);
  return file;
}

const VALID_TS = `
interface State { n: number }
export default {
  columns: { x: 'f8', k: 'u4', v: ['f4', 4] },
  iterations: 500,
  params: { drift: 0.25, label: 'a', on: true },
  init(): State { return { n: 0 }; },
  step(i: number, ctx: { state: State }) {
    ctx.state.n++;
    return { x: i / 2, k: i, v: [0, 1, 2, 3] };
  },
};
`;

describe('resolveExperiment', () => {
  it('takes a path, relative to cwd or absolute', () => {
    const cwd = tmpDir('mmrun-load-');
    const file = write('sub/my.ts', VALID_TS, cwd);
    expect(resolveExperiment('sub/my.ts', cwd)).toBe(file);
    expect(resolveExperiment('./sub/my.ts', cwd)).toBe(file);
    expect(resolveExperiment(file, '/')).toBe(file);
  });

  it("finds a name in the cwd's experiments/, with or without the extension", () => {
    const cwd = tmpDir('mmrun-load-');
    const ts = write('experiments/mine.ts', VALID_TS, cwd);
    const js = write('experiments/other.js', 'export default {}', cwd);
    expect(resolveExperiment('mine', cwd)).toBe(ts);
    expect(resolveExperiment('mine.ts', cwd)).toBe(ts);
    expect(resolveExperiment('other', cwd)).toBe(js);
  });

  it("finds mmrun's own examples by name, but a local file of that name comes first", () => {
    const cwd = tmpDir('mmrun-load-');
    expect(resolveExperiment('walk', cwd)).toBe(path.join(BUILTIN_EXPERIMENTS_DIR, 'walk.ts'));
    const local = write('experiments/walk.ts', VALID_TS, cwd);
    expect(resolveExperiment('walk', cwd)).toBe(local);
  });

  it('does not take a directory for an experiment', () => {
    const cwd = tmpDir('mmrun-load-');
    fs.mkdirSync(path.join(cwd, 'experiments', 'dir'), { recursive: true });
    expect(thrown(() => resolveExperiment('experiments/dir', cwd)).code).toBe('EXPERIMENT_NOT_FOUND');
  });

  it('refuses an unknown name (EXPERIMENT_NOT_FOUND) listing every path it tried', () => {
    const cwd = tmpDir('mmrun-load-');
    const e = thrown(() => resolveExperiment('nosuch', cwd));
    expect(e.code).toBe('EXPERIMENT_NOT_FOUND');
    expect(e.message).toContain("'nosuch'");
    for (const tried of [
      path.join(cwd, 'nosuch'),
      path.join(cwd, 'experiments', 'nosuch.ts'),
      path.join(cwd, 'experiments', 'nosuch.js'),
      path.join(BUILTIN_EXPERIMENTS_DIR, 'nosuch.ts'),
    ]) {
      expect(e.message).toContain(tried);
    }
    expect(e.remedy).toBeTruthy();
  });

  it('refuses a missing path without searching experiments/', () => {
    const cwd = tmpDir('mmrun-load-');
    const e = thrown(() => resolveExperiment('sub/nosuch.ts', cwd));
    expect(e.code).toBe('EXPERIMENT_NOT_FOUND');
    expect(e.message).toContain(path.join(cwd, 'sub', 'nosuch.ts'));
    expect(e.message).not.toContain('experiments');
  });
});

describe('loadExperiment', () => {
  it('loads a .ts module: name from the file name, layout, params and the sha256 of the file', async () => {
    const file = write('random-walk.ts', VALID_TS);
    const loaded = await loadExperiment(file);
    expect(loaded.name).toBe('random-walk');
    expect(loaded.path).toBe(file);
    expect(loaded.layout).toEqual(layoutOf({ x: 'f8', k: 'u4', v: ['f4', 4] }));
    expect(loaded.layout.itemsize).toBe(28);
    expect(loaded.params).toEqual({ drift: 0.25, label: 'a', on: true });
    expect(loaded.sourceHash).toBe(createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    expect(loaded.experiment.iterations).toBe(500);
    const row = loaded.experiment.step(3, { state: { n: 0 } } as never);
    expect(row).toEqual({ x: 1.5, k: 3, v: [0, 1, 2, 3] });
  });

  it('loads a .js module and takes its declared name', async () => {
    const file = write(
      'file-name.js',
      "export default { name: 'declared', columns: { hit: 'bool' }, step: () => ({ hit: true }) };\n",
    );
    const loaded = await loadExperiment(file);
    expect(loaded.name).toBe('declared');
    expect(loaded.params).toEqual({});
    expect(loaded.layout.itemsize).toBe(1);
  });

  it('resolves a relative path against the cwd', async () => {
    const file = write('rel.ts', VALID_TS);
    const loaded = await loadExperiment(path.relative(process.cwd(), file));
    expect(loaded.path).toBe(file);
  });

  it('refuses a missing file (EXPERIMENT_NOT_FOUND)', async () => {
    const dir = tmpDir('mmrun-load-');
    const e = await rejected(loadExperiment(path.join(dir, 'gone.ts')));
    expect(e.code).toBe('EXPERIMENT_NOT_FOUND');
    expect(e.message).toContain(path.join(dir, 'gone.ts'));
  });

  it('reports a module that throws on import (EXPERIMENT_LOAD_FAILED) with its message', async () => {
    const file = write('throws.ts', "throw new Error('no GPU found');\nexport default {};\n");
    const e = await rejected(loadExperiment(file));
    expect(e.code).toBe('EXPERIMENT_LOAD_FAILED');
    expect(e.message).toContain(file);
    expect(e.message).toContain('no GPU found');
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('reports a syntax error (EXPERIMENT_LOAD_FAILED)', async () => {
    const file = write('broken.ts', 'export default { columns: { x: "f8" }, step(i) { return { x: i ;\n');
    const e = await rejected(loadExperiment(file));
    expect(e.code).toBe('EXPERIMENT_LOAD_FAILED');
    expect(e.message).toContain(file);
    expect(e.message.split('\n')).toHaveLength(1);
  });

  it('reports a missing import (EXPERIMENT_LOAD_FAILED)', async () => {
    const file = write('imports.ts', "import './nowhere.ts';\nexport default {};\n");
    const e = await rejected(loadExperiment(file));
    expect(e.code).toBe('EXPERIMENT_LOAD_FAILED');
    expect(e.message).toContain(file);
  });

  it.each([
    ['no default export', 'export const x = 1;\n', 'default export is undefined'],
    ['a default export that is a function', 'export default () => 1;\n', 'not an experiment object'],
    ['no step', "export default { columns: { x: 'f8' } };\n", 'no step function'],
    ['a step that is not a function', "export default { columns: { x: 'f8' }, step: 3 };\n", 'step is 3'],
    ['no columns', 'export default { step: () => ({}) };\n', 'no columns'],
    [
      'an object param default',
      "export default { columns: { x: 'f8' }, params: { opts: { a: 1 } }, step: () => ({ x: 1 }) };\n",
      "param 'opts'",
    ],
    [
      'an array of params',
      "export default { columns: { x: 'f8' }, params: [1], step: () => ({ x: 1 }) };\n",
      'params [1]',
    ],
    ['an init that is not a function', "export default { columns: { x: 'f8' }, init: 1, step() {} };\n", 'init is 1'],
    ['bad iterations', "export default { columns: { x: 'f8' }, iterations: 0, step() {} };\n", 'iterations 0'],
    ['a bad name', "export default { name: 'a b', columns: { x: 'f8' }, step() {} };\n", "name 'a b'"],
    ['empty columns', 'export default { columns: {}, step() {} };\n', 'empty'],
    ['a bad column name', "export default { columns: { 'my col': 'f8' }, step() {} };\n", "'my col'"],
    ['a bad vector', "export default { columns: { v: ['f4', 0] }, step() {} };\n", "column 'v'"],
  ])('refuses %s (EXPERIMENT_INVALID) saying what is wrong', async (_, source, words) => {
    const file = write('bad.ts', source);
    const e = await rejected(loadExperiment(file));
    expect(e.code).toBe('EXPERIMENT_INVALID');
    expect(e.message).toContain(words);
    expect(e.remedy).toBeTruthy();
  });

  it('refuses an unknown dtype (UNKNOWN_DTYPE) naming the column and the dtype', async () => {
    const file = write('f16.ts', "export default { columns: { x: 'f8', half: 'f16' }, step() {} };\n");
    const e = await rejected(loadExperiment(file));
    expect(e.code).toBe('UNKNOWN_DTYPE');
    expect(e.message).toContain("column 'half'");
    expect(e.message).toContain("'f16'");
    expect(e.remedy).toContain('f8');
  });

  // The module cache must not serve old code under the file's new hash.
  it('after the file changes, a second load returns the new code with the new hash', async () => {
    const file = write('changing.ts', "export default { columns: { x: 'f8' }, step: () => ({ x: 1 }) };\n");
    const first = await loadExperiment(file);
    expect(first.layout.fields[0]?.dtype).toBe('f8');
    fs.writeFileSync(file, "export default { columns: { x: 'f4' }, step: () => ({ x: 1 }) };\n");
    const second = await loadExperiment(file);
    expect(second.sourceHash).not.toBe(first.sourceHash);
    expect(second.layout.fields[0]?.dtype).toBe('f4');
  });
});
