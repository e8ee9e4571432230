"""One segment of a partition log: a run of record batches plus its two sparse indexes.

A segment starts at `base_offset` (the name of its files) and holds whole v2 record batches back to
back, exactly as they arrived on the wire with base offset and leader epoch filled in. Only the
newest ("active") segment is appended to; `seal` finishes a segment when the log rolls.

The bytes live in a `SegmentStore`: `FileStore` (a `.log` file, used by `PartitionLog`, whose
descriptor is opened on demand and kept in the data directory's bounded `DescriptorCache`) or
`MemoryStore` (a bytearray, used by `MemoryPartitionLog`); everything else is shared.

`<base>.log` file format: nothing but record batches, each laid out as in the Kafka protocol
(record batch v2, 61-byte header then records). The storage layer reads only three header fields
on its hot paths:

    0   baseOffset       int64  first offset of the batch (written by `PartitionLog.append`)
    8   batchLength      int32  bytes after this field; the batch occupies batchLength + 12 bytes
    23  lastOffsetDelta  int32  the batch covers offsets baseOffset .. baseOffset + lastOffsetDelta

Everything else (CRC, timestamps, records) is read through `streamlog.protocol.records`.

Threading: the owning log's thread does everything except `sync_data` / `sync_indexes`, which a
flusher thread may call at any time (see `FileStore.sync` for the descriptor it uses), and
`delete` of a segment already taken out of its log and closed (retention deletes files on a
worker thread); the fields the flusher writes (`flushed_size`, `indexes_synced`) are written by
nobody else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
from dataclasses import dataclass
from typing import Protocol

from streamlog.storage.config import LogConfig
from streamlog.storage.descriptors import CachedFile, DescriptorCache
from streamlog.storage.errors import CorruptLogError
from streamlog.storage.index import OffsetIndex, TimeIndex, fdatasync_path

BytesLike = bytes | bytearray | memoryview

_PREFIX = struct.Struct(">qi")  # baseOffset, batchLength
_LAST_DELTA = struct.Struct(">i")  # lastOffsetDelta at byte 23
_LAST_DELTA_AT = 23
_PREFIX_NEEDED = _LAST_DELTA_AT + 4  # bytes of a header needed to know a batch's offsets and size
LOG_OVERHEAD = 12  # baseOffset + batchLength
_MIN_BATCH_LENGTH = 61 - LOG_OVERHEAD  # a batch is at least its 61-byte header
_LOCATE_CHUNK = 16 * 1024
_DROP_STEP = 4 * 1024 * 1024  # FileStore.drop_cache: the least it asks the kernel to drop at once


def log_path(directory: str, base_offset: int, suffix: str) -> str:
    """`<directory>/<20-digit base offset><suffix>`, e.g. `00000000000000000042.log`."""
    return os.path.join(directory, f"{base_offset:020d}{suffix}")


class SegmentStore(Protocol):
    """Where a segment's batches live."""

    def size(self) -> int: ...
    def read(self, position: int, size: int) -> bytes: ...
    def write(self, data: BytesLike) -> None: ...
    def write_out(self) -> None: ...
    def lend_descriptor(self) -> tuple[int, int] | None: ...
    def return_descriptor(self, mark: int | None) -> None: ...
    def release(self) -> bool: ...
    def drop_cache(self, below: int) -> None: ...
    def truncate(self, size: int) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...
    def abandon(self) -> None: ...
    def delete(self) -> None: ...
    def mtime_ms(self) -> int | None: ...


class FileStore:
    """A `.log` file, opened on demand through the data directory's `DescriptorCache`.

    Its descriptor may be closed by the cache whenever no write through it is waiting for an
    fdatasync and none is lent out (``descriptors`` has the rules), and is reopened by path on the
    next use; `release` gives it back at once if that is safe.

    Write-behind (`write_behind` set, by the log of a partition whose appends are acknowledged
    only after a flush): `write` keeps the bytes in memory and `write_out` hands everything kept to
    the kernel with one system call, so the appends made while the previous fsync ran cost no
    system call each. Everything else sees the kept bytes as if written: `read` serves them from
    memory, `size` counts them, `truncate` cuts them, `close` writes them out. `sync` does not: the
    owner calls `write_out` first (on its own thread; `sync` may run on another).
    """

    __slots__ = ("_cache_dropped", "_file", "_file_size", "_pending", "path", "write_behind")

    def __init__(self, path: str, files: DescriptorCache | None = None) -> None:
        self.path = path
        cache = files if files is not None else DescriptorCache()
        self._file = cache.file(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        self._pending = bytearray()  # write-behind bytes, which follow the file's content
        self._file_size = -1  # bytes in the file, once known (kept while written through this object)
        self.write_behind = False
        self._cache_dropped = 0  # `drop_cache` has asked the kernel to drop the pages below this

    @property
    def file(self) -> CachedFile:
        """The descriptor's state in the cache (for tests and tools)."""
        return self._file

    def _on_file(self) -> int:
        if self._file_size < 0:
            self._file_size = os.fstat(self._file.get()).st_size
        return self._file_size

    def size(self) -> int:
        return os.fstat(self._file.get()).st_size + len(self._pending)

    def read(self, position: int, size: int) -> bytes:
        pending = self._pending
        if pending:
            on_file = self._file_size
            if position + size > on_file:
                head = self._pread(position, on_file - position) if position < on_file else b""
                start = max(position - on_file, 0)
                return head + bytes(pending[start : start + size - len(head)])
        return self._pread(position, size)

    def _pread(self, position: int, size: int) -> bytes:
        fd = self._file.get()
        data = os.pread(fd, size, position)
        while len(data) < size:  # short reads only happen at end of file
            more = os.pread(fd, size - len(data), position + len(data))
            if not more:
                break
            data += more
        return data

    def write(self, data: BytesLike) -> None:
        if self.write_behind:
            if not self._pending:
                self._on_file()
            self._pending += data
            return
        file = self._file
        fd = file.get()
        file.writes += 1  # dirty from here on (`wrote`, inlined: this is the append path)
        total = data.nbytes if isinstance(data, memoryview) else len(data)
        written = os.write(fd, data)
        if written < total:  # a short write (signal, full disk): write the rest
            view = memoryview(data).cast("B")[written:]
            while view:
                view = view[os.write(fd, view) :]
        if self._file_size >= 0:
            self._file_size += total

    def write_out(self) -> None:
        """Write the write-behind bytes to the file (what an error leaves unwritten stays kept)."""
        pending = self._pending
        if not pending:
            return
        file = self._file
        fd = file.get()
        file.writes += 1
        written = 0
        with memoryview(pending) as view:
            try:
                while written < len(view):
                    written += os.write(fd, view[written:])
            finally:
                self._file_size += written
        del pending[:written]

    def lend_descriptor(self) -> tuple[int, int]:
        """``(fd, mark)``: a descriptor that a caller may fdatasync (asynchronously) to do what `sync`
        does. It stays open until `return_descriptor(mark)` (the fdatasync succeeded) or
        `return_descriptor(None)` (it failed or never ran)."""
        return self._file.pin()

    def return_descriptor(self, mark: int | None) -> None:
        self._file.unpin(mark)

    def drop_cache(self, below: int) -> None:
        """Tell the kernel it may drop this file's cached pages below byte `below`, which the caller
        knows to be durable (clean pages go; the kernel reuses them for the next writes). Asks in
        steps of at least `_DROP_STEP` bytes. Only a hint: errors are ignored, and nothing is done
        while the descriptor is closed. May run on another thread, like `sync`: the descriptor can
        be closed under it, and if its number is reused meanwhile the hint lands on another file's
        clean pages, which costs that file a read and loses nothing."""
        start = self._cache_dropped
        fd = self._file.fd
        if below - start < _DROP_STEP or fd is None:
            return
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, start, below - start, os.POSIX_FADV_DONTNEED)
        self._cache_dropped = below

    def truncate(self, size: int) -> None:
        pending = self._pending
        if pending:
            on_file = self._file_size
            if size >= on_file:
                del pending[size - on_file :]
                return
            pending.clear()
        file = self._file
        fd = file.get()
        if size != self._on_file():
            file.wrote()  # (a new file "cut" to its size, 0, changed nothing: nothing to sync)
        os.ftruncate(fd, size)
        self._file_size = size
        self._cache_dropped = min(self._cache_dropped, size)

    def sync(self) -> None:
        # Another thread may call this while the owner works. The owner's descriptor is used when
        # it is open; the owner may close it meanwhile, but it closes a store only once the data
        # is synced (the cache, or log close), replaced (compaction) or deleted, so a call that
        # then fails with EBADF, or lands on the number reused for another file, loses nothing.
        file = self._file
        mark = file.writes
        fd = file.fd
        if fd is not None:
            try:
                os.fdatasync(fd)
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise
            else:
                file.synced_through(mark)
                return
        fdatasync_path(self.path)
        file.synced_through(mark)

    def release(self) -> bool:
        """Close the descriptor now if nothing written through it waits for an fdatasync and it is
        not lent out (kept bytes stay kept); True if no descriptor is left open."""
        return self._file.release()

    def close(self) -> None:
        self.write_out()
        self._file.close()

    def abandon(self) -> None:
        """Release the descriptor and drop the write-behind bytes, writing nothing (the
        directory failed: see `logdir`)."""
        self._pending.clear()
        with contextlib.suppress(OSError):
            self._file.close()

    def delete(self) -> None:
        self._pending.clear()
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def mtime_ms(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns // 1_000_000
        except FileNotFoundError:
            return None


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A snapshot of one segment, for retention decisions and for tools."""

    base_offset: int
    next_offset: int  # one past the last offset in the segment (== base_offset when empty)
    size_bytes: int
    max_timestamp: int  # largest batch max_timestamp, -1 if none
    active: bool


class Segment:
    """Batches [base_offset, next_offset) stored in `store`, indexed by two sparse indexes."""

    __slots__ = (
        "base_offset",
        "deleted",
        "first_append_ms",
        "flushed_size",
        "indexes_synced",
        "last_indexed_pos",
        "max_timestamp",
        "next_offset",
        "offset_index",
        "offset_of_max_timestamp",
        "sealed",
        "size",
        "store",
        "time_index",
    )

    def __init__(
        self, base_offset: int, store: SegmentStore, offset_index: OffsetIndex, time_index: TimeIndex
    ) -> None:
        self.base_offset = base_offset
        self.store = store
        self.offset_index = offset_index
        self.time_index = time_index
        self.size = 0
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = base_offset  # base offset of the first batch reaching it
        self.first_append_ms: int | None = None  # drives segment.ms rolling
        self.last_indexed_pos = 0
        self.sealed = False
        self.deleted = False
        # Written only by whoever flushes.
        self.flushed_size = 0
        self.indexes_synced = False

    def info(self, active: bool) -> SegmentInfo:
        return SegmentInfo(self.base_offset, self.next_offset, self.size, self.max_timestamp, active)

    def reset_state(self, *, keep_index_files: bool = False) -> None:
        """Forget sizes, offsets and (unless told not to) index entries and files."""
        self.size = 0
        self.next_offset = self.base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = self.base_offset
        self.last_indexed_pos = 0
        if not keep_index_files:
            self.offset_index.reset()
            self.time_index.reset()

    def note_batch(
        self,
        position: int,
        base_offset: int,
        last_offset: int,
        max_timestamp: int,
        size: int,
        interval: int,
        max_offset_entries: int,
        max_time_entries: int,
    ) -> None:
        """Account for a batch now stored at `position`: sizes, timestamps, index entries."""
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = base_offset
        if position > self.last_indexed_pos and position - self.last_indexed_pos >= interval:
            if len(self.offset_index) < max_offset_entries:
                self.offset_index.add(base_offset - self.base_offset, position)
                self.last_indexed_pos = position
            if len(self.time_index) < max_time_entries and self.max_timestamp >= 0:
                self.time_index.maybe_add(self.max_timestamp, self.offset_of_max_timestamp - self.base_offset)
        self.size = position + size
        self.next_offset = last_offset + 1

    def note_batches(
        self, start: int, first_offset: int, spans: list[tuple[int, int, int, int]], config: LogConfig
    ) -> None:
        """`note_batch` for each `(position, size, last_offset_delta, max_timestamp)` of one append
        stored at `start`, the first batch at `first_offset` (the append path's loop, in one call)."""
        interval = config.index_interval_bytes
        if len(spans) == 1 and self.last_indexed_pos + interval > start + spans[0][0]:
            # One batch, no index entry due: just the sizes and the timestamp.
            pos, size, last_delta, max_timestamp = spans[0]
            if max_timestamp > self.max_timestamp:
                self.max_timestamp = max_timestamp
                self.offset_of_max_timestamp = first_offset
            self.size = start + pos + size
            self.next_offset = first_offset + last_delta + 1
            return
        max_offsets, max_times = config.max_offset_index_entries, config.max_time_index_entries
        base = first_offset
        for pos, size, last_delta, max_timestamp in spans:
            last = base + last_delta
            self.note_batch(start + pos, base, last, max_timestamp, size, interval, max_offsets, max_times)
            base = last + 1

    def write(self, data: BytesLike) -> None:
        """Append raw bytes to the store; on failure cut the store back so no torn bytes remain."""
        before = self.size
        try:
            self.store.write(data)
        except BaseException:
            self.store.truncate(before)
            raise

    def write_index_entries(self) -> None:
        self.offset_index.file.write_pending()
        self.time_index.file.write_pending()

    def seal(self) -> None:
        """The log rolled past this segment: record its final max timestamp, write out the index
        entries still queued."""
        if self.max_timestamp >= 0:
            self.time_index.maybe_add(self.max_timestamp, self.offset_of_max_timestamp - self.base_offset)
        self.offset_index.file.close()
        self.time_index.file.close()
        self.indexes_synced = False
        self.sealed = True

    def locate(self, offset: int) -> int | None:
        """Position of the first batch whose last offset is >= `offset`; None if there is none."""
        if offset >= self.next_offset:
            return None
        pos = self.offset_index.lookup(max(offset - self.base_offset, 0))
        while pos < self.size:
            chunk = self.store.read(pos, min(_LOCATE_CHUNK, self.size - pos))
            off = 0
            while off + _PREFIX_NEEDED <= len(chunk):
                base, length = _PREFIX.unpack_from(chunk, off)
                if length < _MIN_BATCH_LENGTH:
                    raise CorruptLogError(f"no batch at position {pos + off} of segment {self.base_offset}")
                (delta,) = _LAST_DELTA.unpack_from(chunk, off + _LAST_DELTA_AT)
                if base + delta >= offset:
                    return pos + off
                off += length + LOG_OVERHEAD
            pos += off
        return None

    def read(self, position: int, max_bytes: int, max_offset: int | None) -> tuple[bytes | memoryview, int]:
        """Whole batches from `position`: the first one always (unless its base offset is at or
        past `max_offset`), then more while they fit in `max_bytes` and start below `max_offset`.
        Returns the bytes and the offset after the last batch returned.
        """
        remaining = self.size - position
        buf = self.store.read(position, min(remaining, max(max_bytes, _PREFIX_NEEDED)))
        base, length = _PREFIX.unpack_from(buf, 0)
        if length < _MIN_BATCH_LENGTH:
            raise CorruptLogError(f"no batch at position {position} of segment {self.base_offset}")
        if max_offset is not None and base >= max_offset:
            return b"", base
        if length + LOG_OVERHEAD > len(buf):  # the first batch alone exceeds max_bytes
            buf = self.store.read(position, length + LOG_OVERHEAD)
        end = 0
        last_start = 0
        while end + LOG_OVERHEAD <= len(buf):
            base, length = _PREFIX.unpack_from(buf, end)
            if length < _MIN_BATCH_LENGTH:
                raise CorruptLogError(f"no batch at position {position + end} of segment {self.base_offset}")
            size = length + LOG_OVERHEAD
            if end + size > len(buf) or (end > 0 and max_offset is not None and base >= max_offset):
                break
            last_start = end
            end += size
        base = _PREFIX.unpack_from(buf, last_start)[0]
        (delta,) = _LAST_DELTA.unpack_from(buf, last_start + _LAST_DELTA_AT)
        data = buf if end == len(buf) else memoryview(buf)[:end]
        return data, base + delta + 1

    def next_range(self, position: int, size: int) -> tuple[str, int, int] | None:
        """``(path, position, bytes)``: at most ``size`` of this segment's file from ``position``,
        what a reader that goes on will read next (read-ahead hints); None for a memory segment or
        at the end of the file."""
        store = self.store
        if not isinstance(store, FileStore):
            return None
        end = min(position + size, self.size)
        return (store.path, position, end - position) if end > position else None

    def write_out(self) -> None:
        """Hand write-behind bytes to the file (see `FileStore`); before `sync_data`."""
        self.store.write_out()

    def sync_data(self) -> None:
        self.store.sync()

    def sync_indexes(self) -> None:
        self.offset_index.file.sync()
        self.time_index.file.sync()

    def release(self) -> bool:
        """Close the store's descriptor if that is safe now (`FileStore.release`); index files keep
        none. True if no descriptor is left open."""
        return self.store.release()

    def close(self) -> None:
        self.offset_index.file.close()
        self.time_index.file.close()
        self.store.close()

    def abandon(self) -> None:
        """Release every descriptor, writing nothing (the directory failed)."""
        self.offset_index.file.abandon()
        self.time_index.file.abandon()
        self.store.abandon()

    def delete(self) -> None:
        self.deleted = True
        self.offset_index.file.delete()
        self.time_index.file.delete()
        self.store.delete()
