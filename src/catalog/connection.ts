// The catalog's SQLite connections: one opened to write (pragmas, migrations), one opened
// to read (never writing, never taking the write lock), the one schema check both share,
// and the errors a bad file or directory gives.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MmrunError } from '../errors.ts';
import { crashPoint } from '../faults.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';

/** The name of the catalog file in a runs directory. */
export const CATALOG_FILE = 'mmrun.sqlite';

/** The time as the catalog stores it (ISO 8601, UTC). */
export const now = (): string => new Date().toISOString();

/**
 * One SQLite connection to a catalog, with its statements prepared once per SQL text (a
 * flush runs the same few every time) and its two kinds of transaction.
 */
export class Connection {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(file: string, db: Database.Database) {
    this.file = file;
    this.#db = db;
  }

  stmt(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `fn` in an IMMEDIATE transaction: the write lock is taken first (nested: a savepoint). */
  write<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  /** Runs `fn` in one read transaction, ended when `fn` returns: what it reads is one snapshot. */
  read<T>(fn: () => T): T {
    return this.#db.transaction(fn).deferred();
  }

  /** A number that changes whenever another connection commits (`PRAGMA data_version`). */
  dataVersion(): number {
    return this.stmt('PRAGMA data_version').pluck().get() as number;
  }

  /** The schema version the file is at. */
  schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/**
 * Thrown when a reader finds a catalog of an older schema, which only a writer may migrate
 * (a catalog no writer of this mmrun has opened yet, so none of its runs is live). A reader
 * that may write instead opens it the ordinary way (`query.ts`), which migrates it.
 */
export class OlderSchema extends MmrunError {
  readonly file: string;
  readonly version: number;

  constructor(file: string, version: number) {
    super('CATALOG_INVALID', `${file} has schema version ${version} but this mmrun reads version ${SCHEMA_VERSION}`, {
      remedy: 'run any writing mmrun command on it (e.g. `mmrun list`), which migrates it, then read it again',
    });
    this.file = file;
    this.version = version;
  }
}

/**
 * The schema check of every open: a newer schema is refused by both; an older one is
 * migrated by a writer, refused ({@link OlderSchema}) by a reader. Returns the version.
 * @throws MmrunError `CATALOG_TOO_NEW`, {@link OlderSchema}
 */
function checkSchema(db: Database.Database, file: string, mode: 'write' | 'read'): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new MmrunError(
      'CATALOG_TOO_NEW',
      `${file} has schema version ${version} but this mmrun understands up to ${SCHEMA_VERSION}`,
      { remedy: 'use the newer mmrun that wrote this catalog' },
    );
  }
  if (mode === 'read' && version < SCHEMA_VERSION) throw new OlderSchema(file, version);
  return version;
}

/**
 * Opens (creating if needed) the catalog of a runs directory to write: WAL with
 * synchronous=FULL (a committed checkpoint survives power loss), foreign keys on, migrated
 * to the current schema. A file that is not SQLite, or of a newer schema, is refused untouched.
 */
export function openToWrite(runsDir: string, options: { create?: boolean } = {}): Connection {
  const file = path.join(runsDir, CATALOG_FILE);
  if (options.create !== false) ensureWritableDir(runsDir);
  else if (!fs.existsSync(file)) {
    throw new MmrunError('CATALOG_INVALID', `no catalog at ${file}`, {
      remedy: 'check --runs-dir (or $MMRUN_RUNS_DIR); `mmrun run` creates the catalog',
    });
  }
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 10_000 });
  } catch (cause) {
    throw catalogError(cause, file);
  }
  try {
    checkSchema(db, file, 'write');
    if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return new Connection(file, db);
  } catch (cause) {
    db.close();
    throw catalogError(cause, file);
  }
}

/**
 * Opens the catalog file of a runs directory to read, at the current schema (see
 * {@link readConnection}).
 * @throws MmrunError `CATALOG_TOO_NEW`, `CATALOG_INVALID`; {@link OlderSchema}
 */
export function openToRead(runsDir: string): Connection {
  const file = path.join(runsDir, CATALOG_FILE);
  let db: Database.Database;
  try {
    db = readConnection(file, runsDir);
  } catch (cause) {
    throw unreadable(file, cause);
  }
  try {
    checkSchema(db, file, 'read');
    return new Connection(file, db);
  } catch (error) {
    db.close();
    throw error instanceof MmrunError ? error : unreadable(file, error);
  }
}

/**
 * A connection that only ever reads. Read-only when another process has the catalog open
 * (its `-wal` file exists: SQLite removes it when the last connection closes). When no one
 * has, an ordinary connection that only reads: a read-only one would create the `-wal` and
 * `-shm` files and could not remove them, an ordinary one removes them when it closes, so a
 * read leaves the runs directory as it found it. Neither writes or takes the write lock.
 */
function readConnection(file: string, runsDir: string): Database.Database {
  const options = { fileMustExist: true, timeout: 2000 };
  if (!noOneHasItOpen(runsDir)) return new Database(file, { ...options, readonly: true });
  try {
    return new Database(file, options);
  } catch {
    return new Database(file, { ...options, readonly: true }); // e.g. a file we may not write
  }
}

/** Whether no process has the catalog open: it exists, and its `-wal` file does not. */
export function noOneHasItOpen(runsDir: string): boolean {
  return !fs.existsSync(path.join(runsDir, `${CATALOG_FILE}-wal`)) && fs.existsSync(path.join(runsDir, CATALOG_FILE));
}

/**
 * A strictly read-only connection for a one-off look (a hint, or whether an id is a sweep)
 * that must not even open the catalog for use; undefined if there is no catalog file.
 */
export function peekConnection(runsDir: string, timeout: number): Database.Database | undefined {
  const file = path.join(runsDir, CATALOG_FILE);
  if (!fs.existsSync(file)) return undefined;
  return new Database(file, { readonly: true, fileMustExist: true, timeout });
}

function migrate(db: Database.Database): void {
  db.transaction(() => {
    // Re-read inside the write lock: another process may have migrated meanwhile.
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v]!);
      crashPoint('migration');
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
}

function ensureWritableDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (cause) {
    throw new MmrunError(
      'RUNS_DIR_NOT_WRITABLE',
      `runs directory ${dir} is not writable (${(cause as Error).message})`,
      {
        cause,
        remedy: 'choose another --runs-dir (or $MMRUN_RUNS_DIR), or fix its permissions',
      },
    );
  }
}

function catalogError(cause: unknown, file: string): MmrunError {
  if (cause instanceof MmrunError) return cause;
  const code = (cause as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new MmrunError(
      'CATALOG_INVALID',
      `${file} is not an mmrun catalog (SQLite says: ${(cause as Error).message})`,
      {
        cause,
        remedy: 'point --runs-dir at a runs directory, or move that file away',
      },
    );
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return new MmrunError('RUNS_DIR_NOT_WRITABLE', `cannot write ${file} (${(cause as Error).message})`, {
      cause,
      remedy: 'choose another --runs-dir (or $MMRUN_RUNS_DIR), or fix its permissions',
    });
  }
  return new MmrunError('CATALOG_INVALID', `cannot open ${file}: ${(cause as Error).message}`, {
    cause,
    remedy: 'check the file and its directory',
  });
}

function unreadable(file: string, cause: unknown): MmrunError {
  return new MmrunError('CATALOG_INVALID', `cannot read ${file}: ${(cause as Error).message}`, {
    cause,
    remedy: 'check the file and its directory (a reader needs read access to it and its -wal and -shm files)',
  });
}
