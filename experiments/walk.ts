/**
 * A random walk with drift (stateful). `ctx.state.position` carries from each step to the
 * next; mmrun saves it with every flush and restores it on resume, so a walk that was
 * killed and resumed is byte-identical to one that was not.
 *
 *   npx mmrun run walk --iterations 1e6 --seed 7 --param drift=0.01
 */
import { defineExperiment } from 'mmrun';

export default defineExperiment({
  name: 'walk',
  columns: { position: 'f8', steps: 'u4', hit: 'bool', maxPosition: 'f8' },
  iterations: 1_000_000,
  params: { drift: 0.0, barrier: 3.0 },
  init: () => ({ position: 0, max: 0 }),
  step(i, ctx) {
    const s = ctx.state;
    s.position += ctx.params.drift + ctx.rng.normal();
    if (s.position > s.max) s.max = s.position;
    return { position: s.position, steps: i + 1, hit: s.position > ctx.params.barrier, maxPosition: s.max };
  },
});
