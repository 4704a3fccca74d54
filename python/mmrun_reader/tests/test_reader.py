"""Unit tests of mmrun_reader against runs the mmrun CLI wrote.

$MMRUN_READER_RUNS names a runs directory holding (see test/python/reader.test.ts):
  one      counter, 3000 rows, --segment-rows 1000 (three segments), completed
  sharded  counter, 3000 rows, --workers 2, completed
Each test copies it, so it may change the copy (schema version, tables, statuses).
"""
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import mmrun_reader
from mmrun_reader import MmrunReaderError, open_run, open_sweep

SOURCE = os.environ.get("MMRUN_READER_RUNS")


def resident_kib(path):
    """KiB of ``path`` resident in this process's read-only mappings of it (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                inside = head[1] == "r--s" and line.rstrip("\n").endswith(" " + path)
            elif inside and head[0] == "Rss:":
                total += int(head[1])
    return total


@unittest.skipUnless(SOURCE, "set MMRUN_READER_RUNS (the vitest test test/python/reader.test.ts does)")
class ReaderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mmrun-reader-")
        self.runs = os.path.join(self.tmp, "runs")
        shutil.copytree(SOURCE, self.runs)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def sql(self, *statements):
        con = sqlite3.connect(os.path.join(self.runs, "mmrun.sqlite"))
        try:
            for s in statements:
                con.execute(s)
            con.commit()
        finally:
            con.close()

    def segments_bytes(self, run_id):
        files = sorted(f for f in os.listdir(os.path.join(self.runs, run_id)) if f.endswith(".npy"))
        return np.concatenate([np.load(os.path.join(self.runs, run_id, f)) for f in files])

    def test_array_is_the_segments_rows_and_segments_are_views(self):
        r = open_run(self.runs, "one")
        self.assertEqual((r.status, r.flushed_rows, r.live), ("completed", 3000, False))
        segs = r.segments()
        self.assertEqual([(s.index, s.first_row, s.rows) for s in segs], [(0, 0, 1000), (1, 1000, 1000), (2, 2000, 1000)])
        for s in segs:
            self.assertIsInstance(s.array, np.memmap)  # a view into the read-only mapping
            self.assertFalse(s.array.flags.writeable)
        a = r.array()
        self.assertEqual(a.tobytes(), self.segments_bytes("one").tobytes())
        self.assertEqual(list(a["i"][:5]), [0, 1, 2, 3, 4])
        self.assertEqual(r.rows(1500, 1502)["i"].tolist(), [1500, 1501])

    def test_only_flushed_rows_are_visible(self):
        self.sql(
            "UPDATE runs SET status = 'interrupted' WHERE id = 'one'",
            "INSERT INTO checkpoints (run_id, seq, flushed_index, state, created_at) "
            "SELECT run_id, MAX(seq) + 1, 1234, NULL, '2026-01-01T00:00:00.000Z' FROM checkpoints WHERE run_id = 'one'",
        )
        r = open_run(self.runs, "one")
        self.assertEqual((r.status, r.flushed_rows), ("interrupted", 1234))
        self.assertEqual(len(r.array()), 1234)
        self.assertEqual(r.array()["i"][-1], 1233)
        with self.assertRaises(ValueError):
            r.rows(0, 1235)

    def test_refresh_sees_newer_rows_and_reuses_the_mappings(self):
        self.sql(
            "UPDATE runs SET status = 'interrupted' WHERE id = 'one'",
            "INSERT INTO checkpoints (run_id, seq, flushed_index, state, created_at) "
            "SELECT run_id, MAX(seq) + 1, 1500, NULL, '2026-01-01T00:00:00.000Z' FROM checkpoints WHERE run_id = 'one'",
        )
        old = open_run(self.runs, "one")
        old_segments = old.segments()
        self.sql(
            "INSERT INTO checkpoints (run_id, seq, flushed_index, state, created_at) "
            "SELECT run_id, MAX(seq) + 1, 2500, NULL, '2026-01-01T00:00:01.000Z' FROM checkpoints WHERE run_id = 'one'",
        )
        new = old.refresh()
        self.assertEqual((old.flushed_rows, new.flushed_rows), (1500, 2500))
        self.assertEqual(len(old.array()), 1500)  # the old snapshot is unchanged
        self.assertIs(new.segments()[1].array.base, old_segments[1].array.base)  # one mapping
        self.assertIsNot(open_run(self.runs, "one").segments()[1].array.base, old_segments[1].array.base)

    def test_refresh_drops_the_pages_of_rows_already_held_and_they_read_the_same(self):
        first = open_run(self.runs, "sharded")  # 3000 rows in one segment
        seg = first.segments()[0]
        path = os.path.abspath(seg.path)
        data = np.array(seg.array)  # a copy: reads every page
        self.assertGreater(resident_kib(path), seg.array.nbytes * 0.9 / 1024)
        new = first.refresh()
        self.assertLessEqual(resident_kib(path), 8)  # the partial page at the end may stay
        self.assertIs(new.segments()[0].array.base, seg.array.base)  # one mapping, dropped
        self.assertTrue(np.array_equal(new.array(), data))
        self.assertTrue(np.array_equal(seg.array, data))

    def test_sharded_run_has_each_shards_prefix(self):
        self.sql("UPDATE shards SET flushed_index = start_row + 100 WHERE run_id = 'sharded'")
        r = open_run(self.runs, "sharded")
        self.assertEqual(r.workers, 2)
        self.assertEqual(r.flushed_rows, 100)
        self.assertEqual(r.flushed_ranges, [(0, 100), (1500, 1600)])
        self.assertEqual(r.rows(1500, 1600)["i"].tolist(), list(range(1500, 1600)))
        with self.assertRaises(ValueError):
            r.rows(100, 101)

    def test_a_running_run_whose_owner_is_gone_is_crashed(self):
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        self.sql(
            f"UPDATE runs SET status = 'running', owner_pid = {dead.pid}, owner_start = 'x', owner_boot = '{boot}', "
            f"owner_host = '{socket.gethostname()}' WHERE id = 'one'"
        )
        r = open_run(self.runs, "one")
        self.assertEqual(r.status, "crashed")
        self.assertEqual(list(r.follow(interval=0.01, timeout=5)), [])  # ends at once: nothing new

    def test_follow_from_start_yields_the_snapshot_then_ends_for_a_finished_run(self):
        r = open_run(self.runs, "one")
        got = [(s, e) for s, e, _ in r.follow(from_start=True, interval=0.01)]
        self.assertEqual(got, [(0, 3000)])
        self.assertGreaterEqual(r.refresh().flushed_rows, r.flushed_rows)

    def test_schema_versions(self):
        for ok in range(mmrun_reader.MIN_SCHEMA_VERSION, mmrun_reader.MAX_SCHEMA_VERSION + 1):
            # A later version that only adds tables and columns is read as before.
            self.sql(
                f"PRAGMA user_version = {ok}",
                f"CREATE TABLE IF NOT EXISTS added_v{ok} (x INTEGER)",
            )
            self.assertEqual(open_run(self.runs, "one").flushed_rows, 3000)
        self.sql(f"PRAGMA user_version = {mmrun_reader.MAX_SCHEMA_VERSION + 1}")
        with self.assertRaises(MmrunReaderError) as e:
            open_run(self.runs, "one")
        self.assertEqual(e.exception.code, "CATALOG_TOO_NEW")
        self.assertIn(f"schema version {mmrun_reader.MAX_SCHEMA_VERSION + 1}", str(e.exception))
        self.sql(f"PRAGMA user_version = {mmrun_reader.MIN_SCHEMA_VERSION - 1}")
        with self.assertRaises(MmrunReaderError) as e:
            open_run(self.runs, "one")
        self.assertEqual(e.exception.code, "CATALOG_TOO_OLD")

    def test_catalog_is_opened_read_only(self):
        # A reader works on a catalog it cannot write, and leaves the file unchanged.
        def catalog_bytes():
            with open(os.path.join(self.runs, "mmrun.sqlite"), "rb") as f:
                return f.read()

        before = catalog_bytes()
        con = sqlite3.connect(os.path.join(self.runs, "mmrun.sqlite"))
        con.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            self.assertEqual(open_run(self.runs, "one").flushed_rows, 3000)
        finally:
            con.rollback()
            con.close()
        self.assertEqual(catalog_bytes(), before)

    def test_errors(self):
        with self.assertRaises(MmrunReaderError) as e:
            open_run(self.runs, "nope")
        self.assertEqual(e.exception.code, "RUN_NOT_FOUND")
        with self.assertRaises(MmrunReaderError) as e:
            open_run(self.tmp, "one")
        self.assertEqual(e.exception.code, "RUN_NOT_FOUND")
        os.remove(os.path.join(self.runs, "one", "000001.npy"))
        with self.assertRaises(MmrunReaderError) as e:
            open_run(self.runs, "one").array()
        self.assertEqual(e.exception.code, "SEGMENT_MISSING")

    def test_sweeps(self):
        with self.assertRaises(MmrunReaderError) as e:
            open_sweep(self.runs, "no-such-sweep")
        self.assertEqual(e.exception.code, "RUN_NOT_FOUND")
        # A real sweep: counter over work=0,1 with 2 seeds, written by `mmrun sweep --id sw`.
        s = open_sweep(self.runs, "sw")
        self.assertEqual([p.run_id for p in s.points], ["sw-p0000", "sw-p0001", "sw-p0002", "sw-p0003"])
        self.assertEqual(s.flushed_rows, 4 * 500)
        self.assertFalse(s.live)
        for p in s.points:
            self.assertEqual(p.array().tobytes(), self.segments_bytes(p.run_id).tobytes())

    def test_to_pandas(self):
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(MmrunReaderError):
                open_run(self.runs, "one").to_pandas()
            self.skipTest("pandas is not installed")
        df = open_run(self.runs, "one").to_pandas()
        self.assertEqual(df.shape, (3000, 8))
        self.assertEqual(list(df.columns), ["i", "u", "n", "k", "flag", "v[0]", "v[1]", "v[2]"])


if __name__ == "__main__":
    unittest.main()
