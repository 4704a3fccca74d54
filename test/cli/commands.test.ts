// The command table (src/cli/command-table.ts) lists every command for `--help` without
// loading its module: it must say what the module itself says.
import { describe, expect, it } from 'vitest';
import { COMMANDS, commandWord } from '../../src/cli/command-table.ts';

describe('the command table', () => {
  it.each(Object.keys(COMMANDS))('%s: the same command string and description as its module', async (name) => {
    const entry = COMMANDS[name]!;
    const module = await entry.load();
    expect(module.command).toBe(entry.command);
    expect(module.describe).toBe(entry.describe);
    expect(String(module.command).split(' ')[0]).toBe(name);
  });

  it.each([
    [['list'], 'list'],
    [['--runs-dir', 'x', 'show', 'id'], 'show'],
    [['-v', 'run', 'pi'], 'run'],
    [['--verbose', '--runs-dir=/r', 'list'], 'list'],
    [['--help'], undefined],
    [[], undefined],
  ])('the command of %j is %s', (args, word) => {
    expect(commandWord(args)).toBe(word);
  });
});
