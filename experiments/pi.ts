/**
 * Monte Carlo estimate of pi (stateless). Each iteration throws `batch` points into the
 * unit square and counts those inside the quarter circle; `estimate` is the running
 * estimate over all iterations so far, computed from the iteration's own row so the
 * experiment needs no state: a resumed run gives the same bytes.
 *
 *   npx mmrun run pi --iterations 1e6 --seed 1
 */
import { defineExperiment } from 'mmrun';

export default defineExperiment({
  name: 'pi',
  columns: { inside: 'u4', estimate: 'f8', x: 'f8', y: 'f8' },
  iterations: 1_000_000,
  params: { batch: 16 },
  step(_i, ctx) {
    const { batch } = ctx.params;
    let inside = 0;
    let x = 0;
    let y = 0;
    for (let k = 0; k < batch; k++) {
      x = ctx.rng.random();
      y = ctx.rng.random();
      if (x * x + y * y < 1) inside++;
    }
    return { inside, estimate: (4 * inside) / batch, x, y };
  },
});
