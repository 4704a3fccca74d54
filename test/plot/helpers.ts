// Data for the plot tests, and NumPy (when there is one) to check against.
import { spawnSync } from 'node:child_process';

/** Reproducible noise with occasional large excursions (mulberry32). */
export function noise(rows: number, seed: number): Float64Array {
  const values = new Float64Array(rows);
  let state = seed >>> 0;
  for (let i = 0; i < rows; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    values[i] = u < 0.001 ? (u - 0.0005) * 1e5 : u - 0.5;
  }
  return values;
}

/** A Python 3 that imports numpy, or why there is none. */
export function numpyPython(): { exe?: string; why: string } {
  for (const exe of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(exe, ['-c', 'import numpy'], { stdio: 'ignore' });
    if (r.status === 0) return { exe, why: '' };
  }
  return { why: 'no python3 with numpy (apt-get install python3-numpy)' };
}
