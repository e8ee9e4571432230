"""Group commit: acknowledged means fsynced, with one fsync per partition per flush window.

Theory of operation: after a produce appends to a durable partition, it asks for the partition to
be flushed past the batch's last offset and awaits that.  A single flusher task runs windows: it
takes every partition with unflushed data, fsyncs them on worker threads (never on the event loop),
then releases every waiter whose offset is now covered and tells the fetch purgatory that those
high watermarks moved.  Appends that arrive during a window wait for the next one, so under load
each fsync covers many requests: the cost is per window, not per record.

Non-durable partitions (``flush.messages`` > 1, or in-memory storage) are acknowledged at once;
they are flushed once ``flush.messages`` unflushed records accumulate or ``flush.ms`` passes, by the
same flusher, without anyone waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from streamlog.broker.clock import now_ms
from streamlog.broker.topics import Partition

log = logging.getLogger(__name__)


class FlushCoordinator:
    def __init__(self, on_flushed: Callable[[Partition], None], threads: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="streamlog-fsync")
        self._dirty: dict[tuple[str, int], Partition] = {}
        self._waiters: defaultdict[tuple[str, int], list[tuple[int, asyncio.Future[None]]]] = (
            defaultdict(list)
        )
        self._wake = asyncio.Event()
        self._on_flushed = on_flushed
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.windows = 0
        self.fsyncs = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="streamlog-flusher")

    def request_flush(self, part: Partition) -> None:
        """Flush this partition in the next window; nobody waits."""
        self._dirty[part.tp] = part
        self._wake.set()

    def wait_flushed(self, part: Partition, offset: int) -> asyncio.Future[None]:
        """A future that completes once everything below ``offset`` is on disk."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if part.log.flushed_offset >= offset:
            fut.set_result(None)
            return fut
        self._waiters[part.tp].append((offset, fut))
        self.request_flush(part)
        return fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            if not self._dirty:
                continue
            batch = list(self._dirty.values())
            self._dirty.clear()
            self.windows += 1
            results = await asyncio.gather(
                *(loop.run_in_executor(self._pool, part.log.flush) for part in batch), return_exceptions=True
            )
            stamp = now_ms()
            for part, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    log.error("fsync of %s-%d failed: %s", part.topic, part.index, result)
                    self._fail(part, result)
                    continue
                self.fsyncs += 1
                part.last_flush_ms = stamp
                self._release(part)
                self._on_flushed(part)

    def _release(self, part: Partition) -> None:
        waiters = self._waiters.get(part.tp)
        if not waiters:
            return
        flushed = part.log.flushed_offset
        remaining = []
        for offset, fut in waiters:
            if offset <= flushed:
                if not fut.done():
                    fut.set_result(None)
            else:
                remaining.append((offset, fut))
        if remaining:
            self._waiters[part.tp] = remaining
            self.request_flush(part)
        else:
            del self._waiters[part.tp]

    def _fail(self, part: Partition, exc: BaseException) -> None:
        for _offset, fut in self._waiters.pop(part.tp, []):
            if not fut.done():
                fut.set_exception(OSError(f"fsync failed: {exc}"))

    def forget(self, tp: tuple[str, int]) -> None:
        """A partition was deleted: fail its waiters and drop it."""
        self._dirty.pop(tp, None)
        for _offset, fut in self._waiters.pop(tp, []):
            if not fut.done():
                fut.set_exception(OSError("partition deleted"))

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            try:  # noqa: SIM105 - explicit: reaping the cancelled task, its CancelledError is expected
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)
