// rssAnonMiB: peak anonymous resident memory of the real CLI while it writes gigabytes of
// results. The mapping's pages are file-backed (RssFile, page cache), not anonymous.
import * as path from 'node:path';
import { describeExit, FIXTURES, removeTemp, sampleMemory, spawnCli, tempDir } from './lib/proc.ts';
import { type Summary, summarize } from './lib/stats.ts';

export interface MemoryConfig {
  readonly reps: number;
  /** Bytes of results per run (8 GiB in full mode). */
  readonly bytes: number;
  readonly log: (line: string) => void;
}

export interface MemoryResult {
  readonly rssAnonMiB: Summary;
  readonly rssFileMiB: Summary;
  readonly mbPerSecond: Summary;
  readonly samples: number;
}

const WIDE = path.join(FIXTURES, 'wide.ts');
const ITEMSIZE = 256;

export async function memory(cfg: MemoryConfig): Promise<MemoryResult> {
  const anon: number[] = [];
  const file: number[] = [];
  const rate: number[] = [];
  let samples = 0;
  for (let rep = 0; rep < cfg.reps; rep++) {
    const runsDir = tempDir('rss');
    try {
      const rows = Math.round(cfg.bytes / ITEMSIZE);
      const t0 = performance.now();
      const cli = spawnCli(['run', WIDE, '--id', 'rss', '--seed', '1', '--iterations', String(rows)], runsDir);
      const sampler = sampleMemory(cli.child.pid!, 50);
      const r = await cli.exited;
      const peak = sampler.stop();
      const seconds = (performance.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(describeExit('mmrun run (memory)', r));
      if (peak.RssAnon === undefined) throw new Error('no RssAnon in /proc/<pid>/status');
      anon.push(peak.RssAnon / 1024);
      file.push((peak.RssFile ?? 0) / 1024);
      rate.push(cfg.bytes / 1e6 / seconds);
      samples += sampler.samples();
      cfg.log(
        `  rep ${rep + 1}/${cfg.reps} peak RssAnon ${(peak.RssAnon / 1024).toFixed(1)} MiB, RssFile ${((peak.RssFile ?? 0) / 1024).toFixed(0)} MiB, ${(cfg.bytes / 1e6 / seconds).toFixed(0)} MB/s`,
      );
    } finally {
      removeTemp(runsDir);
    }
  }
  return {
    rssAnonMiB: summarize(anon),
    rssFileMiB: summarize(file),
    mbPerSecond: summarize(rate),
    samples,
  };
}
