"""Sparse per-segment indexes: offset -> file position, and timestamp -> offset.

Both indexes are kept in memory as parallel `array`s and searched with `bisect`; the files are
append-only mirrors of those arrays so that a clean restart need not rescan the log. The files are
never trusted blindly: `load` checks every entry (sizes, monotonicity, positions inside the
segment) and the caller rebuilds the index from the log when a check fails. They are written in
blocks (one `os.write` once 4 KiB of entries are queued by `add`, and `write_pending` when the
segment is sealed or the log closed), and fsynced only when their segment is sealed (rolled) or
the log is closed; after a crash the recovery code rebuilds the indexes of every segment past the
recovery point, so an index file that lost its tail costs nothing but a rebuild.

An entry is added for a batch when at least `index_interval_bytes` of log lie between it and the
previous entry (position 0 is implicitly indexed), so lookups land at most that many bytes (plus
one batch) before the wanted batch; `Segment` walks batch headers from there.

File formats (big-endian, no header, fixed-width entries, entry count = file size // width):

`<base>.index`, 8 bytes per entry::

    0  relative_offset  int32  base offset of an indexed batch minus the segment's base offset
    4  position         int32  byte position of that batch in `<base>.log`
    Both fields strictly increase from entry to entry.

`<base>.timeindex`, 12 bytes per entry::

    0  timestamp        int64  the largest batch max_timestamp in the segment up to the entry
    8  relative_offset  int32  base offset (minus segment base) of the first batch that reached it
    Timestamps strictly increase; relative offsets never decrease.
    Meaning: every record at an offset <= base + relative_offset has a timestamp <= timestamp.
    A last entry is added when the segment is sealed, so its final entry holds the segment's
    largest timestamp.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right

_OFFSET_ENTRY = struct.Struct(">ii")
_WRITE_BLOCK = 4096  # queued entry bytes written with one os.write
_TIME_ENTRY = struct.Struct(">qi")


def fdatasync_path(path: str) -> None:
    """fdatasync the file at ``path`` through a descriptor of its own (so any thread may call it
    whoever else has the file open); nothing if the file is gone (deleted meanwhile: nothing is
    left to make durable)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class _IndexFile:
    """An append-only file of fixed-width entries, or nothing at all when `path` is None. It keeps no
    descriptor: each block is written through one opened for the write (see the module doc)."""

    __slots__ = ("_pending", "hold", "path", "width")

    def __init__(self, path: str | None, width: int) -> None:
        self.path = path
        self.width = width
        self._pending = bytearray()
        # Keep every entry queued instead of writing blocks (a segment the log cleaner builds: its
        # path is still the old segment's until the swap); `close` writes them all.
        self.hold = False

    def read_all(self) -> bytes | None:
        """The file's whole content, or None if there is no file."""
        if self.path is None:
            return b""
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def queue(self, entry: bytes) -> None:
        if self.path is not None:
            self._pending += entry
            if len(self._pending) >= _WRITE_BLOCK and not self.hold:
                self.write_pending()

    def write_pending(self) -> None:
        if not self._pending or self.path is None:
            return
        data = self._pending
        self._pending = bytearray()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def truncate_entries(self, count: int) -> None:
        """Cut the file to `count` entries (dropping queued ones too)."""
        self._pending = bytearray()
        if self.path is None:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, count * self.width)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Write what is queued."""
        self.write_pending()

    def abandon(self) -> None:
        """Drop what is queued, writing nothing (the directory failed)."""
        self._pending = bytearray()

    def sync(self) -> None:
        """fsync the file by path, so any thread may call it while another one appends."""
        if self.path is not None:
            fdatasync_path(self.path)

    def delete(self) -> None:
        self._pending = bytearray()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _int32_pairs(data: bytes) -> tuple[array[int], array[int]]:
    both = array("i")
    both.frombytes(data)
    if sys.byteorder == "little":
        both.byteswap()
    return both[0::2], both[1::2]


class OffsetIndex:
    """relative offset -> position, for the batches chosen by the index interval."""

    __slots__ = ("_file", "_pos", "_rel")

    def __init__(self, path: str | None) -> None:
        self._file = _IndexFile(path, _OFFSET_ENTRY.size)
        self._rel: array[int] = array("i")
        self._pos: array[int] = array("i")

    def __len__(self) -> int:
        return len(self._rel)

    @property
    def file(self) -> _IndexFile:
        return self._file

    def load(self, segment_size: int) -> bool:
        """Read the file and check it; False (and an empty index) if it is missing or insane."""
        data = self._file.read_all()
        if data is None or len(data) % _OFFSET_ENTRY.size:
            self._rel, self._pos = array("i"), array("i")
            return False
        rel, pos = _int32_pairs(data)
        ok = all(rel[i] < rel[i + 1] and pos[i] < pos[i + 1] for i in range(len(rel) - 1))
        ok = ok and (not rel or (rel[0] >= 0 and pos[0] >= 0 and pos[-1] < segment_size))
        self._rel, self._pos = (rel, pos) if ok else (array("i"), array("i"))
        return ok

    def add(self, relative_offset: int, position: int) -> None:
        self._rel.append(relative_offset)
        self._pos.append(position)
        self._file.queue(_OFFSET_ENTRY.pack(relative_offset, position))

    def lookup(self, relative_offset: int) -> int:
        """Position of the last indexed batch whose base is <= relative_offset (0 if none)."""
        i = bisect_right(self._rel, relative_offset) - 1
        return self._pos[i] if i >= 0 else 0

    def last_position(self) -> int:
        return self._pos[-1] if self._pos else 0

    def last_relative_offset(self) -> int:
        return self._rel[-1] if self._rel else 0

    def reset(self) -> None:
        """Forget every entry and empty the file (before a rebuild)."""
        self._rel, self._pos = array("i"), array("i")
        self._file.truncate_entries(0)


class TimeIndex:
    """timestamp -> relative offset, with strictly increasing timestamps."""

    __slots__ = ("_file", "_rel", "_ts")

    def __init__(self, path: str | None) -> None:
        self._file = _IndexFile(path, _TIME_ENTRY.size)
        self._ts: array[int] = array("q")
        self._rel: array[int] = array("i")

    def __len__(self) -> int:
        return len(self._ts)

    @property
    def file(self) -> _IndexFile:
        return self._file

    def load(self, max_relative_offset: int) -> bool:
        """Read the file and check it; False (and an empty index) if it is missing or insane."""
        data = self._file.read_all()
        if data is None or len(data) % _TIME_ENTRY.size:
            self._ts, self._rel = array("q"), array("i")
            return False
        ts: array[int] = array("q")
        rel: array[int] = array("i")
        for t, r in _TIME_ENTRY.iter_unpack(data):
            if (ts and (t <= ts[-1] or r < rel[-1])) or not 0 <= r <= max_relative_offset:
                self._ts, self._rel = array("q"), array("i")
                return False
            ts.append(t)
            rel.append(r)
        self._ts, self._rel = ts, rel
        return True

    def maybe_add(self, timestamp: int, relative_offset: int) -> None:
        """Add an entry if `timestamp` is larger than the last entry's."""
        if self._ts and timestamp <= self._ts[-1]:
            return
        self._ts.append(timestamp)
        self._rel.append(relative_offset)
        self._file.queue(_TIME_ENTRY.pack(timestamp, relative_offset))

    def lookup_before(self, timestamp: int) -> int | None:
        """Relative offset of the last entry whose timestamp is < `timestamp`, or None.

        Every record at or below that offset has a timestamp below `timestamp`, so a search for
        the first record with timestamp >= `timestamp` may start at the batch holding it.
        """
        i = bisect_left(self._ts, timestamp) - 1
        return self._rel[i] if i >= 0 else None

    def last(self) -> tuple[int, int] | None:
        return (self._ts[-1], self._rel[-1]) if self._ts else None

    def reset(self) -> None:
        self._ts, self._rel = array("q"), array("i")
        self._file.truncate_entries(0)
