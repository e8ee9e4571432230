"""The pieces of FaultFS's model (``faultfs_model.py`` has the semantics): inodes with a volatile
and a durable copy, injected faults, open handles.

Theory of operation.  A :class:`File` keeps its volatile content (``data``), its durable content,
the set of 4 KiB pages written since the last sync (``dirty``) and whether its size changed; a sync
copies only the dirty pages (plus the size), so syncing a large append-only file costs what changed.
A :class:`Dir` keeps volatile and durable entry maps and the names changed since its last sync.
Link counts are kept both ways (``nlink`` through volatile entries, ``dlinks`` through durable ones)
so that an inode can be freed once nothing, volatile, durable or open, refers to it.
"""

from __future__ import annotations

import fnmatch
import os
import random
import stat
import time
from dataclasses import dataclass
from typing import Final

PAGE_SIZE: Final = 4096
FAULT_OPS: Final = frozenset(
    {"write", "read", "fsync", "fsyncdir", "syncfs", "create", "mkdir", "rename", "unlink", "rmdir",
     "truncate", "open", "link"}
)
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

    def write_back_some(self, rng: random.Random) -> int:
        """keep="random": before the cut, the kernel wrote back a random part of what was dirty (and
        the size got anywhere between durable and volatile).  Returns the pages kept."""
        low, high = sorted((len(self.durable), len(self.data)))
        size = rng.randint(low, high) if self.size_dirty else len(self.durable)
        durable = self.durable
        if size > len(durable):
            durable.extend(bytes(size - len(durable)))
        else:
            del durable[size:]
        kept = 0
        for page in sorted(self.dirty):
            if rng.random() < 0.5:
                start = page * PAGE_SIZE
                end = min(start + PAGE_SIZE, len(self.data), size)
                if start < end:
                    durable[start:end] = self.data[start:end]
                    kept += 1
        return kept


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


def pages_differing(a: bytearray, b: bytearray) -> int:
    if a == b:
        return 0
    pages = (max(len(a), len(b)) + PAGE_SIZE - 1) // PAGE_SIZE
    return sum(a[i:i + PAGE_SIZE] != b[i:i + PAGE_SIZE] for i in range(0, pages * PAGE_SIZE, PAGE_SIZE))
