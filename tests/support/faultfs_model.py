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
import os
import random
import stat
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Final

PAGE_SIZE: Final = 4096
FAULT_OPS: Final = frozenset(
    {"write", "read", "fsync", "fsyncdir", "syncfs", "create", "mkdir", "rename", "unlink", "rmdir",
     "truncate", "open", "link"}
)
KEEP_MODES: Final = ("none", "random")
DEFAULT_SIZE: Final = 1 << 40  # what statfs reports as the size without a capacity
UTIME_NOW: Final = (1 << 30) - 1
UTIME_OMIT: Final = (1 << 30) - 2


def fs_error(code: int, path: str = "") -> OSError:
    return OSError(code, os.strerror(code), path) if path else OSError(code, os.strerror(code))


class Node:
    __slots__ = ("atime_ns", "ctime_ns", "dlinks", "gid", "ino", "mode", "mtime_ns", "nlink", "opens", "uid")

    def __init__(self, ino: int, mode: int, uid: int, gid: int) -> None:
        now = time.time_ns()
        self.ino, self.mode, self.uid, self.gid = ino, mode, uid, gid
        self.atime_ns = self.mtime_ns = self.ctime_ns = now
        self.nlink = 0  # volatile entries naming it
        self.dlinks = 0  # durable entries naming it
        self.opens = 0

    def touch(self) -> None:
        self.mtime_ns = self.ctime_ns = time.time_ns()


class File(Node):
    __slots__ = ("counted", "data", "dirty", "durable", "size_dirty")

    def __init__(self, ino: int, mode: int, uid: int, gid: int) -> None:
        super().__init__(ino, stat.S_IFREG | (mode & 0o7777), uid, gid)
        self.data = bytearray()  # volatile
        self.durable = bytearray()
        self.dirty: set[int] = set()  # page numbers written since the last sync
        self.size_dirty = False
        self.counted = False  # its size is in Model.used

    @property
    def unsynced(self) -> bool:
        return bool(self.dirty) or self.size_dirty

    def sync(self) -> None:
        """Make the dirty pages and the size durable."""
        data, durable = self.data, self.durable
        if self.size_dirty:
            if len(durable) < len(data):
                durable.extend(bytes(len(data) - len(durable)))
            else:
                del durable[len(data):]
        for page in self.dirty:
            start = page * PAGE_SIZE
            end = min(start + PAGE_SIZE, len(data), len(durable))
            if start < end:
                durable[start:end] = data[start:end]
        self.gate()

    def gate(self) -> None:
        """Forget what is dirty without making it durable (fsyncgate)."""
        self.dirty.clear()
        self.size_dirty = False


class Dir(Node):
    __slots__ = ("dirty", "durable", "entries")

    def __init__(self, ino: int, mode: int, uid: int, gid: int) -> None:
        super().__init__(ino, stat.S_IFDIR | (mode & 0o7777), uid, gid)
        self.entries: dict[str, int] = {}  # volatile
        self.durable: dict[str, int] = {}
        self.dirty: set[str] = set()  # names changed since the last sync


@dataclass
class Fault:
    op: str
    errno: int
    path: str = "*"
    remaining: int | None = 1  # None: until cleared

    def matches(self, op: str, paths: tuple[str, ...]) -> bool:
        return (self.op == op and self.remaining != 0
                and any(fnmatch.fnmatchcase(p, self.path) for p in paths))


@dataclass
class Handle:
    ino: int
    flags: int


def rel(path: str) -> str:
    return path.strip("/")


def _pages_differing(a: bytearray, b: bytearray) -> int:
    if a == b:
        return 0
    pages = (max(len(a), len(b)) + PAGE_SIZE - 1) // PAGE_SIZE
    return sum(a[i:i + PAGE_SIZE] != b[i:i + PAGE_SIZE] for i in range(0, pages * PAGE_SIZE, PAGE_SIZE))


class Model:
    """The filesystem state; every public method is one filesystem call (not thread-safe)."""

    ROOT: Final = 1

    def __init__(self, *, fsyncgate: bool = True, capacity: int | None = None) -> None:
        self.fsyncgate = fsyncgate
        self.capacity = capacity
        self.free_override: int | None = None
        self.used = 0
        self.faults: list[Fault] = []
        self.counters: Counter[str] = Counter()
        root = Dir(self.ROOT, 0o755, os.getuid(), os.getgid())
        root.nlink = root.dlinks = 1
        self.nodes: dict[int, Node] = {self.ROOT: root}
        self.handles: dict[int, Handle] = {}
        self._next_ino = 2
        self._next_fh = 1

    # ------------------------------------------------------------------------------ lookups
    def resolve(self, path: str) -> Node:
        node = self.nodes[self.ROOT]
        for name in rel(path).split("/") if rel(path) else ():
            if not isinstance(node, Dir):
                raise fs_error(errno.ENOTDIR, path)
            ino = node.entries.get(name)
            if ino is None:
                raise fs_error(errno.ENOENT, path)
            node = self.nodes[ino]
        return node

    def _parent(self, path: str) -> tuple[Dir, str]:
        head, _, name = rel(path).rpartition("/")
        parent = self.resolve(head)
        if not isinstance(parent, Dir):
            raise fs_error(errno.ENOTDIR, path)
        if len(name.encode()) > 255:
            raise fs_error(errno.ENAMETOOLONG, path)
        if not name or name in (".", ".."):
            raise fs_error(errno.EINVAL, path)
        return parent, name

    def _file(self, path: str | None, fh: int | None) -> File:
        node = self.nodes[self._handle(fh).ino] if fh is not None else self.resolve(path or "/")
        if not isinstance(node, File):
            raise fs_error(errno.EISDIR, path or "")
        return node

    def _handle(self, fh: int) -> Handle:
        handle = self.handles.get(fh)
        if handle is None:
            raise fs_error(errno.EBADF)
        return handle

    def paths(self) -> dict[int, str]:
        """Inode number -> one volatile path (relative), for every reachable inode."""
        out: dict[int, str] = {self.ROOT: ""}
        stack = [self.ROOT]
        while stack:
            parent = self.nodes[stack.pop()]
            assert isinstance(parent, Dir)
            for name, ino in parent.entries.items():
                if ino not in out:
                    out[ino] = f"{out[parent.ino]}/{name}".lstrip("/")
                    if isinstance(self.nodes[ino], Dir):
                        stack.append(ino)
        return out

    # ------------------------------------------------------------------------------ faults
    def fail(self, op: str, code: int, path: str = "*", count: int | None = 1) -> None:
        if op not in FAULT_OPS:
            raise ValueError(f"unknown op {op!r}; one of {sorted(FAULT_OPS)}")
        self.faults.append(Fault(op, int(code), path, count))

    def clear_faults(self) -> None:
        self.faults.clear()

    def _take_fault(self, op: str, *paths: str | None) -> Fault | None:
        rels = tuple(rel(p) for p in paths if p is not None)
        for fault in self.faults:
            if fault.matches(op, rels):
                if fault.remaining is not None:
                    fault.remaining -= 1
                self.counters["faults_injected"] += 1
                self.counters[f"faults.{op}"] += 1
                return fault
        return None

    def _check(self, op: str, *paths: str | None) -> None:
        fault = self._take_fault(op, *paths)
        if fault is not None:
            raise fs_error(fault.errno, paths[0] or "")

    # ------------------------------------------------------------------------------ space
    def _set_live(self, node: File) -> None:
        live = node.nlink > 0 or node.opens > 0
        if live != node.counted:
            self.used += len(node.data) if live else -len(node.data)
            node.counted = live

    def _resize(self, node: File, size: int) -> None:
        if node.counted:
            self.used += size - len(node.data)
        if size < len(node.data):
            del node.data[size:]
        else:
            node.data.extend(bytes(size - len(node.data)))

    def set_capacity(self, capacity: int | None) -> None:
        self.capacity = capacity

    def statfs(self) -> dict[str, int]:
        size = self.capacity if self.capacity is not None else DEFAULT_SIZE
        free = max(0, size - self.used) if self.free_override is None else self.free_override
        files = len(self.nodes)
        return {"f_bsize": PAGE_SIZE, "f_frsize": PAGE_SIZE, "f_blocks": size // PAGE_SIZE,
                "f_bfree": free // PAGE_SIZE, "f_bavail": free // PAGE_SIZE, "f_files": files + 1_000_000,
                "f_ffree": 1_000_000, "f_favail": 1_000_000, "f_namemax": 255}

    # ------------------------------------------------------------------------------ attributes
    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, int]:
        node = self.nodes[self._handle(fh).ino] if fh is not None else self.resolve(path or "/")
        if isinstance(node, File):
            size, nlink = len(node.data), node.nlink
        else:
            assert isinstance(node, Dir)
            size = PAGE_SIZE
            nlink = 2 + sum(isinstance(self.nodes[i], Dir) for i in node.entries.values())
        return {"st_mode": node.mode, "st_ino": node.ino, "st_nlink": nlink, "st_uid": node.uid,
                "st_gid": node.gid, "st_size": size, "st_blocks": (size + 511) // 512,
                "st_blksize": PAGE_SIZE, "st_atime": node.atime_ns, "st_mtime": node.mtime_ns,
                "st_ctime": node.ctime_ns}

    def chmod(self, path: str, mode: int) -> None:
        node = self.resolve(path)
        node.mode = stat.S_IFMT(node.mode) | (mode & 0o7777)
        node.ctime_ns = time.time_ns()

    def chown(self, path: str, uid: int, gid: int) -> None:
        node = self.resolve(path)
        node.uid = node.uid if uid == -1 else uid
        node.gid = node.gid if gid == -1 else gid
        node.ctime_ns = time.time_ns()

    def utimens(self, path: str, times: tuple[int, int] | None) -> None:
        node = self.resolve(path)
        now = time.time_ns()
        atime, mtime = times if times is not None else (UTIME_NOW, UTIME_NOW)
        if atime != UTIME_OMIT:
            node.atime_ns = now if atime == UTIME_NOW else atime
        if mtime != UTIME_OMIT:
            node.mtime_ns = now if mtime == UTIME_NOW else mtime
        node.ctime_ns = now

    # ------------------------------------------------------------------------------ namespace
    def _link(self, parent: Dir, name: str, ino: int) -> None:
        parent.entries[name] = ino
        parent.dirty.add(name)
        parent.touch()
        node = self.nodes[ino]
        node.nlink += 1
        if isinstance(node, File):
            self._set_live(node)

    def _unlink(self, parent: Dir, name: str) -> None:
        ino = parent.entries.pop(name)
        parent.dirty.add(name)
        parent.touch()
        node = self.nodes[ino]
        node.nlink -= 1
        node.ctime_ns = time.time_ns()
        self._maybe_free(node)

    def _maybe_free(self, node: Node) -> None:
        if isinstance(node, File):
            self._set_live(node)
        if node.nlink > 0 or node.dlinks > 0 or node.opens > 0 or node.ino == self.ROOT:
            return
        del self.nodes[node.ino]
        if isinstance(node, Dir):
            for child in node.durable.values():
                self._drop_durable_link(child)

    def _drop_durable_link(self, ino: int) -> None:
        node = self.nodes.get(ino)
        if node is not None:
            node.dlinks -= 1
            self._maybe_free(node)

    def _new(self, cls: type[File] | type[Dir], mode: int) -> Node:
        node = cls(self._next_ino, mode, os.getuid(), os.getgid())
        self._next_ino += 1
        self.nodes[node.ino] = node
        return node

    def mkdir(self, path: str, mode: int) -> None:
        parent, name = self._parent(path)
        if name in parent.entries:
            raise fs_error(errno.EEXIST, path)
        self._check("mkdir", path)
        self.counters["mkdirs"] += 1
        self._link(parent, name, self._new(Dir, mode).ino)

    def create(self, path: str, mode: int, flags: int = os.O_RDWR) -> int:
        parent, name = self._parent(path)
        if name in parent.entries:
            if flags & os.O_EXCL:
                raise fs_error(errno.EEXIST, path)
            return self.open(path, flags)
        self._check("create", path)
        self.counters["creates"] += 1
        node = self._new(File, mode)
        self._link(parent, name, node.ino)
        return self._open_handle(node, flags)

    def open(self, path: str, flags: int) -> int:
        node = self.resolve(path)
        if isinstance(node, Dir) and flags & os.O_ACCMODE != os.O_RDONLY:
            raise fs_error(errno.EISDIR, path)
        self._check("open", path)
        self.counters["opens"] += 1
        if flags & os.O_TRUNC and isinstance(node, File) and node.data:
            self._truncate_node(node, 0)
        return self._open_handle(node, flags)

    def _open_handle(self, node: Node, flags: int) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = Handle(node.ino, flags)
        node.opens += 1
        if isinstance(node, File):
            self._set_live(node)
        return fh

    def release(self, fh: int) -> None:
        handle = self.handles.pop(fh, None)
        if handle is not None and (node := self.nodes.get(handle.ino)) is not None:
            node.opens -= 1
            self._maybe_free(node)

    def unlink(self, path: str) -> None:
        parent, name = self._parent(path)
        ino = parent.entries.get(name)
        if ino is None:
            raise fs_error(errno.ENOENT, path)
        if isinstance(self.nodes[ino], Dir):
            raise fs_error(errno.EISDIR, path)
        self._check("unlink", path)
        self.counters["unlinks"] += 1
        self._unlink(parent, name)

    def rmdir(self, path: str) -> None:
        parent, name = self._parent(path)
        node = self.nodes.get(parent.entries.get(name, -1))
        if node is None:
            raise fs_error(errno.ENOENT, path)
        if not isinstance(node, Dir):
            raise fs_error(errno.ENOTDIR, path)
        if node.entries:
            raise fs_error(errno.ENOTEMPTY, path)
        self._check("rmdir", path)
        self.counters["rmdirs"] += 1
        self._unlink(parent, name)

    def rename(self, old: str, new: str) -> None:
        src_parent, src_name = self._parent(old)
        dst_parent, dst_name = self._parent(new)
        ino = src_parent.entries.get(src_name)
        if ino is None:
            raise fs_error(errno.ENOENT, old)
        node = self.nodes[ino]
        target = dst_parent.entries.get(dst_name)
        if target == ino:
            return
        if isinstance(node, Dir) and (rel(new) + "/").startswith(rel(old) + "/"):
            raise fs_error(errno.EINVAL, new)
        if target is not None:
            existing = self.nodes[target]
            if isinstance(existing, Dir) and not isinstance(node, Dir):
                raise fs_error(errno.EISDIR, new)
            if isinstance(node, Dir) and not isinstance(existing, Dir):
                raise fs_error(errno.ENOTDIR, new)
            if isinstance(existing, Dir) and existing.entries:
                raise fs_error(errno.ENOTEMPTY, new)
        self._check("rename", old, new)
        self.counters["renames"] += 1
        node.nlink += 1  # keep it alive across the unlink
        self._unlink(src_parent, src_name)
        if target is not None:
            self._unlink(dst_parent, dst_name)
        self._link(dst_parent, dst_name, ino)
        node.nlink -= 1

    def link(self, source: str, target: str) -> None:
        node = self.resolve(source)
        parent, name = self._parent(target)
        if isinstance(node, Dir):
            raise fs_error(errno.EPERM, source)
        if name in parent.entries:
            raise fs_error(errno.EEXIST, target)
        self._check("link", source, target)
        self.counters["links"] += 1
        self._link(parent, name, node.ino)

    def readdir(self, path: str) -> list[tuple[str, int, int]]:
        """(name, inode, mode) of ".", ".." and every entry (with ``use_ino``, an entry without its
        inode number would be skipped by the kernel)."""
        node = self.resolve(path)
        if not isinstance(node, Dir):
            raise fs_error(errno.ENOTDIR, path)
        parent = self.resolve(rel(path).rpartition("/")[0])
        out = [(".", node.ino, node.mode), ("..", parent.ino, parent.mode)]
        out += [(name, ino, self.nodes[ino].mode) for name, ino in sorted(node.entries.items())]
        return out

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

    def _truncate_node(self, node: File, size: int) -> None:
        if size != len(node.data):
            if size < len(node.data) and size % PAGE_SIZE:
                node.dirty.add(size // PAGE_SIZE)  # the cut page's tail is now zeros
            self._resize(node, size)
            node.size_dirty = True
        node.touch()

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
                    self._write_back_some(node, rng, report)
                report["files_changed"] += node.data != node.durable
                report["pages_lost"] += _pages_differing(node.data, node.durable)
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

    def _write_back_some(self, node: File, rng: random.Random, report: Counter[str]) -> None:
        """Before the cut, the kernel wrote back a random part of what was dirty."""
        low, high = sorted((len(node.durable), len(node.data)))
        size = rng.randint(low, high) if node.size_dirty else len(node.durable)
        durable = node.durable
        if size > len(durable):
            durable.extend(bytes(size - len(durable)))
        else:
            del durable[size:]
        for page in sorted(node.dirty):
            if rng.random() < 0.5:
                start = page * PAGE_SIZE
                end = min(start + PAGE_SIZE, len(node.data), size)
                if start < end:
                    durable[start:end] = node.data[start:end]
                    report["pages_kept"] += 1

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
