"""Fail-stop: what the broker does when its data directory fails an I/O operation.

Theory of operation: the storage layer records the first failed write, read, fdatasync, syncfs or
directory fsync in the data directory's ``LogDir`` (``storage/logdir.py``); from then on every log in
it refuses appends, reads and flushes, so nothing is retried on pages the kernel may have dropped
and the high watermark never passes a failed flush.  This module is the broker's side, run on the
event loop (failures seen on flusher or cleaner threads are posted to it):

1. one log line at CRITICAL level that says what failed and what to do;
2. every partition (topics and the internal logs) is notified in the purgatory, so every waiting
   acknowledgement fails with KAFKA_STORAGE_ERROR and parked fetches answer with it;
3. the flusher starts no more flushes;
4. the broker stops: the data directory holds the cluster metadata, consumer offsets and
   transaction state, and Kafka halts a broker whose metadata log directory failed.  ``streamlog
   serve`` then exits with status 1; at the next start, recovery keeps exactly what was fsynced and
   cuts anything torn after it.

Until the stop completes, produce, fetch and the other partition APIs answer KAFKA_STORAGE_ERROR
(the logs raise ``LogDirOffline``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from streamlog.broker.purgatory import Purgatory
from streamlog.broker.topics import Partition
from streamlog.storage.logdir import LogDir, StorageFailure

log = logging.getLogger(__name__)

EXIT_STORAGE_FAILURE = 1


def operator_message(failure: StorageFailure) -> str:
    return (f"log directory {failure.directory} is offline: {failure.describe()}. Nothing more is "
            "written to it and the broker stops. Check the disk (dmesg, SMART data) and free space "
            "if it is full, then restart: recovery keeps every acknowledged record (they were "
            "fsynced) and cuts any torn tail.")


class FailStop:
    """Listens to the data directory's health; on its first failure, stops the broker."""

    def __init__(self, logdir: LogDir | None, purgatory: Purgatory) -> None:
        self.logdir = logdir
        self._purgatory = purgatory
        self._partitions: Callable[[], Iterable[Partition]] = tuple
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_flushing: Callable[[], None] | None = None
        self._halt: Callable[[StorageFailure], None] | None = None
        self.failure: StorageFailure | None = None

    def start(self, stop_flushing: Callable[[], None], partitions: Callable[[], Iterable[Partition]]) -> None:
        """Start listening (on the running loop); a failure seen before now is handled at once.
        ``partitions``: every partition whose waiters must hear of the failure."""
        self._loop = asyncio.get_running_loop()
        self._stop_flushing = stop_flushing
        self._partitions = partitions
        if self.logdir is not None:
            self.logdir.on_failure(self._heard)

    def when_failed(self, halt: Callable[[StorageFailure], None]) -> None:
        """``halt(failure)`` runs on the loop once the directory has failed: stop the broker."""
        self._halt = halt
        if self.failure is not None:
            halt(self.failure)

    def _heard(self, failure: StorageFailure) -> None:  # any thread
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                self._offline(failure)
                return
        except RuntimeError:  # not on a loop: a worker thread
            pass
        loop.call_soon_threadsafe(self._offline, failure)

    def _offline(self, failure: StorageFailure) -> None:
        if self.failure is not None:
            return
        self.failure = failure
        log.critical("%s", operator_message(failure))
        if self._stop_flushing is not None:
            self._stop_flushing()
        for part in self._partitions():
            self._purgatory.notify(part.tp)
        if self._halt is not None:
            self._halt(failure)
