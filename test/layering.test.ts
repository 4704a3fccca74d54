import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type IConfiguration, type ICruiseResult } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/tmp.ts';

// The layering of src/ (docs/ARCHITECTURE.md), as .dependency-cruiser.cjs states it:
// no import cycle between files or folders, no import upward or sideways between layers.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = createRequire(import.meta.url)(path.join(ROOT, '.dependency-cruiser.cjs')) as IConfiguration;

/** Every violation of the rules in the tree under `baseDir`, one readable line each. */
async function violations(baseDir: string): Promise<string[]> {
  const result = await cruise(['src'], {
    ...config.options,
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden ?? [] },
  });
  const output = result.output as ICruiseResult;
  return output.summary.violations.map((v) => {
    const where = v.cycle?.length ? [v.from, ...v.cycle.map((c) => c.name)].join(' → ') : `${v.from} → ${v.to}`;
    return `${v.rule.name}: ${where}`;
  });
}

describe('layering', () => {
  it('src/ has no import cycle and no import against the layering', async () => {
    expect(await violations(ROOT)).toEqual([]);
  });

  it('catches a file cycle, a folder cycle, an upward and a sideways import, a folder outside the layers and an import of the tests', async () => {
    const dir = tmpDir();
    const files: Record<string, string> = {
      'src/errors.ts': 'export const e = 1;\n',
      // sideways: storage and catalog share a layer and must not import each other
      'src/storage/a.ts': "import { b } from '../catalog/b.ts';\nexport const a = b;\n",
      'src/catalog/b.ts': 'export const b = 1;\n',
      // upward: the runner must not import the CLI
      'src/runner/x.ts': "import { y } from '../cli/y.ts';\nexport const x = y;\n",
      'src/cli/y.ts': 'export const y = 1;\n',
      // a cycle between two files of one folder
      'src/read/p.ts': "import { q } from './q.ts';\nexport const p = () => q;\n",
      'src/read/q.ts': "import { p } from './p.ts';\nexport const q = () => p;\n",
      // a cycle between two folders, with no file cycle
      'src/stats/s.ts': "import { t } from '../plot/t.ts';\nexport const s = t;\n",
      'src/stats/v.ts': 'export const v = 2;\n',
      'src/plot/t.ts': 'export const t = 1;\n',
      'src/plot/u.ts': "import { v } from '../stats/v.ts';\nexport const u = v;\n",
      // the package importing its tests
      'src/manage/m.ts': "import { t } from '../../test/t.ts';\nexport const m = t;\n",
      'test/t.ts': 'export const t = 1;\n',
      // a folder that has no place in the layering
      'src/gadgets/g.ts': "import { e } from '../errors.ts';\nexport const g = e;\n",
    };
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    const found = await violations(dir);
    expect(found).toEqual(
      expect.arrayContaining([
        'layer:storage/: src/storage/a.ts → src/catalog/b.ts',
        'layer:runner/: src/runner/x.ts → src/cli/y.ts',
        expect.stringMatching(/^no-cycle: src\/read\/[pq]\.ts → /),
        expect.stringMatching(/^no-folder-cycle: src\/(stats|plot) → src\/(stats|plot) → /),
        'in-a-layer: src/gadgets/g.ts → src/errors.ts',
        'not-tests: src/manage/m.ts → test/t.ts',
      ]),
    );
  });
});
