import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmrunError, show } from '../errors.ts';

const TEMPLATE = (name: string) => `/**
 * ${name}: describe what this experiment computes, in a sentence or two.
 *
 *   npx mmrun run experiments/${name}.ts --iterations 1e6 --seed 1
 *
 * mmrun calls step(i, ctx) once per iteration and stores the row it returns. Rows land in
 * memory-mapped .npy files under runs/<run-id>/; a crash loses at most the last few
 * seconds, and \`mmrun resume <run-id>\` continues byte for byte.
 *
 * It needs no import. For types, wrap the object in defineExperiment(...) from 'mmrun'
 * when mmrun is a dependency of your project.
 */
interface State {
  hits: number;
}

interface Ctx {
  params: { scale: number };
  state: State;
  rng: { random(): number; normal(): number; int(n: number): number };
  log: { info(obj: object, msg: string): void };
}

export default {
  name: '${name}',

  // One field per column: f8 f4 i1 i2 i4 u1 u2 u4 bool, or [dtype, length] for a vector.
  columns: { x: 'f8', y: 'f8', inside: 'bool', sample: ['f4', 4] },

  // The default iteration count; --iterations overrides it.
  iterations: 100_000,

  // Parameter defaults; --param key=value overrides them, typed by the default.
  params: { scale: 1.0 },

  // Optional: the initial state. It is saved with every flush and restored on resume, so
  // keep it plain data. Draws from ctx.rng here come from a stream of their own.
  init: (): State => ({ hits: 0 }),

  step(i: number, ctx: Ctx) {
    // ctx.rng depends only on (seed, i) and the order of draws: never use Math.random(),
    // or a resumed run would differ from an uninterrupted one.
    const x = ctx.rng.random() * ctx.params.scale;
    const y = ctx.rng.normal();
    const inside = x * x + y * y < 1;
    if (inside) ctx.state.hits += 1;
    if (i % 50_000 === 0) ctx.log.info({ i, hits: ctx.state.hits }, 'progress of ${name}');
    return { x, y, inside, sample: [x, y, ctx.state.hits, i] };
  },
};
`;

/**
 * Writes `<dir>/<name>.ts` from a commented template that runs as written.
 * @throws MmrunError BAD_OPTION for a bad name, or if the file exists (never overwritten).
 */
export function scaffoldExperiment(name: string, dir = path.resolve('experiments')): string {
  if (!/^[A-Za-z][\w-]{0,63}$/.test(name)) {
    throw new MmrunError('BAD_OPTION', `experiment name ${show(name)} is not allowed`, {
      remedy: "use letters, digits, '_' and '-', starting with a letter",
    });
  }
  const file = path.join(dir, `${name}.ts`);
  fs.mkdirSync(dir, { recursive: true });
  try {
    fs.writeFileSync(file, TEMPLATE(name), { flag: 'wx' });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new MmrunError('BAD_OPTION', `${file} already exists; mmrun new never overwrites a file`, {
        cause,
        remedy: 'choose another name, or edit that file',
      });
    }
    throw cause;
  }
  return file;
}
