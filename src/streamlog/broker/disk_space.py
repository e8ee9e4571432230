"""The disk-full guard: refuse produce before the data directory's filesystem runs out of space.

Theory of operation: a write that fails with ENOSPC is an I/O error like any other, and takes the
data directory offline (fail-stop, ``fail_stop.py``): the broker stops, and a restart once space is
freed recovers it.  Kafka does exactly that.  To keep a filling disk from getting there, produce
asks ``full()`` before appending: while the filesystem has less than
``streamlog.storage.min.free.bytes`` available (``statvfs``: blocks available to unprivileged
users), every partition of the request answers KAFKA_STORAGE_ERROR, which producers treat as
retriable, with a message that says why.  Nothing is appended, so nothing is lost or torn.  When
space is freed (topics deleted, retention, DeleteRecords, a bigger disk), produce resumes by itself:
no restart.  The internal logs (consumer offsets, transaction state, cluster metadata, transaction
markers) are not refused: their writes are small, and refusing them would stall consumers and
leave transactions prepared; the threshold is their headroom.  The log cleaner does not start a
cleaning while the disk is full (a cleaning writes a copy first); retention keeps running.

The free space is read at most every ``CHECK_INTERVAL_S`` of the broker's clock (a ``statvfs`` is a
few microseconds), so a burst can overshoot the threshold by what arrives in that time.  Entering
and leaving the full state each log one line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Final

from streamlog.broker.clock import Clock

log = logging.getLogger(__name__)

CHECK_INTERVAL_S: Final = 0.1


def free_bytes(path: str) -> int:
    """Bytes available to unprivileged users on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


class DiskSpaceGuard:
    """``full()``: whether the data directory's filesystem is below the free-space threshold."""

    def __init__(self, clock: Clock, directory: str | None, min_free: int,
                 read_free: Callable[[str], int] = free_bytes) -> None:
        self._clock = clock
        self._directory = directory
        self._min_free = min_free
        self._read_free = read_free
        self._checked = float("-inf")
        self._full = False
        self.free: int | None = None  # at the last check

    @property
    def enabled(self) -> bool:
        return self._directory is not None and self._min_free > 0

    def full(self) -> bool:
        if not self.enabled:
            return False
        now = self._clock.monotonic()
        if now - self._checked >= CHECK_INTERVAL_S:
            self._checked = now
            self._check()
        return self._full

    def _check(self) -> None:
        assert self._directory is not None
        try:
            free = self._read_free(self._directory)
        except OSError as exc:  # not a verdict on the data: keep the last one
            log.warning("cannot read the free space of %s: %s", self._directory, exc)
            return
        self.free = free
        was = self._full
        self._full = free < self._min_free
        if self._full and not was:
            log.warning("data directory %s: %s free, below streamlog.storage.min.free.bytes=%s: produce "
                        "is refused (KAFKA_STORAGE_ERROR, retriable) until space is freed (delete topics "
                        "or records, lower retention, or grow the disk)", self._directory, _mib(free),
                        _mib(self._min_free))
        elif was and not self._full:
            log.warning("data directory %s: %s free again: produce resumes", self._directory, _mib(free))

    def refusal(self) -> str:
        """The error message produce answers with while the disk is full."""
        free = "unknown" if self.free is None else _mib(self.free)
        return (f"Disk full: {free} free on the data directory's filesystem, below "
                f"streamlog.storage.min.free.bytes={self._min_free}; retry once space is freed.")
