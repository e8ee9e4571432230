"""When appended records are flushed and become visible, and how anything waits for that.

Theory of operation: every append (produce, transaction markers, the coordinators' own logs) ends
with ``appended(part)``.  A *durable* partition (``flush.messages`` 1 on disk, the default) is
flushed after every append, through the group-commit ``FlushCoordinator`` (``durability``); its
high watermark is the flushed offset, so its records become visible, and its acknowledgements
leave, only once fsynced.  Any other partition is visible at once (the purgatory hears about it
here) and is flushed when ``flush.messages`` unflushed records have accumulated or ``flush.ms`` has
passed since its last flush (checked every second by a background task).

Everything that waits for a flush parks in the purgatory under the partition's ``(topic, index)``
key: produce acknowledgements (``handlers/produce``), fetches waiting for data, and the services'
own writes, which use ``wait_flushed`` (a ``FlushWait`` operation wrapped in a future).  This class
is the flusher's listener: a finished flush notifies the key; a failed one too (the log's
directory is offline then, which every waiting operation sees and answers with an error).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from streamlog.broker.clock import Clock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.durability import FlushCoordinator
from streamlog.broker.purgatory import FutureOperation, Key, Purgatory
from streamlog.broker.topics import Partition, PartitionGone
from streamlog.storage.errors import LogDirOffline

log = logging.getLogger(__name__)

PERIODIC_CHECK_S = 1.0


class FlushWait(FutureOperation):
    """A purgatory operation: resolve ``future`` once ``part`` is flushed below ``offset``; fail it
    if the partition's directory goes offline or the partition is deleted."""

    __slots__ = ("offset", "part")

    def __init__(self, purgatory: Purgatory, part: Partition, offset: int) -> None:
        super().__init__(purgatory)
        self.part = part
        self.offset = offset

    def wake(self, key: Key, event: Any) -> None:
        part = self.part
        if part.log.flushed_offset >= self.offset:
            self.settle()
        elif part.log.offline:
            self.settle(error=part.log.logdir.offline_error())
        elif part.deleted:
            self.settle(error=PartitionGone(part.topic, part.index))


class FlushPolicy:
    """Decides when partitions are flushed; the flusher's listener; ``wait_flushed`` for services."""

    def __init__(self, config: BrokerConfig, clock: Clock, purgatory: Purgatory, *,
                 max_round: int | None = None) -> None:
        """``max_round``: partitions in one syncfs round at most (None: no limit)."""
        self._config = config
        self._max_round = max_round
        self._clock = clock
        self._purgatory = purgatory
        self._memory = config.memory
        self.flusher: FlushCoordinator | None = None
        self._task: asyncio.Task[None] | None = None
        self._partitions: Callable[[], Iterable[Partition]] = tuple

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, partitions: Callable[[], Iterable[Partition]]) -> None:
        """Start the flusher and the ``flush.ms`` task (``partitions``: every partition to check)."""
        config = self._config
        engine = "threads" if self._memory else str(config.get("streamlog.fsync.engine"))
        data_dir = config.data_dir
        whole_fs = data_dir is not None and config.get("streamlog.fsync.scope") == "filesystem"
        self.flusher = FlushCoordinator(self, engine=engine, syncfs_dir=str(data_dir) if whole_fs else None,
                                        max_round=self._max_round)
        self.flusher.start()
        if not self._memory:
            rounds = "per file"
            if self.flusher.filesystem_rounds is not None:
                rounds = "syncfs for rounds of several partitions"
            log.info("fdatasync engine: %s; %s", self.flusher.engine, rounds)
        self._partitions = partitions
        self._task = asyncio.get_running_loop().create_task(self._periodic_flush(), name="periodic-flush")

    async def close(self) -> None:
        """Stop the ``flush.ms`` task and the flusher (after the flushes in flight)."""
        if self._task is not None:
            self._task.cancel()
            try:  # noqa: SIM105 - reaping a cancelled task, swallowing its CancelledError on purpose
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self.flusher is not None:
            await self.flusher.close()

    # --- appends --------------------------------------------------------------------------------

    def appended(self, part: Partition) -> None:
        """Called after every append: schedule flushes and wake fetches for visible data."""
        flusher = self.flusher
        if part.durable:
            # Visible once fsynced: waiters wake when the flush completes.  acks=0 producers wait
            # for nothing, so the flush is requested here for every append.
            if flusher is not None:
                flusher.request_flush(part)
            return
        self._purgatory.notify(part.tp)
        if flusher is not None and not self._memory:
            unflushed = part.log.log_end_offset - part.log.flushed_offset
            if unflushed >= int(part.config["flush.messages"]):
                flusher.request_flush(part)

    def request_flush(self, part: Partition) -> None:
        if self.flusher is not None:
            self.flusher.request_flush(part)

    def wait_flushed(self, part: Partition, offset: int) -> asyncio.Future[None]:
        """A future that completes once everything below ``offset`` is on disk (or fails with
        ``LogDirOffline`` / ``PartitionGone``)."""
        op = FlushWait(self._purgatory, part, offset)
        if part.log.flushed_offset >= offset:
            op.future.set_result(None)
            return op.future
        self._purgatory.park(op, (part.tp,))
        op.wake(part.tp, None)  # offline or deleted already: fail at once
        if not op.future.done():
            self.request_flush(part)
        return op.future

    async def quiesce(self, part: Partition) -> None:
        """No flush of ``part`` in flight or in line once this returns (before deleting its log)."""
        if self.flusher is not None:
            await self.flusher.quiesce(part)

    # --- the flusher's listener -----------------------------------------------------------------

    def flushed(self, part: Partition) -> None:
        part.last_flush_ms = self._clock.now_ms()
        purgatory = self._purgatory
        tp = part.tp
        purgatory.notify(tp)
        if part.durable and purgatory.waiting(tp) and part.log.flushed_offset < part.log.log_end_offset:
            self.request_flush(part)  # what still waits needs the next flush

    def flush_failed(self, part: Partition, error: BaseException) -> None:
        # The log's directory is offline (fail-stop): whatever waits on the partition sees it now.
        if not isinstance(error, LogDirOffline):
            log.error("flush of %s-%d failed: %s", part.topic, part.index, error)
        self._purgatory.notify(part.tp)

    # --- flush.ms -------------------------------------------------------------------------------

    async def _periodic_flush(self) -> None:
        while True:
            await self._clock.sleep(PERIODIC_CHECK_S)
            if self._memory or self.flusher is None:
                continue
            stamp = self._clock.now_ms()
            for part in self._partitions():
                if (part.log.log_end_offset > part.log.flushed_offset
                        and stamp - part.last_flush_ms >= int(part.config["flush.ms"])):
                    self.flusher.request_flush(part)
