import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { MmrunError } from '../errors.ts';
import { AtomicFile, isFileExists } from '../storage/atomic-file.ts';
import type { OutputChunk } from './formats/encoder.ts';

/** Where an export's bytes go: written in order with backpressure, then committed or aborted. */
export interface Destination {
  /** Resolves once `chunk` is accepted and the stream's buffer has room again. */
  write(chunk: OutputChunk): Promise<void>;
  /** Makes the output final: everything flushed; a file fsynced and renamed into place. */
  commit(): Promise<void>;
  /** Gives up: a file's temporary is removed; nothing appears under the final name. */
  abort(): Promise<void>;
  /** Bytes written so far. */
  readonly bytes: number;
}

const interrupted = (signal: AbortSignal): MmrunError =>
  new MmrunError('EXPORT_INTERRUPTED', `export interrupted by ${String(signal.reason ?? 'an abort')}`, {
    remedy: 'nothing was left behind; run the export again',
  });

/** Throws EXPORT_INTERRUPTED if `signal` has fired. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interrupted(signal);
}

/**
 * Writes to a stream with backpressure: after a write the stream's buffer is over its
 * high-water mark, waits for 'drain' (or the stream's error, or the abort signal).
 */
class StreamWriter {
  readonly #stream: Writable;
  readonly #signal: AbortSignal | undefined;
  // Names the output in messages, e.g. "/tmp/x.csv" or "the output stream".
  readonly #name: string;
  // The stream's first error; every later write throws it.
  #error: Error | undefined;
  bytes = 0;

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
  };

  constructor(stream: Writable, name: string, signal: AbortSignal | undefined) {
    this.#stream = stream;
    this.#name = name;
    this.#signal = signal;
    stream.on('error', this.#onError);
  }

  /** Stops listening to the stream (which the caller may keep using). */
  release(): void {
    this.#stream.off('error', this.#onError);
  }

  check(): void {
    if (this.#error) throw ioError(this.#error, `cannot write ${this.#name}`, 'check free disk space and permissions');
    checkAborted(this.#signal);
  }

  async write(chunk: OutputChunk): Promise<void> {
    this.check();
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (this.#stream.write(chunk)) return;
    await this.#wait('drain');
  }

  /** Resolves once everything written so far has been handed to the OS. */
  async flush(): Promise<void> {
    this.check();
    await new Promise<void>((resolve, reject) => {
      this.#stream.write('', (err) => (err ? reject(err) : resolve()));
    }).catch((err) => {
      this.#error ??= err;
    });
    this.check();
  }

  #wait(event: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.#stream.off(event, done);
        this.#stream.off('error', done);
        this.#stream.off('close', done);
        this.#signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#stream.on(event, done);
      this.#stream.on('error', done);
      this.#stream.on('close', done);
      this.#signal?.addEventListener('abort', done);
    }).then(() => this.check());
  }
}

/**
 * A stream the caller owns, such as `process.stdout`: written with backpressure, flushed
 * on commit, never ended (the caller may write more, and stdout must stay open).
 */
export function streamDestination(stream: Writable, signal?: AbortSignal): Destination {
  const writer = new StreamWriter(stream, 'the output stream', signal);
  return {
    write: (chunk) => writer.write(chunk),
    commit: async () => {
      await writer.flush();
      writer.release();
    },
    abort: async () => writer.release(),
    get bytes() {
      return writer.bytes;
    },
  };
}

/**
 * A file that appears under its name only when complete: written to a hidden temporary in
 * the same directory, fsynced, then linked into place (refused if the name exists, unless
 * `force`, which renames over it). On abort or failure the temporary is removed.
 * @throws MmrunError `OUTPUT_EXISTS` when the file exists and `force` is not set, `IO_ERROR`
 * when the directory cannot be written.
 */
export function fileDestination(file: string, options: { force: boolean; signal?: AbortSignal }): Destination {
  checkOutputPath(file, options.force);
  let out: AtomicFile;
  try {
    out = new AtomicFile(file);
  } catch (cause) {
    const dir = path.dirname(file);
    throw ioError(cause, `cannot create a temporary file in ${dir}`, 'check that the directory exists and is writable');
  }
  // The stream writes through the temporary's descriptor, which the AtomicFile closes.
  const stream = fs.createWriteStream(out.tmp, { fd: out.fd, autoClose: false, highWaterMark: 1 << 20 });
  const writer = new StreamWriter(stream, file, options.signal);
  let open = true;
  const end = async (): Promise<void> => {
    if (!open) return;
    open = false;
    if (!stream.destroyed) await new Promise<void>((resolve) => stream.end(() => resolve()));
  };
  const abort = async (): Promise<void> => {
    try {
      await end();
    } finally {
      out.discard();
    }
  };
  return {
    write: (chunk) => writer.write(chunk),
    get bytes() {
      return writer.bytes;
    },
    async commit() {
      try {
        await writer.flush();
        await end();
        // Linked into place unless --force: a file that appeared meanwhile is left alone.
        out.commit({ overwrite: options.force });
      } catch (err) {
        await abort();
        if (!options.force && isFileExists(err)) {
          throw new MmrunError('OUTPUT_EXISTS', `${file} appeared while exporting; it was left untouched`, {
            cause: err,
            remedy: 'pass --force to replace it, or --out another file',
          });
        }
        throw err instanceof MmrunError ? err : ioError(err, `cannot write ${file}`, 'check free disk space');
      }
    },
    abort,
  };
}

/** Refuses an output path that exists (unless `force`) or names a directory. */
export function checkOutputPath(file: string, force: boolean): void {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file);
  } catch {
    return;
  }
  if (stat.isDirectory()) {
    throw new MmrunError('OUTPUT_EXISTS', `${file} is a directory`, {
      remedy: 'pass --out with a file name, e.g. --out results.csv',
    });
  }
  if (!force) {
    throw new MmrunError('OUTPUT_EXISTS', `${file} already exists; mmrun export never overwrites a file`, {
      remedy: 'pass --force to replace it, or --out another file',
    });
  }
}

function ioError(cause: unknown, what: string, remedy: string): MmrunError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new MmrunError('DISK_FULL', `${what}: no space left on the device`, {
      cause,
      remedy: 'free disk space or export to another disk (--out)',
    });
  }
  return new MmrunError('IO_ERROR', `${what}: ${(cause as Error).message}`, { cause, remedy });
}
