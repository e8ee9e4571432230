"""The in-memory partition log, for the embedded broker and tests.

`MemoryPartitionLog` is a `PartitionLog` whose segments keep their batches in a bytearray (a list
of bytearrays for the whole log) and whose indexes have no files; rolling, index lookups, reads,
timestamps and retention are the shared code in `log.py`. Nothing is durable, so `flush` has
nothing to do: everything appended counts as flushed at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from streamlog.storage.config import LogConfig
from streamlog.storage.index import OffsetIndex, TimeIndex
from streamlog.storage.log import PartitionLog, remove_tree_now
from streamlog.storage.logdir import LogDir
from streamlog.storage.recovery import EMPTY_REPORT
from streamlog.storage.segment import BytesLike, Segment


class MemoryStore:
    """A segment's batches in one bytearray. Reads copy, so appends may keep resizing it."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def size(self) -> int:
        return len(self._buf)

    def read(self, position: int, size: int) -> bytes:
        with memoryview(self._buf) as view:  # one copy (a bytearray slice would be a second)
            return bytes(view[position : position + size])

    def write(self, data: BytesLike) -> None:
        self._buf += data

    def write_out(self) -> None:
        pass

    def lend_descriptor(self) -> tuple[int, int] | None:
        return None  # nothing to fdatasync

    def return_descriptor(self, mark: int | None) -> None:
        pass

    def release(self) -> bool:
        return True

    def drop_cache(self, below: int) -> None:
        """Nothing to drop: the bytes are the store."""

    def truncate(self, size: int) -> None:
        del self._buf[size:]

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        pass

    def delete(self) -> None:
        self._buf = bytearray()

    def mtime_ms(self) -> int | None:
        return None


def _memory_segment(base_offset: int) -> Segment:
    return Segment(base_offset, MemoryStore(), OffsetIndex(None), TimeIndex(None))


class MemoryPartitionLog(PartitionLog):
    """Same interface as `PartitionLog`; `path` only names the log."""

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: LogConfig,
        *,
        now_ms: int,
        leader_epoch: int = 0,
        logdir: LogDir | None = None,
    ) -> MemoryPartitionLog:
        return cls(
            os.fspath(path),
            config,
            [_memory_segment(0)],
            log_start_offset=0,
            leader_epoch=leader_epoch,
            report=EMPTY_REPORT,
            checkpoint=None,
        )

    def _new_segment(self, base_offset: int) -> Segment:
        return _memory_segment(base_offset)

    def _persist_log_start(self, offset: int) -> None:
        pass

    def _publish(self) -> None:
        self._dirty = []
        self._flushed = self.log_end_offset

    def _publish_append(self, seg: Segment, end_offset: int) -> None:
        self._flushed = end_offset

    def set_write_behind(self, on: bool) -> None:
        pass  # nothing is written anywhere

    def flush(self) -> int:
        return self.log_end_offset

    def flush_needed(self) -> bool:
        return False

    def _sync_everything(self, *, clean: bool = False) -> None:
        self._flushed = self.log_end_offset

    def close(self) -> None:
        if not self._closed:
            self._release()

    def delete(self, remove_tree: Callable[[str], object] = remove_tree_now) -> None:
        self.close()
        for seg in self._segments:
            seg.delete()
