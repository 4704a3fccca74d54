#!/usr/bin/python3
"""lossyfs: a FUSE file system that keeps everything that was not fsynced in memory only.

    /usr/bin/python3 test/powerloss/lossyfs.py BACKING MOUNTPOINT [--log FILE]

It models a disk with a volatile write cache under a strict POSIX file system:

* The *volatile* state is what running programs see: every write, truncate, create, link,
  rename, unlink and mkdir takes effect at once, and reads return it.
* The *durable* state is what survives a power loss. It changes only when a program asks:
  fsync/fdatasync of a file makes that file's data and size durable (all of it: FUSE's
  FSYNC carries no range); fsync of a directory makes that directory's entries durable
  (names and the inodes they point to, not the inodes' data). msync(MS_SYNC) of a shared
  mapping reaches the daemon as WRITEs of the dirty pages followed by FSYNC of the file.
* BACKING always holds exactly the durable state (it is updated on every fsync and
  directory fsync), so after a power loss it is "the disk after the reboot".

Control file: MOUNTPOINT/.lossyfs (found by lookup, hidden from readdir).
* write ``poweroff`` (alias ``drop``): power loss. Every unsynced byte and directory
  change is dropped, and from then on every operation fails with EIO (the machine is
  off): unmount and mount BACKING again to "reboot".
* write ``poweroff keep=P seed=S``: as above, but first a random subset of the unsynced
  state reaches the disk, as a real disk cache may have written some of it: each dirty
  4 KiB page of each file with probability P, each file's new size with probability P,
  each directory's current entries (all or nothing per directory) with probability P.
* write ``sync``: make everything durable (as sync(1)).
* read: JSON statistics (operations seen, unsynced bytes and where, what a power loss
  dropped).

A clean unmount (no power loss) makes everything durable first, as a real file system
does. Not modelled: torn writes inside a 4 KiB page, reordering between two fsyncs of
different files (each fsync is atomic and immediate), durability of permissions and
timestamps (kept in memory only; BACKING files get default ones), xattrs, special files,
fallocate (pyfuse3 has no handler: the kernel answers EOPNOTSUPP and callers fall back).
Memory holds two copies of every file: meant for tests of a few hundred MB at most.
"""

import argparse
import errno
import json
import os
import random
import shutil
import stat
import sys
import time

import pyfuse3
import trio

PAGE = 4096
CTL_NAME = b".lossyfs"
CTL_INO = 2**48
TIMEOUT = 1.0


class Node:
    """One inode: its volatile state and the durable state it had at its last sync."""

    def __init__(self, ino, kind, mode, parent=None):
        self.ino = ino
        self.kind = kind  # 'f' file, 'd' directory, 'l' symlink
        self.mode = mode
        self.uid = os.getuid()
        self.gid = os.getgid()
        now = time.time_ns()
        self.atime = self.mtime = self.ctime = now
        self.vol = bytearray()  # file data as programs see it
        self.dur = bytearray()  # file data as the disk holds it
        self.dirty = set()  # pages of vol that may differ from dur
        self.entries = {}  # directory: name -> ino, as programs see it
        self.dur_entries = {}  # directory: name -> ino, as the disk holds it
        self.target = b""  # symlink target (durable with the directory entry)
        self.parent = parent  # directory: volatile parent ino
        self.nlink = 0  # volatile directory entries pointing here
        self.dur_links = 0  # durable directory entries pointing here
        self.lookups = 0
        self.opens = 0


class LossyFS(pyfuse3.Operations):
    enable_writeback_cache = False

    def __init__(self, backing, log):
        super().__init__()
        self.backing = os.path.abspath(backing)
        self.log = log
        self.inodes = {}
        self.handles = {}  # fh -> ino (or a list, for directories: (ino, snapshot))
        self.next_ino = pyfuse3.ROOT_INODE + 1
        self.next_fh = 1
        self.off = False
        self.stats = {
            "writes": 0,
            "writeBytes": 0,
            "reads": 0,
            "fsyncs": 0,
            "fsyncdirs": 0,
            "syncedBytes": 0,
            "fsyncsByPath": {},
        }
        self.dropped = None
        self._load()

    # ----- loading BACKING -----------------------------------------------------------

    def _new(self, kind, mode, parent=None, ino=None):
        if ino is None:
            ino = self.next_ino
            self.next_ino += 1
        node = Node(ino, kind, mode, parent)
        self.inodes[ino] = node
        return node

    def _load(self):
        root = self._new("d", stat.S_IFDIR | 0o755, pyfuse3.ROOT_INODE, ino=pyfuse3.ROOT_INODE)
        root.nlink = root.dur_links = 1
        seen = {}

        def walk(path, dirnode):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                st = os.lstat(full)
                key = (st.st_dev, st.st_ino)
                bname = os.fsencode(name)
                if key in seen:
                    node = seen[key]
                elif stat.S_ISDIR(st.st_mode):
                    node = self._new("d", st.st_mode, dirnode.ino)
                    walk(full, node)
                elif stat.S_ISREG(st.st_mode):
                    node = self._new("f", st.st_mode)
                    with open(full, "rb") as f:
                        node.vol = bytearray(f.read())
                    node.dur = bytearray(node.vol)
                elif stat.S_ISLNK(st.st_mode):
                    node = self._new("l", st.st_mode)
                    node.target = os.fsencode(os.readlink(full))
                else:
                    continue
                seen[key] = node
                node.mtime = st.st_mtime_ns
                node.nlink += 1
                node.dur_links += 1
                dirnode.entries[bname] = node.ino
                dirnode.dur_entries[bname] = node.ino

        walk(self.backing, root)

    # ----- helpers -------------------------------------------------------------------

    def _trace(self, op, *args):
        if self.log:
            self.log.write(f"{time.monotonic():.6f} {op} {' '.join(str(a) for a in args)}\n")
            self.log.flush()

    def _alive(self):
        if self.off:
            raise pyfuse3.FUSEError(errno.EIO)

    def _node(self, ino):
        node = self.inodes.get(ino)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return node

    def _dir(self, ino):
        node = self._node(ino)
        if node.kind != "d":
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return node

    def _attr(self, node):
        a = pyfuse3.EntryAttributes()
        a.st_ino = node.ino
        a.generation = 0
        a.entry_timeout = TIMEOUT
        a.attr_timeout = TIMEOUT
        a.st_mode = node.mode
        if node.kind == "d":
            a.st_nlink = 2 + sum(1 for i in node.entries.values() if self.inodes[i].kind == "d")
            a.st_size = 4096
        elif node.kind == "l":
            a.st_nlink = node.nlink
            a.st_size = len(node.target)
        else:
            a.st_nlink = node.nlink
            a.st_size = len(node.vol)
        a.st_uid = node.uid
        a.st_gid = node.gid
        a.st_rdev = 0
        a.st_blksize = PAGE
        a.st_blocks = (a.st_size + 511) // 512
        a.st_atime_ns = node.atime
        a.st_mtime_ns = node.mtime
        a.st_ctime_ns = node.ctime
        return a

    def _ctl_attr(self):
        a = pyfuse3.EntryAttributes()
        a.st_ino = CTL_INO
        a.st_mode = stat.S_IFREG | 0o600
        a.st_nlink = 1
        a.st_size = 1 << 20
        a.st_uid = os.getuid()
        a.st_gid = os.getgid()
        a.st_blksize = PAGE
        a.entry_timeout = 0
        a.attr_timeout = 0
        return a

    def _vol_path(self, ino):
        """Some volatile path of ino, for messages."""
        if ino == pyfuse3.ROOT_INODE:
            return "/"
        found = []

        def walk(dirnode, prefix, depth):
            if depth > 64 or found:
                return
            for name, child in dirnode.entries.items():
                p = prefix + "/" + os.fsdecode(name)
                if child == ino:
                    found.append(p)
                    return
                c = self.inodes.get(child)
                if c is not None and c.kind == "d":
                    walk(c, p, depth + 1)

        walk(self.inodes[pyfuse3.ROOT_INODE], "", 0)
        return found[0] if found else f"<unlinked inode {ino}>"

    def _dur_paths(self, ino):
        """Every BACKING path at which the durable state holds ino."""
        out = []
        if ino == pyfuse3.ROOT_INODE:
            return [self.backing]

        def walk(dirnode, prefix, visiting):
            for name, child in dirnode.dur_entries.items():
                p = os.path.join(prefix, os.fsdecode(name))
                if child == ino:
                    out.append(p)
                c = self.inodes.get(child)
                if c is not None and c.kind == "d" and child not in visiting:
                    walk(c, p, visiting | {child})

        walk(self.inodes[pyfuse3.ROOT_INODE], self.backing, frozenset([pyfuse3.ROOT_INODE]))
        return out

    def _resize(self, node, size):
        old = len(node.vol)
        if size == old:
            return
        lo, hi = min(old, size), max(old, size)
        node.dirty.update(range(lo // PAGE, (hi + PAGE - 1) // PAGE))
        if size < old:
            del node.vol[size:]
        else:
            node.vol.extend(bytes(size - old))

    def _gc(self, ino):
        node = self.inodes.get(ino)
        if (
            node is not None
            and node.kind != "d"
            and node.nlink == 0
            and node.dur_links == 0
            and node.lookups == 0
            and node.opens == 0
        ):
            del self.inodes[ino]

    # ----- making state durable (and mirroring it into BACKING) ---------------------

    def _persist_file(self, node, pages=None, size=None):
        """Makes `pages` (default: every dirty page) and `size` (default: the volatile
        size) of a file durable, and writes them to every durable path of the file."""
        if node.kind != "f":
            return
        size = len(node.vol) if size is None else size
        pages = sorted(node.dirty if pages is None else pages)
        if len(node.dur) > size:
            del node.dur[size:]
        elif len(node.dur) < size:
            node.dur.extend(bytes(size - len(node.dur)))
        ranges = []
        for p in pages:
            lo, hi = p * PAGE, min((p + 1) * PAGE, size, len(node.vol))
            if lo >= hi:
                continue
            node.dur[lo:hi] = node.vol[lo:hi]
            if ranges and ranges[-1][1] == lo:
                ranges[-1][1] = hi
            else:
                ranges.append([lo, hi])
        node.dirty.difference_update(pages)
        self.stats["syncedBytes"] += sum(hi - lo for lo, hi in ranges)
        for path in self._dur_paths(node.ino):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for lo, hi in ranges:
                    os.pwrite(fd, node.dur[lo:hi], lo)
                os.ftruncate(fd, len(node.dur))
            finally:
                os.close(fd)

    def _materialize(self, ino, path):
        """Writes the durable state of ino (recursively for a directory) at BACKING path."""
        node = self.inodes[ino]
        if node.kind == "d":
            os.makedirs(path, exist_ok=True)
            for name, child in node.dur_entries.items():
                self._materialize(child, os.path.join(path, os.fsdecode(name)))
        elif node.kind == "l":
            os.symlink(node.target, path)
        else:
            for other in self._dur_paths(ino):
                if other != path and os.path.isfile(other):
                    os.link(other, path)
                    return
            with open(path, "wb") as f:
                f.write(node.dur)

    @staticmethod
    def _remove(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)

    def _persist_dir(self, node):
        old, new = node.dur_entries, dict(node.entries)
        node.dur_entries = new
        changed = [n for n in set(old) | set(new) if old.get(n) != new.get(n)]
        for name in changed:
            if name in old:
                self.inodes[old[name]].dur_links -= 1
            if name in new:
                self.inodes[new[name]].dur_links += 1
        for path in self._dur_paths(node.ino):
            for name in changed:
                if name in old:
                    self._remove(os.path.join(path, os.fsdecode(name)))
            for name in changed:
                if name in new:
                    self._materialize(new[name], os.path.join(path, os.fsdecode(name)))
        for name in changed:
            if name in old:
                self._gc(old[name])
        return changed

    def _unsynced(self):
        files, entries = {}, {}
        for node in self.inodes.values():
            if node.kind == "f" and (node.dirty or len(node.dur) != len(node.vol)):
                files[self._vol_path(node.ino)] = len(node.dirty) * PAGE
            if node.kind == "d" and node.entries != node.dur_entries:
                entries[self._vol_path(node.ino)] = sorted(
                    os.fsdecode(n)
                    for n in set(node.entries) | set(node.dur_entries)
                    if node.entries.get(n) != node.dur_entries.get(n)
                )
        return files, entries

    def sync_all(self):
        for node in list(self.inodes.values()):
            self._persist_file(node)
        for node in list(self.inodes.values()):
            if node.kind == "d" and node.entries != node.dur_entries:
                self._persist_dir(node)

    def poweroff(self, keep=0.0, seed=None):
        rng = random.Random(seed)
        files, entries = self._unsynced()
        kept = {"pages": 0, "sizes": 0, "dirs": 0}
        if keep > 0:
            for node in list(self.inodes.values()):
                if node.kind != "f":
                    continue
                pages = {p for p in node.dirty if rng.random() < keep}
                size = len(node.vol) if rng.random() < keep else len(node.dur)
                if pages or size != len(node.dur):
                    kept["pages"] += len(pages)
                    kept["sizes"] += int(size != len(node.dur))
                    self._persist_file(node, pages, size)
            for node in list(self.inodes.values()):
                if node.kind == "d" and node.entries != node.dur_entries and rng.random() < keep:
                    kept["dirs"] += 1
                    self._persist_dir(node)
        self.off = True
        self.dropped = {
            "unsyncedBytesByFile": files,
            "unsyncedEntriesByDir": entries,
            "keep": keep,
            "seed": seed,
            "kept": kept,
        }

    def _ctl_command(self, text):
        words = text.split()
        if not words:
            return
        cmd, opts = words[0], dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if cmd in ("poweroff", "drop"):
            if not self.off:
                seed = opts.get("seed")
                self.poweroff(float(opts.get("keep", 0)), None if seed is None else int(seed))
        elif cmd == "sync":
            self._alive()
            self.sync_all()
        else:
            raise pyfuse3.FUSEError(errno.EINVAL)

    def _ctl_report(self):
        files, entries = ({}, {}) if self.off else self._unsynced()
        report = dict(self.stats)
        report.update(
            state="off" if self.off else "on",
            unsyncedBytesByFile=files,
            unsyncedEntriesByDir=entries,
            dropped=self.dropped,
        )
        return (json.dumps(report, sort_keys=True) + "\n").encode()

    # ----- FUSE operations -----------------------------------------------------------

    async def lookup(self, parent_inode, name, ctx=None):
        if parent_inode == pyfuse3.ROOT_INODE and name == CTL_NAME:
            return self._ctl_attr()
        self._alive()
        d = self._dir(parent_inode)
        if name == b".":
            ino = d.ino
        elif name == b"..":
            ino = d.parent
        else:
            ino = d.entries.get(name)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        node = self.inodes[ino]
        node.lookups += 1
        return self._attr(node)

    async def forget(self, inode_list):
        for ino, n in inode_list:
            node = self.inodes.get(ino)
            if node is not None:
                node.lookups -= n
                self._gc(ino)

    async def getattr(self, inode, ctx=None):
        if inode == CTL_INO:
            return self._ctl_attr()
        self._alive()
        return self._attr(self._node(inode))

    async def setattr(self, inode, attr, fields, fh, ctx):
        if inode == CTL_INO:
            return self._ctl_attr()
        self._alive()
        node = self._node(inode)
        now = time.time_ns()
        if fields.update_size:
            if node.kind != "f":
                raise pyfuse3.FUSEError(errno.EINVAL)
            self._trace("truncate", inode, self._vol_path(inode), attr.st_size)
            self._resize(node, attr.st_size)
            node.mtime = now
        if fields.update_mode:
            node.mode = (node.mode & ~0o7777) | (attr.st_mode & 0o7777)
        if fields.update_uid:
            node.uid = attr.st_uid
        if fields.update_gid:
            node.gid = attr.st_gid
        if fields.update_atime:
            node.atime = attr.st_atime_ns
        if fields.update_mtime:
            node.mtime = attr.st_mtime_ns
        node.ctime = now
        return self._attr(node)

    async def readlink(self, inode, ctx):
        self._alive()
        return self._node(inode).target

    def _add(self, parent_inode, name, node):
        d = self._dir(parent_inode)
        if name in d.entries or (parent_inode == pyfuse3.ROOT_INODE and name == CTL_NAME):
            raise pyfuse3.FUSEError(errno.EEXIST)
        d.entries[name] = node.ino
        node.nlink += 1
        node.lookups += 1
        d.mtime = d.ctime = time.time_ns()
        return self._attr(node)

    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        self._alive()
        if not stat.S_ISREG(mode):
            raise pyfuse3.FUSEError(errno.EPERM)
        self._dir(parent_inode)
        self._trace("mknod", parent_inode, name)
        return self._add(parent_inode, name, self._new("f", mode))

    async def mkdir(self, parent_inode, name, mode, ctx):
        self._alive()
        self._dir(parent_inode)
        self._trace("mkdir", self._vol_path(parent_inode), name)
        return self._add(parent_inode, name, self._new("d", stat.S_IFDIR | (mode & 0o7777), parent_inode))

    async def symlink(self, parent_inode, name, target, ctx):
        self._alive()
        self._dir(parent_inode)
        node = self._new("l", stat.S_IFLNK | 0o777)
        node.target = target
        return self._add(parent_inode, name, node)

    async def create(self, parent_inode, name, mode, flags, ctx):
        self._alive()
        self._dir(parent_inode)
        self._trace("create", self._vol_path(parent_inode), name)
        node = self._new("f", stat.S_IFREG | (mode & 0o7777))
        attr = self._add(parent_inode, name, node)
        return self._open_node(node), attr

    async def link(self, inode, new_parent_inode, new_name, ctx):
        self._alive()
        node = self._node(inode)
        if node.kind == "d":
            raise pyfuse3.FUSEError(errno.EPERM)
        self._trace("link", self._vol_path(inode), self._vol_path(new_parent_inode), new_name)
        node.ctime = time.time_ns()
        return self._add(new_parent_inode, new_name, node)

    async def unlink(self, parent_inode, name, ctx):
        self._alive()
        d = self._dir(parent_inode)
        ino = d.entries.get(name)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        node = self.inodes[ino]
        if node.kind == "d":
            raise pyfuse3.FUSEError(errno.EISDIR)
        self._trace("unlink", self._vol_path(parent_inode), name)
        del d.entries[name]
        node.nlink -= 1
        d.mtime = d.ctime = node.ctime = time.time_ns()
        self._gc(ino)

    async def rmdir(self, parent_inode, name, ctx):
        self._alive()
        d = self._dir(parent_inode)
        ino = d.entries.get(name)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        node = self.inodes[ino]
        if node.kind != "d":
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if node.entries:
            raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        self._trace("rmdir", self._vol_path(parent_inode), name)
        del d.entries[name]
        node.nlink -= 1
        d.mtime = d.ctime = time.time_ns()

    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        self._alive()
        src, dst = self._dir(parent_inode_old), self._dir(parent_inode_new)
        ino = src.entries.get(name_old)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        if parent_inode_new == pyfuse3.ROOT_INODE and name_new == CTL_NAME:
            raise pyfuse3.FUSEError(errno.EPERM)
        node = self.inodes[ino]
        target = dst.entries.get(name_new)
        self._trace("rename", self._vol_path(parent_inode_old), name_old, self._vol_path(parent_inode_new), name_new)
        if flags & pyfuse3.RENAME_EXCHANGE:
            if target is None:
                raise pyfuse3.FUSEError(errno.ENOENT)
            src.entries[name_old], dst.entries[name_new] = target, ino
            for moved, parent in ((node, dst), (self.inodes[target], src)):
                if moved.kind == "d":
                    moved.parent = parent.ino
        else:
            if target is not None:
                if flags & pyfuse3.RENAME_NOREPLACE:
                    raise pyfuse3.FUSEError(errno.EEXIST)
                if target == ino:
                    return
                old = self.inodes[target]
                if old.kind == "d":
                    if node.kind != "d":
                        raise pyfuse3.FUSEError(errno.EISDIR)
                    if old.entries:
                        raise pyfuse3.FUSEError(errno.ENOTEMPTY)
                elif node.kind == "d":
                    raise pyfuse3.FUSEError(errno.ENOTDIR)
                old.nlink -= 1
            del src.entries[name_old]
            dst.entries[name_new] = ino
            if node.kind == "d":
                node.parent = dst.ino
            if target is not None:
                self._gc(target)
        now = time.time_ns()
        src.mtime = src.ctime = dst.mtime = dst.ctime = node.ctime = now

    def _open_node(self, node):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = node.ino
        node.opens += 1
        # Every change reaches the kernel's cache through this mount: keep it across opens
        # (a shared mapping, e.g. SQLite's -shm, stays coherent without reloading it).
        return pyfuse3.FileInfo(fh=fh, keep_cache=True)

    async def open(self, inode, flags, ctx):
        if inode == CTL_INO:
            fh = self.next_fh
            self.next_fh += 1
            self.handles[fh] = CTL_INO
            return pyfuse3.FileInfo(fh=fh, direct_io=True)
        self._alive()
        node = self._node(inode)
        if node.kind != "f":
            raise pyfuse3.FUSEError(errno.EISDIR)
        if flags & os.O_TRUNC:  # libfuse 3 asks for atomic O_TRUNC: the kernel sends no setattr
            self._trace("truncate", inode, self._vol_path(inode), 0)
            self._resize(node, 0)
            node.mtime = node.ctime = time.time_ns()
        return self._open_node(node)

    async def read(self, fh, off, size):
        ino = self.handles[fh]
        if ino == CTL_INO:
            return self._ctl_report()[off : off + size]
        self._alive()
        self.stats["reads"] += 1
        return bytes(self.inodes[ino].vol[off : off + size])

    async def write(self, fh, off, buf):
        ino = self.handles[fh]
        if ino == CTL_INO:
            self._ctl_command(buf.decode("utf-8", "replace"))
            return len(buf)
        self._alive()
        node = self.inodes[ino]
        end = off + len(buf)
        if end > len(node.vol):
            self._resize(node, end)
        node.vol[off:end] = buf
        node.dirty.update(range(off // PAGE, (end + PAGE - 1) // PAGE))
        node.mtime = node.ctime = time.time_ns()
        self.stats["writes"] += 1
        self.stats["writeBytes"] += len(buf)
        self._trace("write", ino, self._vol_path(ino) if self.log else "", off, len(buf))
        return len(buf)

    async def flush(self, fh):
        if self.handles.get(fh) != CTL_INO:
            self._alive()

    async def release(self, fh):
        ino = self.handles.pop(fh, None)
        node = self.inodes.get(ino)
        if node is not None:
            node.opens -= 1
            self._gc(ino)

    async def fsync(self, fh, datasync):
        ino = self.handles[fh]
        if ino == CTL_INO:
            return
        self._alive()
        node = self.inodes[ino]
        path = self._vol_path(ino)
        self._trace("fsync", ino, path, f"datasync={int(bool(datasync))}", f"dirtyPages={len(node.dirty)}")
        self.stats["fsyncs"] += 1
        by = self.stats["fsyncsByPath"]
        by[path] = by.get(path, 0) + 1
        self._persist_file(node)

    async def opendir(self, inode, ctx):
        self._alive()
        node = self._dir(inode)
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = (inode, sorted(node.entries.items()))
        return fh

    async def readdir(self, fh, start_id, token):
        self._alive()
        _, snapshot = self.handles[fh]
        for k in range(start_id, len(snapshot)):
            name, ino = snapshot[k]
            node = self.inodes.get(ino)
            if node is None:
                continue
            if not pyfuse3.readdir_reply(token, name, self._attr(node), k + 1):
                return
            node.lookups += 1

    async def releasedir(self, fh):
        self.handles.pop(fh, None)

    async def fsyncdir(self, fh, datasync):
        self._alive()
        ino, _ = self.handles[fh]
        changed = self._persist_dir(self.inodes[ino])
        path = self._vol_path(ino)
        self._trace("fsyncdir", ino, path, [os.fsdecode(n) for n in changed])
        self.stats["fsyncdirs"] += 1

    async def statfs(self, ctx):
        self._alive()
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = PAGE
        s.f_blocks = 1 << 24
        used = sum(len(n.vol) for n in self.inodes.values()) // PAGE
        s.f_bfree = s.f_bavail = (1 << 24) - used
        s.f_files = 1 << 20
        s.f_ffree = s.f_favail = (1 << 20) - len(self.inodes)
        s.f_namemax = 255
        return s


def set_dirty_limit(mountpoint, limit):
    # The device number comes from mountinfo: a stat() of the mountpoint would wait for
    # this very daemon, which is not serving requests yet.
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == mountpoint:
                knob = f"/sys/class/bdi/{fields[2]}/max_bytes"
                try:
                    with open(knob, "w") as k:
                        k.write(str(limit))
                except OSError as e:
                    print(f"lossyfs: cannot limit dirty pages ({knob}: {e})", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--log", help="append one line per operation to this file")
    parser.add_argument(
        "--dirty-limit",
        type=int,
        help="cap the kernel's dirty page cache for this mount at about this many bytes "
        "(the BDI's max_bytes), so that dirty pages of shared mappings reach lossyfs (still "
        "unsynced) before msync; the writer is throttled above it",
    )
    args = parser.parse_args()
    log = open(args.log, "a") if args.log else None
    mountpoint = os.path.realpath(args.mountpoint)
    fs = LossyFS(args.backing, log)
    options = set(pyfuse3.default_options)
    options.add("fsname=lossyfs")
    options.add("subtype=lossyfs")
    pyfuse3.init(fs, mountpoint, options)
    if args.dirty_limit is not None:
        set_dirty_limit(mountpoint, args.dirty_limit)
    print(f"lossyfs: mounted {args.backing} at {mountpoint} (pid {os.getpid()})", flush=True)
    clean = False
    try:
        trio.run(pyfuse3.main)
        clean = True
    finally:
        pyfuse3.close(unmount=not clean)
    if not fs.off:
        fs.sync_all()  # a clean unmount writes everything back, as any file system does
    print(f"lossyfs: unmounted ({'after a power loss' if fs.off else 'clean, everything synced'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
