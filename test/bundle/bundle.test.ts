// The experiment bundler: one ES module from the experiment and its local imports,
// packages left as imports, each file keeping its own import.meta.url and __dirname.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { bundleModule } from '../../src/bundle/bundle.ts';
import { loadExperiment } from '../../src/experiment/load.ts';
import { tmpDir } from '../helpers/tmp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('bundleModule', () => {
  it('keeps each file’s import.meta.url, __dirname and a working require()', async () => {
    const dir = tmpDir('mmrun-bundle-');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'data.txt'), '42');
    fs.writeFileSync(
      path.join(dir, 'sub', 'where.ts'),
      "import * as fs from 'node:fs';\nexport const here = import.meta.url;\nexport const data = fs.readFileSync(new URL('./data.txt', import.meta.url), 'utf8');\n",
    );
    fs.writeFileSync(
      path.join(dir, 'exp.cts'),
      "const { here, data } = require('./sub/where.ts');\nconst os = require('node:os');\nmodule.exports = { columns: { x: 'f8' }, here, data, dir: __dirname, eol: os.EOL, step: (i: number) => ({ x: i }) };\n",
    );
    const loaded = await loadExperiment(path.join(dir, 'exp.cts'));
    const e = loaded.experiment as unknown as { here: string; data: string; dir: string; eol: string };
    expect(e.here).toBe(pathToFileURL(path.join(dir, 'sub', 'where.ts')).href);
    expect(e.data).toBe('42');
    expect(e.dir).toBe(dir);
    expect(e.eol).toBe('\n');
    expect(loaded.bundle.inputs).toEqual([path.join(dir, 'exp.cts'), path.join(dir, 'sub', 'where.ts')]);
  });

  it('an experiment importing defineExperiment from mmrun gets a module with nothing else in it', async () => {
    const b = await bundleModule(path.join(ROOT, 'experiments', 'walk.ts'));
    expect(b.inputs).toEqual([path.join(ROOT, 'experiments', 'walk.ts')]);
    expect(b.packages.map((p) => p.name)).toEqual(['mmrun']);
    expect(fs.statSync(new URL(b.url)).size).toBeLessThan(64 << 10);
  });

  it('an experiment importing more from mmrun gets the whole library, by import', async () => {
    // Inside mmrun's own package, so that 'mmrun' resolves to it (as in a user's project).
    const dir = fs.mkdtempSync(path.join(ROOT, 'experiments', '.tmp-full-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'full.ts');
    fs.writeFileSync(
      file,
      "import { defineExperiment, openRun } from 'mmrun';\nexport default defineExperiment({ columns: { x: 'f8' }, step: (i) => ({ x: typeof openRun === 'function' ? i : -1 }) });\n",
    );
    const loaded = await loadExperiment(file);
    expect(await loaded.experiment.step(3, {} as never)).toEqual({ x: 3 });
    expect(fs.readFileSync(new URL(loaded.bundle.url), 'utf8')).toContain(
      pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href,
    );
  });

  it('a changed file makes a new bundle (content-addressed), never a stale module', async () => {
    const dir = tmpDir('mmrun-bundle-change-');
    const file = path.join(dir, 'x.ts');
    fs.writeFileSync(file, "export default { columns: { x: 'f8' }, step: (i: number) => ({ x: i }) };\n");
    const a = await loadExperiment(file);
    fs.writeFileSync(file, "export default { columns: { x: 'f8' }, step: (i: number) => ({ x: i * 2 }) };\n");
    const b = await loadExperiment(file);
    expect(b.bundle.url).not.toBe(a.bundle.url);
    expect(await b.experiment.step(2, {} as never)).toEqual({ x: 4 });
  });
});
