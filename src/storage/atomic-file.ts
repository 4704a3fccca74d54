// Write to a temporary, then put it into place: the one way mmrun makes a file appear
// whole or not at all (a new segment, a grown segment, an export's output, a chart). The
// temporary is hidden beside the file (same directory: same file system, so the rename or
// link is atomic), fsynced before it is put into place, and the directory is fsynced
// after, so that the name survives a power loss too.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** How {@link AtomicFile.commit} treats a file already under the name. */
export interface PlaceOptions {
  /**
   * `true`: renamed over it (a chart, a grown segment, `export --force`); `false`: linked
   * into place, and an existing file makes commit throw the EEXIST error, untouched (a new
   * segment, an export without --force).
   */
  readonly overwrite: boolean;
  /** Called once the temporary is durable, just before it is put into place (a fault point). */
  readonly beforePlace?: () => void;
}

/** How the temporary is named. */
export interface TemporaryOptions {
  /**
   * `unique` (default): `.<name>.<pid>.<random>.tmp`. `per-process`: `.<name>.<pid>.tmp`,
   * a stale one of this process removed first — the name a run's segments use, which
   * resume recognizes and removes after a crash.
   */
  readonly temporary?: 'unique' | 'per-process';
}

/** fsyncs a directory (its entries: a created, renamed or removed name). */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A file being written under a hidden temporary name, until it is committed or discarded. */
export class AtomicFile {
  /** The name it gets on commit. */
  readonly file: string;
  /** The temporary beside it. */
  readonly tmp: string;
  #fd: number;

  /**
   * Creates the temporary (exclusively: it never takes over another's).
   * @throws the fs error if the directory cannot be written
   */
  constructor(file: string, options: TemporaryOptions = {}) {
    this.file = file;
    const perProcess = options.temporary === 'per-process';
    const unique = perProcess ? '' : `.${randomBytes(4).toString('hex')}`;
    this.tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}${unique}.tmp`);
    // perProcessTemporary() below matches this name: change both together.
    if (perProcess) fs.rmSync(this.tmp, { force: true });
    this.#fd = fs.openSync(this.tmp, 'wx');
  }

  /** The temporary's descriptor, open for writing until commit or discard. */
  get fd(): number {
    if (this.#fd < 0) throw new Error(`${this.tmp} is closed`);
    return this.#fd;
  }

  #close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    fs.closeSync(fd);
  }

  /**
   * fsyncs and closes the temporary, puts it into place (see {@link PlaceOptions}) and
   * fsyncs the directory. On failure the temporary is removed and the error thrown.
   */
  commit(options: PlaceOptions): void {
    try {
      fs.fsyncSync(this.fd);
      options.beforePlace?.();
      this.#close();
      if (options.overwrite) {
        fs.renameSync(this.tmp, this.file);
      } else {
        fs.linkSync(this.tmp, this.file);
        fs.rmSync(this.tmp, { force: true });
      }
    } catch (error) {
      this.discard();
      throw error;
    }
    fsyncDir(path.dirname(this.file));
  }

  /** Closes and removes the temporary (nothing appears under the name). */
  discard(): void {
    try {
      this.#close();
    } finally {
      fs.rmSync(this.tmp, { force: true });
    }
  }
}

/**
 * Writes `file` whole or not at all: `fill` writes the temporary (through its descriptor),
 * then it is committed with `options`; on any failure the temporary is removed and the
 * error thrown (an fs error as it came: the caller words it).
 */
export function writeFileAtomically(
  file: string,
  fill: Uint8Array | ((fd: number, tmp: string) => void),
  options: PlaceOptions & TemporaryOptions,
): void {
  const out = new AtomicFile(file, options);
  try {
    if (typeof fill === 'function') fill(out.fd, out.tmp);
    else fs.writeFileSync(out.fd, fill);
  } catch (error) {
    out.discard();
    throw error;
  }
  out.commit(options);
}

/** Whether an error is an existing file refused by {@link PlaceOptions.overwrite} `false`. */
export function isFileExists(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EEXIST';
}

/**
 * Matches the per-process temporary ({@link TemporaryOptions} `temporary: 'per-process'`)
 * of any file whose name `base` matches (a regular expression source, without anchors):
 * `.<name>.<pid>.tmp`, the name {@link AtomicFile} gives it.
 */
export function perProcessTemporary(base: string): RegExp {
  return new RegExp(`^\\.${base}\\.\\d+\\.tmp$`);
}
