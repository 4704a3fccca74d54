// Opt-in (npm run test:big): more than 2 GiB of results — several 1 GiB segments, each
// mapped on its own — killed in the middle and resumed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readHeader } from '../../src/storage/npy.ts';
import { FIXTURES, mmrun, peekRun, spawnMmrun, tempDir, waitFor } from './cli.ts';

const dir = tempDir('mmrun-big-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it.runIf(process.env.MMRUN_BIG)(
  'writes 2.4 GiB across 3 segments, survives a kill -9 past 1 GiB, reads back',
  async () => {
    const rows = 40_000_000;
    const cli = spawnMmrun(['run', path.join(FIXTURES, 'wide.ts'), '--id', 'big', '--flush-interval', '1'], dir);
    await waitFor(() => (peekRun(dir, 'big')?.flushedRows ?? 0) > 18_000_000, 300_000, 'rows past the first segment');
    cli.child.kill('SIGKILL');
    await cli.exited;
    const r = await mmrun(['resume', 'big'], dir);
    expect(r.code, r.stderr).toBe(0);

    const files = fs
      .readdirSync(path.join(dir, 'big'))
      .filter((f) => f.endsWith('.npy'))
      .sort();
    expect(files).toEqual(['000000.npy', '000001.npy', '000002.npy']);
    let first = 0;
    let total = 0;
    for (const name of files) {
      const file = path.join(dir, 'big', name);
      const header = readHeader(file);
      const n = header.shape[0]!;
      expect(fs.statSync(file).size).toBe(header.dataOffset + n * 64);
      const fd = fs.openSync(file, 'r');
      const buf = Buffer.alloc(64);
      for (const k of [0, 1, Math.floor(n / 2), n - 1]) {
        fs.readSync(fd, buf, 0, 64, header.dataOffset + k * 64);
        const i = first + k;
        expect([buf.readDoubleLE(0), buf.readDoubleLE(8), buf.readDoubleLE(56)]).toEqual([i, i + 1, -i]);
      }
      fs.closeSync(fd);
      first += n;
      total += fs.statSync(file).size;
    }
    expect(first).toBe(rows);
    expect(total).toBeGreaterThan(2 ** 31);
  },
  600_000,
);
