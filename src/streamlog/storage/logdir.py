"""The health of a log directory: online until its first I/O error, offline from then on.

Theory of operation (fail-stop, as Kafka treats a failed log directory): when a write, a read, an
fdatasync, a syncfs or a directory fsync of anything under the directory fails, the kernel may
already have dropped the dirty pages it could not write, and an fsync retried on the same file can
then report success for data that never reached the disk (the PostgreSQL "fsyncgate" lesson).  So
nothing is retried: the first failure is recorded here (``fail``), the directory is offline for the
rest of the process's life, and every log in it refuses appends, reads and flushes with
``LogDirOffline`` (``check``).  The flushed offset, and with it the high watermark, never moves past
the failed flush.  A restart runs recovery, which trusts only what is on disk.

The directory also owns the one ``DescriptorCache`` of its logs' segment files (``files``; see
``descriptors``): the cache reports here an fdatasync that fails before it closes a descriptor.

Listeners registered with ``on_failure`` hear the first failure once; ``fail`` may be called from any
thread (a flusher thread, the cleaner's), so listeners must be thread-safe (the broker's posts to its
event loop).  Two threads failing at the same moment may both notify; listeners tolerate that.
"""

from __future__ import annotations

import errno as errnos
import os
from collections.abc import Callable
from dataclasses import dataclass

from streamlog.storage.descriptors import DescriptorCache
from streamlog.storage.errors import LogDirOffline


@dataclass(frozen=True, slots=True)
class StorageFailure:
    """The first I/O error of a log directory."""

    directory: str
    operation: str  # what failed, e.g. "fdatasync of /data/orders-0/00000000000000000000.log"
    errno: int
    error: str  # the system's message for errno

    def describe(self) -> str:
        name = errnos.errorcode.get(self.errno, str(self.errno))
        return f"{self.operation} failed: {self.error} ({name})"


class LogDir:
    """One data directory's health; shared by every log in it."""

    __slots__ = ("_listeners", "failure", "files", "path")

    def __init__(self, path: str, files: DescriptorCache | None = None) -> None:
        """``files``: the cache of the logs' segment descriptors (default: an unbounded one)."""
        self.path = path
        self.failure: StorageFailure | None = None
        self._listeners: list[Callable[[StorageFailure], None]] = []
        self.files = files if files is not None else DescriptorCache()
        self.files.on_sync_failure = self.fail

    @property
    def offline(self) -> bool:
        return self.failure is not None

    def on_failure(self, listener: Callable[[StorageFailure], None]) -> None:
        """Call ``listener`` once with the first failure (at once if it already happened)."""
        self._listeners.append(listener)
        if self.failure is not None:
            listener(self.failure)

    def fail(self, operation: str, exc: BaseException) -> LogDirOffline:
        """Record a failed I/O operation (the first one sticks) and return the error to raise."""
        if isinstance(exc, LogDirOffline):
            return exc
        if self.failure is None:
            code = exc.errno if isinstance(exc, OSError) and exc.errno else errnos.EIO
            reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or str(exc)
            self.failure = StorageFailure(self.path, operation, code, reason or os.strerror(code))
            for listener in list(self._listeners):
                listener(self.failure)
        return self.offline_error()

    def offline_error(self) -> LogDirOffline:
        failure = self.failure
        assert failure is not None
        return LogDirOffline(failure.errno, f"log directory {self.path} is offline: {failure.describe()}")

    def check(self) -> None:
        """Raise ``LogDirOffline`` if the directory has failed."""
        if self.failure is not None:
            raise self.offline_error()
