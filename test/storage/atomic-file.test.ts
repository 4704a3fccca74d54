// Write to a temporary, then put it into place (src/storage/atomic-file.ts): the file
// appears whole or not at all, an existing one is replaced or refused as asked, and no
// temporary is left behind, whatever fails.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicFile, isFileExists, writeFileAtomically } from '../../src/storage/atomic-file.ts';
import { tmpDir } from '../helpers/tmp.ts';

const listing = (dir: string) => fs.readdirSync(dir).sort();

describe('writeFileAtomically', () => {
  it('writes a new file; overwrite: true replaces one already there', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'chart.svg');
    writeFileAtomically(file, Buffer.from('one'), { overwrite: true });
    writeFileAtomically(file, Buffer.from('two'), { overwrite: true });
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
    expect(listing(dir)).toEqual(['chart.svg']);
  });

  it('overwrite: false refuses an existing file with EEXIST and leaves it untouched', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'out.csv');
    fs.writeFileSync(file, 'precious');
    let caught: unknown;
    try {
      writeFileAtomically(file, Buffer.from('new'), { overwrite: false });
    } catch (error) {
      caught = error;
    }
    expect(isFileExists(caught)).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe('precious');
    expect(listing(dir)).toEqual(['out.csv']);
  });

  it('a fill that throws leaves nothing: no file, no temporary', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'seg.npy');
    expect(() =>
      writeFileAtomically(
        file,
        (fd) => {
          fs.writeSync(fd, 'half');
          throw new Error('disk full');
        },
        { overwrite: false },
      ),
    ).toThrow('disk full');
    expect(listing(dir)).toEqual([]);
  });

  it('calls beforePlace once the temporary is durable, before the name exists', () => {
    const dir = tmpDir();
    const file = path.join(dir, '000000.npy');
    let seen: string[] = [];
    writeFileAtomically(file, Buffer.from('rows'), {
      overwrite: false,
      temporary: 'per-process',
      beforePlace: () => {
        seen = listing(dir);
      },
    });
    expect(seen).toEqual([`.000000.npy.${process.pid}.tmp`]);
    expect(listing(dir)).toEqual(['000000.npy']);
  });
});

describe('AtomicFile', () => {
  it('discard removes the temporary; nothing appears under the name', () => {
    const dir = tmpDir();
    const out = new AtomicFile(path.join(dir, 'x.parquet'));
    fs.writeSync(out.fd, 'partial');
    expect(listing(dir)).toHaveLength(1);
    expect(path.basename(out.tmp)).toMatch(/^\.x\.parquet\.\d+\.[0-9a-f]{8}\.tmp$/);
    out.discard();
    expect(listing(dir)).toEqual([]);
  });
});
