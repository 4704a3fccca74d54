/**
 * The Lorenz system integrated with fourth-order Runge-Kutta (deterministic, stateful).
 * Each iteration advances `substeps` steps of size `dt` and records the time, the state
 * vector (a vector column) and its distance from the origin.
 *
 *   npx mmrun run lorenz --iterations 1e5 --param dt=0.001
 */
import { defineExperiment } from 'mmrun';

type Vec = [number, number, number];

export default defineExperiment({
  name: 'lorenz',
  columns: { t: 'f8', xyz: ['f8', 3], radius: 'f4' },
  iterations: 100_000,
  params: { sigma: 10, rho: 28, beta: 8 / 3, dt: 0.001, substeps: 10 },
  init: () => ({ t: 0, xyz: [1, 1, 1] as Vec }),
  step(_i, ctx) {
    const { sigma, rho, beta, dt, substeps } = ctx.params;
    const f = ([x, y, z]: Vec): Vec => [sigma * (y - x), x * (rho - z) - y, x * y - beta * z];
    const s = ctx.state;
    for (let k = 0; k < substeps; k++) {
      const p = s.xyz;
      const k1 = f(p);
      const k2 = f([p[0] + (dt / 2) * k1[0], p[1] + (dt / 2) * k1[1], p[2] + (dt / 2) * k1[2]]);
      const k3 = f([p[0] + (dt / 2) * k2[0], p[1] + (dt / 2) * k2[1], p[2] + (dt / 2) * k2[2]]);
      const k4 = f([p[0] + dt * k3[0], p[1] + dt * k3[1], p[2] + dt * k3[2]]);
      s.xyz = [
        p[0] + (dt / 6) * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
        p[1] + (dt / 6) * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]),
        p[2] + (dt / 6) * (k1[2] + 2 * k2[2] + 2 * k3[2] + k4[2]),
      ];
      s.t += dt;
    }
    return { t: s.t, xyz: s.xyz, radius: Math.hypot(...s.xyz) };
  },
});
