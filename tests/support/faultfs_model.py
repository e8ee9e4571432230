"""The state of a FaultFS filesystem: every file and directory twice, as the page cache has it and
as the disk has it, plus injected faults, a capacity and counters.  Pure Python, no FUSE: the
daemon (``faultfs_daemon.py``) serves it over a mount, and unit tests drive it directly.

Theory of operation (the semantics FaultFS promises; ``faultfs.py`` is the client):

* An inode table.  A regular file has a *volatile* content (what reads see: the page cache) and a
  *durable* content (what survives a power cut).  A directory has volatile and durable entry maps
  (name -> inode number).  Paths are resolved through volatile entries only.
* ``write``/``truncate`` change the volatile content and mark the touched 4 KiB pages (and a size
  change) dirty.  ``fsync`` of a file (FUSE ``fsync``, fsync or fdatasync, through any handle of the
  inode) copies the dirty pages and the size to the durable content and clears them, so a sync of a
  large append-only file costs what changed since the previous one.
* ``create``/``mkdir``/``unlink``/``rmdir``/``rename``/``link`` change the volatile entries of the
  directories involved and mark those names dirty there.  ``fsyncdir`` copies the directory's dirty
  names to its durable entries.  Strict POSIX: a new file whose directory was never fsynced is lost
  in a power cut, and a rename across two directories needs both fsynced (with only the target
  synced, the inode is durable under both names; with only the source, under neither).
* ``syncfs`` makes every file and every directory durable.
* ``power_cut``: volatile := durable everywhere, then inodes unreachable from the root through
  (durable) entries are dropped, and every handle is forgotten.  ``keep="random"`` (with ``seed``)
  first lets each file with unsynced data keep a random subset of its dirty pages and a size
  anywhere between its durable and volatile sizes (write-back that happened before the cut: torn
  and holey tails); deterministic for a given state and seed.  Directories always come back exactly
  as last synced (directory operations are atomic, as in a journalling filesystem).
* fsyncgate (``fsyncgate=True``, the default): when an fsync or syncfs fails by injection, the
  files it failed for are marked clean *without* becoming durable: reads still return the data, a
  power cut loses it, and the next fsync succeeds with nothing to do (Linux after a write-back
  error).  With ``fsyncgate=False`` they stay dirty and a retry syncs them.  A failed ``fsyncdir``
  leaves the directory dirty either way.
* Faults: ``fail(op, errno, path, count)`` makes the next ``count`` calls of ``op`` (None: every
  call until ``clear_faults``) whose path matches the glob ``path`` fail with ``errno``.  Paths are
  relative to the root ("t-0/00000000000000000000.log"; ``*`` also matches ``/``).  ``rename`` and
  ``link`` match either name.  A ``syncfs`` rule applies to a call when its glob matches a file
  with unsynced data, or always when the glob is ``*``; under fsyncgate the matching files are
  gated and everything else becomes durable.  A failed call changes nothing else.
* Capacity: the total volatile size of the live files (linked or open) may not exceed
  ``capacity``; a write that would exceed it writes what fits and returns the short count, or
  fails with ENOSPC when nothing fits.  Extending ``truncate`` is sparse and never fails for space.
  ``statfs`` reports the free space left (or ``free_override`` when set).
* Not modelled: attributes (mode, owner, times) are not part of the durable state (a power cut
  keeps their latest values); no symlinks, xattrs or special files; rename flags are ignored.
"""

from __future__ import annotations

import errno
import fnmatch
import random
from collections import Counter
from dataclasses import asdict
from typing import Any, Final

from tests.support.faultfs_namespace import Namespace
from tests.support.faultfs_nodes import FAULT_OPS, PAGE_SIZE, Dir, File, fs_error, pages_differing

__all__ = ["FAULT_OPS", "KEEP_MODES", "PAGE_SIZE", "Dir", "File", "Model"]

KEEP_MODES: Final = ("none", "random")


class Model(Namespace):
    """The whole filesystem state: :class:`Namespace` plus data, durability and the power cut."""

    # ------------------------------------------------------------------------------ data
    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        node = self._file(path, fh)
        self._check("read", path)
        self.counters["reads"] += 1
        self.counters["bytes_read"] += max(0, min(size, len(node.data) - offset))
        return bytes(node.data[offset:offset + size])

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        node = self._file(path, fh)
        self._check("write", path)
        if not data:
            return 0
        end = offset + len(data)
        growth = end - len(node.data)
        if self.capacity is not None and growth > 0 and self.used + growth > self.capacity:
            fits = len(node.data) + max(0, self.capacity - self.used) - offset
            if fits <= 0:
                self.counters["enospc"] += 1
                raise fs_error(errno.ENOSPC, path or "")
            self.counters["short_writes"] += 1
            data, end = data[:fits], offset + fits
        if end > len(node.data):
            self._resize(node, end)
            node.size_dirty = True
        node.data[offset:end] = data
        node.dirty.update(range(offset // PAGE_SIZE, (end - 1) // PAGE_SIZE + 1))
        node.touch()
        self.counters["writes"] += 1
        self.counters["bytes_written"] += len(data)
        return len(data)

    def truncate(self, path: str | None, size: int, fh: int | None = None) -> None:
        node = self._file(path, fh)
        self._check("truncate", path)
        self.counters["truncates"] += 1
        self._truncate_node(node, size)

    # ------------------------------------------------------------------------------ durability
    def fsync(self, path: str | None, datasync: bool, fh: int | None) -> None:
        node = self._file(path, fh)
        self.counters["fdatasyncs" if datasync else "fsyncs"] += 1
        fault = self._take_fault("fsync", path)
        if fault is not None:
            if self.fsyncgate:
                node.gate()
            raise fs_error(fault.errno, path or "")
        node.sync()

    def fsyncdir(self, path: str) -> None:
        node = self.resolve(path)
        if not isinstance(node, Dir):
            raise fs_error(errno.ENOTDIR, path)
        self.counters["fsyncdirs"] += 1
        self._check("fsyncdir", path)
        self._sync_dir(node)

    def _sync_dir(self, node: Dir) -> None:
        for name in node.dirty:
            old, new = node.durable.get(name), node.entries.get(name)
            if old == new:
                continue
            if new is None:
                del node.durable[name]
            else:
                node.durable[name] = new
                self.nodes[new].dlinks += 1
            if old is not None:
                self._drop_durable_link(old)
        node.dirty.clear()

    def syncfs(self) -> None:
        """Everything durable; an injected failure gates (or leaves dirty) the matching files."""
        self.counters["syncfs"] += 1
        paths = self.paths()
        unsynced = [(paths.get(n.ino, ""), n) for n in self.nodes.values()
                    if isinstance(n, File) and n.unsynced]
        failed: set[File] = set()
        fault = next((f for f in self.faults if f.op == "syncfs" and f.remaining != 0 and (
            f.path == "*" or any(fnmatch.fnmatchcase(p, f.path) for p, _ in unsynced))), None)
        if fault is not None:
            if fault.remaining is not None:
                fault.remaining -= 1
            self.counters["faults_injected"] += 1
            self.counters["faults.syncfs"] += 1
            failed = {n for p, n in unsynced if fnmatch.fnmatchcase(p, fault.path)}
        for node in list(self.nodes.values()):
            if isinstance(node, Dir):
                self._sync_dir(node)
            elif isinstance(node, File) and node.unsynced and node not in failed:
                node.sync()
        if fault is not None:
            if self.fsyncgate:
                for node in failed:
                    node.gate()
            raise fs_error(fault.errno)

    def power_cut(self, keep: str = "none", seed: int = 0) -> dict[str, Any]:
        """Lose everything not durable; see the module docstring.  Returns what was lost."""
        if keep not in KEEP_MODES:
            raise ValueError(f"keep must be one of {KEEP_MODES}, not {keep!r}")
        rng = random.Random(seed)
        report: Counter[str] = Counter()
        for ino in sorted(self.nodes):
            node = self.nodes[ino]
            if isinstance(node, File):
                if keep == "random" and node.unsynced:
                    report["pages_kept"] += node.write_back_some(rng)
                report["files_changed"] += node.data != node.durable
                report["pages_lost"] += pages_differing(node.data, node.durable)
                node.data = bytearray(node.durable)
                node.gate()
            else:
                assert isinstance(node, Dir)
                report["dir_entries_lost"] += len(node.dirty)
                node.entries = dict(node.durable)
                node.dirty.clear()
        self._reload_after_cut(report)
        self.counters["power_cuts"] += 1
        return dict(report)

    def _reload_after_cut(self, report: Counter[str]) -> None:
        reachable = {self.ROOT}
        stack = [self.ROOT]
        links: Counter[int] = Counter()
        while stack:
            node = self.nodes[stack.pop()]
            if isinstance(node, Dir):
                for ino in node.entries.values():
                    links[ino] += 1
                    if ino not in reachable:
                        reachable.add(ino)
                        stack.append(ino)
        report["inodes_dropped"] = len(self.nodes) - len(reachable)
        self.nodes = {ino: node for ino, node in self.nodes.items() if ino in reachable}
        self.handles.clear()
        self.used = 0
        for node in self.nodes.values():
            node.opens = 0
            if node.ino != self.ROOT:
                node.nlink = node.dlinks = links[node.ino]
            if isinstance(node, File):
                node.counted = node.nlink > 0
                self.used += len(node.data) if node.counted else 0

    # ------------------------------------------------------------------------------ reports
    def stats(self) -> dict[str, Any]:
        files = [n for n in self.nodes.values() if isinstance(n, File)]
        return {"counters": dict(self.counters), "used": self.used, "capacity": self.capacity,
                "files": len(files), "dirs": len(self.nodes) - len(files),
                "unsynced_files": sum(f.unsynced for f in files), "open_handles": len(self.handles),
                "faults": [asdict(f) for f in self.faults], "fsyncgate": self.fsyncgate}
