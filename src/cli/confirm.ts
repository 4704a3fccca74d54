import { createInterface } from 'node:readline/promises';
import { MmrunError } from '../errors.ts';

/**
 * Asks a yes/no question on the terminal. Without a terminal there is nobody to ask: the
 * caller must have been given --yes.
 */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new MmrunError('USAGE', `${question} — no terminal to ask on`, { remedy: 'pass --yes to confirm' });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
