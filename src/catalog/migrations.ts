/**
 * The catalog's schema, as an ordered list of migrations. Migration k takes the schema
 * from version k to k + 1 (`PRAGMA user_version`). Append only: never edit a migration
 * that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 0 → 1: runs, checkpoints, events.
  `
  CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    experiment      TEXT NOT NULL,
    experiment_path TEXT NOT NULL,
    source_hash     TEXT NOT NULL,
    params          TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    iterations      INTEGER NOT NULL,
    columns         TEXT NOT NULL,
    dtype           TEXT NOT NULL,
    itemsize        INTEGER NOT NULL,
    segment_rows    INTEGER NOT NULL,
    flush_every     INTEGER NOT NULL,
    flush_interval  REAL NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'interrupted', 'crashed', 'failed', 'completed')),
    owner_pid       INTEGER,
    owner_start     TEXT,
    owner_boot      TEXT,
    owner_host      TEXT,
    error           TEXT,
    error_iteration INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
  ) STRICT;

  CREATE TABLE checkpoints (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    flushed_index INTEGER NOT NULL,
    state         BLOB,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
  ) STRICT;

  CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    type    TEXT NOT NULL,
    at      TEXT NOT NULL,
    pid     INTEGER,
    data    TEXT
  ) STRICT;
  CREATE INDEX events_by_run ON events (run_id, type, id);
  `,
  // 1 → 2: a checksum of every flushed range; the owner's heartbeat.
  `
  CREATE TABLE checksums (
    run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    start_row INTEGER NOT NULL,
    end_row   INTEGER NOT NULL,
    crc32c    INTEGER NOT NULL,
    PRIMARY KEY (run_id, start_row)
  ) STRICT, WITHOUT ROWID;

  ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
  `,
  // 2 → 3: sharded runs (\`--workers K\`). Each shard is a contiguous range of rows with its
  // own flushed index and state. For a sharded run, \`checkpoints\` keeps the history of
  // rows done over all shards (state NULL) — the rate — while \`shards\` holds the truth.
  `
  ALTER TABLE runs ADD COLUMN workers INTEGER NOT NULL DEFAULT 1;

  CREATE TABLE shards (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    shard         INTEGER NOT NULL,
    start_row     INTEGER NOT NULL,
    end_row       INTEGER NOT NULL,
    flushed_index INTEGER NOT NULL,
    state         BLOB,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, shard),
    CHECK (start_row <= flushed_index AND flushed_index <= end_row)
  ) STRICT;
  `,
  // 3 → 4: a run of one shard of a job split across machines (\`--shard I/N\`): its rows are
  // iterations [first_iteration, first_iteration + iterations) of a job of job_iterations;
  // \`mmrun merge\` puts the shards back together.
  `
  ALTER TABLE runs ADD COLUMN shard_index INTEGER;
  ALTER TABLE runs ADD COLUMN shard_count INTEGER;
  ALTER TABLE runs ADD COLUMN first_iteration INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN job_iterations INTEGER;
  `,
  // 4 → 5: sweeps (\`mmrun sweep\`): a spec, an owner like a run's, and its points, each an
  // ordinary run (run_id) with its params and seed; the run row appears when the point starts.
  `
  CREATE TABLE sweeps (
    id              TEXT PRIMARY KEY,
    experiment      TEXT NOT NULL,
    experiment_path TEXT NOT NULL,
    source_hash     TEXT NOT NULL,
    spec            TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'interrupted', 'crashed', 'failed', 'completed')),
    owner_pid       INTEGER,
    owner_start     TEXT,
    owner_boot      TEXT,
    owner_host      TEXT,
    heartbeat_at    TEXT,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
  ) STRICT;

  CREATE TABLE sweep_points (
    sweep_id TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    params   TEXT NOT NULL,
    seed     INTEGER NOT NULL,
    run_id   TEXT NOT NULL UNIQUE,
    PRIMARY KEY (sweep_id, idx)
  ) STRICT;
  `,
  // 5 → 6: the code fingerprint of a run (src/fingerprint/): its parts as JSON. A run made
  // before has none; its source_hash (the experiment file alone) is what resume compares.
  `
  CREATE TABLE fingerprints (
    run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    parts  TEXT NOT NULL
  ) STRICT;
  `,
];

/** The schema version this build of mmrun writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
