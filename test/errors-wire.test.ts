// One wire format for errors crossing threads (shards, stats readers, sweep points).
import { describe, expect, it } from 'vitest';
import { errorFromWire, errorToWire, MmrunError, mmrunErrorFromWire } from '../src/errors.ts';

describe('errors across threads', () => {
  it('an MmrunError comes back with its class, code, message, remedy and stack', () => {
    const sent = new MmrunError('STEP_FAILED', 'boom at 50', { remedy: 'fix it' });
    const wire = structuredClone(errorToWire(sent));
    const back = errorFromWire(wire);
    expect(back).toBeInstanceOf(MmrunError);
    expect(back).toMatchObject({ code: 'STEP_FAILED', message: 'boom at 50', remedy: 'fix it' });
    expect(back.stack).toBe(sent.stack);
  });

  it('any other error keeps its name and message; as an MmrunError it is an IO_ERROR', () => {
    const wire = structuredClone(errorToWire(new RangeError('out of range')));
    const back = errorFromWire(wire);
    expect(back).not.toBeInstanceOf(MmrunError);
    expect([back.name, back.message]).toEqual(['RangeError', 'out of range']);
    expect(mmrunErrorFromWire(wire)).toMatchObject({ code: 'IO_ERROR', message: 'out of range' });
    expect(errorFromWire(structuredClone(errorToWire('a string'))).message).toBe('a string');
  });
});
