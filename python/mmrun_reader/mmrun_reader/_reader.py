"""Snapshots of mmrun runs: the catalog read in one read-only transaction, the segments
mapped read-only with ``np.load(path, mmap_mode="r")``, only rows below the flushed index.
"""
import ast
import json
import mmap
import os
import socket
import sqlite3
import time

import numpy as np

CATALOG_FILE = "mmrun.sqlite"

#: Catalog schema versions (``PRAGMA user_version``) this reader understands. It reads only
#: tables and columns that exist since version 3 (``runs``, ``checkpoints``, ``shards``), so
#: a later migration that only ADDS tables or columns needs nothing but a larger maximum here.
#: Version 5 added sweeps (``sweeps``, ``sweep_points``), 6 code fingerprints; mmrun writes 6.
#: A migration that renames, drops or changes the meaning of what is read here must
#: instead be handled in this module.
MIN_SCHEMA_VERSION = 3
MAX_SCHEMA_VERSION = 6


class MmrunReaderError(Exception):
    """What went wrong and how to fix it; ``code`` matches mmrun's error codes."""

    def __init__(self, code, message, remedy=None):
        self.code = code
        self.remedy = remedy
        super().__init__(f"{code}: {message}" + (f"; {remedy}" if remedy else ""))


def _connect(runs_dir):
    """A read-only connection (mode=ro: it can never take a write lock) in autocommit mode,
    so no read transaction stays open after a snapshot is read."""
    path = os.path.join(os.path.abspath(runs_dir), CATALOG_FILE)
    if not os.path.exists(path):
        raise MmrunReaderError(
            "RUN_NOT_FOUND",
            f"{runs_dir} has no catalog ({CATALOG_FILE})",
            "check the runs directory (mmrun's --runs-dir or $MMRUN_RUNS_DIR)",
        )
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=2.0)
        version = con.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as e:
        raise MmrunReaderError("CATALOG_INVALID", f"cannot read {path}: {e}", "check the file and its directory")
    if not MIN_SCHEMA_VERSION <= version <= MAX_SCHEMA_VERSION:
        con.close()
        newer = version > MAX_SCHEMA_VERSION
        raise MmrunReaderError(
            "CATALOG_TOO_NEW" if newer else "CATALOG_TOO_OLD",
            f"{path} has schema version {version}; this mmrun_reader reads versions "
            f"{MIN_SCHEMA_VERSION} to {MAX_SCHEMA_VERSION}",
            "install the mmrun_reader of the mmrun that wrote it (python/mmrun_reader in its repository)"
            if newer
            else "open it once with a current mmrun (e.g. `mmrun list`), which migrates it",
        )
    return con, version


def _table_exists(con, name):
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


_RUN_SQL = """
SELECT id, experiment, status, iterations, seed, params, columns, dtype, itemsize, segment_rows, workers,
       owner_pid, owner_start, owner_boot, owner_host, heartbeat_at, updated_at,
       (SELECT flushed_index FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1),
       (SELECT created_at FROM checkpoints c WHERE c.run_id = runs.id ORDER BY seq DESC LIMIT 1)
FROM runs WHERE id = ?"""


def _read_run(con, run_id, transaction=True):
    """The run, its latest checkpoint and its shards, in one read transaction (or in the
    caller's)."""
    if transaction:
        con.execute("BEGIN")
    try:
        row = con.execute(_RUN_SQL, (run_id,)).fetchone()
        shards = []
        if row is not None and row[10] > 1:
            shards = con.execute(
                "SELECT start_row, end_row, flushed_index FROM shards WHERE run_id = ? ORDER BY shard", (run_id,)
            ).fetchall()
    finally:
        if transaction:
            con.execute("COMMIT")
    if row is None:
        raise MmrunReaderError("RUN_NOT_FOUND", f"no run '{run_id}' in the catalog", "`mmrun list` shows the runs")
    return row, shards


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def _start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split(" ")
    return None if fields[0] in ("Z", "X") else fields[19]


def _owner_dead(pid, start, boot, host, heartbeat_at):
    """Whether a running run's owner is gone (as mmrun decides it; see catalog/ownership.ts)."""
    if pid is None:
        return True
    if host != socket.gethostname():
        if not heartbeat_at:
            return True
        then = np.datetime64(heartbeat_at.rstrip("Z"), "ms").astype("int64") / 1000.0
        return time.time() - then > 60.0
    if boot != _boot_id():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return _start_time(pid) != start


class Segment:
    """The rows of one segment file in a snapshot: ``array`` is a read-only view into the
    segment's mapping (no copy)."""

    __slots__ = ("index", "path", "first_row", "rows", "array")

    def __init__(self, index, path, first_row, array):
        self.index = index
        self.path = path
        self.first_row = first_row
        self.rows = len(array)
        self.array = array

    def __repr__(self):
        return f"Segment({self.index}, rows {self.first_row}..{self.first_row + self.rows})"


class RunSnapshot:
    """A run as of one read of its catalog: rows ``[0, flushed_rows)`` (and, for a sharded
    run, each shard's flushed prefix: ``flushed_ranges``), which the writer never changes
    again. Holds no lock and no transaction; ``refresh()`` gives a newer snapshot."""

    def __init__(self, runs_dir, run_id, _con=None, _read=None, _maps=None, _behind=None):
        self.runs_dir = os.path.abspath(runs_dir)
        self.run_id = run_id
        if _read is not None:
            version, row, shards = _read
        else:
            con, version = _con if _con is not None else _connect(runs_dir)
            try:
                row, shards = _read_run(con, run_id)
            finally:
                if _con is None:
                    con.close()
        self.schema_version = version
        (
            _,
            self.experiment,
            status,
            self.iterations,
            self.seed,
            params,
            columns,
            descr,
            self.itemsize,
            self.segment_rows,
            self.workers,
            pid,
            start,
            boot,
            host,
            heartbeat_at,
            self.updated_at,
            flushed,
            self.last_flush_at,
        ) = row
        self.params = json.loads(params)
        self.columns = json.loads(columns)
        self.dtype = np.dtype(ast.literal_eval(descr))
        if status == "running" and _owner_dead(pid, start, boot, host, heartbeat_at):
            status = "crashed"  # detected here, recorded by the next mmrun that looks
        self.status = status
        self.owner_pid = pid if status == "running" else None
        self._owner = (start, boot, host, heartbeat_at)
        if self.workers > 1:
            parts = [(a, f) for a, _, f in shards]
            unfinished = [f for _, e, f in shards if f < e]
            self.flushed_rows = min(unfinished) if unfinished else self.iterations
        else:
            parts = [(0, flushed or 0)]
            self.flushed_rows = flushed or 0
        self.flushed_ranges = _join(parts)
        # Segment mappings, shared with the snapshots refresh() and follow() make from this one:
        # a segment is loaded once, not at every poll.
        self._maps = {} if _maps is None else _maps
        # Drops the pages of rows older than the chain's previous snapshot (see _ReadBehind).
        self._behind = _ReadBehind() if _behind is None else _behind
        self._behind.advance(self.flushed_rows, self._maps, self.segment_rows, self.itemsize)

    @property
    def live(self):
        """Whether the run was being written when this snapshot was read."""
        return self.status == "running"

    def __repr__(self):
        return (
            f"RunSnapshot({self.run_id!r}, {self.status}, flushed_rows={self.flushed_rows} "
            f"of {self.iterations}, ranges={self.flushed_ranges})"
        )

    def _segment_map(self, k):
        m = self._maps.get(k)
        if m is None:
            path = os.path.join(self.runs_dir, self.run_id, f"{k:06d}.npy")
            try:
                m = np.load(path, mmap_mode="r")
            except FileNotFoundError:
                raise MmrunReaderError(
                    "SEGMENT_MISSING", f"{path} is missing but the catalog says it holds flushed rows",
                    "restore it, or run `mmrun verify` on the run",
                )
            if m.dtype != self.dtype:
                raise MmrunReaderError(
                    "DTYPE_MISMATCH", f"{path} has dtype {m.dtype} but the catalog says {self.dtype}",
                    "the segment was replaced; restore it or recompute the run",
                )
            self._maps[k] = m
        return m

    def range_segments(self, start, end):
        """The segments holding rows [start, end) of this snapshot, each a view cut to the range.
        The range must lie within one of ``flushed_ranges``."""
        if not (0 <= start <= end):
            raise ValueError(f"row range {start}:{end} is not a range of non-negative integers")
        if start < end and not any(a <= start and end <= b for a, b in self.flushed_ranges):
            raise ValueError(f"row range {start}:{end} is not within the flushed rows {self.flushed_ranges}")
        out = []
        row = start
        while row < end:
            k = row // self.segment_rows
            first = k * self.segment_rows
            stop = min(end, first + self.segment_rows)
            m = self._segment_map(k)
            if stop - first > len(m):  # mapped before `resume --iterations` grew it
                del self._maps[k]
                m = self._segment_map(k)
            if stop - first > len(m):
                raise MmrunReaderError(
                    "SIZE_MISMATCH", f"segment {k} holds {len(m)} rows but rows up to {stop} are flushed", None
                )
            out.append(Segment(k, m.filename, row, m[row - first : stop - first]))
            row = stop
        return out

    def segments(self):
        """One read-only view per segment over rows [0, flushed_rows), in row order."""
        return self.range_segments(0, self.flushed_rows)

    def rows(self, start, end):
        """Rows [start, end) as one structured array: a view if they lie in one segment, else a copy."""
        parts = [s.array for s in self.range_segments(start, end)]
        if not parts:
            return np.empty(0, dtype=self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def array(self):
        """Rows [0, flushed_rows) as one structured array (a view if one segment, else a copy)."""
        return self.rows(0, self.flushed_rows)

    def to_pandas(self):
        """Rows [0, flushed_rows) as a pandas DataFrame; a vector column ``v`` becomes ``v[0]``, ``v[1]``, ...
        Needs pandas."""
        return to_pandas(self.array())

    def refresh(self):
        """A new snapshot of the run, at least as new as this one. The pages of rows this
        snapshot held are dropped from this process's mappings (never the data: reading
        them again faults them back in), so a follower does not keep the writer's flushed
        pages in memory."""
        return RunSnapshot(self.runs_dir, self.run_id, _maps=self._maps, _behind=self._behind)

    def follow(self, interval=0.1, timeout=None, from_start=False, until_completed=False):
        """Yields ``(start, end, snapshot)`` for each range of rows flushed after this snapshot
        (with ``from_start``, the rows already in it first), until the run stops running
        (completed, interrupted, failed or crashed; with ``until_completed``, only completed
        or failed: a resume continues the rows) or ``timeout`` seconds pass. Polls the
        catalog cheaply (``PRAGMA data_version``; the run is re-read only after a commit)
        and holds no read transaction between polls."""
        known = [] if from_start else list(self.flushed_ranges)
        snap = self
        deadline = None if timeout is None else time.monotonic() + timeout
        con, version = _connect(self.runs_dir)
        try:
            seen = con.execute("PRAGMA data_version").fetchone()[0]
            for start, end in _subtract(snap.flushed_ranges, known):
                yield start, end, snap
            known = list(snap.flushed_ranges)
            go_on = ("running", "crashed", "interrupted") if until_completed else ("running",)
            while snap.status in go_on:
                if deadline is not None and time.monotonic() > deadline:
                    return
                time.sleep(interval)
                now = con.execute("PRAGMA data_version").fetchone()[0]
                # Without a commit nothing changed, unless the writer died (it commits nothing).
                if now == seen and (not snap.live or not _owner_dead(snap.owner_pid, *snap._owner)):
                    continue
                seen = now
                snap = RunSnapshot(
                    self.runs_dir, self.run_id, _con=(con, version), _maps=self._maps, _behind=self._behind
                )
                for start, end in _subtract(snap.flushed_ranges, known):
                    yield start, end, snap
                known = list(snap.flushed_ranges)
        finally:
            con.close()



class _ReadBehind:
    """Read-behind for a chain of snapshots (``refresh()``, ``follow()``) sharing their segment
    mappings: when a snapshot is made, the pages holding only rows before the previous
    snapshot's end are dropped from this process (``MADV_DONTNEED``). A page another process
    maps is one the writer's drop-behind (``MADV_PAGEOUT`` of flushed pages) skips, so a
    follower that kept every page it read mapped kept the writer's page cache growing. The
    pages stay in the page cache (or on disk); reading them again brings the same bytes."""

    def __init__(self):
        self.end = 0
        self.released = {}  # segment -> (its mmap, bytes of it dropped)

    def advance(self, end, maps, segment_rows, itemsize):
        before = self.end
        self.end = max(before, end)
        if before == 0 or not hasattr(mmap, "MADV_DONTNEED"):
            return
        for k, m in list(maps.items()):
            first = k * segment_rows
            mm = getattr(m, "_mmap", None)  # np.memmap's mapping, which starts page-aligned
            if first >= before or mm is None:
                continue
            base = m.offset % mmap.ALLOCATIONGRANULARITY  # where row 0 lies in the mapping
            to = (base + min(before - first, len(m)) * itemsize) // mmap.PAGESIZE * mmap.PAGESIZE
            held, done = self.released.get(k, (None, 0))
            if held is not mm:
                done = 0
            if to > done:
                try:
                    mm.madvise(mmap.MADV_DONTNEED, done, to - done)
                except (OSError, ValueError):
                    return  # the kernel refused: keep the pages, as before
                self.released[k] = (mm, to)


def _join(parts):
    out = []
    for a, b in parts:
        if b <= a:
            continue
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _subtract(now, before):
    out = []
    for a, b in now:
        start = a
        for c, d in before:
            if d <= start or c >= b:
                continue
            if c > start:
                out.append((start, c))
            start = max(start, d)
        if start < b:
            out.append((start, b))
    return out


def to_pandas(rows):
    """A structured array as a pandas DataFrame, vector columns expanded to ``name[k]``."""
    try:
        import pandas as pd
    except ImportError:
        raise MmrunReaderError("USAGE", "to_pandas() needs pandas", "pip install pandas (or apt-get install python3-pandas)")
    columns = {}
    for name in rows.dtype.names:
        col = rows[name]
        if col.ndim == 1:
            columns[name] = np.asarray(col)
        else:
            for k in range(col.shape[1]):
                columns[f"{name}[{k}]"] = np.asarray(col[:, k])
    return pd.DataFrame(columns)


def open_run(runs_dir, run_id):
    """A snapshot of run ``run_id`` in ``runs_dir`` (the directory that holds mmrun.sqlite)."""
    return RunSnapshot(runs_dir, run_id)


class SweepSnapshot:
    """A sweep's points as of one read transaction of the catalog: ``points`` holds a
    :class:`RunSnapshot` per point (each point is an ordinary run), in the sweep's order.
    Needs a catalog with sweeps (a ``sweep_points`` table); refuses one without."""

    def __init__(self, runs_dir, sweep_id):
        self.runs_dir = os.path.abspath(runs_dir)
        self.sweep_id = sweep_id
        con, version = _connect(runs_dir)
        try:
            if not _table_exists(con, "sweep_points"):
                raise MmrunReaderError(
                    "RUN_NOT_FOUND",
                    f"no sweep '{sweep_id}': this catalog (schema version {version}) has no sweeps",
                    "check the id (`mmrun list`); sweeps are written by `mmrun sweep`",
                )
            if _table_exists(con, "sweeps") and con.execute(
                "SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)
            ).fetchone() is None:
                raise MmrunReaderError(
                    "RUN_NOT_FOUND",
                    f"no sweep '{sweep_id}' in the catalog",
                    "`mmrun list` shows the sweeps; check runs_dir",
                )
            cols = [r[1] for r in con.execute("PRAGMA table_info(sweep_points)")]
            order = next((c for c in ("point", "point_index", "idx", "position") if c in cols), "rowid")
            con.execute("BEGIN")
            try:
                # A point's run row appears when the point starts: points not started are left out.
                ids = [
                    r[0]
                    for r in con.execute(
                        f"SELECT p.run_id FROM sweep_points p JOIN runs r ON r.id = p.run_id"
                        f" WHERE p.sweep_id = ? ORDER BY p.{order}",
                        (sweep_id,),
                    )
                ]
                reads = [(run_id, _read_run(con, run_id, transaction=False)) for run_id in ids]
            finally:
                con.execute("COMMIT")
        finally:
            con.close()
        if not ids:
            raise MmrunReaderError("RUN_NOT_FOUND", f"no sweep '{sweep_id}' in the catalog", "`mmrun list` shows them")
        self.points = [RunSnapshot(runs_dir, run_id, _read=(version, *read)) for run_id, read in reads]
        self.schema_version = version

    @property
    def live(self):
        """Whether any point was being written when this snapshot was read."""
        return any(p.live for p in self.points)

    @property
    def flushed_rows(self):
        """Flushed rows over all points."""
        return sum(p.flushed_rows for p in self.points)

    def refresh(self):
        """A new snapshot of the sweep, at least as new as this one."""
        return SweepSnapshot(self.runs_dir, self.sweep_id)

    def to_pandas(self):
        """Every point's flushed rows in one DataFrame, with ``run_id``, ``seed`` and each param as columns."""
        frames = []
        for p in self.points:
            df = p.to_pandas()
            df.insert(0, "run_id", p.run_id)
            df.insert(1, "seed", p.seed)
            for i, (k, v) in enumerate(p.params.items()):
                df.insert(2 + i, k, v)
            frames.append(df)
        import pandas as pd

        return pd.concat(frames, ignore_index=True)

    def follow(self, interval=0.1, timeout=None):
        """Yields ``(run_id, start, end, snapshot)`` for each range of rows flushed by any point
        after this snapshot, until no point runs or ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        snap = self
        known = {p.run_id: list(p.flushed_ranges) for p in snap.points}
        while snap.live:
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(interval)
            snap = snap.refresh()
            for p in snap.points:
                for start, end in _subtract(p.flushed_ranges, known.get(p.run_id, [])):
                    yield p.run_id, start, end, p
                known[p.run_id] = list(p.flushed_ranges)


def open_sweep(runs_dir, sweep_id):
    """A snapshot of sweep ``sweep_id``: a :class:`RunSnapshot` per point."""
    return SweepSnapshot(runs_dir, sweep_id)
