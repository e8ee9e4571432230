"""The volatile side of FaultFS's model: names, inodes, handles, attributes, faults and space
(``faultfs_model.py`` adds data, durability and the power cut on top; the semantics are there).

Theory of operation.  Paths come from FUSE as "/a/b" and are resolved through volatile entries
from the root.  Every namespace change goes through ``_link``/``_unlink``, which mark the name dirty
in its directory (a later ``fsyncdir`` makes it durable) and keep link counts; an inode is freed
when no volatile entry, durable entry or open handle refers to it.  Faults are checked after the
arguments are validated and before anything changes, so a failed call changes nothing.  ``used``
counts the volatile bytes of live files (linked or open) against ``capacity``.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections import Counter
from typing import Final

from tests.support.faultfs_nodes import (
    DEFAULT_SIZE,
    FAULT_OPS,
    PAGE_SIZE,
    UTIME_NOW,
    UTIME_OMIT,
    Dir,
    Fault,
    File,
    Handle,
    Node,
    fs_error,
    rel,
)


class Namespace:
    """The volatile filesystem; every public method is one filesystem call (not thread-safe)."""

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

    def _truncate_node(self, node: File, size: int) -> None:
        if size != len(node.data):
            if size < len(node.data) and size % PAGE_SIZE:
                node.dirty.add(size // PAGE_SIZE)  # the cut page's tail is now zeros
            self._resize(node, size)
            node.size_dirty = True
        node.touch()

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
