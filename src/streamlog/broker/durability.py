"""Group commit: acknowledged means fsynced, and one fsync covers every append made before it.

Theory of operation: after a produce appends to a durable partition, it registers a waiter for the
partition to be flushed past the batch's last offset.  Each partition is a small pipeline: when it
has unflushed data and no flush in flight, it is queued for the fsync threads; a thread takes it,
runs ``log.flush()`` (which fsyncs everything appended before the call, see ``storage.log``) and
reports back.  Appends that arrive while a partition's fsync runs wait for its next one, which is
queued as soon as the running one ends.  So each fsync covers every request that arrived during the
previous one: under load the cost is per fsync, not per record, and a partition never waits for
another partition's fsync.

Durable partitions' logs are in write-behind mode (``PartitionLog.set_write_behind``): appends
keep their bytes in memory, and ``prepare_flush``, called here on the loop thread right before the
partition is queued, writes all of them with one system call.  So under load a partition costs one
``write`` and one ``fdatasync`` per flush, however many requests the flush covers.

Cost on the event loop: queueing a partition is one ``SimpleQueue.put``.  Completions are collected
in a deque and handed to the loop with one ``call_soon_threadsafe`` for however many fsyncs end
before the loop gets to them (``_drain``); there the waiters whose offset is now covered are
released (produce's waiters are plain callbacks, other callers get futures) and the fetch
purgatory hears that the high watermark moved.

Threads: up to ``threads`` fsync threads, started when there is more queued work than threads.
Parallel fsyncs of different files share journal commits on ext4/xfs, so several threads raise the
fsync rate far more than they cost.

Non-durable partitions (``flush.messages`` > 1, or in-memory storage) are acknowledged at once;
they are flushed once ``flush.messages`` unflushed records accumulate or ``flush.ms`` passes, by the
same threads, without anyone waiting.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from streamlog.broker.clock import now_ms
from streamlog.broker.topics import Partition

log = logging.getLogger(__name__)


class FlushWaiter(Protocol):
    """Told once: ``error`` is None when everything below its offset is on disk."""

    def flushed(self, error: BaseException | None) -> None: ...


Waiter = FlushWaiter | asyncio.Future[None]


class FlushCoordinator:
    def __init__(self, on_flushed: Callable[[Partition], None], threads: int = 8) -> None:
        self._max_threads = max(1, threads)
        self._threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[Partition | None] = queue.SimpleQueue()
        self._done: deque[tuple[Partition, BaseException | None]] = deque()
        self._drain_scheduled = False
        # Keyed by id(partition): a deleted and re-created topic gets new Partition objects, whose
        # waiters must never be released by the old log's flush.  The values keep the objects alive.
        self._in_flight: dict[int, Partition] = {}  # queued or being flushed
        self._again: dict[int, Partition] = {}  # appended to while in flight: flush once more
        self._waiters: dict[int, tuple[Partition, list[tuple[int, Waiter]]]] = {}
        self._on_flushed = on_flushed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.fsyncs = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    # --- requests (event-loop thread) ------------------------------------------------------------

    def request_flush(self, part: Partition) -> None:
        """Flush this partition as soon as possible; nobody waits."""
        key = id(part)
        if key in self._in_flight:
            self._again[key] = part
            return
        if self._closed:
            return
        try:
            part.log.prepare_flush()  # write-behind bytes go to the file here, on the loop thread
        except OSError as exc:
            log.error("write to %s-%d failed: %s", part.topic, part.index, exc)
            self._fail(key, OSError(f"write failed: {exc}"))
            return
        self._in_flight[key] = part
        self._queue.put(part)
        if len(self._in_flight) > len(self._threads) and len(self._threads) < self._max_threads:
            self._spawn()

    def add_waiter(self, part: Partition, offset: int, waiter: FlushWaiter) -> bool:
        """Call ``waiter.flushed`` once everything below ``offset`` is on disk.  Returns False (and
        registers nothing) if it already is."""
        if part.log.flushed_offset >= offset:
            return False
        self._register(part, offset, waiter)
        return True

    def wait_flushed(self, part: Partition, offset: int) -> asyncio.Future[None]:
        """A future that completes once everything below ``offset`` is on disk."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if part.log.flushed_offset >= offset:
            fut.set_result(None)
        else:
            self._register(part, offset, fut)
        return fut

    def _register(self, part: Partition, offset: int, waiter: Waiter) -> None:
        entry = self._waiters.get(id(part))
        if entry is None:
            self._waiters[id(part)] = (part, [(offset, waiter)])
        else:
            entry[1].append((offset, waiter))
        self.request_flush(part)

    # --- fsync threads ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name=f"streamlog-fsync_{len(self._threads)}",
                                  daemon=True)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            part = self._queue.get()
            if part is None:
                return
            error: BaseException | None = None
            try:
                part.log.flush()
            except Exception as exc:  # reported to the partition's waiters on the loop
                error = exc
            self._done.append((part, error))
            if not self._drain_scheduled:
                self._drain_scheduled = True
                try:
                    loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: shutting down
                    return

    # --- completions (event-loop thread) ---------------------------------------------------------

    def _drain(self) -> None:
        # Reset the flag before looking at the deque: a completion appended after this line either
        # is seen by the loop below or schedules another drain.
        self._drain_scheduled = False
        if self._closed:
            return
        done = self._done
        stamp = now_ms()
        while done:
            part, error = done.popleft()
            key = id(part)
            self._in_flight.pop(key, None)
            again = self._again.pop(key, None)
            if error is not None:
                log.error("fsync of %s-%d failed: %s", part.topic, part.index, error)
                self._fail(key, OSError(f"fsync failed: {error}"))
            else:
                self.fsyncs += 1
                part.last_flush_ms = stamp
                self._release(key, part)
                self._on_flushed(part)
            # Appended to while its fsync ran (the flush may or may not have covered it).
            if again is not None and key not in self._in_flight and again.log.flush_needed():
                self.request_flush(again)

    def _release(self, key: int, part: Partition) -> None:
        entry = self._waiters.get(key)
        if entry is None:
            return
        flushed = part.log.flushed_offset
        remaining = []
        for offset, waiter in entry[1]:
            if offset > flushed:
                remaining.append((offset, waiter))
            elif isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiter.flushed(None)
        if remaining:
            self._waiters[key] = (part, remaining)
            self.request_flush(part)
        else:
            del self._waiters[key]

    def _fail(self, key: int, exc: BaseException) -> None:
        entry = self._waiters.pop(key, None)
        if entry is None:
            return
        for _offset, waiter in entry[1]:
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_exception(exc)
            else:
                waiter.flushed(exc)

    def forget(self, tp: tuple[str, int]) -> None:
        """A partition was deleted: fail its waiters and drop it."""
        for key, (part, _waiters) in list(self._waiters.items()):
            if part.tp == tp:
                self._fail(key, OSError("partition deleted"))
        for key, part in list(self._again.items()):
            if part.tp == tp:
                del self._again[key]

    async def close(self) -> None:
        """Stop the threads once they finish what they are doing; waiters still parked stay so."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        threads, self._threads = self._threads, []
        for thread in threads:  # queued flushes run first (FIFO): none may overlap closing the logs
            thread.join()
