// The code fingerprint from the command line: resume names the changed module, a comment
// only warns on stderr, `show --source` prints what ran, `show --diff` compares two runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, mmrun, tempDirs } from './cli.ts';

const fresh = tempDirs('mmrun-e2e-fp-');

function project(): { dir: string; file: string; model: string } {
  const dir = fresh();
  const file = path.join(dir, 'exp.ts');
  const model = path.join(dir, 'model.ts');
  fs.writeFileSync(model, 'export const k = 3;\n');
  fs.writeFileSync(
    file,
    "import { k } from './model.ts';\nexport default { name: 'fp', columns: { x: 'f8' }, iterations: 3000, step: (i: number) => ({ x: i * k }) };\n",
  );
  return { dir, file, model };
}

describe('the code fingerprint on the command line', () => {
  it('resume refuses an edited module (exit 1, naming it); a comment-only edit resumes with a warning', async () => {
    const { dir, file, model } = project();
    const runs = path.join(dir, 'runs');
    expect((await mmrun(['run', file, '--id', 'a', '--iterations', '1000'], runs)).code).toBe(0);
    fs.writeFileSync(model, 'export const k = 4;\n');
    const refused = await mmrun(['resume', 'a', '--iterations', '3000'], runs);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/EXPERIMENT_CHANGED: the code of run 'a' changed since it began: model\.ts changed/);
    expect(json(await mmrun(['show', 'a', '--json'], runs))).toMatchObject({ flushedRows: 1000, iterations: 1000 });
    fs.writeFileSync(model, '// three\nexport const k = 3;\n');
    const resumed = await mmrun(['resume', 'a', '--iterations', '3000'], runs);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('mmrun: warning: model.ts changed in comments or whitespace only');
  });

  it('show --source prints the files that ran; show --diff names params and code that differ', async () => {
    const { dir, file, model } = project();
    const runs = path.join(dir, 'runs');
    expect((await mmrun(['run', file, '--id', 'a', '--seed', '1'], runs)).code).toBe(0);
    fs.writeFileSync(model, 'export const k = 5;\n');
    expect((await mmrun(['run', file, '--id', 'b', '--seed', '2'], runs)).code).toBe(0);
    const source = await mmrun(['show', 'a', '--source'], runs);
    expect(source.code).toBe(0);
    expect(source.stdout).toContain('==> model.ts <==\nexport const k = 3;\n');
    const diff = await mmrun(['show', '--diff', 'a', 'b'], runs);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain('seed: 1 → 2');
    expect(diff.stdout).toContain('code: model.ts changed');
    expect(diff.stdout).toContain('-export const k = 3;\n+export const k = 5;');
    const bad = await mmrun(['show', '--diff', 'a'], runs);
    expect(bad.code).toBe(2);
  });
});
