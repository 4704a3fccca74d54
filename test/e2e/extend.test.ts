// `mmrun resume <id> --iterations M`: a finished run continues to M rows, byte-identical to a
// run that asked for M from the start — also when a crash splits the extension.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, mmrun, peekRun, segmentHashes, tempDirs } from './cli.ts';

const fresh = tempDirs();

const STATEFUL = path.join(FIXTURES, 'stateful.ts');
const COMMON = ['--seed', '8', '--segment-rows', '3000', '--flush-every', '1000'];

async function runOf(rows: number): Promise<{ dir: string; hashes: Record<string, string> }> {
  const dir = fresh();
  const r = await mmrun(['run', STATEFUL, '--id', 'x', '-n', String(rows), ...COMMON], dir);
  expect(r.code, r.stderr).toBe(0);
  return { dir, hashes: segmentHashes(dir, 'x') };
}

describe('extending a finished run', () => {
  it('from a partial last segment: it grows, new segments follow, bytes equal a run of M', async () => {
    const want = (await runOf(10_000)).hashes;
    const { dir, hashes } = await runOf(7_500);
    expect(Object.keys(hashes)).toHaveLength(3);
    const r = await mmrun(['resume', 'x', '--iterations', '10_000'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('resuming x at row 7,500: 10,000 iterations');
    expect(segmentHashes(dir, 'x')).toEqual(want);
    expect(peekRun(dir, 'x')).toMatchObject({ status: 'completed', flushedRows: 10_000 });
  });

  it('from a full last segment', async () => {
    const want = (await runOf(12_000)).hashes;
    const { dir } = await runOf(6_000);
    expect((await mmrun(['resume', 'x', '-n', '12000'], dir)).code).toBe(0);
    expect(segmentHashes(dir, 'x')).toEqual(want);
  });

  it('a crash between recording the extension and growing the segment is repaired on resume', async () => {
    const want = (await runOf(10_000)).hashes;
    const { dir } = await runOf(7_500);
    const crashed = await mmrun(['resume', 'x', '--iterations', '10_000'], dir, { MMRUN_FAULT: 'extend' });
    expect(crashed.signal).toBe('SIGKILL');
    const r = await mmrun(['resume', 'x'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(segmentHashes(dir, 'x')).toEqual(want);
  });

  it('a second extension after a crash in the first one applies the pending growth first', async () => {
    const want = (await runOf(12_000)).hashes;
    const { dir } = await runOf(7_500);
    const crashed = await mmrun(['resume', 'x', '--iterations', '8_000'], dir, { MMRUN_FAULT: 'extend' });
    expect(crashed.signal).toBe('SIGKILL');
    const r = await mmrun(['resume', 'x', '--iterations', '12_000'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(segmentHashes(dir, 'x')).toEqual(want);
  });

  it('refuses to shrink, and a completed run without --iterations stays completed', async () => {
    const { dir, hashes } = await runOf(6_000);
    const shrink = await mmrun(['resume', 'x', '--iterations', '5000'], dir);
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toContain("BAD_ITERATIONS: run 'x' has 6000 iterations; --iterations 5000 would shrink it");
    const again = await mmrun(['resume', 'x'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('RUN_COMPLETED');
    expect(segmentHashes(dir, 'x')).toEqual(hashes);
  });
});
